"""`play host`'s server: one runtime with the JSON Lines door attached (more doors can be)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gameserver import settings as settings_
from gameserver.core.hub import Hub
from gameserver.doors import jsonlines
from gameserver.doors.jsonconn import Connection
from gameserver.doors.jsonlines import JSONLinesDoor, bind_error_message
from gameserver.doors.tls import ServerTLS, TLSError, server_tls
from gameserver.passwords import DEFAULT_N
from gameserver.runtime import Runtime, ServerError, use_fast_loop
from gameserver.settings import Settings
from gameserver.store import SQLiteStore

__all__ = ["ChatServer", "Connection", "ServerError", "bind_error_message", "use_fast_loop"]


class ChatServer:
    """A running server: `async with ChatServer(...) as server:`; `.port` after binding."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5220, *,
                 data_dir: str | Path, name: str = "play", hash_workers: int | None = None,
                 scrypt_n: int = DEFAULT_N, settings: Settings | None = None, tls: bool = True,
                 cert: Path | None = None, key: Path | None = None,
                 doors: Sequence[Any] = (), store_url: str | None = None,
                 bus_url: str | None = None, public_address: str | None = None) -> None:
        self.settings = settings or settings_.DEFAULTS
        self.runtime = Runtime(data_dir=data_dir, name=name, hash_workers=hash_workers,
                               scrypt_n=scrypt_n, settings=self.settings, store_url=store_url,
                               bus_url=bus_url)
        self.door = JSONLinesDoor(host, port, settings=self.settings, tls=tls, cert=cert, key=key)
        self.doors = list(doors)  # more doors on the same runtime (IRC, classic)
        self.cert, self.key = cert, key
        self.host = host
        # What clients are told to reach this node at (a cluster's nodes list them all).
        self.public_address = public_address
        self.port = 0

    @property
    def hub(self) -> Hub:
        return self.runtime.hub

    @property
    def store(self) -> SQLiteStore | Any:
        return self.runtime.store

    @property
    def connections(self) -> set[Connection]:
        return self.door.connections

    @property
    def tls(self) -> ServerTLS | None:
        return self.door.tls

    async def start(self) -> None:
        await self.runtime.start()
        try:
            await self.door.start(self.runtime, self.runtime.data_dir)
            for door in self.doors:
                if getattr(door, "wants_tls", False):  # the play door's certificate
                    tls = self.door.tls or server_tls(self.runtime.data_dir, self.cert, self.key)
                    door.ssl_context, door.fingerprint = tls.context, tls.fingerprint
                await door.start(self.runtime)
        except TLSError as exc:
            self.runtime.close_resources()
            raise ServerError(str(exc)) from None
        except jsonlines.ServerError as exc:
            self.runtime.close_resources()
            raise ServerError(str(exc)) from None
        self.port = self.door.port
        self.runtime.announce_address(self.public_address or default_address(self.host,
                                                                              self.port))

    async def __aenter__(self) -> ChatServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop("the server is shutting down")

    async def wait_stopped(self) -> None:
        await self.runtime.wait_stopped()

    async def stop(self, reason: str, restart: bool = False) -> None:
        """Tell every client why, close them, stop listening, store everything.

        `restart`: the server will be back, so its clients reconnect and resume.
        """
        await self.runtime.stop(reason, restart)


def default_address(host: str, port: int) -> str | None:
    """The address clients reach a node at when --public-address is not given: its own,
    unless it listens on every interface (then nobody can tell which one is public)."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
