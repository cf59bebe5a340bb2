"""A line in a room, start to end: checked, asked of the extensions, queued, delivered.

The hub's hot path (a base class of Hub): every line of every room runs `say` once and
its `deliver` once the line is stored; the members' deliveries are the doors' loops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gameserver import names
from gameserver.core import turns
from gameserver.core.commands import CommandError, clean_message
from gameserver.core.events import defaults_of
from gameserver.core.ignoring import Ignoring
from gameserver.core.rooms import Room, Session
from gameserver.core.storewaits import SOON, STORAGE_TEXT, StoreWaits
from gameserver.protocol import Error, Message, RoomMessage, Say
from gameserver.store import NewEntry

if TYPE_CHECKING:
    from gameserver.core.extensions import SayHooks

_new = object.__new__  # the line's event, as events.trusted builds one
_set = object.__setattr__
_LINE_DEFAULTS = defaults_of(RoomMessage)


class RoomLines(StoreWaits):
    """The hub's room lines (Hub has the rest: `_dispatch`, `look_at`, `_failed`)."""

    say_hooks: SayHooks
    ignoring: Ignoring

    def _dispatch(self, session: Session, message: Message) -> None:
        raise NotImplementedError

    def look_at(self, session: Session, name: str) -> Room:
        raise NotImplementedError

    def _failed(self, session: Session, msg_id: int | None, exc: Exception) -> None:
        raise NotImplementedError

    def say(self, session: Session, msg_id: int, text: str, room: str | None = None,
            turn: bool = False) -> None:
        """receive(session, Say(id=msg_id, text=text, room=room)), without building the Say.

        The hot path (a line in a room): a door whose frame is a checked say calls this,
        and it is one frame, start to end (`turn`: its turn has come, see turns.py).
        """
        if session.closed:
            return
        if not turn and (session.holds or session.queued is not None):  # after what it waits for
            turns.wait_turn(session, Say(id=msg_id, text=text, room=room))
            return
        acting, self._acting = self._acting, session
        try:
            user = session.user
            if user is None:
                self._dispatch(session, Say(id=msg_id, text=text, room=room))
                return
            if room is not None:
                self.look_at(session, room)
            # clean_message(text), inlined; what it refuses, it words (cleaning twice changes
            # nothing)
            text = text.strip() if text.isprintable() else names.clean_text(text)
            if not text or len(text) > names.TEXT_MAX:
                text = clean_message(text)
            for hook in self.say_hooks.active:
                if hook(session, msg_id, text):
                    return
            here = session.room
            if here is None:
                raise CommandError("no_room", "you are not in a room; /join one")
            name = here.name
            nick = session._nicks.get(name, session.home_nick)  # .nick, inlined
            entry = self.store.add_message("ROOM", user, name, text, nick=nick)  # record()

            # Every line of every room runs this once when stored (its members' deliveries
            # are the doors' loops): the event is built as events.trusted() would, and the
            # ok is the door's to make from the id (Door.confirm). Its values are the
            # function's defaults, not a closure's cells (one tuple, not ten cells), and it
            # is also what runs if the line is refused: then the entry has no id.
            def deliver(hub: RoomLines = self, session: Session = session, msg_id: int = msg_id,
                        room: Room = here, nick: str = nick, entry: NewEntry = entry) -> None:
                if entry.id is None:  # not stored, so not said: refuse(), inlined
                    hub.send(session, Error(code="storage", text=STORAGE_TEXT, id=msg_id))
                    return
                user = entry.sender
                event = _new(RoomMessage)
                fields = {"room": room.name, "nick": nick, "user": user, "text": entry.text,
                          "ts": entry.ts}
                if _LINE_DEFAULTS:  # none today: the literal is the whole __dict__, not a copy
                    fields = {**_LINE_DEFAULTS, **fields}
                _set(event, "__dict__", fields)
                ignoring = hub.ignoring
                deaf = ignoring.deaf_to(user) if ignoring.by_ignored else None
                for door, sinks in room.members.sinks.items():  # deliver_to_room, inlined
                    door.deliver(event, sinks if deaf is None else Ignoring.without(sinks, deaf))
                if not session.closed:
                    session.door.confirm(session.sink, msg_id)

            # after_commit(deliver), inlined: the session is the one acting
            session.owed += 1
            self._after_commit.append((deliver, None, session))
            if self._commit_requested < SOON and self.request_commit is not None:
                self._commit_requested = SOON
                self.request_commit(False)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply
            self._failed(session, msg_id, exc)
        finally:
            self._acting = acting

    def _say(self, session: Session, msg_id: int, text: str) -> None:
        """A line from within a request (/me): said as `say` says it, errors answered."""
        self.say(session, msg_id, text, turn=True)
