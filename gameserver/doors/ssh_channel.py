"""One SSH session channel: a full screen for a terminal, the line view for -T, exec or pipes.

A pty session gets the play screen drawn in-process (gameclient's controller and
views on an AnsiCanvas at the client's size); anything else gets lines
(ssh_lines.LineView). Output is gathered and written once per loop pass by the door.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import asyncssh

from gameclient.model import ClientModel
from gameclient.panes import send_to_pane
from gameserver.doors.ssh_client import Learned
from gameserver.doors.ssh_lines import LineView, typed_lines
from gameserver.protocol import Bye

if TYPE_CHECKING:
    from gameserver.doors.ssh_client import SSHClient

log = logging.getLogger("play.ssh")

OUTPUT_LIMIT = 1024 * 1024  # bytes waiting for one client before it counts as not reading
ESC_WAIT = 0.025  # seconds a lone Esc waits to be told from the start of a key sequence
DUMB_TERMS = ("dumb", "unknown", "")
CLEAN_EXIT = frozenset({"quit", "shutdown", "replaced"})


class SSHChannel(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """asyncssh's session callbacks; `view` shows the model, `out` waits for the door's flush."""

    def __init__(self, client: SSHClient) -> None:
        self.client = client
        self.chan: Any = None
        self.term: str | None = None  # set when a pty was asked for
        self.size = (24, 80)  # rows, cols
        self.command: str | None = None
        self.view: Any = None  # a LineView or a ScreenView, once the session started
        self.out: list[str] = []
        self.ended = False
        self.finished = False  # the session ended: its last words are queued
        self.paused = False  # a slow reader: frames are skipped until its channel drains
        self.code = 0
        self._esc: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ asyncssh callbacks

    def connection_made(self, chan: Any) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int],
                      term_modes: Any) -> bool:
        self.term = term_type or ""
        if term_size[0] and term_size[1]:
            self.size = (term_size[1], term_size[0])
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False  # no sftp, no scp: this is a chat

    def session_started(self) -> None:
        client = self.client
        if client.channel is not None:  # one session per connection
            self.chan.write(b"play: one session per connection\r\n")
            self.chan.exit(1)
            return
        client.channel = self
        env = dict(self.chan.get_environment() or {})
        if self.term is not None:
            env["TERM"] = self.term
        model = ClientModel(draws_boards=False)
        screen = self._screen(model, env)
        self.view = screen if screen is not None else LineView(
            model, terminal=self.term is not None, width=self.size[1])
        for event in client.take_early():
            self.take(event)
        if isinstance(self.view, LineView) and self.term is not None:
            self.write(self.view.prompt_line())
        if self.command:  # `ssh you@host '/who'`: the command is what they typed first
            self.typed(self.command.split("\n"))
        client.door.wake()

    def _screen(self, model: ClientModel, env: dict[str, str]) -> Any:
        """The full screen for a real terminal (None: the line view)."""
        if self.term is None or self.term.lower() in DUMB_TERMS or self.command:
            return None
        try:
            from gameserver.doors.ssh_screen import ScreenView
        except ImportError:  # the client's controller is not there: lines still work
            return None
        return ScreenView(self, model, env)

    def data_received(self, data: bytes, datatype: Any) -> None:
        view = self.view
        if view is None or self.ended:
            return
        if isinstance(view, LineView):
            lines, echo = view.feed(data)
            if echo:
                self.write(echo)
            self.typed(lines)
            self._watch_escape(view)
        else:
            view.feed(data)
            self._watch_escape(view)
            self.client.door.dirty.add(self.client)  # a key may change the screen
        self.client.door.wake()

    def _watch_escape(self, view: Any) -> None:
        if self._esc is not None:
            self._esc.cancel()
            self._esc = None
        keys = getattr(view, "keys", None)
        if keys is not None and keys.pending:
            self._esc = asyncio.get_running_loop().call_later(ESC_WAIT, self._flush_escape)

    def _flush_escape(self) -> None:
        self._esc = None
        view = self.view
        if isinstance(view, LineView):
            lines, echo = view.flush_keys()
            if echo:
                self.write(echo)
            self.typed(lines)
        elif view is not None:
            view.flush_keys()
            self.client.door.dirty.add(self.client)
        self.client.door.wake()

    def eof_received(self) -> bool:
        """The end of what they type (a pipe ran out, Ctrl-D with -T): leave politely."""
        view = self.view
        if isinstance(view, LineView) and not self.ended:
            self.typed(view.end())
            self.client.leave()
        return True  # keep our side open for the goodbye

    def terminal_size_changed(self, width: int, height: int, pixwidth: int,
                              pixheight: int) -> None:
        if not (width and height):
            return
        self.size = (height, width)
        view = self.view
        if isinstance(view, LineView):
            view.width = max(10, width)
        elif view is not None:
            view.resize(height, width)
            self.client.door.flush_now(self.client)  # redraw at once

    def pause_writing(self) -> None:
        """Over 64 KiB wait in the channel (asyncssh's high-water mark): draw no more frames."""
        self.paused = True

    def resume_writing(self) -> None:
        """A slow reader caught up: draw what it missed (the frames skipped meanwhile)."""
        self.paused = False
        view = self.view
        if view is not None and not isinstance(view, LineView) and not self.ended:
            self.client.door.dirty.add(self.client)
            self.client.door.wake()

    def break_received(self, msec: int) -> bool:
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._esc is not None:
            self._esc.cancel()
        self.ended = True
        self.out.clear()
        client = self.client
        session = client.session
        if exc is not None and session is not None and not session.closed:
            client.door.hub.disconnected(session, "connection lost")  # vanished
            client.door.wake()
        else:
            client.leave()  # the client closed its session: as if it typed /quit
        if client.conn is not None:
            client.conn.close()

    # ------------------------------------------------------------ the client's side

    def tick(self) -> bool:
        """About once a second: whether the screen should be drawn again (a clock runs)."""
        view = self.view
        return view is not None and not isinstance(view, LineView) and view.tick()

    def take(self, event: Any) -> None:
        """One server event for the view."""
        view = self.view
        if isinstance(event, Learned):
            view.model.learn(event.data)
            return
        if isinstance(view, LineView):
            text = view.show(event)
            if text:
                self.write(text)
        else:
            view.take(event)
        if isinstance(event, Bye):
            self.code = 0 if event.code in CLEAN_EXIT else 1
        self.client.door.dirty.add(self.client)

    def typed(self, lines: list[str]) -> None:
        """Typed lines of the line view: answered here (/switch ...) or sent to the server."""
        view = self.view
        assert isinstance(view, LineView)
        for typed in typed_lines(lines):
            if self.ended or self.client.closing:
                return
            view.model.unread = 0
            answer = view.local(typed)
            if answer is not None:
                self.write(answer)
                continue
            send_to_pane(self.client, view.model, typed)
            if typed.is_quit:
                return

    def write(self, text: str) -> None:
        if not self.ended and text:
            self.out.append(text)
            self.client.door.dirty.add(self.client)

    def flush(self) -> None:
        """Draw (a screen) and write what waits, in one channel write."""
        chan = self.chan
        if self.ended or chan is None:
            self.out.clear()
            return
        view = self.view
        if view is not None and not isinstance(view, LineView) and not self.finished \
                and not self.paused:
            frame = view.frame()
            if frame:
                self.out.append(frame)
        if not self.out:
            return
        data = "".join(self.out).encode("utf-8", "replace")
        self.out.clear()
        try:
            chan.write(data)
        except (OSError, asyncssh.Error, BrokenPipeError):
            return
        if chan.get_write_buffer_size() > OUTPUT_LIMIT:
            self.client.too_slow()

    def end(self, reason: str) -> None:
        """The hub closed the session: show why, then close the channel (exit status)."""
        if self.ended:
            return
        view = self.view
        self.finished = True  # no frame after the last one
        if view is not None and not isinstance(view, LineView):
            self.out.append(view.leave(reason))
        elif isinstance(view, LineView) and view.terminal:
            self.out.append("\r\x1b[K")
        self.flush()
        self.ended = True
        try:
            self.chan.exit(self.code)
        except (OSError, asyncssh.Error):
            pass
