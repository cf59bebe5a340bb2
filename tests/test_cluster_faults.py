"""A cluster survives its engines: PostgreSQL restarted under two nodes; three nodes, one killed."""

from __future__ import annotations

import asyncio
import time

from helpers import ServerProcess, child_env, logged_in, run, running_server


def test_postgresql_restarted_the_nodes_say_so_refuse_and_recover(tmp_path, postgres_server,
                                                                  redis_server):
    url = postgres_server.new_database()

    async def body():
        async with running_server(tmp_path / "n0", store_url=url, bus_url=redis_server.url) \
                as n0, running_server(tmp_path / "n1", store_url=url,
                                      bus_url=redis_server.url) as n1:
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await ann.expect("joined", nick="bob")
            assert (await ann.say("before the outage"))["type"] == "ok"
            await bob.expect("room_msg", text="before the outage")
            await asyncio.to_thread(postgres_server.halt)
            try:
                # what cannot be stored is refused, said to its sender, and never delivered
                refused = await ann.say("while the database is down")
                assert refused["type"] == "error" and refused["code"] == "storage", refused
                await ann.expect("notice", where=lambda f: "cannot store" in f["text"])
                reply = await bob.command("history")  # a read: refused in words too
                assert reply["type"] == "error" and reply["code"] == "storage", reply
                assert (await bob.command("users"))["type"] == "ok"  # the rest goes on
            finally:
                await asyncio.to_thread(postgres_server.resume)
            # back by themselves: the next line is stored, confirmed and delivered
            for _ in range(50):
                reply = await ann.say("after the outage")
                if reply["type"] == "ok":
                    break
                await asyncio.sleep(0.2)
            assert reply["type"] == "ok", reply
            await ann.expect("notice", where=lambda f: "storing again" in f["text"])
            got = await bob.expect("room_msg", text="after the outage")
            assert got["nick"] == "ann"
            assert not [f for f in bob.seen if f.get("text") == "while the database is down"]
            await bob.send({"type": "cmd", "name": "history", "args": "", "id": 77})
            page = await bob.expect("history", id=77)
            texts = [e["text"] for e in page["entries"]]
            assert "before the outage" in texts and "after the outage" in texts
            assert "while the database is down" not in texts
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=120)


def test_three_nodes_one_sigkilled_mid_game_the_others_carry_on(tmp_path, postgres_url,
                                                                redis_server):
    """Three `play host` processes; a game hosted on node 0, watched from node 2; kill 0."""
    procs = [ServerProcess(tmp_path / f"p{n}", "--no-tls", "--store", postgres_url,
                           "--bus", redis_server.url, env=child_env()) for n in range(3)]
    try:
        async def body():
            ann = await logged_in(procs[0].port, "ann")
            bob = await logged_in(procs[1].port, "bob")
            cat = await logged_in(procs[2].port, "cat")

            async def lobby_of(client) -> str:
                return " ".join((await client.command("who"))["lines"])
            for _ in range(100):  # every node mirrors every user
                seen = [await lobby_of(c) for c in (ann, bob, cat)]
                if all(all(u in s for u in ("ann", "bob", "cat")) for s in seen):
                    break
                await asyncio.sleep(0.05)
            game = await ann.command("game", "tictactoe bob")
            assert game["type"] == "ok", game
            gid = game["data"]["game_id"]
            for _ in range(100):  # once node 1 knows the lobby's games are on node 0
                if (await bob.command("accept", str(gid)))["type"] == "ok":
                    break
                await asyncio.sleep(0.05)
            await cat.expect("game", game_id=gid)  # the watcher on the third node
            assert (await ann.say("b2"))["type"] == "ok"
            await cat.expect("game", game_id=gid, where=lambda f: "b2" in (f.get("text") or ""))
            procs[0].kill()  # SIGKILL, mid-game
            killed = time.monotonic()
            for watcher in (bob, cat):
                await watcher.expect("notice", timeout=20,
                                     where=lambda f: f"game {gid} goes on" in f["text"])
            assert time.monotonic() - killed < 15
            # chat between the living goes on meanwhile, and the game too
            assert (await cat.say("still here"))["type"] == "ok"
            await bob.expect("room_msg", text="still here")
            assert (await bob.say("a1"))["type"] == "ok"
            after = await cat.expect("game", game_id=gid,
                                     where=lambda f: "a1" in (f.get("text") or ""))
            marks = "".join(after["board"][1:6])
            assert (marks.count("X"), marks.count("O")) == (1, 1), after
            assert after["turn"] == "ann"
            for client in (bob, cat):
                await client.close()
        run(body(), timeout=120)
    finally:
        for proc in procs:
            if proc.proc.poll() is None:
                proc.stop()
