"""The client's side of a connection: connect, log in, send commands, receive typed events."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from gameclient.commands import (  # noqa: F401 - Unsendable, typed_message: re-exported
    Typed,
    Unsendable,
    check_sendable,
    typed_message,
)
from gameclient.pinning import PinMismatch, client_context, endpoint, fingerprint
from gameserver.protocol import (
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    AccountQuery,
    Bye,
    Command,
    Decoder,
    Error,
    GameList,
    Hello,
    Login,
    Message,
    Ok,
    Ping,
    Pong,
    ProtocolError,
    Resume,
    Say,
    Welcome,
    encode,
    parse_message,
)

if TYPE_CHECKING:
    from gameclient.privatemsg import PrivateMessages

CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 5.0  # a play server says welcome at once; silence means it is not one
REPLY_TIMEOUT = 30.0
MAX_LOGIN_TRIES = 3
BUSY_RETRIES = 5  # a busy server is asked again after 0.5, 1, 2, 4, 8 s


class _DroppedWrites(logging.Filter):
    """asyncio's own notice that writes after a lost connection went nowhere.

    Over TLS, a connection reset is seen by the socket's transport at once but by the TLS
    transport above it only a loop pass later, so a burst of lines in that pass (a script
    piping thousands) passes `send`'s check; asyncio then prints "socket.send() raised
    exception." on the user's terminal for each write from the fifth on. The client says
    that the connection was lost in its own words; these lines say nothing more.
    """

    NOTICES = frozenset({"socket.send() raised exception.", "SSL connection is closed"})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.NOTICES


_DROPPED_WRITES = _DroppedWrites()


def quiet_dropped_writes() -> None:
    """Hide asyncio's dropped-write notices, from the first connection on (not at import: a
    `play host --headless` server imports this module too and keeps its own log whole).

    Idempotent: reconnects make new connections, and asyncio's logger keeps one filter.
    """
    asyncio_log = logging.getLogger("asyncio")
    if _DROPPED_WRITES not in asyncio_log.filters:
        asyncio_log.addFilter(_DROPPED_WRITES)


class ConnectionFailed(Exception):
    """The connection could not be made or was lost; the message is for the user."""


class CertificateRefused(ConnectionFailed):
    """The server showed a certificate other than the pinned one: trying again cannot help."""


class LoginFailed(Exception):
    """Logging in did not work; the message is for the user."""


def connect_error_message(exc: BaseException, host: str, port: int) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot connect: unknown host {host!r}"
    if isinstance(exc, (TimeoutError, TimeoutError)):
        return f"cannot connect to {host}:{port}: timed out"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return f"cannot connect to {host}:{port}: connection refused (is a server running there?)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect to {host}:{port}: {exc.strerror.lower()}"
    return f"cannot connect to {host}:{port}: {exc}"


def tls_error_message(exc: BaseException, host: str, port: int) -> str:
    """A failed TLS handshake, in words: most often a server that does not speak TLS."""
    return (f"cannot connect to {endpoint(host, port)} with TLS ({_reason(exc)}); the server "
            "may run without TLS (play host --no-tls). If you trust every network between "
            "you, join with --insecure: your password and messages then cross it unencrypted")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, TimeoutError):
        return "no answer to the handshake"
    if isinstance(exc, (OSError, asyncio.IncompleteReadError)):
        return "the server closed the connection during the handshake"
    return str(exc) or type(exc).__name__


def no_answer(where: str) -> str:
    """What a user is told when a peer takes the connection but never speaks play."""
    return f"no play server answered at {where}"


class ClientConnection:
    """A logged-in (or logging-in) connection; events arrive through `next_event()`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 address: str = "") -> None:
        self.address = address  # HOST:PORT, for messages
        self.reader = reader
        self.writer = writer
        self.decoder = Decoder()
        # Server messages, and the client-side events of the e2e layer (OpenedPM, KeyAlert).
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[Ok]] = {}
        self._next_id = 0
        self._reader_task: asyncio.Task[None] | None = None
        self.closed_by_us = False
        self.pin_notice: str | None = None  # said the first time a server's certificate is seen
        self.fingerprint: str | None = None  # the certificate's, once checked
        self.login_data: dict[str, Any] = {}  # the login (or resume) reply's data
        self.games: list[dict[str, Any]] = []  # the server's game list (options, commands)
        self.e2e: PrivateMessages | None = None  # end-to-end PMs, once this device has keys
        quiet_dropped_writes()

    @classmethod
    async def open(cls, host: str, port: int, timeout: float = CONNECT_TIMEOUT, *,
                   tls: bool = True, known_hosts: Any = None, via: str | None = None,
                   ) -> ClientConnection:
        """Connect (TLS unless told otherwise) and check the certificate against its pin.

        `via`: one of the addresses `host` resolves to (the pin is still `host`'s).
        `known_hosts`: anything with KnownHosts' `check` (Expected, a cluster's pin).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                sock = await asyncio.open_connection(via or host, port, limit=2**20)
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(connect_error_message(exc, host, port)) from None
        if tls:  # connected: whatever fails now is the TLS handshake
            try:  # a play server answers at once; a silent peer is no play server
                async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                    await sock[1].start_tls(client_context(), server_hostname=None)
            except TimeoutError:
                sock[1].transport.abort()
                raise ConnectionFailed(no_answer(endpoint(host, port))) from None
            except (OSError, asyncio.IncompleteReadError) as exc:
                sock[1].transport.abort()
                raise ConnectionFailed(tls_error_message(exc, host, port)) from None
        reader, writer = sock
        conn = cls(reader, writer, endpoint(host, port))
        if tls and known_hosts is not None:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
            try:
                if not der:
                    raise PinMismatch(f"{endpoint(host, port)} sent no certificate")
                conn.pin_notice = known_hosts.check(host, port, der)
                conn.fingerprint = fingerprint(der)
            except PinMismatch as exc:
                writer.close()
                raise CertificateRefused(str(exc)) from None
        conn._reader_task = asyncio.create_task(conn._read_loop())
        return conn

    # ------------------------------------------------------------ sending

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def send(self, message: Message) -> None:
        if self.writer.is_closing():
            raise ConnectionFailed("the connection to the server was lost")
        self.writer.write(encode(message))

    async def request(self, message: Message, msg_id: int) -> Ok:
        """Send and wait for the matching ok; an error reply raises ProtocolError."""
        future: asyncio.Future[Ok] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            self.send(message)
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        except TimeoutError:
            raise ConnectionFailed("the server did not answer in time") from None
        finally:
            self._pending.pop(msg_id, None)

    def say(self, text: str, room: str | None = None) -> int:
        msg_id = self.new_id()
        self.send(Say(id=msg_id, text=text, room=room))
        return msg_id

    def command(self, name: str, args: str = "", secret: str | None = None,
                room: str | None = None) -> int:
        msg_id = self.new_id()
        self.send(Command(id=msg_id, name=name, args=args, secret=secret, room=room))
        return msg_id

    def send_typed(self, typed: Typed, secret: str | None = None, room: str | None = None) -> int:
        """Send what a user typed: chat, or `/name args` as a command, for `room`.

        A line that cannot be sent raises Unsendable before anything is sent.
        """
        check_sendable(typed, secret)
        if self.e2e is not None:
            taken = self.e2e.outgoing(typed, secret)  # /msg sealed, /key, /trust; in order
            if taken is not None:
                return taken
        if typed.name is None:
            return self.say(typed.text, room)
        return self.command(typed.name, typed.args, secret, room)

    async def close(self) -> None:
        self.closed_by_us = True
        if self._reader_task is not None:
            self._reader_task.cancel()
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (OSError, TimeoutError, asyncio.CancelledError):
            pass

    # ------------------------------------------------------------ receiving

    async def next_event(self) -> Any:
        """The next event from the server; raises ConnectionFailed once it is gone."""
        item = await self.events.get()
        if isinstance(item, ConnectionFailed):
            self.events.put_nowait(item)  # every later call sees it too
            raise item
        return item

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionFailed("the server closed the connection")
                for item in self.decoder.feed(data):
                    self._take(item)
        except (OSError, ConnectionFailed) as exc:
            reason = (exc if isinstance(exc, ConnectionFailed)
                      else ConnectionFailed(f"the connection to the server was lost ({exc})"))
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(reason)
            self.events.put_nowait(reason)

    def _take(self, item: dict[str, Any] | ProtocolError) -> None:
        try:
            if isinstance(item, ProtocolError):
                raise item
            message = parse_message(item, SERVER_MESSAGES)
        except ProtocolError:
            return  # garbage from the server is ignored rather than shown raw
        if isinstance(message, Ping):
            if not self.writer.is_closing():
                self.writer.write(encode(Pong()))
            return
        if isinstance(message, GameList):  # known before anything typed is read
            self.games = list(message.games)
        msg_id = getattr(message, "id", None)
        future = self._pending.get(msg_id) if isinstance(msg_id, int) else None
        if future is not None and not future.done() and isinstance(message, (Ok, Error)):
            if isinstance(message, Error):
                future.set_exception(ProtocolError(message.code, message.text))
            else:
                future.set_result(message)
            return
        if self.e2e is None:
            self.events.put_nowait(message)
            return
        try:
            shown = self.e2e.incoming(message)
        except Exception as exc:  # a bug of ours must not stop the connection
            logging.getLogger("play.e2e").error("could not open %s: %r", message.TYPE, exc)
            shown = [message]
        for item in shown:
            self.events.put_nowait(item)

    # ------------------------------------------------------------ handshake and login

    async def hello(self, timeout: float = HANDSHAKE_TIMEOUT) -> Welcome:
        """Say hello; a peer that does not welcome us within `timeout` is no play server."""
        self.send(Hello(version=PROTOCOL_VERSION, client="play"))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                event = await asyncio.wait_for(self.next_event(), max(left, 0))
            except TimeoutError:
                raise ConnectionFailed(no_answer(self.address or "that address")) from None
            if isinstance(event, Welcome):
                return event
            if isinstance(event, (Error, Bye)):
                raise ConnectionFailed(event.text if isinstance(event, Error) else event.reason)

    async def is_registered(self, user: str) -> bool:
        msg_id = self.new_id()
        try:
            reply = await self.request(AccountQuery(id=msg_id, user=user), msg_id)
        except ProtocolError as exc:
            raise LoginFailed(exc.message) from None
        return bool((reply.data or {}).get("registered"))

    async def login(self, user: str, password: str) -> Ok:
        """Log in; a server busy with other logins is asked again a few times."""
        for retry in range(BUSY_RETRIES + 1):
            msg_id = self.new_id()
            try:
                reply = await self.request(Login(id=msg_id, user=user, password=password),
                                           msg_id)
                self.login_data = dict(reply.data or {})
                return reply
            except ProtocolError as exc:
                if exc.code != "busy" or retry == BUSY_RETRIES:
                    raise
            await asyncio.sleep(0.5 * 2 ** retry)
        raise AssertionError("unreachable")

    async def resume(self, token: str) -> Ok:
        msg_id = self.new_id()
        reply = await self.request(Resume(id=msg_id, token=token), msg_id)
        self.login_data = dict(reply.data or {})
        return reply


PasswordSource = Callable[[bool, int], Awaitable[str]]


async def log_in(conn: ClientConnection, user: str, ask_password: PasswordSource,
                 tries: int = MAX_LOGIN_TRIES) -> Ok:
    """Hello, then log in; `ask_password(registering, attempt)` supplies each password."""
    await conn.hello()
    registering = not await conn.is_registered(user)
    for attempt in range(1, tries + 1):
        password = await ask_password(registering, attempt)
        try:
            return await conn.login(user, password)
        except ProtocolError as exc:
            if exc.code != "bad_password" or attempt == tries:
                raise LoginFailed(exc.message) from None
    raise LoginFailed("login failed")
