"""Faults a server meets in the wild: running out of file descriptors, then recovering."""

from __future__ import annotations

import resource
import socket
import threading
import time

import pytest
from helpers import ServerProcess, child_env, logged_in, run


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_out_of_file_descriptors_is_logged_once_and_the_server_recovers(tmp_path, loop):
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    server = ServerProcess(tmp_path, "--max-per-address", "1000",
                           env=child_env(PLAY_LOOP=loop), preexec_fn=_low_fd_limit)
    lines: list[str] = []
    assert server.proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(server.proc.stdout), daemon=True)
    reader.start()  # keep the log pipe drained, as a terminal or journal would
    try:
        flood = []
        for _ in range(80):  # more than the server can hold open: accept() fails with EMFILE
            flood.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        deadline = time.monotonic() + 10
        while not any("out of file descriptors" in line for line in lines):
            assert time.monotonic() < deadline, "running out of descriptors was not logged"
            time.sleep(0.05)
        time.sleep(0.5)  # the burst goes on: still one line
        for s in flood:
            s.close()

        async def still_serving():
            client = await logged_in(server.port, "after")
            assert (await client.say("still here"))["type"] == "ok"
        run(still_serving())
        deadline = time.monotonic() + 10
        while not any("available again" in line for line in lines):  # the burst's end
            assert time.monotonic() < deadline, "the end of the burst was not logged"
            time.sleep(0.05)
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=10)
        reader.join(timeout=5)
    out = "".join(lines)
    assert "Traceback" not in out
    assert out.count("out of file descriptors") == 1, out
    assert "Too many open files" in out
    assert "file descriptors are available again" in out
