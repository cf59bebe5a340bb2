"""Widgets that only draw: status bar, chat pane, board pane, input line, "terminal too small"."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol

from gameclient.layout import MIN_COLS, MIN_ROWS, Rect
from gameclient.model import ClientModel, Line, clock
from gameclient.textwidth import cell_width, pad, sanitize, truncate, wrap
from gameserver.protocol import GameState

# A styled run of text: (text, style name). The screen maps style names to
# curses attributes, so everything here is testable without a terminal.
Seg = tuple[str, str]
Row = list[Seg]

SELF_DATED = frozenset({"history"})  # /history lines carry their full date in their text
# drawn as another kind
KIND_STYLES = {"pm_sent": "pm", "pm_echo": "pm", "action": "chat", "scrollback": "history"}
BOARD_TEXT_WIDTH = 20  # headers and status lines wrap at this many columns
MORE_BELOW = "-- more below: PgDn --"
PROMPT = "> "
SECRET_PROMPT = "{what} (hidden, Esc cancels): "
WRAP_CACHE_MAX = 20000


class Canvas(Protocol):
    """Where widgets draw; `write` clips at the edges and returns the columns used."""

    def write(self, y: int, x: int, text: str, style: str = "", width: int | None = None) -> int:
        ...


def nick_key(nick: str) -> int:
    """A stable number for a nick (same in every run and on every machine) to pick its colour."""
    return zlib.crc32(nick.casefold().encode("utf-8"))


def nick_style(nick: str) -> str:
    return f"nick:{nick_key(nick)}"


def is_me(model: ClientModel, name: str | None) -> bool:
    if not name:
        return False
    folded = name.casefold()
    return folded in (model.user.casefold(), model.nick.casefold())


# ---------------------------------------------------------------- chat lines


CONTINUATION_INDENT = 2  # for wrapped lines that have no timestamp and nick to hang under


def stamped(line: Line) -> bool:
    """Every line shows its time first (chat, replies, notices, errors, PMs, scrollback ...);
    /history's lines show their own full date instead."""
    return line.kind not in SELF_DATED


def line_segments(line: Line) -> tuple[Row, int]:
    """One transcript line as styled runs, and the indent for its continuation lines.

    A line that names me (or a PM to me) is drawn in the "mention" style.
    """
    head: Row = []
    if stamped(line):
        head.append((clock(line.ts) + " ", "time"))
    if line.kind in ("chat", "own") and line.nick:
        nick = "own_nick" if line.kind == "own" else nick_style(line.nick)
        body = "own" if line.kind == "own" else "mention" if line.mention else "chat"
        head += [("<", "time"), (sanitize(line.nick), nick), ("> ", "time")]
        segs = [*head, (sanitize(line.body), body)]
    else:
        style = "mention" if line.mention else KIND_STYLES.get(line.kind, line.kind)
        segs = [*head, (sanitize(line.text), style)]
    width = sum(cell_width(text) for text, _ in head)
    if line.kind in ("reply", "history"):  # continue under the text, a little further in
        return segs, width + len(line.text) - len(line.text.lstrip(" ")) + CONTINUATION_INDENT
    return segs, width


def wrap_segments(segs: Row, width: int, indent: int = 0) -> list[Row]:
    """Word-wrap styled runs to `width` columns, keeping each character's style."""
    width = max(1, width)
    indent = indent if 0 <= indent and width - indent >= 2 else 0
    plain = "".join(text for text, _ in segs)
    styles: list[str] = []
    for text, style in segs:
        styles += [style] * len(text)
    rows: list[Row] = []
    pos = 0
    for n, wrapped in enumerate(wrap(plain, width, indent)):
        content = wrapped[indent:] if n and wrapped[:indent] == " " * indent else wrapped
        lead = wrapped[: len(wrapped) - len(content)]
        found = plain.find(content, pos) if content else -1
        row: Row = [(lead, "")] if lead else []
        if found < 0:  # wrap replaced something (a too-wide character): keep one style
            row.append((content, styles[min(pos, len(styles) - 1)] if styles else ""))
        else:
            start = found
            for i in range(found, found + len(content) + 1):
                if i == found + len(content) or styles[i] != styles[start]:
                    if i > start:
                        row.append((plain[start:i], styles[start]))
                    start = i
            pos = found + len(content)
        rows.append(row)
    return rows


# Wrapped rows by the line's value: every SSH screen in a room gets an equal Line for one
# message, so the door wraps it once for all of them (rows are never changed once made).
_SHARED_ROWS: dict[tuple[Line, int], list[Row]] = {}


class ChatView:
    """Wraps transcript lines for the chat pane, caching the result per line and width."""

    def __init__(self) -> None:
        # by identity (the line is kept to check it): hashing a Line's fields for every
        # row of every frame cost more than the SSH door's whole redraw
        self._cache: dict[tuple[int, int], tuple[Line, list[Row]]] = {}

    def rows_for(self, line: Line, width: int) -> list[Row]:
        key = (id(line), width)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is line:
            return hit[1]
        if len(self._cache) > WRAP_CACHE_MAX:
            self._cache.clear()
        rows = _SHARED_ROWS.get((line, width))  # the same line, wrapped for another screen
        if rows is None:
            if len(_SHARED_ROWS) > WRAP_CACHE_MAX:
                _SHARED_ROWS.clear()
            segs, indent = line_segments(line)
            rows = _SHARED_ROWS[(line, width)] = wrap_segments(segs, width, indent)
        self._cache[key] = (line, rows)
        return rows

    def visible(self, transcript: Sequence[Line], width: int, height: int,
                offset: int) -> tuple[list[Row], int]:
        """The rows to show, `offset` rows up from the bottom; also the clamped offset.

        Only wraps lines from the bottom up until the window is full, so a long
        transcript costs nothing extra.
        """
        if height <= 0 or width <= 0:
            return [], 0
        offset = max(0, offset)
        collected: list[list[Row]] = []
        count = 0
        index = len(transcript) - 1
        while index >= 0 and count < offset + height:
            rows = self.rows_for(transcript[index], width)
            collected.append(rows)
            count += len(rows)
            index -= 1
        if index < 0:  # reached the top: cannot scroll further than that
            offset = min(offset, max(0, count - height))
        flat = [row for rows in reversed(collected) for row in rows]
        end = len(flat) - offset
        return flat[max(0, end - height): end], offset


def draw_chat(canvas: Canvas, rect: Rect, view: ChatView, transcript: Sequence[Line],
              offset: int, unseen: int = 0) -> int:
    """Draw the chat pane; returns the offset actually used (clamped at the top)."""
    if rect.empty:
        return 0
    height = rect.height
    if offset > 0 and height > 1:
        height -= 1  # the last row is the "more below" marker
    rows, offset = view.visible(transcript, rect.width, height, offset)
    top = rect.top + (height - len(rows) if offset == 0 else 0)
    for n, row in enumerate(rows):
        draw_row(canvas, top + n, rect.left, row, rect.width)
    if offset > 0:
        marker = MORE_BELOW if not unseen else f"-- more below ({unseen} new): PgDn --"
        canvas.write(rect.bottom - 1, rect.left, pad(marker, rect.width), "more", rect.width)
    return offset


def draw_row(canvas: Canvas, y: int, x: int, row: Row, width: int) -> None:
    used = 0
    for text, style in row:
        if used >= width:
            break
        used += canvas.write(y, x + used, text, style, width - used)


# ---------------------------------------------------------------- boards


def game_texts(game: GameState, model: ClientModel) -> tuple[list[str], str, str]:
    """A game's header lines (id and name, players), its status line and that line's style."""
    players = " vs ".join(game.players) or "waiting for players"
    header = [sanitize(f"#{game.game_id} {game.game}"), sanitize(players)]
    status = sanitize(game.status)
    if not game.over and is_me(model, game.turn):
        return header, f"your move: {status}", "board_turn"
    return header, status, "board_over" if game.over else "board_status"


def game_parts(game: GameState, model: ClientModel,
               width: int) -> tuple[list[Row], list[Row], list[Row]]:
    """One game as rows: header (id, name, players), the board lines, the status."""
    header, status, style = game_texts(game, model)
    joined = f"{header[0]}: {header[1]}"
    if cell_width(joined) <= width:
        header = [joined]
    head: list[Row] = [[(text, "board_header")] for line in header for text in wrap(line, width, 2)]
    board: list[Row] = [[(truncate(sanitize(text), width), "board")] for text in game.board]
    tail: list[Row] = [[(text, style)] for text in wrap(status, width, 2)]
    for line in model.clock_lines(game):
        urgent = (model.time_left(game) or 99) <= 10 and line.startswith(game.turn or "\0")
        tail += [[(text, "board_turn" if urgent else "board_status")]
                 for text in wrap(sanitize(line), width, 2)]
    return head, board, tail


def board_rows(games: Sequence[GameState], model: ClientModel, width: int,
               height: int | None = None) -> list[Row]:
    """Every game's rows, a blank row between games; squeezed into `height` if given.

    Squeezing drops blank board lines first; a board that still does not fit whole is
    replaced by a one-line note (half a board would mislead), and a header or a
    status line is never dropped: who plays and whose turn it is matter most.
    """
    parts = [game_parts(game, model, width) for game in sorted(games, key=lambda g: (
        not (not g.over and is_me(model, g.turn)),  # the game waiting for my move first,
        not any(is_me(model, p) for p in g.players),  # then my other games, then others'
        g.game_id))]
    total = sum(len(h) + len(b) + len(s) for h, b, s in parts) + len(parts) - 1
    if height is not None and total > height:
        parts = [(h, [r for r in b if "".join(t for t, _ in r).strip()], s) for h, b, s in parts]
        room = height - (len(parts) - 1) - sum(len(h) + len(s) for h, _, s in parts)
        squeezed = []
        for head, board, status in parts:
            if len(board) > room:
                note = wrap(BOARD_TOO_TALL, width, 1)
                board = [[(text, "board_status")] for text in note] if room >= len(note) else []
            squeezed.append((head, board, status))
            room -= len(board)
        parts = squeezed
    rows: list[Row] = []
    for head, board, status in parts:
        if rows:
            rows.append([])
        rows += head + board + status
    return rows[:height] if height is not None else rows


BOARD_TOO_TALL = "(enlarge the terminal to see the board)"


def board_width(games: Sequence[GameState]) -> int:
    """Columns the boards need: the widest board line, but at least BOARD_TEXT_WIDTH.

    Headers and status lines wrap to that width rather than widening the pane, so
    the pane keeps its size from move to move.
    """
    lines = (line for game in games for line in game.board)
    return max([BOARD_TEXT_WIDTH, *(cell_width(sanitize(line)) for line in lines)])


def board_size(games: Sequence[GameState], model: ClientModel) -> tuple[int, int] | None:
    """(lines, columns) the board pane wants, or None when no game is shown."""
    if not games:
        return None
    width = board_width(games)
    return len(board_rows(games, model, width)), width


def draw_board(canvas: Canvas, rect: Rect, side: str | None, games: Sequence[GameState],
               model: ClientModel) -> None:
    if rect.empty:
        return
    if side == "right":
        for y in range(rect.top, rect.bottom):
            canvas.write(y, rect.left, "│", "separator", 1)
        area = Rect(rect.top, rect.left + 2, rect.height, rect.width - 2)
    else:
        canvas.write(rect.bottom - 1, rect.left, "─" * rect.width, "separator", rect.width)
        area = Rect(rect.top, rect.left + 1, rect.height - 1, rect.width - 1)
    if area.empty:
        return
    rows = board_rows(games, model, area.width, area.height)
    for n, row in enumerate(rows):
        draw_row(canvas, area.top + n, area.left, row, area.width)


# ---------------------------------------------------------------- status, input, too small


def my_game_status(model: ClientModel) -> tuple[str, bool] | None:
    """What the status bar says about my game in this room, and whether it is my move;
    else a game of mine in another of my rooms that waits for my move (and where)."""
    for game in sorted(model.room_games(), key=lambda g: g.game_id):
        if game.over or not any(is_me(model, p) for p in game.players):
            continue
        if is_me(model, game.turn):
            return f"your move ({game.game} #{game.game_id})", True
        if game.turn:
            return f"{game.turn}'s move ({game.game} #{game.game_id})", False
    mine = {pane.name for pane in model.rooms()} - {model.room}
    for game in sorted(model.games.values(), key=lambda g: g.game_id):
        if game.room in mine and not game.over and is_me(model, game.turn):
            return f"your move in #{game.room} ({game.game} #{game.game_id})", True
    return None


def room_bar(model: ClientModel) -> str:
    """The rooms and PM conversations, numbered for Alt-N: `[1 #lobby] 2 #den (3) 3 @bob (1!)`.

    The one looked at is in brackets; unread lines in parentheses, with `!` when a
    line mentions you (or is a PM to you).
    """
    items = []
    for n, pane in enumerate(model.bar(), start=1):
        text = f"{n} {pane.label}"
        if pane.unread:
            text += f" ({pane.unread}{'!' if pane.mentions else ''})"
        items.append(f"[{text}]" if pane.name == model.current else text)
    return " ".join(items)


def draw_status(canvas: Canvas, rect: Rect, model: ClientModel, server: str) -> None:
    """Server, room, nick, how many online, and whose move it is in my game.

    On a narrow screen the server's address gives way first, so the rest fits.
    """
    if rect.empty:
        return
    turn = my_game_status(model)
    label, mine = turn if turn is not None else ("", False)
    where = f"#{model.room}" if model.room else (model.pane.label if model.current
                                                  else "(no room)")
    if len(model.bar()) > 1:
        where = room_bar(model)
    me = model.nick or model.user
    role = model.role_of(model.user)
    rest = [where, f"{me} ({role})" if role else me, f"{model.online} online"]
    if model.unverified:  # the mark on contacts with a new device key, until /trust USER
        rest.append("! new key: " + ", ".join(sorted(model.unverified.values(), key=str.casefold)))
    if model.unread:
        rest.append(f"({model.unread} for you)")
    for head in (f"play {server}", server, "play"):
        text = " " + " │ ".join(sanitize(p) for p in [head, *rest])
        if cell_width(text) + (cell_width(label) + 3 if label else 0) <= rect.width:
            break
    canvas.write(rect.top, rect.left, pad(text, rect.width), "status", rect.width)
    used = cell_width(text)
    room = rect.width - used - 3
    if label and room >= 8:
        canvas.write(rect.top, rect.left + used, " │ ", "status", 3)
        canvas.write(rect.top, rect.left + used + 3, truncate(sanitize(label), room),
                     "status_turn" if mine else "status", room)


def draw_input(canvas: Canvas, rect: Rect, prompt: str, visible: str, cursor: int) -> int:
    """Draw the prompt and the visible part of the typed text; returns the cursor column."""
    if rect.empty:
        return 0
    used = canvas.write(rect.top, rect.left, prompt, "prompt", rect.width)
    canvas.write(rect.top, rect.left + used, visible, "input", rect.width - used)
    return min(rect.left + used + cursor, rect.right - 1)


def input_field_width(rect: Rect, prompt: str) -> int:
    return max(1, rect.width - min(cell_width(prompt), rect.width) - 1)


def draw_too_small(canvas: Canvas, rows: int, cols: int) -> None:
    lines = ["terminal too small", f"{cols}x{rows}, need {MIN_COLS}x{MIN_ROWS}"]
    lines = lines[: max(1, rows)]
    top = max(0, (rows - len(lines)) // 2)
    for n, text in enumerate(lines):
        text = truncate(text, cols)
        left = max(0, (cols - cell_width(text)) // 2)
        canvas.write(top + n, left, text, "too_small" if n == 0 else "", cols)
