"""Nodes of one cluster over real sockets: a shared PostgreSQL, a Redis bus, all on loopback."""

from __future__ import annotations

import contextlib

from helpers import ServerProcess, child_env, cluster_nodes, logged_in, run, running_server

from gameserver.runtime import ServerError


@contextlib.contextmanager
def node_processes(tmp_path, store: str, bus: str, count: int = 2):
    """`count` `play host --headless --no-tls` processes of one cluster; stopped after."""
    procs: list[ServerProcess] = []
    try:
        for n in range(count):
            procs.append(ServerProcess(tmp_path / f"p{n}", "--no-tls", "--store", store,
                                       "--bus", bus, env=child_env()))
        yield procs
    finally:
        for proc in procs:
            if proc.proc.poll() is None:
                proc.stop()


async def users_of(client) -> str:
    return " ".join((await client.command("users"))["lines"])


async def until(predicate, client, tries: int = 50) -> None:
    """Ask again until the cluster agrees (presence crosses the bus in milliseconds)."""
    import asyncio

    for _ in range(tries):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the cluster never agreed")


def test_two_nodes_chat_pms_broadcasts_and_replacement(tmp_path, postgres_url, redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await ann.expect("joined", nick="bob", room="lobby")
            assert (await ann.say("hello across nodes"))["type"] == "ok"
            got = await bob.expect("room_msg", text="hello across nodes")
            assert got["nick"] == "ann" and got["room"] == "lobby"
            assert (await bob.command("msg", "ann psst"))["type"] == "ok"
            pm = await ann.expect("pm", text="psst")
            assert pm["sender"] == "bob" and not pm.get("queued")
            reply = await ann.command("all", "everyone, everywhere")
            assert "2 users" in reply["text"]
            await bob.expect("bm", text="everyone, everywhere")
            assert "ann" in await users_of(bob) and "bob" in await users_of(ann)
            # ann logs in on node 1: her session on node 0 is replaced
            ann2 = await logged_in(n1.port, "ann")
            bye = await ann.expect("bye")
            assert bye["code"] == "replaced"
            await ann.wait_closed()
            assert (await bob.say("still one room"))["type"] == "ok"
            await ann2.expect("room_msg", text="still one room")
            await ann2.send({"type": "cmd", "name": "history", "args": "", "id": 99})
            page = await ann2.expect("history", id=99)
            texts = [e["text"] for e in page["entries"]]
            assert "hello across nodes" in texts and "still one room" in texts
            for client in (bob, ann2):
                await client.close()
    run(body(), timeout=120)  # every step is bounded by its own wait; this bounds them all


def test_redis_restarted_mid_chat_the_nodes_say_so_and_recover(tmp_path, postgres_url,
                                                               redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await ann.expect("joined", nick="bob")
            redis_server.restart()
            await ann.expect("notice", timeout=15,
                             where=lambda f: "link to the other nodes is down" in f["text"])
            # what is said meanwhile is still stored and confirmed on its own node
            assert (await ann.say("said while the bus was down"))["type"] == "ok"
            await ann.expect("notice", timeout=15,
                             where=lambda f: "link to the other nodes is back" in f["text"])
            await bob.expect("notice", timeout=15,
                             where=lambda f: "link to the other nodes is back" in f["text"])

            async def bob_is_back() -> bool:
                return "bob" in await users_of(ann)
            await until(bob_is_back, ann)
            assert (await ann.say("after the restart"))["type"] == "ok"
            await bob.expect("room_msg", text="after the restart", timeout=10)
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=90)


def test_a_node_refuses_to_start_without_its_engines_and_says_why(tmp_path, postgres_url):
    async def body():
        for kwargs in ({"store_url": "postgresql://play@127.0.0.1:1/none"},
                       {"store_url": postgres_url, "bus_url": "redis://127.0.0.1:1/0"}):
            try:
                async with running_server(tmp_path / "n", **kwargs):
                    raise AssertionError(f"started without its engine: {kwargs}")
            except ServerError as exc:
                assert "cannot" in str(exc), exc
    run(body(), timeout=60)


def test_play_host_with_store_and_bus_flags_is_a_node(tmp_path, postgres_url, redis_server):
    with node_processes(tmp_path, postgres_url, redis_server.url) as procs:
        async def body():
            ann = await logged_in(procs[0].port, "ann")
            bob = await logged_in(procs[1].port, "bob")
            await ann.expect("joined", nick="bob")
            await bob.say("from the second process")
            await ann.expect("room_msg", text="from the second process")
            await ann.close()
            await bob.close()
        run(body(), timeout=60)


def test_a_node_sigkilled_mid_game_its_game_goes_on_on_another(tmp_path, postgres_url,
                                                               redis_server):
    import time

    with node_processes(tmp_path, postgres_url, redis_server.url) as procs:
        async def body():
            ann = await logged_in(procs[0].port, "ann")
            bob = await logged_in(procs[1].port, "bob")
            await ann.expect("joined", nick="bob")

            async def bob_is_in_the_lobby() -> bool:  # node 0's mirror of node 1's presence
                return "bob" in " ".join((await ann.command("who"))["lines"])
            await until(bob_is_in_the_lobby, ann)
            game = await ann.command("game", "tictactoe bob")
            assert game["type"] == "ok", game
            gid = game["data"]["game_id"]
            await bob.expect("notice", where=lambda f: f"/accept {gid}" in f["text"])

            async def bob_accepts() -> bool:  # once node 1 knows the lobby's games are on 0
                reply = await bob.command("accept", str(gid))
                return reply["type"] == "ok"
            await until(bob_accepts, bob)
            await bob.expect("game", game_id=gid)
            assert (await ann.say("b2"))["type"] == "ok"
            assert (await bob.say("a1"))["type"] == "ok"  # played on node 0, from node 1
            await ann.expect("game", where=lambda f: "a1" in (f.get("text") or ""))
            procs[0].kill()  # SIGKILL, mid-game
            killed = time.monotonic()
            note = await bob.expect("notice", timeout=20,
                                    where=lambda f: f"game {gid} goes on" in f["text"])
            failover = time.monotonic() - killed
            assert failover < 15, failover
            ann2 = await logged_in(procs[1].port, "ann")  # ann's client moves to node 1
            assert (await ann2.say("c3"))["type"] == "ok"
            after = await bob.expect("game", game_id=gid,
                                     where=lambda f: "c3" in (f.get("text") or ""))
            marks = "".join(after["board"][1:6])  # the three rows and their rules
            assert (marks.count("X"), marks.count("O")) == (2, 1), after  # nothing lost
            assert after["turn"] == "bob", (after, note)
            for client in (bob, ann2):
                await client.close()
        run(body(), timeout=90)
