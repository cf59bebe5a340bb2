"""Answers that may come later: what the core asks of the store, and slow work off the loop.

The embedded store answers at once; a networked one (PostgreSQL) answers when its
reply arrives. The core is written for both: it asks, and says what to do `then`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gameserver.store import Entry, StorageError

T = TypeVar("T")
Failed = Callable[[BaseException], None]
_UNSET: Any = object()


@dataclass(frozen=True)
class Work:
    """Slow CPU work (password hashing) that the runtime runs off its event loop.

    The runtime calls `run()` in a worker thread, then `done(result)` on the loop thread.
    """

    run: Callable[[], Any]
    done: Callable[[Any], None]
    cancelled: Callable[[], None] | None = None  # instead of done, if it never ran
    session: Any = None  # whose work it is: it is cancelled when that connection goes


class Pending(Generic[T]):
    """A value that is there now or later; `then(f)` calls f(value) once it is (at once if so).

    `fail(exc)` instead hands the error to the `otherwise` callbacks (or a callback's own
    `failed`, as hub.guarded gives one; else it is logged by whoever resolves it).
    Callbacks run in the order they were added.
    """

    __slots__ = ("_value", "_error", "_callbacks")

    def __init__(self) -> None:
        self._value: Any = _UNSET
        self._error: BaseException | None = None
        self._callbacks: list[tuple[Callable[[T], None], Failed | None]] = []

    @classmethod
    def ready(cls, value: T) -> Pending[T]:
        pending: Pending[T] = cls()
        pending._value = value
        return pending

    @property
    def done(self) -> bool:
        return self._value is not _UNSET or self._error is not None

    def then(self, callback: Callable[[T], None],
             otherwise: Callable[[BaseException], None] | None = None) -> None:
        if self._value is not _UNSET:
            callback(self._value)
        elif self._error is not None:
            otherwise = otherwise or getattr(callback, "failed", None)
            if otherwise is None:
                raise self._error
            otherwise(self._error)
        else:
            self._callbacks.append((callback, otherwise))

    def resolve(self, value: T) -> None:
        if self.done:
            raise RuntimeError("a Pending is resolved once")
        self._value = value
        callbacks, self._callbacks = self._callbacks, []
        for callback, _ in callbacks:
            callback(value)

    def fail(self, error: BaseException) -> None:
        if self.done:
            raise RuntimeError("a Pending is resolved once")
        self._error = error
        callbacks, self._callbacks = self._callbacks, []
        for callback, otherwise in callbacks:
            # A hub.guarded callback says the error to its session itself (`failed`).
            otherwise = otherwise or getattr(callback, "failed", None)
            if otherwise is not None:
                otherwise(error)


class Lookups(Protocol):
    """The store's reads as the core makes them: each answer may come later.

    Writes (add_message, enter_scope ...) stay on the Store: they are queued and made
    durable at commit, so they never wait. A networked store implements these reads
    with its own I/O; `Immediate` serves any synchronous Store.
    """

    def account_hash(self, user: str) -> Pending[tuple[str, str] | None]: ...
    def account_names_from(self, prefix: str, limit: int) -> Pending[list[str]]: ...
    def create_account(self, user: str, pwhash: str) -> Pending[bool]: ...
    def name_used(self, user: str) -> Pending[bool]: ...
    def take_token(self, digest: str) -> Pending[tuple[str, float, dict[str, Any]] | None]: ...
    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> Pending[list[Entry]]: ...
    def room_scrollback(self, room: str, limit: int) -> Pending[list[Entry]]: ...
    def take_pending_pms(self, user: str) -> Pending[list[Entry]]: ...
    def stats(self, user: str) -> Pending[list[tuple[str, int, int, int]]]: ...
    # ratings and replays
    def ratings_of(self, user: str) -> Pending[dict[str, tuple[float, float, float, int]]]: ...
    def leaderboard(self, game: str,
                    limit: int) -> Pending[list[tuple[str, float, float, int]]]: ...
    def finished_games(self, room: str,
                       limit: int) -> Pending[list[tuple[int, dict[str, Any]]]]: ...
    def saved_game(self, game_id: int) -> Pending[tuple[str, bool, dict[str, Any]] | None]: ...
    def device_keys(self, user: str) -> Pending[list[tuple[str, str, float]]]: ...
    def claim_nick(self, room: str, nick_key: str, user: str) -> Pending[bool | None]: ...


class Immediate:
    """Lookups answered at once by a synchronous store (SQLite, in this process)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def account_hash(self, user: str) -> Pending[tuple[str, str] | None]:
        return Pending.ready(self.store.account_hash(user))

    def account_names_from(self, prefix: str, limit: int) -> Pending[list[str]]:
        return Pending.ready(self.store.account_names_from(prefix, limit))

    def create_account(self, user: str, pwhash: str) -> Pending[bool]:
        return Pending.ready(self.store.create_account(user, pwhash))

    def name_used(self, user: str) -> Pending[bool]:
        return Pending.ready(self.store.name_used(user))

    def take_token(self, digest: str) -> Pending[tuple[str, float, dict[str, Any]] | None]:
        return Pending.ready(self.store.take_token(digest))

    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> Pending[list[Entry]]:
        return Pending.ready(self.store.history(user, limit, room=room, peer=peer))

    def room_scrollback(self, room: str, limit: int) -> Pending[list[Entry]]:
        return Pending.ready(self.store.room_scrollback(room, limit))

    def take_pending_pms(self, user: str) -> Pending[list[Entry]]:
        return Pending.ready(self.store.take_pending_pms(user))

    def stats(self, user: str) -> Pending[list[tuple[str, int, int, int]]]:
        return Pending.ready(self.store.stats(user))

    def ratings_of(self, user: str) -> Pending[dict[str, tuple[float, float, float, int]]]:
        return Pending.ready(self.store.ratings_of(user))

    def leaderboard(self, game: str, limit: int) -> Pending[list[tuple[str, float, float, int]]]:
        return Pending.ready(self.store.leaderboard(game, limit))

    def finished_games(self, room: str, limit: int) -> Pending[list[tuple[int, dict[str, Any]]]]:
        return Pending.ready(self.store.finished_games(room, limit))

    def saved_game(self, game_id: int) -> Pending[tuple[str, bool, dict[str, Any]] | None]:
        return Pending.ready(self.store.saved_game(game_id))

    def device_keys(self, user: str) -> Pending[list[tuple[str, str, float]]]:
        return Pending.ready(self.store.device_keys(user))

    def claim_nick(self, room: str, nick_key: str, user: str) -> Pending[bool | None]:
        """None: one process, whose room members are the whole truth; else the store decides."""
        claim = getattr(self.store, "claim_nick", None)
        return Pending.ready(None if claim is None else claim(room, nick_key, user))


def catching(run: Callable[[], Any]) -> Callable[[], Any]:
    """`run` as store work whose StorageError comes back as its result, for its `done`
    on the loop to tell (a store thread's answer cannot raise into the loop)."""
    def caught() -> Any:
        try:
            return run()
        except StorageError as exc:
            return exc
    return caught
