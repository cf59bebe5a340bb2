"""Look-alike names: Unicode TR39 confusable skeletons (ICU's SpoofChecker), after NFKC folding."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import icu  # PyICU: ICU's UTS #39 implementation and confusables data, kept current by ICU

_checker = icu.SpoofChecker()
_ANY_CASE = 0  # getSkeleton's type argument (USPOOF_ANY_CASE; the type is otherwise unused)
# TR39's General Security Profile: the characters identifiers are made of. What lies outside
# it (a Braille blank, a musical null notehead, a Khitan filler) can draw nothing at all, so
# a name is also compared without it. ASCII and emoji are kept: `bob!` and `bob🎲` are seen.
_ALLOWED = icu.UnicodeSet("[[:Identifier_Status=Allowed:][:ASCII:][:Extended_Pictographic:]]")
_ALLOWED.freeze()  # read-only: safe to share between threads


def _skeleton(text: str) -> str:
    return str(_checker.getSkeleton(_ANY_CASE, text))


def _skeletons(folded: str) -> set[str]:
    # Names are one account whatever their case, so the skeletons are compared case-folded
    # too: TR39 maps 0 to O, and b0b's skeleton "bOb" must meet bob's.
    found = {_skeleton(folded), _skeleton(unicodedata.normalize("NFKC", folded.casefold()))}
    return found | {key.casefold() for key in found}


def keys(name: str) -> frozenset[str]:
    """What a name looks like: names that share a key are confusable.

    Fullwidth and other compatibility forms fold by NFKC first (TR39 leaves some of
    them alone); the skeleton of the name as written catches I/l, and the skeleton of
    its case fold catches a capital look-alike of a lower-case letter. A name with
    characters outside TR39's identifier profile is also keyed without them: `dave`
    followed by a Braille blank (which draws nothing) looks like dave.
    """
    folded = unicodedata.normalize("NFKC", name)
    found = _skeletons(folded)
    if not folded.isascii():
        kept = "".join(c for c in folded if _ALLOWED.contains(c))
        if kept and kept != folded:
            found |= _skeletons(kept)
    return frozenset(found)


class LookalikeIndex:
    """Names by their skeletons, so a new name is checked against thousands at once."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._owners: dict[str, str] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        for key in keys(name):
            self._owners.setdefault(key, name)

    def resembles(self, name: str, allow: str | None = None) -> str | None:
        """The name already here that `name` looks like (not itself, nor `allow`), or None."""
        mine = {name.casefold(), (allow or name).casefold()}
        for key in keys(name):
            owner = self._owners.get(key)
            if owner is not None and owner.casefold() not in mine:
                return owner
        return None


def resembles(name: str, others: Iterable[str], allow: str | None = None) -> str | None:
    """Which of `others` `name` looks like (skipping itself and `allow`), or None."""
    mine_keys = keys(name)
    mine = {name.casefold(), (allow or name).casefold()}
    for other in others:
        if other.casefold() not in mine and mine_keys & keys(other):
            return other
    return None
