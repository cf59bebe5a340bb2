"""Load generator for a play server: loopback only, bounded, prints cost, latency and memory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from loadhost import (  # noqa: E402
    OwnServer,
    check_loopback,
    cpu_list,
    prepare_store,
    raise_fd_limit,
    split_cpus,
)
from loadpresence import follow_server  # noqa: E402
from loadreport import report  # noqa: E402
from loadrun import run_bench  # noqa: E402
from loadspec import (  # noqa: E402
    LAG_CAP,
    MAX_CLIENTS,
    MAX_MESSAGES,
    SCENARIO_TEXT,
    SCENARIOS,
    TARGETS,
    WINDOW,
    Config,
    described,
)

__all__ = ["SCENARIO_TEXT", "TARGETS", "main"]

# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="load.py", description="Drive a play server over loopback and print its cost.",
        epilog="scenarios: " + "; ".join(f"{k}: {described(v, SCENARIOS[k])}"
                                      for k, v in SCENARIO_TEXT.items()))
    p.add_argument("--scenario", choices=sorted(SCENARIOS), help="a preset (flags override it)")
    p.add_argument("--clients", type=int, help="logged-in clients in the room")
    p.add_argument("--senders", type=int, help="how many of them send")
    p.add_argument("--messages", type=int, help="messages per sender")
    p.add_argument("--rate", type=float, help="messages/s per sender; 0 = full speed")
    p.add_argument("--duration", type=float, help="seconds of sending at --rate")
    p.add_argument("--idle", type=float, help="seconds to hold the clients idle")
    p.add_argument("--storm", type=int, help="password logins at once while sending")
    p.add_argument("--storm-at", type=float, default=2.0,
                   help="seconds into the sending when the login storm starts (default 2)")
    p.add_argument("--arrivals", type=float, metavar="RATE",
                   help="after logging in at once, drop everyone and resume RATE a second"
                        " (scenario F: server CPU per join both ways, and their ratio)")
    p.add_argument("--reconnect", action="store_true", default=None,
                   help="drop every client and resume with the session token")
    p.add_argument("--window", type=int, default=WINDOW,
                   help=f"full speed: messages each sender has in flight (default {WINDOW})")
    p.add_argument("--lag", type=int, default=LAG_CAP,
                   help="full speed: how many messages the slowest receiver may trail by"
                        f" (default {LAG_CAP}; keeps the server's per-client output bounded)")
    p.add_argument("--room", default="lobby", help="the room everyone is in")
    p.add_argument("--login", choices=("token", "password"),
                   help="how the crowd logs in (default: token, or password with --attach)")
    p.add_argument("--attach", metavar="HOST:PORT:PID",
                   help="use a running server on this machine instead of starting one")
    p.add_argument("--password", default="bench-password",
                   help="the accounts' password (with --attach: existing or new accounts)")
    p.add_argument("--prefix", default="b", help="username prefix of the bench accounts")
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="the started server's event loop (auto: uvloop if installed)")
    p.add_argument("--server-set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a constant of the started server (ablations), e.g. DIRECT_WRITES="
                        "False (in gameserver.doors.*, .commits, .runtime, .tuning, .store ...)")
    p.add_argument("--client-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="this load generator's own event loop (auto: uvloop if installed)")
    p.add_argument("--tls", action="store_true",
                   help="the started server serves TLS (its default) and clients use it;"
                        " without it the server runs with --no-tls")
    p.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                   help="the started server on half the CPUs and this load generator on the"
                        " other half (default off: both share every CPU, as in every figure of"
                        " docs/performance.md unless it says pinned)")
    p.add_argument("--timeout", type=float, default=300.0, help="hard bound on the whole run")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    return args


def client_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("error: uvloop is not installed") from None
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def make_config(args: argparse.Namespace) -> Config:
    values: dict[str, Any] = dict(SCENARIOS.get(args.scenario or "", {}))
    for key in ("clients", "senders", "messages", "rate", "duration", "idle", "storm",
                "reconnect", "arrivals", "pin"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    cfg = Config(**values, room=args.room, password=args.password, prefix=args.prefix,
                 scenario=args.scenario or "", window=args.window, lag_cap=args.lag,
                 storm_at=args.storm_at, tls=args.tls)
    cfg.login = args.login or ("password" if args.attach else "token")
    if not 1 <= cfg.clients <= MAX_CLIENTS:
        raise SystemExit(f"error: --clients must be 1-{MAX_CLIENTS}")
    if not 0 <= cfg.senders <= cfg.clients:
        raise SystemExit("error: --senders must be between 0 and --clients")
    if cfg.senders and not 1 <= cfg.per_sender <= MAX_MESSAGES:
        raise SystemExit(f"error: messages per sender must be 1-{MAX_MESSAGES}")
    if cfg.storm < 0 or cfg.storm > MAX_CLIENTS:
        raise SystemExit(f"error: --storm must be 0-{MAX_CLIENTS}")
    if cfg.storm and not cfg.senders:
        raise SystemExit("error: --storm needs senders (the storm happens while they send)")
    if cfg.login == "token" and args.attach:
        raise SystemExit("error: --login token needs a server this script starts")
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = make_config(args)
    raise_fd_limit(2 * (cfg.clients + cfg.storm) + 256)
    users = [f"{cfg.prefix}{i:05d}" for i in range(cfg.clients)]
    storm_users = [f"{cfg.prefix}s{i:05d}" for i in range(cfg.storm)]
    meta: dict[str, str] = {}
    server: OwnServer | None = None
    tmp: str | None = None
    tokens: dict[str, str] | None = None
    fig: dict[str, Any] = {}
    try:
        if args.attach:
            try:
                host, port_text, pid_text = args.attach.rsplit(":", 2)
                port, pid = int(port_text), int(pid_text)
            except ValueError:
                raise SystemExit("error: --attach wants HOST:PORT:PID") from None
            host = check_loopback(host.strip("[]"))
            if not Path(f"/proc/{pid}/stat").exists():
                raise SystemExit(f"error: no process {pid} on this machine to measure")
            meta["server"] = f"attached {host}:{port} pid {pid}"
        else:
            tmp = tempfile.mkdtemp(prefix="play-bench-")
            start = time.perf_counter()
            tokens = prepare_store(Path(tmp), users + storm_users, cfg.password, cfg.room,
                                   with_tokens=cfg.login == "token")
            if cfg.login != "token":
                tokens = None
            meta["prepared"] = f"{len(users) + len(storm_users)} accounts in " \
                               f"{time.perf_counter() - start:.2f} s"
            settings = dict(item.split("=", 1) for item in args.server_set)
            follow_server(settings)  # scenario F settles as long as the server's batches wait
            os.environ["PLAY_BENCH_CLIENTS"] = str(cfg.clients)  # a profile's "per connection"
            halves = split_cpus() if cfg.pin else None
            server = OwnServer(Path(tmp), args.loop, settings, tls=cfg.tls,
                               cpus=halves[0] if halves else None)
            if halves:
                os.sched_setaffinity(0, halves[1])
            meta["pinned"] = (f"server on CPU {cpu_list(halves[0])}, load generator on CPU"
                              f" {cpu_list(halves[1])}" if halves else
                              "no (one CPU)" if cfg.pin else "no")
            host, port, pid = "127.0.0.1", server.port, server.pid
            meta["server"] = f"play host pid {pid} port {port}"
            meta["server loop"] = server.loop
            if settings:
                meta["server settings"] = " ".join(args.server_set)
        meta["python"] = sys.version.split()[0]
        meta["cores"] = str(os.cpu_count())
        try:
            with asyncio.Runner(loop_factory=client_loop_factory(args.client_loop)) as runner:
                meta["bench loop"] = type(runner.get_loop()).__module__.split(".")[0]
                fig = runner.run(asyncio.wait_for(
                    run_bench(host, port, pid, cfg, tokens, storm_users), args.timeout))
        except TimeoutError:
            print(f"error: the run did not finish within {args.timeout:g} s", file=sys.stderr)
            return 2
        except (ConnectionError, RuntimeError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            if server is not None:
                print(server.log_tail(), file=sys.stderr)
            return 2
        if server is not None:
            alive = server.proc.poll() is None
            meta["server after run"] = "running" if alive else f"exited {server.proc.returncode}"
    finally:
        if server is not None:
            server.stop()
            stats = re.search(r"stopped after (\d+) writes in (\d+) flush passes",
                              server.log_tail(50))
            if stats and fig:
                fig["server_writes"], fig["server_passes"] = map(int, stats.groups())
            rescued = re.search(r"hash queue: (\d+) checks run by the rescue thread \((\d+) of",
                                server.log_tail(50))
            if fig and fig.get("storm_logins") is not None:  # the idle class starved this often
                fig["hash_rescued"], fig["hash_rerun"] = (
                    map(int, rescued.groups()) if rescued else (0, 0))
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(cfg, fig, meta))
    if args.json:
        targets = {t.figure: {"limit": t.limit, "label": described(t.label, vars(cfg)),
                                "result": t.check(fig)}
                   for t in TARGETS.get(cfg.scenario, [])}
        Path(args.json).write_text(json.dumps(
            {"scenario": cfg.scenario, "config": cfg.__dict__, "meta": meta,
             "figures": fig, "targets": targets}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
