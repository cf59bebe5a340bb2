"""The `play` command (typer): host a server, join one, export a history."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import getpass
import inspect
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from gameclient.connection import ConnectionFailed, LoginFailed
from gameclient.keyscli import keys_app
from gameclient.model import history_line
from gameclient.pinning import KNOWN_HOSTS, Expected, KnownHosts
from gameclient.prompts import (
    PASSPHRASE_ENV,
    PASSWORD_ENV,
    Exit,
    MissingValue,
    check_address,
    data_dir_for,
    fail,
    interactive,
    interrupted,
    port_checker,
    resolve,
    terminal_restored,
)
from gameclient.runclient import run_client
from gameclient.targets import parse_targets
from gameserver.protocol import ProtocolError
from gameserver.server import ServerError, use_fast_loop

__all__ = ["PASSPHRASE_ENV", "app", "check_address", "data_dir_for", "main", "port_checker"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5220
NO_KEYS_HELP = "use no device keys: PMs you send are not end-to-end encrypted"

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="play: chat rooms with ASCII games, in the terminal.")


# ---------------------------------------------------------------- validation


def check_name(value: str) -> str:
    from gameserver.names import NameError_, check_username

    try:
        return check_username(value)
    except NameError_ as exc:
        raise ValueError(str(exc)) from None


# ---------------------------------------------------------------- running


def run(main: Callable[[], Coroutine[Any, Any, int]]) -> None:
    """Run a coroutine factory; every expected failure becomes one line and an exit code."""
    try:
        with terminal_restored():
            use_fast_loop()
            code = asyncio.run(main())
    except Exit as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(exc.code) from None
    except MissingValue as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except (ConnectionFailed, LoginFailed) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except ProtocolError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except ServerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        interrupted()
    raise typer.Exit(int(code or 0))


def setup_logging(to_file: Path | None) -> None:
    """The server's log, written by a thread of its own: a stalled output never stops it."""
    from gameserver.logsetup import start_logging, stop_logging

    start_logging(to_file)
    atexit.register(stop_logging)


# ---------------------------------------------------------------- settings as flags


def with_setting_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Add a `--NAME` option for every server setting; the command gets them as `settings`."""
    from gameserver import settings as settings_

    extra = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[(int if f.type in (int, "int") else float) | None, typer.Option(
                settings_.flag_name(name), help=settings_.help_text(name), show_default=False,
                rich_help_panel=f.metadata.get("panel") or
                "Limits (also from play.toml in the data directory)")])
        for name, f in settings_.FIELDS.items()]
    own = inspect.signature(command, eval_str=True)
    params = [p for p in own.parameters.values() if p.name != "settings"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        flags = {name: kwargs.pop(name) for name in settings_.FIELDS}
        command(**kwargs, settings=flags)

    wrapper.__signature__ = own.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return wrapper


# ---------------------------------------------------------------- commands


@app.command()
@with_setting_flags
def host(
    host: Annotated[str | None, typer.Option(
        "--host", help="address to listen on (asked on a terminal; else 127.0.0.1)")] = None,
    port: Annotated[str | None, typer.Option(
        "--port", help="port; 0 picks a free one (asked on a terminal; else 5220)")] = None,
    name: Annotated[str | None, typer.Option("--name", help="your username")] = None,
    headless: Annotated[bool, typer.Option("--headless", help="run the server only")] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="where data is kept")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="use the line client")] = False,
    no_bell: Annotated[bool, typer.Option(
        "--no-bell", help="no bell on a mention or a PM (also /set bell off)")] = False,
    cert: Annotated[Path | None, typer.Option(
        "--cert", help="TLS certificate (PEM); default: one made in the data directory")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="the certificate's key (PEM)")] = None,
    no_tls: Annotated[bool, typer.Option(
        "--no-tls/--tls", help="serve without TLS (local tests only: passwords and messages "
                         "cross the network readable)")] = False,
    irc_port: Annotated[str | None, typer.Option(
        "--irc-port", help="also serve IRC on this port (TLS, the same certificate)")] = None,
    irc_plain: Annotated[bool, typer.Option(
        "--irc-plain", help="serve IRC without TLS: passwords then cross the network in "
                            "clear (trusted networks only)")] = False,
    server_name: Annotated[str, typer.Option(
        "--server-name", help="the name the IRC door gives the server")] = "play",
    classic_port: Annotated[str | None, typer.Option(
        "--classic-port", help="also serve the classic plain-text protocol (nc, guests)")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="postgresql://USER@HOST/DB: keep everything in PostgreSQL, as a node "
                        "of a cluster (default: SQLite in the data directory)")] = None,
    bus: Annotated[str | None, typer.Option(
        "--bus", help="redis://HOST:PORT: reach the cluster's other nodes through Redis "
                      "(needs --store postgresql://...)")] = None,
    public_address: Annotated[str | None, typer.Option(
        "--public-address", help="HOST:PORT clients reach this node at; a cluster tells its "
                                 "users every node's, to come back to if one goes")] = None,
    settings: dict[str, Any] | None = None,
    no_keys: Annotated[bool, typer.Option("--no-keys", help=NO_KEYS_HELP)] = False,
) -> None:
    """Start a server (and, unless --headless, join it as NAME)."""
    from gameserver import settings as settings_
    from gameserver.server import ChatServer

    # A headless server is the scripted mode: missing values take their defaults, unasked.
    asks = not headless
    address = (resolve(host, "address", check_address, DEFAULT_HOST, "--host", quiet_default=True)
               if host is not None or asks else DEFAULT_HOST)
    port_number = (resolve(port, "port", port_checker(allow_zero=True), str(DEFAULT_PORT),
                           "--port", quiet_default=True)
                   if port is not None or asks else DEFAULT_PORT)
    user = None if headless else resolve(name, "username", check_name, flag="--name")
    directory = data_dir_for(data_dir)
    try:
        limits = settings_.load(directory, settings)
    except settings_.SettingsError as exc:
        fail(f"error: {exc}", 2)
    if no_tls and (cert or key):
        fail("error: --no-tls and --cert/--key contradict each other; choose one", 2)
    check_store_url(store)
    if bus is not None and not bus.startswith(("redis://", "rediss://", "unix://")):
        fail(f"error: --bus {bus!r} is not a redis://... URL", 2)
    if bus is not None and store is None:
        fail("error: --bus needs --store postgresql://...: the nodes of a cluster share "
             "one database", 2)
    if public_address is not None:
        try:
            public_address = ",".join(f"{h}:{p}" if ":" not in h else f"[{h}]:{p}"
                                      for h, p in parse_targets(public_address, DEFAULT_PORT))
        except ValueError as exc:
            fail(f"error: --public-address: {exc}", 2)
        if "," in public_address:
            fail("error: --public-address takes one HOST:PORT (each node gives its own)", 2)
    setup_logging(None if headless else directory / "play.log")
    doors = extra_doors(address, irc_port, irc_plain, server_name, classic_port)
    if limits.ssh_port >= 0:  # --ssh-port, or ssh_port in play.toml
        from gameserver.doors.ssh import SSHDoor

        if limits.ssh_port > 65535:
            fail(f"error: --ssh-port {limits.ssh_port} is not a port (0-65535)", 2)
        doors.append(SSHDoor(address, limits.ssh_port))

    async def main() -> int:
        server = ChatServer(address, port_number, data_dir=directory, settings=limits,
                            tls=not no_tls, cert=cert, key=key, doors=doors, store_url=store,
                            bus_url=bus, public_address=public_address)
        try:
            await server.start()
        except ServerError as exc:
            raise Exit(f"error: {exc}") from None
        typer.echo(f"play server listening on {address}:{server.port} (data in {directory})")
        if server.tls is not None:
            made = "new, made now" if server.tls.created else str(server.tls.cert)
            typer.echo(f"TLS certificate ({made}) SHA-256 fingerprint:\n  "
                       f"{server.tls.fingerprint}\ntell it to your friends: "
                       "play join shows it the first time they connect")
        else:
            typer.echo("warning: --no-tls: passwords and messages cross the network "
                       "unencrypted; use it only for local tests", err=True)
        for door in doors:
            typer.echo(door_banner(door, address))
        loop = asyncio.get_running_loop()
        # Ctrl-C (and the host's /quit below) ends the server for good: its clients end
        # with the sentence. SIGTERM is what a service manager sends to restart it too:
        # its clients try to come back (as after a lost connection) and resume.
        for sig, why, restart in (
                (signal.SIGINT, "the server is shutting down", False),
                (signal.SIGTERM, "the server is restarting or stopping", True)):
            with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
                loop.add_signal_handler(sig, _stopper(server, why, restart))
        if headless:
            await server.wait_stopped()
            typer.echo("server stopped")
            return 0
        assert user is not None
        if server.hub.community is not None and server.hub.community.first_admin(user):
            typer.echo(f"{user} is this server's first admin (play admin grant USER adds more)")
        target = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
        own = Expected(server.tls.fingerprint) if server.tls is not None else None
        try:
            code = await run_client(target, server.port, user, plain, tls=not no_tls, pins=own,
                                    keys_dir=None if no_keys else directory,
                                    bell=not no_bell)
        finally:
            await server.stop("the host has left; the server is shutting down")
        return code

    run(main)


def _stopper(server: Any, why: str, restart: bool) -> Callable[[], None]:
    """A signal handler that stops `server` saying `why` (clients come back if `restart`)."""
    def stop() -> None:
        asyncio.ensure_future(server.stop(why, restart))
    return stop


def check_store_url(store: str | None) -> None:
    if store is not None and not store.startswith(("postgresql://", "postgres://")):
        fail(f"error: --store {store!r} is not a postgresql://... URL", 2)


def extra_doors(address: str, irc_port: str | None, irc_plain: bool, server_name: str,
                classic_port: str | None) -> list[Any]:
    """The IRC and classic doors `play host` was asked for, checked before anything starts."""
    doors: list[Any] = []
    if irc_plain and irc_port is None:
        fail("error: --irc-plain needs --irc-port", 2)
    if irc_port is not None:
        from gameserver.doors.irc import IrcDoor

        port = resolve(irc_port, "IRC port", port_checker(allow_zero=True), flag="--irc-port")
        name = server_name.strip()
        if not name or any(c in name for c in " :!@,*?") or not name.isprintable():
            fail(f"error: --server-name {server_name!r} must be one word without :!@,*?", 2)
        doors.append(IrcDoor(address, port, tls=not irc_plain, server_name=name))
    if classic_port is not None:
        from gameserver.doors.classic import ClassicDoor

        doors.append(ClassicDoor(address, resolve(classic_port, "classic port", port_checker(
            allow_zero=True), flag="--classic-port")))
    return doors


def door_banner(door: Any, address: str) -> str:
    from gameserver.doors.irc import IrcDoor
    from gameserver.doors.ssh import SSHDoor

    if isinstance(door, SSHDoor):
        made = "new, made now" if door.key_created else "kept in the data directory"
        return (f"SSH on {address}:{door.port} (ssh -p {door.port} NAME@{address}); host key "
                f"({made}) fingerprint:\n  {door.fingerprint}")

    if isinstance(door, IrcDoor):
        if door.ssl_context is None:
            return (f"IRC on {address}:{door.port}, plain (--irc-plain): passwords cross the "
                    "network in clear")
        return (f"IRC on {address}:{door.port} over TLS, certificate SHA-256 fingerprint:\n  "
                f"{door.fingerprint}\n(irssi: /connect -tls -tls_pinned_cert FINGERPRINT "
                f"{address} {door.port} PASSWORD NICK)")
    return f"classic door on {address}:{door.port} (plain text, guests: nc {address} {door.port})"


@app.command()
def join(
    host: Annotated[str | None, typer.Argument(help="server address")] = None,
    port: Annotated[str | None, typer.Argument(help="server port")] = None,
    name: Annotated[str | None, typer.Argument(help="your username")] = None,
    plain: Annotated[bool, typer.Option("--plain", help="use the line client")] = False,
    no_bell: Annotated[bool, typer.Option(
        "--no-bell", help="no bell on a mention or a PM (also /set bell off)")] = False,
    insecure: Annotated[bool, typer.Option(
        "--insecure/--tls", help="connect without TLS, to a --no-tls server (local tests only: "
                           "your password and messages cross the network readable)")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="where this device's keys are kept")] = None,
    no_keys: Annotated[bool, typer.Option("--no-keys", help=NO_KEYS_HELP)] = False,
    host_flag: Annotated[str | None, typer.Option(
        "--host", help="server address, as a flag (like play host's)")] = None,
    port_flag: Annotated[str | None, typer.Option("--port", help="server port, as a flag")] = None,
    name_flag: Annotated[str | None, typer.Option(
        "--name", help="your username, as a flag")] = None,
) -> None:
    """Join a server: play join 127.0.0.1 5220 alice (or HOST:PORT,HOST2:PORT alice).

    --host, --port and --name say the same as the arguments, as play host takes them."""
    host = _one_of(host, host_flag, "address", "HOST", "--host")
    port = _one_of(port, port_flag, "port", "PORT", "--port")
    name = _one_of(name, name_flag, "username", "NAME", "--name")
    if host is not None and ("," in host or _with_port(host)):  # several nodes of a cluster
        if port is not None and not port.strip().isdigit() and name is None:
            name, port = port, None  # play join a:5220,b:5220 alice
        try:
            default = port_checker(allow_zero=False)(port) if port is not None else DEFAULT_PORT
            targets = [(check_address(h), p) for h, p in parse_targets(host, default)]
        except ValueError as exc:
            fail(f"error: {exc}", 2)
        address, port_number = targets[0]
    else:
        address = resolve(host, "address", check_address, DEFAULT_HOST, "HOST or --host")
        port_number = resolve(port, "port", port_checker(allow_zero=False), str(DEFAULT_PORT),
                              "PORT or --port")
        targets = [(address, port_number)]
    user = resolve(name, "username", check_name, flag="NAME or --name")
    keys = None if no_keys else data_dir_for(data_dir)
    run(lambda: run_client(address, port_number, user, plain, tls=not insecure, keys_dir=keys,
                           bell=not no_bell, targets=targets))


def _one_of(argument: str | None, flag: str | None, label: str, arg_name: str,
            flag_name: str) -> str | None:
    """The value given as an argument or as a flag; both, if they differ, is a usage error."""
    if argument is not None and flag is not None and argument != flag:
        fail(f"error: the {label} is given twice, as {arg_name} ({argument}) and as "
             f"{flag_name} ({flag}); give it once", 2)
    return argument if argument is not None else flag


def _with_port(host: str) -> bool:
    """HOST:PORT or [V6]:PORT (a bare IPv6 address has several colons and no brackets)."""
    return host.count(":") == 1 or (host.startswith("[") and "]:" in host)


@app.command()
def forget(
    host: Annotated[str, typer.Argument(help="server address")],
    port: Annotated[str, typer.Argument(help="server port")],
) -> None:
    """Forget a server's pinned certificate (after its host made a new one)."""
    address = resolve(host, "address", check_address)
    port_number = resolve(port, "port", port_checker(allow_zero=False))
    pins = KnownHosts(data_dir_for(None) / KNOWN_HOSTS)
    if pins.forget(address, port_number):
        typer.echo(f"forgot the certificate of {address}:{port_number}; the next join pins "
                   "the one it finds")
    else:
        typer.echo(f"no certificate was pinned for {address}:{port_number} (in {pins.path})")


@app.command()
def history(
    user: Annotated[str, typer.Argument(help="whose history")],
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="the server's data")] = None,
    stdout: Annotated[bool, typer.Option("--stdout", help="print instead of USER.chat")] = False,
    store: Annotated[str | None, typer.Option(
        "--store", help="postgresql://...: read a cluster's database instead")] = None,
) -> None:
    """Export USER's chat history (run on the server machine) to USER.chat.

    The store is opened read-only: this never changes it, whether or not a server runs.
    The export is private (0600) and written atomically, never through a symbolic link.
    """
    from gameserver.datadir import write_private
    from gameserver.store import SQLiteStore, StorageError

    try:
        name = check_name(user)
    except ValueError as exc:
        fail(f"error: {exc}", 2)
    path = data_dir_for(data_dir) / "play.db"
    where = f"the server data in {path.parent}"
    check_store_url(store)
    if store is not None:
        from gameserver.runtime import redact

        where = f"the store {redact(store)}"
    elif not path.exists():
        fail(f"error: no server data in {path.parent}", 1)
    try:
        if store is not None:
            from gameserver.stores.postgres import PostgresStore

            kept: Any = PostgresStore(store, node="play history", readonly=True)
        else:
            kept = SQLiteStore(path, readonly=True)
        try:
            account = kept.account_hash(name)
            entries = [] if account is None else kept.history(account[0], limit=-1)
        finally:
            kept.close()
    except StorageError as exc:
        fail(f"error: cannot read {where}: {exc}", 1)
    if account is None:
        fail(f"error: there is no user called {name}", 1)
    lines = [history_line(entry.to_wire()) for entry in entries]
    if stdout:
        for line in lines:
            typer.echo(line)
        return
    target = Path(f"{account[0]}.chat")
    replaced = " (replacing the earlier export)" if target.exists() else ""
    try:
        write_private(target, "".join(line + "\n" for line in lines).encode("utf-8"))
    except OSError as exc:
        fail(f"error: cannot write {target}: {exc.strerror or exc}", 1)
    typer.echo(f"wrote {len(lines)} entries to {target}{replaced}")


app.add_typer(keys_app, name="keys")


admin_app = typer.Typer(no_args_is_help=True, help="Manage admins and accounts (run on the "
                        "server machine; a running server takes it up within seconds).")
app.add_typer(admin_app, name="admin")
DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="the server's data")]
StoreOption = Annotated[str | None, typer.Option(
    "--store", help="postgresql://...: a cluster's database instead of --data-dir")]


def _admin(action: Callable[[], str]) -> None:
    from gameserver.admin import AdminError

    try:
        typer.echo(action())
    except AdminError as exc:
        fail(f"error: {exc}", 1)


@admin_app.command("grant")
def admin_grant(user: Annotated[str, typer.Argument(help="who becomes an admin")],
                data_dir: DataDirOption = None, store: StoreOption = None) -> None:
    """Make USER an admin of this server."""
    from gameserver.admin import grant

    name = resolve(user, "username", check_name)
    check_store_url(store)
    _admin(lambda: grant(data_dir_for(data_dir), name, True, store))


@admin_app.command("revoke")
def admin_revoke(user: Annotated[str, typer.Argument(help="who stops being an admin")],
                 data_dir: DataDirOption = None, store: StoreOption = None) -> None:
    """Take USER's admin rights away."""
    from gameserver.admin import grant

    name = resolve(user, "username", check_name)
    check_store_url(store)
    _admin(lambda: grant(data_dir_for(data_dir), name, False, store))


@admin_app.command("list")
def admin_list(data_dir: DataDirOption = None, store: StoreOption = None) -> None:
    """The server's admins."""
    from gameserver.admin import admins

    check_store_url(store)
    _admin(lambda: "\n".join(admins(data_dir_for(data_dir), store)) or "no admins yet")


@admin_app.command("reset-password")
def admin_reset_password(user: Annotated[str, typer.Argument(help="whose password")],
                         data_dir: DataDirOption = None, store: StoreOption = None) -> None:
    """Set a new password for USER (asked twice without echo, or from $PLAY_PASSWORD)."""
    from gameserver.admin import reset_password

    name = resolve(user, "username", check_name)
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not interactive():
            fail(f"error: missing password; set ${PASSWORD_ENV} (no terminal to ask on)", 2)
        try:
            while True:
                password = getpass.getpass(f"new password for {name}: ")
                if not password:
                    typer.echo("  the password must not be empty; try again", err=True)
                elif getpass.getpass("again: ") != password:
                    typer.echo("  the two passwords differ; try again", err=True)
                else:
                    break
        except KeyboardInterrupt:
            interrupted()
        except EOFError:
            fail("error: no password given", 2)
    elif not password:
        fail(f"error: ${PASSWORD_ENV} is empty; the password must not be empty", 2)
    check_store_url(store)
    _admin(lambda: reset_password(data_dir_for(data_dir), name, password or "", store))


def main() -> None:
    try:
        app()
    except Exception as exc:  # a bug of ours: one line, not a traceback, and say so
        print(f"error: play failed unexpectedly: {exc!r}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
