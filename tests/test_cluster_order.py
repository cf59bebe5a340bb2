"""Order across nodes, on real nodes (one PostgreSQL, one Redis, all on loopback).

A node's mirror of the others is a moment behind; whatever depends on a session there is
decided by the node that holds it (core/handover.py). Here a node's reading of the bus
is held back, in order, as a slow node's would be: a quit then a login elsewhere is told
once and in order, a PM to someone who just left is kept (and the sender told so). Game
commands forwarded to the node hosting the room's game keep their secret and their
check; and the classic door's replies leave in the order of their lines on a node whose
answers wait for the database and the other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import pytest
import test_classic_door as classic
from helpers import cluster_nodes, logged_in, run, running_server
from test_cluster_acceptance import until_all_know_each_other

from gameserver.doors.classic import ClassicDoor

pytestmark = pytest.mark.timeout(120)


class SlowReader:
    """Hold back everything `server` hears on the bus, in order, until `go_on()`."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.link = server.runtime.cluster
        self.held: list[dict[str, Any]] = []
        self.link.received = self.held.append  # the bus calls link.received(message)

    async def until_held(self, kind: str) -> None:
        for _ in range(250):
            if any(m.get("k") == kind for m in self.held):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind!r} message came: {self.held}")

    def go_on(self) -> None:
        del self.link.received  # the method again
        held, self.held = self.held, []
        for message in held:
            self.link.received(message)
        self.server.runtime.wake()


async def until_seen(client: Any, user: str, present: bool = True) -> None:
    """/users on this client's node lists `user` (or no longer does)."""
    for _ in range(100):
        lines = (await client.command("users"))["lines"]
        if any(line.split()[:1] == [user] for line in lines) == present:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{user} never {'came' if present else 'went'}: {lines}")


def comings_and_goings(client: Any, nick: str) -> list[str]:
    return [f"left:{f['reason']}" if f["type"] == "left" else "joined" for f in client.seen
            if f.get("type") in ("joined", "left") and f.get("nick") == nick]


def test_a_quit_then_a_login_on_a_node_a_moment_behind(tmp_path, postgres_url, redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url, count=3) as nodes:
            await until_all_know_each_other(nodes)
            ann = await logged_in(nodes[0].port, "ann")
            ben = await logged_in(nodes[1].port, "ben")
            watcher = await logged_in(nodes[2].port, "cat")
            await ann.expect("joined", nick="ben")
            await until_seen(watcher, "ben")
            late = SlowReader(nodes[2])  # node 2 has not heard what follows
            assert (await ben.command("quit"))["type"] == "ok"
            await ben.expect("bye")
            await ann.expect("left", nick="ben")
            again = await logged_in_later(nodes[2].port, "ben")
            await late.until_held("answer")  # node 1 answered node 2's question
            late.go_on()
            reply = await again.reply
            assert reply["type"] == "ok", reply
            await until_seen(ann, "ben")
            await ann.drain_frames(0.3)  # anything else about ben would be here by now
            assert comings_and_goings(ann, "ben") == ["joined", "left:quit", "joined"]
            for client in (ann, again.client, watcher):
                await client.close()
    run(body(), timeout=100)


class LoginLater:
    def __init__(self, client: Any, reply: asyncio.Future[Any]) -> None:
        self.client, self.reply = client, reply


async def logged_in_later(port: int, user: str) -> LoginLater:
    """Send a login now; its reply is awaited later (`.reply`)."""
    from helpers import RawClient

    client = await RawClient.connect(port)
    await client.hello()
    task = asyncio.ensure_future(client.login(user, "secret"))
    await asyncio.sleep(0)
    return LoginLater(client, task)


def test_a_pm_to_someone_who_just_left_their_node_is_kept(tmp_path, postgres_url, redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            await until_all_know_each_other([n0, n1])
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            await until_seen(ann, "bob")
            late = SlowReader(n0)  # node 0 still has bob on node 1
            assert (await bob.command("quit"))["type"] == "ok"
            await bob.expect("bye")
            await ann.send({"type": "cmd", "name": "msg", "args": "bob one more thing",
                            "id": 500})
            await late.until_held("answer")
            late.go_on()
            reply = await ann.expect_reply(500)
            assert reply["type"] == "ok", reply
            assert reply["data"]["delivered"] is False and "queued" in reply["text"]
            back = await logged_in(n1.port, "bob")
            pm = await back.expect("pm", text="one more thing")
            assert pm["sender"] == "ann" and pm["queued"]
            # and delivered live when bob is there: the sender is told that instead
            await until_seen(ann, "bob")
            assert (await ann.command("msg", "bob welcome back"))["data"]["delivered"] is True
            assert not (await back.expect("pm", text="welcome back")).get("queued")
            for client in (ann, back):
                await client.close()
    run(body(), timeout=100)


def test_a_secret_game_started_on_a_node_that_does_not_host_the_rooms_games(
        tmp_path, postgres_url, redis_server):
    async def body():
        async with cluster_nodes(tmp_path, postgres_url, redis_server.url) as (n0, n1):
            await until_all_know_each_other([n0, n1])
            ann = await logged_in(n0.port, "ann")
            bob = await logged_in(n1.port, "bob")
            carol = await logged_in(n0.port, "carol")
            invite = await ann.command("game", "tictactoe")  # node 0 hosts the lobby's games
            assert invite["type"] == "ok", invite
            for _ in range(100):
                if n1.runtime.cluster.remote_games.get("lobby") == n0.runtime.cluster.node:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("node 1 never heard where the lobby's games are")
            check = await bob.command("game", "hangman --secret", check=True)
            assert check["type"] == "ok", check  # it could start: only then is it asked
            host = n0.runtime.cluster.game_host()
            assert [t.name for t in host.tables.values()] == ["tictactoe"]  # nothing was done
            refused = await bob.command("game", "hangman --secret --clock 1s", check=True)
            assert refused["type"] == "error", refused
            typo = await bob.command("game", "hangman --secret", secret="Ott3r")
            assert typo["type"] == "error" and "Ott3r" not in typo["text"], typo
            reply = await bob.command("game", "hangman --secret", secret="Otter")
            assert reply["type"] == "ok", reply
            gid = reply["data"]["game_id"]
            state = await carol.expect("game", game_id=gid)
            assert "word:    _ _ _ _ _" in state["board"]
            assert (await bob.say("t"))["type"] == "error"  # the setter does not guess
            assert (await carol.command("guess", "otter"))["type"] == "ok"
            over = await bob.expect("game", game_id=gid, where=lambda f: f["over"])
            assert "carol found the word 'otter'" in over["status"]
            for client in (ann, carol):
                before = []
                for frame in client.seen:
                    if frame.get("text") == f"game {gid}: carol guessed otter":
                        break
                    before.append(frame)
                assert "otter" not in str(before).lower()
            for client in (ann, bob, carol):
                await client.close()
    run(body(), timeout=100)


def test_classic_replies_in_the_order_of_the_lines(tmp_path, postgres_url, redis_server):
    """Pipelined lines whose answers wait (a nick claimed in the database, a join stored)
    mixed with lines the door answers itself: the answers come in the order of the lines."""
    async def body():
        door = ClassicDoor("127.0.0.1", 0)
        async with running_server(tmp_path / "n0", store_url=postgres_url,
                                  bus_url=redis_server.url) as n0, \
                running_server(tmp_path / "n1", store_url=postgres_url,
                               bus_url=redis_server.url, doors=[door]) as n1:
            await until_all_know_each_other([n0, n1])
            g = await classic.guest(door)
            for round_ in range(5):
                room = f"room{round_}"
                await g.send(f"/nick kay{round_}", f"/join {room}", "/nick", "/join",
                             "/nick two words", "/who", f"/join {room}", "/list")
                lines = await g.lines(6)
                assert lines == ["0", "0", "1", "1", "1", f"kay{round_}"], lines
                assert await g.line() == "0"  # in it already: where you asked to be
                count = int(await g.line())
                assert room in await g.lines(count)
            g.close()
    run(body(), timeout=100)


CLASSIC = [
    classic.test_every_reply_code_of_the_assignment,
    classic.test_room_messages_are_nick_colon_text_and_cross_doors,
    classic.test_play_commands_work_and_are_never_said_to_the_room,
]


@pytest.mark.parametrize("test", CLASSIC, ids=lambda t: t.__name__)
def test_classic_door_on_a_node_of_a_cluster(test, tmp_path, monkeypatch, postgres_url,
                                            redis_server):
    """The classic door's own tests, its guests on one node and the play users on another."""
    @contextlib.asynccontextmanager
    async def classic_on_a_cluster(data_dir: Path):
        door = ClassicDoor("127.0.0.1", 0)
        async with running_server(Path(data_dir) / "n0", store_url=postgres_url,
                                  bus_url=redis_server.url) as n0, \
                running_server(Path(data_dir) / "n1", store_url=postgres_url,
                               bus_url=redis_server.url, doors=[door]) as n1:
            await until_all_know_each_other([n0, n1])
            yield n0, door

    monkeypatch.setattr(sys.modules[test.__module__], "classic_server", classic_on_a_cluster)
    test(tmp_path)


def test_a_move_waiting_for_its_save_is_answered_before_what_came_after(tmp_path,
                                                                       postgres_url):
    """A move's ok waits for its save (a slow games table); the mover's next requests,
    one the node answers at once, are answered after it, in order."""
    import threading

    from test_cluster_gamesaves import SLOW, game_between, hold_table

    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            ann, bob = [await logged_in(node.port, n) for n in ("ann", "bob")]
            await game_between(ann, bob)
            held = threading.Event()
            blocker = threading.Thread(target=hold_table,
                                       args=(postgres_url, "games", held, SLOW))
            blocker.start()
            assert await asyncio.to_thread(held.wait, 10)
            await ann.send({"type": "say", "text": "b2", "id": 901})  # its save waits
            await ann.send({"type": "cmd", "name": "rooms", "id": 902})
            await ann.send({"type": "cmd", "name": "frobnicate", "id": 903})
            assert (await bob.command("rooms"))["type"] == "ok"  # bob is not held up
            for msg_id in (901, 902, 903):
                await ann.expect_reply(msg_id)
            order = [f["id"] for f in ann.seen if f.get("id") in (901, 902, 903)]
            assert order == [901, 902, 903], order
            await asyncio.to_thread(blocker.join, 10)
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=60)


def test_a_line_typed_right_after_the_login_ok_goes_to_its_room(tmp_path, postgres_url):
    """The ok of a login comes once it is stored; its rooms come once its ignore list is
    read (a slow ignores table here). A line typed in between waits its turn and is said
    in the lobby, not refused for want of a room."""
    import threading

    from helpers import RawClient
    from test_cluster_offloop import hold_table

    slow = 8.0  # longer than the login's password check takes on a busy machine

    async def body():
        async with running_server(tmp_path / "node", store_url=postgres_url) as node:
            bob = await logged_in(node.port, "bob")
            ann = await logged_in(node.port, "ann")
            await ann.close()
            held = threading.Event()
            blocker = threading.Thread(target=hold_table,
                                       args=(postgres_url, "ignores", held, slow))
            blocker.start()
            assert await asyncio.to_thread(held.wait, 10)
            ann = await RawClient.connect(node.port)
            await ann.hello()
            reply = await ann.request({"type": "login", "user": "ann", "password": "secret"})
            assert reply["type"] == "ok", reply
            assert blocker.is_alive(), "the ignores table was let go too soon to tell"
            await ann.send({"type": "say", "text": "first words", "id": 77})
            await ann.expect("ok", id=77, timeout=slow + 5)  # not an error
            frames = [(f.get("type"), f.get("id")) for f in ann.seen]
            assert frames.index(("room", None)) < frames.index(("ok", 77)), frames
            heard = await bob.expect("room_msg", text="first words", timeout=slow + 5)
            assert heard["room"] == "lobby"
            await asyncio.to_thread(blocker.join, 10)
            for client in (ann, bob):
                await client.close()
    run(body(), timeout=60)
