"""The curses client in a pty with three rooms: the bar, switching, unread counts, a board."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)

from helpers import ServerProcess  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402
from test_curses_e2e import join, status  # noqa: E402

pytestmark = pytest.mark.timeout(60)




def chat_text(term: PtyTerm) -> str:
    return "\n".join(term.lines[1:-1])


def test_three_rooms_switching_unread_and_a_board_in_one(server: ServerProcess,
                                                         terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice", 30, 120)
    bob = join(terms, server.port, "bob", 24, 80)
    alice.type_line("/join den")
    alice.type_line("/join games")
    alice.wait_until(lambda t: "1 #lobby 2 #den [3 #games]" in status(t), what="the room bar")
    alice.type_line("/game tictactoe bot")
    # The reply and the start's notice in #games, and the whole board beside the chat.
    alice.wait_until(lambda t: "game 1 (tictactoe) started" in t.text
                     and "game 1 (tictactoe) begins" in t.text and "│" in t.text
                     and " 3  . | . | ." in t.text, what="the game's start and its board")
    board_in_games = alice.text

    alice.send("\x1b1")  # Alt-1: the lobby
    # Each room has its own transcript: the lobby's, without #games' (the status bar is
    # drawn before the rest of the screen, so wait for the redraw to finish).
    alice.wait_until(lambda t: "[1 #lobby] 2 #den 3 #games" in status(t)
                     and "bob joined #lobby" in chat_text(t)
                     and "game 1 (tictactoe)" not in chat_text(t), what="Alt-1: the lobby")
    bob.type_line("hello lobby")
    alice.wait_for("<bob> hello lobby")

    bob.type_line("/join den")
    bob.wait_until(lambda t: "[2 #den]" in status(t), what="bob in #den")
    bob.type_line("alice, news in the den")
    alice.wait_until(lambda t: "2 #den (1!)" in status(t), what="an unread mention in #den")
    bob.type_line("more den talk")
    alice.wait_until(lambda t: "2 #den (2!)" in status(t), what="two unread in #den")
    assert "more den talk" not in chat_text(alice)

    alice.send("\x0e")  # Ctrl-N: the next room, #den
    alice.wait_until(lambda t: "[2 #den]" in status(t), what="Ctrl-N")
    alice.wait_for("<bob> more den talk")
    assert "(2!)" not in status(alice)  # seen now
    alice.type_line("hi bob")
    bob.wait_for("<alice> hi bob")  # typed in #den, said in #den

    alice.type_line("/switch games")
    alice.wait_until(lambda t: "[3 #games]" in status(t), what="/switch")
    alice.wait_until(lambda t: "game 1 (tictactoe)" in t.text and any(
        row in t.text for row in board_in_games.splitlines() if "|" in row),
        what="#games with its board again")

    alice.send("\x10")  # Ctrl-P: back to #den
    alice.wait_until(lambda t: "[2 #den]" in status(t), what="Ctrl-P")
    alice.type_line("/part")
    alice.wait_until(lambda t: "#den" not in status(t) and "#lobby" in status(t),
                     what="#den gone from the bar")
    bob.wait_for("alice left #den")


def test_lines_pasted_after_a_join_go_to_the_room_joined(server: ServerProcess,
                                                         terms: list[PtyTerm]) -> None:
    """A paste of `/join den`, a line, `/join attic`, a line: each line goes to the room
    joined just before it, not to the one looked at when it was typed."""
    carol = join(terms, server.port, "carol", 24, 100)
    dave = join(terms, server.port, "dave", 24, 100)
    dave.type_line("/join den")
    dave.wait_until(lambda t: "[2 #den]" in status(t), what="dave in #den")
    carol.send("/join den\rfor the den\r/join attic\rfor the attic\r")
    dave.wait_for("<carol> for the den", 10)
    carol.wait_until(lambda t: "[3 #attic]" in status(t) and "<carol> for the attic"
                     in chat_text(t), what="the attic's line in the attic", timeout=10)
    dave.send("\x1b1")  # the lobby heard neither line
    dave.wait_until(lambda t: "[1 #lobby]" in status(t), what="dave's lobby")
    dave.settle()
    assert "for the" not in chat_text(dave)
