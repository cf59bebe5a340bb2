"""SSH public keys on accounts (/sshkey): parsing OpenSSH key lines, and their SQLite table.

These are the keys an SSH client logs in with (the SSH door); they have nothing to do
with the device keys of end-to-end PMs (/key). A key belongs to at most one account,
so a key offered at login names its account or none. Changes are rare and written at
once, like the community's tables; the PostgreSQL twin is gameserver/stores/pgsshkeys.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import struct
import time
from dataclasses import dataclass

from gameserver.store import StorageError, describe

MAX_KEYS = 10  # SSH keys one account may hold
MAX_COMMENT = 60
# What an SSH door can check a signature of (asyncssh's public-key types, certificates aside).
KEY_TYPES = frozenset({
    "ssh-ed25519", "ssh-ed448", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
})
MAX_BLOB = 16 * 1024  # bytes of one key (an RSA-16384 key is about 2 KB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ssh_keys (
    key TEXT PRIMARY KEY, user TEXT NOT NULL, name TEXT NOT NULL, comment TEXT NOT NULL,
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ssh_keys_user ON ssh_keys (user, added);
"""


class BadKey(ValueError):
    """Not an OpenSSH public key line this server can use; the message says why."""


@dataclass(frozen=True)
class SSHKey:
    """One public key: `key` is 'TYPE BASE64' (the comment apart), as the store keeps it."""

    key: str
    comment: str = ""
    added: float = 0.0

    @property
    def kind(self) -> str:
        return self.key.partition(" ")[0]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


def fingerprint(key: str) -> str:
    """OpenSSH's SHA256 fingerprint of 'TYPE BASE64' (what `ssh-keygen -l` prints)."""
    blob = base64.b64decode(key.partition(" ")[2])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_key(text: str) -> SSHKey:
    """An OpenSSH public key line ('ssh-ed25519 AAAA... me@laptop'), checked; else BadKey.

    The blob's own type must match the line's, and the key must load (cryptography
    checks the numbers for the key types it knows), so garbage never reaches the table.
    """
    words = text.strip().split(None, 2)
    if len(words) < 2:
        raise BadKey("that is not an SSH public key: paste a whole line like "
                     "'ssh-ed25519 AAAAC3... you@laptop' (from ~/.ssh/id_ed25519.pub)")
    kind, data = words[0], words[1]
    if kind not in KEY_TYPES:
        if "PRIVATE KEY" in text:
            raise BadKey("that is a PRIVATE key: never paste it anywhere; paste the line of "
                         "the .pub file instead")
        raise BadKey(f"{kind[:40]!r} is not an SSH public key type this server takes "
                     "(ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256 ...)")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadKey("the key's base64 part is damaged: copy the whole line again") from None
    if not blob or len(blob) > MAX_BLOB or _blob_type(blob) != kind:
        raise BadKey("the key's base64 part is damaged: copy the whole line again")
    if not kind.startswith("sk-") and kind != "ssh-ed448":
        from cryptography.hazmat.primitives.serialization import load_ssh_public_key

        try:
            load_ssh_public_key(f"{kind} {data}".encode())
        except (ValueError, TypeError):
            raise BadKey("the key's numbers are not a valid public key: copy the whole line "
                         "again") from None
    comment = words[2].strip() if len(words) > 2 else ""
    comment = "".join(c for c in comment if c.isprintable())[:MAX_COMMENT]
    return SSHKey(f"{kind} {base64.b64encode(blob).decode()}", comment)


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (size,) = struct.unpack(">I", blob[:4])
    if size > 64 or len(blob) < 4 + size:
        return None
    try:
        return blob[4:4 + size].decode("ascii")
    except UnicodeDecodeError:
        return None


class SSHKeyStore:
    """The ssh_keys table on the server's SQLite connection (each change written at once)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        try:
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc

    def _run(self, sql: str, args: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, args)
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc

    def keys(self, user: str) -> list[SSHKey]:
        """The account's SSH keys, oldest first (what /sshkey list numbers)."""
        rows = self._run("SELECT key, comment, added FROM ssh_keys WHERE user = ?"
                         " ORDER BY added, key", (user.casefold(),)).fetchall()
        return [SSHKey(k, c, a) for k, c, a in rows]

    def owner(self, key: str) -> str | None:
        """The name of the account that holds `key` ('TYPE BASE64'), or None."""
        row = self._run("SELECT name FROM ssh_keys WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def add(self, user: str, key: SSHKey) -> str | None:
        """Put `key` on the account; None if done, else the account that already holds it."""
        try:
            self.db.execute("INSERT INTO ssh_keys VALUES (?, ?, ?, ?, ?)",
                            (key.key, user.casefold(), user, key.comment, time.time()))
        except sqlite3.IntegrityError:
            return self.owner(key.key) or user
        except sqlite3.Error as exc:
            raise StorageError(describe(exc)) from exc
        return None

    def remove(self, user: str, key: str) -> bool:
        return self._run("DELETE FROM ssh_keys WHERE user = ? AND key = ?",
                         (user.casefold(), key)).rowcount > 0

    def forget_account(self, user: str) -> None:
        """Every key of an account (deleted: a new account of that name gets none of them)."""
        self._run("DELETE FROM ssh_keys WHERE user = ?", (user.casefold(),))


def ssh_key_store_for(store: object) -> SSHKeyStore:
    """The SSH keys beside the store's tables: SQLite's connection, or the cluster's database."""
    from gameserver.stores.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        from gameserver.stores.pgsshkeys import PostgresSSHKeyStore

        return PostgresSSHKeyStore(store)
    return SSHKeyStore(store.db)  # type: ignore[attr-defined]
