"""The games' timers: seats kept for a player who left (the grace), turn and move clocks. No I/O."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from games.base import Termination
from gameserver.core import bots, clocks
from gameserver.core.bots import BOT
from gameserver.core.rooms import Session
from gameserver.durations import say_duration
from gameserver.protocol import Notice

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost
    from gameserver.core.tables import Table

log = logging.getLogger("play.games")


def seats_wait(host: GameHost, session: Session) -> None:
    """Tell the rooms of the user's live games that their seat waits for them.

    Said after the store commit, and only if they are still gone by then, so a
    reconnection that replaces the session at once says nothing.
    """
    user = session.user
    if user is None:
        return
    tables = [t for t in host.user_tables(user) if t.live and user in t.humans()]
    if not tables:
        return

    def tell() -> None:
        again = host.hub.session_of(user)
        if again is not None and not again.closed:
            return
        for table in tables:
            if not table.live or host.tables.get(table.id) is not table:
                continue
            host.away.setdefault(user, set()).add(table.id)
            if table.kind.open_play:
                text = (f"game {table.id} goes on without {user} (disconnected);"
                        " their seat is kept")
            else:
                # The grace period: back in time, the game goes on; else the seat is lost.
                table.away[user] = host.clock() + host.grace
                wait = clocks.seconds_text(host.grace)
                text = (f"game {table.id} waits for {user} (disconnected); their seat is"
                        f" kept for {wait}, then {user} forfeits")
                if table.clock is not None and table.game is not None \
                        and table.game.turn() == user:
                    text += f" (or sooner, if {user}'s move clock runs out)"
                host.to_room(table.room, host.state_of(table))
            host.notify(table.room, text)

    host.hub.after_commit(tell)


def seats_back(host: GameHost, session: Session) -> None:
    """Welcome a player back to games that waited; point at those in other rooms."""
    user = session.user
    here = set(session.room_names())
    if user is None:
        return
    for game_id in sorted(host.away.pop(user, ())):
        table = host.tables.get(game_id)
        if table is not None and table.live:
            table.away.pop(user, None)
            host.notify(table.room, f"{user} is back for game {table.id}")
            host.to_room(table.room, host.state_of(table))
    for table in host.user_tables(user):
        if table.room not in here and table.game is not None:
            host.hub.send(session, Notice(
                kind="game", text=f"your {table.label()} is waiting in #{table.room}:"
                                  f" /join {table.room}"))


def tick(host: GameHost, now: float) -> None:
    for table in list(host.tables.values()):
        try:
            tick_table(host, table, now)
        except Exception as exc:  # one broken game must not stop the others' clocks
            log.error("timer of game %d failed: %r", table.id, exc)


def tick_table(host: GameHost, table: Table, now: float) -> None:
    waited = now - table.since
    if table.over:
        if table.ended_at is not None and now - table.ended_at >= host.close_after:
            host.close(table)
        return
    if table.game is None:
        if waited >= 2 * host.turn_timeout:
            host.cancel(table, f"{table.host}'s invitation to {table.name}"
                               f" (game {table.id}) expired")
        return
    turn = table.game.turn()
    if turn == BOT:
        bots.start_search(host, table)  # no-op while it thinks; retries a move the store refused
    if table.clock is not None or table.away:
        tick_clock(host, table, turn, now)
        if table.clock is not None or not table.live:
            return
    absent = turn if turn is not None else table.game.players[0]
    if absent == BOT:
        return
    if waited >= 2 * host.turn_timeout:
        host.end_by(table, absent, Termination.FORFEIT)
    elif waited >= host.turn_timeout and not table.warned:
        table.warned = True
        host.save(table)
        period = say_duration(host.turn_timeout)
        who = f"{absent} has not moved" if turn is not None else "nobody has moved"
        host.notify(table.room, f"{table.label()}: {who} for {period};"
                                f" {absent} forfeits if there is no move in {period} more")


def tick_clock(host: GameHost, table: Table, turn: str | None, now: float) -> None:
    """Warn at 10 s left, end a game lost on time or by a seat left too long."""
    decision = clocks.decide(per_move=table.clock, since=table.since, warned=table.warned,
                             turn=None if turn == BOT else turn, away=table.away, now=now)
    if isinstance(decision, clocks.Warn):
        table.warned = True
        host.notify(table.room, f"{table.label()}: {decision.player} has"
                                f" {clocks.seconds_text(math.ceil(decision.left))}"
                                " left to move")
    elif isinstance(decision, clocks.OutOfTime):
        host.end_by(table, decision.player, Termination.FORFEIT)
    elif isinstance(decision, clocks.GraceOver):
        player = decision.player
        table.away.pop(player, None)
        host.notify(table.room, f"{table.label()}: {player} did not come back in"
                                f" {clocks.seconds_text(host.grace)} and forfeits")
        host.end_by(table, player, Termination.FORFEIT)
