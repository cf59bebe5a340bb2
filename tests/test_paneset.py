"""The model's panes in memory: several rooms and PM conversations, their counts, switching."""

from __future__ import annotations

from gameclient.model import ClientModel
from gameclient.panes import not_there, rooms_lines
from gameclient.views import room_bar
from gameserver.protocol import (
    GameState,
    Left,
    Notice,
    Ok,
    PrivateMessage,
    RoomMessage,
    RoomState,
)

TS = 1_700_000_000.0


def entered(model: ClientModel, room: str, *others: str) -> None:
    members = [{"nick": model.user, "user": model.user}]
    members += [{"nick": name, "user": name} for name in others]
    model.apply(RoomState(room=room, nick=model.user, online=3, members=members))


def said(model: ClientModel, room: str, nick: str, text: str) -> None:
    model.apply(RoomMessage(room=room, nick=nick, user=nick, text=text, ts=TS))


def three_rooms() -> ClientModel:
    model = ClientModel(user="ann")
    for room in ("lobby", "den", "games"):
        entered(model, room, "bob")
    return model


def test_each_room_keeps_its_own_transcript_and_counts_what_came_unseen() -> None:
    model = three_rooms()
    assert [p.name for p in model.bar()] == ["lobby", "den", "games"]
    assert model.current == "games"  # a room just entered is the one looked at
    said(model, "den", "bob", "hello den")
    said(model, "den", "bob", "ann: look here")
    said(model, "games", "bob", "here, in view")
    den = model.panes["den"]
    assert (den.unread, den.mentions) == (2, 1)
    assert model.panes["games"].unread == 0  # seen as it came
    assert room_bar(model) == "1 #lobby 2 #den (2!) [3 #games]"
    assert not any("hello den" in line.text for line in model.transcript)
    assert model.switch("den")
    assert [line.text for line in model.transcript][-2:] == ["<bob> hello den",
                                                             "<bob> ann: look here"]
    assert (den.unread, den.mentions) == (0, 0)
    assert room_bar(model) == "1 #lobby [2 #den] 3 #games"


def test_an_action_counts_as_unread_and_one_that_names_me_shows_its_mark() -> None:
    model = three_rooms()
    said(model, "lobby", "bob", "/me waves at ann")
    lobby = model.panes["lobby"]
    assert (lobby.unread, lobby.mentions) == (1, 1)
    assert "1 #lobby (1!)" in room_bar(model)


def board(room: str, turn: str | None, cells: str, over: bool = False,
          time_left: float | None = None) -> GameState:
    return GameState(game_id=7, game="tictactoe", room=room, players=["ann", "bob"],
                     board=[cells[:3], cells[3:6], cells[6:]], status="playing",
                     turn=turn, over=over, time_left=time_left)


def test_a_game_moving_in_a_room_not_looked_at_marks_it_and_my_turn_is_for_me() -> None:
    model = three_rooms()  # looking at #games
    den = model.panes["den"]
    model.apply(board("den", "bob", "........."))  # a game starts there: news
    assert (den.unread, den.mentions) == (1, 0)
    model.apply(board("den", "ann", "x........"))  # bob moved: my turn
    assert (den.unread, den.mentions) == (2, 1)
    assert "2 #den (2!)" in room_bar(model)
    model.apply(board("den", "ann", "x........", time_left=12.0))  # only its clock
    model.apply(board("den", "ann", "x........"))  # sent again (a resume)
    assert (den.unread, den.mentions) == (2, 1)
    model.apply(board("games", "bob", "........."))  # in view: nothing to count
    assert model.panes["games"].unread == 0
    assert model.switch("den") and (den.unread, den.mentions) == (0, 0)
    model.apply(board("den", "bob", "xo......."))  # looked at now: seen as it comes
    assert den.unread == 0
    assert model.switch("lobby")
    model.apply(board("den", None, "xoxoxoxo.", over=True))  # my game ended over there
    assert (den.unread, den.mentions) == (1, 1)


def test_a_game_invitation_in_a_room_not_looked_at_counts_once() -> None:
    model = three_rooms()  # looking at #games
    den, lobby = model.panes["den"], model.panes["lobby"]
    offer = "bob wants to play tictactoe (game 3): /accept 3 to take the seat"
    model.apply(Notice(text=offer, kind="game", room="den"))
    assert (den.unread, den.mentions) == (1, 0)
    model.apply(Notice(text=offer, kind="game", room="den"))  # shown again (a resume)
    assert den.unread == 1
    model.apply(Notice(text="bob invites ann to hangman (game 4): ann, type /accept 4",
                       kind="game", room="lobby"))
    assert (lobby.unread, lobby.mentions) == (1, 1)
    model.apply(Notice(text="bob joined #den", room="den"))  # not a game's: not counted
    model.apply(Notice(text="ann is back for game 3", kind="game", room="den"))  # my resume
    model.apply(Notice(text="bob wants to play hangman (game 5): /accept 5", kind="game",
                       room="games"))  # in view
    assert den.unread == 1 and model.panes["games"].unread == 0
    assert room_bar(model) == "1 #lobby (1!) 2 #den (1) [3 #games]"


def test_pm_conversations_are_bar_entries_after_the_rooms() -> None:
    model = three_rooms()
    model.apply(PrivateMessage(sender="cat", to="ann", text="psst", ts=TS))
    assert [p.label for p in model.bar()] == ["#lobby", "#den", "#games", "@cat"]
    assert room_bar(model).endswith("4 @cat (1!)")  # a PM to me is always for me
    entered(model, "attic")
    assert [p.label for p in model.bar()][-2:] == ["#attic", "@cat"]  # rooms stay first
    assert model.switch("@cat")
    assert model.target() == (None, "cat")  # a plain line here is a PM to cat
    assert model.switch("2") and model.target() == ("den", None)  # a bar number
    assert model.switch("#GAMES") and model.current == "games"  # any case, with its #
    assert not model.switch("attic2") and model.current == "games"
    model.cycle(+1)
    assert model.current == "attic"
    model.cycle(+1)
    assert model.current == "@cat"
    model.cycle(+1)
    assert model.current == "lobby"  # round again
    model.cycle(-1)
    assert model.current == "@cat"
    lines = rooms_lines(model)
    assert lines[0] == ("you are in 4 rooms (Alt-1..9, Ctrl-N/Ctrl-P or /switch NAME to look"
                        " at one):")
    assert lines[-1] == "  5. @cat (PMs)  <- here"
    assert "Alt" not in rooms_lines(model, screen=False)[0]  # a line view has no such keys
    assert rooms_lines(model, screen=False)[1:] == lines[1:]


def test_parting_closes_the_pane_and_looks_at_the_last_room_left() -> None:
    model = three_rooms()
    assert model.switch("den")
    model.apply(Left(room="den", nick="ann", user="ann", online=3))
    assert "den" not in model.panes and model.current == "games"
    assert model.transcript[-1].text == "* you left #den"
    model.apply(Left(room="lobby", nick="bob", user="bob", online=2, reason="left"))
    assert "bob" not in model.panes["lobby"].members and "lobby" in model.panes
    assert model.panes["lobby"].transcript[-1].text == "* bob left #lobby"  # no "(left)"
    added = model.apply(Left(room="games", nick="ann", user="ann", online=2, reason="left"))
    assert added == [] and model.current == "lobby"  # /part's own reply will say it
    # The session this one replaced leaving (a cluster node may tell it late) is not us.
    model.apply(Left(room="lobby", nick="ann", user="ann", online=2, reason="reconnected"))
    assert "lobby" in model.panes and model.current == "lobby"


def test_a_resume_brings_the_rooms_back_and_keeps_the_pane_looked_at() -> None:
    model = three_rooms()
    assert model.switch("den")
    model.resume()  # what the clients do before a resume's rooms come
    for room in ("lobby", "den", "games"):
        entered(model, room, "bob")
    assert model.current == "den" and model.resuming is None
    assert [p.name for p in model.bar()] == ["lobby", "den", "games"]


def test_a_resume_while_looking_at_a_pm_stays_there_and_a_join_after_it_switches() -> None:
    model = three_rooms()
    model.apply(PrivateMessage(sender="cat", to="ann", text="psst", ts=TS))
    assert model.switch("@cat")
    model.resume()
    for room in ("lobby", "games"):  # den does not come back (closed meanwhile, say)
        entered(model, room, "bob")
    assert model.current == "@cat"
    entered(model, "attic")  # a room the user joins afterwards is looked at, as ever
    assert model.current == "attic" and model.resuming is None


def test_a_pm_i_send_opens_its_conversation_too_and_is_confirmed_where_typed() -> None:
    model = three_rooms()
    model.switch("den")
    sent = "-> cat: psst  (delivered)  [e2e]"
    model.apply(Ok(id=7, text=sent, data={"delivered": True, "pm": {
        "sender": "ann", "to": "cat", "text": "sealed", "ts": TS}}))
    assert [p.label for p in model.bar()] == ["#lobby", "#den", "#games", "@cat"]
    echo = model.panes["den"].transcript[-1]  # seen where it was typed
    assert (echo.kind, echo.text) == ("pm_echo", sent)
    [kept] = model.panes["@cat"].transcript  # and kept in the conversation it opened
    assert (kept.kind, kept.text) == ("pm_sent", sent)
    assert model.panes["@cat"].unread == 0 and room_bar(model).endswith("4 @cat")  # mine
    model.apply(PrivateMessage(sender="cat", to="ann", text="hi back", ts=TS))
    assert [line.text for line in model.panes["@cat"].transcript][-1] \
        == "[PM from cat] hi back  [not end-to-end encrypted]"
    assert model.switch("@cat")  # a plain line here is a PM to cat
    model.apply(Ok(id=8, text="-> cat: more  (delivered)  [e2e]", data={"pm": {
        "sender": "ann", "to": "cat", "text": "sealed", "ts": TS}}))
    assert [line.kind for line in model.panes["@cat"].transcript][-1] == "pm_sent"  # once
    assert [line.kind for line in model.panes["den"].transcript].count("pm_echo") == 1
    assert not model.switch("@dan")
    assert not_there("@dan") == "! no conversation with dan yet; /msg dan TEXT starts one"
    assert not_there("attic") == "! you are not in attic; /join it first"
