"""Load generator for a play server: loopback only, bounded, prints cost, latency and memory."""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import hashlib
import ipaddress
import json
import math
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

# ---------------------------------------------------------------- scenarios and targets

SCENARIOS: dict[str, dict[str, Any]] = {
    "A": {"clients": 100, "senders": 10, "messages": 2000, "rate": 0.0},
    "B": {"clients": 500, "senders": 1, "rate": 100.0, "duration": 10.0},
    "C": {"clients": 2000, "senders": 0, "idle": 5.0},
    "D": {"clients": 500, "senders": 1, "rate": 100.0, "duration": 10.0, "storm": 200},
    "E": {"clients": 2000, "senders": 0, "reconnect": True},
}
SCENARIO_TEXT = {
    "A": "100 clients, 10 senders x 2000 messages at full speed",
    "B": "500 clients, 1 sender at 100 messages/s for 10 s",
    "C": "2000 idle logged-in clients",
    "D": "scenario B while 200 new clients log in with passwords at once",
    "E": "2000 clients drop and reconnect at once (session-token resume)",
}


@dataclass(frozen=True)
class Target:
    figure: str  # a key of the figures dict
    limit: float
    label: str
    most: bool = True  # the figure must be <= limit (else >= limit)

    def check(self, figures: dict[str, Any]) -> str:
        value = figures.get(self.figure)
        if value is None:
            return "n/a"
        good = value <= self.limit if self.most else value >= self.limit
        return "met" if good else "MISSED"


TARGETS: dict[str, list[Target]] = {
    "A": [Target("cpu_us_per_delivery", 0.35, "server CPU <= 0.35 us per delivery"),
          Target("lost", 0, "no message lost")],
    "B": [Target("p99_ms", 10.0, "p99 latency <= 10 ms"),
          Target("server_core_pct", 40.0, "server under 40% of one core"),
          Target("lost", 0, "no message lost")],
    "C": [Target("rss_kib_per_conn", 8.0, "<= 8 KiB server memory per idle connection")],
    "D": [Target("storm_p99_ms", 15.0, "p99 latency <= 15 ms during the login storm"),
          Target("lost", 0, "no message lost")],
    "E": [Target("resume_s", 2.0, "2000 resumes complete in <= 2 s"),
          Target("not_restored", 0, "every room and nick restored")],
}

MAX_CLIENTS = 10_000
MAX_MESSAGES = 1_000_000
WINDOW = 256  # full speed: messages a sender may have sent but not yet seen come back
LAG_CAP = 1000  # full speed: how far the slowest receiver may fall behind (bytes stay bounded)
DRAIN_SECONDS = 10.0  # after the last send, how long deliveries may still arrive
SAY_ID_BASE = 1000

# One bench message: "b SENDER SEQ SENDTIME"; the regex finds them in room_msg frames only.
MSG_RE = re.compile(rb'\{"type":"room_msg",[^\n]*?"text":"b (\d+) (\d+) ([\d.]+)"')
ROOM_HEAD_RE = re.compile(rb'\{"type":"room","room":("(?:[^"\\]|\\.)*"),"nick":("(?:[^"\\]|\\.)*")')
SKIP_PREFIXES = (b'{"type":"room_msg"', b'{"type":"joined"', b'{"type":"left"')


# ---------------------------------------------------------------- server side: /proc


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads) in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(rest[11]) / tick, int(rest[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files toward `wanted` (capped by the hard limit)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def check_loopback(host: str) -> str:
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        if host == "localhost":
            return "127.0.0.1"
    raise SystemExit(f"error: {host} is not a loopback address; the benchmark only drives "
                     "servers on this machine (127.0.0.1, ::1)")


# ---------------------------------------------------------------- accounts and the server


def prepare_store(data_dir: Path, users: list[str], password: str, room: str,
                  with_tokens: bool) -> dict[str, str]:
    """Create the accounts (and session tokens) straight in a fresh store; {user: token}.

    Every account gets the same full-cost scrypt hash of one password, made once: the
    server still pays a full verify for each password login, but preparing 2000 accounts
    takes one hash instead of 2000.
    """
    from gameserver.passwords import hash_password
    from gameserver.store import SQLiteStore

    pwhash = hash_password(password)
    store = SQLiteStore(data_dir / "play.db")
    tokens: dict[str, str] = {}
    try:
        for i, user in enumerate(users):
            store.create_account(user, pwhash)
            if with_tokens:
                token = secrets.token_urlsafe(24)
                digest = hashlib.sha256(token.encode()).hexdigest()  # as logins.token_digest
                store.save_token(digest, user, time.time() + 3600,
                                 {"room": room, "nick": f"n{i}"})
                tokens[user] = token
        store.commit()
    finally:
        store.close()
    return tokens


# `play host` itself, after choosing the loop and applying --server-set (for ablations).
SERVE_CODE = (
    "import ast, json, os, sys\n"
    "import gameserver.doors.jsonlines as door, gameserver.doors.jsonconn as conn\n"
    "import gameserver.runtime as runtime\n"
    "import gameserver.tuning as tuning\n"
    "for name, value in json.loads(os.environ.get('PLAY_BENCH_SET', '{}')).items():\n"
    "    where = [m for m in (door, conn, runtime, tuning) if hasattr(m, name)]\n"
    "    assert where, f'no server module has {name}'\n"
    "    setattr(where[0], name, ast.literal_eval(value))\n"
    "print('loop:', runtime.use_fast_loop(), flush=True)\n"
    "from gameclient.cli import main\n"
    "sys.argv[0] = 'play'\n"
    "main()\n"
)


# A crowd from 127.0.0.1 at full speed is what is measured here, not what the limits stop.
BENCH_LIMITS = """\
flood_burst = 1000000
flood_rate = 1000000.0
max_per_address = 100000
registrations_per_hour = 100000
hash_queue = 100000
login_free_failures = 100000
hello_timeout = 60.0
login_timeout = 600.0
"""


class OwnServer:
    """`play host --headless --port 0` in a fresh data directory, on the chosen loop."""

    def __init__(self, data_dir: Path, loop: str, settings: dict[str, str] | None = None,
                 tls: bool = False) -> None:
        (data_dir / "play.toml").write_text(BENCH_LIMITS)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PLAY_LOOP=loop,
                   PLAY_BENCH_SET=json.dumps(settings or {}))
        env.pop("PLAY_PASSWORD", None)
        self.log_path = data_dir / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_CODE, "host", "--headless", "--host", "127.0.0.1",
             "--port", "0", "--data-dir", str(data_dir), *(() if tls else ("--no-tls",))],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            env=env, cwd=str(REPO), text=True,
        )
        self.loop = "?"
        self.port = self._read_port()
        self.pid = self.proc.pid

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("loop:"):
                self.loop = line.split(":", 1)[1].strip()
            match = re.search(r"listening on [\d.]+:(\d+)", line)
            if match:
                return int(match.group(1))
        self.stop()
        raise SystemExit("error: the server did not start:\n" + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


# ---------------------------------------------------------------- clients


class Client(asyncio.Protocol):
    """One connection; room messages are counted and timed without a JSON parse each."""

    def __init__(self, bench: Bench, user: str) -> None:
        self.bench = bench
        self.user = user
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.in_room: asyncio.Future[dict[str, Any]] = bench.loop.create_future()
        self.gone: asyncio.Future[None] = bench.loop.create_future()
        self.received = 0  # bench messages seen
        self.oks = 0  # says confirmed
        self.bye = ""
        self.token = ""
        self.sender: Sender | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        for fut in (*self.replies.values(), self.in_room):
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.user}: connection closed {self.bye}"))
        if not self.gone.done():
            self.gone.set_result(None)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def request(self, msg_id: int, obj: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        fut = self.bench.loop.create_future()
        self.replies[msg_id] = fut
        self.write(json.dumps({**obj, "id": msg_id}).encode() + b"\n")
        return fut

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.buf:
            data = self.buf + data
        end = data.rfind(b"\n")
        if end < 0:
            self.buf = data
            return
        self.buf = data[end + 1:]
        chunk = data[: end + 1] if end + 1 < len(data) else data
        matches = MSG_RE.findall(chunk)
        if matches:
            self.received += len(matches)
            self.bench.delivered(matches, now)
            if self.sender is not None:
                self.sender.saw(matches)
        others = (chunk.count(b"\n") - len(matches) - chunk.count(b'{"type":"joined"')
                  - chunk.count(b'{"type":"left"'))
        if others > 0:
            for line in chunk.split(b"\n"):
                if line and not line.startswith(SKIP_PREFIXES):
                    head = ROOM_HEAD_RE.match(line)  # a big room's member list: skip it
                    self.frame({"type": "room", "room": json.loads(head[1]),
                                "nick": json.loads(head[2])} if head else json.loads(line))

    def frame(self, obj: dict[str, Any]) -> None:
        kind = obj.get("type")
        if kind in ("ok", "error"):
            msg_id = obj.get("id")
            if isinstance(msg_id, int) and msg_id >= SAY_ID_BASE:
                if kind == "ok":
                    self.oks += 1
                else:
                    self.bench.errors.append(f"{self.user}: {obj.get('text')}")
                return
            fut = self.replies.pop(msg_id, None) if isinstance(msg_id, int) else None
            if fut is not None and not fut.done():
                fut.set_result(obj)
        elif kind == "room":
            if obj.get("room") == self.bench.room and not self.in_room.done():
                self.in_room.set_result(obj)
        elif kind == "bye":
            self.bye = str(obj.get("reason", ""))
            self.bench.byes.append(f"{self.user}: {self.bye}")


class Sender:
    """Sends one client's bench messages: at full speed in a window, or at a fixed rate."""

    def __init__(self, bench: Bench, client: Client, index: int, count: int) -> None:
        self.bench = bench
        self.client = client
        self.tag = str(index).encode()
        self.index = index
        self.count = count
        self.sent = 0
        self.seen_own = 0
        client.sender = self

    def saw(self, matches: list[tuple[bytes, bytes, bytes]]) -> None:
        tag = self.tag
        self.seen_own += sum(1 for m in matches if m[0] == tag)
        if self.bench.full_speed:
            self.top_up()

    def frames(self, n: int) -> bytes:
        now = time.perf_counter()
        first, i = self.sent, self.index
        self.sent += n
        self.bench.total_sent += n
        return b"".join(
            b'{"type":"say","id":%d,"text":"b %d %d %.6f"}\n' % (SAY_ID_BASE + s, i, s, now)
            for s in range(first, first + n))

    def top_up(self) -> None:
        """Full speed: keep up to WINDOW messages in flight, within the slowest reader's lag."""
        bench = self.bench
        room = min(self.count - self.sent, bench.window - (self.sent - self.seen_own),
                   bench.lag_cap - (bench.total_sent - bench.slowest))
        if room > 0 and self.client.transport is not None:
            self.client.write(self.frames(room))

    async def at_rate(self, rate: float) -> None:
        start = time.perf_counter()
        for k in range(self.count):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.client.transport is None:
                return
            self.client.write(self.frames(1))


# ---------------------------------------------------------------- the run


@dataclass
class Config:
    clients: int = 10
    senders: int = 1
    messages: int | None = None
    rate: float = 0.0
    duration: float = 10.0
    idle: float = 0.0
    storm: int = 0
    storm_at: float = 2.0
    reconnect: bool = False
    room: str = "lobby"
    login: str = "token"
    password: str = "bench-password"
    prefix: str = "b"
    scenario: str = ""
    window: int = WINDOW
    lag_cap: int = LAG_CAP
    tls: bool = False

    @property
    def per_sender(self) -> int:
        if self.messages is not None:
            return self.messages
        return int(self.rate * self.duration) if self.rate > 0 else 100


@dataclass
class Bench:
    loop: asyncio.AbstractEventLoop
    host: str
    port: int
    pid: int
    config: Config
    room: str = "lobby"
    full_speed: bool = True
    window: int = WINDOW
    lag_cap: int = LAG_CAP
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    sent_at: array.array = field(default_factory=lambda: array.array("d"))
    first: dict[tuple[bytes, bytes, bytes], float] = field(default_factory=dict)
    total_sent: int = 0
    slowest: int = 0
    errors: list[str] = field(default_factory=list)
    byes: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def delivered(self, matches: list[tuple[bytes, bytes, bytes]], now: float) -> None:
        lat, sent, first = self.latencies.append, self.sent_at.append, self.first
        for m in matches:
            t = float(m[2])
            d = now - t
            lat(d)
            sent(t)
            if m not in first:
                first[m] = d

    # -------------------------------------------------------- logging in

    async def open(self, client: Client) -> None:
        await self.loop.create_connection(lambda: client, self.host, self.port,
                                          ssl=_client_tls() if self.config.tls else None)

    async def log_in(self, client: Client, token: str | None) -> None:
        await self.open(client)
        client.write(b'{"type":"hello","version":1,"client":"bench"}\n')
        if token is not None:
            reply = await client.request(1, {"type": "resume", "token": token})
        else:
            reply = await client.request(1, {"type": "login", "user": client.user,
                                             "password": self.config.password})
        if reply.get("type") != "ok":
            raise RuntimeError(f"{client.user}: login refused: {reply.get('text')}")
        client.token = str((reply.get("data") or {}).get("token", ""))
        if token is None and self.room != "lobby":
            joined = await client.request(2, {"type": "cmd", "name": "join", "args": self.room})
            if joined.get("type") != "ok":
                raise RuntimeError(f"{client.user}: cannot join: {joined.get('text')}")
        await client.in_room

    async def log_in_all(self, clients: list[Client], tokens: dict[str, str] | None) -> float:
        start = time.perf_counter()
        await asyncio.gather(*(self.log_in(c, tokens[c.user] if tokens else None)
                               for c in clients))
        return time.perf_counter() - start

    # -------------------------------------------------------- chatting

    def update_slowest(self, receivers: list[Client]) -> None:
        live = [c.received for c in receivers if c.transport is not None]
        self.slowest = min(live) if live else self.total_sent

    async def chat(self, receivers: list[Client], senders: list[Sender],
                   storm: Callable[[], Any] | None) -> dict[str, Any]:
        cfg = self.config
        self.full_speed = cfg.rate <= 0
        (user0, sys0), wall0 = cpu_times(self.pid), time.perf_counter()
        own0, busy0 = time.process_time(), machine_busy_seconds()
        tasks: list[asyncio.Task[Any]] = []
        if self.full_speed:
            for s in senders:
                s.top_up()
        else:
            tasks = [asyncio.ensure_future(s.at_rate(cfg.rate)) for s in senders]
        storm_task = asyncio.ensure_future(storm()) if storm is not None else None
        goal = sum(s.count for s in senders)
        drain_deadline: float | None = None
        while True:
            await asyncio.sleep(0.005)
            self.update_slowest(receivers)
            if self.full_speed:
                for s in senders:
                    s.top_up()
            if self.total_sent >= goal or all(t.done() for t in tasks) and tasks:
                if self.slowest >= self.total_sent:
                    break
                now = time.perf_counter()
                if drain_deadline is None:
                    drain_deadline = now + DRAIN_SECONDS
                elif now > drain_deadline:
                    break
        wall1, (user1, sys1) = time.perf_counter(), cpu_times(self.pid)
        own1, busy1 = time.process_time(), machine_busy_seconds()
        for t in tasks:
            t.cancel()
        storm_result = await storm_task if storm_task is not None else {}
        deliveries = sum(c.received for c in receivers)
        expected = self.total_sent * len(receivers)
        cpu = user1 - user0 + sys1 - sys0
        wall = wall1 - wall0
        return {
            "sent": self.total_sent, "deliveries": deliveries, "lost": expected - deliveries,
            "chat_s": wall, "deliveries_per_s": deliveries / wall if wall else 0.0,
            "bench_cpu_s": own1 - own0,
            # Whatever else ran meanwhile (other users of the machine): it skews the figures.
            "others_core_pct": 100.0 * max(0.0, busy1 - busy0 - cpu - (own1 - own0)) / wall,
            "server_cpu_s": cpu, "server_user_s": user1 - user0, "server_sys_s": sys1 - sys0,
            "cpu_us_per_delivery": cpu / deliveries * 1e6 if deliveries else None,
            "server_core_pct": 100.0 * cpu / wall if wall else None,
            "confirmed": sum(s.client.oks for s in senders),
            **storm_result,
        }


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def latency_figures(prefix: str, values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {f"{prefix}p50_ms": percentile(values, 0.50) * 1e3,
            f"{prefix}p99_ms": percentile(values, 0.99) * 1e3,
            f"{prefix}max_ms": (values[-1] if values else math.nan) * 1e3}


async def run_bench(host: str, port: int, pid: int, cfg: Config,
                    tokens: dict[str, str] | None, storm_users: list[str]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    bench = Bench(loop, host, port, pid, cfg, room=cfg.room, window=cfg.window,
                  lag_cap=max(cfg.lag_cap, cfg.window * cfg.senders))
    fig = bench.figures
    users = [f"{cfg.prefix}{i:05d}" for i in range(cfg.clients)]
    clients = [Client(bench, u) for u in users]
    fig["rss_kib_start"] = rss_kib(pid)
    cpu0 = cpu_seconds(pid)
    fig["login_s"] = await bench.log_in_all(clients, tokens)
    fig["login_cpu_s"] = cpu_seconds(pid) - cpu0
    await asyncio.sleep(0.5)  # let the joins settle before measuring memory
    fig["rss_kib_logged_in"] = rss_kib(pid)
    fig["rss_kib_per_conn"] = (fig["rss_kib_logged_in"] - fig["rss_kib_start"]) / max(
        cfg.clients, 1)

    if cfg.idle > 0:
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(cfg.idle)
        fig["idle_cpu_pct"] = 100.0 * (cpu_seconds(pid) - cpu0) / cfg.idle
        fig["rss_kib_idle"] = rss_kib(pid)
        fig["rss_kib_per_conn_at_login"] = fig["rss_kib_per_conn"]
        fig["rss_kib_per_conn"] = (fig["rss_kib_idle"] - fig["rss_kib_start"]) / cfg.clients

    if cfg.senders > 0:
        senders = [Sender(bench, clients[i], i, cfg.per_sender)
                   for i in range(min(cfg.senders, len(clients)))]
        storm = None
        if cfg.storm > 0:
            storm_clients = [Client(bench, u) for u in storm_users]

            async def storm_run() -> dict[str, Any]:
                await asyncio.sleep(cfg.storm_at)
                start = time.perf_counter()
                bench.figures["storm_start"] = start
                took = await bench.log_in_all(storm_clients, None)
                bench.figures["storm_end"] = start + took
                for c in storm_clients:
                    if c.transport is not None:
                        c.transport.close()
                return {"storm_logins": len(storm_clients), "storm_login_s": took}

            storm = storm_run
        fig.update(await bench.chat(clients, senders, storm))
        fig.update(latency_figures("", list(bench.latencies)))
        fig.update(latency_figures("first_", list(bench.first.values())))
        if cfg.storm > 0 and "storm_end" in fig:
            lo, hi = fig.pop("storm_start"), fig.pop("storm_end")
            during = [d for d, t in zip(bench.latencies, bench.sent_at, strict=True)
                      if lo <= t <= hi]
            fig.update(latency_figures("storm_", during))
            fig.update(latency_figures("storm_first_", [
                d for m, d in bench.first.items() if lo <= float(m[2]) <= hi]))
            fig["storm_deliveries"] = len(during)

    if cfg.reconnect:
        nicks = {c.user: c.in_room.result().get("nick") for c in clients}
        for c in clients:
            if c.transport is not None:
                c.transport.close()
        again = [Client(bench, c.user) for c in clients]
        old_tokens = {c.user: c.token for c in clients}
        cpu0, own0 = cpu_seconds(pid), time.process_time()
        fig["resume_s"] = await bench.log_in_all(again, old_tokens)
        fig["resume_cpu_s"] = cpu_seconds(pid) - cpu0
        fig["resume_bench_cpu_s"] = time.process_time() - own0
        fig["resumes"] = len(again)
        fig["not_restored"] = sum(
            1 for c in again
            if c.in_room.result().get("nick") != nicks[c.user]
            or c.in_room.result().get("room") != cfg.room)
        clients = again

    fig["rss_kib_end"] = rss_kib(pid)
    fig["errors"] = len(bench.errors)
    fig["kicked"] = len(bench.byes)
    fig["error_samples"] = (bench.errors + bench.byes)[:5]
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    await asyncio.sleep(0.1)
    return fig


# ---------------------------------------------------------------- report


def report(cfg: Config, fig: dict[str, Any], meta: dict[str, str]) -> str:
    def num(key: str, unit: str = "", digits: int = 2) -> str:
        value = fig.get(key)
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.{digits}f}{unit}"
        return f"{value}{unit}"

    out = []
    title = f"scenario {cfg.scenario}: {SCENARIO_TEXT[cfg.scenario]}" if cfg.scenario else (
        "custom run")
    out.append(title)
    out.append("  " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    each = cfg.per_sender if cfg.senders else 0
    out.append(f"  clients {cfg.clients}, senders {cfg.senders} x {each}"
               f" messages, rate {'full speed' if cfg.rate <= 0 else f'{cfg.rate:g}/s'},"
               f" login by {cfg.login}")
    out.append(f"  login:            {num('login_s', ' s', 3)} for {cfg.clients} clients"
               f" (server CPU {num('login_cpu_s', ' s')})")
    if cfg.senders:
        out.append(f"  sent/confirmed:   {num('sent')} / {num('confirmed')}")
        out.append(f"  deliveries:       {num('deliveries')} in {num('chat_s', ' s')}"
                   f" = {num('deliveries_per_s', '/s', 0)}")
        out.append(f"  lost messages:    {num('lost')}")
        out.append(f"  latency all:      p50 {num('p50_ms', ' ms')}  p99 {num('p99_ms', ' ms')}"
                   f"  max {num('max_ms', ' ms')}")
        out.append(f"  latency first:    p50 {num('first_p50_ms', ' ms')}"
                   f"  p99 {num('first_p99_ms', ' ms')}  max {num('first_max_ms', ' ms')}")
        out.append(f"  server CPU:       {num('server_cpu_s', ' s', 3)}"
                   f" (user {num('server_user_s', ' s')}, system {num('server_sys_s', ' s')})"
                   f" = {num('cpu_us_per_delivery', ' us', 3)} per delivery,"
                   f" {num('server_core_pct', '%', 1)} of one core")
        out.append(f"  load generator:   {num('bench_cpu_s', ' s')} CPU (it shares the machine);"
                   f" other processes used {num('others_core_pct', '%', 0)} of a core meanwhile")
    if cfg.storm:
        out.append(f"  login storm:      {num('storm_logins')} password logins in"
                   f" {num('storm_login_s', ' s')}; latency meanwhile p50"
                   f" {num('storm_p50_ms', ' ms')} p99 {num('storm_p99_ms', ' ms')}"
                   f" max {num('storm_max_ms', ' ms')} ({num('storm_deliveries')} deliveries);"
                   f" first receiver p99 {num('storm_first_p99_ms', ' ms')}")
    if cfg.idle:
        out.append(f"  idle server CPU:  {num('idle_cpu_pct', '%', 2)} of one core"
                   f" over {cfg.idle:g} s")
    if cfg.reconnect:
        out.append(f"  reconnect:        {num('resumes')} resumes in {num('resume_s', ' s', 3)}"
                   f" (server CPU {num('resume_cpu_s', ' s')}, load generator CPU"
                   f" {num('resume_bench_cpu_s', ' s')}),"
                   f" not restored {num('not_restored')}")
    out.append(f"  server RSS:       start {num('rss_kib_start', ' KiB')}, logged in"
               f" {num('rss_kib_logged_in', ' KiB')}, end {num('rss_kib_end', ' KiB')}")
    if "rss_kib_idle" in fig:
        out.append(f"  per connection:   {num('rss_kib_per_conn', ' KiB')} once idle"
                   f" ({num('rss_kib_idle', ' KiB')}); {num('rss_kib_per_conn_at_login', ' KiB')}"
                   " right after the login burst")
    else:
        out.append(f"  per connection:   {num('rss_kib_per_conn', ' KiB')} right after login")
    if fig.get("server_writes"):
        out.append(f"  server writes:    {num('server_writes')} in {num('server_passes')} flush"
                   f" passes; {fig.get('deliveries', 0) / fig['server_writes']:.1f}"
                   " deliveries per write")
    out.append(f"  errors/kicked:    {num('errors')} / {num('kicked')}"
               + (f"  e.g. {fig['error_samples']}" if fig.get("error_samples") else ""))
    if cfg.scenario in TARGETS:
        out.append("  targets:")
        for target in TARGETS[cfg.scenario]:
            value = fig.get(target.figure)
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            out.append(f"    {target.label:<48} {target.figure} = {shown:<10}"
                       f" {target.check(fig)}")
    return "\n".join(out)


_TLS: list[ssl.SSLContext] = []


def _client_tls() -> ssl.SSLContext:
    """One client context for the whole run (loopback, so no pin is checked)."""
    if not _TLS:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        _TLS.append(context)
    return _TLS[0]


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="load.py", description="Drive a play server over loopback and print its cost.",
        epilog="scenarios: " + "; ".join(f"{k}: {v}" for k, v in SCENARIO_TEXT.items()))
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
                   help="set a constant of the started server (ablations), e.g."
                        " DIRECT_WRITES=False (in gameserver.doors.*, .runtime or .tuning)")
    p.add_argument("--client-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                   help="this load generator's own event loop (auto: uvloop if installed)")
    p.add_argument("--tls", action="store_true",
                   help="the started server serves TLS (its default) and clients use it;"
                        " without it the server runs with --no-tls")
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
                "reconnect"):
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
            server = OwnServer(Path(tmp), args.loop, settings, tls=cfg.tls)
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
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(report(cfg, fig, meta))
    if args.json:
        targets = {t.figure: {"limit": t.limit, "label": t.label, "result": t.check(fig)}
                   for t in TARGETS.get(cfg.scenario, [])}
        Path(args.json).write_text(json.dumps(
            {"scenario": cfg.scenario, "config": cfg.__dict__, "meta": meta,
             "figures": fig, "targets": targets}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
