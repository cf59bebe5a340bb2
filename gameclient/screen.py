"""The one module that owns curses quirks: setup and teardown, safe writes, colours, NO_COLOR."""

from __future__ import annotations

import contextlib
import curses
import locale
import os
import sys

from gameclient.textwidth import cell_width, truncate

Key = str | int

# Nick colours: never red (errors are red); more of them where the terminal has 256.
BASIC_NICK_COLOURS = (curses.COLOR_CYAN, curses.COLOR_GREEN, curses.COLOR_YELLOW,
                      curses.COLOR_BLUE, curses.COLOR_MAGENTA)
EXTRA_NICK_COLOURS = (208, 39, 141, 118, 205, 214, 45, 171, 150, 75, 178, 111)

# Attributes alone carry the meaning, so NO_COLOR and monochrome terminals still read well;
# colour (foreground only, on the terminal's own background) is added on top.
MONO_STYLES: dict[str, int] = {
    "": curses.A_NORMAL,
    "status": curses.A_REVERSE,
    "status_turn": curses.A_REVERSE | curses.A_BOLD,
    "time": curses.A_DIM,
    "nick": curses.A_BOLD,
    "own_nick": curses.A_BOLD | curses.A_UNDERLINE,
    "own": curses.A_BOLD,
    "chat": curses.A_NORMAL,
    "pm": curses.A_BOLD,
    "bm": curses.A_BOLD,
    "notice": curses.A_DIM,
    "error": curses.A_BOLD,
    "alert": curses.A_BOLD | curses.A_REVERSE,  # a contact's device key is new: loud
    "reply": curses.A_NORMAL,
    "history": curses.A_DIM,
    "game": curses.A_NORMAL,
    "more": curses.A_REVERSE,
    "separator": curses.A_DIM,
    "board_header": curses.A_BOLD,
    "board": curses.A_NORMAL,
    "board_status": curses.A_NORMAL,
    "board_turn": curses.A_REVERSE | curses.A_BOLD,
    "board_over": curses.A_BOLD,
    "prompt": curses.A_BOLD,
    "input": curses.A_NORMAL,
    "too_small": curses.A_BOLD | curses.A_REVERSE,
    "mention": curses.A_BOLD | curses.A_REVERSE,
}
STYLE_COLOURS: dict[str, int] = {
    "own_nick": curses.COLOR_GREEN,
    "pm": curses.COLOR_MAGENTA,
    "bm": curses.COLOR_YELLOW,
    "error": curses.COLOR_RED,
    "alert": curses.COLOR_RED,
    "game": curses.COLOR_CYAN,
    "board_turn": curses.COLOR_GREEN,
    "board_over": curses.COLOR_YELLOW,
    "too_small": curses.COLOR_RED,
}


def colour_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """NO_COLOR (https://no-color.org): present and not empty means no colour."""
    return not environ.get("NO_COLOR")


class Screen:
    """The terminal while curses runs it; every write is clipped and never raises."""

    def __init__(self) -> None:
        self.stdscr: curses.window | None = None
        self.styles: dict[str, int] = dict(MONO_STYLES)
        self.nick_attrs: list[int] = [curses.A_BOLD]
        self.colour = False

    # ------------------------------------------------------------ setup and teardown

    def start(self) -> None:
        """Like curses.wrapper's setup, without taking over the program's main loop."""
        with contextlib.suppress(locale.Error):
            locale.setlocale(locale.LC_CTYPE, "")
        os.environ.setdefault("ESCDELAY", "25")  # a lone Esc should not lag
        self.stdscr = curses.initscr()
        try:
            curses.noecho()
            curses.raw()  # Ctrl-C, Ctrl-Z, Ctrl-S arrive as keys: nothing stops or freezes us
            self.stdscr.keypad(True)
            self.stdscr.nodelay(True)
            with contextlib.suppress(curses.error):
                curses.curs_set(1)
            self._setup_colours()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Give the terminal back exactly as it was; safe to call twice or after a failure."""
        if self.stdscr is None:
            return
        stdscr, self.stdscr = self.stdscr, None
        for undo in (lambda: stdscr.keypad(False), curses.noraw, curses.echo, curses.endwin):
            with contextlib.suppress(curses.error):
                undo()

    def _setup_colours(self) -> None:
        if not (colour_wanted() and curses.has_colors()):
            return
        try:
            curses.start_color()
        except curses.error:
            return
        background = -1
        try:
            curses.use_default_colors()
        except curses.error:
            background = curses.COLOR_BLACK
        pairs: dict[int, int] = {}

        def attr_for(colour: int) -> int | None:
            if colour >= curses.COLORS:
                return None
            if colour not in pairs:
                number = len(pairs) + 1
                if number >= curses.COLOR_PAIRS:
                    return None
                try:
                    curses.init_pair(number, colour, background)
                except curses.error:
                    return None
                pairs[colour] = curses.color_pair(number)
            return pairs[colour]

        for style, colour in STYLE_COLOURS.items():
            attr = attr_for(colour)
            if attr is not None:
                self.styles[style] = MONO_STYLES[style] | attr
        palette = BASIC_NICK_COLOURS + (EXTRA_NICK_COLOURS if curses.COLORS >= 256 else ())
        nick_attrs = [a for a in (attr_for(c) for c in palette) if a is not None]
        if nick_attrs:
            self.nick_attrs = [curses.A_BOLD | a for a in nick_attrs]
            self.colour = True

    # ------------------------------------------------------------ drawing

    def attr(self, style: str) -> int:
        if style.startswith("nick:"):
            return self.nick_attrs[int(style[5:]) % len(self.nick_attrs)]
        return self.styles.get(style, curses.A_NORMAL)

    def size(self) -> tuple[int, int]:
        if self.stdscr is None:
            return 0, 0
        return self.stdscr.getmaxyx()

    def write(self, y: int, x: int, text: str, style: str = "", width: int | None = None) -> int:
        """Draw `text` at (y, x), cut to the screen and to `width` columns; returns columns used."""
        rows, cols = self.size()
        if self.stdscr is None or not (0 <= y < rows and 0 <= x < cols) or not text:
            return 0
        room = cols - x if width is None else min(width, cols - x)
        text = truncate(text, room, ellipsis="")
        if not text:
            return 0
        try:
            self.stdscr.addstr(y, x, text, self.attr(style))
        except curses.error:
            pass  # the bottom-right cell: the text is drawn, only the cursor cannot advance
        return cell_width(text)

    def erase(self) -> None:
        if self.stdscr is not None:
            self.stdscr.erase()

    def bell(self) -> None:
        """The terminal's bell (BEL), for a mention or a PM."""
        with contextlib.suppress(curses.error):
            curses.beep()

    def show(self, cursor: tuple[int, int] | None) -> None:
        """Push the drawing to the terminal in one update, the cursor where typing happens."""
        if self.stdscr is None:
            return
        with contextlib.suppress(curses.error):
            curses.curs_set(0 if cursor is None else 1)
        if cursor is not None:
            with contextlib.suppress(curses.error):
                self.stdscr.move(*cursor)
        self.stdscr.noutrefresh()
        curses.doupdate()

    def repaint(self) -> None:
        """Forget what the terminal shows; the next `show` redraws every cell."""
        if self.stdscr is not None:
            self.stdscr.clearok(True)

    # ------------------------------------------------------------ input and size

    def read_keys(self) -> list[Key]:
        """Every key waiting now (nodelay): characters as str, special keys as int."""
        keys: list[Key] = []
        if self.stdscr is None:
            return keys
        while True:
            try:
                keys.append(self.stdscr.get_wch())
            except curses.error:
                return keys

    def resize(self) -> None:
        """Adopt the terminal's new size (after SIGWINCH or KEY_RESIZE)."""
        if self.stdscr is None:
            return
        try:
            if sys.platform == "win32":
                curses.resize_term(0, 0)
            else:
                size = os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1)
                if (size.lines, size.columns) != self.stdscr.getmaxyx():
                    curses.resizeterm(size.lines, size.columns)
        except (OSError, ValueError, curses.error):
            return
        self.repaint()
