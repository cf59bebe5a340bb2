"""Chat latency while game bots think: room message round trips with 0..K bot searches running.

A server runs in this process (plain TCP on 127.0.0.1 port 0); the clients run in a
child process, so only the server's interpreter is shared with the bots' searches.
Two chatters measure say -> room_msg latency; meanwhile K players each keep a connect
four bot busy (each bot search takes up to the platform's time bound, 1 s).
Prints p50 / p90 / p99 / max per K.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameserver.server import ChatServer  # noqa: E402
from gameserver.settings import Settings  # noqa: E402

OPEN = Settings(flood_burst=100_000, flood_rate=100_000.0, max_per_address=100_000,
                registrations_per_hour=100_000, login_free_failures=1000, hash_queue=100_000)


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.n = reader, writer, 0

    @classmethod
    async def login(cls, port: int, user: str) -> Client:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        client.send({"type": "hello", "version": 1})
        client.send({"type": "login", "id": client.next(), "user": user, "password": "pw"})
        await client.until(lambda f: f.get("type") == "ok" and "token" in f.get("data", {}))
        return client

    def next(self) -> int:
        self.n += 1
        return self.n

    def send(self, frame: dict[str, Any]) -> None:
        self.writer.write(json.dumps(frame).encode() + b"\n")

    async def frame(self) -> dict[str, Any]:
        return json.loads(await self.reader.readline())

    async def until(self, check: Any) -> dict[str, Any]:
        while True:
            frame = await self.frame()
            if check(frame):
                return frame


async def keep_bot_busy(port: int, name: str, stop: asyncio.Event) -> int:
    """Play connect four against the bot, always the first free column; games played."""
    me = await Client.login(port, name)
    me.send({"type": "cmd", "id": me.next(), "name": "join", "args": f"den-{name}"})
    games = 0
    while not stop.is_set():
        me.send({"type": "cmd", "id": me.next(), "name": "game", "args": "c4 bot"})
        while not stop.is_set():
            state = await me.until(lambda f: f.get("type") == "game")
            if state["over"]:
                games += 1
                break
            if state["turn"] == name:
                top = state["board"][1]
                col = next(i for i in range(7) if top[1 + 2 * i] == ".") + 1
                me.send({"type": "say", "id": me.next(), "text": str(col)})
    return games


async def clients(port: int, bots: int, messages: int, gap: float) -> list[float]:
    stop = asyncio.Event()
    players = [asyncio.create_task(keep_bot_busy(port, f"p{bots}x{i}", stop))
               for i in range(bots)]
    await asyncio.sleep(1.5 if bots else 0)  # let the searches start
    ann = await Client.login(port, f"ann{bots}")
    bob = await Client.login(port, f"bob{bots}")
    for c in (ann, bob):
        c.send({"type": "cmd", "id": c.next(), "name": "join", "args": f"chat{bots}"})
    await bob.until(lambda f: f.get("type") == "joined" or f.get("type") == "room")
    await asyncio.sleep(0.3)
    waits = []
    for n in range(messages):
        text = f"ping {n}"
        start = time.perf_counter()
        ann.send({"type": "say", "id": ann.next(), "text": text})
        await bob.until(lambda f, t=text: f.get("type") == "room_msg" and f.get("text") == t)
        waits.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(gap)
    stop.set()
    for task in players:
        task.cancel()
    return waits


def client_process(port: int, bots: int, messages: int, gap: float, out: Any) -> None:
    out.send(asyncio.run(clients(port, bots, messages, gap)))


async def serve(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data:
        async with ChatServer("127.0.0.1", 0, data_dir=data, scrypt_n=2**4, settings=OPEN,
                              tls=False) as server:
            print(f"{'bots thinking':>13}  {'p50 ms':>7}  {'p90 ms':>7}  {'p99 ms':>7}"
                  f"  {'max ms':>7}")
            for bots in args.bots:
                here, there = multiprocessing.Pipe()
                child = multiprocessing.Process(
                    target=client_process, args=(server.port, bots, args.messages, args.gap,
                                                 there))
                child.start()
                while not here.poll():
                    await asyncio.sleep(0.05)
                waits = sorted(here.recv())
                child.join()
                q = statistics.quantiles(waits, n=100)
                print(f"{bots:>13}  {q[49]:7.2f}  {q[89]:7.2f}  {q[98]:7.2f}  {waits[-1]:7.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bots", type=int, nargs="+", default=[0, 1, 4])
    p.add_argument("--messages", type=int, default=300)
    p.add_argument("--gap", type=float, default=0.02, help="seconds between messages")
    args = p.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
