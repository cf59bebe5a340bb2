"""The floor under the server: CPU of bare loopback TCP writes, one frame to each of N sockets."""

from __future__ import annotations

import argparse
import os
import select
import socket
import sys
import time


def reader(port: int, count: int, expect: int) -> None:
    """Child process: connect `count` sockets and read until `expect` bytes came."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    poll = select.epoll()
    by_fd = {}
    for s in socks:
        s.setblocking(False)
        poll.register(s.fileno(), select.EPOLLIN)
        by_fd[s.fileno()] = s
    got = 0
    deadline = time.monotonic() + 120
    while got < expect and time.monotonic() < deadline:
        for fd, _ in poll.poll(1.0):
            try:
                got += len(by_fd[fd].recv(1 << 18))
            except BlockingIOError:
                pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sockets", type=int, default=500)
    p.add_argument("--size", type=int, default=120, help="bytes per write (a room_msg frame)")
    p.add_argument("--rounds", type=int, default=300, help="at most 10000")
    p.add_argument("--gap", type=float, default=0.01, help="seconds between rounds")
    args = p.parse_args(argv)
    rounds = max(1, min(args.rounds, 10_000))
    count = max(1, min(args.sockets, 5000))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(count)
    port = listener.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        listener.close()
        reader(port, count, count * args.size * rounds)
    conns = [listener.accept()[0] for _ in range(count)]
    for c in conns:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    fds = [c.fileno() for c in conns]
    data = b"x" * args.size
    write = os.write
    before = os.times()
    for _ in range(rounds):
        for fd in fds:
            write(fd, data)
        if args.gap:
            time.sleep(args.gap)
    after = os.times()
    os.waitpid(pid, 0)
    writes = count * rounds
    user = (after.user - before.user) / writes * 1e6
    system = (after.system - before.system) / writes * 1e6
    print(f"{writes} writes of {args.size} bytes to {count} sockets, {args.gap * 1e3:g} ms apart:"
          f" user {user:.2f} us + system {system:.2f} us per write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
