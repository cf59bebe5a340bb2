"""Each connection's requests are answered in the order it sent them, whatever each waits for
(core/turns.py): the hub in memory, with a store whose reads answer later, as a store
thread's do on a cluster."""

from __future__ import annotations

from typing import Any

import pytest
from hubpair import Pair, User

from gameserver.core.pending import Immediate, Pending
from gameserver.protocol import Command, RemoteProtocolError, Say


class Later:
    """The core's reads from a real store, each answered only when the test says (in order)."""

    def __init__(self, store: Any) -> None:
        self.now = Immediate(store)
        self.waiting: list[tuple[Pending[Any], Any]] = []

    def __getattr__(self, name: str) -> Any:
        read = getattr(self.now, name)

        def later(*args: Any, **kwargs: Any) -> Pending[Any]:
            value: list[Any] = []
            read(*args, **kwargs).then(value.append)
            pending: Pending[Any] = Pending()
            self.waiting.append((pending, value[0]))
            return pending
        return later

    def answer_all(self, pair: Pair) -> None:
        while self.waiting:
            pending, value = self.waiting.pop(0)
            pending.resolve(value)
            pair.hub.commit()
        pair.hub.commit()


@pytest.fixture
def slow(tmp_path):
    pair = Pair(tmp_path)
    ann, ben = pair.user("ann"), pair.user("ben")
    later = Later(pair.store)
    pair.hub.lookups = later
    yield pair, later, ann, ben
    pair.close()


def replies(user: User, ids: set[int]) -> list[tuple[int, str]]:
    return [(e.id, e.TYPE) for e in user.events
            if e.TYPE in ("ok", "error", "history") and getattr(e, "id", None) in ids]


def test_replies_leave_in_the_order_of_the_requests(slow):
    pair, later, ann, ben = slow
    ann.send(Command(id=10, name="nick", args="kay"))  # waits for two reads
    ann.send(Say(id=11, text="hello"))
    ann.send(Command(id=12, name="frobnicate"))  # an error the hub knows at once
    ann.send(Command(id=13, name="who"))
    pair.hub.bad_frame(ann.session, RemoteProtocolError("bad_json", "that was not JSON"), 14)
    assert replies(ann, {10, 11, 12, 13, 14}) == []  # nothing overtakes the /nick
    later.answer_all(pair)
    assert replies(ann, {10, 11, 12, 13, 14}) == [
        (10, "ok"), (11, "ok"), (12, "error"), (13, "ok"), (14, "error")]
    # what came after the /nick was done after it: the line is said under the new nick
    assert [(m.nick, m.text) for m in ben.of("room_msg")] == [("kay", "hello")]


def test_nobody_else_waits_for_a_slow_request(slow):
    pair, later, ann, ben = slow
    ann.send(Command(id=20, name="history"))  # ann waits for the store
    ben.send(Say(id=5, text="meanwhile"))
    assert ben.of("ok", id=5)
    assert [m.text for m in ann.of("room_msg")] == ["meanwhile"]  # ann still hears the room
    assert not ann.of("history", id=20)
    later.answer_all(pair)
    assert ann.of("history", id=20) or ann.of("ok", id=20)


def test_an_error_of_a_slow_request_keeps_its_place(slow):
    pair, later, ann, _ben = slow
    ann.send(Command(id=30, name="msg", args="nobody hello"))  # no such user: found later
    ann.send(Command(id=31, name="rooms"))
    later.answer_all(pair)
    assert replies(ann, {30, 31}) == [(30, "error"), (31, "ok")]
    assert ann.of("error", id=30)[0].code == "no_such_user"


def test_what_waited_is_dropped_with_its_connection(slow):
    pair, later, ann, ben = slow
    ann.send(Command(id=40, name="nick", args="kay"))
    ann.send(Say(id=41, text="never said"))
    ann.drop()
    later.answer_all(pair)
    assert not ben.of("room_msg", text="never said")
    assert ann.session.queued is None
