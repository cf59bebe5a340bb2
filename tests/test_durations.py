"""Durations are said one way everywhere: bans, mutes, slow mode, move clocks, waits."""

from __future__ import annotations

import pytest

from gameserver.core import clocks
from gameserver.core.gamehost import duration
from gameserver.core.roles import Sanction, parse_duration
from gameserver.durations import say_duration
from gameserver.throttle import say_wait


@pytest.mark.parametrize(("seconds", "words"), [
    (1, "1 second"), (0.2, "1 second"), (1.5, "2 seconds"), (45, "45 seconds"),
    (9.96, "10 seconds"), (60, "1 minute"),
    (90, "1 minute 30 seconds"), (599.6, "10 minutes"), (600, "10 minutes"),
    (3600, "1 hour"), (3599.4, "1 hour"), (3660, "1 hour 1 minute"),
    (5400, "1 hour 30 minutes"), (7200, "2 hours"), (86399, "1 day"), (86400, "1 day"),
    (90000, "1 day 1 hour"), (7 * 86400, "7 days"),
])
def test_said_naturally(seconds: float, words: str) -> None:
    assert say_duration(seconds) == words


@pytest.mark.parametrize("typed", ["1h", "60m", "3600", "3600s"])
def test_an_hour_is_one_hour_however_it_was_typed(typed: str) -> None:
    seconds = parse_duration(typed)
    assert seconds is not None and say_duration(seconds) == "1 hour"


def test_a_bans_time_left_never_says_sixty_minutes() -> None:
    """Checked a moment after a 1h ban began, the time left still reads as a person says it."""
    ban = Sanction("mal", until=1000.0 + 3600)
    for elapsed in (0.0, 0.3, 0.6, 1.0, 29.0):
        text = ban.left(1000.0 + elapsed)
        assert "60 minutes" not in text and text in ("for 1 hour", "for 59 minutes"), text
    assert ban.left(1000.0 + 1800) == "for 30 minutes"


def test_every_duration_writer_agrees() -> None:
    for seconds in (1, 30, 60, 90, 600, 3600, 5400, 86400):
        said = say_duration(seconds)
        assert clocks.seconds_text(seconds) == said and duration(seconds) == said
        assert say_wait(seconds) == said


def test_waits_round_up() -> None:
    assert say_wait(0.2) == "1 second" and say_wait(61) == "1 minute 1 second"
    assert say_wait(3600.5) == "1 hour 1 minute"
    assert say_duration(3600.5) == "1 hour"


def test_how_often() -> None:
    from gameserver.durations import say_every

    assert [say_every(s) for s in (1, 30, 60, 90, 3600, 7200)] == [
        "every second", "every 30 seconds", "every minute", "every 1 minute 30 seconds",
        "every hour", "every 2 hours"]


def test_a_short_setting_keeps_its_tenth() -> None:
    assert [say_duration(s, tenths=True) for s in (0.5, 1.5, 2, 9.96, 30)] == [
        "0.5 seconds", "1.5 seconds", "2 seconds", "10 seconds", "30 seconds"]
