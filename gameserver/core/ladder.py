"""Ratings kept in the store: one rated result at a time, or all rebuilt from the results."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from games.base import Outcome
from gameserver.core import ratings
from gameserver.store import Store


def record(store: Store, game_id: int, game: str, players: Sequence[str], outcome: Outcome,
           moves: int, ended_at: float, bots: Iterable[str]) -> bool:
    """Store a finished game's rated result and both new ratings; False if it is unrated."""
    rated = ratings.rated_result(game, players, outcome, moves, bots)
    if rated is None:
        return False
    mine = store.ratings_of(rated.a).get(game)
    theirs = store.ratings_of(rated.b).get(game)
    new_a, new_b = ratings.rate_game(
        ratings.Rating(*mine) if mine else ratings.Rating(),
        ratings.Rating(*theirs) if theirs else ratings.Rating(), rated.score_a)
    return store.record_rating(game_id, game, ended_at, rated.a, rated.b, rated.score_a, [
        (user, r.rating, r.rd, r.vol, r.games) for user, r in ((rated.a, new_a), (rated.b, new_b))])


def recompute(store: Store) -> int:
    """Rebuild every rating from the stored rated results; how many results there were."""
    stored = store.rated_results()
    rebuilt = ratings.replay(ratings.RatedResult(game, a, b, score)
                             for _gid, game, a, b, score in stored)
    store.replace_ratings([(user, game, r.rating, r.rd, r.vol, r.games)
                           for (user, game), r in rebuilt.items()])
    return len(stored)
