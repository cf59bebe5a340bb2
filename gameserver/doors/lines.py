"""Fitting text into lines a wire allows: split by UTF-8 bytes at spaces, losing nothing."""

from __future__ import annotations

import unicodedata


def utf8_len(text: str) -> int:
    """Bytes of `text` in UTF-8 (a lone surrogate counts as the one "?" it is sent as)."""
    return len(text.encode("utf-8", "replace"))


def _joins_previous(char: str) -> bool:
    """Characters that belong to the one before them: never break a line before these."""
    code = ord(char)
    return bool(unicodedata.combining(char)) or char == "\u200d" or 0xFE00 <= code <= 0xFE0F \
        or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F


def split_text(text: str, limit: int) -> list[str]:
    """Split `text` into pieces of at most `limit` UTF-8 bytes, at spaces where possible.

    Nothing is lost: a break at a space drops only that one space, and a word longer
    than a piece is cut between characters (never inside a UTF-8 sequence, nor before
    a combining mark). Always at least one piece; `limit` must allow a 4-byte char.
    """
    if limit < 4:
        raise ValueError(f"no room for text in a line ({limit} bytes)")
    if utf8_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    while utf8_len(text) > limit:
        cut = _fit(text, limit)
        space = text.rfind(" ", 0, cut + 1)
        if space > 0:
            pieces.append(text[:space])
            text = text[space + 1:]
        else:
            pieces.append(text[:cut])
            text = text[cut:]
    if text:  # empty only when the last break took a trailing space
        pieces.append(text)
    return pieces


def _fit(text: str, limit: int) -> int:
    """Index of the longest prefix of `text` within `limit` bytes, not splitting a cluster."""
    used = 0
    cut = 0
    for index, char in enumerate(text):
        used += utf8_len(char)
        if used > limit:
            break
        cut = index + 1
    good = cut
    while 0 < good < len(text) and _joins_previous(text[good]):
        good -= 1
    return good if good > 0 else max(1, cut)
