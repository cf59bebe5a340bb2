"""Glicko-2 against Glickman's worked example, and which results count for ratings."""

from __future__ import annotations

import math

import pytest

from games.base import Outcome, Termination
from gameserver.core import ratings
from gameserver.core.ratings import RatedResult, Rating, rate, rate_game, rated_result, replay


def test_glickmans_worked_example() -> None:
    """The example of "Example of the Glicko-2 system" (Glickman, 2013), section 3."""
    player = Rating(1500, 200, 0.06)
    opponents = [(Rating(1400, 30), 1.0), (Rating(1550, 100), 0.0), (Rating(1700, 300), 0.0)]
    new = rate(player, opponents, tau=0.5)
    # The paper prints r' = 1464.06, RD' = 151.52, sigma' = 0.05999 (from rounded steps).
    assert new.rating == pytest.approx(1464.06, abs=0.01)
    assert new.rd == pytest.approx(151.52, abs=0.01)
    assert new.vol == pytest.approx(0.05999, abs=0.00001)
    assert new.games == 3


def test_the_example_s_intermediate_steps() -> None:
    mu, phi = 0.0, 200 / ratings.SCALE
    opponents = [(-0.5756, 0.1727, 1.0), (0.2878, 0.5756, 0.0), (1.1513, 1.7269, 0.0)]
    gs = [ratings._g(p) for _, p, _ in opponents]
    assert gs == pytest.approx([0.9955, 0.9531, 0.7242], abs=0.0001)
    es = [ratings._expected(mu, m, p) for m, p, _ in opponents]
    assert es == pytest.approx([0.639, 0.432, 0.303], abs=0.001)
    v = 1 / sum(g * g * e * (1 - e) for g, e in zip(gs, es, strict=True))
    assert v == pytest.approx(1.7785, abs=0.001)  # the paper rounds E and g first
    delta = v * sum(g * (s - e) for g, e, (_, _, s) in zip(gs, es, opponents, strict=True))
    assert delta == pytest.approx(-0.4834, abs=0.001)
    sigma = ratings._new_volatility(0.06, phi, v, delta, 0.5)
    assert sigma == pytest.approx(0.05999, abs=0.00001)


def test_no_games_only_widens_the_deviation() -> None:
    new = rate(Rating(1500, 200, 0.06), [])
    assert new.rating == 1500 and new.rd == pytest.approx(
        math.sqrt((200 / ratings.SCALE) ** 2 + 0.06 ** 2) * ratings.SCALE)


def test_one_game_is_one_rating_period_and_is_symmetric() -> None:
    a, b = rate_game(Rating(), Rating(), 1.0)
    assert a.rating > 1500 > b.rating
    assert a.rating - 1500 == pytest.approx(1500 - b.rating)
    assert a.rd == pytest.approx(b.rd) and a.rd < 350
    drawn = rate_game(Rating(), Rating(), 0.5)
    assert drawn[0].rating == pytest.approx(1500) and drawn[1].rating == pytest.approx(1500)
    # Beating a much stronger player gains more than beating an equal one.
    upset, _ = rate_game(Rating(), Rating(1900, 60), 1.0)
    assert upset.rating - 1500 > a.rating - 1500


def test_deviation_settles_and_never_falls_below_the_floor() -> None:
    a, b = Rating(), Rating()
    for _ in range(300):
        a, b = rate_game(a, b, 0.5)
        assert a.rd >= ratings.MIN_RD
    assert 30 <= a.rd < 80 and not a.provisional
    assert a.text() == f"1500 (+-{round(2 * a.rd)})"
    assert Rating().text() == "1500? (+-700)"
    floor = rate_game(Rating(1500, 10, 0.0001), Rating(1500, 10, 0.0001), 1.0)[0]
    assert floor.rd == ratings.MIN_RD


def outcome(termination: Termination, winners: tuple[str, ...] = (),
            losers: tuple[str, ...] = ()) -> Outcome:
    return Outcome(termination=termination, winners=winners, losers=losers, summary="x")


@pytest.mark.parametrize(("players", "result", "moves", "expected"), [
    (("ann", "bob"), outcome(Termination.WIN, ("ann",), ("bob",)), 5, 1.0),
    (("ann", "bob"), outcome(Termination.WIN, ("bob",), ("ann",)), 6, 0.0),
    (("ann", "bob"), outcome(Termination.DRAW), 9, 0.5),
    (("ann", "bob"), outcome(Termination.RESIGN, ("bob",), ("ann",)), 1, 0.0),
    (("ann", "bob"), outcome(Termination.FORFEIT, ("ann",), ("bob",)), 2, 1.0),
    (("ann", "bob"), outcome(Termination.FORFEIT, ("ann",), ("bob",)), 0, None),  # abandoned
    (("ann", "(bot)"), outcome(Termination.WIN, ("ann",), ("(bot)",)), 5, None),  # bot game
    (("ann",), outcome(Termination.WIN, ("ann", "bob")), 5, None),  # one seat: hangman
])
def test_what_counts_for_ratings(players: tuple[str, ...], result: Outcome, moves: int,
                                 expected: float | None) -> None:
    rated = rated_result("g", players, result, moves, ("(bot)",))
    assert (None if rated is None else rated.score_a) == expected


def test_replaying_results_gives_the_same_ratings_as_rating_as_they_came() -> None:
    results = [RatedResult("ttt", "ann", "bob", 1.0), RatedResult("ttt", "bob", "cy", 0.5),
               RatedResult("c4", "ann", "bob", 0.0), RatedResult("ttt", "cy", "ann", 0.0)]
    live: dict[tuple[str, str], Rating] = {}
    for r in results:
        a, b = rate_game(live.get((r.a, r.game), Rating()), live.get((r.b, r.game), Rating()),
                         r.score_a)
        live[(r.a, r.game)], live[(r.b, r.game)] = a, b
    assert replay(results) == live
    assert set(replay(results)) == {("ann", "ttt"), ("bob", "ttt"), ("cy", "ttt"),
                                    ("ann", "c4"), ("bob", "c4")}
