"""The IRC door: asyncio TCP (+TLS) connections, IRC lines in, the core's events out as lines."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, cast

from gameserver import names
from gameserver.core import turns
from gameserver.core.events import Event, trusted
from gameserver.core.rooms import Session
from gameserver.doors import irc_numerics as n
from gameserver.doors.deadlines import DROP, EVERY_TICK, GRAIN, NEVER, PING, Deadlines, keepalive
from gameserver.doors.flushing import FlushingDoor
from gameserver.doors.gating import GatedInput
from gameserver.doors.irc_client import IrcClient, Out, shared_lines
from gameserver.doors.irc_text import Pacer
from gameserver.doors.irc_wire import LineDecoder, Message
from gameserver.doors.jsonlines import ServerError, bind_error_message
from gameserver.listener import TLS_REQUIRED, Listener
from gameserver.protocol import Ok, RoomMessage
from gameserver.throttle import address_key

if TYPE_CHECKING:
    from gameserver.runtime import Runtime

log = logging.getLogger("play.irc")

OUTPUT_LIMIT = 1024 * 1024  # bytes waiting for one client before it counts as not reading
CLOSE_GRACE = 10.0
DIRECT_WRITES = sys.platform != "win32"  # a socket is a file descriptor there
TLS_NEEDED = ("this IRC port uses TLS and this connection did not: your password would cross "
              "the network readable; connect with TLS (irssi: /connect -tls)")
_clock = time.monotonic  # the deadlines' clock (a test may hold it)
PLAIN_WARNING = ("the IRC port is plain TCP (--irc-plain): passwords cross the network in "
                 "clear; use it only on a trusted network")


class IrcConnection(asyncio.Protocol):
    """One IRC client socket; the core's sink for its session is this object."""

    # Slots, as on the play door's connection: the flush and the hot path of delivery
    # read a few fields of every member for every line said.
    __slots__ = ("door", "label", "refusal", "decoder", "transport", "session", "client",
                 "out", "paced", "pacer", "_pace_timer", "opened", "last_heard", "pinged",
                 "closing", "fd", "tls_write", "address", "slow", "_abort", "gated",
                 "waits_in")

    def __init__(self, door: IrcDoor, label: str = "", refusal: str | None = None) -> None:
        self.door = door
        self.label = label  # "ip:port", as the listener labels every door's peers
        self.refusal = refusal  # the listener's: too many from this address, not TLS ...
        self.decoder = LineDecoder()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self.client: IrcClient | None = None
        self.out: list[bytes] = []
        self.paced: deque[tuple[float, bytes]] = deque()
        self.pacer = Pacer(burst=door.pace_burst, interval=door.pace_interval)
        self._pace_timer: asyncio.TimerHandle | None = None
        self.opened = self.last_heard = _clock()
        self.pinged = 0.0  # when its PING was sent, if since the last read (else 0)
        self.closing = False
        self.fd = -1  # the socket, for direct writes (plain TCP only)
        self.tls_write: Callable[[bytes], bool] | None = None  # the same, through TLS
        self.address: str | None = None  # whom the per-address cap counts this as
        self.slow = False
        self._abort: asyncio.TimerHandle | None = None
        self.gated: GatedInput | None = None  # the session's messages to the core
        self.waits_in: Any = None  # the bucket of its next deadline (deadlines.py)

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
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
        label = self.label
        if not label:
            peer = transport.get_extra_info("peername")
            label = self.label = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        door = self.door
        self.address = address_key(label)  # counted by the listener until connection_lost
        door.inputs += 1
        if self.refusal is not None:
            reason = TLS_NEEDED if self.refusal == TLS_REQUIRED else self.refusal
            log.info("IRC %s: refused: %s", label, reason)
            self.transport.write(Message(verb="ERROR", params=(
                f"Closing Link: {reason}",)).to_bytes())
            self.closing = True
            if self.transport.can_write_eof():  # the ERROR, then FIN: lines the client
                self.transport.write_eof()  # sent meanwhile must not reset it away
                self._abort = asyncio.get_running_loop().call_later(1.0, self.transport.close)
            else:
                self.transport.close()
            return
        door.connections.add(self)
        door.deadlines.place(self, EVERY_TICK)  # registration: every tick
        self.session = door.hub.connect(door, self, self.close, label)
        self.gated = GatedInput(door.hub, self.session, label, door.wake)
        self.client = IrcClient(door.info, door.isupport(), door.command_names, door.counts,
                                online=door.is_online, rules=door.room_rules)
        self.pump()

    def data_received(self, data: bytes) -> None:
        client, session = self.client, self.session
        if client is None or session is None:
            return  # refused at the door
        self.last_heard = _clock()
        self.pinged = 0.0
        items = self.decoder.feed(data)
        self.door.inputs += len(items)
        for item in items:
            if session.closed or client.close is not None:
                break
            try:
                client.line(item)
            except Exception as exc:  # a bug of ours must not lose the next lines
                log.error("line from %s failed: %r", session.peer, exc)
            if client.out and (session.holds or session.queued is not None):
                # The client's own answer to this line: after those to the lines before.
                own, client.out = client.out, []
                turns.in_turn(self.door.hub, session, functools.partial(self.take, own))
            self.pump()
        self.door.wake()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        door = self.door
        if self.address is not None:  # out of the listener's per-address count, once
            door.release(self.address)
            self.address = None
        door.connections.discard(self)
        door.deadlines.forget(self)
        door.holding.discard(self)
        self.fd = -1  # the number may soon belong to another socket
        for handle in (self._pace_timer, self._abort):
            if handle is not None:
                handle.cancel()
        if self.gated is not None:
            self.gated.close()
        self.out.clear()
        self.paced.clear()
        if self.session is not None and not self.session.closed:
            log.info("%s: %s", self.session.peer, f"lost: {exc}" if exc else "closed")
            door.hub.disconnected(self.session, "connection lost")
            door.wake()

    # ------------------------------------------------------------ moving things along

    def pump(self) -> None:
        """Hand the client's messages to the core and queue its lines; close if it asked."""
        client, session = self.client, self.session
        assert client is not None and session is not None
        while client.to_core:
            batch, client.to_core = client.to_core, []
            for message in batch:
                if session.closed:
                    continue
                if self.gated is not None:  # through the account's flood gate once logged in
                    self.gated.submit(message)
                else:
                    self.door.hub.receive(session, message)
        self.take(client.out)
        client.out = []
        if client.account is not None and not client.registered and client.close is None:
            self.door.holding.add(self)  # logged in, in rooms, its welcome still to come
        elif self.door.holding:
            self.door.holding.discard(self)
        if client.close is not None and not self.closing:
            reason = client.close
            if not session.closed:
                self.door.hub.disconnected(session, reason)
            self.close(reason)

    def take(self, outs: list[Out]) -> None:
        """Lines to send: paced ones (boards, scrollback, long lists) queue behind the pacer;
        the rest (chat) goes at once, past them: a board still drawing never holds up chat."""
        now = time.monotonic()
        for out in outs:
            if out.paced:
                for line in out.data.splitlines(keepends=True):
                    self.paced.append((now + self.pacer.delay(now), line))
            else:
                self.out.append(out.data)
        if self.paced:
            self._pace()
        if self.out:
            self.door.wake()

    def _pace(self) -> None:
        self._pace_timer = None
        now = time.monotonic()
        while self.paced and self.paced[0][0] <= now:
            self.out.append(self.paced.popleft()[1])
        if self.out:
            self.flush()
        if self.paced and not self.closing:
            self._pace_timer = asyncio.get_running_loop().call_later(
                max(0.0, self.paced[0][0] - now), self._pace)

    def flush(self) -> None:
        transport = self.transport
        if not self.out:
            return
        data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
        self.out.clear()
        if transport is None or transport.is_closing():
            return
        if self.fd >= 0 and not transport.get_write_buffer_size():
            try:  # plain TCP with nothing queued: one direct write, as the play door does
                sent = os.write(self.fd, data)
            except OSError:
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        elif self.tls_write is not None and self.tls_write(data):
            return
        self.write_rest(data)

    def write_rest(self, data: bytes) -> None:
        """What the socket did not take at once waits in the transport, up to OUTPUT_LIMIT."""
        transport = self.transport
        assert transport is not None
        transport.write(data)
        if transport.get_write_buffer_size() > OUTPUT_LIMIT and not self.slow:
            self.slow = True
            assert self.session is not None
            log.info("%s: not reading, disconnected", self.session.peer)
            self.door.hub.kick(self.session, "disconnected: you stopped reading",
                               "slow_reader", "not reading")

    def close(self, reason: str) -> None:
        """The core's (or the client's) end of the session: say ERROR, write, close."""
        if self.closing:
            return
        client = self.client
        if client is not None:
            if client.close is None:
                client.quit(reason)
            self.take(client.out)
            client.out = []
        while self.paced:  # what was waiting goes now: the connection ends
            self.out.append(self.paced.popleft()[1])
        self.flush()
        self.closing = True
        transport = self.transport
        if transport is not None:
            transport.close()
            self._abort = asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)

    # ------------------------------------------------------------ deadlines (the door's tick)

    def check(self, now: float) -> float:
        """Registration in time; a silent client is PINGed, then dropped if still silent.

        Returns when this connection is next due (deadlines.py): every tick until it has
        registered (and after a quit, until it is gone), else its PING's or its timeout's.
        """
        client = self.client
        if self.closing or client is None:
            return NEVER
        scale = self.door.time_scale
        settings = self.door.hub.settings  # the host's play.toml and flags, as on the play door
        if not client.registered:
            if now - self.opened >= settings.login_timeout * scale:
                client.quit("Registration timed out")
                self.pump()
            return EVERY_TICK
        act, when = keepalive(now, self.last_heard, self.pinged, settings.ping_after * scale,
                              settings.ping_timeout * scale)
        if act == PING:
            self.pinged = now
            self.out.append(Message(verb="PING", params=(self.door.info.name,)).to_bytes())
            self.flush()
        elif act == DROP:
            client.quit(f"Ping timeout: {round(now - self.last_heard)} seconds")
            self.pump()
        return when


class IrcDoor(FlushingDoor):
    """The IRC listener: `await door.start(runtime)`, then `.port`.

    Connections come through the play door's Listener (per-address cap, first-byte TLS
    check, TLS handshake and silent-socket timeouts, out-of-fd recovery), and go out
    through its flush (FlushingDoor: one write per client per pass, batched in a storm).
    A room event is encoded once (shared_lines) and the same bytes go to each IRC member.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 6697, *,
                 tls: bool = False, ssl_context: ssl.SSLContext | None = None,
                 server_name: str = "play.local",
                 network: str = "play", motd: tuple[str, ...] = (), version: str = "play-0.1",
                 time_scale: float = 1.0, pace_burst: int = 20, pace_interval: float = 0.05
                 ) -> None:
        self.host = host
        self.requested_port = port
        self.wants_tls = tls  # ChatServer then sets ssl_context from the play door's certificate
        self.ssl_context = ssl_context
        self.fingerprint = ""  # of the certificate, when ChatServer gave the context
        self.info = n.ServerInfo(name=server_name, network=network, version=version,
                                 created=time.strftime("%a %b %d %Y at %H:%M:%S UTC",
                                                       time.gmtime()), motd=motd)
        self.time_scale = time_scale  # tests shrink the timeouts
        self.pace_burst = pace_burst
        self.pace_interval = pace_interval
        self.connections: set[IrcConnection] = set()
        # whom the tick visits, by their next deadline (tests tick every time_scale s)
        self.deadlines = Deadlines(GRAIN * min(1.0, time_scale) if time_scale > 0 else GRAIN)
        # Logged in to the core (so in its rooms) but not yet welcomed on IRC (CAP
        # negotiation still open): room lines wait in the client until its 001 goes out.
        self.holding: set[IrcConnection] = set()
        super().__init__()
        self.port = 0
        self.listener: Listener | None = None
        self._runtime: Runtime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The runtime ticks once a second; a door with timeouts scaled down for tests
        # checks its deadlines more often on its own.
        self._tick_every = time_scale if time_scale < 1.0 else None
        self._ticker: asyncio.TimerHandle | None = None

    @property
    def hub(self) -> Any:
        assert self._runtime is not None, "door not started"
        return self._runtime.hub

    def isupport(self) -> dict[str, str | None]:
        return {
            "AWAYLEN": "200", "CASEMAPPING": "ascii", "CHANMODES": ",,,int",
            "CHANLIMIT": f"#:{self.hub.settings.max_rooms}",
            "CHANNELLEN": str(names.ROOM_MAX + 1), "CHANTYPES": "#", "MAXTARGETS": "4",
            "MODES": "0", "NETWORK": self.info.network, "NICKLEN": str(names.USERNAME_MAX),
            "PREFIX": None, "SAFELIST": None, "TOPICLEN": str(names.TOPIC_MAX),
            "USERLEN": str(names.USERNAME_MAX),
        }

    def release(self, address: str) -> None:
        """A connection from `address` is gone (the listener counts per address)."""
        if self.listener is not None:
            self.listener.release(address)

    def command_names(self) -> Collection[str]:
        return self.hub.commands  # a dict: `in` looks a name up, nothing is copied

    def is_online(self, user: str) -> bool:
        return self.hub.session_of(user) is not None

    def counts(self) -> tuple[int, int, int]:
        """Users online, rooms, and the most users online at once since start."""
        hub = self.hub
        return len(hub.online), len(hub.rooms), max(hub.most_online, len(hub.online))

    def room_rules(self, room: str) -> dict[str, Any]:
        """What a room's owner and ops set (topic, invite-only, slow mode); {} if nothing."""
        community = self.hub.community
        found = community.room_rules([room]) if community is not None else {}
        return found.get(room, {})

    async def start(self, runtime: Runtime) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._runtime = runtime
        settings = runtime.hub.settings
        self.listener = Listener(lambda label, refusal: IrcConnection(self, label, refusal),
                                 self.ssl_context, runtime.connection_counts,
                                 settings.hello_timeout)
        try:
            self.listener.start(self.host, self.requested_port)
        except OSError as exc:
            message = bind_error_message(exc, self.host, self.requested_port)
            raise ServerError(message.replace("--port", "--irc-port")) from None
        self.port = self.listener.port
        runtime.attach(self)
        if self._tick_every is not None:
            self._ticker = loop.call_later(self._tick_every, self.tick)
        if self.ssl_context is None:
            log.warning(PLAIN_WARNING)
        log.info("IRC on %s:%d (%s)", self.host, self.port,
                 "TLS" if self.ssl_context is not None else "plain")

    def stop_listening(self) -> None:
        if self.listener is not None:
            self.listener.close()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._tick_every = None
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)  # let the aborted transports report their loss

    # ------------------------------------------------------------ the core's side

    def send(self, sink: IrcConnection, event: Event) -> None:
        client = sink.client
        if client is None or sink.closing:
            return
        client.event(event)
        sink.pump()

    def confirm(self, sink: IrcConnection, msg_id: int) -> None:
        self.send(sink, trusted(Ok, id=msg_id))  # a line's ok, as any other

    def deliver(self, event: Event, sinks: Sequence[IrcConnection]) -> None:
        if not sinks:
            return
        shared = shared_lines(event, self.info.name, self.info.name)
        if shared is not None and type(event) is RoomMessage:  # the hot path: chat
            # One form for every member: the same bytes object appended to each queue
            # (as the play door's sinks do), then the few that differ put right: the
            # speaker (no echo of its own line) and clients not yet welcomed.
            data = shared[0]
            for sink in sinks:
                sink.out.append(data)
            speaker = self.hub.session_of(event.user)
            if speaker is not None and speaker.door is self:
                out = speaker.sink.out
                if out and out[-1] is data:
                    out.pop()
            for conn in self.holding:
                out = conn.out
                if out and out[-1] is data and conn.client is not None:
                    out.pop()
                    conn.client.shared(event, *shared)  # held until its welcome
            self.wake()
            return
        for sink in sinks:
            client = sink.client
            if client is None or sink.closing:
                continue
            if shared is None:
                client.event(event)
            else:
                client.shared(event, *shared)
            sink.pump()

    def tick(self) -> None:
        """Deadlines of the connections due (deadlines.py), and of silent new sockets."""
        now = _clock()
        self.deadlines.visit(now, lambda conn: conn.check(now),  # type: ignore[attr-defined]
                             "IRC deadlines", log)
        if self.listener is not None:  # sockets silent since they connected (TLS port)
            self.listener.sweep(time.monotonic(),
                                self.hub.settings.hello_timeout * self.time_scale)
        if self._tick_every is not None and self._loop is not None:  # tests: a faster tick
            self._ticker = self._loop.call_later(self._tick_every, self.tick)

    def flushables(self) -> set[IrcConnection]:
        return self.connections
