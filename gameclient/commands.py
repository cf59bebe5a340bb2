"""What a typed line means: chat, or a slash command (shared by both clients)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

QUIT_WORDS = frozenset({"quit", "q", "exit", "logout"})
LOCAL_COMMANDS = ("/switch", "/rooms")  # answered by the client itself
# Commands the client knows of for Tab completion; the server's /help is the authority.
KNOWN_COMMANDS = (
    "/help", "/list", "/join", "/part", "/nick", "/who", "/users", "/msg", "/all", "/history",
    "/quit",
    "/games", "/game", "/accept", "/decline", "/board", "/move", "/resign", "/rematch", "/stats",
    "/key", "/whois", "/trust",
)


@dataclass(frozen=True)
class Typed:
    """A typed line: `name` is None for chat, else the command name (lower case)."""

    text: str
    name: str | None = None
    args: str = ""

    @property
    def is_quit(self) -> bool:
        return self.name in QUIT_WORDS



def parse_typed(text: str) -> Typed | None:
    """None for a blank line; `//text` says `/text` to the room."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return None
    if text.startswith("//"):
        return Typed(text[1:])
    if text.startswith("/"):
        name, _, args = text[1:].partition(" ")
        if not name:
            return Typed(text)
        return Typed(text, name.lower(), args.strip())
    return Typed(text)


def find_game(name: str, games: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The game of the server's list called `name` or one of its aliases."""
    wanted = name.casefold()
    for game in games:
        if wanted == str(game.get("name", "")).casefold() or wanted in (
                str(a).casefold() for a in game.get("aliases", ())):
            return game
    return None


def secret_option(typed: Typed, games: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The option of `/game NAME --OPTION` that must be asked for without echo, if any.

    The server's game list says which options are secret: no game is named here.
    """
    if typed.name != "game":
        return None
    words = typed.args.split()
    names = [w for w in words if not w.startswith("--")]
    flags = {w[2:].partition("=")[0].lower() for w in words if w.startswith("--")}
    game = find_game(names[0], games) if names and flags else None
    for option in (game or {}).get("options", ()):
        if option.get("kind") == "secret" and option.get("name") in flags:
            return option
    return None


def known_commands(games: Iterable[Mapping[str, Any]]) -> list[str]:
    """Commands for Tab completion: the platform's and those the games declare."""
    extra = [f"/{c.get('name')}" for g in games for c in g.get("commands", ())]
    known = [*KNOWN_COMMANDS, *LOCAL_COMMANDS]
    return [*known, *dict.fromkeys(e for e in extra if e not in known)]
