"""Tab beyond the names a client has seen: the word it found nothing for is asked of the
server (/accounts PREFIX, bounded there, and /list for rooms made since), and Tab
completes once the names have come."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gameclient.lineedit import LineEditor
from gameserver.protocol import Command

LookUp = Callable[[str], None]  # ask the server for accounts starting with this prefix


def word_before_cursor(editor: LineEditor) -> tuple[str, bool]:
    """The word Tab completes, and whether it is the line's first word."""
    start = editor.cursor
    while start > 0 and not editor.text[start - 1].isspace():
        start -= 1
    return editor.text[start:editor.cursor], not editor.text[:start].strip()


def unmatched(editor: LineEditor, words: Iterable[str]) -> str | None:
    """The prefix to ask the server about, when none of `words` completes the word typed.

    Only what could be a username or a room: not a command, not empty.
    """
    word, first = word_before_cursor(editor)
    prefix = word.lstrip("@#")
    if not prefix or (first and word.startswith("/")):
        return None
    folded = word.casefold()
    if any(w.casefold().startswith(folded) for w in words if not w.startswith("/")):
        return None
    return prefix


class Completer:
    """Tab on one line editor: complete from what is known, else ask, then complete again."""

    def __init__(self, look_up: LookUp | None = None) -> None:
        self.look_up = look_up
        self._waiting: tuple[str, int] | None = None  # the line as it was when we asked

    def tab(self, editor: LineEditor, words: Iterable[str]) -> None:
        words = list(words)
        before = (editor.text, editor.cursor)
        editor.complete(words)
        if (editor.text, editor.cursor) != before or self.look_up is None:
            return
        prefix = unmatched(editor, words)
        if prefix is not None:
            self._waiting = before
            self.look_up(prefix)

    def learned(self, editor: LineEditor, words: Iterable[str]) -> bool:
        """The server's names came: Tab again if the line is still as it was; True if so."""
        waiting, self._waiting = self._waiting, None
        if waiting is None or waiting != (editor.text, editor.cursor):
            return False
        editor.complete(words)
        return True


async def ask_server(conn: Any, model: Any, prefix: str) -> bool:
    """The accounts starting with `prefix` and today's rooms, learned by `model` for Tab;
    False if the server could not be asked (Tab then just completes less)."""
    for name, args in (("accounts", prefix), ("list", "")):
        msg_id = conn.new_id()
        try:
            reply = await conn.request(Command(id=msg_id, name=name, args=args), msg_id)
        except Exception:  # noqa: BLE001 - only a convenience: Tab completes less
            return False
        model.learn(reply.data)
    return True
