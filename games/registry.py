"""Find installed games through the "play.games" entry-point group."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points

from games.base import Game, GameCommand, GameOption

GROUP = "play.games"

log = logging.getLogger(__name__)


def _problem(game: object) -> str | None:
    """Why a loaded object cannot be used as a game, or None if it can."""
    if not (isinstance(game, type) and issubclass(game, Game)):
        return f"{game!r} is not a Game subclass"
    if inspect.isabstract(game):
        return f"{game.__name__} leaves abstract methods unimplemented"
    for attr, kind in (("name", str), ("description", str), ("how_to_play", str)):
        value = getattr(game, attr, None)
        if not isinstance(value, kind) or not value:
            return f"{game.__name__}.{attr} must be a non-empty str, got {value!r}"
    seats = getattr(game, "seats", None)
    if not isinstance(seats, int) or isinstance(seats, bool) or seats < 1:
        return f"{game.__name__}.seats must be an int >= 1, got {seats!r}"
    if not isinstance(game.aliases, tuple) or not all(isinstance(a, str) for a in game.aliases):
        return f"{game.__name__}.aliases must be a tuple of str, got {game.aliases!r}"
    options, commands = getattr(game, "options", ()), getattr(game, "commands", ())
    if not isinstance(options, tuple) or not all(isinstance(o, GameOption) for o in options):
        return f"{game.__name__}.options must be a tuple of GameOption, got {options!r}"
    if len({o.name for o in options}) != len(options):
        return f"{game.__name__}.options has a name twice"
    if sum(o.kind == "secret" for o in options) > 1:
        return f"{game.__name__}.options has more than one secret (a command carries one)"
    if not isinstance(commands, tuple) or not all(isinstance(c, GameCommand) for c in commands):
        return f"{game.__name__}.commands must be a tuple of GameCommand, got {commands!r}"
    for command in commands:
        if not callable(getattr(game, command.parse, None)):
            return f"{game.__name__}.commands: /{command.name} parses with {command.parse!r}," \
                   " which is not a method of the game"
    return None


def _load(entry: EntryPoint) -> type[Game] | None:
    try:
        game = entry.load()
    except Exception as exc:  # a broken plugin must never take the server down
        log.warning(
            "skipping game plugin %r (%s): %s: %s", entry.name, entry.value, type(exc).__name__, exc
        )
        return None
    problem = _problem(game)
    if problem is not None:
        log.warning("skipping game plugin %r (%s): %s", entry.name, entry.value, problem)
        return None
    return game


def find_games() -> dict[str, type[Game]]:
    """All installed games, keyed by lowercase Game.name, sorted by name."""
    games: dict[str, type[Game]] = {}
    for entry in entry_points(group=GROUP):
        game = _load(entry)
        if game is None:
            continue
        key = game.name.casefold()
        known = games.get(key)
        if known is not None and known is not game:
            log.warning(
                "skipping game plugin %r (%s): the name %r is already taken by %s.%s",
                entry.name,
                entry.value,
                key,
                known.__module__,
                known.__qualname__,
            )
            continue
        games[key] = game
    return dict(sorted(games.items()))


def resolve(name: str, games: Mapping[str, type[Game]]) -> type[Game] | None:
    """The game called name or one of its aliases (case-insensitive), or None."""
    wanted = name.strip().casefold()
    for game in games.values():
        if wanted == game.name.casefold():
            return game
    for game in games.values():
        if any(wanted == alias.casefold() for alias in game.aliases):
            return game
    return None
