"""The core's rules for device keys and sealed PMs, in memory (no sockets, no loop)."""

from __future__ import annotations

import pytest
from hubpair import Pair

from gameclient.e2e import DeviceKeyring, seal
from gameserver.protocol_e2e import MAX_DEVICE_KEYS, SEALED_TEXT


@pytest.fixture
def pair(tmp_path):
    p = Pair(tmp_path)
    yield p
    p.close()


def device(tmp_path, user: str, name: str) -> DeviceKeyring:
    return DeviceKeyring.load_or_new(tmp_path / name, "mem", user)[0]


def publish(user, ring: DeviceKeyring):  # noqa: ANN001, ANN201
    return user.cmd("devicekey", f"{ring.public} {ring.device}")


def test_device_keys_are_published_listed_and_bounded(pair, tmp_path):
    ann = pair.user("ann")
    ring = device(tmp_path, "ann", "a")
    reply = publish(ann, ring)
    assert reply.TYPE == "ok" and reply.data == {"new": True, "count": 1}
    assert publish(ann, ring).data == {"new": False, "count": 1}
    listed = ann.cmd("keys", "ANN")
    assert [k["key"] for k in listed.data["keys"]["ann"]] == [ring.public]
    assert ring.fingerprint in listed.lines[0]
    assert ann.cmd("devicekey", "not-a-key").code == "bad_key"
    assert ann.cmd("keys", "ghost").code == "no_such_user"
    for n in range(MAX_DEVICE_KEYS - 1):
        assert publish(ann, device(tmp_path, "ann", f"more{n}")).TYPE == "ok"
    assert publish(ann, device(tmp_path, "ann", "one-too-many")).code == "too_many_keys"


def test_a_sealed_pm_is_relayed_sealed_confirmed_and_queued(pair, tmp_path):
    ann, ben = pair.user("ann"), pair.user("ben")
    a, b = device(tmp_path, "ann", "a"), device(tmp_path, "ben", "b")
    publish(ann, a)
    publish(ben, b)
    envelope = seal(a, "ann", "ben", "the plan", [b.public, a.public])
    reply = ann.cmd("emsg", f"ben {envelope}")
    assert reply.TYPE == "ok" and reply.data["delivered"] and "e2e" not in reply.data["pm"]
    [pm] = ben.of("pm")
    assert (pm.text, pm.e2e, pm.queued) == (SEALED_TEXT, envelope, False)
    ben.drop()
    later = seal(a, "ann", "ben", "later", [b.public, a.public])
    reply = ann.cmd("emsg", f"ben {later}")
    assert not reply.data["delivered"] and "queued for their next login" in reply.text
    again = pair.user("ben")
    assert again.of("notice")[0].text == "1 private message waited for you, from ann"
    [queued] = again.of("pm")
    assert queued.queued and queued.e2e == later and queued.text == SEALED_TEXT
    page = again.cmd("history", "@ann")
    assert [(e["type"], e["text"], e["e2e"]) for e in page.entries] == [
        ("PM", SEALED_TEXT, envelope), ("PM", SEALED_TEXT, later)]
    assert "the plan" not in repr(pair.store.history("ben", 10))


def test_a_sealed_pm_must_come_from_a_published_key_and_name_every_device(pair, tmp_path):
    ann, ben = pair.user("ann"), pair.user("ben")
    a, b = device(tmp_path, "ann", "a"), device(tmp_path, "ben", "b")
    publish(ann, a)
    assert ann.cmd("emsg", f"ben {seal(a, 'ann', 'ben', 'x', [a.public])}").code == "no_keys"
    publish(ben, b)
    stranger = device(tmp_path, "ann", "s")
    forged = seal(stranger, "ann", "ben", "x", [b.public, a.public])
    assert ann.cmd("emsg", f"ben {forged}").code == "unknown_key"
    b2 = device(tmp_path, "ben", "b2")
    publish(ben, b2)  # ben's second device: a seal without it leaves it out
    stale = seal(a, "ann", "ben", "x", [b.public, a.public])
    assert ann.cmd("emsg", f"ben {stale}").code == "keys_changed"
    without_me = seal(a, "ann", "ben", "x", [b.public, b2.public])
    assert ann.cmd("emsg", f"ben {without_me}").code == "keys_changed"
    full = seal(a, "ann", "ben", "x", [b.public, b2.public, a.public])
    assert ann.cmd("emsg", f"ben {full}").TYPE == "ok"
    assert ann.cmd("emsg", "ben e2e1.nonsense").code == "bad_envelope"
    assert ann.cmd("emsg", "ben hello there").code == "bad_envelope"
    assert ann.cmd("emsg", f"ghost {full}").code == "no_such_user"
    assert len(ben.of("pm")) == 1


def test_a_plain_pm_says_it_is_not_end_to_end_encrypted(pair):
    ann, ben = pair.user("ann"), pair.user("ben")
    reply = ann.cmd("msg", "ben in clear")
    assert reply.text == "-> ben: in clear  (delivered; not end-to-end encrypted)"
    assert ben.of("pm")[0].e2e is None
    assert ann.cmd("trust", "ben").code == "client_only"


def test_a_deleted_account_takes_its_device_keys_and_sealed_pms_along(tmp_path):
    from gameserver.communitystore import CommunityStore
    from gameserver.core.community import Community, CommunityHost

    pair = Pair(tmp_path)
    kept = CommunityStore(pair.store.db)
    CommunityHost.install(pair.hub, Community(kept), kept)
    ann, ben = pair.user("ann"), pair.user("ben")
    a, b = device(tmp_path, "ann", "a"), device(tmp_path, "ben", "b")
    publish(ann, a)
    publish(ben, b)
    assert ann.cmd("emsg", f"ben {seal(a, 'ann', 'ben', 'x', [b.public, a.public])}").TYPE == "ok"
    ben.cmd("deleteaccount")
    assert ben.cmd("deleteaccount", "ben").TYPE == "ok"
    fresh = pair.user("ben", "another")  # the name is free again: none of the old keys
    assert fresh.cmd("keys", "ben").data["keys"] == {"ben": []}
    assert fresh.cmd("history").entries == []
    pair.close()


def test_a_name_with_sealed_pms_or_device_keys_counts_as_used(pair, tmp_path):
    ann = pair.user("ann")
    a = device(tmp_path, "ann", "a")
    publish(ann, a)
    pair.store.commit()
    assert pair.store.name_used("ann")
    assert not pair.store.name_used("nobody-yet")
    pair.store.add_message("EPM", "zed", "guest-9", "e2e1.opaque")
    pair.store.commit()
    assert pair.store.name_used("guest-9")
