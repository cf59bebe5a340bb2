"""Connect four: rules, saving, the one-line description and the bot (pure, no server)."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from games import connectfour as c4
from games.base import IllegalMoveError, InvalidMoveError, Termination
from games.connectfour import ConnectFour
from games.registry import find_games, resolve


def played(*columns: int) -> ConnectFour:
    game = ConnectFour(["ann", "bob"])
    for col in columns:
        game.push(col, game.turn() or "")
    return game


def test_registered_through_the_entry_point_with_alias_c4() -> None:
    games = find_games()
    assert games["connectfour"] is ConnectFour
    assert resolve("c4", games) is ConnectFour and resolve("Connect4", games) is ConnectFour


def test_stones_drop_to_the_lowest_free_cell() -> None:
    game = played(4, 4, 3)
    assert game.grid()[-1] == "..XX..."
    assert game.grid()[-2] == "...O..."
    assert game.turn() == "bob"


@pytest.mark.parametrize("text", ["0", "8", "44", "a", "", " ", "four", "-1", "4.0", "٤"])
def test_parse_refuses_what_is_not_a_column(text: str) -> None:
    with pytest.raises(InvalidMoveError, match="not a connect four column"):
        ConnectFour(["ann", "bob"]).parse_move(text)


def test_parse_accepts_a_column_with_spaces() -> None:
    assert ConnectFour(["ann", "bob"]).parse_move(" 7 ") == 7


def test_a_full_column_and_the_wrong_turn_are_refused() -> None:
    game = played(1, 1, 1, 1, 1, 1)
    with pytest.raises(IllegalMoveError, match="column 1 is full"):
        game.push(1, "ann")
    with pytest.raises(IllegalMoveError, match="not your turn"):
        game.push(2, "bob")
    with pytest.raises(IllegalMoveError, match="not playing"):
        game.push(2, "eve")


@pytest.mark.parametrize(("columns", "line"), [
    ((1, 1, 2, 2, 3, 3, 4), "row"),
    ((5, 6, 5, 6, 5, 6, 5), "column"),
    ((1, 2, 2, 3, 4, 3, 3, 4, 4, 7, 4), "rising diagonal"),
    ((7, 6, 6, 5, 4, 5, 5, 4, 4, 1, 4), "falling diagonal"),
])
def test_four_in_a_row_wins(columns: tuple[int, ...], line: str) -> None:
    game = played(*columns)
    outcome = game.outcome()
    assert outcome is not None, line
    assert outcome.termination is Termination.WIN
    assert outcome.winners == ("ann",) and outcome.losers == ("bob",)
    assert game.turn() is None
    with pytest.raises(IllegalMoveError, match="over"):
        game.push(2, "bob")


def test_no_line_wraps_from_one_column_into_the_next() -> None:
    # Stones at the top of column 1 and the bottom of column 2 are not a line.
    game = played(1, 2, 1, 2, 1, 3, 2, 1, 3, 1, 3, 1)
    assert game.outcome() is None


def test_a_full_frame_is_a_draw() -> None:
    # Columns filled in the pattern 1 2 1 2 ... then shifted, so no four appears.
    order = [1, 2, 1, 2, 1, 2, 2, 1, 2, 1, 2, 1, 3, 4, 3, 4, 3, 4, 4, 3, 4, 3, 4, 3,
             5, 6, 5, 6, 5, 6, 6, 5, 6, 5, 6, 5, 7, 7, 7, 7, 7, 7]
    game = played(*order)
    outcome = game.outcome()
    assert outcome is not None and outcome.termination is Termination.DRAW


def test_describe_says_who_played_what_and_who_is_next() -> None:
    assert played().describe() == "new game; ann (X) to move"
    assert played(4, 4).describe() == (
        "bob played O in column 4 (row 2 from the bottom); ann (X) to move")
    won = played(1, 1, 2, 2, 3, 3, 4)
    assert won.describe().endswith("; ann wins with four in a row")


def test_render_is_ascii_within_40_columns() -> None:
    lines = played(4, 3, 4).render()
    assert lines[0] == " 1 2 3 4 5 6 7"
    assert "|. . . X . . .|" in lines and "|. . O X . . .|" in lines
    assert all(len(line) <= 40 and line.isascii() for line in lines)


def test_save_and_load_round_trip() -> None:
    game = played(4, 3, 4, 5)
    again = ConnectFour.from_json(game.to_json())
    assert again.grid() == game.grid() and again.turn() == game.turn()
    resigned = played(4)
    resigned.resign("bob")
    assert ConnectFour.from_json(resigned.to_json()).outcome() == resigned.outcome()


@pytest.mark.parametrize("bad", [{"moves": [8]}, {"moves": ["4"]}, {"moves": [1] * 7}])
def test_bad_saved_state_is_refused(bad: dict) -> None:
    data = {"game": "connectfour", "players": ["ann", "bob"], "ended": None, "state": bad}
    with pytest.raises(ValueError):
        ConnectFour.from_json(data)


# ---------------------------------------------------------------- the bot

def test_evaluation_prefers_open_threes_and_the_centre() -> None:
    centre = c4._cell(3, 0)
    edge = c4._cell(0, 0)
    assert c4.evaluate(centre, 0) > c4.evaluate(edge, 0)
    three = c4._cell(0, 0) | c4._cell(1, 0) | c4._cell(2, 0)
    two = c4._cell(0, 0) | c4._cell(1, 0)
    assert c4.evaluate(three, 0) > c4.evaluate(two, 0) > 0
    assert c4.evaluate(0, three) == -c4.evaluate(three, 0)
    blocked = three | c4._cell(3, 0)
    assert c4.evaluate(three, c4._cell(3, 0)) < c4.evaluate(blocked, 0)


def test_the_bot_sees_a_two_move_trap() -> None:
    # ann (X) has 2 and 3 on the bottom row with 1 and 4 free on both sides: playing 4
    # (or 1... only 4 leaves both ends open) makes two threats at once.
    game = played(2, 2, 3, 3)
    move = game.bot_move(random.Random(0))
    assert move in (1, 4)
    game.push(move, "ann")
    game.push(game.bot_move(random.Random(0)), "bob")
    game.push(game.bot_move(random.Random(0)), "ann")
    outcome = game.outcome()
    assert outcome is not None and outcome.winners == ("ann",)


def test_the_bot_stops_when_told_and_still_moves() -> None:
    started = time.monotonic()
    move = ConnectFour(["ann", "bob"]).bot_move(
        random.Random(0), stop=lambda: time.monotonic() - started > 0.2)
    assert move in range(1, 8)
    assert time.monotonic() - started < 2.0
    # A stop that is already true still leaves a legal move (the depth-1 answer is kept
    # only if finished; otherwise any legal column, never None).
    assert played(4, 4).bot_move(random.Random(0), stop=lambda: True) in range(1, 8)


def test_the_bot_never_loses_to_a_random_player() -> None:
    rng = random.Random(7)
    for first in (True, False):
        game = ConnectFour(["bot", "rand"] if first else ["rand", "bot"])
        while not game.is_over:
            if game.turn() == "bot":
                move = game.bot_move(rng)
            else:
                move = rng.choice([c for c in range(1, 8) if game.grid()[0][c - 1] == "."])
            game.push(move, game.turn() or "")
        outcome = game.outcome()
        assert outcome is not None and outcome.winners == ("bot",)


positions = st.lists(st.integers(min_value=1, max_value=7), min_size=0, max_size=40)


def random_position(columns: list[int]) -> ConnectFour:
    """Play the given columns, skipping full ones, and stop before the game ends."""
    game = ConnectFour(["ann", "bob"])
    for col in columns:
        try:
            game.check_move(col, game.turn() or "")
        except IllegalMoveError:
            continue
        game.apply_move(col, game.turn() or "")
        if game.is_over:
            game._moves.pop()
            side = len(game._moves) % 2
            game._heights[col - 1] -= 1
            game._stones[side] &= ~c4._cell(col - 1, game._heights[col - 1])
            break
    return game


def winning_columns(game: ConnectFour, side: int) -> list[int]:
    wins = []
    for col in range(1, 8):
        if game._heights[col - 1] < c4.ROWS:
            bit = c4._cell(col - 1, game._heights[col - 1])
            if c4.four_in_a_row(game._stones[side] | bit):
                wins.append(col)
    return wins


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(columns=positions, seed=st.integers(0, 2**32 - 1))
def test_the_bot_never_misses_a_win_in_one_nor_a_block(columns: list[int], seed: int) -> None:
    game = random_position(columns)
    if game.is_over:
        return
    side = len(game.moves) % 2
    move = game.bot_move(random.Random(seed))
    assert move is not None
    mine, theirs = winning_columns(game, side), winning_columns(game, 1 - side)
    if mine:
        assert move in mine, (game.grid(), move)
    elif len(theirs) == 1:
        assert move == theirs[0], (game.grid(), move)
    # Whatever it plays is legal.
    game.push(move, game.turn() or "")


def test_every_builtin_game_describes_its_position_in_one_line() -> None:
    import random as random_

    from games.hangman import Hangman
    from games.tictactoe import TicTacToe

    ttt = TicTacToe(["bob", "carol"])
    assert ttt.describe() == "new game; bob (X) to move"
    ttt.play("b2", "bob")
    assert ttt.describe() == "bob played X at b2; carol (O) to move"
    hang = Hangman.new(["ann"], random_.Random(1), {"secret": "apple"})
    assert hang.describe() == "new game; the word: _ _ _ _ _ (5 letters); 6 wrong guesses left"
    hang.play("p", "bob")
    hang.play("z", "cy")
    assert hang.describe() == ("cy guessed letter 'z' (wrong); the word: _ p p _ _;"
                               " 5 wrong guesses left")
    hang.push("apple", "bob")
    assert hang.describe().startswith("bob guessed the word 'apple' (right); the word: a p p l e")
    for game in (ttt, hang, played(4, 4)):
        assert "\n" not in game.describe()


def test_the_level_option_and_the_drop_command_are_declared() -> None:
    assert [o.name for o in ConnectFour.options] == ["level"]
    assert [(c.name, c.parse) for c in ConnectFour.commands] == [("drop", "parse_move")]
    easy = ConnectFour.new(["ann", "(bot)"], random.Random(0), {"level": "Easy"})
    assert easy.level == "easy" and ConnectFour.from_json(easy.to_json()).level == "easy"
    assert ConnectFour.new(["ann", "(bot)"], random.Random(0)).level == "hard"
    with pytest.raises(ValueError, match="easy or hard, not 'medium'"):
        ConnectFour.new(["ann", "(bot)"], random.Random(0), {"level": "medium"})
    with pytest.raises(ValueError, match="unknown connect four option"):
        ConnectFour.new(["ann", "(bot)"], random.Random(0), {"colour": "red"})
    # The easy bot still never misses a win in one (that comes before any search).
    for col in (1, 2, 1, 2, 3, 2, 5):
        easy.push(col, easy.turn() or "")
    assert easy.turn() == "(bot)" and easy.bot_move(random.Random(0)) == 2
