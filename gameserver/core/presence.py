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
INTERVAL = 0.25  # seconds a change may wait for the others of its batch

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


class PresenceBatcher:
    """Tell a room who came, went or was renamed: at once if small, else in a batch.

    `schedule(delay, flush)` is the runtime's timer; without one (in memory) every
    change is told at once unless a test flushes by hand.
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
        self._scheduled = False
        self.batches = 0  # events sent for batches (for tests and figures)

    def tell(self, room: Room, event: Joined | Left | Renamed) -> None:
        changes = self.pending.get(room)
        if changes is None:
            if self.schedule is None or len(room.members) < self.min_members:
                self.deliver(room, event)
                return
            changes = self.pending[room] = []
        changes.append(change_of(event))  # once batching, in order until the flush
        if not self._scheduled:
            self._scheduled = True
            self.schedule(self.interval, self.flush)

    def flush(self) -> None:
        self._scheduled = False
        pending, self.pending = self.pending, {}
        online = self.online()
        for room, changes in pending.items():
            self.batches += 1
            self.deliver(room, Presence(room=room.name, changes=changes, online=online))
