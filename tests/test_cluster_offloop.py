"""A slow PostgreSQL never freezes a node: its commits and reads wait in store threads."""

from __future__ import annotations

import asyncio
import threading
import time

from helpers import RawClient, logged_in, run, running_server

SLOW = 3.0  # seconds the test's transaction holds the messages table


def hold_messages_table(url: str, held: threading.Event, seconds: float) -> None:
    """A slow query: lock the messages table, then pg_sleep while holding it."""
    import psycopg

    with psycopg.connect(url) as db:  # one transaction until the block ends
        db.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        held.set()
        db.execute("SELECT pg_sleep(%s)", (seconds,))


def test_the_loop_keeps_serving_while_a_query_is_slow(tmp_path, postgres_url):
    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann = await logged_in(node.port, "ann")
            bob = await logged_in(node.port, "bob")
            carol = await logged_in(node.port, "carol")
            assert (await ann.say("before the slow query"))["type"] == "ok"
            held = threading.Event()
            blocker = threading.Thread(target=hold_messages_table,
                                       args=(postgres_url, held, SLOW))
            blocker.start()
            assert await asyncio.to_thread(held.wait, 10)
            started = time.monotonic()
            # a line to store and a history read: both need the table, so both wait ...
            await ann.send({"type": "say", "text": "during the slow query", "id": 501})
            await bob.send({"type": "cmd", "name": "history", "args": "", "id": 502})
            await asyncio.sleep(0.2)  # they reached the node (and its store threads)
            # ... while the node answers everyone else at once (bob's own next request
            # waits its turn behind his history: one connection's replies keep its order)
            await bob.send({"type": "cmd", "name": "users", "args": "", "id": 503})
            for _ in range(5):
                asked = time.monotonic()
                users = await carol.command("users")
                assert users["type"] == "ok" and time.monotonic() - asked < 1.0
            newcomer = await RawClient.connect(node.port)
            asked = time.monotonic()
            await newcomer.hello()
            assert time.monotonic() - asked < 1.0  # a new connection is welcomed too
            assert time.monotonic() - started < SLOW - 0.5, "the node waited on the database"
            assert not [f for f in ann.seen if f.get("id") == 501], "confirmed before stored"
            # once the query ends, the line is stored, confirmed and delivered, in order
            ok = await ann.expect_reply(501)
            assert ok["type"] == "ok" and time.monotonic() - started >= SLOW - 0.5
            got = await bob.expect("room_msg", text="during the slow query")
            assert got["nick"] == "ann"
            page = await bob.expect("history", id=502)
            assert "before the slow query" in [e["text"] for e in page["entries"]]
            assert (await bob.expect_reply(503))["type"] == "ok"
            replies = [f.get("id") for f in bob.seen if f.get("id") in (502, 503)]
            assert replies[0] == 502 and replies[-1] == 503, replies
            await asyncio.to_thread(blocker.join, 10)
            for client in (ann, bob, carol, newcomer):
                await client.close()
    run(body(), timeout=60)


def test_a_failing_read_in_a_store_thread_still_gets_its_answer(tmp_path, postgres_url):
    """A read that fails off the loop is answered with `storage`, never left hanging."""
    import psycopg

    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann = await logged_in(node.port, "ann")
            with psycopg.connect(postgres_url, autocommit=True) as db:
                db.execute("ALTER TABLE messages RENAME TO messages_away")
                try:
                    reply = await ann.command("history")
                finally:
                    db.execute("ALTER TABLE messages_away RENAME TO messages")
            assert reply["type"] == "error" and reply["code"] == "storage", reply
            assert (await ann.say("and the node goes on"))["type"] == "ok"
            await ann.close()
    run(body(), timeout=60)


def test_a_login_reads_its_ignore_list_off_the_loop(tmp_path, postgres_url):
    """With the ignores table locked, a login waits for its list; nobody else does."""
    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            bob = await logged_in(node.port, "bob")
            held = threading.Event()
            blocker = threading.Thread(target=hold_table,
                                       args=(postgres_url, "ignores", held, SLOW))
            blocker.start()
            assert await asyncio.to_thread(held.wait, 10)
            started = time.monotonic()
            ann = await RawClient.connect(node.port)
            await ann.hello()
            await ann.send({"type": "login", "id": 1, "user": "ann", "password": "secret"})
            await asyncio.sleep(0.2)
            for _ in range(3):
                asked = time.monotonic()
                assert (await bob.command("users"))["type"] == "ok"
                assert time.monotonic() - asked < 1.0, "the node waited on the database"
            assert time.monotonic() - started < SLOW - 0.5
            assert not [f for f in await ann.drain_frames(0.1) if f.get("type") == "room"]
            # once the list is read, the login goes on into its rooms
            await ann.expect("room", timeout=SLOW + 5)
            assert time.monotonic() - started >= SLOW - 0.5
            await asyncio.to_thread(blocker.join, 10)
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=60)


def hold_table(url: str, table: str, held: threading.Event, seconds: float) -> None:
    import psycopg

    with psycopg.connect(url) as db:
        db.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        held.set()
        db.execute("SELECT pg_sleep(%s)", (seconds,))


def test_community_writes_are_committed_before_their_reply(tmp_path, postgres_url):
    """A role, an ignore, a modlog line and an SSH key: in the database when the ok comes."""
    import asyncssh
    import psycopg

    def rows(sql: str) -> list[tuple]:
        with psycopg.connect(postgres_url, autocommit=True) as db:
            return db.execute(sql).fetchall()

    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann, bob = [await logged_in(node.port, n) for n in ("ann", "bob")]
            for client in (ann, bob):
                assert (await client.command("join", "den"))["type"] == "ok"
            assert (await ann.command("op", "bob"))["type"] == "ok"
            assert ("bob", "op") in await asyncio.to_thread(
                rows, "SELECT name, role FROM roles WHERE scope = '#den'")
            assert (await bob.command("ignore", "ann"))["type"] == "ok"
            assert await asyncio.to_thread(rows, "SELECT name FROM ignores") == [("ann",)]
            log = await ann.command("modlog")
            assert log["type"] == "ok" and any("op bob" in line for line in log["lines"]), log
            public = asyncssh.generate_private_key("ssh-ed25519").export_public_key()
            added = await bob.command("sshkey", "add " + public.decode().strip())
            assert added["type"] == "ok", added
            assert await asyncio.to_thread(rows, 'SELECT name FROM ssh_keys') == [("bob",)]
            listed = await bob.command("sshkey", "list")
            assert len(listed["data"]["ssh_keys"]) == 1, listed
            await bob.close()
            again = await logged_in(node.port, "bob")  # the list is read back at login
            await again.expect("notice", where=lambda f: f["text"] == "you ignore ann")
            for client in (ann, again):
                await client.close()
    run(body(), timeout=60)
