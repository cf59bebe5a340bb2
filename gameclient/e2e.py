"""End-to-end PM crypto (PyNaCl/libsodium): device keys, sealing and opening envelopes, key export.

A device holds an X25519 key pair per account and server, kept 0600 in the user's
data directory. A PM is sealed once per message: the text goes into a secretbox
under a fresh content key, and that key (with a digest of the box, so the body
cannot be swapped) is wrapped in a crypto_box from the sender's device key to each
device key of the receiver and of the sender. crypto_box authenticates: a device
that opens a wrapped key knows which device key wrote it. The envelope's layout is
the protocol's (gameserver/protocol_e2e.py); only this module touches a private key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils
from nacl.public import Box, PrivateKey, PublicKey

from gameserver.protocol_e2e import (
    KEY_BYTES,
    Envelope,
    EnvelopeError,
    b64decode,
    b64encode,
    fingerprint,
    key_id,
    parse_envelope,
)

MAX_TEXT = 2000  # characters, as the server's limit for a plain message
KEYRING_FORMAT = "play-device-key-1"
EXPORT_FORMAT = "play-keys-export-1"
KEYS_DIR = "keys"
MIN_PASSPHRASE = 8
# Export files are attacked offline: argon2id at libsodium's "moderate" cost (~0.5 s, 256 MiB).
EXPORT_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
EXPORT_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
MAX_IMPORT_MEMLIMIT = 1 << 30  # a file asking for more is not one of ours


class E2EError(Exception):
    """Something about end-to-end encryption went wrong; the message is a sentence for the user."""


class Unreadable(E2EError):
    """The message was not sealed for any key this device holds."""


class Tampered(E2EError):
    """The message was changed after it was sealed (or sealed wrongly): refused."""


# ---------------------------------------------------------------- files kept 0600


def write_private(path: Path, data: bytes, keys_folder: bool = False) -> None:
    """Write a file only its owner can read, replacing it atomically.

    `keys_folder`: the file is in a folder of the keys tree, which is made 0700 too
    (never a folder of the user's own, such as where an export is written).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if keys_folder:
        for folder in (path.parent, path.parent.parent):
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if hasattr(os, "fchmod"):  # an old file of another mode is now 0600 too
            os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def server_label(host: str, port: int) -> str:
    """The folder name of one server's keys: its address as the client reaches it."""
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in host.strip("[]"))
    return f"{safe}_{port}"


def keys_root(data_dir: Path) -> Path:
    return data_dir / KEYS_DIR


# ---------------------------------------------------------------- a device's keys


class DeviceKeyring:
    """This device's private keys for one account on one server.

    `current` seals new messages; earlier keys (one replaced by `play keys import`)
    are kept so what was sealed to them can still be opened.
    """

    def __init__(self, path: Path, user: str, server: str, device: str,
                 keys: list[PrivateKey]) -> None:
        self.path = path
        self.user = user
        self.server = server
        self.device = device
        self.keys = keys

    @classmethod
    def path_for(cls, data_dir: Path, server: str, user: str) -> Path:
        return keys_root(data_dir) / server / f"{user.casefold()}.key"

    @classmethod
    def load_or_new(cls, data_dir: Path, server: str, user: str) -> tuple[DeviceKeyring, bool]:
        """This device's keyring; a new one (True) is saved only once `save()` is called.

        The client makes it before logging in, so PMs that waited can be opened at
        once, and saves it only when the login worked.
        """
        path = cls.path_for(data_dir, server, user)
        if path.exists():
            return cls.load(path), False
        device = "".join(c for c in platform.node() if c.isalnum() or c in ".-_")[:40]
        return cls(path, user, server, device or "a-device", [PrivateKey.generate()]), True

    @classmethod
    def load(cls, path: Path) -> DeviceKeyring:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != KEYRING_FORMAT:
                raise ValueError("format")
            keys = [PrivateKey(b64decode(k)) for k in data["keys"]]
            if not keys:
                raise ValueError("no keys")
            return cls(path, str(data["user"]), str(data["server"]), str(data["device"]), keys)
        except (OSError, ValueError, KeyError, TypeError, nacl.exceptions.CryptoError) as exc:
            raise E2EError(f"the device key file {path} cannot be read ({exc}); move it away "
                           "to make a new key, or restore it with play keys import") from None

    def to_json(self) -> dict[str, Any]:
        return {"format": KEYRING_FORMAT, "user": self.user, "server": self.server,
                "device": self.device, "keys": [b64encode(bytes(k)) for k in self.keys]}

    def save(self) -> None:
        write_private(self.path, json.dumps(self.to_json(), indent=1).encode(), keys_folder=True)

    @property
    def current(self) -> PrivateKey:
        return self.keys[0]

    @property
    def public(self) -> str:
        """This device's current public key as published (unpadded base64url)."""
        return b64encode(bytes(self.current.public_key))

    @property
    def publics(self) -> list[str]:
        return [b64encode(bytes(k.public_key)) for k in self.keys]

    @property
    def fingerprint(self) -> str:
        return fingerprint(bytes(self.current.public_key))


# ---------------------------------------------------------------- sealing and opening


@dataclass(frozen=True)
class Opened:
    """What an opened envelope says, and which device key wrote it."""

    sender_key: str  # unpadded base64url, as published
    sender: str
    to: str
    text: str
    sent: float


def seal(ring: DeviceKeyring, sender: str, to: str, text: str,
         recipients: Iterable[str], sent: float | None = None) -> str:
    """An envelope of `text` for each device key in `recipients` (base64url public keys)."""
    if len(text) > MAX_TEXT:
        raise E2EError(f"the message is longer than {MAX_TEXT} characters")
    payload = json.dumps({"v": 1, "from": sender, "to": to, "text": text,
                          "sent": time.time() if sent is None else sent},
                         ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    content_key = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
    body = bytes(nacl.secret.SecretBox(content_key).encrypt(payload))
    inner = content_key + hashlib.blake2b(body, digest_size=32).digest()
    wrapped: dict[str, bytes] = {}
    for key_text in dict.fromkeys(recipients):
        raw = b64decode(key_text)
        if len(raw) != KEY_BYTES:
            raise E2EError("a device key from the server is malformed; not sending")
        wrapped[key_id(raw)] = bytes(Box(ring.current, PublicKey(raw)).encrypt(inner))
    return Envelope(bytes(ring.current.public_key), body, wrapped).encode()


def open_envelope(ring: DeviceKeyring, text: str) -> Opened:
    """Open an envelope with this device's keys; Unreadable or Tampered say why not."""
    try:
        envelope = parse_envelope(text)
    except EnvelopeError as exc:
        raise Tampered(f"it is not a well-formed encrypted message ({exc})") from None
    for key in ring.keys:
        block = envelope.wrapped.get(key_id(bytes(key.public_key)))
        if block is not None:
            break
    else:
        raise Unreadable("it was sealed for other devices only (sent before this device's key "
                         "existed, or to keys it does not hold)")
    try:
        inner = Box(key, PublicKey(envelope.sender_key)).decrypt(block)
    except nacl.exceptions.CryptoError:
        raise Tampered("its key block fails the integrity check: it was changed after it "
                       "was sealed, or not sealed by the device key it names") from None
    content_key, digest = inner[:32], inner[32:]
    if hashlib.blake2b(envelope.body, digest_size=32).digest() != digest:
        raise Tampered("its body is not the one that was sealed: it was changed on the way")
    try:
        payload = json.loads(nacl.secret.SecretBox(content_key).decrypt(envelope.body))
        opened = Opened(b64encode(envelope.sender_key), str(payload["from"]),
                        str(payload["to"]), str(payload["text"]), float(payload["sent"]))
    except (nacl.exceptions.CryptoError, ValueError, KeyError, TypeError):
        raise Tampered("its body fails the integrity check: it was changed after it was "
                       "sealed") from None
    return opened


# ---------------------------------------------------------------- export and import


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"),
                                    salt, opslimit=opslimit, memlimit=memlimit)


def export_keys(data_dir: Path, passphrase: str) -> tuple[bytes, int]:
    """Every device key (and trust record) under `data_dir`, sealed with a passphrase.

    Returns the file's bytes and how many accounts' keys it holds.
    """
    if len(passphrase) < MIN_PASSPHRASE:
        raise E2EError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    root = keys_root(data_dir)
    files = {str(p.relative_to(root)): p.read_text(encoding="utf-8")
             for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".key", ".json")}
    count = sum(1 for name in files if name.endswith(".key"))
    if not count:
        raise E2EError(f"there are no device keys in {root} to export")
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    secret = _derive(passphrase, salt, EXPORT_OPSLIMIT, EXPORT_MEMLIMIT)
    sealed = nacl.secret.SecretBox(secret).encrypt(json.dumps({"files": files}).encode())
    blob = {"format": EXPORT_FORMAT, "kdf": "argon2id", "opslimit": EXPORT_OPSLIMIT,
            "memlimit": EXPORT_MEMLIMIT, "salt": b64encode(salt), "sealed": b64encode(sealed)}
    return (json.dumps(blob, indent=1) + "\n").encode(), count


def import_keys(data_dir: Path, blob: bytes, passphrase: str) -> list[str]:
    """Restore exported keys under `data_dir`; returns what was restored, one line each.

    An imported key becomes the device's current key; a different key this device
    already had is kept behind it, so nothing sealed to either is lost.
    """
    try:
        meta = json.loads(blob)
        if meta.get("format") != EXPORT_FORMAT or meta.get("kdf") != "argon2id":
            raise ValueError("format")
        ops, mem = int(meta["opslimit"]), int(meta["memlimit"])
        if not (0 < ops <= 16 and 0 < mem <= MAX_IMPORT_MEMLIMIT):
            raise ValueError("limits")
        salt, sealed = b64decode(meta["salt"]), b64decode(meta["sealed"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise E2EError("that file is not a play keys export") from None
    try:
        plain = nacl.secret.SecretBox(_derive(passphrase, salt, ops, mem)).decrypt(sealed)
        files: dict[str, str] = json.loads(plain)["files"]
    except nacl.exceptions.CryptoError:
        raise E2EError("the passphrase is wrong, or the file was changed") from None
    root = keys_root(data_dir)
    done: list[str] = []
    for name, text in sorted(files.items()):
        target = (root / name).resolve()
        if root.resolve() not in target.parents or not name.endswith((".key", ".json")):
            raise E2EError(f"the export names a file outside the keys folder: {name!r}")
        if name.endswith(".key"):
            done.append(_merge_keyring(target, text))
        else:
            _merge_contacts(target, text)
    return done


def _merge_keyring(target: Path, text: str) -> str:
    data = json.loads(text)
    if target.exists():
        mine = DeviceKeyring.load(target)
        ours = {b64encode(bytes(k)) for k in mine.keys}
        data["keys"] = data["keys"] + [k for k in (b64encode(bytes(k)) for k in mine.keys)
                                       if k not in data["keys"]]
        extra = len(ours - set(data["keys"][:1]))
        note = f" (kept {extra} key{'s' if extra != 1 else ''} this device had)" if extra else ""
    else:
        note = ""
    write_private(target, json.dumps(data, indent=1).encode(), keys_folder=True)
    ring = DeviceKeyring.load(target)
    return f"{ring.user} on {ring.server}: key {ring.fingerprint}{note}"


def _merge_contacts(target: Path, text: str) -> None:
    from gameclient.trust import merge_contact_files

    merge_contact_files(target, text)
