"""IRC and classic clients go through the same flood gate as the play door's (the account's)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from helpers import logged_in, run, running_server
from ircclients import RawIrc

from gameserver.doors.classic import ClassicDoor
from gameserver.doors.irc import IrcDoor
from gameserver.settings import Settings

LIMITS = Settings(flood_burst=20, flood_rate=4.0, flood_queue=12, flood_kick=60,
                  flood_kick_after=0.5,
                  max_per_address=1000, registrations_per_hour=1000)


async def room_lines(watcher: object, count: int, timeout: float = 10.0) -> list[str]:
    got = []
    for _ in range(count):
        frame = await watcher.expect("room_msg", timeout=timeout)  # type: ignore[attr-defined]
        got.append(frame["text"])
    return got


def test_an_irc_flood_is_delayed_refused_then_disconnected(tmp_path: Path) -> None:
    async def main() -> None:
        irc = IrcDoor("127.0.0.1", 0)
        async with running_server(tmp_path, settings=LIMITS, doors=[irc]) as s:
            watcher = await logged_in(s.port, "watcher")
            chat = await RawIrc.connect(irc.port)
            await chat.send("PASS pw", "NICK flooder", "USER f 0 * :F")
            await chat.expect("001")
            await chat.send("JOIN #lobby")
            await chat.expect("JOIN")
            # What the client asked by itself on joining (names, topic) is refilled first.
            gate = s.hub.flood_gates.gates["flooder"]
            while not gate.rested(time.perf_counter()):
                await asyncio.sleep(0.05)
            await chat.send(*(f"PRIVMSG #lobby :paste {n}" for n in range(40)))
            got = await room_lines(watcher, 32)
            assert got == [f"paste {n}" for n in range(32)]  # 20 at once, 12 paced, in order
            notice = await chat.expect("NOTICE", lambda m: "slow down" in m.params[-1])
            assert "more than 4 lines a second" in notice.params[-1]
            error = None
            for wave in range(30):  # a script that keeps sending, past kick_after
                await chat.send(*(f"PRIVMSG #lobby :flood {wave} {n}" for n in range(100)))
                try:  # what came back meanwhile (read, so the ERROR is not lost to a reset)
                    error = await chat.expect("ERROR", timeout=0.1)
                    break
                except AssertionError:
                    continue
            assert error is not None and "disconnected for flooding" in error.params[-1]
            assert wave >= 4  # not at once: once the flood had gone on for half a second
            assert (await watcher.say("still served"))["type"] == "ok"

    run(main())


def test_a_classic_guest_flood_is_refused_and_its_address_keeps_its_gate(tmp_path: Path) -> None:
    async def main() -> None:
        classic = ClassicDoor("127.0.0.1", 0)
        async with running_server(tmp_path, settings=LIMITS, doors=[classic]) as s:
            watcher = await logged_in(s.port, "watcher")
            reader, writer = await asyncio.open_connection("127.0.0.1", classic.port)
            writer.write(b"".join(f"guest line {n}\n".encode() for n in range(20)))
            got = await room_lines(watcher, 20)
            assert got == [f"guest line {n}" for n in range(20)]
            writer.close()
            # A new connection is a new guest name, but the same address: the same gate.
            reader, writer = await asyncio.open_connection("127.0.0.1", classic.port)
            writer.write(b"".join(f"again {n}\n".encode() for n in range(20)))
            said = b""
            while b"slow down" not in said:
                said += await asyncio.wait_for(reader.readline(), 10)
            assert b"more than 4 lines a second" in said
            writer.close()

    run(main())
