"""The e2e crypto and trust rules in memory: sealing, opening, tampering, TOFU, key export."""

from __future__ import annotations

import json

import nacl.secret
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameclient.e2e import (
    DeviceKeyring,
    E2EError,
    Tampered,
    Unreadable,
    export_keys,
    import_keys,
    open_envelope,
    seal,
)
from gameclient.trust import Contacts
from gameserver.protocol_e2e import (
    Envelope,
    EnvelopeError,
    b64decode,
    b64encode,
    fingerprint,
    parse_envelope,
)


def ring(tmp_path, user: str, name: str = "") -> DeviceKeyring:
    made, _ = DeviceKeyring.load_or_new(tmp_path / (name or user), "srv", user)
    return made


@pytest.fixture
def people(tmp_path):
    return {n: ring(tmp_path, u, n) for n, u in
            (("alice", "alice"), ("alice2", "alice"), ("bob", "bob"), ("eve", "eve"))}


def sealed(people, text: str = "meet at noon") -> str:
    return seal(people["alice"], "alice", "bob", text,
                [people[n].public for n in ("bob", "alice", "alice2")])


def test_every_named_device_opens_it_and_knows_who_wrote_it(people):
    envelope = sealed(people)
    for name in ("bob", "alice", "alice2"):
        opened = open_envelope(people[name], envelope)
        assert (opened.sender, opened.to, opened.text) == ("alice", "bob", "meet at noon")
        assert opened.sender_key == people["alice"].public
    with pytest.raises(Unreadable, match="sealed for other devices only"):
        open_envelope(people["eve"], envelope)


def test_the_envelope_holds_no_plaintext_and_only_public_keys(people):
    envelope = sealed(people, "zebra crossing")
    assert "zebra" not in envelope
    for person in people.values():
        assert b64encode(bytes(person.current)) not in envelope


@pytest.mark.parametrize("part", [1, 2, 3, 4, 5])
def test_changing_any_part_is_refused(people, part):
    parts = sealed(people).split(".")
    if part >= 3:  # a recipient block: bob's, alice's, alice2's
        kid, data = parts[part].split(":")
        raw = bytearray(b64decode(data))
        raw[30] ^= 1
        parts[part] = f"{kid}:{b64encode(bytes(raw))}"
    else:
        raw = bytearray(b64decode(parts[part]))
        raw[len(raw) // 2] ^= 1
        parts[part] = b64encode(bytes(raw))
    changed = ".".join(parts)
    reader = {3: "bob", 4: "alice", 5: "alice2"}.get(part, "bob")
    with pytest.raises(Tampered):
        open_envelope(people[reader], changed)


def test_a_receiver_cannot_forge_a_body_for_the_senders_other_device(people):
    """bob learns the content key by opening; a new body under it must still be refused."""
    envelope = parse_envelope(sealed(people))
    bob = people["bob"]
    from nacl.public import Box, PublicKey

    inner = Box(bob.current, PublicKey(envelope.sender_key)).decrypt(
        envelope.wrapped[next(iter(envelope.wrapped))])
    forged_payload = json.dumps({"v": 1, "from": "alice", "to": "bob", "text": "pay bob",
                                 "sent": 0}).encode()
    forged_body = bytes(nacl.secret.SecretBox(inner[:32]).encrypt(forged_payload))
    forged = Envelope(envelope.sender_key, forged_body, envelope.wrapped).encode()
    with pytest.raises(Tampered, match="not the one that was sealed"):
        open_envelope(people["alice2"], forged)


def test_swapping_bodies_between_messages_is_refused(people):
    one, two = parse_envelope(sealed(people, "one")), parse_envelope(sealed(people, "two"))
    mixed = Envelope(one.sender_key, two.body, one.wrapped).encode()
    with pytest.raises(Tampered):
        open_envelope(people["bob"], mixed)


def test_a_block_claiming_another_sender_key_is_refused(people):
    envelope = parse_envelope(sealed(people))
    claimed = Envelope(bytes(people["eve"].current.public_key), envelope.body,
                       envelope.wrapped).encode()
    with pytest.raises(Tampered, match="not sealed by the device key it names"):
        open_envelope(people["bob"], claimed)


def test_a_key_replaced_by_import_still_opens_old_messages(people, tmp_path):
    envelope = sealed(people)
    bob = people["bob"]
    newer = ring(tmp_path, "bob", "bob-new")
    bob.keys = newer.keys + bob.keys  # what import does: the imported key leads
    assert open_envelope(bob, envelope).text == "meet at noon"


@pytest.mark.parametrize(("text", "why"), [
    ("hello", "not an end-to-end encrypted message"),
    ("e2e1.abc", "names no recipient"),
    ("e2e1.AAAA.AAAA.AAAA", "device key is 32 bytes"),
])
def test_malformed_envelopes_say_why(text, why):
    with pytest.raises(EnvelopeError, match=why):
        parse_envelope(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="e21.:AZaz09-_=~", max_size=400))
def test_parse_envelope_only_ever_raises_envelope_error(text):
    try:
        parse_envelope(text)
    except EnvelopeError:
        pass


def test_tofu_first_keys_trusted_later_ones_not_until_trust(tmp_path):
    contacts = Contacts(tmp_path / "c.json")
    first = contacts.learn("Bob", {"k1": "laptop"})
    assert first is not None and first.first_contact and contacts.trusted("bob", "k1")
    assert contacts.learn("bob", {"k1": "laptop"}) is None
    change = contacts.learn("bob", {"k1": "laptop", "k2": "phone"})
    assert change is not None and not change.first_contact and change.new == ["k2"]
    assert contacts.untrusted("bob") == ["k2"] and contacts.flagged() == ["Bob"]
    again = Contacts(tmp_path / "c.json")  # remembered on disk
    assert again.untrusted("BOB") == ["k2"]
    assert again.trust("bob") == 1 and again.untrusted("bob") == []
    assert again.observe("bob", "k3") is not None and not again.trusted("bob", "k3")
    swapped = again.learn("bob", {"k4": "new"})
    assert swapped is not None and swapped.new == ["k4"] and set(swapped.gone) == {
        "k1", "k2", "k3"}


def test_export_needs_the_passphrase_and_a_long_enough_one(tmp_path, people):
    people["alice"].save()
    with pytest.raises(E2EError, match="at least 8 characters"):
        export_keys(tmp_path / "alice", "short")
    blob, count = export_keys(tmp_path / "alice", "a long passphrase")
    assert count == 1 and b64encode(bytes(people["alice"].current)) not in blob.decode()
    with pytest.raises(E2EError, match="passphrase is wrong"):
        import_keys(tmp_path / "elsewhere", blob, "another passphrase")
    with pytest.raises(E2EError, match="not a play keys export"):
        import_keys(tmp_path / "elsewhere", b"{}", "a long passphrase")
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(E2EError, match="no device keys"):
        export_keys(tmp_path / "nothing-here", "a long passphrase")


def test_import_over_an_existing_key_keeps_both(tmp_path, people):
    people["alice"].save()
    blob, _ = export_keys(tmp_path / "alice", "a long passphrase")
    there = ring(tmp_path, "alice", "alice2")
    there.save()
    [line] = import_keys(tmp_path / "alice2", blob, "a long passphrase")
    assert "kept 1 key this device had" in line
    merged = DeviceKeyring.load(there.path)
    assert merged.public == people["alice"].public and there.public in merged.publics
    assert merged.path.stat().st_mode & 0o777 == 0o600


def test_fingerprints_are_stable_and_readable(people):
    raw = bytes(people["bob"].current.public_key)
    assert fingerprint(raw) == fingerprint(raw) and len(fingerprint(raw).split()) == 8
    assert fingerprint(raw) != fingerprint(bytes(people["eve"].current.public_key))
