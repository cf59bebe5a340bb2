"""The throttles' rules in memory with a fake clock: backoff, rates, flood gate, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameserver import settings as settings_
from gameserver.runtime import Runtime
from gameserver.settings import Settings, SettingsError
from gameserver.throttle import (
    AddressCounts,
    Backoff,
    FloodGate,
    LoginThrottle,
    RateLimit,
    Verdict,
    address_key,
    say_wait,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(backoff: Backoff, key: str = "k") -> float:
    """One failed attempt; the wait it was refused with, or 0 if it was allowed."""
    wait = backoff.begin(key)
    if wait == 0:
        backoff.end(key, False)
    return wait


def test_backoff_is_free_then_doubles_then_caps() -> None:
    clock = Clock()
    b = Backoff(free=3, cap=8, clock=clock)
    for _ in range(3):
        assert fail(b) == 0 and b.wait("k") == 0
    waits = []
    for _ in range(6):
        assert fail(b) == 0  # allowed: the wait comes after it
        waits.append(b.wait("k"))
        assert b.begin("k") == pytest.approx(waits[-1])  # refused while waiting
        clock.now += waits[-1]
    assert waits == [1, 2, 4, 8, 8, 8]


def test_success_clears_and_quiet_forgets() -> None:
    clock = Clock()
    b = Backoff(free=1, cap=60, clock=clock, forget=100)
    fail(b)
    fail(b)
    assert b.wait("k") == 1
    clock.now += 1
    assert b.begin("k") == 0
    b.end("k", True)
    assert b.wait("k") == 0 and fail(b) == 0 and fail(b) == 0  # free again
    assert b.wait("k") > 0
    clock.now += 101
    assert b.wait("k") == 0 and "k" not in b.records


def test_attempts_in_flight_count_as_failures() -> None:
    # Many connections at once get no more tries than one connection in turn.
    clock = Clock()
    b = Backoff(free=3, cap=300, clock=clock)
    allowed = sum(1 for _ in range(100) if b.begin("k") == 0)
    assert allowed == 4  # the free three, then one that starts the waits
    for _ in range(allowed):
        b.end("k", None)  # cancelled (the connections went away): no failure recorded
    assert b.records["k"].failures == 0


def test_login_throttle_per_account_and_per_address() -> None:
    clock = Clock()
    t = LoginThrottle(Settings(login_free_failures=2, login_wait_max=300), clock)
    for _ in range(3):  # one address tries alice three times
        assert t.begin("alice", "1.2.3.4") is None
        t.end("alice", "1.2.3.4", False)
    why = t.begin("Alice", "5.6.7.8")  # another address, same account (any case)
    assert why is not None and "for Alice" in why and "try again in 1 second" in why
    why = t.begin("bob", "1.2.3.4")  # the same address, another account
    assert why is not None and "from your address" in why
    assert t.begin("carol", "9.9.9.9") is None  # everyone else is unaffected
    t.end("carol", "9.9.9.9", True)
    clock.now += 1
    assert t.begin("alice", "5.6.7.8") is None  # the wait is over: the right password works
    t.end("alice", "5.6.7.8", True)
    assert t.wait("alice", "5.6.7.8") == 0
    # ... but success on one's own account does not reset the guessing address.
    assert t.addresses.records["1.2.3.4"].failures == 3


def test_guesses_against_one_account_stay_under_one_a_second() -> None:
    clock = Clock()
    t = LoginThrottle(Settings(), clock)
    guesses = 0
    for second in range(3600):
        clock.now = 1000.0 + second
        for n in range(50):  # from fifty addresses, every second
            if t.begin("alice", f"10.0.{n}.1") is None:
                t.end("alice", f"10.0.{n}.1", False)
                guesses += 1
    assert guesses / 3600 < 1 / 60


def test_rate_limit_refills() -> None:
    clock = Clock()
    r = RateLimit(3, 3600, clock)
    assert [r.take("a") for _ in range(3)] == [0, 0, 0]
    assert r.take("a") == pytest.approx(1200)
    assert r.take("b") == 0
    clock.now += 1200
    assert r.take("a") == 0 and r.take("a") > 0


def test_flood_gate_paste_passes_then_delays_refuses_and_disconnects() -> None:
    s = Settings(flood_burst=20, flood_rate=4, flood_queue=12, flood_kick=50)
    gate = FloodGate(s, 0.0)
    assert [gate.admit(0.0)[0] for _ in range(20)] == [Verdict.PASS] * 20  # a pasted block
    delays = [gate.admit(0.0) for _ in range(12)]
    assert all(v is Verdict.DELAY for v, _ in delays)
    assert [when for _, when in delays] == pytest.approx([0.25 * k for k in range(1, 13)])
    assert gate.admit(0.0)[0] is Verdict.REFUSE
    verdicts = [gate.admit(0.0)[0] for _ in range(10_000)]  # however long the paste
    assert set(verdicts) == {Verdict.REFUSE}
    # The same script still sending: disconnected once it has gone on for kick_after.
    t, verdict = 0.0, Verdict.REFUSE
    while verdict is Verdict.REFUSE:
        t += 0.01
        verdict = gate.admit(t)[0]
    assert verdict is Verdict.DISCONNECT
    assert t == pytest.approx(s.flood_kick_after, abs=0.02)


def test_pastes_far_apart_are_each_a_paste_and_a_slow_flood_is_disconnected() -> None:
    s = Settings(flood_burst=20, flood_rate=4, flood_queue=12, flood_kick=50,
                 flood_kick_after=5.0)
    gate = FloodGate(s, 0.0)
    for start in (0.0, 10.0, 20.0, 30.0):  # a 400-line paste every ten seconds
        verdicts = {gate.admit(start)[0] for _ in range(400)}
        assert Verdict.DISCONNECT not in verdicts
        for _ in range(12):
            gate.released()
    # 100 lines every second keeps the refusals going: a spell, and then the disconnect.
    t, verdicts = 40.0, []
    while Verdict.DISCONNECT not in verdicts and t < 60:
        t += 1.0
        verdicts = [gate.admit(t)[0] for _ in range(100)]
        for _ in range(verdicts.count(Verdict.DELAY)):
            gate.released()
    assert Verdict.DISCONNECT in verdicts and t == 46.0  # its spell began at 41


def test_flood_gate_keeps_order_and_recovers() -> None:
    gate = FloodGate(Settings(flood_burst=2, flood_rate=1, flood_queue=5), 0.0)
    assert gate.admit(0.0)[0] is Verdict.PASS and gate.admit(0.0)[0] is Verdict.PASS
    assert gate.admit(0.0) == (Verdict.DELAY, 1.0)
    # A token is back, but a line is still held: the next waits behind it.
    assert gate.admit(1.5)[0] is Verdict.DELAY
    gate.released()
    gate.released()
    assert gate.admit(10.0)[0] is Verdict.PASS  # quiet a while: a full burst again
    assert gate.admit(10.0)[0] is Verdict.PASS


def test_a_sustained_typist_is_never_refused() -> None:
    gate = FloodGate(Settings(), 0.0)
    t = 0.0
    for _ in range(1000):  # 3 lines a second for over five minutes
        t += 1 / 3
        assert gate.admit(t)[0] is Verdict.PASS


def test_address_keys() -> None:
    assert address_key("192.0.2.7:5555") == "192.0.2.7"
    assert address_key("::1:5555") == "::1"
    assert address_key("2001:db8:1:2:3:4:5:6:5555") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.7:80") == "192.0.2.7"
    assert address_key("127.0.0.2:1") != address_key("127.0.0.1:1")


def test_say_wait() -> None:
    assert [say_wait(w) for w in (0.2, 8, 89.5, 90, 600, 7200)] == [
        "1 second", "8 seconds", "1 minute 30 seconds", "1 minute 30 seconds", "10 minutes",
        "2 hours"]


def test_settings_from_toml_then_flags(tmp_path: Path) -> None:
    (tmp_path / "play.toml").write_text("flood_burst = 50\nflood_rate = 2.5\nhash_queue = 8\n")
    got = settings_.load(tmp_path, {"hash_queue": 4, "flood_rate": None})
    assert (got.flood_burst, got.flood_rate, got.hash_queue) == (50, 2.5, 4)
    assert got.max_per_address == Settings().max_per_address
    assert settings_.load(tmp_path / "nowhere") == Settings()


@pytest.mark.parametrize(("text", "words"), [
    ("flood_brust = 5\n", "unknown setting 'flood_brust'"),
    ("flood_burst = 'many'\n", "flood_burst must be a whole number"),
    ("flood_burst = 2.5\n", "flood_burst must be a whole number"),
    ("flood_rate = -1\n", "flood_rate must be at least"),
    ("flood_rate = true\n", "flood_rate must be a number"),
    ("flood_rate = \n", "is not valid TOML"),
])
def test_settings_errors_are_sentences(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "play.toml").write_text(text)
    with pytest.raises(SettingsError, match=words):
        settings_.load(tmp_path)


def test_one_connection_count_per_address_with_a_refusal_sentence() -> None:
    counts = AddressCounts(2)
    assert counts.take("10.0.0.1") == (True, None)
    assert counts.take("10.0.0.1") == (True, None)
    counted, refusal = counts.take("10.0.0.1")  # told why, counted until its socket closes
    assert counted and refusal is not None and "at most 2" in refusal
    assert counts.take("10.0.0.2") == (True, None)  # another address is another count
    counts.take("10.0.0.1")
    assert counts.take("10.0.0.1")[0] is False  # past twice the cap: closed, never counted
    assert counts.count("10.0.0.1") == 4
    for _ in range(4):
        counts.release("10.0.0.1")
    assert counts.count("10.0.0.1") == 0 and counts.total == 1


def test_runtime_admit_shares_the_doors_count_and_releases_once(tmp_path: Path) -> None:
    runtime = Runtime(data_dir=tmp_path, settings=Settings(max_per_address=2))
    first = runtime.admit("127.0.0.9:4000")
    second = runtime.admit("127.0.0.9:4001")
    assert callable(first) and callable(second)
    refused = runtime.admit("127.0.0.9:4002")
    assert isinstance(refused, str) and "too many connections from your address" in refused
    assert runtime.connection_counts.count("127.0.0.9") == 2  # a refusal is not counted
    assert callable(runtime.admit("[::1]:5000"))  # IPv6 loopback is its own address
    first()
    first()  # a second call does nothing
    assert runtime.connection_counts.count("127.0.0.9") == 1
    assert callable(runtime.admit("127.0.0.9"))  # a bare address works too


@given(st.lists(st.tuples(st.floats(0.0, 3.0), st.integers(1, 40), st.booleans()), max_size=30),
       st.integers(1, 30), st.floats(0.5, 20.0))
@settings(max_examples=200, deadline=None)
def test_admit_many_is_admit_line_by_line(reads, burst, rate) -> None:
    """A read's frames admitted at once (the connection's fast path) decide as one by one."""
    s = Settings(flood_burst=burst, flood_rate=rate, flood_queue=8, flood_kick=1000)
    one, many = FloodGate(s, 0.0), FloodGate(s, 0.0)
    now = 0.0
    for gap, lines, release in reads:
        now += gap
        expected = [one.admit(now) for _ in range(lines)]
        passing = many.admit_many(now, lines)
        got = [(Verdict.PASS, now)] * passing + [many.admit(now) for _ in range(lines - passing)]
        assert got == expected
        if release:
            one.released()
            many.released()
        assert (many.tokens, many.held) == pytest.approx((one.tokens, one.held))


def test_a_guessing_run_is_told_to_the_operator_a_few_times_not_per_guess() -> None:
    """The failure that starts the waits is news, then the 10th, 100th ...; not each one."""
    clock = Clock()
    t = LoginThrottle(Settings(login_free_failures=3, login_wait_max=1), clock)
    told = []
    for n in range(1, 1001):
        clock.now += 2  # past each wait
        address = f"10.0.{n % 200}.1"  # many addresses, one account
        assert t.begin("alice", address) is None
        told += [(n, news) for news in t.end("alice", address, False)]
    about_alice = [n for n, news in told if "for the account alice" in news]
    assert about_alice == [4, 10, 100, 1000]
    assert all("10.0." in news for _, news in told if "from" in news)
    assert t.end("alice", "10.0.0.9", True) == []  # a success (no attempt begun): no news
