"""The client's filter of asyncio's dropped-write notices is on asyncio's logger once, however
many connections (reconnects) a process makes (in memory, no sockets)."""

from __future__ import annotations

import asyncio
import logging

from gameclient.connection import _DROPPED_WRITES, ClientConnection, quiet_dropped_writes


def ours() -> list[object]:
    return [f for f in logging.getLogger("asyncio").filters if f is _DROPPED_WRITES]


async def connections(count: int) -> None:
    reader = asyncio.StreamReader()
    for _ in range(count):
        ClientConnection(reader, None, "127.0.0.1:1")  # type: ignore[arg-type]


def test_reconnects_do_not_stack_the_filter() -> None:
    asyncio_log = logging.getLogger("asyncio")
    was_on = bool(ours())
    asyncio_log.removeFilter(_DROPPED_WRITES)
    try:
        asyncio.run(asyncio.wait_for(connections(5), 10))
        quiet_dropped_writes()
        assert len(ours()) == 1
    finally:
        if not was_on:  # as this process had it before
            asyncio_log.removeFilter(_DROPPED_WRITES)


def test_the_filter_drops_only_asyncios_dropped_write_notices() -> None:
    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.WARNING, __file__, 1, msg, None, None)

    assert not _DROPPED_WRITES.filter(record("socket.send() raised exception."))
    assert not _DROPPED_WRITES.filter(record("SSL connection is closed"))
    assert _DROPPED_WRITES.filter(record("Task was destroyed but it is pending!"))
