"""Roles and moderation in the core, without sockets: ranks, durations on an injected clock,
bans on the account (across reconnects, doors and nick changes), the modlog."""

from __future__ import annotations

import pytest
from hubpair import MemoryDoor, Pair, User

from gameserver.communitystore import DELETED_USER, CommunityStore
from gameserver.core.community import CommunityHost
from gameserver.core.roles import (
    ADMIN,
    HOST,
    MEMBER,
    OP,
    OWNER,
    SERVER,
    Community,
    RuleError,
    parse_duration,
    say_duration,
)
from gameserver.protocol import Hello, Login


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the rules alone


def test_durations():
    assert parse_duration("30s") == 30 and parse_duration("10m") == 600
    assert parse_duration("2h") == 7200 and parse_duration("1d") == 86400
    assert parse_duration("1h30m") == 5400 and parse_duration("45") == 45
    for bad in ("", "m", "0", "0m", "10x", "-5", "spam", "1.5h", "9999999999s"):
        assert parse_duration(bad) is None, bad
    assert say_duration(90) == "1 minute 30 seconds" and say_duration(1) == "1 second"
    assert say_duration(86400 * 3) == "3 days"


def test_ranks_and_who_may_act_on_whom():
    c = Community(clock=Clock())
    c.set_admin("Rita", HOST)
    c.set_admin("ada", ADMIN)
    assert c.claim("den", "olga") and not c.claim("den", "zed")  # the first in owns it
    c.set_op("den", "oscar", True)
    assert [c.rank(u, "den") for u in ("rita", "ADA", "olga", "oscar", "mia")] == [
        HOST, ADMIN, OWNER, OP, MEMBER]
    assert c.rank("oscar", "lobby") == MEMBER  # ops of one room only
    c.check_over("oscar", "mia", "den")
    for actor, target in (("oscar", "olga"), ("oscar", "ada"), ("olga", "ada"),
                          ("ada", "rita"), ("mia", "oscar"), ("ada", "ada")):
        with pytest.raises(RuleError):
            c.check_over(actor, target, "den")
    c.set_op("den", "otto", True)
    with pytest.raises(RuleError, match="equal or higher"):
        c.check_over("oscar", "otto", "den")  # op on op: equal rank
    with pytest.raises(RuleError, match="only owners"):
        c.check_over("oscar", "mia", "den", OWNER)
    assert c.roles_in("den") == {"Rita": "host", "ada": "admin", "olga": "owner",
                                 "oscar": "op", "otto": "op"}


def test_bans_mutes_and_slow_mode_on_the_clock():
    clock = Clock()
    c = Community(clock=clock)
    c.claim("den", "olga")
    c.sanction("ban", "den", "Mallory", 600, "spam", "olga")
    assert "banned from #den for 10 minutes (spam)" in c.entry_refusal("mallory", "den")
    assert c.entry_refusal("mallory", "lobby") is None  # a room's ban is that room's
    clock.now += 599
    assert c.entry_refusal("MALLORY", "den") is not None
    clock.now += 1
    assert c.entry_refusal("mallory", "den") is None  # it lifted itself
    assert c.active("ban", "den", "mallory") is None

    c.sanction("ban", SERVER, "eve", None)
    assert "banned from this server for good" in c.login_refusal("Eve")

    c.sanction("mute", "den", "mia", 60)
    assert "muted in #den" in c.speech_refusal("mia", "den")
    assert c.speech_refusal("mia", "lobby") is None
    clock.now += 61
    assert c.speech_refusal("mia", "den") is None

    c.update_room("den", slow=10)
    assert c.speech_refusal("ned", "den") is None
    clock.now += 4
    assert "slow mode" in c.speech_refusal("ned", "den") and "wait 6 seconds" in \
        c.speech_refusal("ned", "den")
    assert c.speech_refusal("olga", "den") is None and c.speech_refusal("olga", "den") is None
    clock.now += 6
    assert c.speech_refusal("ned", "den") is None

    c.update_room("den", invite_only=True)
    assert "invite-only" in c.entry_refusal("ned", "den")
    c.invite("den", "Ned")
    assert c.entry_refusal("ned", "den") is None and c.entry_refusal("olga", "den") is None


def test_everything_kept_is_loaded_again(tmp_path):
    import sqlite3

    db = sqlite3.connect(str(tmp_path / "c.db"), isolation_level=None)
    clock = Clock()
    kept = CommunityStore(db)
    c = Community(kept, clock)
    c.set_admin("rita", HOST)
    c.claim("den", "olga")
    c.set_op("den", "oscar", True)
    c.sanction("ban", "den", "mallory", None, "spam", "olga")
    c.sanction("ban", "den", "brief", 5)
    c.update_room("den", topic="board games", invite_only=True, slow=3)
    c.invite("den", "ned")
    clock.now += 10
    again = kept.load(Community(kept, clock))
    assert again.rank("rita") == HOST and again.rank("oscar", "den") == OP
    assert again.rank("olga", "den") == OWNER
    assert again.active("ban", "den", "mallory") is not None
    assert again.active("ban", "den", "brief") is None  # expired while the server was down
    rules = again.rooms["den"]
    assert (rules.topic, rules.invite_only, rules.slow) == ("board games", True, 3)
    assert "ned" in rules.invited


# ---------------------------------------------------------------- in the hub, in memory


@pytest.fixture
def pair(tmp_path, make_store):
    """The community's rules in the hub, kept on each backend (SQLite, a real PostgreSQL)."""
    from gameserver.stores.pgcommunity import community_store_for

    p = Pair(tmp_path, store=make_store())
    p.clock = Clock()
    kept = community_store_for(p.store)
    p.community = CommunityHost.install(p.hub, Community(kept, p.clock), kept)
    yield p
    p.close()


def texts(user: User) -> list[str]:
    return [getattr(e, "text", "") or "" for e in user.events]


def test_owner_ops_kick_ban_and_the_ban_holds_on_the_account(pair):
    olga, oscar, mal = pair.user("olga"), pair.user("oscar"), pair.user("mal")
    assert olga.cmd("join", "den").TYPE == "ok"
    assert any("you own #den" in t for t in texts(olga))
    for u in (oscar, mal):
        u.cmd("join", "den")
    assert oscar.cmd("kick", "mal").code == "not_allowed"  # not an op yet
    assert olga.cmd("op", "oscar").TYPE == "ok"
    assert any(e.TYPE == "roles" and e.roles.get("oscar") == "op" for e in mal.events)
    assert "oscar [op]" in olga.cmd("who").lines
    assert oscar.cmd("kick", "olga").code == "not_allowed"  # the owner outranks an op
    assert oscar.cmd("kick", "mal calm down").TYPE == "ok"
    assert mal.session.room.name == "lobby"
    assert any("oscar kicked mal from #den (calm down)" in t for t in texts(olga))
    assert any("oscar kicked you from #den (calm down)" in t for t in texts(mal))
    assert mal.cmd("join", "den").TYPE == "ok"  # a kick is not a ban
    mal.cmd("nick", "innocent")
    assert oscar.cmd("ban", "innocent 1h spam").TYPE == "ok"  # by nick: on the account
    assert mal.session.room.name == "lobby"
    assert "banned from #den for 1 hour (spam)" in mal.cmd("join", "den").text
    # across a reconnect (a resume), and another door: still the account
    token = mal.token
    mal.drop()
    again = User(pair)
    assert again.resume(token).TYPE == "ok"
    assert again.cmd("join", "den").code == "refused"
    other_door = User(pair)
    other_door.session.door = MemoryDoor()
    other_door.send(Hello(version=1))
    other_door.request(Login(id=other_door.next_id(), user="MAL", password="pw"))
    assert other_door.cmd("join", "den").code == "refused"
    pair.clock.now += 3601
    assert other_door.cmd("join", "den").TYPE == "ok"  # the hour is up
    log = olga.cmd("modlog").lines
    assert any("oscar kick mal" in line for line in log)
    assert any("oscar ban mal" in line and "spam" in line for line in log)
    assert other_door.cmd("modlog").code == "not_allowed"  # ops and admins read it, not members


def test_server_ban_by_an_admin_refuses_login(pair):
    pair.community.first_admin("rita")
    root, eve = pair.user("rita"), pair.user("eve")
    assert eve.cmd("admin", "ban eve").code == "not_allowed"
    assert root.cmd("admin", "ban eve 10m trolling").TYPE == "ok"
    assert eve.closed and any(e.TYPE == "bye" and e.code == "banned" for e in eve.events)
    retry = User(pair)
    retry.send(Hello(version=1))
    reply = retry.request(Login(id=retry.next_id(), user="eve", password="pw"))
    assert reply.TYPE == "error" and reply.code == "banned"
    assert "banned from this server for 10 minutes (trolling)" in reply.text
    assert root.cmd("admin", "unban eve").TYPE == "ok"
    assert pair.user("eve")
    assert root.cmd("admin", "ban rita").code == "not_allowed"  # nobody acts on themself


def test_mute_slow_invite_topic_and_admins_over_ops(pair):
    pair.community.first_admin("rita")
    olga, ned, ada = pair.user("olga"), pair.user("ned"), pair.user("ada")
    root = pair.user("rita")
    olga.cmd("join", "den")
    ned.cmd("join", "den")
    assert olga.cmd("mute", "ned 5m").TYPE == "ok"
    assert "muted in #den" in ned.say("hello?").text
    assert ned.cmd("me", "waves").code == "muted"
    pair.clock.now += 301
    assert ned.say("back").TYPE == "ok"
    assert olga.cmd("slow", "30").TYPE == "ok"
    assert "slow mode" in ned.say("one").text  # "back" was only now
    pair.clock.now += 30
    assert ned.say("one").TYPE == "ok"
    assert "slow mode" in ned.say("two").text
    assert olga.say("ops are not slowed").TYPE == "ok" and olga.say("again").TYPE == "ok"
    assert olga.cmd("topic", "only board games").TYPE == "ok"
    assert ned.cmd("topic").text == "topic of #den: only board games"
    assert ned.cmd("topic", "mine now").code == "not_allowed"
    assert olga.cmd("mode", "+i").TYPE == "ok"
    assert ada.cmd("join", "den").code == "refused"
    assert olga.cmd("invite", "ada").TYPE == "ok"
    assert ada.cmd("join", "den").TYPE == "ok"
    assert root.cmd("join", "den").TYPE == "ok"  # admins go anywhere
    assert root.cmd("kick", "olga").TYPE == "ok"  # and outrank owners
    assert root.cmd("admin", "close den").TYPE == "ok"
    assert ada.session.room.name == "lobby" and ned.session.room.name == "lobby"
    assert "closed" in ned.cmd("join", "den").text
    assert root.cmd("admin", "grant ada").TYPE == "ok"
    assert ada.cmd("admin", "revoke rita").code == "not_allowed"  # the host outranks admins
    assert root.cmd("admin", "revoke ada").TYPE == "ok"
    assert ada.cmd("admin", "kick ned").code == "not_allowed"


def test_away_whois_reply_ignore_help_and_msg_to_a_nick(pair):
    ann, bob = pair.user("ann"), pair.user("bob")
    bob.cmd("nick", "Bobby")
    assert bob.cmd("away", "lunch").TYPE == "ok"
    reply = ann.cmd("msg", "Bobby hi")  # the nick Tab gives
    assert reply.TYPE == "ok" and "bob is away: lunch" in reply.lines
    assert bob.say("back now").TYPE == "ok"
    assert not ann.cmd("msg", "bob again").lines  # speaking ended the away
    assert bob.cmd("r", "hello ann").TYPE == "ok"
    assert any(e.TYPE == "pm" and e.text == "hello ann" for e in ann.events)
    who = ann.cmd("whois", "Bobby")
    assert who.data["whois"]["online"] and "in #lobby as Bobby" in who.lines[0]
    assert ann.cmd("whois", "nobody_here").code == "no_such_user"
    assert ann.cmd("ignore", "bob").data["ignores"] == ["bob"]
    later = pair.user("ann")  # ignores are kept: a new login is told them
    assert any(e.TYPE == "ok" and (e.data or {}).get("ignores") == ["bob"] for e in later.events)
    assert later.cmd("unignore", "bob").data["ignores"] == []
    assert later.cmd("help", "msg").text == "usage: /msg NICK|USER TEXT"
    assert later.cmd("help", "/kick").text.startswith("usage: /kick")
    assert later.cmd("help", "nope").code == "unknown_command"
    assert later.cmd("me", "waves").TYPE == "ok"
    assert any(e.TYPE == "room_msg" and e.text == "/me waves" for e in bob.events)


def test_password_change_and_account_deletion(pair):
    ann = pair.user("ann", "old")
    ann.say("something worth keeping")
    assert ann.cmd("password", secret="wrong\nnew").code == "bad_password"
    assert ann.cmd("password", secret="old\nnew").TYPE == "ok"
    ann2 = User(pair)
    ann2.send(Hello(version=1))
    assert ann2.request(Login(id=ann2.next_id(), user="ann", password="new")).TYPE == "ok"
    assert "type /deleteaccount ann" in ann2.cmd("deleteaccount").text
    assert ann2.cmd("deleteaccount", "ann").TYPE == "ok"
    assert ann2.closed
    assert pair.store.account_hash("ann") is None
    said = pair.store.room_scrollback("lobby", 10)
    assert [e.sender for e in said if e.text == "something worth keeping"] == [DELETED_USER]
    fresh = pair.user("ann", "another")  # the name is free again, with nothing of the old
    assert all(e["text"] != "something worth keeping" for e in fresh.cmd("history").entries)
    assert fresh.cmd("history").entries == []
