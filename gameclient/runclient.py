"""Connect, log in and run the curses or the line client (play join, and play host's own)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import typer

from gameclient.connection import ClientConnection
from gameclient.lineclient import LineClient
from gameclient.model import ClientModel
from gameclient.pinning import KNOWN_HOSTS, Expected, KnownHosts, endpoint
from gameclient.prompts import Exit, ask_password, data_dir_for
from gameclient.targets import Targets


def want_curses(plain: bool) -> bool:
    if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    if os.environ.get("TERM", "") in ("", "dumb"):
        return False
    try:
        import gameclient.cursesui  # noqa: F401
    except ImportError:
        return False
    return True


async def run_client(host: str, port: int, user: str, plain: bool, *, tls: bool = True,
                     pins: KnownHosts | Expected | None = None,
                     keys_dir: Path | None = None, bell: bool = True,
                     targets: list[tuple[str, int]] | None = None) -> int:
    """Connect, log in, and run a client; `keys_dir` None: a session without device keys.

    `targets`: the addresses to try in turn (default: host, port); after a lost
    connection the cluster's other nodes (told at login) are tried too.
    """
    from gameclient.e2e import E2EError
    from gameclient.privatemsg import PrivateMessages, connect

    told = sys.stderr.isatty()
    given = targets or [(host, port)]
    if told:  # never a blank screen while we wait for the server
        others = ", ".join(endpoint(*t) for t in given[1:])
        typer.echo(f"connecting to {endpoint(*given[0])}{f' (or {others})' if others else ''}"
                   " ...", err=True)
    if not tls:
        typer.echo("warning: --insecure: no TLS; your password and messages cross the network "
                   "unencrypted, and nothing proves which server you reached", err=True)
    known_hosts = pins or KnownHosts(data_dir_for(None) / KNOWN_HOSTS)

    def opened(conn: ClientConnection) -> None:
        if conn.pin_notice:
            typer.echo(conn.pin_notice, err=True)

    current: list[ClientConnection] = []
    where = Targets(given, tls=tls, known_hosts=known_hosts)

    class Reopen:
        """A new connection for a resume, with the same device keys as the first one."""

        async def __call__(self) -> ClientConnection:
            if current:
                where.learn(current[0].login_data)  # the cluster's nodes, as last told
            new = await where.open()
            keys = getattr(current[0], "e2e", None) if current else None
            if keys is not None:
                new.e2e = PrivateMessages(new, keys.ring)
            current[:] = [new]
            return new

        def several(self) -> bool:
            """Other addresses to try (a cluster): the first try need not wait long."""
            if current:
                where.learn(current[0].login_data)
            return len(where.order()) > 1

    reopen = Reopen()

    try:
        conn, reply = await connect(host, port, user, ask_password, keys_dir, opened=opened,
                                    opener=where.open)
    except E2EError as exc:
        raise Exit(f"error: {exc}") from None
    current.append(conn)
    model = ClientModel(user=user, bell=bell)
    model.address = conn.address  # the address that answered, not always the first given
    if told and len(given) > 1:
        typer.echo(f"connected to {conn.address}", err=True)
    model.apply(reply)
    if want_curses(plain):
        if conn.pin_notice:  # said on stderr too, but curses clears the screen at once
            model.add("notice", "* " + " ".join(conn.pin_notice.split()))
        from gameclient.cursesui import CursesClient

        return await CursesClient(conn, model, reopen=reopen).run()
    client = LineClient(conn, model, reopen=reopen)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, client.request_quit)
    return await client.run()
