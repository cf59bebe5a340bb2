"""Two `play host` processes on a real PostgreSQL and Redis; one is SIGKILLed mid-game: the
bus and the database see it go at once, so its game is taken over before its lease runs
out, and its user resumes on the other node with their token: their rooms as they left
them (a /nick, a /part a moment before the kill too) and their nicks."""

from __future__ import annotations

import asyncio
import time

import psycopg
from helpers import RawClient, ServerProcess, child_env, logged_in, run


async def nicks(client: RawClient, room: str) -> list[str]:
    return [m["nick"] for m in (await client.command("who", room))["data"]["members"]]


def test_a_sigkilled_nodes_game_and_user_come_back_on_the_other_node(tmp_path, postgres_url,
                                                                      redis_server):
    procs = [ServerProcess(tmp_path / f"k{n}", "--no-tls", "--store", postgres_url,
                           "--bus", redis_server.url, env=child_env()) for n in range(2)]
    try:
        async def body():
            ann = await RawClient.connect(procs[0].port)
            await ann.hello()
            token = (await ann.login("ann"))["data"]["token"]
            bob = await logged_in(procs[1].port, "bob")
            assert (await ann.command("join", "den"))["type"] == "ok"
            assert (await bob.command("join", "den"))["type"] == "ok"
            for _ in range(100):  # node 1 mirrors ann in #den, node 0 mirrors bob
                if "bob" in await nicks(ann, "lobby") and "ann" in await nicks(bob, "den"):
                    break
                await asyncio.sleep(0.05)
            game = await ann.command("game", "tictactoe bob", room="lobby")
            assert game["type"] == "ok", game
            gid = game["data"]["game_id"]
            for _ in range(100):  # once node 1 knows the lobby's games are on node 0
                if (await bob.command("accept", str(gid), room="lobby"))["type"] == "ok":
                    break
                await asyncio.sleep(0.05)
            move = await ann.request({"type": "say", "text": "b2", "room": "lobby"})
            assert move["type"] == "ok", move
            # the last things ann does before the kill: her token must know them
            assert (await ann.command("join", "cafe"))["type"] == "ok"
            assert (await ann.command("nick", "annie den"))["type"] == "ok"
            assert (await ann.command("part", "cafe"))["type"] == "ok"  # not back in it
            with psycopg.connect(postgres_url, autocommit=True) as db:
                (runs_out,) = db.execute("SELECT lease_until FROM games WHERE id = %s",
                                         (gid,)).fetchone()
            procs[0].kill()  # SIGKILL
            await bob.expect("notice", timeout=20,
                             where=lambda f: f"game {gid} goes on" in f["text"])
            assert time.time() < runs_out, "taken over only when node 0's lease ran out"
            # ann comes back on node 1 with her token: as ann, annie in #den, not in #cafe
            again = await RawClient.connect(procs[1].port)
            await again.hello()
            reply = await again.request({"type": "resume", "token": token})
            assert reply["type"] == "ok", reply
            await again.expect("room", room="den")
            rooms = [f for f in again.seen if f["type"] == "room"]  # every one, cafe not
            assert sorted((r["room"], r["nick"]) for r in rooms) == [
                ("den", "annie"), ("lobby", "ann")], rooms
            lobby = await nicks(bob, "lobby")
            assert sorted(lobby) == ["ann", "bob"], lobby
            for client in (ann, bob, again):
                await client.close()

        run(body(), timeout=90)
    finally:
        for proc in procs:
            if proc.proc.poll() is None:
                proc.stop()
