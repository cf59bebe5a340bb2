"""The JSON Lines door: a TCP (TLS) listener whose connections speak JSON Lines frames."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gameserver import settings as settings_
from gameserver.core.events import Event
from gameserver.doors.jsonconn import Connection
from gameserver.doors.jsonframes import encode_event
from gameserver.listener import Listener
from gameserver.settings import Settings
from gameserver.tls import ServerTLS, TLSError, server_tls

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.runtime import Runtime

log = logging.getLogger("play.server")

# Storms (see JSONLinesDoor.wake): over STORM_RATE frames and connections a second in two
# STORM_WINDOWs running, flushes wait FLUSH_DUTY times the last one's cost (at most
# MAX_FLUSH_DELAY seconds) to write more at once.
STORM_RATE = 1000.0
STORM_WINDOW = 0.1
FLUSH_DUTY = 6.0
MAX_FLUSH_DELAY = 0.1

_write = os.write
_clock = time.perf_counter  # precise even where the loop's clock is per pass (uvloop: ms)


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


class JSONLinesDoor:
    """The TCP listener speaking JSON Lines: `await door.start(runtime)`, then `.port`.

    TLS by default (trust on first use: `.tls.fingerprint`). Every event is encoded
    once (encode_event) and the same bytes go to each member's output list; every list
    is written once per loop pass (flush_all).
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
        self.passes = 0  # flush passes that wrote something, and the writes they made
        self.writes = 0
        self._flush_scheduled = False
        self._last_flush = 0.0
        self._flush_cost = 0.0
        self._storm = False  # see wake()
        self._busy_window = False  # the last window was over STORM_RATE
        self._window_start = 0.0
        self.inputs = 0  # frames and connections since _window_start
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
                self.tls = server_tls(data_dir, self.cert, self.key)
            except TLSError as exc:
                raise ServerError(str(exc)) from None
        self.listener = Listener(
            lambda label, refusal: Connection(self, label, refusal),
            self.tls.context if self.tls is not None else None,
            self.settings.max_per_address, self.settings.hello_timeout)
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
        """Deadlines of every connection (hello, login, pings) and of silent new sockets."""
        now = _clock()
        settings = self.settings
        for conn in list(self.connections):
            conn.sweep(now, settings)
        if self.listener is not None:
            self.listener.sweep(time.monotonic(), settings.hello_timeout)

    # the core's side: events for one sink (a connection's output list's append) or many

    def send(self, sink: Callable[[bytes], None], event: Event) -> None:
        sink(encode_event(event))

    def deliver(self, event: Event, sinks: Sequence[Callable[[bytes], None]]) -> None:
        frame = encode_event(event)
        for sink in sinks:
            sink(frame)

    def wake(self) -> None:
        """Something may have been queued: flush every connection once, soon.

        Soon is the next loop pass, unless the door is in a storm: more than
        STORM_RATE frames and connections a second came in over each of the last two
        STORM_WINDOWs (thousands of logins or reconnects, each told to the whole room;
        a single burst, like 200 people logging in at once, is not one). Then a flush
        waits until FLUSH_DUTY times the last one's cost (the time its writes took) has
        passed since it ended, at most MAX_FLUSH_DELAY: the storm goes out in a few
        large writes per client instead of a syscall per member per event. Steady chat
        (a room of hundreds, a message every few milliseconds) is written at once.
        """
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop = self._loop
            assert loop is not None
            if self._storm:
                wait = (self._last_flush + min(self._flush_cost * FLUSH_DUTY, MAX_FLUSH_DELAY)
                        - _clock())
                if wait > 0:
                    loop.call_later(wait, self.flush_all)
                    return
            loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        """Write each connection's queued frames with one write (once per loop pass).

        This is Connection.flush() inlined, as it runs for every recipient of every
        message. Members of one room usually got the very same frames: comparing the
        list (object identity first, in C) is much cheaper than joining it again. While
        a transport holds nothing, the socket is written directly (one syscall, none of
        the transport's bookkeeping); only what the socket does not take goes through it.
        """
        self._flush_scheduled = False
        start = _clock()
        writes = 0
        last_out: list[bytes] | None = None
        last_data = b""
        write = _write
        for conn in self.connections:  # nothing here adds or removes connections
            out = conn.out
            if not out:
                continue
            transport = conn.transport
            if transport is None or conn.closing or transport.is_closing():
                out.clear()
                continue
            writes += 1
            if len(out) == 1:
                data = out[0]
            elif out == last_out:
                data = last_data
            else:
                data = last_data = b"".join(out)
                last_out = out.copy()
            out.clear()
            fd = conn.fd
            if fd >= 0 and not transport.get_write_buffer_size():
                try:
                    sent = write(fd, data)
                except OSError:  # EAGAIN, or an error the transport will report properly
                    sent = 0
                if sent == len(data):
                    continue
                data = data[sent:]
            conn.write_rest(data)
        if writes:
            self.passes += 1
            self.writes += writes
            self._last_flush = end = _clock()
            self._flush_cost = end - start
            if end - self._window_start >= STORM_WINDOW:
                busy = self.inputs > STORM_RATE * (end - self._window_start)
                self._storm, self._busy_window = busy and self._busy_window, busy
                self._window_start, self.inputs = end, 0
