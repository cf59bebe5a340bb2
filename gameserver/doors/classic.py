"""The classic door: the class assignment's plain-text chat, for `nc` and students' clients."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from gameserver.core import logins, turns
from gameserver.core.events import Event, RoomView, trusted
from gameserver.core.rooms import Session
from gameserver.doors import classic_wire as wire
from gameserver.doors.flushing import FlushingDoor
from gameserver.doors.gating import GatedInput
from gameserver.doors.jsonlines import ServerError, bind_error_message
from gameserver.listener import Listener
from gameserver.protocol import (
    PROTOCOL_VERSION,
    Broadcast,
    Bye,
    Command,
    Error,
    GameState,
    Hello,
    Notice,
    Ok,
    RoomMessage,
    Say,
)
from gameserver.throttle import address_key

if TYPE_CHECKING:
    from gameserver.runtime import Runtime

log = logging.getLogger("play.classic")

OUTPUT_LIMIT = 256 * 1024
DIRECT_WRITES = sys.platform != "win32"  # a socket is a file descriptor there
CLOSE_GRACE = 5.0
NOT_NICK = ("nick_taken", "reserved", "lookalike", "same_nick")  # /nick answers 2 for these


class ClassicConnection(asyncio.Protocol):
    """One `nc` or student client; the core's sink for its session is this object."""

    def __init__(self, door: ClassicDoor, label: str = "", refusal: str | None = None) -> None:
        self.door = door
        self.label = label  # "ip:port", as the listener labels every door's peers
        self.refusal = refusal  # the listener's: too many connections from this address
        self.fd = -1  # the socket, for direct writes (see FlushingDoor.flush_all)
        self.tls_write: Callable[[bytes], bool] | None = None  # plain TCP only
        self.decoder = wire.ClassicDecoder()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.out: list[bytes] = []
        self.pending: dict[int, str] = {}  # message id -> what it was (join, nick, list ...)
        self.next_id = 1
        self.ready = False  # the guest login went through
        self.room: str | None = None  # the one room of the assignment's model
        self.early: list[Any] = []  # lines typed before the login finished
        self.closing = False
        self.address: str | None = None  # whom the per-address cap counts this as
        self._abort: asyncio.TimerHandle | None = None
        self.gated: GatedInput | None = None  # the guest's requests to the core

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
            if DIRECT_WRITES:
                self.fd = sock.fileno()
        label = self.label
        if not label:
            peer = transport.get_extra_info("peername")
            label = self.label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        door = self.door
        self.address = address_key(label)  # counted by the listener until connection_lost
        door.inputs += 1
        if self.refusal is not None:
            self.transport.write(wire.encode_lines([self.refusal]))
            self.closing = True
            self.transport.write_eof()  # the sentence, then FIN: what the client sent
            self._abort = asyncio.get_running_loop().call_later(1.0, self.transport.close)
            return
        door.connections.add(self)
        self.session = door.hub.connect(door, self, self.close, label)
        hub = door.hub
        self.gated = GatedInput(hub, self.session, label, door.wake)
        hub.receive(self.session, Hello(version=PROTOCOL_VERSION, client="classic"))
        logins.login_guest(hub, self.session, self._logged_in)
        door.wake()

    def _logged_in(self, ok: bool, reason: str) -> None:
        if not ok:
            self.write(wire.encode_lines([reason]))
            self.close(reason)
            return
        self.ready = True
        early, self.early = self.early, []
        for request in early:
            self.request(request)

    def data_received(self, data: bytes) -> None:
        if self.session is None:
            return  # refused at the door
        requests = self.decoder.feed(data)
        self.door.inputs += len(requests)
        for request in requests:
            if self.closing:
                break
            if not self.ready:
                self.early.append(request)
                continue
            try:
                self.request(request)
            except Exception as exc:  # a bug of ours must not lose the lines after this one
                log.error("line from %s failed: %r", self.session and self.session.peer, exc)
        self.door.wake()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is not None:  # out of the listener's per-address count, once
            self.door.release(self.address)
            self.address = None
        self.fd = -1
        self.door.connections.discard(self)
        if self._abort is not None:
            self._abort.cancel()
        if self.gated is not None:
            self.gated.close()
        self.out.clear()
        if self.session is not None and not self.session.closed:
            self.door.hub.disconnected(self.session, "connection lost")
            self.door.wake()

    # ------------------------------------------------------------ requests

    def core(self, message_type: type, what: str, **fields: Any) -> None:
        msg_id = self.next_id
        self.next_id += 1
        self.pending[msg_id] = what
        assert self.session is not None
        message = message_type(id=msg_id, **fields)
        if self.gated is not None:  # a guest's lines, through its address's flood gate
            self.gated.submit(message)
        else:
            self.door.hub.receive(self.session, message)

    def request(self, request: wire.Request) -> None:
        if isinstance(request, wire.Say):
            self.core(Say, "say", text=request.text)
        elif isinstance(request, wire.ListRooms):
            self.core(Command, "list", name="list")
        elif isinstance(request, wire.JoinRoom):
            self.core(Command, "join", name="join", args=request.room)
        elif isinstance(request, wire.SetNick):
            self.core(Command, "nick", name="nick", args=request.nick)
        elif isinstance(request, wire.Who):
            self.core(Command, "who", name="who")
        elif isinstance(request, wire.Logout):
            self.core(Command, "logout", name="quit")
        elif isinstance(request, wire.Malformed):
            self.answer(wire.encode_reply(request.reply))
        elif isinstance(request, wire.PlayCommand):
            self.core(Command, "play", name=request.name, args=request.args)
        elif isinstance(request, wire.TooLong):
            self.answer(wire.encode_lines([f"! that line was over {wire.MAX_IN_LINE} bytes"
                                           " and was not sent"]))

    def answer(self, data: bytes) -> None:
        """The door's own reply to a line: after the replies to the lines before it."""
        assert self.session is not None
        turns.in_turn(self.door.hub, self.session, lambda: self.write(data))

    # ------------------------------------------------------------ events

    def event(self, event: Any) -> None:
        kind = type(event)
        if kind is Ok:
            self._ok(event)
        elif kind is Error:
            self._error(event)
        elif kind is RoomMessage:
            self._room_message(event)
        elif kind is Broadcast:
            self.write(wire.encode_lines([f"[to everyone] {event.sender}: {event.text}"]))
        elif kind is GameState:
            if not self._plays(event):
                return  # others' boards would land between a student client's replies
            self.write(wire.encode_lines([f"#{event.game_id} {event.game}: "
                                          + " vs ".join(event.players), *event.board,
                                          event.status]))
        elif kind is Notice:
            if event.room is None:  # for this guest; a room's game chatter is not
                self.write(wire.encode_lines([event.text]))
        elif kind is Bye:
            self.write(wire.encode_lines([event.reason]))
            self.close(event.reason)
        elif kind is RoomView:
            # The assignment's /join moves you: the core keeps several rooms, so the old
            # one is left (silently: the assignment says nothing on entering or leaving).
            old, self.room = self.room, event.room.name
            if old is not None and old != self.room:  # after the core has finished the join
                asyncio.get_running_loop().call_soon(self._part, old)

    def _part(self, room: str) -> None:
        if self.session is not None and not self.session.closed and not self.closing:
            self.core(Command, "part", name="part", args=room)
            self.door.wake()

    def _plays(self, game: GameState) -> bool:
        session = self.session
        return session is not None and any(
            p.casefold() == (session.user or "").casefold() or p == session.nick
            for p in game.players)

    def _room_message(self, event: RoomMessage) -> None:
        session = self.session
        if session is not None and event.user == session.user:
            return  # what you said is already on your screen
        self.write(wire.encode_room_message(event.nick, event.text))

    def _ok(self, event: Ok) -> None:
        if event.id is None:
            return  # the guest login's: the assignment greets no one
        what = self.pending.pop(event.id, "")
        data = event.data or {}
        if what in ("join", "nick"):
            self.write(wire.encode_reply(wire.OK))
        elif what == "list":
            self.write(wire.encode_list(data.get("rooms", {})))
        elif what == "who":
            self.write(wire.encode_who(m.get("nick", "") for m in data.get("members", [])))
        elif what in ("say", "logout", "part"):
            pass
        else:
            self.write(wire.encode_lines([t for t in [event.text or "", *(event.lines or [])]
                                          if t]))

    def _error(self, event: Error) -> None:
        what = self.pending.pop(event.id, "") if event.id is not None else ""
        if what == "join":  # in it already: you are where you asked to be
            self.write(wire.encode_reply(wire.OK if event.code == "same_room"
                                         else wire.MALFORMED))
        elif what == "nick":
            self.write(wire.encode_reply(wire.TAKEN if event.code in NOT_NICK
                                         else wire.MALFORMED))
        elif what == "part" or (what == "say" and event.code in ("empty",)):
            pass
        else:
            self.write(wire.encode_lines([f"! {event.text}"]))

    # ------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        if data and not self.closing:
            self.out.append(data)
            self.door.wake()

    def flush(self) -> None:
        transport = self.transport
        if not self.out or transport is None or transport.is_closing():
            self.out.clear()
            return
        data = b"".join(self.out)
        self.out.clear()
        self.write_rest(data)

    def write_rest(self, data: bytes) -> None:
        """What the socket did not take at once waits in the transport, up to OUTPUT_LIMIT."""
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if transport.get_write_buffer_size() > OUTPUT_LIMIT and self.session is not None:
            self.door.hub.kick(self.session, "disconnected: you stopped reading", "slow_reader",
                               "not reading")

    def close(self, reason: str) -> None:
        if self.closing:
            return
        self.flush()
        self.closing = True
        if self.transport is not None:
            self.transport.close()
            self._abort = asyncio.get_running_loop().call_later(CLOSE_GRACE,
                                                                self.transport.abort)


class ClassicDoor(FlushingDoor):
    """The classic listener: `await door.start(runtime)`, then `.port`; plain TCP, guests.

    Connections come through the play door's Listener (per-address cap, out-of-fd
    recovery) and go out through its flush (FlushingDoor), as on the IRC door.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 5221) -> None:
        self.host = host
        self.requested_port = port
        self.connections: set[ClassicConnection] = set()
        super().__init__()
        self.port = 0
        self.listener: Listener | None = None
        self._runtime: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def hub(self) -> Any:
        assert self._runtime is not None, "door not started"
        return self._runtime.hub

    async def start(self, runtime: Runtime) -> None:
        loop = asyncio.get_running_loop()
        self._loop, self._runtime = loop, runtime
        self.listener = Listener(lambda label, refusal: ClassicConnection(self, label, refusal),
                                 None, runtime.connection_counts,
                                 runtime.hub.settings.hello_timeout)
        try:
            self.listener.start(self.host, self.requested_port)
        except OSError as exc:
            message = bind_error_message(exc, self.host, self.requested_port)
            raise ServerError(message.replace("--port", "--classic-port")) from None
        self.port = self.listener.port
        runtime.attach(self)
        log.info("classic door on %s:%d (guests, plain text)", self.host, self.port)

    def release(self, address: str) -> None:
        """A connection from `address` is gone (the listener counts per address)."""
        if self.listener is not None:
            self.listener.release(address)

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.listener.close()

    async def close(self) -> None:
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report their loss

    def send(self, sink: ClassicConnection, event: Event) -> None:
        sink.event(event)

    def confirm(self, sink: ClassicConnection, msg_id: int) -> None:
        self.send(sink, trusted(Ok, id=msg_id))  # a line's ok, as any other

    def deliver(self, event: Event, sinks: Sequence[ClassicConnection]) -> None:
        if type(event) is RoomMessage:  # encoded once for every classic member
            data = wire.encode_room_message(event.nick, event.text)
            for sink in sinks:
                if not sink.closing:
                    sink.out.append(data)
            speaker = self.hub.session_of(event.user)  # what it said is on its screen
            if speaker is not None and speaker.door is self:
                out = speaker.sink.out
                if out and out[-1] is data:
                    out.pop()
            self.wake()
            return
        for sink in sinks:
            sink.event(event)

    def tick(self) -> None:
        """No deadlines of its own (the guests' limits are the core's); the listener's."""
        if self.listener is not None:
            self.listener.sweep(time.monotonic(), self.hub.settings.hello_timeout)

    def flushables(self) -> set[ClassicConnection]:
        return self.connections
