"""Tests for games.registry: built-ins and third-party games found via entry points."""

from __future__ import annotations

import importlib
import logging
import random
import sys
import textwrap
from pathlib import Path

import pytest

from games.base import Game
from games.registry import GROUP, find_games, resolve

PLUGIN = "coinflip_plugin_for_tests"

PLUGIN_SOURCE = '''
"""A one-seat third-party game used by the registry tests."""

from __future__ import annotations

from games.base import Game, InvalidMoveError, Outcome, Termination


class CoinFlip(Game):
    name = "coinflip"
    aliases = ("coin",)
    description = "Call the coin."
    how_to_play = "Type heads or tails."
    seats = 1

    def __init__(self, players, coin="heads"):
        super().__init__(players)
        self.coin = coin
        self.call = None

    @classmethod
    def new(cls, players, rng, options=None):
        return cls(players, rng.choice(["heads", "tails"]))

    def parse_move(self, text):
        call = text.strip().lower()
        if call not in ("heads", "tails"):
            raise InvalidMoveError(f"not a call: {text!r}")
        return call

    def apply_move(self, move, player):
        self.call = move

    def result(self):
        if self.call is None:
            return None
        player = self.players[0]
        won = self.call == self.coin
        return Outcome(termination=Termination.WIN, winners=(player,) if won else (),
                       losers=() if won else (player,), summary=f"it was {self.coin}")

    def render(self):
        return ["?" if self.call is None else self.coin]

    def dump_state(self):
        return {"coin": self.coin, "call": self.call}

    @classmethod
    def load_state(cls, players, state):
        game = cls(players, state["coin"])
        game.call = state["call"]
        return game


NOT_A_GAME = 42
'''


def make_plugin(root: Path, entry_points: str) -> None:
    package = root / PLUGIN
    package.mkdir()
    (package / "__init__.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    info = root / f"{PLUGIN}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN}\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def install(entry_points: str) -> None:
        make_plugin(tmp_path, entry_points)
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()

    yield install
    sys.modules.pop(PLUGIN, None)
    importlib.invalidate_caches()


def test_builtins_found_by_entry_point() -> None:
    games = find_games()
    assert {"tictactoe", "hangman"} <= set(games)
    for key, game in games.items():
        assert issubclass(game, Game) and game.name == key
    assert games["tictactoe"].__module__ == "games.tictactoe"
    assert list(games) == sorted(games)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tictactoe", "tictactoe"),
        ("TicTacToe", "tictactoe"),
        (" ttt ", "tictactoe"),
        ("TTT", "tictactoe"),
        ("tic-tac-toe", "tictactoe"),
        ("hangman", "hangman"),
        ("HM", "hangman"),
        ("chess", None),
        ("", None),
    ],
)
def test_resolve(name: str, expected: str | None) -> None:
    game = resolve(name, find_games())
    assert (game.name if game else None) == expected


def test_third_party_plugin(plugin_path) -> None:
    plugin_path(f"""
        [{GROUP}]
        coinflip = {PLUGIN}:CoinFlip
    """)
    games = find_games()
    assert {"coinflip", "tictactoe", "hangman"} <= set(games)
    game_class = resolve("COIN", games)
    assert game_class is games["coinflip"] and game_class.seats == 1
    game = game_class.new(["zoe"], random.Random(3))
    assert game.turn() is None and not game.is_over
    game.play("Heads", "zoe")
    outcome = game.outcome()
    assert outcome is not None and outcome.summary in ("it was heads", "it was tails")
    assert game_class.from_json(game.to_json()).outcome() == outcome


def test_broken_plugins_are_skipped_with_a_warning(plugin_path, caplog) -> None:
    plugin_path(f"""
        [{GROUP}]
        missing = {PLUGIN}_nowhere:Game
        notagame = {PLUGIN}:NOT_A_GAME
        abstract = games.base:Game
        clash = games.tictactoe:TicTacToe
        coinflip = {PLUGIN}:CoinFlip
    """)
    with caplog.at_level(logging.WARNING, logger="games.registry"):
        games = find_games()
    assert {"coinflip", "tictactoe", "hangman"} <= set(games)
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for name in ("missing", "notagame", "abstract"):
        assert f"skipping game plugin {name!r}" in warned
    assert "'clash'" not in warned  # the same class twice is not a conflict
