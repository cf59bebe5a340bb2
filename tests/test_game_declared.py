"""A game declares its own commands and options; the platform and clients need no edit."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Self

import pytest
from hubpair import Pair

from games.base import Game, GameCommand, GameError, GameOption, InvalidMoveError, Outcome
from games.base import Termination as T
from games.registry import _problem
from gameserver.protocol import Command, Hello


class Vault(Game):
    """A test game no platform file knows: guess a code (/crack CODE), a secret option."""

    name = "vault"
    description = "Crack the code."
    how_to_play = "/crack CODE"
    seats = 1
    open_play = True
    options = (GameOption(name="code", kind="secret", prompt="vault code", help="set the code"),
               GameOption(name="hard", kind="flag", help="no hints"),
               GameOption(name="label", kind="text", help="a name for the vault"))
    commands = (GameCommand(name="crack", usage="CODE", help="try a code", parse="parse_code"),)

    def __init__(self, players: Sequence[str], code: str, label: str = "") -> None:
        super().__init__(players)
        self.code, self.label, self.tries = code, label, []

    @classmethod
    def new(cls, players: Sequence[str], rng: random.Random,
            options: Mapping[str, str] | None = None) -> Self:
        options = dict(options or {})
        return cls(players, options.get("code", "1234"), options.get("label", ""))

    def parse_move(self, text: str) -> str:
        raise InvalidMoveError("chat is not a move in the vault")

    def parse_code(self, text: str) -> str:
        if not text.strip().isdigit():
            raise InvalidMoveError(f"a code is digits, got {text!r}")
        return text.strip()

    def apply_move(self, move: Any, player: str) -> None:
        self.tries.append((player, move))

    def result(self) -> Outcome | None:
        for player, move in self.tries:
            if move == self.code:
                return Outcome(termination=T.WIN, winners=(player,), summary=f"{player} got in")
        return None

    def render(self) -> list[str]:
        return [f"vault {self.label}: {len(self.tries)} tries"]

    def dump_state(self) -> dict[str, Any]:
        return {"code": self.code, "label": self.label, "tries": self.tries}

    @classmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        game = cls(players, state["code"], state["label"])
        game.tries = [tuple(t) for t in state["tries"]]
        return game


@pytest.fixture
def pair(tmp_path):
    p = Pair(tmp_path)
    p.extend_games(games={"vault": Vault})
    yield p
    p.close()


def test_the_game_list_comes_right_after_welcome_with_kinds(pair):
    u = pair.connect()
    u.send(Hello(version=1))
    types = [e.TYPE for e in u.events]
    assert types == ["welcome", "games"]
    [vault] = u.events[1].games
    assert {o["name"]: o["kind"] for o in vault["options"]} == {
        "code": "secret", "hard": "flag", "label": "text"}
    assert vault["commands"] == [{"name": "crack", "usage": "/crack CODE", "help": "try a code"}]


def test_a_declared_command_plays_the_game(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    assert ann.request(Command(id=ann.next_id(), name="game", args="vault --code --label=blue",
                               secret="4242")).TYPE == "ok"
    assert ben.cmd("crack", "nope").code == "bad_move"
    assert ben.cmd("crack", "1111").TYPE == "ok"
    assert "4242" not in repr(ben.events)  # the secret reached no one
    assert ben.cmd("crack", "4242").TYPE == "ok"
    assert any("ben got in" in n.text for n in ann.of("notice"))
    assert "/crack CODE" in "\n".join(ann.cmd("help").lines)


def test_options_are_checked_by_their_kind(pair):
    ann = pair.user("ann")
    assert ann.cmd("game", "vault --code").code == "no_secret"  # not sent as a secret
    assert ann.cmd("game", "vault --code", secret="  ").code == "no_secret"
    assert ann.cmd("game", "vault --code=12").code == "usage"  # never typed in the line
    assert ann.cmd("game", "vault --label").code == "usage"  # a text option needs a value
    assert ann.cmd("game", "vault --hard=yes").code == "usage"  # a flag takes none
    err = ann.cmd("game", "vault --secret")
    assert err.code == "usage" and "--code" in err.text
    assert ann.cmd("crack", "1").code == "no_game"


def test_a_bad_declaration_is_refused_by_the_registry():
    class Broken(Vault):
        commands = (GameCommand(name="crack", usage="X", help="", parse="no_such_method"),)

    class TwoSecrets(Vault):
        options = (GameOption(name="a", kind="secret", help=""),
                   GameOption(name="b", kind="secret", help=""))

    assert "no_such_method" in _problem(Broken)
    assert "more than one secret" in _problem(TwoSecrets)
    assert _problem(Vault) is None
    with pytest.raises(GameError):
        GameOption(name="x", kind="password", help="")
