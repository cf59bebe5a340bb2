"""Two nodes in one process: two hubs on one real PostgreSQL, joined by the in-process bus."""

from __future__ import annotations

import pytest
from hubpair import Pair, User

from gameserver.bus import LocalBus
from gameserver.core.cluster import NODE_TIMEOUT, ClusterLink
from gameserver.core.handover import PATIENCE
from gameserver.protocol import Command, Hello, Login, Say


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    def __init__(self, tmp_path, url: str, count: int = 2, games: bool = False,
                 community: bool = False) -> None:
        from gameserver.stores.postgres import PostgresStore

        self.bus = LocalBus()
        self.clock = Clock()
        self.nodes: list[Pair] = []
        self.links: list[ClusterLink] = []
        self.dead: set[int] = set()  # killed: they run nothing more
        for n in range(count):
            (tmp_path / f"n{n}").mkdir()
            pair = Pair(tmp_path / f"n{n}", store=PostgresStore(url, node=f"n{n}"))
            if community:
                from gameserver.core.community import CommunityHost
                from gameserver.core.roles import Community
                from gameserver.stores.pgcommunity import community_store_for

                kept = community_store_for(pair.store)
                CommunityHost.install(pair.hub, kept.load(Community(kept)), kept)
            if games:
                pair.extend_games()
            point = self.bus.endpoint(f"n{n}")
            link = ClusterLink.install(pair.hub, f"n{n}", point.publish, self.clock)
            if community:
                kept.on_change = link.community_changed
            point.receive = link.received
            point.gone = link.node_gone
            self.nodes.append(pair)
            self.links.append(link)
        self.settle()

    def settle(self) -> None:
        """Hand over everything in flight and commit every node, until all is quiet."""
        for _ in range(50):
            moved = self.bus.pump()
            for n, pair in enumerate(self.nodes):
                if n not in self.dead:
                    pair.hub.commit()
            if not moved and not self.bus.queue:
                return
        raise AssertionError("the bus never went quiet")

    def user(self, node: int, name: str) -> User:
        """Log `name` in on `node`; a login that replaces a session on a node that no
        longer answers goes on after PATIENCE."""
        user = User(self.nodes[node])
        user.send(Hello(version=1))
        login = Login(id=user.next_id(), user=name, password="pw")
        user.send(login)
        self.settle()
        if not user.of("ok", id=login.id) and not user.of("error", id=login.id):
            self.tick(PATIENCE)
        reply = next(e for e in user.events if e.TYPE in ("ok", "error") and e.id == login.id)
        assert reply.TYPE == "ok", reply
        user.token = reply.data["token"]
        return user

    def silence(self, node: int) -> None:
        """`node` stops hearing and speaking, and the bus does not know (a machine that
        vanished without a word: its connections linger until they time out)."""
        self.bus.endpoints[node].receive = lambda message: None
        self.links[node]._publish = lambda message: None

    def kill(self, node: int) -> None:
        """`node` is SIGKILLed: its connections end at once, so the bus (Redis) and the
        database see them go; the other nodes hear of it at the bus's next probe."""
        self.bus.endpoints[node].receive = None
        self.links[node]._publish = lambda message: None
        self.dead.add(node)
        self.nodes[node].store.close()

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        for n, pair in enumerate(self.nodes):
            if n not in self.dead:
                pair.hub.tick(self.clock.now)
        self.settle()

    def close(self) -> None:
        for pair in self.nodes:
            pair.close()


@pytest.fixture
def cluster(tmp_path, postgres_url):
    c = Cluster(tmp_path, postgres_url)
    yield c
    c.close()


def said(user: User, text: str) -> list:
    return [e for e in user.events if e.TYPE == "room_msg" and e.text == text]


def test_a_room_spans_nodes_lines_joins_and_leaves(cluster):
    ann, bob = cluster.user(0, "ann"), cluster.user(1, "bob")
    assert ann.of("joined", nick="bob", room="lobby")  # bob joined on the other node
    ann.say("hello from node 0")
    cluster.settle()
    assert len(said(bob, "hello from node 0")) == 1
    bob.say("and back from node 1")
    cluster.settle()
    assert len(said(ann, "and back from node 1")) == 1 and said(bob, "and back from node 1")
    assert {"ann", "bob"} <= set(" ".join(ann.cmd("who").lines).replace(",", " ").split())
    assert bob.cmd("join", "den").TYPE == "ok"
    assert bob.cmd("part", "lobby").TYPE == "ok"
    cluster.settle()
    assert ann.of("left", nick="bob", room="lobby")
    ann.cmd("join", "den")
    cluster.tick(1.5)  # bob's part reaches the mirror with the next presence
    assert bob.of("joined", nick="ann", room="den")
    assert "bob" not in cluster.nodes[0].hub.rooms["lobby"].members
    ann.say("in the den")
    cluster.settle()
    assert len(said(bob, "in the den")) == 1
    assert bob.cmd("join", "lobby").TYPE == "ok"  # several rooms at once, on both nodes
    cluster.settle()
    ann.request(Say(id=ann.next_id(), text="to the lobby", room="lobby"))
    cluster.settle()
    assert [e.room for e in said(bob, "to the lobby")] == ["lobby"]


def test_nicks_are_unique_per_room_across_nodes(cluster):
    bob = cluster.user(1, "bob")
    assert bob.cmd("nick", "carl").TYPE == "ok"
    cluster.tick(1.5)  # a nick change reaches the other nodes with the next presence
    carl = cluster.user(0, "carl")
    assert carl.of("room")[-1].nick != "carl"  # bob on node 1 has that nick in the lobby


def test_users_pms_and_broadcasts_reach_every_node(cluster):
    ann, bob = cluster.user(0, "ann"), cluster.user(1, "bob")
    lines = bob.cmd("users").lines
    assert any("ann" in line for line in lines) and any("bob" in line for line in lines)
    reply = across(cluster, bob, Command(id=bob.next_id(), name="msg", args="ann a private word"))
    assert reply.TYPE == "ok" and reply.data["delivered"] is True  # her node said it reached her
    pms = ann.of("pm")
    assert [(p.sender, p.text) for p in pms] == [("bob", "a private word")]
    assert not pms[0].queued  # delivered live on the other node, not kept for later
    assert cluster.nodes[0].store.take_pending_pms("ann") == []
    reply = ann.cmd("all", "to everyone")
    assert reply.TYPE == "ok" and "2 users" in reply.text  # everyone online, on every node
    cluster.settle()
    assert [b.text for b in bob.of("bm")] == ["to everyone"]
    assert [e["text"] for e in bob.cmd("history").entries if e["type"] == "BM"] == [
        "to everyone"]


def test_a_login_on_one_node_replaces_the_session_on_another(cluster):
    ann_a, bob = cluster.user(0, "ann"), cluster.user(0, "bob")
    ann_b = cluster.user(1, "ann")
    assert ann_a.closed, "the old session was not closed"
    assert [b.code for b in ann_a.of("bye")] == ["replaced"]
    assert bob.of("left", nick="ann", reason="reconnected")
    assert bob.of("joined", nick="ann")
    users = bob.cmd("users").lines
    assert sum(line.split()[0] == "ann" for line in users if line.split()) == 1, users
    bob.say("after the move")
    cluster.settle()
    assert len(said(ann_b, "after the move")) == 1
    # the span ann opened on node 1 is still open: what is said now is hers to read
    assert any(e["text"] == "after the move" for e in ann_b.cmd("history").entries)


def test_a_silent_node_takes_its_users_with_it(cluster):
    cluster.user(1, "bob")
    ann = cluster.user(0, "ann")
    assert any("bob" in line for line in ann.cmd("users").lines)
    cluster.silence(1)  # node 1 stops hearing and speaking
    cluster.tick(NODE_TIMEOUT + 1)
    assert not any("bob" in line for line in ann.cmd("users").lines)
    assert "bob" not in cluster.nodes[0].hub.rooms["lobby"].members


@pytest.fixture
def game_cluster(tmp_path, postgres_url):
    c = Cluster(tmp_path, postgres_url, games=True)
    yield c
    c.close()


def across(c: Cluster, user: User, message) -> object:
    """Send, let the cluster carry it (it may be run on another node), return the reply."""
    user.send(message)
    c.settle()
    return next(e for e in reversed(user.events)
                if e.TYPE in ("ok", "error") and getattr(e, "id", None) == message.id)


def boards(user: User) -> list:
    return [e for e in user.events if e.TYPE == "game"]


def test_a_game_across_nodes_and_its_takeover_when_its_node_stops(game_cluster, postgres_url):
    import psycopg

    c = game_cluster
    ann, bob = c.user(0, "ann"), c.user(1, "bob")
    reply = ann.cmd("game", "tictactoe bob")
    assert reply.TYPE == "ok", reply
    gid = reply.data["game_id"]
    c.tick(1.5)  # node 0's presence says it hosts the lobby's games
    assert c.links[1].remote_games == {"lobby": "n0"}
    accept = Command(id=bob.next_id(), name="accept", args=str(gid))
    assert across(c, bob, accept).TYPE == "ok"  # run on node 0, answered on node 1
    c.settle()
    assert boards(ann) and boards(bob)
    assert ann.say("b2").TYPE == "ok"
    c.settle()
    move = Say(id=bob.next_id(), text="a1")
    assert across(c, bob, move).TYPE == "ok"  # bob's move crosses to node 0, is played there
    c.settle()
    assert [b.board for b in boards(ann)][-1] == [b.board for b in boards(bob)][-1]
    assert "O" in "".join(boards(ann)[-1].board) or "o" in "".join(boards(ann)[-1].board)
    assert not said(ann, "a1")  # a move, not a chat line
    # node 0 stops: nothing renews its lease; node 1 takes the game over from the store
    c.silence(0)
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE games SET lease_until = 0 WHERE id = %s", (gid,))
    c.tick(1.0)
    assert gid in c.links[1].game_host().tables
    assert any("goes on" in (e.text or "") for e in bob.of("notice"))
    ann1 = c.user(1, "ann")  # ann reconnects to node 1
    assert ann1.say("c3").TYPE == "ok"
    c.settle()
    last = boards(bob)[-1]
    assert last.board == boards(ann1)[-1].board and last.board != boards(ann)[-1].board


def test_a_ban_on_one_node_holds_on_the_others(tmp_path, postgres_url):
    c = Cluster(tmp_path, postgres_url, community=True)
    try:
        olga, mal = c.user(0, "olga"), c.user(1, "mal")
        assert olga.cmd("join", "den").TYPE == "ok"  # olga owns #den (node 0)
        c.tick(1.5)
        assert mal.cmd("join", "den").TYPE == "ok"
        c.settle()
        reply = across(c, olga, Command(id=olga.next_id(), name="ban", args="mal spam",
                                        room="den"))
        assert reply.TYPE == "ok", reply
        c.settle()
        assert not c.nodes[1].hub.online["mal"].in_room("den")  # put out on its own node
        assert any("banned you from #den" in (e.text or "") for e in mal.of("notice"))
        again = mal.cmd("join", "den")  # node 1 read the ban from the store
        assert again.TYPE == "error" and "banned" in again.text, again
    finally:
        c.close()
