"""Process tuning for a server: the cycle collector, memory trimming, thread priority, fds."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable
from typing import cast

SETTLE_GC = True  # see settle_gc
GC_GEN0 = 50_000  # allocations between young-generation collections
# True (the default where Linux's idle class is): the hash workers are processes
# (gameserver/hashpool.py), started with the server, at HASH_NICE; they share no GIL
# with the loop. False (elsewhere, or $PLAY_HASH_PROCESSES=0; =1 turns it on anywhere):
# threads of the server at HASH_NICE (HASH_IDLE_CLASS: in SCHED_IDLE), whose GIL hand-offs
# cost chat more (docs/performance.md, "Scenario D: the storm's first tenth of a second")
HASH_PROCESSES = {"1": True, "0": False}.get(os.environ.get("PLAY_HASH_PROCESSES", ""),
                                             hasattr(os, "SCHED_IDLE"))
# The worker processes in SCHED_IDLE (where it exists), with a rescue in the server for
# when they starve (core/hashqueue.py): any thread that wakes preempts them at once, so a
# login storm leaves chat its CPU. False: the workers at HASH_NICE, no rescue
HASH_PROCESS_IDLE = True
# Hash worker THREADS (HASH_PROCESSES off) in SCHED_IDLE, with the rescue. Off: a thread
# starved while it holds or takes the GIL stalls the event loop on a busy machine
HASH_IDLE_CLASS = False
HASH_RESCUE_PROCESS = False  # True: the rescue is processes at HASH_NICE, not threads
HASH_NICE = 10  # the rescue threads' (and the workers' where there is no idle class)
HASH_RESCUE_AFTER = 0.5  # s with checks due and none finished by a worker: the rescue steps in
HASH_RESCUE_HELD = 1.0  # s one worker has held one check: the rescue takes that one

_gc_settled = False


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return cast(Callable[[int], int], ctypes.CDLL(None).malloc_trim)
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _find_malloc_trim()


def release_memory() -> None:
    """Hand memory freed after a burst back to the system.

    A login storm makes large short-lived frames (room lists); glibc keeps the freed
    heap, so without this the process stays at its peak size while idle.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def settle_gc() -> None:
    """Keep the cycle collector off the hot path.

    What is alive at the first start (modules, the hub) is moved out of the collector's
    sight, and young-generation passes run less often: a chat message makes no cycles,
    so frequent passes would only re-walk live objects.
    """
    global _gc_settled
    if not SETTLE_GC:
        return
    if not _gc_settled:
        _gc_settled = True
        gc.collect()
        gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_GEN0), gen1, gen2)


def idle_threads() -> bool:
    """Do hash worker threads (HASH_PROCESSES off) run in the idle class?"""
    return HASH_IDLE_CLASS and hasattr(os, "SCHED_IDLE")


def lower_priority() -> None:
    """A hash worker thread: below the event loop; in the idle class if HASH_IDLE_CLASS.

    The hash workers are these threads unless HASH_PROCESSES (gameserver/hashpool.py:
    processes, each in SCHED_IDLE); with processes, threads run the checks that cannot
    be pickled. A SCHED_IDLE thread is preempted at once by any thread that wakes, so
    hashing never delays chat: at nice 10 a woken event loop (or a client on the same
    machine) waits for the hash thread's time slice, and chat's p99 during 200 password
    logins went from ~20 ms to 30-120 ms (scenario D, docs/performance.md). But a thread
    shares the server's GIL: one that takes the GIL back after a hash makes the loop
    hand it over and wait until that thread runs (the likely cause: CPython's forced GIL
    switch; not traced), and a starved idle-class thread may not run for a second: with
    two busy loops at nice 0 beside a login flood a real login took up to 5.9 s (7 of 12
    floods over 2 s; nice 10: none). So threads stay at HASH_NICE unless HASH_IDLE_CLASS
    (then with the rescue threads, core/hashqueue.py), and idle-class hashing is done in
    processes, which share no GIL with the loop.
    """
    if idle_threads():
        try:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
            return
        except OSError:
            pass
    never_starved()


def never_starved() -> None:
    """A hash thread (the rescue's too): at HASH_NICE, below the event loop but never starved.

    At nice 10 a thread gets about a tenth of a core that the loop (or anything at nice
    0) also wants: a login still finishes on a machine that is never idle.
    """
    if hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        try:
            # never below the process's own nice (a server run under `nice` stays there)
            os.setpriority(os.PRIO_PROCESS, tid,
                           max(HASH_NICE, os.getpriority(os.PRIO_PROCESS, tid)))
        except OSError:
            pass


def raise_fd_limit() -> int:
    """Lift the soft limit on open files to the hard limit (one fd per client); the new limit."""
    try:
        import resource
    except ImportError:  # not on this platform
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target
