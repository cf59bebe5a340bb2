"""What the core hands to doors: typed events (the protocol's messages, plus room views).

The core never builds bytes. It hands each event to a session's door, and a room's
events to each door once with that door's sinks in the room; a door translates
(JSON Lines frames, IRC lines, a drawn screen) and may encode once for all its sinks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gameserver.protocol import Message, Notice

if TYPE_CHECKING:
    from gameserver.core.rooms import Room

# The typed events are the protocol's server messages (RoomMessage, Joined, Ok ...);
# a door that is not JSON Lines translates them. RoomView and TopicChanged are the
# core's own: the room itself, so a door can list a big room without a copy of it, and a
# topic change with its parts, so a door can say it its own way (IRC's TOPIC line).
Event = Any  # Message | RoomView | TopicChanged


@dataclass(frozen=True, kw_only=True, slots=True)
class RoomView:
    """You are now in `room` as `nick`: its members are `room.members` (read at delivery)."""

    room: Room
    nick: str
    online: int


@dataclass(frozen=True, kw_only=True, slots=True)
class TopicChanged:
    """`by` set the topic of `room` to `topic` ("" cleared it); `text` says so in words."""

    room: str
    by: str
    topic: str
    text: str

    def notice(self) -> Notice:
        """The room notice a door without a topic line of its own shows."""
        return Notice(text=self.text, room=self.room)


class Door(Protocol):
    """What the core needs of a door: hand it events, for one sink or many."""

    def send(self, sink: Any, event: Event) -> None:
        """Deliver one event to one connection of this door."""

    def deliver(self, event: Event, sinks: Sequence[Any]) -> None:
        """Deliver one event to many connections of this door (encode it once)."""

    def confirm(self, sink: Any, msg_id: int) -> None:
        """Deliver `Ok(id=msg_id)` to one connection (a line's ok: the door may encode it
        from the id alone, without the event)."""


M = TypeVar("M", bound=Message)
_DEFAULTS: dict[type, dict[str, Any]] = {}
_new = object.__new__
_set = object.__setattr__


def defaults_of(cls: type[Message]) -> dict[str, Any]:
    """The fields of a message type that have defaults, with them (do not change it)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            f.name: f.default for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING}
    return defaults


def trusted(cls: type[M], /, **fields: Any) -> M:
    """A message the core builds from values it already checked, without re-checking them.

    For the hot path (a chat line and its ack): the constructor's field checks cost
    more than the whole delivery to a member. Fields left out take their defaults.
    (The hub's line delivery does the same inline: `{**defaults_of(cls), ...}` as the
    instance's __dict__.)
    """
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = defaults_of(cls)
    if defaults:
        fields = {**defaults, **fields}
    message = _new(cls)
    _set(message, "__dict__", fields)  # the keyword dict is the instance's own: no copy
    return message
