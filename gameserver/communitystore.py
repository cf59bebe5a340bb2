"""What a community keeps across restarts: roles, bans, mutes, room rules, the modlog, ignores.

Its tables live in the server's SQLite file beside the store's. On a server (given
the hub: `community_store_for(store, hub)`) a change joins the hub's next commit, so
whoever made it is told once it is stored, or that it was refused; without one
(`play admin`, a test) each is written at once. It also does what `play admin` and
/deleteaccount need of the accounts table (a new password hash; an account removed,
its words kept anonymous).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameserver.core.roles import ADMIN, RANKS, SERVER, Community, RoomRules, Sanction
from gameserver.store import StorageError, describe

DELETED_USER = "a deleted user"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS roles (
    scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS sanctions (
    kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    until REAL, reason TEXT NOT NULL, by TEXT NOT NULL, PRIMARY KEY (kind, scope, key)
);
CREATE TABLE IF NOT EXISTS room_rules (
    room TEXT PRIMARY KEY, topic TEXT NOT NULL, invite_only INTEGER NOT NULL,
    slow INTEGER NOT NULL, closed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    room TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (room, key)
);
CREATE TABLE IF NOT EXISTS modlog (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, scope TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS modlog_scope ON modlog (scope, id);
CREATE TABLE IF NOT EXISTS ignores (
    key TEXT NOT NULL, ignored TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (key, ignored)
);
"""


class CommunityStore:
    """The community's tables, on an open SQLite connection (the store's, or its own file)."""

    # On a server: the store's queue_change and the hub's after_commit. A change then goes
    # into the hub's next commit (one transaction with what is queued beside it, never a
    # round trip on the loop), and is dropped if that commit is refused; what tells of it
    # waits for the commit (core/community.py's CommunityHost.change).
    queue: Callable[[str, tuple[Any, ...]], None] | None = None
    after_commit: Callable[..., None] | None = None
    on_change: Callable[[], None] | None = None  # a cluster tells the other nodes

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        try:
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc

    @classmethod
    def open(cls, path: str | Path) -> CommunityStore:
        """For `play admin` on the server machine: the server's file, opened on its own."""
        db = sqlite3.connect(str(path), isolation_level=None, timeout=5)
        return cls(db)

    @property
    def queued(self) -> bool:
        """Do changes join the hub's commits (else each is written at once)?"""
        return self.queue is not None

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        if self.queue is None or self.after_commit is None:
            self._run(sql, args)
            self._changed()
            return
        self.queue(sql, args)
        self.after_commit(self._changed, _nothing)  # a refused change is no news

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # ------------------------------------------------------------ loading

    def load(self, community: Community) -> Community:
        """Fill `community` with what was kept (expired sanctions are dropped)."""
        persist, community.persist = community.persist, None  # nothing to write back
        try:
            for scope, key, name, role in self.db.execute("SELECT * FROM roles"):
                if scope == SERVER:
                    community.admins[key] = (name, RANKS.get(role, ADMIN))
                elif role == "owner":
                    rules = community.room(scope[1:])
                    rules.owner, rules.owner_name = key, name
                else:
                    community.room(scope[1:]).ops[key] = name
            for room, topic, invite_only, slow, closed in self.db.execute(
                    "SELECT * FROM room_rules"):
                rules = community.room(room)
                rules.topic, rules.invite_only = topic, bool(invite_only)
                rules.slow, rules.closed = slow, bool(closed)
            for room, key, name in self.db.execute("SELECT * FROM invites"):
                community.room(room).invited[key] = name
            now = community.clock()
            for kind, scope, key, name, until, reason, by in self.db.execute(
                    "SELECT * FROM sanctions"):
                sanction = Sanction(name, until, reason, by)
                if sanction.active(now):
                    community._table(kind, scope)[key] = sanction
        finally:
            community.persist = persist
        return community

    def admins(self) -> dict[str, tuple[str, int]]:
        """The server's admins as kept now (`play admin` may have changed them)."""
        try:
            rows = self.db.execute("SELECT key, name, role FROM roles WHERE scope = ?",
                                   (SERVER,)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return {key: (name, RANKS.get(role, ADMIN)) for key, name, role in rows}

    # ------------------------------------------------------------ Persist

    def save_role(self, scope: str, key: str, name: str, role: str | None) -> None:
        if role is None:
            self._write("DELETE FROM roles WHERE scope = ? AND key = ?", (scope, key))
        else:
            self._write("INSERT OR REPLACE INTO roles VALUES (?, ?, ?, ?)",
                        (scope, key, name, role))

    def save_sanction(self, kind: str, scope: str, key: str, sanction: Sanction | None) -> None:
        if sanction is None:
            self._write("DELETE FROM sanctions WHERE kind = ? AND scope = ? AND key = ?",
                        (kind, scope, key))
        else:
            self._write("INSERT OR REPLACE INTO sanctions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (kind, scope, key, sanction.name, sanction.until, sanction.reason,
                         sanction.by))

    def save_room(self, rules: RoomRules) -> None:
        self._write("INSERT OR REPLACE INTO room_rules VALUES (?, ?, ?, ?, ?)",
                    (rules.name, rules.topic, int(rules.invite_only), rules.slow,
                     int(rules.closed)))

    def save_invite(self, room: str, key: str, name: str, invited: bool) -> None:
        if invited:
            self._write("INSERT OR REPLACE INTO invites VALUES (?, ?, ?)", (room, key, name))
        else:
            self._write("DELETE FROM invites WHERE room = ? AND key = ?", (room, key))

    # ------------------------------------------------------------ the moderation log

    def log(self, scope: str, actor: str, action: str, target: str, detail: str = "",
            ts: float | None = None) -> None:
        self._write("INSERT INTO modlog (ts, scope, actor, action, target, detail)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (time.time() if ts is None else ts, scope, actor, action, target, detail))

    def modlog(self, scope: str | None, limit: int) -> list[tuple[float, str, str, str, str, str]]:
        """The last `limit` entries of one scope (a room, or SERVER), or of all (None)."""
        try:
            if scope is None:
                rows = self.db.execute("SELECT ts, scope, actor, action, target, detail FROM"
                                       " modlog ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = self.db.execute("SELECT ts, scope, actor, action, target, detail FROM"
                                       " modlog WHERE scope = ? ORDER BY id DESC LIMIT ?",
                                       (scope, limit)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return list(reversed(rows))

    # ------------------------------------------------------------ ignores

    def ignores(self, user: str) -> list[str]:
        try:
            rows = self.db.execute("SELECT name FROM ignores WHERE key = ? ORDER BY ignored",
                                   (user.casefold(),)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return [row[0] for row in rows]

    def set_ignore(self, user: str, other: str, ignored: bool) -> None:
        if ignored:
            self._write("INSERT OR REPLACE INTO ignores VALUES (?, ?, ?)",
                        (user.casefold(), other.casefold(), other))
        else:
            self._write("DELETE FROM ignores WHERE key = ? AND ignored = ?",
                        (user.casefold(), other.casefold()))

    # ------------------------------------------------------------ accounts

    def set_password_hash(self, user: str, pwhash: str) -> bool:
        """A new password for an account; False if there is no such account."""
        try:
            cur = self.db.execute("UPDATE accounts SET pwhash = ? WHERE key = ?",
                                  (pwhash, user.casefold()))
            self.db.execute("DELETE FROM tokens WHERE user = ?", (user,))
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return cur.rowcount > 0

    def delete_account(self, user: str) -> bool:
        """Remove an account and everything only it had; what it said stays, unattributed.

        Its name is free again afterwards, so nothing of it may stay under that name.
        """
        key = user.casefold()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute("SELECT name FROM accounts WHERE key = ?",
                                      (key,)).fetchone()
                if row is None:
                    self.db.execute("ROLLBACK")
                    return False
                name = row[0]
                self.db.execute("DELETE FROM accounts WHERE key = ?", (key,))
                # Words said to others stay theirs to read, without the name (or a nick).
                self.db.execute("UPDATE messages SET sender = ?, nick = '' WHERE sender = ?",
                                (DELETED_USER, name))
                self.db.execute("DELETE FROM messages WHERE type IN ('PM', 'EPM')"
                                " AND receiver = ?", (name,))
                # Its device keys too: a new account of that name must not be sealed to them.
                self.db.execute("DELETE FROM device_keys WHERE user = ?", (key,))
                for sql in ("DELETE FROM memberships WHERE user = ?",
                            "DELETE FROM pending_pms WHERE user = ?",
                            "DELETE FROM tokens WHERE user = ?",
                            "DELETE FROM stats WHERE user = ?"):
                    self.db.execute(sql, (name,))
                for sql in ("DELETE FROM roles WHERE key = ?",
                            "DELETE FROM sanctions WHERE key = ?",
                            "DELETE FROM invites WHERE key = ?",
                            "DELETE FROM ignores WHERE key = ? OR ignored = ?"):
                    self.db.execute(sql, (key,) * sql.count("?"))
                tables = {r[0] for r in self.db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "ssh_keys" in tables:  # its SSH login keys (gameserver/sshkeys.py)
                    self.db.execute("DELETE FROM ssh_keys WHERE user = ?", (key,))
                for table in sorted(tables):  # device keys, if end-to-end PMs keep any here
                    columns = {c[1] for c in self.db.execute(f"PRAGMA table_info({table})")}
                    if "key" in table.lower() and "user" in columns:
                        self.db.execute(f"DELETE FROM {table} WHERE user = ?", (name,))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return True


def _nothing() -> None:
    return None
