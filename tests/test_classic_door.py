"""The classic door with raw sockets, as `nc` and the assignment's clients use it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import RawClient, logged_in, run, running_server

from gameserver.doors.classic import ClassicDoor
from gameserver.doors.classic_wire import MAX_OUT_LINE

pytestmark = pytest.mark.timeout(60)
WAIT = 5.0


class Nc:
    """What `nc HOST PORT` does: lines in, lines out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> Nc:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\n" for line in lines).encode())
        await self.writer.drain()

    async def line(self, timeout: float = WAIT) -> str:
        data = await asyncio.wait_for(self.reader.readline(), timeout)
        assert data.endswith(b"\n"), f"connection ended: {data!r}"
        assert len(data) <= MAX_OUT_LINE
        return data[:-1].decode()

    async def lines(self, count: int) -> list[str]:
        return [await self.line() for _ in range(count)]

    async def until(self, wanted: str) -> list[str]:
        seen = []
        while True:
            line = await self.line()
            seen.append(line)
            if line == wanted:
                return seen

    async def quiet(self, wait: float = 0.3) -> bytes:
        """Whatever arrives within `wait` seconds (b"" if nothing)."""
        try:
            return await asyncio.wait_for(self.reader.read(4096), wait)
        except TimeoutError:
            return b""

    async def closed(self) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(), WAIT) is not None
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def classic_server(tmp_path: Path) -> AsyncIterator[tuple[Any, ClassicDoor]]:
    door = ClassicDoor("127.0.0.1", 0)
    async with running_server(tmp_path / "data", doors=[door]) as server:
        yield server, door


async def guest(door: ClassicDoor, nick: str | None = None) -> Nc:
    nc = await Nc.connect(door.port)
    if nick is not None:
        await nc.send(f"/nick {nick}")
        assert await nc.line() == "0"
    return nc


def test_every_reply_code_of_the_assignment(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            carol = await logged_in(server.port, "carol")  # an account, online
            a = await guest(door, "ann")
            b = await guest(door)
            await b.send("/nick ann")  # taken in this room
            assert await b.line() == "2"
            await b.send("/nick carol")  # an account's name: a guest cannot pass for it
            assert await b.line() == "2"
            # reserved, another guest's name, carol in Cyrillic letters
            await b.send("/nick server", "/nick guest-99", "/nick \u0441\u0430rol")
            assert await b.lines(3) == ["2", "2", "2"]
            await b.send("/nick two words", "/nick", "/nick #bad")
            assert await b.lines(3) == ["1", "1", "1"]
            await b.send("/nick ben")
            assert await b.line() == "0"
            await b.send("/list")
            assert await b.lines(2) == ["1", "lobby"]
            await b.send("/who")
            assert sorted(await b.lines(3)) == ["ann", "ben", "carol"]
            await b.send("/join games", "/join bad!room", "/join", "/join a b")
            assert await b.lines(4) == ["0", "1", "1", "1"]
            await b.send("/list")
            first = await b.line()
            assert first == "2" and sorted(await b.lines(2)) == ["games", "lobby"]
            # /join moved ben: the lobby's chat no longer reaches him, the new room's does
            await carol.say("lobby only")
            await a.line()  # ann, still in the lobby, hears it
            assert await b.quiet() == b""
            await b.send("/who")
            assert await b.line() == "ben"
            await b.send("/logout")
            assert await b.closed()
            a.close()
            await carol.close()

    run(body())


def test_room_messages_are_nick_colon_text_and_cross_doors(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            carol = await logged_in(server.port, "carol")
            a = await guest(door)
            joined = await carol.expect("joined")
            guest_name = joined["user"]
            assert guest_name.startswith("guest-")
            b = await guest(door, "ben")
            await a.send("hello everyone")
            assert await b.line() == f"{guest_name}: hello everyone"
            said = await carol.expect("room_msg", text="hello everyone")
            assert said["user"] == guest_name
            assert await a.quiet() == b""  # your own line is not sent back
            await carol.say("hi from play")
            assert await a.line() == "carol: hi from play"
            assert await b.line() == "carol: hi from play"
            # a long message arrives in lines of at most 1024 bytes, each with the nick
            text = " ".join(f"wörd{i}" for i in range(250))
            await carol.say(text)
            pieces = []
            while " ".join(pieces) != text:
                line = await a.line()
                assert line.startswith("carol: ")
                pieces.append(line[len("carol: "):])
                assert len(pieces) < 10
            assert len(pieces) > 1
            a.close()
            b.close()
            await carol.close()

    run(body())


def test_guest_names_cannot_be_taken_by_accounts(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, _door):
            client = await RawClient.connect(server.port)
            await client.hello()
            reply = await client.login("guest-1", "secret")
            assert reply["type"] == "error" and "guest" in reply["text"]
            await client.close()

    run(body())


def test_play_commands_work_and_are_never_said_to_the_room(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            carol = await logged_in(server.port, "carol")
            a = await guest(door, "ann")
            await a.send("/games")
            reply = await a.line()
            assert "tictactoe" in reply or "game" in reply
            await a.send("/msg carol are you there?")
            await a.line()  # the answer, whatever it is, comes back to ann alone
            frames = await carol.drain_frames()
            assert not any(f.get("type") == "room_msg" for f in frames)
            a.close()
            await carol.close()

    run(body())


def test_play_host_offers_the_doors_and_says_what_plain_irc_gives_up() -> None:
    import subprocess

    from helpers import play_command

    result = subprocess.run([*play_command("host", "--help")], capture_output=True, text=True,
                            timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert "--irc-port" in result.stdout and "--classic-port" in result.stdout
    assert "passwords then cross the network in clear" in result.stdout
    refused = subprocess.run([*play_command("host", "--headless", "--irc-plain")],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--irc-plain needs --irc-port" in refused.stderr


def test_a_ban_on_a_guest_is_a_ban_on_its_address(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            carol = await logged_in(server.port, "carol")
            server.hub.community.first_admin("carol")
            pest = await guest(door)
            joined = await carol.expect("joined")
            reply = await carol.command("ban", f"{joined['user']} 1h spam")
            assert reply["type"] == "ok", reply
            assert await pest.closed()
            # the next guest from the same address is turned away with the reason
            again = await Nc.connect(door.port)
            line = await again.line()
            assert "banned" in line and "spam" in line
            assert await again.closed()
            await carol.close()

    run(body())


def test_join_answers_1_for_every_refusal_and_0_for_the_room_you_are_in(tmp_path: Path) -> None:
    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            carol = await logged_in(server.port, "carol")
            for room in ("den", "vip"):  # carol creates (so owns) both
                assert (await carol.command("join", room))["type"] == "ok"
            g = await guest(door, "gus")
            joined = await carol.expect("joined", where=lambda f: f["user"].startswith("guest-"))
            name = joined["user"]
            reply = await carol.command("ban", f"{name} 1h", room="den")
            assert reply["type"] == "ok", reply
            assert (await carol.command("mode", "+i", room="vip"))["type"] == "ok"
            await g.send("/join den", "/join vip", "/join " + "x" * 40, "/join lobby")
            assert await g.lines(4) == ["1", "1", "1", "0"]  # banned, invite-only, too long
            await g.send("/who")
            assert sorted(await g.lines(2)) == ["carol", "gus"]  # still in the lobby
            other = await guest(door)  # a new guest from the same address: banned too
            await other.send("/join den")
            assert await other.line() == "1"
            other.close()
            assert (await carol.command("invite", name, room="vip"))["type"] == "ok"
            assert "invites you to #vip" in await g.line()
            await g.send("/join vip")
            assert await g.line() == "0"
            g.close()
            await carol.close()

    run(body())
