"""The real `play join` in a pseudo-terminal against a real server, read through pyte."""

from __future__ import annotations

import re
import signal
import sys
import termios
from pathlib import Path

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

pytestmark = pytest.mark.timeout(30)
PASSWORD = "correct horse"




def join(terms: list[PtyTerm], port: int, user: str, rows: int = 24, cols: int = 80,
         **env: str) -> PtyTerm:
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), user), rows, cols,
                   child_env(PLAY_PASSWORD=PASSWORD, TERM="xterm-256color", **env))
    terms.append(term)
    term.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                    what=f"{user}'s screen")
    return term


def status(term: PtyTerm) -> str:
    return term.lines[0]


def assert_sane(term: PtyTerm) -> None:
    """The terminal is back in cooked mode: echo, line editing, signals, newline handling."""
    iflag, oflag, _, lflag = termios.tcgetattr(term.slave)[:4]
    for flag in (termios.ECHO, termios.ICANON, termios.ISIG, termios.IEXTEN):
        assert lflag & flag, f"local flag {flag:#x} left off"
    assert iflag & termios.ICRNL and iflag & termios.IXON
    assert oflag & termios.OPOST


def test_chat_status_bar_and_wide_characters(server: ServerProcess,
                                             terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice", 24, 80)
    for part in (f"127.0.0.1:{server.port}", "#lobby", "alice", "1 online"):
        assert part in status(alice)
    bob = join(terms, server.port, "bob", 43, 132)
    alice.wait_until(lambda t: "2 online" in status(t), what="2 online")
    alice.wait_for("bob joined #lobby")

    alice.send("hé 中文 😀 ok")
    alice.wait_until(lambda t: t.lines[-1].startswith("> hé 中文 😀 ok"), what="typed text")
    assert alice.screen.cursor.y == 23
    assert alice.screen.cursor.x == len("> hé ") + 4 + 1 + 2 + len(" ok")
    alice.key("enter")
    for term in (alice, bob):
        term.wait_for("<alice> hé 中文 😀 ok")
    assert alice.lines[-1].rstrip() == ">"

    alice.send("abc")  # editing keys as a real xterm sends them, decoded by curses
    for key in ("home", "delete", "end", "left"):
        alice.key(key)
    alice.send("x")
    alice.wait_until(lambda t: t.lines[-1].startswith("> bxc "), what="edited line")
    alice.key("enter")
    bob.wait_for("<alice> bxc")
    alice.key("up")
    alice.wait_until(lambda t: t.lines[-1].startswith("> bxc "), what="history")
    alice.key("ctrl-u")
    alice.send("/acc")
    alice.key("tab")
    alice.wait_until(lambda t: t.lines[-1].startswith("> /accept "), what="completion")
    alice.key("ctrl-u")

    long = "wrap " + "中" * 60 + " end"  # 120 columns of wide characters: wraps at 80
    bob.type_line(long)
    alice.wait_until(lambda t: "中" * 60 in "".join(
        line.strip() for line in t.lines[1:-1]).replace(" ", ""), what="the long line")
    shown = "".join(line.strip() for line in alice.lines[1:-1])
    assert "中" * 60 in shown.replace(" ", "")
    assert all(len(line) <= 80 for line in alice.lines)


def test_tictactoe_board_updates_and_survives_resizes(server: ServerProcess,
                                                      terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice", 24, 80)
    bob = join(terms, server.port, "bob", 43, 132)
    alice.wait_for("bob joined")
    alice.type_line("/game tictactoe bob")
    bob.wait_for("/accept")
    bob.type_line("/accept")
    for term in (alice, bob):
        term.wait_for("#1 tictactoe")
        term.wait_for("alice vs bob")
        term.wait_for("a   b   c")
    alice.wait_until(lambda t: "your move" in status(t), what="alice's turn")
    bob.wait_until(lambda t: "alice's move" in status(t), what="alice's move on bob's bar")
    board_left = alice.text.split("\n")[3].index("a   b")
    assert board_left > 40, "the board sits beside the chat at 80 columns"

    alice.type_line("b2")
    for term in (alice, bob):
        term.wait_until(lambda t: any(" 2  . | X | ." in line for line in t.lines), what="X b2")
    bob.wait_until(lambda t: "your move" in status(t), what="bob's turn")

    alice.resize(24, 60)  # too narrow to share: the board goes above the chat
    # The whole redraw, not its first rows: a squeezed board still says whose turn it is.
    alice.wait_until(lambda t: t.lines[1].startswith(" #1 tictactoe: alice vs bob")
                     and t.lines[2].strip().startswith("a   b   c")
                     and "bob (O) to move" in t.text, what="board on top, with whose turn")
    alice.resize(8, 30)
    alice.wait_for("terminal too small")
    alice.resize(43, 132)
    alice.wait_until(lambda t: "#1 tictactoe" in t.text and "terminal too small" not in t.text
                     and len(t.lines) == 43 and " 2  . | X | ." in t.text,
                     what="board back at 132x43")

    for who, name, move in ((bob, "bob", "a1"), (alice, "alice", "b1"), (bob, "bob", "a2"),
                            (alice, "alice", "b3")):
        who.type_line(move)
        # The server's word that the move was played, not the typed line's echo: the other
        # player's next move must not reach the server before this one.
        who.wait_for(f"game 1: {name} played {move}")
    for term in (alice, bob):
        term.wait_until(lambda t: "wins" in t.text or "won" in t.text, what="the end")
        assert "your move" not in status(term)


def test_hangman_secret_word_is_never_echoed(server: ServerProcess,
                                             terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    alice.type_line("/game hangman --secret")
    alice.wait_for("secret word")
    alice.send("zebra")
    alice.wait_for("*****")
    alice.key("enter")
    alice.wait_for("#1 hangman")
    alice.settle()
    assert b"zebra" not in alice.raw


def test_ctrl_c_restores_the_terminal_and_says_why(server: ServerProcess,
                                                    terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    alice.key("ctrl-c")
    assert alice.wait_exit() == 0
    assert "you left" in alice.text
    assert "online" not in alice.text  # back on the normal screen, not the curses one
    assert_sane(alice)


def test_quit_command(server: ServerProcess, terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    alice.type_line("/quit")
    assert alice.wait_exit() == 0
    assert "you left" in alice.text
    assert_sane(alice)


def test_a_server_restart_is_ridden_out_and_the_rooms_come_back(
        server: ServerProcess, terms: list[PtyTerm], tmp_path: Path) -> None:
    alice = join(terms, server.port, "alice")
    alice.type_line("/join den")
    alice.wait_until(lambda t: "[2 #den]" in status(t), what="two rooms")
    server.proc.send_signal(signal.SIGTERM)  # a service manager's restart
    server.proc.wait(10)
    alice.wait_for("restarting")
    alice.wait_for("reconnecting in", timeout=10)
    again = ServerProcess(tmp_path / "server", port=server.port)  # the same data and port
    try:
        alice.wait_for(f"reconnected to 127.0.0.1:{server.port}: resumed as alice", timeout=20)
        alice.wait_until(lambda t: "1 #lobby [2 #den]" in status(t), what="both rooms back")
        alice.type_line("still here")
        alice.wait_for("<alice> still here")
        alice.key("ctrl-c")
        assert alice.wait_exit() == 0
        assert_sane(alice)
    finally:
        again.kill()


def test_a_server_stopped_for_good_ends_the_client_with_its_sentence(
        server: ServerProcess, terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    server.proc.send_signal(signal.SIGINT)  # Ctrl-C on the server: it is not coming back
    server.proc.wait(10)
    assert alice.wait_exit() == 0
    assert "the server is shutting down" in alice.text
    assert "reconnecting" not in alice.text
    assert_sane(alice)


def test_the_hosts_quit_ends_everyone_elses_client(tmp_path: Path,
                                                   terms: list[PtyTerm]) -> None:
    host = PtyTerm(play_command("host", "--host", "127.0.0.1", "--port", "0", "--name", "hana",
                                "--data-dir",
                                str(tmp_path / "host")), 24, 100,
                   child_env(PLAY_PASSWORD=PASSWORD, TERM="xterm-256color"))
    terms.append(host)
    host.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                    what="the host's screen")
    port = int(re.search(r"127\.0\.0\.1:(\d+)", host.lines[0]).group(1))  # type: ignore[union-attr]
    bob = join(terms, port, "bob")
    line = PtyTerm(play_command("join", "127.0.0.1", str(port), "cy", "--plain"), 24, 80,
                   child_env(PLAY_PASSWORD=PASSWORD, TERM="xterm-256color"))
    terms.append(line)
    line.wait_for("you are in #lobby")
    host.wait_for("cy joined")
    host.type_line("/quit")
    assert host.wait_exit() == 0
    for term in (bob, line):  # both clients end, with the host's sentence
        assert term.wait_exit() == 0
        assert "the host has left" in term.text
        assert "reconnecting" not in term.text
    assert_sane(bob)


def test_a_lost_connection_is_retried_with_backoff(server: ServerProcess,
                                                   terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    server.kill()
    alice.wait_for("connection lost")
    alice.wait_for("reconnecting in 1 second (try 1", timeout=10)
    alice.wait_for("reconnecting in 2 seconds (try 2", timeout=10)  # backing off
    alice.send("\x03")  # Ctrl-C leaves while it waits
    assert alice.wait_exit() == 0
    assert_sane(alice)


def test_no_color_still_sets_things_apart(server: ServerProcess,
                                          terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice", NO_COLOR="1")
    alice.type_line("/nosuchcommand")
    alice.wait_for("nosuchcommand")
    alice.settle()
    assert all(cell.fg == "default" for row in alice.screen.buffer.values()
               for cell in row.values())
    assert alice.screen.buffer[0][1].reverse, "the status bar is in reverse video"


def test_sigterm_restores_the_terminal(server: ServerProcess, terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice")
    alice.proc.send_signal(signal.SIGTERM)
    assert alice.wait_exit() == 1
    assert "terminated" in alice.text
    assert_sane(alice)


def test_unknown_terminal_falls_back_to_the_line_client(server: ServerProcess,
                                                       terms: list[PtyTerm]) -> None:
    term = PtyTerm(play_command("join", "127.0.0.1", str(server.port), "alice"), 24, 80,
                   child_env(PLAY_PASSWORD=PASSWORD, TERM="no-such-terminal"))
    terms.append(term)
    term.wait_for("cannot draw on this terminal")
    term.wait_for("you are in #lobby")
    term.type_line("/quit")
    assert term.wait_exit() == 0
    assert_sane(term)


def test_connect_four_clock_and_replay_in_the_board_pane(server: ServerProcess,
                                                         terms: list[PtyTerm]) -> None:
    alice = join(terms, server.port, "alice", 40, 100)
    bob = join(terms, server.port, "bob", 40, 100)
    alice.wait_for("bob joined")
    alice.type_line("/game c4 bob --clock 45s")
    bob.wait_for("/accept")
    bob.type_line("/accept")
    alice.wait_for("#1 connectfour")
    # The move clock counts down on screen between frames.
    alice.wait_until(lambda t: "alice: 0:4" in t.text and "left to" in t.text,
                     what="the clock")
    first = next(line for line in alice.lines if "left to" in line)
    alice.wait_until(lambda t: first not in t.lines, timeout=10, what="the clock ticking")
    moves = ((alice, bob, "4"), (bob, alice, "3"), (alice, bob, "4"), (bob, alice, "3"),
             (alice, bob, "4"), (bob, alice, "3"))
    for who, other, col in moves:
        who.type_line(col)
        other.wait_until(lambda t: "your move" in status(t), timeout=10, what=col)
    alice.type_line("4")
    alice.wait_for("alice wins with four in a row")
    alice.type_line("/replay 1")
    alice.wait_for("positions, shown in the board pane")
    alice.wait_until(lambda t: "  replay" in t.text and "step 1/7" in t.text,
                     timeout=8, what="replay step 1")
    alice.wait_until(lambda t: "step 7/7" in t.text, timeout=15, what="replay to the end")
    assert "1. alice played" not in alice.text, "the board pane, not the chat, shows it"
