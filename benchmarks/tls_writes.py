"""The cost of one small write per connection, plain vs TLS, by each write path: prints us/write.

  plain       os.write of the frame to the socket (the play door's flush)
  tls-layer   through asyncio's TLS layer: transport.write (the path before write_now)
  tls-direct  listener._SmallSSLProtocol.write_now: one record straight to the socket
  tls-socket  a non-blocking ssl.SSLSocket: SSL_write encrypts and sends in one C call
              (no memory BIO, no copy of the record, no os.write from Python)
  tls-stream  tlsstream.TLSStream.write_now, which does that (the listener's TLS now)
  encrypt     write_now's encryption and record read alone (sent afterwards, untimed)

Loopback TCP pairs; the server side is the listener's own TLS layer on the chosen loop
(tls-socket: the socket itself); the clients are raw sockets read (and dropped) between
rounds, untimed, so only the writes' CPU is measured (thread CPU time: user and system).
--tls12 CIPHER serves TLS 1.2 with that cipher instead of TLS 1.3's AES-256-GCM
(Python's ssl cannot choose among TLS 1.3's suites).
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
from gameserver.doors.tlsstream import TLSStream  # noqa: E402

FRAME = b'{"type":"room_msg","room":"lobby","nick":"n1","user":"u1","text":"' + b"x" * 60 \
    + b'","id":123456,"time":1733000000.0}\n'


KINDS = ("plain", "tls-layer", "tls-direct", "tls-socket", "tls-stream", "encrypt")


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


async def tls_pairs(count: int, context: ssl.SSLContext, stream: bool = False
                    ) -> tuple[list[object], list[socket.socket]]:
    """`count` server-side TLS layers (the listener's) and the clients' raw sockets.

    stream: the listener's TLSStream (TLS on the socket) instead of asyncio's layer.
    """
    loop = asyncio.get_running_loop()
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    layers, clients = [], []
    for _ in range(count):
        server_sock, client_sock = tcp_pair()
        server_sock.setblocking(False)
        handshake = loop.create_future()
        layer: object
        if stream:
            layer = TLSStream(loop, server_sock, context, Sink(), 10.0, handshake)
        else:
            layer = listener._SmallSSLProtocol(loop, Sink(), context, handshake,
                                               server_side=True)
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


def _pump(server: ssl.SSLSocket, client: ssl.SSLObject, incoming: ssl.MemoryBIO,
          outgoing: ssl.MemoryBIO, client_sock: socket.socket) -> None:
    """Both ends' handshakes, the server's a non-blocking SSLSocket, stepped in turn."""
    done = [False, False]
    for _ in range(20000):
        for n, step in enumerate((server.do_handshake, client.do_handshake)):
            if not done[n]:
                try:
                    step()
                    done[n] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        if outgoing.pending:
            client_sock.sendall(outgoing.read())
        if all(done):
            return
        time.sleep(0.0002)
        try:
            incoming.write(client_sock.recv(65536))
        except BlockingIOError:
            pass
    raise RuntimeError("the handshake did not finish")


def socket_pairs(count: int, context: ssl.SSLContext
                 ) -> tuple[list[ssl.SSLSocket], list[socket.socket]]:
    """`count` server-side non-blocking SSLSockets and the clients' raw sockets."""
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    servers, clients = [], []
    for _ in range(count):
        server_sock, client_sock = tcp_pair()
        server_sock.setblocking(False)
        client_sock.setblocking(False)
        server = context.wrap_socket(server_sock, server_side=True,
                                     do_handshake_on_connect=False)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        _pump(server, client_ctx.wrap_bio(incoming, outgoing), incoming, outgoing,
              client_sock)
        servers.append(server)
        clients.append(client_sock)
    return servers, clients


async def measure(kind: str, count: int, rounds: int, context: ssl.SSLContext) -> float:
    """Writer-thread CPU per write (us)."""
    servers: list[ssl.SSLSocket] = []
    if kind == "plain":
        pairs = [tcp_pair() for _ in range(count)]
        fds = [a.fileno() for a, _ in pairs]
        clients = [b for _, b in pairs]
        for sock in clients:
            sock.setblocking(False)
    elif kind == "tls-socket":
        servers, clients = socket_pairs(count, context)
    else:
        layers, clients = await tls_pairs(count, context, kind == "tls-stream")
    spent = 0.0
    for _ in range(rounds):
        start = time.thread_time()
        if kind == "plain":
            for fd in fds:
                os.write(fd, FRAME)
        elif kind == "tls-stream":
            for layer in layers:
                if not layer.write_now(FRAME):  # type: ignore[attr-defined]
                    layer.write(FRAME)  # type: ignore[attr-defined]
        elif kind == "tls-direct":
            for layer in layers:
                if not layer.write_now(FRAME):  # type: ignore[attr-defined]
                    layer._app_transport.write(FRAME)  # type: ignore[attr-defined]
        elif kind == "tls-socket":
            for server in servers:
                server.write(FRAME)
        elif kind == "encrypt":
            records = []
            for layer in layers:
                layer._sslobj.write(FRAME)  # type: ignore[attr-defined]
                records.append(layer._outgoing.read())  # type: ignore[attr-defined]
        else:
            for layer in layers:
                layer._app_transport.write(FRAME)  # type: ignore[attr-defined]
        spent += time.thread_time() - start
        if kind == "encrypt":  # sent as write_now would, untimed
            for layer, record in zip(layers, records, strict=True):
                os.write(layer._fd, record)  # type: ignore[attr-defined]
        await asyncio.sleep(0.002)  # the loop sends what waited (none should)
        drain(clients)  # untimed, and on this thread: no other thread takes the GIL
    if kind == "plain":
        for a, b in pairs:
            a.close()
            b.close()
    elif kind == "tls-socket":
        for server in servers:
            server.close()
        for sock in clients:
            sock.close()
    else:
        for layer in layers:
            (layer if kind == "tls-stream" else layer._transport).abort()  # type: ignore
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
    p.add_argument("--tls12", metavar="CIPHER",
                   help="serve TLS 1.2 with this cipher, e.g. ECDHE-ECDSA-CHACHA20-POLY1305")
    p.add_argument("--kinds", default=",".join(KINDS), help="which write paths")
    args = p.parse_args(argv)
    if args.loop == "uvloop":
        import uvloop  # type: ignore[import-not-found]

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with tempfile.TemporaryDirectory() as tmp:
        context = server_tls(Path(tmp), None, None).context
        if args.tls12:
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(args.tls12)
        kinds = ["plain", *(k for k in args.kinds.split(",") if k in KINDS and k != "plain")]
        results: dict[str, list[float]] = {kind: [] for kind in kinds}

        async def run() -> None:
            for _ in range(args.repeat):  # interleaved, so a busy moment hits each alike
                for kind in results:
                    results[kind].append(await measure(kind, args.connections, args.rounds,
                                                       context))

        asyncio.run(run())
    plain = statistics.median(results["plain"])
    print(f"{args.loop}: {len(FRAME)}-byte frame, {args.connections} connections x "
          f"{args.rounds} rounds, median of {args.repeat} (writer CPU per write), "
          f"{args.tls12 or 'TLS 1.3 AES-256-GCM'}")
    for kind, values in results.items():
        mid = statistics.median(values)
        print(f"  {kind:10s} {mid:6.2f} us  ({min(values):.2f}-{max(values):.2f})  "
              f"{mid / plain:.2f}x plain")
    return 0


if __name__ == "__main__":
    sys.exit(main())
