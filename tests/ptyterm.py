"""Run a command in a pseudo-terminal and read its screen through pyte (a terminal emulator)."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from typing import Any

import pyte

# The child becomes a session leader (start_new_session) and then takes the pty as
# its controlling terminal, as a login shell would: so the kernel delivers SIGWINCH
# on a resize, and the terminal belongs to it like a real one.
_CTTY_SHIM = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)

ALT_SCREEN = 1049
KEYS = {  # what an xterm sends with the keypad in application mode (curses turns it on)
    "up": "\x1bOA", "down": "\x1bOB", "right": "\x1bOC", "left": "\x1bOD",
    "home": "\x1bOH", "end": "\x1bOF", "pgup": "\x1b[5~", "pgdn": "\x1b[6~",
    "delete": "\x1b[3~", "backspace": "\x7f", "enter": "\r", "tab": "\t",
    "ctrl-c": "\x03", "ctrl-u": "\x15", "ctrl-w": "\x17", "esc": "\x1b",
}


class Terminal(pyte.Screen):
    """pyte's screen plus what ncurses uses on xterm and pyte lacks: scroll up/down
    (SU/SD), repeat (REP) and the alternate screen (mode 1049)."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self._last_char = " "
        self._main: tuple[dict[int, dict[int, Any]], int, int] | None = None

    def draw(self, data: str) -> None:
        super().draw(data)
        if data:
            self._last_char = data[-1]

    def repeat_last(self, count: int | None = None, *args: Any, **kwargs: Any) -> None:
        self.draw(self._last_char * (count or 1))

    def _scroll(self, count: int | None, up: bool) -> None:
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        for _ in range(count or 1):
            rows = range(top, bottom) if up else range(bottom, top, -1)
            for y in rows:
                self.buffer[y] = self.buffer[y + 1 if up else y - 1]
            self.buffer.pop(bottom if up else top, None)
        self.dirty.update(range(self.lines))

    def scroll_up(self, count: int | None = None, *args: Any, **kwargs: Any) -> None:
        self._scroll(count, up=True)

    def scroll_down(self, count: int | None = None, *args: Any, **kwargs: Any) -> None:
        self._scroll(count, up=False)

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and ALT_SCREEN in modes and self._main is None:
            saved = {y: dict(line) for y, line in self.buffer.items()}
            self._main = (saved, self.cursor.y, self.cursor.x)
            self.buffer.clear()
            self.dirty.update(range(self.lines))
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private") and ALT_SCREEN in modes and self._main is not None:
            saved, y, x = self._main
            self._main = None
            self.buffer.clear()
            for row, line in saved.items():
                self.buffer[row].update(line)
            self.cursor.y, self.cursor.x = min(y, self.lines - 1), min(x, self.columns - 1)
            self.dirty.update(range(self.lines))
        super().reset_mode(*modes, **kwargs)


class TerminalStream(pyte.ByteStream):
    csi = {**pyte.ByteStream.csi, "S": "scroll_up", "T": "scroll_down", "b": "repeat_last"}


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyTerm:
    """A command on a pty of `rows` x `cols`; `screen` is what a terminal would show."""

    def __init__(self, argv: list[str], rows: int = 24, cols: int = 80,
                 env: dict[str, str] | None = None) -> None:
        self.master, self.slave = os.openpty()
        set_size(self.slave, rows, cols)
        self.screen = Terminal(cols, rows)
        self.stream = TerminalStream(self.screen)
        self.raw = bytearray()  # everything the program wrote, for error messages
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CTTY_SHIM, *argv],
            stdin=self.slave, stdout=self.slave, stderr=self.slave,
            env=env, start_new_session=True, close_fds=True,
        )
        os.set_blocking(self.master, False)

    # ------------------------------------------------------------ reading the screen

    def pump(self, timeout: float = 0.05) -> bool:
        """Feed whatever the program wrote to the emulator; False when nothing came."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        got = False
        while True:
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, OSError):
                return got
            if not data:
                return got
            got = True
            self.raw += data
            self.stream.feed(data)

    @property
    def lines(self) -> list[str]:
        return list(self.screen.display)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_until(self, check: Callable[[PtyTerm], bool], timeout: float = 10.0,
                   what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.pump(0.05)
            if check(self):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}; screen:\n"
                                     + self.text)

    def wait_for(self, text: str, timeout: float = 10.0) -> None:
        self.wait_until(lambda term: text in term.text, timeout, repr(text))

    def settle(self, quiet: float = 0.2, timeout: float = 3.0) -> None:
        """Read until the program has written nothing for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pump(quiet):
            pass

    # ------------------------------------------------------------ typing and resizing

    def send(self, text: str) -> None:
        os.write(self.master, text.encode("utf-8"))

    def key(self, name: str) -> None:
        self.send(KEYS[name])

    def type_line(self, text: str) -> None:
        self.send(text)
        self.key("enter")

    def resize(self, rows: int, cols: int) -> None:
        """Like a terminal window being resized: new size, then SIGWINCH."""
        set_size(self.master, rows, cols)
        self.screen.resize(rows, cols)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGWINCH)

    # ------------------------------------------------------------ ending

    def wait_exit(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            self.pump(0.05)
            if time.monotonic() > deadline:
                raise AssertionError("the program did not exit; screen:\n" + self.text)
        self.settle(0.1, 1.0)
        return self.proc.returncode

    def lflags(self) -> int:
        """The terminal's local mode flags (ECHO, ICANON, ...) as the program left them."""
        return termios.tcgetattr(self.slave)[3]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
