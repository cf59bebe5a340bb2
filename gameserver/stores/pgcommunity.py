"""The community's tables (roles, bans, room rules, modlog, ignores) on PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

from gameserver.communitystore import DELETED_USER, CommunityStore
from gameserver.core.roles import ADMIN, RANKS, SERVER, Community, Sanction
from gameserver.store import StorageError
from gameserver.stores.postgres import PostgresStore, describe, psycopg

_SCHEMA = """
CREATE TABLE IF NOT EXISTS roles (
    scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS sanctions (
    kind TEXT NOT NULL, scope TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    until DOUBLE PRECISION, reason TEXT NOT NULL, by TEXT NOT NULL,
    PRIMARY KEY (kind, scope, key)
);
CREATE TABLE IF NOT EXISTS room_rules (
    room TEXT PRIMARY KEY, topic TEXT NOT NULL, invite_only INTEGER NOT NULL,
    slow INTEGER NOT NULL, closed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS invites (
    room TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (room, key)
);
CREATE TABLE IF NOT EXISTS modlog (
    id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, scope TEXT NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS modlog_scope ON modlog (scope, id);
CREATE TABLE IF NOT EXISTS ignores (
    key TEXT NOT NULL, ignored TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (key, ignored)
);
"""


class PostgresCommunityStore(CommunityStore):
    """CommunityStore's interface on the cluster's database (changes as CommunityStore's)."""

    def __init__(self, store: PostgresStore) -> None:  # not super(): that opens SQLite tables
        self.store = store
        try:
            with store.db.transaction():
                store.db.execute(_SCHEMA)
        except psycopg.Error as exc:
            raise StorageError(describe(exc)) from exc

    @property
    def db(self) -> Any:  # type: ignore[override]
        return self.store.db

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        try:
            return self.db.execute(sql, args)
        except psycopg.Error as exc:
            self.store._forget_broken()
            raise StorageError(describe(exc)) from exc

    def load(self, community: Community) -> Community:
        try:
            return super().load(community)
        except psycopg.Error as exc:
            self.store._forget_broken()
            raise StorageError(describe(exc)) from exc

    def admins(self) -> dict[str, tuple[str, int]]:
        """The server's admins as kept now (`play admin` or another node may change them)."""
        rows = self._run("SELECT key, name, role FROM roles WHERE scope = %s",
                         (SERVER,)).fetchall()
        return {key: (name, RANKS.get(role, ADMIN)) for key, name, role in rows}

    def save_role(self, scope: str, key: str, name: str, role: str | None) -> None:
        if role is None:
            self._write("DELETE FROM roles WHERE scope = %s AND key = %s", (scope, key))
        else:
            self._write("INSERT INTO roles VALUES (%s, %s, %s, %s) ON CONFLICT (scope, key)"
                        " DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role",
                        (scope, key, name, role))

    def save_sanction(self, kind: str, scope: str, key: str, sanction: Sanction | None) -> None:
        if sanction is None:
            self._write("DELETE FROM sanctions WHERE kind = %s AND scope = %s AND key = %s",
                        (kind, scope, key))
        else:
            self._write("INSERT INTO sanctions VALUES (%s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (kind, scope, key) DO UPDATE SET name = EXCLUDED.name,"
                        " until = EXCLUDED.until, reason = EXCLUDED.reason, by = EXCLUDED.by",
                        (kind, scope, key, sanction.name, sanction.until, sanction.reason,
                         sanction.by))

    def save_room(self, rules: Any) -> None:
        self._write("INSERT INTO room_rules VALUES (%s, %s, %s, %s, %s) ON CONFLICT (room)"
                    " DO UPDATE SET topic = EXCLUDED.topic, invite_only = EXCLUDED.invite_only,"
                    " slow = EXCLUDED.slow, closed = EXCLUDED.closed",
                    (rules.name, rules.topic, int(rules.invite_only), rules.slow,
                     int(rules.closed)))

    def save_invite(self, room: str, key: str, name: str, invited: bool) -> None:
        if invited:
            self._write("INSERT INTO invites VALUES (%s, %s, %s) ON CONFLICT (room, key)"
                        " DO UPDATE SET name = EXCLUDED.name", (room, key, name))
        else:
            self._write("DELETE FROM invites WHERE room = %s AND key = %s", (room, key))

    def log(self, scope: str, actor: str, action: str, target: str, detail: str = "",
            ts: float | None = None) -> None:
        self._write("INSERT INTO modlog (ts, scope, actor, action, target, detail)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (time.time() if ts is None else ts, scope, actor, action, target, detail))

    def modlog(self, scope: str | None, limit: int) -> list[tuple[float, str, str, str, str, str]]:
        cols = "SELECT ts, scope, actor, action, target, detail FROM modlog"
        if scope is None:
            rows = self._run(f"{cols} ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
        else:
            rows = self._run(f"{cols} WHERE scope = %s ORDER BY id DESC LIMIT %s",
                             (scope, limit)).fetchall()
        return list(reversed(rows))

    def ignores(self, user: str) -> list[str]:
        rows = self._run("SELECT name FROM ignores WHERE key = %s ORDER BY ignored",
                         (user.casefold(),)).fetchall()
        return [row[0] for row in rows]

    def set_ignore(self, user: str, other: str, ignored: bool) -> None:
        if ignored:
            self._write("INSERT INTO ignores VALUES (%s, %s, %s) ON CONFLICT (key, ignored)"
                        " DO UPDATE SET name = EXCLUDED.name",
                        (user.casefold(), other.casefold(), other))
        else:
            self._write("DELETE FROM ignores WHERE key = %s AND ignored = %s",
                        (user.casefold(), other.casefold()))

    def set_password_hash(self, user: str, pwhash: str) -> bool:
        try:
            with self.db.transaction():
                cur = self.db.execute("UPDATE accounts SET pwhash = %s WHERE key = %s",
                                      (pwhash, user.casefold()))
                self.db.execute('DELETE FROM tokens WHERE "user" = %s', (user,))
        except psycopg.Error as exc:
            self.store._forget_broken()
            raise StorageError(describe(exc)) from exc
        return cur.rowcount > 0

    def delete_account(self, user: str) -> bool:
        """As CommunityStore.delete_account: the account goes, its words stay unattributed."""
        key = user.casefold()
        db = self.db
        try:
            with db.transaction():
                row = db.execute("SELECT name FROM accounts WHERE key = %s", (key,)).fetchone()
                if row is None:
                    return False
                name = row[0]
                db.execute("DELETE FROM accounts WHERE key = %s", (key,))
                db.execute("UPDATE messages SET sender = %s, nick = NULL WHERE sender = %s",
                           (DELETED_USER, name))
                db.execute("DELETE FROM messages WHERE type IN ('PM', 'EPM') AND receiver = %s",
                           (name,))
                # Its device keys too: a new account of that name must not be sealed to them.
                db.execute('DELETE FROM device_keys WHERE "user" = %s', (key,))
                if db.execute("SELECT to_regclass('ssh_keys')").fetchone()[0] is not None:
                    db.execute('DELETE FROM ssh_keys WHERE "user" = %s', (key,))  # SSH logins
                for table in ("memberships", "pending_pms", "tokens", "stats"):
                    db.execute(f'DELETE FROM {table} WHERE "user" = %s', (name,))
                for sql in ("DELETE FROM roles WHERE key = %s",
                            "DELETE FROM sanctions WHERE key = %s",
                            "DELETE FROM invites WHERE key = %s",
                            "DELETE FROM ignores WHERE key = %s OR ignored = %s"):
                    db.execute(sql, (key,) * sql.count("%s"))
        except psycopg.Error as exc:
            self.store._forget_broken()
            raise StorageError(describe(exc)) from exc
        return True


def community_store_for(store: Any, hub: Any = None) -> CommunityStore:
    """The community's tables beside the store's: SQLite's connection, or the cluster's.

    With the server's `hub`, changes join its commits (in a store thread on a cluster):
    confirmed once stored, refused (and dropped) if the store keeps failing.
    """
    kept = PostgresCommunityStore(store) if isinstance(store, PostgresStore) \
        else CommunityStore(store.db)
    if hub is not None:
        kept.queue = store.queue_change
        kept.after_commit = hub.after_commit
    return kept
