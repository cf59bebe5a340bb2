"""The end-to-end PM envelope's wire format (part of the protocol): its shape, never its content.

An envelope is one ASCII string, fields joined by ".", binary parts in unpadded
base64url:

    e2e1.<sender device key>.<body>.<kid>:<wrapped key>.<kid>:<wrapped key>...

- sender device key: the 32-byte X25519 public key of the device that wrote it;
- body: a 24-byte nonce and the secretbox (XSalsa20-Poly1305) of the message under
  a fresh content key;
- one recipient block per device key the message is for (the receiver's and the
  sender's): `kid` is that key's id (`key_id`), the wrapped key a crypto_box from
  the sender's device key to that device key holding the content key and a digest
  of the body.

The server checks only this shape and which keys it names; it cannot open it. The
client's gameclient/e2e.py makes and opens envelopes. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

PREFIX = "e2e1"
KEY_BYTES = 32
KID_BYTES = 8
NONCE_BYTES = 24
MAC_BYTES = 16
WRAPPED_BYTES = NONCE_BYTES + KEY_BYTES + 32 + MAC_BYTES  # content key + body digest, boxed
MAX_DEVICE_KEYS = 16  # per account
MAX_RECIPIENTS = 2 * MAX_DEVICE_KEYS  # the receiver's devices and the sender's
MAX_BODY_BYTES = 16 * 1024  # 2000 characters of 4 bytes, their JSON, nonce and MAC fit
MAX_DEVICE_NAME = 40
# What a session that holds no key is shown instead of an encrypted message's text.
SEALED_TEXT = "an encrypted message: read it in the play client"


class EnvelopeError(ValueError):
    """The text is not a well-formed envelope; the message says why, for the sender."""


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Unpadded base64url to bytes; ValueError when it is not that."""
    if not text or not text.isascii() or "=" in text:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not unpadded base64url") from exc


def key_id(public_key: bytes) -> str:
    """A device key's short id, as recipient blocks name it."""
    return b64encode(hashlib.blake2b(public_key, digest_size=KID_BYTES).digest())


def fingerprint(public_key: bytes) -> str:
    """What two people read to each other to compare a key: 32 hex digits in groups of 4."""
    digest = hashlib.sha256(b"play device key\0" + public_key).hexdigest()[:32]
    return " ".join(digest[i:i + 4] for i in range(0, 32, 4))


def parse_public_key(text: str) -> bytes:
    """A device key as published (unpadded base64url of 32 bytes); EnvelopeError if not."""
    try:
        raw = b64decode(text)
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise EnvelopeError("a device key is 32 bytes in unpadded base64url")
    return raw


@dataclass(frozen=True)
class Envelope:
    """An envelope taken apart: who wrote it, the body, one wrapped key per device key id."""

    sender_key: bytes
    body: bytes
    wrapped: dict[str, bytes]

    def encode(self) -> str:
        blocks = [f"{kid}:{b64encode(w)}" for kid, w in self.wrapped.items()]
        return ".".join([PREFIX, b64encode(self.sender_key), b64encode(self.body), *blocks])


def parse_envelope(text: str) -> Envelope:
    """Check an envelope's shape and take it apart; EnvelopeError says what is wrong."""
    if not isinstance(text, str) or not text.startswith(PREFIX + "."):
        raise EnvelopeError("that is not an end-to-end encrypted message (e2e1)")
    parts = text.split(".")
    if len(parts) < 4:
        raise EnvelopeError("the encrypted message names no recipient device")
    if len(parts) - 3 > MAX_RECIPIENTS:
        raise EnvelopeError(f"an encrypted message may name at most {MAX_RECIPIENTS} devices")
    sender = parse_public_key(parts[1])
    try:
        body = b64decode(parts[2])
    except ValueError:
        raise EnvelopeError("the encrypted message's body is not base64url") from None
    if not NONCE_BYTES + MAC_BYTES < len(body) <= MAX_BODY_BYTES:
        raise EnvelopeError("the encrypted message's body has an impossible size")
    wrapped: dict[str, bytes] = {}
    for block in parts[3:]:
        kid, sep, data = block.partition(":")
        try:
            if not sep or len(b64decode(kid)) != KID_BYTES:
                raise ValueError(kid)
            key = b64decode(data)
        except ValueError:
            raise EnvelopeError("a recipient block of the encrypted message is malformed") \
                from None
        if len(key) != WRAPPED_BYTES:
            raise EnvelopeError("a recipient block of the encrypted message has a wrong size")
        if kid in wrapped:
            raise EnvelopeError("the encrypted message names a device twice")
        wrapped[kid] = key
    return Envelope(sender, body, wrapped)


def sealed_size(text: str) -> int:
    """How many bytes an envelope takes (for showing it as an encrypted entry)."""
    return len(text.encode("utf-8"))
