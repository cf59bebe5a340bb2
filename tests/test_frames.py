"""Every frame is answered: hostile and malformed frames, each followed by a valid one."""

from __future__ import annotations

import json

import pytest
from helpers import RawClient, logged_in, run, running_server

from gameserver.protocol import CLIENT_MESSAGES, MAX_INT, RemoteProtocolError, parse_message

SURROGATE = "\ud800"


def raw(obj: dict) -> bytes:
    """A frame as a hostile client would send it (json.dumps writes a lone surrogate as \\ud800)."""
    return json.dumps(obj).encode() + b"\n"


HOSTILE: list[tuple[str, bytes]] = [
    ("surrogate in say text", raw({"type": "say", "id": 7, "text": "hi " + SURROGATE})),
    ("surrogate alone", raw({"type": "say", "id": 7, "text": "\udfff"})),
    ("surrogate in a command name", raw({"type": "cmd", "id": 7, "name": "jo" + SURROGATE})),
    ("surrogate in command args", raw({"type": "cmd", "id": 7, "name": "join",
                                       "args": SURROGATE})),
    ("surrogate in a pm", raw({"type": "cmd", "id": 7, "name": "msg",
                               "args": "bob " + SURROGATE})),
    ("surrogate in a secret", raw({"type": "cmd", "id": 7, "name": "game",
                                   "args": "hangman --secret", "secret": SURROGATE})),
    ("surrogate in a token", raw({"type": "resume", "id": 7, "token": SURROGATE})),
    ("surrogate in an account query", raw({"type": "account", "id": 7, "user": SURROGATE})),
    ("surrogate in the type", raw({"type": "say" + SURROGATE, "id": 7, "text": "x"})),
    ("id true", raw({"type": "say", "id": True, "text": "x"})),
    ("id false", raw({"type": "cmd", "id": False, "name": "who"})),
    ("id a string", raw({"type": "say", "id": "7", "text": "x"})),
    ("id a float", raw({"type": "say", "id": 7.5, "text": "x"})),
    ("id too big", raw({"type": "say", "id": 2**64, "text": "x"})),
    ("id negative", raw({"type": "say", "id": -1, "text": "x"})),
    ("id an object", raw({"type": "say", "id": {"a": 1}, "text": "x"})),
    ("id of 5000 digits", b'{"type":"say","id":' + b"9" * 5000 + b',"text":"x"}\n'),
    ("text a list", raw({"type": "say", "id": 7, "text": ["x"]})),
    ("text nested deep", raw({"type": "say", "id": 7, "text": "x",
                              "extra": json.loads("[" * 50 + "]" * 50)})),
    ("nesting past the parser", b"[" * 30000 + b"]" * 30000 + b"\n"),
    ("object nesting past the parser", b'{"a":' * 20000 + b"1" + b"}" * 20000 + b"\n"),
    ("NaN id", b'{"type":"say","id":NaN,"text":"x"}\n'),
    ("not JSON", b"{nope\n"),
    ("not UTF-8", b'{"type":"say","id":7,"text":"\xff\xfe"}\n'),
    ("a JSON string", b'"hello"\n'),
    ("null", b"null\n"),
    ("no type", raw({"id": 7})),
    ("unknown type", raw({"type": "explode", "id": 7})),
    ("hello again, wrong version", raw({"type": "hello", "version": 2**70})),
    ("login while logged in", raw({"type": "login", "id": 7, "user": "x", "password": "y"})),
    ("history N of 5000 digits", raw({"type": "cmd", "id": 7, "name": "history",
                                      "args": "9" * 5000})),
    ("history N superscript", raw({"type": "cmd", "id": 7, "name": "history", "args": "²"})),
    ("history N zero", raw({"type": "cmd", "id": 7, "name": "history", "args": "000"})),
    ("move id superscript", raw({"type": "cmd", "id": 7, "name": "move", "args": "² b2"})),
    ("board id huge", raw({"type": "cmd", "id": 7, "name": "board", "args": "9" * 400})),
    ("control characters", raw({"type": "say", "id": 7, "text": "\x1b[2J\x00\x07"})),
    ("too long for one frame", b'{"type":"say","id":7,"text":"' + b"a" * 70000 + b'"}\n'),
]


@pytest.mark.parametrize("name,frame", HOSTILE, ids=[n for n, _ in HOSTILE])
def test_a_hostile_frame_is_answered_and_the_next_one_in_the_same_read_is_served(
        tmp_path, name, frame):
    async def body():
        async with running_server(tmp_path) as server:
            watcher = await logged_in(server.port, "watcher")
            attacker = await logged_in(server.port, "attacker")
            # the hostile frame and a valid one in one write (so in one read on loopback)
            await attacker.send(frame + raw({"type": "say", "id": 99, "text": "after it"}))
            answers = []
            while True:
                got = await attacker.read_frame()
                assert got is not None, f"{name}: connection closed; got {answers}"
                if got["type"] in ("ok", "error", "bye", "history"):
                    answers.append(got)
                if got["type"] == "ok" and got.get("id") == 99:
                    break
                assert got["type"] != "bye", f"{name}: dropped: {got}"
            replies = [a for a in answers if a.get("id") != 99 and (
                a["type"] in ("ok", "error") or (a["type"] == "history" and a.get("id") == 7))]
            assert replies, f"{name}: no answer to the hostile frame"
            for reply in replies:
                assert reply.get("code") != "internal", (name, reply)
                assert reply.get("id") in (None, 7), (name, reply)  # a bad id is never echoed
            # everyone else is unaffected and the server still takes new logins
            said = await watcher.expect("room_msg", text="after it")
            assert said["user"] == "attacker"
            newcomer = await logged_in(server.port, "newcomer")
            assert (await newcomer.say("still serving"))["type"] == "ok"
            assert SURROGATE not in json.dumps([f for f in watcher.seen], ensure_ascii=False)
            confirmed = [f["text"] for f in attacker.seen  # the attacker's, as it saw them
                         if f["type"] == "room_msg" and f["user"] == "attacker"]
            confirmed.append("still serving")
        async with running_server(tmp_path) as server:  # every confirmed message survives
            watcher = await logged_in(server.port, "watcher")
            msg_id = watcher.next_id()
            await watcher.send({"type": "cmd", "id": msg_id, "name": "history", "args": "50"})
            page = await watcher.expect("history", id=msg_id)
            assert [e["text"] for e in page["entries"]] == confirmed
    run(body())


def test_before_login_a_hostile_frame_is_answered_too(tmp_path):
    async def body():
        async with running_server(tmp_path) as server:
            client = await RawClient.connect(server.port)
            await client.send(raw({"type": "hello", "version": True})
                              + raw({"type": "hello", "version": 1}))
            error = await client.expect("error")
            assert error["code"] == "bad_message" and "id" not in error
            await client.expect("welcome")
            await client.send(raw({"type": "login", "id": 1, "user": "ann",
                                   "password": "pw" + SURROGATE})
                              + raw({"type": "login", "id": 2, "user": "ann" + SURROGATE,
                                     "password": "pw"})
                              + raw({"type": "login", "id": 3, "user": "ann", "password": "pw"}))
            for msg_id in (1, 2):
                reply = await client.expect_reply(msg_id)
                assert reply["type"] == "error" and reply["code"] == "bad_message"
            assert (await client.expect_reply(3))["type"] == "ok"
    run(body())


def test_the_edge_checks_every_field_of_every_client_message():
    for kind, cls in CLIENT_MESSAGES.items():
        import dataclasses

        for field in dataclasses.fields(cls):
            if "str" in str(field.type):
                bad = {"type": kind, "id": 1, "version": 1, "user": "u", "password": "p",
                       "token": "t", "text": "t", "name": "n", field.name: "x" + SURROGATE}
                with pytest.raises(RemoteProtocolError) as caught:
                    parse_message(bad, CLIENT_MESSAGES)
                assert caught.value.code == "bad_message", (kind, field.name)
            if "int" in str(field.type):
                for value in (True, MAX_INT + 1, -MAX_INT - 1, 1.0):
                    bad = {"type": kind, "id": 1, "version": 1, "user": "u", "password": "p",
                           "token": "t", "text": "t", "name": "n", field.name: value}
                    with pytest.raises(RemoteProtocolError):
                        parse_message(bad, CLIENT_MESSAGES)
