"""The game host in memory on an injected clock, over tests/hubpair.py; frames as wire dicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hubpair import Pair, User

from gameserver.core.gamehost import GameHost
from gameserver.core.hub import Hub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A logged-in user of the in-memory hub; what it was sent, as the wire's dicts."""

    def __init__(self, hub: Hub, user: str) -> None:
        pair = PAIRS[id(hub)]
        self.user: User = pair.user(user)
        self.session = self.user.session

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [e.to_wire() for e in self.user.events if hasattr(e, "to_wire")]

    def command(self, name: str, args: str = "") -> dict[str, Any]:
        return self.user.cmd(name, args).to_wire()

    def say(self, text: str) -> dict[str, Any]:
        return self.user.say(text).to_wire()

    def notices(self) -> list[str]:
        return [f["text"] for f in self.frames if f.get("type") == "notice"]

    def last_state(self, game_id: int) -> dict[str, Any]:
        return next(f for f in reversed(self.frames)
                    if f.get("type") == "game" and f["game_id"] == game_id)

    def drop(self) -> None:
        self.user.drop()


PAIRS: dict[int, Pair] = {}


def make_world(tmp_path: Path) -> Iterator[tuple[Hub, GameHost, FakeClock]]:
    """A hub, its game host on a FakeClock, bots run at once; the store closes after."""
    pair = Pair(tmp_path)
    clock = FakeClock()
    host = pair.extend_games(clock=clock, grace=60.0)
    PAIRS[id(pair.hub)] = pair
    yield pair.hub, host, clock
    PAIRS.pop(id(pair.hub), None)
    pair.close()
