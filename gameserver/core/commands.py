"""Slash commands as a table: CommandError, CommandSpec, and the decorator that fills a set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gameserver import names
from gameserver.core.rooms import Session
from gameserver.names import NameError_
from gameserver.protocol import Command, Notice


class CommandError(Exception):
    """A command cannot be done; `code` is stable, the message is for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CommandSpec:
    """A registered command: what runs, and how /help shows it."""

    name: str
    handler: Callable[[Session, Command], None]
    usage: str
    help: str
    aliases: tuple[str, ...] = ()
    checks: bool = False  # it answers a `check` (says whether it could be done, does nothing)


C = TypeVar("C")
Handler = Callable[[Any, Session, Command], None]


@dataclass(frozen=True)
class _Entry:
    name: str
    function: Handler
    usage: str
    help: str
    aliases: tuple[str, ...]
    checks: bool


class CommandSet(Generic[C]):
    """Module-level handlers `f(context, session, message)`, registered with a decorator.

    `@COMMANDS.command("join", "/join ROOM", "go to a room")` adds one; `install`
    binds every handler to its context (the hub, or the game host) on a hub.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []

    def command(self, name: str, usage: str, help: str, aliases: Iterable[str] = (),
                checks: bool = False) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            if any(e.name == name for e in self._entries):
                raise ValueError(f"the command /{name} is registered twice")
            self._entries.append(_Entry(name, function, usage, help, tuple(aliases), checks))
            return function
        return register

    def __iter__(self) -> Iterator[_Entry]:
        return iter(self._entries)

    def install(self, hub: Any, context: C) -> None:
        for entry in self._entries:
            function = entry.function
            hub.add_command(entry.name, _bind(function, context), entry.usage, entry.help,
                            entry.aliases, checks=entry.checks)


def _bind(function: Handler, context: Any) -> Callable[[Session, Command], None]:
    def handler(session: Session, message: Command) -> None:
        function(context, session, message)
    handler.__name__ = getattr(function, "__name__", "handler")
    return handler


def checked(check: Callable[[str], str], value: str) -> str:
    """`check(value)`, with a bad name turned into a CommandError for the user."""
    try:
        return check(value)
    except NameError_ as exc:
        raise CommandError("bad_name", str(exc)) from None


def clean_message(text: str) -> str:
    text = text.strip() if text.isprintable() else names.clean_text(text)  # same result
    if not text:
        raise CommandError("empty", "the message is empty")
    if len(text) > names.TEXT_MAX:
        raise CommandError("too_long", f"the message is longer than {names.TEXT_MAX} characters")
    return text


def notice(text: str, kind: str = "info", room: str | None = None) -> Notice:
    return Notice(text=text, kind=kind, room=room)
