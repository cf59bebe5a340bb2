"""The line client on a terminal: keys into a LineEditor, the prompt redrawn under new lines.

Like readline programs: the terminal is put in cbreak mode (no echo, a key at a time,
Ctrl-C still a signal), and a line that arrives while you type is printed above the
prompt, which is then drawn again with what you had typed and the cursor where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from gameclient.completion import Completer, LookUp
from gameclient.lineedit import LineEditor
from gameclient.termkeys import EDIT_ACTIONS, Key, KeyDecoder, Paste, Text
from gameclient.textwidth import cell_width, clusters

PROMPT = "> "
SECRET_PROMPT = "secret word (not shown): "

ESC_WAIT = 0.03  # seconds an Esc waits to be told from the start of a key's sequence
# Keys of our own beyond the line editor's (gameclient/termkeys.py EDIT_ACTIONS).
OWN_KEYS = {"enter": "enter", "tab": "complete", "ctrl-d": "eof_or_delete",
            "ctrl-l": "redraw", "escape": "escape"}


class TerminalInput:
    """Owns a terminal's input while the line client runs; writes every line through `show`."""

    def __init__(self, stdin: TextIO, out: TextIO, on_line: Callable[[str | None], None],
                 candidates: Callable[[], Iterable[str]] = tuple,
                 look_up: LookUp | None = None) -> None:
        self.stdin = stdin
        self.out = out
        self.on_line = on_line  # a finished line; None when input ends (Ctrl-D)
        self.candidates = candidates
        self.completer = Completer(look_up)  # asks the server when Tab finds nothing
        self.editor = LineEditor()
        self.secret: LineEditor | None = None
        self.question: str | None = None  # a visible question being asked (/msg alone)
        self._saved: list | None = None
        self._keys = KeyDecoder()
        self._esc_timer: asyncio.TimerHandle | None = None
        self._fd = -1

    @staticmethod
    def usable(stdin: TextIO, out: TextIO) -> bool:
        """A POSIX terminal on both ends (a pipe or a file keeps the plain line reader)."""
        if sys.platform == "win32":
            return False
        try:
            import termios  # noqa: F401

            return stdin.isatty() and out.isatty()
        except (ImportError, ValueError, OSError, AttributeError):
            return False

    def start(self) -> None:
        import termios

        self._fd = self.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        mode = termios.tcgetattr(self._fd)
        mode[3] &= ~(termios.ECHO | termios.ICANON)
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self._fd, termios.TCSADRAIN, mode)
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self._draw()

    def stop(self) -> None:
        if self._saved is None:
            return
        import termios

        if self._esc_timer is not None:
            self._esc_timer.cancel()
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._fd)
        with contextlib.suppress(Exception):
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
        self._saved = None
        self._write("\r\x1b[K")

    # ------------------------------------------------------------ output

    def learned(self) -> None:
        """Names the server was asked for have come: Tab again if the line is as it was."""
        if self.secret is None and self.completer.learned(self.editor, self.candidates()):
            self._draw()

    def show(self, text: str) -> None:
        """Print a line above the prompt, then draw the prompt and the typed text again."""
        self._write("\r\x1b[K" + text.replace("\n", "\r\n") + "\r\n")
        self._draw()

    def bell(self) -> None:
        """Ring the terminal's bell (a mention or a PM)."""
        self._write("\a")

    def ask_secret(self, what: str = "secret") -> None:
        """Read the next line without echo, asking for `what` (the game's word for it)."""
        self.secret = LineEditor()
        self.secret_what = what
        self._draw()

    def ask(self, question: str | None) -> None:
        """Show `question: ` as the prompt for the next line (None: back to the usual one)."""
        self.question = question
        self._draw()

    def _prompt(self) -> tuple[str, LineEditor]:
        if self.secret is None and self.question:
            return f"{self.question}: ", self.editor
        if self.secret is not None:
            return SECRET_PROMPT.format(what=self.secret_what), self.secret
        return PROMPT, self.editor

    def _draw(self) -> None:
        if self._saved is None:
            return
        prompt, editor = self._prompt()
        if editor is self.secret:
            self._write("\r\x1b[K" + prompt)
            return
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError):
            columns = 80
        visible, column = editor.view(max(1, columns - cell_width(prompt) - 1))
        back = cell_width(visible) - column
        self._write("\r\x1b[K" + prompt + visible + (f"\x1b[{back}D" if back > 0 else ""))

    def _write(self, data: str) -> None:
        try:
            self.out.write(data)
            self.out.flush()
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------ input

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the terminal went away
            self.stop()
            self.on_line(None)
            return
        self._take(self._keys.feed(data))

    def _take(self, events: list[Text | Key | Paste]) -> None:
        if self._esc_timer is not None:
            self._esc_timer.cancel()
            self._esc_timer = None
        for event in events:
            if isinstance(event, Key):
                self.handle(OWN_KEYS.get(event.name) or EDIT_ACTIONS.get(event.name, ""))
            else:
                self.handle("text:" + event.text)
        if self._saved is None:
            return
        if self._keys.pending:  # a lone Esc, or the start of a key: wait a moment
            self._esc_timer = asyncio.get_running_loop().call_later(
                ESC_WAIT, lambda: self._take(self._keys.flush()))
        self._draw()

    def handle(self, action: str) -> None:
        """Do one action: "text:..." inserts, else a line-editor action or one of OWN_KEYS."""
        prompt, editor = self._prompt()
        if action.startswith("text:"):
            editor.insert(action[5:])
        elif action == "enter":
            self._enter(prompt, editor)
        elif action == "eof_or_delete":
            if editor.text:
                editor.delete()
            elif self.secret is not None:
                self._enter(prompt, editor)
            else:
                self.stop()
                self.on_line(None)
        elif action == "escape":
            if self.secret is not None:  # Esc cancels the secret word, as in curses
                self.secret.text = ""
                self._enter(prompt, self.secret)
        elif action == "complete":
            if self.secret is None:
                self.completer.tab(editor, self.candidates())
        elif action == "redraw":
            self._write("\x1b[H\x1b[2J")
        elif action.startswith("history") and self.secret is not None:
            pass
        elif action and hasattr(editor, action):
            getattr(editor, action)()

    def _enter(self, prompt: str, editor: LineEditor) -> None:
        secret = editor is self.secret
        text = editor.submit() if not secret else editor.text
        if secret:
            self.secret = None
            self._write("\r\x1b[K" + prompt + "*" * len(clusters(text)) + "\r\n")
        else:  # what was typed stays on the screen, as in a cooked terminal
            self._write("\r\x1b[K" + prompt + text + "\r\n")
        self.on_line(text + "\n")
