"""Tic-tac-toe for two seats, with a perfect-play bot."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

from games.base import Game, IllegalMoveError, InvalidMoveError, Outcome, Termination

# Squares are named column a-c + row 1-3, row 1 at the top. Index i = (row - 1) * 3 + col,
# so the keypad digits 1-9 are index + 1: 1=a1 2=b1 3=c1 / 4=a2 5=b2 6=c2 / 7=a3 8=b3 9=c3.
SQUARES: tuple[str, ...] = tuple(f"{col}{row}" for row in "123" for col in "abc")
_INDEX: dict[str, int] = {name: i for i, name in enumerate(SQUARES)}
_INDEX.update({str(i + 1): i for i in range(9)})

LINES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 2), (3, 4, 5), (6, 7, 8),  # rows
    (0, 3, 6), (1, 4, 7), (2, 5, 8),  # columns
    (0, 4, 8), (2, 4, 6),  # diagonals
)  # fmt: skip

MARKS = ("X", "O")
EMPTY = "."
WIDTH = 40


def _winning_line(board: str) -> tuple[int, int, int] | None:
    for line in LINES:
        a, b, c = (board[i] for i in line)
        if a != EMPTY and a == b == c:
            return line
    return None


@functools.cache
def _score(board: str, mark: str) -> int:
    """Minimax value of board for the side `mark` to move: >0 win, 0 draw, <0 loss.

    Faster wins score higher and slower losses less badly. The cache memoises a
    pure function of its arguments, so it holds no game state.
    """
    return max(_move_values(board, mark).values())


def _move_values(board: str, mark: str) -> dict[int, int]:
    """The minimax value, for `mark`, of each empty square it could take."""
    other = "O" if mark == "X" else "X"
    values = {}
    for i, square in enumerate(board):
        if square != EMPTY:
            continue
        child = board[:i] + mark + board[i + 1 :]
        if _winning_line(child):
            values[i] = 1 + child.count(EMPTY)
        elif EMPTY not in child:
            values[i] = 0
        else:
            values[i] = -_score(child, other)
    return values


def _fit(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."


class TicTacToe(Game):
    """Three in a row on a 3x3 board; X (players[0]) moves first."""

    name = "tictactoe"
    aliases = ("ttt", "tic-tac-toe", "noughts")
    description = "Three in a row on a 3x3 board."
    how_to_play = "Type a square: a1..c3 (column, row) or 1-9 (1=a1 top-left, 9=c3)."
    seats = 2
    open_play = False
    supports_bot = True
    move_time: ClassVar[float | None] = 60.0

    def __init__(self, players: Sequence[str]) -> None:
        super().__init__(players)
        self._moves: list[str] = []

    @property
    def board(self) -> str:
        """Nine characters 'X', 'O' or '.', index 0 = a1, 8 = c3."""
        cells = [EMPTY] * 9
        for n, square in enumerate(self._moves):
            cells[_INDEX[square]] = MARKS[n % 2]
        return "".join(cells)

    @property
    def moves(self) -> tuple[str, ...]:
        return tuple(self._moves)

    def mark_of(self, player: str) -> str:
        try:
            return MARKS[self._players.index(player)]
        except ValueError:
            raise IllegalMoveError("you are not playing in this game") from None

    # -- rules ---------------------------------------------------------------

    def parse_move(self, text: str) -> str:
        key = text.strip().lower() if isinstance(text, str) else None
        if key not in _INDEX:
            raise InvalidMoveError(f"not a tictactoe square: {text!r} (use a1..c3 or 1-9)")
        return SQUARES[_INDEX[key]]

    def turn(self) -> str | None:
        if self.is_over:
            return None
        return self._players[len(self._moves) % 2]

    def check_rules(self, move: Any, player: str) -> None:
        if move not in SQUARES:
            raise InvalidMoveError(f"not a tictactoe square: {move!r}")
        if self.board[_INDEX[move]] != EMPTY:
            raise IllegalMoveError(f"{move} is taken")

    def apply_move(self, move: Any, player: str) -> None:
        self._moves.append(move)

    def result(self) -> Outcome | None:
        board = self.board
        line = _winning_line(board)
        if line is not None:
            winner = self._players[MARKS.index(board[line[0]])]
            loser = next(p for p in self._players if p != winner)
            squares = "-".join(SQUARES[i] for i in line)
            return Outcome(
                termination=Termination.WIN,
                winners=(winner,),
                losers=(loser,),
                summary=f"{winner} wins with {squares}",
            )
        if EMPTY not in board:
            return Outcome(termination=Termination.DRAW, summary="draw")
        return None

    def status(self) -> str:
        turn = self.turn()
        if turn is None:
            return super().status()
        return f"{turn} ({self.mark_of(turn)}) to move"

    def describe(self) -> str:
        if not self._moves:
            return f"new game; {self.status()}"
        n = len(self._moves) - 1
        return f"{self._players[n % 2]} played {MARKS[n % 2]} at {self._moves[-1]}; {self.status()}"

    def render(self) -> list[str]:
        board = self.board
        rows = []
        for r in range(3):
            cells = " | ".join(board[r * 3 + c] for c in range(3))
            rows.append(f" {r + 1}  {cells}")
        lines = ["    a   b   c", rows[0], "   ---+---+---", rows[1], "   ---+---+---", rows[2], ""]
        lines += [
            _fit(f" {mark}: {player}") for mark, player in zip(MARKS, self._players, strict=True)
        ]
        return lines

    # -- bot -------------------------------------------------------------------

    def bot_move(self, rng: random.Random, stop: Callable[[], bool] | None = None) -> str | None:
        if self.is_over:
            return None
        mark = MARKS[len(self._moves) % 2]
        values = _move_values(self.board, mark)
        best = max(values.values())
        return SQUARES[rng.choice(sorted(i for i, v in values.items() if v == best))]

    # -- saving ----------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        return {"moves": list(self._moves)}

    @classmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        game = cls(players)
        for square in state["moves"]:
            game.push(game.parse_move(square), game._players[len(game._moves) % 2])
        return game
