"""Test helpers: a real server on 127.0.0.1 port 0, raw protocol clients, subprocess servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gameclient.pinning import client_context, fingerprint
from gameserver.server import ChatServer
from gameserver.settings import Settings

T = TypeVar("T")
FAST_SCRYPT_N = 2**4  # tests hash many passwords; the format and code path are the same
WAIT = 5.0
# Where the limits are not the point, a test's crowd and pace must not meet them (all
# clients come from 127.0.0.1); tests of the limits pass their own settings.
ROOMY = Settings(flood_burst=100_000, flood_rate=100_000.0, max_per_address=100_000,
                 registrations_per_hour=100_000, login_free_failures=1000, hash_queue=100_000)


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run an async test body with a hard time bound, on uvloop if PLAY_LOOP=uvloop (CI)."""
    if os.environ.get("PLAY_LOOP") == "uvloop":
        import uvloop  # type: ignore[import-not-found]

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(asyncio.wait_for(coro, timeout))
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def running_server(data_dir: Path, **kwargs: Any) -> AsyncIterator[ChatServer]:
    """A server on 127.0.0.1 port 0: plain (tls=True for TLS) and ROOMY unless told."""
    kwargs.setdefault("scrypt_n", FAST_SCRYPT_N)
    kwargs.setdefault("settings", ROOMY)
    kwargs.setdefault("tls", False)
    server = ChatServer("127.0.0.1", 0, data_dir=data_dir, **kwargs)
    async with server:
        if server.tls is None:  # the port may be one an earlier TLS server had
            TLS_PORTS.pop(server.port, None)
        yield server


@contextlib.asynccontextmanager
async def cluster_nodes(tmp_path: Path, store: str, bus: str, count: int = 2,
                        **kwargs: Any) -> AsyncIterator[list[ChatServer]]:
    """`count` running_server nodes of one cluster (one store, one bus), data in node0, ..."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_server(
            tmp_path / f"node{n}", store_url=store, bus_url=bus, **kwargs))
            for n in range(count)]


# Ports of TLS test servers -> their certificate's fingerprint: RawClient.connect(port)
# speaks TLS to them and checks the certificate is the one the server printed.
TLS_PORTS: dict[int, str] = {}


def trusting(server: ChatServer) -> ssl.SSLContext:
    """A client TLS context for this test server; RawClient.connect checks the certificate."""
    assert server.tls is not None, "the server runs without TLS"
    TLS_PORTS[server.port] = server.tls.fingerprint
    return client_context()


class RawClient:
    """Speaks the wire protocol directly, so tests see exactly what the server sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[dict[str, Any]] = []  # every frame read, in order
        self._unread: list[dict[str, Any]] = []
        self._id = 0
        self.user = ""

    @classmethod
    async def connect(cls, port: int, tls: ssl.SSLContext | None = None,
                      source: str | None = None) -> RawClient:
        """Plain, or TLS to a server in TLS_PORTS (or with `tls`), its certificate checked.

        `source` is the loopback address to connect from (127.0.0.x), to be another peer.
        """
        expected = TLS_PORTS.get(port)
        if tls is None and expected is not None:
            tls = client_context()
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, limit=2**22, ssl=tls,
            local_addr=(source, 0) if source else None)
        if expected is not None:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            assert fingerprint(der) == expected, "not the test server's certificate"
        return cls(reader, writer)

    def next_id(self) -> int:
        self._id += 1
        return self._id

    async def send(self, obj: dict[str, Any] | bytes) -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode() + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def read_frame(self, timeout: float = WAIT) -> dict[str, Any] | None:
        """The next frame, or None at end of stream."""
        if self._unread:
            return self._unread.pop(0)
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            return None
        frame = json.loads(line)
        self.seen.append(frame)
        return frame

    async def expect(self, type_: str, timeout: float = WAIT,
                     where: Callable[[dict[str, Any]], bool] | None = None,
                     **fields: Any) -> dict[str, Any]:
        """Read until a frame of `type_` whose fields match; others are kept for later."""
        skipped: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {type_} {fields} within {timeout}s; "
                                         f"got {skipped + self._unread}")
                frame = await self.read_frame(left)
                if frame is None:
                    raise AssertionError(f"connection closed waiting for {type_} {fields}; "
                                         f"got {skipped}")
                if frame.get("type") == type_ and all(
                        frame.get(k) == v for k, v in fields.items()) and (
                        where is None or where(frame)):
                    return frame
                skipped.append(frame)
        finally:
            self._unread = skipped + self._unread

    async def drain_frames(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        """Every frame that arrives until none has for `quiet` seconds."""
        got = list(self._unread)
        self._unread.clear()
        while True:
            try:
                frame = await self.read_frame(quiet)
            except TimeoutError:
                return got
            if frame is None:
                return got
            got.append(frame)

    async def wait_closed(self, timeout: float = WAIT) -> list[dict[str, Any]]:
        """Read until the server closes the connection; the frames read on the way."""
        got = list(self._unread)
        self._unread.clear()
        deadline = time.monotonic() + timeout
        while (frame := await self.read_frame(max(deadline - time.monotonic(), 0.01))):
            got.append(frame)
        return got

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Send a message with a fresh id; return its ok or error reply."""
        obj = {**obj, "id": self.next_id()}
        await self.send(obj)
        return await self.expect_reply(obj["id"])

    async def expect_reply(self, msg_id: int) -> dict[str, Any]:
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                frame = await self.read_frame()
                if frame is None:
                    raise AssertionError(f"connection closed waiting for reply {msg_id}")
                if frame.get("type") in ("ok", "error") and frame.get("id") == msg_id:
                    return frame
                skipped.append(frame)
        finally:
            self._unread = skipped + self._unread

    async def command(self, name: str, args: str = "", **extra: Any) -> dict[str, Any]:
        return await self.request({"type": "cmd", "name": name, "args": args, **extra})

    async def say(self, text: str) -> dict[str, Any]:
        return await self.request({"type": "say", "text": text})

    async def hello(self) -> dict[str, Any]:
        await self.send({"type": "hello", "version": 1, "client": "test"})
        return await self.expect("welcome")

    async def login(self, user: str, password: str = "secret") -> dict[str, Any]:
        reply = await self.request({"type": "login", "user": user, "password": password})
        if reply["type"] == "ok":
            self.user = user
            await self.expect("room")
        return reply

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


async def logged_in(port: int, user: str, password: str = "secret") -> RawClient:
    client = await RawClient.connect(port)
    await client.hello()
    reply = await client.login(user, password)
    assert reply["type"] == "ok", reply
    return client


# ---------------------------------------------------------------- subprocesses


def play_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gameclient.cli", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLAY_PASSWORD", None)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def read_until(proc: subprocess.Popen[str], text: str, timeout: float = 15.0) -> str:
    """Read a child's stdout until `text` shows (the event, not a fixed sleep); what was read."""
    import select

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"{text!r} not seen within {timeout}s; got {seen!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"{text!r} not seen before the child closed; got {seen!r}")
        seen += chunk
    return seen.decode(errors="replace")


class ServerProcess:
    """`play host --headless --port 0` as a real process (TLS); `.port` once it listens.

    `play join` children pin its certificate on first use, as a person's would;
    RawClient.connect(port) speaks TLS to it and checks the printed fingerprint.
    """

    def __init__(self, data_dir: Path, *args: str, port: int = 0,
                 env: dict[str, str] | None = None,
                 preexec_fn: Callable[[], None] | None = None) -> None:
        self.proc = subprocess.Popen(
            play_command("host", "--headless", "--port", str(port), "--data-dir", str(data_dir),
                         *args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env or child_env(), text=True, preexec_fn=preexec_fn,
        )
        self.data_dir = data_dir
        self.output: list[str] = []
        self.fingerprint: str | None = None
        self.port = self._wait_for_port()
        if self.fingerprint is not None:
            TLS_PORTS[self.port] = self.fingerprint
        else:
            TLS_PORTS.pop(self.port, None)

    def _wait_for_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = re.search(r"listening on [\d.]+:(\d+)", line)
            if match and "play server" in line:
                port = int(match.group(1))
                if "--no-tls" not in self.proc.args:
                    self.fingerprint = self._read_fingerprint()
                return port
        self.proc.kill()
        raise AssertionError(f"server did not start: {''.join(self.output)}")

    def _read_fingerprint(self) -> str:
        """The fingerprint `play host` prints under 'SHA-256 fingerprint:'."""
        assert self.proc.stdout is not None
        found = None
        for _ in range(20):
            line = self.proc.stdout.readline()
            self.output.append(line)
            if found is None and "SHA-256 fingerprint:" in self.output[-2]:
                found = re.search(r"([0-9A-F]{2}(:[0-9A-F]{2}){31})", line)
            if "tell it to your friends" in line and found:
                return found.group(1)
        raise AssertionError(f"no fingerprint printed: {''.join(self.output)}")

    def stop(self, timeout: float = 10) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        # read(), not communicate(): communicate reads the pipe underneath and would miss
        # what readline() above already buffered. Read while it exits: a server with much
        # left to log would otherwise wait on the full pipe for ever.
        assert self.proc.stdout is not None
        stdout, rest = self.proc.stdout, []
        reader = threading.Thread(target=lambda: rest.append(stdout.read()), daemon=True)
        reader.start()
        self.proc.wait(timeout=timeout)
        reader.join(timeout)
        stdout.close()
        return "".join(self.output) + "".join(rest)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=10)


class Counting:
    """A committer that counts its commits (the schedule's side of the hub)."""

    storage_error = ""

    def __init__(self) -> None:
        self.commits: list[float] = []

    def commit(self) -> bool:
        self.commits.append(time.monotonic())
        return True

    def refuse_pending(self) -> int:
        return 0
