"""Writing every connection's queued bytes once per loop pass, in few big writes in a storm."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from typing import Protocol

# Storms (see FlushingDoor.wake): over STORM_RATE inputs (frames, lines, connections) a
# second in two STORM_WINDOWs running, flushes wait FLUSH_DUTY times the last one's cost
# (at most MAX_FLUSH_DELAY seconds) to write more at once.
STORM_RATE = 1000.0
STORM_WINDOW = 0.1
FLUSH_DUTY = 6.0
MAX_FLUSH_DELAY = 0.1

_write = os.write
_clock = time.perf_counter  # precise even where the loop's clock is per pass (uvloop: ms)


class Flushable(Protocol):
    """What a door's connection offers the flush: its queue, its socket, its transport."""

    out: list[bytes]
    closing: bool
    fd: int  # the socket for direct writes, or -1 (TLS, or not yet / no longer known)
    # TLS: encrypt and write a record straight to the socket (False: not now, use the
    # transport); the listener's TLS layer offers it (listener._SmallSSLProtocol.write_now)
    tls_write: Callable[[bytes], bool] | None

    @property
    def transport(self) -> asyncio.Transport | None: ...

    def write_rest(self, data: bytes) -> None:
        """What the socket did not take at once: through the transport, bounded."""


class FlushingDoor:
    """The flush every door with many connections shares (JSON Lines, IRC, classic).

    A door queues bytes on its connections' `out` lists and calls `wake()`; every
    non-empty list is then written once (flush_all). `inputs` counts what came in
    (frames, lines, new connections): that is how a storm is recognised.
    """

    _loop: asyncio.AbstractEventLoop | None

    def __init__(self) -> None:
        self.passes = 0  # flush passes that wrote something, and the writes they made
        self.writes = 0
        self.inputs = 0  # inputs since _window_start
        self._flush_scheduled = False
        self._last_flush = 0.0
        self._flush_cost = 0.0
        self._storm = False  # see wake()
        self._busy_window = False  # the last window was over STORM_RATE
        self._window_start = 0.0

    def flushables(self) -> Iterable[Flushable]:
        """The connections to flush (nothing in a flush adds or removes one)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Something may have been queued: flush every connection once, soon.

        Soon is the next loop pass, unless the door is in a storm: more than
        STORM_RATE inputs a second came in over each of the last two STORM_WINDOWs
        (thousands of logins or reconnects, each told to the whole room; a big channel
        falling behind a fast sender; a single burst, like 200 people logging in at
        once, is not one). Then a flush waits until FLUSH_DUTY times the last one's
        cost (the time its writes took) has passed since it ended, at most
        MAX_FLUSH_DELAY: the storm goes out in a few large writes per client instead
        of a syscall per member per event. Steady chat is written at once.
        """
        if not self._flush_scheduled:
            loop = self._loop
            if loop is None:
                return
            self._flush_scheduled = True
            if self._storm:
                wait = (self._last_flush + min(self._flush_cost * FLUSH_DUTY, MAX_FLUSH_DELAY)
                        - _clock())
                if wait > 0:
                    loop.call_later(wait, self.flush_all)
                    return
            loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        """Write each connection's queued bytes with one write (once per loop pass).

        A connection's flush inlined, as it runs for every recipient of every message.
        Members of one room usually got the very same bytes: comparing the list
        (object identity first, in C) is much cheaper than joining it again. While a
        transport holds nothing, the socket is written directly (one syscall, none of
        the transport's bookkeeping), through TLS too (one record, encrypted here); only
        what the socket does not take goes through the transport.
        """
        self._flush_scheduled = False
        start = _clock()
        writes = 0
        last_out: list[bytes] | None = None
        last_data = b""
        write = _write
        for conn in self.flushables():
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
            if fd >= 0:
                if not transport.get_write_buffer_size():
                    try:
                        sent = write(fd, data)
                    except OSError:  # EAGAIN, or an error the transport will report properly
                        sent = 0
                    if sent == len(data):
                        continue
                    data = data[sent:]
            else:
                tls_write = conn.tls_write
                if tls_write is not None and tls_write(data):
                    continue
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
