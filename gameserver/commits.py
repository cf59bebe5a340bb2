"""Commit scheduling: the hub's queue committed once per pass, grouped in a crowd, retried."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from gameserver.store import StorageError

store_log = logging.getLogger("play.store")  # commit incidents are the store's

PATIENCE = 1.0  # seconds a failing commit is retried before its messages are refused
# A login's commit (no message in it) waits until this long after the last commit, so that
# a crowd arriving at a few hundred a second shares transactions (see CommitSchedule.request);
# in a crowd, also until this long after the listener's last take of connections, so that a
# group's stragglers (whose frames come a pass or two after the others') share its commit.
GROUP_COMMIT = 0.025
# ... unless that is at most this much away: the listener takes a crowd's connections
# GROUP_COMMIT apart too (listener.ACCEPT_GROUP), and a group's commit runs in the same
# wake-up as its accepts instead of a few milliseconds later in one of its own.
GROUP_SLACK = 0.005
# A crowd's group commits once its logins are in: the loop passes after a take are counted,
# and once SETTLE_QUIET of them in a row brought no new confirmation to wait for (its
# resumes were read in the first few), the lazy commit runs in that pass instead of at
# its GROUP_COMMIT timer (a wake-up of its own: ~0.4 ms of a paced crowd's CPU a group).
# After SETTLE_PASSES passes the timer is left to it (a TLS handshake, a slow client).
SETTLE_QUIET = 3
SETTLE_PASSES = 24
RETRY_EVERY = 0.1  # seconds between retries while the store fails
# False: lazy commits wait only for the last commit, not for a crowd's last take (an
# ablation for load.py --server-set FOLLOW_ACCEPTS=False: what following the takes saves).
FOLLOW_ACCEPTS = True


class Committer(Protocol):
    """The hub's side: commit what is queued (False if the store failed), or refuse it."""

    storage_error: str

    def commit(self) -> bool: ...
    def refuse_pending(self) -> int: ...
    # ... or a commit written elsewhere (a store thread): take it, then say it is done
    def take_commit(self) -> Any: ...
    def commit_done(self, ids: Any, error: StorageError | None) -> bool: ...


# Writes a batch off the loop, then calls done(ids, error) on the loop.
Writer = Callable[[Any, Callable[[Any, "StorageError | None"], None]], None]


class CommitSchedule:
    """Commits the hub's queue once per loop pass; rides out a failing store.

    A failing commit keeps everything queued (nothing is confirmed) and is retried
    every RETRY_EVERY seconds; what arrives meanwhile joins the same batch, so its
    senders see their confirmation late, never a wrong one. Past PATIENCE the queued
    messages are refused (each sender gets an `error` with code `storage`) and the
    next batch starts afresh. An incident (from the first failure to the next commit
    that works) is logged once when it starts and once when it ends, never per message.
    """

    def __init__(self, hub: Committer, loop: asyncio.AbstractEventLoop,
                 after: Callable[[], None], *, patience: float = PATIENCE,
                 retry_every: float = RETRY_EVERY,
                 clock: Callable[[], float] = time.monotonic,
                 writer: Writer | None = None,
                 news: Callable[[bool], None] | None = None) -> None:
        self.hub = hub
        self.news = news  # told False when an incident starts, True when it ends
        self.writer = writer  # None: the store commits on the loop (SQLite, in-process)
        self._writing = False  # a batch is being written off the loop
        self._again = False  # ... and more was queued meanwhile
        self._idle: asyncio.Event | None = None
        self.loop = loop
        self.after = after  # the front door flushes what the commit released
        self.patience = patience
        self.retry_every = retry_every
        self.clock = clock
        self._soon = False
        self._grouped: asyncio.TimerHandle | None = None  # a lazy commit waiting for company
        self._last = -GROUP_COMMIT  # when the last commit ran (clock)
        self._take = -GROUP_COMMIT  # when a listener last took a crowd's connections (clock)
        self._settling = 0  # loop passes counted since a crowd's take (0: not counting)
        self._settle_seen = 0  # the hub's waiting confirmations at the last pass
        self._settle_quiet = 0  # passes in a row that brought none new
        self._retry: asyncio.TimerHandle | None = None
        self._failing_since: float | None = None  # this round of retries
        self._incident_since: float | None = None
        self.incidents = 0
        self.refused = 0  # messages refused in the current incident
        self.refused_total = 0

    @property
    def failing(self) -> bool:
        return self._incident_since is not None

    def follow(self, listener: Any) -> None:
        """Group lazy commits as `listener` groups its accepts: it calls `taken` after
        each take of connections (its `on_take`)."""
        if FOLLOW_ACCEPTS:
            listener.on_take = self.taken

    def taken(self, crowd: bool) -> None:
        """A listener took connections; `crowd`: more are coming (its accepts are grouped).
        Their logins come in the next few passes: a lazy commit waits for all of them."""
        if crowd:
            self._take = self.clock()
            if SETTLE_PASSES and not self._settling:
                self._settling = 1
                self._settle_seen = self._waiting()
                self._settle_quiet = 0
                self.loop.call_soon(self._settle)

    def _waiting(self) -> int:
        return int(getattr(self.hub, "waiting", 0))

    def _settle(self) -> None:
        """A pass after a crowd's take: commit the group once its logins have come in."""
        waiting = self._waiting()
        if waiting != self._settle_seen:
            self._settle_seen = waiting
            self._settle_quiet = 0
        else:
            self._settle_quiet += 1
        if self._grouped is not None and self._settle_quiet >= SETTLE_QUIET:
            self._settling = 0
            self.run()
            return
        self._settling += 1
        if self._settling > SETTLE_PASSES:
            self._settling = 0  # the GROUP_COMMIT timer commits what came
            return
        self.loop.call_soon(self._settle)

    def request(self, lazy: bool = False) -> None:
        """Something was queued: commit at the end of this pass (or at the next retry).

        `lazy` (logins, moves between rooms; never a message): if the last commit ran
        less than GROUP_COMMIT ago, or a crowd's connections were taken less than that
        ago (`taken`), wait until GROUP_COMMIT after it (unless that is within
        GROUP_SLACK), so that people arriving a few milliseconds apart share one
        transaction instead of one each: a group of a crowd, its stragglers too, shares
        one. Anything not lazy queued meanwhile commits them all at once. A lone login
        on a quiet server does not wait at all.
        """
        if self._soon or self._retry is not None:
            return
        if self._grouped is not None:
            if lazy:
                return
            self._grouped.cancel()
            self._grouped = None
        elif lazy:
            last = self._last if self._last > self._take else self._take
            wait = last + GROUP_COMMIT - self.clock()
            if wait > GROUP_SLACK:
                self._grouped = self.loop.call_later(wait, self.run)
                return
        self._soon = True
        self.loop.call_soon(self.run)

    def run_backlog(self) -> None:
        """Commit now, mid-pass (the hub's backlog of lazy confirmations is full), unless
        the store is failing: its retry timer commits, every RETRY_EVERY, not each frame."""
        if self._retry is None:
            self.run()

    def run(self) -> None:
        self._soon = False
        self._retry = None
        if self._grouped is not None:
            self._grouped.cancel()
            self._grouped = None
        self._last = self.clock()
        if self.writer is None:
            wrote = bool(getattr(getattr(self.hub, "store", None), "dirty", True))
            self._finished(self.hub.commit(), wrote)
            return
        if self._writing:  # one batch at a time keeps ids and confirmations in order
            self._again = True
            return
        batch = self.hub.take_commit()
        if batch is None:  # nothing to write: what waited ran already
            self._finished(True, wrote=False)
            return
        self._writing = True

        def done(ids: Any, error: StorageError | None) -> None:
            self._writing = False
            ok = self.hub.commit_done(ids, error)
            self._finished(ok)
            if self._idle is not None and not self._writing:
                self._idle.set()
            if self._again and ok:
                self._again = False
                self.request()

        self.writer(batch, done)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the batch being written (before a shutdown commits on the loop)."""
        if not self._writing:
            return
        self._idle = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def _finished(self, committed: bool, wrote: bool = True) -> None:
        # A commit with nothing to write proves nothing: during an incident only a write
        # that works ends it (else users would hear "storing again" while it still fails).
        if committed:
            if self._incident_since is not None and wrote:
                store_log.warning("storage: recovered after %.1f s; %d message(s) were refused",
                            self.clock() - self._incident_since, self.refused)
                self._incident_since = None
                if self.news is not None:
                    self.news(True)
            self._failing_since = None
            self.after()
            return
        now = self.clock()
        if self._incident_since is None:
            self.incidents += 1
            self.refused = 0
            self._incident_since = now
            store_log.error("storage: a commit failed (%s); confirmations wait, and what cannot be"
                      " stored within %.1f s is refused", self.hub.storage_error or "error",
                      self.patience)
            if self.news is not None:
                self.news(False)
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since >= self.patience:
            dropped = self.hub.refuse_pending()
            self.refused += dropped
            self.refused_total += dropped
            self._failing_since = None
            self.after()
        # Who-is-where stays queued after a refusal: it is retried until the store works.
        self._retry = self.loop.call_later(self.retry_every, self.run)

    def cancel(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._grouped is not None:
            self._grouped.cancel()
            self._grouped = None
