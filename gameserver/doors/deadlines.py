"""A door's deadlines by the quarter second: a tick visits only the connections that are due.

Walking every connection once a second cost a server with 1500 idle clients 1500 visits
a second for deadlines that come once a minute (a ping after `ping_after` seconds of
quiet). Here each connection waits in the bucket of its next deadline (GRAIN seconds
wide); a tick takes the buckets whose time has come and the few connections whose
deadlines are not known yet (before login: the hello and login deadlines, visited every
tick as before). An idle, logged-in, recently heard connection costs nothing per tick.
A bucket is a list (8 bytes a connection; one that goes is taken out of its list, a
C-speed scan of one bucket), the few not logged in a set.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable
from typing import Final, Literal, Protocol

GRAIN = 0.25  # seconds a bucket spans; at most one tick, so nothing is visited late
EVERY_TICK = 0.0  # a visit's answer: visit again at the next tick
NEVER = math.inf  # ... or never (the connection is gone)

# What a visit does about a quiet logged-in connection (keepalive's answer).
WAIT: Final = "wait"
PING: Final = "ping"
DROP: Final = "drop"
Keepalive = Literal["wait", "ping", "drop"]


def keepalive(now: float, quiet_since: float, pinged_at: float, ping_after: float,
              ping_timeout: float) -> tuple[Keepalive, float]:
    """A logged-in connection's ping rule at a visit: what to do now, and when it is next due.

    `quiet_since` is its last read; `pinged_at` when its ping was sent (0: none since the
    last read; the door clears it when anything arrives). The ping is due `ping_after`
    after the last read; the drop `ping_timeout` after the ping was SENT, not after it
    was due: a visit comes at a tick (up to a tick after the deadline, later on a busy
    loop), and a timeout counted from the due time could fall due at the very visit that
    sends the ping, or just after it, dropping a client that answers every ping.
    """
    if not pinged_at:
        ping_at = quiet_since + ping_after
        if now < ping_at:
            return WAIT, ping_at
        return PING, now + ping_timeout  # never dropped at the visit that pings
    drop_at = pinged_at + ping_timeout
    if now < drop_at:
        return WAIT, drop_at
    return DROP, EVERY_TICK


class Timed(Protocol):
    """What waits for a deadline: the bucket it waits in (the wheel's to keep)."""

    waits_in: set[Timed] | list[Timed] | None


class Deadlines:
    """Connections by their next deadline: `due(now)` says whom a tick visits.

    A visit answers with the time of the connection's next deadline (`place`): EVERY_TICK,
    a time, or NEVER. A bucket may come due up to GRAIN before a deadline in it: its
    connection is visited early, answers the same time, and is visited again at the
    next tick, so a deadline fires at the first tick at or after it, as when every
    connection was visited every tick.
    """

    __slots__ = ("every", "_buckets", "_keys", "grain")

    def __init__(self, grain: float = GRAIN) -> None:
        self.grain = grain
        self.every: set[Timed] = set()  # visited every tick (deadlines not known yet)
        self._buckets: dict[int, list[Timed]] = {}  # by floor(deadline / grain)
        self._keys: list[int] = []  # the buckets' keys, a heap

    def __len__(self) -> int:
        return len(self.every) + sum(len(bucket) for bucket in self._buckets.values())

    def place(self, item: Timed, when: float) -> None:
        """`item`'s next deadline is `when` (EVERY_TICK, a time, or NEVER)."""
        if when == NEVER:
            self.forget(item)
            return
        old = item.waits_in
        if when == EVERY_TICK:
            if old is not self.every:
                self.forget(item)
                self.every.add(item)
                item.waits_in = self.every
            return
        key = int(when // self.grain)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            heapq.heappush(self._keys, key)
        elif old is bucket:
            return
        if old is not None:
            self.forget(item)
        bucket.append(item)
        item.waits_in = bucket

    def forget(self, item: Timed) -> None:
        """`item` has no deadlines any more (it is gone)."""
        old = item.waits_in
        if old is not None:
            item.waits_in = None
            if type(old) is set:
                old.discard(item)
            else:
                old.remove(item)  # type: ignore[union-attr]

    def visit(self, now: float, check: Callable[[Timed], float], what: str,
              log: logging.Logger) -> None:
        """A tick: `check` each connection due at `now`, which answers when it is next due.

        A check that fails (a bug of ours) is logged (`what` of its label failed) and is
        visited again at the next tick:
        it must not lose its own deadlines, nor those of the others still to visit.
        """
        place = self.place
        for item in self.due(now):
            try:
                when = check(item)
            except Exception as exc:
                log.error("%s of %s failed: %r", what, getattr(item, "label", "?"), exc)
                when = EVERY_TICK
            place(item, when)

    def due(self, now: float) -> list[Timed]:
        """Everyone to visit at `now`: taken out of their buckets (a visit places them again)."""
        visit = list(self.every)
        keys, buckets, grain = self._keys, self._buckets, self.grain
        while keys and keys[0] * grain <= now:
            bucket = buckets.pop(heapq.heappop(keys))
            for item in bucket:
                item.waits_in = None
            visit.extend(bucket)
        return visit
