"""Writes over TLS take the short path (a record straight to the socket) and lose nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from helpers import client_context, logged_in, run, running_server, trusting

import gameserver.doors.jsonconn
from gameserver import listener
from gameserver.doors.tlsstream import TLSStream

# The TLS on the socket itself (tlsstream, the default) and asyncio's layer with small
# buffers (listener._SmallSSLProtocol, where the loop cannot watch sockets by fd).
LAYERS = {"stream": TLSStream, "small": listener._SmallSSLProtocol}


def tls_logged_in_blocking(port: int, user: str) -> ssl.SSLSocket:
    """A blocking TLS socket with a tiny receive buffer, logged in (it then reads no more)."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", port))
    sock = client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    sock.sendall(b'{"type":"hello","version":1}\n'
                 + json.dumps({"type": "login", "id": 1, "user": user,
                               "password": "pw"}).encode() + b"\n")
    data = b""
    while b'"type":"room"' not in data.replace(b" ", b""):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return sock


def read_tls_to_end(sock: ssl.SSLSocket) -> list[dict[str, Any]]:
    sock.settimeout(10)
    data = bytearray()
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except (ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


async def small_window_watcher(port: int, user: str
                               ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TLS client with a 4 KiB receive buffer, logged in: the server's writes fill it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, ssl=client_context(),
                                                   server_hostname="127.0.0.1", limit=1 << 20)
    writer.write(b'{"type":"hello","version":1}\n'
                 + json.dumps({"type": "login", "id": 1, "user": user,
                               "password": "pw"}).encode() + b"\n")
    async with asyncio.timeout(10):
        while json.loads(await reader.readline()).get("type") != "room":
            pass
    return reader, writer  # (a writer nobody holds closes its connection)


async def frames_until(reader: asyncio.StreamReader, count: int, timeout: float = 30
                       ) -> list[str]:
    """The texts of the next `count` room messages read."""
    texts: list[str] = []
    async with asyncio.timeout(timeout):
        while len(texts) < count:
            line = await reader.readline()
            assert line, f"closed after {len(texts)} messages"
            frame = json.loads(line)
            assert frame.get("type") != "bye", frame
            if frame.get("type") == "room_msg":
                texts.append(frame["text"])
    return texts


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("pause", [False, True])
def test_every_message_arrives_whole_and_in_order_over_tls(tmp_path: Path, pause: bool,
                                                           layer: str, monkeypatch) -> None:
    """With the reader keeping up, and with it pausing so records queue behind the socket."""
    taken = {"short": 0, "queued": 0}  # by the short path; of them or not, left queued
    cls = LAYERS[layer]
    short = cls.write_now
    monkeypatch.setattr(listener, "TLS_STREAMS", layer == "stream")

    def counting(self: Any, data: bytes) -> bool:
        done = short(self, data)
        below = self if layer == "stream" else self._transport
        taken["short"] += done
        taken["queued"] += not done or below.get_write_buffer_size() > 0
        return done

    monkeypatch.setattr(cls, "write_now", counting)

    async def body() -> None:
        async with running_server(tmp_path, tls=True) as server:
            trusting(server)
            assert layer == "stream" or listener.DIRECT_TLS_WRITES
            talker = await logged_in(server.port, "talker")
            watcher, holder = await small_window_watcher(server.port, "watcher")
            conn = next(c for c in server.connections if c.session
                        and c.session.user == "watcher")
            assert conn.tls_write is not None  # the server writes to it by the short path
            assert conn.transport is not None  # a small send buffer: the socket soon fills
            conn.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            texts = [f"{n}:" + "y" * (n * 37 % 1900) for n in range(600)]
            for start in range(0, len(texts), 50):
                talker.writer.write(b"".join(
                    json.dumps({"type": "say", "id": 10 + n, "text": texts[n]}).encode()
                    + b"\n" for n in range(start, start + 50)))
                await talker.writer.drain()
            if pause:
                await asyncio.sleep(1.0)  # the watcher reads nothing meanwhile
            assert await frames_until(watcher, len(texts)) == texts
            holder.close()
            assert taken["short"] > 0
            if pause:  # behind a full socket, records wait below (or the layer's own path)
                assert taken["queued"] > 0

    run(body(), timeout=60)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_a_tls_client_that_never_reads_is_dropped_with_a_reason(tmp_path, layer, monkeypatch):
    monkeypatch.setattr(gameserver.doors.jsonconn, "OUTPUT_LIMIT", 32 * 1024)
    monkeypatch.setattr(listener, "TLS_STREAMS", layer == "stream")

    async def body() -> None:
        async with running_server(tmp_path, tls=True) as server:
            trusting(server)
            talker = await logged_in(server.port, "talker")
            slow = await asyncio.to_thread(tls_logged_in_blocking, server.port, "slow")
            text = "x" * 1900
            next_id = 1000
            gone = False
            for _ in range(200):  # bounded: ~15 MB at most, far past any socket buffers
                talker.writer.write(b"".join(
                    json.dumps({"type": "say", "id": next_id + i, "text": text}).encode()
                    + b"\n" for i in range(40)))
                await talker.writer.drain()
                next_id += 40
                if "slow" not in server.hub.online:
                    gone = True
                    break
                await asyncio.sleep(0.01)
            assert gone, "the client that never reads was never dropped"
            frames = await asyncio.to_thread(read_tls_to_end, slow)
            assert frames[-1]["type"] == "bye" and frames[-1]["code"] == "slow_reader"

    run(body(), timeout=60)


def strict_tls_client(port: int) -> ssl.SSLSocket:
    """A blocking TLS client that calls an end without close_notify an error."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return client_context().wrap_socket(raw, server_hostname="127.0.0.1",
                                        suppress_ragged_eofs=False)


def quit_and_read_to_the_end(port: int, user: str) -> tuple[list[dict[str, Any]], bytes]:
    """Log in, quit, read everything: the frames, and the clean end's read (b'')."""
    sock = strict_tls_client(port)
    sock.sendall(b'{"type":"hello","version":1}\n'
                 + json.dumps({"type": "login", "id": 1, "user": user,
                               "password": "pw"}).encode() + b"\n")
    data = bytearray()
    while b'"type":"room"' not in data.replace(b" ", b""):
        data += sock.recv(65536)
    sock.sendall(b'{"type":"cmd","id":2,"name":"quit","args":""}\n')
    while chunk := sock.recv(65536):  # SSLEOFError here: closed without close_notify
        data += chunk
    end = sock.recv(1)
    sock.close()
    return [json.loads(line) for line in data.splitlines() if line.strip()], end


def hang_up_rudely(port: int) -> None:
    """Say hello, read the welcome, close the socket under TLS without close_notify."""
    sock = strict_tls_client(port)
    sock.sendall(b'{"type":"hello","version":1}\n')
    assert b"welcome" in sock.recv(65536)
    socket.socket(fileno=sock.detach()).close()


@pytest.mark.parametrize("layer", list(LAYERS))
def test_the_server_ends_a_tls_connection_cleanly(tmp_path, layer, monkeypatch):
    """A quit: the goodbye, then close_notify (no bare FIN, no reset), on both layers;
    a client that hangs up without close_notify is simply gone."""
    monkeypatch.setattr(listener, "TLS_STREAMS", layer == "stream")

    async def body() -> None:
        async with running_server(tmp_path, tls=True) as server:
            trusting(server)
            frames, end = await asyncio.to_thread(quit_and_read_to_the_end, server.port, "ann")
            assert end == b""
            assert frames[-1]["type"] == "bye", frames[-3:]
            await asyncio.to_thread(hang_up_rudely, server.port)
            async with asyncio.timeout(10):
                while server.connections:
                    await asyncio.sleep(0.01)
            other = await logged_in(server.port, "bob")  # and the server goes on
            assert (await other.say("still here"))["type"] == "ok"

    run(body(), timeout=60)
