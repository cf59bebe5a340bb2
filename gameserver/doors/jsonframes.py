"""The JSON Lines door's encoder: the core's events as frames, the hot ones built by hand."""

from __future__ import annotations

import json
import weakref
from typing import Any

from gameserver.core.events import Event, RoomView, TopicChanged
from gameserver.core.rooms import Room, Session
from gameserver.protocol import (
    MAX_FRAME,
    GameList,
    MemberPage,
    Message,
    Ok,
    Presence,
    RoomMessage,
    RoomState,
    Welcome,
    paginate,
)
from gameserver.protocol import encode as encode_message

_quote = json.encoder.encode_basestring  # what encode() uses for str (ensure_ascii=False)
# What every hello is answered with: the core sends one event object each time (its
# welcome, the game list), encoded here once. Kept with the event itself, so the key
# (its id) cannot be another object's while it is here; a new event replaces it.
_GREETINGS = (Welcome, GameList)
_greeted: dict[type, tuple[Event, bytes]] = {}


def encode_event(event: Event) -> bytes:
    """One event as the bytes of its frame(s); the same bytes serve every recipient."""
    kind = type(event)
    if kind is RoomMessage:  # (JSONLinesDoor.deliver makes these bytes itself)
        return room_msg_frame(event.room, event.nick, event.user, event.text, event.ts)
    if kind is Ok and event.text is None and event.lines is None and event.data is None \
            and type(event.id) is int:
        return b'{"type":"ok","id":%d}\n' % event.id
    if kind is TopicChanged:  # the play protocol says it as the room notice it always was
        return encode_message(event.notice())
    if kind is RoomView:
        return b"".join(f if isinstance(f, bytes) else encode_message(f)
                        for f in room_state_frames(event.room, event.nick, event.online))
    if kind is Presence:
        return presence_frames(event)
    if kind in _GREETINGS:
        seen = _greeted.get(kind)
        if seen is None or seen[0] is not event:
            seen = _greeted[kind] = (event, encode_message(event))
        return seen[1]
    return encode_message(event)


def presence_frames(event: Presence) -> bytes:
    """A presence batch as one frame, or in order as several if one would be over the limit.

    A big room's batch holds whatever came and went in its interval: 1500 people
    dropped at once (a network blip) are ~100 KB of changes, which no client may read
    as one frame. Each part is an ordinary `presence` frame; a client applies them in turn.
    """
    data = json.dumps(event.to_wire(), ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) <= MAX_FRAME:
        return data + b"\n"
    return b"".join(encode_message(Presence(room=event.room, changes=page, online=event.online))
                    for page in paginate(event.changes))


def room_msg_frame(room: str, nick: str, user: str, text: str, ts: float) -> bytes:
    """encode(RoomMessage(...)) without building the message: the hottest frame."""
    return (f'{{"type":"room_msg","room":{_quote(room)},"nick":{_quote(nick)},'
            f'"user":{_quote(user)},"text":{_quote(text)},"ts":{ts!r}}}\n').encode()


def _member_json(s: Session, room: str) -> str:
    return f'{{"nick":{_quote(s.nick_in(room))},"user":{_quote(s.user or "")}}}'


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
    name = room.name
    seen = _MEMBERS_SEEN.get(room)
    members = room.members
    if seen is not None:
        old_keys, encoded, last = seen
        n = len(old_keys)
        if n and len(keys) >= n and (keys if len(keys) == n else keys[:n]) == old_keys:
            old_last = members[old_keys[-1]]
            if (old_last.nick_in(name), old_last.user) == last:
                if len(keys) > n:
                    encoded += "," + ",".join(_member_json(members[k], name) for k in keys[n:])
                    new_last = members[keys[-1]]
                    _MEMBERS_SEEN[room] = (keys, encoded, (new_last.nick_in(name), new_last.user))
                return encoded
    encoded = ",".join(_member_json(s, name) for s in members.values())
    if keys:
        last_member = members[keys[-1]]
        _MEMBERS_SEEN[room] = (keys, encoded, (last_member.nick_in(name), last_member.user))
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
    pages = paginate([{"nick": n, "user": u} for n, u in room.roster()])
    first: list[bytes | Message] = [
        RoomState(room=room.name, nick=nick, online=online, members=pages[0], more=True)]
    return first + [MemberPage(room=room.name, members=page, last=i == len(pages) - 1)
                    for i, page in enumerate(pages[1:], start=1)]
