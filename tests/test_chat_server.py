"""The chat server over real loopback sockets: login, rooms, nicks, PM, BM, shutdown."""

from __future__ import annotations

import asyncio

import pytest
from helpers import RawClient, logged_in, run, running_server


def test_login_room_and_chat(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            alice = await logged_in(server.port, "alice")
            bob = await logged_in(server.port, "bob")
            await alice.expect("joined", nick="bob")
            reply = await alice.say("hello bob")
            assert reply["type"] == "ok"
            for c in (alice, bob):
                msg = await c.expect("room_msg")
                assert (msg["nick"], msg["user"], msg["text"], msg["room"]) == (
                    "alice", "alice", "hello bob", "lobby")
    run(body())


def test_register_then_password_must_match(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            c = await RawClient.connect(server.port)
            await c.hello()
            query = await c.request({"type": "account", "user": "dora"})
            assert query["data"]["registered"] is False
            ok = await c.login("dora", "pw1")
            assert ok["data"]["registered"] is True and ok["data"]["token"]
            await c.close()
            c = await RawClient.connect(server.port)
            await c.hello()
            assert (await c.request({"type": "account", "user": "DORA"}))["data"] == {
                "user": "dora", "registered": True}
            bad = await c.login("dora", "wrong")
            assert bad["type"] == "error" and bad["code"] == "bad_password"
            assert (await c.login("dora", "pw1"))["type"] == "ok"
            row = server.store.db.execute("SELECT pwhash FROM accounts").fetchone()[0]
            assert row.startswith("scrypt$") and "pw1" not in row
    run(body())


def test_wrong_passwords_close_the_connection_after_five(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            await (await logged_in(server.port, "erin", "right")).close()
            c = await RawClient.connect(server.port)
            await c.hello()
            for _ in range(5):
                assert (await c.login("erin", "nope"))["code"] == "bad_password"
            bye = await c.expect("bye")
            assert "wrong password" in bye["reason"]
    run(body())


def test_three_clients_two_rooms(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a, b, c = [await logged_in(server.port, n) for n in ("ann", "ben", "cat")]
            reply = await c.command("join", "games")
            assert reply["type"] == "ok" and "#games" in reply["text"]
            state = await c.expect("room", room="games")
            assert state["members"] == [{"nick": "cat", "user": "cat"}]
            assert (await c.command("part", "lobby"))["type"] == "ok"  # she stayed till now
            await a.expect("left", nick="cat")
            await a.say("lobby talk")
            await c.say("games talk")
            assert (await b.expect("room_msg"))["text"] == "lobby talk"
            assert (await c.expect("room_msg"))["text"] == "games talk"
            rest = await b.drain_frames()
            assert all(f.get("text") != "games talk" for f in rest)
            listing = await a.command("list")
            assert listing["data"]["rooms"] == {"lobby": 2, "games": 1}
            users = await a.command("users")
            assert users["data"]["users"] == {"ann": "lobby", "ben": "lobby", "cat": "games"}
            who = await c.command("who")
            assert who["data"]["members"] == [{"nick": "cat", "user": "cat"}]
            assert (await c.command("join", "games"))["code"] == "same_room"
            assert (await c.command("join"))["code"] == "usage"
            assert (await c.command("join", "bad room!"))["code"] == "bad_name"
    run(body())


def test_nicks_are_unique_per_room(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a = await logged_in(server.port, "ann")
            b = await logged_in(server.port, "ben")
            assert (await a.command("nick", "Captain"))["type"] == "ok"
            renamed = await b.expect("renamed")
            assert (renamed["old"], renamed["new"]) == ("ann", "Captain")
            taken = await b.command("nick", "captain")
            assert taken["code"] == "nick_taken"
            assert (await b.command("nick", "@at"))["code"] == "bad_name"
            assert (await b.command("nick", "two words"))["code"] == "not_in_room"  # NAME ROOM
            assert (await b.command("nick", "three whole words"))["code"] == "usage"
            assert (await b.command("nick", "x" * 40))["code"] == "bad_name"
            assert (await b.command("nick"))["code"] == "usage"
            await b.say("still ben")
            assert (await a.expect("room_msg"))["nick"] == "ben"
            await a.say("hi")
            assert (await b.expect("room_msg", text="hi"))["nick"] == "Captain"
    run(body())


def test_private_message_and_broadcast_confirmations(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a = await logged_in(server.port, "ann")
            b = await logged_in(server.port, "ben")
            c = await logged_in(server.port, "cat")
            await c.command("join", "elsewhere")
            reply = await a.command("msg", "ben psst")
            assert reply["type"] == "ok" and reply["data"]["delivered"] is True
            pm = await b.expect("pm")
            assert (pm["sender"], pm["to"], pm["text"], pm["queued"]) == ("ann", "ben", "psst",
                                                                          False)
            assert (await a.command("msg", "nobody hi"))["code"] == "no_such_user"
            assert (await a.command("msg", "ben"))["code"] == "usage"
            reply = await a.command("all", "hear ye")
            assert reply["type"] == "ok" and "3 users" in reply["text"]
            for client in (a, b, c):
                bm = await client.expect("bm")
                assert (bm["sender"], bm["text"]) == ("ann", "hear ye")
            assert (await a.command("all"))["code"] == "usage"
    run(body())


def test_help_unknown_and_commands_before_login(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            c = await RawClient.connect(server.port)
            await c.send({"type": "say", "id": 1, "text": "too early"})
            assert (await c.expect("error"))["code"] == "hello_first"
            await c.hello()
            assert (await c.say("still early"))["code"] == "not_logged_in"
            assert (await c.command("who"))["code"] == "not_logged_in"
            assert (await c.login("ann"))["type"] == "ok"
            helped = await c.command("help")
            text = "\n".join(helped["lines"])
            for name in ("/list", "/join", "/nick", "/who", "/users", "/msg", "/all", "/quit",
                         "/history"):
                assert name in text
            unknown = await c.command("frobnicate")
            assert unknown["code"] == "unknown_command" and "/help" in unknown["text"]
            assert (await c.say("   "))["code"] == "empty"
            assert (await c.say("x" * 2001))["code"] == "too_long"
    run(body())


def test_control_characters_never_pass_through(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a = await logged_in(server.port, "ann")
            b = await logged_in(server.port, "ben")
            await a.say("red\x1b[31m alert\x07 \x1b]0;pwned\x07done\r")
            msg = await b.expect("room_msg")
            assert msg["text"] == "red alert done"
            assert (await a.command("nick", "bad\x1bnick"))["code"] == "bad_name"
    run(body())


def test_quit_is_announced_and_aliases_work(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a = await logged_in(server.port, "ann")
            for word in ("quit", "q", "exit", "logout"):
                b = await logged_in(server.port, "ben")
                await a.expect("joined", nick="ben")
                assert (await b.command(word))["text"] == "goodbye"
                assert (await b.expect("bye"))["code"] == "quit"
                left = await a.expect("left", nick="ben")
                assert left["reason"] == "quit"
                await b.wait_closed()
    run(body())


def test_second_login_replaces_the_first(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            first = await logged_in(server.port, "ann")
            await first.command("join", "den")
            second = await RawClient.connect(server.port)
            await second.hello()
            assert (await second.request({"type": "login", "user": "ann",
                                          "password": "secret"}))["type"] == "ok"
            assert (await second.expect("room"))["room"] == "lobby"  # both rooms come back
            assert (await second.expect("room"))["room"] == "den"
            bye = await first.expect("bye")
            assert bye["code"] == "replaced" and "another place" in bye["reason"]
    run(body())


def test_shutdown_notice_reaches_every_client(tmp_path):
    async def body():
        server_cm = running_server(tmp_path)
        server = await server_cm.__aenter__()
        clients = [await logged_in(server.port, f"u{i}") for i in range(3)]
        await server.stop("maintenance")
        for c in clients:
            bye = await c.expect("bye")
            assert (bye["code"], bye["reason"]) == ("shutdown", "maintenance")
            await c.wait_closed()
        await server_cm.__aexit__(None, None, None)
    run(body())


def test_vanished_peer_is_dropped_and_the_room_told(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            a = await logged_in(server.port, "ann")
            b = await logged_in(server.port, "ben")
            b.writer.transport.abort()
            left = await a.expect("left", nick="ben")
            assert left["reason"] == "connection lost"
            assert left["online"] == 1
    run(body())


@pytest.mark.parametrize("garbage", [
    b"this is not json\n",
    b"\xff\xfe\xfd\n",
    b'{"type": "launch_missiles"}\n',
    b'{"type": "say", "text": "no id"}\n',
    b'{"type": "say", "id": 1, "text": 42}\n',
    b"[]\n",
    b"x" * 70000 + b"\n",
])
def test_bad_input_gets_an_error_and_others_are_served(tmp_path, garbage):
    async def body():
        async with running_server(tmp_path) as server:
            good = await logged_in(server.port, "good")
            bad = await logged_in(server.port, "bad")
            await bad.send(garbage)
            err = await bad.expect("error")
            assert err["code"] in ("bad_json", "bad_utf8", "unknown_type", "bad_message",
                                   "frame_too_large")
            await good.say("still here")
            assert (await good.expect("room_msg"))["text"] == "still here"
            assert (await bad.say("me too"))["type"] == "ok"  # the bad client can go on
    run(body())


def test_endless_line_is_bounded_and_others_are_served(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            good = await logged_in(server.port, "good")
            bad = await logged_in(server.port, "bad")
            for _ in range(40):  # 2.5 MiB with no newline
                bad.writer.write(b"y" * 65536)
            await bad.writer.drain()
            assert (await bad.expect("error"))["code"] == "frame_too_large"
            await good.say("unaffected")
            assert (await good.expect("room_msg"))["text"] == "unaffected"
            conn = next(c for c in server.connections if c.session.user == "bad")
            assert conn.decoder.pending <= 65536
    run(body())


def test_too_many_bad_frames_disconnect(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            bad = await logged_in(server.port, "bad")
            await bad.send(b"nope\n" * 25)
            bye = await bad.expect("bye")
            assert bye["code"] == "protocol"
            good = await logged_in(server.port, "good")
            assert (await good.say("fine"))["type"] == "ok"
    run(body())


def test_wrong_protocol_version(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            c = await RawClient.connect(server.port)
            await c.send({"type": "hello", "version": 99})
            assert (await c.expect("error"))["code"] == "version"
            assert (await c.expect("bye"))["code"] == "version"
    run(body())


def test_many_clients_at_once(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            clients = await asyncio.gather(*(logged_in(server.port, f"p{i}") for i in range(30)))
            await clients[0].say("to all thirty")
            for c in clients:
                assert (await c.expect("room_msg", text="to all thirty"))["nick"] == "p0"
    run(body())


def test_reserved_names_and_other_users_names_cannot_be_taken(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            await (await logged_in(server.port, "bob")).close()
            c = await RawClient.connect(server.port)
            await c.hello()
            for name in ("bot", "Server", "everyone"):
                reply = await c.login(name)
                assert reply["code"] == "bad_name" and "reserved" in reply["text"]
            carol = await logged_in(server.port, "carol")
            taken = await carol.command("nick", "BOB")
            assert taken["code"] == "nick_taken" and "another user's name" in taken["text"]
            assert (await carol.command("nick", "Carol"))["type"] == "ok"
    run(body())


def test_history_arguments_are_checked(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            c = await logged_in(server.port, "ann")
            assert (await c.command("history", "0"))["code"] == "usage"
            assert (await c.command("history", "-3"))["code"] == "usage"
            assert (await c.command("history", "@nobody"))["code"] == "no_such_user"
            assert (await c.command("history", "a b c"))["code"] == "usage"
    run(body())


def test_game_names_are_reserved_too(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            c = await RawClient.connect(server.port)
            await c.hello()
            for name in ("tictactoe", "Hangman", "ttt"):
                assert (await c.login(name))["code"] == "bad_name"
    run(body())


def test_a_room_too_big_for_one_frame_sends_its_members_in_pages(tmp_path):
    from gameserver.core.rooms import Room, Session
    from gameserver.doors.jsonframes import room_state_frames
    from gameserver.protocol import MAX_FRAME, MemberPage, RoomState, encode

    room = Room("crowd")
    for i in range(3000):  # long names: about 180 KiB of member list
        nick = f"nick{i:05d}{'é' * 10}"
        room.members[nick.casefold()] = Session(door=None, sink=[].append, close=print,
                                                user=f"user{i:05d}xxxxxxxxxx", home_nick=nick)
    frames = room_state_frames(room, "me", 3000)
    assert isinstance(frames[0], RoomState) and frames[0].more
    assert all(isinstance(f, MemberPage) for f in frames[1:]) and frames[-1].last
    assert all(len(encode(f)) <= MAX_FRAME for f in frames)
    names_sent = [m["nick"] for f in frames for m in f.members]
    assert names_sent == [s.nick for s in room.members.values()]
