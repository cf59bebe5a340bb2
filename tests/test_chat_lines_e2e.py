"""What the clients show, tried as a user would: real `play join` clients (curses and line)
in ptys against a real server. Every line has its time; the scrollback names a speaker as
the live chat did; Tab completes an account never seen; a kicked user is told why."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)
pytest.importorskip("pyte")

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

pytestmark = pytest.mark.timeout(90)
STAMP = re.compile(r"^\d\d:\d\d ")




def client(terms: list[PtyTerm], port: int, user: str, plain: bool, rows: int = 30) -> PtyTerm:
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), user,
                                *(["--plain"] if plain else [])), rows, 110,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm-256color"))
    terms.append(term)
    term.wait_for(f"you are in #lobby as {user}", 15)
    return term


def say_from(port: int, user: str, *lines: str) -> None:
    """Someone says lines through a pipe client and leaves."""
    subprocess.run(play_command("join", "127.0.0.1", str(port), user),
                   input="".join(line + "\n" for line in lines), capture_output=True,
                   text=True, env=child_env(PLAY_PASSWORD="pw"), timeout=30, check=True)


def row_with(term: PtyTerm, text: str) -> str:
    found = [line.rstrip() for line in term.lines if text in line]
    assert found, f"{text!r} is not on the screen:\n{term.text}"
    return found[-1]


def chat_rows(term: PtyTerm) -> list[str]:
    """The chat's lines since the login (not the status bar, not the prompt), each as it
    starts: a row the terminal wrapped (the one above it is full) is not a line."""
    rows = [line for line in term.lines if line.strip()]
    first = next(n for n, row in enumerate(rows) if "you are in #" in row)
    return [r.rstrip() for n, r in enumerate(rows) if n >= first
            and not r.startswith((">", " play ")) and rows[n - 1][-1] == " "]


@pytest.mark.parametrize("plain", [False, True], ids=["curses", "line"])
def test_every_line_has_its_time(server: ServerProcess, terms: list[PtyTerm],
                                 plain: bool) -> None:
    bob = client(terms, server.port, "bob", plain=True)
    bob.type_line("/join den")
    bob.wait_for("you are in #den as bob", 10)
    bob.type_line("said before you came")
    bob.wait_for("<bob> said before you came", 10)
    ann = client(terms, server.port, "ann", plain, rows=60)
    ann.type_line("/join den")  # scrollback
    ann.wait_for("said before you came", 10)
    ann.type_line("/who")  # a reply of several lines
    ann.wait_for("2 in #den", 10)
    ann.type_line("/nosuchcommand")  # an error
    ann.wait_for("unknown command", 10)
    ann.type_line("/rooms")  # one the client answers itself
    ann.wait_for("you are in 2 rooms", 10)
    ann.type_line("/msg ann note to self")  # a PM and its confirmation
    ann.wait_for("note to self", 10)
    ann.type_line("/all hello everyone")  # a broadcast and its ok
    ann.wait_for("broadcast delivered", 10)
    ann.settle()
    for text in ("said before you came", "2 in #den", "unknown command", "you are in 2 rooms",
                 "-> ann: note to self", "[broadcast] ann: hello everyone",
                 "broadcast delivered", "earlier messages in #den"):
        assert STAMP.match(row_with(ann, text)), (text, row_with(ann, text))
    for row in chat_rows(ann):  # and every other row: a time, or the tail of a wrapped line
        assert STAMP.match(row) or row.startswith("  "), row
    ann.type_line("/switch @ann")  # the curses client shows the PM in its own pane
    ann.wait_for("[PM from ann] note to self", 10)
    assert STAMP.match(row_with(ann, "[PM from ann] note to self"))


@pytest.mark.parametrize("plain", [False, True], ids=["curses", "line"])
def test_scrollback_names_a_speaker_as_the_live_chat_did(server: ServerProcess,
                                                         terms: list[PtyTerm],
                                                         plain: bool) -> None:
    watcher = client(terms, server.port, "wat", plain=True)
    bob = client(terms, server.port, "bob", plain=True)
    bob.type_line("/nick Bobby")
    watcher.wait_for("bob is now known as Bobby", 10)
    bob.type_line("hello under a nick")
    watcher.wait_for("<Bobby> hello under a nick", 10)
    bob.type_line("/nick Robert")  # a later nick changes nothing said before
    watcher.wait_for("Bobby is now known as Robert", 10)
    late = client(terms, server.port, "late", plain)
    late.wait_for("hello under a nick", 10)
    assert row_with(late, "hello under a nick").endswith("<Bobby> hello under a nick")
    assert not any("<bob> hello" in line or "<Robert> hello" in line for line in late.lines)


@pytest.mark.parametrize("plain", [False, True], ids=["curses", "line"])
def test_tab_completes_an_account_the_client_never_saw(server: ServerProcess,
                                                       terms: list[PtyTerm],
                                                       plain: bool) -> None:
    ann = client(terms, server.port, "ann", plain)
    ann.type_line("/join den")
    ann.wait_for("you are in #den as ann", 10)
    ann.type_line("/part lobby")  # so no one's arrival in the lobby is seen here
    ann.wait_for("you left #lobby", 10)
    say_from(server.port, "zanzibar", "I was here")  # an account made after ann came
    assert not any("zanzibar" in line for line in ann.lines)
    ann.send("/whois zanz")
    ann.key("tab")
    ann.wait_until(lambda t: any(line.rstrip().endswith("> /whois zanzibar")
                                 for line in t.lines), what="the completed offline account")
    ann.key("enter")
    ann.wait_for("offline (a PM is kept for their next login)", 10)
    bob = client(terms, server.port, "bob", plain=True)  # a room made after ann came
    bob.type_line("/join gazebo")
    bob.wait_for("you are in #gazebo as bob", 10)
    ann.send("/join gaz")
    ann.key("tab")
    ann.wait_until(lambda t: any(line.rstrip().endswith("> /join gazebo")
                                 for line in t.lines), what="the completed new room")


def test_a_kicked_user_reads_why_where_they_land(server: ServerProcess,
                                                 terms: list[PtyTerm]) -> None:
    olga = client(terms, server.port, "olga", plain=True)
    olga.type_line("/join den")
    olga.wait_for("you own #den", 10)
    mal = client(terms, server.port, "mal", plain=False)
    mal.type_line("/join den")
    olga.wait_for("mal joined #den", 10)
    olga.type_line("/kick mal calm down")
    mal.wait_for("you left #den (kicked)", 10)
    mal.wait_for("olga kicked you from #den (calm down)", 10)  # in the pane mal looks at now
    assert "#lobby" in mal.lines[0] and "#den" not in mal.lines[0]  # the status bar
