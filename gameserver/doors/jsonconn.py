"""One JSON Lines connection: frames in through a flood gate, typed messages to the hub."""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from gameserver.core import turns
from gameserver.doors.deadlines import DROP, EVERY_TICK, NEVER, PING, keepalive
from gameserver.durations import say_duration
from gameserver.protocol import (
    CLIENT_MESSAGES,
    MAX_FRAME,
    MAX_INT,
    Decoder,
    Error,
    Ping,
    ProtocolError,
    RemoteProtocolError,
    decode_line,
    parse_message,
)
from gameserver.settings import Settings
from gameserver.store import storable
from gameserver.throttle import FloodGate, Verdict, address_key

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.core.rooms import Session
    from gameserver.doors.jsonlines import JSONLinesDoor

log = logging.getLogger("play.server")

OUTPUT_LIMIT = 1024 * 1024  # bytes queued for one client before it counts as not reading
CLOSE_GRACE = 10.0  # seconds a closing connection may take to take its last frames
# Sockets are file descriptors here; os.write on one is a plain send (SIGPIPE is ignored).
DIRECT_WRITES = sys.platform != "win32"
# A benchmark-only ablation (load.py --server-set FLOOD_GATE=False shows what the flood
# gate costs per read); a server always gates what its clients send.
FLOOD_GATE = True

# What json.loads runs, minus its Python layers (for a frame with no padding).
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_write = os.write
_clock = time.perf_counter  # precise even where the loop's clock is per pass (uvloop: ms)


class Outbox(list[bytes]):
    """A connection's output list; its `append` is the session's sink, `conn` says whose."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn


class Connection(asyncio.Protocol):
    """One client socket: decode what arrives, buffer what leaves, flush once per loop pass.

    This session's sink is the output list's own `append` (a C call, no Python frame
    per delivery); the door writes every non-empty list once per pass.
    """

    __slots__ = ("door", "decoder", "transport", "session", "out", "closing", "slow", "fd",
                 "_abort", "label", "refusal", "gate", "held", "_release", "born", "heard",
                 "quiet_since", "pinged", "counted", "tls_write", "hub", "waits_in")

    hub: Hub  # the door's, from connection_made on

    def __init__(self, door: JSONLinesDoor, label: str = "", refusal: str | None = None) -> None:
        self.door = door
        self.decoder = Decoder(max_frame=door.settings.prelogin_frame)
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.out: list[bytes] = Outbox(self)
        self.closing = False
        self.slow = False  # over OUTPUT_LIMIT: being disconnected
        self.fd = -1  # the socket, for writes made directly while the transport is idle
        self.tls_write: Callable[[bytes], bool] | None = None  # the same, through TLS
        self._abort: asyncio.TimerHandle | None = None
        self.label = label
        self.refusal = refusal  # said, then closed, as soon as the connection is made
        now = _clock()
        # This connection's own gate until it logs in; then its account's (see sweep).
        self.gate: FloodGate | None = FloodGate(door.settings, now)
        self.held: collections.deque[tuple[float, dict[str, Any] | ProtocolError]] | None = None
        self._release: asyncio.TimerHandle | None = None
        self.born = self.quiet_since = now
        self.heard = 0.0  # when something last arrived, if since the last sweep (else 0)
        self.pinged = 0.0  # when its ping was sent, if since the last read (else 0)
        self.waits_in: Any = None  # the bucket of its next deadline (deadlines.py)
        self.counted = True  # in the listener's per-address count

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if DIRECT_WRITES and transport.get_extra_info("ssl_object") is None:
                self.fd = sock.fileno()  # (through TLS, every write goes via the transport)
        # The listener's TLS layer writes a record straight to the socket when it can.
        self.tls_write = getattr(transport, "write_now", None) or getattr(
            getattr(transport, "_ssl_protocol", None), "write_now", None)
        if not self.label:
            peer = transport.get_extra_info("peername")
            self.label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        door = self.door
        self.hub = hub = door.hub  # at hand for every frame
        self.session = hub.connect(door, self.out.append, self.close, self.label)
        door.connections.add(self)
        door.deadlines.place(self, EVERY_TICK)  # hello and login deadlines: every tick
        door.inputs += 1
        if self.refusal is not None:
            log.info("%s: refused: %s", self.label, self.refusal)
            door.hub.kick(self.session, self.refusal, "refused")
            door.wake()

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        door = self.door
        decoder = self.decoder
        if session.user is None:
            if not session.greeted and data[:1] == b"\x16" and not decoder.pending:
                log.info("%s: a TLS client on a plain (--no-tls) server; closed", self.label)
                if self.transport is not None:
                    self.transport.abort()
                return
        elif decoder.max_frame != MAX_FRAME:  # the first read after logging in
            decoder.max_frame = MAX_FRAME
            # The handshake is not a paste; from now on the account's own gate counts, the
            # one its earlier sessions used: reconnecting does not bring a fresh burst.
            self.gate = door.hub.flood_gates.take(session.user, _clock())
        items = self._frames(data)
        door.inputs += len(items)
        self._take(items)
        door.wake()

    def _take(self, items: list[dict[str, Any] | ProtocolError]) -> None:
        """Each frame through the flood gate: handled now, later, refused, or the end."""
        session = self.session
        assert session is not None
        hub = self.hub
        gate = self.gate
        assert gate is not None  # data_received takes the account's after login
        admit = gate.admit
        self.heard = now = _clock()  # (the sweep's: quiet since then)
        # all of them, unless it is a flood
        passing = gate.admit_many(now, len(items)) if FLOOD_GATE else len(items)
        handle = self._handle
        say = hub.say
        for item in items if passing == len(items) else items[:passing]:
            if session.closed:
                return
            # The hot path, _handle's say inlined: a frame of exactly type, id and text,
            # checked as parse_message would; anything else goes the whole way.
            if type(item) is dict and len(item) == 3 and item.get("type") == "say":
                msg_id, text = item.get("id"), item.get("text")
                if type(msg_id) is int and 0 <= msg_id <= MAX_INT and type(text) is str and (
                        text.isascii() or storable(text)):
                    try:
                        say(session, msg_id, text)  # receive(Say(...)) minus the Say
                    except Exception as exc:  # as in _handle: the frames after it still count
                        self._failed_past_hub(exc)
                    continue
            handle(item)
        for item in items[passing:] if passing < len(items) else ():
            if session.closed:
                break
            verdict, when = admit(now)
            if verdict is Verdict.PASS:
                self._handle(item)
            elif verdict is Verdict.DELAY:
                if self.held is None:
                    self.held = collections.deque()
                self.held.append((when, item))
                if self._release is None:
                    self._release = asyncio.get_running_loop().call_later(
                        max(0.0, when - now), self._release_held)
            elif verdict is Verdict.REFUSE:
                msg_id = item.get("id") if isinstance(item, dict) else None
                refusal = Error(
                    code="slow_down", id=msg_id if type(msg_id) is int else None,
                    text=f"slow down: you are sending more than {gate.describe()}; "
                         "that line was not sent")
                turns.in_turn(hub, session, functools.partial(hub.send, session, refusal))
            else:
                log.info("%s: flooding, disconnected", self.label)
                hub.kick(session, "disconnected for flooding: you kept sending far more "
                                f"than {gate.describe()}", "flood", "flooding")
                break

    def _handle(self, item: dict[str, Any] | ProtocolError) -> None:
        """One frame as a typed message for the hub (or the reason it is not one)."""
        session = self.session
        assert session is not None
        hub = self.hub
        try:
            if type(item) is not dict:
                hub.bad_frame(session, cast(RemoteProtocolError, item))
                return
            msg_id = item.get("id")
            if type(msg_id) is not int or not 0 <= msg_id <= MAX_INT:
                msg_id = None  # a wrong-typed id is echoed as none
            if msg_id is not None and item.get("type") == "say":
                text = item.get("text")  # the hot path: checked as parse_message would
                fields = len(item)  # type, id, text (and room): nothing else
                room = item.get("room") if fields == 4 else None
                if type(text) is str and (fields == 3 or fields == 4 and type(room) is str) and (
                        text.isascii() or storable(text)) and (room is None or room.isascii()):
                    hub.say(session, msg_id, text, room)  # receive(Say(...)) minus the Say
                    return
            try:
                message = parse_message(item, CLIENT_MESSAGES)
            except RemoteProtocolError as exc:
                hub.bad_frame(session, exc, msg_id)
                return
            hub.receive(session, message)
        except Exception as exc:  # never lose the frames after this one to a bug of ours
            self._failed_past_hub(exc)

    def _failed_past_hub(self, exc: Exception) -> None:
        log.error("frame from %s failed past the hub: %r",
                  self.session.peer if self.session is not None else self.label, exc)

    def _release_held(self) -> None:
        """Handle the delayed frames whose time has come, in order."""
        self._release = None
        held, session = self.held, self.session
        if not held or session is None:
            return
        now = _clock()
        while held and held[0][0] <= now:
            _, item = held.popleft()
            if self.gate is not None:
                self.gate.released()
            if session.closed:
                held.clear()
                return
            self._handle(item)
        if held:
            self._release = asyncio.get_running_loop().call_later(
                held[0][0] - now, self._release_held)
        self.door.wake()

    def sweep(self, now: float, settings: Settings) -> float:
        """Deadlines: hello and login in time; a quiet logged-in client is pinged, then dropped.

        Returns when this connection is next due (deadlines.py): EVERY_TICK before login
        (and after a kick, until it is gone), else its ping's or its ping timeout's time.
        Quiet is counted from the last read (`heard`, stamped as frames come in), the
        timeout from the ping's sending (deadlines.keepalive).
        """
        session = self.session
        if session is None or session.closed:
            return NEVER
        heard = self.heard
        if heard:
            self.heard = 0.0
            if heard > self.quiet_since:
                self.quiet_since = heard
            self.pinged = 0.0
        hub = self.hub
        if session.user is None:
            if not session.greeted and now - self.born > settings.hello_timeout:
                hub.kick(session, "you did not say hello within"
                                  f" {_said(settings.hello_timeout)}", "timeout")
            elif now - self.born > settings.login_timeout and not session.busy:
                hub.kick(session, f"you did not log in within {_said(settings.login_timeout)}",
                         "timeout")
            return EVERY_TICK
        if self.decoder.max_frame != MAX_FRAME and not self.held:
            # Logged in and not heard from since: the pre-login gate is done with (the first
            # read takes the account's), so an idle session does not keep one of its own.
            self.gate = None
        act, when = keepalive(now, self.quiet_since, self.pinged, settings.ping_after,
                              settings.ping_timeout)
        if act == PING:
            self.pinged = now
            hub.send(session, Ping())
        elif act == DROP:
            log.info("%s: no answer to a ping, disconnected", self.label)
            hub.kick(session, f"no answer to a ping for {_said(settings.ping_timeout)}",
                     "timeout", "lost")
        return when

    def _frames(self, data: bytes) -> list[dict[str, Any] | ProtocolError]:
        """Whole lines go straight to json.loads; anything unusual goes through the Decoder."""
        decoder = self.decoder
        end = data.rfind(b"\n")
        if decoder.pending or end < 0:
            return list(decoder.feed(data))
        lines = data[:end].split(b"\n")
        limit = decoder.max_frame
        if end > limit and any(len(line) > limit for line in lines):
            return list(decoder.feed(data))
        items: list[dict[str, Any] | ProtocolError] = []
        for line in lines:
            try:  # json.loads minus its Python layers; anything odd is redone below
                text = line.decode()
                obj, stop = _scan_json(text, 0)
                if stop != len(text):
                    obj = None
            except (ValueError, StopIteration, RecursionError):  # decode_line words the error
                obj = None
            if type(obj) is not dict:
                obj = decode_line(line)  # None for a blank line
                if obj is None:
                    continue
            items.append(obj)
        if end + 1 < len(data):
            items.extend(decoder.feed(data[end + 1:]))
        return items

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        door = self.door
        door.connections.discard(self)
        door.deadlines.forget(self)
        door.inputs += 1
        self.fd = -1  # the number may soon belong to another socket
        self.out.clear()
        if self._abort is not None:
            self._abort.cancel()
        if self._release is not None:
            self._release.cancel()
        self.held = None
        self.release()
        if self.session is not None and not self.session.closed:
            log.info("%s: %s", self.session.peer, f"lost: {exc}" if exc else "closed")
            door.hub.disconnected(self.session, "connection lost")
            door.wake()

    def release(self) -> None:
        """Out of the per-address count (once)."""
        if self.counted:
            self.counted = False
            if self.door.listener is not None:
                self.door.listener.release(address_key(self.label))

    # the hub's side

    def flush(self) -> None:
        """Write what is queued now (the door's flush_all does this for every connection)."""
        out = self.out
        transport = self.transport
        if out and transport is not None and not self.closing and not transport.is_closing():
            data = b"".join(out)
            out.clear()
            fd = self.fd
            if fd >= 0 and not transport.get_write_buffer_size():
                try:
                    sent = _write(fd, data)
                except OSError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
            elif self.tls_write is not None and self.tls_write(data):
                return
            self.write_rest(data)
        out.clear()

    def write_rest(self, data: bytes) -> None:
        """What the socket did not take at once waits in the transport, up to OUTPUT_LIMIT."""
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if transport.get_write_buffer_size() > OUTPUT_LIMIT and self.session is not None:
            self.too_slow()

    def too_slow(self) -> None:
        """The client stopped reading: say why, drop it; its queued output is bounded."""
        assert self.session is not None
        if self.slow:
            return  # the kick waits behind deliveries the hub is committing
        self.slow = True
        log.info("%s: not reading, disconnected", self.session.peer)
        self.door.hub.kick(
            self.session,
            f"disconnected: you stopped reading and over {OUTPUT_LIMIT // 1024} KiB waited",
            "slow_reader",
            "not reading",
        )
        self.door.wake()

    def close(self, reason: str) -> None:
        """Send what is queued (the goodbye), then close; abort if it cannot leave in time."""
        if self.closing:
            return
        if self.out:
            self.flush()
        self.closing = True
        transport = self.transport
        if transport is not None:
            transport.close()
            self._abort = asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)


def _said(seconds: float) -> str:
    """A configured timeout in words, as every duration is said (0.5 seconds, 1 minute)."""
    return say_duration(seconds, tenths=True)
