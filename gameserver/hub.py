"""The hub: sessions, login, rooms, nicks, commands and delivery rules. No I/O, no asyncio."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gameserver import names
from gameserver import settings as settings_
from gameserver.lookalike import LookalikeIndex, resembles
from gameserver.names import NameError_
from gameserver.passwords import hash_password, verify_password
from gameserver.protocol import (
    CLIENT_MESSAGES,
    MAX_INT,
    PROTOCOL_VERSION,
    AccountQuery,
    Bye,
    Command,
    Error,
    Hello,
    HistoryPage,
    Joined,
    Left,
    Login,
    Message,
    Notice,
    Ok,
    Pong,
    PrivateMessage,
    ProtocolError,
    RemoteProtocolError,
    Resume,
    Say,
    Welcome,
    encode,
    paginate,
    parse_message,
)
from gameserver.rooms import Room, Session, room_msg_frame, room_state_frames
from gameserver.settings import Settings
from gameserver.store import (
    EVERYONE,
    Entry,
    NewEntry,
    StorageError,
    Store,
    UnstorableValue,
    storable,
)
from gameserver.throttle import LoginThrottle, RateLimit, address_key, say_wait

log = logging.getLogger("play.hub")

LOBBY = "lobby"
SCROLLBACK = 20
MAX_LOGIN_FAILURES = 5  # per connection, then it is closed
MAX_BAD_FRAMES = 20  # garbage frames tolerated per connection before it is closed
TOKEN_LIFETIME = 24 * 3600.0
# Names no account may take: they label the server's own speakers or roles, here and in the
# other doors (IRC services), or stand for everyone; rooms are a separate namespace.
RESERVED_NAMES = frozenset({
    "bot", "server", "system", "admin", "administrator", "root", "everyone", "all", "play",
    "game", "games", "lobby", "nobody", "anonymous", "moderator", "operator", "nickserv",
    "chanserv", "memoserv", "operserv", "services",
})
STORAGE_LOG_EVERY = 60.0
STORAGE_TEXT = ("the server could not store that (its disk is full or failing), so it was not"
                " sent; try again later")


class CommandError(Exception):
    """A command cannot be done; `code` is stable, the message is for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Work:
    """Slow CPU work (password hashing) that a front door runs off its event loop.

    The front door calls `run()` in a worker thread, then `done(result)` on the
    loop thread.
    """

    run: Callable[[], Any]
    done: Callable[[Any], None]
    cancelled: Callable[[], None] | None = None  # instead of done, if it never ran


@dataclass(frozen=True)
class CommandSpec:
    handler: Callable[[Session, Command], None]
    usage: str
    help: str
    aliases: tuple[str, ...] = ()


class Hub:
    """Takes what sessions send; decides what is delivered to whom."""

    def __init__(self, store: Store, *, server_name: str = "play",
                 hasher: Callable[[str], str] = hash_password,
                 verifier: Callable[[str, str], bool] = verify_password,
                 request_commit: Callable[[], None] | None = None,
                 settings: Settings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.settings = settings = settings or settings_.DEFAULTS
        self.login_throttle = LoginThrottle(settings, clock)
        self.registrations = RateLimit(settings.registrations_per_hour, 3600.0, clock)
        self.hashing = 0  # password checks queued or running
        self.lookalikes = LookalikeIndex(store.account_names())
        self.server_name = server_name
        self.hasher = hasher
        self.verifier = verifier
        self.request_commit = request_commit
        self.sessions: set[Session] = set()
        self.online: dict[str, Session] = {}  # username key -> session
        self.rooms: dict[str, Room] = {LOBBY: Room(LOBBY)}
        self.commands: dict[str, CommandSpec] = {}
        self.extensions: list[Any] = []
        # Names no account may take: they label the server's own speakers (extensions add more).
        self.reserved_names: set[str] = set(RESERVED_NAMES)
        # What waits for the next commit: (run once stored, run if refused; None: the same).
        self._after_commit: list[tuple[Callable[[], None], Callable[[], None] | None]] = []
        self._commit_requested = False
        self.storage_error = ""  # what the store said when a commit last failed
        self._storage_logged = -STORAGE_LOG_EVERY
        # Where each user was when their connection went (room, nick), for a resume.
        self._last_place: dict[str, tuple[str, str]] = {}
        self._install_chat_commands()

    # ------------------------------------------------------------ front-door API

    def connect(self, send: Callable[[bytes], None], close: Callable[[str], None],
                peer: str = "") -> Session:
        session = Session(send=send, close=close, peer=peer)
        self.sessions.add(session)
        return session

    def receive(self, session: Session, item: dict[str, Any] | ProtocolError) -> Work | None:
        """Handle one decoded frame (or the decoder's error) from a session."""
        if session.closed:
            return None
        try:
            if isinstance(item, ProtocolError):
                raise item
            if item.get("type") == "say" and session.user is not None and len(item) == 3:
                msg_id, text = item.get("id"), item.get("text")  # the hot path
                if (type(msg_id) is int and 0 <= msg_id <= MAX_INT and type(text) is str
                        and (text.isascii() or storable(text))):
                    self._say(session, msg_id, text)
                    return None
            message = parse_message(item, CLIENT_MESSAGES)
            return self._dispatch(session, message)
        except RemoteProtocolError as exc:
            session.bad_frames += 1
            log.info("bad frame from %s: %s", session.peer or "?", exc.message)
            self.send(session, Error(code=exc.code, text=exc.message, id=_frame_id(item)))
            if session.bad_frames >= MAX_BAD_FRAMES:
                self.kick(session, "too many invalid frames", "protocol")
        except CommandError as exc:
            self.send(session, Error(code=exc.code, text=exc.message, id=_frame_id(item)))
        except StorageError as exc:
            self.storage_failed(exc)
            self.send(session, Error(code="storage", text=STORAGE_TEXT, id=_frame_id(item)))
        except UnstorableValue as exc:  # the edge lets none through; this is the last guard
            self.send(session, Error(code="bad_message", text=str(exc), id=_frame_id(item)))
        except Exception as exc:  # a bug of ours: keep serving everyone, tell this user
            log.error("internal error on a frame from %s: %r", session.peer or "?", exc)
            self.send(session, Error(code="internal", id=_frame_id(item),
                                     text="the server failed on that request; it was logged"))
        return None

    def disconnected(self, session: Session, reason: str) -> None:
        """The connection is gone (closed, lost, or kicked)."""
        if session.closed:
            return
        session.closed = True
        if session.room is not None:
            session.room.members.closing(session)  # no more deliveries to this one
        self.sessions.discard(session)
        if session.user is not None:
            self._logout(session, reason)

    def commit(self) -> bool:
        """Store what was queued, then deliver what waited for it (once per loop pass).

        False if the store failed: everything stays queued and nothing is confirmed;
        the caller retries, and past its patience calls `refuse_pending`.
        """
        self._commit_requested = False
        try:
            self.store.commit()
        except StorageError as exc:
            self.storage_error = str(exc)
            return False
        self._run_waiting(refused=False)
        return True

    def refuse_pending(self) -> int:
        """The store kept failing: refuse every queued message (its sender is told why).

        Nothing refused was delivered or confirmed, and none of it is stored; who is in
        which room stays queued for the next commit. Returns how many messages it was.
        """
        self._commit_requested = False
        dropped = self.store.discard_messages()
        self._run_waiting(refused=True)
        return dropped

    def storage_failed(self, exc: StorageError) -> None:
        """A read or an immediate write failed: one log line per STORAGE_LOG_EVERY, not each."""
        self.storage_error = str(exc)
        now = time.monotonic()
        if now - self._storage_logged >= STORAGE_LOG_EVERY:
            self._storage_logged = now
            log.error("storage: a request failed (%s); such failures are logged once a minute",
                      exc)

    @property
    def waiting(self) -> int:
        """How many confirmations and deliveries wait for the store."""
        return len(self._after_commit)

    def _run_waiting(self, refused: bool) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for stored, otherwise in callbacks:
            try:
                (otherwise or stored)() if refused else stored()
            except Exception as exc:  # one failed delivery must not stop the others
                log.error("delivery failed: %r", exc)

    def tick(self, now: float) -> None:
        """Periodic housekeeping (turn timers); the front door calls it every second or so."""
        for ext in self.extensions:
            if hasattr(ext, "on_tick"):
                ext.on_tick(now)

    def shutdown(self, reason: str) -> None:
        """Tell every client why and close them all."""
        if not self.commit():
            self.refuse_pending()
        for session in list(self.sessions):
            self.kick(session, reason, "shutdown", "server shutting down")
        if not self.commit():
            self.refuse_pending()

    # ------------------------------------------------------------ delivery helpers

    def send(self, session: Session, message: Message | bytes) -> None:
        """Send to one session, after anything already waiting for the store (keeps order)."""
        if self._after_commit:
            frame = message if isinstance(message, bytes) else encode(message)
            self.after_commit(lambda: None if session.closed else session.send(frame))
        elif not session.closed:
            session.send(message if isinstance(message, bytes) else encode(message))

    def deliver_to_room(self, room: Room, message: Message | bytes) -> None:
        """Encode once, hand the same bytes to every member."""
        frame = message if isinstance(message, bytes) else encode(message)
        for send in room.members.sends:  # the open members'
            send(frame)

    def deliver_to_all(self, message: Message) -> None:
        frame = encode(message)
        for member in self.online.values():
            if not member.closed:
                member.send(frame)

    def session_of(self, user: str) -> Session | None:
        return self.online.get(user.casefold())

    def record(self, type_: str, sender: str, receiver: str, text: str,
               then: Callable[[NewEntry], None], *, refused: Callable[[], None] | None = None,
               queue_for: str | None = None) -> NewEntry:
        """Queue a history entry; `then(entry)` runs once it is stored (with its id).

        If the store refuses it, `refused()` runs instead (tell the sender); nothing
        that waits for it is delivered.
        """
        entry = self.store.add_message(type_, sender, receiver, text, queue_for=queue_for)
        self.after_commit(lambda: then(entry), refused or _nothing)
        return entry

    def refuse(self, session: Session, msg_id: int | None) -> Callable[[], None]:
        """What a sender is told when what they sent could not be stored."""
        return lambda: self.send(session, Error(code="storage", text=STORAGE_TEXT, id=msg_id))

    def after_commit(self, callback: Callable[[], None],
                     refused: Callable[[], None] | None = None) -> None:
        """Run `callback` after the next commit; if it is refused, `refused` (default: the same)."""
        self._after_commit.append((callback, refused))
        if not self._commit_requested and self.request_commit is not None:
            self._commit_requested = True
            self.request_commit()

    def kick(self, session: Session, reason: str, code: str = "bye",
             told_room: str | None = None) -> None:
        """Say goodbye with a reason and close; the room hears `told_room` (default: reason)."""
        if session.closed:
            return
        if self._after_commit:  # let what this session is owed go out first
            self.after_commit(lambda: self.kick(session, reason, code, told_room))
            return
        self.send(session, Bye(reason=reason, code=code))
        session.close(reason)
        self.disconnected(session, told_room or reason)

    def add_command(self, name: str, handler: Callable[[Session, Command], None], usage: str,
                    help: str, aliases: Iterable[str] = ()) -> None:
        spec = CommandSpec(handler, usage, help, tuple(aliases))
        for key in (name, *spec.aliases):
            self.commands[key] = spec

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, session: Session, message: Message) -> Work | None:
        if isinstance(message, Pong):
            return None  # the front door saw it arrive; that was its point
        if isinstance(message, Hello):
            self._hello(session, message)
            return None
        if not session.greeted:
            raise CommandError("hello_first", "send a hello message first")
        if isinstance(message, AccountQuery):
            self._account_query(session, message)
            return None
        if isinstance(message, Login):
            return self._login(session, message)
        if isinstance(message, Resume):
            self._resume(session, message)
            return None
        if session.user is None:
            raise CommandError("not_logged_in", "log in first")
        if isinstance(message, Say):
            self._say(session, message.id, message.text)
        elif isinstance(message, Command):
            spec = self.commands.get(message.name.lower())
            if spec is None:
                raise CommandError("unknown_command",
                                   f"unknown command /{message.name}; type /help for the list")
            spec.handler(session, message)
        return None

    def _hello(self, session: Session, message: Hello) -> None:
        if message.version != PROTOCOL_VERSION:
            self.send(session, Error(code="version", text=(
                f"this server speaks protocol version {PROTOCOL_VERSION}, "
                f"not {message.version}; please update your client")))
            self.kick(session, "protocol version mismatch", "version")
            return None
        session.greeted = True
        self.send(session, Welcome(version=PROTOCOL_VERSION, server=self.server_name,
                                   motd=f"welcome to {self.server_name}"))
        return None

    # ------------------------------------------------------------ login

    def _account_query(self, session: Session, message: AccountQuery) -> None:
        user = _checked(names.check_username, message.user)
        account = self.store.account_hash(user)
        self.send(session, Ok(id=message.id, data={
            "user": account[0] if account else user, "registered": account is not None}))

    def _login(self, session: Session, message: Login) -> Work | None:
        if session.user is not None:
            raise CommandError("already_logged_in", "you are already logged in")
        if session.busy:
            raise CommandError("busy", "your previous login is still being checked")
        user = _checked(names.check_username, message.user)
        if not message.password:
            raise CommandError("bad_password", "the password must not be empty")
        account = self.store.account_hash(user)
        if account is None and user.casefold() in self.reserved_names:
            raise CommandError("bad_name", f"the name {user} is reserved; choose another")
        if self.hashing >= self.settings.hash_queue:
            raise CommandError("busy", "the server is busy checking other logins; "
                                       "try again in a few seconds")
        address = address_key(session.peer)
        msg_id, password = message.id, message.password
        if account is None:
            self._check_new_name(user)
            wait = self.registrations.take(address)
            if wait > 0:
                raise CommandError("throttled", "too many new accounts from your address; "
                                                f"try again in {say_wait(wait)}")
            session.busy = True
            self.hashing += 1
            return Work(run=lambda: self.hasher(password),
                        done=self._guarded(session, msg_id, lambda pwhash: self._registered(
                            session, msg_id, user, pwhash)),
                        cancelled=lambda: self._unhashed(session))
        name, pwhash = account
        refused = self.login_throttle.begin(name, address)
        if refused is not None:
            raise CommandError("throttled", refused)
        session.busy = True
        self.hashing += 1

        def cancelled() -> None:
            self._unhashed(session)
            self.login_throttle.end(name, address, None)

        return Work(run=lambda: self.verifier(password, pwhash),
                    done=self._guarded(session, msg_id, lambda ok: self._verified(
                        session, msg_id, name, ok)),
                    cancelled=cancelled)

    def _guarded(self, session: Session, msg_id: int,
                 done: Callable[[Any], None]) -> Callable[[Any], None]:
        """A login's second half answers its frame whatever happens (as receive does)."""

        def run(result: Any) -> None:
            try:
                done(result)
            except StorageError as exc:
                session.busy = False
                self.storage_failed(exc)
                self.send(session, Error(code="storage", text=STORAGE_TEXT, id=msg_id))
            except Exception as exc:  # a bug of ours
                session.busy = False
                log.error("internal error on a login from %s: %r", session.peer or "?", exc)
                self.send(session, Error(code="internal", id=msg_id,
                                         text="the server failed on that request; it was logged"))

        return run

    def _unhashed(self, session: Session) -> None:
        session.busy = False
        self.hashing -= 1

    def _check_new_name(self, user: str) -> None:
        """A new account's name must not look like an existing one or a reserved name."""
        like = self.lookalikes.resembles(user) or resembles(user, self.reserved_names)
        if like is not None:
            raise CommandError("lookalike", f"the name {user} looks like {like}, which is taken; "
                                            "choose a name that reads differently")

    def check_nick_lookalike(self, session: Session, nick: str) -> None:
        """A nick must not look like another account's name or another member's nick."""
        like = self.lookalikes.resembles(nick, allow=session.user)
        if like is not None:
            raise CommandError("lookalike", f"the nick {nick} looks like {like}, another user's "
                                            "name; choose one that reads differently")
        room = session.room
        if room is not None:
            like = resembles(nick, [s.nick for s in room.members.values() if s is not session],
                             allow=session.nick)
            if like is not None:
                raise CommandError("lookalike", f"the nick {nick} looks like {like}, already "
                                                f"used in #{room.name}; choose another")

    def _registered(self, session: Session, msg_id: int, user: str, pwhash: str) -> None:
        self._unhashed(session)
        if session.closed:
            return
        try:
            self._check_new_name(user)  # another look-alike may have registered meanwhile
        except CommandError as exc:
            self.send(session, Error(code=exc.code, id=msg_id, text=exc.message))
            return
        if not self.store.create_account(user, pwhash):
            self.send(session, Error(code="retry", id=msg_id,
                                     text=f"the account {user} was just created; log in again"))
            return
        log.info("new account %s from %s", user, session.peer)
        self.lookalikes.add(user)
        self._logged_in(session, msg_id, user, registered=True)

    def _verified(self, session: Session, msg_id: int, user: str, ok: bool) -> None:
        self._unhashed(session)
        address = address_key(session.peer)
        self.login_throttle.end(user, address, ok)
        if session.closed:
            return
        if not ok:
            session.login_failures += 1
            wait = self.login_throttle.wait(user, address)
            later = (f"; after too many failed logins the next try must wait {say_wait(wait)}"
                     if wait > 0 else "")
            self.send(session, Error(code="bad_password", id=msg_id,
                                     text=f"wrong password for {user}{later}"))
            if session.login_failures >= MAX_LOGIN_FAILURES:
                self.kick(session, "too many wrong passwords", "bad_password")
            return
        self._logged_in(session, msg_id, user)

    def _resume(self, session: Session, message: Resume) -> None:
        if session.user is not None:
            raise CommandError("already_logged_in", "you are already logged in")
        found = self.store.take_token(_token_digest(message.token))
        if found is None or found[1] < time.time():
            raise CommandError("bad_token", "that session token is not valid; log in again")
        user, _, state = found
        # The token knows the place at login; a later /join or /nick is remembered here.
        room, nick = self._last_place.pop(user.casefold(), (state.get("room"), state.get("nick")))
        self._logged_in(session, message.id, user, room=room, nick=nick)

    def _logged_in(self, session: Session, msg_id: int, user: str, *, registered: bool = False,
                   room: str | None = None, nick: str | None = None) -> None:
        old = self.online.get(user.casefold())
        if old is not None:
            room = room or (old.room.name if old.room else None)
            nick = nick or old.nick
            self.kick(old, "you logged in from another place", "replaced", "reconnected")
        session.user = user
        session.nick = nick or user
        self.online[user.casefold()] = session
        self.store.enter_scope(user, EVERYONE)
        token = secrets.token_urlsafe(24)
        self.store.save_token(_token_digest(token), user, time.time() + TOKEN_LIFETIME,
                              {"room": room or LOBBY, "nick": session.nick})
        verb = "registered and logged in" if registered else "logged in"
        welcome = Ok(id=msg_id, text=f"{verb} as {user}",
                     data={"user": user, "token": token, "online": len(self.online),
                           "registered": registered})

        def refused() -> None:
            self.send(session, Error(code="storage", id=msg_id, text=(
                "the server could not store your login (its disk is full or failing);"
                " try again later")))
            self.kick(session, "the server cannot store anything right now", "storage")

        # The ok (and its token) goes out once the login is stored; what follows waits too.
        self.after_commit(lambda: self.send(session, welcome), refused)
        self._deliver_queued_pms(session)
        try:
            self.join_room(session, room or LOBBY)
        except CommandError:
            self.join_room(session, LOBBY)
        for ext in self.extensions:
            if hasattr(ext, "on_login"):
                ext.on_login(session)

    def _deliver_queued_pms(self, session: Session) -> None:
        assert session.user is not None
        waiting = self.store.take_pending_pms(session.user)
        if not waiting:
            return
        senders = sorted({e.sender for e in waiting}, key=str.casefold)
        plural = "s" if len(waiting) != 1 else ""
        self.send(session, notice(
            f"{len(waiting)} private message{plural} waited for you, from {', '.join(senders)}"))
        for entry in waiting:
            self.send(session, PrivateMessage(sender=entry.sender, to=entry.receiver,
                                              text=entry.text, ts=entry.ts, queued=True))
        self.after_commit(lambda: None)  # the pending rows are deleted at the next commit

    def _logout(self, session: Session, reason: str) -> None:
        user = session.user
        assert user is not None
        for ext in self.extensions:
            if hasattr(ext, "on_logout"):
                ext.on_logout(session)
        if session.room is not None:
            self._last_place[user.casefold()] = (session.room.name, session.nick)
            self._leave_room(session, reason, logging_out=True)
        if self.online.get(user.casefold()) is session:
            del self.online[user.casefold()]
        self.store.leave_scope(user, EVERYONE)
        self.after_commit(lambda: None)

    # ------------------------------------------------------------ rooms

    def join_room(self, session: Session, name: str) -> Room:
        name = _checked(names.check_room, name)
        if session.room is not None and session.room.name == name:
            raise CommandError("same_room", f"you are already in #{name}")
        if session.room is not None:
            self._leave_room(session, f"went to #{name}")
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        session.nick = self._free_nick(room, session.nick or session.user or "guest")
        assert session.user is not None
        self.deliver_to_room(room, Joined(room=name, nick=session.nick, user=session.user,
                                          online=len(self.online)))
        room.members[names.key(session.nick)] = session
        session.room = room
        self.store.enter_scope(session.user, name)
        for frame in room_state_frames(room, session.nick, len(self.online)):
            self.send(session, frame)
        earlier = self.store.room_scrollback(name, SCROLLBACK)
        if earlier:
            self.send_history(session, "scrollback", earlier, room=name)
        for ext in self.extensions:
            if hasattr(ext, "on_enter_room"):
                ext.on_enter_room(session, room)
        return room

    def _leave_room(self, session: Session, reason: str, logging_out: bool = False) -> None:
        room = session.room
        assert room is not None and session.user is not None
        room.members.pop(names.key(session.nick), None)
        session.room = None
        self.store.leave_scope(session.user, room.name)
        online = len(self.online) - (1 if logging_out else 0)
        self.deliver_to_room(room, Left(room=room.name, nick=session.nick, user=session.user,
                                        online=max(online, 0), reason=reason))
        if not room.members and room.name != LOBBY and not self._room_in_use(room.name):
            del self.rooms[room.name]

    def _room_in_use(self, name: str) -> bool:
        return any(getattr(ext, "room_in_use", lambda _n: False)(name) for ext in self.extensions)

    def _free_nick(self, room: Room, wanted: str) -> str:
        if names.key(wanted) not in room.members:
            return wanted
        for n in range(2, 1000):
            candidate = f"{wanted[: names.NICK_MAX - len(str(n)) - 1]}_{n}"
            if names.key(candidate) not in room.members:
                return candidate
        raise CommandError("room_full", f"no free nick in #{room.name}")

    def send_history(self, session: Session, kind: str, entries: list[Entry],
                      msg_id: int | None = None, room: str | None = None) -> None:
        """Send entries in pages that each fit well inside one frame."""
        pages = paginate([entry.to_wire() for entry in entries])
        for number, page in enumerate(pages):
            self.send(session, HistoryPage(kind=kind, entries=page, page=number,
                                           last=number == len(pages) - 1, id=msg_id, room=room))

    # ------------------------------------------------------------ chat

    def _say(self, session: Session, msg_id: int, text: str) -> None:
        text = _clean_message(text)
        for ext in self.extensions:
            if hasattr(ext, "on_say") and ext.on_say(session, msg_id, text):
                return
        room = session.room
        if room is None:
            raise CommandError("no_room", "you are not in a room; /join one")
        nick, user = session.nick, session.user
        assert user is not None

        def deliver(entry: NewEntry) -> None:
            self.deliver_to_room(room, room_msg_frame(room.name, nick, user, text, entry.ts))
            if not session.closed:
                session.send(b'{"type":"ok","id":%d}\n' % msg_id)  # encode(Ok(id=msg_id))

        self.record("ROOM", user, room.name, text, deliver, refused=self.refuse(session, msg_id))

    def _install_chat_commands(self) -> None:
        from gameserver import chatcommands

        chatcommands.install(self)


def _checked(check: Callable[[str], str], value: str) -> str:
    try:
        return check(value)
    except NameError_ as exc:
        raise CommandError("bad_name", str(exc)) from None


def _clean_message(text: str) -> str:
    text = text.strip() if text.isprintable() else names.clean_text(text)  # same result
    if not text:
        raise CommandError("empty", "the message is empty")
    if len(text) > names.TEXT_MAX:
        raise CommandError("too_long", f"the message is longer than {names.TEXT_MAX} characters")
    return text


def notice(text: str, kind: str = "info", room: str | None = None) -> Message:
    return Notice(text=text, kind=kind, room=room)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _frame_id(item: object) -> int | None:
    """The id to echo in a reply: only a valid one (a wrong-typed id is echoed as none)."""
    if isinstance(item, dict):
        value = item.get("id")
        if type(value) is int and 0 <= value <= MAX_INT:
            return value
    return None


def _nothing() -> None:
    return None

