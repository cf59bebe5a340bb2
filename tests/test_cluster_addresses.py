"""A cluster tells its clients every node's address and serves one certificate on all of them."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from helpers import (
    ServerProcess,
    child_env,
    cluster_nodes,
    logged_in,
    play_command,
    run,
    running_server,
)

from gameclient.connection import ClientConnection, ConnectionFailed
from gameclient.pinning import KnownHosts
from gameclient.reconnect import reconnect
from gameclient.targets import Targets, parse_targets


async def until_listed(server, count: int) -> None:
    """Presence brings the other nodes' addresses within a moment."""
    for _ in range(100):
        if len(server.hub.addresses) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the node never heard of {count} addresses: {server.hub.addresses}")


def test_parse_targets_takes_hosts_ports_and_ipv6():
    assert parse_targets("a:1,b,[::1]:3,[::1]", 5220) == [
        ("a", 1), ("b", 5220), ("::1", 3), ("::1", 5220)]
    for bad in ("a:x", "a:0", ",", "[::1", "[::1]x", ":5"):
        with pytest.raises(ValueError):
            parse_targets(bad, 5220)


def test_every_node_serves_the_first_nodes_certificate(tmp_path, postgres_url, redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url, 3, tls=True) as servers:
            prints = {s.tls.fingerprint for s in servers}
            assert len(prints) == 1, prints
            made = [s.tls.created for s in servers]
            assert made == [True, False, False], made
            # each node keeps the pair in its own data directory, the key private
            for n in range(3):
                key = tmp_path / f"node{n}" / "key.pem"
                assert key.stat().st_mode & 0o077 == 0
        # a restart (and a node with its own old pair) takes the cluster's again
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url, 1, tls=True) as (again,):
            assert again.tls.fingerprint in prints
    run(body(), timeout=90)


def test_login_lists_the_nodes_and_a_client_moves_to_another_with_its_pin(
        tmp_path, postgres_url, redis_server):
    async def body():
        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(running_server(
                tmp_path / "a", store_url=postgres_url, bus_url=redis_server.url, tls=True))
            await stack.enter_async_context(running_server(
                tmp_path / "b", store_url=postgres_url, bus_url=redis_server.url, tls=True,
                public_address="localhost:1"))  # what its operator says; not reachable here
            c = await stack.enter_async_context(running_server(
                tmp_path / "c", store_url=postgres_url, bus_url=redis_server.url, tls=True))
            pins = KnownHosts(tmp_path / "known_hosts")
            where = Targets([("127.0.0.1", a.port)], known_hosts=pins)
            first = await where.open()
            assert first.pin_notice and "first connection" in first.pin_notice
            await until_listed(a, 3)
            await first.hello()
            reply = await first.login("ann", "secret")
            listed = reply.data["cluster"]
            assert listed[0] == f"127.0.0.1:{a.port}", listed  # the node you are on first
            assert set(listed) == {f"127.0.0.1:{a.port}", "localhost:1",
                                   f"127.0.0.1:{c.port}"}, listed
            token = first.login_data["token"]
            await a.stop("node a goes")
            where.learn(first.login_data)
            said: list[str] = []
            got = await reconnect(where.open, token, said.append, backoff=(0.05,),
                                  give_up=30)
            assert got is not None, said
            conn, resumed = got
            assert where.current == ("127.0.0.1", c.port), where.current
            assert conn.pin_notice is None  # the pin of node a holds on node c: no warning
            assert pins.pinned("127.0.0.1", c.port) == pins.pinned("127.0.0.1", a.port)
            assert resumed.data["user"] == "ann"
            await conn.close()
            await first.close()
    run(body(), timeout=90)


def test_a_listed_node_with_another_certificate_is_refused(tmp_path, postgres_url,
                                                          redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url, 1, tls=True) as (node,):
            async with running_server(tmp_path / "stranger", tls=True) as stranger:
                pins = KnownHosts(tmp_path / "known_hosts")
                where = Targets([("127.0.0.1", node.port)], known_hosts=pins)
                conn = await where.open()
                await conn.close()
                await node.stop("gone")
                where.learn({"cluster": [f"127.0.0.1:{stranger.port}"]})
                with pytest.raises(ConnectionFailed) as failed:
                    await where.open()
                assert "is not that server's" in str(failed.value), failed.value
                assert pins.pinned("127.0.0.1", stranger.port) is None
    run(body(), timeout=60)


def test_play_join_tries_each_address_in_turn(tmp_path, postgres_url, redis_server):
    import socket
    import subprocess

    with socket.socket() as hole:  # an address where nothing listens
        hole.bind(("127.0.0.1", 0))
        dead = hole.getsockname()[1]
    node = ServerProcess(tmp_path / "n", "--store", postgres_url, "--bus", redis_server.url)
    try:
        out = subprocess.run(
            play_command("join", f"127.0.0.1:{dead},127.0.0.1:{node.port}", "ann", "--plain"),
            input="hello from the second address\n", capture_output=True, text=True,
            env=child_env(PLAY_PASSWORD="pw"), timeout=60)
        assert out.returncode == 0, out.stderr
        assert "hello from the second address" in out.stdout
        bad = subprocess.run(play_command("join", "127.0.0.1:x,b", "ann", "--plain"),
                             capture_output=True, text=True, env=child_env(), timeout=30)
        assert bad.returncode == 2 and "not a port number" in bad.stderr, bad.stderr
    finally:
        node.stop()


def test_a_node_without_tls_lists_addresses_too(tmp_path, postgres_url, redis_server):
    async def body():
        async with running_server(tmp_path / "x", store_url=postgres_url,
                                  bus_url=redis_server.url) as node:
            ann = await logged_in(node.port, "ann")
            reply = await ann.request({"type": "resume", "token": "nope"})
            assert reply["type"] == "error"
            await ann.close()
            conn = await ClientConnection.open("127.0.0.1", node.port, tls=False)
            await conn.hello()
            reply = await conn.login("bob", "secret")
            assert reply.data["cluster"] == [f"127.0.0.1:{node.port}"]
            await conn.close()
    run(body(), timeout=60)
