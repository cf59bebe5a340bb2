"""The tick visits only what is due: a door's deadlines by bucket, in memory and on a server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOMY, logged_in, run, running_server
from ircclients import RawIrc

from gameserver.doors.deadlines import EVERY_TICK, NEVER, Deadlines
from gameserver.doors.irc import IrcConnection, IrcDoor
from gameserver.doors.jsonconn import Connection


class Item:
    """Something with deadlines (a connection, to the wheel)."""

    __slots__ = ("name", "waits_in")

    def __init__(self, name: str) -> None:
        self.name = name
        self.waits_in: set[Any] | None = None

    def __repr__(self) -> str:
        return self.name


def test_only_the_due_are_visited_and_the_unknown_every_tick() -> None:
    wheel = Deadlines(grain=0.25)
    young, soon, later, gone = Item("young"), Item("soon"), Item("later"), Item("gone")
    wheel.place(young, EVERY_TICK)
    wheel.place(soon, 10.3)
    wheel.place(later, 70.0)
    wheel.place(gone, 10.3)
    wheel.forget(gone)
    assert len(wheel) == 3
    assert wheel.due(9.0) == [young]  # nothing else is due: the rest cost nothing
    assert set(wheel.due(10.6)) == {young, soon}
    assert soon.waits_in is None  # taken out: the visit places it again ...
    wheel.place(soon, 40.0)
    assert wheel.due(11.6) == [young]
    wheel.place(young, 30.0)  # ... and a placed one moves (here: out of every tick)
    assert wheel.due(12.0) == []
    assert set(wheel.due(80.0)) == {young, soon, later}
    assert len(wheel) == 0


def test_a_bucket_due_early_is_visited_again_at_the_next_tick() -> None:
    """A bucket spans GRAIN: at a tick inside it, a deadline later in it is not due yet;
    placed again it is visited at the next tick, never skipped and never twice a tick."""
    wheel = Deadlines(grain=0.25)
    item = Item("ping")
    wheel.place(item, 10.2)
    due = wheel.due(10.1)
    assert due == [item]  # its bucket (10.0-10.25) has come
    wheel.place(item, 10.2)  # the visit: not yet (10.1 < 10.2); the tick's list is made
    assert due == [item]  # (so a pass never visits one twice)
    assert wheel.due(11.1) == [item]  # at the next tick, it is due


def test_never_forgets() -> None:
    wheel = Deadlines()
    item = Item("kicked")
    wheel.place(item, EVERY_TICK)
    wheel.place(item, NEVER)
    assert item.waits_in is None and wheel.due(1e9) == []


def test_idle_logged_in_connections_cost_no_visits_but_pings_come_on_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    visits: list[str | None] = []
    sweep = Connection.sweep

    def counted(self: Connection, now: float, settings: Any) -> float:
        visits.append(self.session.user if self.session is not None else None)
        return sweep(self, now, settings)

    monkeypatch.setattr(Connection, "sweep", counted)

    async def main() -> None:
        async with running_server(tmp_path, settings=ROOMY.replace(
                ping_after=2.0, ping_timeout=5.0)) as s:
            clients = [await logged_in(s.port, f"idle{i}") for i in range(10)]
            s.door.tick()  # the first sweep after login: each is placed by its ping
            visits.clear()
            for _ in range(5):
                s.door.tick()
            assert visits == []  # logged in and quiet, not due: nobody visited
            # The ping still comes 2 s after each one's last frame (the runtime's ticks).
            for c in clients:
                assert (await c.expect("ping", timeout=5))["type"] == "ping"
            assert len(visits) >= 10
            await clients[0].send({"type": "pong"})
            await asyncio.sleep(0.1)
            for c in clients:
                await c.close()

    run(main())


def test_the_irc_door_visits_only_the_due_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    visits: list[object] = []
    check = IrcConnection.check

    def counted(self: IrcConnection, now: float) -> float:
        visits.append(self)
        return check(self, now)

    monkeypatch.setattr(IrcConnection, "check", counted)

    async def main() -> None:
        irc = IrcDoor("127.0.0.1", 0)
        async with running_server(tmp_path, settings=ROOMY.replace(
                ping_after=2.0, ping_timeout=5.0), doors=[irc]):
            chats = []
            for i in range(5):
                chat = await RawIrc.connect(irc.port)
                await chat.send("PASS pw", f"NICK quiet{i}", f"USER q{i} 0 * :Q")
                await chat.expect("001")
                chats.append(chat)
            irc.tick()  # registered: each is placed by its PING
            visits.clear()
            for _ in range(5):
                irc.tick()
            assert visits == []
            for chat in chats:  # ... which still comes after 2 s of silence
                ping = await chat.expect("PING", timeout=5)
                assert ping.verb == "PING"
            for chat in chats:
                chat.close()

    run(main())


def test_a_failing_visit_loses_no_deadline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in one connection's sweep is logged; it and the others stay on the wheel."""
    sweep = Connection.sweep
    failures: list[str] = []

    def failing_once(self: Connection, now: float, settings: Any) -> float:
        user = self.session.user if self.session is not None else None
        if user == "broken" and not failures:
            failures.append(user)
            raise RuntimeError("a bug")
        return sweep(self, now, settings)

    monkeypatch.setattr(Connection, "sweep", failing_once)

    async def main() -> None:
        async with running_server(tmp_path, settings=ROOMY.replace(
                ping_after=1.0, ping_timeout=5.0)) as s:
            broken = await logged_in(s.port, "broken")
            other = await logged_in(s.port, "other")
            s.door.tick()  # the failing visit: logged, and visited again next tick
            assert failures == ["broken"]
            for client in (broken, other):  # both still pinged on time
                assert (await client.expect("ping", timeout=5))["type"] == "ping"
            await broken.close()
            await other.close()

    run(main())
