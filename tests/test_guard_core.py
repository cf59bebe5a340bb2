"""The hub's guards in memory, on a fake clock: login throttles, the hash queue, look-alikes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gameserver.hub import Hub, Work
from gameserver.passwords import hash_password, verify_password
from gameserver.settings import Settings
from gameserver.store import SQLiteStore


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Peer:
    """One session on an in-memory hub; hashing work runs when `finish` says so."""

    def __init__(self, hub: Hub, address: str = "192.0.2.1") -> None:
        self.hub = hub
        self.frames: list[dict[str, Any]] = []
        self.closed: str | None = None
        self.session = hub.connect(self._take, self._close, f"{address}:4000")
        self.work: list[Work] = []
        self._id = 0

    def _take(self, data: bytes) -> None:
        self.frames.extend(json.loads(line) for line in data.splitlines())

    def _close(self, reason: str) -> None:
        self.closed = reason

    def send(self, obj: dict[str, Any], run_work: bool = True) -> dict[str, Any] | None:
        self._id += 1
        obj = {**obj, "id": self._id}
        work = self.hub.receive(self.session, obj)
        if work is not None:
            if not run_work:
                self.work.append(work)
                return None
            work.done(work.run())
        self.hub.commit()
        return self.reply(self._id)

    def reply(self, msg_id: int) -> dict[str, Any] | None:
        for frame in self.frames:
            if frame.get("id") == msg_id and frame["type"] in ("ok", "error"):
                return frame
        return None

    def login(self, user: str, password: str = "right", **kw: Any) -> dict[str, Any] | None:
        if not self.session.greeted:
            self.hub.receive(self.session, {"type": "hello", "version": 1})
        return self.send({"type": "login", "user": user, "password": password}, **kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_hub(tmp_path: Path, clock: Clock, **settings: Any) -> Hub:
    store = SQLiteStore(tmp_path / "play.db")
    return Hub(store, hasher=lambda p: hash_password(p, 2**4), verifier=verify_password,
               settings=Settings(**settings), clock=clock)


def test_failed_logins_wait_longer_and_the_right_password_works_after(tmp_path, clock):
    hub = make_hub(tmp_path, clock, login_free_failures=3, login_wait_max=60)
    Peer(hub).login("alice")  # registers
    attacker = Peer(hub, "198.51.100.9")
    for _ in range(3):
        assert attacker.login("alice", "guess")["code"] == "bad_password"
    reply = attacker.login("alice", "guess")
    assert reply["code"] == "bad_password"
    assert "the next try must wait 1 s" in reply["text"]
    reply = Peer(hub, "203.0.113.5").login("alice", "right")  # the owner, elsewhere
    assert reply["code"] == "throttled"
    assert reply["text"] == "too many failed logins for alice; try again in 1 s"
    clock.now += 1
    assert attacker.login("alice", "guess")["code"] == "bad_password"
    refused = Peer(hub, "203.0.113.5").login("alice", "right")
    assert refused["text"] == "too many failed logins for alice; try again in 2 s"
    clock.now += 2
    owner = Peer(hub, "203.0.113.5")
    assert owner.login("alice", "right")["type"] == "ok"  # the wait is over
    assert hub.login_throttle.wait("alice", "203.0.113.5") == 0  # and it cleared the account


def test_one_address_guessing_many_accounts_is_slowed(tmp_path, clock):
    hub = make_hub(tmp_path, clock, login_free_failures=2)
    for name in ("a1", "b2", "c3", "d4"):
        Peer(hub, "192.0.2.50").login(name)
    guesser = "198.51.100.7"
    codes = [Peer(hub, guesser).login(name, "nope")["code"] for name in ("a1", "b2", "c3", "d4")]
    assert codes == ["bad_password", "bad_password", "bad_password", "throttled"]
    assert Peer(hub, "192.0.2.77").login("d4")["type"] == "ok"  # d4 itself is not blocked


def test_registrations_per_address_are_limited(tmp_path, clock):
    hub = make_hub(tmp_path, clock, registrations_per_hour=2)
    assert Peer(hub).login("new1")["type"] == "ok"
    assert Peer(hub).login("new2")["type"] == "ok"
    reply = Peer(hub).login("new3")
    assert reply["code"] == "throttled"
    assert reply["text"] == "too many new accounts from your address; try again in 30 min"
    assert Peer(hub, "192.0.2.99").login("new3")["type"] == "ok"  # another address
    clock.now += 1800
    assert Peer(hub).login("new4")["type"] == "ok"


def test_the_hash_queue_is_bounded_and_a_cancelled_hash_frees_its_place(tmp_path, clock):
    hub = make_hub(tmp_path, clock, hash_queue=2)
    waiting = [Peer(hub, f"192.0.2.{n}") for n in range(3)]
    for peer in waiting[:2]:
        assert peer.login(f"user{peer.session.peer[8]}", run_work=False) is None
    reply = waiting[2].login("late")
    assert reply["code"] == "busy" and "busy checking other logins" in reply["text"]
    # The first connection goes away: its hash is cancelled (never run).
    gone = waiting[0]
    hub.disconnected(gone.session, "lost")
    assert gone.work[0].cancelled is not None
    gone.work[0].cancelled()
    assert hub.hashing == 1
    assert waiting[2].login("late")["type"] == "ok"
    kept = waiting[1].work[0]
    kept.done(kept.run())
    assert hub.hashing == 0


def test_a_cancelled_guess_is_not_a_failure(tmp_path, clock):
    hub = make_hub(tmp_path, clock, login_free_failures=1)
    Peer(hub).login("alice")
    for _ in range(5):
        peer = Peer(hub, "198.51.100.1")
        peer.login("alice", "guess", run_work=False)
        hub.disconnected(peer.session, "lost")
        peer.work[0].cancelled()
    assert Peer(hub).login("alice")["type"] == "ok"


def test_lookalike_usernames_are_refused_with_the_name_they_resemble(tmp_path, clock):
    hub = make_hub(tmp_path, clock)
    for name in ("alice", "modem"):
        assert Peer(hub).login(name)["type"] == "ok"
    for lookalike, like in (("aIice", "alice"), ("a1ice", "alice"), ("ALICE", None),
                            ("rnodem", "modem"), ("adrnin", "admin")):
        reply = Peer(hub, "192.0.2.200").login(lookalike)
        if like is None:  # the same account in another case: a password check, not a name
            assert reply["type"] == "ok"
            continue
        assert reply["code"] == "lookalike", reply
        assert f"looks like {like}" in reply["text"]
    # Restarted, the index is rebuilt from the store.
    hub2 = Hub(hub.store, hasher=hub.hasher, settings=Settings(), clock=clock)
    assert Peer(hub2).login("aIice")["code"] == "lookalike"


def nick(peer: Peer, name: str) -> dict[str, Any]:
    reply = peer.send({"type": "cmd", "name": "nick", "args": name})
    assert reply is not None
    return reply


@pytest.mark.parametrize(("wanted", "like"), [
    ("d\u0430ve", "dave"),  # Cyrillic a: mixed scripts
    ("\uff44\uff41\uff56\uff45", "dave"),  # fullwidth
    ("dave\u034f", "dave"),  # an invisible combining mark
    ("Jose\u0301", "Jos\u00e9"),  # the same letter, spelled with a combining accent
])
def test_lookalike_nicks_are_refused(tmp_path, clock, wanted, like):
    hub = make_hub(tmp_path, clock)
    dave = Peer(hub)
    dave.login("dave")
    jose = Peer(hub)
    jose.login("jose")
    assert nick(jose, "Jos\u00e9")["type"] == "ok"
    eve = Peer(hub)
    eve.login("eve")
    reply = nick(eve, wanted)
    assert reply["code"] == "lookalike", reply
    assert f"looks like {like}" in reply["text"]


@pytest.mark.parametrize("wanted", ["Ren\u00e9", "\u4e2d\u6587", "\u00e9", "dave_2", "Davide",
                                    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"])
def test_ordinary_international_nicks_are_accepted(tmp_path, clock, wanted):
    hub = make_hub(tmp_path, clock)
    Peer(hub).login("dave")
    eve = Peer(hub)
    eve.login("eve")
    assert nick(eve, wanted)["type"] == "ok"


def test_own_name_lookalike_is_allowed(tmp_path, clock):
    hub = make_hub(tmp_path, clock)
    dave = Peer(hub)
    dave.login("dave")
    assert nick(dave, "Dave")["type"] == "ok"
    assert nick(dave, "d\u0430ve")["type"] == "ok"  # nobody else is confused for dave
