"""Display-width maths for terminal text: clusters, widths, truncating, padding, wrapping."""

from __future__ import annotations

import functools
import re

from wcwidth import wcwidth

ZWJ = "\u200d"
# Shown instead of a character cluster that cannot fit even on an empty line
# (a wide character when only one column is available).
TOO_WIDE = "?"

_EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
# Characters that reorder or break lines on display without being C0/C1 controls.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_LINE_SEPARATORS = frozenset("\u2028\u2029")
_SPACE_RUNS = re.compile(r" +|[^ ]+")


def _printable(char: str) -> bool:
    return wcwidth(char) >= 0


def clusters(text: str) -> list[str]:
    """Split text into user-perceived characters: a base char plus what attaches to it.

    Zero-width marks (combining accents, variation selectors, ZWJ), emoji skin-tone
    modifiers, whatever follows a ZWJ and the second half of a flag join the
    cluster before them, so cursor moves and cuts never separate them.
    """
    result: list[str] = []
    for char in text:
        if result and _attaches(result[-1], char):
            result[-1] += char
        else:
            result.append(char)
    return result


def _attaches(cluster: str, char: str) -> bool:
    base = cluster[0]
    if not _printable(base) or not _printable(char):
        return False
    if cluster[-1] == ZWJ or wcwidth(char) == 0:
        return True
    code = ord(char)
    if code in _EMOJI_MODIFIERS:
        return wcwidth(base) == 2
    if code in _REGIONAL_INDICATORS:
        return len(cluster) == 1 and ord(base) in _REGIONAL_INDICATORS
    return False


def cluster_width(cluster: str) -> int:
    """Columns one cluster occupies, counted as curses counts them: code point by code point.

    curses places text by the C library's wcwidth of each code point, whatever the
    terminal's font later does with a sequence; measuring the same way keeps our
    wrapping, the board's border and the cursor where curses really puts them
    (👍🏽 is 4 columns to curses, ❤️ is 1). Non-printable characters count as 0.
    """
    if len(cluster) == 1:
        return max(0, wcwidth(cluster))
    return sum(max(0, wcwidth(char)) for char in cluster)


def cell_width(text: str) -> int:
    """Display columns `text` occupies (wide chars 2, combining marks and controls 0)."""
    if text.isascii() and text.isprintable():
        return len(text)
    return _unicode_width(text)


@functools.lru_cache(maxsize=2048)  # a screen measures the same bars and lines each frame
def _unicode_width(text: str) -> int:
    return sum(cluster_width(cluster) for cluster in clusters(text))


def _take(parts: list[str], width: int) -> tuple[str, int]:
    """Longest prefix of clusters fitting in `width`; returns (text, clusters used)."""
    used = 0
    total = 0
    for cluster in parts:
        cw = cluster_width(cluster)
        if total + cw > width:
            break
        total += cw
        used += 1
    return "".join(parts[:used]), used


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    """Cut `text` to at most `width` columns, ending in `ellipsis` if anything was cut."""
    if cell_width(text) <= width:
        return text
    if width <= 0:
        return ""
    mark, _ = _take(clusters(ellipsis), width)
    kept, _ = _take(clusters(text), width - cell_width(mark))
    return kept + mark


def pad(text: str, width: int) -> str:
    """Truncate `text` to `width` columns, then right-pad it with spaces to exactly `width`."""
    if width <= 0:
        return ""
    cut = truncate(text, width)
    return cut + " " * (width - cell_width(cut))


def wrap(text: str, width: int, indent: int = 0) -> list[str]:
    """Word-wrap `text` to `width` columns; continuation lines are indented by `indent`.

    Breaks at spaces (dropping the spaces at each break) and at newlines; a word
    wider than a line is split between clusters. The indent is ignored when it
    would leave less than two columns (room for one wide character). Always
    returns at least one line, and no line is wider than `width`.
    """
    width = max(1, width)
    if "\n" not in text and cell_width(text) <= width:
        return [text.rstrip(" ")]  # what the word-by-word loop gives for a line that fits
    if indent < 0 or width - indent < 2:
        indent = 0
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph, width, indent, first=not lines))
    return lines


def _wrap_paragraph(text: str, width: int, indent: int, first: bool) -> list[str]:
    prefix = " " * indent
    lines: list[str] = []
    line = "" if first else prefix
    used = len(line)
    fresh = True  # nothing but the indent on the current line yet
    pending = ""  # the space run before the next word; dropped if a break lands there

    def new_line() -> None:
        nonlocal line, used, fresh
        lines.append(line)
        line, used, fresh = prefix, indent, True

    for token in _SPACE_RUNS.findall(text):
        if token[0] == " ":
            pending = token
            continue
        token_width = cell_width(token)
        if used + len(pending) + token_width <= width:
            line += pending + token
            used += len(pending) + token_width
        else:
            if not fresh:
                new_line()
            if used + token_width <= width:
                line += token
                used += token_width
            else:
                for cluster in clusters(token):
                    cw = cluster_width(cluster)
                    if used + cw > width and not fresh:
                        new_line()
                    if used + cw > width:
                        cluster, cw = TOO_WIDE, 1
                    line += cluster
                    used += cw
                    fresh = False
        fresh = False
        pending = ""
    lines.append(line.rstrip() if fresh else line)
    return lines


def sanitize(text: str, keep_newlines: bool = False) -> str:
    """Make untrusted text safe to draw: nothing in it can move the cursor or recolour.

    Tabs become a space; other C0 controls, ESC and DEL become their visible
    "control picture" (␛, ␡ …); C1 controls and lone surrogates become U+FFFD;
    bidi overrides and zero-width joiners are removed; line/paragraph separators
    become a space.
    Newlines are kept only with `keep_newlines` (for `wrap` to break on).
    """
    if text.isascii() and text.isprintable():
        return text  # nothing to clean: the common case, every frame
    out: list[str] = []
    for char in text:
        code = ord(char)
        if char == "\t":
            out.append(" ")
        elif char == "\n" and keep_newlines:
            out.append(char)
        elif code < 0x20:
            out.append(chr(0x2400 + code))
        elif code == 0x7F:
            out.append("\u2421")
        elif 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
            out.append("\ufffd")
        elif char in _BIDI_CONTROLS or char == ZWJ:
            # A ZWJ sequence (👨‍👩‍👧) is one glyph to some terminals and several to
            # curses; drawn without the joiners, both agree on its width.
            continue
        elif char in _LINE_SEPARATORS:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)
