"""Finished boards: not re-sent at every login (the core, in memory); gone from the client's
board pane a minute after the end (the pure model, on an injected clock)."""

from __future__ import annotations

from typing import Any

import pytest
from hubpair import Pair, pair_with_games

pair = pytest.fixture(pair_with_games, name="pair")


def finished_game(pair: Pair) -> int:
    alice, bob = pair.user("alice"), pair.user("bob")
    gid = alice.cmd("game", "tictactoe bob").data["game_id"]
    assert bob.cmd("accept", str(gid)).TYPE == "ok"
    assert alice.cmd("resign", str(gid)).TYPE == "ok"
    return gid


def test_a_login_gets_live_games_and_the_last_result_as_a_line(pair: Any) -> None:
    pair, host = pair
    live = pair.user("carol").cmd("game", "hangman").data["game_id"]
    gid = finished_game(pair)
    assert host.tables[gid].over  # still on the screens of those who watched it
    dave = pair.user("dave")
    boards = dave.of("game")
    assert [b.game_id for b in boards] == [live], boards  # the finished one is not sent
    said = [n.text for n in dave.of("notice", kind="game")]
    assert f"the last game here: game {gid} (tictactoe) is over: alice resigns - bob wins" \
        in said, said


def test_a_resume_does_not_bring_finished_boards_back(pair: Any) -> None:
    pair, _host = pair
    gid = finished_game(pair)
    erin = pair.user("erin")
    assert not erin.of("game", game_id=gid)
    erin.drop()
    again = pair.connect()
    assert again.resume(erin.token).TYPE == "ok"
    assert not again.of("game", game_id=gid)
    assert any(f"game {gid}" in n.text for n in again.of("notice", kind="game"))


def test_board_still_shows_a_finished_board_on_request(pair: Any) -> None:
    pair, _host = pair
    gid = finished_game(pair)
    frank = pair.user("frank")
    assert frank.cmd("board").text == "1 game in #lobby"
    assert [b.game_id for b in frank.of("game")] == [gid]
    assert frank.of("game")[-1].over


# ---------------------------------------------------------------- the client's board pane


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_a_finished_board_leaves_the_pane_after_a_minute() -> None:
    from gameclient.boards import FINISHED_SHOWN
    from gameclient.model import ClientModel
    from gameserver.protocol import GameState

    clock = Clock()
    model = ClientModel(user="ann", nick="ann", room="lobby", now=clock, draws_boards=True)

    def board(game_id: int, over: bool) -> GameState:
        return GameState(game_id=game_id, game="tictactoe", room="lobby", players=["ann", "ben"],
                         turn=None if over else "ann", board=["a b c"], status="", over=over)

    model.apply(board(1, over=False))
    model.apply(board(2, over=False))
    clock.now += 3600  # a live board stays however long it waits
    assert [g.game_id for g in model.shown_games()] == [1, 2]
    model.apply(board(1, over=True))
    assert model.ticking()  # the screen is redrawn until the finished board has gone
    clock.now += FINISHED_SHOWN - 1
    assert [g.game_id for g in model.shown_games()] == [1, 2]
    clock.now += 1
    assert [g.game_id for g in model.shown_games()] == [2]
    model.apply(board(1, over=True))  # /board shows it again: another minute
    assert [g.game_id for g in model.shown_games()] == [1, 2]
