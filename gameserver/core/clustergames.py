"""A cluster's games: each is hosted by one node (a lease in the store); lines and game
commands typed on other nodes in its room are run there, for the sender's proxy.

The mixin of ClusterLink (core/cluster.py) that carries the games across nodes: which
rooms' games this node hosts (told in its presence), the forwarding of moves and
commands to the hosting node (core/handover.py waits for their replies), lease
renewals, and the takeover of a stopped node's games from their stored state.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from gameserver.core import turns
from gameserver.core.handover import event_from_dict
from gameserver.core.pending import Work, catching
from gameserver.core.rooms import Session
from gameserver.protocol import Command, Error, Say
from gameserver.store import StorageError

if TYPE_CHECKING:
    from gameserver.core.hub import Hub
    from gameserver.storeapi import GameLeases

log = logging.getLogger("play.cluster")

LEASE_RENEW_EVERY = 2.0  # seconds; a game's lease (the store's) lasts longer than this
NOT_FORWARDED = frozenset({"games", "stats"})  # game commands that are not about a room
NOT_YET = ("the node that hosts this room's game does not know you are here yet; try again"
           " in a moment")


class GameRouting:
    """Where a room's games are played, and their leases (mixed into ClusterLink)."""

    hub: Hub
    node: str
    handover: Any  # core/handover.py's Handover
    remote_games: dict[str, str]
    proxies: dict[str, Session]
    link_up: bool
    taken_over: int
    gone_nodes: dict[str, float]
    _last_games: list[str]
    _next_lease: float
    _leasing: bool

    if TYPE_CHECKING:  # ClusterLink's
        def publish(self, message: dict[str, Any]) -> None: ...
        def is_proxy(self, session: Session) -> bool: ...
        def announce(self, force: bool = False, joining: Any = None) -> None: ...

    def route_games(self) -> None:
        """A new game is known everywhere before its invitation; a room's games are
        played where they are hosted."""
        host = self.game_host()
        if host is None:
            return
        add_table = host.add_table

        def added(table: Any) -> None:
            add_table(table)
            self.announce()

        host.add_table = added
        from gameserver.core import gamecommands

        room_commands = [e.name for e in gamecommands.COMMANDS if e.name not in NOT_FORWARDED]
        declared = {c.name for kind in host.games.values() for c in kind.commands}
        self.forward_commands(room_commands + sorted(declared))

    def game_rooms(self) -> list[str]:
        """The rooms whose games (and open invitations) this node hosts."""
        host = self.game_host()
        if host is None:
            return []
        return sorted({t.room for t in host.tables.values() if not t.over})

    def game_host(self) -> Any:
        return next((e for e in self.hub.extensions if hasattr(e, "tables")
                     and hasattr(e, "show_room")), None)

    def on_say(self, session: Session, msg_id: int, text: str) -> bool:
        """A line in a room whose games another node hosts is played (or said) there."""
        room = session.room
        if room is None or self.is_proxy(session) or session.user is None:
            return False
        owner = self.remote_games.get(room.name)
        if owner is None or room.name in self._last_games or not self.link_up:
            return False  # without the bus, a line here is at least said here
        self.handover.forward(session, {
            "k": "say", "node": owner, "user": session.user.casefold(), "room": room.name,
            "id": msg_id, "text": text}, msg_id, turns.hold(self.hub, session))
        return True

    def forward_commands(self, names_: list[str]) -> None:
        """Game commands in a room whose games another node hosts run on that node."""
        for name in names_:
            spec = self.hub.commands.get(name)
            if spec is not None:
                self.hub.commands[name] = dataclasses.replace(
                    spec, handler=self._forwarding(spec.handler))

    def _forwarding(self, handler: Callable[[Session, Any], None]) -> Callable[..., None]:
        def run(session: Session, message: Any) -> None:
            room = session.room
            owner = None if room is None else self.remote_games.get(room.name)
            if (owner is None or self.is_proxy(session) or session.user is None
                    or room is None or room.name in self._last_games or not self.link_up):
                handler(session, message)
                return
            # The whole command (its secret, whether it is only a check) runs there
            # as it would here; its reply comes back before this session's next one.
            self.handover.forward(session, {
                "k": "cmd", "node": owner, "user": session.user.casefold(), "room": room.name,
                "msg": message.to_wire()}, message.id, turns.hold(self.hub, session))
        return run

    def games_tick(self, clock: float, renew: bool = True) -> None:
        """Renew this node's game leases; take over the games of nodes whose leases ran out,
        and those of nodes the bus says are gone once the store sees none of their
        connections (a SIGKILLed node's sockets close at once: no lease wait).

        The store's side runs as the hub's store work (a store thread on a cluster), so
        a slow database never holds the loop; one round at a time.
        """
        host = self.game_host()
        if host is None or not hasattr(self.hub.store, "claim_orphan_games") or self._leasing:
            return
        store = cast("GameLeases", self.hub.store)
        renew = renew and clock >= self._next_lease
        if renew:
            self._next_lease = clock + LEASE_RENEW_EVERY
        known = set(host.tables)  # a game made meanwhile is not "hosted elsewhere"
        for node, until in list(self.gone_nodes.items()):
            if clock > until:  # its leases have run out by now anyway
                del self.gone_nodes[node]
        gone = sorted(self.gone_nodes) if hasattr(store, "claim_games_of") else []

        self._leasing = True

        @catching
        def run() -> Any:
            held = store.renew_game_leases() if renew else None
            orphans = store.claim_games_of(gone) if gone else []
            return held, orphans + store.claim_orphan_games()

        def done(result: Any) -> None:
            self._leasing = False
            if isinstance(result, StorageError):
                self.hub.storage_failed(result)
                return
            held, orphans = result
            if held is not None:
                for game_id in known - held:
                    table = host.tables.get(game_id)
                    if table is not None and not table.over:  # another node has it now
                        log.warning("cluster: game %d is hosted elsewhere now", game_id)
                        del host.tables[game_id]
            self._take_over(host, orphans)

        self.hub.run_store(Work(run=run, done=done, cancelled=self._lease_round_lost))

    def _lease_round_lost(self) -> None:
        self._leasing = False

    def _take_over(self, host: Any, orphans: list[Any]) -> None:
        taken = host.resume([o for o in orphans if o[0] not in host.tables])
        for table in taken:
            self.taken_over += 1
            log.warning("cluster: took over game %d in #%s", table.id, table.room)
            host.notify(table.room, f"game {table.id} goes on: the node that hosted it "
                                    "stopped, and this one took it over")
            if table.game is not None:
                host.to_room(table.room, host.state_of(table))
        if taken:
            self.announce()

    def _run_for(self, message: dict[str, Any]) -> None:
        """A user on another node typed this in a room whose games this node hosts."""
        proxy = self.proxies.get(message["user"])
        room = message["room"]
        if proxy is None or not proxy.in_room(room):
            log.info("cluster: %s from %s for #%s arrived before its presence; refused",
                     message["k"], message["user"], room)
            msg_id = message.get("id", (message.get("msg") or {}).get("id"))
            if message["k"] != "show" and msg_id is not None:  # every request answered
                self.publish({"k": "ev", "to": {message["from"]: [message["user"]]},
                              "ev": Error(code="unavailable", text=NOT_YET, id=msg_id).to_wire()})
            return
        if message["k"] == "show":
            host = self.game_host()
            if host is not None:
                host.show_room(proxy, room)
        elif message["k"] == "say":
            self.hub.receive(proxy, Say(id=message["id"], text=message["text"], room=room))
        else:
            command = event_from_dict(message["msg"])
            if isinstance(command, Command):
                self.hub.receive(proxy, dataclasses.replace(command, room=room))
