"""The accounts' SSH public keys (/sshkey) on PostgreSQL, shared by every node of a cluster."""

from __future__ import annotations

import time
from typing import Any

from gameserver.sshkeys import SSHKey, SSHKeyStore
from gameserver.store import StorageError
from gameserver.stores.postgres import PostgresStore, describe, psycopg

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ssh_keys (
    key TEXT PRIMARY KEY, "user" TEXT NOT NULL, name TEXT NOT NULL, comment TEXT NOT NULL,
    added DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS ssh_keys_user ON ssh_keys ("user", added);
"""


class PostgresSSHKeyStore(SSHKeyStore):
    """SSHKeyStore's interface on the cluster's database (each change written at once)."""

    def __init__(self, store: PostgresStore) -> None:  # not super(): that opens SQLite tables
        self.store = store
        try:
            with store.db.transaction():
                store.db.execute(_SCHEMA)
        except psycopg.Error as exc:
            store._forget_broken()
            raise StorageError(describe(exc)) from exc

    def _run(self, sql: str, args: tuple[object, ...]) -> Any:  # type: ignore[override]
        try:
            return self.store.db.execute(sql, args)
        except psycopg.Error as exc:
            self.store._forget_broken()
            raise StorageError(describe(exc)) from exc

    def keys(self, user: str) -> list[SSHKey]:
        rows = self._run('SELECT key, comment, added FROM ssh_keys WHERE "user" = %s'
                         " ORDER BY added, key", (user.casefold(),)).fetchall()
        return [SSHKey(k, c, a) for k, c, a in rows]

    def owner(self, key: str) -> str | None:
        row = self._run("SELECT name FROM ssh_keys WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def add(self, user: str, key: SSHKey) -> str | None:
        cur = self._run("INSERT INTO ssh_keys VALUES (%s, %s, %s, %s, %s)"
                        " ON CONFLICT (key) DO NOTHING",
                        (key.key, user.casefold(), user, key.comment, time.time()))
        if cur.rowcount > 0:
            return None
        return self.owner(key.key) or user

    def remove(self, user: str, key: str) -> bool:
        return self._run('DELETE FROM ssh_keys WHERE "user" = %s AND key = %s',
                         (user.casefold(), key)).rowcount > 0

    def forget_account(self, user: str) -> None:
        self._run('DELETE FROM ssh_keys WHERE "user" = %s', (user.casefold(),))
