"""History, scrollback, offline PMs, export, and nothing confirmed lost to a SIGKILL."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from helpers import (
    RawClient,
    ServerProcess,
    child_env,
    logged_in,
    play_command,
    run,
    running_server,
)


async def history(client: RawClient, args: str = "") -> list[dict]:
    """Every entry of a /history reply, across all its pages."""
    msg_id = client.next_id()
    await client.send({"type": "cmd", "id": msg_id, "name": "history", "args": args})
    entries = []
    while True:
        page = await client.expect("history", id=msg_id)
        entries += page["entries"]
        if page["last"]:
            return entries


def test_history_after_a_conversation_in_two_rooms(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            ben = await logged_in(server.port, "ben")
            cat = await logged_in(server.port, "cat")
            await ann.say("lobby one")
            await cat.command("join", "den")
            await cat.say("den only")          # ann never was in den
            await ben.command("msg", "ann private")
            await cat.command("all", "to everyone")
            await ann.command("join", "den")
            await cat.say("den with ann")
            await ann.command("msg", "cat reply")
            got = [(e["type"], e["sender"], e["receiver"], e["text"]) for e in await history(ann)]
            assert got == [
                ("ROOM", "ann", "lobby", "lobby one"),
                ("PM", "ben", "ann", "private"),
                ("BM", "cat", "*", "to everyone"),
                ("ROOM", "cat", "den", "den with ann"),
                ("PM", "ann", "cat", "reply"),
            ]
            assert [e["text"] for e in await history(ann, "den")] == ["den with ann"]
            assert [e["text"] for e in await history(ann, "@cat")] == [
                "to everyone", "den with ann", "reply"]
            assert [e["text"] for e in await history(ann, "2")] == ["den with ann", "reply"]
            assert [e["text"] for e in await history(ann, "lobby 1")] == ["lobby one"]
            # only the owner reads their history: ben's does not hold ann's room chat in den
            assert "den with ann" not in [e["text"] for e in await history(ben, "50")]
    run(body())


def test_a_history_longer_than_one_frame_arrives_whole(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            long_text = "é" * 1900
            for i in range(120):
                assert (await ann.say(f"{i} {long_text}"))["type"] == "ok"
            msg_id = ann.next_id()
            await ann.send({"type": "cmd", "id": msg_id, "name": "history", "args": "500"})
            pages = []
            while not pages or not pages[-1]["last"]:
                pages.append(await ann.expect("history", id=msg_id))
            assert len(pages) > 3
            entries = [e for p in pages for e in p["entries"]]
            assert [int(e["text"].split()[0]) for e in entries] == list(range(120))
    run(body())


def test_scrollback_on_join_and_login(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            for i in range(25):
                await ann.say(f"m{i}")
            await ann.command("join", "den")
            await ann.say("in den")
            ben = await RawClient.connect(server.port)
            await ben.hello()
            await ben.send({"type": "login", "id": 1, "user": "ben", "password": "x"})
            page = await ben.expect("history", kind="scrollback")
            assert page["room"] == "lobby"
            assert [e["text"] for e in page["entries"]] == [f"m{i}" for i in range(5, 25)]
            await ben.send({"type": "cmd", "id": 2, "name": "join", "args": "den"})
            page = await ben.expect("history", kind="scrollback", room="den")
            assert [e["text"] for e in page["entries"]] == ["in den"]
    run(body())


def test_offline_pm_is_queued_and_delivered_at_next_login(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            await (await logged_in(server.port, "ben")).close()
            ann = await logged_in(server.port, "ann")
            cat = await logged_in(server.port, "cat")
            reply = await ann.command("msg", "ben are you there?")
            assert reply["data"]["delivered"] is False and "queued" in reply["text"]
            await cat.command("msg", "ben hello from cat")
            await ann.command("msg", "ben second")
            assert (await ann.command("msg", "ghost boo"))["code"] == "no_such_user"
            ben = await RawClient.connect(server.port)
            await ben.hello()
            await ben.send({"type": "login", "id": 1, "user": "ben", "password": "secret"})
            summary = await ben.expect("notice")
            assert summary["text"] == "3 private messages waited for you, from ann, cat"
            pms = [await ben.expect("pm") for _ in range(3)]
            assert [(p["sender"], p["text"], p["queued"]) for p in pms] == [
                ("ann", "are you there?", True), ("cat", "hello from cat", True),
                ("ann", "second", True)]
            await ben.close()
            again = await RawClient.connect(server.port)
            await again.hello()
            await again.send({"type": "login", "id": 1, "user": "ben", "password": "secret"})
            frames = await again.drain_frames(0.3)
            assert not [f for f in frames if f["type"] in ("pm", "notice")]
    run(body())


def test_export_history_file_and_stdout(tmp_path):
    data = tmp_path / "data"

    async def body():
        async with running_server(data) as server:
            ann = await logged_in(server.port, "ann")
            await logged_in(server.port, "ben")
            await ann.say("hello room")
            await ann.command("msg", "ben hi ben")
    run(body())
    out = subprocess.run(play_command("history", "ann", "--data-dir", str(data)),
                         cwd=tmp_path, capture_output=True, text=True, env=child_env(),
                         timeout=30)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "ann.chat").read_text().splitlines()
    pattern = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(ROOM|PM)\] \[ann -> (lobby|ben)\] "
    assert [re.sub(pattern, "", line) for line in lines] == ["hello room", "hi ben"]
    assert all(re.match(pattern, line) for line in lines)
    printed = subprocess.run(play_command("history", "ann", "--stdout", "--data-dir", str(data)),
                             capture_output=True, text=True, env=child_env(), timeout=30)
    assert printed.stdout.splitlines() == lines
    for bad in ("../etc/passwd", "a/b", "", "x" * 50):
        refused = subprocess.run(play_command("history", bad, "--data-dir", str(data)),
                                 cwd=tmp_path, capture_output=True, text=True, env=child_env(),
                                 timeout=30)
        assert refused.returncode == 2 and "error" in refused.stderr
    unknown = subprocess.run(play_command("history", "nobody", "--data-dir", str(data)),
                             cwd=tmp_path, capture_output=True, text=True, env=child_env(),
                             timeout=30)
    assert unknown.returncode == 1 and "no user called nobody" in unknown.stderr


def test_sigkill_mid_traffic_loses_nothing_confirmed(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data)
    confirmed: list[str] = []
    queued_ok: list[str] = []

    async def traffic():
        ann = await logged_in(server.port, "ann")
        ben = await logged_in(server.port, "ben")
        await (await logged_in(server.port, "zed")).close()  # offline: PMs queue for zed
        n = 0
        try:
            while True:
                n += 1
                text = f"msg {n}"
                reply = await ann.say(text)
                if reply["type"] == "ok":
                    confirmed.append(text)
                pm = await ben.command("msg", f"zed queued {n}")
                if pm["type"] == "ok":
                    queued_ok.append(f"queued {n}")
                if n == 40:
                    os.kill(server.proc.pid, signal.SIGKILL)
        except (AssertionError, ConnectionError, OSError, TimeoutError):
            return  # the server is gone, as intended
    run(traffic())
    server.proc.wait(timeout=10)
    assert len(confirmed) >= 40 and len(queued_ok) >= 39
    restarted = ServerProcess(data)
    try:
        async def check():
            ann = await logged_in(restarted.port, "ann")
            entries = await history(ann, "10000")
            texts = [e["text"] for e in entries if e["type"] == "ROOM"]
            assert set(confirmed) <= set(texts)
            zed = await RawClient.connect(restarted.port)
            await zed.hello()
            await zed.send({"type": "login", "id": 1, "user": "zed", "password": "secret"})
            frames = await zed.drain_frames(1.0)
            got = [f["text"] for f in frames if f["type"] == "pm"]
            assert set(queued_ok) <= set(got)
            bad = await RawClient.connect(restarted.port)
            await bad.hello()
            assert (await bad.login("ben", "wrong"))["code"] == "bad_password"
        run(check())
    finally:
        restarted.stop()


def test_restart_keeps_accounts_history_and_scrollback(tmp_path):
    async def first():
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann", "pw")
            await ann.say("before restart")

    async def second():
        async with running_server(tmp_path) as server:
            c = await RawClient.connect(server.port)
            await c.hello()
            assert (await c.login("ann", "nope"))["code"] == "bad_password"
            await c.send({"type": "login", "id": 99, "user": "ann", "password": "pw"})
            page = await c.expect("history", kind="scrollback")
            assert [e["text"] for e in page["entries"]] == ["before restart"]
            assert [e["text"] for e in await history(c)] == ["before restart"]
    run(first())
    run(second())
