"""The PostgreSQL store's commits and reads in store threads: the loop never waits on the database.

A networked store answers in a round trip (or, with a slow query or a lock held,
much later); done on the event loop that would freeze every user of the node. Here
commits (`Hub.take_commit` / `store.write_batch` / `Hub.commit_done`) and the core's
reads (`Lookups`) run in a small pool of threads, each with its own connection, and
their answers are handed back on the loop. One commit is written at a time, so ids
and confirmations keep their order.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gameserver.core.pending import Pending, Work
from gameserver.store import Entry, StorageError

STORE_THREADS = 4  # commits (one at a time) and reads; each thread has a connection


class StoreThreads:
    """The pool, and how its answers come back to the loop (then the doors write)."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop,
                 wake: Callable[[], None], threads: int = STORE_THREADS) -> None:
        self.store = store
        self.loop = loop
        self.wake = wake
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="play-store")
        self.closed = False

    def ask(self, read: Callable[[], Any]) -> Pending[Any]:
        """Run `read` in a store thread; the Pending resolves (or fails) on the loop."""
        pending: Pending[Any] = Pending()
        try:
            future = self.loop.run_in_executor(self.pool, read)
        except RuntimeError:  # shutting down: the pool takes nothing more
            pending.fail(StorageError("the server is shutting down"))
            return pending

        def answered(fut: asyncio.Future[Any]) -> None:
            if self.closed or fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                pending.fail(exc if isinstance(exc, StorageError) else StorageError(str(exc)))
            else:
                pending.resolve(fut.result())
            self.wake()

        future.add_done_callback(answered)
        return pending

    def run_work(self, work: Work) -> None:
        """Work (the store's side of a tick) in a store thread; `done` runs on the loop."""
        pending = self.ask(work.run)
        pending.then(work.done, lambda exc: work.cancelled() if work.cancelled else None)

    def write(self, batch: Any, done: Callable[[Any, StorageError | None], None]) -> None:
        """Write a commit's batch in a store thread; `done(ids, error)` on the loop."""
        def finished(ids: Any) -> None:
            done(ids, None)

        def failed(exc: BaseException) -> None:
            done(None, exc if isinstance(exc, StorageError) else StorageError(str(exc)))

        self.ask(functools.partial(self.store.write_batch, batch)).then(finished, failed)

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=False, cancel_futures=True)


class ThreadedLookups:
    """The core's reads (pending.Lookups) answered from a store thread."""

    def __init__(self, threads: StoreThreads) -> None:
        self.threads = threads
        self.store = threads.store

    def _ask(self, name: str, *args: Any, **kwargs: Any) -> Pending[Any]:
        return self.threads.ask(functools.partial(getattr(self.store, name), *args, **kwargs))

    def account_hash(self, user: str) -> Pending[tuple[str, str] | None]:
        return self._ask("account_hash", user)

    def account_names_from(self, prefix: str, limit: int) -> Pending[list[str]]:
        return self._ask("account_names_from", prefix, limit)

    def create_account(self, user: str, pwhash: str) -> Pending[bool]:
        return self._ask("create_account", user, pwhash)

    def name_used(self, user: str) -> Pending[bool]:
        return self._ask("name_used", user)

    def take_token(self, digest: str) -> Pending[tuple[str, float, dict[str, Any]] | None]:
        return self._ask("take_token", digest)

    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> Pending[list[Entry]]:
        return self._ask("history", user, limit, room=room, peer=peer)

    def room_scrollback(self, room: str, limit: int) -> Pending[list[Entry]]:
        return self._ask("room_scrollback", room, limit)

    def take_pending_pms(self, user: str) -> Pending[list[Entry]]:
        """Taken in a thread, read and deleted in one statement (no second taker)."""
        return self._ask("take_pending_pms", user)

    def stats(self, user: str) -> Pending[list[tuple[str, int, int, int]]]:
        return self._ask("stats", user)

    def ratings_of(self, user: str) -> Pending[dict[str, tuple[float, float, float, int]]]:
        return self._ask("ratings_of", user)

    def leaderboard(self, game: str, limit: int) -> Pending[list[tuple[str, float, float, int]]]:
        return self._ask("leaderboard", game, limit)

    def finished_games(self, room: str, limit: int) -> Pending[list[tuple[int, dict[str, Any]]]]:
        return self._ask("finished_games", room, limit)

    def saved_game(self, game_id: int) -> Pending[tuple[str, bool, dict[str, Any]] | None]:
        return self._ask("saved_game", game_id)

    def device_keys(self, user: str) -> Pending[list[tuple[str, str, float]]]:
        return self._ask("device_keys", user)

    def claim_nick(self, room: str, nick_key: str, user: str) -> Pending[bool | None]:
        live = self.store.live_nodes() if self.store.live_nodes is not None else None
        return self._ask("claim_nick", room, nick_key, user, live)
