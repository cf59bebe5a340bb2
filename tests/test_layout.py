"""Tests for screen geometry: pane placement, minimum size and transcript scrolling."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameclient.layout import MIN_COLS, MIN_ROWS, Layout, Rect, compute_layout, scroll_window

TICTACTOE = (7, 13)


def panes(layout: Layout) -> list[Rect]:
    rects = [layout.status, layout.chat, layout.input]
    if layout.board is not None:
        rects.append(layout.board)
    return rects


def overlap(a: Rect, b: Rect) -> bool:
    if a.empty or b.empty:
        return False
    return a.top < b.bottom and b.top < a.bottom and a.left < b.right and b.left < a.right


def test_rect_helpers() -> None:
    r = Rect(top=2, left=3, height=4, width=5)
    assert (r.bottom, r.right, r.empty) == (6, 8, False)
    assert Rect(0, 0, 0, 5).empty and Rect(0, 0, 5, 0).empty and Rect(0, 0, -1, 3).empty


def test_80x24_board_on_the_right() -> None:
    layout = compute_layout(24, 80, TICTACTOE)
    assert layout.status == Rect(0, 0, 1, 80)
    assert layout.input == Rect(23, 0, 1, 80)
    assert layout.board_side == "right"
    assert layout.board == Rect(1, 65, 22, 15)
    assert layout.chat == Rect(1, 0, 22, 65)
    assert not layout.too_small


def test_132x43_board_on_the_right() -> None:
    layout = compute_layout(43, 132, TICTACTOE)
    assert layout.board_side == "right"
    assert layout.board == Rect(1, 117, 41, 15)
    assert layout.chat == Rect(1, 0, 41, 117)


def test_60x20_board_on_top() -> None:
    layout = compute_layout(20, 60, TICTACTOE)
    assert layout.board_side == "top"
    assert layout.board == Rect(1, 0, 8, 60)  # 7 board lines + separator
    assert layout.chat == Rect(9, 0, 10, 60)
    assert layout.input == Rect(19, 0, 1, 60)


def test_tall_board_on_top_leaves_the_chat_its_minimum() -> None:
    layout = compute_layout(20, 60, (30, 20))
    assert layout.board == Rect(1, 0, 15, 60)
    assert layout.chat == Rect(16, 0, 3, 60)


def test_big_board_on_the_right_is_capped_at_half_the_width() -> None:
    layout = compute_layout(24, 100, (40, 120))
    assert layout.board_side == "right"
    assert layout.board == Rect(1, 50, 22, 50)
    assert layout.chat.width == 50


def test_30x8_is_too_small() -> None:
    layout = compute_layout(8, 30, TICTACTOE)
    assert layout.too_small
    assert layout.board is None and layout.board_side is None


@pytest.mark.parametrize(("rows", "cols"), [(MIN_ROWS - 1, 80), (24, MIN_COLS - 1)])
def test_below_minimum_in_one_dimension_is_too_small(rows: int, cols: int) -> None:
    assert compute_layout(rows, cols, None).too_small


def test_minimum_size_is_usable() -> None:
    layout = compute_layout(MIN_ROWS, MIN_COLS, TICTACTOE)
    assert not layout.too_small
    assert layout.board_side == "top"
    assert layout.chat.height >= 3


def test_no_game_means_no_board() -> None:
    layout = compute_layout(24, 80, None)
    assert layout.board is None and layout.board_side is None
    assert layout.chat == Rect(1, 0, 22, 80)


@settings(max_examples=300)
@given(
    rows=st.integers(min_value=1, max_value=200),
    cols=st.integers(min_value=1, max_value=200),
    board=st.one_of(
        st.none(),
        st.tuples(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300)),
    ),
)
def test_panes_stay_on_screen_and_never_overlap(
    rows: int, cols: int, board: tuple[int, int] | None
) -> None:
    layout = compute_layout(rows, cols, board)
    rects = panes(layout)
    for rect in rects:
        assert rect.height >= 0 and rect.width >= 0
        if not rect.empty:
            assert 0 <= rect.top and rect.bottom <= rows
            assert 0 <= rect.left and rect.right <= cols
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not overlap(a, b)
    if not layout.too_small:
        covered = sum(r.height * r.width for r in rects)
        assert covered == rows * cols  # nothing left undrawn
        assert layout.chat.height >= 3 and layout.chat.width >= MIN_COLS
    assert (layout.board is None) == (layout.board_side is None)


@pytest.mark.parametrize(
    ("total", "height", "offset", "expected"),
    [
        (100, 10, 0, (90, 100, 0)),
        (100, 10, 5, (85, 95, 5)),
        (100, 10, 90, (0, 10, 90)),
        (100, 10, 500, (0, 10, 90)),  # clamped at the top
        (100, 10, -4, (90, 100, 0)),
        (5, 10, 0, (0, 5, 0)),  # fewer lines than the window
        (5, 10, 3, (0, 5, 0)),
        (0, 10, 0, (0, 0, 0)),
        (10, 0, 2, (8, 8, 2)),  # a collapsed window keeps the reader's place
    ],
)
def test_scroll_window(
    total: int, height: int, offset: int, expected: tuple[int, int, int]
) -> None:
    assert scroll_window(total, height, offset) == expected
