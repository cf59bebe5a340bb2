"""Privacy by construction: every naming collision between rooms, users and the server's own."""

from __future__ import annotations

import subprocess

import pytest
from helpers import RawClient, child_env, logged_in, play_command, run, running_server

from gameserver.store import EVERYONE, SQLiteStore


async def history(client: RawClient, args: str = "") -> list[dict]:
    msg_id = client.next_id()
    await client.send({"type": "cmd", "id": msg_id, "name": "history", "args": args})
    entries: list[dict] = []
    while True:
        page = await client.expect("history", id=msg_id)
        entries += page["entries"]
        if page["last"]:
            return entries


def texts(entries: list[dict]) -> list[str]:
    return [e["text"] for e in entries]


def export(data_dir, user: str, cwd) -> str:
    done = subprocess.run(play_command("history", user, "--data-dir", str(data_dir), "--stdout"),
                          capture_output=True, text=True, timeout=30, env=child_env(), cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_room_named_after_a_user_never_shows_that_users_pms(tmp_path):
    async def body():
        async with running_server(tmp_path / "data") as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            mallory = await logged_in(server.port, "mallory")
            for room in ("alice", "#Alice", "ALICE"):  # one room, however it is spelt
                reply = await mallory.command("join", room)
                assert reply["type"] in ("ok", "error"), reply
            assert (await bob.command("msg", "alice secret-while-mallory-sits-in-#alice"))[
                "type"] == "ok"
            assert (await alice.command("msg", "bob secret-reply"))["type"] == "ok"
            await mallory.say("mallory talks in #alice")
            for args in ("", "alice", "@alice", "@bob", "alice 500", "500"):
                seen = texts(await history(mallory, args))
                assert not any("secret" in t for t in seen), (args, seen)
            assert "mallory talks in #alice" in texts(await history(mallory, "alice"))
            # alice, never in #alice, does not see its chat as hers
            assert "mallory talks in #alice" not in texts(await history(alice, "500"))
            assert "secret-while-mallory-sits-in-#alice" in texts(await history(alice))
        out = export(tmp_path / "data", "mallory", tmp_path)
        assert "secret" not in out and "mallory talks in #alice" in out
        assert "secret-reply" in export(tmp_path / "data", "alice", tmp_path)
    run(body())


def test_a_user_named_after_a_room_never_reads_that_rooms_chat(tmp_path):
    async def body():
        async with running_server(tmp_path / "data") as server:
            ann = await logged_in(server.port, "ann")
            await ann.command("join", "den")
            await ann.say("said in den before den existed")
            den = await logged_in(server.port, "den")  # a user with the room's name
            await ann.say("said in den while den is online in the lobby")
            await ann.command("all", "a broadcast den hears")
            seen = texts(await history(den, "500"))
            assert seen == ["a broadcast den hears"]
            assert texts(await history(den, "den")) == []
            assert texts(await history(den, "@ann")) == ["a broadcast den hears"]
            # and a PM to the user den is not room chat of #den
            assert (await ann.command("msg", "den just for you"))["type"] == "ok"
            assert "just for you" not in texts(await history(ann, "den"))
            newcomer = await logged_in(server.port, "newcomer")
            await newcomer.command("join", "den")
            assert "just for you" not in texts(await history(newcomer, "den"))
    run(body())


def test_offline_pms_wait_for_their_user_not_for_a_room_of_that_name(tmp_path):
    async def body():
        async with running_server(tmp_path / "data") as server:
            alice = await logged_in(server.port, "alice")
            await alice.command("quit")
            await alice.wait_closed()
            bob = await logged_in(server.port, "bob")
            assert (await bob.command("msg", "alice while you were away"))["type"] == "ok"
            eve = await logged_in(server.port, "eve")
            await eve.command("join", "alice")
            await eve.command("quit")
            await eve.wait_closed()
            eve = await RawClient.connect(server.port)
            await eve.hello()
            await eve.login("eve")
            assert not any(f.get("type") == "pm" for f in await eve.drain_frames())
            alice = await RawClient.connect(server.port)
            await alice.hello()
            await alice.login("alice")
            pm = await alice.expect("pm")
            assert pm["text"] == "while you were away" and pm["queued"] is True
    run(body())


@pytest.mark.parametrize("name", [
    "lobby", "Lobby", "system", "SYSTEM", "server", "bot", "everyone", "admin", "nickserv",
    "tictactoe", "hangman",  # game results and notices are recorded under the game's name
])
def test_names_of_the_servers_own_speakers_cannot_be_registered(tmp_path, name):
    async def body():
        async with running_server(tmp_path) as server:
            client = await RawClient.connect(server.port)
            await client.hello()
            reply = await client.login(name)
            assert reply["type"] == "error" and reply["code"] == "bad_name", reply
            assert "reserved" in reply["text"]
            still = await logged_in(server.port, "ordinary")  # the server carries on
            assert (await still.say("fine"))["type"] == "ok"
    run(body())


def test_rooms_with_names_that_are_not_names_are_refused(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            ann = await logged_in(server.port, "ann")
            for room in ("*", "#", "@alice", "a/b", "ann bob"):
                reply = await ann.command("join", room)
                assert reply["type"] == "error", (room, reply)
    run(body())


def test_the_store_keeps_rooms_users_and_everyone_apart(tmp_path):
    store = SQLiteStore(tmp_path / "play.db")
    store.enter_scope("mallory", "alice")  # mallory is in the room #alice
    store.enter_scope("mallory", EVERYONE)
    store.add_message("PM", "bob", "alice", "to the user alice")
    store.add_message("ROOM", "carol", "alice", "in the room #alice")
    store.add_message("GAME", "tictactoe", "alice", "a game in #alice")
    store.add_message("BM", "carol", EVERYONE, "to everyone online")
    store.add_message("ROOM", "mallory", "alice", "mallory's own")
    store.commit()
    assert [e.text for e in store.history("mallory", 50)] == [
        "in the room #alice", "a game in #alice", "to everyone online", "mallory's own"]
    assert [e.text for e in store.history("alice", 50)] == ["to the user alice"]
    assert [e.text for e in store.history("tictactoe", 50)] == []  # a game is no speaker
    rows = store.db.execute("SELECT type, receiver FROM messages ORDER BY id").fetchall()
    assert rows == [("PM", "alice"), ("ROOM", "#alice"), ("GAME", "#alice"), ("BM", "*"),
                    ("ROOM", "#alice")]
    assert {r[0] for r in store.db.execute("SELECT scope FROM memberships")} == {"#alice", "*"}
    assert [e.receiver for e in store.room_scrollback("alice", 5)] == ["alice"] * 3
    store.close()


def test_a_store_of_the_old_layout_is_migrated_without_leaks(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "play.db", isolation_level=None)
    from gameserver.store import _SCHEMA
    db.executescript(_SCHEMA)
    db.executescript("""
        INSERT INTO messages (id, ts, type, sender, receiver, text)
            VALUES (1, 1.0, 'PM', 'bob', 'alice', 'old secret');
        INSERT INTO messages (id, ts, type, sender, receiver, text)
            VALUES (2, 2.0, 'ROOM', 'carol', 'alice', 'old room chat');
        INSERT INTO memberships VALUES ('mallory', 'alice', 0, NULL);
    """)
    db.close()
    ro = SQLiteStore(tmp_path / "play.db", readonly=True)  # the old layout, read as it is
    assert [e.text for e in ro.history("mallory", 10)] == ["old room chat"]
    ro.close()
    store = SQLiteStore(tmp_path / "play.db")
    assert [e.text for e in store.history("mallory", 10)] == ["old room chat"]
    assert [e.receiver for e in store.history("mallory", 10)] == ["alice"]
    assert [e.text for e in store.history("alice", 10)] == ["old secret"]
    store.close()


def test_a_guest_name_is_never_handed_to_a_second_person(tmp_path):
    """Guests of the classic door are numbered afresh each run: a name with history in the
    store is skipped, or the next guest-1 would own the last one's rooms and PMs."""
    from test_classic_door import classic_server, guest

    async def body():
        async with classic_server(tmp_path) as (server, door):
            ann = await logged_in(server.port, "ann")
            await ann.command("join", "den")
            first = await guest(door)
            await first.send("/join den")
            assert await first.line() == "0"
            await ann.say("said while guest-1 was in den")
            assert "ann: said while guest-1 was in den" in await first.until(
                "ann: said while guest-1 was in den")
            assert "guest-1" in server.hub.online
            first.close()
        async with classic_server(tmp_path) as (server, door):
            second = await guest(door)
            await second.send("/who")
            await second.line()
            names = set(server.hub.online)
            assert "guest-1" not in names and any(n.startswith("guest-") for n in names)
            assert "said while guest-1" not in [
                e.text for n in names for e in server.store.history(n, 50)]
    run(body())
