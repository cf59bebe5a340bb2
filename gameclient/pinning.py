"""Trust on first use for server certificates, like SSH's known_hosts: pin, then refuse a change."""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

KNOWN_HOSTS = "known_hosts"


class PinMismatch(Exception):
    """The server's certificate is not the one pinned; the message says what to do."""


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as `openssl x509 -fingerprint -sha256` prints it."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def client_context() -> ssl.SSLContext:
    """TLS without a CA check: who the server is comes from the pinned fingerprint instead."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def endpoint(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class KnownHosts:
    """One line per server: `HOST:PORT SHA256-FINGERPRINT`."""

    path: Path

    def entries(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        found: dict[str, str] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                found[parts[0]] = parts[1]
        return found

    def pinned(self, host: str, port: int) -> str | None:
        return self.entries().get(endpoint(host, port))

    def pin(self, host: str, port: int, print_: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(f"{endpoint(host, port)} {print_}\n")

    def forget(self, host: str, port: int) -> bool:
        """Drop the pin for host:port; False if there was none."""
        key = endpoint(host, port)
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return False
        kept = [line for line in lines if line.split()[:1] != [key]]
        if len(kept) == len(lines):
            return False
        tmp = self.path.with_name(self.path.name + ".new")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)
        return True

    def check(self, host: str, port: int, der: bytes) -> str | None:
        """Pin a new server (returns the notice to show) or check a known one.

        Raises PinMismatch, with both fingerprints and the way forward, on a change.
        """
        now = fingerprint(der)
        pinned = self.pinned(host, port)
        where = endpoint(host, port)
        if pinned is None:
            self.pin(host, port, now)
            return (f"first connection to {where}: its certificate's SHA-256 fingerprint is\n"
                    f"  {now}\n"
                    f"Check it with the host (play host printed it); it is pinned in "
                    f"{self.path},\nand a different certificate at {where} will be refused.")
        if pinned != now:
            raise PinMismatch(
                f"the certificate of {where} has CHANGED since you first joined it:\n"
                f"  pinned: {pinned}\n"
                f"  now:    {now}\n"
                "Someone may be intercepting the connection, or the host made a new "
                "certificate.\nAsk the host for the fingerprint `play host` printed; only if it "
                "is the new one,\nforget the old one and join again:\n"
                f"  play forget {host} {port}")
        return None


@dataclass
class Expected:
    """A certificate known in advance (the host's client joining its own server)."""

    fingerprint: str

    def check(self, host: str, port: int, der: bytes) -> str | None:
        if fingerprint(der) != self.fingerprint:
            raise PinMismatch(f"the certificate at {endpoint(host, port)} is not this server's "
                              f"own ({self.fingerprint}); another program may hold the port")
        return None
