"""What one node asks of the node that holds a session, and waits to hear back (no I/O).

A node's mirror of the others is a moment behind. So whatever depends on whether a
session on another node is still there is decided by that node, and the asking node
waits for its answer: a login that replaces the account's session there (that node
ends it and tells its rooms, or says it had ended already, then this login goes on,
so every node hears the end before the arrival), a PM to a user there (delivered
there, or kept for their next login: the sender is told which), a game command run
there (its reply comes back as the answer). The bus carries one channel in one order,
so what that node published before answering reaches everyone before the answer.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gameserver import protocol
from gameserver.core.events import TopicChanged
from gameserver.core.rooms import Session
from gameserver.protocol import Error, HistoryPage, Message, Ok, PrivateMessage

if TYPE_CHECKING:
    from gameserver.core.cluster import ClusterLink

log = logging.getLogger("play.cluster")

PATIENCE = 1.0  # seconds to wait for another node's answer before going on without it
COMMAND_PATIENCE = 5.0  # ... for the reply to a command run there (it may read the store)
EARLY = 0.01  # a timer may fire a little before its time
REPLACED = "you logged in from another place"
UNANSWERED = ("the node that hosts this room's game did not answer; try again in a few"
              " seconds")
FINAL = (Ok, Error)  # the reply that ends a request (a history's last page too)
_TOPIC = "topic_changed"  # core.events.TopicChanged on the bus (it has no wire form)

_EVENT_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in vars(protocol).values()
    if isinstance(cls, type) and issubclass(cls, Message) and cls.TYPE
}


def event_to_dict(event: Any) -> dict[str, Any]:
    if type(event) is TopicChanged:  # the core's own event (each door says it its way)
        return {"type": _TOPIC, "room": event.room, "by": event.by, "topic": event.topic,
                "text": event.text}
    return event.to_wire()


def event_from_dict(data: dict[str, Any]) -> Any:
    if data["type"] == _TOPIC:
        return TopicChanged(room=data["room"], by=data["by"], topic=data["topic"],
                            text=data["text"])
    cls = _EVENT_TYPES[data["type"]]
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in fields})




class Handover:
    """Questions to other nodes, each with a ticket, answered (or given up) once."""

    def __init__(self, link: ClusterLink) -> None:
        self.link = link
        self._tickets = itertools.count(1)
        # ticket -> (when to give up, what to do with the answer, what to do without one,
        # the node asked)
        self.waiting: dict[int, tuple[float, Callable[[Any], None], Callable[[], None],
                                      str]] = {}
        # user key -> (its session here, the serial of its login, whether the bus brought
        # that login's message back yet: then any later login elsewhere replaces it)
        self.logins: dict[str, tuple[Session, int, bool]] = {}
        # (user key, request id) -> (when to give up, its session, what to call once
        # replied, the node that runs it)
        self.expected: dict[tuple[str, int], tuple[float, Session, Callable[[], None],
                                                   str]] = {}

    # ------------------------------------------------------------ asking

    def ask(self, message: dict[str, Any], answered: Callable[[Any], None],
            gave_up: Callable[[], None]) -> int:
        ticket = next(self._tickets)
        message["ticket"] = ticket
        self.waiting[ticket] = (self.link.clock() + PATIENCE, answered, gave_up,
                                str(message.get("node")))
        self.link.publish(message)
        schedule = self.link.hub.schedule
        if schedule is not None:  # on time; without a timer (in memory), the next tick
            schedule(PATIENCE, lambda: self.tick(self.link.clock()))
        return ticket

    def answered(self, message: dict[str, Any]) -> None:
        if message.get("node") != self.link.node:
            return
        waiting = self.waiting.pop(message.get("ticket"), None)  # type: ignore[arg-type]
        if waiting is not None:
            waiting[1](message.get("value"))

    def tick(self, clock: float) -> None:
        self.expire(clock)
        for ticket, (deadline, _, gave_up, _node) in list(self.waiting.items()):
            if clock >= deadline - EARLY and self.waiting.pop(ticket, None) is not None:
                log.warning("cluster: no answer from another node within %.1f s; going on",
                            PATIENCE)
                gave_up()

    def node_gone(self, node: str) -> None:
        """The bus knows `node` is gone (its subscription ended): no answer will come from
        it, so whatever waits for one goes on now, not after PATIENCE."""
        for ticket, (_, _, gave_up, asked) in list(self.waiting.items()):
            if asked == node and self.waiting.pop(ticket, None) is not None:
                gave_up()
        for key, (_, session, release, runs) in list(self.expected.items()):
            if runs == node and self.expected.pop(key, None) is not None:
                self.link.hub.send(session, Error(code="unavailable", text=UNANSWERED,
                                                  id=key[1]))
                release()

    def answer(self, message: dict[str, Any], value: Any) -> None:
        self.link.publish({"k": "answer", "node": message["from"], "ticket": message["ticket"],
                           "value": value})

    # ------------------------------------------------------------ a login elsewhere

    def replace(self, proxy: Session, then: Callable[[dict[str, Any] | None], None]) -> bool:
        """Ask `proxy`'s node to end the real session; `then(its place or None)` after."""
        link = self.link
        if not link.is_proxy(proxy) or not link.link_up:
            return False  # here, or no bus: the hub replaces it from here
        node, key = proxy.sink.node, proxy.sink.key

        def released(place: Any) -> None:
            if link.proxies.get(key) is proxy:  # silently: its own node told the rooms
                link.drop_proxy(key)
            then(place if isinstance(place, dict) else None)

        def unanswered() -> None:
            # Its node is gone or cut off: the mirror here lets the old session go at once
            # (a ghost must not keep its nicks from the login that goes on now), and its
            # node is told to end it, if it is there at all.
            if link.proxies.get(key) is proxy:
                link.drop_proxy(key)
            proxy.closed = True
            link.publish({"k": "kick", "node": node, "user": key, "reason": REPLACED,
                          "code": "replaced", "told": "reconnected", "restart": False})
            then(None)

        self.ask({"k": "replace", "node": node, "user": key}, released, unanswered)
        return True

    def replace_asked(self, message: dict[str, Any]) -> None:
        """Another node logs in a user who is here: end the session (telling its rooms),
        then answer with where it was; it ended already: say so (None)."""
        hub, key = self.link.hub, message["user"]
        session = hub.online.get(key)
        if session is None or self.link.is_proxy(session) or session.closed:
            self.answer(message, None)
            return
        rooms = session.joined()
        place = session.place()

        def gone() -> None:
            for room in rooms:  # a big room's batch of comings and goings goes out first
                hub.presence.flush_room(room)
            hub.last_place.pop(key, None)  # it goes on there, not here
            self.answer(message, place if place["rooms"] else None)

        hub.kick(session, REPLACED, "replaced", "reconnected", then=gone)

    def logged_in(self, session: Session) -> None:
        """Tell every node of this login; which of two logins of one account came first is
        the bus's order of these messages, which every node reads alike."""
        if session.user is None or session.guest:  # a guest is nobody's account
            return
        key = session.user.casefold()
        serial = next(self._tickets)
        self.logins[key] = (session, serial, False)
        self.link.publish({"k": "login", "user": key, "serial": serial})

    def logged_out(self, session: Session) -> None:
        key = (session.user or "").casefold()
        mine = self.logins.get(key)
        if mine is not None and mine[0] is session:
            del self.logins[key]

    def own_login_heard(self, message: dict[str, Any]) -> None:
        key = str(message.get("user"))
        mine = self.logins.get(key)
        if mine is not None and mine[1] == message.get("serial"):
            self.logins[key] = (mine[0], mine[1], True)

    def login_elsewhere(self, message: dict[str, Any]) -> None:
        """Another node logged in an account that has a session here too (neither node had
        heard of the other's in time to ask): the earlier in the bus's order gives way."""
        key = str(message.get("user"))
        mine = self.logins.get(key)
        if mine is None:
            return
        session, _, heard = mine
        if session.closed or self.link.hub.online.get(key) is not session:
            del self.logins[key]
        elif heard:  # ours came first: theirs replaces it, as a login here would
            del self.logins[key]
            self.link.hub.kick(session, REPLACED, "replaced", "reconnected")

    # ------------------------------------------------------------ a PM to a user elsewhere

    def deliver_pm(self, receiver: Session, event: PrivateMessage,
                   answered: Callable[[bool], None]) -> bool:
        """A stored PM for a user on another node: `answered(True)` once it reached them
        there, `answered(False)` if they were gone (or their node did not answer)."""
        link = self.link
        if not link.is_proxy(receiver):
            return False
        if not link.link_up:
            answered(False)  # it cannot get there now: kept for their next login
            return True
        self.ask({"k": "pm", "node": receiver.sink.node, "user": receiver.sink.key,
                  "ev": event.to_wire()},
                 lambda delivered: answered(delivered is True), lambda: answered(False))
        return True

    def pm_asked(self, message: dict[str, Any]) -> None:
        hub = self.link.hub
        session = hub.online.get(message["user"])
        if session is None or self.link.is_proxy(session) or session.closed:
            self.answer(message, False)
            return
        event = event_from_dict(message["ev"])
        if not hub.ignoring.hides(session, getattr(event, "sender", None)):
            hub.send(session, event)  # ignored: kept, not shown (as on one node)
        self.answer(message, True)

    # ------------------------------------------------------------ a command run elsewhere

    def forward(self, session: Session, message: dict[str, Any], msg_id: int | None,
                release: Callable[[], None]) -> None:
        """A line or command run on the node that hosts the room's games. Its reply comes
        back through the proxy there; until it does (or PATIENCE runs out: then the user
        hears why), `release` is not called, so the session's later requests wait."""
        assert session.user is not None
        if msg_id is not None:
            self.expected[(session.user.casefold(), msg_id)] = (
                self.link.clock() + COMMAND_PATIENCE, session, release, str(message["node"]))
            schedule = self.link.hub.schedule
            if schedule is not None:
                schedule(COMMAND_PATIENCE, lambda: self.tick(self.link.clock()))
        else:
            release()
        self.link.publish(message)

    def replied(self, key: str, event: Any) -> None:
        """`event` reached `key` here: if it answers a forwarded request, that one is done."""
        if type(event) in FINAL or (type(event) is HistoryPage and event.last):
            waiting = self.expected.pop((key, event.id), None)
            if waiting is not None:
                waiting[2]()

    def expire(self, clock: float) -> None:
        for ticket, (deadline, session, release, _node) in list(self.expected.items()):
            if clock >= deadline - EARLY and self.expected.pop(ticket, None) is not None:
                self.link.hub.send(session, Error(code="unavailable", text=UNANSWERED,
                                                  id=ticket[1]))
                release()
