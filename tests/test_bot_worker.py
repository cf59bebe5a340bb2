"""The runtime runs bot searches in a worker process, answers late ones never, failed ones once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import pytest
from helpers import ServerProcess, logged_in, run, running_server
from test_hash_processes import descendants, gone

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


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_ctrl_c_on_play_host_after_a_bot_game_prints_no_traceback(tmp_path) -> None:
    """Ctrl-C reaches the whole process group, the bot's worker too: it must ignore it
    (a KeyboardInterrupt there printed a multiprocessing traceback) and end with the server."""
    server = ServerProcess(tmp_path, preexec_fn=os.setpgrp)
    try:
        async def play() -> None:
            client = await logged_in(server.port, "ann", "pw")
            assert (await client.command("game", "tictactoe bot"))["type"] == "ok"
            assert (await client.say("b2"))["type"] == "ok"
            deadline = time.monotonic() + 20
            while "(bot) played" not in json.dumps(await client.read_frame(
                    deadline - time.monotonic())):
                pass  # until the bot's search (in its worker process) has answered
            await client.close()

        asyncio.run(asyncio.wait_for(play(), 60))
        children = descendants(server.proc.pid)
        assert children, "no bot worker process was started"
        os.killpg(server.proc.pid, signal.SIGINT)
        output = server.stop(timeout=20)
    finally:
        if server.proc.poll() is None:
            server.kill()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in children):
        assert time.monotonic() < deadline, [p for p in children if not gone(p)]
        time.sleep(0.05)
