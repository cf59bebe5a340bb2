"""The clients fail well: a line too long to send is refused where it is typed; a silent
server is named in one sentence, quickly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import ServerProcess, child_env, logged_in, play_command, run

from gameclient.commands import parse_typed
from gameclient.connection import Unsendable, check_sendable

LONG = 70_000  # characters: over the 64 KiB frame limit


def test_the_check_refuses_exactly_what_cannot_travel_as_one_frame():
    check_sendable(parse_typed("x" * 60_000))  # fits
    for line in ("x" * LONG, "/msg bob " + "x" * LONG, '"' * 40_000, "é" * 40_000):
        with pytest.raises(Unsendable, match="too long to send"):
            check_sendable(parse_typed(line))
    with pytest.raises(Unsendable, match="not valid text"):
        check_sendable(parse_typed("bad \udcff byte"))


@pytest.fixture
def server(tmp_path: Path):
    proc = ServerProcess(tmp_path / "data")
    yield proc
    proc.stop()


def test_the_line_client_refuses_a_long_line_and_goes_on(server):
    long_line = "y" * LONG
    done = subprocess.run(
        play_command("join", "127.0.0.1", str(server.port), "ann", "--plain"),
        input=f"before\n{long_line}\n/msg ann {long_line}\nafter\n/quit\n",
        capture_output=True, text=True, timeout=60, env=child_env(PLAY_PASSWORD="pw"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    refusals = [line for line in lines if "too long to send" in line]
    assert len(refusals) == 2 and all("nothing was sent" in r for r in refusals), lines
    assert "<ann> before" in lines and "<ann> after" in lines
    assert lines[-1] == "* you left"
    assert "Traceback" not in done.stderr + done.stdout

    async def nothing_of_it_was_stored():
        ann = await logged_in(server.port, "ann", "pw")
        msg_id = ann.next_id()
        await ann.send({"type": "cmd", "id": msg_id, "name": "history", "args": ""})
        page = await ann.expect("history", id=msg_id)
        assert [e["text"] for e in page["entries"]] == ["before", "after"]
    run(nothing_of_it_was_stored())


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_the_curses_client_refuses_a_long_line_and_keeps_it_to_edit(server):
    pytest.importorskip("pyte")
    from ptyterm import PtyTerm

    term = PtyTerm(play_command("join", "127.0.0.1", str(server.port), "cat"), 24, 80,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm-256color"))
    try:
        term.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                        timeout=15, what="cat's screen")
        data = ("z" * LONG).encode()
        while data:  # a paste: as fast as the terminal takes it
            try:
                sent = os.write(term.master, data[:4096])
                data = data[sent:]
            except BlockingIOError:
                pass
            term.pump(0.01)
        term.wait_until(lambda t: t.lines[-1].rstrip().endswith("zzzz"), timeout=30,
                        what="the pasted line")
        term.key("enter")
        term.wait_for("too long to send", timeout=10)
        term.settle()
        assert term.lines[-1].rstrip().endswith("zzzz")  # still there, to be shortened
        assert term.proc.poll() is None  # and still connected
        term.send("\x15")  # Ctrl-U: clear the line, then say something that fits
        term.type_line("short enough")
        term.wait_for("<cat> short enough", timeout=10)
        term.type_line("/quit")
        term.proc.wait(timeout=15)
        assert term.proc.returncode == 0
        assert b"Traceback" not in term.raw
    finally:
        term.close()


def test_a_server_that_never_speaks_is_named_within_seconds(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_say_nothing() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    try:
        started = time.monotonic()
        done = subprocess.run(play_command("join", "127.0.0.1", str(port), "ann", "--plain"),
                              input="", capture_output=True, text=True, timeout=30,
                              env=child_env(PLAY_PASSWORD="pw"))
        took = time.monotonic() - started
    finally:
        stop.set()
        for conn in held:
            conn.close()
        silent.close()
    assert done.returncode == 1
    assert f"no play server answered at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr and "TimeoutError" not in done.stderr
    assert took < 15, took  # a few seconds, not thirty


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
def test_the_terminal_is_not_blank_while_a_silent_server_is_waited_for(tmp_path):
    pytest.importorskip("pyte")
    from ptyterm import PtyTerm

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), "ann"), 24, 80,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm-256color"))
    try:
        term.wait_for(f"connecting to 127.0.0.1:{port}", timeout=10)
        term.wait_for(f"no play server answered at 127.0.0.1:{port}", timeout=15)
        term.proc.wait(timeout=10)
        assert term.proc.returncode == 1
    finally:
        term.close()
        silent.close()


def test_lines_piped_past_a_reset_tls_connection_print_no_asyncio_noise(tmp_path, caplog):
    """A TLS connection reset under a burst of writes: the client says the connection was
    lost, and asyncio's "socket.send() raised exception." (its notice, from the fifth write
    that went nowhere, seen on a script's terminal) is not printed."""
    import asyncio
    import logging
    import ssl
    import struct

    from gameclient.connection import ClientConnection, ConnectionFailed
    from gameserver.doors.tls import make_certificate

    make_certificate(tmp_path / "c.pem", tmp_path / "k.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def reset_soon(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with linger 0: an RST (the transport closes its own fd)

    async def main() -> str:
        server = await asyncio.start_server(reset_soon, "127.0.0.1", 0, ssl=context)
        async with server:
            port = server.sockets[0].getsockname()[1]
            conn = await ClientConnection.open("127.0.0.1", port, tls=True)
            try:
                async with asyncio.timeout(10):
                    while True:  # bursts, as a pipe's lines come
                        for _ in range(50):
                            conn.say("a line")
                        await asyncio.sleep(0)
            except ConnectionFailed as exc:
                return str(exc)
            finally:
                conn.writer.transport.abort()

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        said = asyncio.run(main())
    assert "connection to the server was lost" in said
    noise = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert not [m for m in noise if "raised exception" in m or "SSL connection" in m], noise
