"""Tests for display-width maths: widths, truncate, pad, wrap and sanitize."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameclient.textwidth import cell_width, clusters, pad, sanitize, truncate, wrap

E_PRECOMPOSED = "\u00e9"
E_COMBINING = "e\u0301"
THUMBS_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: emoji + skin-tone modifier
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"

PIECES = [
    "a",
    "b",
    "Z",
    "1",
    " ",
    "  ",
    "hello",
    E_PRECOMPOSED,
    E_COMBINING,
    "中",
    "文",
    "😀",
    THUMBS_MEDIUM,
    FAMILY,
    "❤\ufe0f",
    "🇫🇷",
    "…",
]
curated = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
any_text = st.one_of(curated, st.text(max_size=60))


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 0),
        ("abc", 3),
        (E_PRECOMPOSED, 1),
        (E_COMBINING, 1),
        ("caf" + E_COMBINING, 4),
        ("中", 2),
        ("中文", 4),
        ("😀", 2),
        (THUMBS_MEDIUM, 4),  # as curses counts it: emoji 2 + modifier 2
        ("\u2764\ufe0f", 1),  # ❤️: the variation selector adds nothing to curses
        ("a\x1bb", 2),  # the control char will be stripped, so it counts 0
        ("\u0301", 0),  # a combining mark alone
    ],
)
def test_cell_width(text: str, width: int) -> None:
    assert cell_width(text) == width


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc", ["a", "b", "c"]),
        ("caf" + E_COMBINING, ["c", "a", "f", E_COMBINING]),
        (THUMBS_MEDIUM + "x", [THUMBS_MEDIUM, "x"]),
        (FAMILY, [FAMILY]),
        ("🇫🇷🇩🇪", ["🇫🇷", "🇩🇪"]),
        ("a\x1b\u0301", ["a", "\x1b", "\u0301"]),
    ],
)
def test_clusters_keep_marks_with_their_base(text: str, expected: list[str]) -> None:
    assert clusters(text) == expected


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("hello", 5, "hello"),
        ("hello", 10, "hello"),
        ("hello world", 5, "hell…"),
        ("hello", 1, "…"),
        ("hello", 0, ""),
        ("hello", -3, ""),
        ("中文中文", 8, "中文中文"),
        ("中文中文", 4, "中…"),
        ("中文中文", 3, "中…"),
        ("中文中文", 2, "…"),  # the wide char does not fit next to the ellipsis
        ("caf" + E_COMBINING + "s", 4, "caf…"),
        ("caf" + E_COMBINING + "!!", 5, "caf" + E_COMBINING + "…"),
    ],
)
def test_truncate(text: str, width: int, expected: str) -> None:
    assert truncate(text, width) == expected


def test_truncate_custom_ellipsis() -> None:
    assert truncate("abcdef", 5, "...") == "ab..."
    assert truncate("abcdef", 2, "...") == ".."
    assert truncate("abcdef", 3, "") == "abc"


@pytest.mark.parametrize(
    ("text", "width", "expected"),
    [
        ("ab", 4, "ab  "),
        ("中", 3, "中 "),
        ("中文中", 5, "中文…"),
        ("中文中", 4, "中… "),
        ("x", 0, ""),
    ],
)
def test_pad(text: str, width: int, expected: str) -> None:
    assert pad(text, width) == expected
    assert cell_width(pad(text, width)) == max(0, width)


@pytest.mark.parametrize(
    ("text", "width", "indent", "expected"),
    [
        ("", 10, 0, [""]),
        ("hello world", 20, 0, ["hello world"]),
        ("hello world", 5, 0, ["hello", "world"]),
        ("hello big world", 9, 2, ["hello big", "  world"]),
        ("abcdefghij", 4, 0, ["abcd", "efgh", "ij"]),
        ("abcdefghij", 5, 2, ["abcde", "  fgh", "  ij"]),
        ("中文中文", 3, 0, ["中", "文", "中", "文"]),
        ("a中文", 2, 0, ["a", "中", "文"]),
        ("caf" + E_COMBINING * 3, 2, 0, ["ca", "f" + E_COMBINING, E_COMBINING * 2]),
        ("😀😀 👍🏽", 4, 0, ["😀😀", "👍🏽"]),
        ("one\ntwo", 10, 2, ["one", "  two"]),
        ("x" * 5, 5, 5, ["xxxxx"]),  # indent >= width is ignored
        ("abc def", 3, 9, ["abc", "def"]),
        ("中", 1, 0, ["?"]),  # a wide char can never fit in one column
    ],
)
def test_wrap(text: str, width: int, indent: int, expected: list[str]) -> None:
    assert wrap(text, width, indent) == expected


def test_wrap_keeps_inner_spaces_but_drops_them_at_breaks() -> None:
    assert wrap("a  b   c", 20) == ["a  b   c"]
    assert wrap("aaaa   bbbb", 6) == ["aaaa", "bbbb"]


@settings(max_examples=200)
@given(text=any_text, width=st.integers(min_value=-2, max_value=30))
def test_truncate_and_pad_never_exceed_width(text: str, width: int) -> None:
    cut = truncate(text, width)
    assert cell_width(cut) <= max(0, width)
    if cell_width(text) <= width:
        assert cut == text
    assert cell_width(pad(text, width)) == max(0, width)


@settings(max_examples=200)
@given(
    text=any_text,
    width=st.integers(min_value=1, max_value=30),
    indent=st.integers(min_value=0, max_value=8),
)
def test_wrap_never_exceeds_width(text: str, width: int, indent: int) -> None:
    lines = wrap(text, width, indent)
    assert lines
    assert all(cell_width(line) <= width for line in lines)


@settings(max_examples=200)
@given(
    text=curated,
    width=st.integers(min_value=12, max_value=30),  # indent 8 still leaves 👍🏽 its 4
    indent=st.integers(min_value=0, max_value=8),
)
def test_wrap_never_loses_characters(text: str, width: int, indent: int) -> None:
    text = sanitize(text)  # what is drawn: zero-width joiners are dropped
    lines = wrap(text, width, indent)
    used_indent = indent if width - indent >= 2 else 0
    bodies = [lines[0]] + [line[used_indent:] for line in lines[1:]]
    assert all(line.startswith(" " * used_indent) for line in lines[1:])
    assert "".join(bodies).replace(" ", "") == text.replace(" ", "")
    # Breaks fall at spaces or inside over-long words, never inside a cluster.
    assert [c for line in bodies for c in clusters(line.replace(" ", ""))] == clusters(
        text.replace(" ", "")
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("a\tb", "a b"),
        ("\x1b[2J\x1b[H", "\u241b[2J\u241b[H"),
        ("bell\x07", "bell\u2407"),
        ("cr\rlf\n", "cr\u240dlf\u240a"),
        ("del\x7f", "del\u2421"),
        ("c1\x9b31m", "c1\ufffd31m"),
        ("rtl\u202eevil", "rtlevil"),
        ("caf" + E_COMBINING + " 中 😀", "caf" + E_COMBINING + " 中 😀"),
    ],
)
def test_sanitize(text: str, expected: str) -> None:
    assert sanitize(text) == expected


def test_sanitize_can_keep_newlines_for_wrap() -> None:
    assert sanitize("a\nb\x1b", keep_newlines=True) == "a\nb\u241b"


@settings(max_examples=200)
@given(st.text(max_size=60))
def test_sanitize_leaves_nothing_that_moves_the_cursor(text: str) -> None:
    clean = sanitize(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in clean)
