"""SSH public keys on accounts: parsing key lines, and the table on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncssh
import pytest

from gameserver.sshkeys import BadKey, fingerprint, parse_key, ssh_key_store_for
from gameserver.stores.pgcommunity import community_store_for


def public_line(kind: str = "ssh-ed25519", comment: str = "me@laptop") -> tuple[str, str]:
    key = asyncssh.generate_private_key(kind, comment=comment)
    return key.export_public_key().decode().strip(), key.get_fingerprint("sha256")


@pytest.mark.parametrize("kind", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
def test_a_public_key_line_is_parsed_and_fingerprinted_as_openssh_does(kind):
    line, expected = public_line(kind)
    key = parse_key("  " + line + "\n")
    assert key.kind == kind and key.comment == "me@laptop"
    assert key.fingerprint == expected == fingerprint(key.key)
    assert key.key == " ".join(line.split()[:2])


@pytest.mark.parametrize(("text", "words"), [
    ("", "not an SSH public key"),
    ("ssh-ed25519", "not an SSH public key"),
    ("ssh-dss AAAAB3NzaC1kc3M=", "not an SSH public key type"),
    ("ssh-ed25519 AAAA%%%%", "damaged"),
    ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIE1vbmtleQ==", "damaged"),  # an ed25519 blob as rsa
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAA0FCQw==", "not a valid public key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=", "PRIVATE"),
])
def test_what_is_not_a_usable_public_key_is_refused_with_a_sentence(text, words):
    with pytest.raises(BadKey) as refused:
        parse_key(text)
    assert words in str(refused.value)


def test_a_comment_cannot_carry_control_characters():
    line, _ = public_line(comment="x")
    key = parse_key(line.rsplit(" ", 1)[0] + " evil\x1b[2Jname")
    assert "\x1b" not in key.comment and key.comment.startswith("evil")


def test_keys_belong_to_one_account_on_every_backend(make_store):
    store = make_store()
    store.create_account("Alice", "h1")
    store.create_account("bob", "h2")
    table = ssh_key_store_for(store)
    first, second = parse_key(public_line()[0]), parse_key(public_line()[0])
    assert table.add("Alice", first) is None
    assert table.add("Alice", second) is None
    assert table.owner(first.key) == "Alice" and table.owner(second.key) == "Alice"
    assert [k.key for k in table.keys("ALICE")] == [first.key, second.key]  # oldest first
    assert table.add("bob", first) == "Alice"  # one account per key
    assert table.keys("bob") == []
    assert table.remove("bob", first.key) is False  # not bob's to remove
    assert table.remove("alice", first.key) is True
    assert table.owner(first.key) is None
    again = ssh_key_store_for(store)  # a restart finds them
    assert [k.comment for k in again.keys("alice")] == ["me@laptop"]


def test_a_deleted_account_takes_its_keys_along(make_store):
    store = make_store()
    store.create_account("carol", "h")
    table = ssh_key_store_for(store)
    key = parse_key(public_line()[0])
    table.add("carol", key)
    store.commit()
    assert community_store_for(store).delete_account("carol") is True
    assert table.owner(key.key) is None
    store.create_account("carol", "someone else")  # the name's next owner gets no key
    assert table.keys("carol") == []
