"""A game's writes on PostgreSQL wait in store threads: chat flows meanwhile, moves are undone
if refused."""

from __future__ import annotations

import asyncio
import threading
import time

from helpers import logged_in, run, running_server

SLOW = 3.0  # seconds the test's transaction holds the games table


def hold_table(url: str, table: str, held: threading.Event, seconds: float) -> None:
    """A slow database for one table: lock it, then pg_sleep while holding it."""
    import psycopg

    with psycopg.connect(url) as db:  # one transaction until the block ends
        db.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        held.set()
        db.execute("SELECT pg_sleep(%s)", (seconds,))


def stored_state(url: str, game_id: int) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return db.execute("SELECT state FROM games WHERE id = %s", (game_id,)).fetchone()[0]


def played(move: str):
    return lambda frame: move in (frame.get("text") or "")


async def game_between(ann, bob) -> int:
    game = await ann.command("game", "tictactoe bob")
    assert game["type"] == "ok", game
    gid = game["data"]["game_id"]
    assert (await bob.command("accept", str(gid)))["type"] == "ok"
    await bob.expect("game", game_id=gid)
    return gid


def test_chat_flows_while_a_move_waits_for_a_slow_database(tmp_path, postgres_url):
    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann, bob, cat, dan = [await logged_in(node.port, n)
                                  for n in ("ann", "bob", "cat", "dan")]
            for client in (cat, dan):
                assert (await client.command("join", "chat"))["type"] == "ok"
            gid = await game_between(ann, bob)
            held = threading.Event()
            blocker = threading.Thread(target=hold_table,
                                       args=(postgres_url, "games", held, SLOW))
            blocker.start()
            assert await asyncio.to_thread(held.wait, 10)
            started = time.monotonic()
            await ann.send({"type": "say", "text": "b2", "id": 901})  # the move's save waits
            await dan.send({"type": "cmd", "name": "game", "args": "tictactoe cat",
                            "id": 902})  # and so does a new game's creation
            await asyncio.sleep(0.2)
            # ... while chat in another room is stored, confirmed and delivered at once
            for n in range(5):
                asked = time.monotonic()
                assert (await cat.say(f"line {n}"))["type"] == "ok"
                await dan.expect("room_msg", text=f"line {n}")
                assert time.monotonic() - asked < 1.0, "chat waited for the game's save"
            assert time.monotonic() - started < SLOW - 0.5, "the node waited on the database"
            # nobody was shown, or told ok about, a move that is not committed
            early = await ann.drain_frames(0.1) + await bob.drain_frames(0.1)
            assert not [f for f in early if f.get("id") == 901], "confirmed before stored"
            assert not [f for f in early if f.get("type") == "game" and played("b2")(f)]
            assert not [f for f in await dan.drain_frames(0.1) if f.get("id") == 902]
            # once the lock goes: stored, then confirmed and shown
            ok = await ann.expect_reply(901)
            assert ok["type"] == "ok" and time.monotonic() - started >= SLOW - 0.5
            await bob.expect("game", game_id=gid, where=played("b2"))
            assert "b2" in await asyncio.to_thread(stored_state, postgres_url, gid)
            made = await dan.expect_reply(902)
            assert made["type"] == "ok" and made["data"]["game_id"] != gid, made
            await asyncio.to_thread(blocker.join, 10)
            for client in (ann, bob, cat, dan):
                await client.close()
    run(body(), timeout=60)


def test_a_refused_save_undoes_the_move_and_the_game_goes_on(tmp_path, postgres_url):
    import psycopg

    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann, bob = [await logged_in(node.port, n) for n in ("ann", "bob")]
            gid = await game_between(ann, bob)
            await bob.drain_frames(0.2)
            with psycopg.connect(postgres_url, autocommit=True) as db:
                db.execute("ALTER TABLE games RENAME TO games_away")
                try:
                    reply = await ann.say("b2")
                    # the room is shown the board as stored: no b2 on it
                    board = await bob.expect("game", game_id=gid)
                finally:
                    db.execute("ALTER TABLE games_away RENAME TO games")
            assert reply["type"] == "error" and reply["code"] == "storage", reply
            assert "X" not in "".join(board["board"][1:6]) and board["turn"] == "ann", board
            assert "b2" not in await asyncio.to_thread(stored_state, postgres_url, gid)
            # the move never happened: ann plays again, and the game goes on from there
            assert (await ann.say("b2"))["type"] == "ok"
            assert (await bob.say("a1"))["type"] == "ok"
            after = await ann.expect("game", game_id=gid, where=played("a1"))
            marks = "".join(after["board"][1:6])
            assert (marks.count("X"), marks.count("O")) == (1, 1), after
            stored = await asyncio.to_thread(stored_state, postgres_url, gid)
            assert "b2" in stored and "a1" in stored
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=60)
