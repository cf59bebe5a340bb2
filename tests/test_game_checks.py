"""Before a secret is asked for, the server says whether the game could start; one invitation
per person at a time. The core in memory (tests/hubpair.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hubpair import Pair, User, pair_with_games

pair = pytest.fixture(pair_with_games, name="pair")


def checked(user: User, args: str) -> Any:
    return user.cmd("game", args, check=True)


def test_a_check_that_passes_does_nothing(pair: Any) -> None:
    pair, host = pair
    alice = pair.user("alice")
    reply = checked(alice, "hangman --secret")
    assert reply.TYPE == "ok" and reply.data == {"check": "ok"}, reply
    assert reply.text == "hangman can start in #lobby"
    assert not host.tables and not alice.of("game")  # nothing started


@pytest.mark.parametrize(("args", "code", "says"), [
    ("nosuchgame --secret", "no_such_game", "there is no game called 'nosuchgame'"),
    ("hangman --secret --nosuch", "usage", "hangman has no option --nosuch"),
    ("hangman --secret=walrus", "usage", "never typed in the line"),
    ("hangman bob --secret", "usage", "has one seat"),
    ("tictactoe bob --secret", "usage", "tictactoe has no option --secret"),
])
def test_a_check_refuses_what_the_game_itself_would(pair: Any, args: str, code: str,
                                                    says: str) -> None:
    pair, host = pair
    alice = pair.user("alice")
    reply = checked(alice, args)
    assert reply.TYPE == "error" and reply.code == code and says in reply.text, reply
    assert not host.tables


def test_a_check_sees_a_running_game_in_the_room(pair: Any) -> None:
    pair, host = pair
    alice, bob = pair.user("alice"), pair.user("bob")
    gid = alice.cmd("game", "hangman").data["game_id"]
    reply = checked(bob, "hangman --secret")
    assert reply.TYPE == "error" and reply.code == "game_running", reply
    assert f"already running here (game {gid})" in reply.text
    assert list(host.tables) == [gid]


def test_a_check_of_an_invitation_looks_at_the_opponent(pair: Any) -> None:
    pair, host = pair
    alice, bob = pair.user("alice"), pair.user("bob")
    assert checked(alice, "tictactoe bob").TYPE == "ok"
    assert checked(alice, "tictactoe nobody").code == "not_here"
    assert checked(alice, "tictactoe alice").code == "usage"
    assert not host.tables and not bob.of("notice", kind="game")  # nobody was invited


def test_only_commands_that_can_check_take_a_check(pair: Any) -> None:
    pair, _host = pair
    alice = pair.user("alice")
    pair.user("bob")
    reply = alice.cmd("nick", "Ally", check=True)
    assert reply.TYPE == "error" and reply.code == "cannot_check", reply
    assert alice.session.nick == "alice"  # not done
    reply = alice.cmd("all", "hi everyone", check=True)
    assert reply.code == "cannot_check" and not alice.of("bm")


def test_a_second_invitation_to_the_same_person_is_refused(pair: Any) -> None:
    pair, host = pair
    alice, bob, carol = pair.user("alice"), pair.user("bob"), pair.user("carol")
    gid = alice.cmd("game", "tictactoe bob").data["game_id"]
    for game in ("tictactoe", "connectfour", "c4"):  # any game
        reply = alice.cmd("game", f"{game} bob")
        assert reply.TYPE == "error" and reply.code == "already_invited", reply
        assert reply.text == (f"you already invited bob to tictactoe here (game {gid}); wait"
                              f" for bob to /accept or /decline it, or withdraw it with"
                              f" /resign {gid}")
    assert checked(alice, "connectfour bob").code == "already_invited"
    assert alice.cmd("game", "tictactoe carol").TYPE == "ok"  # someone else: fine
    assert bob.cmd("game", "tictactoe alice").TYPE == "ok"  # the other way round: fine
    assert len(host.tables) == 3
    assert bob.cmd("decline", str(gid)).TYPE == "ok"
    assert alice.cmd("game", "connectfour bob").TYPE == "ok"  # answered: may invite again
    del carol


def test_the_same_invitation_in_another_room_is_another_invitation(pair: Any) -> None:
    pair, _host = pair
    alice, bob = pair.user("alice"), pair.user("bob")
    assert alice.cmd("game", "tictactoe bob").TYPE == "ok"
    for user in (alice, bob):
        assert user.cmd("join", "den").TYPE == "ok"
    assert alice.cmd("game", "tictactoe bob", room="den").TYPE == "ok"


def test_a_rematch_offer_to_someone_already_invited_is_refused(pair: Any) -> None:
    pair, host = pair
    alice, bob = pair.user("alice"), pair.user("bob")
    gid = alice.cmd("game", "tictactoe bob").data["game_id"]
    assert bob.cmd("accept", str(gid)).TYPE == "ok"
    assert alice.cmd("resign", str(gid)).TYPE == "ok"
    assert alice.cmd("game", "connectfour bob").TYPE == "ok"
    reply = alice.cmd("rematch")
    assert reply.TYPE == "error" and reply.code == "already_invited", reply
    del host


def test_a_muted_person_starts_no_game_and_a_check_says_so(tmp_path: Any) -> None:
    from gameserver.communitystore import CommunityStore
    from gameserver.core.community import CommunityHost
    from gameserver.core.roles import Community

    pair = Pair(tmp_path)
    kept = CommunityStore(pair.store.db)
    CommunityHost.install(pair.hub, Community(kept), kept)
    host = pair.extend_games()
    try:
        olga, mal, bob = pair.user("olga"), pair.user("mal"), pair.user("bob")
        for user in (olga, mal, bob):
            assert user.cmd("join", "den").TYPE == "ok"
        assert olga.cmd("mute", "mal 1h", room="den").TYPE == "ok"
        for args in ("hangman --secret", "tictactoe bob", "hangman"):
            reply = mal.cmd("game", args, room="den", check=args.endswith("--secret"))
            assert reply.TYPE == "error" and reply.code == "muted", reply
            assert reply.text == "you are muted in #den for 1 hour"
        assert not host.tables
        assert mal.cmd("game", "hangman", room="lobby").TYPE == "ok"  # muted in #den only
        assert olga.cmd("unmute", "mal", room="den").TYPE == "ok"
        assert mal.cmd("game", "tictactoe bob", room="den").TYPE == "ok"
    finally:
        pair.close()
