"""What the PostgreSQL store's parts share: the driver, its errors in words, the checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from gameserver.storeapi import StorageError, UnstorableValue, storable

try:
    import psycopg
except ImportError:  # the cluster extra is not installed
    psycopg = None  # type: ignore[assignment]

T = TypeVar("T")


def _check(*values: str) -> None:
    for value in values:
        # PostgreSQL's text cannot hold NUL either; both are refused before any commit.
        if not storable(value) or "\x00" in value:
            raise UnstorableValue(f"{value!r} is not valid Unicode text")


def describe(exc: BaseException) -> str:
    """One line of what PostgreSQL (or the network to it) said."""
    text = (str(exc) or type(exc).__name__).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """A failing database (or a lost connection) becomes one StorageError sentence."""

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            if not self._forget_broken():
                raise StorageError(describe(exc)) from exc
        # The connection had died (the database restarted since it was last used): the
        # request never ran; once more on a new one, so nobody is refused for a stale one.
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            self._forget_broken()
            raise StorageError(describe(exc)) from exc

    return guarded
