"""Lazy commits follow the accept window: a crowd's logins share one commit per group."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from helpers import ROOMY, Counting, RawClient, run, running_server
from hubpair import Pair, User

from gameserver import listener as listener_module
from gameserver.commits import GROUP_COMMIT, SETTLE_PASSES, SETTLE_QUIET, CommitSchedule
from gameserver.core.storewaits import COMMIT_BACKLOG
from gameserver.protocol import Hello, Resume


class Crowd:
    """A listener's side: it takes connections, and says whether a crowd is coming."""

    def __init__(self) -> None:
        self.on_take: Callable[[bool], None] | None = None

    def take(self, crowd: bool = True) -> None:
        assert self.on_take is not None
        self.on_take(crowd)


class Waiting(Counting):
    """A committer with confirmations waiting for it (the hub's `waiting`)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = 0

    def commit(self) -> bool:
        self.waiting = 0
        return super().commit()


H = TypeVar("H", bound=Counting)


def following(hub: H) -> tuple[H, CommitSchedule, Crowd]:
    """A commit schedule on the running loop for `hub`, told of `Crowd`'s takes."""
    schedule = CommitSchedule(hub, asyncio.get_running_loop(), lambda: None)
    crowd = Crowd()
    schedule.follow(crowd)
    return hub, schedule, crowd


def test_a_crowd_s_group_commits_once_its_logins_are_in_not_at_the_timer() -> None:
    async def body() -> None:
        hub, schedule, crowd = following(Waiting())
        crowd.take()  # a crowd's group is taken (nothing committed lately) ...
        await asyncio.sleep(0)  # (its connections are set up)
        hub.waiting += 1
        schedule.request(lazy=True)  # ... its first login waits for the others ...
        await asyncio.sleep(0)
        schedule._soon = False  # as if each came in a pass of its own  # noqa: SLF001
        hub.waiting += 2
        schedule.request(lazy=True)  # ... which come a pass later
        await asyncio.sleep(0)
        assert len(hub.commits) == 0  # not yet: logins were still coming in
        started = time.monotonic()
        for _ in range(SETTLE_QUIET + 2):
            await asyncio.sleep(0)
        assert len(hub.commits) == 1  # one commit for the group, once no more came ...
        assert hub.commits[0] - started < GROUP_COMMIT / 2  # ... without waiting for its timer
        await asyncio.sleep(GROUP_COMMIT * 2)
        assert len(hub.commits) == 1

    run(body())


def test_a_crowd_s_straggler_is_committed_by_the_timer() -> None:
    """A login that comes after its group's commit (its frames were late) still commits,
    GROUP_COMMIT after the last commit; and the passes are counted only so long."""
    async def body() -> None:
        hub, schedule, crowd = following(Waiting())
        crowd.take()
        for _ in range(SETTLE_PASSES + 2):  # nobody's login came in these passes
            await asyncio.sleep(0)
        assert schedule._settling == 0  # noqa: SLF001
        hub.waiting += 1
        schedule.request(lazy=True)  # a straggler, within GROUP_COMMIT of the take
        for _ in range(SETTLE_QUIET + 2):
            await asyncio.sleep(0)
        assert len(hub.commits) == 0  # the passes stopped counting: the timer's turn
        await asyncio.sleep(GROUP_COMMIT * 2)
        assert len(hub.commits) == 1

    run(body())


def test_a_lone_login_and_a_message_still_do_not_wait() -> None:
    async def body() -> None:
        hub, schedule, crowd = following(Counting())
        crowd.take(crowd=False)  # one connection, no crowd coming
        schedule.request(lazy=True)
        await asyncio.sleep(0)
        assert len(hub.commits) == 1  # at once
        crowd.take()  # a crowd's group: its login waits ...
        await asyncio.sleep(GROUP_COMMIT * 2)
        schedule.request(lazy=True)
        crowd.take()
        schedule.request(lazy=False)  # ... unless a message comes: everything now
        await asyncio.sleep(0)
        assert len(hub.commits) == 2
        await asyncio.sleep(GROUP_COMMIT * 2)
        assert len(hub.commits) == 2  # the cancelled wait commits nothing more

    run(body())


def test_a_crowd_of_resumes_is_confirmed_only_once_committed_and_shares_commits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resumes 20 ms apart (50 a second): each ok comes after the commit that stored it."""
    # The logins before the crowd come one after another (a script): the listener stops
    # grouping for a while after them (ACCEPT_LONELY); here only briefly.
    monkeypatch.setattr(listener_module, "ACCEPT_LONELY", 0.05)
    monkeypatch.setattr(listener_module, "ACCEPT_LONELY_MAX", 0.05)

    async def body() -> None:
        async with running_server(tmp_path) as server:
            tokens = []
            for i in range(16):
                c = await RawClient.connect(server.port)
                await c.hello()
                reply = await c.request({"type": "login", "user": f"crowd{i}", "password": "pw"})
                assert reply["type"] == "ok", reply
                tokens.append(reply["data"]["token"])
                await c.close()
            await asyncio.sleep(0.3)
            hub = server.hub
            commits: list[float] = []
            hub_commit = hub.commit

            def counted() -> bool:
                stored = hub_commit()
                commits.append(time.monotonic())
                return stored

            hub.commit = counted  # type: ignore[method-assign]

            async def resume(token: str) -> float:
                c = await RawClient.connect(server.port)
                await c.hello()
                await c.send({"type": "resume", "token": token, "id": 1})
                reply = await c.expect_reply(1)
                assert reply["type"] == "ok", reply
                confirmed = time.monotonic()
                await c.close()
                return confirmed

            tasks = []
            for token in tokens:
                tasks.append(asyncio.create_task(resume(token)))
                await asyncio.sleep(0.02)
            confirmed = await asyncio.gather(*tasks)
            assert 1 <= len(commits) < len(tokens)  # shared
            for at in confirmed:  # confirmed means stored: a commit ran before each ok
                assert any(c <= at for c in commits)

    run(body())


def test_a_crowd_read_in_one_pass_is_committed_in_backlogs_between_frames(
        tmp_path: Path) -> None:
    """300 resumes handled in one loop pass (connections open, their lines come together):
    a commit runs after the frame that fills COMMIT_BACKLOG, not once for all at the pass's
    end; each ok leaves only after the commit that stored its login."""
    pair = Pair(tmp_path, settings=ROOMY)
    hub = pair.hub
    tokens = [pair.user(f"crowd{i}").token for i in range(300)]
    for session in list(hub.sessions):
        hub.disconnected(session, "gone")
    hub.commit()
    users = [User(pair) for _ in tokens]
    backlogs: list[int] = []
    confirmed_then: list[int] = []

    def commit_now() -> None:
        assert hub._acting is None  # between frames, never inside one
        backlogs.append(hub.waiting)
        assert hub.commit()
        confirmed_then.append(sum(1 for u in users if u.of("ok", id=1)))

    hub.commit_now = commit_now
    peak = 0
    for user, token in zip(users, tokens, strict=True):
        hub.receive(user.session, Hello(version=1))
        hub.receive(user.session, Resume(id=1, token=token))
        told = confirmed_then[-1] if confirmed_then else 0
        assert not any(u.of("ok", id=1) for u in users[told:])  # not stored yet
        peak = max(peak, hub.waiting)
    assert len(backlogs) >= 2 and all(n >= COMMIT_BACKLOG for n in backlogs)
    assert peak < COMMIT_BACKLOG + 10  # a login's few confirmations past the mark
    # Committed logins were told; the rest wait for the pass's own commit.
    assert confirmed_then[-1] < len(users)
    assert not users[-1].of("ok", id=1)
    hub.commit()
    assert all(u.of("ok", id=1) for u in users)
    pair.close()


def test_a_backlog_does_not_commit_while_the_store_is_failing() -> None:
    """During an incident the retry timer commits (every RETRY_EVERY), not every frame."""
    class Failing(Counting):
        storage_error = "disk full"

        def commit(self) -> bool:
            super().commit()
            return False

    async def body() -> None:
        hub = Failing()
        schedule = CommitSchedule(hub, asyncio.get_running_loop(), lambda: None)
        schedule.request()
        await asyncio.sleep(0)
        assert len(hub.commits) == 1 and schedule.failing
        for _ in range(50):
            schedule.run_backlog()
        assert len(hub.commits) == 1
        schedule.cancel()

    run(body())
