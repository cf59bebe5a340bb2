"""Idle-class hash workers and their rescue: starved (no check finished) vs slow but going."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import RawClient, logged_in, run, running_server

from gameserver import tuning
from gameserver.core.hashqueue import HashQueue
from gameserver.core.pending import Work


class Clock:
    """A fake clock with the runtime's timer: `advance` runs what falls due, in order."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        self.timers.append((self.now + delay, callback))

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while due := sorted((t for t in self.timers if t[0] <= end), key=lambda t: t[0]):
            self.timers.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][1]()
        self.now = end


class Runner:
    """A kind of hash thread, held: a check it was handed runs only when told."""

    def __init__(self) -> None:
        self.held: list[Work] = []

    def __call__(self, work: Work) -> None:
        self.held.append(work)

    def names(self) -> list[str]:
        return [work.run() for work in self.held]

    def finish(self, index: int = 0) -> None:
        work = self.held.pop(index)
        work.done(work.run())


@dataclass(eq=False)
class Conn:
    """The session a check is for, as the hub keeps it (closed when its connection goes)."""

    closed: bool = False
    cancel_work: Any = None

    def go(self) -> None:  # as Hub.disconnected does
        self.closed = True
        if self.cancel_work is not None:
            self.cancel_work()


def check(answers: list[str], name: str, session: Conn | None = None) -> Work:
    return Work(run=lambda: name, done=answers.append,
                cancelled=lambda: answers.append(f"cancelled {name}"), session=session)


def rescued_queue(slots: int = 2, after: float = 0.5, express: Runner | None = None,
                  width: int = 1, held_after: float = 1.0,
                  ) -> tuple[HashQueue, Runner, Runner, Clock]:
    clock, workers, rescue = Clock(), Runner(), Runner()
    queue = HashQueue(workers, bound=20, slots=slots, express=express)
    queue.add_rescue(rescue, after, clock, clock.schedule, width=width,
                     held_after=held_after)
    return queue, workers, rescue, clock


def test_starved_workers_are_rescued_oldest_first_and_a_late_answer_is_dropped() -> None:
    queue, workers, rescue, clock = rescued_queue()
    answers: list[str] = []
    for n in range(4):  # one address: the workers take two, two wait
        queue.submit(check(answers, f"c{n}"), "198.51.100.1", lambda: None)
    assert workers.names() == ["c0", "c1"] and not rescue.held
    clock.advance(0.49)
    assert not rescue.held  # not starved yet
    clock.advance(0.02)  # half a second and no worker has finished a check: starved
    assert rescue.names() == ["c0"]  # the oldest, though a worker holds it
    rescue.finish()
    assert answers == ["c0"]
    assert rescue.names() == ["c1"]  # still starved: the next one at once
    rescue.finish()
    assert rescue.names() == ["c2"]  # then the waiting ones, in turn
    assert len(queue) == 2  # c2 on the rescue, c3 waiting; the workers' copies not counted
    workers.finish(0)  # c0's copy: a worker got the CPU at last
    assert answers == ["c0", "c1"]  # its late answer is dropped, never given twice
    assert workers.names() == ["c1", "c3"]  # the freed worker takes the next waiting one
    rescue.finish()
    assert answers == ["c0", "c1", "c2"]
    assert not rescue.held  # a worker finished one: the rescue stops
    clock.advance(0.4)
    assert not rescue.held
    clock.advance(0.2)  # and again no worker has finished one for half a second
    assert rescue.names() == ["c3"]
    rescue.finish()
    workers.finish()  # c1's copy
    workers.finish()  # c3's copy
    assert answers == ["c0", "c1", "c2", "c3"] and len(queue) == 0
    assert (queue.rescued, queue.rerun) == (4, 3)
    clock.advance(5.0)
    assert not rescue.held and not workers.held


@pytest.mark.parametrize("width", [1, 2])
def test_slow_workers_that_keep_finishing_checks_are_not_rescued(width: int) -> None:
    """A storm on a quiet machine: a long queue, but a check finishes every 0.3 s."""
    queue, workers, rescue, clock = rescued_queue(width=width)
    answers: list[str] = []
    for n in range(12):
        queue.submit(check(answers, f"c{n}"), "198.51.100.1", lambda: None)
    waited = 0.0
    while workers.held:
        clock.advance(0.3)
        waited += 0.3
        workers.finish()  # each check takes a worker 0.6 s, longer than rescue_after
    assert answers == [f"c{n}" for n in range(12)]
    assert waited > 3.0  # the last check waited seconds in the queue: age is not the sign
    assert not rescue.held and queue.rescued == 0


def test_starved_workers_are_rescued_as_many_at_once_as_there_are_workers() -> None:
    """Not one check at a time behind a flood: the rescue does the starved workers' work."""
    queue, workers, rescue, clock = rescued_queue(width=2)
    answers: list[str] = []
    for n in range(6):
        queue.submit(check(answers, f"c{n}"), "198.51.100.1", lambda: None)
    assert workers.names() == ["c0", "c1"]
    clock.advance(0.51)
    assert rescue.names() == ["c0", "c1"]  # both held checks at once, oldest first
    rescue.finish(1)
    assert rescue.names() == ["c0", "c2"]  # its place goes to the next waiting one at once
    rescue.finish(0)
    rescue.finish(0)
    assert rescue.names() == ["c3", "c4"]
    assert answers == ["c1", "c0", "c2"] and queue.rescue_peak == 2
    workers.finish()  # c0's late copy: the workers are going again
    assert answers == ["c1", "c0", "c2"] and workers.names() == ["c1", "c5"]
    rescue.finish()
    rescue.finish()
    assert not rescue.held  # no new check for the rescue while the workers finish theirs
    workers.finish()  # c1's copy
    workers.finish()  # c5
    assert answers == ["c1", "c0", "c2", "c3", "c4", "c5"] and len(queue) == 0
    assert (queue.rescued, queue.rerun) == (5, 2)


def test_a_check_one_worker_holds_too_long_is_rescued_while_the_other_keeps_going() -> None:
    """Worker processes share a queue: one idle-class worker finishing now and then must not
    hide another that holds a real user's check (3.9 s on a busy machine before)."""
    express = Runner()
    queue, workers, rescue, clock = rescued_queue(express=express, width=2, held_after=1.0)
    answers: list[str] = []
    queue.submit(check(answers, "flood0"), "198.51.100.1", lambda: None)  # a worker's
    queue.submit(check(answers, "other"), "203.0.113.9", lambda: None)
    assert express.names() == ["other"]  # quiet, beside the flood: the express is busy now
    queue.submit(check(answers, "real"), "192.0.2.7", lambda: None)  # no express for it
    for n in range(1, 12):
        queue.submit(check(answers, f"flood{n}"), "198.51.100.3", lambda: None)
    assert workers.names() == ["flood0", "real"]
    elapsed = 0.0
    while "real" not in answers:
        clock.advance(0.25)
        elapsed += 0.25
        if rescue.held:
            rescue.finish()
        else:
            other_worker_finishes_one(workers)
        assert elapsed < 2.0, answers
    assert elapsed == pytest.approx(1.0, abs=0.26)  # the held limit, not the pool's progress
    assert (queue.rescued, queue.rerun) == (1, 1)  # that check alone, no waiting one
    for _ in range(3):  # the stuck worker still holds real's copy; the other goes on
        other_worker_finishes_one(workers)
        clock.advance(0.25)
    assert not rescue.held and queue.rescued == 1


def other_worker_finishes_one(workers: Runner) -> None:
    """The worker not holding real's check finishes one: the pool is not all starved."""
    workers.finish(next(n for n, name in enumerate(workers.names()) if name != "real"))


def test_a_check_is_rescued_once_and_a_gone_connection_is_not_rescued() -> None:
    queue, workers, rescue, clock = rescued_queue(slots=1)
    answers: list[str] = []
    gone, waiting_gone = Conn(), Conn()
    queue.submit(check(answers, "gone", gone), "198.51.100.1", lambda: None)
    queue.submit(check(answers, "left", waiting_gone), "198.51.100.2", lambda: None)
    queue.submit(check(answers, "live"), "198.51.100.3", lambda: None)
    gone.go()  # its check is on the worker: nobody is left to answer
    waiting_gone.go()  # queued: cancelled, it never runs
    assert answers == ["cancelled left"] and len(queue) == 2
    clock.advance(0.6)
    assert rescue.names() == ["live"]  # not the gone one's check again
    rescue.finish()
    clock.advance(2.0)
    assert not rescue.held  # nothing left that a rescue would answer
    workers.finish()
    assert answers == ["cancelled left", "live", "gone"]  # the hub drops a closed one's
    assert (queue.rescued, queue.rerun) == (1, 0) and len(queue) == 0


def test_the_express_runner_still_serves_a_quiet_prefix_while_the_workers_starve() -> None:
    express = Runner()
    queue, workers, rescue, clock = rescued_queue(slots=1, express=express)
    answers: list[str] = []
    for n in range(4):  # a flood from one /24, nobody else about: the worker takes one
        queue.submit(check(answers, f"flood{n}"), f"198.51.100.{n}", lambda: None)
    assert workers.names() == ["flood0"] and not express.held
    clock.advance(0.6)  # the worker holds flood0 and finishes nothing: rescued
    assert rescue.names() == ["flood0"]
    queue.submit(check(answers, "real"), "192.0.2.7", lambda: None)
    assert express.names() == ["real"]  # at once, ahead of the flood and the rescue
    express.finish()
    assert answers == ["real"]


def test_the_express_runner_waits_for_someone_else_to_be_about() -> None:
    """With idle-class workers the express runner (normal priority, beside the loop) only
    keeps a quiet prefix from waiting behind another's checks: a lone login that its
    worker runs promptly, and a storm from one place, never take it."""
    express = Runner()
    queue, workers, rescue, clock = rescued_queue(slots=2, express=express)
    answers: list[str] = []
    queue.submit(check(answers, "lone"), "203.0.113.5", lambda: None)
    assert workers.names() == ["lone"] and not express.held
    clock.advance(0.05)
    workers.finish()  # within lone_after: nothing else ran it
    for n in range(20):  # a storm from one /24
        queue.submit(check(answers, f"storm{n}"), f"198.51.100.{n}", lambda: None)
    while len(answers) < 12:
        clock.advance(0.09)  # each check held longer than lone_after, but never alone
        workers.finish()
        assert not express.held and not rescue.held
    queue.submit(check(answers, "other"), "192.0.2.9", lambda: None)  # from elsewhere
    assert express.names() == ["other"]  # at once, ahead of the storm's queue
    express.finish()
    while workers.held:  # the rest promptly (a storm's last check, alone and slow to
        workers.finish()  # run, would take the express runner: as a lone one does)
    assert len(answers) == 22 and len(queue) == 0
    assert (queue.expressed, queue.rescued, queue.rerun) == (1, 0, 0)


def test_a_lone_check_its_worker_is_slow_to_run_goes_to_the_express_runner_too() -> None:
    """A machine kept busy by other programs gives an idle-class worker no CPU: a lone
    login waits lone_after for the express runner, not the rescue's held_after."""
    express = Runner()
    queue, workers, rescue, clock = rescued_queue(slots=2, express=express, held_after=1.0)
    answers: list[str] = []
    queue.submit(check(answers, "lone"), "203.0.113.5", lambda: None)
    clock.advance(0.09)
    assert workers.names() == ["lone"] and not express.held
    clock.advance(0.02)
    assert express.names() == ["lone"] and not rescue.held  # run again, on the express
    queue.submit(check(answers, "next"), "203.0.113.5", lambda: None)  # the free worker's
    assert workers.names() == ["lone", "next"]
    express.finish()
    assert answers == ["lone"] and len(queue) == 1
    clock.advance(0.2)  # "next" is alone now, and the express runner is free again...
    assert express.names() == ["next"]  # ...so it takes that one as well
    express.finish()
    queue.submit(check(answers, "third"), "203.0.113.5", lambda: None)
    assert express.names() == ["third"]  # no worker free (both starved): at once
    express.finish()
    workers.finish()  # the workers get the CPU at last: their late answers are dropped
    workers.finish()
    assert answers == ["lone", "next", "third"] and len(queue) == 0
    assert (queue.expressed, queue.rerun, queue.rescued) == (3, 2, 0)


def test_without_a_rescue_nothing_steps_in() -> None:
    """No idle class (not Linux): the workers run at nice 10, never starved, as before."""
    workers, answers = Runner(), []
    queue = HashQueue(workers, bound=10, slots=1)
    for n in range(3):
        queue.submit(check(answers, f"c{n}"), "198.51.100.1", lambda: None)
    while workers.held:
        workers.finish()
    assert answers == ["c0", "c1", "c2"] and queue.rescued == 0


# ---------------------------------------------------------------- a real server


def record_runs(hub: Any) -> list[tuple[str, int, int, str]]:
    """Every hash or check the hub asks for: (thread, scheduling class, nice, 'start'/'end')."""
    runs: list[tuple[str, int, int, str]] = []
    hasher, verifier = hub.hasher, hub.verifier

    def note(what: str) -> None:
        policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else -1
        runs.append((threading.current_thread().name, policy,
                     os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), what))

    def hashing(password: str) -> str:
        note("start")
        try:
            return hasher(password)
        finally:
            note("end")

    def checking(password: str, stored: str) -> bool:
        note("start")
        try:
            return verifier(password, stored)
        finally:
            note("end")

    hub.hasher, hub.verifier = hashing, checking
    return runs


LOGIN_ID = 1000  # not an id RawClient.request would give


async def login_all(port: int, names: list[str], timeout: float = 20.0,
                    elsewhere: str | None = None) -> list[RawClient]:
    """Log `names` in at once from one address (so their checks go to the workers); with
    `elsewhere`, the last from that address (another prefix: the express thread's)."""
    clients = [await RawClient.connect(port, source=elsewhere if n == len(names) - 1 else None)
               for n in range(len(names))]
    for client in clients:
        await client.hello()
    for client, name in zip(clients, names, strict=True):
        await client.send({"type": "login", "id": LOGIN_ID, "user": name, "password": "pw"})
    for client in clients:
        await client.expect("ok", timeout=timeout, id=LOGIN_ID)
    return clients


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
@pytest.mark.parametrize("idle_class", [True, False])
def test_hash_threads_scheduling_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         idle_class: bool) -> None:
    """Worker threads (HASH_PROCESSES off) in SCHED_IDLE with a rescue thread; without the
    idle class at HASH_NICE. The worker processes: test_hash_processes.py."""
    monkeypatch.setattr(tuning, "HASH_PROCESSES", False)
    monkeypatch.setattr(tuning, "HASH_IDLE_CLASS", idle_class)

    async def main() -> None:
        # 2**14: each hash takes long enough that dee's check finds the others running
        async with running_server(tmp_path, scrypt_n=2**14) as server:
            runs = record_runs(server.hub)
            clients = await login_all(server.port, ["ann", "bob", "cy", "dee"],
                                      elsewhere="127.0.1.1")
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            workers = {(policy, nice) for name, policy, nice, _ in runs
                       if name.startswith("play-hash_")}
            express = {(policy, nice) for name, policy, nice, _ in runs
                       if name.startswith("play-hash-express")}
            assert express == {(os.SCHED_OTHER, ours)}  # dee's: quiet, beside the others
            if idle_class:
                assert workers <= {(os.SCHED_IDLE, ours)}
                assert server.hub.hashes.rescue is not None
            else:  # as where there is no idle class: nice 10, never starved, no rescue
                assert workers == {(os.SCHED_OTHER, max(tuning.HASH_NICE, ours))}
                assert server.hub.hashes.rescue is None
            assert workers, "no check reached the workers"
            assert server.hub.hashes.slots == server.runtime.hash_workers
            for client in clients:
                await client.close()

    run(main(), timeout=50)


@pytest.mark.skipif(not (hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_setaffinity")),
                    reason="Linux scheduling classes and CPU affinity")
def test_logins_finish_while_a_busy_program_starves_the_idle_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy loop on the workers' CPU leaves the idle class nothing: the rescue answers."""
    cpu = min(os.sched_getaffinity(0))
    real_lower_priority = tuning.lower_priority

    def pinned() -> None:  # the workers as the runtime makes them, kept on the busy CPU
        real_lower_priority()
        os.sched_setaffinity(0, {cpu})

    monkeypatch.setattr(tuning, "lower_priority", pinned)
    monkeypatch.setattr(tuning, "HASH_PROCESSES", False)  # threads: their rescue
    monkeypatch.setattr(tuning, "HASH_IDLE_CLASS", True)
    names = [f"user{n}" for n in range(4)]

    async def main() -> None:
        async with running_server(tmp_path, scrypt_n=2**12) as server:
            for name in names:  # the accounts, one at a time, before the machine is busy
                await (await logged_in(server.port, name, "pw")).close()
            runs = record_runs(server.hub)
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                os.sched_setaffinity(hog.pid, {cpu})
                started = time.monotonic()
                clients = await login_all(server.port, names)
                took = time.monotonic() - started
                hashes = server.hub.hashes
                assert hashes.rescued >= 1, runs
                assert server.hub.hashing == 0  # every check answered, copies or not
            finally:
                hog.kill()
                hog.wait()
            rescuers = {(policy, nice) for name, policy, nice, _ in runs
                        if name.startswith("play-hash-rescue")}
            ours = os.getpriority(os.PRIO_PROCESS, 0)
            assert rescuers == {(os.SCHED_OTHER, max(tuning.HASH_NICE, ours))}
            # the busy loop gone, the workers finish their copies; those answers are dropped
            deadline = time.monotonic() + 15
            while sum(1 for r in runs if r[0].startswith("play-hash_") and r[3] == "start") \
                    > sum(1 for r in runs if r[0].startswith("play-hash_") and r[3] == "end"):
                assert time.monotonic() < deadline, runs
                await asyncio.sleep(0.01)
            for client in clients:
                assert (await client.say("after"))["type"] == "ok"
                assert [f["type"] for f in client.seen if f.get("id") == LOGIN_ID] == ["ok"]
                await client.close()
            assert took < 20, f"{took:.1f} s for {len(names)} logins"

    run(main(), timeout=50)
