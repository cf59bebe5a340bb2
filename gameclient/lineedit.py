"""A pure single-line editor: cursor keys, readline kills, history, Tab completion, scrolling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gameclient.textwidth import cluster_width, clusters, sanitize

HISTORY_LIMIT = 500
NICK_SUFFIX_FIRST_WORD = ": "  # "alice: " addresses someone, as chat clients do
WORD_SUFFIX = " "


def _boundaries(text: str) -> list[int]:
    """Indexes where clusters start, plus len(text)."""
    result = [0]
    for cluster in clusters(text):
        result.append(result[-1] + len(cluster))
    return result


def _same_ignoring_case(a: str, b: str) -> bool:
    return len(a) == len(b) and all(x.casefold() == y.casefold() for x, y in zip(a, b, strict=True))


def _common_prefix_length(words: list[str]) -> int:
    shortest = min(len(word) for word in words)
    for i in range(shortest):
        if not all(_same_ignoring_case(word[i], words[0][i]) for word in words):
            return i
    return shortest


@dataclass
class _Completion:
    """What the last Tab did, so the next Tab can cycle through the matches."""

    start: int  # where the completed word begins
    matches: list[str]
    suffix: str
    index: int  # the match shown now; -1 = only the common prefix was inserted
    text: str  # the text and cursor right after that Tab; anything else breaks the cycle
    cursor: int


class LineEditor:
    """The text being typed, its cursor (an index in characters) and the sent-line history."""

    def __init__(self) -> None:
        self.text = ""
        self.cursor = 0
        self.history: list[str] = []
        self._history_index: int | None = None  # None = editing the draft
        self._draft = ""
        self._completion: _Completion | None = None
        self._scroll = 0  # index of the first visible character in view()

    @property
    def scroll(self) -> int:
        """Index of the first character the last view() showed."""
        return self._scroll

    # -- editing ---------------------------------------------------------------

    def _set(self, text: str, cursor: int) -> None:
        self.text = text
        bounds = _boundaries(text)
        # An insert can glue a base char onto a mark after it; keep the cursor off
        # the inside of a cluster.
        self.cursor = next(b for b in bounds if b >= min(max(0, cursor), len(text)))
        self._completion = None

    def _previous(self) -> int:
        return max((b for b in _boundaries(self.text) if b < self.cursor), default=0)

    def _next(self) -> int:
        bounds = _boundaries(self.text)
        return min((b for b in bounds if b > self.cursor), default=len(self.text))

    def insert(self, s: str) -> None:
        """Insert typed or pasted text at the cursor; line breaks and tabs become spaces."""
        cleaned = sanitize(s.replace("\r\n", " ").replace("\r", " ").replace("\n", " "))
        self._set(
            self.text[: self.cursor] + cleaned + self.text[self.cursor :],
            self.cursor + len(cleaned),
        )

    def left(self) -> None:
        self._set(self.text, self._previous())

    def right(self) -> None:
        self._set(self.text, self._next())

    def home(self) -> None:
        self._set(self.text, 0)

    def end(self) -> None:
        self._set(self.text, len(self.text))

    def backspace(self) -> None:
        start = self._previous()
        self._set(self.text[:start] + self.text[self.cursor :], start)

    def delete(self) -> None:
        self._set(self.text[: self.cursor] + self.text[self._next() :], self.cursor)

    def kill_line(self) -> None:
        """Ctrl-U: delete everything before the cursor."""
        self._set(self.text[self.cursor :], 0)

    def kill_word(self) -> None:
        """Ctrl-W: delete the whitespace-delimited word before the cursor."""
        start = self.cursor
        while start > 0 and self.text[start - 1].isspace():
            start -= 1
        while start > 0 and not self.text[start - 1].isspace():
            start -= 1
        self._set(self.text[:start] + self.text[self.cursor :], start)

    # -- history ---------------------------------------------------------------

    def history_prev(self) -> None:
        """Up: recall the previous sent line, saving the draft the first time."""
        if not self.history:
            return
        if self._history_index is None:
            self._draft = self.text
            self._history_index = len(self.history) - 1
        elif self._history_index > 0:
            self._history_index -= 1
        line = self.history[self._history_index]
        self._set(line, len(line))

    def history_next(self) -> None:
        """Down: recall the next sent line; past the newest, restore the draft."""
        if self._history_index is None:
            return
        self._history_index += 1
        if self._history_index >= len(self.history):
            self._history_index = None
            line = self._draft
        else:
            line = self.history[self._history_index]
        self._set(line, len(line))

    def submit(self) -> str:
        """Enter: return the text, remember it in the history and clear the line."""
        line = self.text
        if line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-HISTORY_LIMIT]
        self._history_index = None
        self._draft = ""
        self._scroll = 0
        self._set("", 0)
        return line

    # -- completion ------------------------------------------------------------

    def complete(self, candidates: Iterable[str]) -> None:
        """Tab: complete the word before the cursor against commands or nicks.

        A first word starting with "/" completes against the "/" candidates,
        anything else against the others (nicks). One match is inserted with a
        suffix; several extend the word to their common prefix, and further Tabs
        cycle through them.
        """
        state = self._completion
        if state and (state.text, state.cursor) == (self.text, self.cursor):
            state.index = (state.index + 1) % len(state.matches)
            self._replace_word(state, state.matches[state.index] + state.suffix)
            return
        start = self.cursor
        while start > 0 and not self.text[start - 1].isspace():
            start -= 1
        word = self.text[start : self.cursor]
        if not word:
            return
        first_word = not self.text[:start].strip()
        command = first_word and word.startswith("/")
        matches = sorted(
            {
                c
                for c in candidates
                if c.startswith("/") == command and _same_ignoring_case(c[: len(word)], word)
            },
            key=lambda c: (c.casefold(), c),
        )
        if not matches:
            return
        suffix = NICK_SUFFIX_FIRST_WORD if first_word and not command else WORD_SUFFIX
        state = _Completion(start, matches, suffix, -1, "", 0)
        if len(matches) == 1:
            self._replace_word(state, matches[0] + suffix)
            self._completion = None  # done: another Tab starts afresh
            return
        prefix_length = _common_prefix_length(matches)
        if prefix_length > len(word):
            self._replace_word(state, word + matches[0][len(word) : prefix_length])
        else:  # nothing to extend: start cycling straight away
            state.index = 0
            self._replace_word(state, matches[0] + suffix)

    def _replace_word(self, state: _Completion, replacement: str) -> None:
        self._set(
            self.text[: state.start] + replacement + self.text[self.cursor :],
            state.start + len(replacement),
        )
        state.text, state.cursor = self.text, self.cursor
        self._completion = state

    # -- display ---------------------------------------------------------------

    def view(self, width: int) -> tuple[str, int]:
        """The part of the text to show in a field `width` columns wide, and the cursor column.

        Scrolls horizontally only as far as needed to keep the cursor (and the
        character under it) visible, remembering the scroll between calls so the
        field does not jump; never shows half of a wide character.
        """
        if width <= 0:
            return "", 0
        parts = clusters(self.text)
        bounds = _boundaries(self.text)
        # offsets[i] = columns before cluster i, so any span's width is a subtraction
        offsets = [0]
        for cluster in parts:
            offsets.append(offsets[-1] + cluster_width(cluster))
        at_cursor = max(i for i, b in enumerate(bounds) if b <= self.cursor)
        under_cursor = offsets[at_cursor + 1] - offsets[at_cursor] if at_cursor < len(parts) else 1
        under_cursor = max(1, under_cursor)
        first = max(i for i, b in enumerate(bounds) if b <= min(self._scroll, bounds[at_cursor]))
        while first < at_cursor and offsets[at_cursor] - offsets[first] + under_cursor > width:
            first += 1
        # Pull back left when the text after `first` no longer fills the field.
        while first > 0 and offsets[-1] - offsets[first - 1] + 1 <= width:
            first -= 1
        self._scroll = bounds[first]
        last = first
        while last < len(parts) and offsets[last + 1] - offsets[first] <= width:
            last += 1
        return "".join(parts[first:last]), offsets[at_cursor] - offsets[first]
