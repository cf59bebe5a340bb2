"""The bus between nodes: in-process (several hubs in one process) or Redis pub/sub.

What crosses it is live only (room fan-out, presence, PMs, goodbyes): what must last
is in the store. Redis pub/sub delivers at most once, in order per publisher; a node
that loses it tells its users, keeps serving them, and subscribes again by itself.

A message for one node (it names it in "node": a question, its answer, a kick) goes on
that node's own channel, which only that node reads, on the same connection as the
cluster's channel (so one order still holds). Redis knows at once when a node's
connection ends (a SIGKILL closes its sockets): a publish there then reaches nobody,
and a node whose channel has no reader is told to the others as gone (`gone`), so
nobody waits for an answer that cannot come.
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
Gone = Callable[[str], None]
CHANNEL = "play:cluster"
RETRY_FIRST, RETRY_MAX = 0.2, 2.0  # seconds between attempts to get the bus back
PROBE_EVERY = 0.5  # seconds between looks at which nodes still read their channel
# After this node (re)subscribes, the others may still be resubscribing (a Redis restart):
# no node is taken for gone until they all had time to.
PROBE_GRACE = RETRY_MAX + 1.0


def node_channel(channel: str, node: str) -> str:
    """The channel only `node` reads: what is for it alone."""
    return f"{channel}:node:{node}"


def addressed_to(message: dict[str, Any]) -> str | None:
    """The one node a message is for, if it is for one node only."""
    node = message.get("node")
    return node if isinstance(node, str) else None


class BusError(Exception):
    """The bus cannot be reached or used; a sentence."""


class Bus(Protocol):
    """What a node needs of the bus: publish a message to every other node, receive theirs."""

    def publish(self, message: dict[str, Any]) -> None: ...

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None], gone: Gone | None = None,
                    watched: Callable[[], list[str]] | None = None) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """The in-process bus: hubs in one process, each with an `endpoint()`.

    Messages are queued and handed over by `pump()` (the runtime calls it on the next
    loop pass; in-memory tests call it themselves), never from inside a delivery. An
    endpoint named for a node whose `receive` is None has stopped reading (its node
    died): a message for that node tells its sender the node is gone, as Redis does.
    """

    def __init__(self) -> None:
        self.endpoints: list[LocalEndpoint] = []
        self.queue: list[tuple[LocalEndpoint, dict[str, Any]]] = []
        self.on_queued: Callable[[], None] | None = None

    def endpoint(self, node: str | None = None) -> LocalEndpoint:
        point = LocalEndpoint(self, node)
        self.endpoints.append(point)
        return point

    def _stopped(self, node: str) -> bool:
        return any(p.node == node for p in self.endpoints) and not any(
            p.node == node and p.receive is not None for p in self.endpoints)

    def probe(self) -> None:
        """What RedisBus does every PROBE_EVERY: tell every reader which nodes stopped."""
        for point in self.endpoints:
            if point.receive is not None and point.gone is not None:
                for other in self.endpoints:
                    if other.node is not None and other.node != point.node \
                            and self._stopped(other.node):
                        point.gone(other.node)

    def pump(self) -> int:
        """Hand every queued message to every endpoint, its own too (as a Redis channel
        does: every node reads one order, its own messages in their place)."""
        count = 0
        while self.queue:
            batch, self.queue = self.queue, []
            for origin, message in batch:
                target = addressed_to(message)
                if target is not None and origin.gone is not None and self._stopped(target):
                    origin.gone(target)  # nobody read it
                    continue
                for point in self.endpoints:
                    if point.receive is not None:
                        point.receive(json.loads(json.dumps(message)))  # as over a wire
                        count += 1
        return count


class LocalEndpoint:
    def __init__(self, bus: LocalBus, node: str | None = None) -> None:
        self.bus = bus
        self.node = node
        self.receive: Receive | None = None
        self.gone: Gone | None = None

    def publish(self, message: dict[str, Any]) -> None:
        self.bus.queue.append((self, message))
        if self.bus.on_queued is not None:
            self.bus.on_queued()

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None], gone: Gone | None = None,
                    watched: Callable[[], list[str]] | None = None) -> None:
        self.receive = receive
        self.gone = gone

        def queued() -> None:
            asyncio.get_running_loop().call_soon(self.bus.pump)

        self.bus.on_queued = queued

    async def close(self) -> None:
        self.receive = None


class RedisBus:
    """Redis pub/sub on one channel: one publish per event, however many nodes listen."""

    def __init__(self, url: str, channel: str = CHANNEL, node: str | None = None) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError as exc:
            raise BusError("a Redis bus needs the cluster extra: pip install 'play[cluster]'"
                           ) from exc
        self.url = url
        self.channel = channel
        self.node = node  # this node's name: its own channel is read here
        self._redis = redis_asyncio
        self._client: Any = None
        # (channel, data, the one node it is for or None), in order
        self._outbox: list[tuple[str, str, str | None]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._lost: Callable[[str], None] = lambda why: None
        self._back: Callable[[], None] = lambda: None
        self._gone: Gone = lambda node: None
        self._watched: Callable[[], list[str]] = list
        self._subscribed_at = 0.0  # when this node last (re)subscribed (loop time)
        self.up = False
        self.published = 0
        self.dropped = 0  # messages that could not be published while the bus was down

    def _new_client(self) -> Any:
        return self._redis.Redis.from_url(self.url, socket_connect_timeout=2,
                                          socket_timeout=None, health_check_interval=5)

    async def start(self, receive: Receive, lost: Callable[[str], None],
                    back: Callable[[], None], gone: Gone | None = None,
                    watched: Callable[[], list[str]] | None = None) -> None:
        """`gone(node)`: that node no longer reads its channel (`watched()`: the nodes
        to look at, those heard from lately)."""
        self._lost, self._back = lost, back
        if gone is not None:
            self._gone = gone
        if watched is not None:
            self._watched = watched
        self._client = self._new_client()
        try:
            await asyncio.wait_for(self._client.ping(), 5)
        except (TimeoutError, OSError, self._redis.RedisError) as exc:
            await self._client.aclose()
            raise BusError(f"cannot reach the bus at {self.url}: {exc or type(exc).__name__}"
                           ) from None
        subscribed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read(receive, subscribed)),
                       asyncio.create_task(self._write(subscribed))]
        await asyncio.wait_for(subscribed.wait(), 5)
        self.up = True
        if self.node is not None:
            self._tasks.append(asyncio.create_task(self._probe()))

    def publish(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":"))
        target = addressed_to(message) if self.node is not None else None
        channel = self.channel if target is None else node_channel(self.channel, target)
        self._outbox.append((channel, data, target))
        self._wake.set()

    async def _write(self, subscribed: asyncio.Event) -> None:
        """Publish what was queued, in order, in one pipeline per loop pass."""
        await subscribed.wait()  # nobody is told of this node before it can hear back
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outbox = self._outbox, []
            if not batch:
                continue
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for channel, data, _ in batch:
                        pipe.publish(channel, data)
                    heard = await pipe.execute()
                self.published += len(batch)
            except (OSError, self._redis.RedisError) as exc:
                self.dropped += len(batch)  # live only: the store has what must last
                self._went_down(str(exc) or type(exc).__name__)
                continue
            for (_, _, target), readers in zip(batch, heard, strict=True):
                if target is not None and readers == 0:  # its node reads no more
                    self._gone(target)

    async def _probe(self) -> None:
        """Every PROBE_EVERY, which of the nodes heard from lately still read their channel."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PROBE_EVERY)
            nodes = [n for n in self._watched() if n != self.node]
            if not nodes or not self.up or loop.time() - self._subscribed_at < PROBE_GRACE:
                continue
            try:
                counts = await self._client.execute_command(
                    "PUBSUB", "NUMSUB", *(node_channel(self.channel, n) for n in nodes))
            except (OSError, self._redis.RedisError):
                continue  # the reader finds out and says so
            readers = dict(zip(counts[::2], counts[1::2], strict=True))
            for node in nodes:
                channel = node_channel(self.channel, node)
                if not readers.get(channel, readers.get(channel.encode(), 1)):
                    self._gone(node)

    async def _read(self, receive: Receive, subscribed: asyncio.Event) -> None:
        delay = RETRY_FIRST
        while True:
            pubsub = None
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                channels = [self.channel]
                if self.node is not None:  # one connection, so one order for both
                    channels.append(node_channel(self.channel, self.node))
                await pubsub.subscribe(*channels)
                self._subscribed_at = asyncio.get_running_loop().time()
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
