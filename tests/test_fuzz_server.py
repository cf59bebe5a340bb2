"""A live server driven by arbitrary frames (hypothesis, stateful), several users at once.

After every step: the frame was answered (or the connection closed with a reason), no
`internal` anywhere, the other users are still served, and what was confirmed is exactly
what the store holds (nothing confirmed is missing, nothing stored went unconfirmed).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import FAST_SCRYPT_N, ROOMY
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from gameserver.protocol import MAX_INT
from gameserver.server import ChatServer

pytestmark = pytest.mark.timeout(240)
WAIT = 10.0
SENTINEL = MAX_INT  # the id of the valid frame sent after each hostile one


class LiveServer:
    """A real server on 127.0.0.1 port 0, in a thread of its own (the machine is synchronous)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.server = ChatServer("127.0.0.1", 0, data_dir=data_dir, scrypt_n=FAST_SCRYPT_N,
                                 settings=ROOMY, tls=False)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(WAIT)
        self.port = self.server.port

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop("done"), self.loop).result(WAIT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)


class Client:
    """A blocking wire client: send bytes, read frames."""

    def __init__(self, port: int, user: str) -> None:
        self.user = user
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.file = self.sock.makefile("rb")
        self.frames: list[dict[str, Any]] = []  # everything read, in order
        self.closed = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> dict[str, Any] | None:
        line = self.file.readline()
        if not line:
            self.closed = True
            return None
        frame = json.loads(line)
        self.frames.append(frame)
        return frame

    def until(self, check) -> list[dict[str, Any]]:
        """Frames up to and including the first one `check` accepts (or the end)."""
        got = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            frame = self.read()
            if frame is None:
                return got
            got.append(frame)
            if check(frame):
                return got
        raise AssertionError(f"{self.user}: nothing matched within {WAIT}s; got {got[-5:]}")

    def log_in(self) -> None:
        self.send(b'{"type":"hello","version":1}\n')
        self.until(lambda f: f["type"] == "welcome")
        self.send(json.dumps({"type": "login", "id": 1, "user": self.user,
                              "password": "pw"}).encode() + b"\n")
        reply = self.until(lambda f: f.get("id") == 1)[-1]
        assert reply["type"] == "ok", reply
        self.until(lambda f: f["type"] == "room")

    def close(self) -> None:
        self.sock.close()


def valid_id(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_INT


# ---------------------------------------------------------------- what a client may send

text = st.text(max_size=40)
surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
                     max_size=3)
hostile_text = st.one_of(text, surrogates, st.builds(lambda a, b: a + b, text, surrogates),
                         st.sampled_from(["\x1b[2J", "\x00", " ", "²", "9" * 30, "#", "@x"]))
ids = st.one_of(st.integers(0, 1000), st.integers(), st.booleans(), st.none(), text,
                st.floats(allow_nan=True), st.just(MAX_INT + 1), st.just(-1))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(text, inner, max_size=3)),
    max_leaves=8)
COMMANDS = ["who", "users", "list", "help", "history", "msg", "all", "join", "nick", "board",
            "move", "stats", "games", "guess", "resign", "nope", "HISTORY", "Msg"]
FIELDS = ["type", "id", "text", "name", "args", "secret", "user", "password", "token",
          "version", "client"]


@st.composite
def frames(draw) -> bytes:
    kind = draw(st.sampled_from(["say", "cmd", "object", "raw", "deep", "login"]))
    if kind == "say":
        obj: Any = {"type": "say", "id": draw(ids), "text": draw(hostile_text)}
    elif kind == "cmd":
        obj = {"type": "cmd", "id": draw(ids),
               "name": draw(st.one_of(st.sampled_from(COMMANDS), hostile_text)),
               "args": draw(st.one_of(hostile_text, st.builds(
                   lambda n, t: f"{n} {t}", st.sampled_from(["ann0", "bob0", "lobby", "99"]),
                   hostile_text)))}
    elif kind == "login":
        obj = {"type": draw(st.sampled_from(["login", "resume", "account", "hello"])),
               "id": draw(ids), "user": draw(hostile_text), "password": draw(hostile_text),
               "token": draw(hostile_text), "version": draw(ids)}
    elif kind == "object":
        obj = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5))
        if draw(st.booleans()):
            obj["type"] = draw(st.sampled_from(["say", "cmd", "hello", "x", ""]))
    elif kind == "deep":
        depth = draw(st.integers(1, 3000))
        return b'{"type":"say","id":1,"text":' + b"[" * depth + b"]" * depth + b"}\n"
    else:
        data = draw(st.binary(max_size=80)).replace(b"\n", b"")
        return data + b"\n"
    if draw(st.booleans()) and isinstance(obj, dict):
        obj = {k: obj[k] for k in draw(st.permutations(list(obj)))}  # any order of fields
    return json.dumps(obj, allow_nan=True).encode() + b"\n"


# ---------------------------------------------------------------- the machine

_runs = itertools.count()


class InternalErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "internal" in message or "failed past the hub" in message:
            self.lines.append(message)


class ServerUnderFire(RuleBasedStateMachine):
    live: LiveServer
    errors: InternalErrors
    frames_sent = 0

    def __init__(self) -> None:
        super().__init__()
        run = next(_runs)
        self.names = [f"ann{run}", f"bob{run}", f"cat{run}"]
        self.retired: list[Client] = []  # connections closed by the server, with what they saw
        self.clients = {name: self._connect(name) for name in self.names}

    def _connect(self, name: str) -> Client:
        client = Client(self.live.port, name)
        client.log_in()
        return client

    def _seen(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.user, f) for c in [*self.retired, *self.clients.values()] for f in c.frames]

    @rule(who=st.integers(0, 2), frame=frames())
    def send_one(self, who: int, frame: bytes) -> None:
        name = self.names[who]
        client = self.clients[name]
        sentinel = json.dumps({"type": "cmd", "id": SENTINEL, "name": "who"}).encode() + b"\n"
        client.send(frame + sentinel)  # one write: the frame after the hostile one is served
        type(self).frames_sent += 1
        got = client.until(lambda f: (f.get("id") == SENTINEL and f["type"] in ("ok", "error"))
                           or f["type"] == "bye")
        for frame_ in got:
            assert frame_.get("code") != "internal", frame_
        if any(f["type"] == "bye" for f in got) or client.closed:
            bye = [f for f in got if f["type"] == "bye"]
            assert bye and bye[0]["reason"], f"closed without a reason: {got[-3:]}"
            client.close()
            self.retired.append(client)
            self.clients[name] = self._connect(name)  # a new login is still served
            return
        answers = got[:-1]
        decoded = _decode(frame)
        if decoded is _BLANK:
            return
        msg_id = decoded.get("id") if isinstance(decoded, dict) else None
        if valid_id(msg_id) and msg_id != SENTINEL:
            assert any(f.get("id") == msg_id and f["type"] in ("ok", "error", "history")
                       for f in answers), (frame, answers)
        else:
            assert any(f["type"] in ("error", "welcome", "ok", "history") for f in answers), (
                frame, answers)
            for f in answers:  # an id that is not a valid one is never echoed
                if f["type"] == "error" and decoded is not None:
                    assert "id" not in f or f["id"] == SENTINEL, (frame, f)

    @rule(who=st.integers(0, 2))
    def the_others_are_served(self, who: int) -> None:
        client = self.clients[self.names[who]]
        client.send(b'{"type":"cmd","id":77,"name":"users"}\n')
        reply = client.until(lambda f: f.get("id") == 77 or f["type"] == "bye")[-1]
        assert reply["type"] == "ok", reply

    @invariant()
    def no_internal_error_was_logged(self) -> None:
        assert not self.errors.lines, self.errors.lines

    @invariant()
    def confirmations_and_the_store_agree(self) -> None:
        own: list[tuple[str, str, str]] = []  # what each sender was confirmed
        delivered: set[tuple[str, str, str]] = set()  # what anyone received
        for user, frame in self._seen():
            if frame["type"] == "room_msg" and frame["user"] in self.names:
                delivered.add(("ROOM", frame["user"], frame["text"]))
                if frame["user"] == user:  # a sender sees its own message once it is stored
                    own.append(("ROOM", user, frame["text"]))
            elif frame["type"] == "ok" and isinstance((frame.get("data") or {}).get("pm"), dict):
                own.append(("PM", user, frame["data"]["pm"]["text"]))
            elif frame["type"] == "pm" and frame["sender"] in self.names:
                delivered.add(("PM", frame["sender"], frame["text"]))
            elif frame["type"] == "bm" and frame["sender"] in self.names:
                delivered.add(("BM", frame["sender"], frame["text"]))
                if frame["sender"] == user:
                    own.append(("BM", user, frame["text"]))
        db = sqlite3.connect(f"file:{self.live.data_dir / 'play.db'}?mode=ro", uri=True)
        try:
            stored = sorted(db.execute(
                "SELECT type, sender, text FROM messages WHERE type IN ('ROOM', 'PM', 'BM')"
                " AND sender IN (?, ?, ?)", self.names))
        finally:
            db.close()
        assert sorted(own) == stored  # nothing confirmed is missing, nothing stored unconfirmed
        assert delivered <= set(stored)  # nobody got a message that is not stored

    def teardown(self) -> None:
        for client in self.clients.values():
            client.close()


class _Blank:
    pass


_BLANK = _Blank()


def _decode(frame: bytes) -> Any:
    line = frame.rstrip(b"\n").rstrip(b"\r")
    if not line.strip():
        return _BLANK
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # what the server made of it is its own business
        return None


def test_a_live_server_under_arbitrary_frames(tmp_path):
    ServerUnderFire.live = LiveServer(tmp_path)
    ServerUnderFire.errors = InternalErrors()
    ServerUnderFire.frames_sent = 0
    logging.getLogger().addHandler(ServerUnderFire.errors)
    try:
        run_state_machine_as_test(ServerUnderFire, settings=settings(
            max_examples=30, stateful_step_count=25, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]))
        assert ServerUnderFire.frames_sent > 100
    finally:
        logging.getLogger().removeHandler(ServerUnderFire.errors)
        ServerUnderFire.live.stop()
    # and after a restart, everything confirmed is still there
    db = sqlite3.connect(tmp_path / "play.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] >= 0
        ids = [row[0] for row in db.execute("SELECT id FROM messages ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))  # ids from the store: no gaps, no reuse
    finally:
        db.close()
