"""Validation of user, nick and room names, and cleaning of message text."""

from __future__ import annotations

import re
import unicodedata

USERNAME_MAX = 20
NICK_MAX = 20
ROOM_MAX = 32
TEXT_MAX = 2000  # characters in one chat message
TOPIC_MAX = 300  # characters in a room's topic

_USERNAME = re.compile(r"[A-Za-z0-9_.-]+")
_ROOM = re.compile(r"#?[\w.-]+")
# CSI/OSC and other escape sequences, then any remaining control character.
_ESCAPES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])?")


class NameError_(ValueError):
    """A name a user chose is not acceptable; the message says why."""


def _common(kind: str, name: str, limit: int) -> str:
    if not isinstance(name, str) or not name.strip():
        raise NameError_(f"{kind} must not be empty")
    name = name.strip()
    if len(name) > limit:
        raise NameError_(f"{kind} {name[:limit]!r}… is longer than {limit} characters")
    if any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name):
        raise NameError_(f"{kind} {name!r} contains control characters")
    if " " in name:
        raise NameError_(f"{kind} {name!r} must not contain spaces")
    return name


def check_username(name: str) -> str:
    """Return the username, or raise NameError_ with the reason."""
    name = _common("a username", name, USERNAME_MAX)
    if not _USERNAME.fullmatch(name) or name.startswith((".", "-")):
        raise NameError_(
            f"username {name!r} may only use letters, digits, '_', '.' and '-' "
            "(and not start with '.' or '-')"
        )
    return name


def check_nick(name: str) -> str:
    """Return the nick, or raise NameError_; nicks may use any printable letters."""
    name = _common("a nick", name, NICK_MAX)
    if name.startswith(("/", "@", "#")):
        raise NameError_(f"nick {name!r} must not start with '/', '@' or '#'")
    return name


def check_room(name: str) -> str:
    """Return the room name (lower case, without a leading '#'), or raise NameError_."""
    name = _common("a room name", name, ROOM_MAX)
    if not _ROOM.fullmatch(name):
        raise NameError_(f"room name {name!r} may only use letters, digits, '_', '.' and '-'")
    return name.lstrip("#").lower()


def key(name: str) -> str:
    """The case-insensitive identity of a name."""
    return name.casefold()


def kept_key(name: str) -> str:
    """key(name) for a table that keeps it while a session lasts: `name` itself when it
    is its own key (most names are lower case), so a session does not hold its name twice."""
    folded = name.casefold()
    return name if folded == name else folded


def clean_text(text: str) -> str:
    """Strip escape sequences and control characters so nothing reaches a terminal raw."""
    text = _ESCAPES.sub("", text)
    return "".join(
        " " if c == "\t" else c
        for c in text
        if c == "\t" or unicodedata.category(c) not in ("Cc", "Cf") or c in "\u200d\ufe0f"
    ).strip()
