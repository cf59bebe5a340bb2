"""The SSH door's line view, sans-IO: `ssh -T`, exec and dumb terminals get one event per line.

Lines are the play line client's (gameclient/lineclient.py prints the same model lines
and boards); what the user types is read a line at a time. On a terminal (a pty the
client asked for, but too dumb for the full screen) the line being typed is kept on
the last row and edited with the usual keys, as a readline program does.
"""

from __future__ import annotations

import codecs

from gameclient.commands import Typed, parse_typed
from gameclient.lineedit import LineEditor
from gameclient.lineview import board_texts, line_text, local_reply
from gameclient.model import ClientModel
from gameclient.termkeys import EDIT_ACTIONS, Key, KeyDecoder, Paste, Text
from gameclient.textwidth import sanitize
from gameserver.protocol import GameState

MAX_LINE = 64 * 1024  # characters of one typed line before the rest is dropped
PROMPT = "> "


class LineView:
    """`show(event)` gives the text to write; `feed(data)` the typed lines (also echo output).

    `terminal`: the far side is a terminal in raw mode (a pty was asked for), so this view
    echoes and edits what is typed and ends lines with CR LF; otherwise the client's own
    terminal (or pipe) does the echoing and lines end with LF.
    """

    def __init__(self, model: ClientModel, *, terminal: bool = False, width: int = 80) -> None:
        self.model = model
        self.terminal = terminal
        self.width = max(10, width)
        self.newline = "\r\n" if terminal else "\n"
        self.editor = LineEditor() if terminal else None
        self.keys = KeyDecoder() if terminal else None
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self.asking: str | None = None  # a question shown instead of the prompt

    # ------------------------------------------------------------ output

    def show(self, event: object) -> str:
        """What one server event adds to the far screen (maybe nothing)."""
        printed = (line_text(self.model, line, terminal=self.terminal)
                   for line in self.model.apply(event))  # type: ignore[arg-type]
        lines = [text for text in printed if text is not None]  # None: a copy
        if isinstance(event, GameState) and event.room in self.model.panes:
            lines += board_texts(self.model, event)
        return self.say(*lines)

    def say(self, *texts: str) -> str:
        """Lines of our own (replies, questions), above the line being typed."""
        if not texts:
            return ""
        body = self.newline.join(sanitize(t) for t in texts) + self.newline
        if not self.terminal:
            return body
        return "\r\x1b[K" + body + self.prompt_line()

    def prompt_line(self) -> str:
        """The input row as it should look now (a terminal only)."""
        assert self.editor is not None
        prompt = f"{self.asking}: " if self.asking else PROMPT
        text, cursor = self.editor.view(max(1, self.width - len(prompt) - 1))
        back = len(text) - cursor
        return "\r\x1b[K" + prompt + text + (f"\x1b[{back}D" if back > 0 else "")

    # ------------------------------------------------------------ input

    def feed(self, data: bytes) -> tuple[list[str], str]:
        """Typed lines that are complete now, and what to write back (echo, on a terminal)."""
        if self.keys is None:
            text = self._partial + self._utf8.decode(data)
            *done, self._partial = text.split("\n")
            if len(self._partial) > MAX_LINE:
                self._partial = self._partial[:MAX_LINE]
            return [d.rstrip("\r")[:MAX_LINE] for d in done], ""
        return self._keys(self.keys.feed(data))

    def flush_keys(self) -> tuple[list[str], str]:
        """A lone Esc waited long enough (see KeyDecoder.flush)."""
        return self._keys(self.keys.flush()) if self.keys is not None else ([], "")

    def end(self) -> list[str]:
        """The input ended: an unfinished last line still counts (a pipe without a final LF)."""
        rest, self._partial = self._partial, ""
        return [rest.rstrip("\r")] if rest.strip() else []

    def _keys(self, events: list[Text | Key | Paste]) -> tuple[list[str], str]:
        editor = self.editor
        assert editor is not None
        done: list[str] = []
        for event in events:
            if isinstance(event, Text):
                editor.insert(event.text)
            elif isinstance(event, Paste):
                pieces = event.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                for piece in pieces[:-1]:
                    editor.insert(piece)
                    done.append(editor.submit())
                editor.insert(pieces[-1])
            elif event.name == "enter":
                done.append(editor.submit())
            elif event.name in ("ctrl-c", "ctrl-d") and not editor.text:
                done.append("/quit")
            elif event.name == "ctrl-c":
                editor.kill_line()
            elif event.name == "tab":
                editor.complete(self.model.completions())
            elif event.name in EDIT_ACTIONS:
                getattr(editor, EDIT_ACTIONS[event.name])()
        echo = ""
        if done:  # the typed line stays above, as a terminal shows what was entered
            echo = "\r\x1b[K" + self.newline.join(
                f"{self.asking + ': ' if self.asking else PROMPT}{sanitize(d)}" for d in done
            ) + self.newline
        return done, echo + self.prompt_line()

    # ------------------------------------------------------------ typed lines

    def local(self, typed: Typed) -> str | None:
        """What the view answers itself (/switch, /rooms, /set), or None: send it."""
        reply = local_reply(self.model, typed)
        if reply is not None:
            return self.say(*reply)
        if typed.name == "password":
            return self.say("! change your password in the full screen (ssh without -T) or in "
                            "the play client: here it would be shown as you type it")
        return None


def typed_lines(lines: list[str]) -> list[Typed]:
    """The typed lines that mean something (blank ones do not)."""
    return [t for t in (parse_typed(line) for line in lines) if t is not None]
