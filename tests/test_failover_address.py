"""The address a client shows is the node it is connected to now: after a failover too."""

from __future__ import annotations

import socket
import sys

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402
from test_views import Grid  # noqa: E402

from gameclient.controller import Controller  # noqa: E402
from gameclient.model import ClientModel  # noqa: E402
from gameserver.protocol import RoomState  # noqa: E402

pytestmark = pytest.mark.timeout(90)
PASSWORD = "correct horse"


def status_of(controller: Controller, cols: int = 100) -> str:
    grid = Grid(24, cols)
    controller.draw(grid)
    return grid.line(0)


def test_the_status_bar_names_the_models_address_and_follows_it() -> None:
    model = ClientModel(user="ann", room="lobby")
    model.apply(RoomState(room="lobby", nick="ann", online=1,
                          members=[{"nick": "ann", "user": "ann"}]))
    controller = Controller(model, lambda typed, secret: True, server="ssh.example:2222")
    assert "play ssh.example:2222 │" in status_of(controller)  # no address: the door's label
    model.address = "127.0.0.1:5220"
    assert "play 127.0.0.1:5220 │" in status_of(controller)
    model.address = "[::1]:5221"  # another node, after a failover
    bar = status_of(controller)
    assert "play [::1]:5221 │" in bar and "5220" not in bar and "ssh.example" not in bar


def free_port() -> int:
    """A loopback port where nothing listens (bound, then let go)."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        return hole.getsockname()[1]


def join(terms: list[PtyTerm], addresses: str, user: str, *extra: str) -> PtyTerm:
    term = PtyTerm(play_command("join", addresses, user, *extra), 30, 110,
                   child_env(PLAY_PASSWORD=PASSWORD, TERM="xterm-256color"))
    terms.append(term)
    return term


def curses_join(terms: list[PtyTerm], addresses: str, user: str) -> PtyTerm:
    term = join(terms, addresses, user)
    term.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                    what=f"{user}'s screen")
    return term


def test_a_first_address_that_does_not_answer_is_not_the_one_shown(
        server: ServerProcess, terms: list[PtyTerm]) -> None:
    dead = free_port()
    ann = curses_join(terms, f"127.0.0.1:{dead},127.0.0.1:{server.port}", "ann")
    bar = ann.lines[0]
    assert f"play 127.0.0.1:{server.port} │" in bar and str(dead) not in bar, bar
    bob = join(terms, f"127.0.0.1:{dead},127.0.0.1:{server.port}", "bob", "--plain")
    bob.wait_for(f"connecting to 127.0.0.1:{dead} (or 127.0.0.1:{server.port}) ...")
    bob.wait_for(f"connected to 127.0.0.1:{server.port}", timeout=15)
    bob.wait_for("you are in #lobby as bob")


def test_after_its_node_dies_each_client_shows_the_node_it_resumed_on(
        tmp_path, postgres_url, redis_server, terms: list[PtyTerm]) -> None:
    cluster = ("--store", postgres_url, "--bus", redis_server.url)
    first = ServerProcess(tmp_path / "a", *cluster)
    second = ServerProcess(tmp_path / "b", *cluster)
    try:
        both = f"127.0.0.1:{first.port},127.0.0.1:{second.port}"
        ann = curses_join(terms, both, "ann")
        assert f"play 127.0.0.1:{first.port} │" in ann.lines[0], ann.lines[0]
        ann.type_line("/join den")
        ann.wait_until(lambda t: "1 #lobby [2 #den]" in t.lines[0], what="two rooms")
        bob = join(terms, both, "bob", "--plain")  # the line client, on a terminal
        bob.wait_for("you are in #lobby as bob", timeout=15)

        first.kill()  # SIGKILL: the node is gone without a word
        ann.wait_until(lambda t: f"play 127.0.0.1:{second.port} │" in t.lines[0]
                       and "1 #lobby [2 #den]" in t.lines[0]
                       and f":{first.port}" not in t.lines[0],
                       timeout=30, what="the second node's address and both rooms in the bar")
        ann.wait_for(f"reconnected to 127.0.0.1:{second.port}", timeout=10)
        bob.wait_for(f"reconnected to 127.0.0.1:{second.port}: resumed as bob", timeout=30)
        bob.type_line("hello from the second node")
        ann.send("\x1b1")  # Alt-1: the lobby, where bob speaks
        # (Not "<bob> ...": within NODE_TIMEOUT of the kill the dead node's mirror of bob
        # still holds his nick, so a resume that quick may get "bob_2": issue 17's.)
        ann.wait_until(lambda t: "[1 #lobby] 2 #den" in t.lines[0]
                       and "> hello from the second node" in t.text, timeout=15,
                       what="bob's line, said on the second node, in ann's lobby")
        assert f"play 127.0.0.1:{second.port} │" in ann.lines[0], ann.lines[0]
    finally:
        for node in (first, second):
            if node.proc.poll() is None:
                node.kill()
