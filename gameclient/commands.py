"""What a typed line means: chat, or a slash command (shared by both clients)."""

from __future__ import annotations

from dataclasses import dataclass

QUIT_WORDS = frozenset({"quit", "q", "exit", "logout"})
# Commands the client knows of for Tab completion; the server's /help is the authority.
KNOWN_COMMANDS = (
    "/help", "/list", "/join", "/nick", "/who", "/users", "/msg", "/all", "/history", "/quit",
    "/games", "/game", "/accept", "/decline", "/board", "/move", "/guess", "/resign",
    "/rematch", "/stats",
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

    @property
    def wants_secret(self) -> bool:
        """`/game hangman --secret`: the client must ask for the word without echo."""
        return self.name == "game" and "--secret" in self.args.split()


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
