"""What one node decides for a session it holds, asked by another whose mirror is a moment
behind (core/handover.py): three hubs on one real PostgreSQL, joined by the in-process
bus, whose messages are held back until the test lets them go (a mirror made stale)."""

from __future__ import annotations

import pytest
from hubpair import User
from test_cluster_memory import Cluster

from gameserver.core.handover import PATIENCE
from gameserver.protocol import Command, Hello, Login


@pytest.fixture
def three(tmp_path, postgres_url):
    c = Cluster(tmp_path, postgres_url, count=3)
    yield c
    c.close()


def login_unsettled(c: Cluster, node: int, name: str) -> tuple[User, int]:
    """Log in on `node` without letting the bus move: that node's mirror is as it was."""
    user = User(c.nodes[node])
    user.send(Hello(version=1))
    login = Login(id=user.next_id(), user=name, password="pw")
    user.send(login)
    return user, login.id


def presence_of(user: User, nick: str) -> list[str]:
    """What `user` heard of `nick` coming and going, in order ("joined", "left:why")."""
    seen = []
    for e in user.events:
        if e.TYPE == "joined" and e.nick == nick:
            seen.append("joined")
        elif e.TYPE == "left" and e.nick == nick:
            seen.append(f"left:{e.reason}")
    return seen


def test_a_quit_then_a_login_elsewhere_is_told_once_in_order(three):
    c = three
    ann = c.user(0, "ann")
    ben = c.user(1, "ben")
    assert ben.cmd("quit").TYPE == "ok"  # ben quits on node 1 ...
    # ... and logs in on node 2 before node 2 heard of it: its mirror still has him
    assert "ben" in c.nodes[2].hub.online
    again, login_id = login_unsettled(c, 2, "ben")
    c.settle()
    assert again.of("ok", id=login_id)
    assert presence_of(ann, "ben") == ["joined", "left:quit", "joined"]
    assert [r.room for r in again.of("room")] == ["lobby"]  # a quit keeps no rooms
    users = ann.cmd("users").lines
    assert sum(line.split()[0] == "ben" for line in users if line.split()) == 1, users


def test_a_login_elsewhere_ends_the_old_session_before_it_arrives(three):
    c = three
    ann = c.user(0, "ann")
    ben = c.user(1, "ben")
    assert ben.cmd("join", "den").TYPE == "ok"
    c.tick(1.5)
    assert ann.cmd("join", "den").TYPE == "ok"
    c.settle()
    moved, login_id = login_unsettled(c, 2, "ben")
    c.settle()
    assert moved.of("ok", id=login_id)
    assert [b.code for b in ben.of("bye")] == ["replaced"] and ben.closed
    for room in ("lobby", "den"):  # every room hears the end before the arrival
        told = [e for e in ann.events if e.TYPE in ("joined", "left") and e.nick == "ben"
                and e.room == room]
        assert [(e.TYPE, e.reason if e.TYPE == "left" else "") for e in told][-2:] == [
            ("left", "reconnected"), ("joined", "")], told
    assert sorted(r.room for r in moved.of("room")) == ["den", "lobby"]  # its rooms come too
    assert sum(e.TYPE == "left" for e in ann.events if getattr(e, "nick", "") == "ben") == 2


def test_a_login_that_replaces_a_silent_nodes_session_goes_on_after_patience(three):
    c = three
    ann = c.user(0, "ann")
    c.user(1, "ben")
    c.silence(1)  # node 1 stops hearing and speaking; the bus does not know
    again, login_id = login_unsettled(c, 2, "ben")
    c.settle()
    assert not again.of("ok", id=login_id)  # waiting for node 1's answer
    c.tick(PATIENCE)
    assert again.of("ok", id=login_id)
    # only the node that held the old session could tell its end; it is silent, so the
    # mirrors let it go without a word, as they do when a node stops
    assert presence_of(ann, "ben") == ["joined", "joined"]
    users = ann.cmd("users").lines
    assert sum(line.split()[0] == "ben" for line in users if line.split()) == 1, users


def test_a_pm_to_someone_who_just_left_their_node_is_kept_and_the_sender_told(three):
    c = three
    ann = c.user(0, "ann")
    bob = c.user(1, "bob")
    assert bob.cmd("quit").TYPE == "ok"  # node 0 has not heard yet
    assert "bob" in c.nodes[0].hub.online
    pm = Command(id=ann.next_id(), name="msg", args="bob are you there")
    ann.send(pm)
    c.settle()
    reply = ann.of("ok", id=pm.id)
    assert reply and reply[0].data["delivered"] is False and "queued" in reply[0].text
    later = c.user(2, "bob")
    assert [(p.sender, p.text, p.queued) for p in later.of("pm")] == [
        ("ann", "are you there", True)]


def test_a_pm_delivered_on_another_node_says_so_once(three):
    c = three
    ann = c.user(0, "ann")
    bob = c.user(1, "bob")
    pm = Command(id=ann.next_id(), name="msg", args="bob hello")
    ann.send(pm)
    c.settle()
    assert ann.of("ok", id=pm.id)[0].data["delivered"] is True
    assert [(p.text, p.queued) for p in bob.of("pm")] == [("hello", False)]
    assert c.nodes[1].store.take_pending_pms("bob") == []


def test_a_pm_to_a_node_that_does_not_answer_is_kept(three):
    c = three
    ann = c.user(0, "ann")
    c.user(1, "bob")
    c.silence(1)
    pm = Command(id=ann.next_id(), name="msg", args="bob still there?")
    ann.send(pm)
    c.settle()
    assert not ann.of("ok", id=pm.id)  # its node may yet answer
    c.tick(PATIENCE)
    assert ann.of("ok", id=pm.id)[0].data["delivered"] is False
    assert [e.text for e in c.nodes[2].store.take_pending_pms("bob")] == ["still there?"]


def test_two_logins_at_once_on_two_nodes_leave_one(three):
    """Neither node heard of the other's login in time to ask: the bus's order decides,
    the same on every node, and the earlier session gives way."""
    c = three
    ann = c.user(0, "ann")
    first, first_id = login_unsettled(c, 1, "ben")
    second, second_id = login_unsettled(c, 2, "ben")  # node 2 has not heard of node 1's
    c.settle()
    assert first.of("ok", id=first_id) and second.of("ok", id=second_id)
    assert [b.code for b in first.of("bye")] == ["replaced"] and first.closed
    assert not second.closed
    c.tick(2.5)  # the next snapshots settle every mirror
    for node in c.nodes:
        assert node.hub.online["ben"].peer in ("memory", "node n2")
    users = ann.cmd("users").lines
    assert sum(line.split()[0] == "ben" for line in users if line.split()) == 1, users


def test_a_kick_of_someone_who_just_quit_elsewhere_is_not_told(three):
    """Putting off the server a user of another node is done by that node: it knows they
    quit a moment ago, so the room hears "quit" once and nothing else."""
    c = three
    ann = c.user(0, "ann")
    ben = c.user(1, "ben")
    assert ben.cmd("quit").TYPE == "ok"
    proxy = c.nodes[0].hub.online["ben"]  # node 0 has not heard yet
    c.nodes[0].hub.kick(proxy, "kicked by ann", "kicked", "kicked")
    c.settle()
    assert presence_of(ann, "ben") == ["joined", "left:quit"]
    live = c.user(1, "ben")
    c.nodes[0].hub.kick(c.nodes[0].hub.online["ben"], "kicked by ann", "kicked", "kicked")
    c.settle()
    assert [b.code for b in live.of("bye")] == ["kicked"] and live.closed
    assert presence_of(ann, "ben") == ["joined", "left:quit", "joined", "left:kicked"]
    assert "ben" not in c.nodes[2].hub.online
