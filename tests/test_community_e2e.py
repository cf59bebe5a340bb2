"""Moderation and attention end to end: real `play` clients in ptys against a real server.

A kick, a ban that survives a reconnect and a server restart, mute and slow mode, an
invite-only room, the modlog; the bell (the BEL byte) and the badge in the curses client.
"""

from __future__ import annotations

import sys

import pytest

if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)
pytest.importorskip("pyte")

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

pytestmark = pytest.mark.timeout(90)




def plain(terms: list[PtyTerm], port: int, user: str) -> PtyTerm:
    """The line client on a terminal, logged in and in the lobby."""
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), user, "--plain"), 30, 100,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm"))
    terms.append(term)
    term.wait_for(f"you are in #lobby as {user}", 15)
    return term


def type_and_see(term: PtyTerm, line: str, expected: str) -> None:
    term.type_line(line)
    term.wait_for(expected, 10)


def test_kick_ban_across_reconnect_and_restart_then_unban(server, terms):
    olga = plain(terms, server.port, "olga")
    mal = plain(terms, server.port, "mal")
    type_and_see(olga, "/join den", "you own #den")
    type_and_see(mal, "/join den", "you are in #den as mal")
    type_and_see(mal, "/kick olga", "only ops of #den can do that")
    type_and_see(olga, "/kick mal calm down", "olga kicked mal from #den (calm down)")
    mal.wait_for("olga kicked you from #den (calm down)")
    mal.wait_for("you are in #lobby as mal")
    mal.type_line("/join den")  # a kick is not a ban; wait for this join, not the first one
    mal.wait_until(lambda t: t.text.count("you are in #den as mal") >= 2, 10,
                   what="back in #den")
    type_and_see(mal, "/nick sneaky", "is now sneaky")
    type_and_see(olga, "/ban sneaky 1h spam", "olga banned mal from #den for 1 hour (spam)")
    mal.wait_for("olga banned you from #den for 1 hour (spam)")
    type_and_see(mal, "/join den", "! you are banned from #den for 1 hour (spam)")

    mal.type_line("/quit")
    assert mal.wait_exit() == 0
    mal = plain(terms, server.port, "mal")  # a reconnect: still banned
    type_and_see(mal, "/join den", "! you are banned from #den")

    port, data = server.port, server.data_dir
    server.stop()
    for term in (olga, mal):  # a client on a terminal would reconnect by itself: leave
        term.wait_for("reconnecting in", 15)
        term.close()
    again = ServerProcess(data, port=port)  # a restart: the ban is kept
    try:
        mal = plain(terms, again.port, "mal")
        type_and_see(mal, "/join den", "! you are banned from #den")
        olga = plain(terms, again.port, "olga")
        type_and_see(olga, "/join den", "you are in #den as olga")
        olga.type_line("/modlog")
        olga.wait_for("#den's moderation log:")
        olga.wait_for("olga ban mal  for 1 hour (spam)")
        assert "olga kick mal  calm down" in olga.text
        type_and_see(olga, "/unban mal", "olga unbanned mal from #den")
        type_and_see(mal, "/join den", "you are in #den as mal")
    finally:
        again.stop()


def test_mute_slow_mode_and_an_invite_only_room(server, terms):
    olga = plain(terms, server.port, "olga")
    ned = plain(terms, server.port, "ned")
    ann = plain(terms, server.port, "ann")
    type_and_see(olga, "/join den", "you own #den")
    type_and_see(ned, "/join den", "you are in #den as ned")
    type_and_see(olga, "/mute ned 10m", "olga muted ned in #den for 10 minutes")
    type_and_see(ned, "can I speak?", "! you are muted in #den for 10 minutes")
    type_and_see(olga, "/unmute ned", "olga unmuted ned in #den")
    type_and_see(ned, "thanks", "<ned> thanks")
    type_and_see(olga, "/slow 60", "one message every minute per person")
    type_and_see(ned, "one", "! #den is in slow mode")  # "thanks" was just now
    type_and_see(olga, "ops are not slowed", "<olga> ops are not slowed")
    type_and_see(olga, "/slow 0", "olga turned slow mode off in #den")
    type_and_see(ned, "free again", "<ned> free again")
    type_and_see(olga, "/mode +i", "olga made #den invite-only")
    type_and_see(ann, "/join den", "! #den is invite-only; ask one of its ops for an /invite")
    type_and_see(olga, "/invite ann", "olga invited ann to #den")
    ann.wait_for("olga invites you to #den")
    type_and_see(ann, "/join den", "you are in #den as ann")
    type_and_see(ned, "/topic mine", "! only ops of #den can do that")
    type_and_see(olga, "/op ned", "olga made ned an op of #den")
    type_and_see(ned, "/kick olga", "! olga is an owner of #den; you cannot act on someone")
    type_and_see(ned, "/who", "ned [op]")


def curses_client(terms: list[PtyTerm], port: int, user: str, *flags: str) -> PtyTerm:
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), user, *flags), 24, 80,
                   child_env(PLAY_PASSWORD="pw", TERM="xterm-256color"))
    terms.append(term)
    term.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                    what=f"{user}'s screen", timeout=15)
    return term


def test_a_mention_or_a_pm_rings_the_bell_and_counts_in_the_badge(server, terms):
    alice = curses_client(terms, server.port, "alice")
    bob = curses_client(terms, server.port, "bob")
    quiet = curses_client(terms, server.port, "quiet", "--no-bell")
    alice.wait_for("quiet joined")
    alice.settle()
    start = len(alice.raw), len(quiet.raw)
    bob.type_line("hello everyone")  # no name in it: nobody rings
    alice.wait_for("<bob> hello everyone")
    quiet.wait_for("<bob> hello everyone")
    assert b"\x07" not in alice.raw[start[0]:] and b"\x07" not in quiet.raw[start[1]:]
    bob.type_line("alice: quiet: your move?")
    alice.wait_for("your move?")
    quiet.wait_for("your move?")
    alice.wait_until(lambda t: b"\x07" in t.raw[start[0]:], what="the bell")
    alice.wait_until(lambda t: "(1 for you)" in t.lines[0], what="the badge")
    line = next(y for y, text in enumerate(alice.lines) if "your move?" in text)
    x = alice.lines[line].index("alice: quiet")
    assert alice.screen.buffer[line][x].reverse  # the mention is highlighted
    quiet.settle()
    assert b"\x07" not in quiet.raw[start[1]:]  # --no-bell
    bob.type_line("/msg alice psst")  # it lands in a pane of its own: @bob in the room bar
    alice.wait_until(lambda t: "@bob (1!)" in t.lines[0], what="the PM pane in the bar")
    alice.wait_until(lambda t: "(2 for you)" in t.lines[0], what="the badge counting")
    rang = alice.raw[start[0]:].count(b"\x07")
    alice.send("x")  # a key: you are looking, the badge is read
    alice.wait_until(lambda t: "for you)" not in t.lines[0], what="the badge cleared")
    alice.send("\x15")
    alice.type_line("/set bell off")
    alice.wait_for("the bell is off")
    bob.type_line("/msg alice again")
    alice.wait_until(lambda t: "@bob (2!)" in t.lines[0], what="the second PM")
    alice.settle()
    assert alice.raw[start[0]:].count(b"\x07") == rang
