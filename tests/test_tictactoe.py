"""Tests for games.tictactoe: notation, every win line, draws, illegal moves, the bot."""

from __future__ import annotations

import json
import random

import pytest

from games.base import IllegalMoveError, InvalidMoveError, Outcome, Termination
from games.tictactoe import LINES, SQUARES, TicTacToe

PLAYERS = ("alice", "bob")


def new_game() -> TicTacToe:
    return TicTacToe.new(list(PLAYERS), random.Random(0))


def play_all(game: TicTacToe, squares: list[str]) -> None:
    for square in squares:
        game.play(square, game.turn())


def test_metadata() -> None:
    assert TicTacToe.name == "tictactoe" and "ttt" in TicTacToe.aliases
    assert TicTacToe.seats == 2 and TicTacToe.open_play is False and TicTacToe.supports_bot


@pytest.mark.parametrize(
    ("text", "square"),
    [
        ("a1", "a1"),
        ("B2", "b2"),
        ("  c3 \n", "c3"),
        ("C1", "c1"),
        ("1", "a1"),
        ("2", "b1"),
        ("3", "c1"),
        ("4", "a2"),
        ("5", "b2"),
        ("6", "c2"),
        ("7", "a3"),
        ("8", "b3"),
        (" 9 ", "c3"),
    ],
)
def test_both_notations(text: str, square: str) -> None:
    assert new_game().parse_move(text) == square


@pytest.mark.parametrize("text", ["d1", "a4", "0", "10", "hello", "", "a", "1a", "b 2", "a0"])
def test_not_a_move(text: str) -> None:
    game = new_game()
    with pytest.raises(InvalidMoveError, match=repr(text).replace("\\", "\\\\")):
        game.parse_move(text)
    with pytest.raises(InvalidMoveError):
        game.play(text, "alice")
    assert game.moves == ()


def _filler(line: tuple[int, int, int], count: int) -> list[str]:
    """Squares off `line` that never make three in a row for the other side."""
    off = [SQUARES[i] for i in range(9) if i not in line]
    for combo in _combos(off, count):
        if not any(set(lx) <= {SQUARES.index(s) for s in combo} for lx in LINES):
            return combo
    raise AssertionError("no filler")


def _combos(items: list[str], count: int) -> list[list[str]]:
    if count == 0:
        return [[]]
    return [
        [items[i], *rest] for i in range(len(items)) for rest in _combos(items[i + 1 :], count - 1)
    ]


@pytest.mark.parametrize("line", LINES)
@pytest.mark.parametrize("winner", ["X", "O"])
def test_every_win_line(line: tuple[int, int, int], winner: str) -> None:
    mine = [SQUARES[i] for i in line]
    theirs = _filler(line, 3 if winner == "O" else 2)
    if winner == "X":
        order = [mine[0], theirs[0], mine[1], theirs[1], mine[2]]
    else:
        order = [theirs[0], mine[0], theirs[1], mine[1], theirs[2], mine[2]]
    game = new_game()
    play_all(game, order)
    name = PLAYERS[0] if winner == "X" else PLAYERS[1]
    other = PLAYERS[1] if winner == "X" else PLAYERS[0]
    assert game.outcome() == Outcome(
        termination=Termination.WIN,
        winners=(name,),
        losers=(other,),
        summary=f"{name} wins with {'-'.join(mine)}",
    )
    assert game.is_over and game.turn() is None and game.status() == game.outcome().summary


def test_draw() -> None:
    game = new_game()
    play_all(game, ["a1", "b1", "c1", "b2", "a2", "c2", "b3", "a3", "c3"])
    assert game.outcome() == Outcome(termination=Termination.DRAW, summary="draw")
    assert game.status() == "draw"


def test_win_on_last_square_is_a_win_not_a_draw() -> None:
    game = new_game()
    play_all(game, ["a1", "b1", "b2", "c1", "a3", "a2", "b3", "c2", "c3"])
    assert game.outcome().termination is Termination.WIN
    assert game.outcome().winners == ("alice",)


@pytest.mark.parametrize(
    ("setup", "text", "player", "message"),
    [
        (["b2"], "b2", "bob", "b2 is taken"),
        (["b2"], "5", "bob", "b2 is taken"),
        ([], "a1", "bob", "not your turn"),
        (["a1"], "b1", "alice", "not your turn"),
        ([], "a1", "carol", "you are not playing in this game"),
        (["a1", "b1", "a2", "b2", "a3"], "c3", "bob", "the game is over"),
    ],
)
def test_illegal_moves(setup: list[str], text: str, player: str, message: str) -> None:
    game = new_game()
    play_all(game, setup)
    before = game.to_json()
    with pytest.raises(IllegalMoveError, match=f"^{message}$"):
        game.play(text, player)
    assert game.to_json() == before


def test_status_and_render() -> None:
    game = new_game()
    assert game.status() == "alice (X) to move"
    game.play("b2", "alice")
    assert game.status() == "bob (O) to move"
    game.play("1", "bob")
    lines = game.render()
    assert lines[0].split() == ["a", "b", "c"]
    assert lines[1].split()[0] == "1" and "O" in lines[1]
    assert lines[3].split()[0] == "2" and "X" in lines[3]
    assert any("X: alice" in line for line in lines)
    for line in lines:
        assert len(line) <= 40 and line.isascii() and "\t" not in line and "\x1b" not in line


def test_render_truncates_long_names() -> None:
    game = TicTacToe.new(["a" * 60, "b"], random.Random(0))
    assert all(len(line) <= 40 for line in game.render())


def test_resign() -> None:
    game = new_game()
    game.play("a1", "alice")
    game.resign("alice")
    assert game.outcome() == Outcome(
        termination=Termination.RESIGN,
        winners=("bob",),
        losers=("alice",),
        summary="alice resigns - bob wins",
    )


def test_json_round_trip_mid_game() -> None:
    game = new_game()
    play_all(game, ["b2", "a1", "c3"])
    data = json.loads(json.dumps(game.to_json()))
    copy = TicTacToe.from_json(data)
    assert copy.board == game.board and copy.turn() == "bob" and copy.players == PLAYERS
    assert copy.render() == game.render() and copy.to_json() == game.to_json()
    copy.play("c1", "bob")
    assert game.moves == ("b2", "a1", "c3")


def _bot_never_loses(bot_seat: int, seed: int) -> int:
    """Play every opponent reply against the bot; return the number of finished games."""
    finished = 0
    stack = [new_game()]
    while stack:
        game = stack.pop()
        outcome = game.outcome()
        if outcome is not None:
            assert PLAYERS[bot_seat] not in outcome.losers, game.moves
            finished += 1
            continue
        if game.turn() == PLAYERS[bot_seat]:
            rng = random.Random(f"{seed}:{game.moves}")
            game.push(game.bot_move(rng), game.turn())
            stack.append(game)
        else:
            for square in SQUARES:
                if square in game.moves:
                    continue
                child = TicTacToe.from_json(game.to_json())
                child.push(square, child.turn())
                stack.append(child)
    return finished


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("bot_seat", [0, 1])
def test_bot_never_loses(bot_seat: int, seed: int) -> None:
    assert _bot_never_loses(bot_seat, seed) > 0


def test_bot_takes_a_win_and_blocks() -> None:
    game = new_game()
    play_all(game, ["a1", "b2", "b1"])  # O must block c1
    assert game.bot_move(random.Random(1)) == "c1"
    play_all(game, ["c1", "a2"])  # O wins at a3 (c1-b2-a3), which also blocks X
    assert game.bot_move(random.Random(1)) == "a3"
    game = new_game()
    play_all(game, ["a1", "b1", "a2", "b2"])  # X wins at a3 rather than anything else
    assert game.bot_move(random.Random(1)) == "a3"


def test_bot_uses_rng_among_equal_moves() -> None:
    openings = {new_game().bot_move(random.Random(seed)) for seed in range(40)}
    assert len(openings) > 1


def test_bot_move_none_when_over() -> None:
    game = new_game()
    game.resign("bob")
    assert game.bot_move(random.Random(0)) is None
