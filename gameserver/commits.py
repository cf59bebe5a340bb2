"""When the store commits: once per loop pass, retried for a while when it fails, then refused."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("play.store")

PATIENCE = 1.0  # seconds a failing commit is retried before its messages are refused
RETRY_EVERY = 0.1  # seconds between retries while the store fails


class Committer(Protocol):
    """The hub's side: commit what is queued (False if the store failed), or refuse it."""

    storage_error: str

    def commit(self) -> bool: ...
    def refuse_pending(self) -> int: ...


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
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.loop = loop
        self.after = after  # the front door flushes what the commit released
        self.patience = patience
        self.retry_every = retry_every
        self.clock = clock
        self._soon = False
        self._retry: asyncio.TimerHandle | None = None
        self._failing_since: float | None = None  # this round of retries
        self._incident_since: float | None = None
        self.incidents = 0
        self.refused = 0  # messages refused in the current incident
        self.refused_total = 0

    @property
    def failing(self) -> bool:
        return self._incident_since is not None

    def request(self) -> None:
        """Something was queued: commit at the end of this pass (or at the next retry)."""
        if self._soon or self._retry is not None:
            return
        self._soon = True
        self.loop.call_soon(self.run)

    def run(self) -> None:
        self._soon = False
        self._retry = None
        if self.hub.commit():
            if self._incident_since is not None:
                log.warning("storage: recovered after %.1f s; %d message(s) were refused",
                            self.clock() - self._incident_since, self.refused)
                self._incident_since = None
            self._failing_since = None
            self.after()
            return
        now = self.clock()
        if self._incident_since is None:
            self.incidents += 1
            self.refused = 0
            self._incident_since = now
            log.error("storage: a commit failed (%s); confirmations wait, and what cannot be"
                      " stored within %.1f s is refused", self.hub.storage_error or "error",
                      self.patience)
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
