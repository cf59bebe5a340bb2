"""Scenario C's memory hook for any tree (dd71339's too): census and tracemalloc per connection.

    PYTHONPATH=benchmarks/memsite PERFC_MEM=/tmp/c.txt PLAY_BENCH_PROFILE=/tmp/c.mem \\
        python benchmarks/load.py --scenario C

Only the server (the process with PLAY_BENCH_SET) is hooked: the tree's own `.mem`
handlers are replaced. At the first profile signal (before the logins) a census of live
objects by type is taken with nothing traced, then tracemalloc starts; PERFC_DELAY
seconds (4) after the second signal its snapshot is taken, tracing stops, the second
census is taken, and PERFC_MEM gets both per connection (PERFC_N, 2000).
"""

from __future__ import annotations

import os
import signal as _signal
import sys
import tracemalloc
from typing import Any

_PATH = os.environ.get("PERFC_MEM")
_HOOKED = bool(_PATH) and os.environ.get("PLAY_BENCH_PROFILE", "").endswith(".mem") \
    and "PLAY_BENCH_SET" in os.environ
_start = tracemalloc.start
_orig_signal = _signal.signal
_state: dict[str, Any] = {"snaps": [], "census": [], "n": 0}


def _census() -> tuple[dict[type, int], dict[type, int]]:
    """benchmarks/memcensus.py's census (stdlib only, so any tree can use it)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        from memcensus import census
    finally:
        del sys.path[0]
    return census(_state)


def _first() -> None:
    _state["census"].append(_census())
    _start(int(os.environ.get("PERFC_FRAMES", "8")))
    _state["snaps"].append(tracemalloc.take_snapshot())


def _second() -> None:
    assert _PATH is not None
    _state["snaps"].append(tracemalloc.take_snapshot())
    tracemalloc.stop()
    flt = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    a, b = (s.filter_traces(flt) for s in _state["snaps"])
    n = int(os.environ.get("PERFC_N", "2000"))
    with open(_PATH, "w") as f:
        diff = b.compare_to(a, "lineno")
        print(f"traced total {sum(d.size_diff for d in diff) / n:.1f} B/conn, "
              f"blocks {sum(d.count_diff for d in diff) / n:.2f}/conn", file=f)
        print("== by line (B/conn, blocks/conn)", file=f)
        for d in diff[:70]:
            frame = d.traceback[0]
            print(f"{d.size_diff / n:9.1f} {d.count_diff / n:6.2f}  "
                  f"{frame.filename}:{frame.lineno}", file=f)
        print("== by traceback (last 4 frames)", file=f)
        for d in b.compare_to(a, "traceback")[:50]:
            print(f"{d.size_diff / n:9.1f} {d.count_diff / n:6.2f}", file=f)
            for frame in list(d.traceback)[-4:]:
                print(f"           {frame.filename}:{frame.lineno}", file=f)
        del diff
    del a, b
    _state["snaps"].clear()  # not counted in the census below
    _state["census"].append(_census())
    (c1, s1), (c2, s2) = _state["census"]
    rows = sorted(((s2.get(t, 0) - s1.get(t, 0), c2.get(t, 0) - c1.get(t, 0),
                    f"{t.__module__}.{t.__qualname__}") for t in set(c1) | set(c2)),
                  reverse=True)
    with open(_PATH, "a") as f:
        print(f"== census total {sum(r[0] for r in rows) / n:.1f} B/conn "
              "(getsizeof, count/conn)", file=f)
        for size, count, name in rows[:60]:
            if size or count:
                print(f"{size / n:9.1f} {count / n:7.3f}  {name}", file=f)


def _on_signal(*_: Any) -> None:
    _state["n"] += 1
    if _state["n"] == 1:
        _first()
    elif _state["n"] == 2:
        import asyncio
        asyncio.get_running_loop().call_later(float(os.environ.get("PERFC_DELAY", "4")),
                                              _second)


def _signal_hook(signum: int, handler: Any) -> Any:
    if signum in (_signal.SIGUSR1, _signal.SIGUSR2) and callable(handler):
        return _orig_signal(signum, _on_signal)
    return _orig_signal(signum, handler)


if _HOOKED:
    tracemalloc.start = lambda *_: None  # type: ignore[assignment]  # it starts at SIGUSR1
    _signal.signal = _signal_hook  # type: ignore[assignment]
