"""Client-side events of the end-to-end layer (an opened PM, a key alert) and a PM's marks."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class OpenedPM:
    """Client-side event: a PM as this client read it, opened or not (gameclient/privatemsg.py).

    `text` is the plaintext of an end-to-end encrypted PM this device opened; when it
    could not be opened, `problem` says why in a sentence. `new_key`: it was sealed
    by a device key of the sender that is not trusted yet (/trust SENDER).
    """

    sender: str
    to: str
    ts: float
    queued: bool = False
    text: str = ""
    problem: str = ""
    new_key: bool = False
    sealed_at: float | None = None  # set when it was sealed long before it came: sent again?


@dataclass(frozen=True)
class KeyAlert:
    """Client-side event: a contact's device keys are new or changed, or now trusted again."""

    user: str
    text: str
    unverified: bool  # the contact carries a mark until /trust USER
    loud: bool = True
    where: str | None = None  # the pane it goes to (a PM conversation's); None: the one looked at


E2E_MARK = "e2e"
PLAIN_MARK = "not end-to-end encrypted"


def pm_mark(new_key: bool, sender: str, sealed_at: float | None = None) -> str:
    """The small mark beside an opened PM; loud when the key is new or the message old."""
    mark = f"{E2E_MARK}, NEW KEY: /trust {sender}" if new_key else E2E_MARK
    if sealed_at is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(sealed_at))
        mark += f", SEALED {stamp}: an old message sent again?"
    return mark
