"""Run scenarios A-E with load.py (each loop, repeated) and print a Markdown table vs targets."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import SCENARIO_TEXT, TARGETS  # noqa: E402

# The figures shown per scenario (key, label, format); targets come from load.TARGETS.
SHOWN: dict[str, list[tuple[str, str, str]]] = {
    "A": [("cpu_us_per_delivery", "server CPU per delivery (us)", "{:.3f}"),
          ("deliveries_per_s", "deliveries/s", "{:,.0f}"),
          ("p99_ms", "latency p99, all (ms)", "{:.1f}"),
          ("lost", "lost", "{:d}"),
          ("others_core_pct", "other processes meanwhile (% of a core)", "{:.0f}")],
    "B": [("p99_ms", "latency p99, all (ms)", "{:.1f}"),
          ("first_p99_ms", "latency p99, first receiver (ms)", "{:.1f}"),
          ("server_core_pct", "server CPU (% of one core)", "{:.1f}"),
          ("cpu_us_per_delivery", "server CPU per delivery (us)", "{:.2f}"),
          ("lost", "lost", "{:d}"),
          ("others_core_pct", "other processes meanwhile (% of a core)", "{:.0f}")],
    "C": [("rss_kib_per_conn", "server memory per idle connection (KiB)", "{:.2f}"),
          ("rss_kib_per_conn_at_login", "... right after the login burst (KiB)", "{:.1f}"),
          ("login_s", "2000 logins (s)", "{:.2f}"),
          ("idle_cpu_pct", "idle server CPU (% of one core)", "{:.2f}")],
    "D": [("storm_p99_ms", "latency p99 during the storm, all (ms)", "{:.1f}"),
          ("storm_first_p99_ms", "... first receiver (ms)", "{:.1f}"),
          ("storm_login_s", "200 password logins (s)", "{:.1f}"),
          ("lost", "lost", "{:d}"),
          ("others_core_pct", "other processes meanwhile (% of a core)", "{:.0f}")],
    "E": [("resume_s", "2000 resumes (s)", "{:.2f}"),
          ("resume_cpu_s", "server CPU for them (s)", "{:.2f}"),
          ("not_restored", "room or nick not restored", "{:d}")],
    "F": [("burst_cpu_ms_per_join", "server CPU per join, all at once (ms)", "{:.3f}"),
          ("paced_cpu_ms_per_join", "server CPU per join, 250/s (ms)", "{:.3f}"),
          ("arrival_ratio", "ratio (paced / all at once)", "{:.2f}")],
}


def run_once(scenario: str, loop: str, extra: list[str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        proc = subprocess.run(
            [sys.executable, str(HERE / "load.py"), "--scenario", scenario, "--loop", loop,
             "--json", str(out), "--timeout", str(timeout), *extra],
            capture_output=True, text=True, timeout=timeout + 60, stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"scenario {scenario} ({loop}) failed:\n{proc.stdout}{proc.stderr}")
        print(proc.stdout, file=sys.stderr)
        return json.loads(out.read_text())["figures"]


def median_text(values: list[Any], fmt: str) -> str:
    nums = [v for v in values if isinstance(v, (int, float))]
    if not nums:
        return "-"
    mid = statistics.median(nums)
    if fmt.endswith("d}"):
        mid = round(mid)
    text = fmt.format(mid)
    if len(nums) > 1:
        lo, hi = min(nums), max(nums)
        if fmt.endswith("d}"):
            lo, hi = round(lo), round(hi)
        text += f" ({fmt.format(lo)}-{fmt.format(hi)})"
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                epilog="other flags are passed to load.py")
    p.add_argument("--only", default="ABCDE", help="which scenarios, e.g. AB")
    p.add_argument("--loops", default="uvloop,asyncio", help="comma-separated server loops")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0, help="per run")
    p.add_argument("--json", metavar="PATH", help="also write every run's figures")
    args, extra = p.parse_known_args(argv)
    args.scenarios = [s for s in args.only.upper() if s in SCENARIO_TEXT]
    loops = args.loops.split(",")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for scenario in args.scenarios:
        for loop in loops:
            for _ in range(max(1, min(args.repeat, 20))):
                results.setdefault(scenario, {}).setdefault(loop, []).append(
                    run_once(scenario, loop, extra, args.timeout))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    header = "| scenario | figure | target | " + " | ".join(loops) + " |"
    print(header)
    print("|" + "---|" * (3 + len(loops)))
    for scenario in args.scenarios:
        targets = {t.figure: t for t in TARGETS.get(scenario, [])}
        for key, label, fmt in SHOWN[scenario]:
            target = targets.get(key)
            limit = f"{'<=' if target.most else '>='} {target.limit:g}" if target else ""
            cells = [median_text([r.get(key) for r in results[scenario][loop]], fmt)
                     for loop in loops]
            print(f"| {scenario} | {label} | {limit} | " + " | ".join(cells) + " |")
    print(f"\nmedian of {args.repeat} runs (min-max in brackets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
