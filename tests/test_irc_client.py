"""The IRC door's translation without sockets: IRC lines to core messages, events to lines."""

from __future__ import annotations

from gameserver.core.events import RoomView, TopicChanged
from gameserver.core.rooms import Room, Session
from gameserver.doors import irc_numerics as n
from gameserver.doors.irc_client import IrcClient, shared_lines
from gameserver.doors.irc_wire import LineDecoder, Message, parse_line
from gameserver.protocol import (
    Bye,
    Command,
    Error,
    GameState,
    Hello,
    HistoryPage,
    Joined,
    Left,
    Login,
    Ok,
    PrivateMessage,
    Renamed,
    RoomMessage,
    Say,
)

INFO = n.ServerInfo(name="play.test", network="play", version="v1", created="today")
COMMANDS = {"game", "accept", "msg", "join", "who", "list", "users", "quit", "help", "me",
            "topic", "kick", "invite", "mode", "away"}


def client() -> IrcClient:
    return IrcClient(INFO, {"CHANTYPES": "#"}, lambda: COMMANDS, lambda: (1, 1, 1))


def lines(c: IrcClient) -> list[Message]:
    out = [m for o in c.out for m in LineDecoder().feed(o.data)]
    c.out.clear()
    return out  # type: ignore[return-value]


def feed(c: IrcClient, *raw: str) -> None:
    for line in raw:
        c.line(parse_line(line))


def registered(account: str = "alice") -> IrcClient:
    c = client()
    feed(c, "PASS pw", f"NICK {account}", "USER a 0 * :A")
    login = c.to_core[-1]
    assert isinstance(login, Login) and login.user == account and login.password == "pw"
    c.event(Ok(id=login.id, data={"user": account}))
    room = Room("lobby")
    room.members[account] = Session(door=None, sink=None, close=lambda r: None, user=account,  # type: ignore[arg-type]
                                    home_nick=account)
    c.event(RoomView(room=room, nick=account, online=1))
    c.to_core.clear()
    lines(c)
    return c


def test_registration_says_hello_then_logs_in_and_holds_events_for_the_burst() -> None:
    c = client()
    assert isinstance(c.to_core[0], Hello)
    feed(c, "PASS pw", "NICK alice", "USER a 0 * :A")
    login = c.to_core[-1]
    # the core may hand over the room before the login's ok (which waits for its commit)
    room = Room("lobby")
    c.event(RoomView(room=room, nick="alice", online=1))
    assert lines(c) == []
    c.event(Ok(id=login.id, data={"user": "Alice"}))
    out = lines(c)
    verbs = [m.verb for m in out]
    assert verbs[0] == "001" and out[0].params[0] == "Alice"  # the account's own spelling
    assert verbs.index("JOIN") > verbs.index("005")
    assert "353" not in verbs or verbs.index("353") > verbs.index("JOIN")


def test_a_wrong_password_is_464_then_error() -> None:
    c = client()
    feed(c, "PASS bad", "NICK alice", "USER a 0 * :A")
    c.event(Error(code="bad_password", id=c.to_core[-1].id, text="wrong password for alice"))
    out = lines(c)
    assert [m.verb for m in out] == ["464", "ERROR"] and c.close


def test_channel_text_is_say_and_bang_commands_are_commands() -> None:
    c = registered()
    feed(c, "PRIVMSG #lobby :hello \x0304there\x03", "PRIVMSG #lobby :!game tictactoe bob",
         "PRIVMSG #lobby :!notacommand hi", "PRIVMSG #lobby :\x01ACTION waves\x01",
         "PRIVMSG #lobby :\x01VERSION\x01", "GAME tictactoe bot", "ACCEPT")
    core = c.to_core
    assert core[0] == Say(id=core[0].id, text="hello there", room="lobby")
    assert core[1] == Command(id=core[1].id, name="game", args="tictactoe bob", room="lobby")
    assert core[2] == Say(id=core[2].id, text="!notacommand hi", room="lobby")
    assert core[3] == Command(id=core[3].id, name="me", args="waves", room="lobby")
    assert core[4] == Command(id=core[4].id, name="game", args="tictactoe bot")
    assert core[5] == Command(id=core[5].id, name="accept", args="")
    assert len(core) == 6  # the CTCP VERSION went nowhere


def test_privmsg_to_a_nick_is_a_pm_and_no_such_user_is_401() -> None:
    c = registered()
    feed(c, "PRIVMSG bob :hi there")
    pm = c.to_core[-1]
    assert pm == Command(id=pm.id, name="msg", args="bob hi there")
    c.event(Error(code="no_such_user", id=pm.id, text="there is no user called bob"))
    out = lines(c)
    assert out[0].verb == n.ERR_NOSUCHNICK and out[0].params[1] == "bob"
    feed(c, "NOTICE bob :quiet")
    c.event(Error(code="no_such_user", id=c.to_core[-1].id, text="no"))
    assert lines(c) == []  # NOTICE is never answered with an error


def test_room_events_are_encoded_once_and_skip_the_speaker() -> None:
    event = RoomMessage(room="lobby", nick="bobby", user="bob", text="hi all", ts=0.0)
    data, exclude, paced = shared_lines(event, "play.test", "play.test")
    assert data == b":bob!bob@play.test PRIVMSG #lobby :hi all\r\n"
    assert exclude == "bob" and not paced
    bob = registered("bob")
    bob.shared(event, data, exclude, paced)
    assert lines(bob) == []
    alice = registered()
    alice.shared(event, data, exclude, paced)
    assert lines(alice)[0].params == ("#lobby", "hi all")


def test_renames_joins_and_boards() -> None:
    c = registered()
    for event in (Joined(room="lobby", nick="bob", user="bob", online=2),
                  Renamed(room="lobby", old="bob", new="alice", user="bob")):
        c.shared(event, *shared_lines(event, "play.test", "play.test"))
    out = lines(c)
    assert out[0].to_line() == ":bob!bob@play.test JOIN #lobby"
    assert out[1].verb == "NOTICE" and "bob is now known as alice" in out[1].params[1]
    game = GameState(game_id=3, game="tictactoe", room="lobby", players=["alice", "bob"],
                     board=["  a b c", "1 X . O"], status="bob to move", turn="bob")
    data, exclude, paced = shared_lines(game, "play.test", "play.test")
    assert paced and exclude is None
    notices = [m.params[1] for m in LineDecoder().feed(data)]
    assert notices[0] == "#3 tictactoe: alice vs bob" and notices[-1] == "bob to move"
    assert "\x0304X\x03" in notices[2]


def test_nick_changes_are_refused_and_channels_add_up() -> None:
    c = registered()
    feed(c, "NICK mallory", "NICK ALICE")
    out = lines(c)
    assert [m.verb for m in out] == [n.ERR_ERRONEUSNICKNAME]
    feed(c, "JOIN #games,#lobby")  # already in #lobby: only #games is asked for
    assert c.to_core[-1] == Command(id=c.to_core[-1].id, name="join", args="games")
    c.to_core.clear()
    c.event(RoomView(room=Room("games"), nick="alice", online=1))
    out = lines(c)
    assert [m.verb for m in out[:1]] == ["JOIN"] and out[0].params == ("#games",)
    assert set(c.rooms) == {"lobby", "games"}  # several channels at once
    feed(c, "PRIVMSG #lobby :still here")
    assert c.to_core[-1].room == "lobby" and c.to_core[-1].text == "still here"
    feed(c, "PART #games")
    assert (c.to_core[-1].name, c.to_core[-1].args) == ("part", "games")
    c.event(Left(room="games", nick="alice", user="alice", online=1, reason="left"))
    assert [m.verb for m in lines(c)] == ["PART"] and set(c.rooms) == {"lobby"}
    feed(c, "PART #lobby")  # the last one stays
    assert lines(c)[0].verb == "NOTICE"
    feed(c, "PART #nowhere")
    assert lines(c)[0].verb == n.ERR_NOTONCHANNEL


def test_pms_and_bye() -> None:
    c = registered()
    c.event(PrivateMessage(sender="bob", to="alice", text="psst", ts=0.0))
    assert lines(c)[0].to_line() == ":bob!bob@play.test PRIVMSG alice psst"
    c.event(Bye(reason="the server is shutting down"))
    out = lines(c)
    assert out[0].verb == "ERROR" and "shutting down" in out[0].params[0] and c.close


def test_actions_go_both_ways_as_ctcp_action() -> None:
    c = registered()
    feed(c, "PRIVMSG #lobby :\x01ACTION waves \x02hello\x02\x01")
    me = c.to_core[-1]
    assert me == Command(id=me.id, name="me", args="waves hello", room="lobby")
    event = RoomMessage(room="lobby", nick="bob", user="bob", text="/me dances " + "la " * 300,
                        ts=0.0)
    data, _, _ = shared_lines(event, "play.test", "play.test")
    out = LineDecoder().feed(data)
    assert len(out) > 1
    for line in out:
        assert line.params[1].startswith("\x01ACTION ") and line.params[1].endswith("\x01")
        assert len(line.to_bytes()) <= 512


def test_topic_kick_invite_mode_and_away_go_to_the_core() -> None:
    c = registered()
    feed(c, "TOPIC #lobby")
    ask = c.to_core[-1]
    assert ask == Command(id=ask.id, name="topic", args="", room="lobby")
    c.event(Ok(id=ask.id, text="topic of #lobby: be kind"))
    assert lines(c)[0].params[1:] == ("#lobby", "be kind")
    feed(c, "TOPIC #lobby :new topic")
    set_ = c.to_core[-1]
    assert set_.args == "new topic"
    c.event(Error(code="not_allowed", id=set_.id, text="only admins may"))
    assert lines(c)[0].verb == n.ERR_CHANOPRIVSNEEDED
    feed(c, "KICK #lobby bob :be nice", "INVITE carol #lobby", "MODE #lobby +i", "AWAY :lunch")
    assert [(m.name, m.args) for m in c.to_core[-4:]] == [
        ("kick", "bob be nice"), ("invite", "carol"), ("mode", "+i"), ("away", "lunch")]
    c.event(Ok(id=c.to_core[-1].id, text="you are away: lunch"))
    assert lines(c)[0].verb == "306"


def test_pms_are_marked_not_end_to_end_encrypted_once_per_peer() -> None:
    c = registered()
    c.event(PrivateMessage(sender="bob", to="alice", text="one", ts=0.0))
    c.event(PrivateMessage(sender="bob", to="alice", text="two", ts=0.0))
    out = lines(c)
    notes = [m for m in out if m.verb == "NOTICE"]
    assert len(notes) == 1 and "not end-to-end encrypted" in notes[0].params[1]
    assert [m.params[1] for m in out if m.verb == "PRIVMSG"] == ["one", "two"]
    feed(c, "PRIVMSG carol :hi", "PRIVMSG carol :again", "PRIVMSG bob :hi")
    for message in c.to_core[-3:]:
        c.event(Ok(id=message.id, data={"delivered": True}))
    assert [m.verb for m in lines(c)] == ["NOTICE"]  # carol's, once; bob's was given


def test_a_sealed_pm_is_a_sentence_naming_the_play_client_never_its_envelope() -> None:
    c = registered()
    c.event(PrivateMessage(sender="bob", to="alice", text="an encrypted message: read it",
                           ts=0.0, e2e="e2e1.ENVELOPE-BYTES"))
    c.event(PrivateMessage(sender="bob", to="alice", text="x", ts=0.0, queued=True,
                           e2e="e2e1.OTHER"))
    out = lines(c)
    assert [m.verb for m in out] == ["NOTICE", "NOTICE"]  # not a PRIVMSG that looks like bob's
    for message in out:
        text = message.params[-1]
        assert "bob sent you an end-to-end encrypted private message" in text
        assert "read it in the play client" in text and "ENVELOPE" not in text
        assert "OTHER" not in text
    assert "while you were away" in out[1].params[-1]
    # a plain PM from bob afterwards still gets its (once-only) not-encrypted mark
    c.event(PrivateMessage(sender="bob", to="alice", text="plain now", ts=0.0))
    assert [m.verb for m in lines(c)] == ["PRIVMSG", "NOTICE"]


def test_a_topic_change_is_one_topic_line_for_every_member() -> None:
    event = TopicChanged(room="games", by="bob", topic="be kind", text="bob set the topic")
    data, exclude, paced = shared_lines(event, "play.test", "play.test") or (b"", "", True)
    assert data == b":bob!bob@play.test TOPIC #games :be kind\r\n"
    assert exclude is None and not paced  # the setter sees it too, as IRC servers do


def test_scrollback_and_history_lines_say_where_each_entry_was() -> None:
    c = registered()
    ts = 1_700_000_000.0
    game = {"type": "GAME", "sender": "tictactoe", "receiver": "lobby", "text": "game 1 over",
            "ts": ts}
    said = {"type": "ROOM", "sender": "bob", "receiver": "lobby", "text": "hi", "ts": ts}
    c.event(HistoryPage(kind="scrollback", room="lobby", entries=[said, game], page=0,
                        last=True))
    back = [m.params for m in lines(c) if m.verb == "NOTICE"]
    assert [p[0] for p in back] == ["#lobby", "#lobby"]
    assert back[0][1].endswith("] <bob> hi") and back[1][1].endswith("] <tictactoe> game 1 over")
    pm = {"type": "PM", "sender": "bob", "receiver": "alice", "text": "psst", "ts": ts}
    bm = {"type": "BM", "sender": "root", "receiver": "*", "text": "restart at 5", "ts": ts}
    c.event(HistoryPage(kind="history", entries=[said, game, pm, bm], page=0, last=True))
    texts = [m.params[1] for m in lines(c) if m.verb == "NOTICE"]
    assert [t.split("] ", 1)[1] for t in texts] == [
        "#lobby <bob> hi", "#lobby <tictactoe> game 1 over", "-> alice <bob> psst",
        "(to everyone) <root> restart at 5"]
