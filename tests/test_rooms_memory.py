"""Several rooms at once, in memory: join adds, part leaves, nicks and /msg per room."""

from __future__ import annotations

import pytest
from hubpair import Pair

from gameserver.protocol import Command, Say
from gameserver.settings import Settings


@pytest.fixture
def pair(tmp_path):
    p = Pair(tmp_path, settings=Settings(max_rooms=3))
    yield p
    p.close()


def rooms_of(user) -> list[str]:
    return user.session.room_names()


def test_join_adds_a_room_and_keeps_the_others(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    assert ann.cmd("join", "den").data["rooms"] == ["lobby", "den"]
    ben.say("in the lobby")
    assert ann.of("room_msg", text="in the lobby", room="lobby")
    ben.cmd("join", "den")
    ben.request(Say(id=ben.next_id(), text="in the den", room="den"))
    assert ann.of("room_msg", text="in the den", room="den")
    assert not ann.of("room_msg", text="in the den", room="lobby")


def test_a_line_goes_to_the_room_it_names_else_the_one_looked_at(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    ann.cmd("join", "den")  # joining makes it the room ann looks at
    ann.say("no room named")
    assert ann.of("room_msg", text="no room named", room="den")
    ann.request(Say(id=ann.next_id(), text="named", room="lobby"))
    assert ben.of("room_msg", text="named", room="lobby")
    ann.say("still lobby")  # the last room named stays the one looked at
    assert ben.of("room_msg", text="still lobby")
    err = ann.request(Say(id=ann.next_id(), text="x", room="attic"))
    assert err.code == "not_in_room" and "/join" in err.text


def test_part_leaves_one_room_and_never_the_last(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    ann.cmd("join", "den")
    reply = ann.cmd("part", "den")
    assert reply.TYPE == "ok" and rooms_of(ann) == ["lobby"]
    assert ann.of("left", room="den", user="ann")  # told, so a client drops the room
    assert ann.cmd("part", "lobby").code == "last_room"
    ann.cmd("join", "den")
    assert ann.cmd("part", "lobby").TYPE == "ok"  # the lobby may go, den stays
    assert rooms_of(ann) == ["den"]
    assert ben.of("left", room="lobby", nick="ann")
    assert ann.cmd("part", "attic").code == "not_in_room"


def test_at_most_max_rooms(pair):
    ann = pair.user("ann")
    ann.cmd("join", "a1")
    ann.cmd("join", "a2")
    err = ann.cmd("join", "a3")
    assert err.code == "too_many_rooms" and rooms_of(ann) == ["lobby", "a1", "a2"]
    assert ann.cmd("join", "a1").code == "same_room"


def test_rooms_lists_mine(pair):
    ann = pair.user("ann")
    ann.cmd("join", "den")
    ann.cmd("nick", "annie")
    reply = ann.cmd("rooms")
    assert reply.data["mine"] == [{"room": "lobby", "nick": "ann", "members": 1},
                                  {"room": "den", "nick": "annie", "members": 1}]
    assert reply.data["looking_at"] == "den"


def test_nicks_are_per_room(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    ann.cmd("join", "den")
    ben.cmd("join", "den")
    assert ann.cmd("nick", "annie").TYPE == "ok"  # in den, the room ann looks at
    assert ann.session.nick_in("den") == "annie" and ann.session.nick_in("lobby") == "ann"
    assert ben.of("renamed", room="den", old="ann", new="annie")
    assert not ben.of("renamed", room="lobby")
    assert ann.cmd("nick", "queen lobby").TYPE == "ok"  # /nick NAME ROOM
    assert ann.session.nick_in("lobby") == "queen"
    assert ben.cmd("nick", "annie").code == "nick_taken"  # in den: taken
    assert ben.cmd("nick", "annie lobby").TYPE == "ok"  # in the lobby: free
    ann.request(Say(id=ann.next_id(), text="hi", room="lobby"))
    assert ben.of("room_msg", text="hi", nick="queen")


def test_msg_looks_for_a_nick_in_this_room_then_a_username(pair):
    ann, ben, cat = pair.user("ann"), pair.user("ben"), pair.user("cat")
    ben.cmd("join", "den")
    ben.cmd("nick", "shadow")
    ann.cmd("join", "den")
    ann.cmd("msg", "shadow psst")  # ben's nick in den, the room ann looks at
    assert ben.of("pm", text="psst", sender="ann")
    ann.request(Command(id=ann.next_id(), name="msg", args="shadow x", room="lobby"))
    assert ann.of("error", code="no_such_user")  # not a nick in the lobby, nor a user
    ann.cmd("msg", "cat hello")  # a username
    assert cat.of("pm", text="hello")


def test_history_spans_are_per_room(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    ann.cmd("join", "den")
    ann.say("den before ben")
    ben.cmd("join", "den")
    ann.say("den with ben")
    ben.cmd("part", "den")
    ann.say("den after ben")
    ben.cmd("history", "den")
    texts = [e["text"] for page in ben.of("history", kind="history") for e in page.entries]
    assert texts == ["den with ben"]


def test_resume_brings_every_room_and_nick_back(pair):
    ann = pair.user("ann")
    ann.cmd("join", "den")
    ann.cmd("nick", "annie")
    ann.cmd("join", "attic")
    ann.request(Command(id=ann.next_id(), name="who", room="den"))  # looks at den
    token = ann.token
    ann.drop()
    again = pair.connect()
    assert again.resume(token).TYPE == "ok"
    assert rooms_of(again) == ["lobby", "den", "attic"]
    assert again.session.nick_in("den") == "annie"
    assert again.session.room.name == "den"
    assert {s.room for s in again.of("room")} == {"lobby", "den", "attic"}


def test_rooms_come_back_from_the_token_after_a_restart(tmp_path):
    first = Pair(tmp_path)
    ann = first.user("ann")
    ann.cmd("join", "den")
    ann.cmd("nick", "annie")
    token = ann.token
    first.hub.commit()
    first.close()
    second = Pair(tmp_path)  # a new server on the same data: nothing in memory
    again = second.connect()
    assert again.resume(token).TYPE == "ok"
    assert rooms_of(again) == ["lobby", "den"] and again.session.nick_in("den") == "annie"
    second.close()


def test_presence_in_a_big_room_is_batched_into_one_event_per_member(tmp_path):
    pair = Pair(tmp_path)
    pair.hub.presence.min_members = 3
    crowd = [pair.user(f"u{i}") for i in range(3)]  # small so far: told at once
    assert crowd[0].of("joined", nick="u2")
    before = len(crowd[0].events)
    late = [pair.user(f"v{i}") for i in range(4)]  # now big: batched
    assert not any(e.TYPE == "joined" for e in crowd[0].events[before:])
    late[0].cmd("nick", "vee")
    late[1].drop()
    assert pair.run_timers() == 1
    [batch] = crowd[0].of("presence")
    assert [c["op"] for c in batch.changes] == ["joined"] * 4 + ["renamed", "left"]
    assert batch.changes[4] == {"op": "renamed", "old": "v0", "new": "vee", "user": "v0"}
    assert all(len(u.of("presence")) == 1 for u in crowd + late[2:])
    pair.close()


def _sent_before_a_commit(user, *messages) -> None:
    """Frames that arrive in one read: the commit comes after them all, as on the loop."""
    for message in messages:
        user.pair.hub.receive(user.session, message)
    user.pair.hub.commit()


def _order(user, room: str) -> list[str]:
    """What `user` saw in `room`, lines and comings and goings, in order."""
    seen = []
    for e in user.events:
        if getattr(e, "room", None) != room:
            continue
        if e.TYPE == "room_msg":
            seen.append(f"<{e.nick}> {e.text}")
        elif e.TYPE in ("left", "renamed", "joined"):
            seen.append(f"{e.TYPE} {getattr(e, 'nick', None) or getattr(e, 'new', '')}")
    return seen


@pytest.mark.parametrize("change, after", [
    (("part", "den"), "left dora"),
    (("nick", "dot den"), "renamed dot"),
])
def test_a_change_right_after_lines_reaches_the_room_after_them(pair, change, after):
    """`/join den`, lines, `/part den` in one paste: the room hears the lines, then the
    change; the lines reach the room as it was when they were said (dora's own echo too)."""
    ann, dora = pair.user("ann"), pair.user("dora")
    ann.cmd("join", "den")
    dora.cmd("join", "den")
    name, args = change
    _sent_before_a_commit(dora, Say(id=dora.next_id(), text="one", room="den"),
                          Say(id=dora.next_id(), text="two", room="den"),
                          Command(id=dora.next_id(), name=name, args=args, room="den"))
    assert _order(ann, "den")[-3:] == ["<dora> one", "<dora> two", after]
    assert "<dora> two" in _order(dora, "den")
    replies = [e.id for e in dora.events if e.TYPE in ("ok", "error")][-3:]
    assert replies == sorted(replies)  # answered in the order asked


def test_a_line_after_a_deferred_change_comes_after_it(pair):
    """What the session sends behind a change that waits goes after the change."""
    ann, dora = pair.user("ann"), pair.user("dora")
    ann.cmd("join", "den")
    dora.cmd("join", "den")
    _sent_before_a_commit(dora, Say(id=dora.next_id(), text="as dora", room="den"),
                          Command(id=dora.next_id(), name="nick", args="dot den", room="den"),
                          Say(id=dora.next_id(), text="as dot", room="den"))
    dora.pair.hub.commit()
    assert _order(ann, "den")[-3:] == ["<dora> as dora", "renamed dot", "<dot> as dot"]
