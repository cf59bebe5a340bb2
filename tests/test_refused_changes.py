"""A change that must be stored is told of only once it is: if the store refuses it, it is
undone, its maker is told why, and nothing of it reaches anyone or the file (in memory)."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hubpair import Pair, User

from gameclient.e2e import DeviceKeyring
from gameserver.communitystore import CommunityStore
from gameserver.core.community import CommunityHost
from gameserver.core.events import TopicChanged
from gameserver.core.roles import MEMBER, OP, OWNER, Community
from gameserver.protocol import Command, Error, Notice, Ok, Roles
from gameserver.stores.pgcommunity import community_store_for


class FailingDisk:
    """The store's SQLite connection, refusing every write while `on` (a full or failing
    disk): reads still work, as they do on a disk that fills up."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.on = False
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def _check(self, sql: str) -> None:
        if self.on and not sql.lstrip().upper().startswith(("SELECT", "PRAGMA", "ROLLBACK")):
            self.refused += 1
            raise sqlite3.OperationalError("disk I/O error")

    def execute(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self.db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._check(sql)
        return self.db.executemany(sql, *args)


class World:
    """A hub on SQLite whose disk can fail; the community's changes join its commits
    (as `play host` wires them) unless `at_once` (each written when made)."""

    def __init__(self, tmp_path, at_once: bool = False) -> None:
        self.pair = Pair(tmp_path)
        self.disk = FailingDisk(self.pair.store.db)
        self.pair.store.db = self.disk  # type: ignore[assignment]
        self.path = tmp_path / "play.db"
        self.kept = community_store_for(self.pair.store, None if at_once else self.pair.hub)
        self.host = CommunityHost.install(self.pair.hub, Community(self.kept), self.kept)

    @property
    def community(self) -> Community:
        return self.host.community

    def user(self, name: str) -> User:
        return self.pair.user(name)

    def asks(self, user: User, name: str, args: str = "") -> int:
        """Send a command; its reply may come only once the store took it (or refused it)."""
        msg_id = user.next_id()
        user.send(Command(id=msg_id, name=name, args=args))
        return msg_id

    def past_patience(self) -> None:
        """What the commit schedule does while the store keeps failing past its patience:
        refuse what waits, then what waited behind it (a sender's next command waits for
        its earlier changes), until nothing waits."""
        hub = self.pair.hub
        for _ in range(20):
            if not hub.waiting:
                return
            if not hub.commit():
                hub.refuse_pending()
        raise AssertionError(f"{hub.waiting} still wait for the store")

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.path)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def close(self) -> None:
        self.disk.on = False
        self.pair.close()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def reply(user: User, msg_id: int) -> Any:
    found = [e for e in user.events if isinstance(e, (Ok, Error)) and e.id == msg_id]
    assert len(found) <= 1, found
    return found[0] if found else None


def said(user: User) -> str:
    return "\n".join(str(getattr(e, "text", "") or "") for e in user.events)


def test_refused_role_ban_rules_and_ignore_are_undone_and_told_to_nobody(world):
    olga, oscar, mal = world.user("olga"), world.user("oscar"), world.user("mal")
    world.user("zed")  # an account, in the lobby
    assert olga.cmd("join", "den").TYPE == "ok"
    for u in (oscar, mal):
        assert u.cmd("join", "den").TYPE == "ok"
    seen = {u: len(u.events) for u in (olga, oscar, mal)}
    world.disk.on = True
    asked = [(olga, world.asks(olga, "op", "oscar")),
             (olga, world.asks(olga, "topic", "secret plans")),
             (olga, world.asks(olga, "ban", "mal 1h spam")),
             (olga, world.asks(olga, "slow", "30")),
             (olga, world.asks(olga, "mode", "+i")),
             (olga, world.asks(olga, "invite", "zed")),
             (mal, world.asks(mal, "ignore", "oscar"))]
    assert world.disk.refused > 0
    assert all(reply(u, i) is None for u, i in asked)  # nothing is told before it is stored
    world.past_patience()
    for u, msg_id in asked:
        got = reply(u, msg_id)
        assert isinstance(got, Error) and got.code == "storage", got
        assert "could not store" in got.text
    # nobody was told of any of it, and nothing of it holds here
    for u in (olga, oscar, mal):
        news = "\n".join(str(getattr(e, "text", "") or "") for e in u.events[seen[u]:])
        for word in ("an op", "topic", "banned", "slow mode", "invite", "ignore"):
            assert word not in news, (u.session.user, news)
        assert not [e for e in u.events[seen[u]:]
                    if isinstance(e, (Roles, TopicChanged))], u.session.user
    assert mal.session.room.name == "den"  # not put out by a ban that is not stored
    c = world.community
    assert c.rank("oscar", "den") == MEMBER and c.rank("olga", "den") == OWNER
    rules = c.rooms["den"]
    assert (rules.topic, rules.slow, rules.invite_only, rules.invited) == ("", 0, False, {})
    assert c.active("ban", "den", "mal") is None
    assert world.pair.hub.ignoring.names(mal.session) == []
    # what a refused op would let oscar do, he cannot
    assert oscar.cmd("kick", "mal").code == "not_allowed"
    assert mal.cmd("ignore").data == {"ignores": []}
    # the disk is back: none of it reaches the file, at the next commit or ever
    world.disk.on = False
    assert world.pair.hub.commit()
    assert world.rows("SELECT scope, key, role FROM roles") == [("#den", "olga", "owner")]
    assert world.rows("SELECT * FROM sanctions") == []
    assert world.rows("SELECT * FROM ignores") == [] and world.rows("SELECT * FROM invites") == []
    assert world.rows("SELECT topic, slow, invite_only FROM room_rules") == []
    assert [r[0] for r in world.rows("SELECT action FROM modlog")] == ["owner"]
    again = CommunityStore(sqlite3.connect(world.path)).load(Community())
    assert again.rank("oscar", "den") == MEMBER and not again.rooms["den"].topic
    # ... and the same commands now hold, in the file by the time their ok comes
    assert olga.cmd("op", "oscar").TYPE == "ok"
    assert ("#den", "oscar", "op") in world.rows("SELECT scope, key, role FROM roles")
    assert "olga made oscar an op of #den" in said(mal)
    assert mal.cmd("ignore", "oscar").TYPE == "ok"
    assert world.rows("SELECT key, ignored FROM ignores") == [("mal", "oscar")]
    assert oscar.cmd("kick", "mal").TYPE == "ok"


def test_changes_refused_together_are_undone_latest_first(world):
    world.host.first_admin("rita")
    olga, oscar, rita = world.user("olga"), world.user("oscar"), world.user("rita")
    for u in (olga, oscar, rita):
        u.cmd("join", "den")
    assert olga.cmd("op", "oscar").TYPE == "ok"
    world.disk.on = True
    first = world.asks(olga, "deop", "oscar")
    assert world.community.rank("oscar", "den") == MEMBER  # the rules act on it meanwhile
    second = world.asks(rita, "op", "oscar")  # on top of the deop, in the same commit
    third = world.asks(rita, "topic", "later")  # (waits for rita's op: the next commit)
    world.past_patience()
    assert [reply(u, i).code for u, i in ((olga, first), (rita, second), (rita, third))] == [
        "storage"] * 3
    assert world.community.rank("oscar", "den") == OP  # as stored: he was an op all along
    assert world.community.rooms["den"].topic == ""
    world.disk.on = False
    assert world.pair.hub.commit()
    assert ("#den", "oscar", "op") in world.rows("SELECT scope, key, role FROM roles")


def test_a_new_rooms_owner_admin_grant_and_device_key_wait_for_the_store(world):
    world.host.first_admin("rita")
    assert world.pair.hub.commit()
    rita, ann = world.user("rita"), world.user("ann")
    world.disk.on = True
    joined = world.asks(ann, "join", "attic")  # the first in a new room would own it
    granted = world.asks(rita, "admin", "grant ann")
    ring = DeviceKeyring.load_or_new(world.path.parent / "ann-key", "mem", "ann")[0]
    published = world.asks(ann, "devicekey", f"{ring.public} {ring.device}")
    assert reply(ann, joined) is None and reply(rita, granted) is None
    world.past_patience()
    assert reply(rita, granted).code == "storage" and reply(ann, published).code == "storage"
    assert "you own #attic" not in said(ann)
    warned = [e for e in ann.events if isinstance(e, Notice) and "no owner" in e.text]
    assert warned and warned[0].kind == "warn"
    assert world.community.rank("ann", "attic") == MEMBER and world.community.rank("ann") == MEMBER
    assert "made ann an admin" not in said(ann)
    world.disk.on = False
    assert world.pair.hub.commit()
    assert world.rows("SELECT key FROM roles WHERE key = 'ann'") == []
    assert world.rows("SELECT * FROM device_keys") == []  # refused: not stored after all
    assert ann.cmd("devicekey", f"{ring.public} {ring.device}").TYPE == "ok"
    assert len(world.rows("SELECT * FROM device_keys")) == 1


def test_password_and_account_deletion_refused_by_a_failing_disk(world):
    ann = world.user("ann")
    world.disk.on = True
    changed = ann.cmd("password", secret="pw\nnew-secret")
    assert changed.TYPE == "error" and changed.code == "storage", changed
    assert ann.cmd("deleteaccount").TYPE == "ok"  # "type it again to confirm": no write
    gone = ann.cmd("deleteaccount", "ann")
    assert gone.TYPE == "error" and gone.code == "storage", gone
    assert not ann.closed
    world.disk.on = False
    assert world.rows("SELECT name FROM accounts") == [("ann",)]
    again = world.user("ann")  # the old password still logs in
    assert again.cmd("password", secret="pw\nnew-secret").TYPE == "ok"
    assert again.cmd("deleteaccount").TYPE == "ok"
    assert again.cmd("deleteaccount", "ann").text == "the account ann is deleted"
    assert again.closed
    assert world.rows("SELECT name FROM accounts") == []


def test_a_logout_the_store_cannot_take_says_so(world):
    ann = world.user("ann")
    world.disk.on = True
    asked = world.asks(ann, "quit")
    assert reply(ann, asked) is None
    world.past_patience()
    bye = reply(ann, asked)
    assert bye.TYPE == "ok" and "may still resume" in bye.text, bye
    assert ann.closed
    world.disk.on = False
    assert world.pair.hub.commit()  # kept queued: the tokens go once the store takes it
    assert world.rows("SELECT * FROM tokens WHERE user = 'ann'") == []


def test_written_at_once_a_failed_write_is_undone_too(tmp_path):
    """Without a hub's commits (each change written as made): a write that fails is a
    `storage` reply and the rules stay as the file has them."""
    w = World(tmp_path, at_once=True)
    try:
        olga, oscar, mal = w.user("olga"), w.user("oscar"), w.user("mal")
        for u in (olga, oscar, mal):
            u.cmd("join", "den")
        w.disk.on = True
        got = olga.cmd("op", "oscar")
        assert got.TYPE == "error" and got.code == "storage", got
        assert w.community.rank("oscar", "den") == MEMBER
        assert olga.cmd("mute", "mal").code == "storage"
        assert w.community.active("mute", "den", "mal") is None
        assert w.community.speech_refusal("mal", "den") is None
        w.disk.on = False
        assert mal.say("still speaking").TYPE == "ok"
    finally:
        w.close()
