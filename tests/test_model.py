"""The client's pure model: events in, state and transcript lines out."""

from __future__ import annotations

from gameclient.commands import parse_typed
from gameclient.model import ClientModel, board_lines, history_line
from gameserver.protocol import (
    Broadcast,
    Bye,
    Error,
    GameClosed,
    GameState,
    HistoryPage,
    Joined,
    Left,
    Ok,
    PrivateMessage,
    Renamed,
    RoomMessage,
    RoomState,
)


def lobby() -> ClientModel:
    model = ClientModel(user="ann")
    model.apply(Ok(id=1, text="logged in as ann", data={"user": "ann", "token": "t",
                                                         "online": 2}))
    model.apply(RoomState(room="lobby", nick="ann", online=2, members=[
        {"nick": "ann", "user": "ann"}, {"nick": "ben", "user": "ben"}]))
    return model


def test_room_state_members_and_presence():
    model = lobby()
    assert (model.room, model.nick, model.online, model.token) == ("lobby", "ann", 2, "t")
    assert model.transcript[-1].text == "* you are in #lobby as ann; here: ben"
    [line] = model.apply(Joined(room="lobby", nick="cat", user="cat", online=3))
    assert line.kind == "notice" and line.text == "* cat joined #lobby"
    assert model.members == {"ann": "ann", "ben": "ben", "cat": "cat"} and model.online == 3
    [line] = model.apply(Left(room="lobby", nick="ben", user="ben", online=2, reason="quit"))
    assert line.text == "* ben left #lobby (quit)" and "ben" not in model.members
    assert model.apply(Joined(room="den", nick="x", user="x", online=4)) == []
    assert model.online == 4


def test_chat_lines_say_who_and_set_apart_own_pm_and_broadcast():
    model = lobby()
    [mine] = model.apply(RoomMessage(room="lobby", nick="ann", user="ann", text="hi", ts=0))
    [theirs] = model.apply(RoomMessage(room="lobby", nick="B", user="ben", text="yo", ts=0))
    assert (mine.kind, mine.text, theirs.kind, theirs.text) == ("own", "<ann> hi", "chat",
                                                                "<B> yo")
    assert theirs.nick == "B" and theirs.body == "yo"
    [pm] = model.apply(PrivateMessage(sender="ben", to="ann", text="psst", ts=0))
    assert pm.kind == "pm" and pm.text == "[PM from ben] psst  [not end-to-end encrypted]"
    [queued] = model.apply(PrivateMessage(sender="ben", to="ann", text="x", ts=0, queued=True))
    assert "while you were away" in queued.text
    [bm] = model.apply(Broadcast(sender="cat", text="all", ts=0))
    assert bm.kind == "bm" and bm.text == "[broadcast] cat: all"
    [err] = model.apply(Error(code="nick_taken", text="the nick x is taken"))
    assert err.kind == "error" and err.text == "! the nick x is taken"


def test_my_own_rename_changes_my_nick():
    model = lobby()
    model.apply(Renamed(room="lobby", old="ann", new="Annie", user="ann"))
    assert model.nick == "Annie" and "Annie" in model.members and "ann" not in model.members


def test_scrollback_is_marked_and_history_formatted():
    model = lobby()
    entry = {"id": 1, "ts": 0, "type": "ROOM", "sender": "ben", "receiver": "lobby",
             "text": "old"}
    lines = model.apply(HistoryPage(kind="scrollback", room="lobby", entries=[entry], page=0,
                                    last=True))
    assert [line.text for line in lines] == [
        "--- earlier messages in #lobby ---", "<ben> old", "--- end of earlier messages ---"]
    assert all(line.kind == "scrollback" for line in lines) and lines[1].ts == 0
    lines = model.apply(HistoryPage(kind="history", entries=[entry], page=0, last=True, id=5))
    assert lines[-1].text.endswith("[ROOM] [ben -> lobby] old")
    assert history_line({**entry, "receiver": "*", "type": "BM"}).endswith(
        "[BM] [ben -> everyone] old")


def test_games_are_tracked_per_room_with_my_turn():
    model = lobby()
    game = GameState(game_id=3, game="tictactoe", room="lobby", players=["ann", "ben"],
                     turn="ann", board=["a b c"], status="ann (X) to move")
    model.apply(game)
    other = GameState(game_id=4, game="hangman", room="den", players=["x"], board=[],
                      status="")
    model.apply(other)
    assert model.room_games() == [game] and model.my_turn() == game
    assert board_lines(game) == ["== game 3: tictactoe (ann vs ben) ==", "a b c",
                                 "ann (X) to move"]
    model.apply(GameClosed(game_id=3, room="lobby"))
    assert model.room_games() == [] and model.my_turn() is None


def test_bye_records_why_it_ended():
    model = lobby()
    model.apply(Bye(reason="the server is shutting down", code="shutdown"))
    assert model.ended == "the server is shutting down"


def test_typed_lines():
    assert parse_typed("  ") is None
    assert parse_typed("hello\n").name is None
    typed = parse_typed("/MSG bob hi there")
    assert (typed.name, typed.args) == ("msg", "bob hi there")
    assert parse_typed("//not a command").text == "/not a command"
    assert parse_typed("/q").is_quit and parse_typed("/logout").is_quit



def test_a_secret_option_is_known_from_the_servers_game_list_not_by_name():
    from gameclient.commands import known_commands, secret_option

    games = [{"name": "wordy", "aliases": ["wd"], "options": [
        {"name": "word", "kind": "secret", "prompt": "hidden word"},
        {"name": "fast", "kind": "flag"}], "commands": [{"name": "solve"}]}]
    assert secret_option(parse_typed("/game wordy --word"), games)["prompt"] == "hidden word"
    assert secret_option(parse_typed("/game WD --fast --word"), games) is not None
    assert secret_option(parse_typed("/game wordy --fast"), games) is None
    assert secret_option(parse_typed("/game wordy"), games) is None
    assert secret_option(parse_typed("/game hangman --secret"), games) is None  # not listed
    assert secret_option(parse_typed("/say wordy --word"), games) is None
    assert "/solve" in known_commands(games) and "/guess" not in known_commands([])


def test_a_big_room_arrives_in_pages_and_is_summed_up():
    from gameserver.protocol import MemberPage

    model = ClientModel(user="ann")
    first = [{"nick": f"n{i}", "user": f"u{i}"} for i in range(40)]
    assert model.apply(RoomState(room="big", nick="ann", online=80, members=first,
                                 more=True)) == []
    [line] = model.apply(MemberPage(room="big", last=True, members=[
        {"nick": f"m{i}", "user": f"v{i}"} for i in range(40)]))
    assert len(model.members) == 80
    assert line.text.endswith("and 50 more (/who lists them)")
