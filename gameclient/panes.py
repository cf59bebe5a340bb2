"""Typed lines to the pane looked at (a room, or a PM conversation), and /rooms in words."""

from __future__ import annotations

from typing import Protocol

from gameclient.commands import Typed
from gameclient.model import ClientModel


class Sender(Protocol):
    def send_typed(self, typed: Typed, secret: str | None = None,
                   room: str | None = None) -> int: ...


ROOM_CHANGES = frozenset({"join", "part"})  # commands whose answer moves where lines go
ROOM_CHANGE_WAIT = 10.0  # seconds lines typed after one wait for its answer, at most


def send_to_pane(conn: Sender, model: ClientModel, typed: Typed,
                 secret: str | None = None) -> int:
    """Chat goes to the room looked at; in a PM conversation a plain line is a /msg."""
    room, peer = model.target()
    if peer is not None and typed.name is None:
        return conn.send_typed(Typed(f"/msg {peer} {typed.text}", "msg", f"{peer} {typed.text}"))
    return conn.send_typed(typed, secret, room)


def not_there(name: str) -> str:
    """Why /switch NAME found no pane: not in that room, or no such conversation yet."""
    name = name.strip()
    if name.startswith("@") and len(name) > 1:
        return f"! no conversation with {name[1:]} yet; /msg {name[1:]} TEXT starts one"
    return f"! you are not in {name or 'that room'}; /join it first"


def rooms_lines(model: ClientModel, screen: bool = True) -> list[str]:
    """What /rooms shows: every room and PM conversation, with unread lines and mentions.

    `screen`: the full screen's keys pick a pane; a line view has only /switch."""
    bar = model.bar()
    how = ("Alt-1..9, Ctrl-N/Ctrl-P or /switch NAME to look at one" if screen
           else "/switch NAME or number sends your lines to another")
    lines = [f"you are in {len(model.rooms())} room{'s' if len(model.rooms()) != 1 else ''}"
             f" ({how}):"]
    for n, pane in enumerate(bar, start=1):
        looked = "  <- here" if pane.name == model.current else ""
        counts = f", {pane.unread} unread" if pane.unread else ""
        counts += f", {pane.mentions} for you" if pane.mentions else ""
        who = f" as {pane.nick}, {len(pane.members)} here" if not pane.is_pm else " (PMs)"
        lines.append(f"  {n}. {pane.label}{who}{counts}{looked}")
    return lines
