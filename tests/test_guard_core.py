"""The hub's guards in memory, on a fake clock: login throttles, the hash queue, look-alikes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubpair import Pair, User

from gameserver.core.pending import Work
from gameserver.protocol import Command, Hello, Login
from gameserver.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Peer:
    """One connection from `address` on an in-memory hub, with the replies it got."""

    def __init__(self, pair: Pair, address: str = "192.0.2.1") -> None:
        self.user = User(pair)
        self.user.session.peer = f"{address}:4000"
        self.session = self.user.session

    def login(self, name: str, password: str = "right") -> Any:
        if not self.session.greeted:
            self.user.send(Hello(version=1))
        return self.user.request(Login(id=self.user.next_id(), user=name, password=password))

    def start_login(self, name: str, password: str = "right") -> None:
        """Send a login whose check the runtime holds back."""
        if not self.session.greeted:
            self.user.send(Hello(version=1))
        self.user.send(Login(id=self.user.next_id(), user=name, password=password))

    def nick(self, name: str) -> Any:
        return self.user.request(Command(id=self.user.next_id(), name="nick", args=name))


class HeldWork:
    """A runtime whose hash threads are all busy: work waits until `finish`."""

    def __init__(self) -> None:
        self.waiting: list[Work] = []

    def __call__(self, work: Work) -> None:
        self.waiting.append(work)
        if work.session is not None and work.cancelled is not None:
            cancelled = work.cancelled

            def cancel() -> None:
                self.waiting.remove(work)
                cancelled()

            work.session.cancel_work = cancel

    def finish(self, pair: Pair) -> None:
        while self.waiting:
            work = self.waiting.pop(0)
            if work.session is not None:
                work.session.cancel_work = None
            work.done(work.run())
        for _ in range(3):  # a login's reply waits for the commits of what it stored
            pair.hub.commit()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_hub(tmp_path: Path, clock: Clock, run_work: Any = None, **settings: Any) -> Pair:
    return Pair(tmp_path, settings=Settings(**settings), clock=clock, run_work=run_work)


def test_failed_logins_wait_longer_and_the_right_password_works_after(tmp_path, clock):
    pair = make_hub(tmp_path, clock, login_free_failures=3, login_wait_max=60)
    Peer(pair).login("alice")  # registers
    attacker = Peer(pair, "198.51.100.9")
    for _ in range(3):
        assert attacker.login("alice", "guess").code == "bad_password"
    reply = attacker.login("alice", "guess")
    assert reply.code == "bad_password"
    assert "the next try must wait 1 second" in reply.text
    reply = Peer(pair, "203.0.113.5").login("alice", "right")  # the owner, elsewhere
    assert reply.code == "throttled"
    assert reply.text == "too many failed logins for alice; try again in 1 second"
    clock.now += 1
    assert attacker.login("alice", "guess").code == "bad_password"
    refused = Peer(pair, "203.0.113.5").login("alice", "right")
    assert refused.text == "too many failed logins for alice; try again in 2 seconds"
    clock.now += 2
    owner = Peer(pair, "203.0.113.5")
    assert owner.login("alice", "right").TYPE == "ok"  # the wait is over
    assert pair.hub.login_throttle.wait("alice", "203.0.113.5") == 0  # and it cleared the account


def test_one_address_guessing_many_accounts_is_slowed(tmp_path, clock):
    pair = make_hub(tmp_path, clock, login_free_failures=2)
    for name in ("a1", "b2", "c3", "d4"):
        Peer(pair, "192.0.2.50").login(name)
    guesser = "198.51.100.7"
    codes = [Peer(pair, guesser).login(name, "nope").code for name in ("a1", "b2", "c3", "d4")]
    assert codes == ["bad_password", "bad_password", "bad_password", "throttled"]
    assert Peer(pair, "192.0.2.77").login("d4").TYPE == "ok"  # d4 itself is not blocked


def test_registrations_per_address_are_limited(tmp_path, clock):
    pair = make_hub(tmp_path, clock, registrations_per_hour=2)
    assert Peer(pair).login("new1").TYPE == "ok"
    assert Peer(pair).login("new2").TYPE == "ok"
    reply = Peer(pair).login("new3")
    assert reply.code == "throttled"
    assert reply.text == "too many new accounts from your address; try again in 30 minutes"
    assert Peer(pair, "192.0.2.99").login("new3").TYPE == "ok"  # another address
    clock.now += 1800
    assert Peer(pair).login("new4").TYPE == "ok"


def test_the_hash_queue_is_bounded_and_a_vanished_connection_frees_its_place(tmp_path, clock):
    held = HeldWork()
    pair = make_hub(tmp_path, clock, held, hash_queue=2)
    for name in ("one", "two", "late"):
        Peer(pair, "192.0.2.99").start_login(name)
        held.finish(pair)
    first, second, late = (Peer(pair, f"192.0.2.{n}") for n in range(3))
    first.start_login("one")
    second.start_login("two")
    reply = late.login("late")
    assert reply.code == "busy" and "busy checking other logins" in reply.text
    first.user.drop()  # gone before its hash ran: cancelled, its place given back
    assert pair.hub.hashing == 1 and len(held.waiting) == 1
    late.start_login("late")
    held.finish(pair)
    assert pair.hub.hashing == 0
    assert second.session.user == "two" and late.session.user == "late"
    assert first.session.user is None  # its check never ran


def test_a_cancelled_guess_is_not_a_failure(tmp_path, clock):
    held = HeldWork()
    pair = make_hub(tmp_path, clock, held, login_free_failures=1)
    Peer(pair).start_login("alice")
    held.finish(pair)
    for _ in range(5):
        peer = Peer(pair, "198.51.100.1")
        peer.start_login("alice", "guess")
        peer.user.drop()
    assert not held.waiting
    Peer(pair).start_login("alice")
    held.finish(pair)
    assert pair.hub.login_throttle.wait("alice", "192.0.2.1") == 0


def test_lookalike_usernames_are_refused_with_the_name_they_resemble(tmp_path, clock):
    pair = make_hub(tmp_path, clock)
    for name in ("alice", "modem"):
        assert Peer(pair).login(name).TYPE == "ok"
    for lookalike, like in (("aIice", "alice"), ("a1ice", "alice"), ("ALICE", None),
                            ("rnodem", "modem"), ("adrnin", "admin"), ("m0dem", "modem"),
                            ("M0DEM", "modem")):
        reply = Peer(pair, "192.0.2.200").login(lookalike)
        if like is None:  # the same account in another case: a password check, not a name
            assert reply.TYPE == "ok"
            continue
        assert reply.code == "lookalike", reply
        assert f"looks like {like}" in reply.text
    # Restarted, the index is rebuilt from the store.
    pair.close()
    again = make_hub(tmp_path, clock)
    assert Peer(again).login("aIice").code == "lookalike"


def nick(peer: Peer, name: str) -> Any:
    return peer.nick(name)


@pytest.mark.parametrize(("wanted", "like"), [
    ("d\u0430ve", "dave"),  # Cyrillic a: mixed scripts
    ("\uff44\uff41\uff56\uff45", "dave"),  # fullwidth
    ("dave\u034f", "dave"),  # an invisible combining mark
    ("dave\u2800", "dave"),  # a Braille blank: a symbol that draws nothing
    ("da\U0001d159ve", "dave"),  # a musical null notehead, also blank, inside the name
    ("Jose\u0301", "Jos\u00e9"),  # the same letter, spelled with a combining accent
    ("d0ve", "dove"),  # a digit zero for a small o: TR39 maps 0 to O, names ignore case
    ("D0VE", "dove"),
])
def test_lookalike_nicks_are_refused(tmp_path, clock, wanted, like):
    pair = make_hub(tmp_path, clock)
    dave = Peer(pair)
    dave.login("dave")
    jose = Peer(pair)
    jose.login("jose")
    assert nick(jose, "Jos\u00e9").TYPE == "ok"
    Peer(pair).login("dove")
    eve = Peer(pair)
    eve.login("eve")
    reply = nick(eve, wanted)
    assert reply.code == "lookalike", reply
    assert f"looks like {like}" in reply.text


@pytest.mark.parametrize("wanted", ["Ren\u00e9", "\u4e2d\u6587", "\u00e9", "dave_2", "Davide",
                                    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"])
def test_ordinary_international_nicks_are_accepted(tmp_path, clock, wanted):
    pair = make_hub(tmp_path, clock)
    Peer(pair).login("dave")
    eve = Peer(pair)
    eve.login("eve")
    assert nick(eve, wanted).TYPE == "ok"


def test_own_name_lookalike_is_allowed(tmp_path, clock):
    pair = make_hub(tmp_path, clock)
    dave = Peer(pair)
    dave.login("dave")
    assert nick(dave, "Dave").TYPE == "ok"
    assert nick(dave, "d\u0430ve").TYPE == "ok"  # nobody else is confused for dave


def test_new_accounts_get_half_the_hash_queue(tmp_path, clock):
    held = HeldWork()
    pair = make_hub(tmp_path, clock, held, hash_queue=4)
    Peer(pair).start_login("alice")
    held.finish(pair)
    for n in range(2):
        Peer(pair, f"198.51.100.{n}").start_login(f"new{n}")
    reply = Peer(pair, "198.51.100.9").login("new9")
    assert reply.code == "busy" and "creating other accounts" in reply.text
    alice = Peer(pair, "192.0.2.1")
    alice.start_login("alice")  # an existing account still gets its check
    assert len(held.waiting) == 3
    held.finish(pair)
    assert alice.session.user == "alice"
    assert pair.hub.hashing == 0 and pair.hub.registering == 0
