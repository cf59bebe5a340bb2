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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
        "node_us_per_delivery": [used[i] * 1e6 / max(1, sent * per_node[i])
                                 for i in range(len(ports))],
        "node_core_pct": [used[i] * 100 / duration for i in range(len(ports))],
        "engines_core_pct": [u * 100 / duration for u in used[len(ports):]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    raise_fd_limit(args.clients * 2 + 100)
    from engines import PostgresServer, RedisServer

    from gameserver.store import SQLiteStore
    from gameserver.stores.postgres import PostgresStore

    pg, redis = PostgresServer().start(), RedisServer().start()
    users = [f"u{i}" for i in range(args.clients)]
    results = {}
    try:
        for label, count in (("one process, SQLite", 0), ("1 node, PostgreSQL + Redis", 1),
                             ("2 nodes, PostgreSQL + Redis", 2)):
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
                figures = asyncio.run(drive([n.port for n in nodes], tokens, args.rate,
                                            args.duration, [n.proc.pid for n in nodes],
                                            engines))
            finally:
                for node in nodes:
                    node.stop()
            results[label] = figures
            per = ", ".join(f"{us:.1f}" for us in figures["node_us_per_delivery"])
            cores = ", ".join(f"{c:.0f}%" for c in figures["node_core_pct"])
            eng = ", ".join(f"{c:.0f}%" for c in figures["engines_core_pct"]) or "-"
            print(f"{label:30} us/delivery per node: {per:14} node CPU: {cores:10}"
                  f" p99 {figures['p99_ms']:.1f} ms  lost {figures['lost']}"
                  f"  PostgreSQL, Redis: {eng}", flush=True)
    finally:
        pg.stop()
        redis.stop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
