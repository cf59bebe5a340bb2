"""Nicks are unique per room across the cluster, even when two nodes are asked at one moment."""

from __future__ import annotations

import asyncio

from helpers import cluster_nodes, logged_in, run

ROUNDS = 6


async def both_see(clients, room: str, predicate) -> list[list[str]]:
    """Ask /who on every client until `predicate(lines_of_each)` holds (presence settles)."""
    lines: list[list[str]] = []
    for _ in range(80):
        lines = [(await c.command("who", room))["lines"] for c in clients]
        if predicate(lines):
            return lines
        await asyncio.sleep(0.05)
    raise AssertionError(f"the nodes never agreed: {lines}")


def test_the_same_nick_asked_on_two_nodes_at_once_goes_to_one(tmp_path, postgres_url,
                                                             redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await both_see([ann, bob], "lobby", lambda ls: all(len(x) == 2 for x in ls))
            winners = []
            for i in range(ROUNDS):
                nick = f"zed{i}"
                # both frames leave before either answer: the nodes decide at one moment
                await ann.send({"type": "cmd", "name": "nick", "args": nick, "id": 100 + i})
                await bob.send({"type": "cmd", "name": "nick", "args": nick, "id": 100 + i})
                replies = [await ann.expect_reply(100 + i), await bob.expect_reply(100 + i)]
                kinds = sorted(r["type"] for r in replies)
                assert kinds == ["error", "ok"], replies
                loser = next(r for r in replies if r["type"] == "error")
                assert loser["code"] == "nick_taken", loser
                winners.append("ann" if replies[0]["type"] == "ok" else "bob")
                # and both nodes end up showing it once, for the winner
                await both_see([ann, bob], "lobby", lambda ls, n=nick, w=winners[-1]: all(
                    sum(line.split()[0] == n for line in x) == 1
                    and any(line.startswith(f"{n} ({w})") for line in x) for x in ls))
            # a nick let go (renamed away) is free again on the other node
            last, other = (ann, bob) if winners[-1] == "ann" else (bob, ann)
            assert (await last.command("nick", "elsewhere"))["type"] == "ok"
            await both_see([ann, bob], "lobby", lambda ls: all(
                any(line.startswith("elsewhere") for line in x) for x in ls))
            reply = await other.command("nick", f"zed{ROUNDS - 1}")
            assert reply["type"] == "ok", reply
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=120)


def test_a_nick_taken_by_a_join_and_a_rename_at_once_is_kept_by_one(tmp_path, postgres_url,
                                                                   redis_server):
    """A session entering a room with a nick of its own claims it too; the loser is told."""
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            assert (await ann.command("nick", "kay"))["type"] == "ok"  # ann is kay in lobby
            assert (await bob.command("join", "den"))["type"] == "ok"
            await both_see([ann, bob], "lobby", lambda ls: all(len(x) == 2 for x in ls))
            # ann joins den as kay while bob renames himself kay in den
            await ann.send({"type": "cmd", "name": "join", "args": "den", "id": 301})
            await bob.send({"type": "cmd", "name": "nick", "args": "kay den", "id": 302})
            await ann.expect_reply(301)
            await bob.expect_reply(302)
            lines = await both_see([ann, bob], "den", lambda ls: all(
                len(x) == 2 and sum(line.split()[0] == "kay" for line in x) == 1 for x in ls))
            assert lines[0] == lines[1], lines
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=120)


def test_a_dead_nodes_nicks_are_free(tmp_path, postgres_url, redis_server):
    """A nick held by a user of a node that stopped is not held against the living."""
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            ann = await logged_in(n0.port, "ann")
            assert (await ann.command("nick", "ghost"))["type"] == "ok"
            import psycopg

            with psycopg.connect(postgres_url, autocommit=True) as db:  # as a crash leaves it
                db.execute("UPDATE nick_claims SET node = 'a node that died'"
                           " WHERE nick_key = 'ghost'")
            await ann.close()
            bob = await logged_in(n1.port, "bob")
            await both_see([bob], "lobby", lambda ls: ls[0] == ["bob"])  # ann's logout heard
            reply = await bob.command("nick", "ghost")
            assert reply["type"] == "ok", reply
            await bob.close()
    run(body(), timeout=60)
