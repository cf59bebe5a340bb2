"""What every store is: its records, its errors, its interface, and the queue both dialects share.

The embedded store (gameserver/store.py, SQLite) and the cluster's
(gameserver/stores/postgres.py, PostgreSQL) both queue writes here and make them
durable in one transaction per commit; their SQL is their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gameserver.protocol_e2e import SEALED_TEXT

EVERYONE = "*"  # receiver of a broadcast, and the scope of being online at all
ROOM_TYPES = ("ROOM", "GAME")  # entries whose receiver is a room
SEALED_PM = "EPM"  # an end-to-end encrypted PM: its text is the envelope, opaque to us
# A benchmark-only ablation (load.py --server-set STORE_CHECKS=False shows what the store's
# own Unicode checks of each queued message cost); a server never turns them off.
STORE_CHECKS = True


class StorageError(Exception):
    """The store could not read or write (disk full, I/O error, locked); a sentence."""


class UnstorableValue(ValueError):
    """A value the store cannot take (text that is not valid Unicode); refused before a commit."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One history record: a room, private, broadcast or game message."""

    id: int
    ts: float
    type: str  # ROOM, PM, EPM (end-to-end encrypted PM), BM, GAME
    sender: str
    receiver: str  # a room, a username, or EVERYONE
    text: str
    nick: str | None = None  # a room line's speaker as the room saw them then, if not sender

    def to_wire(self) -> dict[str, Any]:
        if self.type == SEALED_PM:  # a PM; only the owners' clients can read its text
            return {"id": self.id, "ts": self.ts, "type": "PM", "sender": self.sender,
                    "receiver": self.receiver, "text": SEALED_TEXT, "e2e": self.text}
        wire = {
            "id": self.id, "ts": self.ts, "type": self.type,
            "sender": self.sender, "receiver": self.receiver, "text": self.text,
        }
        if self.nick:
            wire["nick"] = self.nick
        return wire


class NewEntry:
    """A history entry waiting for its commit; `id` is the store's, set once it is stored."""

    __slots__ = ("id", "ts", "type", "sender", "receiver", "text", "nick")

    def __init__(self, ts: float, type_: str, sender: str, receiver: str, text: str,
                 nick: str | None = None) -> None:
        self.id: int | None = None
        self.ts = ts
        self.type = type_
        self.sender = sender
        self.receiver = receiver
        self.text = text
        self.nick = nick


class Store(Protocol):
    """What the hub and game host need from storage; SQLiteStore is the embedded default.

    Another backend (a server-grade database) is a new class with these methods.
    Writes are queued; `commit()` makes everything queued durable at once or raises
    StorageError and keeps it all queued; `discard_messages()` gives up on the queued
    messages (they were refused) and keeps the rest (who is where) for the next commit.
    """

    # True: its calls wait on a network (PostgreSQL), so the runtime commits with
    # `write_batch` and reads in store threads, never on the loop.
    networked: bool
    # A cluster's live nodes, as this node hears them (a dead node's nicks are free).
    live_nodes: Callable[[], list[str]] | None

    def add_message(self, type_: str, sender: str, receiver: str, text: str,
                    ts: float | None = None, queue_for: str | None = None,
                    nick: str | None = None) -> NewEntry: ...
    def queue_pm(self, entry: NewEntry, user: str) -> None: ...
    def enter_scope(self, user: str, scope: str) -> None: ...
    def leave_scope(self, user: str, scope: str) -> None: ...
    def commit(self) -> None: ...
    def discard_messages(self) -> int: ...
    def account_hash(self, user: str) -> tuple[str, str] | None: ...
    def account_names(self) -> list[str]: ...
    def account_names_from(self, prefix: str, limit: int) -> list[str]: ...
    def create_account(self, user: str, pwhash: str) -> bool: ...
    def name_used(self, user: str) -> bool: ...
    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> list[Entry]: ...
    def room_scrollback(self, room: str, limit: int) -> list[Entry]: ...
    def take_pending_pms(self, user: str) -> list[Entry]: ...
    def save_game(self, game_id: int | None, room: str, state: dict[str, Any],
                  over: bool) -> int: ...
    def live_games(self) -> list[tuple[int, str, dict[str, Any]]]: ...
    def add_result(self, user: str, game: str, result: str) -> None: ...
    def stats(self, user: str) -> list[tuple[str, int, int, int]]: ...
    def save_token(self, digest: str, user: str, expires: float,
                   state: dict[str, Any]) -> None: ...
    def take_token(self, digest: str) -> tuple[str, float, dict[str, Any]] | None: ...
    # ratings and replays
    def record_rating(self, game_id: int, game: str, ts: float, a: str, b: str,
                      score_a: float,
                      ratings: list[tuple[str, float, float, float, int]]) -> bool: ...
    def rated_results(self) -> list[tuple[int, str, str, str, float]]: ...
    def replace_ratings(self, rows: list[tuple[str, str, float, float, float, int]]) -> None: ...
    def ratings_of(self, user: str) -> dict[str, tuple[float, float, float, int]]: ...
    def leaderboard(self, game: str, limit: int) -> list[tuple[str, float, float, int]]: ...
    def finished_games(self, room: str, limit: int) -> list[tuple[int, dict[str, Any]]]: ...
    def saved_game(self, game_id: int) -> tuple[str, bool, dict[str, Any]] | None: ...
    def drop_tokens(self, user: str) -> None: ...
    def add_device_key(self, user: str, key: str, device: str) -> None: ...
    def device_keys(self, user: str) -> list[tuple[str, str, float]]: ...
    def close(self) -> None: ...


class OffLoopStore(Store, Protocol):
    """A store whose commit a store thread makes in three steps (PostgresStore): take what
    is queued on the loop, write it in the thread, then hand out its ids or put it back."""

    def take_batch(self) -> Any: ...
    def write_batch(self, batch: Any) -> list[int]: ...
    def put_back(self, batch: Any) -> None: ...
    def batch_stored(self, batch: Any, ids: Any) -> None: ...


class GameLeases(Protocol):
    """A shared store's game leases (a cluster's PostgreSQL): which node hosts which game."""

    def renew_game_leases(self) -> set[int]: ...
    def claim_games_of(self, nodes: list[str]) -> list[tuple[int, str, dict[str, Any]]]: ...
    def claim_orphan_games(self) -> list[tuple[int, str, dict[str, Any]]]: ...


def storable(text: str) -> bool:
    """Can this string be stored (and sent) as UTF-8? False for lone surrogates."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_storable(*values: str) -> None:
    """UnstorableValue unless every value is storable()."""
    if "".join(values).isascii():  # most are ASCII: two C calls for them all
        return
    for value in values:
        if not value.isascii() and not storable(value):
            raise UnstorableValue(f"{value!r} is not valid Unicode text")


class Pos:
    """A place in the queued batch: `offset` messages in; the id is known only at commit."""

    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset


# op kinds: a message's own op is dropped with it; a state op is kept until it is stored;
# a change op (a role, a ban, an ignore, a device key ...: something its maker is told of
# once stored) is dropped with the messages when they are refused, for its maker is told
# it did not happen, and must not find it done after all at the next commit or restart.
MESSAGE_OP, STATE_OP, CHANGE_OP = 0, 1, 2


class QueuedWrites:
    """The write queue of a store: messages and their ops wait for the next commit.

    A message's own ops (its pending PM) go with it when the queued messages are
    refused, and so do the changes (`queue_change`) whose makers are told they were
    refused; the state ops (who is where, tokens, stats) stay queued until they are
    stored. `P` is the dialect's SQL placeholder.
    """

    P = "?"

    def __init__(self) -> None:
        self._messages: list[NewEntry] = []
        self._ops: list[tuple[int, str, tuple[Any, ...]]] = []

    _checked = staticmethod(check_storable)  # (PostgreSQL's refuses NUL too)
    _ascii_storable = True  # every ASCII string passes _checked (not on PostgreSQL)

    @property
    def dirty(self) -> bool:
        return bool(self._messages or self._ops)

    def add_message(self, type_: str, sender: str, receiver: str, text: str,
                    ts: float | None = None, queue_for: str | None = None,
                    nick: str | None = None) -> NewEntry:
        """Queue a history entry (and, with `queue_for`, its pending delivery to that user).

        `nick`: a room line's speaker as the room saw them (kept where it is not `sender`),
        so the scrollback names them as the live chat did. Its id is set once the
        commit that stores it succeeds.
        """
        nick = nick if nick and nick != sender else None
        # Every line of every room comes through here: where ASCII is always storable
        # (SQLite), ASCII values (most) pass with a C call each, no Python call; anything
        # else, and every value on PostgreSQL (NUL is ASCII), gets the dialect's check.
        if STORE_CHECKS and not (self._ascii_storable and text.isascii() and sender.isascii()
                                 and receiver.isascii() and (nick is None or nick.isascii())):
            self._checked(sender, receiver, text, *(() if nick is None else (nick,)))
        entry = NewEntry(time.time() if ts is None else ts, type_, sender, receiver, text, nick)
        self._messages.append(entry)
        p = self.P
        if queue_for is not None:
            self._ops.append((MESSAGE_OP, f"INSERT INTO pending_pms VALUES ({p}, {p})",
                              (Pos(len(self._messages)), queue_for)))
        return entry  # its nick is stored from the entry (its row's nick), at the commit

    def queue_change(self, sql: str, args: tuple[Any, ...]) -> None:
        """A change in the next commit (the community's tables: a role, a ban, an ignore);
        refused with the messages if the store keeps failing (see CHANGE_OP)."""
        self._ops.append((CHANGE_OP, sql, args))

    def discard_messages(self) -> int:
        """Give up on the queued messages and changes (refused); keep who-is-where."""
        dropped = len(self._messages)
        self._messages = []
        self._ops = [(kind, sql, tuple(Pos(0) if type(a) is Pos else a for a in args))
                     for kind, sql, args in self._ops if kind == STATE_OP]
        return dropped


class CommonReads:
    """The reads both dialects ask in the same words (`P`: the placeholder).

    Each store runs them through its own `_all` / `_one`, which turn its driver's
    errors into a StorageError sentence (and PostgreSQL's retry a dead connection once).
    """

    P = "?"

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        raise NotImplementedError

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        raise NotImplementedError

    def account_hash(self, user: str) -> tuple[str, str] | None:
        """(stored name, password hash) of an account, or None."""
        row = self._one(f"SELECT name, pwhash FROM accounts WHERE key = {self.P}",
                        (user.casefold(),))
        return (row[0], row[1]) if row else None

    def account_names(self) -> list[str]:
        """Every account's name (for the look-alike index at start)."""
        return [row[0] for row in self._all("SELECT name FROM accounts")]

    def account_count(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM accounts")[0])

    def stats(self, user: str) -> list[tuple[str, int, int, int]]:
        return [tuple(row) for row in self._all(  # type: ignore[misc]
            f'SELECT game, wins, losses, draws FROM stats WHERE "user" = {self.P} ORDER BY game',
            (user,))]

    def rated_results(self) -> list[tuple[int, str, str, str, float]]:
        """Every rated result, oldest first: (game_id, game, a, b, score_a)."""
        return [tuple(row) for row in self._all(  # type: ignore[misc]
            "SELECT game_id, game, a, b, score_a FROM rated_results ORDER BY id")]

    def ratings_of(self, user: str) -> dict[str, tuple[float, float, float, int]]:
        """game -> (rating, rd, vol, games) for one user."""
        rows = self._all("SELECT game, rating, rd, vol, games FROM ratings"
                         f' WHERE "user" = {self.P}', (user,))
        return {game: (rating, rd, vol, games) for game, rating, rd, vol, games in rows}

    def leaderboard(self, game: str, limit: int) -> list[tuple[str, float, float, int]]:
        """The best (user, rating, rd, games) of a game, highest rating first."""
        p = self.P
        return [tuple(row) for row in self._all(  # type: ignore[misc]
            f'SELECT "user", rating, rd, games FROM ratings WHERE game = {p}'
            f' ORDER BY rating DESC, "user" LIMIT {p}', (game, limit))]

    def saved_game(self, game_id: int) -> tuple[str, bool, dict[str, Any]] | None:
        """(room, over, state) of one game, or None."""
        row = self._one(f"SELECT room, over, state FROM games WHERE id = {self.P}", (game_id,))
        return None if row is None else (row[0], bool(row[1]), json.loads(row[2]))

    def device_keys(self, user: str) -> list[tuple[str, str, float]]:
        """(key, device name, when added) of each of `user`'s stored device keys, oldest first."""
        return [tuple(row) for row in self._all(  # type: ignore[misc]
            f'SELECT key, device, added FROM device_keys WHERE "user" = {self.P}'
            " ORDER BY added, key", (user.casefold(),))]
