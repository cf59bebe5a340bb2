"""The runtime runs bot searches in a worker process, answers late ones never, failed ones once."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from helpers import run, running_server

from gameserver import runtime as runtime_module
from gameserver.core.pending import Work


def worker_pid() -> int:
    return os.getpid()


def fails() -> int:
    raise RuntimeError("a broken bot")


def sleeps() -> int:
    import time

    time.sleep(3)
    return 1


async def outcome(rt: Any, fn: Any) -> tuple[str, Any]:
    done: asyncio.Future[tuple[str, Any]] = asyncio.get_running_loop().create_future()
    rt.run_bot_work(Work(run=fn, done=lambda v: done.set_result(("done", v)),
                         cancelled=lambda: done.set_result(("cancelled", None))))
    return await asyncio.wait_for(done, 20)


def test_searches_run_in_another_process_and_failures_are_answered(tmp_path, monkeypatch):
    async def body() -> None:
        async with running_server(tmp_path) as server:
            rt = server.runtime
            kind, pid = await outcome(rt, worker_pid)
            assert kind == "done" and pid != os.getpid()
            assert await outcome(rt, fails) == ("cancelled", None)
            # A search that never answers in time is given up once; its late answer is dropped.
            monkeypatch.setattr(runtime_module, "BOT_DEADLINE", 0.5)
            seen: list[str] = []
            rt.run_bot_work(Work(run=sleeps, done=lambda v: seen.append("done"),
                                 cancelled=lambda: seen.append("cancelled")))
            await asyncio.sleep(4)
            assert seen == ["cancelled"]
            # The worker is still usable afterwards.
            assert (await outcome(rt, worker_pid))[0] == "done"
    run(body())
