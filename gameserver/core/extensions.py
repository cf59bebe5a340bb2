"""The hub's typed extension points: subclass Extension, override the hooks you need.

A hook is found by name on the class, and a name that is not a hook fails loudly
when the extension is added (`on_enter_rom` is a TypeError, never silently skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gameserver.core.rooms import Room, Session


class Extension:
    """Hooks the hub calls; each default does nothing (or says no)."""

    def on_hello(self, session: Session) -> None:
        """A client said hello (not logged in yet): what it should know first (the games)."""

    def on_login(self, session: Session) -> None:
        """`session` has logged in and is in its rooms."""

    def on_logout(self, session: Session) -> None:
        """`session` is logging out (closed, lost, kicked or replaced); still in its rooms."""

    def on_enter_room(self, session: Session, room: Room) -> None:
        """`session` entered `room` and has its member list and scrollback."""

    def on_replace(self, old: Session, then: Callable[[dict[str, Any] | None], None]) -> bool:
        """A login replaces `old`; True if the extension ends it (on another node) itself
        and calls `then(where it was, or None)` once it is gone."""
        return False

    def on_kick(self, session: Session, reason: str, code: str, told_room: str | None,
                restart: bool) -> bool:
        """The hub is to say goodbye to `session` and close it; True if the extension does
        it itself (on the node that holds it), so this hub neither tells nor closes."""
        return False

    def on_private_message(self, receiver: Session, event: Any,
                           answered: Callable[[bool], None]) -> bool:
        """A stored PM for `receiver`; True if the extension delivers it (on another node)
        and calls `answered(whether it reached them)` (False: keep it for them)."""
        return False

    def on_say(self, session: Session, msg_id: int, text: str) -> bool:
        """A plain line typed in a room; True if the extension took it (a game move)."""
        return False

    def may_log_in(self, user: str) -> str | None:
        """Why `user` may not log in (a server ban), or None."""
        return None

    def may_enter_room(self, session: Session, room: str) -> str | None:
        """Why `session` may not enter `room` (a ban, invite-only, closed), or None."""
        return None

    def on_tick(self, now: float) -> None:
        """About once a second (turn clocks)."""

    def room_in_use(self, room_name: str) -> bool:
        """True keeps an empty room alive (a game waits in it)."""
        return False


HOOKS = frozenset(name for name in vars(Extension) if not name.startswith("_"))


def check_extension(extension: object) -> None:
    """Raise TypeError unless `extension` is an Extension whose hook-like names are all hooks."""
    if not isinstance(extension, Extension):
        raise TypeError(f"{type(extension).__name__} is not a gameserver Extension subclass")
    for cls in type(extension).__mro__:
        if cls is Extension or cls is object:
            continue
        for name in vars(cls):
            if name.startswith(("on_", "may_")) and name not in HOOKS:
                known = ", ".join(sorted(HOOKS))
                raise TypeError(f"{cls.__name__}.{name} is not a hub hook (hooks: {known})")


def overrides(extension: Extension, hook: str) -> bool:
    """Whether the extension's class replaces the default of `hook`."""
    return getattr(type(extension), hook) is not getattr(Extension, hook)


class SayHooks:
    """Every extension's on_say, in the order they were added; `active`: the ones asked
    about each line, i.e. all but those whose extension said it has nothing to do."""

    def __init__(self) -> None:
        self._all: list[tuple[Extension, Callable[[Session, int, str], bool]]] = []
        self._idle: set[int] = set()  # id() of the extensions idle now
        self.active: list[Callable[[Session, int, str], bool]] = []

    def add(self, extension: Extension) -> None:
        if overrides(extension, "on_say"):
            self._all.append((extension, extension.on_say))
            self._update()

    def needed(self, extension: Extension, needed: bool) -> None:
        """Whether `extension`'s on_say has anything to do now (a game host with no game
        has not): an idle one is not asked about any line until it says so again."""
        if needed:
            self._idle.discard(id(extension))
        else:
            self._idle.add(id(extension))
        self._update()

    def _update(self) -> None:
        self.active = [hook for ext, hook in self._all if id(ext) not in self._idle]
