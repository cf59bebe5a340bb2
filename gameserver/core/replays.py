"""Replays of finished games from their saved start and moves, and the room's recent games."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from games.base import Game, GameError


@dataclass(frozen=True)
class Step:
    """One position of a replay: the board, its one-line description, and its status."""

    board: list[str]
    text: str
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"board": self.board, "text": self.text, "status": self.status}


def replay_steps(kind: type[Game], saved: Mapping[str, Any]) -> list[Step]:
    """Every position of a saved game, from the start to its end.

    `saved` is a table as GameHost saves it: its "start" (the game as it began) and
    "moves" ([player, move] in order) are replayed through the game's own rules; an
    ending that is no move (a resignation, a loss on time) is taken from the saved
    final state. Raises GameError if the saved game cannot be replayed.
    """
    start, moves = saved.get("start"), saved.get("moves")
    if not isinstance(start, Mapping) or not isinstance(moves, list):
        raise GameError("this game was played before replays were kept")
    game = kind.from_json(start)
    steps = [Step(game.render(), game.describe(), game.status())]
    for item in moves:
        try:
            player, move = item
            game.push(move, player)
        except (TypeError, ValueError) as exc:
            raise GameError(f"the saved moves do not replay: {exc}") from None
        steps.append(Step(game.render(), game.describe(), game.status()))
    final = saved.get("game")
    if isinstance(final, Mapping):
        end = kind.from_json(final)
        if end.outcome() != game.outcome():  # resigned or lost on time: not a move
            steps.append(Step(end.render(), end.status(), end.status()))
    return steps


def replay_lines(game_id: int, kind: type[Game], steps: list[Step]) -> list[str]:
    """A replay as text: every step's description, then the final board."""
    lines = [f"{n:>3}. {step.text}" for n, step in enumerate(steps)]
    lines += [f"    {row}" for row in steps[-1].board]
    return lines


def recent_line(game_id: int, saved: Mapping[str, Any]) -> str:
    """One line for /games recent: id, game, players, how it ended, when."""
    game = saved.get("game") or {}
    players = " vs ".join(game.get("players", [])) or "?"
    ended = game.get("ended") or {}
    summary = saved.get("summary") or (
        ended.get("summary") if isinstance(ended, Mapping) else None) or "finished"
    when = saved.get("ended_at")
    stamp = time.strftime(" %Y-%m-%d %H:%M", time.localtime(when)) if when else ""
    moves = saved.get("moves")
    count = f", {len(moves)} moves" if isinstance(moves, list) else ""
    return f"game {game_id} {saved.get('game_name', '?')}: {players} - {summary}{count}{stamp}"
