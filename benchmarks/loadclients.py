"""The load benchmark's clients: many connections that count and time what they get."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from typing import TYPE_CHECKING, Any, cast

from loadspec import MSG_RE, ROOM_HEAD_RE, SAY_ID_BASE, SKIP_PREFIXES, without_presence

if TYPE_CHECKING:
    from loadrun import Bench

# ---------------------------------------------------------------- clients


class Client(asyncio.Protocol):
    """One connection; room messages are counted and timed without a JSON parse each."""

    def __init__(self, bench: Bench, user: str) -> None:
        self.bench = bench
        self.user = user
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.in_room: asyncio.Future[dict[str, Any]] = bench.loop.create_future()
        self.gone: asyncio.Future[None] = bench.loop.create_future()
        self.received = 0  # bench messages seen
        self.oks = 0  # says confirmed
        self.bye = ""
        self.token = ""
        self.sender: Sender | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for fut in (*self.replies.values(), self.in_room):
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.user}: connection closed {self.bye}"))
        if not self.gone.done():
            self.gone.set_result(None)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def request(self, msg_id: int, obj: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        fut = self.bench.loop.create_future()
        self.replies[msg_id] = fut
        self.write(json.dumps({**obj, "id": msg_id}).encode() + b"\n")
        return fut

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.buf:
            data = self.buf + data
        end = data.rfind(b"\n")
        if end < 0:
            self.buf = data
            return
        self.buf = data[end + 1:]
        chunk = without_presence(data[: end + 1] if end + 1 < len(data) else data)
        matches = MSG_RE.findall(chunk)
        if matches:
            self.received += len(matches)
            self.bench.delivered(matches, now)
            if self.sender is not None:
                self.sender.saw(matches)
        others = (chunk.count(b"\n") - len(matches) - chunk.count(b'{"type":"joined"')
                  - chunk.count(b'{"type":"left"'))
        if others > 0:
            for line in chunk.split(b"\n"):
                if line and not line.startswith(SKIP_PREFIXES):
                    head = ROOM_HEAD_RE.match(line)  # a big room's member list: skip it
                    self.frame({"type": "room", "room": json.loads(head[1]),
                                "nick": json.loads(head[2])} if head else json.loads(line))

    def frame(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind in ("ok", "error"):
            msg_id = obj.get("id")
            if isinstance(msg_id, int) and msg_id >= SAY_ID_BASE:
                if kind == "ok":
                    self.oks += 1
                else:
                    self.bench.errors.append(f"{self.user}: {obj.get('text')}")
                return
            fut = self.replies.pop(msg_id, None) if isinstance(msg_id, int) else None
            if fut is not None and not fut.done():
                fut.set_result(obj)
        elif kind == "room":
            if obj.get("room") == self.bench.room and not self.in_room.done():
                self.in_room.set_result(obj)
        elif kind == "bye":
            self.bye = str(obj.get("reason", ""))
            self.bench.byes.append(f"{self.user}: {self.bye}")


class Sender:
    """Sends one client's bench messages: at full speed in a window, or at a fixed rate."""

    def __init__(self, bench: Bench, client: Client, index: int, count: int) -> None:
        self.bench = bench
        self.client = client
        self.tag = str(index).encode()
        self.index = index
        self.count = count
        self.sent = 0
        self.seen_own = 0
        client.sender = self

    def saw(self, matches: list[tuple[bytes, bytes, bytes]]) -> None:
        tag = self.tag
        self.seen_own += sum(1 for m in matches if m[0] == tag)
        if self.bench.full_speed:
            self.top_up()

    def frames(self, n: int) -> bytes:
        now = time.perf_counter()
        first, i = self.sent, self.index
        self.sent += n
        self.bench.total_sent += n
        return b"".join(
            b'{"type":"say","id":%d,"text":"b %d %d %.6f"}\n' % (SAY_ID_BASE + s, i, s, now)
            for s in range(first, first + n))

    def top_up(self) -> None:
        """Full speed: keep up to WINDOW messages in flight, within the slowest reader's lag."""
        bench = self.bench
        room = min(self.count - self.sent, bench.window - (self.sent - self.seen_own),
                   bench.lag_cap - (bench.total_sent - bench.slowest))
        if room > 0 and self.client.transport is not None:
            self.client.write(self.frames(room))

    async def at_rate(self, rate: float) -> None:
        start = time.perf_counter()
        for k in range(self.count):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.client.transport is None:
                return
            self.client.write(self.frames(1))



_TLS: list[ssl.SSLContext] = []


def _client_tls() -> ssl.SSLContext:
    """One client context for the whole run (loopback, so no pin is checked)."""
    if not _TLS:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _TLS.append(context)
    return _TLS[0]
