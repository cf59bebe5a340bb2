"""The line views' shared half, in memory: how a transcript line is printed and which
typed commands a line view answers itself (the line client and the SSH door both use it)."""

from __future__ import annotations

from pathlib import Path

from test_import_rules import SCREEN_FORBIDDEN, forbidden, imports_of

from gameclient.commands import parse_typed
from gameclient.lineview import board_texts, line_text, local_reply
from gameclient.model import ClientModel, Line, clock
from gameserver.protocol import GameState, RoomMessage, RoomState

TS = 1_700_000_000.0


def entered(model: ClientModel, room: str) -> None:
    members = [{"nick": model.user, "user": model.user}, {"nick": "bob", "user": "bob"}]
    model.apply(RoomState(room=room, nick=model.user, online=2, members=members))


def typed(text: str):
    found = parse_typed(text)
    assert found is not None
    return found


def test_one_room_prints_the_line_as_it_is_and_stamps_it_on_a_terminal() -> None:
    model = ClientModel(user="ann")
    entered(model, "lobby")
    line = Line("reply", "a reply", TS, where="lobby")
    assert line_text(model, line, terminal=False) == "a reply"
    assert line_text(model, line, terminal=True) == f"{clock(TS)} a reply"


def test_earlier_lines_carry_their_time_in_a_pipe_and_history_never_gets_a_second() -> None:
    model = ClientModel(user="ann")
    entered(model, "lobby")
    earlier = Line("scrollback", "<bob> then", TS, where="lobby")
    assert line_text(model, earlier, terminal=False) == f"{clock(TS)} <bob> then"
    dated = Line("history", "2023-11-14 22:13 <bob> then", TS, where="lobby")
    assert line_text(model, dated, terminal=True) == dated.text


def test_a_copy_is_not_printed() -> None:
    model = ClientModel(user="ann")
    assert line_text(model, Line("pm_echo", "-> bob: hi", TS, where="lobby"),
                     terminal=True) is None


def test_in_several_panes_a_line_says_whose_and_its_pane_counts_as_seen() -> None:
    model = ClientModel(user="ann")
    entered(model, "lobby")
    entered(model, "den")  # looked at: lobby's lines come unseen
    model.apply(RoomMessage(room="lobby", nick="bob", user="bob", text="ann: hi", ts=TS))
    lobby = model.panes["lobby"]
    assert (lobby.unread, lobby.mentions) == (1, 1)
    line = lobby.transcript[-1]
    assert line_text(model, line, terminal=False) == f"[#lobby] {line.text}"
    assert (lobby.unread, lobby.mentions) == (0, 0)
    pm = Line("pm", "<bob> psst", TS, where="@bob")
    assert line_text(model, pm, terminal=True) == f"{clock(TS)} [@bob] <bob> psst"


def test_a_board_is_indented_and_says_its_room_only_in_several_rooms() -> None:
    model = ClientModel(user="ann")
    entered(model, "lobby")
    game = GameState(game_id=4, game="tictactoe", room="lobby", players=["ann", "bob"],
                     board=["x..", "...", "..o"], status="ann to move")
    header = "== game 4: tictactoe (ann vs bob) =="
    assert board_texts(model, game) == [f"  {header}", "  x..", "  ...", "  ..o",
                                        "  ann to move"]
    entered(model, "den")
    assert board_texts(model, game)[0] == f"  [#lobby] {header}"


def test_switch_rooms_and_set_are_answered_and_everything_else_is_sent() -> None:
    model = ClientModel(user="ann")
    entered(model, "lobby")
    entered(model, "den")
    assert local_reply(model, typed("/switch lobby")) == ["* typed lines now go to #lobby"]
    assert model.current == "lobby"
    assert local_reply(model, typed("/switch attic")) == [
        "! you are not in attic; /join it first"]
    rooms = local_reply(model, typed("/rooms"))
    assert rooms is not None and rooms[0].startswith("you are in 2 rooms (/switch NAME")
    assert local_reply(model, typed("/set bell off")) == ["the bell is off"]
    assert model.bell is False
    for sent in ("hello", "/join attic", "/password", "/msg bob hi"):
        assert local_reply(model, typed(sent)) is None, sent


def test_the_shared_half_is_pure_as_the_screen_the_ssh_door_shares() -> None:
    path = Path(__file__).resolve().parent.parent / "gameclient" / "lineview.py"
    bad = sorted(n for n in imports_of(path) if forbidden(n, SCREEN_FORBIDDEN))
    assert not bad, bad
