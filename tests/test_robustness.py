"""Faults a server meets in the wild: accept failures under a tight file limit."""

from __future__ import annotations

import resource
import socket
import subprocess
import threading
import time

from helpers import child_env, logged_in, play_command, run


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))


def test_accept_failures_are_logged_and_the_server_keeps_serving(tmp_path):
    # The default loop reports accept() failures (and the server logs them); uvloop's
    # libuv sheds such connections itself without reporting, so it is not used here.
    proc = subprocess.Popen(
        play_command("host", "--headless", "--port", "0", "--data-dir", str(tmp_path)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=child_env(PLAY_LOOP="asyncio"),
        preexec_fn=_low_fd_limit)
    try:
        port = None
        while port is None:
            line = proc.stdout.readline()
            assert line, "server did not start"
            if "play server listening" in line:
                port = int(line.split(":")[-1].split()[0])
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()  # keep the log pipe drained, as a terminal or journal would
        flood = []
        for _ in range(80):  # more than the server can hold open: accept() fails with EMFILE
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            flood.append(s)
        time.sleep(0.5)
        for s in flood:
            s.close()
        time.sleep(1.5)  # asyncio pauses accepting for a second after EMFILE

        async def still_serving():
            client = await logged_in(port, "after")
            assert (await client.say("still here"))["type"] == "ok"
        run(still_serving())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(timeout=5)
    out = "".join(lines)
    assert "Traceback" not in out
    assert "accept" in out.lower() or "too many open files" in out.lower()
