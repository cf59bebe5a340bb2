"""Sessions and rooms as the hub sees them, and the room frames built once for fan-out."""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gameserver.protocol import MAX_FRAME, MemberPage, Message, RoomState, paginate


@dataclass(eq=False)
class Session:
    """One connection, as the hub sees it; `send` and `close` are the front door's."""

    send: Callable[[bytes], None]
    close: Callable[[str], None]
    peer: str = ""
    user: str | None = None
    nick: str = ""
    room: Room | None = None
    greeted: bool = False
    busy: bool = False  # a login is being checked
    closed: bool = False
    login_failures: int = 0
    bad_frames: int = 0


class Members(dict[str, Session]):
    """A room's members (nick key -> session), with the open ones' send functions at hand.

    deliver_to_room calls every member's send for every message: the list of them is
    kept up to date as members come, go and close, so a message costs one call per
    member and nothing else. (A send must not change the room it is called for.)
    """

    __slots__ = ("sends",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sends: list[Callable[[bytes], None]] = [
            s.send for s in self.values() if not s.closed]

    def closing(self, session: Session) -> None:
        """`session` is closed: no more deliveries to it, though it is still listed."""
        try:
            self.sends.remove(session.send)
        except ValueError:  # already off the list
            pass

    def __setitem__(self, key: str, value: Session) -> None:
        old = self.get(key)
        if old is not None:
            self.closing(old)
        super().__setitem__(key, value)
        if not value.closed:
            self.sends.append(value.send)

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
        self.sends.clear()

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


_quote = json.encoder.encode_basestring  # what encode() uses for str (ensure_ascii=False)


def room_msg_frame(room: str, nick: str, user: str, text: str, ts: float) -> bytes:
    """encode(RoomMessage(...)) without building the message: the hottest frame."""
    return (f'{{"type":"room_msg","room":{_quote(room)},"nick":{_quote(nick)},'
            f'"user":{_quote(user)},"text":{_quote(text)},"ts":{ts!r}}}\n').encode()


def _member_json(s: Session) -> str:
    return f'{{"nick":{_quote(s.nick)},"user":{_quote(s.user or "")}}}'


# room -> (its member keys, their encoded list, the last member's nick and user), so a
# newcomer to a big room costs a comparison and an append, not re-encoding everyone.
_MEMBERS_SEEN: weakref.WeakKeyDictionary[Room, tuple[tuple[str, ...], str, tuple[Any, Any]]] = (
    weakref.WeakKeyDictionary())


def _members_json(room: Room) -> str:
    """The room's members as encoded JSON list items, reusing what was encoded before.

    A member in the middle cannot change (leave, or be renamed) without changing the
    order of keys; only the last one can, which is why its nick and user are checked.
    """
    keys = tuple(room.members)
    seen = _MEMBERS_SEEN.get(room)
    members = room.members
    if seen is not None:
        old_keys, encoded, last = seen
        n = len(old_keys)
        if n and len(keys) >= n and (keys if len(keys) == n else keys[:n]) == old_keys:
            old_last = members[old_keys[-1]]
            if (old_last.nick, old_last.user) == last:
                if len(keys) > n:
                    encoded += "," + ",".join(_member_json(members[k]) for k in keys[n:])
                    new_last = members[keys[-1]]
                    _MEMBERS_SEEN[room] = (keys, encoded, (new_last.nick, new_last.user))
                return encoded
    encoded = ",".join(_member_json(s) for s in members.values())
    if keys:
        last_member = members[keys[-1]]
        _MEMBERS_SEEN[room] = (keys, encoded, (last_member.nick, last_member.user))
    return encoded


def room_state_frames(room: Room, nick: str, online: int) -> list[bytes | Message]:
    """encode(RoomState(...)) for the one entering `room`, without re-encoding everyone.

    A list too long for one frame is sent in pages: a `room` frame with `more`, then
    `members` frames, each well inside the frame limit.
    """
    frame = (f'{{"type":"room","room":{_quote(room.name)},"nick":{_quote(nick)},'
             f'"members":[{_members_json(room)}],"online":{online}}}\n').encode()
    if len(frame) - 1 <= MAX_FRAME:
        return [frame]
    pages = paginate([{"nick": s.nick, "user": s.user} for s in room.members.values()])
    first: list[bytes | Message] = [
        RoomState(room=room.name, nick=nick, online=online, members=pages[0], more=True)]
    return first + [MemberPage(room=room.name, members=page, last=i == len(pages) - 1)
                    for i, page in enumerate(pages[1:], start=1)]
