"""What an attacker on loopback gets from a `play host` with default limits: prints the figures.

  guess     guesses a second possible against one account (many addresses, many connections)
  flood     a real login's delay while others flood the server with logins
  stuck     memory per 1000 connections stuck before login holding a partial frame

Only 127.0.0.0/8 is ever contacted; every run is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
PER_ADDRESS = 20  # the default cap: an attacker spreads over addresses to pass it
TARGETS = {"guesses_per_s": 1.0, "login_delay_max_s": 2.0,
           "stuck_mib_per_1000_plain": 8.0, "stuck_mib_per_1000_tls": 32.0}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Host:
    """`play host --headless` in a fresh data directory, default limits unless told."""

    def __init__(self, tls: bool, loop: str, *flags: str, tuning: dict[str, str] | None = None,
                 ) -> None:
        from loadhost import SERVE_CODE  # sets tuning constants, then runs play

        self.tmp = tempfile.TemporaryDirectory(prefix="play-attack-")
        env = dict(os.environ, PYTHONUNBUFFERED="1", PLAY_LOOP=loop,
                   PLAY_BENCH_SET=json.dumps(tuning or {}))
        env.pop("PLAY_PASSWORD", None)
        args = [sys.executable, "-c", SERVE_CODE, "host", "--headless", "--port", "0",
                "--data-dir", self.tmp.name, *(() if tls else ("--no-tls",)), *flags]
        self.log = open(Path(self.tmp.name) / "server.out", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     stdin=subprocess.DEVNULL, env=env, cwd=str(REPO))
        self.tls = _client_context() if tls else None
        self.port = 0
        self.loop = loop
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.port:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("loop:"):
                self.loop = line.split(":", 1)[1].strip()
            if line.startswith("play server listening on"):
                self.port = int(line.split(":")[1].split()[0])
        if not self.port:
            self.stop()
            raise SystemExit("error: the server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        self.tmp.cleanup()


def _client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def source(n: int) -> str:
    """The n-th attacking connection's address: 20 per address, from 127.0.1.0 up."""
    k = n // PER_ADDRESS
    return f"127.0.{1 + k // 250}.{1 + k % 250}"


class Conn:
    """A raw protocol connection (what a script would use)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._id = 0

    @classmethod
    async def open(cls, host: Host, src: str | None = None) -> Conn:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", host.port, ssl=host.tls, local_addr=(src, 0) if src else None)
        return cls(reader, writer)

    def write(self, obj: dict[str, Any]) -> int:
        self._id += 1
        self.writer.write(json.dumps({**obj, "id": self._id}).encode() + b"\n")
        return self._id

    async def reply(self, msg_id: int, timeout: float = 30) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                line = await self.reader.readline()
                if not line:
                    return {"type": "closed"}
                frame = json.loads(line)
                if frame.get("id") == msg_id or frame.get("type") == "bye":
                    return frame

    async def hello(self) -> None:
        self.writer.write(b'{"type":"hello","version":1}\n')
        async with asyncio.timeout(30):
            while json.loads(await self.reader.readline()).get("type") != "welcome":
                pass

    async def login(self, user: str, password: str) -> dict[str, Any]:
        return await self.reply(self.write({"type": "login", "user": user, "password": password}))

    def close(self) -> None:
        self.writer.close()


async def register(host: Host, user: str, password: str) -> None:
    conn = await Conn.open(host)
    await conn.hello()
    reply = await conn.login(user, password)
    assert reply.get("type") == "ok", reply
    conn.close()


# ---------------------------------------------------------------- guessing


async def guess(host: Host, seconds: float, connections: int) -> dict[str, Any]:
    """Every connection guesses alice's password as fast as the server answers."""
    await register(host, "alice", "the-real-one")
    checked: list[float] = []  # when each guess was really checked (bad_password)
    start = time.monotonic()
    end = start + seconds
    counts = {"throttled": 0, "busy": 0, "other": 0}

    async def attacker(n: int) -> None:
        while time.monotonic() < end:
            try:
                conn = await Conn.open(host, source(n))
                await conn.hello()
                while time.monotonic() < end:
                    reply = await conn.login("alice", secrets.token_hex(4))
                    code = reply.get("code")
                    if code == "bad_password":
                        checked.append(time.monotonic() - start)
                    elif reply.get("type") in ("bye", "closed"):
                        break
                    elif code in counts:
                        counts[code] += 1
                    else:
                        counts["other"] += 1
                conn.close()
            except (OSError, TimeoutError, ValueError):
                await asyncio.sleep(0.1)

    await asyncio.gather(*(attacker(n) for n in range(connections)))
    half = [t for t in checked if t >= seconds / 2]
    return {"guess_seconds": seconds, "guess_connections": connections,
            "guess_addresses": (connections + PER_ADDRESS - 1) // PER_ADDRESS,
            "guesses": len(checked), "guesses_per_s": len(checked) / seconds,
            "guesses_per_s_second_half": len(half) / (seconds / 2),
            "guess_refusals": counts}


# ---------------------------------------------------------------- login flood


async def flood(host: Host, seconds: float, per_wave: int, hang_up: bool,
                addresses: int | None) -> dict[str, Any]:
    """Waves of connections that log in (and hang up, or stay) while a real user logs in.

    Half the flood registers new names, half guesses existing accounts. It comes from
    `addresses` addresses, or (None) from fresh ones every wave, as a botnet would.
    """
    for n in range(5):
        await register(host, f"member{n}", "pw")
    await register(host, "real", "real-password")
    delays: list[float] = []
    greeted: list[float] = []  # of which: connected and welcomed (no password check yet)
    checked: list[float] = []  # ... and the last login request's round trip
    busy = 0  # 'busy' answers the real user had to retry after
    sent = 0
    stop = time.monotonic() + seconds
    held: list[Conn] = []

    async def one(n: int) -> None:
        nonlocal sent
        try:
            conn = await Conn.open(host, source(n % (addresses * PER_ADDRESS) if addresses
                                                else n))
            conn.writer.write(b'{"type":"hello","version":1}\n')
            user = f"member{n % 5}" if n % 2 else f"new{secrets.token_hex(4)}"
            conn.write({"type": "login", "user": user, "password": secrets.token_hex(4)})
            sent += 1
            if hang_up:
                await conn.writer.drain()
                conn.close()
            else:
                held.append(conn)
        except (OSError, TimeoutError):
            pass

    async def waves() -> None:
        wave = 0
        while time.monotonic() < stop:
            await asyncio.gather(*(one(wave * per_wave + k) for k in range(per_wave)))
            wave += 1
            if not hang_up:
                for conn in held:
                    conn.close()
                held.clear()
            await asyncio.sleep(0.25)

    async def real_user() -> None:
        nonlocal busy
        while time.monotonic() < stop:
            t = time.monotonic()
            conn = await Conn.open(host)
            await conn.hello()
            greeted.append(time.monotonic() - t)
            for retry in range(6):  # as the play client does on 'busy'
                asked = time.monotonic()
                reply = await conn.login("real", "real-password")
                if reply.get("code") != "busy":
                    break
                busy += 1
                await asyncio.sleep(min(2 ** retry, 4))
            if reply.get("type") == "ok":
                delays.append(time.monotonic() - t)
                checked.append(time.monotonic() - asked)
            conn.close()
            await asyncio.sleep(0.5)

    await asyncio.gather(waves(), real_user())
    how = flood_name(hang_up, addresses)
    return {f"{how}_logins_sent": sent, f"{how}_real_logins": len(delays),
            f"{how}_hello_p50_s": statistics.median(greeted) if greeted else None,
            f"{how}_check_p50_s": statistics.median(checked) if checked else None,
            f"{how}_real_busy": busy,
            f"{how}_delay_p50_s": statistics.median(delays) if delays else None,
            f"{how}_delay_max_s": max(delays) if delays else None}


def flood_name(hang_up: bool, addresses: int | None) -> str:
    return (f"flood_{'hang_up' if hang_up else 'stay'}_"
            f"{f'{addresses}_addresses' if addresses else 'fresh_addresses'}")


FLOODS = [(hang_up, addresses) for addresses in (20, None) for hang_up in (True, False)]


# ---------------------------------------------------------------- stuck connections


async def stuck(host: Host, count: int, partial: int) -> dict[str, Any]:
    """Connections that say hello, then hold `partial` bytes of a login frame."""
    await asyncio.sleep(1.0)
    before = rss_kib(host.pid)
    conns: list[Conn] = []
    for n in range(count):
        conn = await Conn.open(host, source(n))
        await conn.hello()
        conn.writer.write(b'{"type":"login","id":1,"user":"x","password":"'
                          + b"p" * max(0, partial - 45))
        conns.append(conn)
    await asyncio.sleep(2.0)
    after = rss_kib(host.pid)
    alive = sum(1 for c in conns if not c.reader.at_eof())
    for conn in conns:
        conn.close()
    kind = "tls" if host.tls else "plain"
    return {f"stuck_{kind}_connections": count, f"stuck_{kind}_alive": alive,
            f"stuck_{kind}_partial_bytes": partial,
            f"stuck_mib_per_1000_{kind}": (after - before) / 1024 * 1000 / count}


# ---------------------------------------------------------------- the run


def report(fig: dict[str, Any]) -> str:
    def f(key: str, fmt: str = "{:.2f}") -> str:
        value = fig.get(key)
        return "n/a" if value is None else fmt.format(value)

    def met(key: str, target: str | None = None) -> str:
        value, limit = fig.get(key), TARGETS[target or key]
        if value is None:
            return ""
        return "  (target < {:g}: {})".format(limit, "met" if value < limit else "MISSED")

    lines = [f"loop: {fig.get('loop')}"]
    if "guesses" in fig:
        lines.append(f"guessing one account: {fig['guesses']} real checks in "
                     f"{fig['guess_seconds']:g} s from {fig['guess_connections']} connections on "
                     f"{fig['guess_addresses']} addresses = {f('guesses_per_s', '{:.3f}')}/s"
                     f"{met('guesses_per_s')}; second half "
                     f"{f('guesses_per_s_second_half', '{:.3f}')}/s; refused: "
                     f"{fig['guess_refusals']}")
    for hang_up, addresses in FLOODS:
        how = flood_name(hang_up, addresses)
        key = f"{how}_delay_max_s"
        if key in fig:
            lines.append(f"login flood ({how[6:].replace('_', ' ')}): "
                         f"{fig[f'{how}_logins_sent']} logins sent; a real login took p50 "
                         f"{f(f'{how}_delay_p50_s')} s (hello p50 {f(f'{how}_hello_p50_s')} s, "
                         f"login request p50 {f(f'{how}_check_p50_s')} s, "
                         f"{fig[f'{how}_real_busy']} busy), max {f(key)} s over "
                         f"{fig[f'{how}_real_logins']} logins{met(key, 'login_delay_max_s')}")
    for kind in ("plain", "tls"):
        key = f"stuck_mib_per_1000_{kind}"
        if key in fig:
            lines.append(f"stuck before login ({kind}): {fig[f'stuck_{kind}_alive']} of "
                         f"{fig[f'stuck_{kind}_connections']} held, "
                         f"{fig[f'stuck_{kind}_partial_bytes']} bytes each: "
                         f"{f(key)} MiB per 1000{met(key)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="guess,flood,stuck", help="which attacks, comma-separated")
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    p.add_argument("--seconds", type=float, default=60.0, help="length of guess and flood runs")
    p.add_argument("--connections", type=int, default=200, help="guessing connections")
    p.add_argument("--wave", type=int, default=200, help="flood logins per wave (4 a second)")
    p.add_argument("--stuck", type=int, default=1000, help="stuck connections")
    p.add_argument("--partial", type=int, default=4000, help="bytes of the partial frame")
    p.add_argument("--server-set", action="append", default=[], metavar="NAME=VALUE",
                   help="set a server tuning constant (as load.py does)")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    tuning = dict(item.split("=", 1) for item in args.server_set)
    if not 1 <= args.connections <= 5000 or not 1 <= args.stuck <= 5000 or args.seconds > 600:
        raise SystemExit("error: at most 5000 connections and 600 s")
    fig: dict[str, Any] = {"loop": args.loop}
    only = set(args.only.split(","))

    def with_host(tls: bool, job: Callable[[Host], Any], *flags: str) -> None:
        host = Host(tls, args.loop, *flags, tuning=tuning)
        fig["loop"] = host.loop
        try:
            fig.update(asyncio.run(asyncio.wait_for(job(host), args.seconds + 120)))
        finally:
            host.stop()

    if "guess" in only:
        with_host(False, lambda h: guess(h, args.seconds, args.connections))
    if "flood" in only:
        for hang_up, addresses in FLOODS:
            with_host(False, lambda h, up=hang_up, a=addresses: flood(
                h, args.seconds / 2, args.wave, up, a))
    if "stuck" in only:
        for tls in (False, True):
            with_host(tls, lambda h: stuck(h, args.stuck, args.partial))
    print(report(fig))
    if args.json:
        Path(args.json).write_text(json.dumps(fig, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
