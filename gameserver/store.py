"""What survives a restart: accounts, chat history, queued PMs, games, stats, session tokens."""

from __future__ import annotations

import functools
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from gameserver.storeapi import (
    EVERYONE,
    ROOM_TYPES,
    SEALED_PM,
    STATE_OP,
    CommonReads,
    Entry,
    NewEntry,
    Pos,
    QueuedWrites,
    StorageError,
    Store,
    UnstorableValue,
    check_storable,
    storable,
)

__all__ = ["EVERYONE", "ROOM_TYPES", "SEALED_PM", "Entry", "NewEntry", "SQLiteStore",
           "StorageError", "Store", "UnstorableValue", "describe", "storable"]

SCHEMA_VERSION = 1
T = TypeVar("T")
_sql_of = itemgetter(1)  # a queued op is (kind, sql, args)

# Room names, user names and "everyone" are separate namespaces in the store: a room is
# kept as '#name' (room names cannot start with '#'), a user as their name, everyone as '*'.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, pwhash TEXT NOT NULL, created REAL NOT NULL
);
-- nick: the name a room line's speaker had in that room then, where it was not their
-- username ('' otherwise: binding NULL costs Python's sqlite3 ~0.5 us a row more than a
-- string); the scrollback names them as the live chat did
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, type TEXT NOT NULL,
    sender TEXT NOT NULL, receiver TEXT NOT NULL, text TEXT NOT NULL,
    nick TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_receiver ON messages (receiver, id);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, id);
-- user was in scope ('#room', or '*' = online) for messages with start_id < id <= end_id
CREATE TABLE IF NOT EXISTS memberships (
    user TEXT NOT NULL, scope TEXT NOT NULL, start_id INTEGER NOT NULL, end_id INTEGER
);
CREATE INDEX IF NOT EXISTS memberships_user ON memberships (user, scope);
CREATE TABLE IF NOT EXISTS pending_pms (message_id INTEGER NOT NULL, user TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_pms_user ON pending_pms (user);
CREATE TABLE IF NOT EXISTS games (
    id INTEGER PRIMARY KEY, room TEXT NOT NULL, state TEXT NOT NULL, over INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS stats (
    user TEXT NOT NULL, game TEXT NOT NULL, wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0, draws INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, game)
);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL, state TEXT NOT NULL
);
"""

# Stores made before the nick column kept each line's nick in a table of its own, a
# second row (and B-tree insert) per room line: A's commit cost ~7,600 instructions a
# line more (docs/performance.md, perfa3). Its rows move into the column once.
_MIGRATE_NICKS = """
ALTER TABLE messages ADD COLUMN nick TEXT NOT NULL DEFAULT '';
UPDATE messages SET nick = (SELECT n.nick FROM room_nicks n WHERE n.message_id = messages.id)
    WHERE id IN (SELECT message_id FROM room_nicks);
DROP TABLE room_nicks;
"""

# Version 0 kept rooms under their bare names, where a room could be mistaken for a user.
_MIGRATE_1 = """
UPDATE memberships SET scope = '#' || scope WHERE scope != '*' AND scope NOT LIKE '#%';
UPDATE messages SET receiver = '#' || receiver
    WHERE type IN ('ROOM', 'GAME') AND receiver NOT LIKE '#%';
"""


# End-to-end PMs: the public device keys each account published (never a private key).
_E2E_SCHEMA = """
CREATE TABLE IF NOT EXISTS device_keys (
    user TEXT NOT NULL, key TEXT NOT NULL, device TEXT NOT NULL, added REAL NOT NULL,
    PRIMARY KEY (user, key)
);
"""


# Ratings and replays (games/ratings work): kept apart from _SCHEMA on purpose.
_RATINGS_SCHEMA = """
CREATE TABLE IF NOT EXISTS rated_results (
    id INTEGER PRIMARY KEY, game_id INTEGER NOT NULL UNIQUE, game TEXT NOT NULL,
    ts REAL NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL, score_a REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    user TEXT NOT NULL, game TEXT NOT NULL, rating REAL NOT NULL, rd REAL NOT NULL,
    vol REAL NOT NULL, games INTEGER NOT NULL, PRIMARY KEY (user, game)
);
CREATE INDEX IF NOT EXISTS ratings_game ON ratings (game, rating);
CREATE INDEX IF NOT EXISTS games_room ON games (room, id);
"""


_check = check_storable
# A benchmark-only ablation (load.py --server-set NICK_ROWS=False shows what storing each
# room line's nick at the time costs); a server always stores them.
NICK_ROWS = True
_NICK = "NULLIF(m.nick, '')"  # a line's nick as read: None where it was the username


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Reads and immediate writes: a failing database becomes one StorageError sentence."""

    @functools.wraps(method)
    def guarded(self: SQLiteStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(describe(exc)) from exc

    return guarded


def describe(exc: BaseException) -> str:
    """What went wrong with the store, in words (sqlite's own are good ones)."""
    text = str(exc) or type(exc).__name__
    return text[:200]


class SQLiteStore(QueuedWrites, CommonReads):
    """The embedded store: one SQLite file in WAL mode, written in batches.

    Writes are queued in memory and reach the file in one transaction at `commit()`;
    message ids are the store's own (the next rowids, read inside that transaction)
    and are handed out only once it succeeded. The hub commits once per event-loop
    pass and only then confirms, so "confirmed" always means "stored". A failed
    commit is rolled back whole: no id, no span, no row of it remains.

    `readonly=True` opens the file for reading only (`play history`): nothing is
    written, no span is closed, no file is created.
    """

    networked = False  # one process: its commits and reads run on the loop
    live_nodes: Callable[[], list[str]] | None = None  # one node: nobody else's nicks

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_ms: int = 20) -> None:
        self.path = Path(path)
        self.readonly = readonly
        super().__init__()
        # Tokens taken and users whose tokens were dropped, until the DELETE is committed:
        # a token is single-use from the moment it is taken, not from the next commit.
        self._spent: set[str] = set()
        self._dropped: set[str] = set()
        if readonly:
            self.db = _open_readonly(self.path)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            self._room_prefix = "#" if version >= 1 else ""
            self._nick = (_NICK if _has_nick_column(self.db) else
                          "(SELECT n.nick FROM room_nicks n WHERE n.message_id = m.id)"
                          if _has_table(self.db, "room_nicks") else "NULL")
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():  # SQLite gives the -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        # A short busy wait: the store is written on the event loop's thread.
        self.db = sqlite3.connect(str(self.path), isolation_level=None,
                                  check_same_thread=False, timeout=busy_ms / 1000)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power cut could lose the tail.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        if not _has_nick_column(self.db):
            self.db.executescript("BEGIN; "
                                  + ("CREATE TABLE IF NOT EXISTS room_nicks (message_id INTEGER"
                                     " PRIMARY KEY, nick TEXT NOT NULL); ")
                                  + _MIGRATE_NICKS + " COMMIT;")
        self._nick = _NICK
        self.db.executescript(_E2E_SCHEMA)
        if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self.db.executescript(f"BEGIN; {_MIGRATE_1} PRAGMA user_version = 1; COMMIT;")
        self._room_prefix = "#"
        self.db.executescript(_RATINGS_SCHEMA)
        # Anyone still "in" a scope was cut off by a crash or stop: close those spans.
        self.db.execute("UPDATE memberships SET end_id = (SELECT COALESCE(MAX(id), 0)"
                        " FROM messages) WHERE end_id IS NULL")

    # ------------------------------------------------------------ writing

    @_guarded
    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return self.db.execute(sql, args).fetchall()

    @_guarded
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(sql, args).fetchone()

    def _scope(self, scope: str) -> str:
        return scope if scope == EVERYONE else self._room_prefix + scope

    def queue_pm(self, entry: NewEntry | Entry, user: str) -> None:
        """Keep a stored PM for `user`'s next login (its sender is told once it is kept)."""
        assert entry.id is not None, "queue_pm of a stored entry; see add_message(queue_for=)"
        self.queue_change("INSERT INTO pending_pms VALUES (?, ?)", (entry.id, user))

    def enter_scope(self, user: str, scope: str) -> None:
        """From now on, `user` receives what is sent to `scope` (a room, or EVERYONE)."""
        self._ops.append((STATE_OP, "INSERT INTO memberships VALUES (?, ?, ?, NULL)",
                          (user, self._scope(scope), Pos(len(self._messages)))))

    def leave_scope(self, user: str, scope: str) -> None:
        self._ops.append((
            STATE_OP,
            "UPDATE memberships SET end_id = ? WHERE user = ? AND scope = ? AND end_id IS NULL",
            (Pos(len(self._messages)), user, self._scope(scope)),
        ))

    def commit(self) -> None:
        """Write everything queued in one transaction, or raise StorageError and keep it."""
        if not self.dirty:
            return
        messages, ops = self._messages, self._ops
        try:
            if self.db.in_transaction:  # a rollback that failed last time
                self.db.execute("ROLLBACK")
            self.db.execute("BEGIN IMMEDIATE")
            try:
                base = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
                if messages:
                    rooms = self._room_prefix
                    nicks = NICK_ROWS  # its nick then, if not its name (in the same row; '')
                    self.db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", [
                        (base + n, e.ts, e.type, e.sender,
                         rooms + e.receiver if e.type in ROOM_TYPES else e.receiver, e.text,
                         e.nick or "" if nicks else "")
                        for n, e in enumerate(messages, start=1)])
                # In order; a run of one statement (each room line's nick) in one call.
                for sql, run in itertools.groupby(ops, _sql_of):
                    self.db.executemany(sql, [
                        tuple([base + a.offset if type(a) is Pos else a for a in args])
                        for _kind, _sql, args in run])
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StorageError(describe(exc)) from exc
        for n, entry in enumerate(messages, start=1):
            entry.id = base + n
        self._messages, self._ops = [], []
        self._spent.clear()
        self._dropped.clear()

    # ------------------------------------------------------------ accounts

    @_guarded
    def account_names_from(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` accounts whose name starts with `prefix` (any case), by name."""
        key = prefix.casefold()
        return [row[0] for row in self.db.execute(
            "SELECT name FROM accounts WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (len(key), key, limit))]

    @_guarded
    def create_account(self, user: str, pwhash: str) -> bool:
        """Create an account; False if the name was taken meanwhile."""
        _check(user, pwhash)
        try:
            self.db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                            (user.casefold(), user, pwhash, time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    @_guarded
    def name_used(self, user: str) -> bool:
        """Does the store hold anything under this name (spans, words, PMs to it)?"""
        return self.db.execute(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE user = :u)"
            " OR EXISTS (SELECT 1 FROM messages WHERE sender = :u)"
            " OR EXISTS (SELECT 1 FROM messages WHERE receiver = :u AND type IN ('PM', 'EPM'))"
            " OR EXISTS (SELECT 1 FROM device_keys WHERE user = :k)",
            {"u": user, "k": user.casefold()}).fetchone()[0] == 1

    # ------------------------------------------------------------ reading history

    def _entries(self, sql: str, params: Any) -> list[Entry]:
        """Rows of (id, ts, type, sender, receiver, text[, nick]), newest first, as entries
        oldest first."""
        cut = len(self._room_prefix)
        rows = self.db.execute(sql, params).fetchall()
        return [Entry(i, ts, type_, sender, receiver[cut:] if type_ in ROOM_TYPES else receiver,
                      text, *nick) for i, ts, type_, sender, receiver, text, *nick in rows[::-1]]

    @_guarded
    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> list[Entry]:
        """The user's last `limit` entries, oldest first; narrowed to a room or a peer.

        Who may read an entry is decided by its type, never by a name alone: a PM by
        its sender and its receiver; a room or game message by those who were in that
        room when it was said; a broadcast by those online then; your own words by you.
        """
        in_scope = (
            "EXISTS (SELECT 1 FROM memberships s WHERE s.user = :u AND s.scope = m.receiver"
            " AND m.id > s.start_id AND (s.end_id IS NULL OR m.id <= s.end_id))"
        )
        readable = (
            f"((m.type IN ('PM', 'EPM') AND (m.sender = :u OR m.receiver = :u))"
            f" OR (m.type IN ('ROOM', 'BM') AND m.sender = :u)"
            f" OR (m.type IN ('ROOM', 'GAME') AND m.receiver LIKE '{self._room_prefix}%'"
            f" AND {in_scope})"
            f" OR (m.type = 'BM' AND m.receiver = '*' AND {in_scope}))"
        )
        if room is not None:
            where = f"m.type IN ('ROOM', 'GAME') AND m.receiver = :room AND {readable}"
        elif peer is not None:
            where = (f"{readable} AND ((m.type IN ('ROOM', 'PM', 'EPM', 'BM') AND m.sender = :peer)"
                     " OR (m.type IN ('PM', 'EPM') AND m.sender = :u AND m.receiver = :peer))")
        else:
            where = readable
        return self._entries(
            f"SELECT id, ts, type, sender, receiver, text FROM messages m WHERE {where}"
            " ORDER BY id DESC LIMIT :n",
            {"u": user, "room": self._room_prefix + (room or ""), "peer": peer, "n": limit},
        )

    @_guarded
    def room_scrollback(self, room: str, limit: int) -> list[Entry]:
        """The room's last `limit` stored messages, oldest first."""
        return self._entries(
            f"SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text, {self._nick}"
            " FROM messages m WHERE m.receiver = ? AND m.type IN ('ROOM', 'GAME')"
            " ORDER BY m.id DESC LIMIT ?",
            (self._room_prefix + room, limit),
        )

    @_guarded
    def take_pending_pms(self, user: str) -> list[Entry]:
        """PMs stored for `user` while offline, oldest first; no longer pending after a commit."""
        rows = self.db.execute(
            "SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text FROM pending_pms p"
            " JOIN messages m ON m.id = p.message_id WHERE p.user = ? ORDER BY m.id DESC",
            (user,),
        ).fetchall()
        if rows:  # only what was read: one queued meanwhile stays pending
            self._ops.append((STATE_OP, "DELETE FROM pending_pms WHERE user = ?"
                              " AND message_id <= ?", (user, rows[0][0])))
        return [Entry(*row) for row in reversed(rows)]

    # ------------------------------------------------------------ games

    @_guarded
    def save_game(self, game_id: int | None, room: str, state: dict[str, Any],
                  over: bool) -> int:
        """Insert (game_id None) or update a game; returns its id. Written at once."""
        data = json.dumps(state)  # ASCII: any text in it is escaped, so always storable
        with _Transaction(self.db):
            if game_id is None:
                cur = self.db.execute("INSERT INTO games (room, state, over) VALUES (?, ?, ?)",
                                      (room, data, int(over)))
                return int(cur.lastrowid or 0)
            self.db.execute("UPDATE games SET room = ?, state = ?, over = ? WHERE id = ?",
                            (room, data, int(over), game_id))
            return game_id

    @_guarded
    def live_games(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.db.execute("SELECT id, room, state FROM games WHERE over = 0 ORDER BY id")
        return [(gid, room, json.loads(state)) for gid, room, state in rows]

    def add_result(self, user: str, game: str, result: str) -> None:
        """Count a win, loss or draw for `user` in `game` (at the next commit)."""
        column = {"win": "wins", "loss": "losses", "draw": "draws"}[result]
        self._ops.append((
            STATE_OP,
            f"INSERT INTO stats (user, game, {column}) VALUES (?, ?, 1)"
            f" ON CONFLICT (user, game) DO UPDATE SET {column} = {column} + 1",
            (user, game),
        ))

    # ------------------------------------------------------------ session tokens

    def save_token(self, digest: str, user: str, expires: float, state: dict[str, Any]) -> None:
        self._ops.append((STATE_OP, "INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?)",
                          (digest, user, expires, json.dumps(state))))

    @_guarded
    def take_token(self, digest: str) -> tuple[str, float, dict[str, Any]] | None:
        """Look a token up and delete it (tokens are single-use)."""
        row = self.db.execute("SELECT user, expires, state FROM tokens WHERE digest = ?",
                              (digest,)).fetchone()
        if row is None or digest in self._spent or row[0] in self._dropped:
            return None
        self._spent.add(digest)
        self._ops.append((STATE_OP, "DELETE FROM tokens WHERE digest = ?", (digest,)))
        return row[0], row[1], json.loads(row[2])

    def drop_tokens(self, user: str) -> None:
        """Every stored token of `user` is void now (deleted at the next commit).

        (A token saved after this in the same batch is not in the file yet: its owner
        gets it only once the batch is committed.)"""
        self._dropped.add(user)
        self._ops.append((STATE_OP, "DELETE FROM tokens WHERE user = ?", (user,)))

    # ------------------------------------------------------------ ratings and replays

    @_guarded
    def record_rating(self, game_id: int, game: str, ts: float, a: str, b: str,
                      score_a: float, ratings: list[tuple[str, float, float, float, int]]) -> bool:
        """Store a rated result and the new (user, rating, rd, vol, games) rows, at once.

        Written in one transaction of its own, like save_game: the next game to end
        (even in the same loop pass) reads these ratings. False if game_id was rated before.
        """
        _check(game, a, b, *(row[0] for row in ratings))
        with _Transaction(self.db):
            cur = self.db.execute(
                "INSERT OR IGNORE INTO rated_results (game_id, game, ts, a, b, score_a)"
                " VALUES (?, ?, ?, ?, ?, ?)", (game_id, game, ts, a, b, score_a))
            if cur.rowcount != 1:
                return False
            self.db.executemany("INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?, ?, ?)",
                                [(user, game, *values) for user, *values in ratings])
        return True

    @_guarded
    def replace_ratings(self, rows: list[tuple[str, str, float, float, float, int]]) -> None:
        """Put recomputed (user, game, rating, rd, vol, games) rows in place of all, at once."""
        with _Transaction(self.db):
            self.db.execute("DELETE FROM ratings")
            self.db.executemany("INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?)", rows)

    @_guarded
    def finished_games(self, room: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """A room's last finished games (not cancelled invitations), newest first."""
        rows = self.db.execute(
            "SELECT id, state FROM games WHERE room = ? AND over = 1"
            " AND json_extract(state, '$.game') IS NOT NULL ORDER BY id DESC LIMIT ?",
            (room, limit))
        return [(gid, json.loads(state)) for gid, state in rows]

    # ------------------------------------------------------------ device keys (e2e PMs)

    def add_device_key(self, user: str, key: str, device: str) -> None:
        """Publish a device's public key for `user` (at the next commit); known keys stay."""
        _check(key, device)
        self.queue_change("INSERT OR IGNORE INTO device_keys VALUES (?, ?, ?, ?)",
                          (user.casefold(), key, device, time.time()))

    def close(self) -> None:
        try:
            if not self.readonly:
                self.commit()
        finally:
            self.db.close()


def _has_nick_column(db: sqlite3.Connection) -> bool:
    return any(row[1] == "nick" for row in db.execute("PRAGMA table_info(messages)"))


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (name,)).fetchone() is not None


def _open_readonly(path: Path) -> sqlite3.Connection:
    """Open for reading only, creating nothing: immutable when no server has it open."""
    if not path.exists():
        raise StorageError(f"there is no store at {path}")
    live = Path(f"{path}-wal").exists() or Path(f"{path}-shm").exists()
    uri = path.resolve().as_uri() + ("?mode=ro" if live else "?mode=ro&immutable=1")
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA query_only = 1")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read {path}: {describe(exc)}") from exc
    return db


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        elif self.db.in_transaction:
            self.db.execute("ROLLBACK")
