"""The core in memory, no sockets: a hub, a door that keeps typed events, and its users.

In the style of h11's connection-pair tests: every rule of the hub can be driven
message by message and its events read back, without an event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gameserver.core.events import RoomView
from gameserver.core.hub import Hub
from gameserver.passwords import hash_password
from gameserver.protocol import (
    Command,
    Hello,
    Login,
    Message,
    Ok,
    Resume,
    RoomState,
    Say,
)
from gameserver.store import SQLiteStore

FAST_N = 2**4


class MemoryDoor:
    """A door that keeps each event as it is (a room view as the state it shows now)."""

    def __init__(self) -> None:
        self.encodings = 0  # deliver() calls: one per event per door, however many sinks

    def _frozen(self, event: Any) -> Any:
        if isinstance(event, RoomView):
            return RoomState(room=event.room.name, nick=event.nick, online=event.online,
                             members=[{"nick": n, "user": u} for n, u in event.room.roster()])
        return event

    def send(self, sink: list[Any], event: Any) -> None:
        sink.append(self._frozen(event))

    def confirm(self, sink: list[Any], msg_id: int) -> None:
        sink.append(Ok(id=msg_id))

    def deliver(self, event: Any, sinks: Sequence[list[Any]]) -> None:
        self.encodings += 1
        frozen = self._frozen(event)
        for sink in sinks:
            sink.append(frozen)


class Pair:
    """A hub on a fresh store with one memory door; `user(name)` logs someone in."""

    def __init__(self, data_dir: Path, store: Any = None, **hub_options: Any) -> None:
        self.store = store if store is not None else SQLiteStore(data_dir / "play.db")
        self.timers: list[tuple[float, Any]] = []  # what the hub asked to run later
        hub_options.setdefault("schedule", lambda delay, run: self.timers.append((delay, run)))
        self.hub = Hub(self.store, hasher=lambda p: hash_password(p, FAST_N), **hub_options)
        self.door = MemoryDoor()

    def run_timers(self) -> int:
        """Run what the hub scheduled (as the runtime's loop would, later); how many ran."""
        timers, self.timers = self.timers, []
        for _, run in timers:
            run()
        return len(timers)

    def extend_games(self, **options: Any) -> Any:
        from gameserver.core.gamehost import GameHost

        return GameHost.install(self.hub, **options)

    def connect(self) -> User:
        return User(self)

    def user(self, name: str, password: str = "pw") -> User:
        user = User(self)
        user.send(Hello(version=1))
        reply = user.request(Login(id=user.next_id(), user=name, password=password))
        assert reply.TYPE == "ok", reply
        user.token = reply.data["token"]
        return user

    def close(self) -> None:
        self.store.close()


class User:
    """One connection's side: send typed messages, read the events it was given."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.events: list[Any] = []
        self.closed: list[str] = []
        self.session = pair.hub.connect(pair.door, self.events, self.closed.append, "memory")
        self._id = 0
        self._read = 0
        self.token = ""

    def next_id(self) -> int:
        self._id += 1
        return self._id

    def send(self, message: Message) -> None:
        """What a door does for one frame, then the end of a loop pass (the commit)."""
        self.pair.hub.receive(self.session, message)
        self.pair.hub.commit()

    def request(self, message: Message) -> Any:
        """Send, and return the (last) reply with the message's id: ok, error or history."""
        self.send(message)
        msg_id = getattr(message, "id", None)
        return next(e for e in reversed(self.events)
                    if e.TYPE in ("ok", "error", "history") and getattr(e, "id", None) == msg_id)

    def cmd(self, name: str, args: str = "", **extra: Any) -> Any:
        return self.request(Command(id=self.next_id(), name=name, args=args, **extra))

    def say(self, text: str) -> Any:
        return self.request(Say(id=self.next_id(), text=text))

    def resume(self, token: str) -> Any:
        self.send(Hello(version=1))
        return self.request(Resume(id=self.next_id(), token=token))

    def new(self) -> list[Any]:
        """Events since the last call."""
        events = self.events[self._read:]
        self._read = len(self.events)
        return events

    def of(self, type_: str, **fields: Any) -> list[Any]:
        """Every event so far of this type whose fields match."""
        return [e for e in self.events if e.TYPE == type_
                and all(getattr(e, k, None) == v for k, v in fields.items())]

    def drop(self) -> None:
        """The connection is lost (no /quit)."""
        self.pair.hub.disconnected(self.session, "connection lost")
        self.pair.hub.commit()


def pair_with_games(tmp_path: Any) -> Any:
    """A fixture's body: a Pair whose hub has the game host; yields (pair, host)."""
    pair = Pair(tmp_path)
    host = pair.extend_games()
    yield pair, host
    pair.close()
