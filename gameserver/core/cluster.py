"""Several nodes as one server: the hub's side of the bus (no I/O; messages are plain dicts).

Each node's hub keeps its own sessions. Users on other nodes appear in it as *proxy*
sessions (in `hub.online` and in their room's members) whose door is this module's
`BusDoor`: whatever the hub delivers to them (room lines, joins and leaves, PMs,
broadcasts, a goodbye) is published once per event on the bus, addressed to the nodes
that hold them, and delivered there to the real sessions through their own doors.
So nicks stay unique per room across nodes, `/users` and `/who` list everyone, and a
login on one node replaces the same account's session on another: that node ends it
and tells its rooms, and only then does the login go on (core/handover.py, which also
carries PMs and forwarded game commands; core/clustergames.py hosts the games).

Presence (who is where, under which nick) is a state, not a stream of deltas: each
node publishes its local sessions' places when one changes and every few seconds, and
a node not heard from for NODE_TIMEOUT seconds is taken for dead (its proxies go).
That also heals what was missed while the bus was down. Sooner still, the bus may know
a node is gone (its connection to Redis ended: a SIGKILL): `node_gone` then does the
same at once, and the node's games are claimed as soon as the store agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gameserver import names
from gameserver.core.clustergames import LEASE_RENEW_EVERY, NOT_FORWARDED, GameRouting
from gameserver.core.events import Event, RoomView, trusted
from gameserver.core.extensions import Extension
from gameserver.core.handover import Handover, event_from_dict, event_to_dict
from gameserver.core.ignoring import speaker_of
from gameserver.core.logins import LOBBY
from gameserver.core.rooms import Room, Session
from gameserver.protocol import Joined, Left, Message, Notice, Ok, Renamed
from gameserver.store import EVERYONE

if TYPE_CHECKING:
    from gameserver.core.hub import Hub

log = logging.getLogger("play.cluster")

SNAPSHOT_EVERY = 2.0  # seconds between presence snapshots (a heartbeat when nothing changed)
NODE_TIMEOUT = 6.0  # a node not heard from for this long is gone, with its users
Publish = Callable[[dict[str, Any]], None]
# Who is where changed: a node that hears of it can act on it at once (/game bob).
MEMBERSHIP_EVENTS = frozenset({Joined, Left, Renamed})
__all__ = ["LEASE_RENEW_EVERY", "NODE_TIMEOUT", "NOT_FORWARDED", "ClusterLink",
           "event_from_dict", "event_to_dict"]


class RemoteSink:
    """Where a proxy's events go: a user on another node (identity, not equality)."""

    __slots__ = ("node", "key")

    def __init__(self, node: str, key: str) -> None:
        self.node = node
        self.key = key


class BusDoor:
    """The door of every proxy session: events for them are published, once per event."""

    def __init__(self, link: ClusterLink) -> None:
        self.link = link

    def send(self, sink: RemoteSink, event: Event) -> None:
        self.deliver(event, [sink])

    def confirm(self, sink: RemoteSink, msg_id: int) -> None:
        self.deliver(trusted(Ok, id=msg_id), [sink])  # a forwarded line's ok

    def deliver(self, event: Event, sinks: Sequence[RemoteSink]) -> None:
        if type(event) is RoomView:  # only ever sent to a session of this node
            return
        to: dict[str, list[str]] = {}
        for sink in sinks:
            to.setdefault(sink.node, []).append(sink.key)
        self.link.publish({"k": "ev", "to": to, "ev": event_to_dict(event)})


class ClusterLink(GameRouting, Extension):
    """Installed on a hub that is one node of a cluster; `received` takes the bus's messages."""

    def __init__(self, hub: Hub, node: str, publish: Publish,
                 clock: Callable[[], float]) -> None:
        self.hub = hub
        self.node = node
        self._publish = publish
        self.clock = clock
        self.door = BusDoor(self)
        self.proxies: dict[str, Session] = {}  # user key -> proxy (of a user on another node)
        self.nodes: dict[str, float] = {}  # other node -> when it was last heard from
        self._last_places: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        self._last_games: list[str] = []
        self.remote_games: dict[str, str] = {}  # room -> the node that hosts its games
        self._next_snapshot = 0.0
        self._next_lease = 0.0
        self._leasing = False  # a round of lease renewals is in a store thread
        self.link_up = True
        self.taken_over = 0  # games this node took over from nodes that stopped
        self.gone_nodes: dict[str, float] = {}  # node the bus says is gone -> until when
        self.address: str | None = None  # where clients reach this node (--public-address)
        self.addresses: dict[str, str] = {}  # other node -> its public address
        self.handover = Handover(self)  # what this node asks of others, and waits for

    @classmethod
    def install(cls, hub: Hub, node: str, publish: Publish,
                clock: Callable[[], float]) -> ClusterLink:
        link = cls(hub, node, publish, clock)
        hub.add_extension(link)
        link.publish({"k": "hello"})
        link._announce_before_telling()
        community = hub.community
        if community is not None:  # the CommunityHost: its move-outs reach other nodes
            link._route_move_out(community)
        link.route_games()
        return link

    def publish(self, message: dict[str, Any]) -> None:
        message["from"] = self.node
        self._publish(message)

    def _announce_before_telling(self) -> None:
        """Who is where reaches the other nodes before the news of it (a join, a part, a
        rename) reaches anyone: a node that hears "bob joined" can act on it (/game bob),
        and a user who just came in here is known there before anyone else comes."""
        presence = self.hub.presence
        tell = presence.tell

        def told(room: Room, event: Any) -> None:
            if type(event) in MEMBERSHIP_EVENTS and not self.is_proxy_user(
                    getattr(event, "user", None)):
                self.announce(joining=event if type(event) is Joined else None)
            tell(room, event)

        presence.tell = told  # type: ignore[method-assign]

    def is_proxy_user(self, user: str | None) -> bool:
        return user is not None and user.casefold() in self.proxies

    def set_address(self, address: str | None) -> None:
        """This node's public address: told to the others now and in every snapshot."""
        self.address = address
        self._addresses_changed()
        self.announce(force=True)

    def _addresses_changed(self) -> None:
        """The hub's list for logins: this node first, then the others (sorted)."""
        others = sorted(set(self.addresses.values()) - {self.address})
        self.hub.addresses = ([self.address] if self.address else []) + others

    # ------------------------------------------------------------ this node's sessions

    def is_proxy(self, session: Session) -> bool:
        return session.door is self.door

    def local_sessions(self) -> list[Session]:
        return [s for s in self.hub.online.values() if not self.is_proxy(s) and not s.closed]

    def places(self) -> dict[str, tuple[str, tuple[tuple[str, str], ...]]]:
        """user key -> (user, its (room, nick) pairs) of every session on this node."""
        return {s.user.casefold(): (s.user, tuple((room.name, s.nick_in(room.name))
                                                  for room in s.joined()))
                for s in self.local_sessions() if s.user is not None}

    def announce(self, force: bool = False, joining: Any = None) -> None:
        """Publish this node's presence if it changed (or `force`, as a heartbeat).

        `joining`: a Joined being told now, before the hub puts its session in the room.
        """
        places = self.places()
        if joining is not None and joining.user.casefold() in places:
            user, rooms = places[joining.user.casefold()]
            if all(name != joining.room for name, _ in rooms):
                places[joining.user.casefold()] = (user, (*rooms, (joining.room, joining.nick)))
        games = self.game_rooms()
        if force or places != self._last_places or games != self._last_games:
            self._last_places, self._last_games = places, games
            self.publish({"k": "presence", "games": games, "addr": self.address, "places": [
                [user, [list(pair) for pair in rooms]] for user, rooms in places.values()]})

    def on_login(self, session: Session) -> None:
        self.announce()
        self.handover.logged_in(session)

    def on_replace(self, old: Session, then: Callable[[dict[str, Any] | None], None]) -> bool:
        return self.handover.replace(old, then)

    def on_kick(self, session: Session, reason: str, code: str, told_room: str | None,
                restart: bool) -> bool:
        """A user on another node is put off the server (a ban, a /kick, a login here): that
        node does it and tells its rooms (it knows whether they are still there), and the
        mirror here lets them go without a word."""
        if not self.is_proxy(session) or not self.link_up:
            return False
        node, key = session.sink.node, session.sink.key
        if self.proxies.get(key) is session:
            self.drop_proxy(key)
        session.closed = True
        self.publish({"k": "kick", "node": node, "user": key, "reason": reason, "code": code,
                      "told": told_room, "restart": restart})
        return True

    def on_private_message(self, receiver: Session, event: Any,
                           answered: Callable[[bool], None]) -> bool:
        return self.handover.deliver_pm(receiver, event, answered)

    def on_enter_room(self, session: Session, room: Room) -> None:
        if self.is_proxy(session):
            return
        self.announce()
        owner = self.remote_games.get(room.name)
        if owner is not None and session.user is not None:  # its boards are on that node
            self.publish({"k": "show", "node": owner, "user": session.user.casefold(),
                          "room": room.name})

    def live_nodes(self) -> list[str]:
        """This node and those heard from lately (a dead node's nicks are free)."""
        return [self.node, *self.nodes]

    def on_logout(self, session: Session) -> None:
        if self.is_proxy(session):
            return
        self.handover.logged_out(session)
        # Still in its room here; gone from the published places once it is off `online`.
        self.hub.after_commit(self.announce)

    def on_tick(self, now: float) -> None:
        clock = self.clock()
        self.games_tick(clock)
        self.handover.tick(clock)
        self.announce(force=clock >= self._next_snapshot)
        if clock >= self._next_snapshot:
            self._next_snapshot = clock + SNAPSHOT_EVERY
        for node, seen in list(self.nodes.items()):
            if clock - seen > NODE_TIMEOUT:
                log.warning("cluster: node %s is silent for %.0f s; its users are gone",
                            node, clock - seen)
                self._forget_node(node)

    def node_gone(self, node: str) -> None:
        """The bus says `node` no longer reads it (its connection ended): its users are
        gone now, what waits for its answers goes on, and its games are claimed as soon
        as the store sees none of its connections either (clustergames.py)."""
        if node == self.node:
            return
        if node in self.nodes:
            log.warning("cluster: node %s left the bus; its users are gone", node)
            self._forget_node(node)  # first: a login that waited finds no ghost
            self.gone_nodes[node] = self.clock() + NODE_TIMEOUT
            self.games_tick(self.clock(), renew=False)
        self.handover.node_gone(node)

    def _forget_node(self, node: str) -> None:
        del self.nodes[node]
        if self.addresses.pop(node, None) is not None:
            self._addresses_changed()
        self._set_places(node, [])
        for room, owner in list(self.remote_games.items()):
            if owner == node:
                del self.remote_games[room]

    # ------------------------------------------------------------ the bus's messages

    def received(self, message: dict[str, Any]) -> None:
        origin = message.get("from")
        if origin == self.node:  # our own, in its place in the bus's one order
            if message.get("k") == "login":
                self.handover.own_login_heard(message)
            return
        if not isinstance(origin, str):
            return
        self.nodes[origin] = self.clock()
        if self.gone_nodes:  # it speaks: it was only cut off for a moment
            self.gone_nodes.pop(origin, None)
        kind = message.get("k")
        if kind == "ev":
            keys = message["to"].get(self.node)
            if keys:
                self._deliver_here(event_from_dict(message["ev"]), keys)
        elif kind == "presence":
            self._set_places(origin, message["places"])
            address = message.get("addr")
            if isinstance(address, str) and self.addresses.get(origin) != address:
                self.addresses[origin] = address
                self._addresses_changed()
            for room, node in list(self.remote_games.items()):
                if node == origin:
                    del self.remote_games[room]
            for room in message.get("games", ()):
                self.remote_games[room] = origin
        elif kind in ("say", "cmd", "show"):
            if message.get("node") == self.node:
                self._run_for(message)
        elif kind == "login":
            self.handover.login_elsewhere(message)
        elif kind == "answer":
            self.handover.answered(message)
        elif kind == "replace":
            if message.get("node") == self.node:
                self.handover.replace_asked(message)
        elif kind == "pm":
            if message.get("node") == self.node:
                self.handover.pm_asked(message)
        elif kind == "close":
            if message.get("node") == self.node:
                self._let_go(message["user"], message.get("reason", ""))
        elif kind == "kick":
            if message.get("node") == self.node:
                self._kick_here(message)
        elif kind == "move_out":
            if message.get("node") == self.node:
                self._move_out_here(message)
        elif kind == "community":  # roles, bans, room rules changed on that node
            self._reload_community()
        elif kind == "hello":  # a node (re)joined: it needs everyone's places now
            self.announce(force=True)

    def _route_move_out(self, community: Any) -> None:
        """A kick or ban out of a room, of a user on another node, is done on that node."""
        local_move_out = community.move_out

        def move_out(target: Session, room: Room, why: str, code: str) -> None:
            if not self.is_proxy(target) or room.name == LOBBY:  # the lobby: a kick
                local_move_out(target, room, why, code)
                return
            self.publish({"k": "move_out", "node": target.sink.node, "user": target.sink.key,
                          "room": room.name, "why": why, "code": code})

        community.move_out = move_out
        self._local_move_out = local_move_out

    def _move_out_here(self, message: dict[str, Any]) -> None:
        session = self.hub.online.get(message["user"])
        room = self.hub.rooms.get(message["room"])
        if session is None or self.is_proxy(session) or room is None:
            return
        self._local_move_out(session, room, message["why"], message["code"])

    def community_changed(self) -> None:
        """This node wrote a role, a sanction or a room's rules: the others read them again."""
        self.publish({"k": "community"})

    def _reload_community(self) -> None:
        """Read in a store thread, never on the loop (CommunityHost.reload)."""
        host = self.hub.community
        if host is not None:
            host.reload()

    def _deliver_here(self, event: Message, keys: list[str]) -> None:
        by_door: dict[Any, list[Any]] = {}
        speaker = speaker_of(event) if self.hub.ignoring else None  # /ignore holds here too
        for key in keys:
            session = self.hub.online.get(key)
            if session is not None and not session.closed and not self.is_proxy(session) \
                    and not self.hub.ignoring.hides(session, speaker):
                by_door.setdefault(session.door, []).append(session.sink)
        for door, sinks in by_door.items():
            door.deliver(event, sinks)
        if self.handover.expected and getattr(event, "id", None) is not None:
            for key in keys:  # the reply to a request run on this (game's) node
                self.handover.replied(key, event)

    def _set_places(self, node: str, places: list[Any]) -> None:
        """Make this hub's proxies of `node`'s users match what it says they are."""
        wanted = {names.kept_key(user): (user, rooms) for user, rooms in places}
        for key, held in list(self.proxies.items()):
            if held.sink.node == node and key not in wanted:
                self.drop_proxy(key)
        for key, (user, rooms) in wanted.items():
            proxy: Session | None = self.proxies.get(key)
            if proxy is not None and proxy.sink.node != node:
                self.drop_proxy(key)  # moved nodes (a login elsewhere replaced it)
                proxy = None
            if proxy is None:
                local = self.hub.online.get(key)
                if local is not None and not local.closed:
                    continue  # ours until its node's close reaches us
                # home_nick: a room where its nick is its username needs no nick entry
                proxy = Session(door=self.door, sink=RemoteSink(node, key),  # type: ignore[arg-type]
                                close=self._closer(node, key), peer=f"node {node}",
                                user=user, home_nick=user, greeted=True)
                self.proxies[key] = proxy
                self.hub.online[key] = proxy
                self.hub.most_online = max(self.hub.most_online, len(self.hub.online))
                self._place(proxy, {name: nick for name, nick in rooms})
                host = self.game_host()
                if host is not None and user in host.away:  # a seat here waited for them
                    host.on_login(proxy)
                continue
            self._place(proxy, {name: nick for name, nick in rooms})

    def _place(self, proxy: Session, rooms: dict[str, str]) -> None:
        """Put a proxy in exactly these rooms under these nicks."""
        for was_in in proxy.joined():
            if rooms.get(was_in.name) != proxy.nick_in(was_in.name):
                self._unplace(proxy, was_in)
        for name, nick in rooms.items():
            if proxy.in_room(name):
                continue
            room: Room | None = self.hub.rooms.get(name)
            if room is None:
                room = self.hub.rooms[name] = Room(name)
            if names.key(nick) in room.members:  # taken here meanwhile: the next snapshot
                continue
            room.members[names.kept_key(nick)] = proxy
            proxy.enter(room, nick)
        joined = proxy.joined()
        proxy.room = joined[-1] if joined else None

    def _unplace(self, proxy: Session, room: Room) -> None:
        nick = proxy.leave(room.name)
        if nick is not None and room.members.get(names.key(nick)) is proxy:
            room.members.pop(names.key(nick))
        self._forget_room(room)

    def _forget_room(self, room: Room) -> None:
        if not room.members and room.name != LOBBY and not any(
                ext.room_in_use(room.name) for ext in self.hub.extensions):
            self.hub.rooms.pop(room.name, None)

    def drop_proxy(self, key: str) -> None:
        proxy = self.proxies.pop(key)
        proxy.closed = True
        for room in proxy.joined():
            self._unplace(proxy, room)
        proxy.room = None
        if self.hub.online.get(key) is proxy:
            del self.hub.online[key]
        host = self.game_host()
        if host is not None:  # their seats here wait for them, as for a user of this node
            host.on_logout(proxy)  # (said after the commit, only if they are still gone)

    def _closer(self, node: str, key: str) -> Callable[[str], None]:
        """A proxy's `close`: the hub kicked it (a login here replaced it, a /kick, a ban)."""
        def close(reason: str) -> None:
            self.proxies.pop(key, None)
            self.publish({"k": "close", "node": node, "user": key, "reason": reason})
        return close

    def _kick_here(self, message: dict[str, Any]) -> None:
        session = self.hub.online.get(message["user"])
        if session is None or self.is_proxy(session) or session.closed:
            return  # gone already: its rooms heard how when it went
        self.hub.kick(session, str(message.get("reason", "")), str(message.get("code", "bye")),
                      message.get("told"), restart=bool(message.get("restart")))

    def _let_go(self, key: str, reason: str) -> None:
        """Another node closed our session of `key`: it already told the rooms, so we don't."""
        session = self.hub.online.get(key)
        if session is None or self.is_proxy(session) or session.closed:
            return
        hub, user = self.hub, session.user
        assert user is not None
        for ext in hub.extensions:
            if ext is not self:
                ext.on_logout(session)
        self.handover.logged_out(session)
        session.closed = True
        for room in session.joined():
            nick = session.leave(room.name)
            if nick is not None and room.members.get(names.key(nick)) is session:
                room.members.pop(names.key(nick))
            hub.store.leave_scope(user, room.name)
            self._forget_room(room)
        session.room = None
        hub.sessions.discard(session)
        del hub.online[key]
        hub.store.leave_scope(user, EVERYONE)
        hub.after_commit(self.announce)
        session.close(reason)

    # ------------------------------------------------------------ the bus's health

    def bus_lost(self, why: str) -> None:
        """Tell this node's users once: other nodes cannot hear them until the bus is back."""
        if not self.link_up:
            return
        self.link_up = False
        log.error("cluster: the bus is lost (%s)", why)
        self._tell_local("the link to the other nodes is down: people on other nodes cannot"
                         " see what is said here until it is back")

    def bus_back(self) -> None:
        if self.link_up:
            return
        self.link_up = True
        log.warning("cluster: the bus is back")
        self.publish({"k": "hello"})
        self.announce(force=True)
        self._tell_local("the link to the other nodes is back")

    def _tell_local(self, text: str) -> None:
        event = Notice(text=text)
        by_door: dict[Any, list[Any]] = {}
        for session in self.local_sessions():
            by_door.setdefault(session.door, []).append(session.sink)
        for door, sinks in by_door.items():
            door.deliver(event, sinks)

