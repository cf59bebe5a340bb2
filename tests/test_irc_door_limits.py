"""The IRC door's pacing, deadlines, TLS and connection caps, end to end on real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from helpers import ROOMY, logged_in, run, running_server
from ircclients import IrcLibClient, RawIrc, irc_server

from gameserver.doors.irc import IrcDoor
from gameserver.doors.tls import fingerprint

pytestmark = pytest.mark.timeout(60)


def test_boards_and_long_replies_are_paced(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path, pace_burst=4, pace_interval=0.1) as (_server, door):
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS pw", "NICK erin", "USER e 0 * :E")
            await raw.expect("JOIN")
            await raw.expect("366")
            await raw.send("HELP")  # every play command, one notice each
            first = await raw.expect("NOTICE")
            start = asyncio.get_running_loop().time()
            count = 1
            while count < 12:
                await raw.expect("NOTICE")
                count += 1
            elapsed = asyncio.get_running_loop().time() - start
            assert "commands" in first.params[-1]
            # 12 lines with a burst of 4 and 0.1 s apart take at least 0.7 s
            assert elapsed >= 0.6, elapsed
            raw.close()

    run(body())


# ---------------------------------------------------------------- keeping the line alive


def test_the_server_pings_and_drops_a_silent_client(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path, time_scale=0.02) as (_server, door):
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS pw", "NICK fred", "USER f 0 * :F")
            await raw.expect("001")
            ping = await raw.expect("PING", timeout=10)
            await raw.send(f"PONG :{ping.params[-1]}")
            await raw.expect("PING", timeout=10)  # answered once, then silence
            error = await raw.expect("ERROR", timeout=10)
            assert "Ping timeout" in error.params[-1]
            assert await raw.closed()

    run(body())


def test_quit_is_answered_with_error_and_the_room_told(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS pw", "NICK gina", "USER g 0 * :G")
            await raw.expect("001")
            await bob.expect("joined", user="gina")
            await raw.send("QUIT :gone fishing")
            assert (await raw.expect("ERROR")).params[-1].startswith("Closing Link")
            assert await raw.closed()
            await bob.expect("left", user="gina")
            await bob.close()

    run(body())


def test_garbage_and_huge_lines_are_answered_not_fatal(tmp_path: Path) -> None:
    async def body() -> None:
        async with irc_server(tmp_path) as (_server, door):
            raw = await RawIrc.connect(door.port)
            await raw.send("PASS pw", "NICK hal", "USER h 0 * :H")
            await raw.expect("001")
            raw.writer.write(b"PRIVMSG #lobby :" + b"x" * 20000 + b"\r\n\x00\x01\r\n")
            await raw.send("PING :still-here")
            assert (await raw.expect("417")).params[-1]
            assert (await raw.expect("PONG")).params[-1] == "still-here"
            raw.close()

    run(body())


def test_tls_by_default_with_the_play_doors_certificate(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0, tls=True, server_name="play.test")
        async with running_server(tmp_path / "data", tls=True, doors=[door]) as server:
            raw = await RawIrc.connect(door.port, tls=True)
            der = raw.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            assert server.tls is not None and fingerprint(der) == server.tls.fingerprint
            await raw.send("PASS pw", "NICK ivy", "USER i 0 * :I")
            assert (await raw.expect("001")).params[0] == "ivy"
            raw.close()
            lib = await IrcLibClient.connect(door.port, "jo", password="pw", tls=True)
            await lib.welcome()
            lib.close()
            # a plain client on the TLS port gets nowhere (and no password crossed in clear)
            # (the listener's first-byte check, as on the play door: it is told why, in IRC)
            plain = await RawIrc.connect(door.port)
            await plain.send("PASS pw", "NICK kim", "USER k 0 * :K")
            refused = await plain.expect("ERROR")
            assert "uses TLS" in refused.params[-1] and "-tls" in refused.params[-1]
            assert await plain.closed()
            assert not any(s.user == "kim" for s in server.hub.online.values())

    run(body())


def test_the_irc_port_alone_uses_tls_too(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0, tls=True)
        async with running_server(tmp_path / "data", doors=[door]):  # play door --no-tls
            raw = await RawIrc.connect(door.port, tls=True)
            await raw.send("PASS pw", "NICK lee", "USER l 0 * :L")
            await raw.expect("001")
            raw.close()
            assert (tmp_path / "data" / "cert.pem").exists()

    run(body())


def test_connections_per_address_are_capped_as_on_the_play_door(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        settings = dataclasses.replace(ROOMY, max_per_address=2)
        async with running_server(tmp_path / "data", doors=[door], settings=settings) as server:
            first, second = await RawIrc.connect(door.port), await RawIrc.connect(door.port)
            third = await RawIrc.connect(door.port)
            refused = await third.expect("ERROR")
            assert "too many connections from your address" in refused.params[-1]
            assert await third.closed()
            first.close()
            third.close()
            counts = server.runtime.connection_counts  # one count for every door
            for _ in range(100):  # until the server has seen both go
                if counts.total == 1:
                    break
                await asyncio.sleep(0.05)
            assert counts.total == 1
            again = await RawIrc.connect(door.port)
            await again.send("PASS pw", "NICK max", "USER m 0 * :M")
            await again.expect("001")
            for raw in (second, again):
                raw.close()

    run(body())


def test_registration_and_ping_deadlines_come_from_the_settings(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        settings = dataclasses.replace(ROOMY, login_timeout=0.5, ping_after=0.5,
                                       ping_timeout=0.5)
        async with running_server(tmp_path / "data", doors=[door], settings=settings):
            loop = asyncio.get_running_loop()
            silent, started = await RawIrc.connect(door.port), loop.time()
            error = await silent.expect("ERROR", timeout=10)
            assert "Registration timed out" in error.params[-1]
            assert loop.time() - started < 5  # not the old fixed 60 s
            assert await silent.closed()
            quiet = await RawIrc.connect(door.port)
            await quiet.send("PASS pw", "NICK quinn", "USER q 0 * :Q")
            await quiet.expect("001")
            await quiet.expect("PING", timeout=10)
            error = await quiet.expect("ERROR", timeout=10)
            assert "Ping timeout" in error.params[-1]

    run(body())


def test_the_tls_port_drops_a_socket_that_never_speaks_as_the_play_door_does(
        tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0, tls=True)
        settings = dataclasses.replace(ROOMY, hello_timeout=0.5)
        async with running_server(tmp_path / "data", doors=[door], settings=settings) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", door.port)
            counts = server.runtime.connection_counts
            assert counts.total == 1
            # says nothing (not even a TLS hello): closed by the listener's sweep
            assert await asyncio.wait_for(reader.read(), 10) == b""
            assert counts.open == {}
            writer.close()

    run(body())
