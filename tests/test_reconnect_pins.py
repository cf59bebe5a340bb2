"""Coming back after a drop to a server whose certificate changed: refused once, said, no retry."""

from __future__ import annotations

from pathlib import Path

from helpers import run, running_server

from gameclient.connection import ClientConnection, log_in
from gameclient.pinning import KnownHosts
from gameclient.reconnect import reconnect
from gameclient.targets import Targets
from gameserver.doors.tls import CERT_FILE, KEY_FILE
from gameserver.server import ChatServer


async def password(_registering: bool, _attempt: int) -> str:
    return "pw"


def test_a_reconnect_to_a_changed_certificate_stops_and_says_why(tmp_path: Path) -> None:
    pins = KnownHosts(tmp_path / "user" / "known_hosts")

    async def main() -> None:
        async with running_server(tmp_path / "data", tls=True) as server:
            assert server.tls is not None
            port, old = server.port, server.tls.fingerprint
            targets = Targets([("127.0.0.1", port)], known_hosts=pins)
            conn = await targets.open()
            token = (await log_in(conn, "ann", password)).data["token"]
            await conn.close()
        # The host comes back on the same port with a new certificate (or someone else does).
        (tmp_path / "data" / CERT_FILE).unlink()
        (tmp_path / "data" / KEY_FILE).unlink()
        async with ChatServer("127.0.0.1", port, data_dir=tmp_path / "data",
                              scrypt_n=2**4) as again:
            assert again.tls is not None and again.tls.fingerprint != old
            said: list[str] = []
            attempts = 0

            async def reopen() -> ClientConnection:
                nonlocal attempts
                attempts += 1
                return await targets.open()  # refused before anything is sent

            result = await reconnect(reopen, token, said.append, backoff=(0.01,),
                                     give_up=20.0)
            assert result is None
            assert attempts == 1, said  # a changed certificate is not retried every 30 s
            refusal = [line for line in said if line.startswith("!")]
            text = "\n".join(refusal)
            assert "CHANGED" in text and old in text and again.tls.fingerprint in text
            assert f"play forget 127.0.0.1 {port}" in text
            assert "not reconnecting" in refusal[-1]
            assert not any("no server yet" in line for line in said)
            assert all("\n" not in line for line in said)  # one line each, as the chat shows them
            assert pins.pinned("127.0.0.1", port) == old  # the pin is kept

    run(main())


def test_on_a_cluster_the_first_try_comes_at_once_and_spread(monkeypatch) -> None:
    """With other nodes to try the first reconnect waits a fraction of a second (spread
    over users); a single server's clients still wait 1 s."""
    import asyncio

    from gameclient import reconnect as module
    from gameclient.connection import ConnectionFailed

    waits: list[float] = []

    async def no_sleep(delay: float) -> None:
        waits.append(delay)

    monkeypatch.setattr(module.asyncio, "sleep", no_sleep)

    class Opener:
        def __init__(self, several: bool) -> None:
            self._several = several

        async def __call__(self):
            raise ConnectionFailed("connection refused")

        def several(self) -> bool:
            return self._several

    for several, first in ((True, None), (False, 1.0)):
        waits.clear()
        said: list[str] = []
        got = asyncio.run(module.reconnect(Opener(several), "token", said.append,
                                           give_up=-1))
        assert got is None and len(waits) == 1
        if first is None:
            low, high = module.CLUSTER_FIRST
            assert low <= waits[0] <= high
        else:
            assert waits[0] == first
        assert said[0].startswith(f"* reconnecting in {waits[0]:g} second")
