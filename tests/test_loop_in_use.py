"""CI runs the server tests on both loops: this says which one a run really used."""

from __future__ import annotations

import asyncio
import os

from helpers import logged_in, run, running_server


def test_the_server_runs_on_the_loop_asked_for(tmp_path):
    async def body() -> str:
        async with running_server(tmp_path) as server:
            client = await logged_in(server.port, "ann")
            assert (await client.say("on this loop"))["type"] == "ok"
            await client.close()
            return type(asyncio.get_running_loop()).__module__.split(".")[0]

    loop = run(body())
    assert loop == ("uvloop" if os.environ.get("PLAY_LOOP") == "uvloop" else "asyncio")
