"""A Canvas that writes ANSI/VT100 text: keeps the last frame and sends only what changed."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from wcwidth import wcwidth

from gameclient.textwidth import cluster_width, clusters, sanitize, truncate

Cell = tuple[str, str]  # (cluster, style); "" is the right half of a wide cluster
BLANK: Cell = (" ", "")

# Attributes alone carry the meaning (as in the curses client, gameclient/screen.py), so
# NO_COLOR and monochrome terminals still read well; colour is a foreground on top.
BOLD, DIM, UNDERLINE, REVERSE = "1", "2", "4", "7"
BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = range(8)
MONO_ATTRS: dict[str, tuple[str, ...]] = {
    "": (),
    "status": (REVERSE,),
    "status_turn": (REVERSE, BOLD),
    "time": (DIM,),
    "nick": (BOLD,),
    "own_nick": (BOLD, UNDERLINE),
    "own": (BOLD,),
    "chat": (),
    "pm": (BOLD,),
    "bm": (BOLD,),
    "notice": (DIM,),
    "error": (BOLD,),
    "alert": (BOLD, REVERSE),  # a contact's device key is new: loud
    "reply": (),
    "history": (DIM,),
    "game": (),
    "more": (REVERSE,),
    "separator": (DIM,),
    "board_header": (BOLD,),
    "board": (),
    "board_status": (),
    "board_turn": (REVERSE, BOLD),
    "board_over": (BOLD,),
    "prompt": (BOLD,),
    "input": (),
    "too_small": (BOLD, REVERSE),
    "mention": (BOLD, REVERSE),
}
STYLE_COLOURS: dict[str, int] = {
    "own_nick": GREEN, "pm": MAGENTA, "bm": YELLOW, "error": RED, "alert": RED, "game": CYAN,
    "board_turn": GREEN, "board_over": YELLOW, "too_small": RED,
}
# Nick colours: never red (errors are red); more of them where the terminal has 256.
BASIC_NICK_COLOURS = (CYAN, GREEN, YELLOW, BLUE, MAGENTA)
EXTRA_NICK_COLOURS = (208, 39, 141, 118, 205, 214, 45, 171, 150, 75, 178, 111)

_MONO_TERMS = ("vt52", "vt100", "vt102", "vt220", "vt320", "dumb", "ansi-m", "linux-m")
_UTF8_NAMES = ("utf-8", "utf8")
MOVES_BEFORE_REWRITE = 6  # a gap of unchanged cells this short is re-sent, not jumped over
CHUNK = 16  # cells compared at once when looking for what changed in a row
CELLS_CACHE_MAX = 4096  # texts of the slow (non-ASCII) path kept as cells, for every canvas

ENTER = "\x1b[?1049h\x1b[?7l\x1b[?2004h\x1b[0m\x1b[H\x1b[2J"  # alt screen, no wrap, paste
LEAVE = "\x1b[0m\x1b[?2004l\x1b[?7h\x1b[?25h\x1b[?1049l"


@dataclass(frozen=True)
class Capabilities:
    """What the far terminal can show: how many colours (0, 8 or 256) and whether UTF-8."""

    colours: int = 8
    unicode: bool = True


def capabilities(environ: Mapping[str, str]) -> Capabilities:
    """From what the client told us: TERM, COLORTERM, NO_COLOR and the locale variables.

    NO_COLOR (https://no-color.org) set and not empty means no colour at all. A locale
    that is sent and is not UTF-8 gets ASCII only; none sent is taken as UTF-8, as every
    current terminal is.
    """
    term = environ.get("TERM", "").lower()
    if environ.get("NO_COLOR") or not term or term.startswith(_MONO_TERMS) \
            or term.endswith(("-m", "-mono")):
        colours = 0
    elif "256color" in term or "direct" in term \
            or environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        colours = 256
    else:
        colours = 8
    locale = next((environ[name] for name in ("LC_ALL", "LC_CTYPE", "LANG")
                   if environ.get(name)), "")
    unicode = not locale or any(name in locale.lower() for name in _UTF8_NAMES)
    return Capabilities(colours, unicode)


def drawable(text: str) -> str:
    """`text` with nothing a terminal could take as a control or place differently from us.

    Controls become visible (textwidth.sanitize); zero-width characters other than
    combining marks (ZWSP, variation selectors, joiners, tags) go: terminals disagree on
    them, and one that skips them shifts everything after it on the row.
    """
    text = sanitize(text)
    if text.isascii():
        return text
    return "".join(char for char in text
                   if char.isascii() or wcwidth(char) > 0 or unicodedata.combining(char))


def _sgr(attrs: tuple[str, ...], colour: int | None) -> str:
    codes = ["0", *attrs]
    if colour is not None:
        codes.append(str(30 + colour) if colour < 8 else f"38;5;{colour}")
    return "\x1b[" + ";".join(codes) + "m"


def style_table(caps: Capabilities) -> tuple[dict[str, str], list[str]]:
    """SGR sequences for every named style, and the list of nick styles, for `caps`."""
    table = {}
    for style, attrs in MONO_ATTRS.items():
        colour = STYLE_COLOURS.get(style) if caps.colours else None
        table[style] = _sgr(attrs, colour)
    if not caps.colours:
        return table, [_sgr((BOLD,), None)]
    palette = BASIC_NICK_COLOURS + (EXTRA_NICK_COLOURS if caps.colours >= 256 else ())
    return table, [_sgr((BOLD,), colour) for colour in palette]


class AnsiCanvas:
    """A grid of styled cells drawn by the views; `render` gives the bytes to send as text.

    The first render (and any after `repaint` or `resize`) clears the screen and draws
    everything; later ones send only the cells that differ from the frame last sent.
    Every write is clipped to the screen and cleaned of control characters, so nothing
    a user typed can move the far cursor or change its colours.
    """

    def __init__(self, rows: int, cols: int, caps: Capabilities | None = None) -> None:
        self.caps = caps or Capabilities()
        self._styles, self._nick_styles = style_table(self.caps)
        self.rows, self.cols = max(0, rows), max(0, cols)
        self._cells = self._blank()
        self._sent: list[list[Cell]] | None = None  # None: the far screen is unknown
        self._sent_cursor: tuple[int, int] | None = None
        self._touched: set[int] = set()  # rows written since the last render
        self.resets = 0  # how many times resize() blanked the cells (a drawer redraws all)
        self._scrolls: list[str] = []  # scrolls done since the last render, as sequences

    def _blank(self) -> list[list[Cell]]:
        return [[BLANK] * self.cols for _ in range(self.rows)]

    # ------------------------------------------------------------ what views use

    def size(self) -> tuple[int, int]:
        return self.rows, self.cols

    def erase(self) -> None:
        self._cells = self._blank()
        self._touched = set(range(self.rows))

    def clear(self, top: int, left: int, height: int, width: int) -> None:
        """Blank a rectangle (a pane about to be drawn again)."""
        left, right = max(0, left), min(self.cols, left + width)
        if right <= left:
            return
        for y in range(max(0, top), min(self.rows, top + height)):
            row = self._cells[y]
            self._unsplit(row, left, right)
            row[left:right] = [BLANK] * (right - left)
            self._touched.add(y)

    def scroll(self, top: int, bottom: int, count: int,
               keep: tuple[int, int] | None = None) -> None:
        """Move rows [top, bottom) up by `count`, blank rows coming in at the bottom.

        The far terminal is told to scroll the same rows (a scrolling region), so a chat
        that moves up by a line costs the new line, not every row again. Columns
        [keep[0], keep[1]) stay where they are in this frame (a board beside the chat):
        the far terminal scrolls whole rows, so they are sent again, but not redrawn.
        """
        top, bottom = max(0, top), min(self.rows, bottom)
        if count <= 0 or bottom - top <= count:
            return
        cells = self._cells
        old = cells[top:bottom]
        cells[top:bottom] = cells[top + count:bottom] + [[BLANK] * self.cols
                                                         for _ in range(count)]
        self._touched = {y - count if top + count <= y < bottom else y
                         for y in self._touched if not top <= y < top + count}
        self._touched.update(range(bottom - count, bottom))
        left, right = keep if keep is not None else (0, 0)
        left, right = max(0, left), min(self.cols, right)
        if left < right:
            for y, kept in zip(range(top, bottom), old, strict=True):
                block = kept[left:right]
                if cells[y][left:right] == block:
                    continue  # the same there before and after (blank below a board)
                row = cells[y] = list(cells[y])  # a copy: `old` holds the moved rows too
                self._unsplit(row, left, right)
                row[left:right] = _whole(block)
                self._touched.add(y)
        sent = self._sent
        if sent is None or len(sent) != self.rows or (self.rows and len(sent[0]) != self.cols):
            return  # the next render draws everything anyway
        sent[top:bottom] = sent[top + count:bottom] + [[BLANK] * self.cols
                                                       for _ in range(count)]
        # set the region, index (IND) at its bottom `count` times, give the region back
        self._scrolls.append(f"\x1b[0m\x1b[{top + 1};{bottom}r\x1b[{bottom};1H"
                             + "\x1bD" * count + "\x1b[r")

    def write(self, y: int, x: int, text: str, style: str = "", width: int | None = None) -> int:
        """Draw `text` at (y, x), cut to the screen and to `width` columns; returns columns used."""
        if not (0 <= y < self.rows and 0 <= x < self.cols) or not text:
            return 0
        room = self.cols - x if width is None else min(width, self.cols - x)
        if room <= 0:
            return 0
        row = self._cells[y]
        self._touched.add(y)
        if text.isascii() and text.isprintable():
            text = text[:room]
            end = x + len(text)
            self._unsplit(row, x, end)
            row[x:end] = [(char, style) for char in text]
            return len(text)
        key = (text, style, room, self.caps.unicode)
        cells = _CELLS.get(key)
        if cells is None:
            cells = _cells_of(text, style, room, self.caps.unicode)
            if len(_CELLS) >= CELLS_CACHE_MAX:
                _CELLS.clear()
            _CELLS[key] = cells
        used = len(cells)
        if not used:
            return 0
        self._unsplit(row, x, x + used)
        row[x:x + used] = cells
        return used

    def _unsplit(self, row: list[Cell], start: int, end: int) -> None:
        """Blank the halves of wide clusters that [start, end) is about to cut in two."""
        if 0 < start < len(row) and row[start][0] == "":
            left = start - 1
            while left > 0 and row[left][0] == "":
                left -= 1
            for i in range(left, start):
                row[i] = BLANK
        right = end
        while right < len(row) and row[right][0] == "":
            row[right] = BLANK
            right += 1

    def text(self, y: int) -> str:
        """Row `y` as plain text (wide clusters once): what the far screen should show."""
        return "".join(cluster for cluster, _ in self._cells[y])

    def style_at(self, y: int, x: int) -> str:
        return self._cells[y][x][1]

    # ------------------------------------------------------------ what the door uses

    def resize(self, rows: int, cols: int) -> None:
        """A new window size: the next render redraws the whole screen."""
        self.rows, self.cols = max(0, rows), max(0, cols)
        self._cells = self._blank()
        self._sent = None
        self.resets += 1

    def repaint(self) -> None:
        """Forget what the far screen shows (Ctrl-L); the next render redraws every cell."""
        self._sent = None

    def render(self, cursor: tuple[int, int] | None) -> str:
        """Text that turns the far screen into this frame, the cursor at `cursor` (or hidden).

        Empty when nothing changed. Changed cells close together go as one run; a row's
        blank tail is cleared with EL instead of spaces.
        """
        body: list[str] = []
        previous = self._sent
        pen = _Pen()
        if previous is None or len(previous) != self.rows \
                or (self.rows and len(previous[0]) != self.cols):
            body.append("\x1b[0m\x1b[H\x1b[2J")
            previous = self._sent = self._blank()
            self._sent_cursor = None
            touched: Iterable[int] = range(self.rows)
        else:
            body += self._scrolls
            if self._scrolls:
                pen.sgr = "\x1b[0m"
            touched = sorted(self._touched)
        self._scrolls = []
        self._touched = set()
        for y in touched:  # rows not written since the last frame are as sent
            row, old = self._cells[y], previous[y]
            if row != old:
                self._render_row(y, row, old, pen, body)
                previous[y] = list(row)
        if cursor is not None and not (0 <= cursor[0] < self.rows and 0 <= cursor[1] < self.cols):
            cursor = None
        if not body and cursor == self._sent_cursor:
            return ""
        out = ["\x1b[?25l", *body] if body else []  # no cursor flying about while we draw
        if pen.sgr not in (None, "\x1b[0m"):
            out.append("\x1b[0m")
        if cursor is not None:
            out.append(f"\x1b[{cursor[0] + 1};{cursor[1] + 1}H\x1b[?25h")
        elif not body:  # only the cursor changed: it is hidden now
            out.append("\x1b[?25l")
        self._sent_cursor = cursor
        return "".join(out)

    def _render_row(self, y: int, row: list[Cell], old: list[Cell], pen: _Pen,
                    out: list[str]) -> None:
        cols = self.cols
        changed: list[int] = []
        for start in range(0, cols, CHUNK):  # slices compare in C: look closer where they differ
            end = start + CHUNK
            if row[start:end] != old[start:end]:
                changed += [x for x in range(start, min(end, cols)) if row[x] != old[x]]
        # the blank tail of the new row: one EL clears it, whatever was there
        tail = cols
        while tail >= CHUNK and row[tail - CHUNK:tail] == _BLANK_CHUNK:
            tail -= CHUNK
        while tail > 0 and row[tail - 1] == BLANK:
            tail -= 1
        runs: list[list[int]] = []
        for x in changed:
            if x >= tail:
                break
            if runs and x - runs[-1][1] <= MOVES_BEFORE_REWRITE:
                runs[-1][1] = x + 1
            else:
                runs.append([x, x + 1])
        clear_tail = any(x >= tail for x in changed)
        for run in runs:
            start, end = run
            while start > 0 and row[start][0] == "":  # start on the whole of a wide cluster
                start -= 1
            while end < cols and row[end][0] == "":
                end += 1
            pen.move(y, start, out)
            x = start
            for style, group in groupby(row[start:end], _STYLE):  # one SGR per styled run
                cells = list(group)
                sgr = self._styles.get(style) or self._sgr_for(style)
                if sgr != pen.sgr:
                    out.append(sgr)
                    pen.sgr = sgr
                text = "".join(map(_CLUSTER, cells))
                if len(text) == len(cells) and text.isascii():  # one column each: at once
                    if pen.x != x:
                        pen.move(y, x, out)
                    out.append(text)
                    x += len(cells)
                    pen.x = x
                    continue
                for cluster, _ in cells:
                    if cluster:  # not the right half of a wide cluster
                        if pen.x != x:
                            pen.move(y, x, out)
                        out.append(cluster)
                        if cluster.isascii():
                            pen.x = x + 1
                        elif len(cluster) > 1:
                            pen.x = -1  # terminals disagree on sequences' widths: move
                        else:
                            pen.x = x + cluster_width(cluster)
                    x += 1
            if end >= cols:
                pen.y = -1  # at the right margin the cursor's place is not certain
        if clear_tail:
            pen.move(y, tail, out)
            pen.style("\x1b[0m", out)
            out.append("\x1b[K")

    def _sgr_for(self, style: str) -> str:
        sgr = self._styles.get(style)
        if sgr is not None:
            return sgr
        if style.startswith("nick:"):
            try:
                return self._nick_styles[int(style[5:]) % len(self._nick_styles)]
            except ValueError:
                pass
        return self._styles[""]


def _whole(block: list[Cell]) -> list[Cell]:
    """Cells cut out of a row, without the halves of wide clusters the cut split."""
    start = 0
    while start < len(block) and block[start][0] == "":
        block[start] = BLANK
        start += 1
    last = len(block) - 1
    while last > start and block[last][0] == "":
        last -= 1
    if 0 <= last and block[last][0] and cluster_width(block[last][0]) > len(block) - last:
        block[last:] = [BLANK] * (len(block) - last)
    return block


_CELLS: dict[tuple[str, str, int, bool], list[Cell]] = {}
_BLANK_CHUNK = [BLANK] * CHUNK
_CLUSTER, _STYLE = itemgetter(0), itemgetter(1)


def _cells_of(text: str, style: str, room: int, unicode: bool) -> list[Cell]:
    """The cells of a text with wide or combined characters, cut to `room` columns."""
    text = truncate(drawable(text), room, ellipsis="")
    cells: list[Cell] = []
    for cluster in clusters(text):
        width = cluster_width(cluster)
        if width <= 0:
            continue  # a mark with nothing to sit on
        if not unicode and not cluster.isascii():
            cells += [("?", style)] * width
        else:
            cells.append((cluster, style))
            cells += [("", style)] * (width - 1)
    return cells


class _Pen:
    """Where the far cursor is and which SGR is in force while one frame is rendered."""

    def __init__(self) -> None:
        self.y = -1
        self.x = -1
        self.sgr: str | None = None

    def move(self, y: int, x: int, out: list[str]) -> None:
        if (self.y, self.x) == (y, x):
            return
        if self.y == y and 0 <= self.x < x:
            out.append(f"\x1b[{x - self.x}C" if x - self.x > 1 else "\x1b[C")
        else:
            out.append(f"\x1b[{y + 1};{x + 1}H" if x else f"\x1b[{y + 1}H")
        self.y, self.x = y, x

    def style(self, sgr: str, out: list[str]) -> None:
        if sgr != self.sgr:
            out.append(sgr)
            self.sgr = sgr

