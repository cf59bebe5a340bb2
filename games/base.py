"""The pure game plugin API: Game, Outcome, Termination and the move errors."""

from __future__ import annotations

import abc
import enum
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

__all__ = [
    "Game",
    "GameCommand",
    "GameError",
    "GameOption",
    "IllegalMoveError",
    "InvalidMoveError",
    "Move",
    "Outcome",
    "Termination",
]

# A move is whatever a game's parse_move returns; it must be hashable and JSON-able
# (both built-in games use a canonical str such as "b2" or "e").
Move = Hashable


class GameError(ValueError):
    """Bad use of a game: bad options, bad players, bad saved state, bad move."""


class InvalidMoveError(GameError):
    """The text is not a move of this game at all (e.g. 'hello' in tictactoe)."""


class IllegalMoveError(GameError):
    """A well-formed move that is not allowed now; the message is user-facing."""


OPTION_KINDS = ("flag", "text", "secret")


@dataclass(frozen=True, kw_only=True)
class GameOption:
    """An option of `/game NAME --OPTION`, declared by the game; clients learn them.

    `kind` says how a client asks for the value: "flag" (no value), "text" (typed
    as `--name=VALUE`), "secret" (asked apart, without echo, and never shown: it
    travels in the command's `secret` field). `prompt` is what a client asks.
    """

    name: str
    kind: str
    help: str
    prompt: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isascii() and self.name.isidentifier()
                and self.name.islower()):
            raise GameError(f"an option name must be a lowercase word, got {self.name!r}")
        if self.kind not in OPTION_KINDS:
            raise GameError(f"option kind must be one of {OPTION_KINDS}, got {self.kind!r}")

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "help": self.help,
                "prompt": self.prompt or self.name}


@dataclass(frozen=True, kw_only=True)
class GameCommand:
    """A command the game adds: `/NAME [ID] ARGS` is parsed by the game's method `parse`.

    `parse(text)` turns ARGS into a move (or raises InvalidMoveError), as parse_move
    does for typed lines; the move is then checked and pushed like any other.
    """

    name: str
    usage: str  # the arguments, e.g. "WORD"
    help: str
    parse: str  # the name of a method of the game

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name.isascii() and self.name.isidentifier()
                and self.name.islower()):
            raise GameError(f"a command name must be a lowercase word, got {self.name!r}")

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "usage": f"/{self.name} {self.usage}".strip(),
                "help": self.help}


class Termination(enum.Enum):
    """How a game ended."""

    WIN = "win"  # decided by play; winners may be empty when the game beat the players
    DRAW = "draw"
    RESIGN = "resign"
    FORFEIT = "forfeit"  # a player timed out


def _check_names(field: str, names: object) -> None:
    if not isinstance(names, tuple):
        raise GameError(f"Outcome.{field} must be a tuple, got {names!r}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise GameError(f"Outcome.{field} must hold non-empty names, got {names!r}")
    if len(set(names)) != len(names):
        raise GameError(f"Outcome.{field} has duplicates: {names!r}")


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The result of a finished game."""

    termination: Termination
    winners: tuple[str, ...] = ()
    losers: tuple[str, ...] = ()
    summary: str

    def __post_init__(self) -> None:
        if not isinstance(self.termination, Termination):
            raise GameError(f"Outcome.termination must be a Termination, got {self.termination!r}")
        _check_names("winners", self.winners)
        _check_names("losers", self.losers)
        if both := set(self.winners) & set(self.losers):
            raise GameError(f"Outcome names {sorted(both)!r} as both winner and loser")
        if self.termination is Termination.DRAW and (self.winners or self.losers):
            raise GameError(f"a draw has no winners or losers, got {self!r}")
        if self.termination is not Termination.DRAW and not (self.winners or self.losers):
            raise GameError(f"a decided game needs a winner or a loser, got {self!r}")
        if not isinstance(self.summary, str) or not self.summary.strip() or "\n" in self.summary:
            raise GameError(f"Outcome.summary must be one non-empty line, got {self.summary!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "termination": self.termination.value,
            "winners": list(self.winners),
            "losers": list(self.losers),
            "summary": self.summary,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        try:
            return cls(
                termination=Termination(data["termination"]),
                winners=tuple(data["winners"]),
                losers=tuple(data["losers"]),
                summary=data["summary"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GameError(f"bad saved outcome {data!r}: {exc}") from exc


def check_players(game: str, seats: int, players: Sequence[str]) -> tuple[str, ...]:
    """Return players as a tuple, or raise GameError if they cannot fill the seats."""
    if isinstance(players, str):
        raise GameError(f"players must be a sequence of names, got {players!r}")
    seated = tuple(players)
    if len(seated) != seats:
        raise GameError(f"{game} needs {seats} player(s), got {len(seated)}: {list(seated)!r}")
    if any(not isinstance(p, str) or not p for p in seated):
        raise GameError(f"player names must be non-empty strings, got {list(seated)!r}")
    if len(set(seated)) != len(seated):
        raise GameError(f"a player cannot take two seats: {list(seated)!r}")
    return seated


class Game(abc.ABC):
    """One game's state and rules.

    The base class does the bookkeeping (seats, turn and game-over checks, resign,
    saving); a game implements the rules through the abstract hooks below.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str]  # one line
    how_to_play: ClassVar[str]  # one or two lines
    seats: ClassVar[int]  # seated players needed to start
    open_play: ClassVar[bool] = False  # True: any room member may move
    supports_bot: ClassVar[bool] = False
    # Seconds a player has for each move unless the invitation sets another clock;
    # None: no move clock (a room-wide game such as hangman).
    move_time: ClassVar[float | None] = None
    options: ClassVar[tuple[GameOption, ...]] = ()  # for `new(options=...)`
    commands: ClassVar[tuple[GameCommand, ...]] = ()  # extra slash commands for moves

    def __init__(self, players: Sequence[str]) -> None:
        self._players = check_players(self.name, self.seats, players)
        self._ended: Outcome | None = None  # set only by resign() / forfeit()

    # -- creating and saving -------------------------------------------------

    @classmethod
    def new(
        cls,
        players: Sequence[str],
        rng: random.Random,
        options: Mapping[str, str] | None = None,
    ) -> Self:
        """Start a game; players are usernames in seat order.

        The default takes no options; games with options or a random setup override it.
        """
        if options:
            raise GameError(f"{cls.name} takes no options, got {dict(options)!r}")
        return cls(players)

    def to_json(self) -> dict[str, Any]:
        """The complete state as plain dict/list/str/int/bool/None."""
        return {
            "game": self.name,
            "players": list(self._players),
            "ended": None if self._ended is None else self._ended.to_json(),
            "state": self.dump_state(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a game saved by to_json(); raises GameError on bad data."""
        if not isinstance(data, Mapping) or data.get("game") != cls.name:
            raise GameError(f"not a saved {cls.name} game: {data!r}")
        try:
            players = data["players"]
            if not isinstance(players, list | tuple):
                raise GameError(f"saved players must be a list, got {players!r}")
            game = cls.load_state(tuple(players), data["state"])
            ended = data["ended"]
        except GameError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise GameError(f"bad saved {cls.name} game {data!r}: {exc!r}") from exc
        if ended is not None:
            game._ended = Outcome.from_json(ended)
        return game

    # -- playing ---------------------------------------------------------------

    @property
    def players(self) -> tuple[str, ...]:
        return self._players

    def play(self, text: str, player: str) -> None:
        """Parse and push a typed move."""
        self.push(self.parse_move(text), player)

    def push(self, move: Any, player: str) -> None:
        """Check a parsed move and apply it."""
        self.check_move(move, player)
        self.apply_move(move, player)

    def check_move(self, move: Any, player: str) -> None:
        """Raise IllegalMoveError with a user-facing reason if player may not make move now."""
        if self.is_over:
            raise IllegalMoveError("the game is over")
        if not isinstance(player, str) or not player:
            raise IllegalMoveError(f"not a player name: {player!r}")
        if not self.open_play and player not in self._players:
            raise IllegalMoveError("you are not playing in this game")
        turn = self.turn()
        if turn is not None and player != turn:
            raise IllegalMoveError("not your turn")
        self.check_rules(move, player)

    def outcome(self) -> Outcome | None:
        return self._ended if self._ended is not None else self.result()

    @property
    def is_over(self) -> bool:
        return self.outcome() is not None

    def turn(self) -> str | None:
        """Whose turn it is; None when anyone may move or the game is over."""
        return None

    def status(self) -> str:
        """One line for the room: whose move, or the result."""
        outcome = self.outcome()
        if outcome is not None:
            return outcome.summary
        turn = self.turn()
        return f"{turn} to move" if turn is not None else "anyone may move"

    def resign(self, player: str) -> None:
        """End the game with player losing."""
        self._end(player, Termination.RESIGN)

    def forfeit(self, player: str) -> None:
        """End the game with player losing on time."""
        self._end(player, Termination.FORFEIT)

    def _end(self, player: str, termination: Termination) -> None:
        if self.is_over:
            raise IllegalMoveError("the game is over")
        if player not in self._players:
            raise IllegalMoveError("you are not playing in this game")
        self._ended = self.resign_outcome(player, termination)

    def bot_move(self, rng: random.Random, stop: Callable[[], bool] | None = None) -> Any | None:
        """A move for whoever is to move, or None if the game has no bot or is over.

        A bot that searches calls `stop()` now and then and, once it returns True,
        answers with the best move found so far. The platform passes a stop that
        says when the time for the bot is up; the game itself reads no clock.
        """
        return None

    def describe(self) -> str:
        """One line for a screen reader or the line client: what changed, whose turn.

        "bob played X at b2; carol (O) to move". The default is status(); games
        override it to say what the last move was.
        """
        return self.status()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} players={self._players!r} status={self.status()!r}>"

    # -- hooks a game implements ---------------------------------------------

    @abc.abstractmethod
    def parse_move(self, text: str) -> Any:
        """Turn typed text into a move, without side effects; raise InvalidMoveError."""

    def check_rules(self, move: Any, player: str) -> None:  # noqa: B027 - optional hook
        """Game-specific legality; game over, seats and turn were already checked."""

    @abc.abstractmethod
    def apply_move(self, move: Any, player: str) -> None:
        """Apply a move that check_move() accepted."""

    @abc.abstractmethod
    def result(self) -> Outcome | None:
        """The outcome by the rules (resign/forfeit are handled by the base)."""

    @abc.abstractmethod
    def render(self) -> list[str]:
        """The board as plain ASCII lines, each at most 40 columns wide."""

    @abc.abstractmethod
    def dump_state(self) -> dict[str, Any]:
        """The game-specific state, JSON-able."""

    @classmethod
    @abc.abstractmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        """Rebuild a game from players and dump_state()'s output."""

    def resign_outcome(self, player: str, termination: Termination) -> Outcome:
        """The outcome when a seated player resigns or forfeits; override to customise."""
        others = tuple(p for p in self._players if p != player)
        did = "resigns" if termination is Termination.RESIGN else "ran out of time"
        summary = f"{player} {did}"
        if others:
            verb = "wins" if len(others) == 1 else "win"
            summary += f" - {', '.join(others)} {verb}"
        return Outcome(termination=termination, winners=others, losers=(player,), summary=summary)
