"""IRC text helpers: formatting codes stripped, CTCP ACTION, coloured boards, pacing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameserver.doors.irc_text import (
    Pacer,
    board_notices,
    colour_board_line,
    is_ctcp,
    parse_action,
    strip_formatting,
)


@pytest.mark.parametrize(("sent", "seen"), [
    ("plain", "plain"),
    ("\x02bold\x02 and \x1ditalic\x1d", "bold and italic"),
    ("\x0304red\x03 \x0304,12red on blue\x0f", "red red on blue"),
    ("\x03 no colour number", " no colour number"),
    ("\x0312345", "345"),  # at most two digits are the colour
    ("\x04ff0000hex\x04", "hex"),
    ("\x1funder\x16rev\x1estrike\x11mono", "underrevstrikemono"),
    ("2\x03,3", "2,3"),  # a comma without a foreground is text
])
def test_strip_formatting(sent: str, seen: str) -> None:
    assert strip_formatting(sent) == seen


@given(st.text())
def test_strip_formatting_leaves_no_code_behind(text: str) -> None:
    stripped = strip_formatting(text)
    assert not set(stripped) & set("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")


def test_ctcp_action() -> None:
    assert parse_action("\x01ACTION waves\x01") == "waves"
    assert parse_action("\x01ACTION waves") == "waves"  # some clients omit the last \x01
    assert parse_action("\x01ACTION\x01") == ""
    assert parse_action("\x01ACTIONS x\x01") is None
    assert parse_action("hello") is None
    assert is_ctcp("\x01VERSION\x01") and not is_ctcp("hi")


def test_boards_keep_their_shape_and_colour_only_pieces() -> None:
    board = ["    a   b   c", " 1  X | O | .", "   ---+---+---", "", " 2  . | X | ."]
    plain = board_notices(board, colour=False)
    assert plain == board[:3] + [" "] + board[4:]
    coloured = board_notices(board, colour=True)
    assert [strip_formatting(line) for line in coloured] == plain
    assert "\x0304X\x03" in coloured[1] and "\x0302O\x03" in coloured[1]
    assert colour_board_line("a.b") == "a.b"


def test_pacer_lets_a_burst_through_then_spaces_lines() -> None:
    pacer = Pacer(burst=5, interval=0.5)
    delays = [pacer.delay(100.0) for _ in range(8)]
    assert delays == [0, 0, 0, 0, 0, 0.5, 1.0, 1.5]
    assert not pacer.idle(100.0) and pacer.idle(101.5)
    # after a quiet spell the whole burst is available again
    assert [pacer.delay(200.0) for _ in range(5)] == [0] * 5


@given(st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=60),
       st.integers(1, 8), st.floats(min_value=0.05, max_value=2))
def test_pacer_never_sends_more_than_burst_in_any_window(gaps: list[float], burst: int,
                                                         interval: float) -> None:
    pacer = Pacer(burst=burst, interval=interval)
    now, sent = 0.0, []
    for gap in gaps:
        now += gap
        sent.append(now + pacer.delay(now))
    assert sent == sorted(sent)
    for i in range(len(sent)):
        for k in range(burst, len(sent) - i):
            # after a burst, at most one line per interval
            assert sent[i + k] - sent[i] >= (k - burst + 1) * interval - 1e-9
