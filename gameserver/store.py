"""What survives a restart: accounts, chat history, queued PMs, games, stats, session tokens."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

EVERYONE = "*"  # receiver of a broadcast, and the scope of being online at all

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, pwhash TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, type TEXT NOT NULL,
    sender TEXT NOT NULL, receiver TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_receiver ON messages (receiver, id);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, id);
-- user was in scope (a room, or '*' = online) for messages with start_id < id <= end_id
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


@dataclass(frozen=True, slots=True)
class Entry:
    """One history record: a room, private, broadcast or game message."""

    id: int
    ts: float
    type: str  # ROOM, PM, BM, GAME
    sender: str
    receiver: str  # a room, a username, or EVERYONE
    text: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id, "ts": self.ts, "type": self.type,
            "sender": self.sender, "receiver": self.receiver, "text": self.text,
        }


class Store(Protocol):
    """What the hub and game host need from storage; SQLiteStore is the embedded default.

    Another backend (a server-grade database) is a new class with these methods.
    Writes may be queued; `commit()` makes everything queued durable at once.
    """

    def add_message(self, type_: str, sender: str, receiver: str, text: str,
                    ts: float | None = None) -> Entry: ...
    def queue_pm(self, entry: Entry, user: str) -> None: ...
    def enter_scope(self, user: str, scope: str) -> None: ...
    def leave_scope(self, user: str, scope: str) -> None: ...
    def commit(self) -> None: ...
    def account_hash(self, user: str) -> tuple[str, str] | None: ...
    def create_account(self, user: str, pwhash: str) -> bool: ...
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
    def drop_tokens(self, user: str) -> None: ...
    def close(self) -> None: ...


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode, written in batches.

    Writes are queued in memory with their ids already assigned and reach the file
    in one transaction at `commit()`; the hub commits once per event-loop pass and
    only then confirms, so "confirmed" always means "stored".
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process; only a power cut could lose the tail.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()
        self._last_id: int = row[0]
        self._messages: list[tuple] = []
        self._ops: list[tuple[str, tuple]] = []
        # Anyone still "in" a scope was cut off by a crash or stop: close those spans.
        self.db.execute("UPDATE memberships SET end_id = ? WHERE end_id IS NULL", (self._last_id,))

    # ------------------------------------------------------------ writing

    @property
    def dirty(self) -> bool:
        return bool(self._messages or self._ops)

    def add_message(self, type_: str, sender: str, receiver: str, text: str,
                    ts: float | None = None) -> Entry:
        """Queue a history entry; it is stored at the next commit()."""
        self._last_id += 1
        entry = Entry(self._last_id, time.time() if ts is None else ts, type_, sender,
                      receiver, text)
        self._messages.append((entry.id, entry.ts, type_, sender, receiver, text))
        return entry

    def queue_pm(self, entry: Entry, user: str) -> None:
        self._ops.append(("INSERT INTO pending_pms VALUES (?, ?)", (entry.id, user)))

    def enter_scope(self, user: str, scope: str) -> None:
        """From now on, `user` receives what is sent to `scope` (a room, or EVERYONE)."""
        self._ops.append(("INSERT INTO memberships VALUES (?, ?, ?, NULL)",
                          (user, scope, self._last_id)))

    def leave_scope(self, user: str, scope: str) -> None:
        self._ops.append((
            "UPDATE memberships SET end_id = ? WHERE user = ? AND scope = ? AND end_id IS NULL",
            (self._last_id, user, scope),
        ))

    def commit(self) -> None:
        """Write everything queued in one transaction."""
        if not self.dirty:
            return
        messages, ops = self._messages, self._ops
        self._messages, self._ops = [], []
        with self._transaction():
            if messages:
                self.db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", messages)
            for sql, args in ops:
                self.db.execute(sql, args)

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # ------------------------------------------------------------ accounts

    def account_hash(self, user: str) -> tuple[str, str] | None:
        """(stored name, password hash) of an account, or None."""
        row = self.db.execute(
            "SELECT name, pwhash FROM accounts WHERE key = ?", (user.casefold(),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def create_account(self, user: str, pwhash: str) -> bool:
        """Create an account; False if the name was taken meanwhile."""
        try:
            self.db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                            (user.casefold(), user, pwhash, time.time()))
        except sqlite3.IntegrityError:
            return False
        return True

    def account_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]

    # ------------------------------------------------------------ reading history

    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> list[Entry]:
        """The user's last `limit` entries, oldest first; narrowed to a room or a peer."""
        self.commit()
        member = (
            "EXISTS (SELECT 1 FROM memberships s WHERE s.user = :u AND s.scope = m.receiver"
            " AND m.id > s.start_id AND (s.end_id IS NULL OR m.id <= s.end_id))"
        )
        if room is not None:
            where = f"m.receiver = :room AND m.type IN ('ROOM', 'GAME') AND {member}"
        elif peer is not None:
            where = (
                f"((m.sender = :peer AND (m.receiver = :u OR {member}))"
                " OR (m.sender = :u AND m.type = 'PM' AND m.receiver = :peer))"
            )
        else:
            where = f"m.sender = :u OR (m.type = 'PM' AND m.receiver = :u) OR {member}"
        rows = self.db.execute(
            f"SELECT id, ts, type, sender, receiver, text FROM messages m WHERE {where}"
            " ORDER BY id DESC LIMIT :n",
            {"u": user, "room": room, "peer": peer, "n": limit},
        ).fetchall()
        return [Entry(*row) for row in reversed(rows)]

    def room_scrollback(self, room: str, limit: int) -> list[Entry]:
        """The room's last `limit` messages, oldest first."""
        self.commit()
        rows = self.db.execute(
            "SELECT id, ts, type, sender, receiver, text FROM messages"
            " WHERE receiver = ? AND type IN ('ROOM', 'GAME') ORDER BY id DESC LIMIT ?",
            (room, limit),
        ).fetchall()
        return [Entry(*row) for row in reversed(rows)]

    def take_pending_pms(self, user: str) -> list[Entry]:
        """PMs queued for `user` while offline, oldest first; they are no longer pending."""
        self.commit()
        rows = self.db.execute(
            "SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text FROM pending_pms p"
            " JOIN messages m ON m.id = p.message_id WHERE p.user = ? ORDER BY m.id",
            (user,),
        ).fetchall()
        if rows:
            self._ops.append(("DELETE FROM pending_pms WHERE user = ?", (user,)))
        return [Entry(*row) for row in rows]

    # ------------------------------------------------------------ games

    def save_game(self, game_id: int | None, room: str, state: dict[str, Any],
                  over: bool) -> int:
        """Insert (game_id None) or update a game; returns its id. Written at once."""
        self.commit()
        data = json.dumps(state)
        with self._transaction():
            if game_id is None:
                cur = self.db.execute("INSERT INTO games (room, state, over) VALUES (?, ?, ?)",
                                      (room, data, int(over)))
                return int(cur.lastrowid or 0)
            self.db.execute("UPDATE games SET room = ?, state = ?, over = ? WHERE id = ?",
                            (room, data, int(over), game_id))
            return game_id

    def live_games(self) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.db.execute("SELECT id, room, state FROM games WHERE over = 0 ORDER BY id")
        return [(gid, room, json.loads(state)) for gid, room, state in rows]

    def add_result(self, user: str, game: str, result: str) -> None:
        """Count a win, loss or draw for `user` in `game` (at the next commit)."""
        column = {"win": "wins", "loss": "losses", "draw": "draws"}[result]
        self._ops.append((
            f"INSERT INTO stats (user, game, {column}) VALUES (?, ?, 1)"
            f" ON CONFLICT (user, game) DO UPDATE SET {column} = {column} + 1",
            (user, game),
        ))

    def stats(self, user: str) -> list[tuple[str, int, int, int]]:
        self.commit()
        return self.db.execute(
            "SELECT game, wins, losses, draws FROM stats WHERE user = ? ORDER BY game", (user,)
        ).fetchall()

    # ------------------------------------------------------------ session tokens

    def save_token(self, digest: str, user: str, expires: float, state: dict[str, Any]) -> None:
        self._ops.append(("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?)",
                          (digest, user, expires, json.dumps(state))))

    def take_token(self, digest: str) -> tuple[str, float, dict[str, Any]] | None:
        """Look a token up and delete it (tokens are single-use)."""
        self.commit()
        row = self.db.execute("SELECT user, expires, state FROM tokens WHERE digest = ?",
                              (digest,)).fetchone()
        if row is None:
            return None
        self._ops.append(("DELETE FROM tokens WHERE digest = ?", (digest,)))
        return row[0], row[1], json.loads(row[2])

    def drop_tokens(self, user: str) -> None:
        self._ops.append(("DELETE FROM tokens WHERE user = ?", (user,)))

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
