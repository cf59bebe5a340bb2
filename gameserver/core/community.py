"""The hub's community extension: roles and sanctions applied, /away, replies, ignores.

The rules are in roles.py (pure); this joins them to sessions and rooms: who may log
in, enter and speak, what a room's members are told, and what the modlog keeps. A
change is told of (announced, confirmed) only once it is stored; one the store refuses
is undone and its maker told so (`change`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from gameserver import names
from gameserver.core import logins
from gameserver.core.commands import CommandError
from gameserver.core.extensions import Extension
from gameserver.core.logins import LOBBY
from gameserver.core.pending import Work, catching
from gameserver.core.roles import HOST, RANK_NAMES, SERVER, Community, Persist, RuleError
from gameserver.core.rooms import Room, Session
from gameserver.protocol import Error, Notice, Roles
from gameserver.store import StorageError

ADMIN_RELOAD_SECONDS = 3.0
REFUSED_TEXT = ("the server could not store that (its storage is failing), so it did not"
                " happen; try again later")

if TYPE_CHECKING:
    from gameserver.core.hub import Hub


class CommunityStorage(Persist, Protocol):
    """What the extension needs kept (gameserver.communitystore.CommunityStore); its
    Persist part is where the community's rules write their changes."""

    def log(self, scope: str, actor: str, action: str, target: str, detail: str = "",
            ts: float | None = None) -> None: ...
    def modlog(self, scope: str | None, limit: int) -> list[tuple[float, str, str, str, str, str]]:
        ...
    def ignores(self, user: str) -> list[str]: ...
    def admins(self) -> dict[str, tuple[str, int]]: ...
    def load(self, community: Community) -> Community: ...
    def set_ignore(self, user: str, other: str, ignored: bool) -> None: ...
    def set_password_hash(self, user: str, pwhash: str) -> bool: ...
    def delete_account(self, user: str) -> bool: ...
    on_change: Callable[[], None] | None  # a cluster's: the other nodes read it again


def rule(check: Callable[[], Any]) -> Any:
    """Run a roles.py check; its RuleError becomes a CommandError for the user."""
    try:
        return check()
    except RuleError as exc:
        raise CommandError("not_allowed", str(exc)) from None


class CommunityHost(Extension):
    """Applies the community's rules in the hub; the commands are in modcommands/social."""

    def __init__(self, hub: Hub, community: Community, storage: CommunityStorage) -> None:
        self.hub = hub
        self.community = community
        self.storage = storage
        self.away: dict[str, str] = {}  # user key -> away message
        self.last_pm_from: dict[str, str] = {}  # user key -> who last wrote to them
        self.confirm_delete: dict[str, float] = {}  # user key -> when they asked
        self._next_reload = 0.0
        self._reloading = False  # the kept admins are being read
        # Changes made here and not stored yet, oldest first: each is the steps that undo
        # it (roles.Community.undo); `made` counts every change ever begun.
        self.unstored: list[list[Callable[[], None]]] = []
        self.made = 0
        self._rereading = False  # the whole community is being read again (reload)
        self._reread_again = False

    @classmethod
    def install(cls, hub: Hub, community: Community, storage: CommunityStorage) -> CommunityHost:
        from gameserver.core import modcommands, socialcommands

        host = cls(hub, community, storage)
        community.key_of = lambda user: logins.sanction_key(hub, user)
        hub.community = host
        hub.add_extension(host)
        modcommands.COMMANDS.install(hub, host)
        socialcommands.COMMANDS.install(hub, host)
        return host

    def first_admin(self, user: str) -> bool:
        """`play host`: the host's account is the server's first admin (its host rank)."""
        if self.community.admins:
            return False

        def make() -> None:
            self.community.set_admin(user, HOST)
            self.log(SERVER, user, "grant", user, "the host's account: the first admin")

        self.change(None, None, make, _nothing, refused=_nothing)
        return True

    # ------------------------------------------------------------ hooks

    def may_log_in(self, user: str) -> str | None:
        return self.community.login_refusal(user)

    def may_enter_room(self, session: Session, room: str) -> str | None:
        if session.user is None:
            return None
        return self.community.entry_refusal(session.user, room)

    def on_enter_room(self, session: Session, room: Room) -> None:
        user = session.user
        assert user is not None
        name = room.name

        def show(note: Notice | None = None) -> None:
            if note is not None:
                self.hub.send(session, note)
            rules = self.community.rooms.get(name)
            self.hub.send(session, self.roles_event(name))
            if rules is not None and rules.topic:
                self.hub.send(session, Notice(text=f"topic of #{name}: {rules.topic}", room=name))

        if name == LOBBY or len(room.members) != 1 or self.community.room(name).owner:
            show()
            return

        def claim() -> None:  # the first in owns a new room, once that is stored
            if self.community.claim(name, user):
                self.log(name, user, "owner", user, "created the room")

        self.change(session, None, claim, lambda: show(Notice(
            text=f"you own #{name}: /op gives others ops; /help lists what ops can do",
            room=name)), refused=lambda: show(Notice(
                text=f"#{name} has no owner: the server could not store that you own it"
                     " (its storage is failing)", kind="warn", room=name)))

    def on_say(self, session: Session, msg_id: int, text: str) -> bool:
        user, room = session.user, session.room
        if user is None or room is None:
            return False
        community = self.community
        name = room.name
        rules = community.rooms.get(name)
        if community.server_mutes or rules is not None and (rules.mutes or rules.slow):
            refusal = community.speech_refusal(user, name)
            if refusal is not None:
                raise CommandError("muted", refusal)
        else:  # speech_refusal where no mute or slow mode applies, inlined: it counts
            said = community.last_said.get(name)
            if said is None:
                said = community.said_in(name)
            said[user] = community.clock()
        if self.away:  # back(session), inlined: every line comes through here
            self.back(session)
        return False

    def on_tick(self, now: float) -> None:
        """`play admin` on the server machine changes the kept admins: take them up."""
        if now < self._next_reload or self._reloading:
            return
        self._next_reload = now + ADMIN_RELOAD_SECONDS
        storage = self.storage

        made = self.made

        def done(kept: Any) -> None:
            self._reloading = False
            if self.unstored or self.made != made:  # ours, not stored yet: read again later
                return
            if isinstance(kept, dict) and kept != self.community.admins:
                self.community.admins = kept
                self.roles_changed()

        self._reloading = True
        # in a store thread on a cluster (the hub's run_store)
        self.hub.run_store(Work(run=catching(storage.admins), done=done,
                                cancelled=lambda: done(None)))

    def reload(self) -> None:
        """Another node changed the community: read all of it again, as store work (in a
        store thread on a cluster); it replaces this node's once read, unless a change of
        this node's is on its way to the store meanwhile (then it is read again after)."""
        if self._rereading:
            self._reread_again = True
            return
        storage, old = self.storage, self.community
        made = self.made

        def done(fresh: Any) -> None:
            self._rereading = False
            if isinstance(fresh, StorageError):
                self.hub.storage_failed(fresh)
            elif isinstance(fresh, Community):
                if self.unstored or self.made != made:
                    self._reread_again = True
                else:
                    current = self.community
                    fresh.key_of, fresh.last_said = current.key_of, current.last_said
                    self.community = fresh
            if self._reread_again:
                self._reread_again = False
                if self.unstored:  # once ours are stored (or refused)
                    self.hub.after_commit(self.reload, lazy=True)
                else:
                    self.reload()

        self._rereading = True
        read = catching(lambda: storage.load(Community(storage, old.clock)))
        self.hub.run_store(Work(run=read, done=done, cancelled=lambda: done(None)))

    def change(self, session: Session | None, msg_id: int | None, make: Callable[[], None],
               then: Callable[[], None], *, refused: Callable[[], None] | None = None) -> None:
        """A change to the community that is told of only once it is stored.

        `make()` changes the rules here (roles.Community's methods, `log`); their writes
        join the hub's next commit. `then()` (the announcement, the ok) runs once it is
        stored. If the store refuses it (it kept failing past the commit schedule's
        patience, or a write failed at once), the change is undone here, with those made
        after it, so this node holds what the database holds; and `refused()` runs
        (default: `session` is told `storage`). Nothing of a refused change is told.
        """
        community = self.community
        steps: list[Callable[[], None]] = []
        community.undo = steps
        self.made += 1
        try:
            make()
        except BaseException:
            _undo(steps)
            raise
        finally:
            community.undo = None
        if not getattr(self.storage, "queued", False):  # written at once: stored already
            then()
            return
        self.unstored.append(steps)

        def stored() -> None:
            at = _index(self.unstored, steps)
            if at is not None:
                del self.unstored[at]
                then()
            elif refused is not None:  # undone with an earlier change that was refused
                refused()
            elif session is not None:
                self.hub.send(session, Error(code="storage", text=REFUSED_TEXT, id=msg_id))

        def not_stored() -> None:
            at = _index(self.unstored, steps)
            if at is not None:
                later, self.unstored = self.unstored[at:], self.unstored[:at]
                for undone in reversed(later):  # the latest first: each put back what it found
                    _undo(undone)
            if refused is not None:
                refused()
            elif session is not None:
                self.hub.send(session, Error(code="storage", text=REFUSED_TEXT, id=msg_id))

        self.hub.after_commit(stored, not_stored)

    def on_login(self, session: Session) -> None:
        from gameserver.core.socialcommands import ignores_notice

        ignores_notice(self, session)

    def on_logout(self, session: Session) -> None:
        if session.user is not None and self.hub.online.get(session.user.casefold()) is session:
            self.away.pop(session.user.casefold(), None)

    # ------------------------------------------------------------ helpers for commands

    def roles_event(self, room: str) -> Roles:
        rules = self.community.rooms.get(room)
        return Roles(room=room, roles=self.community.roles_in(room),
                     topic=rules.topic if rules else "")

    def room_rules(self, rooms: list[str]) -> dict[str, dict[str, object]]:
        """Each room's topic, invite-only flag and slow mode (rooms nobody set any of: left out)."""
        out: dict[str, dict[str, object]] = {}
        for name in rooms:
            rules = self.community.rooms.get(name)
            if rules is not None and (rules.topic or rules.invite_only or rules.slow):
                out[name] = {"topic": rules.topic, "invite_only": rules.invite_only,
                             "slow": rules.slow}
        return out

    def roles_changed(self, room: str | None = None) -> None:
        """Tell a room (or every room, for a server role) who has which role now."""
        rooms = [self.hub.rooms[room]] if room in self.hub.rooms else (
            list(self.hub.rooms.values()) if room is None else [])
        for each in rooms:
            self.hub.deliver_to_room(each, self.roles_event(each.name))

    def announce(self, room: str, text: str) -> None:
        """Said in the room where it happened (everyone, the one who did it included)."""
        target = self.hub.rooms.get(room)
        if target is not None:
            self.hub.deliver_to_room(target, Notice(text=text, room=room))

    def log(self, scope: str, actor: str, action: str, target: str, detail: str = "") -> None:
        self.storage.log(scope, actor, action, target, detail)

    def role_mark(self, user: str, room: str) -> str:
        rank = self.community.rank(user, room)
        return "" if rank not in RANK_NAMES or rank == 1 else f" [{RANK_NAMES[rank]}]"

    def member(self, room: Room, word: str) -> Session | None:
        """The member of `room` with that nick (or, failing that, that username)."""
        word = word.lstrip("@")
        found = room.members.get(names.key(word))
        if found is not None:
            return found
        return next((s for s in room.members.values()
                     if s.user is not None and s.user.casefold() == word.casefold()), None)

    def resolve_user(self, session: Session, msg_id: int, word: str,
                     then: Callable[[str], None]) -> None:
        """A nick in your room, or a username (`@name` is always one): `then(username)`."""
        if session.room is not None and not word.startswith("@"):
            present = self.member(session.room, word)
            if present is not None and present.user is not None:
                then(present.user)
                return
        from gameserver.core.commands import checked

        name = checked(names.check_username, word.lstrip("@"))
        guest = self.hub.session_of(name)
        if guest is not None and guest.guest and guest.user is not None:
            then(guest.user)  # no account, but online: what binds it is its address
            return

        def found(account: tuple[str, str] | None) -> None:
            if account is None:
                raise CommandError("no_such_user", f"there is no user or nick {name} here")
            then(account[0])

        self.hub.lookups.account_hash(name).then(self.hub.guarded(session, msg_id, found))

    def move_out(self, target: Session, room: Room, why: str, code: str) -> None:
        """Put someone out of `room`: to the lobby, or off the server if it is the lobby."""
        if room.name == LOBBY:
            self.hub.kick(target, why, code, why)
            return
        if not target.in_room(room.name):
            return
        if target.room_count() == 1:  # always in one room: the lobby takes them in first
            self.hub.join_room(target, LOBBY, then=lambda _lobby: self._put_out(
                target, room, why, code))
            return
        self._put_out(target, room, why, code)

    def _put_out(self, target: Session, room: Room, why: str, code: str) -> None:
        if target.closed or not target.in_room(room.name):
            return
        self.hub.part_room(target, room, code)  # the room heard why from the announcement
        # Told after leaving, so the sentence lands where they are now (not in the pane of
        # the room they were put out of, which their client closes).
        self.hub.send(target, Notice(text=why, kind="warn"))

    def is_host_rank(self, user: str) -> bool:
        return self.community.rank(user) == HOST

    # ------------------------------------------------------------ away, replies

    def back(self, session: Session) -> None:
        """Speaking clears /away."""
        if session.user is not None and self.away.pop(session.user.casefold(), None) is not None:
            self.hub.send(session, Notice(text="you are no longer away"))

    def pm_sent(self, session: Session, to: str) -> str | None:
        """A PM went from `session` to `to`: remember it for /r; their away message, if any."""
        if session.user is not None:
            self.last_pm_from[to.casefold()] = session.user
        away = self.away.get(to.casefold())
        return None if away is None else f"{to} is away: {away}"

    def ask(self, session: Session, msg_id: int | None, read: Callable[[], Any],
            then: Callable[[Any], None]) -> None:
        """`then(read())` for a session's request, `read` as store work (a store thread on
        a cluster); its errors, and a StorageError of `read`, become the reply."""
        answer = self.hub.guarded(session, msg_id, then)

        def done(result: Any) -> None:
            if isinstance(result, StorageError):
                answer.failed(result)  # type: ignore[attr-defined]
            else:
                answer(result)

        self.hub.run_store(Work(run=catching(read), done=done, cancelled=lambda: done(
            StorageError("the server is shutting down"))))

    def load_ignores(self, session: Session, then: Callable[[], None]) -> None:
        """A login: its account's ignore list into the hub, then `then()` (PMs, rooms).

        Read in a store thread on a cluster (the hub's run_store); if it cannot be
        read the login goes on, ignoring nobody until the next /ignore.
        """
        user, storage = session.user, self.storage
        assert user is not None

        def done(found: Any) -> None:
            if isinstance(found, StorageError):
                self.hub.storage_failed(found)
            if session.closed:
                return
            self.hub.ignoring.set(session, found if isinstance(found, list) else [])
            then()

        read = catching(lambda: storage.ignores(user))
        self.hub.run_store(Work(run=read, done=done, cancelled=lambda: done(None)))


def _index(unstored: list[list[Callable[[], None]]], steps: list[Callable[[], None]]
           ) -> int | None:
    """Where this change's steps are among the unstored (by identity), or None."""
    return next((n for n, entry in enumerate(unstored) if entry is steps), None)


def _undo(steps: list[Callable[[], None]]) -> None:
    for step in reversed(steps):
        step()


def _nothing() -> None:
    return None
