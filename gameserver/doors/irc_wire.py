"""The IRC wire format, sans-IO: bytes in, parsed lines out, and messages back to bytes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gameserver.doors.lines import split_text, utf8_len

# Limits as modern IRC practises them (modern.ircdocs.horse, "Message format").
MAX_LINE = 512  # bytes of source, verb and params, CR LF included
MAX_BODY = MAX_LINE - 2  # the same without CR LF
MAX_TAGS = 8191  # bytes of the tags section, "@" and the space after it included
MAX_CLIENT_TAGS = 4094  # what a client may send as tags of its own
MAX_INPUT = MAX_TAGS + MAX_LINE  # the longest line a peer may send us
MAX_PARAMS = 15

ERR_INPUTTOOLONG = "417"

_VERB = re.compile(r"[A-Za-z]+|[0-9]{3}")
_TAG_KEY = re.compile(r"\+?(?:[A-Za-z0-9.\-]+/)?[A-Za-z0-9\-]+")
_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_FORBIDDEN = frozenset("\0\r\n")


class IrcError(Exception):
    """Base of IRC wire errors; `numeric` is the reply a server should send, if any."""

    def __init__(self, message: str, numeric: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.numeric = numeric


class LocalProtocolError(IrcError):
    """We misused the API (a message that cannot be written as one IRC line): our bug."""


class RemoteProtocolError(IrcError):
    """The peer sent a line that is not IRC."""


@dataclass(frozen=True, kw_only=True)
class Message:
    """One IRC line: tags, an optional source, a verb and its parameters.

    Built messages are checked at once: a message that could not be written as a
    single well-formed line (a space inside a middle parameter, a CR/LF/NUL anywhere)
    raises LocalProtocolError here, not when it is sent.
    """

    verb: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.params, tuple):
            object.__setattr__(self, "params", tuple(self.params))
        if not _VERB.fullmatch(self.verb):
            raise LocalProtocolError(f"bad IRC verb {self.verb!r}")
        if self.source is not None and (
            not self.source or " " in self.source or _FORBIDDEN & set(self.source)
        ):
            raise LocalProtocolError(f"bad IRC source {self.source!r}")
        for key, value in self.tags.items():
            if not _TAG_KEY.fullmatch(key):
                raise LocalProtocolError(f"bad IRC tag key {key!r}")
            if not isinstance(value, str) or "\0" in value:
                raise LocalProtocolError(f"bad value for IRC tag {key!r}: {value!r}")
        for n, param in enumerate(self.params):
            if not isinstance(param, str) or _FORBIDDEN & set(param):
                raise LocalProtocolError(f"IRC parameter {n} cannot be sent: {param!r}")
            last = n == len(self.params) - 1
            if not last and (not param or " " in param or param.startswith(":")):
                raise LocalProtocolError(
                    f"only the last IRC parameter may be empty, hold a space or start "
                    f"with ':', not parameter {n}: {param!r}"
                )

    @property
    def command(self) -> str:
        """The verb in upper case: IRC commands are case-insensitive."""
        return self.verb.upper()

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default

    def to_line(self) -> str:
        """The line without CR LF, the last parameter in trailing form only where needed."""
        parts: list[str] = []
        if self.tags:
            parts.append("@" + ";".join(
                key if value == "" else f"{key}={escape_tag_value(value)}"
                for key, value in self.tags.items()
            ))
        if self.source is not None:
            parts.append(":" + self.source)
        parts.append(self.verb)
        if self.params:
            *middle, last = self.params
            parts.extend(middle)
            parts.append(":" + last if needs_trailing(last) else last)
        return " ".join(parts)

    def to_bytes(self) -> bytes:
        """The line as sent (UTF-8, CR LF); refuses one longer than IRC allows, never cuts it."""
        line = self.to_line()
        data = line.encode("utf-8", "replace")
        tags_len = 0
        if self.tags:
            tags_len = len(line.split(" ", 1)[0].encode("utf-8", "replace")) + 1
        if tags_len > MAX_TAGS:
            raise LocalProtocolError(f"IRC tags of {tags_len} bytes exceed {MAX_TAGS}")
        if len(data) - tags_len > MAX_BODY:
            raise LocalProtocolError(
                f"IRC line of {len(data) - tags_len} bytes exceeds {MAX_BODY}: split it first"
            )
        return data + b"\r\n"


def needs_trailing(param: str) -> bool:
    return not param or " " in param or param.startswith(":")


def escape_tag_value(value: str) -> str:
    return "".join(_ESCAPE.get(char, char) for char in value)


def unescape_tag_value(value: str) -> str:
    """Undo tag escaping char by char; an unknown or final escape loses its backslash."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_UNESCAPE.get(following, following))
    return "".join(out)


def parse_tags(text: str) -> dict[str, str]:
    """`a=b;c;d=e\\sf` (without the "@"); a repeated key keeps its last value."""
    tags: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not _TAG_KEY.fullmatch(key):
            raise RemoteProtocolError(f"bad message tag {key!r}")
        tags[key] = unescape_tag_value(value)
    return tags


def parse_line(line: str) -> Message:
    """One line, CR LF already removed. Spaces between parts may be runs (RFC 1459)."""
    if "\0" in line or "\r" in line or "\n" in line:
        raise RemoteProtocolError("a line may not contain NUL, CR or LF")
    rest = line.lstrip(" ")
    tags: dict[str, str] = {}
    source: str | None = None
    if rest.startswith("@"):
        text, _, rest = rest[1:].partition(" ")
        tags = parse_tags(text)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            raise RemoteProtocolError("an empty source after ':'")
        rest = rest.lstrip(" ")
    verb, _, rest = rest.partition(" ")
    if not verb:
        raise RemoteProtocolError("a line without a command")
    if not _VERB.fullmatch(verb):
        raise RemoteProtocolError(f"not an IRC command: {verb!r}")
    params: list[str] = []
    while True:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Message(verb=verb, params=tuple(params), source=source, tags=tags)


def split_source(source: str) -> tuple[str, str | None, str | None]:
    """`nick!user@host` as (nick, user, host); the parts a source lacks are None."""
    rest, _, host = source.partition("@")
    nick, _, user = rest.partition("!")
    return nick, user or None, host or None


@dataclass(frozen=True)
class BadLine:
    """A line the peer sent that we could not read; answer it, then carry on."""

    reason: str
    numeric: str | None = None


class LineDecoder:
    """Bytes from a socket in, one item per line out; reads may split or join lines.

    A line ends at LF (CR LF, and a lone CR too, as clients really send them); empty
    lines are skipped. Bytes that are not UTF-8 are read as Latin-1 (older clients).
    A line longer than `max_input` is reported once as a BadLine (417) and skipped up
    to its end, so the buffer never grows past `max_input`, whatever the peer sends.
    """

    def __init__(self, max_input: int = MAX_INPUT) -> None:
        self.max_input = max_input
        self._buffer = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[Message | BadLine]:
        out: list[Message | BadLine] = []
        self._buffer += data
        buffer = self._buffer
        start = 0
        for match in _LINE_END.finditer(buffer):
            raw = bytes(buffer[start:match.start()])
            start = match.end()
            if self._discarding:
                self._discarding = False
                continue
            self._take(raw, out)
        del buffer[:start]
        if len(buffer) > self.max_input:
            buffer.clear()
            if not self._discarding:
                self._discarding = True
                out.append(BadLine("input line was too long", ERR_INPUTTOOLONG))
        return out

    def _take(self, raw: bytes, out: list[Message | BadLine]) -> None:
        if not raw.strip(b" "):
            return
        body = raw.lstrip(b" ")
        tags_len = body.find(b" ") + 1 if body.startswith(b"@") else 0
        if tags_len > MAX_TAGS or len(body) - tags_len > MAX_BODY or len(raw) > self.max_input:
            out.append(BadLine("input line was too long", ERR_INPUTTOOLONG))
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        try:
            out.append(parse_line(text))
        except RemoteProtocolError as exc:
            out.append(BadLine(exc.message, exc.numeric))


_LINE_END = re.compile(rb"\r\n?|\n")


# ---------------------------------------------------------------- fitting text into lines


def room_for_trailing(message: Message) -> int:
    """Bytes of text the last parameter of `message` could still take (tags not counted)."""
    parts = [":" + message.source] if message.source is not None else []
    parts += [message.verb, *message.params[:-1]]
    head = " ".join(parts) + " :"
    last = message.params[-1] if message.params else ""
    return MAX_BODY - utf8_len(head) - utf8_len(last)


def fit_lines(message: Message, text: str) -> list[Message]:
    """`message` once per piece of `text`, each piece as its last parameter, each a valid line.

    Line breaks in `text` start a new line too (IRC has none inside a message).
    """
    base = Message(verb=message.verb, params=(*message.params, ""), source=message.source,
                   tags=message.tags)
    room = room_for_trailing(base)
    out: list[Message] = []
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        try:
            pieces = split_text(paragraph.replace("\0", ""), room)
        except ValueError as exc:
            raise LocalProtocolError(str(exc)) from None
        for piece in pieces:
            out.append(Message(verb=message.verb, params=(*message.params, piece),
                               source=message.source, tags=message.tags))
    return out


def messages_to_bytes(messages: Iterable[Message]) -> bytes:
    return b"".join(message.to_bytes() for message in messages)
