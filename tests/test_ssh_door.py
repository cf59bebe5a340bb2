"""The SSH door with asyncssh's client on loopback: accounts, keys, the line view, drops."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

import asyncssh
import pytest
from helpers import ROOMY, RawClient, child_env, play_command, run
from sshclients import Lines, connect, ssh_server

from gameserver.doors.ssh import HOST_KEY_FILE
from gameserver.throttle import LoginThrottle


async def register(door, user: str, password: str = "pw") -> asyncssh.SSHClientConnection:
    conn, client = await connect(door, user, answers=[password, password])
    assert client.challenges[0][0] == "create a play account"
    return conn


def test_keyboard_interactive_registers_then_the_password_logs_in(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            conn, client = await connect(door, "alice", answers=["s3cret", "s3cret"])
            name, instructions, prompts = client.challenges[0]
            assert "no account called alice" in instructions and len(prompts) == 2
            lines = await Lines.open(conn)
            assert "registered and logged in as alice" in await lines.until("logged in")
            await lines.until("you are in #lobby")
            conn.close()
            assert server.store.account_hash("alice") is not None
            again, _ = await connect(door, "alice", password="s3cret")
            lines = await Lines.open(again)
            line = await lines.until("logged in")
            assert "logged in as alice" in line and "registered" not in line
            again.close()
            kbd, client = await connect(door, "alice", answers=["s3cret"])  # one prompt now
            assert len(client.challenges[0][2]) == 1
            kbd.close()

    run(body())


def test_two_different_new_passwords_are_asked_again(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            conn, client = await connect(door, "bob", answers=["one", "two", "ok", "ok"])
            assert "differ" in client.challenges[1][1]
            lines = await Lines.open(conn)
            assert "registered and logged in as bob" in await lines.until("logged in")
            conn.close()

    run(body())


def test_refusals_are_sentences_in_a_banner(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            (await register(door, "alice", "right")).close()
            with pytest.raises(asyncssh.PermissionDenied) as wrong:
                await connect(door, "alice", password="wrong")
            assert any("wrong password for alice" in b for b in wrong.value.banners)
            with pytest.raises(asyncssh.PermissionDenied) as new:
                await connect(door, "zed", password="whatever")
            assert any("no account called zed" in b and "keyboard-interactive" in b
                       for b in new.value.banners)
            assert server.store.account_hash("zed") is None  # a password alone never registers
            with pytest.raises(asyncssh.DisconnectError) as bad:  # no method can work: closed
                await connect(door, "-dash", answers=["x", "x"])
            assert any("may only use letters" in b for b in bad.value.banners)
            with pytest.raises(asyncssh.PermissionDenied) as reserved:
                await connect(door, "admin", answers=["x", "x"])
            assert any("reserved" in b for b in reserved.value.banners)

    run(body())


def test_the_login_throttle_is_the_play_doors(tmp_path: Path) -> None:
    """Failed SSH logins count against the account as failed play logins do, and back."""
    async def body() -> None:
        settings = ROOMY.replace(login_free_failures=1)
        async with ssh_server(tmp_path, settings=settings) as (server, door):
            (await register(door, "carol", "right")).close()
            # The hub's throttle on a stopped clock: its waits last as long as the test.
            server.hub.login_throttle = LoginThrottle(settings, lambda: 1000.0)
            raw = await RawClient.connect(server.port)
            await raw.hello()
            for _ in range(2):
                assert (await raw.login("carol", "bad"))["code"] == "bad_password"
            with pytest.raises(asyncssh.PermissionDenied) as waited:
                await connect(door, "carol", password="right")  # the throttle waits first
            assert any("try again in" in b or "must wait" in b for b in waited.value.banners)
            await raw.close()

    run(body())


def test_line_view_chats_with_a_play_client(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await RawClient.connect(server.port)
            await bob.hello()
            await bob.login("bob")
            conn = await register(door, "alice")
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            await bob.expect("joined", user="alice")
            await bob.say("hello alice")
            assert await lines.until("hello alice") == "<bob> hello alice"
            lines.send("hi bob", "/who")
            said = await bob.expect("room_msg", user="alice")
            assert said["text"] == "hi bob" and said["room"] == "lobby"
            await lines.until("2 in #lobby")
            lines.send("/msg bob psst")
            assert "not end-to-end encrypted" in await lines.until("private messages")
            pm = await bob.expect("pm")
            assert pm["text"] == "psst" and pm["sender"] == "alice" and pm.get("e2e") is None
            await bob.command("msg", "alice back")
            assert "[not end-to-end encrypted]" in await lines.until("[PM from bob]")
            lines.process.stdin.write_eof()  # the end of input: leave, as the line client does
            await lines.until("goodbye")
            left = await bob.expect("left", user="alice")
            assert left["room"] == "lobby"
            await bob.close()

    run(body())


def test_a_command_runs_as_what_was_typed_first(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            (await register(door, "dora")).close()
            conn, _ = await connect(door, "dora", password="pw")
            lines = await Lines.open(conn, "/who")
            lines.process.stdin.write_eof()  # nothing more typed: it leaves after the command
            out = await lines.rest()
            assert "1 in #lobby" in out and "  dora" in out and "goodbye" in out
            await asyncio.wait_for(lines.process.wait_closed(), 10)
            assert lines.process.exit_status == 0
            conn.close()

    run(body())


def test_a_vanished_ssh_client_is_dropped_and_the_room_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            bob = await RawClient.connect(server.port)
            await bob.hello()
            await bob.login("bob")
            conn = await register(door, "erin")
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            await bob.expect("joined", user="erin")
            conn.abort()  # the TCP connection just goes, no goodbye
            left = await bob.expect("left", user="erin")
            assert left["reason"] == "connection lost"
            assert "erin" not in server.hub.online
            await asyncio.sleep(0.1)
            assert not door.clients  # and only bob is counted now
            assert server.runtime.connection_counts.open == {"127.0.0.1": 1}
            await bob.close()

    run(body())


def test_a_silent_ssh_client_goes_when_a_play_client_would(tmp_path: Path) -> None:
    """Wi-Fi gone, the TCP connection still up: an SSH client that answers nothing (not
    even the keepalives) is dropped `ping_after` + `ping_timeout` after it fell silent,
    as a play client is; asyncssh's keepalive, asked as it was before, took up to twice
    `ping_after` (here 8 s)."""
    ping_after, ping_timeout = 4.0, 1.0

    async def body() -> None:
        silent = asyncio.Event()

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                if not silent.is_set():  # once silent, what comes is lost, as over dead Wi-Fi
                    writer.write(data)

        async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                        ) -> None:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", door.port)
            await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w),
                                 return_exceptions=True)
            for w in (client_w, server_w):
                w.close()

        settings = ROOMY.replace(ping_after=ping_after, ping_timeout=ping_timeout)
        async with ssh_server(tmp_path, settings=settings) as (server, door):
            proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
            through = type("Through", (), {"port": proxy.sockets[0].getsockname()[1]})
            conn = await register(through, "erin")  # type: ignore[arg-type]
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            silent.set()
            went = asyncio.get_running_loop().time()
            while "erin" in server.hub.online:
                await asyncio.sleep(0.05)
                assert asyncio.get_running_loop().time() - went < 2 * ping_after, \
                    "the silent SSH client is still there"
            took = asyncio.get_running_loop().time() - went
            assert ping_after <= took <= ping_after + ping_timeout + 1.0, took
            conn.abort()
            proxy.close()

    run(body())


def test_the_shutdown_notice_shows_before_the_channel_closes(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            conn = await register(door, "fay")
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            await server.stop("the host is going for lunch")
            assert "the host is going for lunch" in await lines.rest()
            await asyncio.wait_for(lines.process.wait_closed(), 10)

    run(body())


def test_ssh_keys_log_in_and_foreign_keys_are_refused(tmp_path: Path) -> None:
    async def body() -> None:
        mine = asyncssh.generate_private_key("ssh-ed25519", comment="alice@laptop")
        stray = asyncssh.generate_private_key("ssh-ed25519")
        async with ssh_server(tmp_path) as (server, door):
            conn = await register(door, "alice")
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            public = mine.export_public_key().decode().strip()
            lines.send(f"/sshkey add {public}")
            assert "added" in await lines.until("SSH key SHA256:")
            lines.send("/sshkey list")
            await lines.until("your SSH keys (1)")
            listed = await lines.until("1. ssh-ed25519")
            assert mine.get_fingerprint("sha256") in listed and "alice@laptop" in listed
            conn.close()
            (await register(door, "bob")).close()

            keyed, _ = await connect(door, "alice", key=mine)  # no password at all
            lines = await Lines.open(keyed)
            assert "logged in as alice" in await lines.until("logged in")
            keyed.close()
            with pytest.raises(asyncssh.PermissionDenied) as foreign:
                await connect(door, "bob", key=mine)
            assert any("belongs to another account, not bob" in b
                       for b in foreign.value.banners)
            with pytest.raises(asyncssh.PermissionDenied) as unknown:
                await connect(door, "alice", key=stray)
            assert any(stray.get_fingerprint("sha256") in b and "on no account" in b
                       for b in unknown.value.banners)

            conn, _ = await connect(door, "alice", password="pw")
            lines = await Lines.open(conn)
            await lines.until("you are in #lobby")
            lines.send("/sshkey remove 1")
            assert "no keys left" in await lines.until("removed")
            conn.close()
            with pytest.raises(asyncssh.PermissionDenied):
                await connect(door, "alice", key=mine)

    run(body())


def test_a_bad_key_is_refused_with_a_sentence(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path) as (server, door):
            raw = await RawClient.connect(server.port)
            await raw.hello()
            await raw.login("gus")
            reply = await raw.command("sshkey", "add ssh-ed25519 AAAAnotbase64!!")
            assert reply["type"] == "error" and "damaged" in reply["text"]
            key = asyncssh.generate_private_key("ssh-ed25519")
            private = key.export_private_key().decode()
            reply = await raw.command("sshkey", f"add {private}")
            assert reply["type"] == "error" and "PRIVATE" in reply["text"]
            reply = await raw.command("sshkey", "remove 3")
            assert reply["type"] == "error" and "no SSH key number 3" in reply["text"]
            await raw.close()

    run(body())


def test_the_host_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    async def body() -> str:
        async with ssh_server(tmp_path / "data") as (server, door):
            assert door.key_created and door.fingerprint.startswith("SHA256:")
            return door.fingerprint

    first = run(body())
    path = tmp_path / "data" / HOST_KEY_FILE
    assert os.stat(path).st_mode & 0o777 == 0o600

    async def again() -> None:
        async with ssh_server(tmp_path / "data") as (server, door):
            assert not door.key_created and door.fingerprint == first
            conn = await register(door, "hana")
            assert conn.get_server_host_key().get_fingerprint("sha256") == first
            conn.close()

    run(again())


def test_too_many_connections_from_one_address_are_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with ssh_server(tmp_path, settings=ROOMY.replace(max_per_address=2)) as (_, door):
            kept = [await register(door, "ivy"), await register(door, "jan")]
            with pytest.raises(asyncssh.Error) as refused:
                await connect(door, "ivy", password="pw")
            assert any("too many connections" in b for b in refused.value.banners)
            for conn in kept:
                conn.close()

    run(body())


def test_the_per_address_count_is_shared_with_the_other_doors(tmp_path: Path) -> None:
    """An address at its cap on the play door is refused on SSH too (one count per process)."""
    async def body() -> None:
        async with ssh_server(tmp_path, settings=ROOMY.replace(max_per_address=1)) as (
                server, door):
            play = await RawClient.connect(server.port)
            await play.hello()
            with pytest.raises(asyncssh.Error) as refused:
                await connect(door, "ivy", password="pw")
            assert any("too many connections from your address (at most 1)" in b
                       for b in refused.value.banners)
            await play.close()
            for _ in range(100):
                if not server.runtime.connection_counts.open:
                    break
                await asyncio.sleep(0.05)
            conn = await register(door, "ivy")  # its place came free
            conn.close()

    run(body())


def read_ssh_banner(proc: subprocess.Popen) -> tuple[int, str]:
    """The port and host key fingerprint `play host` prints for its SSH door."""
    seen = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"no SSH line; got {seen!r}")
        seen += line
        match = re.search(r"SSH on 127\.0\.0\.1:(\d+) .*\n\s+(SHA256:\S+)", seen)
        if match:
            return int(match.group(1)), match.group(2)


@pytest.mark.parametrize("how", ["flag", "play.toml"])
def test_play_host_serves_ssh_and_prints_the_host_key(tmp_path: Path, how: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    args = ["--ssh-port", "0"] if how == "flag" else []
    if how == "play.toml":
        (data / "play.toml").write_text("ssh_port = 0\n")
    proc = subprocess.Popen(play_command("host", "--headless", "--port", "0", "--no-tls",
                                         "--data-dir", str(data), *args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, env=child_env())
    try:
        port, printed = read_ssh_banner(proc)

        async def body() -> None:
            conn, client = await connect(type("Door", (), {"port": port})(), "kim",
                                         answers=["pw", "pw"])
            assert conn.get_server_host_key().get_fingerprint("sha256") == printed
            lines = await Lines.open(conn)
            assert "registered and logged in as kim" in await lines.until("logged in")
            conn.close()

        run(body())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
