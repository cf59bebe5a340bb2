"""What a typed line means: chat, or a slash command (shared by both clients)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gameserver.protocol import (
    MAX_FRAME,
    MAX_INT,
    Command,
    LocalProtocolError,
    Message,
    Say,
    encode,
)

QUIT_WORDS = frozenset({"quit", "q", "exit", "logout"})
CLIENT_COMMANDS = ("/switch", "/rooms")  # answered by the client itself (for Tab)
# Commands the client knows of for Tab completion; the server's /help is the authority.
KNOWN_COMMANDS = (
    "/help", "/list", "/join", "/part", "/nick", "/who", "/users", "/msg", "/all", "/history",
    "/quit",
    "/games", "/game", "/accept", "/decline", "/board", "/move", "/resign", "/rematch", "/stats",
    "/key", "/whois", "/trust",
    "/me", "/away", "/ignore", "/unignore", "/query", "/r", "/op", "/deop", "/kick",
    "/ban", "/unban", "/mute", "/unmute", "/topic", "/mode", "/invite", "/slow", "/modlog",
    "/admin", "/password", "/deleteaccount", "/set", "/accounts",
)
LOCAL_COMMANDS = frozenset({"set"})  # done by the client itself, never sent
QUIT_GRACE = 3.0  # seconds to wait for the server's goodbye after /quit or end of input


SETTINGS_HELP = "settings: bell on|off (ring on a mention or a PM)"


def set_command(model: Any, args: str) -> str:
    """`/set NAME VALUE`, done in the client; the sentence to show."""
    words = args.lower().split()
    if not words:
        return f"bell {'on' if model.bell else 'off'}; {SETTINGS_HELP}"
    if words[0] == "bell" and len(words) == 2 and words[1] in ("on", "off"):
        model.bell = words[1] == "on"
        return f"the bell is {words[1]}"
    return f"usage: /set bell on|off; {SETTINGS_HELP}"


PASSWORD_QUESTIONS = ("old password", "new password", "new password again")


def password_problem(old: str, new: str, again: str) -> str | None:
    """Why the answers to PASSWORD_QUESTIONS cannot be sent, or None."""
    if not old:
        return "no old password given; nothing changed"
    if not new:
        return "the new password must not be empty; nothing changed"
    if new != again:
        return "the two new passwords differ; nothing changed"
    return None


def questions_for(typed: Typed) -> list[str] | None:
    """What the client asks, shown as typed, when a command comes alone: /msg and /all."""
    if typed.args.strip():
        return None
    if typed.name == "msg":
        return ["to whom (a nick or a username)", "message"]
    if typed.name == "all":
        return ["message to everyone"]
    return None


def answered(typed: Typed, answers: list[str]) -> Typed | None:
    """The command the answers make; None if one was left empty (nothing is sent)."""
    answers = [a.strip() for a in answers]
    if not all(answers):
        return None
    args = " ".join(answers)
    return Typed(f"/{typed.name} {args}", typed.name, args)


@dataclass(frozen=True)
class Typed:
    """A typed line: `name` is None for chat, else the command name (lower case)."""

    text: str
    name: str | None = None
    args: str = ""

    @property
    def is_quit(self) -> bool:
        return self.name in QUIT_WORDS



class Unsendable(ValueError):
    """A typed line that cannot be sent (too long for a frame, or not valid text); a sentence."""


def typed_message(typed: Typed, msg_id: int, secret: str | None = None,
                  room: str | None = None) -> Message:
    """The message a typed line becomes: chat, or `/name args` as a command, for `room`."""
    if typed.name is None:
        return Say(id=msg_id, text=typed.text, room=room)
    return Command(id=msg_id, name=typed.name, args=typed.args, secret=secret, room=room)


def check_sendable(typed: Typed, secret: str | None = None) -> None:
    """Raise Unsendable (nothing is sent) if the line cannot travel as one frame."""
    try:
        encode(typed_message(typed, MAX_INT, secret))
    except LocalProtocolError:
        raise Unsendable(
            f"that line is too long to send ({len(typed.text):,} characters; a line may take"
            f" about {MAX_FRAME // 1000:,} KB); nothing was sent") from None
    except UnicodeEncodeError:
        raise Unsendable("that line holds bytes that are not valid text; nothing was sent"
                         ) from None


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
    known = [*KNOWN_COMMANDS, *CLIENT_COMMANDS]
    return [*known, *dict.fromkeys(e for e in extra if e not in known)]


def completion_words(model: Any, games: Iterable[Mapping[str, Any]]) -> list[str]:
    """Everything Tab completes: commands, nicks, users seen (offline too), rooms, games."""
    names = [str(g.get("name", "")) for g in games] + [
        str(a) for g in games for a in g.get("aliases", ())]
    return [*known_commands(games), *model.completions(), *(n for n in names if n)]
