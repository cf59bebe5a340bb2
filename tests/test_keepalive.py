"""A client that answers its pings is never dropped: the ping rule on a fake clock, in memory
and on both doors (visits at ticks, as late as a busy loop makes them)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOMY, RawClient, logged_in, run, running_server
from hypothesis import given, settings
from hypothesis import strategies as st
from ircclients import RawIrc

from gameserver.doors import irc as irc_module
from gameserver.doors import jsonconn, jsonlines
from gameserver.doors.deadlines import (
    DROP,
    EVERY_TICK,
    PING,
    WAIT,
    Deadlines,
    keepalive,
)
from gameserver.doors.irc import IrcDoor

pytestmark = pytest.mark.timeout(60)

AFTER, TIMEOUT = 1.0, 1.0  # ping_after and ping_timeout in these tests (the ticks are 1 s)


class Clock:
    """The doors' deadline clock, held by the test: it moves only when the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- the rule, in memory


def test_a_ping_sent_late_still_gets_its_whole_timeout() -> None:
    """A visit comes at a tick: up to a tick after the ping was due, later on a busy loop.
    The ping it sends is answered within ping_timeout of its SENDING, never dropped at once."""
    quiet_since = 100.0
    for late in (0.0, 0.3, 0.999, 1.0, 1.5, 7.0):
        sent = quiet_since + AFTER + late
        assert keepalive(sent, quiet_since, 0.0, AFTER, TIMEOUT) == (PING, sent + TIMEOUT)
        before = sent + TIMEOUT - 0.001
        assert keepalive(before, quiet_since, sent, AFTER, TIMEOUT) == (WAIT, sent + TIMEOUT)
        assert keepalive(sent + TIMEOUT, quiet_since, sent, AFTER, TIMEOUT) == (DROP, EVERY_TICK)
    assert keepalive(100.999, 100.0, 0.0, AFTER, TIMEOUT) == (WAIT, 101.0)  # never early


class Line:
    """A connection as the wheel and the rule see it, with the times its answers arrive."""

    __slots__ = ("waits_in", "quiet_since", "pinged", "answer_in", "answers", "pings",
                 "dropped")

    def __init__(self, quiet_since: float, answer_in: float | None) -> None:
        self.waits_in: Any = None
        self.quiet_since = quiet_since  # its last read
        self.pinged = 0.0
        self.answer_in = answer_in  # seconds after each ping its pong is read (None: silent)
        self.answers: list[float] = []  # when the pongs still to read arrive
        self.pings: list[float] = []
        self.dropped = 0.0


def tick_through(lines: list[Line], ticks: list[float], grain: float = 0.25) -> None:
    """The door's tick loop on a fake clock: reads arrive between ticks, each tick visits
    whom the wheel says is due and does what the rule says (as Connection.sweep does)."""
    wheel = Deadlines(grain)
    for line in lines:
        wheel.place(line, EVERY_TICK)  # the first visit after login places it by its ping

    def visit(line: Any) -> float:
        while line.answers and line.answers[0] <= now:  # a read: quiet since then
            line.quiet_since, line.pinged = line.answers.pop(0), 0.0
        act, when = keepalive(now, line.quiet_since, line.pinged, AFTER, TIMEOUT)
        if act == PING:
            line.pinged = now
            line.pings.append(now)
            if line.answer_in is not None:
                line.answers.append(now + line.answer_in)
        elif act == DROP:
            line.dropped = now
            return float("inf")
        return when

    for now in ticks:
        for line in wheel.due(now):
            wheel.place(line, visit(line))


def regular_ticks(start: float, drift: float, count: int = 40) -> list[float]:
    """The runtime's ticks: each is called 1 s after the last one ran (a drift each time)."""
    return list(itertools.accumulate([start] + [1.0 + drift] * count))


def test_an_answering_client_is_never_dropped_whatever_the_ticks_phase_and_drift() -> None:
    """Every phase of the ticks against the last read, drifts from none to a busy loop's, and
    answers from at once to just within the timeout: pinged again and again, never dropped."""
    failures = []
    for phase, drift, answer_in in itertools.product(
            (0.0, 0.001, 0.03, 0.25, 0.5, 0.97, 0.999), (0.0, 0.0004, 0.001, 0.002, 0.05, 0.4),
            (0.0003, 0.0015, 0.3, 0.999)):
        line = Line(quiet_since=100.0, answer_in=answer_in)
        tick_through([line], regular_ticks(100.0 + phase, drift))
        if line.dropped or len(line.pings) < 10:
            failures.append((phase, drift, answer_in, line.dropped, len(line.pings)))
    assert failures == []


@settings(max_examples=300, deadline=None)
@given(gaps=st.lists(st.floats(0.01, 3.0), min_size=5, max_size=40),
       answer_in=st.floats(0.0001, 0.9999), start=st.floats(0.0, 2.0))
def test_any_tick_schedule_drops_only_the_silent_and_only_after_their_timeout(
        gaps: list[float], answer_in: float, start: float) -> None:
    """Ticks at any gaps (a loop stalled for 3 s included): the one that answers within the
    timeout is never dropped; the silent one is pinged after AFTER of quiet and dropped at
    the first tick at least TIMEOUT after its ping, not before."""
    ticks = list(itertools.accumulate([100.0 + start, *gaps]))
    answers, silent = Line(100.0, answer_in), Line(100.0, None)
    tick_through([answers, silent], ticks)
    assert not answers.dropped
    if silent.pings:
        ping = silent.pings[0]
        assert ping >= 100.0 + AFTER
        first_due = next((t for t in ticks if t >= ping + TIMEOUT), 0.0)
        assert silent.dropped == first_due


# ---------------------------------------------------------------- on the doors


def connection_of(door: jsonlines.JSONLinesDoor, user: str) -> jsonconn.Connection:
    return next(c for c in door.connections if c.session is not None and c.session.user == user)


@pytest.mark.parametrize("late", [0.0, 0.5, 1.0, 2.5])
def test_the_play_door_gives_a_late_ping_its_whole_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: float) -> None:
    """The visit that pings comes `late` after the ping was due (a tick later, a stalled
    loop): the client is still in until TIMEOUT after that ping, so its pong keeps it in."""
    clock = Clock(1000.0)
    monkeypatch.setattr(jsonconn, "_clock", clock)  # reads are stamped on it ...
    monkeypatch.setattr(jsonlines, "_clock", clock)  # ... and the tick visits on it

    async def main() -> None:
        async with running_server(tmp_path, settings=ROOMY.replace(
                ping_after=AFTER, ping_timeout=TIMEOUT)) as s:
            client: RawClient = await logged_in(s.port, "answers")  # its last read: 1000.0
            s.door.tick()  # the first visit after login: placed by its ping (1001.0)
            clock.now = sent = 1000.0 + AFTER + late
            s.door.tick()
            assert (await client.expect("ping"))["type"] == "ping"
            clock.now = sent + TIMEOUT - 0.001
            s.door.tick()  # not answered yet, but its timeout has not come: still in
            await client.send({"type": "pong"})
            assert (await client.say("still here"))["type"] == "ok"  # in, and heard
            clock.now = sent + TIMEOUT
            s.door.tick()  # the ping's timeout: it was answered
            assert connection_of(s.door, "answers").session.closed is False
            clock.now = sent + TIMEOUT - 0.001 + AFTER  # quiet since its say: pinged again
            s.door.tick()
            assert (await client.expect("ping"))["type"] == "ping"
            clock.now += TIMEOUT  # ... and silent this time: dropped, told why
            s.door.tick()
            frames = await client.wait_closed()
            assert frames[-1]["type"] == "bye"
            assert "no answer to a ping" in frames[-1]["reason"]

    run(main())


@pytest.mark.parametrize("late", [0.0, 0.5, 1.0, 2.5])
def test_the_irc_door_gives_a_late_ping_its_whole_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: float) -> None:
    clock = Clock(1000.0)
    monkeypatch.setattr(irc_module, "_clock", clock)

    async def main() -> None:
        irc = IrcDoor("127.0.0.1", 0)
        async with running_server(tmp_path, settings=ROOMY.replace(
                ping_after=AFTER, ping_timeout=TIMEOUT), doors=[irc]):
            chat = await RawIrc.connect(irc.port)
            await chat.send("PASS pw", "NICK answers", "USER a 0 * :A")
            await chat.expect("001")  # its last read: 1000.0
            irc.tick()  # registered: placed by its PING (1001.0)
            clock.now = sent = 1000.0 + AFTER + late
            irc.tick()
            ping = await chat.expect("PING")
            clock.now = sent + TIMEOUT - 0.001
            irc.tick()  # not answered yet, its timeout not come: still in
            await chat.send(f"PONG :{ping.params[-1]}", "PING :still-here")
            assert (await chat.expect("PONG")).params[-1] == "still-here"
            clock.now = sent + TIMEOUT
            irc.tick()  # the PING's timeout: it was answered
            await chat.send("PING :in")
            assert (await chat.expect("PONG")).params[-1] == "in"
            clock.now += AFTER  # quiet since: PINGed again
            irc.tick()
            await chat.expect("PING")
            clock.now += TIMEOUT  # ... and silent this time: dropped
            irc.tick()
            assert "Ping timeout" in (await chat.expect("ERROR")).params[-1]
            assert await chat.closed()

    run(main())
