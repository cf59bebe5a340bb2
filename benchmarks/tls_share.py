"""TLS's share of scenario B: load.py plain and --tls on each loop, repeated; prints the ratios."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scenarios import run_once  # noqa: E402

TARGET_RATIO = 1.3
SHOWN = [("server_core_pct", "server CPU (% of one core)"),
         ("cpu_us_per_delivery", "server CPU per delivery (us)"),
         ("cpu_us_per_write", "server CPU per write (us)"),
         ("deliveries_per_write", "deliveries per write"),
         ("p99_ms", "latency p99, all (ms)"),
         ("first_p99_ms", "latency p99, first receiver (ms)"),
         ("rss_kib_per_conn_at_login", "server memory per connection (KiB)")]


def with_writes(fig: dict[str, Any]) -> dict[str, Any]:
    """Per write too: on a busy machine the load falls behind and writes carry several
    deliveries each, so CPU per delivery falls; per write it stays comparable."""
    writes = fig.get("server_writes")
    if isinstance(writes, int) and writes > 0:
        fig["cpu_us_per_write"] = fig["server_cpu_s"] * 1e6 / writes
        fig["deliveries_per_write"] = fig["deliveries"] / writes
    return fig


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


# --layer: also TLS through asyncio's layer with small buffers (the listener before TLSStream)
LAYER_FLAGS = ["--server-set", "TLS_STREAMS=False"]


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    layer = any(runs.get("tls-layer") for runs in results.values())
    head = "| loop | figure | plain | TLS | TLS / plain |"
    if layer:
        head += " TLS, asyncio's layer | its / plain |"
    lines = [head, "|---|---|---|---|---|" + ("---|---|" if layer else "")]
    for loop, runs in results.items():
        for key, label in SHOWN:
            plain, tls = median(runs["plain"], key), median(runs["tls"], key)
            if plain is None or tls is None:
                continue
            ratio = tls / plain if plain else float("nan")
            verdict = ""
            if key in ("server_core_pct", "p99_ms"):
                verdict = " met" if ratio <= TARGET_RATIO else " MISSED"
            line = f"| {loop} | {label} | {plain:.2f} | {tls:.2f} | {ratio:.2f}x{verdict} |"
            old = median(runs.get("tls-layer", []), key)
            if layer and old is not None:
                line += f" {old:.2f} | {old / plain if plain else float('nan'):.2f}x |"
            lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--loops", default="uvloop,asyncio")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0, help="per run")
    p.add_argument("--extra", default="", help="more load.py flags, e.g. '--clients 100'")
    p.add_argument("--json", metavar="PATH", help="also write every run's figures")
    p.add_argument("--layer", action="store_true",
                   help="also TLS through asyncio's layer (the listener before TLSStream)")
    args = p.parse_args(argv)
    kinds = ("plain", "tls", "tls-layer") if args.layer else ("plain", "tls")
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for loop in args.loops.split(","):
        results[loop] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):  # interleaved, so a busy moment hits each alike
            for kind in kinds:
                extra = args.extra.split() + (["--tls"] if kind != "plain" else []) + (
                    LAYER_FLAGS if kind == "tls-layer" else [])
                results[loop][kind].append(with_writes(run_once("B", loop, extra, args.timeout)))
    print(f"TLS's share of scenario B (median of {args.repeat}; target: within "
          f"{TARGET_RATIO}x of plain)\n")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
