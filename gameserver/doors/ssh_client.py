"""One SSH connection: its login (password, keyboard-interactive, key) and its hub session.

The hub sees a session like any other: a hello, a login, then typed messages. What
the SSH client authenticates with becomes the play door's own Login message (the same
rules, throttles and hash pool); a key on the account logs in through
`logins.login_verified`. The core's events go to the session's view (a full screen or
lines, gameserver/doors/ssh_channel.py) once a channel is open; until then they wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncssh

from gameclient.commands import Typed
from gameserver import names
from gameserver.core import logins
from gameserver.core.events import RoomView, TopicChanged
from gameserver.core.pending import Work
from gameserver.core.rooms import Session
from gameserver.doors.gating import GatedInput
from gameserver.protocol import (
    PROTOCOL_VERSION,
    Command,
    Error,
    Hello,
    Login,
    Message,
    Notice,
    Ok,
    RoomState,
    Say,
)
from gameserver.sshkeys import fingerprint
from gameserver.store import StorageError
from gameserver.throttle import FloodGate

if TYPE_CHECKING:
    from gameserver.doors.ssh import SSHDoor
    from gameserver.doors.ssh_channel import SSHChannel

log = logging.getLogger("play.ssh")

MAX_EARLY = 2000  # events kept for a channel not open yet (a login's burst is far smaller)
PM_COMMANDS = frozenset({"msg", "query", "r"})
PLAIN_PMS = ("private messages from an SSH session are not end-to-end encrypted: it holds "
             "no device keys (the play client does, on your own machine)")
LEARN_COMMANDS = ("list", "users", "accounts")  # what the play clients ask at start
KbdChallenge = tuple[str, str, str, list[tuple[str, bool]]]
_clock = time.perf_counter  # as doors/gating.py's: the gates' clock


def key_text(key: asyncssh.SSHKey) -> str:
    """'TYPE BASE64' of an asyncssh key, as gameserver/sshkeys.py keeps keys."""
    line = key.export_public_key("openssh").decode("ascii").split()
    return f"{line[0]} {line[1]}"


def as_message(event: Any) -> Any:
    """The core's own events as the protocol messages the client model knows."""
    kind = type(event)
    if kind is RoomView:
        room = event.room
        return RoomState(room=room.name, nick=event.nick, online=event.online,
                         members=[{"nick": n, "user": u} for n, u in room.roster()])
    if kind is TopicChanged:
        return event.notice()
    return event


@dataclass(frozen=True)
class Learned:
    """Names for Tab (rooms, users, accounts) from an answer the user never asked for."""

    data: dict[str, Any]


class SSHClient(asyncssh.SSHServer):
    """asyncssh's server callbacks for one connection, and the hub's sink for its session."""

    def __init__(self, door: SSHDoor) -> None:
        self.door = door
        self.conn: asyncssh.SSHServerConnection | None = None
        self.session: Session | None = None
        self.label = ""
        self.server_label = "ssh"
        self.count_out: Callable[[], None] | None = None  # out of the per-address count
        self.refusal: str | None = None
        self.early: list[Any] = []  # events for a channel that is not open yet
        self.channel: SSHChannel | None = None
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.quiet: set[int] = set()  # requests whose answers only teach the model names
        self.next_id = 0
        self.key_user: str | None = None  # the account whose key was accepted
        self.registering = ""  # the new name keyboard-interactive asks two passwords for
        self.told: set[str] = set()  # banners said once per connection
        self.closing = False
        self.authed_at: float | None = None
        self.gated: GatedInput | None = None  # what it sends, through the flood gate
        self._told_plain_pms = False

    # ------------------------------------------------------------ the connection

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        here = conn.get_extra_info("sockname")
        if isinstance(here, tuple):  # what the status bar names, as the curses client does
            host = f"[{here[0]}]" if ":" in str(here[0]) else str(here[0])
            self.server_label = f"{host}:{here[1]}"
        admitted = self.door.admit(self.label)  # counted until connection_lost
        if isinstance(admitted, str):
            self.refusal = admitted
        else:
            self.count_out = admitted
        door = self.door
        door.clients.add(self)
        self.session = door.hub.connect(door, self, self.close, self.label)
        # Lines typed before login are gated too (the connection's own gate, then its
        # account's): they are typed on the door's own screen.
        self.gated = GatedInput(door.hub, self.session, self.label, door.wake,
                                before_login=FloodGate(door.settings, _clock()))
        door.hub.receive(self.session, Hello(version=PROTOCOL_VERSION, client="ssh"))

    def connection_lost(self, exc: Exception | None) -> None:
        door = self.door
        if self.count_out is not None:
            self.count_out()
            self.count_out = None
        door.clients.discard(self)
        if self.gated is not None:
            self.gated.close()
        for future in self.waiting.values():
            if not future.done():
                future.set_result(None)
        self.waiting.clear()
        session = self.session
        if session is not None and not session.closed:
            log.info("%s: %s", session.peer, f"lost: {exc}" if exc else "closed")
            door.hub.disconnected(session, "connection lost")
            door.wake()

    def close(self, reason: str) -> None:
        """The hub's end of the session (after its Bye): the view says why, then we go."""
        if self.closing:
            return
        self.closing = True
        if self.channel is not None:
            self.channel.end(reason)
        elif self.conn is not None:
            if self.authed_at is None:
                self.banner(f"play: {reason}")
            self.conn.close()

    def banner(self, text: str) -> None:
        """A sentence the SSH client shows during login (OpenSSH prints it as it comes)."""
        if self.conn is None or self.authed_at is not None:
            return
        try:
            self.conn.send_auth_banner(text.rstrip("\n") + "\n")
        except (OSError, asyncssh.Error):
            pass

    def banner_once(self, text: str) -> None:
        if text not in self.told:
            self.told.add(text)
            self.banner(text)

    # ------------------------------------------------------------ the hub's side

    def event(self, event: Any) -> None:
        """One event of the core for this session (the door's send and deliver call it)."""
        event = as_message(event)
        kind = type(event)
        if kind is Ok or kind is Error:
            msg_id = event.id
            if msg_id in self.quiet:
                self.quiet.discard(msg_id)
                if kind is Error:
                    return
                event = Learned(event.data or {})
            else:
                if kind is Ok and event.data and "token" in event.data:
                    self.learn_names()  # logged in (any method): as the play clients do
                future = self.waiting.pop(msg_id, None) if msg_id is not None else None
                if future is not None and not future.done():
                    future.set_result(event)
                if future is not None and kind is Error:
                    return  # a refused login is said in a banner, not in the chat
        channel = self.channel
        if channel is not None and channel.view is not None:
            channel.take(event)
            return
        self.early.append(event)
        if len(self.early) > MAX_EARLY and self.session is not None:
            self.early.clear()
            self.door.hub.kick(self.session, "you did not open a session in time", "timeout")

    def learn_names(self) -> None:
        """Rooms, who is online and the accounts, asked unseen, so Tab completes them."""
        for name in LEARN_COMMANDS:
            msg_id = self.new_id()
            self.quiet.add(msg_id)
            self.submit(Command(id=msg_id, name=name))

    def take_early(self) -> list[Any]:
        early, self.early = self.early, []
        return early

    # ------------------------------------------------------------ what the views send

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def send_typed(self, typed: Typed, secret: str | None = None, room: str | None = None) -> int:
        """A typed line as the play door's message (gameclient/panes.py's Sender)."""
        msg_id = self.new_id()
        if typed.name is None:
            message: Message = Say(id=msg_id, text=typed.text, room=room)
        else:
            message = Command(id=msg_id, name=typed.name, args=typed.args, secret=secret,
                              room=room)
            if typed.name in PM_COMMANDS and not self._told_plain_pms:
                self._told_plain_pms = True
                self.event(Notice(text=PLAIN_PMS))
        self.submit(message)
        return msg_id

    def submit(self, message: Message) -> None:
        """Through the flood gate, as every door's lines are: now, later, refused, or the end."""
        if self.gated is not None:
            self.gated.submit(message)
            self.door.wake()

    def too_slow(self) -> None:
        """The client stopped reading and too much waits: say why (if it ever reads), drop it."""
        session = self.session
        if session is not None and not session.closed:
            log.info("%s: not reading, disconnected", self.label)
            self.door.hub.kick(session, "disconnected: you stopped reading", "slow_reader",
                               "not reading")

    def session_requested(self) -> Any:
        from gameserver.doors.ssh_channel import SSHChannel

        assert self.conn is not None
        return self.conn.create_server_channel(encoding=None), SSHChannel(self)

    def leave(self) -> None:
        """Ctrl-C, end of input, a closed channel: as if /quit was typed (the room is told)."""
        session = self.session
        if session is not None and not session.closed:
            self.door.hub.receive(session, Command(id=self.new_id(), name="quit"))
            self.door.wake()

    # ------------------------------------------------------------ authentication

    def begin_auth(self, username: str) -> bool:
        if self.refusal is not None:
            self.banner(f"play: {self.refusal}")
            asyncio.get_running_loop().call_soon(self._refuse)
        return True

    def _refuse(self) -> None:
        if self.session is not None:
            self.door.hub.kick(self.session, self.refusal or "refused", "refused")
        if self.conn is not None:
            self.conn.close()

    def auth_completed(self) -> None:
        self.authed_at = time.monotonic()
        session = self.session
        if session is not None and session.user is None and self.key_user is not None:
            logins.login_verified(self.door.hub, session, self.key_user)
            self.door.wake()

    def public_key_auth_supported(self) -> bool:
        return self.refusal is None

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        self.key_user = None
        table = self.door.keys
        if table is None:
            return False
        text = key_text(key)
        try:
            owner = await self._key_owner(table, text)
        except Exception as exc:  # noqa: BLE001 - a failing store: the password still works
            log.error("SSH key look-up failed: %s", exc)
            return False
        if owner is not None and owner.casefold() == username.casefold():
            self.key_user = owner
            return True
        print_ = fingerprint(text)
        if owner is None:
            self.banner_once(f"play: the SSH key {print_} is on no account here. Log in with "
                             "your password, then /sshkey add it (the line of its .pub file).")
        else:
            self.banner_once(f"play: the SSH key {print_} belongs to another account, not "
                             f"{username}; it cannot log you in as {username}.")
        return False

    async def _key_owner(self, table: Any, text: str) -> str | None:
        """Whose key it is, asked in a store thread on a cluster (the hub's run_store)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def read() -> Any:
            try:
                return table.owner(text)
            except Exception as exc:  # noqa: BLE001 - handed back to the loop, said there
                return exc

        def done(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        self.door.hub.run_store(Work(run=read, done=done, cancelled=lambda: done(
            StorageError("the server is shutting down"))))
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def password_auth_supported(self) -> bool:
        return self.refusal is None

    async def validate_password(self, username: str, password: str) -> bool:
        self.key_user = None
        account = await self._account(username)
        if account is None:
            if self._name_problem(username) is None:
                self.banner_once(f"play: there is no account called {username} yet; to "
                                 "create it, log in with keyboard-interactive (OpenSSH "
                                 "does by default), which asks a new password twice.")
            return False
        return await self._log_in(account, password)

    def kbdint_auth_supported(self) -> bool:
        return self.refusal is None

    async def get_kbdint_challenge(self, username: str, lang: str,
                                   submethods: str) -> KbdChallenge | bool:
        self.key_user = None
        account = await self._account(username)
        if account is not None:
            self.registering = ""
            return "", "", "", [(f"play password for {account}: ", False)]
        if self._name_problem(username) is not None:
            return False
        self.registering = username
        return ("create a play account",
                f"There is no account called {username} on this server yet. Choose a "
                "password to create it (you will type it twice).", "",
                [(f"new password for {username}: ", False), ("the same password again: ", False)])

    async def validate_kbdint_response(self, username: str,
                                       responses: Sequence[str]) -> KbdChallenge | bool:
        if not responses:
            return False
        if self.registering:
            if len(responses) != 2:
                return False
            if not responses[0]:
                return ("", "The password must not be empty; choose another.", "",
                        [("new password: ", False), ("the same password again: ", False)])
            if responses[0] != responses[1]:
                return ("", "The two passwords differ; type them again.", "",
                        [("new password: ", False), ("the same password again: ", False)])
        return await self._log_in(username, responses[0])

    def _name_problem(self, username: str) -> str | None:
        try:
            names.check_username(username)
        except names.NameError_ as exc:
            # No method can log this name in (an SSH client keeps its user name): say so, go.
            self.banner_once(f"play: the SSH user name is your play account, and {exc}; "
                             "connect again as another user (ssh NAME@host).")
            if self.conn is not None:
                asyncio.get_running_loop().call_soon(self.conn.close)
            return str(exc)
        return None

    async def _account(self, username: str) -> str | None:
        """The stored name of the account `username`, or None (a new or unusable name)."""
        if self._name_problem(username) is not None:
            return None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def found(account: tuple[str, str] | None) -> None:
            if not future.done():
                future.set_result(account[0] if account else None)

        def failed(exc: BaseException) -> None:
            if not future.done():
                future.set_exception(exc)

        try:
            self.door.hub.lookups.account_hash(username).then(found, failed)
            return await future
        except Exception as exc:  # noqa: BLE001 - a failing store is said, never raised
            log.error("account look-up failed: %s", exc)
            self.banner_once("play: the server cannot read its accounts right now; try later.")
            return None

    async def _log_in(self, username: str, password: str) -> bool:
        """The play door's Login, answered by the hub (throttles, hash pool, new accounts)."""
        session = self.session
        if session is None or session.closed or session.user is not None:
            return session is not None and session.user is not None
        msg_id = self.new_id()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[msg_id] = future
        self.door.hub.receive(session, Login(id=msg_id, user=username, password=password))
        self.door.wake()
        answer = await future
        if isinstance(answer, Ok):
            return True
        if isinstance(answer, Error):
            self.banner(f"play: {answer.text}")
        return False
