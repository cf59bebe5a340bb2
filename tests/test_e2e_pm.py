"""End-to-end encrypted PMs: real play clients (keys and all) over a real server on loopback."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers import WAIT, logged_in, run, running_server

from gameclient.commands import parse_typed
from gameclient.connection import ClientConnection
from gameclient.e2e import DeviceKeyring, export_keys, import_keys, server_label
from gameclient.model import ClientModel, KeyAlert, OpenedPM
from gameclient.privatemsg import connect
from gameserver.protocol import Error, HistoryPage, Notice, Ok, PrivateMessage, RoomMessage
from gameserver.protocol_e2e import SEALED_TEXT, parse_envelope

SECRET = "the eagle lands at dawn, zebra 🦓 quartz"
WORDS = [b"eagle", b"zebra", b"quartz", "🦓".encode()]


def no_plaintext(data: bytes) -> bool:
    return not any(word in data for word in WORDS)


class Tap:
    """Stands in front of a connection's reader and keeps every byte the server sent."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.data = bytearray()

    async def read(self, n: int) -> bytes:
        chunk = await self.reader.read(n)
        self.data += chunk
        return chunk


class Device:
    """A play client with device keys, as `play join` runs one (without a terminal)."""

    def __init__(self, conn: ClientConnection, reply: Ok) -> None:
        self.conn = conn
        self.reply = reply
        self.tap = Tap(conn.reader)
        conn.reader = self.tap  # type: ignore[assignment]
        self.model = ClientModel(user=str((reply.data or {})["user"]))
        self.seen: list[Any] = []

    @classmethod
    async def join(cls, port: int, user: str, keys: Path | None,
                   password: str = "secret") -> Device:
        async def ask(_registering: bool, _attempt: int) -> str:
            return password

        conn, reply = await connect("127.0.0.1", port, user, ask, keys, tls=False)
        return cls(conn, reply)

    def type(self, line: str) -> int:
        typed = parse_typed(line)
        assert typed is not None
        return self.conn.send_typed(typed)

    async def expect(self, kind: type, where: Callable[[Any], bool] = lambda _e: True,
                     timeout: float = WAIT) -> Any:
        """The next event of `kind` that matches; everything read is kept in `seen`."""
        for old in self.seen:
            if isinstance(old, kind) and where(old):
                self.seen.remove(old)
                return old
        deadline = time.monotonic() + timeout
        while True:
            event = await asyncio.wait_for(self.conn.next_event(),
                                           max(deadline - time.monotonic(), 0.01))
            self.model.apply(event)
            if isinstance(event, kind) and where(event):
                return event
            self.seen.append(event)

    async def reply_to(self, msg_id: int) -> Ok | Error:
        return await self.expect((Ok, Error), lambda e: e.id == msg_id)

    async def history(self, args: str = "") -> list[dict[str, Any]]:
        msg_id = self.type(f"/history {args}".strip())
        entries: list[dict[str, Any]] = []
        while True:
            page = await self.expect(HistoryPage, lambda p: p.id == msg_id)
            entries += page.entries
            if page.last:
                return entries

    async def close(self) -> None:
        await self.conn.close()


def store_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("play.db*")))


def test_pm_reaches_receiver_and_senders_history_in_clear_and_nobody_else(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            spy = await logged_in(server.port, "carol")
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            sent = alice.type(f"/msg bob {SECRET}")
            ok = await alice.reply_to(sent)
            assert isinstance(ok, Ok) and SECRET in (ok.text or "") and "[e2e" in ok.text
            assert "(delivered)" in ok.text
            pm = await bob.expect(OpenedPM)
            assert (pm.sender, pm.to, pm.text, pm.problem) == ("alice", "bob", SECRET, "")
            # A PM conversation is a pane of its own ("@alice") in the model.
            pane = bob.model.panes["@alice"]
            assert f"[PM from alice] {SECRET}  [e2e]" in pane.transcript[-1].text
            mine = await alice.history("@bob")
            assert [(e["sender"], e["text"], e["mark"]) for e in mine] == [
                ("alice", SECRET, "e2e")]
            theirs = await bob.history()
            assert any(e["text"] == SECRET and e["mark"] == "e2e" for e in theirs)
            # The third party looks everywhere it may.
            for name, args in (("history", ""), ("history", "@alice"), ("history", "@bob"),
                               ("keys", "alice bob"), ("users", "")):
                await spy.send({"type": "cmd", "id": spy.next_id(), "name": name, "args": args})
            assert len(await spy.drain_frames()) >= 5
            assert spy.seen and all(no_plaintext(repr(f).encode()) for f in spy.seen)
            # What the server wrote to alice's and bob's own connections: ciphertext only.
            await alice.history()
            assert no_plaintext(bytes(alice.tap.data)) and no_plaintext(bytes(bob.tap.data))
            assert b"e2e1." in bob.tap.data
            for device in (alice, bob):
                await device.close()
            await spy.close()
        stored = store_bytes(tmp_path / "srv")
        assert stored and no_plaintext(stored)
        db = sqlite3.connect(tmp_path / "srv" / "play.db")
        [(kind, text)] = db.execute("SELECT type, text FROM messages WHERE sender = 'alice'")
        assert kind == "EPM" and len(parse_envelope(text).wrapped) == 2  # bob's key, alice's
        db.close()

    run(body())


def test_queued_pm_is_opened_at_next_login_with_the_summary(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            await bob.close()
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            for n in (1, 2):
                ok = await alice.reply_to(alice.type(f"/msg bob {SECRET} {n}"))
                assert isinstance(ok, Ok) and "queued for their next login" in (ok.text or "")
                assert f"{SECRET} {n}" in ok.text
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            note = await bob.expect(Notice, lambda n: "waited" in n.text)
            assert note.text == "2 private messages waited for you, from alice"
            first = await bob.expect(OpenedPM)
            second = await bob.expect(OpenedPM)
            assert [first.text, second.text] == [f"{SECRET} 1", f"{SECRET} 2"]
            assert first.queued and "while you were away" in \
                bob.model.panes["@alice"].transcript[-1].text
            assert no_plaintext(bytes(bob.tap.data))
            await bob.close()
            await alice.close()
        assert no_plaintext(store_bytes(tmp_path / "srv"))

    run(body())


def test_new_device_key_is_shown_loudly_until_trusted_and_does_not_block(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            await alice.reply_to(alice.type("/msg bob hello"))
            first = await alice.expect(KeyAlert)  # a first contact: remembered, quietly
            assert not first.loud and not first.unverified
            # ... and told in the conversation's pane, not the room alice looks at
            assert first.where == "@bob" and alice.model.current == "lobby"
            assert any("first end-to-end contact with bob" in line.text
                       for line in alice.model.panes["@bob"].transcript)
            assert not any("first end-to-end" in line.text
                           for line in alice.model.panes["lobby"].transcript)
            met = await bob.expect(KeyAlert)  # bob's first contact, met in alice's PM
            assert met.where == "@alice" and "first end-to-end contact with alice" in met.text
            await bob.close()
            # bob comes back from a new device: a second key on his account.
            laptop = await Device.join(server.port, "bob", tmp_path / "bob-laptop")
            ok = await alice.reply_to(alice.type(f"/msg bob {SECRET}"))
            assert isinstance(ok, Ok) and "untrusted new keys of bob" in (ok.text or "")
            alert = await alice.expect(KeyAlert)
            assert alert.loud and alert.unverified and "NEW device key" in alert.text
            assert "/trust bob" in alert.text and alice.model.unverified == {"bob": "bob"}
            got = await laptop.expect(OpenedPM)
            assert got.text == SECRET  # sent anyway, and the new device reads it
            keys = await alice.reply_to(alice.type("/key bob"))
            assert isinstance(keys, Ok) and len(keys.lines or []) == 2
            assert sum("NEW, not trusted yet" in line for line in keys.lines or []) == 1
            await alice.reply_to(alice.type("/trust bob"))
            trusted = await alice.expect(KeyAlert, lambda a: not a.unverified)
            assert "trust bob's 2 device keys (1 newly)" in trusted.text
            assert alice.model.unverified == {}
            ok = await alice.reply_to(alice.type("/msg bob again"))
            assert isinstance(ok, Ok) and (ok.text or "").endswith("[e2e]")
            # Bob's old device reads history sealed to both of his keys.
            await laptop.close()
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            texts = [e["text"] for e in await bob.history("@alice")]
            assert texts == ["hello", SECRET, "again"]
            await bob.close()
            await alice.close()

    run(body())


def test_a_message_from_an_untrusted_key_is_marked_for_the_receiver(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            await alice.reply_to(alice.type("/msg bob one"))
            assert (await bob.expect(OpenedPM)).new_key is False
            await alice.close()
            other = await Device.join(server.port, "alice", tmp_path / "alice-phone")
            await other.reply_to(other.type("/msg bob two"))
            pm = await bob.expect(OpenedPM)
            assert pm.text == "two" and pm.new_key
            assert "[e2e, NEW KEY: /trust alice]" in bob.model.panes["@alice"].transcript[-1].text
            alert = await bob.expect(KeyAlert, lambda a: a.loud)
            assert "alice has 1 NEW device key" in alert.text
            assert bob.model.unverified == {"alice": "alice"}
            await other.close()
            await bob.close()

    run(body())


def test_tampered_ciphertext_is_refused_with_a_sentence(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            await alice.reply_to(alice.type(f"/msg bob {SECRET}"))
            await bob.expect(OpenedPM)
            # Someone with the database changes the stored ciphertext.
            db = sqlite3.connect(tmp_path / "srv" / "play.db")
            [(row_id, text)] = db.execute("SELECT id, text FROM messages WHERE type = 'EPM'")
            parts = text.split(".")
            body_part = parts[2]
            parts[2] = body_part[:10] + ("A" if body_part[10] != "A" else "B") + body_part[11:]
            db.execute("UPDATE messages SET text = ? WHERE id = ?", (".".join(parts), row_id))
            db.commit()
            db.close()
            [entry] = await bob.history("@alice")
            assert SECRET not in entry["text"] and "mark" not in entry
            assert entry["text"].startswith("(an end-to-end encrypted message was refused:")
            assert "changed" in entry["text"]
            # A live one whose key block was changed on the way.
            envelope = _seal_for(alice, bob, "forged")
            parts = envelope.split(".")
            kid, wrapped = parts[3].split(":")
            parts[3] = f"{kid}:{wrapped[:-3]}{'AAA' if wrapped[-3:] != 'AAA' else 'BBB'}"
            reply = await alice.conn.request(_emsg(alice, "bob", ".".join(parts)), 0)
            assert reply.data and reply.data["delivered"]
            pm = await bob.expect(OpenedPM)
            assert pm.text == "" and pm.problem.startswith(
                "an end-to-end encrypted message was refused")
            assert "forged" not in bob.model.panes["@alice"].transcript[-1].text
            await alice.close()
            await bob.close()

    run(body())


def _seal_for(sender: Device, receiver: Device, text: str) -> str:
    from gameclient.e2e import seal

    pms = sender.conn.e2e
    assert pms is not None and receiver.conn.e2e is not None
    return seal(pms.ring, pms.me, receiver.conn.e2e.me, text,
                [receiver.conn.e2e.ring.public, pms.ring.public])


def _emsg(sender: Device, to: str, envelope: str):  # noqa: ANN202
    from gameserver.protocol import Command

    return Command(id=0, name="emsg", args=f"{to} {envelope}")


def test_sessions_without_keys_get_a_sentence_and_plain_pms_are_marked(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            await bob.close()
            raw_bob = await logged_in(server.port, "bob")  # bob on a client without keys
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            ok = await alice.reply_to(alice.type(f"/msg bob {SECRET}"))
            assert isinstance(ok, Ok) and "[e2e]" in (ok.text or "")
            frame = await raw_bob.expect("pm")
            assert frame["text"] == SECRET_TEXT and frame["e2e"].startswith("e2e1.")
            assert no_plaintext(repr(raw_bob.seen).encode())
            # A PM from a session without keys: delivered, and marked for both sides.
            reply = await raw_bob.command("msg", "alice plain words")
            assert reply["type"] == "ok" and "not end-to-end encrypted" in reply["text"]
            pm = await alice.expect(PrivateMessage)
            assert pm.e2e is None and pm.text == "plain words"
            assert alice.model.panes["@bob"].transcript[-1].text == (
                "[PM from bob] plain words  [not end-to-end encrypted]")
            history = await alice.history("@bob")
            assert [(e["text"], e["mark"]) for e in history] == [
                (SECRET, "e2e"), ("plain words", "not end-to-end encrypted")]
            # A receiver with no device key at all: the play client sends plain, and says so.
            await logged_in(server.port, "dave")
            ok = await alice.reply_to(alice.type("/msg dave hi dave"))
            warn = await alice.expect(Notice, lambda n: "dave has no device key" in n.text)
            assert "not end-to-end encrypted" in warn.text
            assert isinstance(ok, Ok) and "not end-to-end encrypted" in (ok.text or "")
            await alice.close()
            await raw_bob.close()

    run(body())


SECRET_TEXT = SEALED_TEXT


def test_sealed_pm_needs_every_device_and_a_published_sender_key(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            assert alice.conn.e2e is not None and bob.conn.e2e is not None
            from gameclient.e2e import seal

            # Leaving out alice's own device is refused: she could not read her history.
            only_bob = seal(alice.conn.e2e.ring, "alice", "bob", "x", [bob.conn.e2e.ring.public])
            reply = await _raw_emsg(alice, "bob", only_bob)
            assert reply.code == "keys_changed"
            # Sealed with a key alice never published.
            stranger = DeviceKeyring.load_or_new(tmp_path / "nobody", "s", "alice")[0]
            forged = seal(stranger, "alice", "bob", "x",
                          [bob.conn.e2e.ring.public, alice.conn.e2e.ring.public])
            reply = await _raw_emsg(alice, "bob", forged)
            assert reply.code == "unknown_key" and "not published" in reply.text
            reply = await _raw_emsg(alice, "bob", "e2e1.garbage")
            assert reply.code == "bad_envelope"
            await alice.close()
            await bob.close()

    run(body())


async def _raw_emsg(sender: Device, to: str, envelope: str) -> Error:
    from gameserver.protocol import Command, ProtocolError

    msg_id = sender.conn.new_id()
    try:
        await sender.conn.request(Command(id=msg_id, name="emsg", args=f"{to} {envelope}"),
                                  msg_id)
    except ProtocolError as exc:
        return Error(code=exc.code, text=exc.message)
    raise AssertionError("the server took it")


def test_export_import_moves_keys_to_a_new_device(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "old")
            await alice.reply_to(alice.type(f"/msg bob {SECRET}"))
            await alice.close()
            blob, count = export_keys(tmp_path / "old", "correct horse battery")
            assert count == 1 and no_plaintext(blob)
            ring_text = next((tmp_path / "old" / "keys").rglob("*.key")).read_text()
            for secret_key in __import__("json").loads(ring_text)["keys"]:
                assert secret_key.encode() not in blob
            lines = import_keys(tmp_path / "new", blob, "correct horse battery")
            assert len(lines) == 1 and lines[0].startswith("alice on 127.0.0.1_")
            moved = await Device.join(server.port, "alice", tmp_path / "new")
            assert [e["text"] for e in await moved.history("@bob")] == [SECRET]
            assert not any(isinstance(e, KeyAlert) and e.loud for e in moved.seen)
            await moved.close()
            await bob.close()

    run(body())


def test_key_file_is_private_and_only_saved_after_a_good_login(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            await bob.close()
            path = DeviceKeyring.path_for(tmp_path / "bob", server_label("127.0.0.1",
                                                                         server.port), "bob")
            assert path.stat().st_mode & 0o777 == 0o600
            assert path.parent.stat().st_mode & 0o777 == 0o700
            from gameclient.connection import LoginFailed

            try:
                await Device.join(server.port, "bob", tmp_path / "elsewhere", password="wrong")
            except LoginFailed:
                pass
            else:
                raise AssertionError("a wrong password logged in")
            assert not list((tmp_path / "elsewhere").rglob("*.key"))

    run(body())


def test_what_is_typed_after_a_sealed_pm_goes_out_after_it(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            pm_id = alice.type("/msg bob first")  # its keys are fetched before it goes
            say_id = alice.type("then this, to the room")
            order: list[str] = []
            while len(order) < 2:
                event = await asyncio.wait_for(bob.conn.next_event(), WAIT)
                if isinstance(event, OpenedPM) or (isinstance(event, RoomMessage)
                                                   and event.user == "alice"):
                    order.append(event.text)
            assert order == ["first", "then this, to the room"]
            await alice.reply_to(pm_id)
            await alice.reply_to(say_id)
            await alice.close()
            await bob.close()

    run(body())


def test_the_longest_pm_to_several_devices_fits_and_a_longer_one_is_refused(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            for n in range(3):  # bob has three devices
                await (await Device.join(server.port, "bob", tmp_path / f"bob{n}")).close()
            bob = await Device.join(server.port, "bob", tmp_path / "bob0")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            longest = "🦓" * 2000
            ok = await alice.reply_to(alice.type(f"/msg bob {longest}"))
            assert isinstance(ok, Ok) and "(delivered)" in (ok.text or "")
            assert (await bob.expect(OpenedPM)).text == longest
            too_long = await alice.reply_to(alice.type(f"/msg bob {'x' * 2001}"))
            assert isinstance(too_long, Error) and "longer than 2000 characters" in too_long.text
            await alice.close()
            await bob.close()

    run(body())


def test_escape_sequences_sealed_by_a_hostile_sender_never_reach_the_terminal(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            hostile = _seal_for(alice, bob, "\x1b[2J\x1b]0;owned\x07wiped \u202eevil")
            await alice.conn.request(_emsg(alice, "bob", hostile), 0)
            pm = await bob.expect(OpenedPM)
            assert "\x1b" not in pm.text and "\x07" not in pm.text and "\u202e" not in pm.text
            assert "wiped" in pm.text
            await alice.close()
            await bob.close()

    run(body())


def test_every_way_to_send_a_pm_is_sealed_r_query_and_a_nick(tmp_path):
    async def body() -> None:
        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            nope = await alice.reply_to(alice.type("/r nobody yet"))
            assert isinstance(nope, Error) and "nobody has sent you" in nope.text
            await bob.reply_to(bob.type("/nick Bobby"))
            ok = await alice.reply_to(alice.type("/msg Bobby zebra by nick"))
            assert isinstance(ok, Ok) and "-> bob: zebra by nick" in (ok.text or "")
            assert (await bob.expect(OpenedPM)).text == "zebra by nick"
            ok = await bob.reply_to(bob.type("/r quartz in reply"))
            assert isinstance(ok, Ok) and "[e2e]" in (ok.text or "")
            assert (await alice.expect(OpenedPM)).text == "quartz in reply"
            ok = await alice.reply_to(alice.type("/query bob eagle by query"))
            assert isinstance(ok, Ok) and "[e2e]" in (ok.text or "")
            assert (await bob.expect(OpenedPM)).text == "eagle by query"
            who = await alice.reply_to(alice.type("/whois Bobby"))
            assert isinstance(who, Ok) and who.text == "bob:"  # the server's whois ...
            keys = await alice.expect(Ok, lambda o: "device keys of bob" in (o.text or ""))
            assert len(keys.lines or []) == 1  # ... then his fingerprints
            await alice.close()
            await bob.close()
        assert no_plaintext(store_bytes(tmp_path / "srv"))

    run(body())


def test_an_envelope_sealed_long_before_it_came_is_marked_as_sent_again(tmp_path):
    async def body() -> None:
        from gameclient.e2e import seal

        async with running_server(tmp_path / "srv") as server:
            bob = await Device.join(server.port, "bob", tmp_path / "bob")
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            pms, theirs = alice.conn.e2e, bob.conn.e2e
            assert pms is not None and theirs is not None
            old = seal(pms.ring, "alice", "bob", "pay the invoice", [theirs.ring.public,
                                                                    pms.ring.public],
                       sent=time.time() - 3 * 3600)  # what a replaying server would relay
            await alice.conn.request(_emsg(alice, "bob", old), 0)
            pm = await bob.expect(OpenedPM)
            assert pm.text == "pay the invoice" and pm.sealed_at is not None
            assert "SEALED" in bob.model.panes["@alice"].transcript[-1].text
            assert "sent again?" in bob.model.panes["@alice"].transcript[-1].text
            await alice.reply_to(alice.type("/msg bob fresh one"))
            fresh = await bob.expect(OpenedPM)
            assert fresh.sealed_at is None
            [first, second] = await bob.history("@alice")
            assert "SEALED" in first["mark"] and second["mark"] == "e2e"
            await alice.close()
            await bob.close()

    run(body())


def test_whois_and_key_of_a_guest_of_the_classic_door_need_no_account(tmp_path):
    """A guest has no account and no device keys: /whois and /key from the play client
    answer (no device key) without "there is no user called guest-1"."""
    from test_classic_door import guest

    from gameserver.doors.classic import ClassicDoor

    async def body() -> None:
        door = ClassicDoor("127.0.0.1", 0)
        async with running_server(tmp_path / "srv", doors=[door]) as server:
            gus = await guest(door, "gus")  # "0": logged in as guest-1, nick gus
            alice = await Device.join(server.port, "alice", tmp_path / "alice")
            for asked in ("gus", "@guest-1"):  # a nick in the room, then the guest's name
                whois_id = alice.type(f"/whois {asked}")
                answer = await alice.reply_to(whois_id)
                assert isinstance(answer, Ok) and answer.text == "guest-1:", answer
                keys = await alice.expect(
                    Ok, lambda e: "device keys of guest-1" in (e.text or ""))
                assert keys.lines == ["no device key: PMs to them go not end-to-end encrypted"]
            ok = await alice.reply_to(alice.type("/key guest-1"))
            assert isinstance(ok, Ok) and "device keys of guest-1" in (ok.text or "")
            assert not [e for e in alice.seen if isinstance(e, Error)]
            # A guest cannot leave a key under a name the next run's guest-1 gets.
            await gus.send("/devicekey " + "A" * 43 + "=")
            assert "guest has no account" in await gus.line()
            gus.close()
            await alice.close()

    run(body())
