"""The `play` command's prompts: checked values, asked when missing, passwords unechoed."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import ipaddress
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from gameclient.connection import LoginFailed

PASSWORD_ENV = "PLAY_PASSWORD"
PASSPHRASE_ENV = "PLAY_KEYS_PASSPHRASE"
DATA_DIR_ENV = "PLAY_DATA_DIR"

T = TypeVar("T")
_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")



class Exit(Exception):
    """Stop with a message and an exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------- validation


def check_address(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("the address must not be empty")
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(value.strip("[]")))
    if not _HOSTNAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid IP address or host name")
    return value


def port_checker(allow_zero: bool) -> Callable[[str], int]:
    def check(value: str) -> int:
        value = str(value).strip()
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a port number")
        port = int(value)
        low = 0 if allow_zero else 1
        if not low <= port <= 65535:
            raise ValueError(f"port {port} is outside {low}-65535")
        return port

    return check


def fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def interactive() -> bool:
    return sys.stdin.isatty()


class MissingValue(LoginFailed):
    """A value the user must give is missing and there is no terminal to ask on (exit 2)."""


def interrupted() -> NoReturn:
    """Ctrl-C at a prompt: say so on a line of its own and exit 130, as shells expect."""
    typer.echo("\ninterrupted", err=True)
    raise typer.Exit(130)


def ask(label: str, default: str | None = None) -> str:
    """One line typed at `label [default]: `; Enter alone takes the default."""
    shown = f"{label} [{default}]: " if default is not None else f"{label}: "
    try:
        answer = read_line(shown)
    except KeyboardInterrupt:
        interrupted()
    except EOFError:  # Ctrl-D: nothing more will be typed
        typer.echo("", err=True)
        fail(f"error: no {label} given", 2)
    if not answer.strip() and default is not None:
        return default
    return answer


def read_line(prompt: str) -> str:
    """input(), except that a Ctrl-C never goes unseen.

    input() checks for signals only when its read is interrupted, so a Ctrl-C that comes
    between the prompt and the read would wait for Enter. Here the signal's wakeup fd
    and the terminal are watched together, so the KeyboardInterrupt comes at once.
    """
    try:
        fd = sys.stdin.fileno()
        if sys.platform == "win32" or not os.isatty(fd):
            raise ValueError("not a POSIX terminal")
    except (ValueError, OSError, AttributeError):
        return input(prompt)
    import select

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    try:
        previous = signal.set_wakeup_fd(wake_w)
    except ValueError:  # not the main thread
        os.close(wake_r)
        os.close(wake_w)
        return input(prompt)
    try:
        sys.stdout.write(prompt)
        sys.stdout.flush()
        while fd not in select.select([fd, wake_r], [], [])[0]:
            with contextlib.suppress(OSError):
                os.read(wake_r, 512)
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_r)
        os.close(wake_w)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def resolve(value: str | None, label: str, check: Callable[[str], T],
            default: str | None = None, flag: str = "", quiet_default: bool = False) -> T:
    """Validate a given value; prompt for a missing one on a terminal; else exit 2.

    With `quiet_default`, a missing value without a terminal is the default (never waits).
    """
    if value is not None:
        try:
            return check(value)
        except ValueError as exc:
            fail(f"error: {exc}", 2)
    if not interactive():
        if quiet_default and default is not None:
            return check(default)
        fail(f"error: missing {label}; give it as {flag or label.upper()} "
             "(no terminal to ask on)", 2)
    while True:
        answer = ask(label, default)
        try:
            return check(answer)
        except ValueError as exc:
            typer.echo(f"  {exc}; try again", err=True)


def data_dir_for(option: Path | None) -> Path:
    if option is not None:
        return option.expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "play"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "play"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "play"


# ---------------------------------------------------------------- passwords


async def ask_hidden(prompt: str) -> str:
    """getpass in a daemon thread, so Ctrl-C is not held up until Enter is pressed."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def settle(value: str | None, error: BaseException | None) -> None:
        if answer.done():
            return
        if error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(value or "")

    def ask() -> None:
        try:
            value, error = getpass.getpass(prompt), None
        except (EOFError, OSError) as exc:
            value, error = None, LoginFailed(f"no password given ({type(exc).__name__})")
        with contextlib.suppress(RuntimeError):  # the loop is gone: we are exiting anyway
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=ask, name="play-password", daemon=True).start()
    return await answer


@contextlib.contextmanager
def terminal_restored() -> Iterator[None]:
    """Put the terminal back as it was (echo on) however we leave, even mid-getpass."""
    saved = None
    try:
        import termios

        if sys.stdin.isatty():
            saved = termios.tcgetattr(sys.stdin.fileno())
    except (ImportError, OSError, ValueError):
        pass
    try:
        yield
    finally:
        if saved is not None:
            with contextlib.suppress(Exception):
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)


async def ask_password(registering: bool, attempt: int) -> str:
    """From $PLAY_PASSWORD, else asked without echo (twice for a new account)."""
    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        if not env:
            raise MissingValue(f"${PASSWORD_ENV} is empty; the password must not be empty")
        if attempt > 1:
            raise LoginFailed(f"the password in ${PASSWORD_ENV} is wrong")
        return env
    if not interactive():
        raise MissingValue(f"missing password; set ${PASSWORD_ENV} (no terminal to ask on)")
    if attempt > 1:
        typer.echo("  wrong password; try again", err=True)
    while True:
        if registering:
            typer.echo("new account: choose a password")
        password = await ask_hidden("password: ")
        if not password:
            typer.echo("  the password must not be empty; try again", err=True)
            continue
        if registering:
            again = await ask_hidden("password again: ")
            if again != password:
                typer.echo("  the two passwords differ; try again", err=True)
                continue
        return password
