"""The curses client shows the first connection's certificate pin in its chat pane."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

pytestmark = pytest.mark.timeout(30)


def screen_of(tmp_path: Path, port: int) -> PtyTerm:
    env = child_env(PLAY_PASSWORD="correct horse", TERM="xterm-256color",
                    XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), "pia"), 24, 100, env)
    term.wait_until(lambda t: "#lobby" in t.lines[0] and t.lines[-1].startswith(">"),
                    what="pia's screen")
    return term


def test_the_first_join_shows_the_fingerprint_it_pinned(server: ServerProcess,
                                                        tmp_path: Path) -> None:
    term = screen_of(tmp_path, server.port)
    try:
        term.wait_until(lambda t: "first connection to 127.0.0.1:" in t.text,
                        what="the pin notice in the chat pane")
        assert "will be refused" in " ".join(term.text.split())
    finally:
        term.close()
    again = screen_of(tmp_path, server.port)  # pinned now: nothing to say
    try:
        again.wait_until(lambda t: "you are in #lobby" in t.text, what="the second login")
        assert "first connection to" not in again.text
    finally:
        again.close()
