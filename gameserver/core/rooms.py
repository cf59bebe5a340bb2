"""Sessions and rooms as the core sees them; a room keeps its members' door sinks at hand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gameserver.core.events import Door


# Shared by every session with no room where its nick differs: a plain dict, not a
# MappingProxyType, because the say path reads it (a proxy's get costs ~30 ns more).
# Only Session's methods write `_nicks`, and they replace this one, never change it.
_NO_NICKS: dict[str, str] = {}


class _Seldom:
    """What few sessions ever set (Session's properties of the same names)."""

    __slots__ = ("guest", "login_failures", "bad_frames", "cancel_work")

    def __init__(self) -> None:
        self.guest = False
        self.login_failures = 0
        self.bad_frames = 0
        self.cancel_work: Callable[[], Any] | None = None

    def is_default(self) -> bool:
        return not (self.guest or self.login_failures or self.bad_frames
                    or self.cancel_work is not None)


_NOTHING_SELDOM = _Seldom()


@dataclass(eq=False, slots=True)  # one per connection: no __dict__ each
class Session:
    """One connection, as the core sees it.

    `door` translates the core's events for this connection's wire; `sink` is the
    door's own handle for it (opaque here: the core only hands it back to the door);
    `close` is the door's.

    Its rooms and its nick in each are read and written only through the methods below
    (`in_room`, `joined`, `enter`, `leave`, `nick_in`, `rename_in`, `want_nick`), so what
    "in a room" means cannot drift between the hub, the cluster's proxies and the doors.
    They cost nothing in the common case: one room is kept as the `Room` itself (a dict
    only from the second), and a nick only where it differs from `home_nick`.
    """

    door: Door
    sink: Any
    close: Callable[[str], None]
    peer: str = ""
    user: str | None = None
    # The nick in every room that does not say otherwise, and a new room's: changed only
    # through want_nick (which pins the rooms' nicks first), never assigned while in rooms.
    home_nick: str = ""
    room: Room | None = None  # the room being looked at (one of its rooms): a line's default
    _rooms: Room | dict[str, Room] | None = field(default=None, init=False, repr=False)
    _nicks: dict[str, str] = field(default_factory=lambda: _NO_NICKS, init=False, repr=False)
    greeted: bool = False
    busy: bool = False  # a login is being checked
    closed: bool = False
    # guest, login_failures, bad_frames, cancel_work: seldom set, kept on a side object
    # made when one is (see the properties below), not in four slots of every session
    _seldom: _Seldom | None = field(default=None, init=False, repr=False)
    token_expires: float | None = None  # its resume token's: the token is made from it again
    owed: int = 0  # what its own requests wait for in the store (its later replies wait too)
    holds: int = 0  # answers its requests still wait for (look-ups, the cluster): turns.py
    queued: Any = None  # a deque of what it sent meanwhile, waiting its turn (or None)

    @property
    def nick(self) -> str:
        """The nick in the room being looked at (nicks are per room)."""
        room = self.room
        if room is not None:
            return self._nicks.get(room.name, self.home_nick)
        return self.home_nick

    @nick.setter
    def nick(self, value: str) -> None:
        room = self.room
        if room is not None and self.in_room(room.name):
            self.rename_in(room.name, value)
        else:
            self.want_nick(value)

    # ------------------------------------------------------------ seldom set

    @property
    def guest(self) -> bool:
        """Logged in without an account (the classic door's guests)."""
        seldom = self._seldom
        return seldom is not None and seldom.guest

    @guest.setter
    def guest(self, value: bool) -> None:
        self._set_seldom("guest", value)

    @property
    def login_failures(self) -> int:
        seldom = self._seldom
        return 0 if seldom is None else seldom.login_failures

    @login_failures.setter
    def login_failures(self, value: int) -> None:
        self._set_seldom("login_failures", value)

    @property
    def bad_frames(self) -> int:
        seldom = self._seldom
        return 0 if seldom is None else seldom.bad_frames

    @bad_frames.setter
    def bad_frames(self, value: int) -> None:
        self._set_seldom("bad_frames", value)

    @property
    def cancel_work(self) -> Callable[[], Any] | None:
        """Cancels its password check, while one runs."""
        seldom = self._seldom
        return None if seldom is None else seldom.cancel_work

    @cancel_work.setter
    def cancel_work(self, value: Callable[[], Any] | None) -> None:
        self._set_seldom("cancel_work", value)

    def _set_seldom(self, name: str, value: Any) -> None:
        seldom = self._seldom
        if seldom is None:
            if value == getattr(_NOTHING_SELDOM, name):
                return
            seldom = self._seldom = _Seldom()
        setattr(seldom, name, value)
        if seldom.is_default():  # back to nothing (a check done): the object goes
            self._seldom = None

    # ------------------------------------------------------------ its rooms

    def in_room(self, name: str) -> bool:
        """Is it in the room called `name`?"""
        rooms = self._rooms
        if rooms is None:
            return False
        if type(rooms) is dict:
            return name in rooms
        return rooms.name == name  # type: ignore[union-attr]

    def room_named(self, name: str) -> Room | None:
        """Its room called `name`, or None if it is not in one."""
        rooms = self._rooms
        if rooms is None:
            return None
        if type(rooms) is dict:
            return rooms.get(name)
        return rooms if rooms.name == name else None  # type: ignore[union-attr,return-value]

    def joined(self) -> tuple[Room, ...]:
        """Every room it is in, in the order it entered them."""
        rooms = self._rooms
        if rooms is None:
            return ()
        if type(rooms) is dict:
            return tuple(rooms.values())
        return (rooms,)  # type: ignore[return-value]

    def room_names(self) -> list[str]:
        """The names of its rooms, in the order it entered them."""
        return [room.name for room in self.joined()]

    def room_count(self) -> int:
        rooms = self._rooms
        if rooms is None:
            return 0
        return len(rooms) if type(rooms) is dict else 1  # type: ignore[arg-type]

    def nick_in(self, room: str) -> str:
        """The nick in `room` (the wanted one if not in it)."""
        return self._nicks.get(room, self.home_nick)

    def nicks(self) -> dict[str, str]:
        """Room name -> its nick there, for every room it is in, in order."""
        nicks, home = self._nicks, self.home_nick
        return {room.name: nicks.get(room.name, home) for room in self.joined()}

    def enter(self, room: Room, nick: str) -> None:
        """It is now in `room` as `nick` (the caller puts it in the room's members)."""
        name, rooms = room.name, self._rooms
        if rooms is None:
            self._rooms = room
        elif type(rooms) is dict:
            rooms[name] = room
        elif rooms.name != name:  # type: ignore[union-attr]
            self._rooms = {rooms.name: rooms, name: room}  # type: ignore[union-attr,dict-item]
        self._set_nick(name, nick)

    def rename_in(self, name: str, nick: str) -> None:
        """Its nick in its room `name` is now `nick`."""
        assert self.in_room(name), name
        self._set_nick(name, nick)

    def leave(self, name: str) -> str | None:
        """It is out of the room `name`: the nick it had there (None if it was not in it).

        The room it looks at becomes the last one it entered if it was that one.
        """
        rooms = self._rooms
        if rooms is None or not self.in_room(name):
            return None
        nick = self.nick_in(name)
        nicks = self._nicks
        if name in nicks:
            if len(nicks) == 1:
                self._nicks = _NO_NICKS
            else:
                del nicks[name]
        if type(rooms) is dict:
            del rooms[name]
            if len(rooms) == 1:
                self._rooms = next(iter(rooms.values()))
        else:
            self._rooms = None
        room = self.room
        if room is not None and room.name == name:
            left = self.joined()
            self.room = left[-1] if left else None
        return nick

    def want_nick(self, value: str) -> None:
        """The nick a new room takes (`home_nick`); its rooms keep the nicks they have."""
        if value == self.home_nick:
            return
        old, nicks = self.home_nick, self._nicks
        pinned = {room.name: nicks.get(room.name, old) for room in self.joined()}
        self.home_nick = value
        self._nicks = _NO_NICKS
        for name, nick in pinned.items():
            self._set_nick(name, nick)

    def _set_nick(self, name: str, nick: str) -> None:
        nicks = self._nicks
        if nick == self.home_nick:  # said by home_nick: no entry
            if name in nicks:
                if len(nicks) == 1:
                    self._nicks = _NO_NICKS
                else:
                    del nicks[name]
        elif nicks is _NO_NICKS:
            self._nicks = {name: nick}
        else:
            nicks[name] = nick

    def place(self) -> dict[str, Any]:
        """Where it is: its rooms [name, nick] in order, and the one it looks at."""
        return {"rooms": [[room.name, self.nick_in(room.name)] for room in self.joined()],
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
        return [(s.nick_in(name), s.user or "") for s in self.members.values()]
