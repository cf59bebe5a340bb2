"""asyncssh's client for the SSH door's tests: log in as a real SSH client would, read back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncssh
from helpers import running_server

from gameserver.doors.ssh import SSHDoor

WAIT = 10.0


class Client(asyncssh.SSHClient):
    """Keeps the banners it is shown; answers keyboard-interactive prompts with `answers`."""

    def __init__(self, answers: list[str] | None = None) -> None:
        self.banners: list[str] = []
        self.answers = list(answers or [])
        self.challenges: list[tuple[str, str, list[tuple[str, bool]]]] = []

    def auth_banner_received(self, msg: str, lang: str) -> None:
        self.banners.append(msg)

    def kbdint_auth_requested(self) -> str:
        return ""

    def kbdint_challenge_received(self, name: str, instructions: str, lang: str,
                                  prompts: Any) -> list[str] | None:
        self.challenges.append((name, instructions, list(prompts)))
        if not prompts:
            return []
        if len(self.answers) < len(prompts):
            return None
        taken, self.answers = self.answers[:len(prompts)], self.answers[len(prompts):]
        return taken


@contextlib.asynccontextmanager
async def ssh_server(tmp_path: Any, **kwargs: Any) -> AsyncIterator[tuple[Any, SSHDoor]]:
    """A play server with an SSH door, both on 127.0.0.1 port 0."""
    door = SSHDoor("127.0.0.1", 0)
    async with running_server(tmp_path, doors=[door], **kwargs) as server:
        yield server, door


async def connect(door: SSHDoor, user: str, *, password: str | None = None,
                  answers: list[str] | None = None, key: Any = None,
                  methods: str | None = None) -> tuple[asyncssh.SSHClientConnection, Client]:
    """Log in; raises asyncssh.PermissionDenied or DisconnectError (the banners shown on
    `.banners`) when refused."""
    client = Client(answers)
    if methods is None:
        methods = ("publickey" if key is not None else
                   "keyboard-interactive" if answers is not None else "password")
    try:
        conn, _ = await asyncio.wait_for(asyncssh.create_connection(
            lambda: client, "127.0.0.1", door.port, username=user, password=password,
            client_keys=[key] if key is not None else None, agent_path=None,
            known_hosts=None, preferred_auth=methods, kbdint_auth=answers is not None,
            password_auth=password is not None, public_key_auth=key is not None), WAIT)
    except asyncssh.Error as exc:
        exc.banners = client.banners  # type: ignore[attr-defined]
        raise
    return conn, client


class Lines:
    """A no-pty session (`ssh -T`): lines out, typed lines in."""

    def __init__(self, process: asyncssh.SSHClientProcess) -> None:
        self.process = process
        self.seen: list[str] = []

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection, command: str | None = None
                   ) -> Lines:
        process = await conn.create_process(command, term_type=None, encoding="utf-8")
        return cls(process)

    def send(self, *lines: str) -> None:
        self.process.stdin.write("".join(line + "\n" for line in lines))

    async def until(self, text: str, timeout: float = WAIT) -> str:
        """Read lines until one contains `text`; returns it."""
        for line in self.seen:
            if text in line:
                self.seen.remove(line)
                return line

        async def read() -> str:
            while True:
                line = await self.process.stdout.readline()
                if not line:
                    raise EOFError(f"the session ended before {text!r}; saw {self.seen[-5:]}")
                line = line.rstrip("\n")
                if text in line:
                    return line
                self.seen.append(line)

        return await asyncio.wait_for(read(), timeout)

    async def rest(self, timeout: float = WAIT) -> str:
        """Everything until the session ends."""
        return await asyncio.wait_for(self.process.stdout.read(), timeout)


class Terminal:
    """A pty session read back through pyte: what the far terminal shows, and what it got."""

    def __init__(self, cols: int = 80, rows: int = 24) -> None:
        import pyte

        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.changed = asyncio.Event()
        self.chan: Any = None
        self.closed = asyncio.Event()

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection, cols: int = 80, rows: int = 24,
                   term: str = "xterm-256color", env: dict[str, str] | None = None
                   ) -> Terminal:
        terminal = cls(cols, rows)

        class Session(asyncssh.SSHClientSession):  # type: ignore[type-arg]
            def data_received(self, data: bytes, datatype: Any) -> None:
                terminal.raw += data
                terminal.stream.feed(data)
                terminal.changed.set()

            def connection_lost(self, exc: Exception | None) -> None:
                terminal.closed.set()
                terminal.changed.set()

        terminal.chan, _ = await conn.create_session(
            Session, term_type=term, term_size=(cols, rows), env=env or {}, encoding=None)
        return terminal

    @property
    def rows(self) -> list[str]:
        return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(self.rows)

    def type(self, keys: str | bytes) -> None:
        self.chan.write(keys.encode() if isinstance(keys, str) else keys)

    def resize(self, cols: int, rows: int) -> None:
        self.screen.resize(rows, cols)
        self.chan.change_terminal_size(cols, rows)

    async def until(self, check: Any, timeout: float = WAIT) -> str:
        """Wait until `check` (a text, or a function of the screen's text) holds."""
        test = (lambda text: check in text) if isinstance(check, str) else check

        async def wait() -> str:
            while True:
                text = self.text()
                if test(text):
                    return text
                if self.closed.is_set():
                    raise EOFError(f"the session closed; the screen:\n{text}")
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"not seen: {check!r}; the screen:\n{self.text()}") from None
