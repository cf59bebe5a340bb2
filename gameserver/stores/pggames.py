"""The PostgreSQL store's games (leased to one node at a time), stats, ratings and replays."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from gameserver.storeapi import STATE_OP, StorageError
from gameserver.stores.pgbase import _check, _guarded

# A live game is hosted by one node at a time: it holds the game's lease and renews it;
# when a node dies its leases run out and another node takes the game over.
LEASE_SECONDS = 5.0
# Each connection of a node says which node it is (application_name, at most 63 bytes:
# a digest of the node's name), so another node can see that none of its are left.
APP_PREFIX, APP_DIGITS = "play node ", 20


class _NotOurs(StorageError):
    """A save of a game whose lease another node holds now (see save_games)."""


def application_name(node: str) -> str:
    return APP_PREFIX + hashlib.md5(node.encode(), usedforsecurity=False).hexdigest()[:APP_DIGITS]


class PostgresGames:
    """Part of PostgresStore: its games, each hosted by the node holding its lease."""

    db: Any
    node: str
    _ops: list[tuple[int, str, tuple[Any, ...]]]

    # ------------------------------------------------------------ games

    @_guarded
    def save_game(self, game_id: int | None, room: str, state: dict[str, Any],
                  over: bool) -> int:
        """Insert (leased to this node) or update a game; returns its id. Written at once."""
        data = json.dumps(state)
        if game_id is None:
            row = self.db.execute(
                "INSERT INTO games (room, state, over, owner, lease_until)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (room, data, over, self.node, time.time() + LEASE_SECONDS)).fetchone()
            return int(row[0])
        self.save_games([(game_id, room, state, over)])
        return game_id

    @_guarded
    def save_games(self, rows: list[tuple[int, str, dict[str, Any], bool]]) -> None:
        """Update several games in one transaction (a node's queued saves, in a store thread).

        Only while this node holds a game's lease: a node that stalled past it (or was cut
        off from both engines) and wakes up finds another node hosting the game, and its
        save is refused whole (StorageError: its moves are undone) instead of writing over
        the new host's state. Its next lease round then drops the game."""
        db = self.db
        with db.transaction(), db.cursor() as one:
            for game_id, room, state, over in rows:
                one.execute("UPDATE games SET room = %s, state = %s, over = %s"
                            " WHERE id = %s AND owner = %s",
                            (room, json.dumps(state), over, game_id, self.node))
                if one.rowcount != 1:
                    raise _NotOurs(f"game {game_id} is hosted by another node now")

    @_guarded
    def live_games(self) -> list[tuple[int, str, dict[str, Any]]]:
        """The live games this node hosts from now on: its own, and any whose lease ran out."""
        return self._claim("(owner = %s OR lease_until < %s)", (self.node, time.time()))

    @_guarded
    def claim_orphan_games(self) -> list[tuple[int, str, dict[str, Any]]]:
        """Live games of other nodes whose lease ran out (their node died): ours now."""
        return self._claim("owner <> %s AND lease_until < %s", (self.node, time.time()))

    @_guarded
    def claim_games_of(self, nodes: list[str]) -> list[tuple[int, str, dict[str, Any]]]:
        """Live games of these nodes (the bus says they are gone) that the database sees no
        connection of theirs for: a killed node's sockets close at once, so its games need
        not wait for their leases. A node merely cut off from the bus still has its
        connections here, and keeps its games (two nodes never host one)."""
        return self._claim("owner <> %s AND owner = ANY(%s::text[]) AND NOT EXISTS (SELECT 1"
                           " FROM pg_stat_activity a WHERE a.application_name = %s::text ||"
                           " left(md5(games.owner), %s::int))",
                           (self.node, list(nodes), APP_PREFIX, APP_DIGITS))

    def _claim(self, where: str, args: tuple[Any, ...]) -> list[tuple[int, str, dict[str, Any]]]:
        rows = self.db.execute(
            f"UPDATE games SET owner = %s, lease_until = %s WHERE NOT over AND {where}"
            " RETURNING id, room, state", (self.node, time.time() + LEASE_SECONDS, *args))
        return sorted((gid, room, json.loads(state)) for gid, room, state in rows)

    @_guarded
    def renew_game_leases(self) -> set[int]:
        """Hold this node's live games for another LEASE_SECONDS; the ids still held."""
        rows = self.db.execute("UPDATE games SET lease_until = %s WHERE owner = %s AND NOT over"
                               " RETURNING id", (time.time() + LEASE_SECONDS, self.node))
        return {row[0] for row in rows}

    def add_result(self, user: str, game: str, result: str) -> None:
        column = {"win": "wins", "loss": "losses", "draw": "draws"}[result]
        self._ops.append((
            STATE_OP,
            f'INSERT INTO stats ("user", game, {column}) VALUES (%s, %s, 1)'
            f' ON CONFLICT ("user", game) DO UPDATE SET {column} = stats.{column} + 1',
            (user, game),
        ))

    # ------------------------------------------------------------ ratings and replays

    @_guarded
    def record_rating(self, game_id: int, game: str, ts: float, a: str, b: str,
                      score_a: float, ratings: list[tuple[str, float, float, float, int]]) -> bool:
        _check(game, a, b, *(row[0] for row in ratings))
        db = self.db
        with db.transaction():
            cur = db.execute(
                "INSERT INTO rated_results (game_id, game, ts, a, b, score_a)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (game_id) DO NOTHING",
                (game_id, game, ts, a, b, score_a))
            if cur.rowcount != 1:
                return False
            with db.cursor() as many:
                many.executemany(
                    "INSERT INTO ratings VALUES (%s, %s, %s, %s, %s, %s)"
                    ' ON CONFLICT ("user", game) DO UPDATE SET rating = EXCLUDED.rating,'
                    " rd = EXCLUDED.rd, vol = EXCLUDED.vol, games = EXCLUDED.games",
                    [(user, game, *values) for user, *values in ratings])
        return True

    @_guarded
    def replace_ratings(self, rows: list[tuple[str, str, float, float, float, int]]) -> None:
        db = self.db
        with db.transaction():
            db.execute("DELETE FROM ratings")
            with db.cursor() as many:
                many.executemany("INSERT INTO ratings VALUES (%s, %s, %s, %s, %s, %s)", rows)

    @_guarded
    def finished_games(self, room: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute(
            "SELECT id, state FROM games WHERE room = %s AND over"
            " AND (state::jsonb ->> 'game') IS NOT NULL ORDER BY id DESC LIMIT %s",
            (room, limit))
        return [(gid, json.loads(state)) for gid, state in rows]
