"""The hash queue in memory: bounded, fair between address prefixes, floods displaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubpair import Pair, User

from gameserver.core.hashqueue import HashQueue
from gameserver.core.pending import Work
from gameserver.protocol import Hello, Login
from gameserver.settings import Settings


class Threads:
    """The runtime's hash threads, held: work runs only when `finish_one` says."""

    def __init__(self) -> None:
        self.running: list[Work] = []

    def __call__(self, work: Work) -> None:
        self.running.append(work)

    def finish_one(self) -> Any:
        work = self.running.pop(0)
        result = work.run()
        work.done(result)
        return result


def job(log: list[str], name: str) -> Work:
    return Work(run=lambda: name, done=log.append,
                cancelled=lambda: log.append(f"cancelled {name}"))


def test_checks_are_taken_in_turn_from_each_prefix_not_first_come() -> None:
    threads, ran = Threads(), []
    queue = HashQueue(threads, bound=10, slots=1)
    for n in range(4):  # a flood from one /24 arrives first
        assert queue.submit(job(ran, f"flood{n}"), f"198.51.100.{n}", lambda: None)
    assert queue.submit(job(ran, "real"), "192.0.2.7", lambda: None)
    assert len(threads.running) == 1 and len(queue) == 5
    while threads.running:
        threads.finish_one()
    # flood0 was running and flood1 queued when the real user came: then they alternate
    assert ran == ["flood0", "flood1", "real", "flood2", "flood3"]
    assert len(queue) == 0


def test_within_a_prefix_each_address_takes_its_turn() -> None:
    threads, ran = Threads(), []
    queue = HashQueue(threads, bound=10, slots=1)
    for n in range(3):
        queue.submit(job(ran, f"a{n}"), "203.0.113.1", lambda: None)
    queue.submit(job(ran, "b0"), "203.0.113.2", lambda: None)
    while threads.running:
        threads.finish_one()
    assert ran == ["a0", "a1", "b0", "a2"]  # a1 was waiting before b0 came; then in turn


def test_a_full_queue_displaces_the_newest_check_of_the_fattest_prefix() -> None:
    threads, ran, told = Threads(), [], []
    queue = HashQueue(threads, bound=4, slots=1)
    for n in range(4):
        assert queue.submit(job(ran, f"flood{n}"), f"198.51.100.{n}",
                            lambda n=n: told.append(f"busy flood{n}"))
    assert queue.has_room("192.0.2.7")  # another prefix: it takes a flood check's place
    assert queue.submit(job(ran, "real"), "192.0.2.7", lambda: told.append("busy real"))
    assert ran == ["cancelled flood3"] and told == ["busy flood3"]
    assert len(queue) == 4 and queue.evictions == 1
    # the flood's own prefix cannot displace itself, nor can equal shares displace each other
    assert not queue.has_room("198.51.100.200")
    assert not queue.submit(job(ran, "more"), "198.51.100.200", lambda: None)
    assert queue.submit(job(ran, "second"), "203.0.113.9", lambda: None)  # 2 waiting > 0+1
    assert not queue.has_room("192.0.2.8")  # the flood has 1 waiting now, as 192.0.2.0/24
    while threads.running:
        threads.finish_one()
    assert ran[1:] == ["cancelled flood2", "flood0", "flood1", "real", "second"]


def test_equal_shares_from_many_prefixes_are_busy_at_the_bound() -> None:
    threads, ran = Threads(), []
    queue = HashQueue(threads, bound=3, slots=1)
    for n in range(3):
        assert queue.submit(job(ran, f"bot{n}"), f"10.0.{n}.1", lambda: None)
    assert not queue.submit(job(ran, "bot3"), "10.0.3.1", lambda: None)


def test_a_vanished_connection_frees_its_place_and_a_failed_check_its_thread(
        tmp_path: Path) -> None:
    threads = Threads()
    pair = Pair(tmp_path, settings=Settings(hash_queue=6), run_work=threads, hash_slots=1)
    users = []
    for n in range(3):
        user = User(pair)
        user.session.peer = f"192.0.2.{n}:4000"
        user.send(Hello(version=1))
        user.send(Login(id=user.next_id(), user=f"user{n}", password="pw"))
        users.append(user)
    assert pair.hub.hashing == 3 and len(threads.running) == 1
    users[2].drop()  # queued, not yet running: its place is given back at once
    assert pair.hub.hashing == 2 and pair.hub.registering == 2
    running = threads.running.pop(0)
    assert running.cancelled is not None
    running.cancelled()  # the runtime could not run it (a worker failed): the slot comes back
    assert pair.hub.hashing == 1 and len(threads.running) == 1
    assert not users[0].session.busy  # and its client may try again
    threads.finish_one()
    for _ in range(3):
        pair.hub.commit()
    assert users[1].session.user == "user1" and pair.hub.hashing == 0


def test_a_real_login_is_not_held_behind_a_login_flood(tmp_path: Path) -> None:
    """A flood from one /24 fills the queue; a real user elsewhere still gets the next check."""
    threads = Threads()
    pair = Pair(tmp_path, settings=Settings(hash_queue=8, registrations_per_hour=100),
                run_work=threads, hash_slots=1)
    for name in ("real", "m0", "m1", "m2", "m3"):
        owner = User(pair)
        owner.session.peer = "203.0.113.1:7000"
        owner.send(Hello(version=1))
        owner.send(Login(id=owner.next_id(), user=name, password="real-pw"))
        threads.finish_one()  # registered
        owner.drop()
    flood = []
    for n in range(12):
        user = User(pair)
        user.session.peer = f"198.51.100.{n % 4}:{5000 + n}"
        user.send(Hello(version=1))
        user.send(Login(id=user.next_id(), user=f"new{n}", password="x"))
        flood.append(user)
    busy = [u for u in flood if any(getattr(e, "code", None) == "busy" for e in u.events)]
    assert len(busy) == 8  # half the queue is for new names: 4 held, the rest told busy
    for n in range(4):  # and guesses at other accounts fill the rest
        user = User(pair)
        user.session.peer = f"198.51.100.{n}:{6000 + n}"
        user.send(Hello(version=1))
        user.send(Login(id=user.next_id(), user=f"m{n}", password="guess"))
        flood.append(user)
    assert pair.hub.hashing == 8  # full
    real = User(pair)
    real.session.peer = "192.0.2.44:6000"
    real.send(Hello(version=1))
    real.send(Login(id=real.next_id(), user="real", password="real-pw"))
    assert not any(getattr(e, "code", None) == "busy" for e in real.events)
    displaced = [u for u in flood[12:] if u.of("error", code="busy")]
    assert len(displaced) == 1 and pair.hub.hashing == 8  # the flood's newest made room
    checks = 0
    while threads.running[0].session is not real.session:  # the flood's running and next
        threads.finish_one()
        checks += 1
    assert checks <= 2  # not the flood's whole queue
    threads.finish_one()
    for _ in range(3):
        pair.hub.commit()
    assert real.session.user == "real"


def test_the_express_runner_serves_quiet_prefixes_never_the_flood() -> None:
    bulk, express, ran = Threads(), Threads(), []
    queue = HashQueue(bulk, bound=10, slots=1, express=express)
    queue.submit(job(ran, "flood0"), "198.51.100.1", lambda: None)  # quiet yet: express
    assert len(express.running) == 1 and not bulk.running
    for n in range(1, 5):
        queue.submit(job(ran, f"flood{n}"), f"198.51.100.{n}", lambda: None)
    assert len(bulk.running) == 1  # the flood's next check; the rest wait for the bulk thread
    express.finish_one()
    assert not express.running  # its prefix is running in bulk: not quiet, express stays free
    queue.submit(job(ran, "real"), "192.0.2.7", lambda: None)
    assert len(express.running) == 1 and express.finish_one() == "real"  # at once
    assert queue.expressed == 2
    while bulk.running or express.running:
        (bulk if bulk.running else express).finish_one()
    assert sorted(ran) == sorted(["flood0", "real"] + [f"flood{n}" for n in range(1, 5)])
    assert len(queue) == 0
