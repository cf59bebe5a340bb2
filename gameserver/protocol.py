"""The play wire protocol, sans-IO: bytes in, typed messages out, and back (JSON Lines)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

PROTOCOL_VERSION = 1
MAX_FRAME = 64 * 1024  # bytes in one line, newline excluded
MAX_INT = 2**53 - 1  # the largest integer a field may hold (exact in every JSON reader)
MAX_DEPTH = 8  # lists and objects inside a frame, counting the frame itself


class ProtocolError(Exception):
    """Base of protocol errors; `code` is stable, the message is a human sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class LocalProtocolError(ProtocolError):
    """We misused the API (built an invalid message): a bug on our side."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that is not valid protocol."""


# ---------------------------------------------------------------- messages

_CHECKS: dict[str, Any] = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
}


def _sound(value: Any) -> bool:
    """Text that is valid Unicode (encodable: no lone surrogates), or an integer in range."""
    if type(value) is str:
        if value.isascii():
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if type(value) is int:
        return -MAX_INT <= value <= MAX_INT
    return True


def _depth_ok(obj: dict[str, Any], limit: int = MAX_DEPTH) -> bool:
    """Does `obj` nest at most `limit` levels of lists and objects (itself counted)?"""
    level: list[Any] = [obj]
    for _ in range(limit):
        level = [v for item in level for v in (item.values() if type(item) is dict else item)
                 if type(v) in (dict, list)]
        if not level:
            return True
    return False


# A field as checked: its name, its annotation (for the message), the checks of its
# kinds, and whether None is one of them.
_Field = tuple[str, str, tuple[Callable[[Any], bool], ...], bool]
_FIELDS: dict[type, tuple[_Field, ...]] = {}  # per message class, read off it once
_NAMES: dict[type, frozenset[str]] = {}


def _field(name: str, annotation: str) -> _Field:
    kinds = [part.strip() for part in annotation.split("|")]
    bases = [kind.split("[", 1)[0] for kind in kinds]
    return (name, annotation, tuple(_CHECKS[b] for b in bases if b in _CHECKS),
            "None" in kinds)


def _fields(cls: type) -> tuple[_Field, ...]:
    """`cls`'s fields with their checks (dataclasses.fields and the annotations parsed
    once per class, not on every message built: ~15 % of the loop in scenario F)."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(_field(f.name, str(f.type))
                                      for f in dataclasses.fields(cls))
    return fields


def _names(cls: type) -> frozenset[str]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = frozenset(f[0] for f in _fields(cls))
    return names


@dataclass(frozen=True, kw_only=True)
class Message:
    """A protocol message; subclasses set TYPE and declare their fields."""

    TYPE: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for name, annotation, checks, none_ok in _fields(type(self)):
            value = getattr(self, name)
            if value is None:
                sound = none_ok
            else:
                sound = False
                for check in checks:
                    if check(value):
                        sound = True
                        break
            if not sound:
                raise LocalProtocolError(
                    "bad_field", f"{self.TYPE}.{name} must be {annotation}, not {value!r}")

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE}
        for name, _, _, _ in _fields(type(self)):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


# Client -> server.


@dataclass(frozen=True, kw_only=True)
class Hello(Message):
    TYPE: ClassVar[str] = "hello"
    version: int
    client: str = ""


@dataclass(frozen=True, kw_only=True)
class AccountQuery(Message):
    """Does this username exist? (So a client asks a new user for a password twice.)"""

    TYPE: ClassVar[str] = "account"
    id: int
    user: str


@dataclass(frozen=True, kw_only=True)
class Login(Message):
    TYPE: ClassVar[str] = "login"
    id: int
    user: str
    password: str


@dataclass(frozen=True, kw_only=True)
class Resume(Message):
    """Log in again with the session token a previous login returned."""

    TYPE: ClassVar[str] = "resume"
    id: int
    token: str


@dataclass(frozen=True, kw_only=True)
class Say(Message):
    """A plain typed line: chat to the room, or a game move."""

    TYPE: ClassVar[str] = "say"
    id: int
    text: str
    room: str | None = None  # which of your rooms (default: the last one you used or joined)


@dataclass(frozen=True, kw_only=True)
class Command(Message):
    """A slash command: `/name args`; `secret` carries text that must never be echoed."""

    TYPE: ClassVar[str] = "cmd"
    id: int
    name: str
    args: str = ""
    secret: str | None = None
    room: str | None = None  # the room you are looking at (for /nick, /who, /game ...)
    check: bool | None = None  # only say whether it could be done (ok or error); do nothing


@dataclass(frozen=True, kw_only=True)
class Pong(Message):
    """The answer to a ping (any frame also shows the client is there)."""

    TYPE: ClassVar[str] = "pong"


# Server -> client: replies.


@dataclass(frozen=True, kw_only=True)
class Welcome(Message):
    TYPE: ClassVar[str] = "welcome"
    version: int
    server: str
    motd: str = ""


@dataclass(frozen=True, kw_only=True)
class Ok(Message):
    TYPE: ClassVar[str] = "ok"
    id: int | None = None
    text: str | None = None
    lines: list[str] | None = None
    data: dict | None = None


@dataclass(frozen=True, kw_only=True)
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: str
    text: str
    id: int | None = None


# Server -> client: events.


@dataclass(frozen=True, kw_only=True)
class RoomMessage(Message):
    TYPE: ClassVar[str] = "room_msg"
    room: str
    nick: str
    user: str
    text: str
    ts: float


@dataclass(frozen=True, kw_only=True)
class PrivateMessage(Message):
    TYPE: ClassVar[str] = "pm"
    sender: str
    to: str
    text: str
    ts: float
    queued: bool = False  # stored while the receiver was offline
    e2e: str | None = None  # an end-to-end encrypted PM's envelope; `text` then says so


@dataclass(frozen=True, kw_only=True)
class Broadcast(Message):
    TYPE: ClassVar[str] = "bm"
    sender: str
    text: str
    ts: float


@dataclass(frozen=True, kw_only=True)
class Notice(Message):
    """Something the server tells a user; `kind` is info, warn or game."""

    TYPE: ClassVar[str] = "notice"
    text: str
    kind: str = "info"
    room: str | None = None


@dataclass(frozen=True, kw_only=True)
class Roles(Message):
    """Who has a role in `room` (user -> owner, op, admin or host), and its topic."""

    TYPE: ClassVar[str] = "roles"
    room: str
    roles: dict
    topic: str = ""


@dataclass(frozen=True, kw_only=True)
class RoomState(Message):
    """Sent to a user who enters a room: who is there, and their own nick."""

    TYPE: ClassVar[str] = "room"
    room: str
    nick: str
    members: list[dict]
    online: int
    more: bool | None = None  # true: the list goes on in `members` frames (a big room)


@dataclass(frozen=True, kw_only=True)
class MemberPage(Message):
    """More of a big room's member list, after a `room` frame with `more`."""

    TYPE: ClassVar[str] = "members"
    room: str
    members: list[dict]
    last: bool


@dataclass(frozen=True, kw_only=True)
class Joined(Message):
    TYPE: ClassVar[str] = "joined"
    room: str
    nick: str
    user: str
    online: int


@dataclass(frozen=True, kw_only=True)
class Left(Message):
    TYPE: ClassVar[str] = "left"
    room: str
    nick: str
    user: str
    online: int
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Renamed(Message):
    TYPE: ClassVar[str] = "renamed"
    room: str
    old: str
    new: str
    user: str


@dataclass(frozen=True, kw_only=True)
class Presence(Message):
    """Comings and goings in a big room, batched: `changes` in order, each a dict with
    `op` ("joined", "left" or "renamed"), `user`, and `nick` (joined, left), `reason`
    (left, optional), `old` and `new` (renamed)."""

    TYPE: ClassVar[str] = "presence"
    room: str
    changes: list[dict]
    online: int


@dataclass(frozen=True, kw_only=True)
class HistoryPage(Message):
    """A page of history entries; `kind` is history (/history) or scrollback (room join)."""

    TYPE: ClassVar[str] = "history"
    kind: str
    entries: list[dict]
    page: int
    last: bool
    id: int | None = None
    room: str | None = None


@dataclass(frozen=True, kw_only=True)
class GameState(Message):
    TYPE: ClassVar[str] = "game"
    game_id: int
    game: str
    room: str
    players: list[str]
    board: list[str]
    status: str
    turn: str | None = None
    over: bool = False
    text: str | None = None  # one line: what changed and whose turn (screen readers)
    clock: float | None = None  # seconds per move, if the game has a move clock
    time_left: float | None = None  # seconds left for `turn`'s move when this was sent
    away: dict[str, float] | None = None  # disconnected player -> seconds of grace left


@dataclass(frozen=True, kw_only=True)
class GameClosed(Message):
    """A game's board should leave the screen (it ended a while ago, or was cancelled)."""

    TYPE: ClassVar[str] = "game_closed"
    game_id: int
    room: str


@dataclass(frozen=True, kw_only=True)
class GameList(Message):
    """The installed games, right after `welcome`: names, options (with kinds), commands."""

    TYPE: ClassVar[str] = "games"
    games: list[dict]


@dataclass(frozen=True, kw_only=True)
class Bye(Message):
    """The server is closing this connection; `reason` says why.

    With code "shutdown", `restart` is true only when the server will be back (a
    restart): clients then reconnect and resume; otherwise the host left for good.
    """

    TYPE: ClassVar[str] = "bye"
    reason: str
    code: str = "bye"
    restart: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Ping(Message):
    """Are you still there? The client answers `pong`; silence ends the connection."""

    TYPE: ClassVar[str] = "ping"


CLIENT_MESSAGES: dict[str, type[Message]] = {
    m.TYPE: m for m in (Hello, AccountQuery, Login, Resume, Say, Command, Pong)
}
SERVER_MESSAGES: dict[str, type[Message]] = {
    m.TYPE: m
    for m in (
        Welcome, Ok, Error, RoomMessage, PrivateMessage, Broadcast, Notice, RoomState, MemberPage,
        Joined, Left, Renamed, Presence, HistoryPage, GameState, GameClosed, GameList, Bye, Ping,
        Roles,
    )
}


# ---------------------------------------------------------------- encoding


def encode(message: Message | dict[str, Any]) -> bytes:
    """One frame: compact JSON, UTF-8, newline-terminated."""
    obj = message.to_wire() if isinstance(message, Message) else message
    data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    if len(data) - 1 > MAX_FRAME:
        raise LocalProtocolError("frame_too_large", f"frame of {len(data)} bytes is over the limit")
    return data


PAGE_BYTES = 32 * 1024  # a page of a long list: well under the frame limit with its envelope


def paginate(items: list[dict[str, Any]], budget: int = PAGE_BYTES) -> list[list[dict[str, Any]]]:
    """Split list items into pages of at most `budget` encoded bytes (always one page)."""
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for item in items:
        cost = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()) + 1
        if pages[-1] and size + cost > budget:
            pages.append([])
            size = 0
        pages[-1].append(item)
        size += cost
    return pages


def parse_message(obj: Any, table: dict[str, type[Message]]) -> Message:
    """Turn a decoded JSON object into a typed message, or raise RemoteProtocolError."""
    if not isinstance(obj, dict):
        raise RemoteProtocolError("bad_message", "a frame must be a JSON object")
    kind = obj.get("type")
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RemoteProtocolError("unknown_type", f"unknown message type {kind!r}")
    if any(type(v) in (dict, list) for v in obj.values()) and not _depth_ok(obj):
        raise RemoteProtocolError("bad_message", f"a frame nests deeper than {MAX_DEPTH} levels")
    names = _names(cls)
    args = {k: v for k, v in obj.items() if k in names}
    for name, value in args.items():  # every field, once, here at the edge
        if isinstance(value, (dict, list)) and table is CLIENT_MESSAGES:
            raise RemoteProtocolError("bad_message", f"{kind}.{name} must not be a list or object")
        if not _sound(value):
            what = "valid Unicode text" if type(value) is str else f"within ±{MAX_INT}"
            raise RemoteProtocolError("bad_message", f"{kind}.{name} must be {what}")
        if name == "id" and type(value) is int and value < 0:
            raise RemoteProtocolError("bad_message", f"{kind}.id must be 0 or more")
    try:
        return cls(**args)
    except TypeError as exc:  # a missing field
        missing = sorted(n for n in names if n not in obj)
        raise RemoteProtocolError(
            "bad_message", f"{kind} message is missing {', '.join(missing) or 'fields'}"
        ) from exc
    except LocalProtocolError as exc:  # a wrong-typed field, sent by the peer
        raise RemoteProtocolError("bad_message", exc.message) from exc


# ---------------------------------------------------------------- decoding


@dataclass(slots=True)  # one per connection: no instance dict each (40 B less)
class Decoder:
    """Incremental JSON Lines decoder: feed bytes, iterate frames (dicts or errors).

    Split and joined reads are both fine. A line longer than `max_frame` is never
    buffered past the limit: it yields one RemoteProtocolError and the rest of that
    line is discarded as it arrives.
    """

    max_frame: int = MAX_FRAME
    _buffer: bytearray = field(default_factory=bytearray)
    _discarding: bool = False

    def feed(self, data: bytes) -> Iterator[dict[str, Any] | RemoteProtocolError]:
        """Add bytes; yield each complete frame decoded (or the error it caused)."""
        buf = self._buffer
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buf[start:end])
            start = end + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(line) > self.max_frame:
                yield _too_large(self.max_frame)
                continue
            item = decode_line(line)
            if item is not None:
                yield item
        del buf[:start]
        if len(buf) > self.max_frame:
            buf.clear()
            if not self._discarding:
                self._discarding = True
                yield _too_large(self.max_frame)
        elif self._discarding:
            buf.clear()

    @property
    def pending(self) -> int:
        """Bytes held of a line not finished yet."""
        return len(self._buffer)


def _too_large(limit: int) -> RemoteProtocolError:
    return RemoteProtocolError("frame_too_large", f"a frame is longer than {limit} bytes")


def decode_line(line: bytes) -> dict[str, Any] | RemoteProtocolError | None:
    """Decode one line (no newline); blank lines are ignored (None)."""
    line = line.rstrip(b"\r")
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return RemoteProtocolError("bad_utf8", "a frame is not valid UTF-8")
    try:
        obj = json.loads(text)
    except ValueError:  # also an integer of thousands of digits
        return RemoteProtocolError("bad_json", "a frame is not valid JSON")
    except RecursionError:
        return RemoteProtocolError("bad_json", "a frame nests too deeply")
    if not isinstance(obj, dict):
        return RemoteProtocolError("bad_message", "a frame must be a JSON object")
    return obj
