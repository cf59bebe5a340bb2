"""End-to-end encrypted PMs in the core: device keys in, sealed envelopes relayed, never opened.

The server keeps each account's public device keys and hands them out; it stores
and delivers envelopes (gameserver/protocol_e2e.py) exactly as it does plain PMs —
confirmed, queued while the receiver is away, summed up at login — without being
able to read them. It checks that an envelope was written by one of the sender's
published keys and names every device key of both people, so no device is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gameserver import names
from gameserver.core import logins
from gameserver.core.chatcommands import send_pm
from gameserver.core.commands import CommandError, CommandSet, checked
from gameserver.core.rooms import Session
from gameserver.protocol import Command, Ok
from gameserver.protocol_e2e import (
    MAX_DEVICE_KEYS,
    MAX_DEVICE_NAME,
    EnvelopeError,
    b64encode,
    fingerprint,
    key_id,
    parse_envelope,
    parse_public_key,
)

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

MAX_KEY_QUERY = 8  # users in one /keys request

COMMANDS: CommandSet[Hub] = CommandSet()
command = COMMANDS.command
DeviceKeys = list[tuple[str, str, float]]  # (key, device name, when added)


def _account_then(hub: Hub, session: Session, msg_id: int, name: str, then) -> None:  # type: ignore[no-untyped-def]
    """`then(username)`: a nick in your room (as /msg takes it) or an account; else a sentence."""
    room = session.room
    present = room.members.get(names.key(name)) if room and name[:1] != "@" else None
    if present is not None and present.user is not None:
        then(present.user)
        return
    user = checked(names.check_username, name.lstrip("@"))
    guest = hub.session_of(user)
    if guest is not None and guest.guest and guest.user is not None:
        then(guest.user)  # a guest of the classic door: no account, but there to PM
        return

    def found(account: tuple[str, str] | None) -> None:
        if account is None:
            raise CommandError("no_such_user", f"there is no user called {user}")
        then(account[0])

    hub.lookups.account_hash(user).then(hub.guarded(session, msg_id, found))


def _keys_then(hub: Hub, session: Session, msg_id: int, user: str, then) -> None:  # type: ignore[no-untyped-def]
    if logins.is_guest_name(user):  # a guest has no device keys (nor an account to keep them)
        then([])
        return
    hub.lookups.device_keys(user).then(hub.guarded(session, msg_id, then))


@command("devicekey", "/devicekey KEY [NAME]",
         "publish this device's key (the play client does it)")
def devicekey(hub: Hub, session: Session, message: Command) -> None:
    """Publish this device's public key on my account."""
    if session.guest or logins.is_guest_name(session.user or ""):
        raise CommandError("guest", "a guest has no account to keep a device key on; "
                           "log in with an account to publish one")
    key_text, _, device = message.args.strip().partition(" ")
    if not key_text:
        raise CommandError("usage", "usage: /devicekey KEY [DEVICE NAME]")
    try:
        raw = parse_public_key(key_text)
    except EnvelopeError as exc:
        raise CommandError("bad_key", str(exc)) from None
    device = names.clean_text(device)[:MAX_DEVICE_NAME] or "a device"
    user = session.user
    assert user is not None

    def publish(known: DeviceKeys) -> None:
        keys = [k for k, _, _ in known]
        new = key_text not in keys
        if new and len(keys) >= MAX_DEVICE_KEYS:
            raise CommandError("too_many_keys", (
                f"your account already has {MAX_DEVICE_KEYS} device keys; this device cannot "
                "add one (move a key here with play keys export / play keys import)"))
        if new:
            hub.store.add_device_key(user, key_text, device)
        count = len(keys) + new
        reply = Ok(id=message.id, text=(
            f"device key {fingerprint(raw)} {'published' if new else 'already published'}; "
            f"your account has {count} device key{'s' if count != 1 else ''}"),
            data={"new": new, "count": count})
        hub.after_commit(lambda: hub.send(session, reply), hub.refuse(session, message.id))

    _keys_then(hub, session, message.id, user, publish)


@command("keys", "/keys NICK|USER", "a user's device keys and their fingerprints",
         aliases=("key",))
def keys(hub: Hub, session: Session, message: Command) -> None:
    """The device keys of these users, with fingerprints to compare."""
    wanted = message.args.split()
    if not wanted or len(wanted) > MAX_KEY_QUERY:
        raise CommandError("usage", f"usage: /keys USER (at most {MAX_KEY_QUERY} users)")
    found: dict[str, list[dict[str, object]]] = {}
    asked: dict[str, str] = {}  # each name as asked (a nick, @user) -> its username
    lines: list[str] = []

    def one(index: int) -> None:
        if index == len(wanted):
            hub.send(session, Ok(id=message.id, text="device keys, as this server has them:",
                                 lines=lines, data={"keys": found, "names": asked}))
            return

        def listed(user: str, known: DeviceKeys) -> None:
            asked[wanted[index]] = user
            found[user] = [{"key": k, "device": d, "added": a} for k, d, a in known]
            if not known:
                lines.append(f"{user}: no device key (has not used the play client yet)")
            for key, device, _ in known:
                lines.append(f"{user}: {fingerprint(parse_public_key(key))}  ({device})")
            one(index + 1)

        _account_then(hub, session, message.id, wanted[index], lambda user: _keys_then(
            hub, session, message.id, user, lambda known: listed(user, known)))

    one(0)


@command("trust", "/trust USER", "accept USER's new device keys (in the play client)")
def trust(hub: Hub, session: Session, message: Command) -> None:
    """Trust is kept on the device by the play client, not on the server."""
    raise CommandError("client_only", (
        "trusting a key is done by the play client, which remembers keys on your device; "
        "this session holds no keys"))


@command("emsg", "/emsg USER ENVELOPE",
         "an end-to-end encrypted PM (the play client sends these)")
def emsg(hub: Hub, session: Session, message: Command) -> None:
    """An end-to-end encrypted PM: checked for shape and keys, stored and relayed sealed."""
    target, _, text = message.args.strip().partition(" ")
    if not target or not text.strip():
        raise CommandError("usage", "usage: /emsg USER ENVELOPE (the play client sends these)")
    sealed = text.strip()
    try:
        envelope = parse_envelope(sealed)
    except EnvelopeError as exc:
        raise CommandError("bad_envelope", str(exc)) from None
    sender = session.user
    assert sender is not None

    def check(to: str, mine: DeviceKeys, theirs: DeviceKeys) -> None:
        if b64encode(envelope.sender_key) not in {k for k, _, _ in mine}:
            raise CommandError("unknown_key", (
                "this message was sealed with a device key your account has not published; "
                "log in again with the play client"))
        if not theirs:
            raise CommandError("no_keys", f"{to} has no device key; send a plain /msg instead")
        left_out = [k for k, _, _ in theirs + mine
                    if key_id(parse_public_key(k)) not in envelope.wrapped]
        if left_out:
            raise CommandError("keys_changed", (
                f"the device keys of {to} or yours changed since they were fetched; "
                "fetch them again and reseal"))
        send_pm(hub, session, message.id, to, "an end-to-end encrypted message", sealed=sealed)

    _account_then(hub, session, message.id, target, lambda to: _keys_then(
        hub, session, message.id, sender, lambda mine: _keys_then(
            hub, session, message.id, to, lambda theirs: check(to, mine, theirs))))
