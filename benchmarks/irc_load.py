"""Scenario B through the IRC door (and through ngircd, and the play door), loopback only.

500 IRC clients in one channel, one of them saying 100 messages a second for 10 s:
the server's CPU while they are said and the latency of every delivery, printed
beside the play door's scenario B from the same sitting (benchmarks/load.py) and, if
ngircd is installed, beside ngircd's. The runs come one after the other: on a shared
machine their ratio swings with whatever else runs meanwhile (1.23x, 2.76x and 0.73x in
three runs of the same code); benchmarks/irc_pair.py alternates the doors of one server
window by window, and its ratio is the one to quote.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for where in (REPO, REPO / "benchmarks"):  # run as a script from a checkout
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from loadhost import (  # noqa: E402 - after the path fix above
    BENCH_LIMITS,
    SERVE_CODE,
    cpu_times,
    machine_busy_seconds,
    prepare_store,
    raise_fd_limit,
)
from loadrun import percentile  # noqa: E402

PASSWORD = "bench-password"
_SAID = re.compile(rb"PRIVMSG #lobby :?m(\d+)\r\n")
_READY = re.compile(rb" 366 ")  # end of NAMES: the client is in the channel


class IrcClient(asyncio.Protocol):
    """One bench connection: counts the sender's lines as they arrive."""

    def __init__(self, bench: IrcBench, nick: str) -> None:
        self.bench, self.nick = bench, nick
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.tail = b""
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.nick}: closed before joining"))

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(text.encode())

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        end = data.rfind(b"\n") + 1
        self.tail = data[end:]
        chunk = data[:end]
        if not self.ready.done():
            if b"PING" in chunk:
                for token in re.findall(rb"^PING :?(\S+)", chunk, re.M):
                    self.send(f"PONG :{token.decode()}\r\n")
            if _READY.search(chunk):
                self.ready.set_result(None)
            return
        if b"PING" in chunk:
            for token in re.findall(rb"^(?::\S+ )?PING :?(\S+)", chunk, re.M):
                self.send(f"PONG :{token.decode()}\r\n")
        now = time.perf_counter()
        for seq in _SAID.findall(chunk):
            self.bench.delivered(int(seq), now)


class IrcBench:
    def __init__(self, count: int) -> None:
        self.count = count
        self.sent_at: dict[int, float] = {}
        self.latencies: list[float] = []
        self.deliveries = 0

    def delivered(self, seq: int, now: float) -> None:
        sent = self.sent_at.get(seq)
        if sent is not None:
            self.latencies.append(now - sent)
            self.deliveries += 1


async def run_irc(port: int, pid: int, clients: int, rate: float, duration: float,
                  password: str | None, join: bool, senders: int = 1) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    bench = IrcBench(clients)
    conns: list[IrcClient] = []
    started = time.perf_counter()
    for start in range(0, clients, 50):
        batch = []
        for i in range(start, min(clients, start + 50)):
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
    joined = time.perf_counter() - started
    await asyncio.sleep(1.0)  # let the join storm settle
    receivers = len(conns) - 1  # every member but the one who said it
    (user0, sys0), busy0, t0 = cpu_times(pid), machine_busy_seconds(), time.perf_counter()
    total = int(rate * duration)
    for seq in range(total):
        due = t0 + seq / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        bench.sent_at[seq] = time.perf_counter()
        conns[seq % senders].send(f"PRIVMSG #lobby :m{seq}\r\n")
    deadline = time.perf_counter() + 10
    while bench.deliveries < total * receivers and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    window = time.perf_counter() - t0
    user1, sys1 = cpu_times(pid)
    cpu = user1 - user0 + sys1 - sys0
    busy = machine_busy_seconds() - busy0
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    values = sorted(bench.latencies)
    return {
        "clients": clients, "senders": senders, "joined_s": joined, "deliveries": bench.deliveries,
        "lost": total * receivers - bench.deliveries,
        "p50_ms": percentile(values, 0.50) * 1e3, "p99_ms": percentile(values, 0.99) * 1e3,
        "max_ms": (values[-1] if values else float("nan")) * 1e3,
        "server_core_pct": 100 * cpu / window,
        "server_user_s": user1 - user0, "server_sys_s": sys1 - sys0,
        "cpu_us_per_delivery": 1e6 * cpu / max(1, bench.deliveries),
        "others_core_pct": 100 * max(0.0, busy - cpu) / window,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def play_server(data_dir: Path, irc_port: int) -> subprocess.Popen[str]:
    (data_dir / "play.toml").write_text(BENCH_LIMITS)
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_CODE, "host", "--headless", "--host", "127.0.0.1",
         "--port", "0", "--no-tls", "--irc-port", str(irc_port), "--irc-plain",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True, cwd=str(REPO))
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("IRC on"):
            return proc
        if not line:
            break
    proc.kill()
    raise SystemExit("error: the play server did not start; see " + str(data_dir / "server.log"))


def ngircd_server(work: Path, port: int) -> subprocess.Popen[str] | None:
    binary = shutil.which("ngircd") or ("/usr/sbin/ngircd" if Path("/usr/sbin/ngircd").exists()
                                        else None)
    if binary is None:
        return None
    conf = work / "ngircd.conf"
    conf.write_text(f"""[Global]
Name = ngircd.bench
Info = bench
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 20
PingTimeout = 600
PongTimeout = 600
[Options]
PAM = no
DNS = no
Ident = no
[SSL]
""")
    proc = subprocess.Popen([binary, "-n", "-f", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    return None


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def play_door_figures(clients: int) -> dict[str, float]:
    """benchmarks/load.py's scenario B (the play door), run now, on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "b.json"
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "load.py"), "--scenario", "B",
                        "--loop", "asyncio", "--clients", str(clients), "--json", str(out)],
                       check=True, stdout=subprocess.DEVNULL, cwd=str(REPO))
        data = json.loads(out.read_text())
    return data.get("figures", data)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--no-play-door", action="store_true", help="skip the play door's run")
    p.add_argument("--no-ngircd", action="store_true", help="skip ngircd")
    p.add_argument("--ngircd-senders", type=int, default=50,
                   help="ngircd lets one client send only a few lines a second, so its run "
                        "(and a matching IRC door run) spreads the rate over this many senders")
    args = p.parse_args(argv)
    raise_fd_limit(args.clients * 3 + 100)
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data_dir = work / "play"
        data_dir.mkdir()
        prepare_store(data_dir, [f"i{i}" for i in range(args.clients)], PASSWORD, "lobby",
                      with_tokens=False)
        irc_port = free_port()
        proc = play_server(data_dir, irc_port)
        try:
            rows.append(("play, IRC door", asyncio.run(run_irc(
                irc_port, proc.pid, args.clients, args.rate, args.duration, PASSWORD, False))))
            if not args.no_ngircd:
                rows.append((f"play, IRC door, {args.ngircd_senders} senders", asyncio.run(run_irc(
                    irc_port, proc.pid, args.clients, args.rate, args.duration, PASSWORD, False,
                    args.ngircd_senders))))
        finally:
            stop(proc)
        if not args.no_ngircd:
            port = free_port()
            ngircd = ngircd_server(work, port)
            if ngircd is None:
                print("ngircd is not installed (apt-get install ngircd): no figure for it")
            else:
                try:
                    rows.append((f"ngircd, {args.ngircd_senders} senders", asyncio.run(run_irc(
                        port, ngircd.pid, args.clients, args.rate, args.duration, None, True,
                        args.ngircd_senders))))
                finally:
                    stop(ngircd)
    if not args.no_play_door:
        rows.append(("play, play door (load.py B)", play_door_figures(args.clients)))
    print(f"scenario B: {args.clients} clients in one room, 1 sender at {args.rate:g} msg/s "
          f"for {args.duration:g} s (loopback; load generator on the same machine)")
    print(f"{'server':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU %core':>10}"
          f" {'user s':>7} {'sys s':>7} {'us/deliv':>9} {'lost':>6} {'others %':>9}")
    for name, fig in rows:
        print(f"{name:34} {fig.get('p50_ms', float('nan')):8.1f} {fig.get('p99_ms', 0):8.1f}"
              f" {fig.get('max_ms', float('nan')):8.1f} {fig.get('server_core_pct', 0):10.1f}"
              f" {fig.get('server_user_s', float('nan')):7.2f}"
              f" {fig.get('server_sys_s', float('nan')):7.2f}"
              f" {fig.get('cpu_us_per_delivery', float('nan')):9.2f}"
              f" {int(fig.get('lost', 0)):6d} {fig.get('others_core_pct', float('nan')):9.1f}")
    names = dict(rows)
    irc, play = names.get("play, IRC door"), names.get("play, play door (load.py B)")
    if irc and play and play.get("server_core_pct"):
        print(f"IRC door / play door: CPU {irc['server_core_pct'] / play['server_core_pct']:.2f}x,"
              f" p99 {irc['p99_ms'] / play['p99_ms']:.2f}x (target: within 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
