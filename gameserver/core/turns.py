"""Each connection's requests are answered in the order it sent them, whatever each waits for.

A request may wait for the store (a look-up in a store thread on a cluster), for the
cluster (a nick claimed in the database, a game command run on the node hosting the
game) or for a password check. While one does, the session *holds*: what it sends
next waits its turn here, and is handled once nothing of the earlier ones is left to
answer. So its replies leave in the order of its requests (a door without ids, like
the classic one or IRC, can tell which is which), and a line typed after a /nick is
said under the new nick. Nobody else waits. On one node with SQLite every look-up
answers at once, so nothing ever waits here.

What waits for a commit: its replies already wait behind it (Hub.send, `owed`), in
order. A command that changes where the session is (/part, /nick, /quit ...) sent while
its lines wait for a commit waits here too (Hub.handle), so the room hears the lines
before the change, and the lines reach the room as it was when they were said.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gameserver.core.rooms import Session
from gameserver.protocol import Pong

if TYPE_CHECKING:
    from gameserver.core.hub import Hub


def wait_turn(session: Session, item: Any) -> None:
    """A message (or a door's own answer, a callable) after what the session still holds."""
    if type(item) is Pong:
        return  # its arrival was its point; nothing to answer
    if session.queued is None:
        session.queued = deque()
    session.queued.append(item)


def wait_first(session: Session, item: Any) -> None:
    """A message that must wait again, before what the session sent after it."""
    if session.queued is None:
        session.queued = deque()
    session.queued.appendleft(item)


def hold(hub: Hub, session: Session) -> Callable[[], None]:
    """The session waits for something before its next request; call what this returns
    once it is answered (at most once counts)."""
    if session.user is None:
        return _nothing  # a login's own steps: nothing of it is sent before it is done
    session.holds += 1
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        session.holds -= 1
        if not session.holds and session.queued is not None:
            take_turns(hub, session)

    return release


def hold_acting(hub: Hub) -> Callable[[], None]:
    """Hold the session whose request (or answer) runs now, if any: see `hold`."""
    session = hub._acting
    return _nothing if session is None else hold(hub, session)


def then_release(callback: Callable[..., None],
                 release: Callable[[], None]) -> Callable[..., None]:
    """`callback`, then `release` (whatever the callback does)."""
    def run(*args: Any) -> None:
        try:
            callback(*args)
        finally:
            release()
    return run


def in_turn(hub: Hub, session: Session, answer: Callable[[], None]) -> None:
    """A door's own answer to a line the core never saw: after the earlier lines' answers."""
    if session.holds or session.queued is not None:
        wait_turn(session, lambda: _answer(hub, session, answer))
    else:
        _answer(hub, session, answer)


def _answer(hub: Hub, session: Session, answer: Callable[[], None]) -> None:
    if session.owed:  # earlier replies wait for a commit: this goes right behind them
        hub.after_commit(lambda: None if session.closed else answer(), lazy=True)
    else:
        answer()


def take_turns(hub: Hub, session: Session) -> None:
    """Handle what waited, in order, until one of them holds again."""
    queued = session.queued
    while queued and not session.holds and not session.closed:
        item = queued.popleft()
        session.holds += 1  # what comes meanwhile goes after the rest; nothing nests
        try:
            if callable(item):
                item()
            else:
                hub.handle(session, item)
        finally:
            session.holds -= 1
    if session.closed or not queued:
        session.queued = None


def _nothing() -> None:
    return None
