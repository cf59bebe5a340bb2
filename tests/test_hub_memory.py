"""The hub's rules in memory (no sockets, no loop): rooms, nicks, PMs, history, extensions."""

from __future__ import annotations

import pytest
from hubpair import Pair

from gameserver.core.extensions import Extension
from gameserver.core.pending import Pending
from gameserver.protocol import Command, Hello, Login, Ok, RoomMessage, Say


@pytest.fixture
def pair(tmp_path, make_store):
    """The hub's rules on each store backend (SQLite, and a real PostgreSQL)."""
    p = Pair(tmp_path, store=make_store())
    yield p
    p.close()


def test_login_puts_you_in_the_lobby_and_the_lobby_hears_it(pair):
    ann = pair.user("ann")
    state = ann.of("room")[-1]
    assert (state.room, state.nick) == ("lobby", "ann")
    ben = pair.user("ben")
    assert ann.of("joined", nick="ben", room="lobby")
    assert [m["nick"] for m in ben.of("room")[-1].members] == ["ann", "ben"]


@pytest.mark.parametrize("speaker", [0, 1, 2])
def test_a_room_line_reaches_every_member_once_encoded_once(pair, speaker):
    users = [pair.user(n) for n in ("ann", "ben", "cat")]
    before = pair.door.encodings
    assert users[speaker].say("hello all").TYPE == "ok"
    assert pair.door.encodings == before + 1  # one event for the room, however many members
    for u in users:
        lines = u.of("room_msg", text="hello all")
        assert len(lines) == 1 and lines[0].user == users[speaker].session.user


@pytest.mark.parametrize("text", ["plain words", "caf\u00e9 \u2603 \U0001f600"])
def test_a_room_line_and_its_ok_are_the_messages_the_constructors_make(pair, text):
    """The hot path builds the line without the constructor's checks: the same message.

    (Its ok is the door's to make from the id, Door.confirm: test_hot_path checks the
    JSON Lines door's bytes.)
    """
    ann, ben = pair.user("ann"), pair.user("ben")
    assert ann.cmd("nick", "\u00e4nn").TYPE == "ok"
    ok = ann.say(text)
    assert ok == Ok(id=ok.id) and ok.to_wire() == {"type": "ok", "id": ok.id}
    line = ben.of("room_msg", text=text)[-1]
    assert line == RoomMessage(room="lobby", nick="\u00e4nn", user="ann", text=text, ts=line.ts)
    assert ann.of("room_msg", text=text) == [line]
    stored = [(e.text, e.nick) for e in pair.store.room_scrollback("lobby", 5)]
    assert stored == [(text, "\u00e4nn")]  # with the nick the room saw


def test_messages_need_hello_then_login(pair):
    u = pair.connect()
    assert u.request(Say(id=1, text="hi")).code == "hello_first"
    u.send(Hello(version=1))
    assert u.request(Say(id=2, text="hi")).code == "not_logged_in"
    assert u.request(Login(id=3, user="ann", password="")).code == "bad_password"
    assert u.request(Login(id=4, user="ann", password="pw")).TYPE == "ok"


def test_rooms_are_apart_and_nicks_unique_per_room(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    assert ann.cmd("join", "den").TYPE == "ok"
    assert ann.cmd("part", "lobby").TYPE == "ok"
    assert ben.cmd("nick", "ann").code == "nick_taken"  # ann's name, another user's
    ben.say("lobby only")
    assert not ann.of("room_msg", text="lobby only")
    assert ann.cmd("nick", "annie").TYPE == "ok"
    assert ben.cmd("join", "den").TYPE == "ok"
    assert ben.cmd("nick", "annie").code == "nick_taken"


def test_a_private_message_reaches_only_its_receiver_or_waits(pair):
    ann, ben, cat = pair.user("ann"), pair.user("ben"), pair.user("cat")
    reply = ann.cmd("msg", "ben psst")
    assert reply.data["delivered"] is True
    assert ben.of("pm", text="psst") and not cat.of("pm")
    cat.drop()
    assert ann.cmd("msg", "cat later").data["delivered"] is False
    again = pair.user("cat")
    assert again.of("pm", text="later", queued=True)
    assert ann.cmd("msg", "nobody hi").code == "no_such_user"


def test_history_spans_only_what_you_were_there_for(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    ann.cmd("join", "den")
    ann.say("before ben")
    ben.cmd("join", "den")
    ann.say("with ben")
    ben.cmd("history", "den")
    texts = [e["text"] for page in ben.of("history", kind="history") for e in page.entries]
    assert "with ben" in texts and "before ben" not in texts


def test_resume_puts_you_back_where_you_were(pair):
    ann = pair.user("ann")
    ann.cmd("join", "den")
    ann.cmd("nick", "ally")
    token = ann.token
    ann.drop()
    again = pair.connect()
    assert again.resume(token).TYPE == "ok"
    state = again.of("room")[-1]
    assert (state.room, state.nick) == ("den", "ally")


def test_a_misspelt_hook_fails_loudly(pair):
    class Bad(Extension):
        def on_enter_rom(self, session, room):  # a typo: must not be silently skipped
            pass

    with pytest.raises(TypeError, match="on_enter_rom"):
        pair.hub.add_extension(Bad())
    with pytest.raises(TypeError):
        pair.hub.add_extension(object())  # type: ignore[arg-type]


def test_an_extension_can_take_a_line(pair):
    class Echo(Extension):
        def on_say(self, session, msg_id, text):
            return text.startswith("!")

    pair.hub.add_extension(Echo())
    ann = pair.user("ann")
    ann.send(Say(id=ann.next_id(), text="!taken"))
    assert not ann.of("room_msg", text="!taken")
    ann.say("plain")
    assert ann.of("room_msg", text="plain")


def test_a_command_registered_twice_is_refused(pair):
    with pytest.raises(ValueError, match="/join"):
        pair.hub.add_command("join", lambda s, m: None, "/join", "again")


def test_store_answers_may_come_later(tmp_path):
    """A lookup that answers on a later pass (a networked store) gives the same replies."""
    from gameserver.core.pending import Immediate

    class Later(Immediate):
        def __init__(self, store):
            super().__init__(store)
            self.waiting: list[tuple[Pending, object]] = []

        def account_hash(self, user):
            pending: Pending = Pending()
            self.waiting.append((pending, self.store.account_hash(user)))
            return pending

        def answer_all(self):
            waiting, self.waiting = self.waiting, []
            for pending, value in waiting:
                pending.resolve(value)

    pair = Pair(tmp_path)
    later = Later(pair.store)
    pair.hub.lookups = later
    u = pair.connect()
    u.send(Hello(version=1))
    u.send(Login(id=1, user="ann", password="pw"))
    assert not u.of("ok", id=1)  # the store has not answered yet
    later.answer_all()
    pair.hub.commit()
    assert u.of("ok", id=1) and u.of("room")
    u.send(Command(id=2, name="msg", args="nobody hi"))
    later.answer_all()
    assert u.of("error", id=2)[0].code == "no_such_user"
    pair.close()
