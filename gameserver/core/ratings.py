"""Glicko-2 ratings (Glickman's formulas), one rating period per rated result. No I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from games.base import Outcome, Termination

SCALE = 173.7178  # Glicko-2's conversion between the Glicko scale and its own
TAU = 0.5  # how much the volatility may change; Glickman suggests 0.3 to 1.2
EPSILON = 0.000001
START_RATING = 1500.0
START_RD = 350.0
START_VOL = 0.06
MIN_RD = 30.0  # keeps a veteran's rating able to move (one period per game, no decay)
LEADERBOARD_RD = 150.0  # the leaderboard lists only ratings this sure (marks others "?")


@dataclass(frozen=True)
class Rating:
    """A Glicko-2 rating on the Glicko scale: rating +- 2*rd holds the true strength."""

    rating: float = START_RATING
    rd: float = START_RD
    vol: float = START_VOL
    games: int = 0

    @property
    def provisional(self) -> bool:
        return self.rd > LEADERBOARD_RD

    def text(self) -> str:
        mark = "?" if self.provisional else ""
        return f"{round(self.rating)}{mark} (+-{round(2 * self.rd)})"


def _g(phi: float) -> float:
    return 1.0 / math.sqrt(1.0 + 3.0 * phi * phi / (math.pi * math.pi))


def _expected(mu: float, mu_j: float, phi_j: float) -> float:
    return 1.0 / (1.0 + math.exp(-_g(phi_j) * (mu - mu_j)))


def _new_volatility(sigma: float, phi: float, v: float, delta: float, tau: float) -> float:
    """Step 5 of Glickman's paper: the Illinois algorithm for the new volatility."""
    a = math.log(sigma * sigma)

    def f(x: float) -> float:
        ex = math.exp(x)
        num = ex * (delta * delta - phi * phi - v - ex)
        den = 2.0 * (phi * phi + v + ex) ** 2
        return num / den - (x - a) / (tau * tau)

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > EPSILON:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def rate(player: Rating, results: Sequence[tuple[Rating, float]], tau: float = TAU,
         min_rd: float = 0.0) -> Rating:
    """The player's rating after one rating period of (opponent, score) results.

    Scores are 1 for a win, 0.5 for a draw, 0 for a loss. With no results only the
    deviation grows (step 6 of the paper).
    """
    mu = (player.rating - START_RATING) / SCALE
    phi = player.rd / SCALE
    if not results:
        phi_star = math.sqrt(phi * phi + player.vol * player.vol)
        return Rating(player.rating, max(min_rd, phi_star * SCALE), player.vol, player.games)
    inv_v = 0.0
    gain = 0.0
    for opponent, score in results:
        mu_j = (opponent.rating - START_RATING) / SCALE
        phi_j = opponent.rd / SCALE
        e = _expected(mu, mu_j, phi_j)
        inv_v += _g(phi_j) ** 2 * e * (1.0 - e)
        gain += _g(phi_j) * (score - e)
    v = 1.0 / inv_v
    delta = v * gain
    sigma = _new_volatility(player.vol, phi, v, delta, tau)
    phi_star = math.sqrt(phi * phi + sigma * sigma)
    phi_new = 1.0 / math.sqrt(1.0 / (phi_star * phi_star) + 1.0 / v)
    mu_new = mu + phi_new * phi_new * gain
    return Rating(mu_new * SCALE + START_RATING, max(min_rd, phi_new * SCALE), sigma,
                  player.games + len(results))


def rate_game(a: Rating, b: Rating, score_a: float) -> tuple[Rating, Rating]:
    """Both players' new ratings after one game (its own rating period)."""
    return (rate(a, [(b, score_a)], min_rd=MIN_RD),
            rate(b, [(a, 1.0 - score_a)], min_rd=MIN_RD))


@dataclass(frozen=True)
class RatedResult:
    """One game that counts for ratings: players a and b, and a's score."""

    game: str
    a: str
    b: str
    score_a: float


def rated_result(game: str, players: Sequence[str], outcome: Outcome, moves: int,
                 bots: Iterable[str]) -> RatedResult | None:
    """The result a finished game puts into the ratings, or None if it does not count.

    Only two-seat games between two people count. An abandoned game, one that ended
    before any move was made (an invitation accepted, then resigned or timed out at
    once), does not: it says nothing about anyone's strength. Every other ending
    counts, whoever left how: a resignation, a loss on time and a seat forfeited
    after a disconnect are all losses, so leaving a lost game never saves a rating.
    """
    if len(players) != 2 or set(players) & set(bots) or moves == 0:
        return None
    a, b = players
    if outcome.termination is Termination.DRAW:
        score = 0.5
    elif a in outcome.winners or b in outcome.losers:
        score = 1.0
    elif b in outcome.winners or a in outcome.losers:
        score = 0.0
    else:
        return None
    return RatedResult(game, a, b, score)


def replay(results: Iterable[RatedResult]) -> dict[tuple[str, str], Rating]:
    """Every (user, game) rating from the stored results, oldest first."""
    ratings: dict[tuple[str, str], Rating] = {}
    for result in results:
        key_a, key_b = (result.a, result.game), (result.b, result.game)
        new_a, new_b = rate_game(ratings.get(key_a, Rating()), ratings.get(key_b, Rating()),
                                 result.score_a)
        ratings[key_a], ratings[key_b] = new_a, new_b
    return ratings
