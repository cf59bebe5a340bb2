"""Presence that scales: comings and goings in a big room go out batched, one event a pass.

A join told at once to each of 1500 members costs 1500 deliveries; people arriving
at 250 a second would make that 375 000 a second. Batched per short interval, every
member gets one event listing the changes, so the cost of a crowd does not depend on
how it arrives. Small rooms are told at once (nobody waits for a batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gameserver.core.rooms import Room
from gameserver.protocol import Joined, Left, Presence, Renamed

BATCH_MIN = 64  # members a room has before its presence is batched
INTERVAL = 0.25  # seconds a change may wait for the others of its batch, at least ...
MEMBER_FRAMES = 1000.0  # ... and in a bigger room, long enough that its batches cost at
MAX_INTERVAL = 2.0  # most this many member-frames a second (1500 members: every 1.5 s)

Schedule = Callable[[float, Callable[[], None]], Any]


def change_of(event: Joined | Left | Renamed) -> dict[str, str]:
    if isinstance(event, Joined):
        return {"op": "joined", "nick": event.nick, "user": event.user}
    if isinstance(event, Left):
        change = {"op": "left", "nick": event.nick, "user": event.user}
        if event.reason:
            change["reason"] = event.reason
        return change
    return {"op": "renamed", "old": event.old, "new": event.new, "user": event.user}


def interval_for(members: int, least: float = INTERVAL) -> float:
    """How long a big room's changes wait for each other: its presence costs a bounded
    number of frames a second (MEMBER_FRAMES), however fast people come and go."""
    return min(MAX_INTERVAL, max(least, members / MEMBER_FRAMES))


class PresenceBatcher:
    """Tell a room who came, went or was renamed: at once if small, else in a batch.

    `schedule(delay, flush)` is the runtime's timer; without one (in memory) every
    change is told at once unless a test flushes by hand. Each big room's batch has a
    timer of its own, as long as its size asks (interval_for).
    """

    def __init__(self, deliver: Callable[[Room, Any], None], online: Callable[[], int],
                 schedule: Schedule | None = None, *, min_members: int = BATCH_MIN,
                 interval: float = INTERVAL) -> None:
        self.deliver = deliver
        self.online = online
        self.schedule = schedule
        self.min_members = min_members
        self.interval = interval
        self.pending: dict[Room, list[dict[str, str]]] = {}
        self.batches = 0  # events sent for batches (for tests and figures)

    def tell(self, room: Room, event: Joined | Left | Renamed) -> None:
        changes = self.pending.get(room)
        if changes is None:
            if self.schedule is None or len(room.members) < self.min_members:
                self.deliver(room, event)
                return
            changes = self.pending[room] = []
            self.schedule(interval_for(len(room.members), self.interval),
                          lambda: self.flush_room(room))
        changes.append(change_of(event))  # once batching, in order until the flush

    def flush_room(self, room: Room) -> None:
        changes = self.pending.pop(room, None)
        if changes:
            self.batches += 1
            self.deliver(room, Presence(room=room.name, changes=changes, online=self.online()))

    def flush(self) -> None:
        """Every room's batch now (its timer, when it comes, finds nothing)."""
        for room in list(self.pending):
            self.flush_room(room)
