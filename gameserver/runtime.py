"""The runtime every door shares in one process: store, hub, hash pool, commits, tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from gameserver import settings as settings_
from gameserver import tuning
from gameserver.commits import (
    GROUP_COMMIT,
    GROUP_SLACK,
    PATIENCE,
    RETRY_EVERY,
    CommitSchedule,
    Committer,
    Writer,
)
from gameserver.core.hub import Hub
from gameserver.core.pending import Work
from gameserver.datadir import DataDir, DataDirInUse
from gameserver.hashpool import HashProcesses, process_context, worker_started
from gameserver.passwords import DEFAULT_N, hash_password
from gameserver.settings import Settings
from gameserver.store import SQLiteStore, StorageError
from gameserver.throttle import AddressCounts, address_key

log = logging.getLogger("play.server")

# Commit scheduling lives in gameserver/commits.py; its names stay importable from here.
__all__ = ["GROUP_COMMIT", "GROUP_SLACK", "PATIENCE", "RETRY_EVERY", "AttachedDoor",
           "CommitSchedule", "Committer", "Runtime", "ServerError", "Writer", "redact",
           "use_fast_loop"]


TICK_SECONDS = 1.0
BOT_NICE = 10  # the bot process's niceness: a busy machine makes searches shallower, not chat
BOT_DEADLINE = 15.0  # seconds before a bot search that never answered is given up


class ServerError(Exception):
    """The server cannot start; the message says why in words a user can act on."""


class AttachedDoor(Protocol):
    """What the runtime needs of a door attached to it."""

    passes: int  # flush passes that wrote something (the runtime trims memory when idle)

    def wake(self) -> None:
        """Something may have been queued for this door's connections: write it soon."""

    def flush_all(self) -> None:
        """Write what is queued now."""

    def tick(self) -> None:
        """About once a second: the door's own deadlines (pings, handshakes)."""

    def stop_listening(self) -> None:
        """Take no new connections."""

    async def close(self) -> None:
        """Drop every connection (after flush_all) and finish closing."""


class Runtime:
    """One per process: `await runtime.start()`, attach doors, `await runtime.stop(why)`."""

    def __init__(self, *, data_dir: str | Path, name: str = "play",
                 hash_workers: int | None = None, scrypt_n: int = DEFAULT_N,
                 settings: Settings | None = None, store_url: str | None = None,
                 bus_url: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store_url = store_url  # postgresql://...: a node of a cluster; None: SQLite
        self.bus_url = bus_url  # redis://...: the other nodes are reached through it
        self.bus: Any = None
        self.cluster: Any = None  # the hub's ClusterLink, on a node of a cluster
        self.settings = settings or settings_.DEFAULTS
        self.name = name
        # Hash processes yield to everything; rescue threads when they starve (tuning.py).
        self.hash_workers = hash_workers or max(2, min(4, (os.cpu_count() or 2) - 1))
        self.scrypt_n = scrypt_n
        self.doors: list[AttachedDoor] = []
        # Connections per source address, one count for every door (see admit).
        self.connection_counts = AddressCounts(self.settings.max_per_address)
        self.store: Any = None  # SQLiteStore, or PostgresStore on a cluster
        self.data: DataDir | None = None
        self.commits: CommitSchedule | None = None
        self.store_threads: Any = None  # StoreThreads, for a networked store
        self.ssh_keys: Any = None  # the accounts' SSH keys (gameserver/sshkeys.py)
        self._hub: Hub | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._express: ThreadPoolExecutor | None = None
        self._rescue: ThreadPoolExecutor | None = None
        self.hash_processes: HashProcesses | None = None  # the workers (tuning.HASH_PROCESSES)
        self.rescue_processes: HashProcesses | None = None  # tuning.HASH_RESCUE_PROCESS
        self._bot_executor: Executor | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Event | None = None
        self._passes_at_tick = 0
        self._trimmed = True

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "runtime not started"
        return self._hub

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_error)
        tuning.raise_fd_limit()
        self._stopped = asyncio.Event()
        _ignore_file_size_signal()
        try:
            self.data = DataDir(self.data_dir).open()
            self.store = self._open_store()
        except DataDirInUse as exc:
            self.close_resources()
            raise ServerError(str(exc)) from None
        except StorageError as exc:  # the cluster's database is unreachable or refuses us
            self.close_resources()
            raise ServerError(f"cannot use the store {redact(self.store_url)}: {exc}") from exc
        except Exception as exc:  # sqlite3.Error or OSError: the data directory is unusable
            self.close_resources()
            raise ServerError(f"cannot open the data directory {self.data_dir}: {exc}") from exc
        n = self.scrypt_n
        self._loop = loop
        lookups, writer = None, None
        if self.store.networked:  # never wait on the loop
            from gameserver.stores.offloop import StoreThreads, ThreadedLookups

            self.store_threads = StoreThreads(self.store, loop, self.wake)
            lookups, writer = ThreadedLookups(self.store_threads), self.store_threads.write
        self._hub = Hub(self.store, server_name=self.name,
                        hasher=partial(hash_password, n=n),
                        request_commit=self._request_commit, run_work=self.run_work,
                        settings=self.settings, clock=time.monotonic, schedule=self.later,
                        lookups=lookups, hash_slots=self.hash_workers,
                        run_express=self.run_express_work)
        if self.store_threads is not None:
            self._hub.run_store = self.store_threads.run_work
            self._hub.commits_off_loop = True
        self.commits = CommitSchedule(self._hub, loop, self.wake, writer=writer,
                                      news=self._storage_news if writer else None)
        self._hub.commit_now = self.commits.run_backlog
        self._install_extensions()
        if self.bus_url is not None:
            await self._join_cluster()
        # Threads: the workers if not processes, and the checks that cannot be pickled.
        self._executor = ThreadPoolExecutor(self.hash_workers, thread_name_prefix="play-hash",
                                            initializer=tuning.lower_priority)
        # One more, at normal priority, for checks the hash queue keeps from floods.
        self._express = ThreadPoolExecutor(1, thread_name_prefix="play-hash-express")
        idle = tuning.idle_threads()
        if tuning.HASH_PROCESSES:  # started now, in the background (gameserver/hashpool.py)
            self.hash_processes = HashProcesses(loop, self.hash_workers,
                                                idle=tuning.HASH_PROCESS_IDLE,
                                                nice=tuning.HASH_NICE, fallback=self._threads)
            idle = tuning.HASH_PROCESS_IDLE and hasattr(os, "SCHED_IDLE")
            self.hash_processes.start()
        if idle:  # and as many runners at nice 10, for when the idle class starves
            self._rescue = ThreadPoolExecutor(self.hash_workers,
                                              thread_name_prefix="play-hash-rescue",
                                              initializer=tuning.never_starved)
            if tuning.HASH_RESCUE_PROCESS:
                self.rescue_processes = HashProcesses(
                    loop, self.hash_workers, idle=False, nice=tuning.HASH_NICE,
                    name="hash rescue",
                    fallback=lambda: self._rescue)  # type: ignore[arg-type,return-value]
            self._hub.hashes.add_rescue(self.run_rescue_work, tuning.HASH_RESCUE_AFTER,
                                        time.monotonic, self.later, width=self.hash_workers,
                                        held_after=tuning.HASH_RESCUE_HELD)
        self._tick = loop.call_later(TICK_SECONDS, self._on_tick)

    @property
    def node(self) -> str:
        """This node's name, stable across restarts (its host and data directory)."""
        return f"{socket.gethostname()}:{self.data_dir.resolve()}"

    def _open_store(self) -> Any:
        assert self.data is not None
        if self.store_url is None:
            return SQLiteStore(self.data.store_path)
        from gameserver.stores.postgres import PostgresStore

        # A restarted node closes the spans its own users left open, never another node's.
        return PostgresStore(self.store_url, node=self.node)

    async def _join_cluster(self) -> None:
        """Reach the other nodes through the bus (Redis pub/sub)."""
        from gameserver.bus import BusError, RedisBus
        from gameserver.core.cluster import ClusterLink

        assert self.bus_url is not None
        try:
            self.bus = RedisBus(self.bus_url, node=self.node)
        except BusError as exc:
            self.close_resources()
            raise ServerError(str(exc)) from None
        link = self.cluster = ClusterLink.install(self.hub, self.node, self.bus.publish,
                                                  time.monotonic)
        self.store.live_nodes = link.live_nodes  # a dead node's nicks are free to take
        if self.hub.community is not None:
            self.hub.community.storage.on_change = link.community_changed

        def receive(message: dict[str, Any]) -> None:
            link.received(message)
            self.wake()

        def lost(why: str) -> None:
            link.bus_lost(why)
            self.wake()

        def back() -> None:
            link.bus_back()
            self.wake()

        def gone(node: str) -> None:  # the bus knows a node is gone (a SIGKILL)
            link.node_gone(node)
            self.wake()

        try:
            await self.bus.start(receive, lost, back, gone=gone, watched=lambda: list(link.nodes))
        except BusError as exc:
            self.bus = None
            self.close_resources()
            raise ServerError(str(exc)) from None

    def _storage_news(self, back: bool) -> None:
        """A cluster's database went away (or came back): every user of this node is told."""
        from gameserver.protocol import Notice

        text = ("the server is storing again: what you send is kept and confirmed" if back
                else "the server cannot store anything right now (its database does not "
                     "answer): what you send waits, and is refused if it cannot be stored "
                     "soon; you will be told when it is back")
        event = Notice(text=text, kind="info" if back else "warn")
        by_door: dict[Any, list[Any]] = {}
        for session in self.hub.sessions:
            if session.user is not None and not session.closed:
                by_door.setdefault(session.door, []).append(session.sink)
        for door, sinks in by_door.items():
            door.deliver(event, sinks)
        self.wake()

    def announce_address(self, address: str | None) -> None:
        """Where clients reach this node; on a cluster, every node's login tells them all."""
        if self.cluster is not None:
            self.cluster.set_address(address)

    def attach(self, door: AttachedDoor) -> None:
        """A door shares this runtime from now on (its sessions meet everyone else's)."""
        self.doors.append(door)
        listener = getattr(door, "listener", None)
        if listener is not None and self.commits is not None:
            self.commits.follow(listener)  # a crowd's logins share commits as its accepts
        tuning.settle_gc()

    def admit(self, peer: str) -> Callable[[], None] | str:
        """A new connection from `peer` ("ip:port" or an ip), on any door: may it stay?

        Every door of this process shares one count per source address (IPv6 by /64),
        so an address cannot hold the cap on each door. Returns a release callable
        (call it once the connection has ended; calling it again does nothing) or, when
        the address is at its cap, the sentence to tell the client before closing; a
        refused connection is not counted. The listener of the play, IRC and classic
        doors counts through the same table; a door with its own acceptor (SSH) calls this.
        """
        counts = self.connection_counts
        address = address_key(peer)
        if counts.count(address) >= counts.cap:
            return counts.refusal()
        counts.take(address)
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                counts.release(address)

        return release

    def _install_extensions(self) -> None:
        from gameserver.core.community import CommunityHost
        from gameserver.core.roles import Community
        from gameserver.stores.pgcommunity import community_store_for

        assert self.store is not None
        # roles and bans first: they can refuse a move
        kept = community_store_for(self.store, self.hub)
        CommunityHost.install(self.hub, kept.load(Community(kept)), kept)
        from gameserver.core.sshkeycommands import COMMANDS as SSH_KEY_COMMANDS
        from gameserver.core.sshkeycommands import SSHKeys
        from gameserver.sshkeys import ssh_key_store_for

        self.ssh_keys = ssh_key_store_for(self.store)  # /sshkey, and the SSH door's logins
        SSH_KEY_COMMANDS.install(self.hub, SSHKeys(self.hub, self.ssh_keys))
        try:
            from gameserver.core.gamehost import GameHost
        except ImportError as exc:  # a build without the games: say so, once
            log.error("no games on this server: %s", exc)
            return
        GameHost.install(self.hub, run_work=self.run_bot_work)

    async def wait_stopped(self) -> None:
        assert self._stopped is not None
        await self._stopped.wait()

    @property
    def stopped(self) -> bool:
        return self._stopped is None or self._stopped.is_set()

    async def stop(self, reason: str, restart: bool = False) -> None:
        """Tell every client why, close every door, store everything.

        `restart`: this process will be back (clients reconnect and resume); otherwise
        the server is gone for good and clients end with `reason`.
        """
        if self.stopped:
            return
        for door in self.doors:
            door.stop_listening()
        for processes in (self.hash_processes, self.rescue_processes):
            if processes is not None:
                processes.stopping()
        if self.commits is not None:
            await self.commits.drain()  # the batch being written first: order holds
        if self._hub is not None:
            self.hub.shutdown(reason, restart)
        for door in self.doors:
            door.flush_all()
        await asyncio.sleep(0.05)  # let the goodbyes leave
        for door in self.doors:
            await door.close()
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        self.close_resources()
        assert self._stopped is not None
        self._stopped.set()

    def close_resources(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        if self.commits is not None:
            self.commits.cancel()
        if self._hub is not None and self._hub.hashes.rescued:  # how busy the machine was
            log.info("hash queue: %d checks run by the rescue (%d of them twice; "
                     "at most %d at once)", self._hub.hashes.rescued, self._hub.hashes.rerun,
                     self._hub.hashes.rescue_peak)
        for pool in (self._executor, self._express, self._rescue):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        for processes in (self.hash_processes, self.rescue_processes):
            if processes is not None:  # ended now: none is left behind the server
                processes.close()
        if self._bot_executor is not None:
            self._bot_executor.shutdown(wait=False, cancel_futures=True)
        if self.store_threads is not None:
            self.store_threads.close()
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # a failing disk must not hide the shutdown reason
                log.error("closing the store failed: %s", exc)
            self.store = None
        if self.data is not None:
            self.data.close()
            self.data = None

    # ------------------------------------------------------------ what the hub asks for

    def wake(self) -> None:
        for door in self.doors:
            door.wake()

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        """Run `callback` on the loop after `delay` seconds, then let the doors write."""
        assert self._loop is not None

        def run() -> None:
            try:
                callback()
            finally:
                self.wake()

        self._loop.call_later(delay, run)

    def _request_commit(self, lazy: bool = False) -> None:
        assert self.commits is not None
        self.commits.request(lazy)  # once per loop pass: the hub asks once

    def run_work(self, work: Work) -> None:
        """Run slow work in the hash pool; its `done` runs on the loop, then doors flush."""
        if self.hash_processes is not None:
            self._follow(self.hash_processes.run(work.run), work)
        else:
            self._run_in(self._threads(), work)

    def _threads(self) -> ThreadPoolExecutor:
        assert self._executor is not None
        return self._executor

    def run_express_work(self, work: Work) -> None:
        """A password check from a quiet address: on the one normal-priority hash thread."""
        assert self._express is not None
        self._run_in(self._express, work)

    def run_rescue_work(self, work: Work) -> None:
        """A check the starved idle-class workers hold or leave: on the nice-10 rescue."""
        assert self._rescue is not None
        if self.stopped:  # the hash queue's timer may outlive the runtime
            return
        if self.rescue_processes is not None:
            self._follow(self.rescue_processes.run(work.run), work)
        else:
            self._run_in(self._rescue, work)

    def run_bot_work(self, work: Work) -> None:
        """A game bot's search, in a worker process (see docs/games.md, "Bots").

        A pure-Python search in a thread would hold the interpreter lock against the
        event loop (chat latency went from 1 ms to 16 ms at p50, 100 ms at worst, in
        benchmarks/botlag.py); in a process it shares nothing. If no process can be
        started, one thread at normal priority does it (never the low-priority hash
        pool: holding the lock there could keep the loop waiting). A search that has
        not answered after BOT_DEADLINE seconds is given up: the bot forfeits.
        """
        if self._bot_executor is None:
            self._bot_executor = _bot_pool()
        loop = self._loop
        assert loop is not None
        try:
            future = loop.run_in_executor(self._bot_executor, work.run)
        except (BrokenExecutor, RuntimeError, OSError) as exc:
            log.error("the bot worker is broken (%s); starting another", exc)
            self._bot_executor.shutdown(wait=False, cancel_futures=True)
            self._bot_executor = _bot_pool()
            future = loop.run_in_executor(self._bot_executor, work.run)
        answered = False

        def finished(fut: asyncio.Future[Any]) -> None:
            nonlocal answered
            if answered or self.stopped:
                return
            answered = True
            watchdog.cancel()
            if fut.cancelled() or fut.exception() is not None:
                if not fut.cancelled():
                    log.error("bot search failed: %r", fut.exception())
                    if isinstance(fut.exception(), BrokenExecutor):
                        self._bot_executor = None  # the next search starts a new worker
                if work.cancelled is not None:
                    work.cancelled()
            else:
                work.done(fut.result())
            self.wake()

        def give_up() -> None:
            nonlocal answered
            if answered or self.stopped:
                return
            answered = True
            log.error("a bot search did not answer in %.0f s; its game is forfeited",
                      BOT_DEADLINE)
            if work.cancelled is not None:
                work.cancelled()
            self.wake()

        watchdog = loop.call_later(BOT_DEADLINE, give_up)
        future.add_done_callback(finished)

    def _run_in(self, executor: ThreadPoolExecutor, work: Work) -> None:
        assert self._loop is not None
        self._follow(self._loop.run_in_executor(executor, work.run), work)

    def _follow(self, future: asyncio.Future[Any], work: Work) -> None:
        """`work.done` on the loop once `future` has its result; else `work.cancelled`."""
        session = work.session
        if session is not None:
            session.cancel_work = future.cancel

        def finished(fut: asyncio.Future[Any]) -> None:
            if session is not None and session.cancel_work == fut.cancel:
                session.cancel_work = None
            if fut.cancelled():
                if work.cancelled is not None:
                    work.cancelled()
                return
            exc = fut.exception()
            if exc is not None:  # its session must not wait for ever, nor its queue's place
                log.error("background work failed: %s", exc)
                if work.cancelled is not None and not self.stopped:
                    work.cancelled()
                    self.wake()
                return
            if self.stopped:
                return
            work.done(fut.result())
            self.wake()

        future.add_done_callback(finished)

    def _on_tick(self) -> None:
        try:
            self.hub.tick(time.time())
            for door in self.doors:
                door.tick()
            self.wake()
            passes = sum(door.passes for door in self.doors)
            if passes != self._passes_at_tick:
                self._passes_at_tick, self._trimmed = passes, False
            elif not self._trimmed:  # a quiet second after a burst
                self._trimmed = True
                tuning.release_memory()
        finally:
            self._tick = asyncio.get_running_loop().call_later(TICK_SECONDS, self._on_tick)


def _bot_pool() -> Executor:
    """One worker process for bot searches (forkserver where there is one), else a thread."""
    try:
        context = process_context()
        # Deaf to Ctrl-C (it reaches the whole process group: a KeyboardInterrupt there
        # printed a traceback), gone with the server, at nice BOT_NICE.
        return ProcessPoolExecutor(1, mp_context=context, initializer=worker_started,
                                   initargs=(False, BOT_NICE, os.getpid()))
    except (OSError, ValueError, NotImplementedError) as exc:
        log.warning("no process for bot searches (%s); they run in a thread", exc)
        return ThreadPoolExecutor(1, thread_name_prefix="play-bot")


def redact(url: str | None) -> str:
    """A database URL without its password, for messages and logs."""
    if not url:
        return ""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        auth, _, where = rest.rpartition("@")
        rest = f"{auth.partition(':')[0]}@{where}"
    return f"{scheme}{sep}{rest}"


def use_fast_loop(choice: str | None = None) -> str:
    """Make asyncio.run() use uvloop when it is installed; returns the loop's name.

    `choice` (default: $PLAY_LOOP, else "auto") is "auto", "uvloop" or "asyncio".
    Call it before asyncio.run(); the default loop stays fully supported.
    """
    choice = (choice or os.environ.get("PLAY_LOOP") or "auto").lower()
    if choice == "asyncio":
        return "asyncio"
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        if choice == "uvloop":
            raise ServerError("uvloop is not installed (pip install 'play[fast]')") from None
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def _ignore_file_size_signal() -> None:
    """A write past a file-size limit fails with EFBIG (a storage error) instead of killing us."""
    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """One line per failure (accept errors, stray callbacks), never a traceback to a user."""
    exc = context.get("exception")
    log.error("%s%s", context.get("message", "error"), f": {exc!r}" if exc else "")


