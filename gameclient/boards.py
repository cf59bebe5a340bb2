"""Boards as the client shows them: text for the line client, how long a finished one stays,
and replays stepped through the board pane. Pure: the time comes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gameserver.protocol import GameState

REPLAY_STEP = 1.5  # seconds each position of a replay stays in the board pane
REPLAY_LINGER = 20.0  # seconds the last position stays before the replay leaves the pane
FINISHED_SHOWN = 60.0  # seconds a finished board stays in the board pane


def still_shown(game: GameState, seen: float, now: float) -> bool:
    """Is this board still for the board pane? A finished one leaves it after a minute
    (`seen`: when its last frame came, on the same clock as `now`)."""
    return not game.over or now - seen < FINISHED_SHOWN


def board_lines(game: GameState) -> list[str]:
    """A game as text for the line client: a header, the board, then one line saying
    what changed and whose turn it is (what a screen reader follows)."""
    head = f"== game {game.game_id}: {game.game} ({' vs '.join(game.players)}) =="
    tail = game.text or game.status
    if game.time_left is not None and not game.over and game.turn:
        tail += f" ({mmss(game.time_left)} to move)"
    for player, grace in sorted((game.away or {}).items()):
        tail += f"; {player} is away, {mmss(grace)} to come back"
    return [head, *game.board, tail]


def mmss(seconds: float) -> str:
    """Seconds as m:ss, rounded up (a clock showing 0:00 has run out)."""
    whole = int(-(-seconds // 1))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class Replay:
    """A finished game's positions, stepped through in the board pane one by one."""

    game_id: int
    game: str
    room: str
    players: list[str]
    steps: list[dict[str, Any]]
    started: float

    @classmethod
    def from_data(cls, data: object, now: float) -> Replay | None:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            return None
        steps = [s for s in data["steps"] if isinstance(s, dict)
                 and isinstance(s.get("board"), list) and isinstance(s.get("text"), str)]
        if not steps or not isinstance(data.get("game_id"), int):
            return None
        return cls(data["game_id"], str(data.get("game", "?")), str(data.get("room", "")),
                   [str(p) for p in data.get("players", [])], steps, now)

    def frame(self, now: float) -> GameState | None:
        """The position to show at `now` as a board, or None once the replay is done."""
        elapsed = now - self.started
        last = len(self.steps) - 1
        if elapsed > last * REPLAY_STEP + REPLAY_LINGER:
            return None
        index = min(int(elapsed // REPLAY_STEP), last)
        step = self.steps[index]
        return GameState(game_id=self.game_id, game=f"{self.game} replay", room=self.room,
                         players=self.players, board=[str(b) for b in step["board"]],
                         status=f"step {index}/{last}: {step['text']}", over=True)
