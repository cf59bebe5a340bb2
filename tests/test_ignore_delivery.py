"""/ignore on the server: an ignored person's words are not delivered to the ignorer (doors
whose clients cannot hide lines, IRC and classic, depend on it). The core in memory; then
end to end through a real IRC client and a classic (nc) one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import logged_in, run
from hubpair import Pair, User

from gameserver.communitystore import CommunityStore
from gameserver.core.community import CommunityHost
from gameserver.core.ignoring import Ignoring
from gameserver.core.roles import Community
from gameserver.core.rooms import Session

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    p = Pair(tmp_path)
    kept = CommunityStore(p.store.db)
    CommunityHost.install(p.hub, Community(kept), kept)
    yield p
    p.close()


def words(user: User) -> list[str]:
    """The room lines, PMs and broadcasts a user was given, as 'sender: text'."""
    out = []
    for e in user.new():
        if e.TYPE == "room_msg":
            out.append(f"{e.user}: {e.text}")
        elif e.TYPE in ("pm", "bm"):
            out.append(f"{e.sender}: {e.text}")
        elif e.TYPE == "history":
            out += [f"{x['sender']}: {x['text']}" for x in e.entries]
    return out


def test_the_index_alone() -> None:
    def session() -> Session:
        return Session(door=None, sink=[], close=lambda r: None)  # type: ignore[arg-type]

    ann, ben = session(), session()
    index = Ignoring()
    assert not index and index.deaf_to("bob") is None
    index.set(ann, ["Bob", "carl"])
    index.set(ben, ["bob"])
    assert index.hides(ann, "bob") and index.hides(ann, "BOB") and not index.hides(ann, "dan")
    assert index.deaf_to("bob") == {ann, ben} and index.names(ann) == ["Bob", "carl"]
    assert Ignoring.without([ann.sink, ben.sink], {ann}) == [ben.sink]
    index.set(ann, ["carl"])
    assert index.deaf_to("bob") == {ben}
    index.drop(ben)
    assert index.deaf_to("bob") is None and not index.hides(ben, "bob")
    index.drop(ann)
    assert not index


def test_room_lines_actions_pms_and_broadcasts_of_the_ignored_are_not_delivered(pair) -> None:
    ann, bob, cat = pair.user("ann"), pair.user("bob"), pair.user("cat")
    assert ann.cmd("ignore", "bob").TYPE == "ok"
    for u in (ann, bob, cat):
        u.new()
    bob.say("hello from bob")
    bob.cmd("me", "waves")
    bob.cmd("msg", "ann psst")
    bob.cmd("all", "everyone listen")
    cat.say("hello from cat")
    assert words(ann) == ["cat: hello from cat"]
    assert words(cat) == ["bob: hello from bob", "bob: /me waves", "bob: everyone listen",
                          "cat: hello from cat"]
    confirmed = bob.of("ok")[-2]  # the PM is confirmed as any other (ignoring is silent)
    assert "-> ann: psst" in (confirmed.text or "")
    assert ann.cmd("unignore", "bob").TYPE == "ok"
    bob.say("back again")
    assert words(ann) == ["bob: back again"]


def test_ignores_hold_across_logins_for_queued_pms_and_scrollback(pair) -> None:
    ann, bob = pair.user("ann"), pair.user("bob")
    ann.cmd("ignore", "bob")
    ann.cmd("join", "den")
    bob.cmd("join", "den")
    bob.say("in the den")
    ann.cmd("quit")
    bob.cmd("msg", "ann while you were out")  # queued for ann's next login
    cat = pair.user("cat")
    cat.cmd("msg", "ann from cat")
    again = pair.user("ann")
    got = words(again)
    assert "cat: from cat" in got and not [w for w in got if w.startswith("bob:")], got
    assert any("1 private message waited for you, from cat" == getattr(e, "text", "")
               for e in again.events)
    again.cmd("join", "den")
    assert not [w for w in words(again) if w.startswith("bob:")]
    dan = pair.user("dan")  # who ignores nobody sees the scrollback whole
    dan.cmd("join", "den")
    assert "bob: in the den" in words(dan)


def test_a_guests_ignores_last_as_long_as_the_guest(pair) -> None:
    from gameserver.core.logins import login_guest

    bob = pair.user("bob")
    first = pair.connect()
    login_guest(pair.hub, first.session, lambda ok, why: None)
    pair.hub.commit()
    guest = first.session.user
    assert guest and first.cmd("ignore", "bob").TYPE == "ok"
    first.new()
    bob.say("can a guest hear me?")
    assert words(first) == []
    assert first.cmd("ignore").data["ignores"] == ["bob"]
    assert CommunityStore(pair.store.db).ignores(guest) == []  # nothing kept under guest-N
    assert first.cmd("unignore", "bob").TYPE == "ok"
    bob.say("now?")
    assert words(first) == ["bob: now?"]


# ---------------------------------------------------------------- real clients


def test_an_irc_user_who_ignores_someone_does_not_get_their_lines(tmp_path: Path) -> None:
    from ircclients import irc_server, irc_user

    async def body() -> None:
        async with irc_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            cat = await logged_in(server.port, "cat")
            alice = await irc_user(door, "alice")
            alice.conn.send_raw("IGNORE bob")
            said = await alice.expect("privnotice", lambda e: "ignore bob" in e.arguments[0])
            assert "you now ignore bob" in said.arguments[0]
            await bob.say("you cannot hear me")
            await bob.command("msg", "alice nor this")
            await cat.say("but you hear me")
            heard = await alice.expect("pubmsg")
            assert heard.source.nick == "cat" and heard.arguments == ["but you hear me"]
            await asyncio.sleep(0.2)  # anything of bob's would have come before cat's line
            assert not [e for e in alice.events if e.type in ("pubmsg", "privmsg")
                        and e.source.nick == "bob"]
            alice.conn.send_raw("UNIGNORE bob")
            await alice.expect("privnotice", lambda e: "see bob again" in e.arguments[0])
            await bob.say("and now?")
            heard = await alice.expect("pubmsg")
            assert heard.source.nick == "bob" and heard.arguments == ["and now?"]
            alice.close()
            await bob.close()
            await cat.close()

    run(body())


def test_a_classic_guest_who_ignores_someone_does_not_get_their_lines(tmp_path: Path) -> None:
    from test_classic_door import classic_server, guest

    async def body() -> None:
        async with classic_server(tmp_path) as (server, door):
            bob = await logged_in(server.port, "bob")
            cat = await logged_in(server.port, "cat")
            nc = await guest(door, "zed")
            await nc.send("/ignore bob")
            said = await nc.line()
            assert "you now ignore bob" in said, said
            await bob.say("psst, guests")
            await bob.command("msg", "zed hello zed")
            await cat.say("hi all")
            seen = await nc.until("cat: hi all")
            assert not [line for line in seen if "bob" in line], seen
            await nc.send("/unignore bob")
            assert "you see bob again" in await nc.line()
            await bob.say("psst again")
            assert await nc.line() == "bob: psst again"
            nc.close()
            await bob.close()
            await cat.close()

    run(body())
