"""Shared pytest setup: make `tests/helpers.py` importable, keep children off user data;
the `server` (a real `play host --headless`) and `terms` (ptys closed after) fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import ServerProcess  # noqa: E402  (importable from the line above)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the real ~/.local/share/play, here or in child processes."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PLAY_DATA_DIR", str(home / "data"))
    monkeypatch.delenv("PLAY_PASSWORD", raising=False)


@pytest.fixture(autouse=True)
def _hash_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers here hash on threads (a fork server and two workers for each of hundreds of
    servers is minutes of CPU), also `play host` children; test_hash_processes.py and the
    tests that say so run the default, worker processes."""
    from gameserver import tuning

    monkeypatch.setattr(tuning, "HASH_PROCESSES", False)
    monkeypatch.setenv("PLAY_HASH_PROCESSES", "0")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server process (`play host --headless`, TLS) with its data in tmp_path/server;
    killed after the test if it still runs. A test module may define its own `server`."""
    proc = ServerProcess(tmp_path / "server")
    try:
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.kill()


@pytest.fixture
def terms() -> Iterator[list[Any]]:
    """The pseudo-terminals (tests/ptyterm.py's PtyTerm) a test opens; all closed after it."""
    opened: list[Any] = []
    yield opened
    for term in opened:
        term.close()


def _skip_or_fail(reason: str) -> None:
    """A missing engine skips the test here, but fails it in CI (PLAY_REQUIRE_ENGINES=1)."""
    if os.environ.get("PLAY_REQUIRE_ENGINES"):
        pytest.fail(reason)
    pytest.skip(reason)


def _driver(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        _skip_or_fail(f"{name} is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL engine for the whole session (skips only if it is not installed)."""
    from engines import EngineMissing, PostgresServer

    _driver("psycopg")
    try:
        server = PostgresServer()
    except EngineMissing as exc:
        _skip_or_fail(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    """One real Redis engine for the whole session (skips only if it is not installed)."""
    from engines import EngineMissing, RedisServer

    _driver("redis")
    try:
        server = RedisServer()
    except EngineMissing as exc:
        _skip_or_fail(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL engine."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request, tmp_path):
    """Opens stores of one backend on one shared place: a SQLite file, or a PostgreSQL database.

    `make_store(node=...)` may be called more than once (PostgreSQL: several nodes).
    """
    from gameserver.store import SQLiteStore

    opened: list = []
    if request.param == "sqlite":
        def make(node: str = "node"):
            opened.append(SQLiteStore(tmp_path / "play.db"))
            return opened[-1]
    else:
        url = request.getfixturevalue("postgres_url")
        from gameserver.stores.postgres import PostgresStore

        def make(node: str = "node"):
            opened.append(PostgresStore(url, node=node))
            return opened[-1]
    make.backend = request.param
    yield make
    for store in opened:
        try:
            store.close()
        except Exception:  # a test may have closed it, or broken its engine on purpose
            pass
