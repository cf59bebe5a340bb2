"""Who is in charge, and of what: ranks, bans, mutes and room rules. Pure; time comes in.

Ranks, lowest first: member, op (of a room), owner (of a room), admin, host (the first
admin, whose account hosts the server). Nobody acts on someone of equal or higher rank.
A ban or a mute is on the account (never on a nick), so it holds across reconnects,
doors and nick changes; one with an end lifts itself once the clock passes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gameserver.durations import say_duration, say_every

MEMBER, OP, OWNER, ADMIN, HOST = range(1, 6)
RANK_NAMES = {MEMBER: "member", OP: "op", OWNER: "owner", ADMIN: "admin", HOST: "host"}
RANKS = {name: rank for rank, name in RANK_NAMES.items()}
SERVER = "*"  # the scope of server-wide roles, bans and log entries
ROLE_MARKS = {OP: "@", OWNER: "@", ADMIN: "&", HOST: "&"}  # as IRC clients show them
SLOW_MAX = 3600
__all__ = ["say_duration"]  # durations are said one way, everywhere
_DURATION = re.compile(r"(\d+)([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DURATION_MAX = 10 * 365 * 86400


class RuleError(ValueError):
    """Something the rules do not allow; the message is for the user."""


def parse_duration(text: str) -> float | None:
    """'30s', '10m', '2h', '1d', '1w' or plain seconds; None if it is not a duration.

    Several parts add up ('1h30m'); 0 is refused (a ban of no time is no ban).
    """
    text = text.strip().lower()
    if not text or not text[0].isdigit():
        return None
    pos, total = 0, 0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if match is None or len(match.group(1)) > 9:
            return None
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if total <= 0:
        return None
    return float(min(total, DURATION_MAX))


@dataclass
class Sanction:
    """A ban or a mute: on whom (the account's name), until when (None: for good), why."""

    name: str
    until: float | None
    reason: str = ""
    by: str = ""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def left(self, now: float) -> str:
        return "for good" if self.until is None else f"for {say_duration(self.until - now)}"


@dataclass
class RoomRules:
    """What a room's owner and ops decide; kept across restarts."""

    name: str
    owner: str = ""  # user key
    owner_name: str = ""
    ops: dict[str, str] = field(default_factory=dict)  # user key -> name
    topic: str = ""
    invite_only: bool = False
    invited: dict[str, str] = field(default_factory=dict)  # user key -> name
    slow: int = 0  # seconds between one user's messages; 0 = off
    closed: bool = False
    bans: dict[str, Sanction] = field(default_factory=dict)
    mutes: dict[str, Sanction] = field(default_factory=dict)


class Persist(Protocol):
    """Where changes are written as they happen (CommunityStore; tests may use SQLite in memory)."""

    def save_role(self, scope: str, key: str, name: str, role: str | None) -> None: ...
    def save_sanction(self, kind: str, scope: str, key: str, sanction: Sanction | None) -> None: ...
    def save_room(self, rules: RoomRules) -> None: ...
    def save_invite(self, room: str, key: str, name: str, invited: bool) -> None: ...


class Community:
    """Every role and sanction the server knows, with the rules for using them."""

    def __init__(self, persist: Persist | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.persist = persist
        self.clock = clock or time.time
        self.admins: dict[str, tuple[str, int]] = {}  # user key -> (name, ADMIN or HOST)
        self.rooms: dict[str, RoomRules] = {}
        self.server_bans: dict[str, Sanction] = {}
        self.server_mutes: dict[str, Sanction] = {}
        # room -> user -> when they last spoke there (the account's name as logged in:
        # one spelling per account); kept while no slow mode is on, for when one is set.
        self.last_said: dict[str, dict[str, float]] = {}
        # The key a sanction on a name is kept under (the hub maps guests to their address).
        self.key_of: Callable[[str], str] = str.casefold
        # While a change is made (CommunityHost.change): how to take each step back, so a
        # change the store refuses leaves memory as the database has it.
        self.undo: list[Callable[[], None]] | None = None

    # ------------------------------------------------------------ undoing a refused change

    def _keep(self, table: dict[str, Any], key: str) -> None:
        """Remember table[key] as it is (or its absence), to put back by `undo`."""
        if self.undo is None:
            return
        had, old = key in table, table.get(key)

        def put_back() -> None:
            if had:
                table[key] = old
            else:
                table.pop(key, None)

        self.undo.append(put_back)

    def _keep_fields(self, rules: RoomRules, *fields: str) -> None:
        if self.undo is None:
            return
        old = {name: getattr(rules, name) for name in fields}

        def put_back() -> None:
            for name, value in old.items():
                setattr(rules, name, value)

        self.undo.append(put_back)

    # ------------------------------------------------------------ ranks

    def rank(self, user: str, room: str | None = None) -> int:
        key = user.casefold()
        admin = self.admins.get(key)
        if admin is not None:
            return admin[1]
        rules = self.rooms.get(room) if room else None
        if rules is not None:
            if rules.owner == key:
                return OWNER
            if key in rules.ops:
                return OP
        return MEMBER

    def rank_name(self, user: str, room: str | None = None) -> str:
        return RANK_NAMES[self.rank(user, room)]

    def check_over(self, actor: str, target: str, room: str | None, needed: int = OP) -> None:
        """RuleError unless `actor` has at least `needed` and outranks `target`."""
        mine = self.rank(actor, room)
        if mine < needed:
            where = f"#{room}" if room and needed < ADMIN else "this server"
            raise RuleError(f"only {RANK_NAMES[needed]}s of {where} can do that")
        if target.casefold() == actor.casefold():
            raise RuleError("you cannot do that to yourself")
        theirs = self.rank(target, room)
        if theirs >= mine:
            raise RuleError(f"{target} is {_article(RANK_NAMES[theirs])} of "
                            f"{'this server' if theirs >= ADMIN else '#' + str(room)}; you "
                            "cannot act on someone of equal or higher rank")

    def check_rank(self, actor: str, room: str | None, needed: int) -> None:
        if self.rank(actor, room) < needed:
            where = f"#{room}" if room and needed < ADMIN else "this server"
            raise RuleError(f"only {RANK_NAMES[needed]}s of {where} can do that")

    def room(self, name: str) -> RoomRules:
        rules = self.rooms.get(name)
        if rules is None:
            rules = self.rooms[name] = RoomRules(name)
        return rules

    def roles_in(self, room: str) -> dict[str, str]:
        """user name -> role name for everyone with a role in `room` (admins everywhere)."""
        out = {name: RANK_NAMES[rank] for name, rank in self.admins.values()}
        rules = self.rooms.get(room)
        if rules is not None:
            for name in rules.ops.values():
                out.setdefault(name, "op")
            if rules.owner:
                out.setdefault(rules.owner_name or rules.owner, "owner")
        return out

    # ------------------------------------------------------------ changing roles

    def set_admin(self, name: str, rank: int | None) -> None:
        key = name.casefold()
        self._keep(self.admins, key)
        if rank is None:
            self.admins.pop(key, None)
        else:
            self.admins[key] = (name, rank)
        if self.persist is not None:
            self.persist.save_role(SERVER, key, name, RANK_NAMES[rank] if rank else None)

    def claim(self, room: str, user: str) -> bool:
        """The first to enter a new room owns it; True if `user` just became its owner."""
        rules = self.room(room)
        if rules.owner:
            return False
        self._keep_fields(rules, "owner", "owner_name")
        rules.owner, rules.owner_name = user.casefold(), user
        if self.persist is not None:
            self.persist.save_role("#" + room, rules.owner, user, "owner")
        return True

    def set_op(self, room: str, name: str, op: bool) -> None:
        rules = self.room(room)
        key = name.casefold()
        self._keep(rules.ops, key)
        if op:
            rules.ops[key] = name
        else:
            rules.ops.pop(key, None)
        if self.persist is not None:
            self.persist.save_role("#" + room, key, name, "op" if op else None)

    # ------------------------------------------------------------ sanctions

    def _table(self, kind: str, scope: str) -> dict[str, Sanction]:
        if scope == SERVER:
            return self.server_bans if kind == "ban" else self.server_mutes
        rules = self.room(scope)
        return rules.bans if kind == "ban" else rules.mutes

    def sanction(self, kind: str, scope: str, name: str, seconds: float | None,
                 reason: str = "", by: str = "") -> Sanction:
        until = None if seconds is None else self.clock() + seconds
        entry = Sanction(name, until, reason, by)
        key = self.key_of(name)
        table = self._table(kind, scope)
        self._keep(table, key)
        table[key] = entry
        if self.persist is not None:
            self.persist.save_sanction(kind, scope, key, entry)
        return entry

    def lift(self, kind: str, scope: str, name: str) -> Sanction | None:
        key = self.key_of(name)
        table = self._table(kind, scope)
        self._keep(table, key)
        entry = table.pop(key, None)
        if entry is not None and self.persist is not None:
            self.persist.save_sanction(kind, scope, key, None)
        return entry

    def active(self, kind: str, scope: str, user: str) -> Sanction | None:
        """The ban or mute on `user` in `scope` that holds now (an expired one is lifted)."""
        table = self._table(kind, scope) if scope == SERVER or scope in self.rooms else {}
        entry = table.get(self.key_of(user))
        if entry is None:
            return None
        if not entry.active(self.clock()):
            self.lift(kind, scope, user)
            return None
        return entry

    def login_refusal(self, user: str) -> str | None:
        ban = self.active("ban", SERVER, user)
        if ban is None:
            return None
        why = f" ({ban.reason})" if ban.reason else ""
        return f"you are banned from this server {ban.left(self.clock())}{why}"

    def entry_refusal(self, user: str, room: str) -> str | None:
        """Why `user` may not enter `room`, or None. Admins may always enter."""
        if self.rank(user, room) >= ADMIN:
            return None
        rules = self.rooms.get(room)
        if rules is None:
            return None
        if rules.closed:
            return f"#{room} was closed by an admin"
        ban = self.active("ban", room, user)
        if ban is not None:
            why = f" ({ban.reason})" if ban.reason else ""
            return f"you are banned from #{room} {ban.left(self.clock())}{why}"
        if rules.invite_only and self.rank(user, room) < OP \
                and user.casefold() not in rules.invited:
            return f"#{room} is invite-only; ask one of its ops for an /invite"
        return None

    def mute_refusal(self, user: str, room: str) -> str | None:
        """Why `user` is muted in `room` (here or server-wide), or None. No side effect."""
        rank = self.rank(user, room)
        for scope in (SERVER, room):
            mute = self.active("mute", scope, user)
            if mute is not None and rank < (ADMIN if scope == SERVER else OP):
                where = "on this server" if scope == SERVER else f"in #{room}"
                return f"you are muted {where} {mute.left(self.clock())}"
        return None

    def speech_refusal(self, user: str, room: str) -> str | None:
        """Why `user` may not speak in `room` now (muted, or slow mode), or None.

        A message that is let through counts for slow mode.
        """
        rules = self.rooms.get(room)
        # Every line of every room comes through here: the rank and mute look-ups run
        # only where a mute exists (here or server-wide) or the room is in slow mode.
        if self.server_mutes or rules is not None and rules.mutes:
            muted = self.mute_refusal(user, room)
            if muted is not None:
                return muted
        now = self.clock()
        said = self.said_in(room)
        if rules is not None and rules.slow and self.rank(user, room) < OP:
            last = said.get(user)
            if last is not None and now - last < rules.slow:
                return (f"#{room} is in slow mode: one message {say_every(rules.slow)};"
                        f" wait {say_duration(rules.slow - (now - last), round_up=True)}")
        said[user] = now
        return None

    def said_in(self, room: str) -> dict[str, float]:
        """When each user last spoke in `room` (see last_said)."""
        said = self.last_said.get(room)
        if said is None:
            said = self.last_said[room] = {}
        return said

    # ------------------------------------------------------------ room settings

    def update_room(self, room: str, **changes: object) -> RoomRules:
        rules = self.room(room)
        self._keep_fields(rules, *changes)
        for name, value in changes.items():
            setattr(rules, name, value)
        if self.persist is not None:
            self.persist.save_room(rules)
        return rules

    def invite(self, room: str, name: str) -> None:
        invited = self.room(room).invited
        self._keep(invited, name.casefold())
        invited[name.casefold()] = name
        if self.persist is not None:
            self.persist.save_invite(room, name.casefold(), name, True)

    def forget_user(self, name: str) -> None:
        """An account was deleted: its roles and sanctions go with it (its name is free)."""
        key = name.casefold()
        if key in self.admins:
            self.set_admin(name, None)
        for rules in self.rooms.values():
            if rules.owner == key:
                rules.owner = rules.owner_name = ""
                if self.persist is not None:
                    self.persist.save_role("#" + rules.name, key, name, None)
            if key in rules.ops:
                self.set_op(rules.name, name, False)
            for kind in ("ban", "mute"):
                if key in (rules.bans if kind == "ban" else rules.mutes):
                    self.lift(kind, rules.name, name)
        for kind in ("ban", "mute"):
            self.lift(kind, SERVER, name)


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word
