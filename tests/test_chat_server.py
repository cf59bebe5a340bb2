"""The chat server over real loopback sockets: login, rooms, nicks, PM, BM, shutdown."""

from __future__ import annotations

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
