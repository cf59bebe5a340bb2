"""A session's rooms and nicks through its accessors, in memory: the meaning and the cost."""

from __future__ import annotations

import gc
import random

from gameserver.core.rooms import Room, Session


def session(home: str = "bob") -> Session:
    return Session(door=None, sink=None, close=lambda why: None, user="bob",  # type: ignore[arg-type]
                   home_nick=home)


def held_dicts(s: Session) -> list[object]:
    """The dicts it holds of its own (not the empty nick table every session shares)."""
    from gameserver.core.rooms import _NO_NICKS

    return [r for r in gc.get_referents(s) if isinstance(r, dict) and r is not _NO_NICKS]


def test_one_room_under_the_home_nick_holds_no_table():
    s, lobby = session(), Room("lobby")
    s.enter(lobby, "bob")
    s.room = lobby
    assert held_dicts(s) == []  # the common case: neither a room table nor a nick table
    assert s.in_room("lobby") and not s.in_room("den") and s.joined() == (lobby,)
    assert s.nick == s.nick_in("lobby") == "bob" and s.place() == {
        "rooms": [["lobby", "bob"]], "room": "lobby"}


def test_several_rooms_keep_order_nicks_and_the_room_looked_at():
    s = session()
    lobby, den, pit = Room("lobby"), Room("den"), Room("pit")
    for room, nick in ((lobby, "bob"), (den, "bobby"), (pit, "bob")):
        s.enter(room, nick)
        s.room = room
    assert s.room_names() == ["lobby", "den", "pit"] and s.room_count() == 3
    assert s.nicks() == {"lobby": "bob", "den": "bobby", "pit": "bob"}
    s.nick = "robert"  # /nick in the room looked at changes only that room's
    assert s.nicks() == {"lobby": "bob", "den": "bobby", "pit": "robert"}
    assert s.home_nick == "bob" and s.nick_in("elsewhere") == "bob"
    assert s.leave("pit") == "robert" and s.room is den  # looks at the last one left
    assert s.leave("pit") is None and s.leave("nowhere") is None
    assert s.leave("den") == "bobby" and s.room is lobby
    assert held_dicts(s) == []  # back to one room under the home nick: no tables again
    assert s.leave("lobby") == "bob" and s.room is None and s.joined() == ()


def test_a_new_home_nick_leaves_the_rooms_nicks_as_they_were():
    s = session()
    lobby, den = Room("lobby"), Room("den")
    s.enter(lobby, "bob")
    s.enter(den, "bobby")
    s.want_nick("bobby")  # a room without a nick of its own must not follow it
    assert s.nicks() == {"lobby": "bob", "den": "bobby"} and s.home_nick == "bobby"
    s.enter(Room("pit"), "bobby")
    assert s.nicks() == {"lobby": "bob", "den": "bobby", "pit": "bobby"}


def test_the_accessors_agree_with_a_plain_model_whatever_the_order():
    rnd = random.Random(12)
    for trial in range(200):
        s, model, looked = session(), {}, None  # model: name -> nick, in entry order
        rooms = {name: Room(name) for name in ("lobby", "den", "pit", "bar")}
        for step in range(40):
            op, name = rnd.random(), rnd.choice(list(rooms))
            nick = rnd.choice(["bob", "bobby", "b", "bob_2"])
            if op < 0.35 and name not in model:
                s.enter(rooms[name], nick)
                model[name] = nick
                s.room = looked = rooms[name]
            elif op < 0.55:
                left = s.leave(name)
                assert left == model.pop(name, None), (trial, step)
                if looked is not None and looked.name == name:
                    looked = rooms[list(model)[-1]] if model else None
            elif op < 0.75 and name in model:
                s.rename_in(name, nick)
                model[name] = nick
            elif op < 0.9:
                s.want_nick(nick)
            else:
                s.nick = nick
                if looked is not None:
                    model[looked.name] = nick
            assert s.room is looked, (trial, step)
            assert s.nicks() == model and s.room_names() == list(model), (trial, step)
            assert s.room_count() == len(model)
            assert all(s.in_room(n) == (n in model) for n in rooms)
            assert all((s.room_named(n) is rooms[n]) == (n in model) for n in rooms)
            assert s.nick == (model[looked.name] if looked is not None else s.home_nick)


def test_a_token_is_made_again_from_its_expiry_and_no_two_logins_share_one():
    from gameserver.core import logins

    expiries = [logins.new_token_expiry() for _ in range(50)]  # within one clock tick too
    assert len(set(expiries)) == 50 and expiries == sorted(expiries)
    tokens = {logins.session_token("bob", e) for e in expiries}
    assert len(tokens) == 50 and all(len(t) == 32 for t in tokens)
    assert logins.session_token("bob", expiries[0]) == logins.session_token("bob", expiries[0])
    assert logins.session_token("bob", expiries[0]) != logins.session_token("bobby", expiries[0])


def test_what_few_sessions_set_costs_the_others_nothing():
    s = session()
    assert not s.guest and s.login_failures == 0 and s.bad_frames == 0 and s.cancel_work is None
    assert [r for r in gc.get_referents(s) if type(r).__name__ == "_Seldom"] == []
    s.bad_frames += 1
    s.cancel_work = print
    assert s.bad_frames == 1 and s.cancel_work is print and not s.guest
    s.cancel_work = None  # the check is done
    s.bad_frames = 0
    assert [r for r in gc.get_referents(s) if type(r).__name__ == "_Seldom"] == []
    s.guest = True
    assert s.guest and s.login_failures == 0


def test_the_shared_empty_nick_table_is_never_written():
    from gameserver.core import rooms

    sessions = [session() for _ in range(3)]
    for n, s in enumerate(sessions):
        den = Room(f"den{n}")
        s.enter(den, f"nick{n}")  # differs from the home nick: a table of its own
        s.rename_in(den.name, "bob")
        s.want_nick("robert")
        s.leave(den.name)
    assert rooms._NO_NICKS == {} and all(s.nicks() == {} for s in sessions)
