"""`play keys export` / `play keys import`: move this device's end-to-end keys to another one."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(add_completion=False, no_args_is_help=True, help=(
    "this device's keys for end-to-end PMs: export them (passphrase-protected) and import "
    "them on a new device"))
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="where the keys are kept")]


def _passphrase(confirm: bool) -> str:
    from gameclient.prompts import PASSPHRASE_ENV

    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        _fail(f"error: no passphrase: set ${PASSPHRASE_ENV} or run in a terminal", 2)
    try:
        first = getpass.getpass("passphrase: ")
        if confirm and getpass.getpass("passphrase again: ") != first:
            _fail("error: the two passphrases differ; nothing was written", 2)
    except (EOFError, KeyboardInterrupt):
        _fail("\nerror: no passphrase given", 130)
    return first


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@keys_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="the file to write (kept 0600)")],
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="replace FILE if it exists")] = False,
) -> None:
    """Write every device key (and whom you trust) to FILE, sealed with a passphrase."""
    from gameclient.e2e import E2EError, export_keys, keys_root, write_private
    from gameclient.prompts import data_dir_for

    directory = data_dir_for(data_dir)
    if file.exists() and not force:
        _fail(f"error: {file} exists; choose another name or add --force")
    if not keys_root(directory).is_dir():
        _fail(f"error: there are no device keys in {keys_root(directory)} to export")
    passphrase = _passphrase(confirm=True)
    try:
        blob, count = export_keys(directory, passphrase)
        write_private(file, blob)
    except E2EError as exc:
        _fail(f"error: {exc}", 2)
    except OSError as exc:
        _fail(f"error: cannot write {file}: {exc.strerror or exc}")
    typer.echo(f"exported {count} device key{'s' if count != 1 else ''} to {file}; "
               "import it on the new device with: play keys import FILE")


@keys_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="a file made by play keys export")],
    data_dir: DataDir = None,
) -> None:
    """Restore the keys in FILE on this device (a key this device had is kept too)."""
    from gameclient.e2e import E2EError, import_keys
    from gameclient.prompts import data_dir_for

    try:
        blob = file.read_bytes()
    except OSError as exc:
        _fail(f"error: cannot read {file}: {exc.strerror or exc}")
    passphrase = _passphrase(confirm=False)
    try:
        done = import_keys(data_dir_for(data_dir), blob, passphrase)
    except E2EError as exc:
        _fail(f"error: {exc}")
    typer.echo(f"imported {len(done)} device key{'s' if len(done) != 1 else ''}:")
    for line in done:
        typer.echo(f"  {line}")
