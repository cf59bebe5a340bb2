"""End-to-end encrypted PMs on the server: device keys in, sealed envelopes relayed, never opened.

The server keeps each account's public device keys and hands them out; it stores
and delivers envelopes (gameserver/e2ewire.py) exactly as it does plain PMs —
confirmed, queued while the receiver is away, summed up at login — without being
able to read them. It checks that an envelope was written by one of the sender's
published keys and names every device key of both people, so no device is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gameserver import names
from gameserver.e2ewire import (
    MAX_DEVICE_KEYS,
    MAX_DEVICE_NAME,
    SEALED_TEXT,
    EnvelopeError,
    b64encode,
    fingerprint,
    key_id,
    parse_envelope,
    parse_public_key,
)
from gameserver.hub import CommandError, _checked
from gameserver.protocol import Command, Ok, PrivateMessage
from gameserver.rooms import Session
from gameserver.store import SEALED_PM, Entry, NewEntry

if TYPE_CHECKING:
    from gameserver.hub import Hub

MAX_KEY_QUERY = 8  # users in one /keys request
PLAIN_MARK = "not end-to-end encrypted"


def pm_of_entry(entry: Entry | NewEntry, queued: bool = False) -> PrivateMessage:
    """The pm frame of a stored PM, sealed or plain."""
    if entry.type == SEALED_PM:
        return PrivateMessage(sender=entry.sender, to=entry.receiver, text=SEALED_TEXT,
                              ts=entry.ts, queued=queued, e2e=entry.text)
    return PrivateMessage(sender=entry.sender, to=entry.receiver, text=entry.text,
                          ts=entry.ts, queued=queued)


def _account(hub: Hub, name: str) -> str:
    user = _checked(names.check_username, name.lstrip("@"))
    account = hub.store.account_hash(user)
    if account is None:
        raise CommandError("no_such_user", f"there is no user called {user}")
    return account[0]


def _keys_of(hub: Hub, user: str) -> list[dict[str, object]]:
    return [{"key": key, "device": device, "added": added}
            for key, device, added in hub.store.device_keys(user)]


def devicekey(hub: Hub, session: Session, message: Command) -> None:
    """`/devicekey KEY [DEVICE NAME]`: publish this device's public key on my account."""
    key_text, _, device = message.args.strip().partition(" ")
    if not key_text:
        raise CommandError("usage", "usage: /devicekey KEY [DEVICE NAME]")
    try:
        parse_public_key(key_text)
    except EnvelopeError as exc:
        raise CommandError("bad_key", str(exc)) from None
    device = names.clean_text(device)[:MAX_DEVICE_NAME] or "a device"
    user = session.user
    assert user is not None
    known = [k for k, _, _ in hub.store.device_keys(user)]
    new = key_text not in known
    if new and len(known) >= MAX_DEVICE_KEYS:
        raise CommandError("too_many_keys", (
            f"your account already has {MAX_DEVICE_KEYS} device keys; this device cannot "
            "add one (move a key here with play keys export / play keys import)"))
    if new:
        hub.store.add_device_key(user, key_text, device)
    count = len(known) + new
    reply = Ok(id=message.id, text=(
        f"device key {fingerprint(parse_public_key(key_text))} "
        f"{'published' if new else 'already published'}; your account has {count} "
        f"device key{'s' if count != 1 else ''}"), data={"new": new, "count": count})
    hub.after_commit(lambda: hub.send(session, reply))


def keys(hub: Hub, session: Session, message: Command) -> None:
    """`/keys USER...`: the device keys of these users, with fingerprints to compare."""
    wanted = message.args.split()
    if not wanted or len(wanted) > MAX_KEY_QUERY:
        raise CommandError("usage", f"usage: /keys USER (at most {MAX_KEY_QUERY} users)")
    found: dict[str, list[dict[str, object]]] = {}
    lines: list[str] = []
    for name in wanted:
        user = _account(hub, name)
        found[user] = _keys_of(hub, user)
        if not found[user]:
            lines.append(f"{user}: no device key (has not used the play client yet)")
        for item in found[user]:
            raw = parse_public_key(str(item["key"]))
            lines.append(f"{user}: {fingerprint(raw)}  ({item['device']})")
    hub.send(session, Ok(id=message.id, text="device keys, as this server has them:",
                         lines=lines, data={"keys": found}))


def trust(hub: Hub, session: Session, message: Command) -> None:
    """`/trust USER` is the play client's: trust is kept on the device, not on the server."""
    raise CommandError("client_only", (
        "trusting a key is done by the play client, which remembers keys on your device; "
        "this session holds no keys"))


def emsg(hub: Hub, session: Session, message: Command) -> None:
    """`/emsg USER ENVELOPE`: an end-to-end encrypted PM (the play client sends these)."""
    target, _, text = message.args.strip().partition(" ")
    if not target or not text.strip():
        raise CommandError("usage", "usage: /emsg USER ENVELOPE (the play client sends these)")
    to = _account(hub, target)
    sender = session.user
    assert sender is not None
    try:
        envelope = parse_envelope(text.strip())
    except EnvelopeError as exc:
        raise CommandError("bad_envelope", str(exc)) from None
    mine = {k for k, _, _ in hub.store.device_keys(sender)}
    if b64encode(envelope.sender_key) not in mine:
        raise CommandError("unknown_key", (
            "this message was sealed with a device key your account has not published; "
            "log in again with the play client"))
    theirs = {k for k, _, _ in hub.store.device_keys(to)}
    if not theirs:
        raise CommandError("no_keys", f"{to} has no device key; send a plain /msg instead")
    named = set(envelope.wrapped)
    left_out = [k for k in theirs | mine if key_id(parse_public_key(k)) not in named]
    if left_out:
        raise CommandError("keys_changed", (
            f"the device keys of {to} or yours changed since they were fetched; "
            "fetch them again and reseal"))
    deliver_private(hub, session, message, to, SEALED_PM, text.strip(),
                    shown="an end-to-end encrypted message")


def deliver_private(hub: Hub, session: Session, message: Command, to: str, type_: str,
                    stored: str, shown: str) -> None:
    """Store a PM, deliver it (or queue it while `to` is away), then confirm to the sender."""
    sender = session.user
    assert sender is not None
    queued = hub.session_of(to) is None

    def deliver(entry: NewEntry) -> None:
        receiver = None if queued else hub.session_of(to)
        pm = pm_of_entry(entry)
        if receiver is not None:
            hub.send(receiver, pm)
            note = f"-> {to}: {shown}  (delivered)"
        else:
            if not queued:  # they left between sending and storing: keep it for them
                hub.store.queue_pm(entry, to)
                hub.after_commit(lambda: None)
            note = f"-> {to}: {shown}  ({to} is offline; queued for their next login)"
        # The sender has the envelope already: its confirmation carries the metadata only.
        wire = {k: v for k, v in pm.to_wire().items() if k != "e2e"}
        hub.send(session, Ok(id=message.id, text=note,
                             data={"pm": wire, "delivered": receiver is not None}))

    hub.record(type_, sender, to, stored, deliver, refused=hub.refuse(session, message.id),
               queue_for=to if queued else None)


def install(hub: Hub) -> None:
    """Register the device-key and sealed-PM commands on the hub."""
    def bound(handler):  # type: ignore[no-untyped-def]
        return lambda session, message: handler(hub, session, message)

    hub.add_command("keys", bound(keys), "/keys USER",
                    "a user's device keys and their fingerprints", aliases=("key", "whois"))
    hub.add_command("trust", bound(trust), "/trust USER",
                    "accept USER's new device keys (in the play client)")
    hub.add_command("devicekey", bound(devicekey), "/devicekey KEY [NAME]",
                    "publish this device's key (the play client does it)")
    hub.add_command("emsg", bound(emsg), "/emsg USER ENVELOPE",
                    "an end-to-end encrypted PM (the play client sends these)")
