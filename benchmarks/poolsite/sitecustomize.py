"""Scenario C's pymalloc probe for any tree (dd71339's too): pool use at the burst's start and end.

    PYTHONPATH=benchmarks/poolsite POOLSITE_OUT=/tmp/c.pools \\
        python benchmarks/load.py --scenario C --loop uvloop
    python benchmarks/poolsite/poolstats.py /tmp/c.pools

Only the server (the process with PLAY_BENCH_SET that runs `--headless`) is hooked, and
the load generator is not told anything: a thread of the server times itself by its open
file descriptors. `sys._debugmallocstats()` goes to POOLSITE_OUT.0 just before the crowd
comes (taken every 0.1 s until then), .1 POOLSITE_DELAY_END (0.5) s after POOLSITE_N
(2000) descriptors are open, and .2 POOLSITE_IDLE (4.2) s after that: within C's 5 s idle
period. POOLSITE_TYPES=1 also counts the collector's objects by type and pymalloc size
class at half and all the crowd in, and at .1 and .2 (.typesh, .typesf, .types1, .types2;
it takes the GIL for a few ms each).
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import threading
import time

_OUT = os.environ.get("POOLSITE_OUT", "")
_HOOKED = bool(_OUT) and "PLAY_BENCH_SET" in os.environ and "--headless" in sys.orig_argv


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _types(tag: str) -> None:
    if not os.environ.get("POOLSITE_TYPES"):
        return
    counts: collections.Counter[tuple[str, int]] = collections.Counter()
    for obj in gc.get_objects():
        block = (sys.getsizeof(obj) + 15) // 16 * 16  # (getsizeof counts the GC header)
        if block <= 512:
            kind = type(obj)
            counts[(f"{kind.__module__}.{kind.__qualname__}", block)] += 1
    with open(f"{_OUT}.types{tag}", "w") as f:
        for (name, block), n in counts.most_common(400):
            print(n, block, name, file=f)


def _dump(tag: str) -> None:
    _types(tag)
    fd = os.open(f"{_OUT}.{tag}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    saved = os.dup(2)
    os.write(fd, f"rss_kib {_rss_kib()} t {time.monotonic():.3f}\n".encode())
    os.dup2(fd, 2)  # _debugmallocstats writes to the C stderr
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


def _watch() -> None:
    n = int(os.environ.get("POOLSITE_N", "2000"))
    last = -1.0
    while _fds() < 100:  # the server's own descriptors are fewer
        if time.monotonic() - last > 0.1:
            _dump("0")
            last = time.monotonic()
        time.sleep(0.02)
    while _fds() < n // 2:
        time.sleep(0.02)
    _types("h")
    while _fds() < n:
        time.sleep(0.05)
    _types("f")
    time.sleep(float(os.environ.get("POOLSITE_DELAY_END", "0.5")))
    _dump("1")
    time.sleep(float(os.environ.get("POOLSITE_IDLE", "4.2")))
    _dump("2")


if _HOOKED:
    threading.Thread(target=_watch, name="poolsite", daemon=True).start()
