"""Redrawing only what changed must give the very screen a fresh draw gives, in any order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_ansiscreen import Far, assert_same

from gameclient.ansiscreen import AnsiCanvas
from gameclient.controller import Controller
from gameclient.model import ClientModel
from gameclient.termkeys import Key, Text
from gameserver.protocol import GameClosed, GameState, Notice, RoomMessage, RoomState

TS = 1_700_000_000.0
WORDS = ["hi", "alice", "a much longer line that will surely wrap on a narrow chat pane " * 2,
         "中文 wide", "🎉", "e\u0301", "/me waves", "ok"]


def fresh_frame(controller: Controller, rows: int, cols: int) -> AnsiCanvas:
    """What a draw from nothing shows now, leaving the controller's drawing state as it was."""
    saved = dict(vars(controller))
    canvas = AnsiCanvas(rows, cols)
    controller.draw(canvas)
    vars(controller).update(saved)
    return canvas


def cells(canvas: AnsiCanvas) -> list[list[tuple[str, str]]]:
    rows, cols = canvas.size()
    return [[(canvas._cells[y][x][0], canvas.style_at(y, x)) for x in range(cols)]
            for y in range(rows)]


def board(game_id: int, over: bool = False, turn: str = "alice") -> GameState:
    return GameState(game_id=game_id, game="tictactoe", room="lobby", players=["alice", "bob"],
                     turn=turn, board=["    a   b   c", " 1  X | . | .", " 2  . | O | ."],
                     status=f"{turn} to move", over=over)


ACTION = st.one_of(
    st.tuples(st.just("say"), st.sampled_from(["lobby", "lobby", "den"]),
              st.sampled_from(WORDS)),
    st.tuples(st.just("notice"), st.sampled_from(WORDS)),
    st.tuples(st.just("key"), st.sampled_from(["page_up", "page_down", "ctrl-n", "ctrl-p",
                                                "alt-1", "alt-2", "left", "backspace",
                                                "home", "end", "ctrl-l", "escape"])),
    st.tuples(st.just("type"), st.sampled_from(["x", "中", "hello there ", "🎉"])),
    st.tuples(st.just("enter")),
    st.tuples(st.just("resize"), st.integers(6, 40), st.integers(20, 120)),
    st.tuples(st.just("game"), st.integers(1, 2), st.booleans()),
    st.tuples(st.just("closed"), st.integers(1, 2)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ACTION, min_size=1, max_size=20), st.integers(0, 40))
def test_any_events_keys_and_resizes_redraw_to_the_fresh_screen(actions: list,
                                                                 history: int) -> None:
    model = ClientModel(user="alice", nick="alice", room="lobby", online=3)
    controller = Controller(model, lambda typed, secret: True, server="127.0.0.1:5220")
    controller.take(RoomState(room="den", nick="alice", online=2,
                              members=[{"nick": "alice", "user": "alice"}]))
    controller.take(RoomMessage(room="lobby", nick="bob", user="bob", text="first", ts=TS))
    model.switch("lobby")
    for n in range(history):
        controller.take(RoomMessage(room="lobby", nick="bob", user="bob",
                                    text=WORDS[n % len(WORDS)], ts=TS + n))
    rows, cols = 24, 80
    canvas, far = AnsiCanvas(rows, cols), Far(rows, cols)
    for action in actions:
        kind = action[0]
        if kind == "say":
            controller.take(RoomMessage(room=action[1], nick="bob", user="bob",
                                        text=action[2], ts=TS))
        elif kind == "notice":
            controller.take(Notice(text=action[1], room="lobby"))
        elif kind == "key":
            controller.key(Key(action[1]))
        elif kind == "type":
            controller.key(Text(action[1]))
        elif kind == "enter":
            controller.key(Key("enter"))
        elif kind == "resize":
            rows, cols = action[1], action[2]
            canvas.resize(rows, cols)
            far.screen.resize(rows, cols)
        elif kind == "game":
            controller.take(board(action[1], over=action[2]))
        elif kind == "closed":
            controller.take(GameClosed(game_id=action[1], room="lobby"))
        cursor = controller.draw(canvas)
        far.feed(canvas.render(cursor))
        fresh = fresh_frame(controller, rows, cols)
        for y in range(rows):
            assert canvas.text(y) == fresh.text(y), (action, y, canvas.text(y), fresh.text(y))
        assert cells(canvas) == cells(fresh), action
        assert_same(far, canvas)
        if cursor is not None:
            assert (far.screen.cursor.y, far.screen.cursor.x) == cursor
