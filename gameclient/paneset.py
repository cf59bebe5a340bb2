"""Which rooms and PM conversations (panes) a client has, their transcripts, unread counts
and mentions, and which one is looked at: the model's bookkeeping, pure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

TRANSCRIPT_MAX = 5000


@dataclass(frozen=True)
class Line:
    """One line of the transcript; `kind` says how a view should style it.

    kinds: chat, own (my chat), action (/me), pm, pm_sent (in its conversation), pm_echo
    (its copy where it was typed, if elsewhere: a line view prints only the first), bm,
    notice, error, alert (a key warning), reply, scrollback (a room's earlier lines),
    history (/history: dated), game
    """

    kind: str
    text: str
    ts: float
    nick: str = ""  # who said it, for chat/pm/bm, so a view can colour the nick
    body: str = ""  # the text without the nick, for chat
    where: str = ""  # the pane it belongs to: a room's name, or "@user" for a PM conversation
    mention: bool = False  # it names me (or is a PM to me): highlighted, and it rings

    @property
    def wants_attention(self) -> bool:
        return self.mention or self.kind == "pm"


COUNTED = frozenset({"chat", "action", "pm"})  # what makes a pane's unread count
COPIES = frozenset({"pm_echo"})  # a line shown in a second pane: a line view prints it once


@dataclass
class Pane:
    """A room you are in, or a PM conversation ("@user"): its own transcript and counts."""

    name: str
    nick: str = ""
    members: dict[str, str] = field(default_factory=dict)  # nick -> username
    transcript: list[Line] = field(default_factory=list)
    unread: int = 0
    mentions: int = 0
    roles: dict[str, str] = field(default_factory=dict)  # user key -> role in this room
    topic: str = ""

    @property
    def is_pm(self) -> bool:
        return self.name.startswith("@")

    @property
    def label(self) -> str:
        return self.name if self.is_pm else f"#{self.name}"


def mentions(text: str, *names: str) -> bool:
    """Whether `text` names one of `names` as a word (any case): 'bob:', '@bob', 'bob!'."""
    folded = text.casefold()
    for name in names:
        if not name:
            continue
        key = name.casefold()
        start = folded.find(key)
        while start >= 0:
            end = start + len(key)
            before = folded[start - 1] if start else " "
            after = folded[end] if end < len(folded) else " "
            if not (before.isalnum() or before in "_-") and not (after.isalnum() or after in "_"):
                return True
            start = folded.find(key, start + 1)
    return False


def clock(ts: float) -> str:
    """A timestamp as local HH:MM."""
    return time.strftime("%H:%M", time.localtime(ts))


class PaneSet:
    """Every room you are in and every PM conversation, as a Pane with its own transcript.

    `room`, `nick`, `members` and `transcript` are those of the pane you look at;
    `add` puts a line in a pane and counts it there unless it is the one looked at.
    """

    def __init__(self, room: str = "", nick: str = "") -> None:
        self.panes: dict[str, Pane] = {room: Pane(room, nick)}
        self.current = room
        self.unread = 0  # mentions and PMs since I last typed (the status bar's badge)
        self.known_rooms: set[str] = set()  # for Tab: rooms and users seen so far,
        self.known_users: set[str] = set()  # online or not
        self._added: list[Line] = []

    # the pane being looked at

    @property
    def pane(self) -> Pane:
        pane = self.panes.get(self.current)
        if pane is None:
            pane = self.panes[self.current] = Pane(self.current)
        return pane

    @property
    def room(self) -> str:
        """The room looked at ("" in a PM conversation, or before any room)."""
        return "" if self.current.startswith("@") else self.current

    @property
    def nick(self) -> str:
        return self.pane.nick

    @nick.setter
    def nick(self, value: str) -> None:
        self.pane.nick = value

    @property
    def members(self) -> dict[str, str]:
        return self.pane.members

    @members.setter
    def members(self, value: dict[str, str]) -> None:
        self.pane.members = value

    @property
    def transcript(self) -> list[Line]:
        return self.pane.transcript

    @property
    def roles(self) -> dict[str, str]:
        return self.pane.roles

    @property
    def topic(self) -> str:
        return self.pane.topic

    def rooms(self) -> list[Pane]:
        """The rooms you are in, in the order you joined them."""
        return [p for p in self.panes.values() if p.name and not p.is_pm]

    def bar(self) -> list[Pane]:
        """What the room bar shows: rooms, then PM conversations."""
        panes = [p for p in self.panes.values() if p.name]
        return sorted(panes, key=lambda p: p.is_pm)  # stable: joined order within each

    def switch(self, name: str) -> bool:
        """Look at another pane (a room name, "#room", "@user" or a bar number from 1)."""
        bar = self.bar()
        key = name.strip()
        if key.isdigit() and 1 <= int(key) <= len(bar):
            key = bar[int(key) - 1].name
        key = key.lstrip("#").lower() if not key.startswith("@") else key
        if key not in self.panes:
            match = next((p.name for p in bar if p.name.casefold() == key.casefold()), None)
            if match is None:
                return False
            key = match
        self.current = key
        self.pane.unread = self.pane.mentions = 0
        return True

    def cycle(self, step: int) -> None:
        """The next (or previous) pane of the bar."""
        bar = self.bar()
        if not bar:
            return
        names = [p.name for p in bar]
        at = names.index(self.current) if self.current in names else 0
        self.switch(names[(at + step) % len(names)])

    def target(self) -> tuple[str | None, str | None]:
        """Where a typed line goes: (room, None), or (None, user) in a PM conversation."""
        if self.current.startswith("@"):
            return None, self.current[1:]
        return (self.current or None), None

    def learn(self, data: dict | None) -> None:
        """Rooms and users from a reply's data (/list, /users, /who, /whois)."""
        data = data or {}
        if isinstance(data.get("rooms"), dict):
            self.known_rooms.update(str(r) for r in data["rooms"])
        if isinstance(data.get("users"), dict):
            self.known_users.update(str(u) for u in data["users"])
        if isinstance(data.get("accounts"), list):  # /accounts: offline ones too
            self.known_users.update(str(u) for u in data["accounts"])
        for member in data.get("members") or ():
            if isinstance(member, dict) and member.get("user"):
                self.known_users.add(str(member["user"]))
        if isinstance(data.get("whois"), dict) and data["whois"].get("user"):
            self.known_users.add(str(data["whois"]["user"]))

    def completions(self) -> list[str]:
        """Words Tab completes besides commands: nicks here, then users and rooms seen."""
        nicks = list(self.members)
        seen = {n.casefold() for n in nicks}
        users = sorted((u for u in self.known_users if u.casefold() not in seen), key=str.casefold)
        rooms = sorted({*self.known_rooms, *(p.name for p in self.rooms())})
        return [*nicks, *users, *rooms, *("#" + r for r in rooms)]  # "/join #de" too

    def add(self, kind: str, text: str, ts: float | None = None, nick: str = "",
            body: str = "", mention: bool = False, where: str | None = None) -> Line:
        key = self.current if where is None else where
        pane = self.panes.get(key)
        if pane is None:
            pane = self.panes[key] = Pane(key)
        line = Line(kind, text, time.time() if ts is None else ts, nick, body, key, mention)
        if line.wants_attention:
            self.unread += 1
        pane.transcript.append(line)
        if len(pane.transcript) > TRANSCRIPT_MAX:
            del pane.transcript[: len(pane.transcript) - TRANSCRIPT_MAX]
        if key != self.current and kind in COUNTED:
            pane.unread += 1
        if key != self.current and line.wants_attention:
            pane.mentions += 1
        self._added.append(line)
        return line

    def role_of(self, user: str) -> str:
        return self.roles.get(user.casefold(), "")
