"""Accepting connections: TLS or plain by the first byte, caps per address, out-of-fd recovery."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import ssl
import sys
import time
from asyncio import sslproto
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from gameserver.doors.tlsstream import TLSStream
from gameserver.throttle import AddressCounts, address_key

log = logging.getLogger("play.server")

ACCEPT_BATCH = 64  # connections taken per readiness of a listening socket
# In a crowd, connections are accepted together: one arriving within the group window of
# the last accept waits in the backlog until then (see Listener._accept). The window is
# the time ACCEPT_CROWD connections take to arrive at the crowd's rate, at least
# ACCEPT_GROUP and at most ACCEPT_GROUP_MAX seconds (0: every connection at once); it is
# ACCEPT_GROUP where fewer than ACCEPT_FEW would come in ACCEPT_FEW_WITHIN seconds (under
# 15 a second: one after another, a waiting connection would rarely have company; a
# faster script logging in one after another: see ACCEPT_LONELY). The longest window is what a
# login in a crowd of 15-50 a second may wait for its group (a group of 7-25: at 20 a
# second, each wake-up's fixed costs - ~2.6 ms of server CPU per group whatever its size,
# perff4 - shared by 10 instead of 5). While a crowd comes the listening sockets are not
# watched between its windows (Listener._hold): a group costs one wake-up, not two.
ACCEPT_GROUP = 0.025
ACCEPT_GROUP_MAX = 0.5
ACCEPT_CROWD = 25
ACCEPT_FEW = 1.5
ACCEPT_FEW_WITHIN = 0.1
# A window that gathered nobody but the one who waited (a script logging in one after
# another, each connection opened once the last is in, comes at a crowd's rate but never
# has company) stops grouping for ACCEPT_LONELY seconds, doubling while it repeats (up to
# ACCEPT_LONELY_MAX), until a take finds two or more waiting (company: a crowd after all).
ACCEPT_LONELY = 1.0
ACCEPT_LONELY_MAX = 4.0
FD_RETRY = 0.25  # seconds between tries to accept again once out of file descriptors
FD_QUIET = 2.0  # seconds without running out that end a burst (and its one log line)
TLS_RECORD = 0x16  # the first byte of a TLS handshake record
TLS_READ_BUFFER = 1 * 1024  # bytes a TLS connection reads at once (the loops' own: 256 KiB)
SMALL_TLS_BUFFERS = True  # False: the loop's own TLS layer (uvloop's is compiled)
# TLS on the socket itself (tlsstream.TLSStream) where the loop watches sockets by fd;
# otherwise asyncio's TLS layer with small buffers (_SmallSSLProtocol).
TLS_STREAMS = sys.platform != "win32"
_OUT_OF_FDS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
TLS_REQUIRED = ("this server uses TLS, and this connection did not: passwords would cross the "
                "network readable by anyone; join without --insecure")


@dataclass
class _Waiting:
    """An accepted socket whose first byte has not arrived yet (TLS or plain?)."""

    since: float
    address: str
    refusal: str | None


ProtocolFactory = Callable[[str, str | None], asyncio.Protocol]


def bind_sockets(host: str, port: int, backlog: int = 4096) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (OSError if none binds)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:  # one port for every address
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Listener:
    """Takes connections off listening sockets and hands each to a protocol.

    With TLS on, the first byte decides: a TLS handshake goes through the context, a
    plain client gets a protocol that tells it (in a frame it can read) to use TLS.
    Connections are counted per source address in `counts`, the runtime's one count
    for every door (so an address cannot hold the cap on each door): past the cap a
    connection is told why and closed (past twice that, closed at once). Running out
    of file descriptors pauses accepting, is logged once per burst, and ends by itself.
    """

    def __init__(self, make_protocol: ProtocolFactory, tls: ssl.SSLContext | None,
                 counts: AddressCounts, handshake_timeout: float) -> None:
        self.make_protocol = make_protocol
        self.tls = tls
        self.counts = counts
        self.handshake_timeout = handshake_timeout
        self.sockets: list[socket.socket] = []
        self.waiting: dict[socket.socket, _Waiting] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exhausted_since: float | None = None  # the burst's start
        self._exhausted_last = 0.0
        self._exhausted_tries = 0
        self._retry: asyncio.TimerHandle | None = None
        self._grouped: asyncio.TimerHandle | None = None  # accepting waits for company
        self._last_accept = -1e9  # when connections were last taken (loop time)
        self._rate = 0.0  # connections a second in the takes lately (0: none lately)
        self._backlog = False  # the last take stopped at ACCEPT_BATCH: more wait (a burst)
        self._lonely_until = -1e9  # no grouping until then: the last windows gathered one
        self._lonely_for = 0.0  # ... for this long (doubled per lonely window in a row)
        self._tasks: set[asyncio.Task[None]] = set()
        # Told after a take of connections, and whether a crowd is coming (the commit
        # schedule's `taken`: the group's logins share a commit).
        self.on_take: Callable[[bool], None] | None = None
        self.refused = 0  # connections closed at once for being far over the cap

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1]) if self.sockets else 0

    def start(self, host: str, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self.sockets = bind_sockets(host, port)
        self._watch()

    def _watch(self) -> None:
        assert self._loop is not None
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _unwatch(self) -> None:
        assert self._loop is not None
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())

    def close(self) -> None:
        if self._loop is None:
            return
        if self._retry is not None:
            self._retry.cancel()
        if self._grouped is not None:
            self._grouped.cancel()
        elif self._retry is None:
            self._unwatch()
        for sock in self.sockets:
            sock.close()
        self.sockets = []
        for sock in list(self.waiting):
            self._drop_waiting(sock)
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------------------ accepting

    def _accept(self, listening: socket.socket) -> None:
        """Take what waits on `listening`, at once or with the others of a crowd.

        A connection arriving within the group window of the last accept waits in the
        backlog until then, and is taken with whoever else came meanwhile (by then its
        first frames have usually arrived too): a crowd is handled ACCEPT_CROWD or so
        per wake-up, as a burst is, instead of one wake-up (cold caches, a pass of the
        loop) each. The window follows the crowd's rate (group_window): a fast crowd
        waits less for its company, a slow one at most ACCEPT_GROUP_MAX. A lone
        connection (none taken within the window before it) is taken at once. While a
        crowd comes, its next group is taken when the window ends (_hold), without a
        wake-up at its first arrival.
        """
        assert self._loop is not None
        now = self._loop.time()
        wait = self._last_accept + self.group_window() - now
        if wait > 0 and not self._backlog:  # (a burst is taken as fast as it comes)
            self._unwatch()
            self._grouped = self._loop.call_later(wait, self._accept_grouped, self.crowded())
            return
        if self._taken(now, self._take(listening)):
            self._unwatch()
            self._hold()

    def group_window(self) -> float:
        """Seconds a crowd's connections wait for each other: ACCEPT_CROWD of them at
        the rate of the takes lately, between ACCEPT_GROUP and ACCEPT_GROUP_MAX (and
        ACCEPT_GROUP where so few come that the longest wait would gather nobody)."""
        rate = self._rate
        if not self.crowded():
            return min(ACCEPT_GROUP, ACCEPT_GROUP_MAX)
        return min(ACCEPT_GROUP_MAX, max(ACCEPT_GROUP, ACCEPT_CROWD / rate))

    def crowded(self) -> bool:
        """A crowd is coming: at least ACCEPT_FEW connections per ACCEPT_FEW_WITHIN lately,
        and its windows gather company (not one connection after another: see _gathered)."""
        return (self._rate * ACCEPT_FEW_WITHIN >= ACCEPT_FEW
                and self._last_accept >= self._lonely_until)

    def _gathered(self, now: float, count: int) -> None:
        """A crowd's window ended with `count` taken: one or none, and the wait gained nothing
        (two or more: `_taken` ends any loneliness)."""
        if count >= 2:
            return
        self._lonely_for = min(ACCEPT_LONELY_MAX, max(ACCEPT_LONELY, 2 * self._lonely_for))
        self._lonely_until = now + self._lonely_for

    def _taken(self, now: float, count: int) -> bool:
        """Note a take of `count` connections: the rate they came at since the last.
        True if the next group is to be held until the window's end (a crowd is coming)."""
        elapsed = now - self._last_accept
        if elapsed > 0:
            sample = count / elapsed
            self._rate = (self._rate + sample) / 2 if self._rate else sample
        self._last_accept = now
        if count >= 2:  # company: not one connection after another
            self._lonely_for = 0.0
            self._lonely_until = -1e9
        crowd = self.crowded()
        if count and self.on_take is not None:
            self.on_take(crowd)
        return crowd and not self._backlog and self._retry is None

    def _hold(self) -> None:
        """In a crowd, take the next group when the window ends, not at its first arrival:
        the listening sockets are not watched meanwhile (one wake-up less per group)."""
        assert self._loop is not None
        self._grouped = self._loop.call_later(self.group_window(), self._accept_grouped, True)

    def _accept_grouped(self, crowd: bool) -> None:
        """A group window ended (a crowd's, if `crowd`): take who came meanwhile."""
        self._grouped = None
        if not self.sockets:
            return
        assert self._loop is not None
        now = self._loop.time()
        count = 0
        for sock in self.sockets:
            if self._retry is not None:  # out of file descriptors meanwhile
                break
            count += self._take(sock)
        if crowd:  # (a short window, ACCEPT_GROUP, proves nothing: it may well gather one)
            self._gathered(now, count)
        if self._taken(now, count):
            self._hold()  # (still unwatched)
        elif self._retry is None:
            self._watch()

    def _take(self, listening: socket.socket) -> int:
        """Accept up to ACCEPT_BATCH connections; how many were taken."""
        self._backlog = True
        taken = 0
        for _ in range(ACCEPT_BATCH):
            try:
                sock, peer = listening.accept()
            except (BlockingIOError, InterruptedError):
                self._backlog = False
                return taken
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._out_of_fds(exc)
                else:
                    log.error("accepting a connection failed: %s", exc)
                return taken
            sock.setblocking(False)
            taken += 1
            self._admit(sock, peer)
        return taken

    def _out_of_fds(self, exc: OSError) -> None:
        """Stop watching the listening sockets for a moment; say so once per burst."""
        assert self._loop is not None
        now = time.monotonic()
        self._exhausted_last = now
        if self._exhausted_since is None:
            self._exhausted_since = now
            self._exhausted_tries = 0
            log.error("out of file descriptors (%s; %d connections open, limit %s): new "
                      "connections wait in the backlog until some close", exc.strerror,
                      self.counts.total, fd_limit())
        self._exhausted_tries += 1
        self._unwatch()
        self._retry = self._loop.call_later(FD_RETRY, self._try_again)

    def _try_again(self) -> None:
        self._retry = None
        if self.sockets:
            self._watch()

    def _admit(self, sock: socket.socket, peer: Any) -> None:
        label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        address = address_key(label)
        counted, refusal = self.counts.take(address)
        if not counted:
            self.refused += 1
            sock.close()
            return
        if self.tls is None:
            self._start(sock, label, refusal, False)
            return
        assert self._loop is not None
        self.waiting[sock] = _Waiting(time.monotonic(), address, refusal)
        self._loop.add_reader(sock.fileno(), self._first_byte, sock, label)

    def _first_byte(self, sock: socket.socket, label: str) -> None:
        assert self._loop is not None
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            first = b""
        waiting = self.waiting.pop(sock)
        self._loop.remove_reader(sock.fileno())
        if not first:  # closed before saying anything
            sock.close()
            self.release(waiting.address)
            return
        use_tls = first[0] == TLS_RECORD
        self._start(sock, label, waiting.refusal or (None if use_tls else TLS_REQUIRED), use_tls)

    def _start(self, sock: socket.socket, label: str, refusal: str | None, use_tls: bool) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._connect(sock, label, refusal, use_tls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, sock: socket.socket, label: str, refusal: str | None,
                       use_tls: bool) -> None:
        assert self._loop is not None
        protocol = self.make_protocol(label, refusal)
        try:
            if use_tls and TLS_STREAMS:
                await self._tls_stream(protocol, sock)
            elif use_tls and SMALL_TLS_BUFFERS:
                await self._small_tls(protocol, sock)
            elif use_tls:
                await self._loop.connect_accepted_socket(
                    lambda: protocol, sock, ssl=self.tls,
                    ssl_handshake_timeout=self.handshake_timeout)
            else:
                await self._loop.connect_accepted_socket(lambda: protocol, sock)
        except (OSError, TimeoutError, ValueError) as exc:  # ssl.SSLError is an OSError
            log.info("%s: %s", label, f"TLS handshake failed: {exc}" if use_tls else exc)
            sock.close()
            self.release(address_key(label))

    async def _tls_stream(self, protocol: asyncio.Protocol, sock: socket.socket) -> None:
        """TLS by OpenSSL on the socket itself: encrypt-and-send in one call per write."""
        assert self._loop is not None and self.tls is not None
        handshake = self._loop.create_future()
        stream = TLSStream(self._loop, sock, self.tls, protocol, self.handshake_timeout,
                           handshake)
        try:
            await handshake
        except BaseException:
            stream.abort()
            raise

    async def _small_tls(self, protocol: asyncio.Protocol, sock: socket.socket) -> None:
        """TLS through asyncio's own layer with a small read buffer (see _SmallSSLProtocol)."""
        assert self._loop is not None and self.tls is not None
        handshake = self._loop.create_future()
        # (typeshed says int; asyncio takes seconds, its own default being 60.0)
        layer = _SmallSSLProtocol(self._loop, protocol, self.tls, handshake, server_side=True,
                                  ssl_handshake_timeout=self.handshake_timeout)  # type: ignore[arg-type]
        transport, _ = await self._loop.connect_accepted_socket(lambda: layer, sock)
        try:
            await handshake
        except BaseException:
            transport.abort()
            raise

    def release(self, address: str) -> None:
        """A connection from `address` is gone."""
        self.counts.release(address)

    # ------------------------------------------------------------ housekeeping

    def sweep(self, now: float, timeout: float) -> None:
        """Close sockets that said nothing at all for `timeout` seconds; end an fd burst."""
        if self._exhausted_since is not None and now - self._exhausted_last > FD_QUIET:
            log.warning("file descriptors are available again: accepting normally after "
                        "%.1f s (%d accepts had to wait)", self._exhausted_last -
                        self._exhausted_since + FD_RETRY, self._exhausted_tries)
            self._exhausted_since = None
        for sock, waiting in list(self.waiting.items()):
            if now - waiting.since > timeout:
                self._drop_waiting(sock)

    def _drop_waiting(self, sock: socket.socket) -> None:
        waiting = self.waiting.pop(sock)
        if self._loop is not None:
            self._loop.remove_reader(sock.fileno())
        sock.close()
        self.release(waiting.address)


class _SmallSSLProtocol(sslproto.SSLProtocol):
    """asyncio's TLS layer, reading at most TLS_READ_BUFFER at a time; a short write path.

    Both loops' TLS layers keep a 256 KiB read buffer per connection (asyncio's is a
    zero-filled bytearray, all of it resident): a thousand connections that never log
    in would hold 256 MiB. Clients send small frames, so a small buffer costs nothing.

    Writing through the layer costs four Python calls and a deque per write on top of
    the encryption (a profile of scenario B over TLS on uvloop: 19 % of the server's
    samples, as much as the encryption itself); `write_now` encrypts and writes the
    record to the socket directly when nothing is waiting, as the plain path does.
    """

    max_size = TLS_READ_BUFFER
    _fd = -1
    # asyncio's own state that write_now reads, set by SSLProtocol.__init__ (typeshed
    # leaves these private attributes out)
    _state: sslproto.SSLProtocolState
    _ssl_writing_paused: bool
    _outgoing: ssl.MemoryBIO
    _sslobj: ssl.SSLObject

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if DIRECT_TLS_WRITES and sock is not None:
            self._fd = sock.fileno()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fd = -1  # the number may soon belong to another socket
        super().connection_lost(exc)

    def write_now(self, data: bytes) -> bool:
        """Encrypt `data` and send it now; False (nothing done) if the layer must do it.

        Only when the connection is established and nothing waits anywhere in the
        layer, so the order of the bytes on the wire is kept: what the socket does not
        take at once goes to the loop's transport below, which sends it in order.
        """
        if (self._fd < 0 or self._state is not _WRAPPED or self._write_backlog
                or self._ssl_writing_paused or self._outgoing.pending):
            return False
        try:
            count = self._sslobj.write(data)
        except ssl.SSLError:  # wants a read first, or broken: the layer's own path knows
            return False
        record = self._outgoing.read()
        # the socket's transport: set before _fd (connection_made), cleared after it
        transport = cast(asyncio.Transport, self._transport)
        sent = 0
        if not transport.get_write_buffer_size():
            try:
                sent = _write(self._fd, record)
            except OSError:  # would block, or the peer is gone: the transport finds out
                sent = 0
        if sent < len(record):
            transport.write(record[sent:] if sent else record)
        if count < len(data):  # (memory BIOs take it whole; in case one does not)
            self._write_appdata([data[count:]])
        return True


_WRAPPED = sslproto.SSLProtocolState.WRAPPED
_write = os.write
# The short path reads asyncio's TLS layer's own state (3.11+); sockets are fds off Windows.
DIRECT_TLS_WRITES = sys.platform != "win32" and all(
    hasattr(sslproto.SSLProtocol, name) for name in ("_write_appdata", "_do_write",
                                                     "_process_outgoing"))


def fd_limit() -> str:
    try:
        import resource
    except ImportError:
        return "unknown"
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
