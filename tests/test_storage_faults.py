"""Confirmed means stored: a failing store, from both sides (nothing confirmed is missing,
nothing missing was confirmed), in process and on a real filesystem that refuses writes."""

from __future__ import annotations

import asyncio
import logging
import resource
import sqlite3
import sys
import time

import pytest
from helpers import RawClient, ServerProcess, logged_in, run, running_server

from gameserver import store as store_module
from gameserver.store import StorageError


class Outage:
    """Makes every commit of the real store fail while `on` (as a locked or failing disk would)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on = False
        self.failed = 0
        real = store_module.SQLiteStore.commit

        def commit(store: store_module.SQLiteStore) -> None:
            if self.on and store.dirty:
                self.failed += 1
                raise StorageError("disk I/O error")
            real(store)

        monkeypatch.setattr(store_module.SQLiteStore, "commit", commit)


def stored_texts(data_dir) -> list[str]:
    db = sqlite3.connect(data_dir / "play.db")
    try:
        return [row[0] for row in db.execute("SELECT text FROM messages ORDER BY id")]
    finally:
        db.close()


def check_no_trace(data_dir) -> None:
    """Ids are 1..N without gaps, and no membership span points past the last message."""
    db = sqlite3.connect(data_dir / "play.db")
    try:
        ids = [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1)), ids
        top = ids[-1] if ids else 0
        past = db.execute("SELECT COUNT(*) FROM memberships WHERE start_id > ? OR end_id > ?",
                          (top, top)).fetchone()[0]
        assert past == 0
    finally:
        db.close()


async def replies(client: RawClient, ids: list[int], timeout: float = 5.0) -> dict[int, dict]:
    got = {}
    for msg_id in ids:
        got[msg_id] = await asyncio.wait_for(client.expect_reply(msg_id), timeout)
    return got


async def send_says(client: RawClient, texts: list[str]) -> list[int]:
    ids = []
    for text in texts:
        msg_id = client.next_id()
        ids.append(msg_id)
        await client.send({"type": "say", "id": msg_id, "text": text})
    return ids


def test_a_failing_store_refuses_after_a_second_and_confirms_nothing_unstored(
        tmp_path, monkeypatch, caplog):
    outage = Outage(monkeypatch)
    caplog.set_level(logging.INFO)

    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            carol = await logged_in(server.port, "carol")
            assert (await alice.say("before"))["type"] == "ok"
            outage.on = True
            started = time.monotonic()
            said = await send_says(alice, [f"lost {i}" for i in range(5)])
            pm_id = bob.next_id()
            await bob.send({"type": "cmd", "id": pm_id, "name": "msg", "args": "alice lost pm"})
            bm_id = carol.next_id()
            await carol.send({"type": "cmd", "id": bm_id, "name": "all", "args": "lost bm"})
            dave = await RawClient.connect(server.port)
            await dave.hello()
            login = await dave.request({"type": "login", "user": "dave", "password": "pw"})
            who = await carol.command("who")  # reads still work; the answer comes late
            assert who["type"] == "ok"
            got = {**await replies(alice, said), **await replies(bob, [pm_id]),
                   **await replies(carol, [bm_id])}
            waited = time.monotonic() - started
            assert all(r["type"] == "error" and r["code"] == "storage" for r in got.values()), got
            assert all("not sent" in r["text"] for r in got.values())
            assert 0.9 <= waited < 4, waited  # retried for about a second, then refused
            assert login["type"] == "error" and login["code"] == "storage", login
            bye = [f for f in await dave.wait_closed() if f["type"] == "bye"]
            assert bye and bye[0]["code"] == "storage"
            # nobody got a delivery of what was not stored
            for client in (alice, bob, carol):
                for frame in await client.drain_frames(0.3):
                    assert "lost" not in str(frame.get("text", "")), frame
            # the store is back: the same server serves again, without a restart
            outage.on = False
            assert (await alice.say("after"))["type"] == "ok"
            await bob.expect("room_msg", text="after")
            dave = await logged_in(server.port, "dave", "pw")
            assert (await dave.say("dave is in"))["type"] == "ok"
            assert (await bob.command("msg", "alice kept pm"))["type"] == "ok"
            await alice.expect("pm", text="kept pm")
        async with running_server(tmp_path) as server:  # after a restart
            alice = await logged_in(server.port, "alice")
            msg_id = alice.next_id()
            await alice.send({"type": "cmd", "id": msg_id, "name": "history", "args": "50"})
            page = await alice.expect("history", id=msg_id)
            assert [e["text"] for e in page["entries"]] == [
                "before", "after", "dave is in", "kept pm"]
    run(body())
    assert stored_texts(tmp_path) == ["before", "after", "dave is in", "kept pm"]
    check_no_trace(tmp_path)
    incident = [r for r in caplog.records if "a commit failed" in r.getMessage()]
    assert len(incident) == 1, [r.getMessage() for r in caplog.records]
    assert outage.failed >= 5  # it was retried, not given up at once


def test_a_short_outage_only_delays_confirmations(tmp_path, monkeypatch):
    outage = Outage(monkeypatch)

    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            outage.on = True
            said = await send_says(alice, [f"late {i}" for i in range(10)])
            await asyncio.sleep(0.3)  # the outage itself: shorter than the server's patience
            assert outage.failed >= 1
            outage.on = False
            got = await replies(alice, said)
            assert all(r["type"] == "ok" for r in got.values()), got
            seen = [(await bob.expect("room_msg", text=f"late {i}"))["text"] for i in range(10)]
            assert seen == [f"late {i}" for i in range(10)]
    run(body())
    assert stored_texts(tmp_path) == [f"late {i}" for i in range(10)]
    check_no_trace(tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit on another process")
def test_a_real_filesystem_refusing_writes_then_taking_them_again(tmp_path):
    """RLIMIT_FSIZE of 1 byte on the running server: every write to its files fails in the
    kernel (EFBIG), exactly as a full disk fails them; lifting it is space coming back."""
    server = ServerProcess(tmp_path)
    pid = server.proc.pid
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    confirmed: list[str] = []
    refused: list[str] = []

    async def body():
        alice = await logged_in(server.port, "alice")
        bob = await logged_in(server.port, "bob")
        for text in ("one", "two"):
            assert (await alice.say(text))["type"] == "ok"
            confirmed.append(text)
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        try:
            texts = [f"full {i}" for i in range(4)]
            got = await replies(alice, await send_says(alice, texts))
            for text, reply in zip(texts, got.values(), strict=True):
                (confirmed if reply["type"] == "ok" else refused).append(text)
                assert reply["type"] == "ok" or reply["code"] == "storage", reply
            newcomer = await RawClient.connect(server.port)
            await newcomer.hello()
            login = await newcomer.request({"type": "login", "user": "newbie", "password": "x"})
            assert login["type"] == "error" and login["code"] == "storage", login
            assert (await bob.command("who"))["type"] == "ok"  # still serving
        finally:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)
        for frame in await bob.drain_frames(0.3):
            assert frame.get("text") not in refused, frame
        assert (await alice.say("space is back"))["type"] == "ok"
        confirmed.append("space is back")
        await bob.expect("room_msg", text="space is back")
        newbie = await logged_in(server.port, "newbie", "x")
        assert (await newbie.say("newbie too"))["type"] == "ok"
        confirmed.append("newbie too")

    try:
        run(body())
    finally:
        out = server.stop()
    assert refused == [f"full {i}" for i in range(4)]  # a real disk error, refused
    assert "Traceback" not in out
    assert out.count("a commit failed") == 1, out
    assert stored_texts(tmp_path) == confirmed
    check_no_trace(tmp_path)
    again = ServerProcess(tmp_path)  # and after a restart, the same
    again.stop()
    assert stored_texts(tmp_path) == confirmed


def test_a_game_move_the_store_refuses_did_not_happen(tmp_path, monkeypatch):
    """Games too: a refused save undoes the move, nobody is shown it, and it can be replayed."""
    from gameserver.core.gamehost import GameHost

    failing = {"on": False}
    real = store_module.SQLiteStore.save_game

    def save_game(store, *args, **kwargs):
        if failing["on"]:
            raise StorageError("disk I/O error")
        return real(store, *args, **kwargs)

    monkeypatch.setattr(store_module.SQLiteStore, "save_game", save_game)

    async def body():
        async with running_server(tmp_path) as server:
            host = next(e for e in server.hub.extensions if isinstance(e, GameHost))
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            gid = (await alice.command("game", "tictactoe bob"))["data"]["game_id"]
            assert (await bob.command("accept", str(gid)))["type"] == "ok"
            assert (await alice.say("a1"))["type"] == "ok"
            await bob.expect("game", game_id=gid, where=lambda f: "X" in str(f["board"]))
            failing["on"] = True
            reply = await bob.say("b2")
            assert reply["type"] == "error" and reply["code"] == "storage", reply
            table = host.tables[gid]
            assert [m[1] for m in table.moves] == ["a1"] and table.game.turn() == "bob"
            await asyncio.sleep(0.2)  # anything announced would have reached alice by now
            frames = await alice.drain_frames()
            boards = [f["board"] for f in frames if f["type"] == "game"]
            assert all(" 2  . | . | ." in board for board in boards), boards
            assert not [f for f in frames if "played b2" in str(f)], frames
            failing["on"] = False
            assert (await bob.say("b2"))["type"] == "ok"  # the same move, now stored
        async with running_server(tmp_path) as server:
            host = next(e for e in server.hub.extensions if isinstance(e, GameHost))
            assert [m[1] for m in host.tables[gid].moves] == ["a1", "b2"]

    run(body())
