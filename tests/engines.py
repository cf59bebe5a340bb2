"""Real PostgreSQL and Redis servers for the tests, started on loopback by the suite itself."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

START_TIMEOUT = 30.0


class EngineMissing(Exception):
    """The engine's binaries are not installed on this machine (the tests skip, saying so)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start: {log.read_text(errors='replace')[-800:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s")


def _pg_bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "pg_ctl").exists():
            return Path(d)
    raise EngineMissing("PostgreSQL is not installed (apt-get install postgresql)")


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise EngineMissing("running as root and there is no unprivileged user for PostgreSQL")


class PostgresServer:
    """One PostgreSQL engine in a temp dir on a free loopback port; a database per test."""

    def __init__(self) -> None:
        self.bindir = _pg_bindir()
        self.user = _unprivileged()
        self.dir = Path(tempfile.mkdtemp(prefix="play-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _demote(self) -> None:
        if self.user is not None:
            os.setgid(self.user[1])
            os.setuid(self.user[0])

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._demote, timeout=START_TIMEOUT)

    def start(self) -> PostgresServer:
        data = self.dir / "data"
        if self.user is not None:
            os.chown(self.dir, *self.user)
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", "play",
                  "--auth=trust", "-E", "UTF8", "--locale=C")
        self._launch()
        return self

    def _launch(self) -> None:
        data = self.dir / "data"
        log = self.dir / "postgres.log"
        with open(log, "ab") as out:
            # Durability is PostgreSQL's own business; the tests need it fast, not crash-safe.
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=self._demote)
        _wait_port(self.port, self.proc, "PostgreSQL", log)
        self._wait_ready()

    def halt(self) -> None:
        """Stop the engine (its connections are cut), keeping its data for `resume()`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            self.proc.wait(20)

    def resume(self) -> None:
        self._launch()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:  # "the database system is starting up"
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def url(self, database: str) -> str:
        return f"postgresql://play@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The data is thrown away: an immediate shutdown (no checkpoint) is enough.
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _remove_later(self.dir)


def _remove_later(path: Path) -> None:
    """Delete a scratch directory without making the last test wait for it.

    A session's engine holds a database per test (thousands of files); removing them
    inline ran into the last test's timeout on a loaded machine.
    """
    subprocess.Popen(["rm", "-rf", "--", str(path)], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


class RedisServer:
    """One redis-server on a free loopback port, no persistence; it can be restarted."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise EngineMissing("Redis is not installed (apt-get install redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="play-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        log = self.dir / "redis.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
                stdout=out, stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, "Redis", log)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
