"""Nothing confirmed is lost, every frame is answered: prints the figures of a run.

  fuzz     hostile and malformed frames from several users at once, each followed by a
           valid one: how many were answered, how many ended in a bye (with its reason),
           how many `internal` errors (the target is none), the server's memory
  faults   steady chat while the server's files refuse every write for a while (a real
           EFBIG from the kernel: RLIMIT_FSIZE of 1 byte, set on the running server, as a
           full disk fails writes), then take them again: confirmed vs stored

Only 127.0.0.1 is ever contacted; every run is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOMY = ["--flood-burst", "100000", "--flood-rate", "100000", "--max-per-address", "1000",
         "--registrations-per-hour", "100000", "--login-free-failures", "1000"]
SENTINEL = 2**53 - 1


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Host:
    """`play host --headless --no-tls` on a fresh data directory, as a real process."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="play-integrity-")
        self.data = Path(self.tmp.name)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gameclient.cli", "host", "--headless", "--port", "0",
             "--no-tls", "--data-dir", str(self.data / "data"), *ROOMY],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
            env={k: v for k, v in os.environ.items() if k != "PLAY_PASSWORD"})
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.log: list[str] = []  # the log goes to a pipe: it is not on the failing disk
        err = self.proc.stderr
        threading.Thread(target=lambda: self.log.extend(err), daemon=True).start()
        for _ in range(10):
            found = re.search(r"listening on [\d.]+:(\d+)", self.proc.stdout.readline())
            if found:
                self.port = int(found.group(1))
                return
        raise SystemExit("the server did not start")

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(20)
        time.sleep(0.2)  # the reader thread takes the last lines
        return "".join(self.log)

    def stored(self) -> list[tuple[str, str]]:
        db = sqlite3.connect(self.data / "data" / "play.db")
        try:
            return list(db.execute("SELECT sender, text FROM messages ORDER BY id"))
        finally:
            db.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def login(cls, port: int, user: str) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        client = cls(reader, writer)
        writer.write(b'{"type":"hello","version":1}\n' + json.dumps(
            {"type": "login", "id": 1, "user": user, "password": "pw"}).encode() + b"\n")
        while (await client.read()).get("type") != "room":
            pass
        return client

    async def read(self, timeout: float = 15.0) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            return {"type": "closed"}
        return json.loads(line)


# ---------------------------------------------------------------- fuzz


def hostile(rng: random.Random) -> bytes:
    """One frame of many kinds: valid, malformed, hostile."""
    s = lambda: "".join(rng.choice(["a", "é", "中", "\ud800", "\udfff", "\x1b[2J", "\x00", " ",  # noqa: E731
                                    "²", "9", "@", "#", "/", '"', "\\"])
                        for _ in range(rng.randint(0, 12)))
    some_id = rng.choice([rng.randint(0, 10**6), True, False, None, "7", 1.5, -1, 2**64,
                          SENTINEL + 1, [1], {"a": 1}])
    kind = rng.randrange(9)
    if kind == 0:
        obj: Any = {"type": "say", "id": some_id, "text": s() or "hi"}
    elif kind == 1:
        obj = {"type": "cmd", "id": some_id, "name": rng.choice(
            ["who", "msg", "all", "history", "join", "nick", "board", "move", "stats", "nope",
             s()]), "args": rng.choice([s(), "9" * rng.randint(1, 6000), f"bob0 {s()}"])}
    elif kind == 2:
        obj = {"type": rng.choice(["login", "resume", "account", "hello"]), "id": some_id,
               "user": s(), "password": s(), "token": s(), "version": some_id}
    elif kind == 3:
        depth = rng.randint(1, 40000)
        return b'{"type":"say","id":1,"text":' + b"[" * depth + b"]" * depth + b"}\n"
    elif kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))).replace(
            b"\n", b"") + b"\n"
    elif kind == 5:
        return b'{"type":"say","id":' + b"9" * rng.randint(4000, 6000) + b',"text":"x"}\n'
    elif kind == 6:
        return b'{"type":"say","id":3,"text":"' + b"a" * rng.randint(60000, 80000) + b'"}\n'
    elif kind == 7:
        obj = {rng.choice(["type", "id", "text", "name"]): rng.choice([s(), some_id, None])
               for _ in range(rng.randint(0, 4))}
    else:
        obj = {"type": "say", "id": rng.randint(0, 10**6), "text": f"valid {rng.random()}"}
    return json.dumps(obj).encode() + b"\n"


async def fuzz(frames: int, users: int, seed: int) -> None:
    host = Host()
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    byes: Counter[str] = Counter()
    try:
        clients = [await Client.login(host.port, f"fuzz{i}") for i in range(users)]
        start_rss = rss_kib(host.proc.pid)
        started = time.perf_counter()
        sentinel = json.dumps({"type": "cmd", "id": SENTINEL, "name": "who"}).encode() + b"\n"
        for n in range(frames):
            i = n % users
            frame = hostile(rng)
            clients[i].writer.write(frame + sentinel)
            answered = False
            while True:
                got = await clients[i].read()
                kind = got.get("type")
                if kind in ("ok", "error", "history", "welcome") and got.get("id") != SENTINEL:
                    answered = True
                if got.get("code") == "internal":
                    counts["internal"] += 1
                if kind in ("bye", "closed"):
                    byes[got.get("code", "closed")] += 1
                    clients[i] = await Client.login(host.port, f"fuzz{i}")
                    answered = True
                    break
                if got.get("id") == SENTINEL and kind in ("ok", "error"):
                    break
            blank = not frame.strip()
            counts["frames"] += 1
            counts["answered" if answered or blank else "unanswered"] += 1
        elapsed = time.perf_counter() - started
        peak = rss_kib(host.proc.pid)
    finally:
        log = host.stop()
    print(f"fuzz: {counts['frames']} frames from {users} users (seed {seed}) in {elapsed:.1f} s"
          f" ({counts['frames'] / elapsed:.0f} frames/s with a round trip each)")
    print(f"  answered {counts['answered']}, unanswered {counts['unanswered']},"
          f" internal {counts['internal']}, byes {dict(byes) or 0}")
    print(f"  server memory: {start_rss / 1024:.1f} MiB once the users are in,"
          f" {peak / 1024:.1f} MiB after the fuzz")
    print(f"  tracebacks in the server's log: {log.count('Traceback')}")


# ---------------------------------------------------------------- faults


async def faults(seconds: float, outage: float, senders: int) -> None:
    host = Host()
    pid = host.proc.pid
    sent: dict[str, float] = {}
    confirmed: dict[str, float] = {}
    refused: set[str] = set()
    delivered: set[str] = set()
    try:
        clients = [await Client.login(host.port, f"chat{i}") for i in range(senders)]
        listener = await Client.login(host.port, "listener")
        start_rss = rss_kib(pid)

        async def listen() -> None:
            while True:
                got = await listener.read(seconds + 30)
                if got.get("type") == "room_msg":
                    delivered.add(got["text"])
                if got.get("type") == "closed":
                    return

        async def talk(i: int, client: Client) -> None:
            ids: dict[int, str] = {}

            async def replies() -> None:
                while not (done.is_set() and not ids):  # until every message is answered
                    try:
                        got = await client.read(1.0)
                    except TimeoutError:
                        continue
                    text = ids.pop(got.get("id", -1), None) if got.get("type") in (
                        "ok", "error") else None
                    if text is None:
                        continue
                    if got["type"] == "ok":
                        confirmed[text] = time.perf_counter() - sent[text]
                    elif got.get("code") == "storage":
                        refused.add(text)

            reading = asyncio.ensure_future(replies())
            n = 0
            while not done.is_set():
                n += 1
                text = f"m{i}-{n}"
                ids[n + 10] = text
                sent[text] = time.perf_counter()
                client.writer.write(json.dumps({"type": "say", "id": n + 10,
                                                "text": text}).encode() + b"\n")
                await asyncio.sleep(0.01)
            await asyncio.wait_for(reading, 30)

        done = asyncio.Event()
        listening = asyncio.ensure_future(listen())
        talking = [asyncio.ensure_future(talk(i, c)) for i, c in enumerate(clients)]
        await asyncio.sleep((seconds - outage) / 2)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        await asyncio.sleep(outage)
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
        await asyncio.sleep((seconds - outage) / 2)
        done.set()
        await asyncio.gather(*talking)
        peak = rss_kib(pid)
        await asyncio.sleep(0.3)
        listening.cancel()
    finally:
        log = host.stop()
    stored = {text for sender, text in host.stored() if sender.startswith("chat")}
    missing = set(confirmed) - stored
    unconfirmed = stored - set(confirmed)
    bad_deliveries = delivered - stored
    unanswered = set(sent) - set(confirmed) - refused
    delays = sorted(confirmed.values())
    print(f"faults: {senders} senders, a message each per 10 ms for {seconds:.0f} s; every"
          f" write refused by the kernel for {outage:.1f} s in the middle")
    print(f"  sent {len(sent)}, confirmed {len(confirmed)}, refused (storage) {len(refused)},"
          f" unanswered {len(unanswered)}")
    print(f"  stored {len(stored)}: confirmed but missing {len(missing)}, stored but never"
          f" confirmed {len(unconfirmed)}, delivered but not stored {len(bad_deliveries)}")
    print(f"  confirmation delay: median {delays[len(delays) // 2] * 1000:.1f} ms,"
          f" max {delays[-1] * 1000:.0f} ms")
    print(f"  server memory {start_rss / 1024:.1f} MiB before, {peak / 1024:.1f} MiB after")
    lines = [line for line in log.splitlines() if "storage" in line]
    print(f"  storage lines in the server's log ({len(lines)}):")
    for line in lines:
        print("    " + line.split(" ", 2)[-1][:150])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("job", choices=["fuzz", "faults", "all"])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--outage", type=float, default=2.5)
    parser.add_argument("--senders", type=int, default=3)
    args = parser.parse_args()
    if args.job in ("fuzz", "all"):
        asyncio.run(fuzz(args.frames, args.users, args.seed))
    if args.job in ("faults", "all"):
        if not sys.platform.startswith("linux"):
            raise SystemExit("faults needs Linux (prlimit on the server process)")
        asyncio.run(faults(args.seconds, args.outage, args.senders))


if __name__ == "__main__":
    main()
