"""The IRC wire format: the public parser vectors, escaping, limits, the incremental decoder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gameserver.doors import irc_wire
from gameserver.doors.irc_wire import (
    MAX_BODY,
    BadLine,
    LineDecoder,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    fit_lines,
    parse_line,
    split_source,
)
from gameserver.doors.lines import split_text

DATA = Path(__file__).parent / "data"


def _vectors(name: str) -> list[dict]:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["tests"]


SPLIT = _vectors("irc-msg-split.yaml")
JOIN = _vectors("irc-msg-join.yaml")


def test_the_vectors_are_all_there() -> None:
    assert len(SPLIT) >= 35 and len(JOIN) >= 18


@pytest.mark.parametrize("case", SPLIT, ids=[c["input"][:40] for c in SPLIT])
def test_msg_split_vectors(case: dict) -> None:
    atoms = case["atoms"]
    message = parse_line(case["input"])
    assert message.verb == atoms["verb"]
    assert list(message.params) == atoms.get("params", [])
    assert message.source == atoms.get("source")
    assert dict(message.tags) == atoms.get("tags", {})


@pytest.mark.parametrize("case", JOIN, ids=[c["desc"][:40] for c in JOIN])
def test_msg_join_vectors(case: dict) -> None:
    atoms = case["atoms"]
    message = Message(verb=atoms["verb"], params=tuple(atoms.get("params", [])),
                      source=atoms.get("source"), tags=atoms.get("tags", {}))
    assert message.to_line() in case["matches"]
    # and what we write reads back as the same atoms
    assert parse_line(message.to_line()) == message


@pytest.mark.parametrize("case", SPLIT, ids=[c["input"][:40] for c in SPLIT])
def test_every_split_vector_survives_a_round_trip(case: dict) -> None:
    message = parse_line(case["input"])
    assert parse_line(message.to_line()) == message


def test_unknown_escapes_and_a_final_backslash_drop_the_backslash() -> None:
    assert irc_wire.unescape_tag_value("a\\b\\") == "ab"
    assert irc_wire.escape_tag_value("; \\\r\n") == "\\:\\s\\\\\\r\\n"


@pytest.mark.parametrize("line", ["", "   ", ":onlysource", ": PRIVMSG x", "@a=b", "PRIV!MSG x",
                                  "1234 x", "a\0b", "PRIVMSG #x :a\rb", "@bad key=1 PING",
                                  "@=v PING", "-x y"])
def test_garbage_is_a_remote_error_with_a_sentence(line: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        parse_line(line)
    assert err.value.message


@pytest.mark.parametrize("kwargs", [
    {"verb": "PRIV MSG"},
    {"verb": ""},
    {"verb": "PRIVMSG", "params": ("a b", "x")},
    {"verb": "PRIVMSG", "params": ("", "x")},
    {"verb": "PRIVMSG", "params": (":a", "x")},
    {"verb": "PRIVMSG", "params": ("#a", "line\r\nQUIT")},
    {"verb": "PRIVMSG", "params": ("#a", "nul\0")},
    {"verb": "PRIVMSG", "source": "a b"},
    {"verb": "PRIVMSG", "source": ""},
    {"verb": "PRIVMSG", "tags": {"bad key": "1"}},
])
def test_a_message_that_is_not_one_line_cannot_be_built(kwargs: dict) -> None:
    with pytest.raises(LocalProtocolError):
        Message(**kwargs)


def test_a_line_too_long_is_refused_not_cut() -> None:
    text = "a " + "x" * (MAX_BODY - len("PRIVMSG #r :a "))
    fits = Message(verb="PRIVMSG", params=("#r", text))
    assert len(fits.to_bytes()) == irc_wire.MAX_LINE
    assert irc_wire.room_for_trailing(fits) == 0
    longer = Message(verb="PRIVMSG", params=("#r", text + "x"))
    with pytest.raises(LocalProtocolError):
        longer.to_bytes()
    # tags do not count against the 512 bytes of the message itself
    tagged = Message(verb=fits.verb, params=fits.params, tags={"time": "2026-12-01T14:00:00Z"})
    assert tagged.to_bytes().endswith(fits.to_bytes())


def test_command_is_case_insensitive_and_params_have_defaults() -> None:
    message = parse_line("privmsg #lobby :hi there")
    assert message.command == "PRIVMSG"
    assert message.param(1) == "hi there" and message.param(5, "?") == "?"
    assert split_source("alice!al@host") == ("alice", "al", "host")
    assert split_source("irc.example") == ("irc.example", None, None)


# ---------------------------------------------------------------- the decoder


def test_decoder_joins_split_reads_and_splits_joined_ones() -> None:
    decoder = LineDecoder()
    data = b"NICK alice\r\nUSER a 0 * :Alice A\r\nPING :x\nPRIVMSG #r :h\xc3\xa9\rQUIT\r\n"
    items = [item for byte in data for item in decoder.feed(bytes([byte]))]
    assert [m.command for m in items if isinstance(m, Message)] == [
        "NICK", "USER", "PING", "PRIVMSG", "QUIT"]
    assert items[3].params == ("#r", "hé")
    joined = LineDecoder().feed(data)
    assert joined == items


def test_decoder_reads_latin1_when_not_utf8_and_skips_empty_lines() -> None:
    items = LineDecoder().feed(b"\r\n\r\n   \r\nPRIVMSG #r :caf\xe9\r\n")
    assert items == [Message(verb="PRIVMSG", params=("#r", "café"))]


def test_decoder_reports_garbage_and_carries_on() -> None:
    items = LineDecoder().feed(b":x\r\nPING a\r\n")
    assert isinstance(items[0], BadLine) and items[0].reason
    assert items[1] == Message(verb="PING", params=("a",))


def test_an_over_long_line_is_reported_once_and_the_buffer_stays_bounded() -> None:
    decoder = LineDecoder()
    items: list = []
    for _ in range(100):  # 100 KiB without a line end
        items += decoder.feed(b"x" * 1024)
        assert len(decoder._buffer) <= decoder.max_input
    items += decoder.feed(b"yyy\r\nPING :after\r\n")
    assert items == [BadLine("input line was too long", "417"),
                     Message(verb="PING", params=("after",))]


def test_a_body_over_510_bytes_is_417_even_in_one_read() -> None:
    body = b"PRIVMSG #r :" + b"x" * (MAX_BODY - 12)
    assert LineDecoder().feed(body + b"\r\n") == [parse_line(body.decode())]
    items = LineDecoder().feed(body + b"x\r\nPING a\r\n")
    assert isinstance(items[0], BadLine) and items[0].numeric == "417"
    assert items[1].command == "PING"
    tags = b"@" + b"a=" + b"v" * 5000 + b" "
    assert isinstance(LineDecoder().feed(tags + body + b"\r\n")[0], Message)


@given(st.lists(st.binary(max_size=40), max_size=20))
def test_decoder_never_raises_and_ignores_how_reads_are_cut(chunks: list[bytes]) -> None:
    whole = LineDecoder().feed(b"".join(chunks))
    decoder = LineDecoder()
    cut = [item for chunk in chunks for item in decoder.feed(chunk)]
    assert cut == whole
    assert all(isinstance(item, Message | BadLine) for item in cut)


# ---------------------------------------------------------------- fitting text


def test_split_text_breaks_at_spaces_and_loses_nothing() -> None:
    text = " ".join(f"word{n}" for n in range(200))
    pieces = split_text(text, 100)
    assert all(len(p.encode()) <= 100 for p in pieces)
    assert " ".join(pieces) == text
    assert all(not p.startswith(" ") for p in pieces)


def test_split_text_cuts_a_long_word_between_characters_never_inside_one() -> None:
    text = "é" * 300 + "e\u0301" * 50 + "🎉" * 40
    pieces = split_text(text, 51)
    assert "".join(pieces) == text
    for piece in pieces:
        assert len(piece.encode()) <= 51
        assert not piece.startswith("\u0301")


def rebuilds(text: str, pieces: list[str]) -> bool:
    """Whether `pieces` joined, each break dropping at most one space, give back `text`."""
    def rest_from(pos: int, index: int) -> bool:
        if index == len(pieces):
            return text[pos:] in ("", " ")
        piece = pieces[index]
        starts = [pos] if index == 0 else [pos, pos + 1]
        return any(text.startswith(piece, at) and (at == pos or text[pos] == " ")
                   and rest_from(at + len(piece), index + 1) for at in starts)
    return rest_from(0, 0)


@given(st.text(alphabet=st.sampled_from("ab é🎉\u0301 "), max_size=600),
       st.integers(min_value=4, max_value=200))
def test_split_text_loses_nothing_and_respects_the_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert pieces and all(len(p.encode("utf-8")) <= limit for p in pieces)
    assert all(pieces[1:]), "no empty piece after the first"
    assert rebuilds(text, pieces)


@given(st.text(max_size=300), st.integers(min_value=4, max_value=100))
def test_split_text_takes_any_text(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p.encode("utf-8", "replace")) <= limit for p in pieces)
    assert rebuilds(text, pieces)


def test_fit_lines_makes_valid_lines_that_carry_the_whole_text() -> None:
    template = Message(verb="PRIVMSG", params=("#lobby",), source="alice!alice@play.example")
    text = "first line\n" + "lorem ipsum " * 120 + "\nlast"
    lines = fit_lines(template, text)
    assert len(lines) >= 4
    for line in lines:
        assert len(line.to_bytes()) <= irc_wire.MAX_LINE
        assert line.params[0] == "#lobby" and line.source == template.source
    assert lines[0].params[1] == "first line" and lines[-1].params[1] == "last"
    assert rebuilds("lorem ipsum " * 120, [line.params[1] for line in lines[1:-1]])


def test_the_wire_modules_import_only_the_standard_library() -> None:
    import ast
    import sys

    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for name in ("irc_wire", "lines", "classic_wire"):
        path = Path(irc_wire.__file__).with_name(f"{name}.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in allowed or module == "gameserver.doors.lines", \
                    f"{name}.py imports {module}"
