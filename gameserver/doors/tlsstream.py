"""A server-side TLS connection on a non-blocking ssl.SSLSocket, driven by the loop's readers."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from typing import Any

log = logging.getLogger("play.server")

READ_SIZE = 1024  # plaintext bytes taken per read (see listener.TLS_READ_BUFFER)
READS_PER_TURN = 64  # reads per readiness before other connections get their turn
SHUTDOWN_TIMEOUT = 10.0  # seconds a closed connection waits for the peer's end
HIGH_WATER, LOW_WATER = 64 * 1024, 16 * 1024  # asyncio's own defaults
_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class TLSStream(asyncio.Transport):
    """TLS with OpenSSL writing to and reading from the socket itself.

    asyncio's TLS layer (and uvloop's) runs OpenSSL over memory buffers: every write
    is encrypted into one buffer, copied out as bytes and written by Python. Here
    `SSL_write` encrypts and sends in one C call, and `SSL_read` reads the socket
    (`tls_writes.py`: 1.3-1.9 us less per small write than the short path over
    asyncio's layer). It works on any loop with add_reader/add_writer (asyncio's
    selector loops, uvloop). What the socket does not take waits here, in order.

    `waiter` gets the handshake's result; the protocol's connection_made comes only
    after a finished handshake, and a handshake still going after `handshake_timeout`
    seconds is aborted. close() sends close_notify and FIN, then waits (at most
    SHUTDOWN_TIMEOUT) for the peer's end, so the last bytes are read, not reset away.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 context: ssl.SSLContext, protocol: asyncio.Protocol,
                 handshake_timeout: float, waiter: asyncio.Future[None]) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._waiter: asyncio.Future[None] | None = waiter
        self._sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        self._fd = self._sock.fileno()
        self._ssl = self._sock._sslobj  # type: ignore[attr-defined]  # (C: no Python frame)
        self._write = self._ssl.write
        self._read = self._ssl.read
        self._extra: dict[str, Any] = {"socket": self._sock, "ssl_object": self._sock,
                                       "sslcontext": context}
        try:
            self._extra["peername"] = self._sock.getpeername()
            self._extra["sockname"] = self._sock.getsockname()
        except OSError:
            pass
        self._pending = b""  # what SSL_write began and must be given again (same bytes)
        self._buffer: list[bytes] = []  # what waits behind it
        self._size = 0
        self._established = False
        self._closing = False  # close() or abort() was called
        self._closed = False  # the socket is closed
        self._reading = False  # the fd's reader is ours for reading application data
        self._reading_paused = False
        self._writer = False  # the fd's writer is registered
        self._write_wants_read = False
        self._protocol_paused = False
        self._high, self._low = HIGH_WATER, LOW_WATER
        self._timer: asyncio.TimerHandle | None = loop.call_later(
            handshake_timeout, self._handshake_late, handshake_timeout)
        loop.add_reader(self._fd, self._handshake)
        self._handshake()

    # ------------------------------------------------------------ handshake

    def _handshake(self) -> None:
        if self._closed:
            return
        try:
            self._sock.do_handshake()
        except ssl.SSLWantReadError:
            self._want_writable(False, self._handshake)
            return
        except ssl.SSLWantWriteError:
            self._want_writable(True, self._handshake)
            return
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._force_close(exc)
            return
        self._want_writable(False, self._handshake)
        self._cancel_timer()
        self._established = True
        sock = self._sock
        self._extra.update(peercert=sock.getpeercert(), cipher=sock.cipher(),
                           compression=sock.compression())
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None
        self._loop.remove_reader(self._fd)
        self._protocol.connection_made(self)
        if not self._closing:
            self._reading = True
            if not self._reading_paused:
                self._loop.add_reader(self._fd, self._read_ready)
                self._read_ready()  # data may have come with the handshake's end

    def _handshake_late(self, seconds: float) -> None:
        self._timer = None
        if not self._established:
            self._force_close(ConnectionAbortedError(
                f"SSL handshake is taking longer than {seconds} seconds: aborting"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _want_writable(self, on: bool, callback: Any) -> None:
        if on and not self._writer:
            self._loop.add_writer(self._fd, callback)
            self._writer = True
        elif not on and self._writer:
            self._loop.remove_writer(self._fd)
            self._writer = False

    # ------------------------------------------------------------ reading

    def _read_ready(self) -> None:
        if self._write_wants_read:
            self._write_wants_read = False
            self._write_ready()
        read = self._read
        for _ in range(READS_PER_TURN):
            if self._closing or self._reading_paused:
                return
            try:
                data = read(READ_SIZE)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:  # answering the peer (a key update) must wait
                self._want_writable(True, self._write_ready)
                return
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a bare FIN
                self._eof()
                return
            except (OSError, ValueError) as exc:  # reset, a bad record, an EOF without notify
                self._force_close(exc)
                return
            if not data:
                self._eof()
                return
            try:
                self._protocol.data_received(data)
            except Exception as exc:
                self._loop.call_exception_handler({
                    "message": "data_received failed on a TLS connection",
                    "exception": exc, "transport": self, "protocol": self._protocol})
                self._force_close(exc)
                return
        if self._ssl.pending():  # decrypted bytes are waiting; the socket may say nothing
            self._loop.call_soon(self._read_ready)

    def _eof(self) -> None:
        try:
            self._protocol.eof_received()  # (TLS cannot stay half open)
        finally:
            self.close()

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            if self._reading and not self._closing:
                self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if self._reading and not self._closing:
                self._loop.add_reader(self._fd, self._read_ready)
                self._loop.call_soon(self._read_ready)

    def is_reading(self) -> bool:
        return self._reading and not self._reading_paused and not self._closing

    # ------------------------------------------------------------ writing

    def write_now(self, data: bytes) -> bool:
        """The flush's path: encrypt and send `data` now (False: the transport's is needed)."""
        if self._pending or self._buffer or self._closing or not self._established:
            return False
        try:
            self._write(data)
        except ssl.SSLWantWriteError:  # part of a record is out: the rest waits here
            self._pending = data
            self._want_writable(True, self._write_ready)
        except ssl.SSLWantReadError:
            self._pending = data
            self._write_wants_read = True
        except (OSError, ValueError) as exc:
            self._force_close(exc)
        return True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data or self._closing:
            return  # (as asyncio's TLS transport: what is written after close() is dropped)
        if self._pending or self._buffer or not self._established:
            self._buffer.append(bytes(data))
            self._size += len(data)
            self._check_high()
            return
        self.write_now(bytes(data))
        self._check_high()

    def _write_ready(self) -> None:
        """The socket takes more: what SSL_write began first, then what waited behind it."""
        write = self._write
        while True:
            if not self._pending:
                if not self._buffer:
                    break
                self._pending = b"".join(self._buffer)
                self._buffer.clear()
                self._size = 0
            try:
                write(self._pending)
            except ssl.SSLWantWriteError:
                self._want_writable(True, self._write_ready)
                return
            except ssl.SSLWantReadError:
                self._want_writable(False, self._write_ready)
                self._write_wants_read = True
                return
            except (OSError, ValueError) as exc:
                self._force_close(exc)
                return
            self._pending = b""
        self._want_writable(False, self._write_ready)
        if self._protocol_paused and self.get_write_buffer_size() <= self._low:
            self._protocol_paused = False
            self._protocol.resume_writing()
        if self._closing and not self._closed:
            self._shutdown()

    def _check_high(self) -> None:
        if not self._protocol_paused and self.get_write_buffer_size() > self._high:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return len(self._pending) + self._size

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = HIGH_WATER if high is None else high
        self._low = min(self._high // 4, LOW_WATER) if low is None else low

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS cannot half-close: use close()")

    # ------------------------------------------------------------ closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Send what waits, then close_notify and FIN; the socket closes on the peer's end."""
        if self._closing:
            return
        self._closing = True
        if not self._established:
            self._force_close(None)
            return
        if self._reading and not self._reading_paused:
            self._loop.remove_reader(self._fd)
        if not self._pending and not self._buffer:
            self._shutdown()
        else:  # _write_ready shuts down once everything is out, if it is in time
            self._timer = self._loop.call_later(SHUTDOWN_TIMEOUT, self._force_close, None)

    def _shutdown(self) -> None:
        self._cancel_timer()
        try:
            self._ssl.shutdown()  # close_notify
        except (OSError, ValueError):
            pass  # (wants the peer's notify, which is not waited for, or already broken)
        try:
            self._sock.shutdown(socket.SHUT_WR)  # FIN: the raw socket's, after the notify
        except (OSError, ValueError):
            self._force_close(None)
            return
        self._loop.add_reader(self._fd, self._drain)
        self._timer = self._loop.call_later(SHUTDOWN_TIMEOUT, self._force_close, None)

    def _drain(self) -> None:
        """After our end: read and drop what the peer still sends, until it closes too."""
        try:
            while os.read(self._fd, 65536):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._force_close(None)

    def abort(self) -> None:
        self._closing = True
        self._force_close(None)

    def _force_close(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = self._closing = True
        self._cancel_timer()
        self._loop.remove_reader(self._fd)
        self._want_writable(False, None)
        self._pending, self._buffer, self._size = b"", [], 0
        try:
            self._sock.close()
        except OSError:
            pass
        if self._established:
            self._loop.call_soon(self._protocol.connection_lost, exc)
        elif self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc if exc is not None else ConnectionResetError(
                "closed during the TLS handshake"))
        self._waiter = None

    # ------------------------------------------------------------ the rest of a transport

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol
