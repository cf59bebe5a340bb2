"""Logging in: account look-ups, passwords (off the loop), throttles, tokens, resume."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import struct
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from gameserver import names
from gameserver.core import turns
from gameserver.core.chatcommands import pm_of_entry
from gameserver.core.commands import CommandError, checked, notice
from gameserver.core.pending import Pending, Work
from gameserver.core.rooms import Room, Session
from gameserver.lookalike import resembles
from gameserver.protocol import AccountQuery, Error, Login, Ok, Resume
from gameserver.store import EVERYONE, Entry, StorageError
from gameserver.throttle import address_key, say_wait

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

log = logging.getLogger("play.hub")

MAX_LOGIN_FAILURES = 5  # per connection, then it is closed
BUSY = "the server is busy checking other logins; try again in a few seconds"
TOKEN_LIFETIME = 24 * 3600.0
LOBBY = "lobby"
GUEST_PREFIX = "guest-"  # guest-1, guest-2 ...: the classic door's guests, never an account


def is_guest_name(name: str) -> bool:
    return name.casefold().startswith(GUEST_PREFIX)


def guest_key(peer: str) -> str:
    """Whom a sanction on a guest binds: its address (a guest's name changes every time)."""
    return f"guest@{address_key(peer)}"


def sanction_key(hub: Hub, user: str) -> str:
    """The key bans and mutes on `user` are kept under: an online guest's address."""
    if is_guest_name(user):
        session = hub.online.get(user.casefold())
        if session is not None and session.guest:
            return guest_key(session.peer)
    return user.casefold()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_EXPIRY = struct.Struct("<d")
# This process's key for the tokens it gives out: a token is HMAC(key, user, expiry), so a
# session keeps only its expiry (a float, 24 B) and makes its token again when it needs
# the digest (remember_place), where it kept the digest (73 B). As unguessable as 24
# random bytes; the store still knows a token only by its digest, so a restart (a new
# key) takes the old tokens as before.
_TOKEN_KEY = secrets.token_bytes(32)
_last_expiry = [0.0]  # two tokens given out in one clock tick still differ


def new_token_expiry() -> float:
    """The expiry of a token given out now (TOKEN_LIFETIME on), never one given out already
    in the same moment: the token is made from it."""
    expires, last = time.time() + TOKEN_LIFETIME, _last_expiry[0]
    if last - 1.0 < expires <= last:
        expires = math.nextafter(last, math.inf)
    _last_expiry[0] = expires
    return expires


def session_token(user: str, expires: float) -> str:
    """The resume token of `user`'s login that expires at `expires` (32 characters)."""
    mac = hmac.new(_TOKEN_KEY, user.encode("utf-8") + b"\0" + _EXPIRY.pack(expires),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode("ascii")


def account_query(hub: Hub, session: Session, message: AccountQuery) -> None:
    user = checked(names.check_username, message.user)

    def answer(account: tuple[str, str] | None) -> None:
        hub.send(session, Ok(id=message.id, data={
            "user": account[0] if account else user, "registered": account is not None}))

    hub.lookups.account_hash(user).then(hub.guarded(session, message.id, answer))


def login(hub: Hub, session: Session, message: Login) -> None:
    """Check the name, look the account up, then hash or verify the password off the loop."""
    if session.user is not None:
        raise CommandError("already_logged_in", "you are already logged in")
    if session.busy:
        raise CommandError("busy", "your previous login is still being checked")
    user = checked(names.check_username, message.user)
    if not message.password:
        raise CommandError("bad_password", "the password must not be empty")
    msg_id, password = message.id, message.password
    address = address_key(session.peer)

    def found(account: tuple[str, str] | None) -> None:
        if account is None and user.casefold() in hub.reserved_names:
            raise CommandError("bad_name", f"the name {user} is reserved; choose another")
        if not hub.hashes.has_room(address):
            raise CommandError("busy", BUSY)
        if account is None:
            check_new_name(hub, user)
            # New names (the cheapest way to make the server hash) get half the queue:
            # a flood of them from fresh addresses cannot hold up existing accounts.
            if hub.registering >= max(1, hub.settings.hash_queue // 2):
                raise CommandError("busy", "the server is busy creating other accounts; "
                                           "try again in a few seconds")
            wait = hub.registrations.take(address)
            if wait > 0:
                raise CommandError("throttled", "too many new accounts from your address; "
                                                f"try again in {say_wait(wait)}")
            hub.registering += 1

            def done(pwhash: str) -> None:
                hub.registering -= 1
                registered(hub, session, msg_id, user, pwhash)

            def never_ran() -> None:
                hub.registering -= 1
                unhashed(hub, session)

            queue_hash(hub, session, msg_id, address, Work(
                run=partial(hub.hasher, password), done=hub.guarded(session, msg_id, done),
                cancelled=never_ran, session=session))
            return
        name, pwhash = account
        # Refused here, before any hashing: a guess that must wait costs no CPU.
        refused = hub.login_throttle.begin(name, address)
        if refused is not None:
            raise CommandError("throttled", refused)

        def cancelled() -> None:
            unhashed(hub, session)
            hub.login_throttle.end(name, address, None)

        queue_hash(hub, session, msg_id, address, Work(
            run=partial(hub.verifier, password, pwhash),  # picklable: a process may run it
            done=hub.guarded(session, msg_id,
                             lambda ok: verified(hub, session, msg_id, name, ok)),
            cancelled=cancelled, session=session))

    def settle(account: tuple[str, str] | None) -> None:
        try:
            found(account)
        except BaseException:
            session.busy = False
            raise

    session.busy = True  # from the look-up on: a second login waits for this one
    try:
        pending = hub.lookups.account_hash(user)
    except BaseException:
        session.busy = False
        raise
    pending.then(hub.guarded(session, msg_id, settle))


def queue_hash(hub: Hub, session: Session, msg_id: int | None, address: str,
               work: Work) -> None:
    """Into the hash queue (fair between addresses); displaced later, the client hears busy."""
    def displaced() -> None:
        hub.send(session, Error(code="busy", id=msg_id, text=BUSY))

    if not hub.hashes.submit(work, address, displaced):
        if work.cancelled is not None:
            work.cancelled()
        raise CommandError("busy", BUSY)


def unhashed(hub: Hub, session: Session) -> None:
    session.busy = False


def check_new_name(hub: Hub, user: str) -> None:
    """A new account's name must not look like an existing one or a reserved name."""
    if is_guest_name(user):
        raise CommandError("bad_name", f"names like {user} are for guests of the classic door;"
                                       " choose another")
    like = hub.lookalikes.resembles(user) or resembles(user, hub.reserved_names)
    if like is not None:
        raise CommandError("lookalike", f"the name {user} looks like {like}, which is taken; "
                                        "choose a name that reads differently")


def check_nick_lookalike(hub: Hub, session: Session, nick: str,
                         room: Room | None = None) -> None:
    """A nick must not look like another account's name or another member's nick."""
    like = hub.lookalikes.resembles(nick, allow=session.user)
    if like is not None:
        raise CommandError("lookalike", f"the nick {nick} looks like {like}, another user's "
                                        "name; choose one that reads differently")
    room = room or session.room
    if room is not None:
        like = resembles(nick, [n for n, _ in room.roster()
                                if names.key(n) != names.key(session.nick_in(room.name))],
                         allow=session.nick_in(room.name))
        if like is not None:
            raise CommandError("lookalike", f"the nick {nick} looks like {like}, already "
                                            f"used in #{room.name}; choose another")


def registered(hub: Hub, session: Session, msg_id: int, user: str, pwhash: str) -> None:
    unhashed(hub, session)
    if session.closed:
        return
    check_new_name(hub, user)  # another look-alike may have registered meanwhile

    def created(ok: bool) -> None:
        if not ok:
            hub.send(session, Error(code="retry", id=msg_id,
                                    text=f"the account {user} was just created; log in again"))
            return
        log.info("new account %s from %s", user, session.peer)
        hub.lookalikes.add(user)
        logged_in(hub, session, msg_id, user, registered=True)

    hub.lookups.create_account(user, pwhash).then(hub.guarded(session, msg_id, created))


def verified(hub: Hub, session: Session, msg_id: int, user: str, ok: bool) -> None:
    unhashed(hub, session)
    address = address_key(session.peer)
    for news in hub.login_throttle.end(user, address, ok):
        log.warning("login: %s (the last from %s)", news, session.peer)
    if session.closed:
        return
    if not ok:
        session.login_failures += 1
        wait = hub.login_throttle.wait(user, address)
        later = (f"; after too many failed logins the next try must wait {say_wait(wait)}"
                 if wait > 0 else "")
        hub.send(session, Error(code="bad_password", id=msg_id,
                                text=f"wrong password for {user}{later}"))
        if session.login_failures >= MAX_LOGIN_FAILURES:
            hub.kick(session, "too many wrong passwords", "bad_password")
        return
    logged_in(hub, session, msg_id, user)


def login_guest(hub: Hub, session: Session, then: Callable[[bool, str], None]) -> None:
    """A door's connection in as a guest: no password, a name no account can have.

    The guest counts against the same limits as everyone; `then(ok, reason)` says
    whether it got in.
    """
    if session.user is not None or session.closed:
        then(False, "already logged in")
        return
    session.greeted = True
    session.guest = True
    for ext in hub.extensions:  # a ban on a guest is a ban on the address it came from
        refusal = ext.may_log_in(guest_key(session.peer))
        if refusal is not None:
            then(False, refusal)
            return
    _next_guest(hub, session, then)


def _next_guest(hub: Hub, session: Session, then: Callable[[bool, str], None]) -> None:
    """The next free guest name: not online, and new to the store too (a guest of an
    earlier run left spans under it, and whoever got it next would own their history).
    The store is asked as a read (in a store thread on a cluster)."""
    while True:
        hub.guests += 1
        user = f"{GUEST_PREFIX}{hub.guests}"
        if user.casefold() not in hub.online:
            break
    def answered(used: bool) -> None:
        if session.closed or session.user is not None:
            return
        if used or user.casefold() in hub.online:
            _next_guest(hub, session, then)
            return
        log.info("guest %s from %s", user, session.peer)
        logged_in(hub, session, None, user)
        then(True, "")

    def failed(exc: BaseException) -> None:
        hub.storage_failed(exc if isinstance(exc, StorageError) else StorageError(str(exc)))
        if not session.closed:
            then(False, "the server cannot let guests in right now (its storage is failing);"
                        " try again later")

    try:
        hub.lookups.name_used(user).then(answered, failed)
    except StorageError as exc:  # a store that answers at once, and failed
        failed(exc)


def login_verified(hub: Hub, session: Session, user: str) -> None:
    """A door that proved the account itself (the SSH door: a key on it signed) logs in.

    No password is checked, so no throttle is spent; bans and the rest of logging in
    are the same as for everyone. The ok (id None) or the refusal goes to the session.
    """
    if session.user is not None or session.closed:
        return
    session.greeted = True

    def found(account: tuple[str, str] | None) -> None:
        if account is None:  # deleted since its key was read
            raise CommandError("no_such_user", f"there is no account called {user}")
        logged_in(hub, session, None, account[0])

    hub.lookups.account_hash(user).then(hub.guarded(session, None, found))


def resume(hub: Hub, session: Session, message: Resume) -> None:
    """Log in again with a session token: no password, back in the same rooms."""
    if session.user is not None:
        raise CommandError("already_logged_in", "you are already logged in")

    def found(token: tuple[str, float, dict[str, Any]] | None) -> None:
        if session.user is not None:
            raise CommandError("already_logged_in", "you are already logged in")
        if token is None or token[1] < time.time():
            raise CommandError("bad_token", "that session token is not valid; log in again")
        user, _, state = token
        # The token knows the rooms as last stored; a connection that just went knows better.
        place = hub.last_place.pop(user.casefold(), None) or place_in(state)
        logged_in(hub, session, message.id, user, place=place)

    hub.lookups.take_token(token_digest(message.token)).then(
        hub.guarded(session, message.id, found))


def place_in(state: dict[str, Any]) -> dict[str, Any]:
    """A token's saved place: {"rooms": [[room, nick]...], "room": looked at} (or older forms)."""
    rooms = state.get("rooms")
    if not isinstance(rooms, list):
        room, nick = state.get("room"), state.get("nick")
        rooms = [[room, nick]] if isinstance(room, str) else []
    good = [[r[0], r[1] if isinstance(r[1], str) else None] for r in rooms
            if isinstance(r, list) and len(r) == 2 and isinstance(r[0], str)]
    return {"rooms": good, "room": state.get("room")}


def remember_place(hub: Hub, session: Session) -> None:
    """The session's rooms into its token, so a resume after a restart finds them too."""
    expires = session.token_expires
    if expires is None or session.user is None or session.closed:
        return
    digest = token_digest(session_token(session.user, expires))
    hub.store.save_token(digest, session.user, expires, session.place())
    # Stored at the next commit, asked for now: a node SIGKILLed a minute after a /nick
    # or a /part must not hand the resume an older place.
    hub.after_commit(lambda: None, lazy=True)


def logged_in(hub: Hub, session: Session, msg_id: int | None, user: str, *,
              registered: bool = False, place: dict[str, Any] | None = None) -> None:
    for ext in hub.extensions:
        refusal = ext.may_log_in(user)
        if refusal is not None:
            hub.send(session, Error(code="banned", id=msg_id, text=refusal))
            hub.kick(session, refusal, "banned")
            return
    old = hub.online.get(user.casefold())
    if old is not None and old is not session:
        # On another node (a cluster's proxy): that node ends its session and tells its
        # rooms, then answers with where it was; only then does this login go on, so
        # every node hears the end of the old session before this one's arrival.
        then = hub.guarded(session, msg_id, lambda there: (
            _replaced(hub, session, msg_id, user, registered, place, there)))
        if any(ext.on_replace(old, then) for ext in hub.extensions):
            session.busy = True
            return
    _replaced(hub, session, msg_id, user, registered, place, None)


def _replaced(hub: Hub, session: Session, msg_id: int | None, user: str, registered: bool,
              place: dict[str, Any] | None, there: dict[str, Any] | None) -> None:
    """The account's other session (if any) is ended: log in, with `there` its place if
    another node ended it (None: it had ended already, or was here)."""
    session.busy = False
    if session.closed or session.user is not None:
        return
    if there is not None and (place is None or not place.get("rooms")):
        place = there
    old = hub.online.get(user.casefold())
    if old is not None and old.closed:  # ended, and nothing else took its place
        del hub.online[user.casefold()]
    elif old is not None:  # here (or a mirror of a silent node's)
        if place is None or not place.get("rooms"):
            place = old.place()
        # The login goes on once the old session is out of its rooms: a kick may wait for
        # the commit in flight, and meanwhile it still holds its nicks (bob would be bob_2).
        session.busy = True
        hub.kick(old, "you logged in from another place", "replaced", "reconnected",
                 then=lambda: _replaced(hub, session, msg_id, user, registered, place, None))
        return
    # A nick that is the username is the username's own string (one copy per session).
    rooms = [(r, user if n == user else n) for r, n in (place or {}).get("rooms", [])] \
        or [(LOBBY, None)]
    looked_at = (place or {}).get("room")
    session.user = user
    session.want_nick(next((n for _, n in rooms if n), None) or user)
    hub.online[names.kept_key(user)] = session
    hub.most_online = max(hub.most_online, len(hub.online))
    hub.store.enter_scope(user, EVERYONE)
    expires = new_token_expiry()
    token = session_token(user, expires)
    session.token_expires = expires
    hub.store.save_token(token_digest(token), user, expires,
                         {"rooms": [[r, n or user] for r, n in rooms], "room": looked_at})
    verb = "registered and logged in" if registered else "logged in"
    data: dict[str, Any] = {"user": user, "token": token, "online": len(hub.online),
                            "registered": registered}
    if hub.addresses:  # a cluster: where to come back if this node goes
        data["cluster"] = list(hub.addresses)
    welcome = Ok(id=msg_id, text=f"{verb} as {user}", data=data)

    # The ok (and its token) goes out once the login is stored; what follows waits too.
    # (Partials, not closures: fewer small objects wait per login in a crowd.)
    hub.after_commit(partial(hub.send, session, welcome),
                     partial(_login_refused, hub, session, msg_id), lazy=True)

    entering = _Entering(hub, session, rooms, looked_at)
    taken = hub.lookups.take_pending_pms(user)  # asked now, beside the ignore list

    def arrive() -> None:
        deliver_queued_pms(hub, session, then=lambda _: entering.join(0), taken=taken)

    if hub.community is not None and not session.guest:  # before PMs and scrollback
        # What it sends meanwhile waits its turn (core/turns.py), as it does behind the
        # look-ups that follow: a line typed right after the ok goes to its room.
        release = turns.hold(hub, session)
        hub.community.load_ignores(session, turns.then_release(arrive, release))
    else:
        arrive()


def _login_refused(hub: Hub, session: Session, msg_id: int | None) -> None:
    """The login could not be stored: say so and close."""
    hub.send(session, Error(code="storage", id=msg_id, text=(
        "the server could not store your login (its disk is full or failing);"
        " try again later")))
    hub.kick(session, "the server cannot store anything right now", "storage")


class _Entering:
    """A login's rooms, entered one after the other (each once its scrollback is read).

    An object, not closures that call themselves: those would be a reference cycle per
    login, kept (with the token's state and the place) until the cycle collector ran.
    """

    __slots__ = ("hub", "session", "rooms", "looked_at")

    def __init__(self, hub: Hub, session: Session, rooms: list[tuple[str, str | None]],
                 looked_at: Any) -> None:
        self.hub, self.session, self.rooms, self.looked_at = hub, session, rooms, looked_at

    def join(self, index: int) -> None:
        session = self.session
        if session.closed:
            return
        if index == len(self.rooms):
            self.done()
            return
        name, nick = self.rooms[index]
        try:
            self.hub.join_room(session, name, then=lambda _room: self.join(index + 1),
                               nick=nick)
        except CommandError:  # gone bad meanwhile (a rule changed): the others still come
            self.join(index + 1)

    def done(self) -> None:
        session, hub = self.session, self.hub
        if not session.room_count():
            hub.join_room(session, LOBBY, then=lambda _room: self.done())
            return
        looked_at = session.room_named(self.looked_at) if isinstance(self.looked_at, str) \
            else None
        if looked_at is not None:
            session.room = looked_at
        for ext in hub.extensions:
            ext.on_login(session)


def deliver_queued_pms(hub: Hub, session: Session, then: Callable[[object], None],
                       taken: Pending[list[Entry]] | None = None) -> None:
    """The PMs that waited for the session's user (`taken`: already asked for), then `then`."""
    assert session.user is not None

    def deliver(waiting: list[Entry]) -> None:
        waiting = [e for e in waiting if not hub.ignoring.hides(session, e.sender)]
        if waiting:
            senders = sorted({e.sender for e in waiting}, key=str.casefold)
            plural = "s" if len(waiting) != 1 else ""
            hub.send(session, notice(f"{len(waiting)} private message{plural} waited for"
                                     f" you, from {', '.join(senders)}"))
            for entry in waiting:
                hub.send(session, pm_of_entry(entry, queued=True))  # sealed or plain
            hub.after_commit(lambda: None, lazy=True)  # the rows go at the next commit
        then(None)

    if taken is None:
        taken = hub.lookups.take_pending_pms(session.user)
    taken.then(hub.guarded(session, None, deliver))
