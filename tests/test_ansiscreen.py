"""The ANSI canvas, read back through a terminal emulator (pyte): same cells, few bytes."""

from __future__ import annotations

import curses
import unicodedata

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ptyterm import Terminal
from test_views import Grid, chat, game, model_with

from gameclient import screen as curses_screen
from gameclient.ansiscreen import (
    ENTER,
    LEAVE,
    MONO_ATTRS,
    STYLE_COLOURS,
    AnsiCanvas,
    Capabilities,
    capabilities,
)
from gameclient.layout import compute_layout
from gameclient.model import Line
from gameclient.views import (
    ChatView,
    board_size,
    draw_board,
    draw_chat,
    draw_input,
    draw_status,
    draw_too_small,
    nick_style,
)

PYTE_COLOURS = {0: "black", 1: "red", 2: "green", 3: "brown", 4: "blue", 5: "magenta",
                6: "cyan", 7: "white"}


class Far:
    """The far end: a terminal emulator fed everything the canvas sends."""

    def __init__(self, rows: int, cols: int) -> None:
        self.screen = Terminal(cols, rows)
        self.stream = pyte.Stream(self.screen)
        self.sent = 0
        self.feed(ENTER)

    def feed(self, text: str) -> int:
        self.stream.feed(text)
        self.sent += len(text.encode())
        return len(text.encode())

    def line(self, y: int) -> str:
        return self.screen.display[y]

    def char(self, y: int, x: int) -> pyte.screens.Char:
        return self.screen.buffer[y][x]


def assert_same(far: Far, canvas: AnsiCanvas) -> None:
    rows, cols = canvas.size()
    for y in range(rows):
        assert far.line(y) == unicodedata.normalize("NFC", canvas.text(y)), f"row {y}"


def test_first_frame_draws_everything_then_nothing_is_sent_again() -> None:
    canvas, far = AnsiCanvas(5, 20), Far(5, 20)
    canvas.write(0, 0, "status bar", "status", 20)
    canvas.write(2, 3, "héllo 中文 e\u0301!", "chat")
    canvas.write(4, 0, "> ", "prompt")
    far.feed(canvas.render((4, 2)))
    assert_same(far, canvas)
    assert (far.screen.cursor.y, far.screen.cursor.x) == (4, 2)
    assert not far.screen.cursor.hidden
    assert far.char(0, 0).reverse and far.char(4, 0).bold
    assert canvas.render((4, 2)) == ""
    canvas.erase()
    canvas.write(0, 0, "status bar", "status", 20)
    canvas.write(2, 3, "héllo 中文 e\u0301!", "chat")
    canvas.write(4, 0, "> ", "prompt")
    assert canvas.render((4, 2)) == "", "the same frame drawn again costs nothing"


def test_one_changed_cell_sends_a_few_bytes() -> None:
    canvas, far = AnsiCanvas(24, 80), Far(24, 80)
    for y in range(24):
        canvas.write(y, 0, f"row {y} " + "x" * 60, "chat")
    far.feed(canvas.render((23, 0)))
    canvas.write(10, 30, "Y", "chat")
    sent = far.feed(canvas.render((23, 0)))
    assert sent < 40  # hide the cursor, move, "Y", put the cursor back
    assert_same(far, canvas)
    canvas.write(23, 2, "abc", "input")
    sent = far.feed(canvas.render((23, 5)))
    assert sent < 40 and (far.screen.cursor.y, far.screen.cursor.x) == (23, 5)
    assert_same(far, canvas)


def test_a_row_that_empties_is_cleared_with_el() -> None:
    canvas, far = AnsiCanvas(3, 40), Far(3, 40)
    canvas.write(1, 0, "a long line of text that will go away", "chat")
    far.feed(canvas.render(None))
    canvas.erase()
    canvas.write(1, 0, "a", "chat")
    out = canvas.render(None)
    far.feed(out)
    assert "\x1b[K" in out and len(out) < 30
    assert_same(far, canvas)


def test_only_the_cursor_moving_sends_only_a_move() -> None:
    canvas, far = AnsiCanvas(3, 10), Far(3, 10)
    canvas.write(2, 0, "> hi")
    far.feed(canvas.render((2, 4)))
    out = canvas.render((2, 2))
    far.feed(out)
    assert out == "\x1b[3;3H\x1b[?25h"
    far.feed(canvas.render(None))
    assert far.screen.cursor.hidden


def test_writing_over_half_a_wide_character_blanks_its_other_half() -> None:
    canvas, far = AnsiCanvas(2, 10), Far(2, 10)
    canvas.write(0, 0, "中文字")
    far.feed(canvas.render(None))
    canvas.write(0, 1, "x")  # the right half of 中
    canvas.write(0, 4, "y")  # the left half of 字
    far.feed(canvas.render(None))
    assert canvas.text(0) == " x文y     "
    assert_same(far, canvas)


def test_hostile_text_cannot_reach_the_terminal_as_controls() -> None:
    canvas, far = AnsiCanvas(2, 40), Far(2, 40)
    canvas.write(0, 0, "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\n\u009b1m", "chat")
    out = canvas.render(None)
    far.feed(out)
    assert "\x07" not in out and "\x1b]" not in out and "\u009b" not in out
    assert "red" in far.line(0) and not far.char(0, far.line(0).index("red")).fg == "red"
    assert far.screen.title == ""


def test_writes_clip_at_the_edges_and_at_width() -> None:
    canvas = AnsiCanvas(2, 10)
    assert canvas.write(0, 8, "abcdef") == 2
    assert canvas.write(1, 0, "abcdef", width=3) == 3
    assert canvas.write(1, 8, "中文") == 2 and canvas.write(1, 9, "中") == 0
    assert canvas.write(5, 0, "x") == 0 and canvas.write(0, -1, "x") == 0
    assert canvas.text(0) == "        ab" and canvas.text(1) == "abc     中"


def test_bottom_right_cell_does_not_scroll_the_screen() -> None:
    canvas, far = AnsiCanvas(3, 10), Far(3, 10)
    canvas.write(0, 0, "top")
    canvas.write(2, 0, "x" * 10)
    far.feed(canvas.render(None))
    canvas.write(2, 9, "!")
    far.feed(canvas.render(None))
    assert far.line(0).startswith("top")
    assert_same(far, canvas)


def test_resize_redraws_the_whole_screen_at_the_new_size() -> None:
    canvas, far = AnsiCanvas(5, 20), Far(5, 20)
    canvas.write(1, 0, "before")
    far.feed(canvas.render(None))
    canvas.resize(8, 30)
    far.screen.resize(8, 30)
    canvas.write(7, 25, "after")
    far.feed(canvas.render((0, 0)))
    assert_same(far, canvas)
    assert "before" not in "".join(far.screen.display)


def test_repaint_sends_everything_again() -> None:
    canvas, far = AnsiCanvas(3, 10), Far(3, 10)
    canvas.write(1, 1, "keep")
    far.feed(canvas.render(None))
    far.feed("\x1b[2J")  # the far screen got garbled
    canvas.repaint()
    far.feed(canvas.render(None))
    assert_same(far, canvas)


def test_leave_gives_the_terminal_back() -> None:
    far = Far(3, 10)
    far.feed(LEAVE)
    assert not far.screen.cursor.hidden
    assert pyte.modes.DECAWM >> 5 in far.screen.mode or pyte.modes.DECAWM in far.screen.mode


# ---------------------------------------------------------------- colours and capabilities


@pytest.mark.parametrize(("environ", "colours", "unicode"), [
    ({"TERM": "xterm-256color"}, 256, True),
    ({"TERM": "xterm"}, 8, True),
    ({"TERM": "xterm", "COLORTERM": "truecolor"}, 256, True),
    ({"TERM": "screen"}, 8, True),
    ({"TERM": "vt100"}, 0, True),
    ({"TERM": "xterm-mono"}, 0, True),
    ({"TERM": "dumb"}, 0, True),
    ({}, 0, True),
    ({"TERM": "xterm-256color", "NO_COLOR": "1"}, 0, True),
    ({"TERM": "xterm-256color", "NO_COLOR": ""}, 256, True),
    ({"TERM": "xterm", "LANG": "en_GB.UTF-8"}, 8, True),
    ({"TERM": "xterm", "LANG": "C"}, 8, False),
    ({"TERM": "xterm", "LANG": "en_GB.UTF-8", "LC_ALL": "de_DE.ISO-8859-1"}, 8, False),
])
def test_capabilities_follow_term_no_color_and_locale(environ: dict, colours: int,
                                                      unicode: bool) -> None:
    assert capabilities(environ) == Capabilities(colours, unicode)


def test_colours_as_the_curses_client_has_them() -> None:
    canvas, far = AnsiCanvas(3, 40), Far(3, 40)
    canvas.write(0, 0, "error", "error")
    canvas.write(1, 0, "bob", nick_style("bob"))
    far.feed(canvas.render(None))
    assert far.char(0, 0).fg == "red" and far.char(0, 0).bold
    assert far.char(1, 0).bold and far.char(1, 0).fg != "default"


def test_256_colour_terminals_get_more_nick_colours() -> None:
    canvas = AnsiCanvas(1, 40, Capabilities(256))
    styles = {canvas._sgr_for(f"nick:{n}") for n in range(17)}
    assert len(styles) == 17 and any("38;5;" in s for s in styles)
    assert len({AnsiCanvas(1, 4)._sgr_for(f"nick:{n}") for n in range(17)}) == 5


def test_no_color_keeps_the_attributes_and_drops_every_colour() -> None:
    canvas, far = AnsiCanvas(3, 40, Capabilities(0)), Far(3, 40)
    canvas.write(0, 0, "status", "status", 40)
    canvas.write(1, 0, "error", "error")
    canvas.write(2, 0, "bob", nick_style("bob"))
    out = canvas.render(None)
    far.feed(out)
    assert far.char(0, 0).reverse and far.char(1, 0).bold and far.char(2, 0).bold
    assert {far.char(y, 0).fg for y in range(3)} == {"default"}
    assert "\x1b[3" not in out.replace("\x1b[3;", "").replace("\x1b[3H", "")


def test_ascii_terminals_get_question_marks_of_the_right_width() -> None:
    canvas = AnsiCanvas(1, 12, Capabilities(8, unicode=False))
    assert canvas.write(0, 0, "a中é│b") == 6
    assert canvas.text(0).rstrip() == "a???b"[:1] + "??" + "?" + "?" + "b"
    assert canvas.render(None).isascii()


def test_the_style_table_matches_the_curses_one() -> None:
    bits = {"1": curses.A_BOLD, "2": curses.A_DIM, "4": curses.A_UNDERLINE,
            "7": curses.A_REVERSE}
    assert set(MONO_ATTRS) == set(curses_screen.MONO_STYLES)
    for style, attrs in MONO_ATTRS.items():
        mask = 0
        for attr in attrs:
            mask |= bits[attr]
        assert mask == curses_screen.MONO_STYLES[style], style
    assert STYLE_COLOURS == curses_screen.STYLE_COLOURS
    assert curses_screen.BASIC_NICK_COLOURS == (curses.COLOR_CYAN, curses.COLOR_GREEN,
                                                curses.COLOR_YELLOW, curses.COLOR_BLUE,
                                                curses.COLOR_MAGENTA)


# ---------------------------------------------------------------- the real views


def draw_screen(canvas: AnsiCanvas | Grid, model, chat_view: ChatView) -> tuple[int, int]:
    """What the curses client's redraw does, on any canvas."""
    rows, cols = canvas.size()
    games = model.room_games()
    layout = compute_layout(rows, cols, board_size(games, model))
    canvas.erase()
    if layout.too_small:
        draw_too_small(canvas, rows, cols)
        return 0, 0
    draw_status(canvas, layout.status, model, "127.0.0.1:5220")
    draw_chat(canvas, layout.chat, chat_view, model.transcript, 0)
    if layout.board is not None:
        draw_board(canvas, layout.board, layout.board_side, games, model)
    x = draw_input(canvas, layout.input, "> ", "hello", 5)
    return layout.input.top, x


def test_the_views_on_the_canvas_read_back_as_on_the_reference_grid() -> None:
    model = model_with(chat("bob", "hi there 中文 🎉"), chat("alice", "hello", "own"),
                       Line("notice", "bob joined", 1_700_000_000.0), games=[game()])
    canvas, far, grid = AnsiCanvas(24, 80), Far(24, 80), Grid(24, 80)
    view = ChatView()
    cursor = draw_screen(canvas, model, view)
    draw_screen(grid, model, view)
    full = far.feed(canvas.render(cursor))
    for y in range(24):
        assert far.line(y) == grid.line(y), f"row {y}"
    assert far.char(0, 0).reverse  # the status bar
    board_y, _ = grid.find("your move")
    # one more chat line: only the chat rows that scrolled are sent
    model.transcript.append(chat("bob", "next"))
    cursor = draw_screen(canvas, model, view)
    draw_screen(grid, model, view)
    small = far.feed(canvas.render(cursor))
    assert small < full / 3
    for y in range(24):
        assert far.line(y) == grid.line(y), f"row {y}"
    assert far.char(board_y, grid.line(board_y).index("your move")).reverse
    # too small, then big again
    canvas.resize(8, 30)
    far.screen.resize(8, 30)
    draw_screen(canvas, model, view)
    far.feed(canvas.render(None))
    assert "terminal too small" in "".join(far.screen.display)


# ---------------------------------------------------------------- any frames at all

ALPHABET = st.sampled_from(list("ab XY|-") + ["中", "文", "é", "e\u0301", "🎉", "👍🏽", "\x1b",
                                               "\t", "\u200b", "│"])
WRITE = st.tuples(st.integers(0, 5), st.integers(0, 13),
                  st.lists(ALPHABET, max_size=16).map("".join),
                  st.sampled_from(["", "status", "error", "nick:7", "board_turn", "time"]),
                  st.one_of(st.none(), st.integers(0, 14)))
SCROLL = st.tuples(st.just("scroll"), st.integers(0, 5), st.integers(1, 6), st.integers(1, 3),
                   st.one_of(st.none(), st.tuples(st.integers(0, 14), st.integers(0, 14))))
CLEAR = st.tuples(st.just("clear"), st.integers(0, 5), st.integers(0, 13), st.integers(0, 4),
                  st.integers(0, 14))
FRAME = st.tuples(st.booleans(), st.lists(st.one_of(WRITE, WRITE, SCROLL, CLEAR), max_size=8),
                  st.one_of(st.none(), st.tuples(st.integers(0, 5), st.integers(0, 13))))


@settings(max_examples=150, deadline=None)
@given(st.lists(FRAME, min_size=1, max_size=6))
def test_any_sequence_of_frames_reads_back_exactly(frames: list) -> None:
    """Writes, scrolls of any rows and cleared rectangles, in any order, in any frames."""
    canvas, far = AnsiCanvas(6, 14), Far(6, 14)
    for erase, writes, cursor in frames:
        if erase:
            canvas.erase()
        for op in writes:
            if op[0] == "scroll":
                canvas.scroll(*op[1:])
            elif op[0] == "clear":
                canvas.clear(*op[1:])
            else:
                canvas.write(*op)
        far.feed(canvas.render(cursor))
        assert_same(far, canvas)
        for y in range(6):
            for x in range(14):
                cell, style = canvas._cells[y][x], canvas.style_at(y, x)
                if cell[0] in ("", " "):
                    continue
                char = far.char(y, x)
                want = canvas._sgr_for(style)
                assert char.reverse == (";7" in want), (y, x, style)
                assert char.bold == (";1" in want), (y, x, style)
        if cursor is not None:
            assert (far.screen.cursor.y, far.screen.cursor.x) == cursor
        assert far.screen.cursor.hidden == (cursor is None)
