"""Scenario F: a crowd resuming into one room all at once, then at a steady rate; CPU per join."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from loadclients import Client
from loadhost import cpu_times, profile
from loadnative import Phase

from gameserver.core.presence import MAX_WAIT

if TYPE_CHECKING:
    from loadrun import Bench

# Seconds for the server to finish a phase: a big room's last presence batch waits up to
# MAX_WAIT, so after this every join (or leave) of the phase has been told to the room.
SETTLE = MAX_WAIT + 0.5


def follow_server(settings: dict[str, str]) -> None:
    """The server's MAX_WAIT changed by --server-set: the phases settle as long."""
    global SETTLE
    if "MAX_WAIT" in settings:
        SETTLE = max(float(settings["MAX_WAIT"]), 0.0) + 0.5


async def arrivals(bench: Bench, clients: list[Client], rate: float,
                   first_cpu_s: float) -> tuple[list[Client], dict[str, Any]]:
    """Everyone drops and resumes at once, then drops and resumes `rate` a second.

    Both phases are measured alike: the server's CPU from the first resume until the
    room has been told of the last (SETTLE after it), over the number of joins. The
    crowd's very first login (`first_cpu_s`, measured by the caller until the last
    client is in, before its last presence batch) is reported beside them.
    """
    fig: dict[str, Any] = {}
    n = max(len(clients), 1)
    fig["first_cpu_ms_per_join"] = 1e3 * first_cpu_s / n
    clients, burst = await _phase(bench, clients, None)
    clients, paced = await _phase(bench, clients, rate)
    fig["paced_s"] = paced.pop("took_s")
    burst.pop("took_s")
    for name, phase in (("burst", burst), ("paced", paced)):
        for key, value in phase.items():
            fig[f"{name}_{key}"] = value
        fig[f"{name}_cpu_ms_per_join"] = 1e3 * (phase["user_s"] + phase["sys_s"]) / n
    fig["arrival_ratio"] = fig["paced_cpu_ms_per_join"] / max(fig["burst_cpu_ms_per_join"], 1e-9)
    fig["first_login_ratio"] = fig["paced_cpu_ms_per_join"] / max(
        fig["first_cpu_ms_per_join"], 1e-9)
    fig["arrival_rate"] = rate
    return clients, fig


async def _phase(bench: Bench, clients: list[Client],
                 rate: float | None) -> tuple[list[Client], dict[str, float]]:
    """Drop everyone, let the room hear it, resume them (at once, or `rate` a second)."""
    tokens = {c.user: c.token for c in clients}
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    native = Phase(bench.pid, "burst" if rate is None else f"{rate:g}/s")
    await asyncio.sleep(SETTLE)  # the leaves are told and batched; not part of the figure
    again = [Client(bench, c.user) for c in clients]
    profile(bench.pid, True)
    native.start()
    user0, sys0 = cpu_times(bench.pid)
    start = time.perf_counter()

    waits: list[float] = []

    async def arrive(i: int, client: Client) -> None:
        due = start + (i / rate if rate is not None else 0.0)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await bench.log_in(client, tokens[client.user])
        waits.append(time.perf_counter() - due)  # from connecting until in the room

    await asyncio.gather(*(arrive(i, c) for i, c in enumerate(again)))
    took = time.perf_counter() - start
    await asyncio.sleep(SETTLE)  # the last batch goes out
    user1, sys1 = cpu_times(bench.pid)
    native.end(len(again), {"took_s": round(took, 2)})
    profile(bench.pid, False)
    waits.sort()
    return again, {"took_s": took, "user_s": user1 - user0, "sys_s": sys1 - sys0,
                   "login_p50_ms": 1e3 * waits[len(waits) // 2],
                   "login_p99_ms": 1e3 * waits[min(len(waits) - 1, int(len(waits) * 0.99))]}
