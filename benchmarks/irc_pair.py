"""Scenario B through the IRC door and the play door of ONE server, in alternating windows.

Comparing two runs one after the other on a shared machine compares the machine's
moods as much as the doors (other people's test runs come and go by the minute). Here
one `play host` serves both doors: 500 IRC clients sit in #lobby, 500 play clients in
another room (so neither hears the other's chat), and 10-second windows of 100
messages a second alternate between the two doors, round after round, with ngircd
(if installed) as a third party in the same rounds. Each window's server CPU (user +
system, of that server process alone) and delivery latency are printed, and the IRC
door's CPU over the play door's per round, with the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for where in (REPO, REPO / "benchmarks"):  # run as a script from a checkout
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from irc_load import (  # noqa: E402 - after the path fix above
    PASSWORD,
    IrcBench,
    IrcClient,
    free_port,
    ngircd_server,
    stop,
)
from loadhost import (  # noqa: E402
    BENCH_LIMITS,
    SERVE_CODE,
    cpu_times,
    machine_busy_seconds,
    prepare_store,
    raise_fd_limit,
)
from loadrun import percentile  # noqa: E402

PLAY_ROOM = "bench"
_PLAY_SAID = re.compile(rb'"type":"room_msg"[^\n]*?"text":"m(\d+)"')
_PLAY_READY = b'{"type":"room","room":"' + PLAY_ROOM.encode() + b'"'


def write_calls(pid: int) -> int:
    """Write syscalls the process has made (Linux /proc/PID/io), 0 where unknown."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("syscw:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PlayClient(asyncio.Protocol):
    """One play-door connection (JSON Lines, resumed with a token): counts the bench lines."""

    def __init__(self, bench: IrcBench, token: str) -> None:
        self.bench, self.token = bench, token
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send(b'{"type":"hello","version":1,"client":"bench"}\n'
                  b'{"type":"resume","id":1,"token":"%s"}\n' % self.token.encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("play client closed before its room"))

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        end = data.rfind(b"\n") + 1
        self.tail = data[end:]
        chunk = data[:end]
        if not self.ready.done():
            if _PLAY_READY in chunk:
                self.ready.set_result(None)
            return
        now = time.perf_counter()
        for seq in _PLAY_SAID.findall(chunk):
            self.bench.delivered(int(seq), now)


class Party:
    """One server and its connected clients; `say(client, seq)` sends bench message `seq`."""

    def __init__(self, name: str, pid: int, clients: list, say: Callable[[object, int], None],
                 echo: bool) -> None:
        self.name, self.pid, self.clients, self.say = name, pid, clients, say
        self.receivers = len(clients) - (0 if echo else 1)  # the play door echoes the sender's
        self.bench = IrcBench(len(clients))


async def window(party: Party, rate: float, duration: float, senders: int) -> dict[str, float]:
    """`rate` messages a second for `duration` seconds from `senders` clients; the costs."""
    bench = party.bench = IrcBench(len(party.clients))
    for client in party.clients:
        client.bench = bench
    receivers = party.receivers
    writes0 = write_calls(party.pid)
    (user0, sys0), busy0, t0 = cpu_times(party.pid), machine_busy_seconds(), time.perf_counter()
    total = int(rate * duration)
    for seq in range(total):
        delay = t0 + seq / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        bench.sent_at[seq] = time.perf_counter()
        party.say(party.clients[seq % senders], seq)
    deadline = time.perf_counter() + 10
    while bench.deliveries < total * receivers and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    wall = time.perf_counter() - t0
    user1, sys1 = cpu_times(party.pid)
    writes = write_calls(party.pid) - writes0
    cpu = user1 - user0 + sys1 - sys0
    values = sorted(bench.latencies)
    return {"cpu_s": cpu, "user_s": user1 - user0, "sys_s": sys1 - sys0,
            "core_pct": 100 * cpu / wall, "deliveries": bench.deliveries,
            "lost": total * receivers - bench.deliveries,
            "us_per_delivery": 1e6 * cpu / max(1, bench.deliveries),
            # A server that fell behind writes several lines per write: cheaper per line.
            "per_write": bench.deliveries / writes if writes else float("nan"),
            "p50_ms": percentile(values, 0.5) * 1e3, "p99_ms": percentile(values, 0.99) * 1e3,
            "others_pct": 100 * max(0.0, machine_busy_seconds() - busy0 - cpu) / wall}


async def connect_irc(port: int, count: int, password: str | None, join: bool) -> list:
    loop = asyncio.get_running_loop()
    bench = IrcBench(count)
    conns: list[IrcClient] = []
    for start in range(0, count, 50):
        batch = []
        for i in range(start, min(count, start + 50)):
            _, conn = await loop.create_connection(lambda i=i: IrcClient(bench, f"i{i}"),
                                                   "127.0.0.1", port)
            lines = ([f"PASS {password}\r\n"] if password else []) + [
                f"NICK i{i}\r\n", f"USER i{i} 0 * :bench {i}\r\n"]
            if join:
                lines.append("JOIN #lobby\r\n")
            conn.send("".join(lines))
            batch.append(conn)
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in batch)), 300)
        conns += batch
    return conns


async def connect_play(port: int, tokens: list[str]) -> list:
    loop = asyncio.get_running_loop()
    bench = IrcBench(len(tokens))
    conns: list[PlayClient] = []
    for start in range(0, len(tokens), 100):
        batch = []
        for token in tokens[start:start + 100]:
            _, conn = await loop.create_connection(lambda t=token: PlayClient(bench, t),
                                                   "127.0.0.1", port)
            batch.append(conn)
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in batch)), 300)
        conns += batch
    return conns


def start_play(data_dir: Path, irc_port: int) -> tuple[subprocess.Popen[str], int]:
    """`play host` with the play door (no TLS) and the IRC door (plain): (process, play port)."""
    # The bench clients only listen: no pings in the minutes a run takes.
    (data_dir / "play.toml").write_text(BENCH_LIMITS + "ping_after = 3600.0\n")
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_CODE, "host", "--headless", "--host", "127.0.0.1",
         "--port", "0", "--no-tls", "--irc-port", str(irc_port), "--irc-plain",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, cwd=str(REPO))
    assert proc.stdout is not None
    play_port = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if found:
            play_port = int(found[1])
        if line.startswith("IRC on") and play_port:
            return proc, play_port
        if not line:
            break
    proc.kill()
    raise SystemExit("error: the play server did not start; see " + str(data_dir / "server.log"))


async def run(args: argparse.Namespace, work: Path) -> list[tuple[int, str, dict[str, float]]]:
    data_dir = work / "play"
    data_dir.mkdir()
    irc_users = [f"i{i}" for i in range(args.clients)]
    play_users = [f"p{i}" for i in range(args.clients)]
    tokens = prepare_store(data_dir, play_users, PASSWORD, PLAY_ROOM, with_tokens=True)
    prepare_store(data_dir, irc_users, PASSWORD, "lobby", with_tokens=False)
    irc_port = free_port()
    proc, play_port = start_play(data_dir, irc_port)
    ngircd = None if args.no_ngircd else ngircd_server(work, ngircd_port := free_port())
    rows: list[tuple[int, str, dict[str, float]]] = []
    try:
        irc = await connect_irc(irc_port, args.clients, PASSWORD, False)
        play = await connect_play(play_port, [tokens[u] for u in play_users])
        parties = [
            (Party("IRC door", proc.pid, irc,
                   lambda c, s: c.send(f"PRIVMSG #lobby :m{s}\r\n"), echo=False), 1),
            (Party("play door", proc.pid, play, lambda c, s: c.send(
                b'{"type":"say","id":%d,"text":"m%d"}\n' % (10 + s, s)), echo=True), 1),
        ]
        if ngircd is not None:
            nconns = await connect_irc(ngircd_port, args.clients, None, True)
            parties.append((Party("ngircd", ngircd.pid, nconns,
                                  lambda c, s: c.send(f"PRIVMSG #lobby :m{s}\r\n"), echo=False),
                            args.ngircd_senders))
            parties.append((parties[0][0], args.ngircd_senders))
        elif args.no_ngircd is False:
            print("ngircd is not installed (apt-get install ngircd): no figure for it")
        await asyncio.sleep(2.0)  # the logins' presence and commits settle
        for round_ in range(1, args.rounds + 1):
            for party, senders in parties:
                fig = await window(party, args.rate, args.duration, senders)
                label = party.name + (f", {senders} senders" if senders > 1 else "")
                rows.append((round_, label, fig))
                print(f"round {round_} {label:24} CPU {fig['core_pct']:5.1f}% of a core"
                      f" ({fig['user_s']:.2f} user + {fig['sys_s']:.2f} sys s)"
                      f" {fig['us_per_delivery']:5.2f} us/delivery"
                      f" ({fig['per_write']:.2f} per write) p99 {fig['p99_ms']:6.1f} ms"
                      f" lost {fig['lost']} others {fig['others_pct']:.0f}%", flush=True)
                await asyncio.sleep(1.0)
    finally:
        stop(proc)
        if ngircd is not None:
            stop(ngircd)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-ngircd", action="store_true")
    p.add_argument("--ngircd-senders", type=int, default=50,
                   help="ngircd lets one client send only a few lines a second, so its windows"
                        " (and an IRC door window beside them) spread the rate over this many")
    args = p.parse_args(argv)
    raise_fd_limit(args.clients * 8 + 100)
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(run(args, Path(tmp)))
    print(f"\nscenario B: {args.clients} clients per party, {args.rate:g} msg/s for "
          f"{args.duration:g} s per window, {args.rounds} rounds (loopback; the load generator"
          " shares the machine)")
    print(f"{'server':26} {'CPU %core':>10} {'us/deliv':>9} {'per write':>9} {'p50 ms':>8}"
          f" {'p99 ms':>8}   (medians of the rounds)")
    labels = list(dict.fromkeys(label for _, label, _ in rows))
    for label in labels:
        figs = [f for _, name, f in rows if name == label]
        print(f"{label:26} {statistics.median(f['core_pct'] for f in figs):10.1f}"
              f" {statistics.median(f['us_per_delivery'] for f in figs):9.2f}"
              f" {statistics.median(f['per_write'] for f in figs):9.2f}"
              f" {statistics.median(f['p50_ms'] for f in figs):8.1f}"
              f" {statistics.median(f['p99_ms'] for f in figs):8.1f}")
    by_round: dict[int, dict[str, dict[str, float]]] = {}
    for round_, label, fig in rows:
        by_round.setdefault(round_, {})[label] = fig
    ratios = [r["IRC door"]["us_per_delivery"] / r["play door"]["us_per_delivery"]
              for r in by_round.values() if "IRC door" in r and "play door" in r]
    if ratios:
        print("IRC door / play door, CPU per delivery, per round: "
              + ", ".join(f"{x:.2f}x" for x in ratios)
              + f"; median {statistics.median(ratios):.2f}x (target: within 1.2x)")
        per_write = [(r["IRC door"]["us_per_delivery"] * r["IRC door"]["per_write"])
                     / (r["play door"]["us_per_delivery"] * r["play door"]["per_write"])
                     for r in by_round.values() if "IRC door" in r and "play door" in r]
        print("IRC door / play door, CPU per write (one per member per pass), per round: "
              + ", ".join(f"{x:.2f}x" for x in per_write)
              + f"; median {statistics.median(per_write):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
