"""The hot path's promises: token resume, the slow-reader limit, hashing off the event loop."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

from helpers import RawClient, logged_in, run, running_server

import gameserver.core.logins
import gameserver.doors.jsonconn
import gameserver.server


async def resume(port: int, token: str) -> tuple[RawClient, dict[str, Any]]:
    client = await RawClient.connect(port)
    await client.hello()
    reply = await client.request({"type": "resume", "token": token})
    return client, reply


def token_of(reply: dict[str, Any]) -> str:
    assert reply["type"] == "ok", reply
    return reply["data"]["token"]


def count_hashing(server: gameserver.server.ChatServer) -> list[str]:
    """Record every password hash or check the hub asks for (by thread name)."""
    calls: list[str] = []
    hub = server.hub
    hasher, verifier = hub.hasher, hub.verifier

    def counted_hasher(password: str) -> str:
        calls.append(threading.current_thread().name)
        return hasher(password)

    def counted_verifier(password: str, stored: str) -> bool:
        calls.append(threading.current_thread().name)
        return verifier(password, stored)

    hub.hasher, hub.verifier = counted_hasher, counted_verifier
    return calls


# ---------------------------------------------------------------- session tokens


def test_resume_restores_room_and_nick_without_a_password_hash(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await RawClient.connect(server.port)
            await alice.hello()
            login = await alice.request({"type": "login", "user": "alice", "password": "pw"})
            token = token_of(login)
            assert (await alice.command("join", "den"))["type"] == "ok"
            assert (await alice.command("nick", "ally"))["type"] == "ok"
            bob = await logged_in(server.port, "bob")
            assert (await bob.command("join", "den"))["type"] == "ok"
            await alice.close()  # dropped, not /quit
            await bob.expect("left", nick="ally")

            hashing = count_hashing(server)
            again, reply = await resume(server.port, token)
            assert reply["data"]["user"] == "alice"
            assert token_of(reply) != token  # a fresh token for the next time
            state = await again.expect("room", room="den")  # the lobby, then den
            assert (state["room"], state["nick"]) == ("den", "ally")
            await bob.expect("joined", nick="ally", user="alice")
            assert hashing == []  # no password was hashed or checked

            assert (await again.say("back")).get("type") == "ok"
            msg = await bob.expect("room_msg", text="back")
            assert (msg["nick"], msg["user"]) == ("ally", "alice")
    run(body())


def test_resume_with_an_expired_token_is_refused(tmp_path, monkeypatch):
    async def body():
        async with running_server(tmp_path) as server:
            monkeypatch.setattr(gameserver.core.logins, "TOKEN_LIFETIME", -1.0)
            alice = await RawClient.connect(server.port)
            await alice.hello()
            token = token_of(await alice.request(
                {"type": "login", "user": "alice", "password": "secret"}))
            await alice.close()
            client, reply = await resume(server.port, token)
            assert reply["type"] == "error" and reply["code"] == "bad_token"
            assert "log in again" in reply["text"]
            again = await client.login("alice")  # the password still works
            assert again["type"] == "ok"
    run(body())


def test_resume_with_a_forged_token_is_refused_and_the_connection_goes_on(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            await (await logged_in(server.port, "alice")).close()
            client, reply = await resume(server.port, "not-a-token-the-server-issued")
            assert reply["type"] == "error" and reply["code"] == "bad_token"
            client2, reply2 = await resume(server.port, "")
            assert reply2["type"] == "error"
            assert (await client.login("alice"))["type"] == "ok"
    run(body())


def test_a_token_is_single_use_and_dies_with_quit(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await RawClient.connect(server.port)
            await alice.hello()
            first = token_of(await alice.request(
                {"type": "login", "user": "alice", "password": "pw"}))
            await alice.expect("room")
            await alice.close()

            again, reply = await resume(server.port, first)
            second = token_of(reply)
            await again.expect("room")
            await again.close()
            _, reused = await resume(server.port, first)  # already spent
            assert reused["type"] == "error" and reused["code"] == "bad_token"

            third_client, reply = await resume(server.port, second)
            third = token_of(reply)
            await third_client.expect("room")
            assert (await third_client.command("quit"))["type"] == "ok"
            await third_client.expect("bye")
            _, after_quit = await resume(server.port, third)
            assert after_quit["type"] == "error" and after_quit["code"] == "bad_token"
    run(body())


# ---------------------------------------------------------------- slow readers


def never_reading_client(port: int, user: str) -> socket.socket:
    """A blocking socket that logs in and then never reads (a tiny receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b'{"type":"hello","version":1}\n'
                 + json.dumps({"type": "login", "id": 1, "user": user,
                               "password": "pw"}).encode() + b"\n")
    return sock


def read_to_end(sock: socket.socket) -> list[dict[str, Any]]:
    sock.settimeout(10)
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    sock.close()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


class Collector:
    """Reads every frame a client gets in the background, so it never counts as slow."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            line = await self.client.reader.readline()
            if not line:
                return
            self.frames.append(json.loads(line))

    def find(self, **fields: Any) -> dict[str, Any] | None:
        for frame in self.frames:
            if all(frame.get(k) == v for k, v in fields.items()):
                return frame
        return None

    async def wait_for(self, rounds: int = 200, **fields: Any) -> dict[str, Any]:
        for _ in range(rounds):
            found = self.find(**fields)
            if found is not None:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no frame {fields}; last: {self.frames[-3:]}")


def test_a_client_that_never_reads_is_dropped_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(gameserver.doors.jsonconn, "OUTPUT_LIMIT", 32 * 1024)

    async def body():
        async with running_server(tmp_path) as server:
            talker = await logged_in(server.port, "talker")
            watcher = await logged_in(server.port, "watcher")
            slow = never_reading_client(server.port, "slow")
            await watcher.expect("joined", nick="slow")
            heard = Collector(watcher)
            said = Collector(talker)
            text = "x" * 1900
            next_id = 1000
            for _ in range(200):  # bounded: ~15 MB at most, far past any socket buffers
                if heard.find(type="left", nick="slow"):
                    break
                burst = b"".join(json.dumps({"type": "say", "id": next_id + i,
                                             "text": text}).encode() + b"\n"
                                 for i in range(40))
                talker.writer.write(burst)
                await talker.writer.drain()
                next_id += 40
                await said.wait_for(type="ok", id=next_id - 1)
            left = await heard.wait_for(type="left", nick="slow")
            assert left["reason"] == "not reading"

            # Everyone else goes on chatting.
            talker.writer.write(b'{"type":"say","id":1,"text":"still here"}\n')
            await said.wait_for(type="ok", id=1)
            await heard.wait_for(type="room_msg", text="still here")

            # The slow client, reading at last, gets what was queued, then why it was dropped.
            frames = await asyncio.to_thread(read_to_end, slow)
            assert frames[-1]["type"] == "bye"
            assert frames[-1]["code"] == "slow_reader"
            assert "stopped reading" in frames[-1]["reason"]
            assert not any(f.get("text") == "still here" for f in frames)
            for collector in (heard, said):
                collector.task.cancel()
    run(body(), timeout=60)


# ---------------------------------------------------------------- hashing


def test_chat_goes_on_while_logins_are_being_hashed(tmp_path):
    async def body():
        # n=2**15 takes ~100 ms per hash here: six of them keep the hashing busy a while.
        async with running_server(tmp_path, scrypt_n=2**15) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            hashing = count_hashing(server)
            newcomers = [await RawClient.connect(server.port) for _ in range(6)]
            for client in newcomers:
                await client.hello()
            logins = [asyncio.ensure_future(c.login(f"new{i}", "pw"))
                      for i, c in enumerate(newcomers)]
            for _ in range(5000):  # until the logins reached the server (a hash started)
                if hashing:
                    break
                await asyncio.sleep(0.001)

            reply = await alice.say("while you wait")
            await bob.expect("room_msg", text="while you wait")
            pending = sum(1 for task in logins if not task.done())

            results = await asyncio.gather(*logins)
            assert all(r["type"] == "ok" for r in results)
            assert reply["type"] == "ok"
            assert pending > 0, "every login finished before one chat round trip"
            # one each; a check the idle-class workers were starved on may have run twice
            assert 6 <= len(hashing) <= 6 + server.hub.hashes.rerun
            assert all(name != threading.main_thread().name for name in hashing)
            assert all(name.startswith("play-hash") for name in hashing)
    run(body(), timeout=60)


# ---------------------------------------------------------------- the input fast path


def test_fast_frame_splitting_matches_the_decoder():
    from gameserver.protocol import Decoder, RemoteProtocolError

    samples = [
        b'{"type":"say","id":1,"text":"hi"}\n',
        b'{"type":"say","id":1,"text":"hi"}\r\n{"type":"say","id":2,"text":"x"}\n',
        b'  {"type":"say"}  \n\n\n',
        b'[1,2]\n"str"\nnull\n{"a":1} {"b":2}\n',
        b'{"bad json\n\xff\xfe{"type":"x"}\n',
        b'\xef\xbb\xbf{"type":"say"}\n',
        b'{"type":"say","text":"\\ud83d\\ude00 \xc3\xa9"}\n{"partial":',
        b'{"n":1e999}\n{"n":NaN}\n',
        b"x" * 70_000 + b'\n{"after":"long"}\n',
    ]

    def norm(items):
        return [(type(i).__name__, i.code) if isinstance(i, RemoteProtocolError) else i
                for i in items]

    for data in samples:
        conn = gameserver.doors.jsonconn.Connection.__new__(gameserver.doors.jsonconn.Connection)
        conn.decoder = Decoder()
        fast = conn._frames(data)
        slow = list(Decoder().feed(data))
        assert norm(fast) == norm(slow), data[:80]


# ---------------------------------------------------------------- frames built by hand


def test_hand_built_frames_are_the_protocols_own():
    import random

    from gameserver.core.rooms import Room, Session
    from gameserver.doors.jsonconn import Outbox
    from gameserver.doors.jsonframes import encode_event, room_msg_frame, room_state_frames
    from gameserver.doors.jsonlines import JSONLinesDoor
    from gameserver.protocol import MAX_INT, Ok, RoomMessage, RoomState, encode

    for text in ("hi", 'quote " backslash \\ tab-free', "é 😀 中文", "x" * 2000):
        ts = 1763700000.123456
        line = RoomMessage(room="lobby", nick='n"ick', user="user", text=text, ts=ts)
        assert room_msg_frame("lobby", 'n"ick', "user", text, ts) == encode(line)
        assert encode_event(line) == encode(line)

    door, out, other = JSONLinesDoor(), Outbox(None), Outbox(None)  # type: ignore[arg-type]
    ids = [0, 7, 123456789, MAX_INT]
    for msg_id in ids:
        door.confirm(out.append, msg_id)  # a line's ok, made from its id alone
    assert out == [encode(Ok(id=msg_id)) for msg_id in ids]
    line = RoomMessage(room="den", nick='b\\"ob', user="bob", text="é \x7f", ts=1.5)
    door.deliver(line, [out.append, other.append])  # a room line, encoded in the door
    assert out[-1] is other[-1] and out[-1] == encode(line)

    room, rnd = Room("den"), random.Random(7)
    for step in range(2000):  # joins, leaves and renames, checked after each one
        keys = list(room.members)
        op = rnd.random()
        if op < 0.5 or not keys:
            user = f"u{rnd.randrange(40)}"
            nick = rnd.choice([user, user.upper(), "x" + user])
            if nick.casefold() not in room.members:
                room.members[nick.casefold()] = Session(door=None, sink=[].append, close=print,
                                                        user=user, home_nick=nick)
        elif op < 0.8:
            del room.members[rnd.choice(keys)]
        else:
            key = rnd.choice(keys)
            session = room.members[key]
            new = rnd.choice([session.nick.upper(), session.nick.lower(), session.nick + "_"])
            if new.casefold() == key or new.casefold() not in room.members:
                del room.members[key]
                room.members[new.casefold()] = session
                session.nick = new
        expected = encode(RoomState(room="den", nick="me", online=3, members=[
            {"nick": s.nick, "user": s.user} for s in room.members.values()]))
        assert room_state_frames(room, "me", 3) == [expected], step
