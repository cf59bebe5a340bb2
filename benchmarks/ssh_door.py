"""The SSH door's figures: memory per idle session, CPU per screen for one room message.

N SSH sessions (default 200) log in with their keys (no password hashing) and open a
pty at 80x24, all in #lobby; then a play-door client says M messages and the bench
waits until every screen has drawn each. The server runs in a child process: its
memory is read from /proc (RSS, after the connections alone and after their screens)
and its CPU time split by the server itself into the models' update, the drawing
(views, canvas, ANSI diff) and the SSH channel writes (packets and their encryption).

    flock /tmp/bench.lock python benchmarks/ssh_door.py [--sessions 200] [--messages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for where in (REPO, REPO / "benchmarks"):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

from loadhost import cpu_seconds, prepare_store, raise_fd_limit, rss_kib  # noqa: E402

PASSWORD = "bench-password"
LIMITS = dict(flood_burst=1_000_000, flood_rate=1e6, max_per_address=100_000,
              registrations_per_hour=100_000, hash_queue=100_000, login_timeout=600.0,
              ping_after=3600.0)


# ---------------------------------------------------------------- the server (child process)

def serve(data_dir: Path) -> None:
    """Runtime + play door (plain) + SSH door; timing the door's three costs; SIGUSR1 prints."""
    import gameserver.doors.ssh_channel as channel_mod
    import gameserver.doors.ssh_client as client_mod
    from gameserver.doors.jsonlines import JSONLinesDoor
    from gameserver.doors.ssh import SSHDoor
    from gameserver.runtime import Runtime
    from gameserver.settings import Settings

    totals = {"update": 0.0, "draw": 0.0, "write": 0.0, "frames": 0, "writes": 0}
    clock = time.thread_time  # the loop's thread only: what the loop spent

    event = client_mod.SSHClient.event

    def timed_event(self, e):  # type: ignore[no-untyped-def]
        start = clock()
        try:
            return event(self, e)
        finally:
            totals["update"] += clock() - start

    client_mod.SSHClient.event = timed_event  # type: ignore[method-assign]
    flush = channel_mod.SSHChannel.flush

    def timed_flush(self):  # type: ignore[no-untyped-def]
        view = self.view
        if view is not None and hasattr(view, "frame"):
            frame = view.frame

            def timed_frame() -> str:
                start = clock()
                try:
                    return frame()
                finally:
                    totals["draw"] += clock() - start
                    totals["frames"] += 1

            view.frame = timed_frame
        chan = self.chan
        if chan is not None and not hasattr(chan, "_bench_write"):
            write = chan.write

            def timed_write(data: bytes) -> None:
                start = clock()
                try:
                    write(data)
                finally:
                    totals["write"] += clock() - start
                    totals["writes"] += 1

            chan._bench_write = True
            chan.write = timed_write
        try:
            return flush(self)
        finally:
            if view is not None and hasattr(view, "frame"):
                del view.frame

    channel_mod.SSHChannel.flush = timed_flush  # type: ignore[method-assign]

    async def main() -> None:
        runtime = Runtime(data_dir=data_dir, settings=Settings(**LIMITS))
        await runtime.start()
        play = JSONLinesDoor("127.0.0.1", 0, settings=runtime.settings, tls=False)
        await play.start(runtime, data_dir)
        ssh = SSHDoor("127.0.0.1", 0)
        await ssh.start(runtime)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda: print(
            "stats:", json.dumps(totals), flush=True))
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(
            runtime.stop("the bench is over")))
        print(f"ports: {play.port} {ssh.port}", flush=True)
        await runtime.wait_stopped()

    asyncio.run(main())


# ---------------------------------------------------------------- the clients (this process)

def progress(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


class Screen:
    """One SSH session's bytes, and the markers seen in them."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.changed = asyncio.Event()


async def wait_for(screens: list[Screen], marker: bytes, timeout: float) -> None:
    async def one(screen: Screen) -> None:
        while marker not in screen.data:
            screen.changed.clear()
            await screen.changed.wait()

    await asyncio.wait_for(asyncio.gather(*(one(s) for s in screens)), timeout)


async def bench(n: int, messages: int) -> dict[str, float]:
    import asyncssh

    from gameserver.sshkeys import SSHKeyStore, parse_key

    raise_fd_limit(4 * n + 100)
    data_dir = Path(tempfile.mkdtemp(prefix="play-ssh-bench-"))
    data_dir.chmod(0o700)
    users = [f"s{i}" for i in range(n)] + ["speaker"]
    prepare_store(data_dir, users, PASSWORD, "lobby", with_tokens=False)
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(n)]
    import sqlite3

    db = sqlite3.connect(str(data_dir / "play.db"), isolation_level=None)
    table = SSHKeyStore(db)
    for user, key in zip(users, keys, strict=False):
        table.add(user, parse_key(key.export_public_key().decode()))
    db.close()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=str(REPO), env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ports:"):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    play_port, ssh_port = map(int, line.split()[1:])
    pid = proc.pid

    def stats() -> dict[str, float]:
        proc.send_signal(signal.SIGUSR1)
        while True:
            got = proc.stdout.readline()  # type: ignore[union-attr]
            if got.startswith("stats:"):
                return json.loads(got.split(":", 1)[1])

    try:
        await asyncio.sleep(1.0)
        rss0 = rss_kib(pid)
        conns: list[object] = []
        screens = [Screen() for _ in range(n)]
        # The connections alone first (logged in, no channel), then their screens.
        for i in range(0, n, 20):
            batch = [asyncssh.connect("127.0.0.1", ssh_port, username=users[j],
                                      client_keys=[keys[j]], known_hosts=None, agent_path=None,
                                      preferred_auth="publickey") for j in range(i, min(n, i + 20))]
            conns += await asyncio.gather(*batch)
        await asyncio.sleep(2.0)
        rss1 = rss_kib(pid)
        progress(f"{n} connections logged in")

        async def screen_for(conn: object, screen: Screen) -> None:
            class Reader(asyncssh.SSHClientSession):  # type: ignore[type-arg]
                def data_received(self, data: bytes, datatype: object) -> None:
                    screen.data += data
                    if len(screen.data) > 65536:
                        del screen.data[:-4096]
                    screen.changed.set()

            await conn.create_session(Reader, term_type="xterm-256color",  # type: ignore[attr-defined]
                                      term_size=(80, 24), encoding=None)

        for i in range(0, n, 20):
            await asyncio.gather(*(screen_for(c, s) for c, s in
                                   zip(conns[i:i + 20], screens[i:i + 20], strict=True)))
        await wait_for(screens, b"#lobby", 60)
        await asyncio.sleep(2.0)
        rss2 = rss_kib(pid)
        progress(f"{n} screens drawn")

        # One play-door speaker in the lobby.
        reader, writer = await asyncio.open_connection("127.0.0.1", play_port)
        writer.write(b'{"type":"hello","version":1}\n' + json.dumps(
            {"type": "login", "id": 1, "user": "speaker", "password": PASSWORD}).encode() + b"\n")
        while b'"id":1' not in await asyncio.wait_for(reader.readline(), 60):
            pass  # logged in (a big room tells of comings and goings in batches, not names)
        await asyncio.sleep(3.0)  # the screens settled
        idle_start, idle_cpu = time.monotonic(), cpu_seconds(pid)
        await asyncio.sleep(2.0)
        idle_rate = (cpu_seconds(pid) - idle_cpu) / (time.monotonic() - idle_start)
        before, cpu_before, wall = stats(), cpu_seconds(pid), time.monotonic()
        for k in range(messages):
            marker = f"zq{k}zq"
            writer.write(json.dumps({"type": "say", "id": 10 + k,
                                     "text": f"{marker} hello everyone"}).encode() + b"\n")
            await writer.drain()
            await wait_for(screens, marker.encode(), 60)
        wall = time.monotonic() - wall
        progress(f"{messages} messages on every screen in {wall:.1f} s")
        cpu = cpu_seconds(pid) - cpu_before - idle_rate * wall
        after = stats()
        writer.close()
        for conn in conns:
            conn.close()  # type: ignore[attr-defined]
        per = messages * n
        cipher = conns[0].get_extra_info("recv_cipher")  # type: ignore[attr-defined]
        return {
            "cipher": str(cipher),
            "sessions": n, "messages": messages,
            "rss_start_mib": rss0 / 1024,
            "connection_kib": (rss1 - rss0) / n, "session_kib": (rss2 - rss1) / n,
            "cpu_ms_per_session": 1000 * cpu / per,
            "update_ms_per_session": 1000 * (after["update"] - before["update"]) / per,
            "draw_ms_per_session": 1000 * (after["draw"] - before["draw"]) / per,
            "ssh_write_ms_per_session": 1000 * (after["write"] - before["write"]) / per,
            "frames": after["frames"] - before["frames"],
            "writes": after["writes"] - before["writes"],
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    load = os.getloadavg()
    figures = asyncio.run(bench(args.sessions, args.messages))
    print(f"SSH door, {figures['sessions']} sessions at 80x24 in #lobby, "
          f"{figures['messages']} room messages (load average {load[0]:.1f} at the start)")
    print(f"  memory per connection (SSH + logged-in hub session): "
          f"{figures['connection_kib']:.0f} KiB")
    print(f"  memory per screen beyond the connection (model, controller, canvas, channel): "
          f"{figures['session_kib']:.0f} KiB   (target < 1024 KiB)")
    print(f"  server CPU per session per room message: {figures['cpu_ms_per_session']:.3f} ms"
          f"   (target < 0.5 ms with encryption)")
    print(f"    model update {figures['update_ms_per_session']:.3f} ms, drawing + ANSI diff "
          f"{figures['draw_ms_per_session']:.3f} ms, SSH channel writes (packets, encryption) "
          f"{figures['ssh_write_ms_per_session']:.3f} ms ({figures['cipher']})")
    print(f"  frames drawn: {figures['frames']}, channel writes: {figures['writes']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
