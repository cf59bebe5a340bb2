"""The SSH door: `ssh -p 2222 you@host` opens the play screen, drawn in this process.

asyncssh serves SSH on the runtime's event loop; each connection is one hub session
(gameserver/doors/ssh_client.py) and its channel a screen or lines
(gameserver/doors/ssh_channel.py). No process per session, no curses: a session
costs a model, a canvas and a channel. Screens are drawn and written once per loop pass.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncssh

from gameserver.core.events import Event, trusted
from gameserver.doors.jsonlines import ServerError, bind_error_message
from gameserver.doors.ssh_client import SSHClient
from gameserver.protocol import Ok

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.runtime import Runtime
    from gameserver.settings import Settings

log = logging.getLogger("play.ssh")

HOST_KEY_FILE = "ssh_host_ed25519_key"
CLOSE_GRACE = 2.0  # seconds the goodbyes get to leave when the door closes


class HostKeyError(Exception):
    """The SSH host key cannot be read or made; the message says why."""


def host_key(data_dir: Path, path: Path | None = None) -> tuple[asyncssh.SSHKey, bool]:
    """The server's ed25519 host key (made on first start, 0600, kept); True if made now."""
    path = path or data_dir / HOST_KEY_FILE
    if path.exists():
        try:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)  # a private key readable by others is no secret
            return asyncssh.read_private_key(path), False
        except (OSError, ValueError, asyncssh.KeyImportError) as exc:
            raise HostKeyError(f"cannot read the SSH host key {path}: {exc}; move it away "
                               "and a new one is made (clients will then warn of a new "
                               "key)") from None
    key = asyncssh.generate_private_key("ssh-ed25519", comment="play host key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.export_private_key())
        (path.parent / (path.name + ".pub")).write_bytes(key.export_public_key())
    except OSError as exc:
        raise HostKeyError(f"cannot write the SSH host key {path}: {exc.strerror or exc}"
                           ) from None
    return key, True


class SSHDoor:
    """SSH on `port`: `await door.start(runtime)`, then `.port` and `.fingerprint`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2222, *,
                 key_path: Path | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.key_path = key_path
        self.port = 0
        self.fingerprint = ""  # of the host key: SHA256:..., as OpenSSH shows it
        self.key_created = False
        self.clients: set[SSHClient] = set()
        self.dirty: set[SSHClient] = set()  # clients with something to draw or write
        self.passes = 0  # flush passes that wrote something (the runtime's idle trim)
        self._runtime: Runtime | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_scheduled = False

    @property
    def hub(self) -> Hub:
        assert self._runtime is not None, "door not started"
        return self._runtime.hub

    @property
    def settings(self) -> Settings:
        return self.hub.settings

    @property
    def keys(self) -> Any:
        """The accounts' SSH keys (gameserver/sshkeys.py)."""
        return self._runtime.ssh_keys if self._runtime is not None else None

    async def start(self, runtime: Runtime) -> None:
        """Listen, and attach to the runtime; ServerError if that cannot be done."""
        self._loop = asyncio.get_running_loop()
        self._runtime = runtime
        # asyncssh logs several lines per connection at INFO; ours say what matters.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        try:
            key, self.key_created = host_key(runtime.data_dir, self.key_path)
        except HostKeyError as exc:
            raise ServerError(str(exc)) from None
        self.fingerprint = key.get_fingerprint("sha256")
        settings = runtime.hub.settings
        # A client that has sent nothing (no answer to a keepalive either) goes
        # ping_after + ping_timeout after its last byte, as a play client does: asyncssh
        # asks every `keepalive` seconds of silence and drops it at the (count_max + 1)th.
        keepalive = settings.ping_timeout
        count_max = max(1, math.ceil(settings.ping_after / keepalive))
        try:
            self._server = await asyncssh.create_server(
                lambda: SSHClient(self), self.host, self.requested_port,
                server_host_keys=[key], server_version="play",
                login_timeout=settings.login_timeout, keepalive_interval=keepalive,
                keepalive_count_max=count_max,
                line_editor=False, encoding=None, allow_scp=False, agent_forwarding=False,
                x11_forwarding=False, reuse_address=True)
        except OSError as exc:
            message = bind_error_message(exc, self.host, self.requested_port)
            raise ServerError(message.replace("--port", "--ssh-port")) from None
        self.port = self._server.sockets[0].getsockname()[1]
        runtime.attach(self)
        log.info("SSH on %s:%d, host key %s", self.host, self.port, self.fingerprint)

    # ------------------------------------------------------------ connections

    def admit(self, label: str) -> Callable[[], None] | str:
        """Count a connection in: the runtime's one count per address for every door.

        The release to call once it is gone, or the refusal to tell it (not counted).
        """
        assert self._runtime is not None, "door not started"
        admitted = self._runtime.admit(label)
        if isinstance(admitted, str):
            log.info("SSH %s: refused: %s", label, admitted)
        return admitted

    # ------------------------------------------------------------ the runtime's side

    def wake(self) -> None:
        """Something may wait to be drawn or written: flush once, at the end of this pass."""
        if not self._flush_scheduled and self._loop is not None and self.dirty:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        self._flush_scheduled = False
        dirty, self.dirty = self.dirty, set()
        wrote = False
        for client in dirty:
            channel = client.channel
            if channel is not None:
                channel.flush()
                wrote = True
        if wrote:
            self.passes += 1

    def flush_now(self, client: SSHClient) -> None:
        """Draw and write one client's screen now (a window change)."""
        self.dirty.discard(client)
        if client.channel is not None:
            client.channel.flush()

    def tick(self) -> None:
        """Once a second: clocks on screens; sessions that logged in but opened no channel."""
        now = time.monotonic()
        for client in list(self.clients):
            channel = client.channel
            if channel is not None:
                if channel.view is not None and channel.tick():
                    self.dirty.add(client)
            elif client.authed_at is not None and client.session is not None and \
                    now - client.authed_at > self.hub.settings.login_timeout:
                self.hub.kick(client.session, "you opened no session in time", "timeout")
        self.wake()

    def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        self.flush_all()
        for client in list(self.clients):
            if client.conn is not None:
                client.conn.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_GRACE)
            except (TimeoutError, OSError):
                pass
        await asyncio.sleep(0)

    # ------------------------------------------------------------ the core's side

    def send(self, sink: SSHClient, event: Event) -> None:
        sink.event(event)
        self.wake()  # another door's input may have caused it: that door wakes only itself

    def confirm(self, sink: SSHClient, msg_id: int) -> None:
        self.send(sink, trusted(Ok, id=msg_id))  # a line's ok, as any other

    def deliver(self, event: Event, sinks: Sequence[SSHClient]) -> None:
        for sink in sinks:
            sink.event(event)
        self.wake()
