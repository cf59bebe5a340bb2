"""A load benchmark run: log the crowd in, send, drain, reconnect; collect the figures."""

from __future__ import annotations

import array
import asyncio
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadclients import Client, Sender, _client_tls
from loadhost import cpu_seconds, cpu_times, machine_busy_seconds, profile, rss_kib
from loadpresence import arrivals
from loadspec import DRAIN_SECONDS, LAG_CAP, STORM_ARRIVAL, WINDOW, Config


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
        profile(self.pid, True)  # PLAY_BENCH_PROFILE: the chat phase is dump .2
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
        profile(self.pid, False)
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
    profile(pid, True)
    cpu0 = cpu_seconds(pid)
    fig["login_s"] = await bench.log_in_all(clients, tokens)
    fig["login_cpu_s"] = cpu_seconds(pid) - cpu0
    await asyncio.sleep(0.5)  # let the joins settle before measuring memory
    profile(pid, False)
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
            if os.environ.get("PLAY_BENCH_SERIES"):  # each delivery: when sent, how late
                Path(os.environ["PLAY_BENCH_SERIES"]).write_text(json.dumps({
                    "storm_start": lo, "storm_end": hi, "sent_at": list(bench.sent_at),
                    "latency": list(bench.latencies)}))
            # Where the p99 comes from: the storm's arrival (its connections, hellos and
            # login frames all at once, on the server and in this load generator) or its
            # hashing, which goes on for seconds after.
            fig.update(latency_figures("storm_after_", [
                d for d, t in zip(bench.latencies, bench.sent_at, strict=True)
                if lo + STORM_ARRIVAL <= t <= hi]))
            fig.update(latency_figures("storm_first_", [
                d for m, d in bench.first.items() if lo <= float(m[2]) <= hi]))
            fig["storm_deliveries"] = len(during)

    if cfg.arrivals > 0:
        clients, more = await arrivals(bench, clients, cfg.arrivals, fig["login_cpu_s"])
        fig.update(more)

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
