"""The SSH door's line view stamps lines as the play line client does: every line on a
terminal, only a room's earlier lines without one (sans-IO, no SSH)."""

from __future__ import annotations

import re

from gameclient.model import ClientModel, clock
from gameserver.doors.ssh_lines import LineView
from gameserver.protocol import HistoryPage, Ok

STAMP = re.compile(r"^\d\d:\d\d ")


def entry(text: str, ts: float) -> dict:
    return {"id": 1, "ts": ts, "type": "ROOM", "sender": "bob", "receiver": "lobby",
            "text": text, "nick": "Bobby"}


def test_times_on_a_terminal_and_for_earlier_lines_without_one() -> None:
    for terminal in (True, False):
        view = LineView(ClientModel(user="ann", nick="ann", room="lobby"), terminal=terminal)
        out = view.show(HistoryPage(kind="scrollback", room="lobby", page=0, last=True,
                                    entries=[entry("earlier", 3600.0)]))
        assert f"{clock(3600.0)} <Bobby> earlier" in out  # the nick of then, with its time
        out = view.show(Ok(id=3, text="a reply"))
        line = next(t for t in re.split(r"[\r\n]+", out) if "a reply" in t)
        line = line.replace("\x1b[K", "")
        assert bool(STAMP.match(line)) is terminal, line
