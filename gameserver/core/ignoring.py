"""Who ignores whom among the sessions of this hub: the delivery decision for /ignore.

The play client hides an ignored person's lines itself, but an IRC client or a classic
one cannot: so the server does not deliver them. An ignored person's room lines,
actions, PMs and broadcasts are not handed to an ignorer's session (on any door: one
rule), nor the room's scrollback lines they said. The lists are kept by the community
store; this only holds those of the sessions logged in here. Pure: no I/O.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gameserver.protocol import Broadcast, PrivateMessage, RoomMessage

if TYPE_CHECKING:
    from gameserver.core.rooms import Session

SPOKEN = (RoomMessage, PrivateMessage, Broadcast)  # what an ignored person's words arrive as


def speaker_of(event: Any) -> str | None:
    """The account whose words `event` carries (a room line, a PM, a broadcast), or None."""
    if isinstance(event, RoomMessage):
        return event.user
    if isinstance(event, (PrivateMessage, Broadcast)):
        return event.sender
    return None


class Ignoring:
    """ignored user key -> the sessions here that ignore them (and the reverse)."""

    def __init__(self) -> None:
        self.by_ignored: dict[str, set[Session]] = {}
        self._of: dict[Session, dict[str, str]] = {}  # session -> ignored key -> name

    def __bool__(self) -> bool:
        return bool(self.by_ignored)

    def set(self, session: Session, ignored: Iterable[str]) -> None:
        """What `session` ignores now (its account's whole list)."""
        self.drop(session)
        keys = {name.casefold(): name for name in ignored}
        if not keys:
            return
        self._of[session] = keys
        for key in keys:
            self.by_ignored.setdefault(key, set()).add(session)

    def names(self, session: Session) -> list[str]:
        """Whom `session` ignores, as their names are written."""
        return sorted(self._of.get(session, {}).values(), key=str.casefold)

    def drop(self, session: Session) -> None:
        """The session is gone: it ignores nobody here any more."""
        for key in self._of.pop(session, ()):
            ignorers = self.by_ignored.get(key)
            if ignorers is not None:
                ignorers.discard(session)
                if not ignorers:
                    del self.by_ignored[key]

    def hides(self, session: Session, speaker: str | None) -> bool:
        """Does `session` ignore `speaker`?"""
        if not self.by_ignored or not speaker:
            return False
        return session in self.by_ignored.get(speaker.casefold(), ())

    def deaf_to(self, speaker: str) -> builtins.set[Session] | None:
        """The sessions that ignore `speaker`, or None (most speakers: nobody ignores them)."""
        if not self.by_ignored:
            return None
        return self.by_ignored.get(speaker.casefold())

    @staticmethod
    def without(sinks: Sequence[Any], deaf: builtins.set[Session]) -> list[Any]:
        """`sinks` less those of the sessions in `deaf` (compared by identity)."""
        gone = [s.sink for s in deaf]
        return [sink for sink in sinks if not any(sink is g for g in gone)]
