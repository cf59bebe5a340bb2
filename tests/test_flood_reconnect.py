"""The flood gate is the account's: a reconnect (a resume, a new login) brings no fresh burst."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import RawClient, logged_in, run, running_server

from gameserver.settings import Settings
from gameserver.throttle import FloodGates, Verdict

LIMITS = Settings(flood_burst=20, flood_rate=4.0, flood_queue=12, flood_kick=300,
                  max_per_address=1000, registrations_per_hour=1000)


def test_an_accounts_gate_outlives_its_sessions() -> None:
    gates = FloodGates(LIMITS)
    first = gates.take("Ann", 0.0)
    assert [first.admit(0.0)[0] for _ in range(20)] == [Verdict.PASS] * 20
    assert first.admit(0.0)[0] is Verdict.DELAY  # held by the first session, then it is gone
    again = gates.take("ann", 0.1)  # the same account, any case: the same bucket
    assert again is first and again.held == 0
    assert again.admit(0.1)[0] is Verdict.DELAY  # no fresh burst
    assert gates.take("bob", 0.1).admit(0.1)[0] is Verdict.PASS  # others have their own
    again.released()  # its line was handled
    gates.prune(1.0)
    assert "ann" in gates.gates  # still in debt: kept
    gates.prune(60.0)
    assert "ann" not in gates.gates  # full again: forgotten (a new gate is the same)


def lines(first_id: int, count: int) -> bytes:
    return b"".join(json.dumps({"type": "say", "id": first_id + n, "text": f"line {n}"}
                               ).encode() + b"\n" for n in range(count))


async def codes(client: RawClient, first_id: int, count: int) -> list[str]:
    return [(await client.expect_reply(first_id + n)).get("code", "ok") for n in range(count)]


def test_reconnecting_after_a_burst_brings_no_fresh_burst(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, settings=LIMITS) as s:
            ann = await RawClient.connect(s.port)
            await ann.hello()
            token = (await ann.login("ann"))["data"]["token"]
            ann.writer.write(lines(100, 20))
            assert await codes(ann, 100, 20) == ["ok"] * 20  # a paste passes at once
            # What a script did: hang up, resume with the token, send the next 20, again.
            await ann.close()
            back = await RawClient.connect(s.port)
            await back.hello()
            resumed = await back.request({"type": "resume", "token": token})
            assert resumed["type"] == "ok", resumed
            back.writer.write(lines(200, 20))
            got = await codes(back, 200, 20)
            assert got.count("slow_down") >= 7, got  # the bucket was still empty
            # A new login of the same account draws on the same gate too.
            again = await logged_in(s.port, "ann")
            again.writer.write(lines(300, 14))
            assert "slow_down" in await codes(again, 300, 14)
            # Everyone else is served as usual.
            bob = await logged_in(s.port, "bob")
            assert (await bob.say("hi"))["type"] == "ok"

    run(main())


def test_an_idle_session_keeps_no_gate_of_its_own_and_its_account_gate_still_counts(
        tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, settings=LIMITS) as s:
            ann = await logged_in(s.port, "ann")
            conn = next(c for c in s.connections if c.session.user == "ann")
            assert conn.gate is not None  # the pre-login one: nothing read since the login
            s.door.tick()  # a sweep sees the login: the connection's own gate goes
            assert conn.gate is None and "ann" not in s.runtime.hub.flood_gates.gates
            ann.writer.write(lines(100, 34))  # the first read takes the account's gate
            got = await codes(ann, 100, 34)
            assert got[:20] == ["ok"] * 20 and "slow_down" in got, got
            assert conn.gate is s.runtime.hub.flood_gates.gates["ann"]
            s.door.tick()  # from now on the sweep leaves the account's gate alone
            assert conn.gate is s.runtime.hub.flood_gates.gates["ann"]

    run(main())
