"""Password checks in worker processes: idle class, deaf to Ctrl-C, replaced when killed, gone
with the server; closures on threads; a real server's logins through them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from helpers import RawClient, ServerProcess, logged_in, run, running_server

from gameserver import hashpool
from gameserver.hashpool import HashProcesses
from gameserver.passwords import verify_password

IDLE = getattr(os, "SCHED_IDLE", None)


@pytest.fixture(autouse=True)
def hash_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker processes (tuning.HASH_PROCESSES, the default on Linux; conftest.py turns
    them off for the other tests): on here, also for `play host` children."""
    from gameserver import tuning

    monkeypatch.setattr(tuning, "HASH_PROCESSES", True)
    monkeypatch.setenv("PLAY_HASH_PROCESSES", "1")


# ---------------------------------------------------------------- run in a worker (picklable)


def where() -> tuple[int, int, bool]:
    """(pid, scheduling policy, SIGINT ignored) of whoever runs it."""
    policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else -1
    return os.getpid(), policy, signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def slow_pid(started: str, gate: str) -> int:
    """Says it started (a file), waits for the gate file (10 s at most), returns its pid."""
    Path(started).write_text(str(os.getpid()))
    wait_for(Path(gate))
    return os.getpid()


def dies_unless_in(parent: int) -> int:
    """Kills the worker process that runs it; in the test's own process returns its pid."""
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def wait_for(path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


class Recorded:
    """A hasher or verifier that notes who ran it (a file per run), gated if told; picklable."""

    def __init__(self, fn: Callable[..., Any], runs: Path, gate: Path | None = None) -> None:
        self.fn, self.runs, self.gate = fn, runs, gate

    def __call__(self, *args: str) -> Any:
        pid, policy, _ = where()
        name = f"{args[0]}.{pid}.{policy}.{time.monotonic_ns()}"
        (self.runs / name).touch()
        if self.gate is not None:
            wait_for(self.gate)
        return self.fn(*args)


def runs_of(runs: Path) -> list[tuple[str, int, int]]:
    """(password, pid, policy) of every recorded run."""
    out = []
    for path in runs.iterdir():
        password, pid, policy, _ = path.name.rsplit(".", 3)
        out.append((password, int(pid), int(policy)))
    return out


# ---------------------------------------------------------------- the pool itself


def pool_in(loop: asyncio.AbstractEventLoop, idle: bool = False) -> tuple[HashProcesses,
                                                                      ThreadPoolExecutor]:
    """One worker; at nice 10 unless `idle`: a worker in the idle class may get no CPU at
    all while the machine is busy (the tests that need it to run use nice 10)."""
    threads = ThreadPoolExecutor(1, thread_name_prefix="test-fallback")
    return HashProcesses(loop, 1, idle=idle, nice=10, fallback=lambda: threads), threads


async def placed(processes: HashProcesses, count: int,
                 where: Callable[[int], bool]) -> list[int]:
    """Once `count` workers have started and `where(pid)` holds for each (their start-up
    runs at normal priority, then they lower themselves): their pids. Read from outside,
    so they need no CPU after."""
    deadline = time.monotonic() + 20
    while True:
        pids = processes.pids()
        with contextlib.suppress(OSError):
            if len(pids) == count and all(where(pid) for pid in pids):
                return pids
        assert time.monotonic() < deadline, pids
        await asyncio.sleep(0.01)


async def idle_class_of(processes: HashProcesses, count: int) -> list[int]:
    """The pids of `count` workers once each has put itself in SCHED_IDLE."""
    return await placed(processes, count, lambda pid: os.sched_getscheduler(pid) == IDLE)


def ignores(pid: int, sig: int) -> bool:
    """Does process `pid` ignore `sig` (its SigIgn mask in /proc)?"""
    with open(f"/proc/{pid}/status") as f:
        mask = next(line for line in f if line.startswith("SigIgn:")).split()[1]
    return bool(int(mask, 16) >> (sig - 1) & 1)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


def test_a_check_runs_in_a_worker_process_deaf_to_ctrl_c_and_ends_with_close() -> None:
    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop())
        try:
            pid, policy, deaf = await asyncio.wait_for(pool.run(where), 20)
            assert pid != os.getpid() and deaf
            assert os.getpriority(os.PRIO_PROCESS, pid) >= 10
            assert pool.pids() == [pid] and pool.unpicklable == 0
        finally:
            pool.close()
            threads.shutdown()
        assert gone(pid) and pool.pids() == []

    run(main(), timeout=30)


@pytest.mark.skipif(IDLE is None or not os.path.isdir("/proc"), reason="Linux's idle class")
def test_an_idle_workers_class_and_signals_and_its_end_with_close() -> None:
    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop(), idle=True)
        answer = pool.run(os.getpid)  # starts the worker; it may get no CPU to answer
        try:
            [pid] = await idle_class_of(pool, 1)
            assert ignores(pid, signal.SIGINT) and ignores(pid, signal.SIGTERM)
        finally:
            pool.close()
            threads.shutdown()
        assert gone(pid) and (answer.cancelled() or answer.result() == pid)

    run(main(), timeout=30)


def test_a_check_that_cannot_be_pickled_runs_on_the_fallback_thread() -> None:
    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop())
        try:
            assert await asyncio.wait_for(pool.run(lambda: os.getpid()), 10) == os.getpid()
            assert pool.unpicklable == 1 and pool.pids() == []  # no process was started
        finally:
            pool.close()
            threads.shutdown()

    run(main(), timeout=20)


def test_a_killed_worker_is_replaced_with_a_log_line_and_its_check_runs_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"

    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop())
        try:
            answer = pool.run(partial(slow_pid, str(started), str(gate)))
            while not started.exists():
                await asyncio.sleep(0.01)
            killed = int(started.read_text())
            started.unlink()
            os.kill(killed, signal.SIGKILL)
            while not started.exists():  # it runs again, in a new worker
                await asyncio.sleep(0.01)
            gate.touch()
            pid = await asyncio.wait_for(answer, 20)
            assert pid not in (killed, os.getpid()) and pool.breaks == 1
            assert pool.pids() == [pid]
        finally:
            pool.close()
            threads.shutdown()

    with caplog.at_level(logging.ERROR, logger="play.server"):
        run(main(), timeout=40)
    assert "a hash worker process ended (BrokenProcessPool" in caplog.text


def test_pools_that_keep_breaking_leave_the_checks_to_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashpool, "MAX_BREAKS", 2)

    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop())
        ours = os.getpid()
        try:  # it kills its worker, then the new pool's: the third run is on a thread
            assert await asyncio.wait_for(pool.run(partial(dies_unless_in, ours)), 30) == ours
            assert pool.breaks == 2
            assert await asyncio.wait_for(pool.run(partial(where)), 10) == (ours, *where()[1:])
            assert pool.pids() == []  # no new pool once MAX_BREAKS broke
        finally:
            pool.close()
            threads.shutdown()

    run(main(), timeout=60)


def test_close_cancels_what_is_handed_over_and_ends_a_busy_worker(tmp_path: Path) -> None:
    started, gate = tmp_path / "started", tmp_path / "gate"

    async def main() -> None:
        pool, threads = pool_in(asyncio.get_running_loop())
        answer = pool.run(partial(slow_pid, str(started), str(gate)))
        while not started.exists():
            await asyncio.sleep(0.01)
        busy = int(started.read_text())
        pool.close()
        threads.shutdown()
        assert answer.cancelled() and gone(busy)

    run(main(), timeout=30)


# ---------------------------------------------------------------- a real server


async def started(server: Any) -> list[int]:
    """The workers start with the server (in the background); here they have."""
    processes = server.runtime.hash_processes
    assert processes is not None
    deadline = time.monotonic() + 20
    while len(processes.pids()) < processes.workers:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    return processes.pids()


@pytest.fixture
def nice_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes at nice 10: on a busy machine one in the idle class may get no CPU."""
    from gameserver import tuning

    monkeypatch.setattr(tuning, "HASH_PROCESS_IDLE", False)


async def login_at_once(port: int, names: list[str],
                        password: str = "pw") -> list[dict[str, Any]]:
    """Log `names` in at once from one address (so checks reach the workers, not the express)."""
    clients = [await RawClient.connect(port) for _ in names]
    for client in clients:
        await client.hello()
    for client, name in zip(clients, names, strict=True):
        await client.send({"type": "login", "id": 7, "user": name, "password": password})
    replies = [await client.expect_reply(7) for client in clients]
    for client in clients:
        await client.close()
    return replies


def test_a_real_servers_workers_start_with_it_before_any_check(tmp_path: Path) -> None:
    """The first logins after a start must not wait for the fork server and the workers
    (nor the loop for the CPU they take then): no check has been asked for here."""
    async def main() -> None:
        async with running_server(tmp_path / "data") as server:
            processes = server.runtime.hash_processes
            assert processes is not None and processes.unpicklable == 0
            assert not server.hub.hashes.running and not server.hub.hashes.waiting
            pids = await started(server)
            assert len(pids) == server.runtime.hash_workers
            assert all(pid != os.getpid() for pid in pids)

    run(main(), timeout=60)


@pytest.fixture
def idle_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes in the idle class (tuning.HASH_PROCESS_IDLE, the default)."""
    from gameserver import tuning

    monkeypatch.setattr(tuning, "HASH_PROCESS_IDLE", True)


def test_a_real_servers_workers_are_in_the_idle_class_with_a_rescue_by_default(
        tmp_path: Path) -> None:
    """Any thread that wakes preempts them (a login storm leaves chat its CPU); a rescue as
    wide as the pool, at nice 10, for when they starve."""
    from gameserver import tuning

    async def main() -> None:
        async with running_server(tmp_path / "data") as server:
            processes = server.runtime.hash_processes
            assert processes is not None
            await started(server)
            hashes = server.hub.hashes
            if IDLE is not None:
                await idle_class_of(processes, server.runtime.hash_workers)
                assert hashes.rescue is not None  # for when they starve
                assert hashes.width == server.runtime.hash_workers
                assert hashes.held_after == tuning.HASH_RESCUE_HELD
            else:  # no idle class: nice 10, never starved, nothing to rescue them from
                assert hashes.rescue is None

    run(main(), timeout=60)


def test_a_real_servers_workers_at_nice_10_have_no_rescue(tmp_path: Path,
                                                          nice_workers: None) -> None:
    """HASH_PROCESS_IDLE off: below chat, but never starved, so nothing rescues them."""
    from gameserver import tuning

    async def main() -> None:
        async with running_server(tmp_path / "data") as server:
            processes = server.runtime.hash_processes
            assert processes is not None and tuning.HASH_NICE == 10
            pids = await placed(processes, server.runtime.hash_workers,
                                lambda pid: os.getpriority(os.PRIO_PROCESS, pid) == 10)
            if IDLE is not None:
                assert all(os.sched_getscheduler(pid) != IDLE for pid in pids)
            assert server.hub.hashes.rescue is None

    run(main(), timeout=60)


def test_a_real_servers_logins_run_their_checks_in_worker_processes(
        tmp_path: Path, nice_workers: None) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()

    async def main() -> None:
        async with running_server(tmp_path / "data", scrypt_n=2**14) as server:
            hub = server.hub
            await started(server)
            hub.hasher = Recorded(hub.hasher, runs)  # new accounts' hashes
            replies = await login_at_once(server.port, ["ann", "bob", "cy", "dee"])
            assert [r["type"] for r in replies] == ["ok"] * 4
            hub.hasher = hub.hasher.fn
            hub.verifier = Recorded(verify_password, runs)  # and the accounts' checks
            replies = await login_at_once(server.port, ["ann", "bob", "cy", "dee"])
            assert [r["type"] for r in replies] == ["ok"] * 4
            wrong = await login_at_once(server.port, ["ann", "bob"], password="nope")
            assert [r["code"] for r in wrong] == ["bad_password"] * 2
            processes = server.runtime.hash_processes
            assert processes is not None and processes.unpicklable == 0
            workers = set(processes.pids())
            seen = runs_of(runs)
            elsewhere = {pid for _, pid, _ in seen if pid != os.getpid()}
            assert elsewhere and elsewhere <= workers
            assert hub.hashing == 0
        for pid in workers:
            assert gone(pid)

    run(main(), timeout=60)


def test_a_worker_killed_during_a_login_still_answers_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, nice_workers: None) -> None:
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    runs.mkdir()

    async def main() -> None:
        async with running_server(tmp_path / "data", hash_workers=1) as server:
            await (await logged_in(server.port, "alice", "right")).close()
            await started(server)
            server.hub.verifier = Recorded(verify_password, runs, gate)
            clients = [await RawClient.connect(server.port) for _ in range(2)]
            for client in clients:  # the first takes the worker, the second waits for it
                await client.hello()
                await client.send({"type": "login", "id": 7, "user": "alice",
                                   "password": "right"})
            while not (worker := [pid for _, pid, _ in runs_of(runs) if pid != os.getpid()]):
                await asyncio.sleep(0.01)
            os.kill(worker[0], signal.SIGKILL)
            processes = server.runtime.hash_processes
            assert processes is not None
            while processes.breaks == 0:
                await asyncio.sleep(0.01)
            gate.touch()
            for client in clients:
                assert (await client.expect_reply(7))["type"] == "ok"
                await client.close()
            assert server.hub.hashing == 0

    with caplog.at_level(logging.ERROR, logger="play.server"):
        run(main(), timeout=60)
    assert "worker process ended" in caplog.text


def test_a_connection_that_goes_away_cancels_its_queued_check_before_a_process_runs_it(
        tmp_path: Path, nice_workers: None) -> None:
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    runs.mkdir()

    async def main() -> None:
        async with running_server(tmp_path / "data", hash_workers=1) as server:
            await (await logged_in(server.port, "alice", "right")).close()
            await started(server)
            server.hub.verifier = Recorded(verify_password, runs, gate)
            blockers = []
            for password in ("first", "second"):  # the worker, then the queue's head (one
                # address: nobody else about, so no express thread)
                blocker = await RawClient.connect(server.port)
                await blocker.hello()
                await blocker.send({"type": "login", "id": 1, "user": "alice",
                                    "password": password})
                blockers.append(blocker)
            while "first" not in {password for password, _, _ in runs_of(runs)}:
                await asyncio.sleep(0.01)
            leavers = []
            for n in range(6):
                leaver = await RawClient.connect(server.port)
                await leaver.hello()
                await leaver.send({"type": "login", "id": 1, "user": "alice",
                                   "password": f"gone{n}"})
                leavers.append(leaver)
            for leaver in leavers:
                await leaver.close()
            while len(server.connections) > 2:
                await asyncio.sleep(0.01)
            gate.touch()
            for blocker in blockers:
                assert (await blocker.expect_reply(1))["code"] == "bad_password"
            assert {password for password, _, _ in runs_of(runs)} == {"first", "second"}
            assert server.hub.hashing == 0

    run(main(), timeout=60)


# ---------------------------------------------------------------- `play host`


def descendants(pid: int) -> set[int]:
    """Every live process under `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_play_host_leaves_no_hash_process_behind(tmp_path: Path, how: int) -> None:
    """Ctrl-C (SIGINT), a restart (SIGTERM), even SIGKILL: the workers end with the server.

    Ctrl-C reaches the terminal's whole process group, as a service manager's SIGTERM
    reaches the whole service: so those go to the group; SIGKILL to the server alone."""
    server = ServerProcess(tmp_path, preexec_fn=os.setpgrp)
    try:
        replies = asyncio.run(asyncio.wait_for(
            login_at_once(server.port, ["ann", "bob", "cy", "dee"]), 60))
        assert [r["type"] for r in replies] == ["ok"] * 4
        children = descendants(server.proc.pid)
        assert children, "no worker process was started"
        if how == signal.SIGKILL:
            server.proc.send_signal(how)
        else:
            os.killpg(server.proc.pid, how)
        output = server.stop(timeout=20)
    finally:
        if server.proc.poll() is None:
            server.kill()
    if how != signal.SIGKILL:
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in children):
        assert time.monotonic() < deadline, [p for p in children if not gone(p)]
        time.sleep(0.05)


@pytest.mark.skipif(not (hasattr(os, "SCHED_IDLE") and hasattr(os, "sched_setaffinity")),
                    reason="Linux scheduling classes and CPU affinity")
@pytest.mark.parametrize("rescue_process", [False, True])
def test_logins_finish_while_a_busy_program_starves_the_idle_worker_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rescue_process: bool,
        idle_workers: None) -> None:
    """A busy loop on the workers' CPU leaves the idle class nothing: the rescue answers
    (a thread of the server at nice 10, or with HASH_RESCUE_PROCESS a process)."""
    import subprocess
    import sys

    from gameserver import tuning

    monkeypatch.setattr(tuning, "HASH_RESCUE_PROCESS", rescue_process)
    cpu = min(os.sched_getaffinity(0))
    names = [f"user{n}" for n in range(4)]

    async def main() -> None:
        async with running_server(tmp_path / "data", scrypt_n=2**12) as server:
            for name in names:  # the accounts, one at a time, before the machine is busy
                await (await logged_in(server.port, name, "pw")).close()
            await started(server)
            processes = server.runtime.hash_processes
            assert processes is not None
            for pid in processes.pids():
                os.sched_setaffinity(pid, {cpu})
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                os.sched_setaffinity(hog.pid, {cpu})
                replies = await login_at_once(server.port, names)
                assert [r["type"] for r in replies] == ["ok"] * 4
                assert server.hub.hashes.rescued >= 1
                assert server.hub.hashes.width == server.runtime.hash_workers
                if rescue_process:
                    rescuer = server.runtime.rescue_processes
                    assert rescuer is not None and rescuer.pids()
                    assert rescuer.workers == server.runtime.hash_workers
                    assert not set(rescuer.pids()) & set(processes.pids())
            finally:
                hog.kill()
                hog.wait()
            assert server.hub.hashing == 0

    run(main(), timeout=60)
