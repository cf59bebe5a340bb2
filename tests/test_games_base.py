"""Tests for the shared game API in games.base, using a tiny in-test game."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any, Self

import pytest

from games.base import (
    Game,
    GameError,
    IllegalMoveError,
    InvalidMoveError,
    Outcome,
    Termination,
)


class Race(Game):
    """Players take turns adding 1 or 2; whoever reaches 5 wins."""

    name = "race"
    description = "Reach 5 first."
    how_to_play = "Type 1 or 2."
    seats = 2

    def __init__(self, players: Any) -> None:
        super().__init__(players)
        self.total = 0
        self.moves: list[int] = []

    def parse_move(self, text: str) -> int:
        if text.strip() not in ("1", "2"):
            raise InvalidMoveError(f"not a race move: {text!r}")
        return int(text)

    def turn(self) -> str | None:
        return None if self.is_over else self.players[len(self.moves) % 2]

    def check_rules(self, move: Any, player: str) -> None:
        if self.total + move > 5:
            raise IllegalMoveError("overshoots 5")

    def apply_move(self, move: Any, player: str) -> None:
        self.moves.append(move)
        self.total += move

    def result(self) -> Outcome | None:
        if self.total < 5:
            return None
        winner = self.players[(len(self.moves) - 1) % 2]
        loser = next(p for p in self.players if p != winner)
        return Outcome(
            termination=Termination.WIN,
            winners=(winner,),
            losers=(loser,),
            summary=f"{winner} wins",
        )

    def render(self) -> list[str]:
        return [f"total {self.total}"]

    def dump_state(self) -> dict[str, Any]:
        return {"moves": self.moves}

    @classmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        game = cls(players)
        for move in state["moves"]:
            game.push(move, game.turn())
        return game


def new_race() -> Race:
    return Race.new(["alice", "bob"], random.Random(0))


def test_errors_are_value_errors() -> None:
    assert issubclass(InvalidMoveError, GameError)
    assert issubclass(IllegalMoveError, GameError)
    assert issubclass(GameError, ValueError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"termination": "win", "winners": ("a",), "summary": "a wins"},
        {"termination": Termination.WIN, "winners": ["a"], "summary": "a wins"},
        {"termination": Termination.WIN, "winners": ("",), "summary": "x"},
        {"termination": Termination.WIN, "winners": ("a", "a"), "summary": "x"},
        {"termination": Termination.WIN, "winners": ("a",), "losers": ("a",), "summary": "x"},
        {"termination": Termination.WIN, "summary": "nobody"},
        {"termination": Termination.DRAW, "winners": ("a",), "summary": "draw"},
        {"termination": Termination.DRAW, "summary": ""},
        {"termination": Termination.DRAW, "summary": "two\nlines"},
    ],
)
def test_outcome_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(GameError):
        Outcome(**kwargs)


def test_outcome_json_round_trip() -> None:
    outcome = Outcome(
        termination=Termination.RESIGN, winners=("a",), losers=("b",), summary="b resigns - a wins"
    )
    assert Outcome.from_json(json.loads(json.dumps(outcome.to_json()))) == outcome
    with pytest.raises(GameError):
        Outcome.from_json({"termination": "nope"})


@pytest.mark.parametrize(
    "players",
    [["alice"], ["alice", "bob", "carol"], ["alice", "alice"], ["alice", ""], "ab"],
)
def test_bad_players(players: Any) -> None:
    with pytest.raises(GameError):
        Race.new(players, random.Random(0))


def test_default_new_rejects_options() -> None:
    with pytest.raises(GameError, match="takes no options"):
        Race.new(["a", "b"], random.Random(0), {"speed": "fast"})


def test_play_turns_and_outcome() -> None:
    game = new_race()
    assert game.turn() == "alice" and game.status() == "alice to move"
    for text, player in [("2", "alice"), ("2", "bob"), ("1", "alice")]:
        game.play(text, player)
    assert game.is_over and game.turn() is None
    assert game.outcome() == Outcome(
        termination=Termination.WIN, winners=("alice",), losers=("bob",), summary="alice wins"
    )
    assert game.status() == "alice wins"


@pytest.mark.parametrize(
    ("setup", "text", "player", "error", "message"),
    [
        ([], "3", "alice", InvalidMoveError, "'3'"),
        ([], "1", "bob", IllegalMoveError, "not your turn"),
        ([], "1", "mallory", IllegalMoveError, "you are not playing in this game"),
        (["2", "2"], "2", "alice", IllegalMoveError, "overshoots 5"),
        (["2", "2", "1"], "1", "bob", IllegalMoveError, "the game is over"),
    ],
)
def test_illegal_moves(
    setup: list[str], text: str, player: str, error: type[Exception], message: str
) -> None:
    game = new_race()
    for move in setup:
        game.play(move, game.turn())
    before = game.to_json()
    with pytest.raises(error, match=message):
        game.play(text, player)
    assert game.to_json() == before


@pytest.mark.parametrize(
    ("method", "termination", "summary"),
    [
        ("resign", Termination.RESIGN, "bob resigns - alice wins"),
        ("forfeit", Termination.FORFEIT, "bob ran out of time - alice wins"),
    ],
)
def test_resign_and_forfeit(method: str, termination: Termination, summary: str) -> None:
    game = new_race()
    with pytest.raises(IllegalMoveError, match="not playing"):
        getattr(game, method)("mallory")
    getattr(game, method)("bob")
    assert game.outcome() == Outcome(
        termination=termination, winners=("alice",), losers=("bob",), summary=summary
    )
    assert game.is_over and game.turn() is None
    with pytest.raises(IllegalMoveError, match="the game is over"):
        game.resign("alice")
    with pytest.raises(IllegalMoveError, match="the game is over"):
        game.play("1", "alice")


def test_json_round_trip_keeps_resignation() -> None:
    game = new_race()
    game.play("2", "alice")
    game.resign("alice")
    data = json.loads(json.dumps(game.to_json()))
    copy = Race.from_json(data)
    assert copy.outcome() == game.outcome()
    assert copy.to_json() == game.to_json()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"game": "other", "players": ["a", "b"], "ended": None, "state": {"moves": []}},
        {"game": "race", "players": ["a"], "ended": None, "state": {"moves": []}},
        {"game": "race", "players": ["a", "b"], "ended": None},
        {"game": "race", "players": ["a", "b"], "ended": None, "state": {"moves": [9]}},
    ],
)
def test_from_json_rejects_bad_data(data: dict[str, Any]) -> None:
    with pytest.raises(GameError):
        Race.from_json(data)


def test_defaults() -> None:
    game = new_race()
    assert Race.aliases == () and Race.open_play is False and Race.supports_bot is False
    assert game.bot_move(random.Random(0)) is None
    assert game.players == ("alice", "bob")
    assert repr(game).startswith("<Race players=")


@pytest.mark.parametrize("player", ["", None])
def test_bad_player_name_is_refused(player: Any) -> None:
    with pytest.raises(IllegalMoveError, match="not a player name"):
        new_race().play("1", player)


def test_from_json_rejects_string_players() -> None:
    data = new_race().to_json()
    data["players"] = "ab"
    with pytest.raises(GameError, match="players"):
        Race.from_json(data)
