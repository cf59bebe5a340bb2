"""Which game a plain line typed in a room is a move in (parsing first, then legality). No I/O."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from games.base import GameError
from gameserver.core.commands import CommandError
from gameserver.core.rooms import Session

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost
    from gameserver.core.tables import Table

log = logging.getLogger("play.games")


def play_said(host: GameHost, session: Session, msg_id: int, text: str) -> bool:
    """A plain line that is a move in the sender's games here is played, not chatted.

    Parsing decides whether it is a move at all. If it parses in several games,
    legality decides: it is played in the one game where it is legal; /move ID is
    asked for only when it is legal in more than one. Legal in none: the error
    of the game that most likely meant it (your turn, then your seat) is shown.
    """
    room, user = session.room, session.user
    if not host.tables or room is None or user is None:  # most chat: no game anywhere
        return False
    candidates: list[tuple[Table, Any]] = []
    for table in host.room_tables(room.name):
        game = table.game
        if game is None or game.is_over:
            continue
        if not (table.kind.open_play or user in game.players):
            continue
        try:
            candidates.append((table, game.parse_move(text)))
        except GameError:
            continue
        except Exception as exc:  # a plugin bug must not turn chat into an error
            log.error("%s.parse_move(%r) failed: %r", table.name, text, exc)
    if not candidates:
        return False
    if len(candidates) > 1:
        candidates = pick_legal(host, candidates, user, text)
    table, move = candidates[0]
    host.move(session, table, move, msg_id)
    return True


def pick_legal(host: GameHost, candidates: list[tuple[Table, Any]], user: str,
                text: str) -> list[tuple[Table, Any]]:
    """The one candidate where the move is legal, or a CommandError saying why not."""
    legal: list[tuple[Table, Any]] = []
    refused: list[tuple[Table, GameError]] = []
    for table, move in candidates:
        game = table.game
        assert game is not None
        try:
            game.check_move(move, user)
        except GameError as exc:
            refused.append((table, exc))
            continue
        except Exception as exc:  # a plugin bug: that game cannot take the move
            log.error("%s.check_move(%r) failed: %r", table.name, move, exc)
            continue
        legal.append((table, move))
    if len(legal) == 1:
        return legal
    if legal:
        ids = ", ".join(str(t.id) for t, _ in legal)
        raise CommandError("which_game", f"{text!r} could be a move in games {ids};"
                                         f" say which: /move ID {text}")
    if not refused:  # every check crashed; let the first game report it
        return candidates[:1]

    def likely(item: tuple[Table, GameError]) -> tuple[bool, bool]:
        game = item[0].game
        assert game is not None
        return (game.turn() != user, user not in game.players)

    table, why = min(refused, key=likely)  # min is stable: ties keep room order
    raise CommandError("illegal_move", f"game {table.id}: {why}")
