"""The bus between nodes: in-process (several hubs in one process) or Redis pub/sub.

What crosses it is live only (room fan-out, presence, PMs, goodbyes): what must last
is in the store. Redis pub/sub delivers at most once, in order per publisher; a node
that loses it tells its users, keeps serving them, and subscribes again by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("play.bus")

Receive = Callable[[dict[str, Any]], None]
CHANNEL = "play:cluster"
RETRY_FIRST, RETRY_MAX = 0.2, 2.0  # seconds between attempts to get the bus back


class BusError(Exception):
    """The bus cannot be reached or used; a sentence."""


class Bus(Protocol):
    """What a node needs of the bus: publish a message to every other node, receive theirs."""

    def publish(self, message: dict[str, Any]) -> None: ...

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None]) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """The in-process bus: hubs in one process, each with an `endpoint()`.

    Messages are queued and handed over by `pump()` (the runtime calls it on the next
    loop pass; in-memory tests call it themselves), never from inside a delivery.
    """

    def __init__(self) -> None:
        self.endpoints: list[LocalEndpoint] = []
        self.queue: list[tuple[LocalEndpoint, dict[str, Any]]] = []
        self.on_queued: Callable[[], None] | None = None

    def endpoint(self) -> LocalEndpoint:
        point = LocalEndpoint(self)
        self.endpoints.append(point)
        return point

    def pump(self) -> int:
        """Hand every queued message to every endpoint, its own too (as a Redis channel
        does: every node reads one order, its own messages in their place)."""
        count = 0
        while self.queue:
            batch, self.queue = self.queue, []
            for _origin, message in batch:
                for point in self.endpoints:
                    if point.receive is not None:
                        point.receive(json.loads(json.dumps(message)))  # as over a wire
                        count += 1
        return count


class LocalEndpoint:
    def __init__(self, bus: LocalBus) -> None:
        self.bus = bus
        self.receive: Receive | None = None

    def publish(self, message: dict[str, Any]) -> None:
        self.bus.queue.append((self, message))
        if self.bus.on_queued is not None:
            self.bus.on_queued()

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None]) -> None:
        self.receive = receive
        self.bus.on_queued = lambda: asyncio.get_running_loop().call_soon(self.bus.pump)

    async def close(self) -> None:
        self.receive = None


class RedisBus:
    """Redis pub/sub on one channel: one publish per event, however many nodes listen."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError as exc:
            raise BusError("a Redis bus needs the cluster extra: pip install 'play[cluster]'"
                           ) from exc
        self.url = url
        self.channel = channel
        self._redis = redis_asyncio
        self._client: Any = None
        self._outbox: list[str] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lost: Callable[[str], None] = lambda why: None
        self._back: Callable[[], None] = lambda: None
        self.up = False
        self.published = 0
        self.dropped = 0  # messages that could not be published while the bus was down

    def _new_client(self) -> Any:
        return self._redis.Redis.from_url(self.url, socket_connect_timeout=2,
                                          socket_timeout=None, health_check_interval=5)

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None]) -> None:
        self._lost, self._back = lost, back
        self._client = self._new_client()
        try:
            await asyncio.wait_for(self._client.ping(), 5)
        except (TimeoutError, OSError, self._redis.RedisError) as exc:
            await self._client.aclose()
            raise BusError(f"cannot reach the bus at {self.url}: {exc or type(exc).__name__}"
                           ) from None
        subscribed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read(receive, subscribed)),
                       asyncio.create_task(self._write())]
        await asyncio.wait_for(subscribed.wait(), 5)
        self.up = True

    def publish(self, message: dict[str, Any]) -> None:
        self._outbox.append(json.dumps(message, separators=(",", ":")))
        self._wake.set()

    async def _write(self) -> None:
        """Publish what was queued, in order, in one pipeline per loop pass."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outbox = self._outbox, []
            if not batch:
                continue
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for data in batch:
                        pipe.publish(self.channel, data)
                    await pipe.execute()
                self.published += len(batch)
            except (OSError, self._redis.RedisError) as exc:
                self.dropped += len(batch)  # live only: the store has what must last
                self._went_down(str(exc) or type(exc).__name__)

    async def _read(self, receive: Receive, subscribed: asyncio.Event) -> None:
        delay = RETRY_FIRST
        while True:
            pubsub = None
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                subscribed.set()
                if not self.up:
                    self.up = True
                    self._back()
                delay = RETRY_FIRST
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        receive(json.loads(message["data"]))
                    except Exception as exc:  # one bad message must not stop the node
                        log.error("bus: a message failed: %r", exc)
            except asyncio.CancelledError:
                raise
            except (OSError, self._redis.RedisError) as exc:
                self._went_down(str(exc) or type(exc).__name__)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _went_down(self, why: str) -> None:
        if self.up:
            self.up = False
            self._lost(why)

    async def close(self) -> None:
        """Publish what is still queued (the node's goodbye), then let go of Redis."""
        if self._outbox and self.up:
            self._wake.set()
            for _ in range(20):  # the writer takes the batch on its next pass
                await asyncio.sleep(0.01)
                if not self._outbox:
                    break
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
