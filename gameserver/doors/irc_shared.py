"""Room events as IRC lines, encoded once for every IRC member of the room (sans-IO)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gameserver.core.events import TopicChanged
from gameserver.doors.irc_text import board_notices
from gameserver.doors.irc_wire import Message, fit_lines, room_for_trailing
from gameserver.doors.lines import split_text
from gameserver.protocol import GameState, Joined, Left, Notice, Presence, Renamed, RoomMessage

ACTION_PREFIX = "/me "  # how the core marks an action (core/socialcommands.py)
CTCP_ACTION = "\x01ACTION "
PLAIN_PART = "left"  # the core's reason for a /part of one's own (hub.part_room)


@dataclass(frozen=True)
class Out:
    """Bytes for the client; `paced` ones (boards, scrollback) go out no faster than the pacer."""

    data: bytes
    paced: bool = False


def mask(user: str, host: str) -> str:
    """The IRC source of a play user: the account name is the nick, on every door."""
    return f"{user}!{user}@{host}"


def channel(room: str) -> str:
    return f"#{room}"


def room_of(target: str) -> str:
    return target[1:] if target.startswith("#") else target


def part_params(room: str, reason: str | None) -> tuple[str, ...]:
    """PART's parameters: a reason only when there is one to tell (a plain /part has none)."""
    return (channel(room), reason) if reason and reason != PLAIN_PART else (channel(room),)


def lines_of(messages: list[Message]) -> bytes:
    return b"".join(m.to_bytes() for m in messages)


def clock(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def shared_lines(event: Any, host: str, server: str, colour: bool = True
                 ) -> tuple[bytes, str | None, bool] | None:
    """A room event as the same IRC lines for every IRC member of the room (encoded once).

    Returns (lines, the account not to send them to (its own message), paced), or None
    when the event is not a room-wide one.
    """
    kind = type(event)
    if kind is RoomMessage:
        base = Message(verb="PRIVMSG", params=(channel(event.room),),
                       source=mask(event.user, host))
        if event.text.startswith(ACTION_PREFIX):  # /me waves: a CTCP ACTION on IRC
            return action_lines(base, event.text[len(ACTION_PREFIX):]), event.user, False
        return lines_of(fit_lines(base, event.text)), event.user, False
    if kind is Joined:
        return Message(verb="JOIN", params=(channel(event.room),),
                       source=mask(event.user, host)).to_bytes(), event.user, False
    if kind is Left:
        return Message(verb="PART", params=part_params(event.room, event.reason),
                       source=mask(event.user, host)).to_bytes(), event.user, False
    if kind is Presence:
        return b"".join(presence_lines(event, host, server)), None, False
    if kind is Renamed:
        text = f"{event.user} is now known as {event.new} in {channel(event.room)}"
        if event.new == event.user:
            text = f"{event.user} goes by their own name again in {channel(event.room)}"
        return lines_of(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                        source=server), text)), None, False
    if kind is GameState:
        return board_lines(event, server, colour), None, True
    if kind is TopicChanged:  # `:nick!user@host TOPIC #room :text`, the setter's echo too
        return Message(verb="TOPIC", params=(channel(event.room), event.topic),
                       source=mask(event.by, host)).to_bytes(), None, False
    if kind is Notice and event.room:
        return lines_of(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                        source=server), event.text)), None, event.kind == "game"
    return None


def presence_lines(event: Presence, host: str, server: str) -> list[bytes]:
    """A big room's batch of comings and goings as the JOIN/PART/NOTICE lines they mean."""
    out: list[bytes] = []
    for change in event.changes:
        op, user = change.get("op"), str(change.get("user", ""))
        if op == "joined":
            out.append(Message(verb="JOIN", params=(channel(event.room),),
                               source=mask(user, host)).to_bytes())
        elif op == "left":
            out.append(Message(verb="PART", params=part_params(event.room, change.get("reason")),
                               source=mask(user, host)).to_bytes())
        elif op == "renamed":
            text = f"{user} is now known as {change.get('new')} in {channel(event.room)}"
            out.append(lines_of(fit_lines(Message(verb="NOTICE", params=(channel(event.room),),
                                                source=server), text)))
    return out


def action_lines(base: Message, action: str) -> bytes:
    """`\x01ACTION waves\x01` lines, each piece of a long action wrapped whole."""
    room = room_for_trailing(Message(verb=base.verb, params=(*base.params, ""),
                                     source=base.source)) - len(CTCP_ACTION) - 1
    return b"".join(Message(verb=base.verb, params=(*base.params, f"{CTCP_ACTION}{piece}\x01"),
                            source=base.source).to_bytes() for piece in split_text(action, room))


def board_lines(game: GameState, server: str, colour: bool) -> bytes:
    header = f"#{game.game_id} {game.game}: {' vs '.join(game.players) or 'waiting for players'}"
    texts = [header, *board_notices(game.board, colour), game.status]
    target = channel(game.room)
    return b"".join(lines_of(fit_lines(Message(verb="NOTICE", params=(target,), source=server),
                                     text)) for text in texts)
