"""The classic door's wire, sans-IO: the class chat-server assignment's plain-text lines."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gameserver.doors.lines import split_text

MAX_OUT_LINE = 1024  # bytes in one line we send, its newline included
MAX_IN_LINE = 8192  # bytes in one line we read; a longer one is refused whole

# Reply codes of the assignment.
OK, MALFORMED, TAKEN = 0, 1, 2

_IAC, _SB, _SE = 0xFF, 0xFA, 0xF0
_WILL_WONT_DO_DONT = range(0xFB, 0xFF)


@dataclass(frozen=True)
class ListRooms:
    """`/list`: answered with the number of rooms, then one name per line."""


@dataclass(frozen=True)
class JoinRoom:
    """`/join ROOM`: answered 0 (joined or created) or 1 (refused, for any reason)."""

    room: str


@dataclass(frozen=True)
class SetNick:
    """`/nick NAME`: answered 0, 1 (malformed) or 2 (taken, reserved, a look-alike)."""

    nick: str


@dataclass(frozen=True)
class Who:
    """`/who`: the room's nicks, one per line."""


@dataclass(frozen=True)
class Logout:
    """`/logout`: the connection closes."""


@dataclass(frozen=True)
class Say:
    """Any other line: said to the room."""

    text: str


@dataclass(frozen=True)
class PlayCommand:
    """A `/command` the assignment does not know (`/msg`, `/game` …): for the core's table."""

    name: str
    args: str


@dataclass(frozen=True)
class Malformed:
    """`/join` or `/nick` without exactly one word after it: answered with `reply` (1)."""

    command: str
    reply: int


@dataclass(frozen=True)
class TooLong:
    """A line longer than MAX_IN_LINE: dropped whole, never cut and half said."""


Request = ListRooms | JoinRoom | SetNick | Who | Logout | Say | PlayCommand | Malformed | TooLong


def parse_request(line: str) -> Request | None:
    """One line as typed (newline removed); None for a blank line, which says nothing."""
    if not line.strip():
        return None
    if not line.startswith("/"):
        return Say(line)
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    words = rest.split()
    if name in ("list", "who", "logout"):  # words after them are ignored, as clients vary
        return ListRooms() if name == "list" else Who() if name == "who" else Logout()
    if name in ("join", "nick"):
        if len(words) != 1:
            return Malformed(name, MALFORMED)
        return JoinRoom(words[0]) if name == "join" else SetNick(words[0])
    if not name:
        return Say(line)  # a lone "/" or "/ text": just words
    return PlayCommand(name, rest.strip())


class ClassicDecoder:
    """Bytes from `nc` or `telnet` in, requests out; reads may split or join lines.

    Lines end at LF (a CR before it is dropped); telnet's IAC negotiation is removed;
    bytes that are not UTF-8 are read as Latin-1. A line over `max_line` bytes becomes
    one TooLong and is skipped to its end, so the buffer stays bounded.
    """

    def __init__(self, max_line: int = MAX_IN_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False
        self._telnet = bytearray()  # an IAC sequence split across reads

    def feed(self, data: bytes) -> list[Request]:
        out: list[Request] = []
        self._buffer += self._strip_telnet(data)
        start = 0
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            raw = bytes(buffer[start:end])
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(raw) > self.max_line:
                out.append(TooLong())
                continue
            request = parse_request(_decode(raw))
            if request is not None:
                out.append(request)
        del buffer[:start]
        if len(buffer) > self.max_line:
            buffer.clear()
            if not self._discarding:
                self._discarding = True
                out.append(TooLong())
        return out

    def _strip_telnet(self, data: bytes) -> bytes:
        if _IAC not in data and not self._telnet:
            return data
        out = bytearray()
        pending = self._telnet + data
        self._telnet = bytearray()
        i = 0
        while i < len(pending):
            byte = pending[i]
            if byte != _IAC:
                out.append(byte)
                i += 1
                continue
            if i + 1 >= len(pending):
                self._telnet = pending[i:]
                break
            command = pending[i + 1]
            if command == _IAC:  # an escaped 0xFF data byte
                out.append(_IAC)
                i += 2
            elif command in _WILL_WONT_DO_DONT:
                if i + 2 >= len(pending):
                    self._telnet = pending[i:]
                    break
                i += 3
            elif command == _SB:
                end = pending.find(bytes([_IAC, _SE]), i + 2)
                if end < 0:
                    self._telnet = pending[i:] if len(pending) - i < 1024 else bytearray()
                    break
                i = end + 2
            else:
                i += 2  # IAC IP, IAC AYT …: nothing to keep
        return bytes(out)


def _decode(raw: bytes) -> str:
    raw = raw.rstrip(b"\r")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text


# ---------------------------------------------------------------- what we send


def _one_line(text: str) -> str:
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def encode_lines(lines: Iterable[str], prefix: str = "") -> bytes:
    """Each line as one or more lines of at most MAX_OUT_LINE bytes, `prefix` on every one."""
    room = MAX_OUT_LINE - 1 - len(prefix.encode("utf-8", "replace"))
    if room < 4:
        raise ValueError(f"a prefix of {len(prefix)} characters leaves no room for text")
    out: list[str] = []
    for line in lines:
        out.extend(prefix + piece + "\n" for piece in split_text(_one_line(line), room))
    return "".join(out).encode("utf-8", "replace")


def encode_reply(code: int) -> bytes:
    return f"{code}\n".encode()


def encode_list(rooms: Iterable[str]) -> bytes:
    names = list(rooms)
    return encode_reply(len(names)) + encode_lines(names)


def encode_who(nicks: Iterable[str]) -> bytes:
    return encode_lines(nicks)


def encode_room_message(nick: str, text: str) -> bytes:
    """`NICK: text`, split into as many lines as it takes, each carrying the nick."""
    return encode_lines([text], prefix=f"{_one_line(nick)}: ")


def guest_name(number: int) -> str:
    return f"guest-{number}"
