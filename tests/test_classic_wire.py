"""The classic door's wire without sockets: requests from lines, replies as lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_irc_wire import rebuilds

from gameserver.doors.classic_wire import (
    MALFORMED,
    MAX_OUT_LINE,
    ClassicDecoder,
    JoinRoom,
    ListRooms,
    Logout,
    Malformed,
    PlayCommand,
    Say,
    SetNick,
    TooLong,
    Who,
    encode_list,
    encode_reply,
    encode_room_message,
    encode_who,
    guest_name,
    parse_request,
)


@pytest.mark.parametrize(("line", "wanted"), [
    ("/list", ListRooms()),
    ("/LIST", ListRooms()),
    ("/list please", ListRooms()),
    ("/who", Who()),
    ("/logout", Logout()),
    ("/join games", JoinRoom("games")),
    ("/join   games  ", JoinRoom("games")),
    ("/join", Malformed("join", MALFORMED)),
    ("/join a b", Malformed("join", MALFORMED)),
    ("/nick bob", SetNick("bob")),
    ("/nick", Malformed("nick", MALFORMED)),
    ("/nick bo b", Malformed("nick", MALFORMED)),
    ("hello there", Say("hello there")),
    ("  leading spaces kept", Say("  leading spaces kept")),
    ("b2", Say("b2")),
    ("/", Say("/")),
    ("/ spaced", Say("/ spaced")),
    ("/msg bob hi there", PlayCommand("msg", "bob hi there")),
    ("/game tictactoe", PlayCommand("game", "tictactoe")),
])
def test_lines_become_requests(line: str, wanted: object) -> None:
    assert parse_request(line) == wanted


def test_blank_lines_say_nothing() -> None:
    assert parse_request("") is None and parse_request("   ") is None


def test_decoder_handles_split_and_joined_reads_and_crlf() -> None:
    data = "/nick bob\r\nhi 🎉\n/join games\n\n/who\r\n".encode()
    expected = [SetNick("bob"), Say("hi 🎉"), JoinRoom("games"), Who()]
    assert ClassicDecoder().feed(data) == expected
    decoder = ClassicDecoder()
    assert [r for b in data for r in decoder.feed(bytes([b]))] == expected


def test_decoder_reads_latin1_when_not_utf8() -> None:
    assert ClassicDecoder().feed(b"caf\xe9\n") == [Say("café")]


def test_telnet_negotiation_is_removed_even_split() -> None:
    data = b"\xff\xfd\x18\xff\xfb\x1fhel\xff\xfa\x18\x01\xff\xf0lo\xff\xff\n\xff\xf4/who\n"
    expected = [Say("hello\xff"), Who()]
    assert ClassicDecoder().feed(data) == expected
    decoder = ClassicDecoder()
    assert [r for b in data for r in decoder.feed(bytes([b]))] == expected


def test_an_over_long_line_is_refused_whole_and_the_buffer_stays_bounded() -> None:
    decoder = ClassicDecoder()
    out = []
    for _ in range(64):
        out += decoder.feed(b"x" * 1024)
        assert len(decoder._buffer) <= decoder.max_line
    out += decoder.feed(b"tail\n/who\n")
    assert out == [TooLong(), Who()]
    assert ClassicDecoder().feed(b"y" * 9000 + b"\nok\n") == [TooLong(), Say("ok")]


@given(st.lists(st.binary(max_size=30), max_size=20))
def test_decoder_ignores_how_reads_are_cut(chunks: list[bytes]) -> None:
    whole = ClassicDecoder().feed(b"".join(chunks))
    decoder = ClassicDecoder()
    assert [r for c in chunks for r in decoder.feed(c)] == whole


def test_replies_are_the_assignments() -> None:
    assert encode_reply(0) == b"0\n" and encode_reply(2) == b"2\n"
    assert encode_list(["lobby", "games"]) == b"2\nlobby\ngames\n"
    assert encode_list([]) == b"0\n"
    assert encode_who(["alice", "guest-3"]) == b"alice\nguest-3\n"
    assert encode_room_message("bob", "hi") == b"bob: hi\n"
    assert guest_name(7) == "guest-7"


def test_a_long_message_is_split_into_lines_of_at_most_1024_bytes_each_with_the_nick() -> None:
    text = " ".join(f"wörd{n}" for n in range(600))
    data = encode_room_message("bob", text)
    lines = data.decode().split("\n")[:-1]
    assert len(lines) > 3
    assert all(len(line.encode()) + 1 <= MAX_OUT_LINE for line in lines)
    assert all(line.startswith("bob: ") for line in lines)
    assert rebuilds(text, [line[5:] for line in lines])


def test_no_line_break_inside_a_message_reaches_the_client() -> None:
    assert encode_room_message("bob", "one\r\ntwo\nthree") == b"bob: one two three\n"


@given(st.text(max_size=2000), st.text(min_size=1, max_size=20))
def test_room_messages_never_exceed_the_line_limit(text: str, nick: str) -> None:
    nick = nick.replace("\n", "").replace("\r", "") or "n"
    for line in encode_room_message(nick, text).split(b"\n")[:-1]:
        assert len(line) + 1 <= MAX_OUT_LINE
