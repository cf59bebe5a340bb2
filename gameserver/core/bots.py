"""Running a game's bot: its search on a copy of the game, off the loop, time-bounded."""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from games.base import Game, GameError
from gameserver.core.pending import Work

if TYPE_CHECKING:
    from gameserver.core.gamehost import GameHost, Table

log = logging.getLogger("play.games")

BOT = "(bot)"  # not a valid username, so no account can ever take the bot's seat


def bot_search(game: Game, rng: random.Random, stop: Callable[[], bool] | None) -> Any:
    """The bot's move in a copy of the game (None if it has none, or failed)."""
    try:
        if "stop" in inspect.signature(game.bot_move).parameters:
            return game.bot_move(rng, stop)
        return game.bot_move(rng)  # a plugin written before stop() was passed
    except Exception as exc:  # a plugin's bug must not take down a worker
        log.error("%s bot failed: %r", game.name, exc)
        return None


def timed_search(game: Game, rng: random.Random, seconds: float) -> Any:
    """bot_search with a stop() that turns true `seconds` from now.

    A plain function of picklable arguments, so the runtime may run it in a worker
    process (the search then shares no interpreter lock with the event loop).
    """
    end = time.monotonic() + seconds
    return bot_search(game, rng, lambda: time.monotonic() >= end)


def start_search(host: GameHost, table: Table) -> None:
    """Start the bot's search if it is the bot's turn; its move comes in _bot_moved.

    The search runs off the event loop, on a copy of the game, bounded by
    bot_seconds: the copy's stop() turns true when the time is up, and the bot
    answers with its best move so far. Without a runtime worker (in-memory use)
    it runs at once with the game's own depth limit.
    """
    game = table.game
    if game is None or game.is_over or game.turn() != BOT or table.thinking:
        return
    copy = table.kind.from_json(game.to_json())
    rng = random.Random(host.rng.getrandbits(64))
    seen = len(table.moves)
    if host.run_work is None:
        _bot_moved(host, table, seen, bot_search(copy, rng, None))
        return
    table.thinking = True

    def done(move: Any) -> None:
        if not table.thinking:  # answered already (the runtime gave up on a late search)
            return
        table.thinking = False
        try:
            if _bot_moved(host, table, seen, move):
                host.after_move(table)
        except Exception as exc:  # never leave the game hanging on a bot bug
            log.error("bot move in game %d failed: %r", table.id, exc)

    run = functools.partial(timed_search, copy, rng, host.bot_seconds)
    host.run_work(Work(run=run, done=done, cancelled=lambda: done(None)))


def _bot_moved(host: GameHost, table: Table, seen: int, move: Any) -> bool:
    """Play the bot's answer if the game is still where the search saw it."""
    game = table.game
    if (game is None or game.is_over or game.turn() != BOT or len(table.moves) != seen
            or host.tables.get(table.id) is not table):
        return False
    if move is None:  # a game that claims a bot but has no move: end, don't hang
        game.forfeit(BOT)
        return True
    try:
        game.push(move, BOT)
    except GameError as exc:
        log.error("the %s bot chose an illegal move %r: %s", table.name, move, exc)
        game.forfeit(BOT)
        return True
    table.moves.append([BOT, move])
    from gameserver.core.gamehost import move_verb  # gamehost imports this module

    host.save(table)  # refused: undone, and searched again at the next tick
    host.notify(table.room, f"game {table.id}: {BOT} {move_verb(table.kind)} {move}")
    if host.run_work is None:
        start_search(host, table)  # a game of several bots goes on at once
    return True
