"""Move clocks and disconnect grace periods: pure decisions on times the caller passes in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gameserver.durations import say_duration

WARN_AT = 10.0  # seconds left on a move clock when the room is warned
GRACE = 60.0  # seconds a disconnected player's seat is kept before it is forfeited
MIN_CLOCK = 5.0
MAX_CLOCK = 24 * 3600.0
OFF_WORDS = frozenset({"off", "none", "no"})

_PART = re.compile(r"(\d+)([hms]?)")
_UNIT = {"h": 3600, "m": 60, "s": 1, "": 1}


class ClockError(ValueError):
    """A --clock value that is not a time; the message is for the user."""


def parse_clock(text: str) -> float | None:
    """'30s', '30', '2m', '1m30s', '1h' as seconds; 'off' as None (no move clock)."""
    word = text.strip().lower()
    if word in OFF_WORDS:
        return None
    parts = _PART.findall(word) if word else []
    if not parts or "".join(n + u for n, u in parts) != word or (
            len(parts) > 1 and any(u == "" for _, u in parts)):
        raise ClockError(f"{text!r} is not a time per move; try --clock 30s, 2m or off")
    seconds = float(sum(int(n) * _UNIT[u] for n, u in parts))
    if not MIN_CLOCK <= seconds <= MAX_CLOCK:
        raise ClockError(f"a move clock is {seconds_text(MIN_CLOCK)} to 24 hours,"
                         f" not {seconds_text(seconds)}")
    return seconds


def seconds_text(seconds: float) -> str:
    """A time for people, said as every duration is: '45 seconds', '1 minute 30 seconds'."""
    return say_duration(seconds)


@dataclass(frozen=True)
class Warn:
    """The player to move has little time left (said once per move)."""

    player: str
    left: float


@dataclass(frozen=True)
class OutOfTime:
    """The player to move used up their time: they lose the game on time."""

    player: str


@dataclass(frozen=True)
class GraceOver:
    """A disconnected player did not come back in time: their seat is forfeited."""

    player: str


Decision = Warn | OutOfTime | GraceOver


def time_left(per_move: float | None, since: float, now: float) -> float | None:
    """Seconds left for the current move, never below 0; None without a clock."""
    if per_move is None:
        return None
    return max(0.0, per_move - (now - since))


def decide(*, per_move: float | None, since: float, warned: bool, turn: str | None,
           away: Mapping[str, float], now: float) -> Decision | None:
    """What the platform must do now about one game's clock and absent players, if anything.

    `turn` is the player to move (None for none, or a bot); `away` maps each
    disconnected player to when their grace period ends. The move clock runs on
    whether its player is connected or not, so leaving never buys time; whichever
    runs out first, the clock or the grace period, ends the game.
    """
    left = time_left(per_move, since, now) if turn is not None else None
    if left is not None and left <= 0:
        return OutOfTime(turn or "")
    for player, deadline in sorted(away.items(), key=lambda item: item[1]):
        if now >= deadline:
            return GraceOver(player)
    if left is not None and left <= WARN_AT and not warned and per_move is not None \
            and per_move > WARN_AT:
        return Warn(turn or "", left)
    return None
