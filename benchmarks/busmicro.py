"""What the bus path adds per room event, measured in one process without I/O.

Two hubs, A and B, each with its real ClusterLink (core/cluster.py). B's users are in
A's lobby as proxies; a room line A delivers to them goes the bus's whole way but the
socket: A's BusDoor builds the message and RedisBus.publish encodes it (JSON, its
channel), B decodes it, makes the event again and fans it out through its own door to
its local sessions (core/cluster.py's `_deliver_here`). B's door here only counts: what
a door does with an event (encode once, write to each socket) is paid the same on one
node, so it is not the bus's. The figure is CPU time (process_time) per event and per
delivery made on B, the median of several repeats with their spread.

    python benchmarks/busmicro.py [--receivers 250] [--events 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


class CountingDoor:
    """A door that only counts what it is handed (the part one node pays anyway)."""

    def __init__(self) -> None:
        self.deliveries = 0

    def send(self, sink: Any, event: Any) -> None:
        self.deliveries += 1

    def deliver(self, event: Any, sinks: Any) -> None:
        self.deliveries += len(sinks)


def _hub(data_dir: Path) -> Any:
    from gameserver.core.hub import Hub
    from gameserver.store import SQLiteStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return Hub(SQLiteStore(data_dir / "play.db"), hasher=lambda p: p,
               schedule=lambda delay, run: None)


def build(receivers: int, work: Path) -> tuple[Any, Any, Any, Any, list[Any]]:
    """(A's link, A's bus, B's link, B's door, A's proxies of B's users)."""
    from gameserver.bus import RedisBus
    from gameserver.core.cluster import ClusterLink
    from gameserver.core.logins import LOBBY
    from gameserver.core.rooms import Session

    bus_a = RedisBus("redis://127.0.0.1:1/0", node="a")  # publish() only: no connection
    hub_a, hub_b = _hub(work / "a"), _hub(work / "b")
    link_a = ClusterLink.install(hub_a, "a", bus_a.publish, time.monotonic)
    link_b = ClusterLink.install(hub_b, "b", lambda message: None, time.monotonic)
    door = CountingDoor()
    users = [f"u{i}" for i in range(receivers)]
    lobby = hub_b.rooms[LOBBY]
    for user in users:  # B's own sessions, in B's lobby
        session = Session(door=door, sink=object(), close=lambda why: None,  # type: ignore
                          user=user, greeted=True)
        hub_b.online[user.casefold()] = session
        hub_b.sessions.add(session)
        session.enter(lobby, user)
        session.room = lobby
        lobby.members[user.casefold()] = session
    link_a.received({"k": "presence", "from": "b", "games": [], "addr": None,
                     "places": [[u, [[LOBBY, u]]] for u in users]})
    proxies = [link_a.proxies[u.casefold()] for u in users]
    bus_a._outbox.clear()
    return link_a, bus_a, link_b, door, proxies


def once(receivers: int, events: int, work: Path) -> dict[str, float]:
    from gameserver.protocol import RoomMessage

    link_a, bus_a, link_b, door, proxies = build(receivers, work)
    sinks = [p.sink for p in proxies]
    lines = [RoomMessage(room="lobby", nick="n0", user="u0", text=f"t:{i:.6f} a line",
                         ts=1.7e9 + i) for i in range(events)]
    start = time.process_time()
    for event in lines:  # node A: what the hub's delivery does for the proxies' door
        link_a.door.deliver(event, sinks)
    published = time.process_time() - start
    wire = [data for _, data, _ in bus_a._outbox]
    bus_a._outbox.clear()
    start = time.process_time()
    for data in wire:  # node B: what its bus reader does with each message
        link_b.received(json.loads(data))
    heard = time.process_time() - start
    assert door.deliveries == events * receivers, (door.deliveries, events * receivers)
    local = [p.sink for p in link_b.hub.rooms["lobby"].members.values()]
    start = time.process_time()
    for event in lines:  # what one node's hub hands its door for the same members
        door.deliver(event, local)
    baseline = time.process_time() - start
    return {"publish_us_per_event": published * 1e6 / events,
            "receive_us_per_event": heard * 1e6 / events,
            "door_call_us_per_event": baseline * 1e6 / events,
            "bus_us_per_event": (published + heard - baseline) * 1e6 / events,
            "bus_us_per_delivery": (published + heard - baseline) * 1e6 / events / receivers,
            "bytes_per_event": sum(map(len, wire)) / max(1, len(wire))}


def measure(receivers: int = 250, events: int = 20000, repeats: int = 7) -> dict[str, Any]:
    """Median, min and max of each figure over `repeats` runs."""
    runs = []
    for n in range(repeats):
        with tempfile.TemporaryDirectory(prefix="play-busmicro-") as tmp:
            runs.append(once(receivers, events, Path(tmp) / str(n)))
    out: dict[str, Any] = {"receivers": receivers, "events": events, "repeats": repeats}
    for key in runs[0]:
        values = sorted(r[key] for r in runs)
        out[key] = {"median": statistics.median(values), "min": values[0], "max": values[-1]}
    return out


def report(figures: dict[str, Any]) -> str:
    def f(key: str) -> str:
        v = figures[key]
        return f"{v['median']:.2f} us (min {v['min']:.2f}, max {v['max']:.2f})"

    return (f"the bus path in-process ({figures['receivers']} receivers on the far node,"
            f" {figures['events']} events, median of {figures['repeats']}):\n"
            f"  node A publish (BusDoor + JSON)        {f('publish_us_per_event')} per event\n"
            f"  node B decode + fan-out to its door    {f('receive_us_per_event')} per event\n"
            f"  minus B's door call one node makes too {f('door_call_us_per_event')}\n"
            f"  = the bus adds                         {f('bus_us_per_event')} per event,"
            f" {f('bus_us_per_delivery')} per delivery on B\n"
            f"  message size {figures['bytes_per_event']['median']:.0f} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=250)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = measure(args.receivers, args.events, args.repeats)
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
