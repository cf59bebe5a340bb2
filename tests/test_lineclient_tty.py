"""The line client on a real terminal (a pty, read through pyte): lines arrive above your typing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)
pytest.importorskip("pyte")

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

pytestmark = pytest.mark.timeout(40)



@pytest.fixture
def alice(server: ServerProcess) -> Iterator[PtyTerm]:
    term = PtyTerm(play_command("join", "127.0.0.1", str(server.port), "alice", "--plain"),
                   12, 60, child_env(PLAY_PASSWORD="pw", TERM="xterm"))
    try:
        term.wait_for("you are in #lobby as alice")
        yield term
    finally:
        term.close()


def say_from(server: ServerProcess, user: str, *lines: str) -> None:
    """Another user says lines through a pipe client and leaves."""
    subprocess.run(play_command("join", "127.0.0.1", str(server.port), user),
                   input="".join(line + "\n" for line in lines), capture_output=True,
                   text=True, env=child_env(PLAY_PASSWORD="pw"), timeout=30, check=True)


def last_row(term: PtyTerm) -> str:
    rows = [line.rstrip() for line in term.lines if line.strip()]
    return rows[-1] if rows else ""


def test_an_arriving_line_goes_above_the_text_being_typed(server, alice):
    alice.send("half a thou")
    alice.wait_until(lambda t: last_row(t) == "> half a thou", what="typed text")
    alice.send("\x1b[D\x1b[D")  # the cursor two to the left, mid-word
    say_from(server, "bob", "hi alice, are you there?")
    alice.wait_for("<bob> hi alice, are you there?")
    alice.wait_for("bob left #lobby")
    alice.settle()
    rows = [line.rstrip() for line in alice.lines if line.strip()]
    assert rows[-1] == "> half a thou", rows  # the text is drawn again, whole, below
    assert not any("half" in row for row in rows[:-1]), rows  # and never split by a line
    assert any(row.endswith("<bob> hi alice, are you there?") for row in rows[:-1])
    assert alice.screen.cursor.x == len("> half a th")  # the cursor is where it was
    alice.send("X")  # typing goes on where the cursor was
    alice.key("enter")
    alice.wait_for("<alice> half a thXou")


def test_tab_history_and_a_hidden_secret_word(server, alice):
    alice.send("/ga")
    alice.key("tab")
    alice.wait_until(lambda t: last_row(t) == "> /game", what="command completion")
    alice.send("s")
    alice.key("enter")
    alice.wait_for("tictactoe")
    alice.key("up")
    alice.wait_until(lambda t: last_row(t) == "> /games", what="history")
    alice.send("\x15")  # Ctrl-U
    alice.wait_until(lambda t: last_row(t) == ">", what="an empty line")
    alice.type_line("/game hangman --secret")
    alice.wait_for("secret word (not shown):")
    alice.send("zebra")
    alice.settle()
    assert "zebra" not in alice.text
    alice.key("enter")
    alice.wait_for("hangman")
    assert "zebra" not in alice.text


def test_ctrl_d_on_an_empty_line_leaves_and_gives_the_terminal_back(server, alice):
    import termios

    alice.send("\x04")
    assert alice.wait_exit() == 0
    assert "you left" in alice.text
    flags = alice.lflags()
    assert flags & termios.ECHO and flags & termios.ICANON


def test_msg_and_all_alone_ask_whom_and_what(server, alice):
    bob = PtyTerm(play_command("join", "127.0.0.1", str(server.port), "bob", "--plain"),
                  12, 60, child_env(PLAY_PASSWORD="pw", TERM="xterm"))
    try:
        bob.wait_for("you are in #lobby as bob")
        alice.type_line("/msg")
        alice.wait_for("2 online:")  # who is online, to choose from
        alice.wait_until(lambda t: last_row(t).startswith("to whom"), what="the first question")
        alice.type_line("bob")
        alice.wait_until(lambda t: last_row(t).startswith("message:"), what="the second one")
        alice.type_line("hello there")
        alice.wait_for("-> bob: hello there  (delivered)")
        bob.wait_for("[PM from alice] hello there")
        alice.type_line("/all")
        alice.wait_until(lambda t: last_row(t).startswith("message to everyone:"),
                         what="the broadcast's question")
        alice.type_line("")
        alice.wait_for("! nothing was sent")
        alice.type_line("/all")
        alice.wait_until(lambda t: last_row(t).startswith("message to everyone:"),
                         what="the question again")
        alice.type_line("dinner at six")
        alice.wait_for("broadcast delivered to 2 users online")
        bob.wait_for("[broadcast] alice: dinner at six")
    finally:
        bob.close()


def test_msg_alone_from_a_pipe_reads_the_answers_as_lines(server):
    out = subprocess.run(play_command("join", "127.0.0.1", str(server.port), "carol"),
                         input="/msg\ncarol\nnote to self\n/all\nhi all\n", capture_output=True,
                         text=True, env=child_env(PLAY_PASSWORD="pw"), timeout=30)
    assert out.returncode == 0, out.stderr
    assert "to whom (a nick or a username):" in out.stdout
    assert "-> carol: note to self  (delivered)" in out.stdout
    assert "broadcast delivered to 1 user online" in out.stdout
