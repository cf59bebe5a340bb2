"""What the full-screen clients do on a key or a server message, and what they draw: pure.

The curses client (gameclient/cursesui.py) and the SSH door share this, so every key and
command behaves the same on both. No asyncio, curses, sockets or connection here: keys
come in as gameclient.termkeys events, server messages as protocol dataclasses, and the
screen goes out on any canvas with `size`, `erase`, `write` and `repaint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast, runtime_checkable

from gameclient.commands import (
    LOCAL_COMMANDS,
    PASSWORD_QUESTIONS,
    QUIT_GRACE,
    Typed,
    Unsendable,
    answered,
    check_sendable,
    completion_words,
    parse_typed,
    password_problem,
    questions_for,
    secret_option,
    set_command,
)
from gameclient.completion import Completer, LookUp
from gameclient.layout import Layout, Rect, compute_layout
from gameclient.lineedit import LineEditor
from gameclient.model import ClientModel, Line
from gameclient.panes import not_there, rooms_lines
from gameclient.termkeys import EDIT_ACTIONS, Event, Key, Paste, Text
from gameclient.textwidth import clusters, pad
from gameclient.views import (
    MORE_BELOW,
    PROMPT,
    SECRET_PROMPT,
    ChatView,
    Row,
    board_size,
    draw_board,
    draw_input,
    draw_row,
    draw_status,
    draw_too_small,
    input_field_width,
)
from gameserver.protocol import Error, GameList, Message, Ok

NOT_SENT = "the connection to the server was lost; nothing was sent"
PANE_KEYS = {f"alt-{n}": str(n) for n in range(1, 10)}  # Alt-1..9: a pane of the room bar
HISTORY_ACTIONS = frozenset({"history_prev", "history_next"})  # never inside a secret prompt

Send = Callable[[Typed, "str | None"], bool]
Check = Callable[[Typed], "int | None"]  # sends a `check` of the command; its id, or None


class ScreenCanvas(Protocol):
    """A canvas the whole screen is drawn on (the curses Screen, the AnsiCanvas)."""

    def size(self) -> tuple[int, int]: ...

    def erase(self) -> None: ...

    def write(self, y: int, x: int, text: str, style: str = "", width: int | None = None,
              ) -> int: ...

    def repaint(self) -> None: ...


@runtime_checkable
class RetainedCanvas(ScreenCanvas, Protocol):
    """A canvas that keeps what was drawn between frames and can move rows (AnsiCanvas)."""

    resets: int  # changes when the canvas blanked itself (a new window size)

    def clear(self, top: int, left: int, height: int, width: int) -> None: ...

    def scroll(self, top: int, bottom: int, count: int,
               keep: tuple[int, int] | None = None) -> None: ...


def _shift(old: list[Row | None], new: list[Row | None]) -> int | None:
    """How many rows `old` moved up to become `new` (new rows at the bottom), or None."""
    height = len(new)
    for shift in range(0, height // 2 + 1):
        if new[:height - shift] == old[shift:]:
            return shift
    return None


class Controller:
    """One user's screen: the model, the line editor, prompts, scrolling and leaving.

    `send(typed, secret)` hands a typed line out, for the pane looked at (a host does
    that with gameclient.panes.send_to_pane or its own equivalent); it returns False when
    the line cannot go (the controller then says so) or raises Unsendable with a sentence.
    Lines that could never travel as one frame are refused here before `send` is asked.
    `quit(reason)` ends the session: called after /quit was sent and the server's Bye did
    not come within QUIT_GRACE seconds (the host calls `tick()`), at once when sending
    failed, or when the user asks a second time. `bell()` rings for a mention or a PM.
    `check(typed)`, if given, asks the server whether a command could be done (a `cmd`
    with check: true) and returns its id: a game option that is secret is asked for only
    once the server said ok, so nobody types a word for a game that cannot start.
    `look_up(prefix)`, if given, asks the server for accounts when Tab finds nothing;
    the host calls `learned()` once the names have come (gameclient/completion.py).
    """

    def __init__(self, model: ClientModel, send: Send, *,
                 bell: Callable[[], None] | None = None,
                 quit: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.time, server: str | None = None,
                 games: Sequence[Mapping[str, Any]] = (), check: Check | None = None,
                 look_up: LookUp | None = None) -> None:
        self.model = model
        self._send = send
        self._check = check
        self.completer = Completer(look_up)
        self.checking: tuple[int, Typed, str] | None = None  # (id, command, secret's name)
        self._bell = bell
        self._quit = quit
        self.clock = clock
        # The status bar's address: the model's (the node connected to now, which a
        # failover changes), else this label (the SSH door's own address).
        self.server = model.server if server is None else server
        self.games: list[Mapping[str, Any]] = list(games)  # the server's game list
        self.editor = LineEditor()
        self.secret: LineEditor | None = None  # set while asking for a hidden secret word
        self.secret_for: Typed | None = None
        self.secret_what = "secret"  # what the secret is, in the game's words ("secret word")
        self.asking: list[str] = []  # the hidden questions still to ask (/password)
        self.question_for: Typed | None = None  # /msg or /all alone: what the answers are for
        self.questions: list[str] = []  # the visible questions still to ask
        self.answers: list[str] = []
        self.chat = ChatView()
        self.offset = 0  # chat rows scrolled up from the bottom
        self.unseen = 0  # lines that arrived while scrolled up
        self.layout: Layout | None = None
        self._drawn_on: ScreenCanvas | None = None  # the canvas of the last draw
        self._drawn_size = (0, 0, 0)  # rows, columns and resets of the canvas drawn on
        self._retains = False  # that canvas keeps its cells and scrolls (RetainedCanvas)
        self._chat_rows: list[Row | None] | None = None  # what each chat row shows now
        self._board_drawn: tuple[Any, ...] | None = None  # what the board pane shows now
        self.leaving = False
        self.quit_by: float | None = None  # when to stop waiting for the server's Bye
        self.dirty = True  # something changed since the last draw
        self._repaint = False  # Ctrl-L: the next draw redraws every cell
        model.draws_boards = True  # replays step through the board pane, not the chat

    # ------------------------------------------------------------ in: server messages

    def take(self, message: Message) -> list[Line]:
        """One server message: the model learns it, the bell rings if it is for me."""
        if isinstance(message, GameList):
            self.games = list(message.games)
        checked = self.checking
        if checked is not None and isinstance(message, (Ok, Error)) \
                and message.id == checked[0]:
            self.checking = None
            if isinstance(message, Ok):  # it can start: now the secret is asked for
                self.secret, self.secret_for, self.secret_what = LineEditor(), *checked[1:]
        lines = self.model.apply(message)
        self.take_lines(lines)
        if self.model.bell and self._bell is not None \
                and any(line.wants_attention for line in lines):
            self._bell()
        self.dirty = True
        return lines

    def take_lines(self, lines: list[Line]) -> None:
        """Keep a scrolled-up chat where it is while new lines arrive below."""
        if lines:
            self.dirty = True
        if self.offset <= 0 or not lines or self.layout is None:
            return
        width = self.layout.chat.width
        here = [line for line in lines if line.where == self.model.current]
        self.offset += sum(len(self.chat.rows_for(line, width)) for line in here)
        self.unseen += len(here)

    def say(self, kind: str, text: str) -> None:
        """A line of the host's own (connection lost, reconnecting) in the pane looked at."""
        self.model.add(kind, text)
        self.dirty = True

    def tick(self) -> None:
        """Call about twice a second: clocks count down, a replay steps, a quit times out."""
        if self.model.ticking():
            self.dirty = True
        if self.quit_by is not None and self.clock() >= self.quit_by:
            self.quit_by = None
            self.leave(self.model.ended or "you left")

    # ------------------------------------------------------------ in: keys

    def key(self, event: Event) -> None:
        """One key (or typed run, or paste) from gameclient.termkeys.KeyDecoder."""
        if self.model.unread:
            self.model.unread = 0  # you are looking: the badge is read
            self.dirty = True
        if isinstance(event, Text):
            (self.secret or self.editor).insert(event.text)
            self.dirty = True
        elif isinstance(event, Paste):
            self.paste(event.text)
            self.dirty = True
        elif isinstance(event, Key):
            self.press(event.name)

    def paste(self, text: str) -> None:
        """A paste is typed: each line break is Enter, as in a terminal without paste marks.

        So a pasted block of lines is said line by line (the server's flood limit lets
        a block of 20 pass at once), and what follows the last break stays to be edited.
        """
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for n, line in enumerate(lines):
            if n:
                self.enter()
            if line:
                (self.secret or self.editor).insert(line.replace("\t", " "))

    def press(self, name: str) -> None:
        """A named key: "enter", "ctrl-c", "alt-1", "page_up", "left" ..."""
        editor = self.secret or self.editor
        was_dirty, self.dirty = self.dirty, True
        if name == "enter":
            self.enter()
        elif name == "ctrl-c" or (name == "ctrl-d" and not editor.text):
            self.request_quit()
        elif name == "ctrl-d":
            editor.delete()
        elif name == "escape":
            if self.secret is not None:
                self.cancel_secret()
            elif self.question_for is not None:
                self.question_for, self.questions, self.answers = None, [], []
        elif name in PANE_KEYS:
            self.switch(PANE_KEYS[name])
        elif name in ("ctrl-n", "ctrl-p"):
            self.model.cycle(+1 if name == "ctrl-n" else -1)
            self.offset = self.unseen = 0
        elif name == "tab":
            if self.secret is None:
                self.completer.tab(self.editor, completion_words(self.model, self.games))
        elif name == "ctrl-l":
            self._repaint = True
        elif name in ("page_up", "page_down"):
            self.scroll(+1 if name == "page_up" else -1)
        elif name in EDIT_ACTIONS:
            action = EDIT_ACTIONS[name]
            if self.secret is None or action not in HISTORY_ACTIONS:
                getattr(editor, action)()
        else:  # a key that does nothing here (F5, alt-x) changes nothing
            self.dirty = was_dirty

    def learned(self) -> None:
        """Names the server was asked for have come (the model has them): Tab again."""
        if self.completer.learned(self.editor, completion_words(self.model, self.games)):
            self.dirty = True

    def scroll(self, pages: int) -> None:
        height = self.layout.chat.height if self.layout else 1
        self.offset = max(0, self.offset + pages * max(1, height - 2))
        if self.offset == 0:
            self.unseen = 0
        self.dirty = True

    # ------------------------------------------------------------ Enter

    def enter(self) -> None:
        self.dirty = True
        if self.question_for is not None and self.secret is None:
            self._answer_question()
        elif self.secret is not None and self.asking:
            self._answer_hidden_question()
        elif self.secret is not None:
            word = self.secret.text.strip()
            typed = self.secret_for
            self.cancel_secret()
            if not word or typed is None:
                self.model.add("error", f"! no {self.secret_what} given; the game was not"
                                        " started")
            else:
                self.send(typed, word)
        else:
            self._enter_line()

    def _answer_question(self) -> None:
        self.answers.append(self.editor.submit())
        self.questions.pop(0)
        if self.questions:
            return
        typed, answers = self.question_for, self.answers
        self.question_for, self.answers = None, []
        full = answered(typed, answers) if typed is not None else None
        if full is None:
            self.model.add("error", "! nothing was sent")
        else:
            self.send(full)

    def _answer_hidden_question(self) -> None:
        assert self.secret is not None
        self.answers.append(self.secret.text.strip())
        self.asking.pop(0)
        if self.asking:
            self.secret, self.secret_what = LineEditor(), self.asking[0]
            return
        typed, answers = self.secret_for, self.answers
        self.cancel_secret()
        problem = password_problem(*answers)
        if problem or typed is None:
            self.model.add("error", f"! {problem}")
        else:
            self.send(typed, f"{answers[0]}\n{answers[1]}")

    def _enter_line(self) -> None:
        typed = parse_typed(self.editor.text)
        if typed is not None:
            try:
                check_sendable(typed)
            except Unsendable as exc:  # keep the line where it was typed, to shorten it
                self.model.add("error", f"! {exc}")
                self.offset = self.unseen = 0
                return
        typed = parse_typed(self.editor.submit())
        if typed is None:
            return
        self.offset = self.unseen = 0
        if typed.name == "switch":
            self.switch(typed.args)
            return
        if typed.name == "rooms":
            for text in rooms_lines(self.model):
                self.model.add("reply", text)
            return
        option = secret_option(typed, self.games)
        questions = questions_for(typed)
        if typed.name in LOCAL_COMMANDS:
            self.model.add("reply", set_command(self.model, typed.args))
        elif questions is not None:  # /msg or /all alone: ask, shown as typed
            if typed.name == "msg":
                self.send(Typed("/users", "users"))
            self.question_for, self.questions, self.answers = typed, questions, []
        elif typed.name == "password":  # old once, new twice, all hidden
            self.asking, self.answers = list(PASSWORD_QUESTIONS), []
            self.secret, self.secret_for, self.secret_what = LineEditor(), typed, self.asking[0]
        elif option is not None:
            what = str(option.get("prompt") or option.get("name") or "secret")
            if self._check is None:  # a host that cannot check: ask at once
                self.secret, self.secret_for, self.secret_what = LineEditor(), typed, what
                return
            msg_id = self._check(typed)  # the reply (take) asks for the secret, or says why not
            if msg_id is None:
                self.model.add("error", f"! {NOT_SENT}")
            else:
                self.checking = (msg_id, typed, what)
        elif typed.is_quit:
            self.request_quit(typed)
        else:
            self.send(typed)

    def cancel_secret(self) -> None:
        self.secret = self.secret_for = None
        self.asking, self.answers = [], []
        self.dirty = True

    def switch(self, name: str) -> None:
        if not name.strip():
            self.model.add("error", "! usage: /switch ROOM (or @USER, or its number in the bar)")
        elif not self.model.switch(name):
            self.model.add("error", not_there(name))
        self.offset = self.unseen = 0
        self.dirty = True

    # ------------------------------------------------------------ out: sending and leaving

    def send(self, typed: Typed, secret: str | None = None) -> bool:
        """Hand a typed line out; False (and a sentence in the chat) when it cannot go."""
        try:
            check_sendable(typed, secret)
            sent = self._send(typed, secret)
        except Unsendable as exc:
            self.model.add("error", f"! {exc}")
            return False
        if not sent:
            self.model.add("error", f"! {NOT_SENT}")
        return sent

    def request_quit(self, typed: Typed | None = None) -> None:
        """Say goodbye and wait a moment for the server's Bye; asked twice, just go."""
        if self.leaving:
            self.leave(self.model.ended or "you left")
            return
        self.leaving = True
        if not self.send(typed or Typed("/quit", "quit")):
            self.leave("you left")
            return
        self.quit_by = self.clock() + QUIT_GRACE

    def leave(self, reason: str) -> None:
        self.quit_by = None
        if self._quit is not None:
            self._quit(reason)

    # ------------------------------------------------------------ out: the screen

    def draw(self, canvas: ScreenCanvas) -> tuple[int, int] | None:
        """Draw the screen on `canvas`; the cursor's (row, column), None to hide it.

        On a canvas that keeps its cells and can scroll (the AnsiCanvas) only what may
        have changed is drawn again: the bars, the board, and the chat rows that are new
        (the rows already there are scrolled up); any other canvas is drawn afresh.
        """
        self.dirty = False
        if self._repaint:
            self._repaint = False
            canvas.repaint()
        rows, cols = canvas.size()
        games = self.model.shown_games()
        layout = compute_layout(rows, cols, board_size(games, self.model))
        if canvas is not self._drawn_on:
            self._retains = isinstance(canvas, RetainedCanvas)
        size = (rows, cols, getattr(canvas, "resets", 0))
        retained = (self._retains and canvas is self._drawn_on and layout == self.layout
                    and not layout.too_small and size == self._drawn_size)
        self.layout, self._drawn_on, self._drawn_size = layout, canvas, size
        if not retained:
            canvas.erase()
            self._chat_rows = self._board_drawn = None
        if layout.too_small:
            draw_too_small(canvas, rows, cols)
            return None
        clear = cast(RetainedCanvas, canvas).clear if retained else None
        if clear is not None:
            clear(layout.status.top, 0, layout.status.height, cols)
        draw_status(canvas, layout.status, self.model, self.model.address or self.server)
        self._draw_chat(canvas, layout.chat, retained)
        if layout.board is not None:
            board = layout.board
            model = self.model
            key = (board, layout.board_side, model.user, model.nick, tuple(games),
                   tuple(tuple(model.clock_lines(game)) for game in games))
            if clear is None or key != self._board_drawn:  # else it is on the canvas still
                if clear is not None:
                    clear(board.top, board.left, board.height, board.width)
                draw_board(canvas, board, layout.board_side, games, model)
            self._board_drawn = key
        prompt = self.prompt()
        visible, column = self.input_view(input_field_width(layout.input, prompt))
        if clear is not None:
            clear(layout.input.top, 0, layout.input.height, cols)
        x = draw_input(canvas, layout.input, prompt, visible, column)
        return layout.input.top, x

    def invalidate(self) -> None:
        """The next draw draws every pane afresh (the canvas was written by someone else)."""
        self._drawn_on = None
        self.dirty = True

    def _draw_chat(self, canvas: ScreenCanvas, rect: Rect, retained: bool) -> None:
        """The chat pane, as views.draw_chat draws it; rows already shown scroll up."""
        if rect.empty:
            return
        height = rect.height
        if self.offset > 0 and height > 1:
            height -= 1  # the last row is the "more below" marker
        transcript = self.model.transcript
        rows, self.offset = self.chat.visible(transcript, rect.width, height, self.offset)
        if self.offset == 0 and height < rect.height:  # scrolled to the top of a short chat
            height = rect.height
            rows, self.offset = self.chat.visible(transcript, rect.width, height, 0)
        gap: list[Row | None] = [None] * (height - len(rows))
        drawn = cast("list[Row | None]", rows)  # the same list: no copy per draw
        shown = gap + drawn if self.offset == 0 else drawn + gap  # what each row shows
        old, self._chat_rows = self._chat_rows, shown
        fresh = range(height)  # the rows to draw
        if retained:
            canvas = cast(RetainedCanvas, canvas)  # draw() checked it once
            shift = _shift(old, shown) if old is not None and len(old) == height else None
            if shift is not None:
                if shift:
                    board = self.layout.board if self.layout is not None else None
                    beside = (board.left, board.right) if board is not None \
                        and board.left >= rect.right else None
                    canvas.scroll(rect.top, rect.top + height, shift, beside)
                fresh = range(height - shift, height)
                if height < rect.height:
                    canvas.clear(rect.bottom - 1, rect.left, 1, rect.width)
            else:
                canvas.clear(rect.top, rect.left, rect.height, rect.width)
            canvas.clear(rect.top + fresh.start, rect.left, len(fresh), rect.width)
        for y in fresh:
            row = shown[y]
            if row is not None:
                draw_row(canvas, rect.top + y, rect.left, row, rect.width)
        if self.offset > 0:
            marker = MORE_BELOW if not self.unseen else \
                f"-- more below ({self.unseen} new): PgDn --"
            canvas.write(rect.bottom - 1, rect.left, pad(marker, rect.width), "more", rect.width)
        else:
            self.unseen = 0

    def prompt(self) -> str:
        if self.secret is not None:
            return SECRET_PROMPT.format(what=self.secret_what)
        if self.question_for is not None and self.questions:
            return f"{self.questions[0]} (Esc cancels): "
        return PROMPT

    def input_view(self, width: int) -> tuple[str, int]:
        """What the input field shows; a secret word shows one star per character."""
        if self.secret is None:
            return self.editor.view(width)
        masked = LineEditor()
        masked.text = "*" * len(clusters(self.secret.text))
        masked.cursor = len(clusters(self.secret.text[: self.secret.cursor]))
        return masked.view(width)
