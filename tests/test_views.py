"""Pure tests of what the curses client draws and how it reacts to keys, without a terminal."""

from __future__ import annotations

import asyncio
import curses
import zlib
from typing import Any

import pytest

from gameclient.connection import ClientConnection
from gameclient.cursesui import CursesClient, drop_escape_sequences
from gameclient.layout import Rect
from gameclient.model import ClientModel, Line, clock
from gameclient.textwidth import cell_width, clusters
from gameclient.views import (
    MORE_BELOW,
    ChatView,
    board_rows,
    board_size,
    draw_board,
    draw_chat,
    draw_status,
    draw_too_small,
    line_segments,
    my_game_status,
    nick_key,
    nick_style,
    wrap_segments,
)
from gameserver.protocol import GameState, Ok, RoomMessage, RoomState

TS = 1_700_000_000.0


class Grid:
    """A canvas that remembers each cell's character and style, clipping like the screen."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols
        self.cells = [[(" ", "")] * cols for _ in range(rows)]

    def write(self, y: int, x: int, text: str, style: str = "", width: int | None = None) -> int:
        if not (0 <= y < self.rows and 0 <= x < self.cols):
            return 0
        room = self.cols - x if width is None else min(width, self.cols - x)
        used = 0
        for cluster in clusters(text):
            w = cell_width(cluster)
            if used + w > room:
                break
            self.cells[y][x + used] = (cluster, style)
            for extra in range(1, w):
                self.cells[y][x + used + extra] = ("", style)
            used += w
        return used

    def line(self, y: int) -> str:
        return "".join(ch for ch, _ in self.cells[y])

    def style_at(self, y: int, x: int) -> str:
        return self.cells[y][x][1]

    def find(self, text: str) -> tuple[int, int]:
        for y in range(self.rows):
            x = self.line(y).find(text)
            if x >= 0:
                return y, x
        raise AssertionError(f"{text!r} not on the grid:\n" + "\n".join(
            self.line(y) for y in range(self.rows)))

    # what CursesClient needs from a screen besides write()
    def size(self) -> tuple[int, int]:
        return self.rows, self.cols

    def erase(self) -> None:
        self.cells = [[(" ", "")] * self.cols for _ in range(self.rows)]

    def show(self, cursor: tuple[int, int] | None) -> None:
        self.cursor = cursor

    def repaint(self) -> None:
        pass

    def resize(self) -> None:
        pass


def chat(nick: str, text: str, kind: str = "chat") -> Line:
    return Line(kind, f"<{nick}> {text}", TS, nick, text)


def game(turn: str | None = "alice", over: bool = False, game_id: int = 1) -> GameState:
    return GameState(game_id=game_id, game="tictactoe", room="lobby", players=["alice", "bob"],
                     turn=turn, board=["    a   b   c", " 1  X | . | ."], status=f"{turn} to move",
                     over=over)


def model_with(*lines: Line, games: list[GameState] = ()) -> ClientModel:
    model = ClientModel(user="alice", nick="alice", room="lobby", online=2)
    model.transcript.extend(lines)
    for g in games:
        model.games[g.game_id] = g
    return model


# ---------------------------------------------------------------- colours and line styles


def test_nick_colour_is_stable_and_ignores_case() -> None:
    assert nick_key("Bob") == nick_key("bob") == zlib.crc32(b"bob")
    assert nick_style("bob") == f"nick:{zlib.crc32(b'bob')}"
    assert len({nick_key(n) % 5 for n in ("alice", "bob", "carol", "dave", "erin")}) > 1


def test_chat_line_styles_nick_and_body() -> None:
    segs, indent = line_segments(chat("bob", "hi there"))
    assert [s for _, s in segs] == ["time", "time", nick_style("bob"), "time", "chat"]
    assert "".join(t for t, _ in segs).endswith("<bob> hi there")
    assert indent == cell_width("12:34 <bob> ")


def test_own_pm_notice_error_are_set_apart() -> None:
    own, _ = line_segments(chat("alice", "mine", kind="own"))
    assert ("alice", "own_nick") in own and ("mine", "own") in own
    for kind in ("pm", "bm", "notice", "error"):
        segs, _ = line_segments(Line(kind, "some text", TS))
        assert segs[0][1] == "time" and segs[-1] == ("some text", kind)
    reply, indent = line_segments(Line("reply", "  /help  this", TS))
    # A reply has its time too; it wraps under its text, 2 further in.
    assert reply == [(clock(TS) + " ", "time"), ("  /help  this", "reply")] and indent == 10
    dated, indent = line_segments(Line("history", "[2026-12-01 14:02:03] [ROOM] x", TS))
    assert dated == [("[2026-12-01 14:02:03] [ROOM] x", "history")] and indent == 2
    back, _ = line_segments(Line("scrollback", "<bob> earlier", TS))
    assert back == [(clock(TS) + " ", "time"), ("<bob> earlier", "history")]


def test_hostile_text_cannot_move_the_cursor() -> None:
    segs, _ = line_segments(chat("m\x1b[2Jallory", "\x1b]0;pwned\x07 \u202eabc\r\n"))
    text = "".join(t for t, _ in segs)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\r" not in text and "\n" not in text


# ---------------------------------------------------------------- wrapping the chat


def test_wrap_keeps_each_characters_style_and_width() -> None:
    segs = [("12:00 ", "time"), ("<bob> ", "nick:1"), ("é 中文 😀 " * 6, "chat")]
    rows = wrap_segments(segs, 20, indent=6)
    assert len(rows) > 2
    for row in rows:
        assert cell_width("".join(t for t, _ in row)) <= 20
    assert rows[0][0] == ("12:00 ", "time")
    assert rows[1][0] == (" " * 6, "")  # continuation lines are indented, unstyled
    assert {s for row in rows[1:] for t, s in row if t.strip()} == {"chat"}
    body = "".join(t for row in rows for t, s in row if s == "chat")
    assert body.replace(" ", "") == ("é中文😀" * 6)


def test_wrap_splits_a_word_longer_than_the_line() -> None:
    rows = wrap_segments([("x" * 25, "error")], 10)
    assert ["".join(t for t, _ in r) for r in rows] == ["x" * 10, "x" * 10, "x" * 5]
    assert all(s == "error" for r in rows for _, s in r)


def test_visible_shows_the_bottom_and_clamps_scrolling() -> None:
    lines = [Line("notice", f"line {n}", TS) for n in range(100)]
    view = ChatView()
    rows, offset = view.visible(lines, 40, 5, 0)
    assert offset == 0 and "line 99" in "".join(t for t, _ in rows[-1])
    rows, offset = view.visible(lines, 40, 5, 10)
    assert "line 89" in "".join(t for t, _ in rows[-1])
    rows, offset = view.visible(lines, 40, 5, 10_000)
    assert offset == 95 and "line 0" in "".join(t for t, _ in rows[0])


def test_visible_wraps_only_what_it_shows() -> None:
    lines = [Line("notice", f"line {n}", TS) for n in range(5000)]
    view = ChatView()
    view.visible(lines, 40, 20, 0)
    assert len(view._cache) <= 21


def test_draw_chat_marks_more_below_when_scrolled() -> None:
    lines = [Line("notice", f"line {n}", TS) for n in range(50)]
    grid = Grid(12, 40)
    offset = draw_chat(grid, Rect(1, 0, 10, 40), ChatView(), lines, 0)
    assert offset == 0 and "line 49" in grid.line(10) and MORE_BELOW not in grid.line(10)
    grid.erase()
    offset = draw_chat(grid, Rect(1, 0, 10, 40), ChatView(), lines, 5, unseen=3)
    assert offset == 5 and "more below (3 new)" in grid.line(10)
    assert grid.style_at(10, 0) == "more" and "line 44" in grid.line(9)


def test_short_transcript_sits_at_the_bottom_of_the_pane() -> None:
    grid = Grid(10, 40)
    draw_chat(grid, Rect(1, 0, 8, 40), ChatView(), [chat("bob", "hello")], 0)
    assert "<bob> hello" in grid.line(8) and not grid.line(1).strip()


# ---------------------------------------------------------------- status bar and boards


def test_status_bar_shows_server_room_nick_online_and_turn() -> None:
    model = model_with(games=[game(turn="alice")])
    grid = Grid(3, 100)
    draw_status(grid, Rect(0, 0, 1, 100), model, "127.0.0.1:5220")
    line = grid.line(0)
    for part in ("127.0.0.1:5220", "#lobby", "alice", "2 online", "your move (tictactoe #1)"):
        assert part in line
    assert grid.style_at(0, 0) == "status" and grid.style_at(0, 99) == "status"
    assert grid.style_at(0, line.index("your move")) == "status_turn"
    model.games[1] = game(turn="bob")
    assert my_game_status(model) == ("bob's move (tictactoe #1)", False)
    model.games[1] = game(turn=None, over=True)
    assert my_game_status(model) is None


def test_the_status_bar_says_when_a_game_in_another_room_waits_for_my_move() -> None:
    model = model_with()
    model.apply(RoomState(room="games", nick="alice", online=2,
                          members=[{"nick": "alice", "user": "alice"}]))
    model.games[1] = GameState(game_id=1, game="tictactoe", room="games",
                               players=["alice", "bob"], turn="bob", board=[], status="")
    assert my_game_status(model) == ("bob's move (tictactoe #1)", False)  # looking at it
    assert model.switch("lobby")
    assert my_game_status(model) is None  # bob's move there: nothing to do here
    model.games[1] = GameState(game_id=1, game="tictactoe", room="games",
                               players=["alice", "bob"], turn="alice", board=[], status="")
    assert my_game_status(model) == ("your move in #games (tictactoe #1)", True)
    model.games[2] = GameState(game_id=2, game="tictactoe", room="attic",  # not my room
                               players=["alice", "carol"], turn="alice", board=[], status="")
    del model.games[1]
    assert my_game_status(model) is None


def test_status_bar_drops_the_server_before_the_turn() -> None:
    grid = Grid(1, 60)
    draw_status(grid, Rect(0, 0, 1, 60), model_with(games=[game(turn="bob")]),
                "127.0.0.1:42785")
    assert grid.line(0).startswith(" play │ #lobby │ alice │ 2 online │ bob's move")


def test_status_bar_is_cut_to_a_narrow_screen() -> None:
    grid = Grid(1, 30)
    draw_status(grid, Rect(0, 0, 1, 30), model_with(games=[game()]), "a.very.long.host.name:5220")
    assert cell_width(grid.line(0)) == 30


def test_no_game_no_board() -> None:
    assert board_size([], model_with()) is None


def test_board_shows_players_board_status_and_highlights_my_turn() -> None:
    model = model_with(games=[game(turn="alice")])
    size = board_size(model.room_games(), model)
    assert size is not None and size[1] >= 13
    grid = Grid(20, 40)
    draw_board(grid, Rect(1, 20, 18, size[1] + 2), "right", model.room_games(), model)
    assert grid.line(1)[20] == "│" and grid.style_at(1, 20) == "separator"
    y, x = grid.find("#1 tictactoe")
    assert grid.style_at(y, x) == "board_header"
    grid.find("alice vs bob")
    grid.find(" 1  X | . | .")
    y, x = grid.find("your move")
    assert grid.style_at(y, x) == "board_turn"

    model.games[1] = game(turn="bob")
    grid = Grid(20, 40)
    draw_board(grid, Rect(1, 0, 8, 40), "top", model.room_games(), model)
    y, x = grid.find("bob to move")
    assert grid.style_at(y, x) == "board_status"
    assert set(grid.line(8)) == {"─"}


def test_games_in_other_rooms_are_not_drawn() -> None:
    elsewhere = GameState(game_id=2, game="hangman", room="den", players=["x"], turn="x",
                          board=["_ _ _"], status="x to guess")
    model = model_with(games=[elsewhere])
    assert board_size(model.room_games(), model) is None


def test_a_board_too_tall_for_its_rows_is_a_note_never_half_a_board() -> None:
    tall = GameState(game_id=1, game="tictactoe", room="lobby", players=["alice", "bob"],
                     turn="bob", board=[f"row {n}" for n in range(8)] + [""],
                     status="bob to move")
    model = model_with(games=[tall])
    rows = board_rows(model.room_games(), model, 40, 6)
    texts = ["".join(t for t, _ in row) for row in rows]
    assert texts == ["#1 tictactoe: alice vs bob", "(enlarge the terminal to see the board)",
                     "bob to move"]
    assert len(board_rows(model.room_games(), model, 40)) == 11
    fits = ["".join(t for t, _ in row) for row in board_rows(model.room_games(), model, 40, 10)]
    assert fits == ["#1 tictactoe: alice vs bob", *[f"row {n}" for n in range(8)],
                    "bob to move"]  # the blank line goes first


def test_too_small() -> None:
    grid = Grid(5, 30)
    draw_too_small(grid, 5, 30)
    assert "terminal too small" in "\n".join(grid.line(y) for y in range(5))


# ---------------------------------------------------------------- keys and the controller


class FakeConn:
    send_typed = ClientConnection.send_typed
    e2e = None  # a session without device keys

    def __init__(self) -> None:
        from games.registry import find_games
        from gameserver.core.gamehost import describe_kind

        self.said: list[str] = []
        self.commands: list[tuple[str, str, str | None]] = []
        self.rooms: list[str | None] = []  # the room each line was sent for
        self.games = [describe_kind(kind) for kind in find_games().values()]  # as sent
        self.sent: list[Any] = []  # messages sent as they are (a command's check)
        self._id = 100

    def new_id(self) -> int:
        self._id += 1
        return self._id

    def send(self, message: Any) -> None:
        self.sent.append(message)

    def say(self, text: str, room: str | None = None) -> int:
        self.said.append(text)
        self.rooms.append(room)
        return 1

    def command(self, name: str, args: str = "", secret: str | None = None,
                room: str | None = None) -> int:
        self.commands.append((name, args, secret))
        self.rooms.append(room)
        return 1


def client(rows: int = 24, cols: int = 80, model: ClientModel | None = None,
           ) -> tuple[CursesClient, FakeConn, Grid]:
    conn, grid = FakeConn(), Grid(rows, cols)
    ui = CursesClient(conn, model or model_with(), "host:1", screen=grid)  # type: ignore[arg-type]
    ui.redraw()
    return ui, conn, grid


def type_keys(ui: CursesClient, text: str) -> None:
    for ch in text:
        ui.handle_key(ch)


def test_typing_editing_and_sending() -> None:
    ui, conn, grid = client()
    type_keys(ui, "helo wörld 中")
    for key in (curses.KEY_LEFT,) * 9:
        ui.handle_key(key)
    ui.handle_key("l")
    ui.handle_key(curses.KEY_END)
    ui.handle_key("\x7f")
    ui.redraw()
    assert "> hello wörld " in grid.line(23) and grid.cursor == (23, 2 + cell_width("hello wörld "))
    ui.handle_key("\n")
    assert conn.said == ["hello wörld "]
    ui.handle_key(curses.KEY_UP)
    assert ui.controller.editor.text == "hello wörld "
    ui.handle_key("\x17")  # Ctrl-W
    assert ui.controller.editor.text == "hello "
    ui.handle_key("\x15")  # Ctrl-U
    assert ui.controller.editor.text == ""


def test_slash_commands_and_double_slash() -> None:
    ui, conn, _ = client()
    type_keys(ui, "/msg bob hi\n//shrug\n")
    assert conn.commands == [("msg", "bob hi", None)] and conn.said == ["/shrug"]


def test_tab_completes_commands_and_nicks() -> None:
    model = model_with()
    model.members = {"alice": "alice", "bobby": "bob"}
    ui, _, _ = client(model=model)
    type_keys(ui, "/acc\t")
    assert ui.controller.editor.text == "/accept "
    ui.handle_key("\x15")
    type_keys(ui, "bo\t")
    assert ui.controller.editor.text == "bobby: "


def test_secret_word_is_masked_and_sent_with_the_command() -> None:
    ui, conn, grid = client()
    type_keys(ui, "/game hangman --secret\n")
    [check] = conn.sent  # first the server is asked whether the game could start
    assert check.check and (check.name, check.args) == ("game", "hangman --secret")
    assert conn.commands == [] and ui.controller.secret is None
    ui.controller.take(Ok(id=check.id, text="hangman can start", data={"check": "ok"}))
    assert ui.controller.secret is not None
    type_keys(ui, "apple")
    ui.redraw()
    assert "*****" in grid.line(23) and "apple" not in grid.line(23)
    assert "secret" in grid.line(23)
    ui.handle_key("\n")
    assert conn.commands == [("game", "hangman --secret", "apple")]
    assert "apple" not in ui.controller.editor.history and ui.controller.secret is None


def test_escape_cancels_the_secret_prompt() -> None:
    ui, conn, _ = client()
    type_keys(ui, "/game hangman --secret\n")
    ui.controller.take(Ok(id=conn.sent[0].id, data={"check": "ok"}))
    type_keys(ui, "ab")
    assert ui.controller.secret is not None and ui.controller.secret.text == "ab"
    ui.handle_key("\x1b")
    assert ui.controller.secret is None and conn.commands == []


def test_a_message_arriving_while_typing_leaves_the_input_alone() -> None:
    ui, _, grid = client()
    type_keys(ui, "half a sent")
    ui.handle_key(curses.KEY_LEFT)
    ui.model.apply(RoomMessage(room="lobby", nick="bob", user="bob", text="interrupt!", ts=TS))
    ui.redraw()
    assert ui.controller.editor.text == "half a sent" and ui.controller.editor.cursor == 10
    assert "<bob> interrupt!" in grid.line(22) and grid.line(23).startswith("> half a sent")
    assert grid.cursor == (23, 12)


def test_scrolled_up_chat_stays_put_when_lines_arrive() -> None:
    model = model_with(*[Line("notice", f"line {n}", TS) for n in range(100)])
    ui, _, grid = client(model=model)
    ui.handle_key(curses.KEY_PPAGE)
    ui.redraw()
    top = grid.line(1)
    ui.controller.take(RoomMessage(room="lobby", nick="bob", user="bob", text="new", ts=TS))
    ui.redraw()
    assert grid.line(1) == top and "1 new" in grid.line(22)
    ui.handle_key(curses.KEY_NPAGE)  # a page down leaves the one new row below
    ui.handle_key(curses.KEY_NPAGE)
    ui.redraw()
    assert "<bob> new" in grid.line(22) and ui.controller.unseen == 0


def test_board_appears_beside_or_above_and_too_small() -> None:
    model = model_with(games=[game()])
    ui, _, grid = client(24, 80, model)
    assert ui.controller.layout is not None and ui.controller.layout.board_side == "right"
    ui, _, grid = client(24, 60, model)
    assert ui.controller.layout is not None and ui.controller.layout.board_side == "top"
    grid.find("#1 tictactoe")
    ui, _, grid = client(6, 30, model)
    grid.find("terminal too small")
    assert grid.cursor is None


def test_room_state_updates_the_status_bar() -> None:
    ui, _, grid = client()
    ui.model.apply(RoomState(room="den", nick="al", online=7, members=[{"nick": "al",
                                                                         "user": "alice"}]))
    ui.redraw()
    assert "#den" in grid.line(0) and "7 online" in grid.line(0)


def test_quit_sends_quit_and_ctrl_c_twice_leaves_at_once() -> None:
    async def body() -> None:
        ui, conn, _ = client()
        ui.result = asyncio.get_running_loop().create_future()
        ui.handle_key("\x03")
        assert conn.commands == [("quit", "", None)] and not ui.result.done()
        ui.handle_key("\x03")
        assert ui.result.result() == (0, "you left")

    asyncio.run(asyncio.wait_for(body(), 5))


@pytest.mark.parametrize(("keys", "expected"), [
    (["a", "\x1b", "b", "c"], ["a", "c"]),  # Alt+b
    (["\x1b", "[", "1", ";", "5", "C", "x"], ["x"]),  # an unknown CSI sequence
    (["\x1b"], ["\x1b"]),  # a lone Esc
    (["\x1b", curses.KEY_LEFT], ["\x1b", curses.KEY_LEFT]),
])
def test_undecoded_escape_sequences_are_dropped(keys: list, expected: list) -> None:
    assert drop_escape_sequences(keys) == expected


def test_my_waiting_game_gets_the_rows_before_games_i_only_watch() -> None:
    board = [f"row {n}" for n in range(5)]
    watched = GameState(game_id=1, game="tictactoe", room="lobby", players=["bob", "carol"],
                        turn="bob", board=board, status="bob to move")
    mine = GameState(game_id=2, game="tictactoe", room="lobby", players=["alice", "(bot)"],
                     turn="alice", board=board, status="alice to move")
    model = model_with(games=[watched, mine])
    texts = ["".join(t for t, _ in row) for row in board_rows(model.room_games(), model, 40, 12)]
    assert texts[:7] == ["#2 tictactoe: alice vs (bot)", *board, "your move: alice to move"]
    assert texts[7:] == ["", "#1 tictactoe: bob vs carol",
                         "(enlarge the terminal to see the board)", "bob to move"]


def test_wrapped_replies_keep_their_indent() -> None:
    line = Line("reply", "  /accept [ID]          take the seat you are offered", 0.0)
    segs, indent = line_segments(line)
    rows = wrap_segments(segs, 30, indent)
    texts = ["".join(t for t, _ in row) for row in rows]
    assert texts[0].startswith(f"{clock(0.0)}   /accept") and len(texts) > 1
    assert all(text.startswith(" " * 10) for text in texts[1:])
