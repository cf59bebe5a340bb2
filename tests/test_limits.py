"""Limits over real loopback sockets: flood control, pre-login deadlines, caps, pings, hashing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path

from helpers import ROOMY, RawClient, logged_in, run, running_server
from ircclients import RawIrc

from gameserver.doors.classic import ClassicDoor
from gameserver.doors.irc import IrcDoor
from gameserver.settings import Settings


def limits(**changes: float) -> Settings:
    """The roomy test settings with the limit under test put back (or set)."""
    return ROOMY.replace(**changes)


# ---------------------------------------------------------------- flood control


def test_a_pasted_block_of_twenty_lines_arrives_whole(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, settings=limits(flood_burst=20, flood_rate=4)) as s:
            ann = await logged_in(s.port, "ann")
            bob = await logged_in(s.port, "bob")
            lines = [f"line {n} of the paste" for n in range(20)]
            ann.writer.write(b"".join(json.dumps(
                {"type": "say", "id": 100 + n, "text": t}).encode() + b"\n"
                for n, t in enumerate(lines)))
            start = time.monotonic()
            got = [(await bob.expect("room_msg"))["text"] for _ in lines]
            assert got == lines
            assert time.monotonic() - start < 1.0  # at once, not paced
            replies = [await ann.expect_reply(100 + n) for n in range(20)]
            assert all(r["type"] == "ok" for r in replies)

    run(main())


def test_a_flood_is_delayed_then_refused_then_disconnected_and_others_are_served(
        tmp_path: Path) -> None:
    settings = limits(flood_burst=5, flood_rate=10, flood_queue=5, flood_kick=40,
                      flood_kick_after=0.5)

    async def main() -> None:
        async with running_server(tmp_path, settings=settings) as s:
            flooder = await logged_in(s.port, "flooder")
            calm = await logged_in(s.port, "calm")
            watcher = await logged_in(s.port, "watcher")
            start = time.monotonic()
            flooder.writer.write(b"".join(json.dumps(
                {"type": "say", "id": 1000 + n, "text": f"flood {n}"}).encode() + b"\n"
                for n in range(12)))
            replies = [await flooder.expect_reply(1000 + n) for n in range(12)]
            kinds = [r.get("code", r["type"]) for r in replies]
            assert kinds == ["ok"] * 10 + ["slow_down"] * 2  # 5 at once, 5 delayed, refused
            assert "slow down: you are sending more than 10 lines a second" in replies[10]["text"]
            assert time.monotonic() - start >= 0.4  # the delayed five were paced
            # Calm people are served meanwhile.
            assert (await calm.say("still fine"))["type"] == "ok"
            await watcher.expect("room_msg", text="still fine")
            # A long paste at once: refused past its first lines, never a disconnect.
            await asyncio.sleep(0.6)  # (after a pause: the refusals above were another spell)
            flooder.writer.write(b"".join(json.dumps(
                {"type": "say", "id": 2000 + n, "text": "x"}).encode() + b"\n"
                for n in range(200)))
            replies = [await flooder.expect_reply(2000 + n) for n in range(200)]
            assert {r.get("code") for r in replies} <= {None, "slow_down"}
            # Far past the limit for long (kick_after): disconnected, with the reason.
            bye = None
            for wave in range(30):  # 100 lines every 0.1 s, reading what comes back
                flooder.writer.write(b"".join(json.dumps(
                    {"type": "say", "id": 3000 + 100 * wave + n, "text": "x"}).encode()
                    + b"\n" for n in range(100)))
                deadline = time.monotonic() + 0.1
                while bye is None and (left := deadline - time.monotonic()) > 0:
                    try:
                        frame = await flooder.read_frame(left)
                    except TimeoutError:
                        break
                    if frame is not None and frame["type"] == "bye":
                        bye = frame
                if bye is not None:
                    break
            assert bye is not None and bye["code"] == "flood" and "flooding" in bye["reason"]
            assert wave >= 4  # not at the first wave: once it had gone on for half a second
            await watcher.expect("left", nick="flooder")
            assert (await calm.say("after the flood"))["type"] == "ok"

    run(main())


# ---------------------------------------------------------------- before login


def test_hello_and_login_deadlines(tmp_path: Path) -> None:
    async def main() -> None:
        settings = limits(hello_timeout=0.5, login_timeout=1.5)
        async with running_server(tmp_path, settings=settings) as s:
            silent = await RawClient.connect(s.port)
            frames = await silent.wait_closed(timeout=5)
            assert frames[-1]["type"] == "bye"
            assert "hello within 0.5 seconds" in frames[-1]["reason"]
            greeted = await RawClient.connect(s.port)
            await greeted.hello()
            frames = await greeted.wait_closed(timeout=5)
            assert frames[-1]["code"] == "timeout"
            assert "did not log in within 1.5 seconds" in frames[-1]["reason"]
            # Logged in in time: kept well past both deadlines.
            ann = await logged_in(s.port, "ann")
            await asyncio.sleep(2.5)
            assert (await ann.say("still here"))["type"] == "ok"

    run(main())


def test_frames_before_login_are_small(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, settings=limits(prelogin_frame=1024)) as s:
            client = await RawClient.connect(s.port)
            await client.hello()
            big = {"type": "login", "id": 1, "user": "ann", "password": "p" * 2000}
            await client.send(big)
            error = await client.expect("error")
            assert error["code"] == "frame_too_large" and "1024 bytes" in error["text"]
            reply = await client.login("ann")
            assert reply["type"] == "ok"
            long_line = "y" * 1900  # after login, a normal chat line is fine again
            assert (await client.say(long_line))["type"] == "ok"

    run(main())


def test_connections_per_address_are_capped_loopback_included(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, settings=limits(max_per_address=3)) as s:
            held = [await RawClient.connect(s.port) for _ in range(3)]
            for client in held:
                await client.hello()
            extra = await RawClient.connect(s.port)
            frames = await extra.wait_closed()
            assert frames[0]["type"] == "bye" and frames[0]["code"] == "refused"
            assert "too many connections from your address (at most 3)" in frames[0]["reason"]
            other = await RawClient.connect(s.port, source="127.0.0.2")  # another address
            await other.hello()
            await held[0].close()
            for _ in range(50):  # its place comes free once the server sees it go
                again = await RawClient.connect(s.port)
                await again.send({"type": "hello", "version": 1})
                first = await again.read_frame()
                if first and first["type"] == "welcome":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the freed place was never given back")

    run(main())


def test_one_count_per_address_across_every_door(tmp_path: Path) -> None:
    """An address at its cap on the play door is refused on the IRC and classic doors too."""
    async def main() -> None:
        irc, classic = IrcDoor("127.0.0.1", 0), ClassicDoor("127.0.0.1", 0)
        async with running_server(tmp_path, settings=limits(max_per_address=2),
                                  doors=[irc, classic]) as s:
            play = await RawClient.connect(s.port)
            await play.hello()
            chat = await RawIrc.connect(irc.port)
            await chat.send("PASS pw", "NICK held", "USER h 0 * :H")
            await chat.expect("001")
            extra = await RawIrc.connect(irc.port)  # the third from 127.0.0.1, on any door
            refused = await extra.expect("ERROR")
            assert "too many connections from your address (at most 2)" in refused.params[-1]
            reader, writer = await asyncio.open_connection("127.0.0.1", classic.port)
            said = await asyncio.wait_for(reader.read(), 10)
            assert b"too many connections from your address (at most 2)" in said
            writer.close()
            extra.close()
            counts = s.runtime.connection_counts
            for _ in range(100):  # the refused ones are counted until their sockets close
                if counts.count("127.0.0.1") == 2:
                    break
                await asyncio.sleep(0.05)
            late = await RawClient.connect(s.port)
            frames = await late.wait_closed()
            assert frames[0]["code"] == "refused"
            await late.close()
            other = await RawClient.connect(s.port, source="127.0.0.2")  # another address
            await other.hello()
            await play.close()  # a place comes free for 127.0.0.1 on every door
            for _ in range(100):
                if counts.count("127.0.0.1") <= 1:
                    break
                await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection("127.0.0.1", classic.port)
            writer.write(b"/nick zed\n")  # a guest now: the assignment's 0 for a good nick
            assert await asyncio.wait_for(reader.readline(), 10) == b"0\n"
            writer.close()

    run(main())


def test_idle_clients_are_pinged_and_the_silent_ones_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        settings = limits(ping_after=1.0, ping_timeout=1.0)
        async with running_server(tmp_path, settings=settings) as s:
            answers = await logged_in(s.port, "answers")
            silent = await logged_in(s.port, "silent")
            pongs = 0
            silent_left, said = asyncio.Event(), asyncio.Event()

            async def answer_every_ping() -> None:
                """The one reader of `answers`: a client answers each ping as it comes
                (quiet is counted from the pong: it is pinged again 1 s later)."""
                nonlocal pongs
                while (frame := await answers.read_frame(timeout=10)) is not None:
                    if frame["type"] == "ping":
                        await answers.send({"type": "pong"})
                        pongs += 1
                    elif frame["type"] == "left" and frame.get("nick") == "silent":
                        silent_left.set()
                    elif frame["type"] == "ok" and frame.get("id") == 99:
                        said.set()

            answering = asyncio.create_task(answer_every_ping())
            frames = await silent.wait_closed(timeout=8)
            assert any(f["type"] == "ping" for f in frames)
            assert frames[-1]["type"] == "bye" and "no answer to a ping" in frames[-1]["reason"]
            await asyncio.wait_for(silent_left.wait(), 5)
            await answers.send({"type": "say", "id": 99, "text": "I answered"})
            await asyncio.wait_for(said.wait(), 5)  # still in: it answered its pings
            assert pongs >= 1 and not answering.done()
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering

    run(main())


# ---------------------------------------------------------------- logins


def test_wrong_passwords_wait_and_the_right_one_works_after_the_wait(tmp_path: Path) -> None:
    async def main() -> None:
        settings = limits(login_free_failures=2, login_wait_max=60)
        async with running_server(tmp_path, settings=settings) as s:
            await (await logged_in(s.port, "alice", "right")).close()
            for _ in range(3):
                guesser = await RawClient.connect(s.port)
                await guesser.hello()
                reply = await guesser.login("alice", "wrong")
                assert reply["code"] == "bad_password"
                await guesser.close()
            assert "the next try must wait 1 second" in reply["text"]
            owner = await RawClient.connect(s.port)
            await owner.hello()
            refused = await owner.login("alice", "right")
            assert refused["code"] == "throttled"
            assert refused["text"] == "too many failed logins for alice; try again in 1 second"
            await asyncio.sleep(1.05)
            assert (await owner.login("alice", "right"))["type"] == "ok"

    run(main())


def test_a_connection_that_goes_away_cancels_its_pending_hash(tmp_path: Path) -> None:
    gate = threading.Event()
    checked: list[str] = []

    async def main() -> None:
        async with running_server(tmp_path, hash_workers=1) as s:
            await (await logged_in(s.port, "alice", "right")).close()
            hub = s.hub
            verify = hub.verifier

            def slow_verifier(password: str, stored: str) -> bool:
                checked.append(password)
                gate.wait(10)
                return verify(password, stored)

            hub.verifier = slow_verifier
            blockers = []
            for password in ("first", "second"):  # the express thread, then the hash thread
                blocker = await RawClient.connect(s.port)
                await blocker.hello()
                await blocker.send({"type": "login", "id": 1, "user": "alice",
                                    "password": password})
                blockers.append(blocker)
            while not {"first", "second"} <= set(checked):  # both hash threads are now busy
                await asyncio.sleep(0.01)
            leavers = []
            for n in range(10):
                c = await RawClient.connect(s.port)
                await c.hello()
                await c.send({"type": "login", "id": 1, "user": "alice", "password": f"gone{n}"})
                leavers.append(c)
            for c in leavers:
                await c.close()
            while len(s.connections) > 2:  # the server has seen the ten go
                await asyncio.sleep(0.01)
            gate.set()
            for blocker in blockers:
                assert (await blocker.expect_reply(1))["code"] == "bad_password"
            owner = await RawClient.connect(s.port)
            await owner.hello()
            assert (await owner.login("alice", "right"))["type"] == "ok"
            assert set(checked) == {"first", "second", "right"}  # the ten who left cost nothing
            # "second" waited at the gate on the one worker, which finished nothing meanwhile:
            # to the hash queue it looked starved, so the rescue thread may have run it again
            assert len(checked) == 3 + hub.hashes.rerun
            assert hub.hashing == 0

    run(main())


def test_a_full_hash_queue_says_busy(tmp_path: Path) -> None:
    gate = threading.Event()

    async def main() -> None:
        async with running_server(tmp_path, hash_workers=1,
                                  settings=limits(hash_queue=2)) as s:
            await (await logged_in(s.port, "alice", "right")).close()
            verify = s.hub.verifier
            s.hub.verifier = lambda p, h: gate.wait(10) and verify(p, h)
            waiting = []
            for _ in range(2):
                c = await RawClient.connect(s.port)
                await c.hello()
                await c.send({"type": "login", "id": 1, "user": "alice", "password": "right"})
                waiting.append(c)
            late = await RawClient.connect(s.port)
            await late.hello()
            reply = await late.login("alice", "right")
            assert reply["code"] == "busy" and "try again in a few seconds" in reply["text"]
            gate.set()
            for c in waiting:
                assert (await c.expect_reply(1))["type"] == "ok"
            assert (await late.login("alice", "right"))["type"] == "ok"

    run(main())


# ---------------------------------------------------------------- names, settings


def test_a_lookalike_nick_is_refused_over_the_wire(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path) as s:
            await logged_in(s.port, "dave")
            eve = await logged_in(s.port, "eve")
            reply = await eve.command("nick", "d\u0430ve")
            assert reply["code"] == "lookalike"
            assert reply["text"] == ("the nick d\u0430ve looks like dave, another user's name; "
                                     "choose one that reads differently")
            assert (await eve.command("nick", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"))[
                "type"] == "ok"

    run(main())


def test_limits_are_flags_in_help_and_come_from_play_toml(tmp_path: Path) -> None:
    import subprocess

    from helpers import ServerProcess, child_env, play_command

    out = subprocess.run(play_command("host", "--help"), capture_output=True, text=True,
                         env=child_env(COLUMNS="200"), timeout=30)
    for flag in ("--flood-burst", "--flood-rate", "--max-per-address", "--login-timeout",
                 "--hash-queue", "play.toml"):
        assert flag in out.stdout
    data = tmp_path / "data"
    data.mkdir()
    (data / "play.toml").write_text("max_per_address = 1\nhello_timeout = 30\n")
    server = ServerProcess(data, "--max-per-address", "2")  # the flag wins over the file

    async def main() -> None:
        held = [await RawClient.connect(server.port) for _ in range(2)]
        for client in held:
            await client.hello()
        third = await RawClient.connect(server.port)
        frames = await third.wait_closed()
        assert "at most 2" in frames[0]["reason"]

    try:
        run(main())
    finally:
        server.stop()
    (data / "play.toml").write_text("max_per_adress = 1\n")
    bad = subprocess.run(play_command("host", "--headless", "--port", "0", "--data-dir",
                                      str(data)), capture_output=True, text=True,
                         env=child_env(), timeout=30)
    assert bad.returncode == 2 and "unknown setting 'max_per_adress'" in bad.stderr
