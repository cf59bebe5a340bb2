"""Scenario B on one process and on a cluster: CPU per delivery per node, p99, the bus's cost.

Starts its own PostgreSQL and Redis on loopback (tests/engines.py), then for each
setup - one process on SQLite, one node on PostgreSQL + Redis, two nodes - starts
`play host` processes, spreads the clients over them round robin (all in the lobby),
and has one sender on the first node say `--rate` lines a second for `--duration`
seconds. Every receiver notes each line's latency. Two cores also carry this load
generator and the engines, so the figure that means something is CPU per delivery
per node (from /proc), not throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "tests", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from loadhost import BENCH_LIMITS, cpu_seconds, raise_fd_limit  # noqa: E402

PASSWORD = "bench-password"


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and its direct children (PostgreSQL's backends)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            if int(entry) == root or ppid == root:
                total += cpu_seconds(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return total


class Node:
    """One `play host --headless` process; `.port` once it listens."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        (data_dir / "play.toml").write_text(BENCH_LIMITS)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("PLAY_PASSWORD", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gameclient.cli", "host", "--headless", "--host",
             "127.0.0.1", "--port", "0", "--no-tls", "--data-dir", str(data_dir), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env, cwd=str(REPO))
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            match = re.search(r"listening on [\d.]+:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                return
        raise SystemExit(f"a node did not start: {self.proc.stdout.read()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def prepare(store: object, users: list[str]) -> dict[str, str]:
    """Accounts and resume tokens straight in the store (one hash for all, as load.py)."""
    import hashlib

    from gameserver.passwords import hash_password

    pwhash = hash_password(PASSWORD)
    tokens = {}
    for i, user in enumerate(users):
        store.create_account(user, pwhash)  # type: ignore[attr-defined]
        token = secrets.token_urlsafe(24)
        store.save_token(hashlib.sha256(token.encode()).hexdigest(), user,  # type: ignore
                         time.time() + 3600, {"room": "lobby", "nick": f"n{i}"})
        tokens[user] = token
    store.commit()  # type: ignore[attr-defined]
    store.close()  # type: ignore[attr-defined]
    return tokens


async def client(port: int, token: str, latencies: list[float] | None,
                 ready: asyncio.Event, count: list[int]) -> tuple[asyncio.StreamReader,
                                                                  asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
    writer.write(b'{"type":"hello","version":1}\n')
    writer.write(json.dumps({"type": "resume", "id": 1, "token": token}).encode() + b"\n")
    while True:
        frame = json.loads(await reader.readline())
        if frame.get("type") == "error":
            raise SystemExit(f"resume refused: {frame}")
        if frame.get("type") == "room":
            break

    async def read() -> None:
        while line := await reader.readline():
            if b'"room_msg"' in line:
                sent = float(json.loads(line)["text"][2:])
                if latencies is not None:
                    latencies.append(time.perf_counter() - sent)
                count[0] += 1

    asyncio.get_running_loop().create_task(read())
    ready.set()
    return reader, writer


async def drive(ports: list[int], tokens: dict[str, str], rate: float,
                duration: float, pids: list[int], engines: list[int]) -> dict[str, object]:
    users = list(tokens)
    latencies: list[float] = []
    count = [0]
    per_node = [0] * len(ports)
    conns = []
    for i, user in enumerate(users):
        node = i % len(ports)
        per_node[node] += 1
        conns.append(await client(ports[node], tokens[user], latencies, asyncio.Event(), count))
    await asyncio.sleep(3.0)  # presence settles; the nodes see each other's members
    sender = conns[0][1]
    latencies.clear()
    count[0] = 0
    before = [cpu_seconds(p) for p in pids] + [tree_cpu(p) for p in engines]
    start = time.perf_counter()
    sent = 0
    while time.perf_counter() - start < duration:
        sender.write(json.dumps({"type": "say", "id": sent + 2,
                                 "text": f"t:{time.perf_counter()!r}"}).encode() + b"\n")
        sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    expected = sent * len(users)
    deadline = time.perf_counter() + 10
    while count[0] < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    after = [cpu_seconds(p) for p in pids] + [tree_cpu(p) for p in engines]
    for _, writer in conns:
        writer.close()
    used = [b - a for a, b in zip(before, after, strict=True)]
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return {
        "sent": sent, "deliveries": count[0], "lost": expected - count[0], "p99_ms": p99,
        "clients_per_node": per_node, "node_cpu_s": used[:len(ports)],
        "node_us_per_delivery": [used[i] * 1e6 / max(1, sent * per_node[i])
                                 for i in range(len(ports))],
        "node_core_pct": [used[i] * 100 / duration for i in range(len(ports))],
        "engines_core_pct": [u * 100 / duration for u in used[len(ports):]],
    }


async def _frames(reader: asyncio.StreamReader, want: Callable[[dict], bool],
                  timeout: float = 30.0) -> dict:
    """Read JSON frames until one that `want`s; the others are dropped."""
    async with asyncio.timeout(timeout):
        while True:
            line = await reader.readline()
            if not line:
                raise SystemExit("a node closed the connection")
            frame = json.loads(line)
            if want(frame):
                return frame


async def _users_until_gone(port: int, user: str) -> float:
    """Seconds (perf_counter) at which node `port` no longer lists `user` in /users."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for frame in ({"type": "hello", "version": 1},
                  {"type": "login", "id": 1, "user": "cy", "password": PASSWORD}):
        writer.write(json.dumps(frame).encode() + b"\n")
    await _frames(reader, lambda f: f.get("type") == "room")
    n = 100
    try:
        while True:
            n += 1
            writer.write(json.dumps({"type": "cmd", "id": n, "name": "users",
                                     "args": ""}).encode() + b"\n")
            reply = await _frames(reader, lambda f, n=n: f.get("id") == n)
            if not any(line.split()[:1] == [user] for line in reply.get("lines") or ()):
                return time.perf_counter()
            await asyncio.sleep(0.02)
    finally:
        writer.close()


async def one_failover(pg: object, redis: object, work: Path) -> dict[str, float]:
    """Two nodes; a game on node 0 between ann (node 0) and bob (node 1); SIGKILL node 0.

    Returns seconds from the kill to: node 1's mirror letting ann go (`gone_s`), bob's
    room told the game goes on on node 1 (`taken_s`), ann's client's first try to
    reconnect (`first_try_s`) and ann's client resumed on node 1 with its token
    (`resumed_s`). ann's side is the play client's own code (gameclient.targets and
    .reconnect), its backoff included: it waits 1 s before its first try.
    """
    from gameclient.reconnect import reconnect
    from gameclient.targets import Targets
    from gameserver.protocol import Command

    url = pg.new_database()  # type: ignore[attr-defined]
    nodes = [Node(work / f"f{i}", "--store", url, "--bus", redis.url)  # type: ignore
             for i in range(2)]
    try:
        await asyncio.sleep(1.0)  # the nodes hear each other (and each other's addresses)
        where = Targets([("127.0.0.1", nodes[0].port)], tls=False)
        ann = await where.open()
        await ann.hello()
        await ann.login("ann", PASSWORD)
        if len(ann.login_data.get("cluster", [])) != 2:
            raise SystemExit(f"the login did not list both nodes: {ann.login_data}")
        reader, writer = await asyncio.open_connection("127.0.0.1", nodes[1].port)
        for frame in ({"type": "hello", "version": 1},
                      {"type": "login", "id": 1, "user": "bob", "password": PASSWORD}):
            writer.write(json.dumps(frame).encode() + b"\n")
        await _frames(reader, lambda f: f.get("type") == "room")
        for _ in range(100):  # node 0 mirrors bob, node 1 announced its address
            asked = ann.new_id()
            who = await ann.request(Command(id=asked, name="who", args=""), asked)
            if "bob" in " ".join(who.lines or ()):
                break
            await asyncio.sleep(0.05)
        asked = ann.new_id()
        game = await ann.request(Command(id=asked, name="game", args="tictactoe bob"), asked)
        gid = (game.data or {})["game_id"]
        for n in range(100):  # bob's node learns the lobby's games are on node 0
            writer.write(json.dumps({"type": "cmd", "id": 10 + n, "name": "accept",
                                     "args": str(gid)}).encode() + b"\n")
            reply = await _frames(reader, lambda f, n=n: f.get("id") == 10 + n)
            if reply["type"] == "ok":
                break
            await asyncio.sleep(0.05)
        asked = ann.new_id()
        await ann.request(Command(id=asked, name="move", args=f"{gid} b2"), asked)
        await asyncio.sleep(2.5)  # a lease renewal has passed since the game began
        token = ann.login_data["token"]
        gone = asyncio.ensure_future(_users_until_gone(nodes[1].port, "ann"))
        await asyncio.sleep(0.3)  # cy is in, and asks again and again
        nodes[0].proc.kill()
        killed = time.perf_counter()
        told = asyncio.ensure_future(_frames(
            reader, lambda f: f.get("type") == "notice" and f"game {gid} goes on" in
            f.get("text", "")))
        told_at: list[float] = []
        told.add_done_callback(lambda _: told_at.append(time.perf_counter()))
        where.learn(ann.login_data)
        tries: list[float] = []

        async def reopen() -> object:
            tries.append(time.perf_counter())
            return await where.open()

        back = await reconnect(reopen, token, lambda _: None)  # type: ignore[arg-type]
        resumed = time.perf_counter() - killed
        await told
        taken = told_at[0] - killed
        gone_at = await gone
        if back is None:
            raise SystemExit("ann's client did not resume on node 1")
        await back[0].close()
        writer.close()
        return {"gone_s": gone_at - killed, "taken_s": taken,
                "first_try_s": tries[0] - killed, "resumed_s": resumed}
    finally:
        for node in nodes:
            if node.proc.poll() is None:
                node.stop()


def failover(pg: object, redis: object, runs: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="play-failover-"))
    out: dict[str, list[float]] = {}
    for run in range(runs):
        got = asyncio.run(one_failover(pg, redis, work / str(run)))
        for key, value in got.items():
            out.setdefault(key, []).append(value)
        print(f"failover {run + 1}: after the SIGKILL, ann gone from node 1's /users"
              f" {got['gone_s']:.2f} s; the game taken over and the room told"
              f" {got['taken_s']:.2f} s; ann's client tried again {got['first_try_s']:.2f} s"
              f" and resumed on the other node {got['resumed_s']:.2f} s"
              f" (the resume itself {got['resumed_s'] - got['first_try_s']:.3f} s)",
              flush=True)
    return out


def bus_cost(one: object, two: object) -> float | None:
    """The CPU two nodes spend beyond one node's, per delivery made on the second node."""
    if not isinstance(one, dict) or not isinstance(two, dict):
        return None
    extra = sum(two["node_cpu_s"]) - sum(one["node_cpu_s"])
    remote = two["sent"] * sum(two["clients_per_node"][1:])
    return extra * 1e6 / max(1, remote)


def run_setup(pg: Any, redis: Any, users: list[str], count: int,
              args: argparse.Namespace) -> dict[str, object]:
    """One setup of scenario B: 0 = one process on SQLite, else `count` cluster nodes."""
    from gameserver.store import SQLiteStore
    from gameserver.stores.postgres import PostgresStore

    work = Path(tempfile.mkdtemp(prefix="play-cluster-bench-"))
    if count == 0:
        (work / "n0").mkdir(mode=0o700)
        tokens = prepare(SQLiteStore(work / "n0" / "play.db"), users)
        nodes = [Node(work / "n0")]
        engines: list[int] = []
    else:
        url = pg.new_database()
        tokens = prepare(PostgresStore(url), users)
        nodes = [Node(work / f"n{i}", "--store", url, "--bus", redis.url)
                 for i in range(count)]
        assert pg.proc is not None and redis.proc is not None
        engines = [pg.proc.pid, redis.proc.pid]
    try:
        return asyncio.run(drive([n.port for n in nodes], tokens, args.rate, args.duration,
                                 [n.proc.pid for n in nodes], engines))
    finally:
        for node in nodes:
            node.stop()


def spread(values: list[float]) -> str:
    values = sorted(values)
    return (f"median {statistics.median(values):.1f} (min {values[0]:.1f},"
            f" max {values[-1]:.1f}, {len(values)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="run scenario B's setups this many times, in turn")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--failover-runs", type=int, default=3,
                        help="SIGKILL a node mid-game this many times (0: no failover)")
    parser.add_argument("--only-failover", action="store_true", help="skip scenario B")
    parser.add_argument("--only-bus", action="store_true",
                        help="1 and 2 nodes only, and the in-process measure of the bus path")
    args = parser.parse_args()
    raise_fd_limit(args.clients * 2 + 100)
    import busmicro
    from engines import PostgresServer, RedisServer

    users = [f"u{i}" for i in range(args.clients)]
    results: dict[str, Any] = {}
    setups: tuple[tuple[str, int], ...] = (
        ("one process, SQLite", 0), ("1 node, PostgreSQL + Redis", 1),
        ("2 nodes, PostgreSQL + Redis", 2))
    if args.only_failover:
        setups = ()
    elif args.only_bus:
        setups = setups[1:]
    if not args.only_failover:  # first, while nothing of ours runs beside it
        micro = busmicro.measure(receivers=args.clients // 2)
        results["bus_in_process"] = micro
        print(busmicro.report(micro), flush=True)
    pg, redis = PostgresServer().start(), RedisServer().start()
    try:
        if args.failover_runs and not args.only_bus:
            results["failover"] = failover(pg, redis, args.failover_runs)
        bus: list[float] = []
        for repeat in range(args.repeats if setups else 0):
            for label, count in setups:
                figures = run_setup(pg, redis, users, count, args)
                results.setdefault(label, []).append(figures)
                per = ", ".join(f"{us:.1f}" for us in figures["node_us_per_delivery"])  # type: ignore
                cores = ", ".join(f"{c:.0f}%" for c in figures["node_core_pct"])  # type: ignore
                eng = ", ".join(f"{c:.0f}%" for c in figures["engines_core_pct"]) or "-"  # type: ignore
                print(f"run {repeat + 1} {label:30} us/delivery per node: {per:14} node CPU:"
                      f" {cores:10} p99 {figures['p99_ms']:.1f} ms  lost {figures['lost']}"
                      f"  PostgreSQL, Redis: {eng}", flush=True)
            cost = bus_cost(results["1 node, PostgreSQL + Redis"][-1],
                            results["2 nodes, PostgreSQL + Redis"][-1])
            if cost is not None:
                bus.append(cost)
                print(f"run {repeat + 1}: the bus: {cost:.1f} us of node CPU more per delivery"
                      " made on the other node (2 nodes' CPU minus 1 node's, same lines)",
                      flush=True)
        if bus:
            results["bus_us_per_remote_delivery"] = bus
            print(f"the bus, 2 nodes minus 1 node: {spread(bus)} us per delivery on node 1",
                  flush=True)
    finally:
        pg.stop()
        redis.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
