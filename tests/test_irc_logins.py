"""IRC logins go through the core's one login path: throttles, registration limits, hash queue."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from helpers import ROOMY, logged_in, run, running_server
from ircclients import RawIrc

from gameserver.doors.irc import IrcDoor
from gameserver.doors.irc_register import plain_payload
from gameserver.doors.irc_wire import Message


async def first_of(raw: RawIrc, *verbs: str, timeout: float = 15.0) -> Message:
    """The first line the server sends with one of `verbs`."""
    async with asyncio.timeout(timeout):
        while True:
            for line in raw.lines:
                if line.verb in verbs:
                    return line
            data = await raw.reader.read(65536)
            assert data, f"closed before {verbs}: {[m.to_line() for m in raw.lines]}"
            raw.lines.extend(m for m in raw.decoder.feed(data) if isinstance(m, Message))


async def pass_login(door: IrcDoor, nick: str, password: str) -> Message:
    """A fresh IRC connection registering with PASS: its 001, or the 464 it got."""
    raw = await RawIrc.connect(door.port)
    try:
        await raw.send(f"PASS {password}", f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        return await first_of(raw, "001", "464")
    finally:
        raw.close()


def test_password_guessing_over_irc_waits_as_on_the_play_door(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        settings = ROOMY.replace(login_free_failures=2, login_wait_max=60)
        async with running_server(tmp_path, doors=[door], settings=settings) as s:
            await (await logged_in(s.port, "alice", "right")).close()  # a play account
            for _ in range(3):
                reply = await pass_login(door, "alice", "wrong")
                assert reply.verb == "464"
                assert reply.params[-1].startswith("wrong password for alice")
            assert "the next try must wait 1 second" in reply.params[-1]  # the play door's words
            refused = await pass_login(door, "alice", "right")  # the owner, too soon
            assert refused.verb == "464"
            assert refused.params[-1] == "too many failed logins for alice; try again in 1 second"
            # the play door sees the same wait: one throttle, whichever door guessed
            assert s.hub.login_throttle.wait("alice", "127.0.0.1") > 0
            await asyncio.sleep(1.05)
            assert (await pass_login(door, "alice", "right")).verb == "001"

    run(body())


def test_sasl_guesses_count_in_the_same_throttle(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        settings = ROOMY.replace(login_free_failures=1, login_wait_max=60)
        async with running_server(tmp_path, doors=[door], settings=settings) as s:
            await (await logged_in(s.port, "bob", "right")).close()
            texts = []
            for _ in range(3):
                raw = await RawIrc.connect(door.port)
                await raw.send("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN")
                await raw.expect("AUTHENTICATE")
                await raw.send(*(f"AUTHENTICATE {c}" for c in plain_payload("bob", "nope")))
                texts.append((await raw.expect("904")).params[-1])
                raw.close()
            assert texts[0] == "SASL authentication failed: wrong password for bob"
            assert texts[1].endswith(
                "; after too many failed logins the next try must wait 1 second")
            assert texts[2] == ("SASL authentication failed: too many failed logins for bob; "
                                "try again in 1 second")

    run(body())


def test_a_flood_of_irc_pass_attempts_is_told_the_wait_and_hashes_little(
        tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        settings = ROOMY.replace(login_free_failures=3, login_wait_max=60)
        async with running_server(tmp_path, doors=[door], settings=settings) as s:
            await (await logged_in(s.port, "carol", "right")).close()
            checks = 0
            verify = s.hub.verifier

            def counting(password: str, stored: str) -> bool:
                nonlocal checks
                checks += 1
                return verify(password, stored)

            s.hub.verifier = counting
            started = time.monotonic()
            replies = await asyncio.gather(*(pass_login(door, "carol", f"guess{n}")
                                             for n in range(40)))
            assert all(r.verb == "464" for r in replies)
            waits = [r.params[-1] for r in replies if "try again in" in r.params[-1]]
            assert len(waits) >= 35  # the rest were refused before any hashing, told the wait
            assert all(w.startswith(("too many failed logins for carol; try again in ",
                                     "too many failed logins from your address; try again in "))
                       for w in waits)
            # the free failures, and not a hash more (but a starved worker's, run again)
            assert checks <= 5 + s.hub.hashes.rerun
            assert time.monotonic() - started < 20

    run(body())


def test_new_accounts_over_irc_count_against_the_address(tmp_path: Path) -> None:
    async def body() -> None:
        door = IrcDoor("127.0.0.1", 0)
        async with running_server(tmp_path, doors=[door],
                                  settings=ROOMY.replace(registrations_per_hour=2)) as s:
            await (await logged_in(s.port, "dan", "pw")).close()  # one from the play door
            assert (await pass_login(door, "erin", "pw")).verb == "001"
            refused = await pass_login(door, "fay", "pw")
            assert refused.verb == "464"
            assert refused.params[-1] == ("too many new accounts from your address; "
                                          "try again in 30 minutes")

    run(body())
