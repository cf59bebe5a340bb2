"""Which extensions are asked about a room line: the game host only while it has a game
(in memory), its tables saying when they fill and empty whichever way they change."""

from __future__ import annotations

from typing import Any

import pytest
from hubpair import pair_with_games

from gameserver.core.gamehost import Tables

pair = pytest.fixture(pair_with_games, name="pair")


def test_tables_tell_when_they_fill_and_when_they_empty() -> None:
    told: list[bool] = []
    tables: Any = Tables(told.append)
    tables[1] = "a"
    tables[2] = "b"  # not empty before: nothing to tell
    assert told == [True]
    tables.pop(1)
    assert told == [True]
    tables.pop(2)
    tables.pop(3, None)  # absent, already empty
    assert told == [True, False]
    tables.setdefault(4, "c")
    tables.setdefault(4, "d")
    assert told == [True, False, True] and tables[4] == "c"
    del tables[4]
    assert told == [True, False, True, False]
    tables.update({5: "e", 6: "f"})
    tables.popitem()
    tables.popitem()
    assert told == [True, False, True, False, True, False]
    tables.update({7: "g"})
    tables.clear()
    tables.clear()
    assert told == [True, False, True, False, True, False, True, False]


def play(users: dict[str, Any], watcher: Any, gid: int, square: str) -> None:
    """Whoever's turn it is says `square`: it is played (the board the watcher sees has it)."""
    turn = watcher.of("game", game_id=gid)[-1].turn
    assert users[turn].say(square).TYPE == "ok"
    assert "X" in "".join(watcher.of("game", game_id=gid)[-1].board)


def test_the_game_host_hears_lines_only_while_it_has_a_game(pair: Any) -> None:
    pair, host = pair
    hooks = pair.hub.say_hooks
    alice, bob = pair.user("alice"), pair.user("bob")
    users = {"alice": alice, "bob": bob}
    assert host.on_say not in hooks.active and not host.tables
    assert alice.say("b2").TYPE == "ok" and bob.of("room_msg", text="b2")  # chat

    gid = alice.cmd("game", "tictactoe bob").data["game_id"]
    assert host.on_say in hooks.active  # an invitation is a table
    assert bob.cmd("accept", str(gid)).TYPE == "ok"
    seen = len(bob.of("room_msg", text="b2"))
    play(users, bob, gid, "b2")  # a move now, not a line
    assert len(bob.of("room_msg", text="b2")) == seen

    host.close(host.tables[gid])  # the board is taken off the screens: no game left
    assert host.on_say not in hooks.active
    assert alice.say("b2").TYPE == "ok" and len(bob.of("room_msg", text="b2")) == seen + 1

    again = alice.cmd("game", "tictactoe bob").data["game_id"]
    assert bob.cmd("accept", str(again)).TYPE == "ok"
    assert host.on_say in hooks.active
    play(users, bob, again, "a1")
    assert not bob.of("room_msg", text="a1")  # played again
