"""The hub: sessions, login, rooms, nicks and delivery rules. No I/O, no bytes, no asyncio."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from gameserver import names
from gameserver import settings as settings_
from gameserver.core import logins, turns
from gameserver.core.commands import CommandError, CommandSpec, checked
from gameserver.core.events import Door, Event, RoomView
from gameserver.core.extensions import Extension, SayHooks, check_extension
from gameserver.core.hashqueue import HashQueue
from gameserver.core.ignoring import Ignoring, speaker_of
from gameserver.core.lines import RoomLines
from gameserver.core.logins import LOBBY
from gameserver.core.pending import Immediate, Lookups, Work
from gameserver.core.presence import PresenceBatcher, Schedule
from gameserver.core.rooms import Room, Session
from gameserver.core.storewaits import STORAGE_TEXT
from gameserver.lookalike import LookalikeIndex
from gameserver.passwords import hash_password, verify_password
from gameserver.protocol import (
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
    Pong,
    RemoteProtocolError,
    Resume,
    Say,
    Welcome,
    paginate,
)
from gameserver.settings import Settings
from gameserver.store import EVERYONE, Entry, StorageError, Store, UnstorableValue
from gameserver.throttle import FloodGates, LoginThrottle, RateLimit

log = logging.getLogger("play.hub")

SCROLLBACK = 20
MAX_BAD_FRAMES = 20  # garbage frames tolerated per connection before it is closed
# Names no account may take: they label the server's own speakers or roles, here and in the
# other doors (IRC services), or stand for everyone; rooms are a separate namespace.
RESERVED_NAMES = frozenset({
    "bot", "server", "system", "admin", "administrator", "root", "everyone", "all", "play",
    "game", "games", "lobby", "nobody", "anonymous", "moderator", "operator", "nickserv",
    "chanserv", "memoserv", "operserv", "services",
})

__all__ = ["CommandError", "Hub", "Work", "LOBBY"]

class Hub(RoomLines):
    """Takes typed messages from sessions; decides which events are delivered to whom."""

    def __init__(self, store: Store, *, server_name: str = "play",
                 hasher: Callable[[str], str] = hash_password,
                 verifier: Callable[[str, str], bool] = verify_password,
                 request_commit: Callable[[bool], None] | None = None,
                 run_work: Callable[[Work], None] | None = None,
                 lookups: Lookups | None = None, settings: Settings | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 schedule: Schedule | None = None, hash_slots: int | None = None,
                 run_express: Callable[[Work], None] | None = None) -> None:
        self.store = store
        self.settings = settings = settings or settings_.DEFAULTS
        self.login_throttle = LoginThrottle(settings, clock)
        self.registrations = RateLimit(settings.registrations_per_hour, 3600.0, clock)
        self.flood_gates = FloodGates(settings)  # per account, across sessions and doors
        self.registering = 0  # password hashes queued or running for new accounts
        self.lookalikes = LookalikeIndex(store.account_names())
        self.lookups: Lookups = lookups if lookups is not None else Immediate(store)
        self.server_name = server_name
        self._welcome: Welcome | None = None  # what every hello is answered with
        self.hasher = hasher
        self.verifier = verifier
        self.request_commit = request_commit
        self.run_work: Callable[[Work], None] = run_work or _run_inline
        # The store's own slow work (a cluster's lease renewals): in a store thread, or here.
        self.run_store: Callable[[Work], None] = _run_inline
        # Every password hash or check waits here, fair between addresses; the runtime
        # is handed `hash_slots` at a time (its hash threads), and one more to its
        # express thread from a prefix that has nothing running while others do (see
        # hashqueue).
        self.hashes = HashQueue(self.run_work, settings.hash_queue, hash_slots, run_express)
        self.sessions: set[Session] = set()
        self.online: dict[str, Session] = {}  # username key -> session
        self.rooms: dict[str, Room] = {LOBBY: Room(LOBBY)}
        self.presence = PresenceBatcher(self.deliver_to_room, lambda: len(self.online), schedule)
        self.schedule = schedule  # the runtime's timer (delay, callback); None in memory
        self.commands: dict[str, CommandSpec] = {}
        self.extensions: list[Extension] = []
        self.community: Any = None  # the CommunityHost (roles, moderation), once installed
        self.ignoring = Ignoring()  # who ignores whom among the sessions here (/ignore)
        self.say_hooks = SayHooks()  # the extensions' on_say (core/lines.py asks them)
        # Names no account may take: they label the server's own speakers (extensions add more).
        self.reserved_names: set[str] = set(RESERVED_NAMES)
        # Where clients can reach this server: a cluster's nodes (told at login); [] alone.
        self.addresses: list[str] = []
        self.most_online = 0  # the most users online at once since start (IRC's LUSERS max)
        self.guests = 0  # guests let in so far (guest-1, guest-2 ...): names, not stored ids
        self.init_waits()  # what waits for the store (core/storewaits.py)
        # Where each user was when their connection went (room, nick), for a resume.
        self.last_place: dict[str, dict[str, Any]] = {}
        from gameserver.core import chatcommands, sealedpm

        chatcommands.COMMANDS.install(self, self)
        sealedpm.COMMANDS.install(self, self)  # device keys and end-to-end PMs

    # ------------------------------------------------------------ the doors' API

    def connect(self, door: Door, sink: Any, close: Callable[[str], None],
                peer: str = "") -> Session:
        """A new connection on `door`; `sink` is the door's handle for it."""
        session = Session(door=door, sink=sink, close=close, peer=peer)
        self.sessions.add(session)
        return session

    def receive(self, session: Session, message: Message) -> None:
        """Handle one typed message from a session, in its turn (core/turns.py)."""
        if session.closed:
            return
        if session.holds or session.queued is not None:
            turns.wait_turn(session, message)
            return
        self.handle(session, message)
        if self._backlogged:
            self.commit_backlog()

    def handle(self, session: Session, message: Message) -> None:
        """Handle one typed message now (its turn has come)."""
        if type(message) is Say:
            self.say(session, message.id, message.text, message.room, turn=True)
            return
        if session.owed and session.user is not None and type(message) is Command:
            # What it said is not stored yet: a /part, /nick or /quit now would reach the
            # room before those lines, and they the room as it is after. It waits for them.
            turns.wait_first(session, message)
            self.after_commit(turns.hold(self, session), lazy=True)
            return
        acting, self._acting = self._acting, session
        try:
            self._dispatch(session, message)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            self._failed(session, getattr(message, "id", None), exc)
        finally:
            self._acting = acting

    def bad_frame(self, session: Session, error: RemoteProtocolError,
                  msg_id: int | None = None) -> None:
        """The door could not make a message of what the peer sent: say why, count it."""
        if session.closed:
            return
        if session.holds or session.queued is not None:  # answered in its turn
            turns.wait_turn(session, lambda: self._bad_frame(session, error, msg_id))
        else:
            self._bad_frame(session, error, msg_id)

    def _bad_frame(self, session: Session, error: RemoteProtocolError,
                   msg_id: int | None) -> None:
        session.bad_frames += 1
        log.info("bad frame from %s: %s", session.peer or "?", error.message)
        self.send(session, Error(code=error.code, text=error.message, id=msg_id))
        if session.bad_frames >= MAX_BAD_FRAMES:
            self.kick(session, "too many invalid frames", "protocol")

    @property
    def hashing(self) -> int:
        """Password hashes and checks queued or running."""
        return len(self.hashes)

    def disconnected(self, session: Session, reason: str) -> None:
        """The connection is gone (closed, lost, or kicked)."""
        if session.closed:
            return
        session.closed = True
        for room in session.joined():
            room.members.closing(session)  # no more deliveries to this one
        self.sessions.discard(session)
        if session.cancel_work is not None:  # nobody is left to tell: do not spend the CPU
            session.cancel_work()
        if session.user is not None:
            self._logout(session, reason)

    def tick(self, now: float) -> None:
        """Periodic housekeeping (turn timers); the runtime calls it every second or so."""
        for ext in self.extensions:
            ext.on_tick(now)

    def shutdown(self, reason: str, restart: bool = False) -> None:
        """Tell every client why and close them all; `restart`: the server will be back."""
        if not self.commit():
            self.refuse_pending()
        for session in list(self.sessions):
            self.kick(session, reason, "shutdown", "server shutting down", restart=restart)
        if not self.commit():
            self.refuse_pending()

    def add_extension(self, extension: Extension) -> None:
        """Add hooks; a name that is not a hook is a TypeError (see extensions.py)."""
        check_extension(extension)
        self.extensions.append(extension)
        self.say_hooks.add(extension)

    # ------------------------------------------------------------ delivery helpers

    def deliver_to_room(self, room: Room, event: Event) -> None:
        """Each door gets the event once, with its open members' sinks (encode once).

        Words of someone a member ignores are not handed to that member (core/ignoring.py).
        """
        deaf = self.ignoring.deaf_to(speaker_of(event) or "") if self.ignoring.by_ignored \
            else None
        for door, sinks in room.members.sinks.items():
            door.deliver(event, sinks if deaf is None else Ignoring.without(sinks, deaf))

    def deliver_to_all(self, event: Event) -> None:
        by_door: dict[Door, list[Any]] = {}
        deaf = self.ignoring.deaf_to(speaker_of(event) or "") if self.ignoring.by_ignored \
            else None
        for member in self.online.values():
            if not member.closed and (deaf is None or member not in deaf):
                by_door.setdefault(member.door, []).append(member.sink)
        for door, sinks in by_door.items():
            door.deliver(event, sinks)

    def session_of(self, user: str) -> Session | None:
        return self.online.get(user.casefold())

    def kick(self, session: Session, reason: str, code: str = "bye",
             told_room: str | None = None, *, restart: bool = False,
             then: Callable[[], None] | None = None) -> None:
        """Say goodbye with a reason and close; the room hears `told_room` (default: reason).

        `restart` (code "shutdown"): the server will be back, so clients reconnect.
        `then`: runs once the session is gone (its rooms told), or at once if it was.
        """
        if session.closed:
            if then is not None:
                then()
            return
        if self._after_commit or self._in_flight:  # what this session is owed goes first
            self.after_commit(lambda: self.kick(session, reason, code, told_room,
                                                restart=restart, then=then), lazy=True)
            return
        if not any(ext.on_kick(session, reason, code, told_room, restart)
                   for ext in self.extensions):
            self.send(session, Bye(reason=reason, code=code, restart=True if restart else None))
            session.close(reason)
            self.disconnected(session, told_room or reason)
        if then is not None:
            then()

    def add_command(self, name: str, handler: Callable[[Session, Command], None], usage: str,
                    help: str, aliases: Iterable[str] = (), checks: bool = False) -> None:
        spec = CommandSpec(name, handler, usage, help, tuple(aliases), checks)
        for key in (name, *spec.aliases):
            if key in self.commands:
                raise ValueError(f"the command /{key} is registered twice")
            self.commands[key] = spec

    def guarded(self, session: Session, msg_id: int | None,
                callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """`callback` for an answer that may come later: its errors become replies.

        Until it comes, the session's later requests wait their turn (core/turns.py);
        `release` on what this returns lets them go if it never will (a cancelled work).
        """
        release = turns.hold(self, session)

        def run(value: Any) -> None:
            if session.closed:
                release()
                return
            acting, self._acting = self._acting, session
            try:
                callback(value)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
                self._failed(session, msg_id, exc)
            finally:
                self._acting = acting
                release()

        def failed(exc: BaseException) -> None:  # the answer itself failed (a store thread's)
            if not session.closed:
                acting, self._acting = self._acting, session
                try:
                    self._failed(session, msg_id, exc if isinstance(exc, Exception)
                                 else RuntimeError(repr(exc)))
                finally:
                    self._acting = acting
            release()
        run.failed = failed  # type: ignore[attr-defined]
        run.release = release  # type: ignore[attr-defined]
        return run

    def _failed(self, session: Session, msg_id: int | None, exc: Exception) -> None:
        """The one place a failed request becomes its reply."""
        if isinstance(exc, CommandError):
            self.send(session, Error(code=exc.code, text=exc.message, id=msg_id))
        elif isinstance(exc, StorageError):
            self.storage_failed(exc)
            self.send(session, Error(code="storage", text=STORAGE_TEXT, id=msg_id))
        elif isinstance(exc, UnstorableValue):  # the edge lets none through; the last guard
            self.send(session, Error(code="bad_message", text=str(exc), id=msg_id))
        else:  # a bug of ours: keep serving everyone, tell this user
            log.error("internal error on a frame from %s: %r", session.peer or "?", exc)
            self.send(session, Error(code="internal", id=msg_id,
                                     text="the server failed on that request; it was logged"))

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, session: Session, message: Message) -> None:
        if isinstance(message, Pong):
            return  # the door saw it arrive; that was its point
        if isinstance(message, Hello):
            self._hello(session, message)
            return
        if not session.greeted:
            raise CommandError("hello_first", "send a hello message first")
        if isinstance(message, AccountQuery):
            logins.account_query(self, session, message)
        elif isinstance(message, Login):
            logins.login(self, session, message)
        elif isinstance(message, Resume):
            logins.resume(self, session, message)
        elif session.user is None:
            raise CommandError("not_logged_in", "log in first")
        elif isinstance(message, Say):
            if message.room is not None:
                self.look_at(session, message.room)
            self._say(session, message.id, message.text)
        elif isinstance(message, Command):
            if message.room is not None:
                self.look_at(session, message.room)
            spec = self.commands.get(message.name.lower())
            if spec is None:
                raise CommandError("unknown_command",
                                   f"unknown command /{message.name}; type /help for the list")
            if message.check and not spec.checks:  # never do what was only to be checked
                raise CommandError("cannot_check", f"/{spec.name} cannot be checked beforehand;"
                                                   " send it without check")
            spec.handler(session, message)
        else:
            raise CommandError("unexpected", f"a client does not send {message.TYPE} messages")

    def _hello(self, session: Session, message: Hello) -> None:
        if message.version != PROTOCOL_VERSION:
            self.send(session, Error(code="version", text=(
                f"this server speaks protocol version {PROTOCOL_VERSION}, "
                f"not {message.version}; please update your client")))
            self.kick(session, "protocol version mismatch", "version")
            return
        session.greeted = True
        if self._welcome is None:  # one event for every hello: a door encodes it once
            self._welcome = Welcome(version=PROTOCOL_VERSION, server=self.server_name,
                                    motd=f"welcome to {self.server_name}")
        self.send(session, self._welcome)
        for ext in self.extensions:
            ext.on_hello(session)

    def _logout(self, session: Session, reason: str) -> None:
        user = session.user
        assert user is not None
        for ext in self.extensions:
            ext.on_logout(session)
        self.ignoring.drop(session)
        if session.room_count():
            self.last_place[user.casefold()] = session.place()
            for room in session.joined():
                self._leave_room(session, room, reason, logging_out=True)
        if self.online.get(user.casefold()) is session:
            del self.online[user.casefold()]
        self.store.leave_scope(user, EVERYONE)
        self.after_commit(lambda: None, lazy=True)

    # ------------------------------------------------------------ rooms

    def look_at(self, session: Session, name: str) -> Room:
        """The room a line or command is for becomes the one the session looks at."""
        room = session.room_named(name)
        if room is None:
            room = session.room_named(checked(names.check_room, name))
            if room is None:
                raise CommandError("not_in_room", f"you are not in #{name}; /join it first")
        session.room = room
        return room

    def join_room(self, session: Session, name: str,
                  then: Callable[[Room], None] | None = None, nick: str | None = None,
                  msg_id: int | None = None) -> None:
        """Enter one more room: it hears of it, the session gets its state and scrollback,
        then `then(room)`.

        The nick there is `nick`, else the one of the room being looked at (made unique).
        A nick other than the username is claimed in the store first (a cluster's nicks
        are unique across its nodes): the room hears of it only under a nick it holds.
        """
        name = checked(names.check_room, name)
        here = session.room_named(name)
        if here is not None:
            session.room = here
            raise CommandError("same_room", f"you are already in #{name}")
        count = session.room_count()
        if count >= self.settings.max_rooms:
            raise CommandError("too_many_rooms", f"you are in {count} rooms, the"
                                                 " most there may be; /part one first")
        for ext in self.extensions:
            refusal = ext.may_enter_room(session, name)
            if refusal is not None:
                raise CommandError("refused", refusal)
        room = self.rooms.get(name)
        user = session.user
        assert user is not None
        wanted = nick or session.nick or user or "guest"
        nick = self._free_nick(room, wanted) if room is not None else wanted
        if not count:
            session.want_nick(wanted)
        if names.key(nick) == names.key(user):  # a username needs no claim: it is unique
            self._enter(session, name, nick, None, then, msg_id)
            return
        self.lookups.claim_nick(name, names.key(nick), user).then(self.guarded(
            session, msg_id, lambda claimed: self._enter(session, name, nick, claimed, then,
                                                         msg_id)))

    def _enter(self, session: Session, name: str, nick: str, claimed: bool | None,
               then: Callable[[Room], None] | None, msg_id: int | None) -> None:
        """`claimed`: None on one node (the members here are the truth); True: the store
        gave us the nick (a member here who has it is a mirror a moment behind); False:
        another node's user took it at the same moment, so this one takes its username."""
        if session.in_room(name):  # entered meanwhile (a move back in by the server)
            return
        user = session.user
        assert user is not None
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name)
        name = room.name  # the room's own string keys the session's tables, not one per login
        lost = None
        if claimed is False:
            lost, nick = nick, self._free_nick(room, user)
        elif claimed is None and names.key(nick) in room.members:
            nick = self._free_nick(room, nick)
        self.presence.tell(room, Joined(room=name, nick=nick, user=user,
                                        online=len(self.online)))
        session.enter(room, nick)
        session.room = room
        room.members[names.kept_key(nick)] = session
        self.store.enter_scope(user, name)
        if self.commits_off_loop:
            # Its replies wait until the span is stored: what it is then shown, it may
            # read in its history (a commit off the loop may land after another node's).
            self.after_commit(_nothing)
        self.send(session, RoomView(room=room, nick=nick, online=len(self.online)))
        if lost is not None:
            self.send(session, Notice(text=f"the nick {lost} was taken in #{name} at the same"
                                           f" moment; you are {nick} there (/nick to choose"
                                           " another)", room=name))

        def entered(earlier: list[Entry]) -> None:
            if earlier:
                self.send_history(session, "scrollback", earlier, room=name)
            for ext in self.extensions:
                ext.on_enter_room(session, room)
            if then is not None:
                then(room)

        self.lookups.room_scrollback(name, SCROLLBACK).then(self.guarded(session, msg_id,
                                                                         entered))

    def part_room(self, session: Session, room: Room, reason: str = "left") -> None:
        """Leave one room; there is always one left (the lobby's door is not special)."""
        if not session.in_room(room.name):
            raise CommandError("not_in_room", f"you are not in #{room.name}")
        if session.room_count() == 1:
            raise CommandError("last_room", f"#{room.name} is your only room and you are always"
                                            " in one; /join another first")
        assert session.user is not None
        nick = session.nick_in(room.name)
        self._leave_room(session, room, reason)
        self.send(session, Left(room=room.name, nick=nick, user=session.user,
                                online=len(self.online), reason=reason))

    def _leave_room(self, session: Session, room: Room, reason: str,
                    logging_out: bool = False) -> None:
        assert session.user is not None
        nick = session.leave(room.name)  # (the room it looks at moves to its last one)
        assert nick is not None, room.name
        room.members.pop(names.key(nick), None)
        self.store.leave_scope(session.user, room.name)
        online = len(self.online) - (1 if logging_out else 0)
        self.presence.tell(room, Left(room=room.name, nick=nick, user=session.user,
                                      online=max(online, 0), reason=reason))
        if not room.members and room.name != LOBBY and not self._room_in_use(room.name):
            del self.rooms[room.name]

    def _room_in_use(self, name: str) -> bool:
        return any(ext.room_in_use(name) for ext in self.extensions)

    def _free_nick(self, room: Room, wanted: str) -> str:
        if names.key(wanted) not in room.members:
            return wanted
        for n in range(2, 1000):
            candidate = f"{wanted[: names.NICK_MAX - len(str(n)) - 1]}_{n}"
            if names.key(candidate) not in room.members:
                return candidate
        raise CommandError("room_full", f"no free nick in #{room.name}")

    def check_nick_lookalike(self, session: Session, nick: str) -> None:
        """A nick must not look like another account's name or another member's nick."""
        logins.check_nick_lookalike(self, session, nick)

    def send_history(self, session: Session, kind: str, entries: list[Entry],
                     msg_id: int | None = None, room: str | None = None) -> None:
        """Send entries in pages that each fit well inside one frame."""
        if kind == "scrollback" and self.ignoring:
            entries = [e for e in entries if not self.ignoring.hides(session, e.sender)]
        pages = paginate([entry.to_wire() for entry in entries])
        for number, page in enumerate(pages):
            self.send(session, HistoryPage(kind=kind, entries=page, page=number,
                                           last=number == len(pages) - 1, id=msg_id, room=room))

    # ------------------------------------------------------------ chat

def _run_inline(work: Work) -> None:
    """Without a runtime (in-memory tests): do the work at once, on this thread."""
    work.done(work.run())


def _nothing() -> None:
    return None
