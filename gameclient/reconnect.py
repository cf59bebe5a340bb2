"""Coming back after a lost connection: retry with backoff, resume with the session token."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from gameclient.connection import CertificateRefused, ClientConnection, ConnectionFailed
from gameserver.protocol import Ok, ProtocolError

BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds before each try; the last repeats
# On a cluster another node can answer at once: the first try comes after a moment, spread
# over this range so that a dead node's users do not all arrive in the same instant.
CLUSTER_FIRST = (0.05, 0.4)
GIVE_UP = 15 * 60.0  # seconds of trying before the client stops

Opener = Callable[[], Awaitable[ClientConnection]]


async def reconnect(reopen: Opener, token: str, say: Callable[[str], None],
                    backoff: tuple[float, ...] = BACKOFF, give_up: float = GIVE_UP,
                    ) -> tuple[ClientConnection, Ok] | None:
    """A new connection logged in again with `token`, or None (said why) if that cannot be."""
    start = time.monotonic()
    attempt = 0
    several = getattr(reopen, "several", None)  # (runclient's Reopen) other nodes to try
    cluster = several is not None and several()
    while True:
        delay = backoff[min(attempt, len(backoff) - 1)]
        if cluster and attempt == 0:
            delay = round(random.uniform(*CLUSTER_FIRST), 2)
        attempt += 1
        unit = "second" if delay == 1 else "seconds"  # said as the server says durations
        say(f"* reconnecting in {delay:g} {unit} (try {attempt}; Ctrl-C leaves)")
        await asyncio.sleep(delay)
        conn = None
        try:
            conn = await reopen()
            await conn.hello()
            reply = await conn.resume(token)
            keys = getattr(conn, "e2e", None)
            if keys is not None:  # end-to-end PMs: this device's key again, on this connection
                await keys.start()
            return conn, reply
        except ProtocolError as exc:  # the token is no good (expired, or the account gone)
            say(f"! cannot resume: {exc.message}; run play join again to log in")
            if conn is not None:
                await conn.close()
            return None
        except CertificateRefused as exc:  # not this server, or a new certificate: say so, stop
            for line in str(exc).splitlines():
                say(f"! {line.rstrip()}")
            say("! not reconnecting: the server's certificate is not the one trusted here")
            return None
        except (ConnectionFailed, OSError) as exc:
            if conn is not None:
                await conn.close()
            say(f"* no server yet: {exc}")
        if time.monotonic() - start > give_up:
            say(f"! gave up after {int(give_up // 60)} minutes without the server")
            return None
