"""Two nodes, PostgreSQL stopped: a change that cannot be stored is refused in words, never
`ok`, and after the database is back and a restart the community is as the replies said.
The community's reads run in store threads, not on the loop."""

from __future__ import annotations

import asyncio
import threading

from helpers import cluster_nodes, logged_in, run

from gameserver.stores.pgcommunity import PostgresCommunityStore

OUTAGE_WORDS = ("an op", "topic", "slow mode", "ignore")


async def joined_den(ann, bob) -> None:
    assert (await ann.command("join", "den"))["type"] == "ok"
    assert (await bob.command("join", "den"))["type"] == "ok"
    await ann.expect("joined", room="den", nick="bob")


async def until_ok(ask, tries: int = 100) -> dict:
    for _ in range(tries):
        reply = await ask()
        if reply["type"] == "ok":
            return reply
        await asyncio.sleep(0.1)
    return reply


def test_changes_refused_while_postgresql_is_down_hold_nowhere(tmp_path, postgres_server,
                                                              redis_server, monkeypatch):
    url = postgres_server.new_database()
    threads: dict[str, list[str]] = {"load": [], "set_password_hash": []}
    for name in threads:
        real = getattr(PostgresCommunityStore, name)

        def spy(self, *args, real=real, name=name):
            threads[name].append(threading.current_thread().name)
            return real(self, *args)

        monkeypatch.setattr(PostgresCommunityStore, name, spy)

    async def body():
        async with cluster_nodes(tmp_path, url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await joined_den(ann, bob)
            await ann.expect("notice", where=lambda f: "you own #den" in f["text"])
            await bob.drain_frames(0.3)
            await asyncio.to_thread(postgres_server.halt)
            try:
                replies = [await ann.command("op", "bob"), await ann.command("topic", "plans"),
                           await ann.command("slow", "30"), await ann.command("ignore", "bob"),
                           await bob.command("ignore", "ann")]
                # told once that it cannot store; never that it stores again while it cannot
                told = [str(f.get("text")) for f in await ann.drain_frames(0.5)
                        if f.get("type") == "notice"]
                assert any("cannot store" in t for t in told), told
                assert not any("storing again" in t for t in told), told
            finally:
                await asyncio.to_thread(postgres_server.resume)
            for reply in replies:
                assert reply["type"] == "error" and reply["code"] == "storage", reply
                assert "did not happen" in reply["text"], reply
            assert (await until_ok(lambda: ann.say("the database is back")))["type"] == "ok"
            await bob.expect("room_msg", text="the database is back")  # ann not ignored
            for frame in await bob.drain_frames(0.5):
                text = str(frame.get("text") or "")
                assert not any(word in text for word in OUTAGE_WORDS), frame
                assert frame.get("type") not in ("roles", "topic"), frame
            assert (await ann.command("ignore"))["data"]["ignores"] == []
            assert (await bob.command("topic"))["text"] == "#den has no topic"
            # the same on a working database: confirmed once stored, on both nodes
            assert (await ann.command("op", "bob"))["type"] == "ok"
            await bob.expect("notice", where=lambda f: "ann made bob an op" in f["text"])
            # node 1 reads the community again (in a store thread): bob is an op there too
            topic = await until_ok(lambda: bob.command("topic", "from bob"))
            assert topic["type"] == "ok", topic
            assert (await ann.command("ignore", "bob"))["type"] == "ok"
            changed = await ann.command("password", secret="secret\nsecret2")
            assert changed["type"] == "ok", changed
            for client in (ann, bob):
                await client.close()
        async with cluster_nodes(tmp_path, url, redis_server.url) as (n0, n1):  # a restart
            ann = await logged_in(n1.port, "ann", "secret2")
            bob = await logged_in(n0.port, "bob")
            assert (await ann.command("ignore"))["data"]["ignores"] == ["bob"]
            assert (await bob.command("ignore"))["data"]["ignores"] == []
            assert (await ann.command("join", "den"))["type"] == "ok"
            roles = await ann.expect("roles", room="den")
            assert roles["roles"] == {"ann": "owner", "bob": "op"}, roles
            assert roles["topic"] == "from bob"
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=150)
    import psycopg

    with psycopg.connect(url) as db:
        assert db.execute("SELECT slow FROM room_rules").fetchall() == [(0,)]  # never 30
        actions = [row[0] for row in db.execute("SELECT action FROM modlog ORDER BY id")]
        assert actions == ["owner", "op", "topic", "password"], actions
        assert db.execute("SELECT key, ignored FROM ignores").fetchall() == [("ann", "bob")]
    # Read at each node's start (4 starts), and again in store threads when the other
    # node changed something; a password is written in a store thread too.
    assert len([t for t in threads["load"] if not t.startswith("play-store")]) == 4, threads
    assert any(t.startswith("play-store") for t in threads["load"]), threads
    assert threads["set_password_hash"] and all(
        t.startswith("play-store") for t in threads["set_password_hash"]), threads
