"""Connect four for two seats, with a depth-limited alpha-beta bot."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

from games.base import (
    Game,
    GameCommand,
    GameError,
    GameOption,
    IllegalMoveError,
    InvalidMoveError,
    Outcome,
    Termination,
)

COLS, ROWS = 7, 6
MARKS = ("X", "O")
EMPTY = "."
WIDTH = 40

# Bitboards: column c holds bits c*H .. c*H+5 (bottom up) and one spare bit on top, so
# a shift never carries a line from one column into the next.
H = ROWS + 1
_BOTTOM = [1 << (c * H) for c in range(COLS)]
_COLUMN = [((1 << ROWS) - 1) << (c * H) for c in range(COLS)]
_TOP = [1 << (c * H + ROWS - 1) for c in range(COLS)]
_FULL = sum(_COLUMN)
_ORDER = (3, 2, 4, 1, 5, 0, 6)  # centre first: better cut-offs, and the better moves

WIN = 1_000_000  # a win found by search scores WIN minus its distance in plies
MAX_DEPTH = 12  # the search deepens until this or until stop() says the time is up
DEFAULT_DEPTH = 6  # without a stop (pure calls, tests): a fixed depth, bounded work
LEVELS = {"easy": 2, "hard": MAX_DEPTH}  # the bot's deepest search per --level
_CHECK_EVERY = 512  # nodes between calls of stop()


def _cell(col: int, row: int) -> int:
    return 1 << (col * H + row)


def _windows() -> tuple[int, ...]:
    """Every line of four cells on the board, as bitmasks (69 of them)."""
    found = []
    for col in range(COLS):
        for row in range(ROWS):
            for dc, dr in ((1, 0), (0, 1), (1, 1), (1, -1)):
                end_c, end_r = col + 3 * dc, row + 3 * dr
                if 0 <= end_c < COLS and 0 <= end_r < ROWS:
                    found.append(sum(_cell(col + i * dc, row + i * dr) for i in range(4)))
    return tuple(found)


WINDOWS = _windows()
_CENTRE = _COLUMN[3]


def four_in_a_row(stones: int) -> bool:
    """True if the bitboard `stones` holds four in a row in any direction."""
    for shift in (1, H, H - 1, H + 1):  # vertical, horizontal, both diagonals
        pairs = stones & (stones >> shift)
        if pairs & (pairs >> (2 * shift)):
            return True
    return False


def _drop(mask: int, col: int) -> int:
    """The bit a stone dropped in column col lands on (col must not be full)."""
    return (mask + _BOTTOM[col]) & _COLUMN[col]


def evaluate(mine: int, theirs: int) -> int:
    """A heuristic value of a position with no four yet, for the side owning `mine`.

    Each line of four that only one side has stones in counts for that side, the
    more stones the more (3: 50, 2: 10, 1: 1); stones in the centre column, which
    meets the most lines, add 3 each.
    """
    score = 3 * ((mine & _CENTRE).bit_count() - (theirs & _CENTRE).bit_count())
    for window in WINDOWS:
        a = mine & window
        b = theirs & window
        if a and not b:
            score += _WEIGHT[a.bit_count()]
        elif b and not a:
            score -= _WEIGHT[b.bit_count()]
    return score


_WEIGHT = (0, 1, 10, 50, 0)


class _Search:
    """One bot search: negamax with alpha-beta over bitboards, stoppable between nodes."""

    def __init__(self, stop: Callable[[], bool] | None) -> None:
        self.stop = stop
        self.nodes = 0
        self.stopped = False

    def check(self) -> None:
        self.nodes += 1
        if self.stop is not None and self.nodes % _CHECK_EVERY == 0 and self.stop():
            self.stopped = True

    def value(self, mine: int, mask: int, depth: int, alpha: int, beta: int, ply: int) -> int:
        """The value for the side to move (owning `mine`); exact for wins within depth."""
        self.check()
        if self.stopped:
            return 0
        moves = [c for c in _ORDER if not mask & _TOP[c]]
        if not moves:
            return 0  # a full board is a draw
        for col in moves:  # a win now beats any search
            if four_in_a_row(mine | _drop(mask, col)):
                return WIN - ply
        theirs = mine ^ mask
        if depth <= 0:
            return evaluate(mine, theirs)
        # Their immediate wins: a move that does not block one loses at once.
        threats = [c for c in moves if four_in_a_row(theirs | _drop(mask, c))]
        if len(threats) > 1:
            return -(WIN - ply - 1)
        if threats:
            moves = threats
        best = -WIN
        for col in moves:
            move = _drop(mask, col)
            score = -self.value(theirs, mask | move, depth - 1, -beta, -alpha, ply + 1)
            if self.stopped:
                return 0
            if score > best:
                best = score
            if best > alpha:
                alpha = best
            if alpha >= beta:
                break
        return best


def choose(mine: int, mask: int, rng: random.Random,
           stop: Callable[[], bool] | None = None, depth: int | None = None) -> int:
    """The bot's column for the side owning `mine`.

    A win in one is played and a single loss in one is blocked before any search;
    then the search deepens one ply at a time (to `depth`, or until stop()) and the
    deepest finished pass decides. Ties are broken by rng.
    """
    moves = [c for c in _ORDER if not mask & _TOP[c]]
    if not moves:
        raise IllegalMoveError("the board is full")
    wins = [c for c in moves if four_in_a_row(mine | _drop(mask, c))]
    if wins:
        return rng.choice(wins)
    theirs = mine ^ mask
    threats = [c for c in moves if four_in_a_row(theirs | _drop(mask, c))]
    if threats:
        return rng.choice(threats)  # with two threats the game is lost anyway
    limit = depth if depth is not None else (MAX_DEPTH if stop is not None else DEFAULT_DEPTH)
    search = _Search(stop)
    best_moves = moves
    for level in range(1, limit + 1):
        scores: dict[int, int] = {}
        alpha = -WIN
        for col in moves:
            move = _drop(mask, col)
            scores[col] = -search.value(theirs, mask | move, level - 1, -WIN, -alpha + 1, 1)
            if search.stopped:
                break
            alpha = max(alpha, scores[col])
        if search.stopped:
            break  # an unfinished pass is not trusted; the last finished one stands
        top = max(scores.values())
        best_moves = [c for c in moves if scores[c] == top]
        if top >= WIN - level or top <= -(WIN - level):
            break  # the result is known: deeper search cannot change it
    return rng.choice(best_moves)


class ConnectFour(Game):
    """Four in a row on a 7x6 board; stones drop to the lowest free cell. X moves first."""

    name = "connectfour"
    aliases = ("c4", "connect4", "connect-four")
    description = "Drop stones in a 7x6 frame; four in a row wins."
    how_to_play = "Type a column, 1-7, to drop your stone there (or /move ID 4)."
    seats = 2
    open_play = False
    supports_bot = True
    move_time: ClassVar[float | None] = 60.0
    options = (GameOption(name="level", kind="text", prompt="bot level",
                          help="the bot's strength against you: easy or hard (the default)"),)
    commands = (GameCommand(name="drop", usage="COLUMN", help="drop a stone in a column (1-7)",
                            parse="parse_move"),)

    def __init__(self, players: Sequence[str], level: str = "hard") -> None:
        super().__init__(players)
        if level not in LEVELS:
            raise GameError(f"the connect four bot's level is easy or hard, not {level!r}")
        self.level = level
        self._moves: list[int] = []  # columns 1-7, in order
        self._stones = [0, 0]  # bitboards of X and O
        self._heights = [0] * COLS

    @classmethod
    def new(cls, players: Sequence[str], rng: random.Random,
            options: Mapping[str, str] | None = None) -> Self:
        options = dict(options or {})
        if unknown := sorted(set(options) - {"level"}):
            raise GameError(f"unknown connect four option(s) {unknown!r} (known: 'level')")
        return cls(players, options.get("level", "hard").strip().lower())

    # -- derived state ---------------------------------------------------------

    @property
    def moves(self) -> tuple[int, ...]:
        return tuple(self._moves)

    @property
    def mask(self) -> int:
        return self._stones[0] | self._stones[1]

    def grid(self) -> list[str]:
        """Rows top to bottom, each 7 characters 'X', 'O' or '.'."""
        rows = []
        for row in reversed(range(ROWS)):
            cells = []
            for col in range(COLS):
                bit = _cell(col, row)
                cells.append(MARKS[0] if self._stones[0] & bit else
                             MARKS[1] if self._stones[1] & bit else EMPTY)
            rows.append("".join(cells))
        return rows

    def mark_of(self, player: str) -> str:
        try:
            return MARKS[self._players.index(player)]
        except ValueError:
            raise IllegalMoveError("you are not playing in this game") from None

    # -- rules ---------------------------------------------------------------

    def parse_move(self, text: str) -> int:
        key = text.strip() if isinstance(text, str) else ""
        if len(key) != 1 or key not in "1234567":
            raise InvalidMoveError(f"not a connect four column: {text!r} (use 1-7)")
        return int(key)

    def turn(self) -> str | None:
        if self.is_over:
            return None
        return self._players[len(self._moves) % 2]

    def check_rules(self, move: Any, player: str) -> None:
        if type(move) is not int or not 1 <= move <= COLS:
            raise InvalidMoveError(f"not a connect four column: {move!r}")
        if self._heights[move - 1] >= ROWS:
            raise IllegalMoveError(f"column {move} is full")

    def apply_move(self, move: Any, player: str) -> None:
        side = len(self._moves) % 2
        col = move - 1
        self._stones[side] |= _cell(col, self._heights[col])
        self._heights[col] += 1
        self._moves.append(move)

    def result(self) -> Outcome | None:
        for side in (0, 1):
            if four_in_a_row(self._stones[side]):
                winner = self._players[side]
                loser = self._players[1 - side]
                return Outcome(termination=Termination.WIN, winners=(winner,), losers=(loser,),
                               summary=f"{winner} wins with four in a row")
        if self.mask == _FULL:
            return Outcome(termination=Termination.DRAW, summary="draw - the frame is full")
        return None

    # -- display ---------------------------------------------------------------

    def status(self) -> str:
        turn = self.turn()
        if turn is None:
            return super().status()
        return f"{turn} ({self.mark_of(turn)}) to move"

    def describe(self) -> str:
        if not self._moves:
            return f"new game; {self.status()}"
        n = len(self._moves) - 1
        mover = self._players[n % 2]
        col = self._moves[-1]
        row = self._heights[col - 1]
        what = f"{mover} played {MARKS[n % 2]} in column {col} (row {row} from the bottom)"
        return f"{what}; {self.status()}"

    def render(self) -> list[str]:
        lines = [" " + " ".join(str(c + 1) for c in range(COLS))]
        lines += ["|" + " ".join(row) + "|" for row in self.grid()]
        lines.append("+" + "-" * (2 * COLS - 1) + "+")
        if self._moves and not self.is_over:
            col = self._moves[-1]
            lines.append(" " * (2 * col - 1) + "^ last")
        lines.append("")
        for mark, player in zip(MARKS, self._players, strict=True):
            line = f" {mark}: {player}"
            lines.append(line if len(line) <= WIDTH else line[: WIDTH - 3] + "...")
        return lines

    # -- bot -------------------------------------------------------------------

    def bot_move(self, rng: random.Random, stop: Callable[[], bool] | None = None) -> int | None:
        if self.is_over:
            return None
        side = len(self._moves) % 2
        depth = None if self.level == "hard" else LEVELS[self.level]
        return choose(self._stones[side], self.mask, rng, stop, depth) + 1

    # -- saving ----------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        return {"moves": list(self._moves), "level": self.level}

    @classmethod
    def load_state(cls, players: tuple[str, ...], state: Mapping[str, Any]) -> Self:
        game = cls(players, state.get("level", "hard"))
        for col in state["moves"]:
            if type(col) is not int:
                raise InvalidMoveError(f"not a connect four column: {col!r}")
            game.push(col, game._players[len(game._moves) % 2])
        return game
