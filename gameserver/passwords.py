"""Salted scrypt password hashes (stdlib only); slow on purpose, so run them off the event loop."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable

# n=2**14, r=8 uses 16 MiB and ~50 ms: memory-hard, still quick for one login.
DEFAULT_N = 2**14
R, P, DKLEN = 8, 1, 32


def hash_password(password: str, n: int = DEFAULT_N) -> str:
    """Return `scrypt$n$r$p$salt$hash` (base64 parts), safe to store."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=R, p=P, dklen=DKLEN, maxmem=2**26
    )
    b64 = base64.b64encode
    return f"scrypt${n}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
            p=int(p), dklen=len(expected), maxmem=2**26,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def verify_then_hash(verifier: Callable[[str, str], bool], hasher: Callable[[str], str],
                     old: str, stored: str, new: str) -> str | bool:
    """A password change's work: the new password's hash if `old` matches, else False.

    A module-level function (with `functools.partial`), so that the check can be pickled
    into a hash worker process; a closure cannot cross.
    """
    return verifier(old, stored) and hasher(new)
