"""The plain line client: for pipes, scripts and dumb terminals; one event, one line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from gameclient.commands import (
    PASSWORD_QUESTIONS,
    QUIT_GRACE,
    Typed,
    answered,
    completion_words,
    parse_typed,
    password_problem,
    questions_for,
    secret_option,
)
from gameclient.completion import ask_server
from gameclient.connection import ClientConnection, ConnectionFailed, Unsendable
from gameclient.lineview import board_texts, line_text, local_reply
from gameclient.model import ClientModel, Line, clock
from gameclient.panes import ROOM_CHANGE_WAIT, ROOM_CHANGES, send_to_pane
from gameclient.reconnect import Opener, reconnect
from gameclient.terminput import TerminalInput
from gameserver.protocol import Bye, Command, GameState, ProtocolError

CLEAN_EXITS = frozenset({"quit", "shutdown", "replaced"})


def start_stdin_reader(stream: TextIO) -> asyncio.Queue[str | None]:
    """Read lines in a thread (works for ttys, pipes and files, on every OS); None = EOF."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError, UnicodeDecodeError):
            pass
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except RuntimeError:  # the loop is already closed
                pass

    threading.Thread(target=pump, name="play-stdin", daemon=True).start()
    return queue


@contextlib.contextmanager
def _echo_off(stream: TextIO) -> Iterator[None]:
    """Hide what is typed on a POSIX terminal; elsewhere there is nothing to hide."""
    try:
        import termios
    except ImportError:  # Windows: the line client cannot hide input; say nothing false
        yield
        return
    try:
        if not stream.isatty():
            raise ValueError("not a terminal")
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, AttributeError, termios.error):  # a pipe or a file
        yield
        return
    changed = list(saved)
    changed[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, changed)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        print(file=sys.stderr)


async def learn_names(conn: ClientConnection, model: ClientModel) -> None:
    """Ask, unseen, for the rooms, who is online and the accounts, so Tab completes them."""
    from gameserver.protocol import Command

    for name in ("list", "users", "accounts"):  # accounts: offline ones too (bounded)
        msg_id = conn.new_id()
        try:
            reply = await conn.request(Command(id=msg_id, name=name), msg_id)
        except Exception:  # noqa: BLE001 - only a convenience: Tab completes less
            return
        model.learn(reply.data)


class LineClient:
    """Prints every event as a line; sends every typed line."""

    def __init__(self, conn: ClientConnection, model: ClientModel, out: TextIO = sys.stdout,
                 stdin: TextIO = sys.stdin, reopen: Opener | None = None) -> None:
        self.conn = conn
        self.reopen = reopen  # how to connect again after a lost connection
        self.restarting = False  # the server said it restarts: wait for it to come back
        self.leaving = False  # /quit or the end of input: no coming back
        self.model = model
        self.out = out
        self.stdin = stdin
        self.inputs: asyncio.Queue[str | None] | None = None
        self.terminal: TerminalInput | None = None  # set while a terminal is typed on
        # a /join or /part awaiting its answer: what is typed next waits for it (see _settled)
        self._answer: tuple[int, asyncio.Event] | None = None
        self._lost_said: ClientConnection | None = None  # the connection said to be lost

    def candidates(self) -> list[str]:
        return completion_words(self.model, self.conn.games)

    def look_up(self, prefix: str) -> None:
        """Tab found nothing: ask the server for accounts (and rooms) starting with `prefix`."""
        async def ask() -> None:
            if await ask_server(self.conn, self.model, prefix) and self.terminal is not None:
                self.terminal.learned()

        self._asking = asyncio.create_task(ask())

    def request_quit(self) -> None:
        """Ctrl-C: leave as if /quit was typed."""
        if self.inputs is not None:
            self.inputs.put_nowait(None)

    def say(self, text: str, ts: float | None = None) -> None:
        """A line of the client's own (a reply to /rooms, an error): on a terminal with its
        time, as every line there (a pipe's script reads lines as they were)."""
        if self.terminal is None:
            self.emit(text)
        else:
            self.emit(f"{clock(time.time() if ts is None else ts)} {text}")

    def emit(self, text: str) -> None:
        if self.terminal is not None:
            self.terminal.show(text)
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # stdout closed (a pipe reader went away): nothing to show it on

    async def run(self) -> int:
        """Until quit, end of input, the server's goodbye, or a lost connection; the exit code."""
        if TerminalInput.usable(self.stdin, self.out):
            inputs = self.inputs = asyncio.Queue()
            self.terminal = TerminalInput(self.stdin, self.out, inputs.put_nowait,
                                          self.candidates, self.look_up)
            self.terminal.start()
        else:
            inputs = self.inputs = start_stdin_reader(self.stdin)
        try:
            return await self._run(inputs)
        finally:
            if self.terminal is not None:
                self.terminal.stop()
                self.terminal = None

    def emit_line(self, line: Line) -> None:
        """A transcript line, as every line view prints it (see lineview.line_text)."""
        text = line_text(self.model, line, terminal=self.terminal is not None)
        if text is not None:
            self.emit(text)

    def _comes_back(self, bye: Bye | None = None) -> bool:
        """After a server's restart, a client on a terminal waits for it to come back.

        (A shutdown without `restart` is the host leaving for good: the client ends.)"""
        if bye is not None and bye.code == "shutdown" and bye.restart \
                and self.terminal is not None:
            self.restarting = True
        return self.restarting and self.reopen is not None and bool(self.model.token)

    async def _reconnect(self) -> bool:
        """Connect again with backoff and resume with the token; True once back."""
        if self.terminal is None:  # a pipe or a script: a lost server is an error, said once
            return False
        if self.reopen is None or not self.model.token or self.leaving or self.model.ended \
                and not self.restarting:
            return False
        result = await reconnect(self.reopen, self.model.token, self.say)
        if result is None:
            return False
        old, (self.conn, reply) = self.conn, result
        await old.close()
        self.model.ended = None
        self.restarting = False
        self.model.resume()
        self.model.address = self.conn.address  # maybe another node of the cluster
        self.model.apply(reply)
        self.say(f"* reconnected to {self.conn.address}: resumed as {self.model.user}, your"
                 " rooms come back")
        return True

    async def _run(self, inputs: asyncio.Queue[str | None]) -> int:
        events = asyncio.create_task(self._events())
        self._learning = asyncio.create_task(learn_names(self.conn, self.model))
        typing = asyncio.create_task(self._typing(inputs))
        done, pending = await asyncio.wait({events, typing}, return_when=asyncio.FIRST_COMPLETED)
        if typing in done and not events.done():
            try:  # we asked to leave: wait a moment for the goodbye
                await asyncio.wait_for(asyncio.shield(events), QUIT_GRACE)
            except TimeoutError:
                pass
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.conn.close()
        return events.result() if events.done() and not events.cancelled() else 0

    async def _events(self) -> int:
        while True:
            try:
                event = await self.conn.next_event()
            except ConnectionFailed as exc:
                if self.model.ended is not None and not self._comes_back():
                    return 0
                self.say(f"! connection lost: {exc}")
                if await self._reconnect():
                    continue
                return 1
            lines = self.model.apply(event)
            for line in lines:
                self.emit_line(line)
            if self._answer is not None and getattr(event, "id", None) == self._answer[0]:
                self._answer[1].set()  # the rooms are as that /join or /part left them
            if self.terminal is not None and self.model.bell and any(
                    line.wants_attention for line in lines):
                self.terminal.bell()
            if isinstance(event, GameState) and event.room in self.model.panes:
                self.emit_board(event)
            if isinstance(event, Bye) and not self._comes_back(event):
                return 0 if event.code in CLEAN_EXITS else 1

    def emit_board(self, game: GameState) -> None:
        """A board, indented; on a terminal its header and last line carry the time and its
        rows stay aligned under them."""
        lines = board_texts(self.model, game)
        stamp = clock(time.time()) if self.terminal is not None else ""
        for n, text in enumerate(lines):
            lead = stamp if n in (0, len(lines) - 1) else " " * len(stamp)
            self.emit(f"{lead + ' ' if lead else ''}{text}")

    async def _typing(self, inputs: asyncio.Queue[str | None]) -> None:
        while True:
            # A queue with lines in it answers without yielding: a pipe full of lines would
            # keep the server's answers (its goodbye too) unread until the pipe ran dry.
            await asyncio.sleep(0)
            raw = await inputs.get()
            if self.model.ended is not None and not self.restarting:
                return  # the server said goodbye (and why): nothing more goes out
            if raw is None:  # end of input: leave politely
                self.leaving = True
                self._send(Typed("/quit", "quit"))
                return
            typed = parse_typed(raw)
            if typed is None:
                continue
            self.model.unread = 0
            reply = local_reply(self.model, typed)
            if reply is not None:
                for text in reply:
                    self.say(text)
                continue
            questions = questions_for(typed)
            if questions is not None:
                if typed.name == "msg":  # who is online, to choose from
                    self._send(Typed("/users", "users"))
                answers = []
                for question in questions:
                    answer = await self._ask(inputs, question)
                    if answer is None:
                        return
                    answers.append(answer)
                full = answered(typed, answers)
                if full is None:
                    self.say("! nothing was sent")
                else:
                    self._send(full)
                continue
            if typed.name == "password":
                answers = []
                for what in PASSWORD_QUESTIONS:
                    answer = await self._read_secret(inputs, what)
                    if answer is None:
                        return
                    answers.append(answer)
                problem = password_problem(*answers)
                if problem:
                    self.say(f"! {problem}")
                else:
                    self._send(typed, f"{answers[0]}\n{answers[1]}")
                continue
            secret = None
            option = secret_option(typed, self.conn.games)
            if option is not None:
                what = str(option.get("prompt") or option.get("name") or "secret")
                if not await self._could_start(typed):
                    continue  # said why; no word is asked for a game that cannot start
                secret = await self._read_secret(inputs, what)
                if secret is None:
                    return
                if not secret:
                    self.say(f"! no {what} given; the game was not started")
                    continue
            if typed.is_quit:
                self.leaving = True
            sent = self._send(typed, secret)
            if typed.is_quit:
                return
            if sent is not None and typed.name in ROOM_CHANGES:
                await self._settled(sent)

    async def _could_start(self, typed: Typed) -> bool:
        """Ask the server whether the command could be done (a check); False: said why."""
        room, _peer = self.model.target()
        msg_id = self.conn.new_id()
        try:
            await self.conn.request(Command(id=msg_id, name=typed.name or "", args=typed.args,
                                            room=room, check=True), msg_id)
        except ProtocolError as exc:
            self.say(f"! {exc}")
            return False
        except ConnectionFailed as exc:
            self.say(f"! {exc}; nothing was sent")
            return False
        return True

    async def _ask(self, inputs: asyncio.Queue[str | None], question: str) -> str | None:
        """The next input line, asked as `question:` (shown as typed)."""
        if self.terminal is not None:
            self.terminal.ask(question)
            try:
                raw = await inputs.get()
            finally:
                if self.terminal is not None:
                    self.terminal.ask(None)
        else:
            self.emit(f"{question}:")
            raw = await inputs.get()
        return None if raw is None else raw.strip()

    async def _read_secret(self, inputs: asyncio.Queue[str | None], what: str) -> str | None:
        """The next input line, with echo off on a terminal (the reader thread owns stdin)."""
        if self.terminal is not None:
            self.terminal.ask_secret(what)
            raw = await inputs.get()
            return None if raw is None else raw.strip()
        self.emit(f"{what} (next line, not shown):")
        with _echo_off(self.stdin):
            raw = await inputs.get()
        return None if raw is None else raw.strip()

    def _send(self, typed: Typed, secret: str | None = None) -> int | None:
        try:
            return send_to_pane(self.conn, self.model, typed, secret)
        except Unsendable as exc:
            self.say(f"! {exc}")
        except ConnectionFailed as exc:
            if self.conn is not self._lost_said:  # once per connection, not once per line
                self._lost_said = self.conn
                self.say(f"! {exc}; what you type is not sent")
        return None

    async def _settled(self, msg_id: int) -> None:
        """Wait for the answer to a /join or /part before reading what was typed next.

        Lines go to the room joined last: in a pipe (`/join den` then `hello`) or a paste
        the next line is read at once, before the server has answered, and would go to
        the room before it. A lost connection or a silent server ends the wait.
        """
        answered = asyncio.Event()
        self._answer = (msg_id, answered)
        try:
            await asyncio.wait_for(answered.wait(), ROOM_CHANGE_WAIT)
        except TimeoutError:
            pass
        finally:
            self._answer = None
