"""Sessions and rooms as the core sees them; a room keeps its members' door sinks at hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gameserver.core.events import Door


@dataclass(eq=False, slots=True)  # one per connection: no __dict__ each
class Session:
    """One connection, as the core sees it.

    `door` translates the core's events for this connection's wire; `sink` is the
    door's own handle for it (opaque here: the core only hands it back to the door);
    `close` is the door's.
    """

    door: Door
    sink: Any
    close: Callable[[str], None]
    peer: str = ""
    user: str | None = None
    home_nick: str = ""  # the nick wanted where no room says otherwise (a new room's)
    room: Room | None = None  # the room being looked at: where a line goes by default
    rooms: dict[str, Room] = field(default_factory=dict)  # every room it is in, in order
    nicks: dict[str, str] = field(default_factory=dict)  # room name -> its nick there
    greeted: bool = False
    guest: bool = False  # logged in without an account (the classic door's guests)
    busy: bool = False  # a login is being checked
    closed: bool = False
    login_failures: int = 0
    bad_frames: int = 0
    cancel_work: Callable[[], Any] | None = None  # of its password check, while one runs
    token: bytes | None = None  # its resume token's digest and expiry (logins.kept_token)
    owed: int = 0  # what its own requests wait for in the store (its later replies wait too)
    holds: int = 0  # answers its requests still wait for (look-ups, the cluster): turns.py
    queued: Any = None  # a deque of what it sent meanwhile, waiting its turn (or None)

    @property
    def nick(self) -> str:
        """The nick in the room being looked at (nicks are per room)."""
        room = self.room
        if room is not None:
            nick = self.nicks.get(room.name)
            if nick is not None:
                return nick
        return self.home_nick

    @nick.setter
    def nick(self, value: str) -> None:
        room = self.room
        if room is not None and room.name in self.nicks:
            self.nicks[room.name] = value
        else:
            self.home_nick = value

    def nick_in(self, room: str) -> str:
        """The nick in `room` (the wanted one if not in it)."""
        return self.nicks.get(room, self.home_nick)

    def place(self) -> dict[str, Any]:
        """Where it is: its rooms [name, nick] in order, and the one it looks at."""
        return {"rooms": [[name, self.nicks.get(name, self.home_nick)] for name in self.rooms],
                "room": self.room.name if self.room is not None else None}


class Members(dict[str, Session]):
    """A room's members (nick key -> session), with the open ones' sinks at hand per door.

    deliver_to_room hands every event to each door once, with the list of that door's
    sinks in the room: the lists are kept up to date as members come, go and close, so
    an event costs one encoding per door and one call per member. (Delivering must not
    change the room it is called for.)
    """

    __slots__ = ("sinks",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sinks: dict[Door, list[Any]] = {}
        for s in self.values():
            if not s.closed:
                self.sinks.setdefault(s.door, []).append(s.sink)

    def closing(self, session: Session) -> None:
        """`session` is closed: no more deliveries to it, though it is still listed."""
        sinks = self.sinks.get(session.door)
        if sinks is None:
            return
        try:
            sinks.remove(session.sink)
        except ValueError:  # already off the list
            return
        if not sinks:
            del self.sinks[session.door]

    def __setitem__(self, key: str, value: Session) -> None:
        old = self.get(key)
        if old is not None:
            self.closing(old)
        super().__setitem__(key, value)
        if not value.closed:
            sinks = self.sinks.get(value.door)
            if sinks is None:
                sinks = self.sinks[value.door] = []
            sinks.append(value.sink)

    def __delitem__(self, key: str) -> None:
        self.closing(self[key])
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.closing(self[key])
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Session]:
        key, value = super().popitem()
        self.closing(value)
        return key, value

    def clear(self) -> None:
        super().clear()
        self.sinks.clear()

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> Members:  # type: ignore[override,misc]
        self.update(other)
        return self


@dataclass(eq=False)
class Room:
    name: str
    members: Members = field(default_factory=Members)  # nick key -> session

    def sessions(self) -> list[Session]:
        return list(self.members.values())

    def roster(self) -> list[tuple[str, str]]:
        """(nick here, username) of every member, in the order they came."""
        name = self.name
        return [(s.nicks.get(name, s.home_nick), s.user or "") for s in self.members.values()]
