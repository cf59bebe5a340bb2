"""Terminal key decoding: what SSH clients and terminals send, split any way across reads."""

from __future__ import annotations

import curses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gameclient import cursesui
from gameclient.lineedit import LineEditor
from gameclient.termkeys import (
    EDIT_ACTIONS,
    MAX_PASTE,
    PASTE_END,
    PASTE_START,
    Key,
    KeyDecoder,
    Paste,
    Text,
)

# What xterm, VTE, tmux, PuTTY, rxvt and the Linux console send (normal and application
# cursor mode), as OpenSSH passes them through unchanged.
SEQUENCES = {
    "\x1b[A": "up", "\x1b[B": "down", "\x1b[C": "right", "\x1b[D": "left",
    "\x1bOA": "up", "\x1bOB": "down", "\x1bOC": "right", "\x1bOD": "left",
    "\x1b[H": "home", "\x1b[F": "end", "\x1bOH": "home", "\x1bOF": "end",
    "\x1b[1~": "home", "\x1b[4~": "end", "\x1b[7~": "home", "\x1b[8~": "end",
    "\x1b[5~": "page_up", "\x1b[6~": "page_down", "\x1b[3~": "delete", "\x1b[2~": "insert",
    "\x1b[1;5D": "ctrl-left", "\x1b[1;3C": "alt-right", "\x1b[1;2A": "shift-up",
    "\x1b[5;5~": "ctrl-page_up", "\x1b[3;2~": "shift-delete", "\x1b[Z": "back_tab",
    "\x1bOP": "f1", "\x1b[11~": "f1", "\x1b[15~": "f5", "\x1b[24~": "f12",
    "\x1b1": "alt-1", "\x1b9": "alt-9", "\x1bx": "alt-x", "\x1b\x7f": "alt-backspace",
    "\x01": "ctrl-a", "\x03": "ctrl-c", "\x04": "ctrl-d", "\x05": "ctrl-e", "\x0c": "ctrl-l",
    "\x15": "ctrl-u", "\x17": "ctrl-w", "\x1a": "ctrl-z", "\x7f": "backspace",
    "\x08": "ctrl-h", "\t": "tab", "\r": "enter", "\n": "enter", "\r\n": "enter",
    "\x00": "ctrl-space",
}


@pytest.mark.parametrize(("sent", "name"), SEQUENCES.items(), ids=list(SEQUENCES.values()))
def test_each_sequence_is_its_key(sent: str, name: str) -> None:
    assert KeyDecoder().feed(sent.encode()) == [Key(name)]


@pytest.mark.parametrize(("sent", "name"), SEQUENCES.items(), ids=list(SEQUENCES.values()))
def test_each_sequence_split_byte_by_byte(sent: str, name: str) -> None:
    decoder = KeyDecoder()
    events = [e for byte in sent.encode() for e in decoder.feed(bytes([byte]))]
    assert events == [Key(name)]
    assert not decoder.pending


def test_typed_text_comes_as_one_run_between_keys() -> None:
    events = KeyDecoder().feed("héllo wörld 🎉\x1b[Dx\r".encode())
    assert events == [Text("héllo wörld 🎉"), Key("left"), Text("x"), Key("enter")]


def test_utf8_split_across_reads_is_one_character() -> None:
    decoder = KeyDecoder()
    data = "é🎉".encode()
    events = [e for byte in data for e in decoder.feed(bytes([byte]))]
    assert events == [Text("é"), Text("🎉")]


def test_invalid_utf8_becomes_a_replacement_character_not_an_error() -> None:
    assert KeyDecoder().feed(b"a\xffb") == [Text("a\ufffdb")]


def test_a_lone_escape_waits_then_flushes() -> None:
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b") == []
    assert decoder.pending
    assert decoder.flush() == [Key("escape")]
    assert not decoder.pending and decoder.flush() == []
    # but if the rest of a sequence arrives before the wait ends, it is that key
    assert decoder.feed(b"\x1b") == [] and decoder.feed(b"[6~") == [Key("page_down")]


def test_escape_escape_and_escape_before_a_sequence() -> None:
    assert KeyDecoder().feed(b"\x1b\x1b[A") == [Key("escape"), Key("up")]


def test_unknown_and_mouse_sequences_are_dropped_whole() -> None:
    events = KeyDecoder().feed(b"a\x1b[<0;10;5Mb\x1b[?1;2cc\x1b[99~d\x1bOzE")
    assert events == [Text("a"), Text("b"), Text("c"), Text("d"), Text("E")]


def test_an_endless_sequence_is_dropped_not_buffered() -> None:
    decoder = KeyDecoder()
    events = decoder.feed(b"\x1b[" + b"1;" * 5000)
    assert not decoder.pending
    events += decoder.feed(b"1;1Aok")
    assert events == [Text("ok")]


def test_c1_controls_never_reach_the_text() -> None:
    assert KeyDecoder().feed("a\u009b31mb".encode()) == [Text("a31mb")]


def test_bracketed_paste_is_one_event_with_its_line_breaks_and_escapes() -> None:
    pasted = "line one\r\nline two\x1b[A\ttab"
    events = KeyDecoder().feed(f"x{PASTE_START}{pasted}{PASTE_END}y".encode())
    assert events == [Text("x"), Paste(pasted), Text("y")]


@given(st.integers(min_value=1, max_value=40), st.text(max_size=60))
def test_bracketed_paste_split_anywhere(cut: int, pasted: str) -> None:
    pasted = pasted.replace(PASTE_END, "")
    data = f"{PASTE_START}{pasted}{PASTE_END}\x1b[B".encode()
    decoder = KeyDecoder()
    events = []
    for start in range(0, len(data), cut):
        events += decoder.feed(data[start:start + cut])
        if start > len(PASTE_START) and start + cut < len(data) - 3:
            # a pause inside the paste (a slow link) must not end it or lose the marker
            assert not decoder.pending and decoder.flush() == []
    assert events == [Paste(pasted), Key("down")]


def test_a_huge_paste_is_capped_and_still_ends() -> None:
    decoder = KeyDecoder()
    decoder.feed(PASTE_START.encode())
    for _ in range(100):
        decoder.feed(b"z" * 4096)
    events = decoder.feed(PASTE_END.encode() + b"after")
    assert events[0] == Paste("z" * MAX_PASTE) and events[1] == Text("after")


@given(st.lists(st.binary(max_size=12), max_size=30))
def test_any_bytes_decode_the_same_however_they_are_cut(chunks: list[bytes]) -> None:
    whole = KeyDecoder()
    expected = whole.feed(b"".join(chunks)) + whole.flush()
    cut = KeyDecoder()
    got = [e for chunk in chunks for e in cut.feed(chunk)] + cut.flush()
    assert _merge_text(got) == _merge_text(expected)


def _merge_text(events: list) -> list:
    """Runs of text are cut where reads are; what was typed is the same."""
    out: list = []
    for event in events:
        if isinstance(event, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + event.text)
        else:
            out.append(event)
    return out


# ------------------------------------------------------------ same keys as the curses client

def test_curses_keys_are_named_as_the_decoder_names_them() -> None:
    """One vocabulary: what curses reads becomes the events a KeyDecoder gives the SSH door."""
    sequences = {curses.KEY_LEFT: b"\x1b[D", curses.KEY_RIGHT: b"\x1b[C",
                 curses.KEY_UP: b"\x1b[A", curses.KEY_DOWN: b"\x1b[B",
                 curses.KEY_HOME: b"\x1b[H", curses.KEY_END: b"\x1b[F",
                 curses.KEY_DC: b"\x1b[3~", curses.KEY_IC: b"\x1b[2~",
                 curses.KEY_PPAGE: b"\x1b[5~", curses.KEY_NPAGE: b"\x1b[6~",
                 curses.KEY_BTAB: b"\x1b[Z", curses.KEY_F5: b"\x1b[15~"}
    for code, sent in sequences.items():
        assert cursesui.curses_events([code]) == KeyDecoder().feed(sent), code
    for char in [chr(n) for n in range(1, 0x20) if chr(n) != "\x1b"] + ["\x7f"]:
        assert cursesui.curses_events([char]) == KeyDecoder().feed(char.encode()), repr(char)
    assert cursesui.curses_events(["\x1b", "2"]) == KeyDecoder().feed(b"\x1b2")
    assert cursesui.curses_events(["h", "é", "中"]) == KeyDecoder().feed("hé中".encode())
    assert cursesui.curses_events([curses.KEY_BACKSPACE]) == [Key("backspace")]
    assert set(cursesui.CURSES_KEYS.values()) <= _known_names()


def _known_names() -> set[str]:
    names = set(EDIT_ACTIONS) | {"insert", "page_up", "page_down", "enter", "back_tab"}
    return names | {f"f{n}" for n in range(1, 13)}


def test_decoded_keys_drive_the_line_editor() -> None:
    editor = LineEditor()
    for event in KeyDecoder().feed(b"hello wrld\x1b[D\x1b[D\x1b[Do\x01X\x1b[F!\x17"):
        if isinstance(event, Text):
            editor.insert(event.text)
        else:
            getattr(editor, EDIT_ACTIONS[event.name])()
    assert editor.text == "Xhello "
