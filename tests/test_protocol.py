"""The sans-IO protocol: round trips, split and joined reads, oversize frames, bad frames."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameserver.protocol import (
    CLIENT_MESSAGES,
    MAX_FRAME,
    SERVER_MESSAGES,
    Command,
    Decoder,
    GameState,
    LocalProtocolError,
    Ok,
    RemoteProtocolError,
    RoomMessage,
    Say,
    encode,
    parse_message,
)

SAMPLES = [
    (Say(id=1, text="hello é 中 😀"), CLIENT_MESSAGES),
    (Command(id=2, name="msg", args="bob hi"), CLIENT_MESSAGES),
    (Command(id=3, name="game", args="hangman --secret", secret="apple"), CLIENT_MESSAGES),
    (Ok(id=4, text="done", lines=["a", "b"], data={"x": 1}), SERVER_MESSAGES),
    (RoomMessage(room="lobby", nick="al", user="alice", text="hi", ts=1.5), SERVER_MESSAGES),
    (GameState(game_id=1, game="tictactoe", room="lobby", players=["a", "b"], turn=None,
               board=["x"], status="draw", over=True), SERVER_MESSAGES),
]


@pytest.mark.parametrize(("message", "table"), SAMPLES)
def test_round_trip(message, table):
    frame = encode(message)
    assert frame.endswith(b"\n") and frame.count(b"\n") == 1
    [obj] = list(Decoder().feed(frame))
    assert parse_message(obj, table) == message


def test_split_and_joined_reads():
    frames = b"".join(encode(Say(id=i, text=f"m{i} é")) for i in range(50))
    decoder = Decoder()
    got = []
    for i in range(0, len(frames), 7):  # split mid-frame and mid-character
        got.extend(decoder.feed(frames[i:i + 7]))
    assert [o["id"] for o in got] == list(range(50))
    assert decoder.pending == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=20), st.lists(st.integers(1, 50), min_size=1))
def test_any_chunking_gives_the_same_frames(texts, cuts):
    data = b"".join(encode(Say(id=i, text=t)) for i, t in enumerate(texts))
    decoder, got, pos, k = Decoder(), [], 0, 0
    while pos < len(data):
        step = cuts[k % len(cuts)]
        got.extend(decoder.feed(data[pos:pos + step]))
        pos, k = pos + step, k + 1
    assert [o["text"] for o in got] == texts


def test_oversize_frame_is_refused_without_buffering_and_decoder_recovers():
    decoder = Decoder()
    errors = list(decoder.feed(b"x" * (MAX_FRAME + 10)))
    assert len(errors) == 1 and isinstance(errors[0], RemoteProtocolError)
    assert errors[0].code == "frame_too_large"
    assert decoder.pending == 0
    assert list(decoder.feed(b"y" * 1000)) == []  # still the same over-long line: dropped
    assert decoder.pending == 0
    [obj] = list(decoder.feed(b"tail\n" + encode(Say(id=9, text="ok"))))
    assert obj["id"] == 9


def test_frame_of_exactly_the_limit_is_accepted():
    text = "a" * (MAX_FRAME - len(json.dumps({"type": "say", "id": 1, "text": ""})))
    line = json.dumps({"type": "say", "id": 1, "text": text}).encode()
    assert len(line) == MAX_FRAME
    [obj] = list(Decoder().feed(line + b"\n"))
    assert obj["text"] == text


@pytest.mark.parametrize(("raw", "code"), [
    (b"not json\n", "bad_json"),
    (b"\xff\xfe{}\n", "bad_utf8"),
    (b"[1, 2]\n", "bad_message"),
    (b'"text"\n', "bad_message"),
])
def test_garbage_lines_become_errors(raw, code):
    [err] = list(Decoder().feed(raw))
    assert isinstance(err, RemoteProtocolError) and err.code == code


@pytest.mark.parametrize(("obj", "code"), [
    ({"type": "nope"}, "unknown_type"),
    ({"text": "x"}, "unknown_type"),
    ({"type": "say", "text": "x"}, "bad_message"),
    ({"type": "say", "id": "1", "text": "x"}, "bad_message"),
    ({"type": "say", "id": True, "text": "x"}, "bad_message"),
    ({"type": "cmd", "id": 1, "name": 5}, "bad_message"),
])
def test_bad_messages(obj, code):
    with pytest.raises(RemoteProtocolError) as info:
        parse_message(obj, CLIENT_MESSAGES)
    assert info.value.code == code


def test_local_misuse_is_a_local_error():
    with pytest.raises(LocalProtocolError):
        Say(id="x", text="hi")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode(Say(id=1, text="x" * (MAX_FRAME + 1)))


def test_blank_lines_are_ignored():
    assert list(Decoder().feed(b"\n\r\n  \n")) == []
