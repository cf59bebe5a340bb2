"""A game in a room as the host keeps it (Table), and what is said about game kinds. No I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from games.base import Game, Outcome, Termination
from gameserver.core.bots import BOT

log = logging.getLogger("play.games")

SAVE_VERSION = 1


@dataclass(eq=False)
class Table:
    """One game in a room: an invitation while a seat is free, then the game itself.

    `seats` is the seat order the game will use; None marks a free seat. Players are
    account usernames (seats belong to accounts, not connections) or BOT.
    """

    id: int
    room: str
    kind: type[Game]
    host: str
    seats: list[str | None]
    invitee: str | None = None  # who may take a free seat; None = anyone in the room
    game: Game | None = None
    since: float = 0.0  # when the current turn (or the invitation) began
    warned: bool = False  # the room was told this turn is overdue
    ended_at: float | None = None
    clock: float | None = None  # seconds per move; None: no move clock (idle timer only)
    away: dict[str, float] = field(default_factory=dict)  # player -> end of their grace
    start: dict[str, Any] | None = None  # the game as it began, for replays
    moves: list[list[Any]] = field(default_factory=list)  # [player, move] in order
    thinking: bool = False  # a bot's move is being searched off the loop
    summary: str | None = None
    saved: dict[str, Any] | None = field(default=None, repr=False)  # as last stored

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def live(self) -> bool:
        return self.game is not None and not self.game.is_over

    @property
    def over(self) -> bool:
        return self.game is not None and self.game.is_over

    def humans(self) -> list[str]:
        return [p for p in self.seats if p is not None and p != BOT]

    def has_seat(self, user: str) -> bool:
        return user in self.seats

    def label(self) -> str:
        return f"game {self.id} ({self.name})"

    def to_json(self) -> dict[str, Any]:
        return {
            "v": SAVE_VERSION,
            "game_name": self.name,
            "host": self.host,
            "seats": list(self.seats),
            "invitee": self.invitee,
            "since": self.since,
            "warned": self.warned,
            "game": None if self.game is None else self.game.to_json(),
            "clock": self.clock,
            "start": self.start,
            "moves": self.moves,
            "ended_at": self.ended_at,
            "summary": self.summary,
        }


def describe_kind(kind: type[Game]) -> dict[str, Any]:
    """What a client learns of a game: how to start it, its options and its commands."""
    return {"name": kind.name, "description": kind.description, "how_to_play": kind.how_to_play,
            "seats": kind.seats, "aliases": list(kind.aliases), "open_play": kind.open_play,
            "bot": kind.supports_bot, "options": [o.to_json() for o in kind.options],
            "commands": [c.to_json() for c in kind.commands]}


def move_verb(kind: type[Game]) -> str:
    """How the room is told of a move: "bob played b2", or the game's own verb."""
    verb = getattr(kind, "move_verb", "played")
    return verb if isinstance(verb, str) and verb.strip() else "played"


def results(outcome: Outcome, players: tuple[str, ...]) -> list[tuple[str, str]]:
    """(user, 'win'|'loss'|'draw') for every human the outcome concerns; bots don't count.

    Winners and losers may include people without a seat (hangman's guessers).
    """
    if outcome.termination is Termination.DRAW:
        pairs = [(p, "draw") for p in players]
    else:
        pairs = [(p, "win") for p in outcome.winners] + [(p, "loss") for p in outcome.losers]
    return [(user, result) for user, result in pairs if user != BOT]


def describe(game: Game) -> str:
    """The game's one-line description, or its status if the plugin's describe() fails."""
    try:
        text = game.describe()
    except Exception as exc:
        log.error("%s.describe() failed: %r", game.name, exc)
        return game.status()
    return text if isinstance(text, str) and text.strip() and "\n" not in text else game.status()
