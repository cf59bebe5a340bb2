"""A killed node's ghosts: what a dead node's users still hold in the other nodes' mirrors
when they come back elsewhere with their token (nicks, the session, seats, /users), on two
and three hubs over one real PostgreSQL, joined by the in-process bus (core/cluster.py,
core/handover.py); and the same for a replaced session on one node."""

from __future__ import annotations

import time

import pytest
from hubpair import Pair, User
from test_cluster_memory import Cluster

from gameserver.core.handover import PATIENCE
from gameserver.protocol import Command, Hello, Login, Resume, Say


def resume_on(c: Cluster, node: int, token: str) -> tuple[User, int]:
    """A new connection to `node` resumes with `token`; the bus moves only at settle()."""
    user = User(c.nodes[node])
    user.send(Hello(version=1))
    message = Resume(id=user.next_id(), token=token)
    user.send(message)
    return user, message.id


def places(user: User) -> list[tuple[str, str]]:
    """(room, nick) of every room the connection was shown, in order."""
    return [(r.room, r.nick) for r in user.of("room")]


def nicks_in(user: User, room: str) -> list[str]:
    """The nicks /who lists in `room`, as `user` asks it."""
    return [m["nick"] for m in user.cmd("who", room).data["members"]]


def users_named(user: User, name: str) -> int:
    return sum(line.split()[0] == name for line in user.cmd("users").lines if line.split())


@pytest.fixture(params=[2, 3], ids=["two-nodes", "three-nodes"])
def cluster(request, tmp_path, postgres_url):
    c = Cluster(tmp_path, postgres_url, count=request.param, games=True)
    yield c
    c.close()


def settle_bob_in_two_rooms(c: Cluster) -> tuple[User, User]:
    """bob on node 0 in the lobby (as bob) and #den (as bobby); ann on node 1 in both."""
    bob = c.user(0, "bob")
    ann = c.user(1, "ann")
    assert bob.cmd("join", "den").TYPE == "ok"
    assert bob.cmd("nick", "bobby den").TYPE == "ok"
    c.tick(1.5)  # the rename reaches every mirror with the next presence
    assert ann.cmd("join", "den").TYPE == "ok"
    c.settle()
    assert "bobby" in nicks_in(ann, "den")
    return bob, ann


def check_back_as_before(c: Cluster, again: User, ann: User) -> None:
    assert places(again) == [("lobby", "bob"), ("den", "bobby")], places(again)
    assert "bob" in nicks_in(ann, "lobby") and "bob_2" not in nicks_in(ann, "lobby")
    assert nicks_in(ann, "den").count("bobby") == 1 and "bob" not in nicks_in(ann, "den")
    assert users_named(ann, "bob") == 1
    c.tick(2.5)  # the snapshots: every living node mirrors bob where he is now
    for n in range(1, len(c.nodes)):
        mirror = c.nodes[n].hub.online["bob"]
        assert mirror.nicks() == {"lobby": "bob", "den": "bobby"}, (n, mirror.nicks())
        assert n == 1 or mirror.sink.node == "n1"
    if len(c.nodes) == 3:  # the third node's users see him once, under his nicks
        cat = c.user(2, "cat")
        assert users_named(cat, "bob") == 1
        pm = Command(id=cat.next_id(), name="msg", args="bob are you back")
        cat.send(pm)
        c.settle()
        reply = next(e for e in cat.events if e.TYPE == "ok" and e.id == pm.id)
        assert reply.data["delivered"] is True
        assert [p.text for p in again.of("pm")] == ["are you back"]


def test_a_killed_nodes_user_resumes_elsewhere_at_once_with_its_nicks(cluster):
    """The bus knows the node is gone (its connection ended): nobody waits for its answer."""
    c = cluster
    bob, ann = settle_bob_in_two_rooms(c)
    c.kill(0)
    again, resume_id = resume_on(c, 1, bob.token)
    c.settle()  # no clock moves: the login does not wait PATIENCE for a dead node
    assert again.of("ok", id=resume_id), [e for e in again.events if e.TYPE == "error"]
    check_back_as_before(c, again, ann)


def test_a_silent_nodes_ghost_gives_its_nicks_back_with_a_commit_in_flight(cluster):
    """The bus does not know (a vanished machine): the login goes on after PATIENCE, and
    the ghost is out of its rooms before the rooms are entered, though a commit is owed."""
    c = cluster
    bob, ann = settle_bob_in_two_rooms(c)
    c.silence(0)
    again, resume_id = resume_on(c, 1, bob.token)
    c.settle()
    assert not again.of("ok", id=resume_id)  # its node may yet answer
    # ann's line waits for node 1's next commit when the patience runs out
    c.nodes[1].hub.receive(ann.session, Say(id=ann.next_id(), text="meanwhile"))
    c.tick(PATIENCE)
    assert again.of("ok", id=resume_id)
    check_back_as_before(c, again, ann)


def test_a_killed_players_seat_waits_and_is_taken_back_on_another_node(cluster):
    """A game hosted on node 1, a player on node 0: node 0 dies; the room is told the seat
    waits, as for a player of node 1, and that he is back when he resumes elsewhere."""
    c = cluster
    ann = c.user(1, "ann")
    bob = c.user(0, "bob")
    game = ann.cmd("game", "tictactoe bob")
    assert game.TYPE == "ok", game
    gid = game.data["game_id"]
    c.tick(1.5)
    accept = Command(id=bob.next_id(), name="accept", args=str(gid))
    bob.send(accept)
    c.settle()
    assert bob.of("ok", id=accept.id), bob.events[-3:]
    c.kill(0)
    c.bus.probe()  # the probe finds node 0's channel without a reader
    c.settle()
    assert "bob" not in c.nodes[1].hub.online
    waits = [n.text for n in ann.of("notice") if f"game {gid} waits for bob" in n.text]
    assert len(waits) == 1, [n.text for n in ann.of("notice")]
    again, resume_id = resume_on(c, len(c.nodes) - 1, bob.token)
    c.settle()
    c.tick(1.5)
    assert again.of("ok", id=resume_id)
    assert any(f"bob is back for game {gid}" in n.text for n in ann.of("notice"))
    assert "bob" not in c.links[1].game_host().away
    move = Say(id=again.next_id(), text="b2")  # his seat: his move counts
    ann.cmd("move", f"{gid} a1")
    again.send(move)
    c.settle()
    reply = next(e for e in again.events if e.TYPE in ("ok", "error") and e.id == move.id)
    assert reply.TYPE == "ok", reply


def test_a_killed_nodes_game_is_claimed_at_once(tmp_path, postgres_url):
    """The bus says node 0 is gone and the database sees none of its connections: node 1
    takes the game over without waiting for its lease to run out."""
    c = Cluster(tmp_path, postgres_url, count=2, games=True)
    try:
        ann, bob = c.user(0, "ann"), c.user(1, "bob")
        gid = ann.cmd("game", "tictactoe bob").data["game_id"]
        c.tick(1.5)
        accept = Command(id=bob.next_id(), name="accept", args=str(gid))
        bob.send(accept)
        c.settle()
        assert ann.say("b2").TYPE == "ok"
        c.settle()
        c.kill(0)
        runs_out = _lease_until(postgres_url, gid)  # the old way waited for this at least
        c.bus.probe()
        for _ in range(40):  # until the database has seen node 0's connections go
            if gid in c.links[1].game_host().tables:
                break
            time.sleep(0.05)
            c.tick(0.0)
        assert gid in c.links[1].game_host().tables
        assert time.time() < runs_out, "taken over only once the lease ran out"
        assert [n.text for n in bob.of("notice") if "goes on" in n.text] == [
            f"game {gid} goes on: the node that hosted it stopped, and this one took it over"]
        assert c.links[1].taken_over == 1
    finally:
        c.close()


def test_a_node_cut_off_from_the_bus_only_keeps_its_games(tmp_path, postgres_url):
    """The bus says node 0 is gone but it still holds its database connections (its link
    to Redis broke, the node lives): node 1 does not take its game (two never host one)."""
    c = Cluster(tmp_path, postgres_url, count=2, games=True)
    try:
        ann, bob = c.user(0, "ann"), c.user(1, "bob")
        gid = ann.cmd("game", "tictactoe bob").data["game_id"]
        c.settle()
        c.silence(0)
        c.links[1].node_gone("n0")
        c.tick(1.0)
        assert gid not in c.links[1].game_host().tables
        assert gid in c.links[0].game_host().tables
        assert not [n for n in bob.of("notice") if "goes on" in n.text]
    finally:
        c.close()


def test_a_login_replacing_a_session_of_this_node_with_a_commit_in_flight(tmp_path):
    """One node: the old session's kick waits for the commit owed to others; the new
    login waits for it, so it gets its nick back (not bob_2)."""
    pair = Pair(tmp_path)
    try:
        ann = pair.user("ann")
        bob = pair.user("bob")
        pair.hub.receive(ann.session, Say(id=ann.next_id(), text="meanwhile"))  # owed
        again = User(pair)
        pair.hub.receive(again.session, Hello(version=1))
        login = Login(id=again.next_id(), user="bob", password="pw")
        pair.hub.receive(again.session, login)
        pair.hub.commit()
        pair.hub.commit()
        assert again.of("ok", id=login.id)
        assert [b.code for b in bob.of("bye")] == ["replaced"]
        assert places(again) == [("lobby", "bob")]
        assert nicks_in(ann, "lobby").count("bob") == 1
        told = [(e.TYPE, e.nick) for e in ann.events if e.TYPE in ("joined", "left")
                and e.nick.startswith("bob")]
        assert told[-2:] == [("left", "bob"), ("joined", "bob")], told
    finally:
        pair.close()


def _lease_until(url: str, gid: int) -> float:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return float(db.execute("SELECT lease_until FROM games WHERE id = %s",
                                (gid,)).fetchone()[0])

