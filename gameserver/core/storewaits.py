"""What waits for the store: confirmations and deliveries run once their commit is made.

The hub's half that keeps "confirmed = stored" and order per cause: what a session's
requests lead to waits for the commit that stores them, and reaches everyone in the
order it was asked; a session's replies wait behind its own earlier lines, and nobody
else waits. A commit is made on the loop (`commit`) or by a store thread
(`take_commit` ... `commit_done`); a store that keeps failing has its messages refused.
No I/O: the runtime asks for the commits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from gameserver.core.events import Event
from gameserver.core.rooms import Session
from gameserver.protocol import Error
from gameserver.store import NewEntry, StorageError

if TYPE_CHECKING:
    from gameserver.store import Store
    from gameserver.storeapi import OffLoopStore

log = logging.getLogger("play.hub")

LAZY, SOON = 1, 2  # how soon a commit is asked for (see after_commit)
# Confirmations that may wait for company (logins, moves between rooms) but, this many
# waiting, are committed once the frame that queued the last of them is handled, not at
# the end of the loop pass: a crowd whose logins are all read in one pass (2000 resumes
# on connections already open) would otherwise hold ~20 small objects per login until
# one big commit (~0.2 s of loop) and leave them as holes between the sessions' own
# (docs/performance.md, "Scenario C: a commit per backlog (perfc5)").
COMMIT_BACKLOG = 256
STORAGE_LOG_EVERY = 60.0
STORAGE_TEXT = ("the server could not store that (its disk is full or failing), so it was not"
                " sent; try again later")

# What waits for a commit: run once stored, run if refused (None: the same), whose it was.
Waiting = tuple[Callable[[], None], Callable[[], None] | None, Session | None]


class StoreWaits:
    """The hub's commit bookkeeping (a base class of Hub; `init_waits` in its __init__)."""

    store: Store
    request_commit: Callable[[bool], None] | None
    # The runtime's commit made now, between frames (None: no such; the next pass commits).
    commit_now: Callable[[], None] | None

    def init_waits(self) -> None:
        # What waits for the next commit: (run once stored, run if refused, None: the
        # same; whose request it was). `_acting`: whose frame (or answer) runs now.
        self._after_commit: list[Waiting] = []
        self._acting: Session | None = None
        self._commit_requested = 0  # 0: none; LAZY: may wait for others (group commit); SOON
        self._backlogged = False  # COMMIT_BACKLOG lazy confirmations wait: commit after the frame
        self.commit_now = None  # the runtime sets it (its CommitSchedule.run_backlog)
        # A commit made elsewhere (a store thread): what it stores, what waits for it.
        self._in_flight: tuple[Any, list[Waiting]] | None = None
        self.commits_off_loop = False  # the runtime's store threads commit (a cluster)
        self.storage_error = ""  # what the store said when a commit last failed
        self._storage_logged = -STORAGE_LOG_EVERY

    def commit(self) -> bool:
        """Store what was queued, then deliver what waited for it (once per loop pass).

        False if the store failed: everything stays queued and nothing is confirmed;
        the caller retries, and past its patience calls `refuse_pending`.
        """
        self._commit_requested = 0
        self._backlogged = False
        try:
            self.store.commit()
        except StorageError as exc:
            self.storage_error = str(exc)
            return False
        self._run_waiting(refused=False)
        return True

    def take_commit(self) -> Any:
        """Start a commit that the store makes off the loop (`store.write_batch(batch)`).

        Returns the store's batch (None: nothing to write; then it is done here at once).
        What waits for this commit is set aside; what is queued from now on waits for
        the next one, and every send waits behind both, so order holds. Call
        `commit_done(error)` on the loop once the batch is written (or failed).
        """
        assert self._in_flight is None, "one commit at a time"
        self._commit_requested = 0
        self._backlogged = False
        batch = cast("OffLoopStore", self.store).take_batch()
        waiting, self._after_commit = self._after_commit, []
        self._in_flight = (batch, waiting)
        if batch is None:
            self.commit_done(None, None)
        return batch

    def commit_done(self, ids: Any, error: StorageError | None) -> bool:
        """The batch of `take_commit` is written (with its `ids`), or failed and is queued again."""
        assert self._in_flight is not None
        (batch, waiting), self._in_flight = self._in_flight, None
        if error is not None:
            self.storage_error = str(error)
            cast("OffLoopStore", self.store).put_back(batch)
            self._after_commit = waiting + self._after_commit
            return False
        if batch is not None:
            cast("OffLoopStore", self.store).batch_stored(batch, ids)
        self._run(waiting, refused=False)
        return True

    @property
    def committing(self) -> bool:
        return self._in_flight is not None

    def refuse_pending(self) -> int:
        """The store kept failing: refuse every queued message (its sender is told why).

        Nothing refused was delivered or confirmed, and none of it is stored; who is in
        which room stays queued for the next commit. Returns how many messages it was.
        """
        self._commit_requested = 0
        self._backlogged = False
        dropped = self.store.discard_messages()
        self._run_waiting(refused=True)
        return dropped

    def storage_failed(self, exc: StorageError) -> None:
        """A read or an immediate write failed: one log line per STORAGE_LOG_EVERY, not each."""
        self.storage_error = str(exc)
        now = time.monotonic()
        if now - self._storage_logged >= STORAGE_LOG_EVERY:
            self._storage_logged = now
            log.error("storage: a request failed (%s); such failures are logged once a minute",
                      exc)

    def commit_backlog(self) -> None:
        """Between frames: a backlog of lazy confirmations is committed now (COMMIT_BACKLOG)."""
        if self._backlogged and self._acting is None and self.commit_now is not None:
            self._backlogged = False
            self.commit_now()

    @property
    def waiting(self) -> int:
        """How many confirmations and deliveries wait for the store."""
        return len(self._after_commit) + (len(self._in_flight[1]) if self._in_flight else 0)

    def _run_waiting(self, refused: bool) -> None:
        callbacks, self._after_commit = self._after_commit, []
        self._run(callbacks, refused)

    def _run(self, callbacks: list[Waiting], refused: bool) -> None:
        # Paid first: a send from one of these waits only for what is queued after them.
        for _, _, owner in callbacks:
            if owner is not None:
                owner.owed -= 1
        acting = self._acting
        for stored, otherwise, owner in callbacks:
            self._acting = owner
            try:
                (otherwise or stored)() if refused else stored()
            except Exception as exc:  # one failed delivery must not stop the others
                log.error("delivery failed: %r", exc)
        self._acting = acting

    def send(self, session: Session, event: Event) -> None:
        """Send to one session, after what waits for the store that it or the sender is owed.

        Order holds per cause: what one session's requests lead to reaches everyone in
        the order it asked, and its replies wait behind its own earlier lines. Nobody
        else waits: with a slow store, only those who wait for it wait.
        """
        acting = self._acting
        if session.owed or (acting is not None and acting.owed):
            self.after_commit(_Delivery(session, event), lazy=True)
        elif not session.closed:
            session.door.send(session.sink, event)

    def record(self, type_: str, sender: str, receiver: str, text: str,
               then: Callable[[NewEntry], None], *, refused: Callable[[], None] | None = None,
               queue_for: str | None = None, nick: str | None = None) -> NewEntry:
        """Queue a history entry; `then(entry)` runs once it is stored (with its id).

        If the store refuses it, `refused()` runs instead (tell the sender); nothing
        that waits for it is delivered.
        """
        entry = self.store.add_message(type_, sender, receiver, text, queue_for=queue_for,
                                       nick=nick)
        self.after_commit(lambda: then(entry), refused or _nothing)
        return entry

    def refuse(self, session: Session, msg_id: int | None) -> Callable[[], None]:
        """What a sender is told when what they sent could not be stored."""
        return lambda: self.send(session, Error(code="storage", text=STORAGE_TEXT, id=msg_id))

    def after_commit(self, callback: Callable[[], None],
                     refused: Callable[[], None] | None = None, *, lazy: bool = False) -> None:
        """Run `callback` after the next commit; if it is refused, `refused` (default: the same).

        `lazy`: what waits is a login, a move between rooms or what waits behind one,
        not a message: while commits come thick and fast (a crowd arriving), it may
        wait a few milliseconds for the next ones to share one transaction (see
        CommitSchedule.request).
        """
        owner = self._acting
        if owner is not None:
            owner.owed += 1
        self._after_commit.append((callback, refused, owner))
        if lazy and len(self._after_commit) >= COMMIT_BACKLOG:
            self._backlogged = True
        wanted = LAZY if lazy else SOON
        if self._commit_requested < wanted and self.request_commit is not None:
            self._commit_requested = wanted
            self.request_commit(lazy)


class _Delivery:
    """An event for one session once the commit is made (unless it has closed by then).

    One small object, not a closure (a function, two cells and their tuple): a crowd's
    logins each wait for a commit with a few of these, and every object that waits is
    one more small block among the sessions' long-lived ones when the crowd is gone
    (docs/performance.md, "Scenario C: RSS after the burst (perfc3)").
    """

    __slots__ = ("session", "event")

    def __init__(self, session: Session, event: Event) -> None:
        self.session, self.event = session, event

    def __call__(self) -> None:
        session = self.session
        if not session.closed:
            session.door.send(session.sink, self.event)


def _nothing() -> None:
    return None
