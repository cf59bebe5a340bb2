"""A session's messages to the core through its account's flood gate (IRC, classic, SSH)."""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gameserver.core import turns
from gameserver.protocol import Error
from gameserver.throttle import FloodGate, Verdict, address_key

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.core.rooms import Session

log = logging.getLogger("play.server")

_clock = time.perf_counter  # the play and SSH doors' clock: one gate is shared by all doors


class GatedInput:
    """What the session sends goes now, later (in order), is refused, or ends it.

    Before login nothing is gated (the door's deadlines and frame limits hold then),
    unless the door gives a gate of the connection's own (`before_login`: SSH, whose
    lines before login are typed on its screen); from then on the account's gate counts,
    the one its sessions on every door share. A guest's gate is its address's: its next
    connection has another name. A refusal is answered in its turn (core/turns.py).
    """

    __slots__ = ("hub", "session", "label", "wake", "gate", "gate_of", "held", "_release")

    def __init__(self, hub: Hub, session: Session, label: str, wake: Callable[[], None], *,
                 before_login: FloodGate | None = None) -> None:
        self.hub = hub
        self.session = session
        self.label = label
        self.wake = wake
        self.gate: FloodGate | None = before_login
        self.gate_of: str | None = None  # whose account's gate `gate` is (None: not one yet)
        self.held: collections.deque[tuple[float, Any]] = collections.deque()
        self._release: asyncio.TimerHandle | None = None

    def submit(self, message: Any) -> None:
        session, hub = self.session, self.hub
        if session.closed:
            return
        now = _clock()
        if session.user is not None and self.gate_of != session.user:
            key = f"guest@{address_key(session.peer)}" if session.guest else session.user
            self.gate, self.gate_of = hub.flood_gates.take(key, now), session.user
        gate = self.gate
        if gate is None:  # not logged in, and no gate before login
            hub.receive(session, message)
            return
        verdict, when = gate.admit(now)
        if verdict is Verdict.PASS:
            hub.receive(session, message)
        elif verdict is Verdict.DELAY:
            self.held.append((when, message))
            if self._release is None:
                self._release = asyncio.get_running_loop().call_later(
                    max(0.0, when - now), self._release_held)
        elif verdict is Verdict.REFUSE:
            msg_id = getattr(message, "id", None)
            refusal = Error(code="slow_down", id=msg_id if type(msg_id) is int else None,
                            text=f"slow down: you are sending more than {gate.describe()};"
                                 " that line was not sent")
            turns.in_turn(hub, session, lambda: hub.send(session, refusal))
        else:
            log.info("%s: flooding, disconnected", self.label)
            hub.kick(session, "disconnected for flooding: you kept sending far more than "
                              f"{gate.describe()}", "flood", "flooding")

    def _release_held(self) -> None:
        self._release = None
        session, gate = self.session, self.gate
        now = _clock()
        while self.held and self.held[0][0] <= now:
            _, message = self.held.popleft()
            if gate is not None:
                gate.released()
            if session.closed:
                self.held.clear()
                return
            self.hub.receive(session, message)
        if self.held:
            self._release = asyncio.get_running_loop().call_later(
                self.held[0][0] - now, self._release_held)
        self.wake()

    def close(self) -> None:
        if self._release is not None:
            self._release.cancel()
            self._release = None
        self.held.clear()
