"""Scenario F: a crowd resuming into one room all at once, then at a steady rate; CPU per join."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from loadclients import Client
from loadhost import cpu_seconds, cpu_times, profile

if TYPE_CHECKING:
    from loadrun import Bench

SETTLE = 1.0  # seconds for the server to finish a phase (presence batches, closes)


async def arrivals(bench: Bench, clients: list[Client], rate: float,
                   burst_cpu_s: float) -> tuple[list[Client], dict[str, Any]]:
    """Drop everyone, then resume them `rate` a second; the server CPU per join, both ways.

    The burst figure is the first login of the whole crowd at once (token resumes, as
    here), measured by the caller: `burst_cpu_s` over len(clients) joins.
    """
    fig: dict[str, Any] = {}
    n = len(clients)
    fig["burst_cpu_ms_per_join"] = 1e3 * burst_cpu_s / max(n, 1)
    tokens = {c.user: c.token for c in clients}
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    await asyncio.sleep(SETTLE)  # the leaves are told and batched; not part of either figure
    again = [Client(bench, c.user) for c in clients]
    profile(bench.pid, True)
    cpu0, (user0, sys0) = cpu_seconds(bench.pid), cpu_times(bench.pid)
    start = time.perf_counter()

    async def arrive(i: int, client: Client) -> None:
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        await bench.log_in(client, tokens[client.user])

    await asyncio.gather(*(arrive(i, c) for i, c in enumerate(again)))
    fig["paced_s"] = time.perf_counter() - start
    await asyncio.sleep(SETTLE)  # the last batch goes out
    paced = cpu_seconds(bench.pid) - cpu0
    user1, sys1 = cpu_times(bench.pid)
    fig["paced_user_s"], fig["paced_sys_s"] = user1 - user0, sys1 - sys0
    profile(bench.pid, False)
    fig["paced_cpu_ms_per_join"] = 1e3 * paced / max(n, 1)
    fig["arrival_ratio"] = fig["paced_cpu_ms_per_join"] / max(fig["burst_cpu_ms_per_join"], 1e-9)
    fig["arrival_rate"] = rate
    return again, fig
