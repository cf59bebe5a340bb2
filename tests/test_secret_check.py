"""A game option that is secret (hangman's word) is asked for only once the server said the
game could start. The shared controller on the in-memory hub; then the real curses and line
clients in ptys against a real server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from hubpair import Pair, User

from gameclient.commands import Typed, typed_message
from gameclient.controller import Controller
from gameclient.model import ClientModel
from gameclient.panes import send_to_pane
from gameclient.termkeys import Key, Text
from gameserver.protocol import Command

pytestmark = pytest.mark.timeout(60)


class Seat:
    """A controller whose way out is the in-memory hub, with a check (as cursesui has)."""

    def __init__(self, pair: Pair, name: str) -> None:
        self.user: User = pair.user(name)
        self.model = ClientModel(user=name)
        self.checks: list[Command] = []
        self.controller = Controller(self.model, self.send, check=self.check)
        self.pump()
        self.controller.games = [dict(g) for e in self.user.events if e.TYPE == "games"
                                 for g in e.games]

    def send(self, typed: Typed, secret: str | None) -> bool:
        send_to_pane(self, self.model, typed, secret)
        return True

    def send_typed(self, typed: Typed, secret: str | None = None, room: str | None = None) -> int:
        msg_id = self.user.next_id()
        self.user.send(typed_message(typed, msg_id, secret, room))
        return msg_id

    def check(self, typed: Typed) -> int:
        msg_id = self.user.next_id()
        command = Command(id=msg_id, name=typed.name or "", args=typed.args,
                          room=self.model.room, check=True)
        self.checks.append(command)
        self.user.send(command)
        return msg_id

    def pump(self) -> None:
        for event in self.user.new():
            self.controller.take(event)

    def type_line(self, text: str) -> None:
        self.controller.key(Text(text))
        self.controller.key(Key("enter"))
        self.pump()

    def texts(self) -> list[str]:
        return [line.text for line in self.model.transcript]


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    p = Pair(tmp_path)
    host = p.extend_games()
    yield p, host
    p.close()


def test_the_secret_is_asked_only_once_the_game_can_start(pair: Any) -> None:
    pair, host = pair
    bob = pair.user("bob")
    running = bob.cmd("game", "hangman").data["game_id"]
    alice = Seat(pair, "alice")
    alice.type_line("/game hangman --secret")
    assert len(alice.checks) == 1 and alice.controller.secret is None  # never asked
    assert f"! a hangman game is already running here (game {running}); join in, or wait" \
           " for it to end" in alice.texts()
    assert list(host.tables) == [running]
    bob.cmd("resign", str(running))
    alice.pump()
    alice.type_line("/game hangman --secret")
    assert alice.controller.secret is not None  # the server said ok: now it is asked
    assert alice.controller.prompt() == "secret word (hidden, Esc cancels): "
    assert not [t for t in alice.texts() if "can start" in t]  # the check itself is quiet
    alice.controller.key(Text("walrus"))
    alice.controller.key(Key("enter"))
    alice.pump()
    live = [t for t in host.tables.values() if t.live]
    assert len(live) == 1 and live[0].name == "hangman"
    assert "walrus" not in " ".join(alice.texts())


def test_a_refused_check_names_the_reason_of_each_kind(pair: Any) -> None:
    pair, host = pair
    alice = Seat(pair, "alice")
    alice.type_line("/game hangman bob --secret")  # one seat: no opponent
    assert alice.controller.secret is None and "has one seat" in alice.texts()[-1]
    alice.type_line("/game hangman --secret --clock 1s")
    assert alice.controller.secret is None and alice.texts()[-1].startswith("! ")
    assert not host.tables


def test_without_a_check_the_host_asks_at_once(pair: Any) -> None:
    """A host that cannot check (an older door) still works as before."""
    pair, _host = pair
    alice = Seat(pair, "alice")
    alice.controller._check = None
    alice.type_line("/game hangman --secret")
    assert alice.controller.secret is not None and not alice.checks


# ---------------------------------------------------------------- real clients in ptys

if sys.platform != "win32":
    pytest.importorskip("pyte")
    from helpers import child_env, play_command
    from ptyterm import PtyTerm




def open_client(terms: list[Any], port: int, user: str, *extra: str) -> Any:
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), user, *extra), 24, 100,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm-256color"))
    terms.append(term)
    term.wait_for(f"you are in #lobby as {user}", 15)
    return term


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX only")
@pytest.mark.parametrize("plain", [False, True], ids=["curses", "line"])
def test_a_real_client_checks_before_asking_the_word(server: Any, terms: list[Any],
                                                     plain: bool) -> None:
    bob = open_client(terms, server.port, "bob", "--plain")
    bob.type_line("/game hangman")
    bob.wait_for("begins", 10)
    alice = open_client(terms, server.port, "alice", *(["--plain"] if plain else []))
    alice.type_line("/game hangman --secret")
    alice.wait_for("a hangman game is already running here", 10)
    alice.settle()
    assert not any("secret word" in line for line in alice.lines)  # nothing asked
    bob.type_line("/resign")
    alice.wait_for("(hangman) is over", 10)
    alice.type_line("/game hangman --secret")
    alice.wait_for("secret word", 10)
    alice.send("zebra")
    alice.key("enter")
    alice.wait_for("begins (started by alice", 10)
    alice.settle()
    assert b"zebra" not in alice.raw
