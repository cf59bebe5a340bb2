"""The full play screen of one SSH session: the client's controller drawn on an ANSI canvas.

The same pure controller and views as the curses client (gameclient/controller.py);
keys come through gameclient.termkeys, the screen goes out as ANSI text that only
redraws what changed (gameclient/ansiscreen.py). Nothing here blocks or does I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gameclient.ansiscreen import ENTER, LEAVE, AnsiCanvas, capabilities
from gameclient.controller import Controller
from gameclient.model import ClientModel
from gameclient.panes import send_to_pane
from gameclient.termkeys import KeyDecoder
from gameserver.protocol import Command

if TYPE_CHECKING:
    from gameserver.doors.ssh_channel import SSHChannel

BELL = "\a"


class ScreenView:
    """One terminal: `feed` keys in, `take` events in, `frame()` the text to send now."""

    def __init__(self, channel: SSHChannel, model: ClientModel, env: Mapping[str, str]) -> None:
        self.channel = channel
        self.caps = capabilities(env)
        rows, cols = channel.size
        self.canvas = AnsiCanvas(rows, cols, self.caps)
        self.keys = KeyDecoder()
        self.controller = Controller(model, self.send, bell=self.ring, quit=self.quit,
                                     server=channel.client.server_label, check=self.check)
        self.entered = False  # the alternate screen is on (ENTER sent)
        self.bells = 0

    @property
    def model(self) -> ClientModel:
        return self.controller.model

    # ------------------------------------------------------------ in

    def take(self, event: Any) -> None:
        self.controller.take(event)

    def feed(self, data: bytes) -> None:
        for event in self.keys.feed(data):
            self.controller.key(event)

    def flush_keys(self) -> None:
        for event in self.keys.flush():
            self.controller.key(event)

    def resize(self, rows: int, cols: int) -> None:
        self.canvas.resize(rows, cols)
        self.controller.dirty = True

    def tick(self) -> bool:
        """About once a second: clocks and replays move on; a /quit without answer ends."""
        self.controller.tick()
        return self.controller.dirty

    # ------------------------------------------------------------ the controller's hooks

    def send(self, typed: Any, secret: str | None = None) -> bool:
        client = self.channel.client
        if client.closing or client.session is None or client.session.closed:
            return False
        send_to_pane(client, self.model, typed, secret)
        return True

    def check(self, typed: Any) -> int | None:
        """Ask the hub whether `typed` could be done (a secret game word waits for its ok)."""
        client = self.channel.client
        if client.closing or client.session is None or client.session.closed:
            return None
        room, _peer = self.model.target()
        msg_id = client.new_id()
        # The hub answers in this very call; the controller learns the id only once we
        # return, so the question goes at the end of this loop pass.
        asyncio.get_running_loop().call_soon(client.submit, Command(
            id=msg_id, name=typed.name or "", args=typed.args, room=room, check=True))
        return msg_id

    def ring(self) -> None:
        self.bells = 1  # one bell per frame is enough

    def quit(self, reason: str) -> None:
        """The controller is done (Ctrl-C twice, or no goodbye came in time): end it."""
        client = self.channel.client
        session = client.session
        if session is not None and not session.closed:
            client.door.hub.disconnected(session, "quit")
        self.channel.end(reason)

    # ------------------------------------------------------------ out

    def frame(self) -> str:
        """What to send now: the changed cells (all of them the first time), a bell."""
        out = []
        if not self.entered:
            self.entered = True
            out.append(ENTER)
        if self.controller.dirty:
            cursor = self.controller.draw(self.canvas)
            out.append(self.canvas.render(cursor))
        if self.bells:
            self.bells = 0
            out.append(BELL)
        return "".join(out)

    def leave(self, reason: str) -> str:
        """The last frame, then the terminal as it was and the reason in words."""
        body = self.frame() if self.entered else ""
        return f"{body}{LEAVE}play: {reason}\r\n"
