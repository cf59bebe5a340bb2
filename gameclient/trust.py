"""Trust on first use of contacts' device keys: remembered on this device, new ones flagged.

The first keys seen for a user are trusted (as SSH trusts a host on first
connection); any key that turns up later is remembered as new and untrusted until
`/trust USER`. Untrusted keys warn, they never block: the user decides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTACTS_FORMAT = "play-contacts-1"


@dataclass(frozen=True)
class KeyChange:
    """What learning a user's keys changed: a first contact, new keys, keys gone."""

    user: str
    first_contact: bool
    new: list[str] = field(default_factory=list)  # base64url public keys
    gone: list[str] = field(default_factory=list)


class Contacts:
    """Device keys seen per contact, each trusted or not, saved beside the device key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == CONTACTS_FORMAT:
                    self.users = dict(data.get("users", {}))
            except (OSError, ValueError, AttributeError):
                self.users = {}  # a broken file: start again (warnings will show)

    @classmethod
    def beside(cls, key_path: Path) -> Contacts:
        return cls(key_path.with_suffix(".contacts.json"))

    def save(self) -> None:
        from gameclient.e2e import write_private

        data = {"format": CONTACTS_FORMAT, "users": self.users}
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True).encode(),
                      keys_folder=True)

    def _entry(self, user: str) -> dict[str, Any] | None:
        return self.users.get(user.casefold())

    def learn(self, user: str, keys: dict[str, str]) -> KeyChange | None:
        """Take the full list of `user`'s keys (key -> device name); None when nothing changed."""
        entry = self._entry(user)
        first = entry is None
        if entry is None:
            entry = self.users[user.casefold()] = {"name": user, "keys": {}}
        known: dict[str, Any] = entry["keys"]
        new = [k for k in keys if k not in known]
        gone = [k for k, v in known.items() if k not in keys and not v.get("gone")]
        for key in new:
            known[key] = {"device": keys[key], "first_seen": time.time(), "trusted": first}
        for key in gone:
            known[key]["gone"] = True
        for key in keys:
            known[key].pop("gone", None)
        if not (new or gone):
            return None
        self.save()
        return KeyChange(entry["name"], first and not gone, new, gone)

    def observe(self, user: str, key: str) -> KeyChange | None:
        """A message came from `key` as `user`'s: remember it (trusted only on first contact)."""
        entry = self._entry(user)
        if entry is not None and key in entry["keys"]:
            return None
        first = entry is None
        if entry is None:
            entry = self.users[user.casefold()] = {"name": user, "keys": {}}
        entry["keys"][key] = {"device": "?", "first_seen": time.time(), "trusted": first}
        self.save()
        return KeyChange(entry["name"], first, [key])

    def trusted(self, user: str, key: str) -> bool:
        entry = self._entry(user)
        return bool(entry and entry["keys"].get(key, {}).get("trusted"))

    def untrusted(self, user: str) -> list[str]:
        entry = self._entry(user)
        return [k for k, v in (entry or {}).get("keys", {}).items()
                if not v.get("trusted") and not v.get("gone")]

    def trust(self, user: str) -> int:
        """Trust every key now known for `user`; how many were newly trusted."""
        entry = self._entry(user)
        if entry is None:
            return 0
        count = 0
        for value in entry["keys"].values():
            if not value.get("trusted"):
                value["trusted"] = True
                count += 1
        self.save()
        return count

    def keys(self, user: str) -> dict[str, dict[str, Any]]:
        entry = self._entry(user)
        return dict((entry or {}).get("keys", {}))

    def flagged(self) -> list[str]:
        """Names of contacts with a key not yet trusted (the ones to /trust)."""
        return sorted((e["name"] for u, e in self.users.items() if self.untrusted(u)),
                      key=str.casefold)


def merge_contact_files(target: Path, text: str) -> None:
    """Fold an exported contacts file into this device's: a key trusted in either stays so."""
    incoming = json.loads(text)
    here = Contacts(target)
    for user, entry in incoming.get("users", {}).items():
        mine = here.users.setdefault(user, {"name": entry.get("name", user), "keys": {}})
        for key, value in entry.get("keys", {}).items():
            old = mine["keys"].get(key)
            if old is None:
                mine["keys"][key] = dict(value)
            elif value.get("trusted"):
                old["trusted"] = True
    here.save()
