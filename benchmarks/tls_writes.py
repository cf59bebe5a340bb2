"""The cost of one small write per connection, plain vs TLS, by each write path: prints us/write.

  plain       os.write of the frame to the socket (the play door's flush)
  tls-layer   through asyncio's TLS layer: transport.write (the path before write_now)
  tls-direct  listener._SmallSSLProtocol.write_now: one record straight to the socket

Loopback TCP pairs; the server side is the listener's own TLS layer on the chosen loop;
the clients are raw sockets read (and dropped) between rounds, untimed, so only the
writes' CPU is measured (thread CPU time: user and system).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gameserver import listener  # noqa: E402
from gameserver.doors.tls import server_tls  # noqa: E402

FRAME = b'{"type":"room_msg","room":"lobby","nick":"n1","user":"u1","text":"' + b"x" * 60 \
    + b'","id":123456,"time":1733000000.0}\n'


class Sink(asyncio.Protocol):
    pass


def drain(socks: list[socket.socket]) -> None:
    """Read and drop what the clients got, so the server's writes never block."""
    for sock in socks:
        try:
            while sock.recv(1 << 20):
                pass
        except BlockingIOError:
            pass


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback TCP pair (server side, client side), as the door's are."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    for sock in (accepted, client):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return accepted, client


async def tls_pairs(count: int, context: ssl.SSLContext
                    ) -> tuple[list[object], list[socket.socket]]:
    """`count` server-side TLS layers (the listener's) and the clients' raw sockets."""
    loop = asyncio.get_running_loop()
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    layers, clients = [], []
    for _ in range(count):
        server_sock, client_sock = tcp_pair()
        server_sock.setblocking(False)
        handshake = loop.create_future()
        layer = listener._SmallSSLProtocol(loop, Sink(), context, handshake, server_side=True)
        await loop.connect_accepted_socket(lambda layer=layer: layer, server_sock)
        # the client's handshake by memory BIO, over its raw socket
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = client_ctx.wrap_bio(incoming, outgoing)
        client_sock.setblocking(False)
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if outgoing.pending:
                    client_sock.sendall(outgoing.read())
                await asyncio.sleep(0)
                try:
                    incoming.write(client_sock.recv(65536))
                except BlockingIOError:
                    await asyncio.sleep(0.001)
        if outgoing.pending:
            client_sock.sendall(outgoing.read())
        await handshake
        layers.append(layer)
        clients.append(client_sock)
    return layers, clients


async def measure(kind: str, count: int, rounds: int, context: ssl.SSLContext) -> float:
    """Writer-thread CPU per write (us)."""
    if kind == "plain":
        pairs = [tcp_pair() for _ in range(count)]
        fds = [a.fileno() for a, _ in pairs]
        clients = [b for _, b in pairs]
        for sock in clients:
            sock.setblocking(False)
    else:
        layers, clients = await tls_pairs(count, context)
    spent = 0.0
    for _ in range(rounds):
        start = time.thread_time()
        if kind == "plain":
            for fd in fds:
                os.write(fd, FRAME)
        elif kind == "tls-direct":
            for layer in layers:
                if not layer.write_now(FRAME):  # type: ignore[attr-defined]
                    layer._app_transport.write(FRAME)  # type: ignore[attr-defined]
        else:
            for layer in layers:
                layer._app_transport.write(FRAME)  # type: ignore[attr-defined]
        spent += time.thread_time() - start
        await asyncio.sleep(0.002)  # the loop sends what waited (none should)
        drain(clients)  # untimed, and on this thread: no other thread takes the GIL
    if kind == "plain":
        for a, b in pairs:
            a.close()
            b.close()
    else:
        for layer in layers:
            layer._transport.abort()  # type: ignore[attr-defined]
        for sock in clients:
            sock.close()
    await asyncio.sleep(0.05)
    return spent / (count * rounds) * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop  # type: ignore[import-not-found]

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with tempfile.TemporaryDirectory() as tmp:
        context = server_tls(Path(tmp), None, None).context
        results: dict[str, list[float]] = {"plain": [], "tls-layer": [], "tls-direct": []}

        async def run() -> None:
            for _ in range(args.repeat):  # interleaved, so a busy moment hits each alike
                for kind in results:
                    results[kind].append(await measure(kind, args.connections, args.rounds,
                                                       context))

        asyncio.run(run())
    plain = statistics.median(results["plain"])
    print(f"{args.loop}: {len(FRAME)}-byte frame, {args.connections} connections x "
          f"{args.rounds} rounds, median of {args.repeat} (writer CPU per write)")
    for kind, values in results.items():
        mid = statistics.median(values)
        print(f"  {kind:10s} {mid:6.2f} us  ({min(values):.2f}-{max(values):.2f})  "
              f"{mid / plain:.2f}x plain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
