"""Where a client connects: the addresses given (HOST[:PORT],...) and those a cluster announces.

`play join a:5220,b:5220 bob` tries a, then b; a host name is tried at each address it
resolves to. Once logged in, the server's login reply lists the cluster's nodes
(`cluster`), and a reconnect after a lost node tries the node it was on, then the
others. A node first reached through the cluster's list must show the certificate
already verified on the node the list came from (the cluster shares one): a pinned
fingerprint holds on every node, and no other node is trusted on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from gameclient.connection import CertificateRefused, ClientConnection, ConnectionFailed
from gameclient.pinning import Expected, KnownHosts, PinMismatch, endpoint, fingerprint

Target = tuple[str, int]
EACH_TIMEOUT = 4.0  # seconds per address when there are several to try


def parse_targets(text: str, default_port: int) -> list[Target]:
    """`HOST[:PORT],HOST2[:PORT]` (IPv6 as [ADDR]:PORT) into (host, port) pairs."""
    found: list[Target] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"{text!r} has an empty address")
        host, port = part, default_port
        if part.startswith("["):
            close = part.find("]")
            if close < 0:
                raise ValueError(f"{part!r}: a [ without its ]")
            host, rest = part[1:close], part[close + 1:]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{part!r} is not [ADDRESS]:PORT")
                port = _port(rest[1:], part)
        elif part.count(":") == 1:
            host, _, rest = part.partition(":")
            port = _port(rest, part)
        if not host:
            raise ValueError(f"{part!r} has no host")
        found.append((host, port))
    return found


def _port(text: str, part: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{part!r}: {text!r} is not a port number (1-65535)")
    return int(text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ClusterPin:
    """A node reached through the cluster's list: it must show the cluster's certificate."""

    def __init__(self, known: str, seen_at: str, known_hosts: Any) -> None:
        self.known = known
        self.seen_at = seen_at
        self.known_hosts = known_hosts

    def check(self, host: str, port: int, der: bytes) -> str | None:
        now = fingerprint(der)
        if now != self.known:
            raise PinMismatch(
                f"{endpoint(host, port)} is listed as a node of the server you were on, but "
                f"its certificate is not that server's:\n  {self.seen_at}: {self.known}\n"
                f"  {endpoint(host, port)}: {now}\nNot connecting there.")
        if isinstance(self.known_hosts, KnownHosts) and self.known_hosts.pinned(
                host, port) is None:
            self.known_hosts.pin(host, port, now)  # a direct join there later is not new
        return None


class Targets:
    """The addresses to try, in order, and how each one's certificate is checked."""

    def __init__(self, given: Sequence[Target], *, tls: bool = True,
                 known_hosts: KnownHosts | Expected | None = None) -> None:
        self.given = list(given)
        self.announced: list[Target] = []
        self.tls = tls
        self.known_hosts = known_hosts
        self.current: Target | None = None
        self.fingerprint: str | None = None  # the certificate verified on the first node

    def learn(self, data: dict[str, Any] | None) -> None:
        """Take the cluster's node list from a login (or resume) reply."""
        listed = (data or {}).get("cluster")
        if not isinstance(listed, list):
            return
        found: list[Target] = []
        for item in listed:
            with contextlib.suppress(ValueError, TypeError):
                found.extend(parse_targets(str(item), 0))
        self.announced = [t for t in found if t[1]]

    def order(self) -> list[Target]:
        """The node we were on, then the addresses given, then the cluster's others."""
        seen: list[Target] = []
        for target in ([self.current] if self.current else []) + self.given + self.announced:
            if target not in seen:
                seen.append(target)
        return seen

    def _check_for(self, target: Target) -> Any:
        if self.fingerprint is None or target == self.current:
            return self.known_hosts
        seen_at = endpoint(*self.current) if self.current else "the first node"
        return ClusterPin(self.fingerprint, seen_at, self.known_hosts)

    async def open(self) -> ClientConnection:
        """Connect to the first address that answers (each, in turn); ConnectionFailed if none."""
        order = self.order()
        timeout = EACH_TIMEOUT if len(order) > 1 else 10.0
        failures: list[ConnectionFailed] = []
        for host, port in order:
            for via in await _addresses_of(host, port):
                try:
                    conn = await ClientConnection.open(
                        host, port, timeout, tls=self.tls,
                        known_hosts=self._check_for((host, port)), via=via)
                except ConnectionFailed as exc:
                    failures.append(exc)
                    continue
                self.current = (host, port)
                if self.tls and self.fingerprint is None:
                    self.fingerprint = conn.fingerprint
                return conn
        if len(failures) == 1:
            raise failures[0]
        # Every node refused by its certificate: no retry can help (a node merely down may).
        kind = (CertificateRefused if all(isinstance(f, CertificateRefused) for f in failures)
                else ConnectionFailed)
        raise kind("no node answered: " + "; ".join(dict.fromkeys(str(f) for f in failures)))


async def _addresses_of(host: str, port: int) -> list[str | None]:
    """Each address a host name resolves to (tried in turn); an IP address is itself."""
    if _is_ip(host):
        return [None]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM)
    except OSError:
        return [None]  # ClientConnection.open says "unknown host" in its own words
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return found or [None]  # type: ignore[return-value]
