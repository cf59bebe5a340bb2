"""Password checks in worker processes at low priority: no interpreter lock shared with the loop.

A hash thread of the server shares its GIL: a low-priority thread that wants the lock
back after its scrypt holds the event loop up (docs/performance.md, "Scenario D: idle
hash workers with a rescue"). A worker *process* shares nothing with the loop. It runs
in Linux's idle class (SCHED_IDLE, tuning.HASH_PROCESS_IDLE, the default), where any
woken thread preempts it at once, so a login storm leaves chat its CPU; when the
workers get no CPU the hash queue's rescue (core/hashqueue.py: threads at nice 10 in
the server, as many as the workers) runs what they are starved of. Without the idle
class, or HASH_PROCESS_IDLE off, at nice HASH_NICE (10), with no rescue.

The check crosses the process boundary pickled (`functools.partial(verify_password,
password, stored)`, never a closure); one that cannot be pickled (a test's wrapper) runs
on the runtime's fallback threads instead. The processes are started with the server
(`start`; else all of them when the first check comes) by a thread of their own
(starting one waits for the fork server, which must not stall the event loop), so the
first password logins after a start do not pay for them (docs/performance.md, "Scenario
D: the storm's first tenth of a second"); with forkserver (spawn where there
is none: forking a process that has threads is unsafe); they ignore SIGINT (Ctrl-C on
`play host` reaches the whole process group) and end with the server (closed with it,
and each watches the server's pid, so a killed server leaves none behind). A pool that
breaks (a worker killed) is replaced, with a log line, and the checks it held run again
in the new one; after MAX_BREAKS breaks the checks run on the fallback threads for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import select
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor
from typing import Any

log = logging.getLogger("play.server")

MAX_BREAKS = 3  # broken pools replaced before the checks go to threads for good
JOIN_SECONDS = 1.0  # how long close() waits for each terminated worker


class HashProcesses:
    """`run(fn)` on one of `workers` processes; an asyncio future of its result."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int, *, idle: bool,
                 nice: int, fallback: Callable[[], Executor], name: str = "hash") -> None:
        self.loop = loop
        self.workers = workers
        self.idle = idle  # SCHED_IDLE (where there is one); else nice `nice`
        self.nice = nice
        self.fallback = fallback  # threads, for what cannot be pickled or when all broke
        self.name = name
        self.breaks = 0
        self.unpicklable = 0  # checks that ran on the fallback threads as they could not cross
        self._pool: ProcessPoolExecutor | None = None
        self._warm = False  # every worker of _pool has started
        self._unsent: list[tuple[bytes, Callable[[], Any], asyncio.Future[Any], bool]] = []
        self._open: set[asyncio.Future[Any]] = set()  # checks handed over, not answered
        self._closed = False
        self._context = process_context()

    # ------------------------------------------------------------ the loop's side

    def run(self, fn: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `fn()` in a worker process (a thread if it cannot cross); cancel() is honoured
        while it waits for a process."""
        try:
            blob = pickle.dumps(fn, pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            self.unpicklable += 1
            return self.loop.run_in_executor(self.fallback(), fn)
        outer: asyncio.Future[Any] = self.loop.create_future()
        self._open.add(outer)
        outer.add_done_callback(self._open.discard)
        self._send(blob, fn, outer, retried=False)
        return outer

    def start(self) -> None:
        """Start every worker now, on a thread of its own; checks sent meanwhile wait."""
        self._current()

    def pids(self) -> list[int]:
        """The worker processes alive now (none before `start` or the first check)."""
        return [p.pid for p in _processes(self._pool) if p.pid is not None and p.is_alive()]

    def stopping(self) -> None:
        """The server is stopping: a pool that breaks now is not replaced (a SIGTERM to the
        whole process group ends the fork server, which looks to the pool like a dead
        worker); what it held is cancelled, and close() ends the rest."""
        self._closed = True

    def close(self) -> None:
        """End every worker now (a check still running is not waited for)."""
        self._closed = True
        self._unsent = []
        for outer in list(self._open):  # cancelled, as a thread pool's waiting work is
            outer.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            _end(pool)

    # ------------------------------------------------------------ inside

    def _current(self) -> ProcessPoolExecutor | None:
        if self._pool is None and not self._closed and self.breaks < MAX_BREAKS:
            try:
                self._pool = ProcessPoolExecutor(
                    self.workers, mp_context=self._context, initializer=worker_started,
                    initargs=(self.idle, self.nice, os.getpid()))
            except (OSError, ValueError, NotImplementedError) as exc:
                self.breaks = MAX_BREAKS
                log.error("no %s worker processes (%s); checks run in threads", self.name, exc)
                return None
            self._warm = False
            threading.Thread(target=self._warm_up, args=(self._pool,), daemon=True,
                             name=f"play-{self.name.replace(' ', '-')}-start").start()
        return self._pool

    def _warm_up(self, pool: ProcessPoolExecutor) -> None:
        """On a thread of its own: start every worker. Starting one waits for the fork
        server (the first time for it to start: ~0.1-0.5 s), which must not stall the loop:
        checks handed over meanwhile wait in `_unsent` until the workers are started (not
        until they have run anything: an idle-class worker may get no CPU for long; the
        rescue covers that)."""
        error: BaseException | None = None
        try:
            with _main_hidden():  # each submit here starts a worker (none is idle yet)
                for _ in range(self.workers):
                    pool.submit(os.getpid)
        except BaseException as exc:  # a broken or closed pool
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
            self.loop.call_soon_threadsafe(self._warmed, pool, error)

    def _warmed(self, pool: ProcessPoolExecutor, error: BaseException | None) -> None:
        if pool is not self._pool:
            return
        if error is not None:
            self._broken(pool, error)
        else:
            self._warm = True
        unsent, self._unsent = self._unsent, []
        for args in unsent:
            self._send(*args)

    def _send(self, blob: bytes, fn: Callable[[], Any], outer: asyncio.Future[Any],
              retried: bool) -> None:
        if outer.done():  # cancelled while a broken pool was replaced
            return
        pool = self._current()
        if pool is None:
            _chain(self.loop.run_in_executor(self.fallback(), fn), outer)
            return
        if not self._warm:  # its workers are starting
            self._unsent.append((blob, fn, outer, retried))
            return
        try:
            inner = asyncio.wrap_future(pool.submit(_call, blob), loop=self.loop)
        except (BrokenExecutor, RuntimeError, OSError) as exc:  # broken, or shut down
            self._broken(pool, exc)
            if not retried:
                self._send(blob, fn, outer, retried=True)
            else:
                _chain(self.loop.run_in_executor(self.fallback(), fn), outer)
            return

        def cancel(_: asyncio.Future[Any]) -> None:
            if outer.cancelled():
                inner.cancel()  # still waiting for a process: it never runs

        def landed(_: asyncio.Future[Any]) -> None:
            if outer.done():
                return
            if inner.cancelled():
                outer.cancel()
                return
            exc = inner.exception()
            if isinstance(exc, BrokenExecutor) and self._closed:
                outer.cancel()
            elif isinstance(exc, BrokenExecutor):
                self._broken(pool, exc)
                if not retried:  # once more in a new pool, else on a thread
                    self._send(blob, fn, outer, retried=True)
                else:
                    _chain(self.loop.run_in_executor(self.fallback(), fn), outer)
            elif exc is not None:
                outer.set_exception(exc)
            else:
                outer.set_result(inner.result())

        outer.add_done_callback(cancel)
        inner.add_done_callback(landed)

    def _broken(self, pool: ProcessPoolExecutor, exc: BaseException) -> None:
        """Replace a broken pool once (every check it held fails alike); say so in the log."""
        if pool is not self._pool:
            return
        self._pool = None
        self.breaks += 1
        _end(pool)
        if self.breaks >= MAX_BREAKS:
            log.error("a %s worker process ended (%s); %d pools broke, so checks run in "
                      "threads from now on", self.name, _one_line(exc), self.breaks)
        else:
            log.error("a %s worker process ended (%s); its checks run again in new ones",
                      self.name, _one_line(exc))


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _chain(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    """`target` gets `source`'s outcome; cancelling `target` cancels `source`."""
    def copy(_: asyncio.Future[Any]) -> None:
        if target.done():
            return
        if source.cancelled():
            target.cancel()
        elif source.exception() is not None:
            target.set_exception(source.exception())  # type: ignore[arg-type]
        else:
            target.set_result(source.result())

    source.add_done_callback(copy)
    target.add_done_callback(lambda _: target.cancelled() and source.cancel())


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """A worker needs nothing of `__main__` (for `play host` the CLI: typer, the client):
    while one starts, multiprocessing is shown an empty one, so the worker does not
    import it again (~0.4 s of CPU and ~20 MB of private memory each, measured)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def process_context() -> Any:
    """forkserver where there is one, else spawn: forking a process with threads is unsafe."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _processes(pool: ProcessPoolExecutor | None) -> list[Any]:
    # The executor has no public list of its processes (3.14 adds terminate_workers).
    processes = getattr(pool, "_processes", None) if pool is not None else None
    return list(processes.values()) if processes else []


def _end(pool: ProcessPoolExecutor) -> None:
    processes = _processes(pool)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # a starved idle worker could take seconds to finish its check
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.kill()  # SIGKILL: a worker ignores SIGTERM
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(JOIN_SECONDS)


# ---------------------------------------------------------------- in the worker process


def _call(blob: bytes) -> Any:
    return pickle.loads(blob)()


def worker_started(idle: bool, nice: int, server: int) -> None:
    """A worker (a hash check's, or the bot search's with idle False): deaf to Ctrl-C and
    SIGTERM (they reach the whole process group; the server ends its workers itself),
    gone with the server, in the idle class or at nice `nice`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with(server)
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    with contextlib.suppress(OSError, AttributeError):
        os.nice(max(0, nice - os.nice(0)))


def _die_with(server: int) -> None:
    """End this worker when the server process ends, however it ends (SIGKILL too).

    Its parent is the fork server, not the server, and the fork server stays up while
    its children hold its "alive" pipe (each is given it): so a watcher thread waits on
    the server's pid itself (a pidfd on Linux, else a look every second).
    """
    try:
        watched: int | None = os.pidfd_open(server)  # type: ignore[attr-defined]
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):
        watched = None

    def watch() -> None:
        if watched is not None:
            select.select([watched], [], [])
        else:
            while _alive(server):
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="play-hash-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists (another user's would say EPERM)
        return True
    return True
