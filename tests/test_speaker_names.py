"""Live chat and scrollback name a speaker by one rule: the nick they had in that room then.
The core in memory; the client's model on the frames; then real line clients end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubpair import Pair

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    p = Pair(tmp_path)
    yield p
    p.close()


def test_the_scrollback_carries_the_nick_the_live_line_had(pair: Pair) -> None:
    bob, ann = pair.user("bob"), pair.user("ann")
    for u in (bob, ann):
        u.cmd("join", "den")
    bob.say("as bob")
    assert bob.cmd("nick", "Bobby", room="den").TYPE == "ok"
    bob.say("as Bobby")
    assert bob.cmd("nick", "Rob", room="den").TYPE == "ok"
    live = [(m.nick, m.text) for m in ann.of("room_msg", room="den")]
    assert live == [("bob", "as bob"), ("Bobby", "as Bobby")]
    cat = pair.user("cat")
    cat.cmd("join", "den")
    page = next(e for e in cat.events if e.TYPE == "history" and e.room == "den")
    said = [(e.get("nick") or e["sender"], e["text"]) for e in page.entries]
    assert said == live  # not "Rob" (his nick now), not the account for the second
