"""Screen geometry for the curses client: status bar, chat, board pane, input line."""

from __future__ import annotations

from dataclasses import dataclass

MIN_ROWS = 10
MIN_COLS = 40
# The board goes beside the chat only on a wide terminal, and only if the chat
# keeps a readable width; otherwise it goes above the chat.
BOARD_RIGHT_MIN_COLS = 80
CHAT_MIN_COLS = 40
BOARD_BORDER_COLS = 2  # separator column plus one column of breathing space
BOARD_SEPARATOR_ROWS = 1  # the line between a top board and the chat
CHAT_MIN_ROWS = 3  # below this the top board is hidden rather than squeezing the chat


@dataclass(frozen=True)
class Rect:
    """A screen region; `bottom` and `right` are exclusive."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def empty(self) -> bool:
        return self.height <= 0 or self.width <= 0


@dataclass(frozen=True)
class Layout:
    """Where each pane goes; `board` is None when no game is shown."""

    status: Rect
    chat: Rect
    board: Rect | None
    input: Rect
    too_small: bool
    board_side: str | None  # "right", "top" or None


def compute_layout(rows: int, cols: int, board_size: tuple[int, int] | None) -> Layout:
    """Split a `rows` x `cols` screen; `board_size` is (lines, columns) the board needs."""
    rows, cols = max(0, rows), max(0, cols)
    status = Rect(0, 0, min(1, rows), cols)
    input_top = rows - 1 if rows >= 2 else rows
    input_line = Rect(input_top, 0, rows - input_top, cols)
    middle = Rect(status.bottom, 0, max(0, input_top - status.bottom), cols)
    too_small = rows < MIN_ROWS or cols < MIN_COLS
    if too_small or board_size is None:
        return Layout(status, middle, None, input_line, too_small, None)

    board_lines, board_cols = (max(0, n) for n in board_size)
    board_width = min(board_cols + BOARD_BORDER_COLS, cols // 2)
    if cols >= BOARD_RIGHT_MIN_COLS and cols - board_width >= CHAT_MIN_COLS:
        chat = Rect(middle.top, 0, middle.height, cols - board_width)
        board = Rect(middle.top, chat.right, middle.height, board_width)
        return Layout(status, chat, board, input_line, False, "right")

    # While a game runs its board matters more than old chat: the chat keeps its minimum.
    board_height = min(board_lines + BOARD_SEPARATOR_ROWS, middle.height - CHAT_MIN_ROWS)
    if middle.height - board_height >= CHAT_MIN_ROWS:
        board = Rect(middle.top, 0, board_height, cols)
        chat = Rect(board.bottom, 0, middle.height - board_height, cols)
        return Layout(status, chat, board, input_line, False, "top")
    return Layout(status, middle, None, input_line, False, None)


def scroll_window(total_lines: int, height: int, offset_from_bottom: int) -> tuple[int, int, int]:
    """Slice [start, end) of a transcript to show, scrolled up by `offset_from_bottom` lines.

    The offset is clamped so the window never scrolls past the top (or below the
    bottom); the clamped value is returned so the caller can store it.
    """
    total_lines, height = max(0, total_lines), max(0, height)
    offset = min(max(0, offset_from_bottom), max(0, total_lines - height))
    end = total_lines - offset
    return max(0, end - height), end, offset
