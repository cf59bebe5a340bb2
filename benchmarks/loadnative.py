"""Native figures of a benchmark phase: per-thread CPU and context switches, syscalls by kind.

PLAY_BENCH_NATIVE=PATH: each measured phase of scenario F appends one JSON line to PATH
with, per server thread, user and system seconds and voluntary/involuntary context
switches (/proc/PID/task/*), and, where `perf` can read tracepoints, the server's
syscalls by kind (`perf stat -e 'syscalls:sys_enter_*' -p PID`) over the phase.
PLAY_BENCH_NATIVE_RECORD=DIR also samples the machine (`perf record -a -e cpu-clock -k
mono`: no hardware counters needed; `-p` finds no samples on this VM) into DIR/PHASE.data;
the line gives the phase's start and end on CLOCK_MONOTONIC, for `perf report -i
DIR/PHASE.data --pid PID --time START,END --sort dso`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> dict[str, dict[str, float]]:
    """{tid comm: {user, sys, vcs, ivcs}} of every thread of `pid` now."""
    out: dict[str, dict[str, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                raw = f.read()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        comm = raw[raw.index(b"(") + 1:raw.rindex(b")")].decode(errors="replace")
        rest = raw.rsplit(b")", 1)[1].split()
        out[f"{tid} {comm}"] = {
            "user": int(rest[11]) / _TICK, "sys": int(rest[12]) / _TICK,
            "vcs": int(status["voluntary_ctxt_switches"]),
            "ivcs": int(status["nonvoluntary_ctxt_switches"])}
    return out


class Phase:
    """Made before a phase (perf takes a while to attach), `start()`ed at its start and
    `end()`ed at its end: one JSON line to PLAY_BENCH_NATIVE. perf counts in 0.1 s
    intervals; the phase's are those between start and end."""

    def __init__(self, pid: int, name: str) -> None:
        self.path = os.environ.get("PLAY_BENCH_NATIVE", "")
        self.pid, self.name = pid, name
        self.perf: subprocess.Popen[bytes] | None = None
        if not self.path:
            return
        self.t0 = time.perf_counter()
        self.record: subprocess.Popen[bytes] | None = None
        where = os.environ.get("PLAY_BENCH_NATIVE_RECORD", "")
        if where and shutil.which("perf"):
            data = os.path.join(where, name.replace("/", "per") + ".data")
            self.record = subprocess.Popen(
                ["perf", "record", "-q", "-k", "mono", "-e", "cpu-clock", "-F", "999", "-g",
                 "-a", "-o", data], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        if shutil.which("perf"):
            self.out = tempfile.NamedTemporaryFile(suffix=".perf", delete=False)  # noqa: SIM115
            self.perf = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-I", "100", "-o", self.out.name,
                 "-e", "syscalls:sys_enter_*", "-e", "sched:sched_wakeup", "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        if self.path:
            self.before = threads(self.pid)
            self.t1 = time.perf_counter() - self.t0
            self.mono = [time.monotonic()]

    def end(self, joins: int, extra: dict[str, Any]) -> None:
        if not self.path:
            return
        t2 = time.perf_counter() - self.t0
        self.mono.append(time.monotonic())
        if self.record is not None:
            self.record.send_signal(signal.SIGINT)
            self.record.wait(timeout=60)
        after = threads(self.pid)
        per: dict[str, dict[str, float]] = {}
        for key, now in after.items():
            was = self.before.get(key, {"user": 0, "sys": 0, "vcs": 0, "ivcs": 0})
            delta = {k: round(now[k] - was[k], 3) for k in now}
            if any(delta.values()):
                per[key] = delta
        calls: dict[str, int] = {}
        if self.perf is not None:
            self.perf.send_signal(signal.SIGINT)
            self.perf.wait(timeout=30)
            with open(self.out.name) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) < 4 or not parts[1].isdigit():
                        continue
                    if self.t1 - 0.05 <= float(parts[0]) <= t2 + 0.05:  # interval end
                        name = parts[3].replace("syscalls:sys_enter_", "")
                        calls[name] = calls.get(name, 0) + int(parts[1])
            calls = {k: v for k, v in calls.items() if v}
            os.unlink(self.out.name)
        with open(self.path, "a") as f:
            f.write(json.dumps({"phase": self.name, "joins": joins, **extra,
                                "monotonic": [round(t, 3) for t in self.mono], "threads": per,
                                "calls": dict(sorted(calls.items(), key=lambda kv: -kv[1]))})
                    + "\n")
