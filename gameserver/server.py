"""The TCP front door: asyncio connections speaking JSON Lines, translated for the hub."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from gameserver import settings as settings_
from gameserver.commits import CommitSchedule
from gameserver.datadir import DataDir, DataDirInUse
from gameserver.hub import Hub, Work
from gameserver.listener import Listener
from gameserver.passwords import DEFAULT_N, hash_password
from gameserver.protocol import MAX_FRAME, Decoder, Error, Ping, ProtocolError, decode_line
from gameserver.rooms import Session
from gameserver.settings import Settings
from gameserver.store import SQLiteStore
from gameserver.throttle import FloodGate, Verdict, address_key
from gameserver.tls import ServerTLS, TLSError, server_tls

log = logging.getLogger("play.server")

OUTPUT_LIMIT = 1024 * 1024  # bytes queued for one client before it counts as not reading
CLOSE_GRACE = 10.0  # seconds a closing connection may take to take its last frames
TICK_SECONDS = 1.0
# Storms (see ChatServer.wake): over STORM_RATE frames and connections a second in two
# STORM_WINDOWs running, flushes wait FLUSH_DUTY times the last one's cost (at most
# MAX_FLUSH_DELAY seconds) to write more at once.
STORM_RATE = 1000.0
STORM_WINDOW = 0.1
FLUSH_DUTY = 6.0
MAX_FLUSH_DELAY = 0.1
# Sockets are file descriptors here; os.write on one is a plain send (SIGPIPE is ignored).
DIRECT_WRITES = sys.platform != "win32"
SETTLE_GC = True  # see _settle_gc
GC_GEN0 = 50_000  # allocations between young-generation collections
HASH_IDLE_CLASS = True  # hash threads in SCHED_IDLE where there is one, else at HASH_NICE
HASH_NICE = 10

# What json.loads runs, minus its Python layers (for a frame with no padding).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_write = os.write
_clock = time.perf_counter  # precise even where the loop's clock is per pass (uvloop: ms)
_gc_settled = False


class ServerError(Exception):
    """The server cannot start; the message says why in words a user can act on."""


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


class Connection(asyncio.Protocol):
    """One client socket: decode what arrives, buffer what leaves, flush once per loop pass.

    The hub's `send` for this session is the output list's own `append` (a C call, no
    Python frame per delivery); the server writes every non-empty list once per pass.
    """

    __slots__ = ("server", "decoder", "transport", "session", "out", "closing", "slow", "fd",
                 "_abort", "label", "refusal", "gate", "held", "_release", "born", "heard",
                 "quiet_since", "pinged", "hashing", "counted")

    def __init__(self, server: ChatServer, label: str = "", refusal: str | None = None) -> None:
        self.server = server
        self.decoder = Decoder(max_frame=server.settings.prelogin_frame)
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.out: list[bytes] = []
        self.closing = False
        self.slow = False  # over OUTPUT_LIMIT: being disconnected
        self.fd = -1  # the socket, for writes made directly while the transport is idle
        self._abort: asyncio.TimerHandle | None = None
        self.label = label
        self.refusal = refusal  # said, then closed, as soon as the connection is made
        now = _clock()
        self.gate = FloodGate(server.settings, now)
        self.held: collections.deque[tuple[float, dict[str, Any] | ProtocolError]] | None = None
        self._release: asyncio.TimerHandle | None = None
        self.born = self.quiet_since = now
        self.heard = False  # something arrived since the last sweep
        self.pinged = False
        self.hashing: asyncio.Future[Any] | None = None  # this session's password check
        self.counted = True  # in the listener's per-address count

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if DIRECT_WRITES and transport.get_extra_info("ssl_object") is None:
                self.fd = sock.fileno()  # (through TLS, every write goes via the transport)
        if not self.label:
            peer = transport.get_extra_info("peername")
            self.label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.session = self.server.hub.connect(self.out.append, self.close, self.label)
        self.server.connections.add(self)
        self.server.inputs += 1
        if self.refusal is not None:
            log.info("%s: refused: %s", self.label, self.refusal)
            self.server.hub.kick(self.session, self.refusal, "refused")
            self.server.wake()

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        server = self.server
        self.heard = True
        decoder = self.decoder
        if session.user is None:
            if not session.greeted and data[:1] == b"\x16" and not decoder.pending:
                log.info("%s: a TLS client on a plain (--no-tls) server; closed", self.label)
                if self.transport is not None:
                    self.transport.abort()
                return
        elif decoder.max_frame != MAX_FRAME:
            decoder.max_frame = MAX_FRAME
        items = self._frames(data)
        server.inputs += len(items)
        self._take(items)
        server.wake()

    def _take(self, items: list[dict[str, Any] | ProtocolError]) -> None:
        """Each frame through the flood gate: handled now, later, refused, or the end."""
        session = self.session
        assert session is not None
        server = self.server
        admit = self.gate.admit
        now = _clock()
        for item in items:
            if session.closed:
                break
            verdict, when = admit(now)
            if verdict is Verdict.PASS:
                self._handle(item)
            elif verdict is Verdict.DELAY:
                if self.held is None:
                    self.held = collections.deque()
                self.held.append((when, item))
                if self._release is None:
                    self._release = asyncio.get_running_loop().call_later(
                        max(0.0, when - now), self._release_held)
            elif verdict is Verdict.REFUSE:
                msg_id = item.get("id") if isinstance(item, dict) else None
                server.hub.send(session, Error(
                    code="slow_down", id=msg_id if type(msg_id) is int else None,
                    text=f"slow down: you are sending more than {self.gate.describe()}; "
                         "that line was not sent"))
            else:
                log.info("%s: flooding, disconnected", self.label)
                server.hub.kick(session, "disconnected for flooding: you kept sending far more "
                                f"than {self.gate.describe()}", "flood", "flooding")
                break

    def _handle(self, item: dict[str, Any] | ProtocolError) -> None:
        session = self.session
        assert session is not None
        try:
            work = self.server.hub.receive(session, item)
        except Exception as exc:  # never lose the frames after this one to a bug of ours
            log.error("frame from %s failed past the hub: %r", session.peer, exc)
            return
        if work is not None:
            self.server.run_work(work, self)

    def _release_held(self) -> None:
        """Handle the delayed frames whose time has come, in order."""
        self._release = None
        held, session = self.held, self.session
        if not held or session is None:
            return
        server = self.server
        now = _clock()
        while held and held[0][0] <= now:
            _, item = held.popleft()
            self.gate.released()
            if session.closed:
                held.clear()
                return
            self._handle(item)
        if held:
            self._release = asyncio.get_running_loop().call_later(
                held[0][0] - now, self._release_held)
        server.wake()

    def sweep(self, now: float, settings: Settings) -> None:
        """Deadlines: hello and login in time; a quiet logged-in client is pinged, then dropped."""
        session = self.session
        if session is None or session.closed:
            return
        if self.heard:
            self.heard = False
            self.quiet_since = now
            self.pinged = False
        hub = self.server.hub
        if session.user is None:
            if not session.greeted and now - self.born > settings.hello_timeout:
                hub.kick(session, f"you did not say hello within {settings.hello_timeout:g} s",
                         "timeout")
            elif now - self.born > settings.login_timeout and not session.busy:
                hub.kick(session, f"you did not log in within {settings.login_timeout:g} s",
                         "timeout")
            return
        quiet = now - self.quiet_since
        if not self.pinged:
            if quiet >= settings.ping_after:
                self.pinged = True
                hub.send(session, Ping())
        elif quiet >= settings.ping_after + settings.ping_timeout:
            log.info("%s: no answer to a ping, disconnected", self.label)
            hub.kick(session, f"no answer to a ping for {settings.ping_timeout:g} s", "timeout",
                     "lost")

    def _frames(self, data: bytes) -> list[dict[str, Any] | ProtocolError]:
        """Whole lines go straight to json.loads; anything unusual goes through the Decoder."""
        decoder = self.decoder
        end = data.rfind(b"\n")
        if decoder.pending or end < 0:
            return list(decoder.feed(data))
        lines = data[:end].split(b"\n")
        limit = decoder.max_frame
        if end > limit and any(len(line) > limit for line in lines):
            return list(decoder.feed(data))
        items: list[dict[str, Any] | ProtocolError] = []
        for line in lines:
            try:  # json.loads minus its Python layers; anything odd is redone below
                text = line.decode()
                obj, stop = _scan_json(text, 0)
                if stop != len(text):
                    obj = None
            except (ValueError, StopIteration, RecursionError):  # decode_line words the error
                obj = None
            if type(obj) is not dict:
                obj = decode_line(line)  # None for a blank line
                if obj is None:
                    continue
            items.append(obj)
        if end + 1 < len(data):
            items.extend(decoder.feed(data[end + 1:]))
        return items

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        server = self.server
        server.connections.discard(self)
        server.inputs += 1
        self.fd = -1  # the number may soon belong to another socket
        self.out.clear()
        if self._abort is not None:
            self._abort.cancel()
        if self._release is not None:
            self._release.cancel()
        self.held = None
        if self.hashing is not None:  # nobody is left to tell: do not spend the CPU
            self.hashing.cancel()
        self.release()
        if self.session is not None and not self.session.closed:
            log.info("%s: %s", self.session.peer, f"lost: {exc}" if exc else "closed")
            server.hub.disconnected(self.session, "connection lost")
            server.wake()

    def release(self) -> None:
        """Out of the per-address count (once)."""
        if self.counted:
            self.counted = False
            if self.server.listener is not None:
                self.server.listener.release(address_key(self.label))

    # the hub's side

    def flush(self) -> None:
        """Write what is queued now (the server's flush_all does this for every connection)."""
        out = self.out
        transport = self.transport
        if out and transport is not None and not self.closing and not transport.is_closing():
            data = b"".join(out)
            out.clear()
            fd = self.fd
            if fd >= 0 and not transport.get_write_buffer_size():
                try:
                    sent = _write(fd, data)
                except OSError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
            self.write_rest(data)
        out.clear()

    def write_rest(self, data: bytes) -> None:
        """What the socket did not take at once waits in the transport, up to OUTPUT_LIMIT."""
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if transport.get_write_buffer_size() > OUTPUT_LIMIT and self.session is not None:
            self.too_slow()

    def too_slow(self) -> None:
        """The client stopped reading: say why, drop it; its queued output is bounded."""
        assert self.session is not None
        if self.slow:
            return  # the kick waits behind deliveries the hub is committing
        self.slow = True
        log.info("%s: not reading, disconnected", self.session.peer)
        self.server.hub.kick(
            self.session,
            f"disconnected: you stopped reading and over {OUTPUT_LIMIT // 1024} KiB waited",
            "slow_reader",
            "not reading",
        )
        self.server.wake()

    def close(self, reason: str) -> None:
        """Send what is queued (the goodbye), then close; abort if it cannot leave in time."""
        if self.closing:
            return
        if self.out:
            self.flush()
        self.closing = True
        transport = self.transport
        if transport is not None:
            transport.close()
            self._abort = asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)


class ChatServer:
    """A running server: `async with ChatServer(...) as server:`; `.port` after binding."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5220, *,
                 data_dir: str | Path, name: str = "play", hash_workers: int | None = None,
                 scrypt_n: int = DEFAULT_N, settings: Settings | None = None, tls: bool = True,
                 cert: Path | None = None, key: Path | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.data_dir = Path(data_dir)
        self.name = name
        # Hash threads only take CPU the event loop leaves idle (see _lower_priority).
        self.hash_workers = hash_workers or max(2, min(4, (os.cpu_count() or 2) - 1))
        self.scrypt_n = scrypt_n
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
        self._passes_at_tick = 0
        self._trimmed = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Event | None = None
        self.store: SQLiteStore | None = None
        self.data: DataDir | None = None
        self.commits: CommitSchedule | None = None
        self._hub: Hub | None = None
        self.port = 0

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "server not started"
        return self._hub

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        raise_fd_limit()
        self._stopped = asyncio.Event()
        _ignore_file_size_signal()
        try:
            self.data = DataDir(self.data_dir).open()
            self.store = SQLiteStore(self.data.store_path)
        except DataDirInUse as exc:
            self._close_resources()
            raise ServerError(str(exc)) from None
        except Exception as exc:  # sqlite3.Error or OSError: the data directory is unusable
            self._close_resources()
            raise ServerError(f"cannot open the data directory {self.data_dir}: {exc}") from exc
        if self.use_tls:
            try:
                self.tls = server_tls(self.data_dir, self.cert, self.key)
            except TLSError as exc:
                self._close_resources()
                raise ServerError(str(exc)) from None
        n = self.scrypt_n
        self._loop = loop
        self._hub = Hub(self.store, server_name=self.name,
                        hasher=lambda password: hash_password(password, n),
                        request_commit=self._request_commit, settings=self.settings,
                        clock=time.monotonic)
        self.commits = CommitSchedule(self._hub, loop, self.wake)
        self._install_extensions()
        self._executor = ThreadPoolExecutor(self.hash_workers, thread_name_prefix="play-hash",
                                            initializer=_lower_priority)
        self.listener = Listener(
            lambda label, refusal: Connection(self, label, refusal),
            self.tls.context if self.tls is not None else None,
            self.settings.max_per_address, self.settings.hello_timeout)
        try:
            self.listener.start(self.host, self.requested_port)
        except OSError as exc:
            self._close_resources()
            raise ServerError(bind_error_message(exc, self.host, self.requested_port)) from None
        self.port = self.listener.port
        self._tick = loop.call_later(TICK_SECONDS, self._on_tick)
        _settle_gc()
        log.info("listening on %s:%d (%s loop, %s)", self.host, self.port,
                 type(loop).__module__.split(".")[0],
                 f"TLS {self.tls.fingerprint}" if self.tls is not None else "no TLS")

    def _install_extensions(self) -> None:
        try:
            from gameserver.gamehost import GameHost
        except ImportError:  # games not installed in this build
            return
        GameHost.install(self.hub)

    async def __aenter__(self) -> ChatServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop("the server is shutting down")

    async def wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()

    async def stop(self, reason: str) -> None:
        """Tell every client why, close them, stop listening, store everything."""
        if self._stopped is None or self._stopped.is_set():
            return
        if self.listener is not None:
            self.listener.close()
        if self._hub is not None:
            self.hub.shutdown(reason)
        self.flush_all()
        await asyncio.sleep(0.05)  # let the goodbyes leave
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report their loss
        self._close_resources()
        log.info("stopped after %d writes in %d flush passes", self.writes, self.passes)
        self._stopped.set()

    def _close_resources(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        if self.commits is not None:
            self.commits.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # a failing disk must not hide the shutdown reason
                log.error("closing the store failed: %s", exc)
            self.store = None
        if self.data is not None:
            self.data.close()
            self.data = None

    # plumbing used by connections

    def wake(self) -> None:
        """Something may have been queued: flush every connection once, soon.

        Soon is the next loop pass, unless the server is in a storm: more than
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

    def _request_commit(self) -> None:
        assert self.commits is not None
        self.commits.request()  # once per loop pass: the hub asks once

    def run_work(self, work: Work, conn: Connection | None = None) -> None:
        """Run `work` in a hash thread; if `conn` goes first, the work is cancelled."""
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        future = loop.run_in_executor(self._executor, work.run)
        if conn is not None:
            conn.hashing = future

        def finished(fut: asyncio.Future[Any]) -> None:
            if conn is not None and conn.hashing is fut:
                conn.hashing = None
            if fut.cancelled():
                if work.cancelled is not None:
                    work.cancelled()
                return
            exc = fut.exception()
            if exc is not None:
                log.error("background work failed: %s", exc)
                return
            work.done(fut.result())
            self.wake()

        future.add_done_callback(finished)

    def _on_tick(self) -> None:
        try:
            self.hub.tick(time.time())
            self._sweep()
            self.wake()
            if self.passes != self._passes_at_tick:
                self._passes_at_tick, self._trimmed = self.passes, False
            elif not self._trimmed:  # a quiet second after a burst
                self._trimmed = True
                _release_memory()
        finally:
            self._tick = asyncio.get_running_loop().call_later(TICK_SECONDS, self._on_tick)


    def _sweep(self) -> None:
        """Deadlines of every connection (hello, login, pings) and of silent new sockets."""
        now = _clock()
        settings = self.settings
        for conn in list(self.connections):
            conn.sweep(now, settings)
        if self.listener is not None:
            self.listener.sweep(time.monotonic(), settings.hello_timeout)


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return cast(Callable[[int], int], ctypes.CDLL(None).malloc_trim)
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _find_malloc_trim()


def _release_memory() -> None:
    """Hand memory freed after a burst back to the system.

    A login storm makes large short-lived frames (room lists); glibc keeps the freed
    heap, so without this the process stays at its peak size while idle.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def _settle_gc() -> None:
    """Keep the cycle collector off the hot path.

    What is alive at the first start (modules, the hub) is moved out of the collector's
    sight, and young-generation passes run less often: a chat message makes no cycles,
    so frequent passes would only re-walk live objects.
    """
    global _gc_settled
    if not SETTLE_GC:
        return
    if not _gc_settled:
        _gc_settled = True
        gc.collect()
        gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_GEN0), gen1, gen2)


def _lower_priority() -> None:
    """Hash threads run only on CPU the event loop and other programs leave idle (Linux)."""
    tid = threading.get_native_id()
    if HASH_IDLE_CLASS and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, tid, HASH_NICE)
        except OSError:
            pass


def use_fast_loop(choice: str | None = None) -> str:
    """Make asyncio.run() use uvloop when it is installed; returns the loop's name.

    `choice` (default: $PLAY_LOOP, else "auto") is "auto", "uvloop" or "asyncio".
    Call it before asyncio.run(); the default loop stays fully supported.
    """
    choice = (choice or os.environ.get("PLAY_LOOP") or "auto").lower()
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        if choice == "uvloop":
            raise ServerError("uvloop is not installed (pip install 'play[fast]')") from None
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def raise_fd_limit() -> int:
    """Lift the soft limit on open files to the hard limit (one fd per client); the new limit."""
    try:
        import resource
    except ImportError:  # not on this platform
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def _ignore_file_size_signal() -> None:
    """A write past a file-size limit fails with EFBIG (a storage error) instead of killing us."""
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line per failure (accept errors, stray callbacks), never a traceback to a user."""
    exc = context.get("exception")
    log.error("%s%s", context.get("message", "error"), f": {exc!r}" if exc else "")
