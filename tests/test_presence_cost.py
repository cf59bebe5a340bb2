"""What keeps a crowd's arrival cheap at any rate: flushes, grouped commits, presence batches."""

from __future__ import annotations

import asyncio
import heapq
import time

from helpers import Counting, RawClient, logged_in, run, running_server
from hubpair import Pair

from gameserver.core.presence import (
    FRAMES_PER_CHANGE,
    INTERVAL,
    MAX_INTERVAL,
    MAX_WAIT,
    interval_for,
)
from gameserver.runtime import GROUP_COMMIT, CommitSchedule
from gameserver.settings import Settings


def test_lazy_commits_close_together_share_one_transaction():
    async def body():
        loop = asyncio.get_running_loop()
        hub = Counting()
        schedule = CommitSchedule(hub, loop, lambda: None)
        schedule.request(lazy=True)  # nothing committed lately: at once
        await asyncio.sleep(0)
        assert len(hub.commits) == 1
        for _ in range(5):  # a crowd arriving a millisecond apart
            schedule.request(lazy=True)
            await asyncio.sleep(0.001)
            schedule._soon = False  # as if each came in a pass of its own  # noqa: SLF001
        assert len(hub.commits) == 1  # they wait for each other ...
        await asyncio.sleep(GROUP_COMMIT * 2)
        assert len(hub.commits) == 2  # ... and share one commit
        assert hub.commits[1] - hub.commits[0] >= GROUP_COMMIT * 0.9

    run(body())


def test_a_message_does_not_wait_for_the_group_commit():
    async def body():
        loop = asyncio.get_running_loop()
        hub = Counting()
        schedule = CommitSchedule(hub, loop, lambda: None)
        schedule.request(lazy=True)
        await asyncio.sleep(0)
        schedule.request(lazy=True)  # waits for company ...
        schedule.request(lazy=False)  # ... until a message comes: then everything, now
        await asyncio.sleep(0)
        assert len(hub.commits) == 2
        assert hub.commits[1] - hub.commits[0] < GROUP_COMMIT / 2
        await asyncio.sleep(GROUP_COMMIT * 2)
        assert len(hub.commits) == 2  # the cancelled wait commits nothing more

    run(body())


def test_a_flush_visits_only_the_connections_written_to(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            door = server.door
            clients = [await logged_in(server.port, f"u{i}") for i in range(10)]
            for c in clients:
                await c.drain_frames(0.1)
            visited: list[list[object]] = []
            flushables = door.flushables

            def recording():
                conns = list(flushables())
                visited.append(conns)
                return conns

            door.flushables = recording  # type: ignore[method-assign]
            reply = await clients[3].command("help")  # answered to one connection only
            assert reply["type"] == "ok"
            written = [conns for conns in visited if conns]
            assert written and all(len(set(conns)) == 1 for conns in written)
            [only] = {conn for conns in written for conn in conns}
            assert only.session is not None and only.session.user == "u3"
            visited.clear()
            said = await clients[0].say("hello all")  # everyone: the flush walks them all
            assert said["type"] == "ok"
            for c in clients[1:]:
                assert (await c.expect("room_msg"))["text"] == "hello all"
            assert any(len(conns) == len(door.connections) for conns in visited)
            for c in clients:
                await c.close()

    run(body())


def test_resumes_arriving_close_together_are_confirmed_and_share_commits(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            tokens = []
            for i in range(12):
                c = await RawClient.connect(server.port)
                await c.hello()
                reply = await c.request({"type": "login", "user": f"r{i}", "password": "pw"})
                tokens.append(reply["data"]["token"])
                await c.close()
            await asyncio.sleep(0.1)
            commits = []
            hub_commit = server.hub.commit

            def counted() -> bool:
                commits.append(time.monotonic())
                return hub_commit()

            server.hub.commit = counted  # type: ignore[method-assign]
            again = [await RawClient.connect(server.port) for _ in tokens]
            for c in again:
                await c.hello()
            for c, token in zip(again, tokens, strict=True):  # a few milliseconds apart
                await c.send({"type": "resume", "token": token, "id": 1})
                await asyncio.sleep(0.003)
            for c in again:
                reply = await c.expect_reply(1)
                assert reply["type"] == "ok", reply
            assert 1 <= len(commits) < len(tokens)
            for c in again:
                await c.close()

    run(body())


def test_a_big_rooms_presence_costs_a_bounded_number_of_frames_a_second():
    assert interval_for(64) == INTERVAL
    assert interval_for(1500) == 1.5  # 1000 member-frames a second
    assert interval_for(100_000) == MAX_INTERVAL


class VirtualTime:
    """The runtime's timer on a clock of its own: `advance(t)` runs what is due by t."""

    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[tuple[float, int, object]] = []
        self.count = 0

    def schedule(self, delay, run) -> None:
        self.count += 1
        heapq.heappush(self.due, (self.now + delay, self.count, run))

    def advance(self, until: float) -> None:
        while self.due and self.due[0][0] <= until:
            self.now, _, run = heapq.heappop(self.due)
            run()
        self.now = until


def _big_room(tmp_path, members: int):
    """A room of `members` logged in at once, then batching (from 3 members) on a clock."""
    pair = Pair(tmp_path, settings=Settings(registrations_per_hour=1000))
    users = [pair.user(f"u{i:02d}") for i in range(members)]
    clock = VirtualTime()
    pair.hub.presence.schedule = clock.schedule
    pair.hub.presence.min_members = 3
    return pair, users, clock


def _batches(user) -> list[list[dict[str, str]]]:
    return [e.changes for e in user.new() if e.TYPE == "presence"]


def test_a_big_rooms_batch_waits_for_enough_changes_but_the_roster_is_exact_at_once(tmp_path):
    members = 40
    pair, users, clock = _big_room(tmp_path, members)
    watcher = users[-1]
    enough = -(-members // int(FRAMES_PER_CHANGE))  # changes that make a batch worth it
    watcher.new()
    assert users[0].cmd("nick", "zed").TYPE == "ok"
    who = watcher.cmd("who")  # the roster has the new nick at once ...
    assert {"nick": "zed", "user": "u00"} in who.data["members"]
    assert users[1].cmd("nick", "zed").code == "nick_taken"  # ... and so do nick checks
    clock.advance(interval_for(members))
    assert _batches(watcher) == []  # one change is not worth 40 member-frames yet
    for u in users[1:enough - 1]:
        u.cmd("nick", u.session.user + "x")
    clock.advance(1.0)
    assert _batches(watcher) == []
    users[enough - 1].cmd("nick", "last")  # the change that makes it enough: out at once
    [batch] = _batches(watcher)
    assert len(batch) == enough
    assert batch[0] == {"op": "renamed", "old": "u00", "new": "zed", "user": "u00"}
    assert batch[-1]["new"] == "last"  # every change, in order
    clock.advance(MAX_WAIT * 2)  # its timers, when they come, find nothing
    assert _batches(watcher) == []
    pair.close()


def test_a_lone_change_in_a_big_room_is_told_at_the_latest_after_max_wait(tmp_path):
    pair, users, clock = _big_room(tmp_path, 40)
    watcher = users[-1]
    watcher.new()
    clock.advance(10.0)
    users[0].drop()
    clock.advance(10.0 + MAX_WAIT - 0.01)
    assert _batches(watcher) == []
    clock.advance(10.0 + MAX_WAIT)
    assert _batches(watcher) == [[{"op": "left", "nick": "u00", "user": "u00",
                                   "reason": "connection lost"}]]
    pair.close()


def test_a_burst_of_changes_still_waits_for_the_rooms_frame_budget(tmp_path):
    members = 20
    pair, users, clock = _big_room(tmp_path, members)
    watcher = users[-1]
    watcher.new()
    for u in users[:members // 2]:  # far more than enough, all at once
        u.cmd("nick", u.session.user + "y")
    assert _batches(watcher) == []  # not before the room's least interval ...
    clock.advance(interval_for(members) - 0.01)
    assert _batches(watcher) == []
    clock.advance(interval_for(members))
    [batch] = _batches(watcher)  # ... and then all of it in one event
    assert [c["new"] for c in batch] == [f"u{i:02d}y" for i in range(members // 2)]
    pair.close()


def test_a_token_is_spent_when_taken_not_at_the_next_commit(tmp_path):
    from gameserver.store import SQLiteStore

    store = SQLiteStore(tmp_path / "play.db")
    store.save_token("d1", "ann", time.time() + 60, {})
    store.save_token("d2", "ann", time.time() + 60, {})
    store.save_token("d3", "bob", time.time() + 60, {})
    store.commit()
    assert store.take_token("d1") is not None
    assert store.take_token("d1") is None  # a second resume before the commit: refused
    store.drop_tokens("ann")  # /quit: every token of ann's is void at once
    assert store.take_token("d2") is None
    assert store.take_token("d3") is not None
    store.commit()
    assert store.take_token("d1") is None and store.take_token("d2") is None
    store.close()


def test_a_presence_batch_too_big_for_one_frame_goes_out_in_several_in_order():
    from gameserver.doors.jsonframes import encode_event
    from gameserver.protocol import MAX_FRAME, Decoder, Presence

    # 1500 people of a big room dropped at once, with long non-ASCII nicks and reasons,
    # then some of them back: far over one frame's limit.
    changes = [{"op": "left", "nick": f"ñick{i:04d}ü", "user": f"u{i:04d}",
                "reason": "connection lost: " + "é" * 40} for i in range(1500)]
    changes += [{"op": "joined", "nick": f"n{i}", "user": f"u{i:04d}"} for i in range(200)]
    changes += [{"op": "renamed", "old": "n1", "new": "n1b", "user": "u0001"}]
    data = encode_event(Presence(room="lobby", changes=changes, online=1700))
    lines = data.split(b"\n")[:-1]
    assert len(lines) > 1
    assert all(len(line) <= MAX_FRAME for line in lines)
    frames = list(Decoder().feed(data))  # as a client reads them
    assert all(isinstance(f, dict) and f["type"] == "presence" for f in frames)
    assert all(f["room"] == "lobby" and f["online"] == 1700 for f in frames)
    assert [c for f in frames for c in f["changes"]] == changes  # every change, in order
    small = encode_event(Presence(room="lobby", changes=changes[:3], online=3))
    assert small.count(b"\n") == 1  # a usual batch stays one frame


def _counting_listener(made: list[float]):
    """A real Listener on 127.0.0.1:0 whose connections note when they were made."""
    from gameserver.listener import Listener
    from gameserver.throttle import AddressCounts

    loop = asyncio.get_running_loop()

    class Noting(asyncio.Protocol):
        def connection_made(self, transport):
            made.append(loop.time())
            self.transport = transport

    listener = Listener(lambda label, refusal: Noting(), None, AddressCounts(10_000), 5.0)
    listener.start("127.0.0.1", 0)
    return listener


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_a_crowd_arriving_steadily_is_accepted_a_group_at_a_time(monkeypatch):
    from gameserver import listener as listener_module

    monkeypatch.setattr(listener_module, "ACCEPT_GROUP", 0.5)
    monkeypatch.setattr(listener_module, "ACCEPT_GROUP_MAX", 0.5)

    async def body():
        loop = asyncio.get_running_loop()
        made: list[float] = []
        listener = _counting_listener(made)
        takes = []
        take = listener._take  # noqa: SLF001

        def counted(sock):
            takes.append(len(made))
            return take(sock)

        listener._take = counted  # type: ignore[method-assign]  # noqa: SLF001
        socks = []
        try:
            start = loop.time()
            socks.append(await asyncio.open_connection("127.0.0.1", listener.port))
            await _until(lambda: len(made) == 1)
            assert made[0] - start < 0.45  # a lone connection is taken at once
            for _ in range(10):  # then a crowd, a few milliseconds apart
                socks.append(await asyncio.open_connection("127.0.0.1", listener.port))
                await asyncio.sleep(0.003)
            await _until(lambda: len(made) == 11)
            assert len(takes) < 11  # taken together, not one wake-up each
            assert made[-1] - made[0] >= 0.45  # ... after waiting for each other
        finally:
            for _, writer in socks:
                writer.close()
            listener.close()

    run(body())


def test_one_connection_after_another_waits_for_no_group_again(monkeypatch):
    """A script logging in one after another comes at a crowd's rate, but each connection
    opens once the last is in: a crowd's window gathers it alone, and grouping stops."""
    from gameserver import listener as listener_module

    monkeypatch.setattr(listener_module, "ACCEPT_GROUP", 0.002)
    monkeypatch.setattr(listener_module, "ACCEPT_GROUP_MAX", 0.3)
    monkeypatch.setattr(listener_module, "ACCEPT_LONELY", 5.0)  # longer than the script

    async def body():
        loop = asyncio.get_running_loop()
        made: list[float] = []
        listener = _counting_listener(made)
        socks = []
        waits = []
        try:
            for i in range(30):  # ~50 a second, each after the last was taken
                start = loop.time()
                socks.append(await asyncio.open_connection("127.0.0.1", listener.port))
                await _until(lambda: len(made) == i + 1)  # noqa: B023
                waits.append(made[-1] - start)
                await asyncio.sleep(0.02)
            assert sum(wait > 0.2 for wait in waits) <= 1  # one window, then no more
        finally:
            for _, writer in socks:
                writer.close()
            listener.close()

    run(body())


def test_a_fast_crowd_waits_less_for_its_company_than_a_slow_one(monkeypatch):
    from gameserver import listener as listener_module

    window = 0.3  # the most a connection of a slow crowd waits (a group under ACCEPT_BATCH)
    monkeypatch.setattr(listener_module, "ACCEPT_GROUP", 0.002)
    monkeypatch.setattr(listener_module, "ACCEPT_GROUP_MAX", window)
    monkeypatch.setattr(listener_module, "ACCEPT_CROWD", 3)

    async def body():
        loop = asyncio.get_running_loop()
        made: list[float] = []
        listener = _counting_listener(made)
        takes: list[float] = []
        take = listener._take  # noqa: SLF001

        def noted(sock):
            takes.append(loop.time())
            return take(sock)

        listener._take = noted  # type: ignore[method-assign]  # noqa: SLF001
        socks = []
        try:
            count = 0
            start = loop.time()
            while loop.time() - start < 3 * window:  # a crowd of ~200 a second
                socks.append(await asyncio.open_connection("127.0.0.1", listener.port))
                count += 1
                await asyncio.sleep(0.005)
            await _until(lambda: len(made) == count)
            # ACCEPT_CROWD connections' worth at the crowd's rate (~15 ms) per take: a
            # window fixed at the longest would take them `window` apart, one fixed at
            # the shortest (2 ms, under the crowd's gaps) one at a time.
            gaps = [b - a for a, b in zip(takes[2:], takes[3:], strict=False)]
            assert gaps and min(gaps) < window / 3
            assert len(takes) < count * 0.6
        finally:
            for _, writer in socks:
                writer.close()
            listener.close()

    run(body())


def test_a_burst_is_not_held_back_by_accept_grouping(monkeypatch):
    import socket

    from gameserver import listener as listener_module

    monkeypatch.setattr(listener_module, "ACCEPT_GROUP", 2.0)

    async def body():
        loop = asyncio.get_running_loop()
        made: list[float] = []
        listener = _counting_listener(made)
        count = 3 * listener_module.ACCEPT_BATCH + 8  # several takes' worth, all at once
        socks = []
        try:
            for _ in range(count):  # in the backlog before the listener looks
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", listener.port))
                socks.append(s)
            start = loop.time()
            await _until(lambda: len(made) == count)
            assert loop.time() - start < 1.5  # no group wait between the takes of a burst
        finally:
            for s in socks:
                s.close()
            listener.close()

    run(body())


def test_a_lazy_commit_due_within_the_slack_runs_in_this_pass():
    from gameserver.commits import GROUP_SLACK

    async def body():
        loop = asyncio.get_running_loop()
        now = [100.0]
        hub = Counting()
        schedule = CommitSchedule(hub, loop, lambda: None, clock=lambda: now[0])
        schedule.request(lazy=True)
        await asyncio.sleep(0)
        assert len(hub.commits) == 1
        now[0] += GROUP_COMMIT - GROUP_SLACK * 2  # due in twice the slack: it waits
        schedule.request(lazy=True)
        await asyncio.sleep(0)
        assert len(hub.commits) == 1
        schedule.cancel()
        now[0] += GROUP_SLACK * 1.5  # due within the slack (the accept group's pass)
        schedule.request(lazy=True)
        await asyncio.sleep(0)
        assert len(hub.commits) == 2

    run(body())
