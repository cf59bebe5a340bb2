"""Replays of stored games, /games recent, and ratings from stored results (/top, restarts)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import logged_in, run, running_server
from memhub import Client, make_world

from games.connectfour import ConnectFour
from games.tictactoe import TicTacToe
from gameserver.core.gamehost import GameHost
from gameserver.core.replays import replay_steps


@pytest.fixture
def world(tmp_path: Any) -> Any:
    yield from make_world(tmp_path)


def test_replay_steps_rebuild_every_position(world: Any) -> None:
    hub, host, _ = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = alice.command("game", "c4 bob")["data"]["game_id"]
    bob.command("accept")
    for text, who in [("4", alice), ("3", bob), ("4", alice), ("3", bob), ("4", alice),
                      ("3", bob), ("4", alice)]:
        assert who.say(text)["type"] == "ok"
    room, over, saved = hub.store.saved_game(gid)
    assert over and room == "lobby"
    steps = replay_steps(ConnectFour, saved)
    assert len(steps) == 8
    assert steps[0].text == "new game; alice (X) to move"
    assert steps[1].text.startswith("alice played X in column 4")
    assert steps[-1].status == "alice wins with four in a row"
    # Each position is the game's own rendering after that many moves.
    replayed = ConnectFour(["alice", "bob"])
    for n, col in enumerate([4, 3, 4], 1):
        replayed.push(col, replayed.turn() or "")
        assert steps[n].board == replayed.render()


def test_a_resigned_game_replays_to_its_resignation(world: Any) -> None:
    hub, host, _ = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = alice.command("game", "tictactoe bob")["data"]["game_id"]
    bob.command("accept")
    alice.say("b2")
    bob.command("resign")
    steps = replay_steps(TicTacToe, hub.store.saved_game(gid)[2])
    assert [s.text for s in steps] == ["new game; alice (X) to move",
                                       "alice played X at b2; bob (O) to move",
                                       "bob resigns - alice wins"]


def test_replay_command_and_recent_games(world: Any) -> None:
    hub, host, _ = world
    alice, bob, eve = Client(hub, "alice"), Client(hub, "bob"), Client(hub, "eve")
    gid = alice.command("game", "tictactoe bob")["data"]["game_id"]
    bob.command("accept")
    for text, who in [("a1", alice), ("b1", bob), ("a2", alice), ("b2", bob), ("a3", alice)]:
        who.say(text)
    live = alice.command("game", "tictactoe bob")["data"]["game_id"]
    assert alice.command("replay", str(live))["code"] == "not_over"
    reply = bob.command("replay", str(gid))
    assert reply["type"] == "ok" and reply["text"] == f"replay of game {gid} (tictactoe," \
        " alice vs bob):"
    assert reply["lines"][0] == "  0. new game; alice (X) to move"
    assert reply["lines"][5] == "  5. alice played X at a3; alice wins with a1-a2-a3"
    assert len(reply["data"]["replay"]["steps"]) == 6
    recent = eve.command("games", "recent")
    assert recent["lines"][0].startswith(f"game {gid} tictactoe: alice vs bob -"
                                         " alice wins with a1-a2-a3, 5 moves")
    # Someone elsewhere who did not play cannot replay the room's game; a player can.
    eve.command("join", "den")
    eve.command("part", "lobby")
    assert eve.command("replay", str(gid))["code"] == "other_room"
    assert eve.command("games", "recent")["text"] == "no finished games in #den yet"
    bob.command("join", "den")
    assert bob.command("replay", str(gid))["type"] == "ok"
    assert bob.command("replay", "999")["code"] == "no_such_game"
    assert bob.command("replay", "x")["code"] == "usage"


def test_ratings_top_and_a_recompute_agree(world: Any) -> None:
    hub, host, _ = world
    ann, bob, cy = Client(hub, "ann"), Client(hub, "bob"), Client(hub, "cy")

    def game(x: Client, o: Client, moves: list[str]) -> None:
        x.command("game", f"tictactoe {o.session.user}")
        o.command("accept")
        for n, text in enumerate(moves):
            assert (x if n % 2 == 0 else o).say(text)["type"] == "ok"

    x_wins = ["a1", "b1", "a2", "b2", "a3"]
    game(ann, bob, x_wins)
    game(ann, cy, x_wins)
    game(bob, cy, x_wins)
    game(ann, bob, ["b2", "a1", "a3", "c1", "b1", "b3", "c2", "a2", "c3"])  # not a win: check
    top = bob.command("top", "ttt")
    assert top["text"] == "tictactoe leaderboard:"
    order = [row["user"] for row in top["data"]["top"]]
    assert order == ["ann", "bob", "cy"]
    assert top["lines"][0].startswith(" 1. ann ")
    stats = bob.command("stats", "ann")
    assert "rating" in stats["lines"][0] and "after 3 rated" in stats["lines"][0]
    before = {u: hub.store.ratings_of(u) for u in ("ann", "bob", "cy")}
    assert host.recompute_ratings() == 4
    assert {u: hub.store.ratings_of(u) for u in ("ann", "bob", "cy")} == before
    # Bot games and abandoned games do not count.
    ann.command("game", "tictactoe bot")
    ann.command("resign")
    ann.command("game", "tictactoe bob")
    bob.command("accept")
    bob.command("resign")  # before any move: abandoned
    assert hub.store.ratings_of("ann")["tictactoe"][3] == 3
    assert bob.command("top", "hangman")["code"] == "not_rated"
    assert bob.command("top", "ttt 0")["code"] == "usage"
    assert bob.command("top", "chess")["code"] == "no_such_game"


def test_ratings_and_replays_survive_a_restart(tmp_path: Any) -> None:
    async def body() -> None:
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            bob = await logged_in(server.port, "bob")
            gid = (await ann.command("game", "c4 bob"))["data"]["game_id"]
            await bob.command("accept")
            for n, col in enumerate("4343434"):
                reply = await (ann if n % 2 == 0 else bob).say(col)
                assert reply["type"] == "ok", reply
            await ann.expect("game", game_id=gid, where=lambda f: f["over"])
            before = (await ann.command("top", "c4"))["data"]["top"]
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            top = await ann.command("top", "connectfour")
            assert top["data"]["top"] == before and top["data"]["top"][0]["user"] == "ann"
            replay = await ann.command("replay", str(gid))
            assert len(replay["data"]["replay"]["steps"]) == 8
            host = next(e for e in server.hub.extensions if isinstance(e, GameHost))
            assert host.recompute_ratings() == 1
            assert (await ann.command("top", "c4"))["data"]["top"] == before
    run(body())


def test_tictactoe_and_connect_four_in_one_room_route_digits(world: Any) -> None:
    """'4' is square a2 in tic-tac-toe and column 4 in connect four: legality decides."""
    hub, host, _ = world
    ann, bob, cy = Client(hub, "ann"), Client(hub, "bob"), Client(hub, "cy")
    ttt = ann.command("game", "tictactoe bob")["data"]["game_id"]
    bob.command("accept", str(ttt))
    c4 = cy.command("game", "c4 ann")["data"]["game_id"]
    ann.command("accept", str(c4))
    # ann is to move in ttt (X) and not in c4 (cy is X there): "4" goes to ttt.
    assert ann.say("4")["type"] == "ok"
    assert ann.last_state(ttt)["text"] == "ann played X at a2; bob (O) to move"
    assert cy.say("4")["type"] == "ok"  # cy plays only c4
    # Now ann is to move in c4 only: "5" is column 5 there (ttt is bob's turn).
    assert ann.say("5")["type"] == "ok"
    assert ann.last_state(c4)["text"].startswith("ann played O in column 5")
    bob.say("5")  # bob: b2 in ttt
    cy.say("1")  # cy: column 1 in c4; now ann may move in both games
    reply = ann.say("3")
    assert reply["type"] == "error" and reply["code"] == "which_game"
    assert "/move ID 3" in reply["text"]
    assert ann.command("move", f"{c4} 3")["type"] == "ok"
    assert ann.last_state(c4)["text"].startswith("ann played")
    # Chat that is no move in either game stays chat.
    assert ann.say("4 in a row soon")["type"] == "ok"
    assert ann.last_state(c4)["turn"] == "cy"


def test_connect_four_declares_drop_and_level(world: Any) -> None:
    hub, host, _ = world
    ann = Client(hub, "ann")
    gid = ann.command("game", "c4 bot --level=easy")["data"]["game_id"]
    assert host.tables[gid].game.level == "easy"
    assert ann.command("drop", "4")["type"] == "ok"
    state = ann.last_state(gid)
    assert state["turn"] == "ann" and state["board"][6].count("X") == 1
    assert ann.command("drop", "9")["code"] == "bad_move"
    assert ann.command("game", "c4 bot --level=medium")["code"] == "bad_option"
