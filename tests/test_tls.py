"""Real TLS over loopback: the certificate, pins on first use, a change refused, mismatches."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import RawClient, ServerProcess, child_env, play_command, run, running_server, trusting

from gameclient.connection import ClientConnection, ConnectionFailed, log_in
from gameclient.pinning import KnownHosts, fingerprint
from gameserver.doors.tls import CERT_FILE, KEY_FILE, make_certificate, server_tls
from gameserver.server import ChatServer, ServerError


def play(*args: str, stdin: str = "", password: str = "pw") -> subprocess.CompletedProcess[str]:
    return subprocess.run(play_command(*args), input=stdin, capture_output=True, text=True,
                          env=child_env(PLAY_PASSWORD=password), timeout=30)


async def password(_registering: bool, _attempt: int) -> str:
    return "pw"


def test_first_start_makes_a_private_key_and_prints_the_fingerprint(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        key = tmp_path / "data" / KEY_FILE
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        der = ServerTLSFile(tmp_path / "data" / CERT_FILE).der()
        assert server.fingerprint == fingerprint(der)
        assert "new, made now" in "".join(server.output)
    finally:
        server.stop()
    again = ServerProcess(tmp_path / "data")  # the same certificate next time
    try:
        assert again.fingerprint == server.fingerprint
        assert "new, made now" not in "".join(again.output)
    finally:
        again.stop()


class ServerTLSFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def der(self) -> bytes:
        import ssl

        return ssl.PEM_cert_to_DER_cert(self.path.read_text())


def test_cert_and_key_flags_and_their_errors(tmp_path: Path) -> None:
    cert, key = tmp_path / "mine.crt", tmp_path / "mine.key"
    make_certificate(cert, key, "my own")
    tls = server_tls(tmp_path / "data", cert, key)
    assert tls.fingerprint == fingerprint(ServerTLSFile(cert).der())
    assert not (tmp_path / "data" / CERT_FILE).exists()
    other_cert, other_key = tmp_path / "o.crt", tmp_path / "o.key"
    make_certificate(other_cert, other_key)
    for args, words in [
        ((cert, other_key), "does not fit the certificate"),
        ((tmp_path / "nope.crt", key), "does not exist"),
        ((cert, None), "give both --cert and --key"),
    ]:
        with pytest.raises(Exception, match=words):
            server_tls(tmp_path / "data", *args)
    out = play("host", "--headless", "--port", "0", "--data-dir", str(tmp_path / "d2"),
               "--cert", str(cert), "--key", str(other_key))
    assert out.returncode == 1 and "does not fit the certificate" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_key_readable_by_others_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_certificate(data / CERT_FILE, data / KEY_FILE)
    os.chmod(data / KEY_FILE, 0o644)
    server_tls(data)
    assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600


def test_pinned_on_first_use_and_a_changed_certificate_is_refused(tmp_path: Path) -> None:
    pins = KnownHosts(tmp_path / "user" / "known_hosts")

    async def main() -> None:
        async with running_server(tmp_path / "data", tls=True) as server:
            assert server.tls is not None
            conn = await ClientConnection.open("127.0.0.1", server.port, known_hosts=pins)
            assert conn.pin_notice is not None and server.tls.fingerprint in conn.pin_notice
            reply = await log_in(conn, "ann", password)
            assert reply.text == "registered and logged in as ann"
            await conn.close()
            again = await ClientConnection.open("127.0.0.1", server.port, known_hosts=pins)
            assert again.pin_notice is None  # said once only
            await again.close()
            port, old = server.port, server.tls.fingerprint
        assert pins.pinned("127.0.0.1", port) == old
        # The host makes a new certificate and serves on the same port.
        (tmp_path / "data" / CERT_FILE).unlink()
        (tmp_path / "data" / KEY_FILE).unlink()
        server = ChatServer("127.0.0.1", port, data_dir=tmp_path / "data", scrypt_n=2**4)
        async with server:
            assert server.tls is not None and server.tls.fingerprint != old
            with pytest.raises(ConnectionFailed) as refused:
                await ClientConnection.open("127.0.0.1", port, known_hosts=pins)
            text = str(refused.value)
            assert "CHANGED" in text and old in text and server.tls.fingerprint in text
            assert f"play forget 127.0.0.1 {port}" in text
            assert pins.forget("127.0.0.1", port)
            conn = await ClientConnection.open("127.0.0.1", port, known_hosts=pins)
            assert conn.pin_notice is not None
            await conn.close()

    run(main())


def test_plain_client_on_a_tls_port_and_tls_client_on_a_plain_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path / "tls", tls=True) as server:
            conn = await ClientConnection.open("127.0.0.1", server.port, tls=False)
            with pytest.raises(ConnectionFailed, match="this server uses TLS.*without --insecure"):
                await log_in(conn, "ann", password)
            await conn.close()
            raw = await RawClient.connect(server.port)  # the raw protocol: a bye says why
            await raw.send({"type": "hello", "version": 1})
            bye = await raw.expect("bye")
            assert bye["code"] == "refused" and "uses TLS" in bye["reason"]
        async with running_server(tmp_path / "plain") as server:
            pins = KnownHosts(tmp_path / "known_hosts")
            with pytest.raises(ConnectionFailed, match="may run without TLS.*--insecure"):
                await ClientConnection.open("127.0.0.1", server.port, known_hosts=pins)
            assert pins.entries() == {}

    run(main())


def test_a_silent_tls_handshake_is_dropped(tmp_path: Path) -> None:
    from gameserver.settings import Settings

    async def main() -> None:
        settings = Settings(hello_timeout=0.5)
        async with running_server(tmp_path, tls=True, settings=settings) as server:
            trusting(server)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x16\x03\x01")  # the start of a TLS record, then nothing
            assert await asyncio.wait_for(reader.read(100), 5) == b""  # closed by the server
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            assert await asyncio.wait_for(reader.read(100), 5) == b""  # silent: closed too
            client = await RawClient.connect(server.port)  # others are served
            await client.hello()

    run(main(), timeout=20)


def test_tls_chat_between_two_raw_clients(tmp_path: Path) -> None:
    async def main() -> None:
        async with running_server(tmp_path, tls=True) as server:
            trusting(server)
            from helpers import logged_in

            ann = await logged_in(server.port, "ann")
            bob = await logged_in(server.port, "bob")
            assert (await ann.say("over TLS"))["type"] == "ok"
            await bob.expect("room_msg", text="over TLS")

    run(main())


def test_play_join_shows_pins_and_refuses_and_forget_clears(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    try:
        port = str(server.port)
        first = play("join", "127.0.0.1", port, "ann", "--plain", stdin="hi\n")
        assert first.returncode == 0, first.stderr
        assert "first connection to 127.0.0.1:" in first.stderr
        assert server.fingerprint is not None and server.fingerprint in first.stderr
        second = play("join", "127.0.0.1", port, "ann", "--plain", stdin="hi\n")
        assert second.returncode == 0 and "first connection" not in second.stderr
        insecure = play("join", "127.0.0.1", port, "ann", "--plain", "--insecure")
        assert insecure.returncode == 1
        assert "unencrypted" in insecure.stderr and "uses TLS" in insecure.stderr
    finally:
        server.stop()
    for name in (CERT_FILE, KEY_FILE):
        (tmp_path / "data" / name).unlink()
    again = ServerProcess(tmp_path / "data", port=int(port))
    try:
        refused = play("join", "127.0.0.1", port, "ann", "--plain", stdin="hi\n")
        assert refused.returncode == 1
        assert "CHANGED" in refused.stderr and f"play forget 127.0.0.1 {port}" in refused.stderr
        assert "Traceback" not in refused.stderr
        forgot = play("forget", "127.0.0.1", port)
        assert forgot.returncode == 0 and "forgot" in forgot.stdout
        joined = play("join", "127.0.0.1", port, "ann", "--plain", stdin="hi\n")
        assert joined.returncode == 0 and "first connection" in joined.stderr
    finally:
        again.stop()


def test_no_tls_host_and_insecure_join_say_what_they_give_up(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--no-tls")
    try:
        assert server.fingerprint is None
        out = play("join", "127.0.0.1", str(server.port), "ann", "--plain", "--insecure",
                   stdin="hi\n")
        assert out.returncode == 0 and "unencrypted" in out.stderr
        assert "<ann> hi" in out.stdout
        out = play("join", "127.0.0.1", str(server.port), "ann", "--plain")
        assert out.returncode == 1 and "may run without TLS" in out.stderr
    finally:
        said = server.stop()
    assert "--no-tls: passwords and messages cross the network unencrypted" in said, said
    assert not (tmp_path / "data" / CERT_FILE).exists()


def test_server_error_for_a_missing_half_of_the_pair(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_certificate(data / CERT_FILE, data / KEY_FILE)
    (data / KEY_FILE).unlink()

    async def main() -> None:
        with pytest.raises(ServerError, match="key.pem is missing"):
            async with running_server(data, tls=True):
                pass

    run(main())
