"""Move clocks and disconnect grace periods: pure decisions, then the game host in memory."""

from __future__ import annotations

from typing import Any

import pytest
from memhub import Client, FakeClock, make_world

from gameserver.core import clocks
from gameserver.core.clocks import ClockError, GraceOver, OutOfTime, Warn, decide, parse_clock
from gameserver.core.gamehost import BOT
from gameserver.core.hub import Hub

# ---------------------------------------------------------------- pure


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("30", 30), ("2m", 120), ("1m30s", 90), ("1h", 3600), (" 45S ", 45),
    ("off", None), ("none", None), ("OFF", None),
])
def test_parse_clock(text: str, seconds: float | None) -> None:
    assert parse_clock(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "30x", "1.5m", "-5", "m30", "30 s", "1m30", "4s",
                                  "25h", "soon"])
def test_parse_clock_refuses_with_a_sentence(text: str) -> None:
    with pytest.raises(ClockError) as info:
        parse_clock(text)
    assert "clock" in str(info.value) and "\n" not in str(info.value)


def test_seconds_text() -> None:
    assert [clocks.seconds_text(s) for s in (0, 9.4, 60, 90, 3600, 3725)] == [
        "1 second", "9 seconds", "1 minute", "1 minute 30 seconds", "1 hour",
        "1 hour 2 minutes"]


def test_decide_warns_once_then_times_out() -> None:
    common: dict[str, Any] = {"per_move": 30.0, "since": 100.0, "turn": "bob", "away": {}}
    assert decide(warned=False, now=110.0, **common) is None
    assert decide(warned=False, now=121.0, **common) == Warn("bob", 9.0)
    assert decide(warned=True, now=125.0, **common) is None
    assert decide(warned=True, now=130.0, **common) == OutOfTime("bob")
    # No clock, or nobody (or a bot) to move: no decision about time.
    assert decide(per_move=None, since=0, warned=False, turn="bob", away={}, now=1e9) is None
    assert decide(per_move=30.0, since=0, warned=False, turn=None, away={}, now=1e9) is None


def test_decide_grace_and_clock_whichever_ends_first() -> None:
    # bob left with 60 s of grace at t=100; it is carol's move, her clock is fine.
    away = {"bob": 160.0}
    assert decide(per_move=30.0, since=150, warned=False, turn="carol", away=away,
                  now=159.0) is None
    assert decide(per_move=30.0, since=150, warned=False, turn="carol", away=away,
                  now=160.0) == GraceOver("bob")
    # It is bob's own move: his clock runs on while he is away and runs out first.
    assert decide(per_move=30.0, since=100, warned=True, turn="bob", away=away,
                  now=130.0) == OutOfTime("bob")
    # A short clock never warns (it would warn at once).
    assert decide(per_move=8.0, since=100, warned=False, turn="bob", away={}, now=101) is None


# ---------------------------------------------------------------- the host in memory


@pytest.fixture
def world(tmp_path: Any) -> Any:
    yield from make_world(tmp_path)


def tick(hub: Hub, clock: FakeClock, to: float) -> None:
    clock.now = to
    hub.tick(to)
    hub.commit()


def start_ttt(alice: Client, bob: Client, clock: str = "") -> int:
    reply = alice.command("game", f"tictactoe {bob.session.user} {clock}".strip())
    assert reply["type"] == "ok", reply
    gid = reply["data"]["game_id"]
    assert bob.command("accept", str(gid))["type"] == "ok"
    return gid


def test_a_clock_runs_out_in_memory(world: Any) -> None:
    hub, host, clock = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = start_ttt(alice, bob, "--clock 20s")
    assert alice.last_state(gid)["time_left"] == 20
    clock.now += 3
    assert alice.say("b2")["type"] == "ok"
    assert bob.last_state(gid)["time_left"] == 20  # each move has its own 20 s
    tick(hub, clock, clock.now + 11)
    assert f"game {gid} (tictactoe): bob has 9 seconds left to move" in alice.notices()
    tick(hub, clock, clock.now + 9)
    state = alice.last_state(gid)
    assert state["over"] and state["status"] == "bob ran out of time - alice wins"
    assert host.hub.store.ratings_of("bob")["tictactoe"][0] < 1500


def test_the_default_clock_is_the_game_s_own(world: Any) -> None:
    hub, host, clock = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = start_ttt(alice, bob)
    assert alice.last_state(gid)["clock"] == 60
    hang = alice.command("game", "hangman")["data"]["game_id"]
    assert "clock" not in alice.last_state(hang)  # a room-wide game declares none


def test_a_dropped_player_has_a_grace_period_then_forfeits(world: Any) -> None:
    hub, host, clock = world
    alice, bob, carol = Client(hub, "alice"), Client(hub, "bob"), Client(hub, "carol")
    gid = start_ttt(alice, bob, "--clock 5m")
    alice.say("b2")
    bob.say("a1")
    bob.drop()
    said = [t for t in carol.notices() if "waits for bob" in t]
    assert said == [f"game {gid} waits for bob (disconnected); their seat is kept for 1 minute,"
                    " then bob forfeits"]
    assert carol.last_state(gid)["away"] == {"bob": 60}
    alice.say("c3")  # alice moves on; now bob's clock runs while he is away
    tick(hub, clock, clock.now + 59)
    assert not carol.last_state(gid)["over"]
    tick(hub, clock, clock.now + 1)
    state = carol.last_state(gid)
    assert state["over"] and state["status"] == "bob ran out of time - alice wins"
    assert f"game {gid} (tictactoe): bob did not come back in 1 minute and forfeits" in \
        carol.notices()
    assert hub.store.ratings_of("bob")["tictactoe"][0] < 1500  # leaving is a rated loss


def test_a_dropped_player_who_returns_plays_on(world: Any) -> None:
    hub, host, clock = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = start_ttt(alice, bob, "--clock 2m")
    alice.say("b2")
    bob.drop()
    tick(hub, clock, clock.now + 30)
    bob = Client(hub, "bob")  # back, on any door: seats belong to the account
    assert f"bob is back for game {gid}" in alice.notices()
    state = bob.last_state(gid)
    assert state["turn"] == "bob" and not state.get("away")
    # The move clock did not stop while he was gone: 30 of his 120 s are used.
    assert state["time_left"] == 90
    tick(hub, clock, clock.now + 40)  # past the old grace end: nothing happens
    assert bob.say("a1")["type"] == "ok"
    assert not bob.last_state(gid)["over"]


def test_stalling_by_disconnecting_on_your_own_move_gains_nothing(world: Any) -> None:
    hub, host, clock = world
    alice, bob = Client(hub, "alice"), Client(hub, "bob")
    gid = start_ttt(alice, bob, "--clock 20s")
    alice.say("b2")
    tick(hub, clock, clock.now + 15)
    bob.drop()
    assert any("or sooner, if bob's move clock runs out" in t for t in alice.notices())
    tick(hub, clock, clock.now + 5)  # 20 s after alice's move, long before 60 s of grace
    assert alice.last_state(gid)["status"] == "bob ran out of time - alice wins"


def test_a_bot_game_is_answered_in_memory_and_not_rated(world: Any) -> None:
    hub, host, clock = world
    alice = Client(hub, "alice")
    gid = alice.command("game", "c4 bot")["data"]["game_id"]
    alice.say("4")
    state = alice.last_state(gid)
    assert state["turn"] == "alice" and sum(r.count("O") for r in state["board"][1:7]) == 1
    assert alice.command("resign")["type"] == "ok"
    assert hub.store.ratings_of("alice") == {}
    assert hub.store.stats("alice") == [("connectfour", 0, 1, 0)]
    assert BOT in host.tables[gid].seats
