"""The listener hands a plain connection to the loop without a Task of its own."""

from __future__ import annotations

import asyncio
import socket

from helpers import run

from gameserver.listener import Listener
from gameserver.throttle import AddressCounts


class Made(asyncio.Protocol):
    """Says when the loop made its connection and when it lost it."""

    def __init__(self, label: str, made: list[Made]) -> None:
        self.label = label
        self.transport: asyncio.BaseTransport | None = None
        self.lost = asyncio.get_running_loop().create_future()
        made.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


def _client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _until(check: object, passes: int = 200) -> None:
    for _ in range(passes):
        if callable(check) and check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("not reached")


def test_plain_connections_are_made_without_tasks_and_nothing_waits_after() -> None:
    async def body() -> None:
        made: list[Made] = []
        listener = Listener(lambda label, refusal: Made(label, made), None,
                            AddressCounts(100), 5.0)
        listener.start("127.0.0.1", 0)
        tasks = len(asyncio.all_tasks())
        clients = [_client(listener.port) for _ in range(5)]
        try:
            await _until(lambda: len(made) == 5 and all(m.transport for m in made))
            assert len(asyncio.all_tasks()) == tasks  # no Task per connection
            assert not listener._handing and not listener._tasks  # noqa: SLF001
            assert listener.counts.total == 5
            for m in made:
                assert m.transport is not None and not m.transport.is_closing()
        finally:
            for c in clients:
                c.close()
            for m in made:
                if m.transport is not None:
                    m.transport.close()
            listener.close()

    run(body())


def test_closing_the_listener_closes_a_connection_still_being_handed_over() -> None:
    async def body() -> None:
        made: list[Made] = []
        listener = Listener(lambda label, refusal: Made(label, made), None,
                            AddressCounts(100), 5.0)
        listener.start("127.0.0.1", 0)
        client = socket.create_connection(("127.0.0.1", listener.port))
        try:
            listening = listener.sockets[0]
            listener._unwatch()  # noqa: SLF001 - accept by hand, in this very pass
            await _until(lambda: listener._take(listening) == 1)  # noqa: SLF001
            assert len(listener._handing) == 1  # noqa: SLF001 - waits for connection_made
            listener._watch()  # noqa: SLF001
            listener.close()
            await _until(lambda: not listener._handing)  # noqa: SLF001
            client.settimeout(5.0)
            try:
                got = await asyncio.get_running_loop().run_in_executor(None, client.recv, 10)
            except ConnectionResetError:
                got = b""
            assert got == b""  # the server side is closed
        finally:
            client.close()

    run(body())
