"""IRC clients for tests: the `irc` package's asyncio client, and a raw line client."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import irc.client
import irc.client_aio
import irc.connection
from helpers import running_server

from gameserver.doors.irc import IrcDoor
from gameserver.doors.irc_wire import LineDecoder, Message

WAIT = 5.0


class IrcLibClient:
    """One connection of the `irc` library; every event it parses is kept, in order."""

    def __init__(self) -> None:
        self.reactor = irc.client_aio.AioReactor(loop=asyncio.get_running_loop())
        self.conn: irc.client_aio.AioConnection = self.reactor.server()
        self.events: list[irc.client.Event] = []
        self._arrived = asyncio.Event()
        self.reactor.add_global_handler("all_events", self._keep, -10)

    def _keep(self, connection: Any, event: irc.client.Event) -> None:
        self.events.append(event)
        self._arrived.set()

    @classmethod
    async def connect(cls, port: int, nick: str, password: str | None = None,
                      tls: bool = False) -> IrcLibClient:
        client = cls()
        factory = irc.connection.AioFactory()
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            factory = irc.connection.AioFactory(ssl=context)
        await client.conn.connect("127.0.0.1", port, nick, password=password,
                                  connect_factory=factory)
        return client

    async def _find(self, match: Callable[[irc.client.Event], bool], what: str,
                    timeout: float) -> int:
        """Index in `events` of the first event `match` takes; waits for it."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events):
                if match(event):
                    return index
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(e.type, e.arguments) for e in self.events][-15:]
                raise AssertionError(f"no {what} event within {timeout}s; last seen: {seen}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def expect(self, kind: str, where: Callable[[irc.client.Event], bool] | None = None,
                     timeout: float = WAIT) -> irc.client.Event:
        """The first event of `kind` (matching `where`) not yet taken; earlier ones are dropped."""
        index = await self._find(lambda e: e.type == kind and (where is None or where(e)),
                                 kind, timeout)
        event = self.events[index]
        del self.events[: index + 1]
        return event

    async def collect(self, kind: str, until: str, timeout: float = WAIT) -> list[irc.client.Event]:
        """Every `kind` event before the next `until` event (taken too)."""
        index = await self._find(lambda e: e.type == until, until, timeout)
        taken = self.events[:index]
        del self.events[: index + 1]
        return [e for e in taken if e.type == kind]

    async def welcome(self) -> irc.client.Event:
        return await self.expect("welcome")

    def close(self) -> None:
        if self.conn.connected:
            self.conn.disconnect()


class RawIrc:
    """IRC lines by hand, for what a library would not send (SASL, garbage, floods)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = LineDecoder(max_input=1 << 20)
        self.lines: list[Message] = []
        self.times: list[float] = []  # when each line arrived
        self.history: list[Message] = []  # every line, in order, none ever taken

    @classmethod
    async def connect(cls, port: int, tls: bool = False) -> RawIrc:
        context = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        return cls(reader, writer)

    async def send(self, *lines: str) -> None:
        self.writer.write("".join(line + "\r\n" for line in lines).encode())
        await self.writer.drain()

    async def expect(self, verb: str, where: Callable[[Message], bool] | None = None,
                     timeout: float = WAIT) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            for index, line in enumerate(self.lines):
                if line.verb == verb and (where is None or where(line)):
                    del self.lines[: index + 1]
                    del self.times[: index + 1]
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [m.to_line() for m in self.lines][-15:]
                raise AssertionError(f"no {verb} within {timeout}s; last seen: {seen}")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                continue
            if not data:
                raise AssertionError(f"connection closed before {verb}; "
                                     f"last seen: {[m.to_line() for m in self.lines][-15:]}")
            now = time.monotonic()
            for item in self.decoder.feed(data):
                if isinstance(item, Message):
                    self.lines.append(item)
                    self.history.append(item)
                    self.times.append(now)

    async def closed(self, timeout: float = WAIT) -> bool:
        """Read to the end of the stream; True if the server closed it in time."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def irc_server(tmp_path: Path, **door_options: Any) -> AsyncIterator[tuple[Any, IrcDoor]]:
    door_options.setdefault("server_name", "play.test")
    door_options.setdefault("pace_interval", 0.05)
    door = IrcDoor("127.0.0.1", 0, **door_options)
    async with running_server(tmp_path / "data", doors=[door]) as server:
        yield server, door


async def irc_user(door: IrcDoor, nick: str, password: str = "secret") -> IrcLibClient:
    client = await IrcLibClient.connect(door.port, nick, password=password)
    await client.welcome()
    await client.expect("join", lambda e: e.target == "#lobby" and e.source.nick == nick)
    return client
