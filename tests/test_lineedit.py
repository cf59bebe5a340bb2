"""Tests for the pure line editor: keys, kills, history, Tab completion and view()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameclient.lineedit import HISTORY_LIMIT, LineEditor
from gameclient.textwidth import cell_width

E_COMBINING = "e\u0301"
COMMANDS = ["/join", "/game", "/games", "/msg", "/help", "/quit"]
NICKS = ["alice", "Alfred", "bob", "carol"]


def editor(text: str, cursor: int | None = None) -> LineEditor:
    ed = LineEditor()
    ed.insert(text)
    if cursor is not None:
        ed.cursor = cursor
    return ed


def state(ed: LineEditor) -> tuple[str, int]:
    return ed.text, ed.cursor


@pytest.mark.parametrize(
    ("text", "cursor", "op", "expected"),
    [
        ("abc", 3, "left", ("abc", 2)),
        ("abc", 0, "left", ("abc", 0)),
        ("abc", 1, "right", ("abc", 2)),
        ("abc", 3, "right", ("abc", 3)),
        ("abc", 2, "home", ("abc", 0)),
        ("abc", 1, "end", ("abc", 3)),
        ("abc", 2, "backspace", ("ac", 1)),
        ("abc", 0, "backspace", ("abc", 0)),
        ("abc", 1, "delete", ("ac", 1)),
        ("abc", 3, "delete", ("abc", 3)),
        ("caf" + E_COMBINING, 5, "left", ("caf" + E_COMBINING, 3)),
        ("caf" + E_COMBINING, 3, "right", ("caf" + E_COMBINING, 5)),
        ("caf" + E_COMBINING, 5, "backspace", ("caf", 3)),
        ("caf" + E_COMBINING + "!", 3, "delete", ("caf!", 3)),
        ("a👍🏽b", 3, "left", ("a👍🏽b", 1)),
        ("a👍🏽b", 1, "delete", ("ab", 1)),
        ("hello big world", 9, "kill_line", (" world", 0)),
        ("hello big world", 0, "kill_line", ("hello big world", 0)),
        ("hello big world", 15, "kill_word", ("hello big ", 10)),
        ("hello big   ", 12, "kill_word", ("hello ", 6)),
        ("hello big world", 9, "kill_word", ("hello  world", 6)),
        ("/msg bob hi", 4, "kill_word", (" bob hi", 0)),
        ("", 0, "kill_word", ("", 0)),
    ],
)
def test_key_operations(text: str, cursor: int, op: str, expected: tuple[str, int]) -> None:
    ed = editor(text, cursor)
    getattr(ed, op)()
    assert state(ed) == expected


def test_insert_at_cursor() -> None:
    ed = editor("hd")
    ed.left()
    ed.insert("ello worl")
    assert state(ed) == ("hello world", 10)


def test_insert_flattens_pasted_line_breaks_and_controls() -> None:
    ed = editor("a\tb\r\nc\nd\x1b")
    assert ed.text == "a b c d\u241b"


def test_insert_of_a_combining_mark_joins_the_char_before() -> None:
    ed = editor("cafe")
    ed.insert("\u0301")
    ed.left()
    assert ed.cursor == 3


def test_submit_returns_text_clears_and_records_history() -> None:
    ed = editor("hello")
    assert ed.submit() == "hello"
    assert state(ed) == ("", 0)
    ed.insert("hello")
    ed.submit()
    ed.insert("   ")
    assert ed.submit() == "   "
    assert ed.history == ["hello"]  # no duplicates, no blank lines


def test_history_is_capped() -> None:
    ed = LineEditor()
    for i in range(HISTORY_LIMIT + 20):
        ed.insert(f"line {i}")
        ed.submit()
    assert len(ed.history) == HISTORY_LIMIT
    assert ed.history[0] == "line 20"


def test_history_up_and_down_restore_the_draft() -> None:
    ed = LineEditor()
    for line in ["one", "two", "three"]:
        ed.insert(line)
        ed.submit()
    ed.insert("draft")
    ed.history_prev()
    assert state(ed) == ("three", 5)
    ed.history_prev()
    ed.history_prev()
    ed.history_prev()  # stays at the oldest
    assert ed.text == "one"
    ed.history_next()
    assert ed.text == "two"
    ed.history_next()
    ed.history_next()
    assert state(ed) == ("draft", 5)
    ed.history_next()  # already at the draft
    assert ed.text == "draft"


def test_history_with_nothing_sent_does_nothing() -> None:
    ed = editor("typing")
    ed.history_prev()
    ed.history_next()
    assert ed.text == "typing"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/jo", "/join "),
        ("/J", "/join "),  # case-insensitive
        ("/ga", "/game"),  # /game and /games: extended to the common prefix
        ("/x", "/x"),
        ("bo", "bob: "),  # nick as the first word is addressed
        ("hi bo", "hi bob "),
        ("hi CA", "hi carol "),
        ("hi al", "hi Alfred "),  # alice/Alfred: nothing to extend, so cycling starts
        ("/msg bo", "/msg bob "),
        ("hi /jo", "hi /jo"),  # commands only complete as the first word
        ("", ""),
        ("hi ", "hi "),
    ],
)
def test_complete_once(text: str, expected: str) -> None:
    ed = editor(text)
    ed.complete(COMMANDS + NICKS)
    assert state(ed) == (expected, len(expected))


def test_completion_keeps_text_after_cursor() -> None:
    ed = editor("hi bo there", 5)
    ed.complete(NICKS)
    assert state(ed) == ("hi bob  there", 7)


def test_ambiguous_completion_extends_then_cycles() -> None:
    ed = editor("/ga")
    ed.complete(COMMANDS)
    assert ed.text == "/game"
    ed.complete(COMMANDS)
    assert state(ed) == ("/game ", 6)
    ed.complete(COMMANDS)
    assert ed.text == "/games "
    ed.complete(COMMANDS)
    assert ed.text == "/game "  # wraps around


def test_ambiguous_nick_cycles_with_the_address_suffix() -> None:
    ed = editor("A")
    ed.complete(NICKS)
    assert ed.text == "Al"  # the typed case is kept, the prefix extended
    ed.complete(NICKS)
    assert ed.text == "Alfred: "
    ed.complete(NICKS)
    assert ed.text == "alice: "


def test_editing_between_tabs_restarts_completion() -> None:
    ed = editor("/ga")
    ed.complete(COMMANDS)
    ed.backspace()
    ed.complete(COMMANDS)
    assert ed.text == "/game"  # extended afresh rather than cycling
    ed.insert("s")
    ed.complete(COMMANDS)
    assert ed.text == "/games "


def test_view_short_text_is_not_scrolled() -> None:
    ed = editor("hello")
    assert ed.view(10) == ("hello", 5)
    ed.home()
    assert ed.view(10) == ("hello", 0)


def test_view_scrolls_to_keep_cursor_visible() -> None:
    ed = editor("abcdefghijklmnop")
    assert ed.view(10) == ("hijklmnop", 9)
    ed.home()
    assert ed.view(10) == ("abcdefghij", 0)
    ed.end()
    assert ed.view(10) == ("hijklmnop", 9)
    for _ in range(3):
        ed.left()
    assert ed.view(10) == ("hijklmnop", 6)  # no jump while the cursor stays visible


def test_view_never_splits_wide_chars() -> None:
    ed = editor("中文中文中文")
    shown, column = ed.view(5)
    assert (shown, column) == ("中文", 4)
    ed.left()
    shown, column = ed.view(5)
    assert column + 2 <= 5 and cell_width(shown) <= 5


def test_view_deletion_pulls_scroll_back() -> None:
    ed = editor("abcdefghijklmnop")
    ed.view(10)
    for _ in range(10):
        ed.backspace()
    assert ed.view(10) == ("abcdef", 6)


def test_view_zero_width() -> None:
    assert editor("abc").view(0) == ("", 0)


keys = st.lists(
    st.one_of(
        st.sampled_from(
            ["left", "right", "home", "end", "backspace", "delete", "kill_word", "kill_line"]
        ),
        st.sampled_from(["a", "中", "😀", "👍🏽", E_COMBINING, " ", "xyz"]),
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(keys=keys, width=st.integers(min_value=2, max_value=20))
def test_view_always_shows_the_cursor(keys: list[str], width: int) -> None:
    ed = LineEditor()
    for key in keys:
        if hasattr(ed, key):
            getattr(ed, key)()
        else:
            ed.insert(key)
        shown, column = ed.view(width)
        assert cell_width(shown) <= width
        assert 0 <= column < width
        # The shown slice starts at the scroll position and the cursor sits inside it.
        assert ed.text[ed.scroll :].startswith(shown)
        assert ed.scroll <= ed.cursor <= ed.scroll + len(shown)
        assert cell_width(ed.text[ed.scroll : ed.cursor]) == column
