"""What every line view shares (the play line client, the SSH door's line view): how a
transcript line and a board are printed and which typed commands the view answers itself."""

from __future__ import annotations

from gameclient.commands import LOCAL_COMMANDS, Typed, set_command
from gameclient.model import ClientModel, Line, board_lines, clock
from gameclient.panes import not_there, rooms_lines
from gameclient.paneset import COPIES
from gameclient.views import stamped
from gameserver.protocol import GameState


def line_text(model: ClientModel, line: Line, *, terminal: bool) -> str | None:
    """A transcript line as a line view prints it, or None for a copy (printed as the line
    it copies).

    In several rooms (or a PM conversation besides) it says whose, and that pane counts
    as seen (its unread lines and mentions are cleared). Its time comes first on a
    terminal (every kind but /history's, which is dated); in a pipe only a room's earlier
    lines (scrollback) carry it, so a script reads lines as they were.
    """
    if line.kind in COPIES:
        return None
    text = line.text
    if len(model.bar()) > 1 and line.where:
        pane = model.panes.get(line.where)
        if pane is not None:
            pane.unread = pane.mentions = 0  # printed: seen
        where = line.where if line.where.startswith("@") else "#" + line.where
        text = f"[{where}] {text}"
    if stamped(line) and (terminal or line.kind == "scrollback"):
        text = f"{clock(line.ts)} {text}"
    return text


def board_texts(model: ClientModel, game: GameState) -> list[str]:
    """A board's lines, indented; in several rooms each says whose (a view adds any time)."""
    where = f"[#{game.room}] " if len(model.rooms()) > 1 else ""
    return [f"  {where}{text}" for text in board_lines(game)]


def local_reply(model: ClientModel, typed: Typed) -> list[str] | None:
    """The lines a line view answers itself to /switch, /rooms and /set, or None: send it."""
    if typed.name == "switch":
        if not model.switch(typed.args):
            return [not_there(typed.args)]
        return [f"* typed lines now go to {model.pane.label}"]
    if typed.name == "rooms":
        return rooms_lines(model, screen=False)
    if typed.name in LOCAL_COMMANDS:
        return [set_command(model, typed.args)]
    return None
