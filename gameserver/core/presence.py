"""Presence that scales: comings and goings in a big room go out batched, one event a pass.

A join told at once to each of 1500 members costs 1500 deliveries; people arriving
at 250 a second would make that 375 000 a second. Batched, every member gets one
event listing the changes, so the cost of a crowd does not depend on how it arrives:
a big room's batch waits until it holds enough changes that each costs at most
FRAMES_PER_CHANGE member-frames (and at least as long as the room's frame budget
asks), or MAX_WAIT at the most. Small rooms are told at once (nobody waits for a
batch). Only the notices wait: the room's roster (`room.members`) changes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gameserver.core.rooms import Room
from gameserver.protocol import Joined, Left, Presence, Renamed

BATCH_MIN = 64  # members a room has before its presence is batched
INTERVAL = 0.25  # seconds a change waits for the others of its batch, at least ...
MEMBER_FRAMES = 1000.0  # ... and in a bigger room, long enough that its batches cost at
MAX_INTERVAL = 2.0  # most this many member-frames a second (1500 members: every 1.5 s)
# Then a batch goes out once it holds members/FRAMES_PER_CHANGE changes (each change
# costs the room at most this many member-frames: in a crowd of any rate as in a burst),
FRAMES_PER_CHANGE = 4.0
# ... or MAX_WAIT seconds after its first change, never later: below members /
# (FRAMES_PER_CHANGE * MAX_WAIT) changes a second (75/s in a room of 1500) a change
# costs more, members / (rate * MAX_WAIT) frames, and a join's notice is this late.
MAX_WAIT = 5.0

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
    """How long a big room's changes wait for each other at least: its presence costs
    a bounded number of frames a second (MEMBER_FRAMES), however fast people come and go."""
    return min(MAX_INTERVAL, max(least, members / MEMBER_FRAMES))


def enough(members: int, changes: int) -> bool:
    """Whether a batch of `changes` is worth its members' frames (FRAMES_PER_CHANGE)."""
    return members <= changes * FRAMES_PER_CHANGE


class _Batch:
    """One big room's changes waiting to be told, in order."""

    __slots__ = ("changes", "ripe")

    def __init__(self) -> None:
        self.changes: list[dict[str, str]] = []
        self.ripe = False  # its least interval has passed: out as soon as it is enough


class PresenceBatcher:
    """Tell a room who came, went or was renamed: at once if small, else in a batch.

    `schedule(delay, flush)` is the runtime's timer; without one (in memory) every
    change is told at once unless a test flushes by hand. A big room's batch has two
    timers of its own: at interval_for(members) it goes out if it is `enough`, else
    it goes out with the change that makes it so, or at MAX_WAIT after its first
    change, whichever comes first.
    """

    def __init__(self, deliver: Callable[[Room, Any], None], online: Callable[[], int],
                 schedule: Schedule | None = None, *, min_members: int = BATCH_MIN,
                 interval: float = INTERVAL) -> None:
        self.deliver = deliver
        self.online = online
        self.schedule = schedule
        self.min_members = min_members
        self.interval = interval
        self.pending: dict[Room, _Batch] = {}
        self.batches = 0  # events sent for batches (for tests and figures)

    def tell(self, room: Room, event: Joined | Left | Renamed) -> None:
        batch = self.pending.get(room)
        if batch is None:
            if self.schedule is None or len(room.members) < self.min_members:
                self.deliver(room, event)
                return
            batch = self.pending[room] = _Batch()
            least = interval_for(len(room.members), self.interval)
            self.schedule(least, lambda: self._ripe(room, batch, least))
        batch.changes.append(change_of(event))  # once batching, in order until the flush
        if batch.ripe and enough(len(room.members), len(batch.changes)):
            self.flush_room(room)

    def _ripe(self, room: Room, batch: _Batch, waited: float) -> None:
        if self.pending.get(room) is not batch:  # went out already
            return
        if waited >= MAX_WAIT or enough(len(room.members), len(batch.changes)):
            self.flush_room(room)
            return
        batch.ripe = True
        self._due(room, batch, MAX_WAIT - waited)

    def _due(self, room: Room, batch: _Batch, delay: float) -> None:
        assert self.schedule is not None

        def due() -> None:
            if self.pending.get(room) is batch:
                self.flush_room(room)

        self.schedule(delay, due)

    def flush_room(self, room: Room) -> None:
        batch = self.pending.pop(room, None)
        if batch is not None and batch.changes:
            self.batches += 1
            self.deliver(room, Presence(room=room.name, changes=batch.changes,
                                        online=self.online()))

    def flush(self) -> None:
        """Every room's batch now (its timers, when they come, find nothing)."""
        for room in list(self.pending):
            self.flush_room(room)
