"""Durations in words, said one way everywhere: '1 hour', '1 hour 30 minutes', '45 seconds'."""

from __future__ import annotations

import math

UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _precision(seconds: float) -> int:
    """How finely a duration of this size is said: seconds, then minutes, then hours."""
    if seconds < 600:
        return 1
    if seconds < 86400:
        return 60
    return 3600


def say_duration(seconds: float, *, round_up: bool = False, tenths: bool = False) -> str:
    """A duration as a person writes it: at most two units, the larger first.

    3600 is '1 hour' (never '60 minutes'), 5400 '1 hour 30 minutes', 90 '1 minute 30
    seconds', 3599.4 (a ban's time left) '1 hour'. Short ones are said to the second,
    long ones to the minute or the hour. `round_up` is for waits: 'try again in' is
    never shorter than the wait. `tenths`: a setting under 10 seconds keeps its tenth
    (a timeout of 1.5 seconds). Never less than '1 second' otherwise.
    """
    seconds = max(0.0, float(seconds))
    if tenths and 0 < seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{max(0.1, round(seconds, 1)):g} seconds"  # a timeout set to 1.5 s is not '2'
    step = _precision(seconds)
    count = math.ceil(seconds / step - 1e-9) if round_up else round(seconds / step)
    total = max(1, count) * step
    step = _precision(total)  # rounding may have crossed into the next size (599.6 -> 600)
    total = max(1, round(total / step)) * step
    parts: list[str] = []
    for n, (unit, size) in enumerate(UNITS):
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
        if parts and (len(parts) == 2 or amount == 0 or n + 1 == len(UNITS)):
            break
    return " ".join(parts[:2])


def say_every(seconds: float) -> str:
    """How often: 'every minute', 'every 30 seconds', 'every 1 minute 30 seconds'."""
    said = say_duration(seconds)
    amount, _, unit = said.partition(" ")
    return f"every {unit}" if amount == "1" and " " not in unit else f"every {said}"
