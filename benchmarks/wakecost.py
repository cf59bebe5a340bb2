"""What this machine charges for work done after a sleep: the same Python, back to back
and after gaps of 1-500 ms, in CPU time per chunk (no play code, no sockets).

Scenario F at a slow rate wakes the server a few times a second for a small group of
joins; in a burst the same joins run back to back. Where the figure after a gap is
well above the back-to-back one, the machine (a VM's idle vCPU, cold caches) charges
each wake-up, and a slow crowd's joins cost more per join however the server batches
them. `--cpu N` pins this process to one CPU, as `load.py --pin` pins the server.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

GAPS_MS = (0.0, 1.0, 10.0, 50.0, 100.0, 500.0)


def chunk(size: int) -> int:
    """A little of what a join costs the server: small dicts encoded and kept."""
    kept = {}
    for i in range(size):
        kept[str(i)] = json.dumps({"op": "joined", "nick": f"n{i}", "user": f"u{i}"})
    return len(kept)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_chunk_ms(size: int, gap_s: float, seconds: float) -> tuple[float, int]:
    """CPU ms per chunk, chunks done with `gap_s` of sleep after each, for ~`seconds`."""
    one = max(per_chunk_cost(size), 1e-5)
    count = max(5, int(seconds / (one + gap_s)))
    start = cpu_s()
    for _ in range(count):
        chunk(size)
        if gap_s:
            time.sleep(gap_s)
    return 1e3 * (cpu_s() - start) / count, count


def per_chunk_cost(size: int) -> float:
    start = time.perf_counter()
    chunk(size)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=100,
                   help="entries per chunk (100: ~0.2 ms of CPU here)")
    p.add_argument("--seconds", type=float, default=6.0, help="roughly how long each gap runs")
    p.add_argument("--cpu", type=int, help="pin this process to this CPU")
    args = p.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    for _ in range(50):
        chunk(args.size)  # warm
    base = None
    for gap in GAPS_MS:
        ms, count = per_chunk_ms(args.size, gap / 1e3, args.seconds)
        base = ms if base is None else base
        print(f"gap {gap:6.1f} ms: {ms:.3f} ms CPU per chunk ({count} chunks),"
              f" {ms - base:+.3f} ms against back to back")


if __name__ == "__main__":
    main()
