"""The JSON Lines door: a TCP (TLS) listener whose connections speak JSON Lines frames."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gameserver import settings as settings_
from gameserver.core.events import Event
from gameserver.doors.deadlines import Deadlines
from gameserver.doors.flushing import FlushingDoor
from gameserver.doors.jsonconn import Connection
from gameserver.doors.jsonframes import encode_event
from gameserver.doors.tls import ServerTLS, TLSError, server_tls
from gameserver.listener import Listener
from gameserver.protocol import RoomMessage
from gameserver.settings import Settings

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.runtime import Runtime

log = logging.getLogger("play.server")

_clock = time.perf_counter  # precise even where the loop's clock is per pass (uvloop: ms)
WIDE = 8  # an event for over 1/WIDE of the connections: the next flush walks them all
_quote = json.encoder.encode_basestring  # as jsonframes (what encode() uses for str)


class ServerError(Exception):
    """The door cannot listen; the message says why in words a user can act on."""


def bind_error_message(exc: OSError, host: str, port: int) -> str:
    """Turn a bind failure into one sentence."""
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host!r}: unknown host or address"
    if exc.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is already in use (is another server running?); "
                "choose another with --port, or --port 0 for any free port")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied to listen on port {port} (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"the address {host} is not available on this machine"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


class JSONLinesDoor(FlushingDoor):
    """The TCP listener speaking JSON Lines: `await door.start(runtime)`, then `.port`.

    TLS by default (trust on first use: `.tls.fingerprint`). Every event is encoded
    once (encode_event) and the same bytes go to each member's output list; every list
    is written once per loop pass (FlushingDoor.flush_all, shared with the other doors).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5220, *,
                 settings: Settings | None = None, tls: bool = True,
                 cert: Path | None = None, key: Path | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.settings = settings or settings_.DEFAULTS
        self.use_tls = tls
        self.cert, self.key = cert, key
        self.tls: ServerTLS | None = None  # once started with TLS: the context, fingerprint
        self.listener: Listener | None = None
        self.connections: set[Connection] = set()
        self.deadlines = Deadlines()  # whom the tick visits, by their next deadline
        self._dirty: list[Connection] = []  # written to since the last flush (repeats too)
        self._all_dirty = False  # ... or too many of them to list: flush walks them all
        super().__init__()  # the flush: passes, writes, inputs (frames and connections)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None
        self.port = 0

    @property
    def hub(self) -> Hub:
        assert self._runtime is not None, "door not started"
        return self._runtime.hub

    async def start(self, runtime: Runtime, data_dir: Path) -> None:
        """Listen, and attach to the runtime; ServerError if that cannot be done."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._runtime = runtime
        if self.use_tls:
            try:
                # A cluster's nodes serve one certificate, shared through the store.
                self.tls = server_tls(data_dir, self.cert, self.key,
                                      shared=getattr(runtime.store, "share", None))
            except TLSError as exc:
                raise ServerError(str(exc)) from None
        self.listener = Listener(
            lambda label, refusal: Connection(self, label, refusal),
            self.tls.context if self.tls is not None else None,
            runtime.connection_counts, self.settings.hello_timeout)
        try:
            self.listener.start(self.host, self.requested_port)
        except OSError as exc:
            raise ServerError(bind_error_message(exc, self.host, self.requested_port)) from None
        self.port = self.listener.port
        runtime.attach(self)
        log.info("listening on %s:%d (%s loop, %s)", self.host, self.port,
                 type(loop).__module__.split(".")[0],
                 f"TLS {self.tls.fingerprint}" if self.tls is not None else "no TLS")

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.listener.close()

    async def close(self) -> None:
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report their loss
        log.info("stopped after %d writes in %d flush passes", self.writes, self.passes)

    def tick(self) -> None:
        """Deadlines of the connections due (hello, login, pings) and of silent new sockets.

        Only those whose deadline has come, and those not logged in yet (deadlines.py): an
        idle, logged-in connection is visited once per ping, not once a second.
        """
        now = _clock()
        settings = self.settings
        self.deadlines.visit(now, lambda conn: conn.sweep(now, settings),  # type: ignore[attr-defined]
                             "deadlines", log)
        if self.listener is not None:
            self.listener.sweep(time.monotonic(), settings.hello_timeout)

    # the core's side: events for one sink (a connection's output list's append) or many

    # A sink is an Outbox's append: its __self__.conn is the connection written to, so
    # a flush visits only those (a crowd of idle members costs nothing per pass) unless
    # an event went to a good share of everyone, when walking them all is cheaper.

    def send(self, sink: Callable[[bytes], None], event: Event) -> None:
        sink(encode_event(event))
        if not self._all_dirty:
            self._dirty.append(sink.__self__.conn)  # type: ignore[attr-defined]

    def confirm(self, sink: Callable[[bytes], None], msg_id: int) -> None:
        """A line's ok: the bytes of encode(Ok(id=msg_id)), made from the id alone."""
        sink(b'{"type":"ok","id":%d}\n' % msg_id)
        if not self._all_dirty:
            self._dirty.append(sink.__self__.conn)  # type: ignore[attr-defined]

    def deliver(self, event: Event, sinks: Sequence[Callable[[bytes], None]]) -> None:
        if type(event) is RoomMessage:  # every line of every room: room_msg_frame, inlined
            frame = (f'{{"type":"room_msg","room":{_quote(event.room)},'
                     f'"nick":{_quote(event.nick)},"user":{_quote(event.user)},'
                     f'"text":{_quote(event.text)},"ts":{event.ts!r}}}\n').encode()
        else:
            frame = encode_event(event)
        for sink in sinks:
            sink(frame)
        if not self._all_dirty:
            if len(sinks) * WIDE >= len(self.connections):
                self._all_dirty = True
            else:
                self._dirty.extend([sink.__self__.conn for sink in sinks])  # type: ignore[attr-defined]

    def flushables(self) -> Iterable[Connection]:
        """The connections written to since the last flush (or all of them; see send)."""
        dirty, self._dirty = self._dirty, []
        if self._all_dirty:
            self._all_dirty = False
            return self.connections
        return dirty
