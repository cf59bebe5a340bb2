"""Logging never blocks the loop: a server whose output nobody reads keeps serving."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from helpers import RawClient, ServerProcess, logged_in, run

from gameserver import logsetup

NOISY_CONNECTIONS = 120  # x 19 garbage frames, each logged: far more than a pipe holds


def test_a_server_whose_output_is_a_pipe_nobody_reads_keeps_serving(tmp_path):
    server = ServerProcess(tmp_path, "--max-per-address", "1000")  # then nobody reads it
    try:
        async def body():
            for _ in range(NOISY_CONNECTIONS):  # each garbage frame is one log line
                client = await RawClient.connect(server.port)
                await client.send(b"{nope\n" * 19)
                for _ in range(19):
                    assert (await client.expect("error", timeout=10))["code"] == "bad_json"
                await client.close()
            # by now the pipe is long full; a blocking write would have frozen the loop
            ann = await logged_in(server.port, "ann")
            bob = await logged_in(server.port, "bob")
            reply = await asyncio.wait_for(ann.say("still serving"), 5)
            assert reply["type"] == "ok"
            await bob.expect("room_msg", text="still serving")
        run(body(), timeout=120)
    finally:
        out = server.stop()
    assert "bad frame" in out  # the lines were written once someone read them
    assert "Traceback" not in out


def test_the_queue_is_bounded_and_says_how_many_lines_it_dropped(tmp_path):
    read_end, write_end = os.pipe()
    stalled = os.fdopen(write_end, "w")
    saved = logging.getLogger().handlers[:]
    try:
        logsetup.start_logging(stream=stalled)
        log = logging.getLogger("play.test")
        done = threading.Event()

        def flood() -> None:
            for i in range(logsetup.QUEUE_LINES * 2):
                log.warning("line %d %s", i, "x" * 100)
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(20), "logging blocked the thread that logs"
        handler = next(h for h in logging.getLogger().handlers
                       if isinstance(h, logsetup.DroppingQueueHandler))
        assert handler.dropped > 0  # past the bound, lines are dropped, not held
        assert handler.queue.qsize() <= logsetup.QUEUE_LINES
        output = bytearray()
        reader = threading.Thread(target=lambda: _read_all(read_end, output), daemon=True)
        reader.start()  # the output moves again
        for _ in range(2000):
            if handler.queue.qsize() == 0:
                break
            time.sleep(0.01)
        log.warning("after the stall")
        for _ in range(2000):
            if b"after the stall" in output:
                break
            time.sleep(0.01)
        assert b"log line(s) were dropped while the output was stalled" in output
        assert b"after the stall" in output
    finally:
        logsetup.stop_logging()
        root = logging.getLogger()
        for h in root.handlers[:]:
            root.removeHandler(h)
        for h in saved:
            root.addHandler(h)
        stalled.close()


def _read_all(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 1 << 16):
        into += chunk
    os.close(fd)
