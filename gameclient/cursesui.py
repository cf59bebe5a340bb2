"""The curses client: setup, the event loop (keyboard and network at once), and leaving well."""

from __future__ import annotations

import asyncio
import contextlib
import curses
import functools
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from gameclient.commands import Typed
from gameclient.completion import ask_server
from gameclient.connection import ClientConnection, ConnectionFailed
from gameclient.controller import Controller
from gameclient.lineclient import CLEAN_EXITS, learn_names
from gameclient.model import ClientModel
from gameclient.panes import ROOM_CHANGE_WAIT, ROOM_CHANGES, send_to_pane
from gameclient.reconnect import Opener, reconnect
from gameclient.screen import Key, Screen
from gameclient.termkeys import Event, Text, control_name
from gameclient.termkeys import Key as NamedKey
from gameserver.protocol import Bye, Command

WINDOWS_KEY_POLL = 0.05  # seconds; only where stdin cannot be watched by the event loop
# curses' codes for special keys, in the one vocabulary of gameclient.termkeys
CURSES_KEYS: dict[int, str] = {
    curses.KEY_LEFT: "left", curses.KEY_RIGHT: "right", curses.KEY_UP: "up",
    curses.KEY_DOWN: "down", curses.KEY_HOME: "home", curses.KEY_END: "end",
    curses.KEY_BACKSPACE: "backspace", curses.KEY_DC: "delete", curses.KEY_IC: "insert",
    curses.KEY_PPAGE: "page_up", curses.KEY_NPAGE: "page_down", curses.KEY_ENTER: "enter",
    curses.KEY_BTAB: "back_tab",
    **{getattr(curses, f"KEY_F{n}"): f"f{n}" for n in range(1, 13)},
}


def drop_escape_sequences(keys: list[Key]) -> list[Key]:
    """Remove what curses did not decode (Alt+key, unknown CSI/SS3); a lone Esc stays."""
    out: list[Key] = []
    i = 0
    while i < len(keys):
        key = keys[i]
        if key != "\x1b" or i + 1 >= len(keys) or not isinstance(keys[i + 1], str):
            out.append(key)
            i += 1
            continue
        i += 1
        key = keys[i]
        if isinstance(key, str) and len(key) == 1 and key in "123456789":
            out.append("\x1b" + key)  # Alt-1..9: a pane of the room bar
            i += 1
            continue
        if keys[i] in ("[", "O"):
            i += 1
            while i < len(keys) and isinstance(keys[i], str) and not "@" <= str(keys[i]) <= "~":
                i += 1
        i += 1
    return out


def curses_events(keys: list[Key]) -> list[Event]:
    """What curses read, as the events a KeyDecoder gives: typed runs, named keys."""
    events: list[Event] = []
    typed: list[str] = []  # a run of printable characters (a paste) is inserted at once
    for key in drop_escape_sequences(keys):
        if isinstance(key, str) and key.isprintable():
            typed.append(key)
            continue
        if typed:
            events.append(Text("".join(typed)))
            typed.clear()
        if isinstance(key, int):
            if key in CURSES_KEYS:
                events.append(NamedKey(CURSES_KEYS[key]))
        elif key == "\x1b":
            events.append(NamedKey("escape"))
        elif len(key) == 2 and key[0] == "\x1b":
            events.append(NamedKey("alt-" + key[1]))
        elif len(key) == 1 and (key < " " or key == "\x7f"):
            events.append(NamedKey(control_name(key)))
    if typed:
        events.append(Text("".join(typed)))
    return events


class CursesClient:
    """The curses loop around a Controller: keys and the network in, the screen out."""

    def __init__(self, conn: ClientConnection, model: ClientModel, server: str = "",
                 screen: Screen | None = None, reopen: Opener | None = None) -> None:
        self.conn = conn
        self.reopen = reopen  # how to connect again after a lost connection
        self.restarting = False  # the server said it shuts down: it may come back
        self.gave_up: str | None = None  # why reconnecting stopped, said once curses has ended
        self.model = model
        self.server = server
        self.screen = screen or Screen()
        self.controller = Controller(model, self.send, bell=lambda: self.screen.bell(),
                                     quit=lambda reason: self.finish(0, reason),
                                     server=server, games=conn.games, check=self.check,
                                     look_up=self.look_up)
        self.result: asyncio.Future[tuple[int, str]] | None = None
        self._redraw_pending = False
        self._undo: list[Callable[[], Any]] = []
        self._poll: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        # A /join or /part awaiting its answer (its id, when to stop waiting), and the lines
        # typed (or pasted) meanwhile: they go to the room it leaves you in (see send).
        self._changing: tuple[int, float] | None = None
        self._behind: list[tuple[Typed, str | None]] = []
        self._change_timer: asyncio.TimerHandle | None = None

    @property
    def leaving(self) -> bool:
        return self.controller.leaving

    # ------------------------------------------------------------ running

    async def run(self) -> int:
        """Until /quit, Ctrl-C, the server's goodbye or a lost connection; the exit code.

        The terminal is restored whatever happens, and then the reason is printed.
        """
        loop = asyncio.get_running_loop()
        self.result = loop.create_future()
        events: asyncio.Task[None] | None = None
        try:
            self.screen.start()
        except curses.error as exc:  # e.g. a TERM that terminfo does not know
            print(f"play: cannot draw on this terminal ({exc}); using the plain client",
                  file=sys.stderr, flush=True)
            return await run_plain(self.conn, self.model)
        captured = _LogCapture.install()
        try:
            self._watch_input(loop)
            self._watch_signals(loop)
            self._tick(loop)
            self.redraw()
            events = asyncio.create_task(self._events())
            self._learning = asyncio.create_task(learn_names(self.conn, self.model))
            code, reason = await self.result
        finally:
            if self._poll is not None:
                self._poll.cancel()
            if self._ticker is not None:
                self._ticker.cancel()
            for undo in reversed(self._undo):
                with contextlib.suppress(Exception):
                    undo()
            self.screen.stop()
            if captured is not None:
                captured.remove()
            if events is not None:
                events.cancel()
                await asyncio.gather(events, return_exceptions=True)
            await self.conn.close()
        if reason:
            with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
                print(reason, file=sys.stdout if code == 0 else sys.stderr, flush=True)
        return code

    def finish(self, code: int, reason: str) -> None:
        if self.result is not None and not self.result.done():
            self.result.set_result((code, reason))

    def fail(self, exc: BaseException) -> None:
        """A bug in a callback: end curses first so the traceback lands on a sane terminal."""
        if self.result is not None and not self.result.done():
            self.result.set_exception(exc)

    def guarded(self, func: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            try:
                func(*args)
            except Exception as exc:  # noqa: BLE001 - handed to run(), re-raised after endwin
                self.fail(exc)

        return call

    def _watch_input(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake up only when a key arrives; where the OS cannot watch stdin, poll gently."""
        if sys.platform != "win32":
            try:
                fd = sys.stdin.fileno()
                loop.add_reader(fd, self.guarded(self.on_input))
                self._undo.append(lambda: loop.remove_reader(fd))
                return
            except (NotImplementedError, OSError, ValueError, AttributeError):
                pass
        # Windows (windows-curses): select() takes only sockets, so the console is
        # polled a few times a second instead; nodelay reads make each poll cheap.
        self._poll_input(loop)

    def _poll_input(self, loop: asyncio.AbstractEventLoop) -> None:
        self.guarded(self.on_input)()
        if self.result is not None and not self.result.done():
            self._poll = loop.call_later(WINDOWS_KEY_POLL, self._poll_input, loop)

    def _watch_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        wanted: list[tuple[str, Callable[[], None]]] = [
            ("SIGWINCH", self.on_resize),
            ("SIGTERM", lambda: self.finish(1, "terminated")),
            ("SIGHUP", lambda: self.finish(1, "the terminal went away")),
        ]
        for name, handler in wanted:
            sig = getattr(signal, name, None)
            if sig is None or (name != "SIGWINCH" and signal.getsignal(sig) != signal.SIG_DFL):
                continue  # not on this OS, or someone (the host's server) already handles it
            try:
                loop.add_signal_handler(sig, self.guarded(handler))
            except (NotImplementedError, RuntimeError, ValueError, OSError):
                continue
            self._undo.append(functools.partial(loop.remove_signal_handler, sig))

    async def _events(self) -> None:
        while True:
            try:
                event = await self.conn.next_event()
            except ConnectionFailed as exc:
                restart = self.model.ended is not None and self.restarting
                if self.leaving or (self.model.ended is not None and not restart):
                    self.finish(0, self.model.ended or "you left")
                    return
                self.controller.say("error", f"! connection lost: {exc}")
                self.request_redraw()
                if await self.come_back():
                    continue
                self.finish(1, self.gave_up or f"connection lost: {exc}")
                return
            try:
                self.controller.take(event)
                self._answered(event)
                self.request_redraw()
                if isinstance(event, Bye):
                    if event.code == "shutdown" and event.restart and self.reopen is not None \
                            and not self.leaving:
                        self.restarting = True  # a restart: wait for it to come back
                        continue
                    self.finish(0 if event.code in CLEAN_EXITS else 1, event.reason)
                    return
            except Exception as exc:  # noqa: BLE001 - see fail()
                self.fail(exc)
                return

    async def come_back(self) -> bool:
        """Connect again with backoff and resume with the token, saying so; True once back."""
        if self.reopen is None or not self.model.token:
            return False

        errors: list[str] = []

        def say(text: str) -> None:
            if not text.startswith("*"):
                errors.append(text.removeprefix("!").removeprefix(" ").rstrip())
            self.controller.say("notice" if text.startswith("*") else "error", text)
            self.request_redraw()

        result = await reconnect(self.reopen, self.model.token, say)
        if result is None:  # why it gave up is the last thing said, after curses is gone too
            self.gave_up = "\n".join(errors) or None
            return False
        old, (self.conn, reply) = self.conn, result
        await old.close()
        self.controller.games = list(self.conn.games)
        self.model.ended = None
        self.restarting = False
        self.model.resume()
        self.model.address = self.conn.address  # maybe another node of the cluster
        self.model.apply(reply)
        say(f"* reconnected to {self.conn.address}: resumed as {self.model.user}; your rooms"
            " come back")
        return True

    # ------------------------------------------------------------ reacting

    def send(self, typed: Typed, secret: str | None = None) -> bool:
        """The controller's way out: to the pane looked at, on today's connection.

        What is typed while a /join or /part waits for its answer (a paste: `/join den`,
        then lines) waits too, so it goes to the room the server then shows you in.
        """
        if not self.controller.games and self.conn.games:
            self.controller.games = list(self.conn.games)
        if self._changing is not None and time.monotonic() < self._changing[1]:
            self._behind.append((typed, secret))
            return True
        self._changing = None
        try:
            msg_id = send_to_pane(self.conn, self.model, typed, secret)
        except ConnectionFailed:
            return False
        if typed.name in ROOM_CHANGES:
            self._changing = (msg_id, time.monotonic() + ROOM_CHANGE_WAIT)
            if self._change_timer is not None:
                self._change_timer.cancel()
            self._change_timer = asyncio.get_running_loop().call_later(
                ROOM_CHANGE_WAIT, self.guarded(self._answered), None)
        return True

    def _answered(self, event: Any) -> None:
        """The answer to a /join or /part came (or a connection was lost): what waited goes."""
        if self._changing is None or (event is not None
                                      and getattr(event, "id", None) != self._changing[0]):
            return
        self._changing, behind, self._behind = None, self._behind, []
        if self._change_timer is not None:
            self._change_timer.cancel()
            self._change_timer = None
        self.request_redraw()
        for n, (typed, secret) in enumerate(behind):
            if not self.send(typed, secret):
                self.controller.say("error", f"! {len(behind) - n} typed line(s) not sent:"
                                             " the connection was lost")
                return
            if self._changing is not None:  # another /join in the paste: the rest waits again
                self._behind = behind[n + 1:] + self._behind
                return

    def check(self, typed: Typed) -> int | None:
        """Ask the server whether `typed` could be done (the controller waits for the reply)."""
        room, _peer = self.model.target()
        msg_id = self.conn.new_id()
        try:
            self.conn.send(Command(id=msg_id, name=typed.name or "", args=typed.args, room=room,
                                   check=True))
        except ConnectionFailed:
            return None
        return msg_id

    def look_up(self, prefix: str) -> None:
        """Tab found nothing: ask the server for accounts (and rooms) starting with `prefix`."""
        async def ask() -> None:
            if await ask_server(self.conn, self.model, prefix):
                self.controller.learned()
                self.request_redraw()

        self._asking = asyncio.create_task(ask())

    def on_input(self) -> None:
        keys = self.screen.read_keys()
        if curses.KEY_RESIZE in keys:
            self.on_resize()
        for event in curses_events([key for key in keys if key != curses.KEY_RESIZE]):
            self.controller.key(event)
        if keys:
            self.redraw()

    def handle_key(self, key: Key) -> None:
        """One key as curses reads it (tests type through here)."""
        if key == curses.KEY_RESIZE:
            self.on_resize()
            return
        for event in curses_events([key]):
            self.controller.key(event)

    def on_resize(self) -> None:
        self.screen.resize()
        self.redraw()

    # ------------------------------------------------------------ drawing

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Twice a second: clocks count down, replays step on, a /quit stops waiting."""
        self.controller.tick()
        if self.controller.dirty:
            self.request_redraw()
        self._ticker = loop.call_later(0.5, self.guarded(self._tick), loop)

    def request_redraw(self) -> None:
        """Coalesce a burst of events into one redraw."""
        if not self._redraw_pending:
            self._redraw_pending = True
            asyncio.get_running_loop().call_soon(self.guarded(self.redraw))

    def redraw(self) -> None:
        self._redraw_pending = False
        self.screen.show(self.controller.draw(self.screen))


async def run_plain(conn: ClientConnection, model: ClientModel) -> int:
    """The line client instead, when curses cannot start on this terminal."""
    from gameclient.lineclient import LineClient

    client = LineClient(conn, model)
    for line in model.transcript:
        client.emit_line(line)
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, client.request_quit)
    return await client.run()


class _LogCapture(logging.Handler):
    """Holds log records while curses owns the screen (stderr would garble it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    @classmethod
    def install(cls) -> _LogCapture | None:
        root = logging.getLogger()
        if root.handlers:
            return None  # logging goes somewhere already (the host logs to a file)
        handler = cls()
        root.addHandler(handler)
        return handler

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def remove(self) -> None:
        logging.getLogger().removeHandler(self)
        for record in self.records[-20:]:
            print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)
