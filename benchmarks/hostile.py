"""A hostile client: tries to lose others' messages, read others' PMs and break frames.

  python benchmarks/hostile.py PORT [--tls]    (127.0.0.1 only)

Each attack prints one line: what was tried, what the server did, and PASS when the
server kept its promises. Needs a server with room for a crowd from one address
(e.g. `play host --headless --max-per-address 200 --registrations-per-hour 1000
--flood-burst 1000 --flood-rate 1000`); run it on a fresh data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import sys
from typing import Any

SURROGATE = "\ud800"


class Peer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 user: str) -> None:
        self.reader, self.writer, self.user = reader, writer, user
        self.frames: list[dict[str, Any]] = []
        self._id = 100

    @classmethod
    async def open(cls, port: int, tls: bool, user: str, login: bool = True) -> Peer:
        context = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # an attacker does not care whose server
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                       limit=2**22)
        peer = cls(reader, writer, user)
        await peer.raw(b'{"type":"hello","version":1}\n')
        await peer.until(lambda f: f["type"] == "welcome")
        if login:
            reply = await peer.request({"type": "login", "user": user, "password": PASSWORD})
            if reply["type"] != "ok":
                raise RuntimeError(f"{user}: {reply}")
            await peer.until(lambda f: f["type"] == "room")
        return peer

    async def raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, timeout: float = 5.0) -> dict[str, Any] | None:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            return None
        frame = json.loads(line)
        self.frames.append(frame)
        return frame

    async def until(self, check, timeout: float = 5.0) -> list[dict[str, Any]]:
        got = []
        while True:
            frame = await self.read(timeout)
            if frame is None:
                return got
            got.append(frame)
            if check(frame):
                return got

    async def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        msg_id = self._id
        await self.raw(json.dumps({**obj, "id": msg_id}).encode() + b"\n")
        got = await self.until(lambda f: f.get("id") == msg_id and f["type"] in (
            "ok", "error", "history") and (f["type"] != "history" or f["last"]))
        return got[-1] if got else {"type": "closed"}

    async def history(self, args: str = "") -> list[str]:
        self._id += 1
        msg_id = self._id
        await self.raw(json.dumps({"type": "cmd", "id": msg_id, "name": "history",
                                   "args": args}).encode() + b"\n")
        pages = await self.until(lambda f: f.get("id") == msg_id and f.get("last", True))
        return [e["text"] for p in pages if p.get("id") == msg_id
                for e in p.get("entries", [])]


PASSWORD = secrets.token_hex(8)
RESULTS: list[tuple[bool, str]] = []


def report(ok: bool, what: str) -> None:
    RESULTS.append((ok, what))
    print(f"{'PASS' if ok else 'FAIL'}  {what}")


async def attacks(port: int, tls: bool) -> None:
    tag = secrets.token_hex(3)
    victim = await Peer.open(port, tls, f"alice{tag}")
    friend = await Peer.open(port, tls, f"bob{tag}")
    me = await Peer.open(port, tls, f"mallory{tag}")

    # 1. a lone surrogate in a say, batched with others' messages
    await me.raw(json.dumps({"type": "say", "id": 1, "text": "x" + SURROGATE}).encode()
                 + b"\n" + json.dumps({"type": "say", "id": 2, "text": "mine"}).encode()
                 + b"\n")
    said = await friend.request({"type": "say", "text": f"friend's words {tag}"})
    got = await me.until(lambda f: f.get("id") == 2 and f["type"] in ("ok", "error"))
    first = next((f for f in got if f.get("id") == 1), {})
    report(first.get("code") == "bad_message" and said["type"] == "ok"
           and f"friend's words {tag}" in await friend.history(),
           f"surrogate say: answered {first.get('code')}, the others' messages stored")

    # 2. frames that used to drop the connection, each followed by a valid one
    for name, frame in [("id true", b'{"type":"say","id":true,"text":"x"}'),
                        ("deep nesting", b"[" * 50000 + b"]" * 50000),
                        ("surrogate command", json.dumps({"type": "cmd", "id": 3,
                                                          "name": "x" + SURROGATE}).encode()),
                        ("5000-digit /history N", json.dumps(
                            {"type": "cmd", "id": 4, "name": "history", "args": "9" * 5000}
                        ).encode())]:
        await me.raw(frame + b"\n" + b'{"type":"cmd","id":9,"name":"who"}\n')
        got = await me.until(lambda f: f.get("id") == 9 or f["type"] == "bye")
        internal = any(f.get("code") == "internal" for f in got)
        echoed_bool = any(f.get("id") is True for f in got)
        report(bool(got) and got[-1].get("id") == 9 and not internal and not echoed_bool
               and len(got) >= 2, f"{name}: answered, the next frame served, no internal")

    # 3. a room named after the victim: PMs to the victim must not show
    await me.request({"type": "cmd", "name": "join", "args": victim.user})
    await friend.request({"type": "cmd", "name": "msg", "args": f"{victim.user} secret {tag}"})
    seen = [t for args in ("", victim.user, f"@{victim.user}", "10000")
            for t in await me.history(args)]
    report(not any(f"secret {tag}" in t for t in seen) and
           f"secret {tag}" in " ".join(await victim.history()),
           "a room named after a user shows none of that user's PMs")

    # 4. reserved names
    for name in ("lobby", "system", "server", "tictactoe"):
        peer = await Peer.open(port, tls, name, login=False)
        reply = await peer.request({"type": "login", "user": name, "password": "x"})
        report(reply.get("code") == "bad_name", f"registering {name!r}: {reply.get('code')}")
        peer.writer.close()

    # 5. a wrong-typed id never echoed, before login too
    peer = await Peer.open(port, tls, "nobody", login=False)
    await peer.raw(b'{"type":"login","id":false,"user":"x","password":"y"}\n')
    reply = (await peer.until(lambda f: f["type"] in ("error", "ok")))[-1]
    report("id" not in reply, f"login with id false: {reply.get('code')}, no id echoed")
    peer.writer.close()

    # 6. everyone still served, and what was confirmed is in their history
    reply = await victim.request({"type": "say", "text": f"still here {tag}"})
    newcomer = await Peer.open(port, tls, f"late{tag}")
    report(reply["type"] == "ok" and f"still here {tag}" in await victim.history()
           and (await newcomer.request({"type": "say", "text": "hi"}))["type"] == "ok",
           "the victim and a new login are served; confirmed messages are in history")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    asyncio.run(attacks(args.port, args.tls))
    failed = [what for ok, what in RESULTS if not ok]
    print(f"{len(RESULTS) - len(failed)} of {len(RESULTS)} held")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
