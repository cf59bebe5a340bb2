"""The store belongs to the server: private files, one server per directory, read-only exports."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import subprocess
import sys

import pytest
from helpers import ServerProcess, child_env, logged_in, play_command, run, running_server

from gameserver.server import ChatServer, ServerError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_data_directory_is_private_and_so_is_every_file_in_it(tmp_path):
    data = tmp_path / "new" / "data"

    async def body():
        async with running_server(data) as server:
            client = await logged_in(server.port, "ann")
            assert (await client.say("hello"))["type"] == "ok"
            assert mode(data) == 0o700
            files = sorted(p.name for p in data.iterdir())
            assert {"play.db", "play.db-wal", "play.lock"} <= set(files), files
            for name in files:
                assert mode(data / name) == 0o600, (name, oct(mode(data / name)))
    run(body())


def test_loose_permissions_are_tightened_on_start_with_a_log_line(tmp_path, caplog):
    data = tmp_path / "data"

    async def first():
        async with running_server(data) as server:
            await logged_in(server.port, "ann")
    run(first())
    os.chmod(data, 0o755)
    for path in data.iterdir():
        os.chmod(path, 0o644)
    caplog.set_level(logging.WARNING, logger="play.data")

    async def again():
        async with running_server(data) as server:
            await logged_in(server.port, "ann")
    run(again())
    assert mode(data) == 0o700 and all(mode(p) == 0o600 for p in data.iterdir())
    lines = [r.getMessage() for r in caplog.records if r.name == "play.data"]
    assert any("play.db was mode 0644" in line for line in lines), lines
    assert any(str(data) in line and "0755" in line for line in lines), lines


def test_a_second_server_on_a_data_directory_in_use_refuses_and_names_the_holder(tmp_path):
    first = ServerProcess(tmp_path)
    try:
        done = subprocess.run(
            play_command("host", "--headless", "--port", "0", "--data-dir", str(tmp_path)),
            capture_output=True, text=True, timeout=30, env=child_env())
        assert done.returncode == 1
        assert f"in use by another play server (process {first.proc.pid})" in done.stderr
        assert "Traceback" not in done.stderr

        async def still_serving():  # the first one is untouched
            client = await logged_in(first.port, "ann")
            assert (await client.say("still mine"))["type"] == "ok"
        run(still_serving())
    finally:
        first.stop()

    async def in_process():  # once it is gone the directory is free again; and in-process too
        async with running_server(tmp_path) as server:
            with pytest.raises(ServerError, match=f"process {os.getpid()}"):
                await ChatServer("127.0.0.1", 0, data_dir=tmp_path).start()
            await logged_in(server.port, "ann")
    run(in_process())


def test_play_history_on_a_live_server_changes_nothing(tmp_path):
    async def body():
        async with running_server(tmp_path / "data") as server:
            ann = await logged_in(server.port, "ann")
            bob = await logged_in(server.port, "bob")
            await ann.say("before the export")
            done = subprocess.run(
                play_command("history", "ann", "--data-dir", str(tmp_path / "data"), "--stdout"),
                capture_output=True, text=True, timeout=30, env=child_env(), cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert "before the export" in done.stdout
            await bob.say("after the export")  # ann is still in the lobby: it is hers
            await ann.expect("room_msg", text="after the export")
        async with running_server(tmp_path / "data") as server:
            ann = await logged_in(server.port, "ann")
            msg_id = ann.next_id()
            await ann.send({"type": "cmd", "id": msg_id, "name": "history", "args": ""})
            page = await ann.expect("history", id=msg_id)
            assert [e["text"] for e in page["entries"]] == ["before the export",
                                                           "after the export"]
    run(body())


def test_play_history_without_a_server_creates_and_changes_no_file(tmp_path):
    data = tmp_path / "data"

    async def body():
        async with running_server(data) as server:
            ann = await logged_in(server.port, "ann")
            await ann.say("one")
    run(body())
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.iterdir()}
    done = subprocess.run(play_command("history", "ann", "--data-dir", str(data), "--stdout"),
                          capture_output=True, text=True, timeout=30, env=child_env(),
                          cwd=tmp_path)
    assert done.returncode == 0 and "one" in done.stdout, done.stderr
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in data.iterdir()}
    assert after == before


def test_an_export_is_private_atomic_and_never_written_through_a_symlink(tmp_path):
    data = tmp_path / "data"

    async def body():
        async with running_server(data) as server:
            ann = await logged_in(server.port, "ann")
            await ann.say("my words")
    run(body())
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (work / "ann.chat").symlink_to(victim)

    def export():
        return subprocess.run(play_command("history", "ann", "--data-dir", str(data)),
                              capture_output=True, text=True, timeout=30, env=child_env(),
                              cwd=work)
    done = export()
    assert done.returncode == 1
    assert "symbolic link" in done.stderr and "Traceback" not in done.stderr
    assert victim.read_text() == "precious\n"
    (work / "ann.chat").unlink()
    done = export()
    assert done.returncode == 0, done.stderr
    assert mode(work / "ann.chat") == 0o600
    assert "my words" in (work / "ann.chat").read_text()
    assert sorted(p.name for p in work.iterdir()) == ["ann.chat"]  # no temporary left over
    done = export()
    assert done.returncode == 0 and "replacing" in done.stdout
    assert mode(work / "ann.chat") == 0o600
