"""Game writes in order, off the event loop on a cluster; what games show waits for them. No I/O.

On SQLite a game's save is written at once, on the loop (a local file, no round
trip). On a networked store (PostgreSQL) the loop must never wait for the database,
so a node's game writes go through the store threads one call at a time, in the
order the games made them: the saves queued meanwhile are written together in one
transaction, a game's creation or a rating is a call of its own. What the games
show (a move's line and board, a player's `ok`) waits behind the writes queued
before it, so nobody is shown, or told `ok` about, what is not committed; chat
never waits for any of it (its commits are the hub's).

A refused save rolls its table back to what was last stored, and everything queued
after it with it (later moves were made on top of the refused one): their tables go
back too, their rooms are shown the boards as stored, and whoever waited for an
answer is told `storage`.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gameserver.core import turns
from gameserver.core.pending import Work, catching
from gameserver.store import StorageError

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost
    from gameserver.core.tables import Table

log = logging.getLogger("play.games")
GROUP = 64  # saves written in one transaction at the most
Refused = Callable[[StorageError], None]


@dataclass(slots=True)
class _Step:
    """A save of `table` as `state`; or a store call `run`; or `ok`, which waits its turn."""

    table: Table | None = None
    state: dict[str, Any] | None = None
    over: bool = False
    run: Callable[[], Any] | None = None
    done: Callable[[Any], None] | None = None
    ok: Callable[[], None] | None = None
    refused: Refused | None = None


class GameSaves:
    """A node's game writes and what waits for them, one store call at a time."""

    def __init__(self, host: GameHost, deferred: bool) -> None:
        self.host = host
        self.deferred = deferred  # False: every save was written at once (SQLite)
        self.steps: deque[_Step] = deque()
        self.busy = False  # a store call is out
        self.writes = 0  # store calls made for saves (each one transaction)

    @property
    def pending(self) -> bool:
        """Is anything still on its way to the store (so what is shown now must wait)?"""
        return self.busy or bool(self.steps)

    def save(self, table: Table, state: dict[str, Any], over: bool) -> None:
        """Queue a save of `table` as `state` (a copy is taken: the table moves on)."""
        self.steps.append(_Step(table=table, state=copy.deepcopy(state), over=over))
        self._pump()

    def call(self, run: Callable[[], Any], done: Callable[[Any], None],
             refused: Refused) -> None:
        """`run()` in a store thread after the writes before it; `done(result)` on the loop.

        Its failure is its own (`refused(error)`): it does not undo the saves after it.
        Without a networked store it runs at once and a StorageError is raised here.
        """
        if not self.deferred:
            done(run())
            return
        release = turns.hold_acting(self.host.hub)  # the asker's next request waits for it
        self.steps.append(_Step(run=run, done=turns.then_release(done, release),
                                refused=turns.then_release(refused, release)))
        self._pump()

    def then(self, ok: Callable[[], None], refused: Refused | None = None) -> None:
        """`ok()` once the writes queued before it are stored (at once if there are none).

        If one of them is refused, `refused(error)` instead (None: nothing runs).
        """
        if not self.pending:
            ok()
            return
        release = turns.hold_acting(self.host.hub)  # the asker's next request waits for it
        self.steps.append(_Step(ok=turns.then_release(ok, release), refused=turns.then_release(
            refused if refused is not None else _ignore, release)))

    # ------------------------------------------------------------ the queue

    def _pump(self) -> None:
        while self.steps and not self.busy:
            head = self.steps[0]
            if head.ok is not None:
                self.steps.popleft()
                _safely(head.ok)
            elif head.run is not None:
                self.steps.popleft()
                self._out(catching(head.run), functools.partial(self._called, head))
            else:
                group: list[_Step] = []
                while self.steps and self.steps[0].table is not None and len(group) < GROUP:
                    group.append(self.steps.popleft())
                rows = [(s.table.id, s.table.room, s.state, s.over) for s in group
                        if s.table is not None and s.state is not None]
                self.writes += 1
                store = self.host.hub.store
                self._out(catching(functools.partial(_write, store, rows)),
                          functools.partial(self._written, group))

    def _out(self, run: Callable[[], Any], done: Callable[[Any], None]) -> None:
        self.busy = True
        self.host.hub.run_store(Work(run=run, done=done, cancelled=lambda: done(
            StorageError("the server is shutting down"))))

    def _called(self, step: _Step, result: Any) -> None:
        self.busy = False
        if isinstance(result, StorageError):
            self.host.hub.storage_failed(result)
            if step.refused is not None:
                _safely(lambda: step.refused(result))  # type: ignore[misc]
        elif step.done is not None:
            _safely(lambda: step.done(result))  # type: ignore[misc]
        self._pump()

    def _written(self, group: list[_Step], result: Any) -> None:
        self.busy = False
        if isinstance(result, StorageError):
            self._refuse(group, result)
        else:
            for step in group:
                assert step.table is not None
                step.table.saved = step.state
        self._pump()

    def _refuse(self, group: list[_Step], error: StorageError) -> None:
        """The store refused these saves: undo them and everything queued after them."""
        self.host.hub.storage_failed(error)
        later = list(self.steps)
        self.steps.clear()
        tables: dict[int, Table] = {}
        for step in (*group, *later):
            if step.table is not None:
                tables.setdefault(id(step.table), step.table)
        host = self.host
        for table in tables.values():
            host.roll_back(table)
        for table in tables.values():
            if table.game is not None and host.tables.get(table.id) is table:
                host.to_room(table.room, host.state_of(table))  # the board as stored
        log.error("storage: %d game save(s) refused (%s); their moves were undone",
                  len(tables), error)
        for step in later:
            if step.table is not None:
                continue
            if step.refused is not None:
                _safely(lambda step=step: step.refused(error))  # type: ignore[misc]
            elif step.run is not None:  # a call that never ran (a creation, a rating)
                self.steps.append(step)
        self._pump()


def _write(store: Any, rows: list[tuple[int, str, dict[str, Any], bool]]) -> None:
    """The saves in one transaction where the store can (PostgresStore.save_games)."""
    many = getattr(store, "save_games", None)
    if many is not None:
        many(rows)
        return
    for game_id, room, state, over in rows:
        store.save_game(game_id, room, state, over)



def _safely(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception as exc:  # one failed delivery must not stop the others
        log.error("a game's delivery failed: %r", exc)


def _ignore(_error: StorageError) -> None:
    return None
