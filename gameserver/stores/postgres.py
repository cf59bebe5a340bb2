"""The cluster store: the Store interface on PostgreSQL (psycopg 3), shared by every node."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from gameserver.storeapi import (
    EVERYONE,
    ROOM_TYPES,
    STATE_OP,
    CommonReads,
    Entry,
    NewEntry,
    Pos,
    QueuedWrites,
    StorageError,
)
from gameserver.stores.pgbase import _check, _guarded, describe, psycopg
from gameserver.stores.pggames import PostgresGames, application_name

CONNECT_TIMEOUT = 3  # seconds; the store is used from the event loop's thread
# Every commit that writes messages or spans holds this lock (one key, every node), so
# message ids (from the sequence) are handed out in commit order and a span's bounds
# are exact: who may read an entry never depends on which node committed first.
COMMIT_LOCK = 0x706C6179  # 'play'

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY, name TEXT NOT NULL, pwhash TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, type TEXT NOT NULL,
    sender TEXT NOT NULL, receiver TEXT NOT NULL, text TEXT NOT NULL, nick TEXT
);
-- nick: a room line's speaker's name in that room then, where it was not their username.
-- Databases made before it kept that in room_nicks, a second row per line: moved here.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS nick TEXT;
DO $$ BEGIN
    IF to_regclass('room_nicks') IS NOT NULL THEN
        UPDATE messages m SET nick = n.nick FROM room_nicks n WHERE n.message_id = m.id;
        DROP TABLE room_nicks;
    END IF;
END $$;
CREATE SEQUENCE IF NOT EXISTS messages_id_seq;
CREATE INDEX IF NOT EXISTS messages_receiver ON messages (receiver, id);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, id);
CREATE TABLE IF NOT EXISTS memberships (
    "user" TEXT NOT NULL, scope TEXT NOT NULL, start_id BIGINT NOT NULL, end_id BIGINT,
    node TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS memberships_user ON memberships ("user", scope);
CREATE INDEX IF NOT EXISTS memberships_open ON memberships (node) WHERE end_id IS NULL;
CREATE TABLE IF NOT EXISTS pending_pms (message_id BIGINT NOT NULL, "user" TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_pms_user ON pending_pms ("user");
CREATE TABLE IF NOT EXISTS games (
    id BIGSERIAL PRIMARY KEY, room TEXT NOT NULL, state TEXT NOT NULL, over BOOLEAN NOT NULL,
    owner TEXT NOT NULL DEFAULT '', lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS games_room ON games (room, id);
CREATE TABLE IF NOT EXISTS stats (
    "user" TEXT NOT NULL, game TEXT NOT NULL, wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0, draws INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY ("user", game)
);
CREATE TABLE IF NOT EXISTS tokens (
    digest TEXT PRIMARY KEY, "user" TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rated_results (
    id BIGSERIAL PRIMARY KEY, game_id BIGINT NOT NULL UNIQUE, game TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
    score_a DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    "user" TEXT NOT NULL, game TEXT NOT NULL, rating DOUBLE PRECISION NOT NULL,
    rd DOUBLE PRECISION NOT NULL, vol DOUBLE PRECISION NOT NULL, games INTEGER NOT NULL,
    PRIMARY KEY ("user", game)
);
CREATE INDEX IF NOT EXISTS ratings_game ON ratings (game, rating);
CREATE TABLE IF NOT EXISTS nick_claims (
    room TEXT NOT NULL, nick_key TEXT NOT NULL, user_key TEXT NOT NULL, node TEXT NOT NULL,
    PRIMARY KEY (room, nick_key)
);
CREATE INDEX IF NOT EXISTS nick_claims_user ON nick_claims (user_key, room);
CREATE TABLE IF NOT EXISTS shared (
    name TEXT PRIMARY KEY, value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_keys (
    "user" TEXT NOT NULL, key TEXT NOT NULL, device TEXT NOT NULL,
    added DOUBLE PRECISION NOT NULL, PRIMARY KEY ("user", key)
);
"""


# What one commit writes: the queued messages, and the other writes (kind, sql, args).
Batch = tuple[list[NewEntry], list[tuple[int, str, tuple[Any, ...]]]]


class PostgresStore(PostgresGames, QueuedWrites, CommonReads):
    """The Store interface on a PostgreSQL database that any number of nodes share.

    Like SQLiteStore, writes are queued and reach the database in one transaction at
    `commit()`; message ids come from the database's sequence inside that transaction
    (under COMMIT_LOCK, so they are commit order) and are handed out only once it
    succeeded. Memberships carry the node that opened them: a node that restarts
    closes its own open spans, never another node's.
    """

    P = "%s"
    _checked = staticmethod(_check)  # NUL refused too
    networked = True
    _ascii_storable = False  # NUL is ASCII: every value goes through _check

    def __init__(self, url: str, *, node: str = "node", readonly: bool = False) -> None:
        if psycopg is None:
            raise StorageError("PostgreSQL needs the cluster extra: pip install 'play[cluster]'")
        self.url = url
        self.node = node
        self.readonly = readonly  # `play history`: every transaction read-only, no schema
        super().__init__()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []  # every thread's, closed at close()
        try:
            db = self.db
            if readonly:
                return
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
                db.execute(_SCHEMA)
                # This node's users still "in" a scope were cut off by a crash: close them.
                db.execute("UPDATE memberships SET end_id = (SELECT COALESCE(MAX(id), 0)"
                           " FROM messages) WHERE end_id IS NULL AND node = %s", (node,))
                db.execute("DELETE FROM nick_claims WHERE node = %s", (node,))  # theirs too
        except psycopg.Error as exc:
            self._forget_broken()
            raise StorageError(f"cannot use the database: {describe(exc)}") from exc

    @property
    def db(self) -> Any:
        """This thread's connection, opened again if it was lost (autocommit).

        The loop's thread and each store thread have their own: a slow query in a
        store thread never holds a connection the loop waits for.
        """
        db = getattr(self._local, "db", None)
        if db is None or db.closed or db.broken:
            options = "-c default_transaction_read_only=on" if self.readonly else ""
            db = self._local.db = psycopg.connect(self.url, autocommit=True, options=options,
                                                  connect_timeout=CONNECT_TIMEOUT,
                                                  application_name=application_name(self.node))
            with self._lock:
                self._connections.append(db)
        return db

    def _forget_broken(self) -> bool:
        """Drop this thread's connection if it is broken; True if it was."""
        db = getattr(self._local, "db", None)
        if db is not None and (db.closed or db.broken):
            self._local.db = None
            with self._lock:
                if db in self._connections:
                    self._connections.remove(db)
            return True
        return False

    # ------------------------------------------------------------ writing

    @_guarded
    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return self.db.execute(sql, args).fetchall()

    @_guarded
    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        return self.db.execute(sql, args).fetchone()

    @staticmethod
    def _scope(scope: str) -> str:
        return scope if scope == EVERYONE else "#" + scope

    def queue_pm(self, entry: NewEntry | Entry, user: str) -> None:
        """Keep a stored PM for `user`'s next login (its sender is told once it is kept)."""
        assert entry.id is not None, "queue_pm of a stored entry; see add_message(queue_for=)"
        self.queue_change("INSERT INTO pending_pms VALUES (%s, %s)", (entry.id, user))

    def enter_scope(self, user: str, scope: str) -> None:
        self._ops.append((STATE_OP, "INSERT INTO memberships VALUES (%s, %s, %s, NULL, %s)",
                          (user, self._scope(scope), Pos(len(self._messages)), self.node)))

    def leave_scope(self, user: str, scope: str) -> None:
        """Close `user`'s span that this node opened (another node's session is its own).

        Its nicks there go too (all of them when it leaves the server).
        """
        self._ops.append((
            STATE_OP,
            'UPDATE memberships SET end_id = %s WHERE "user" = %s AND scope = %s'
            " AND end_id IS NULL AND node = %s",
            (Pos(len(self._messages)), user, self._scope(scope), self.node),
        ))
        if scope == EVERYONE:
            self._ops.append((STATE_OP, "DELETE FROM nick_claims WHERE user_key = %s"
                              " AND node = %s", (user.casefold(), self.node)))
        else:
            self._ops.append((STATE_OP, "DELETE FROM nick_claims WHERE room = %s"
                              " AND user_key = %s AND node = %s",
                              (scope, user.casefold(), self.node)))

    # ------------------------------------------------------------ nicks, cluster-wide

    live_nodes: Callable[[], list[str]] | None = None  # the cluster's, as this node hears

    @_guarded
    def claim_nick(self, room: str, nick_key: str, user: str,
                   live: list[str] | None = None) -> bool:
        """Hold `nick_key` in `room` for `user` (their other nick there is let go).

        False if another user holds it on a node that is alive (`live`; a dead node's
        claims are free to take). One row per (room, nick): two nodes that accept the
        same nick at the same moment cannot both get it.
        """
        if live is None and self.live_nodes is not None:
            live = self.live_nodes()
        # Without a list of live nodes, every claim is taken as alive.
        alive = None if live is None else list({self.node, *live})
        db = self.db
        with db.transaction():
            row = db.execute(
                "INSERT INTO nick_claims AS r VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (room, nick_key) DO UPDATE SET user_key = EXCLUDED.user_key,"
                " node = EXCLUDED.node WHERE r.user_key = EXCLUDED.user_key"
                " OR (%s::text[] IS NOT NULL AND NOT (r.node = ANY(%s::text[]))) RETURNING 1",
                (room, nick_key, user.casefold(), self.node, alive, alive)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM nick_claims WHERE room = %s AND user_key = %s"
                       " AND nick_key <> %s", (room, user.casefold(), nick_key))
        return True

    def commit(self) -> None:
        """Write everything queued in one transaction, or raise StorageError and keep it."""
        batch = self.take_batch()
        if batch is None:
            return
        try:
            ids = self.write_batch(batch)
        except StorageError:
            self.put_back(batch)
            raise
        self.batch_stored(batch, ids)

    # A commit in three steps, so the middle one can run in a store thread (its own
    # connection) while the loop goes on: take what is queued (the queue starts afresh),
    # write it, then hand out its ids - or put it back in front of the queue.

    def take_batch(self) -> Batch | None:
        if not self.dirty:
            return None
        batch = (self._messages, self._ops)
        self._messages, self._ops = [], []
        return batch

    def put_back(self, batch: Batch) -> None:
        """A failed batch goes back in front of what was queued since (offsets follow)."""
        messages, ops = batch
        shift = len(messages)
        later = [(kind, sql, tuple(Pos(a.offset + shift) if type(a) is Pos and a.offset
                                   else a for a in args)) for kind, sql, args in self._ops]
        self._messages = messages + self._messages
        self._ops = ops + later

    @staticmethod
    def batch_stored(batch: Batch, ids: list[int]) -> None:
        for entry, message_id in zip(batch[0], ids, strict=True):
            entry.id = message_id

    def write_batch(self, batch: Batch) -> list[int]:
        """One transaction for the batch (any thread: each has its own connection); its ids."""
        messages, ops = batch
        try:
            db = self.db
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (COMMIT_LOCK,))
                base = db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]
                ids: list[int] = []
                if messages:
                    ids = sorted(row[0] for row in db.execute(
                        "SELECT nextval('messages_id_seq') FROM generate_series(1, %s)",
                        (len(messages),)))
                    with db.cursor() as cur:
                        cur.executemany(  # each line's nick at the time in its row
                            "INSERT INTO messages VALUES (%s, %s, %s, %s, %s, %s, %s)", [
                                (i, e.ts, e.type, e.sender,
                                 "#" + e.receiver if e.type in ROOM_TYPES else e.receiver,
                                 e.text, e.nick)
                                for i, e in zip(ids, messages, strict=True)])
                for _kind, sql, args in ops:
                    db.execute(sql, tuple(
                        (ids[a.offset - 1] if a.offset else base) if type(a) is Pos else a
                        for a in args))
        except (psycopg.Error, OSError) as exc:
            self._forget_broken()
            raise StorageError(describe(exc)) from exc
        return ids

    # ------------------------------------------------------------ accounts

    @_guarded
    def name_used(self, user: str) -> bool:
        """As SQLiteStore's: does the store hold anything under this name (a guest's)?"""
        return bool(self.db.execute(
            'SELECT EXISTS (SELECT 1 FROM memberships WHERE "user" = %(u)s)'
            " OR EXISTS (SELECT 1 FROM messages WHERE sender = %(u)s)"
            " OR EXISTS (SELECT 1 FROM messages WHERE receiver = %(u)s AND type IN ('PM', 'EPM'))"
            ' OR EXISTS (SELECT 1 FROM device_keys WHERE "user" = %(k)s)',
            {"u": user, "k": user.casefold()}).fetchone()[0])

    @_guarded
    def account_names_from(self, prefix: str, limit: int) -> list[str]:
        """As SQLiteStore's (left(): a range would follow the database's collation)."""
        key = prefix.casefold()
        return [row[0] for row in self.db.execute(
            'SELECT name FROM accounts WHERE left(key, %s) = %s ORDER BY key COLLATE "C"'
            " LIMIT %s", (len(key), key, limit))]

    @_guarded
    def create_account(self, user: str, pwhash: str) -> bool:
        """Create an account; False if the name was taken meanwhile (on any node)."""
        _check(user, pwhash)
        cur = self.db.execute("INSERT INTO accounts VALUES (%s, %s, %s, %s)"
                              " ON CONFLICT (key) DO NOTHING",
                              (user.casefold(), user, pwhash, time.time()))
        return cur.rowcount == 1

    # ------------------------------------------------------------ reading history

    def _entries(self, sql: str, params: Any) -> list[Entry]:
        rows = self.db.execute(sql, params).fetchall()
        return [Entry(i, ts, type_, sender, receiver[1:] if type_ in ROOM_TYPES else receiver,
                      text, *nick) for i, ts, type_, sender, receiver, text, *nick in rows[::-1]]

    @_guarded
    def history(self, user: str, limit: int, room: str | None = None,
                peer: str | None = None) -> list[Entry]:
        """The user's last `limit` entries, oldest first; the same rules as SQLiteStore's."""
        in_scope = (
            'EXISTS (SELECT 1 FROM memberships s WHERE s."user" = %(u)s AND s.scope = m.receiver'
            " AND m.id > s.start_id AND (s.end_id IS NULL OR m.id <= s.end_id))"
        )
        readable = (
            f"((m.type IN ('PM', 'EPM') AND (m.sender = %(u)s OR m.receiver = %(u)s))"
            f" OR (m.type IN ('ROOM', 'BM') AND m.sender = %(u)s)"
            f" OR (m.type IN ('ROOM', 'GAME') AND left(m.receiver, 1) = '#' AND {in_scope})"
            f" OR (m.type = 'BM' AND m.receiver = '*' AND {in_scope}))"
        )
        if room is not None:
            where = f"m.type IN ('ROOM', 'GAME') AND m.receiver = %(room)s AND {readable}"
        elif peer is not None:
            where = (f"{readable} AND ((m.type IN ('ROOM', 'PM', 'EPM', 'BM')"
                     " AND m.sender = %(peer)s) OR (m.type IN ('PM', 'EPM')"
                     " AND m.sender = %(u)s AND m.receiver = %(peer)s))")
        else:
            where = readable
        return self._entries(
            f"SELECT id, ts, type, sender, receiver, text FROM messages m WHERE {where}"
            " ORDER BY id DESC LIMIT %(n)s",  # NULL: no limit (a negative one, as SQLite)
            {"u": user, "room": "#" + (room or ""), "peer": peer,
             "n": limit if limit >= 0 else None},
        )

    @_guarded
    def room_scrollback(self, room: str, limit: int) -> list[Entry]:
        return self._entries(
            "SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text, m.nick FROM messages m"
            " WHERE m.receiver = %s AND m.type IN ('ROOM', 'GAME') ORDER BY m.id DESC LIMIT %s",
            ("#" + room, limit),
        )

    @_guarded
    def take_pending_pms(self, user: str) -> list[Entry]:
        """Take the PMs that wait for `user` in one statement (a write: any thread).

        Read-then-delete-at-the-next-commit let a login on another node, a moment later,
        take the same PMs again; the rows' deletion is now the read itself.
        """
        rows = self.db.execute(
            'WITH taken AS (DELETE FROM pending_pms WHERE "user" = %s RETURNING message_id)'
            " SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text FROM taken t"
            " JOIN messages m ON m.id = t.message_id ORDER BY m.id",
            (user,),
        ).fetchall()
        return [Entry(*row) for row in rows]

    @_guarded
    def pending_pms(self, user: str) -> list[Entry]:
        """The PMs that wait for `user` (a read: any thread)."""
        rows = self.db.execute(
            "SELECT m.id, m.ts, m.type, m.sender, m.receiver, m.text FROM pending_pms p"
            ' JOIN messages m ON m.id = p.message_id WHERE p."user" = %s ORDER BY m.id DESC',
            (user,),
        ).fetchall()
        return [Entry(*row) for row in reversed(rows)]

    def forget_pending_pms(self, user: str, entries: list[Entry]) -> None:
        """They were delivered: deleted at the next commit (the loop's thread)."""
        if entries:
            self._ops.append((STATE_OP, 'DELETE FROM pending_pms WHERE "user" = %s'
                              " AND message_id <= %s", (user, entries[-1].id)))

    # ------------------------------------------------------------ session tokens

    def save_token(self, digest: str, user: str, expires: float, state: dict[str, Any]) -> None:
        self._ops.append((STATE_OP, "INSERT INTO tokens VALUES (%s, %s, %s, %s)"
                          ' ON CONFLICT (digest) DO UPDATE SET "user" = EXCLUDED."user",'
                          " expires = EXCLUDED.expires, state = EXCLUDED.state",
                          (digest, user, expires, json.dumps(state))))

    @_guarded
    def take_token(self, digest: str) -> tuple[str, float, dict[str, Any]] | None:
        """Look a token up and delete it (single-use: at once, so no other node takes it too)."""
        row = self.db.execute('DELETE FROM tokens WHERE digest = %s RETURNING "user", expires,'
                              " state", (digest,)).fetchone()
        if row is None:
            return None
        return row[0], row[1], json.loads(row[2])

    def drop_tokens(self, user: str) -> None:
        self._ops.append((STATE_OP, 'DELETE FROM tokens WHERE "user" = %s', (user,)))

    # ------------------------------------------------------------ device keys (e2e PMs)

    def add_device_key(self, user: str, key: str, device: str) -> None:
        """Publish a device's public key for `user` (at the next commit); known keys stay."""
        _check(key, device)
        self.queue_change('INSERT INTO device_keys VALUES (%s, %s, %s, %s)'
                          ' ON CONFLICT ("user", key) DO NOTHING',
                          (user.casefold(), key, device, time.time()))

    # ------------------------------------------------------------ what every node shares

    @_guarded
    def share(self, name: str, value: str) -> str:
        """Keep `value` under `name` unless a node kept one first; the value kept (the TLS pair)."""
        _check(name, value)
        row = self.db.execute(
            "INSERT INTO shared VALUES (%s, %s) ON CONFLICT (name) DO NOTHING RETURNING value",
            (name, value)).fetchone()
        if row is not None:
            return str(row[0])
        return str(self.db.execute("SELECT value FROM shared WHERE name = %s",
                                   (name,)).fetchone()[0])

    def close(self) -> None:
        try:
            self.commit()
        finally:
            with self._lock:
                connections, self._connections = self._connections, []
            for db in connections:
                with contextlib.suppress(Exception):
                    db.close()
            self._local = threading.local()
