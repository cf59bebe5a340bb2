"""The end-to-end acceptance tests of rooms, PMs, broadcasts, games and history, run again on a
cluster of three nodes with their clients spread over the nodes.

Each test below is the single-server test itself (imported from its module), with that
module's `running_server` swapped for three nodes sharing one PostgreSQL database and
one Redis: `server.port` hands out the nodes' ports in turn, so the test's first client
logs in on node 0, the second on node 1, the third on node 2, and so on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helpers
import pytest
import test_chat_server as chat
import test_games_over_network as games
import test_history as history
from helpers import running_server

NODES = 3

ACCEPTANCE = [
    chat.test_login_room_and_chat,
    chat.test_three_clients_two_rooms,
    chat.test_nicks_are_unique_per_room,
    chat.test_private_message_and_broadcast_confirmations,
    # ben quits on one node and at once logs in on the next, whose mirror may still hold
    # him: the node he quit answers that he is gone, so the room hears "left (quit)" once.
    chat.test_quit_is_announced_and_aliases_work,
    chat.test_second_login_replaces_the_first,
    history.test_history_after_a_conversation_in_two_rooms,
    history.test_scrollback_on_join_and_login,
    history.test_offline_pm_is_queued_and_delivered_at_next_login,
    games.test_tictactoe_to_a_win_watched_by_a_spectator,
    games.test_tictactoe_to_a_draw_and_stats,
    games.test_hangman_with_a_secret_word_to_its_end,
    games.test_two_games_in_one_room,
    games.test_disconnect_and_resume,
]


class Spread:
    """Looks like one ChatServer to a test; each read of `.port` is the next node's."""

    def __init__(self, servers: list[Any]) -> None:
        self.servers = servers
        self._turn = itertools.cycle(range(len(servers)))

    @property
    def port(self) -> int:
        return self.servers[next(self._turn)].port


def cluster_of(store: str, bus: str, into: dict[str, Spread] | None = None):
    @contextlib.asynccontextmanager
    async def running_cluster(data_dir: Path, **kwargs: Any):
        async with contextlib.AsyncExitStack() as stack:
            servers = [await stack.enter_async_context(running_server(
                Path(data_dir) / f"node{n}", store_url=store, bus_url=bus, **kwargs))
                for n in range(NODES)]
            await until_all_know_each_other(servers)
            spread = Spread(servers)
            if into is not None:
                into["spread"] = spread
            yield spread
    return running_cluster


async def until(holds: Callable[[], bool], failure: str, tries: int = 250) -> None:
    """Poll `holds` every 20 ms (at most `tries` times) until it does."""
    for _ in range(tries):
        if holds():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(failure)


async def until_all_know_each_other(servers: list[Any]) -> None:
    """Each node has heard every other (their first snapshots): a cluster that is up."""
    await until(lambda: all(len(s.runtime.cluster.nodes) == len(servers) - 1
                            for s in servers), "the nodes never heard of each other", 200)


def rooms_seen(server: Any, user: str) -> set[str] | None:
    """The rooms a node has `user` in (its own session or its proxy of one elsewhere)."""
    session = server.hub.online.get(user.casefold())
    if session is None:
        return None
    return {room.name for room in session.joined()
            if any(member is session for member in room.members.values())}


def settled_logins(cluster: dict[str, Spread]):
    """`logged_in`, then until every node has the user in the rooms it is in: a cluster
    tells its nodes of a login through the bus, so a client on another node who acts on
    it at once (an invitation, a /msg) may be a few milliseconds early. The single-server
    tests act at once; here they wait for what a person on another node would see."""
    async def logged_in_everywhere(port: int, user: str, *args: Any, **kwargs: Any) -> Any:
        client = await helpers.logged_in(port, user, *args, **kwargs)
        servers = cluster["spread"].servers
        home = next(s for s in servers if s.port == port)

        def agreed() -> bool:
            want = rooms_seen(home, user)
            return bool(want) and all(rooms_seen(s, user) == want for s in servers)

        await until(agreed, f"the nodes never agreed where {user} is")
        return client
    return logged_in_everywhere


@pytest.mark.parametrize("test", ACCEPTANCE, ids=lambda t: f"{t.__module__}.{t.__name__}")
def test_on_three_nodes(test, tmp_path, monkeypatch, postgres_url, redis_server):
    module = sys.modules[test.__module__]
    cluster: dict[str, Spread] = {}
    monkeypatch.setattr(module, "running_server",
                        cluster_of(postgres_url, redis_server.url, cluster))
    if hasattr(module, "logged_in"):
        monkeypatch.setattr(module, "logged_in", settled_logins(cluster))
    test(tmp_path)
