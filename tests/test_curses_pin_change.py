"""The curses client, reconnecting to a server whose certificate changed, stops and says why."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("pyte")
if sys.platform == "win32":  # pragma: no cover - ptys are POSIX
    pytest.skip("pseudo-terminals are POSIX only", allow_module_level=True)

from helpers import ServerProcess, child_env, play_command  # noqa: E402
from ptyterm import PtyTerm  # noqa: E402

from gameserver.doors.tls import CERT_FILE, KEY_FILE  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_a_restart_with_a_new_certificate_ends_the_client_with_the_refusal(
        tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "server")
    port, old = server.port, server.fingerprint
    env = child_env(PLAY_PASSWORD="correct horse", TERM="xterm-256color",
                    XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    term = PtyTerm(play_command("join", "127.0.0.1", str(port), "pia"), 24, 100, env)
    again = None
    try:
        term.wait_until(lambda t: "you are in #lobby" in t.text, timeout=15, what="logged in")
        server.stop()  # SIGTERM: "back soon", so the client tries to come back
        (tmp_path / "server" / CERT_FILE).unlink()
        (tmp_path / "server" / KEY_FILE).unlink()
        again = ServerProcess(tmp_path / "server", port=port)  # a new pair on the same port
        assert again.fingerprint != old
        term.wait_until(lambda t: "not reconnecting" in t.text, timeout=30,
                        what="the client giving up on the new certificate")
        text = " ".join(term.text.split())
        assert "has CHANGED" in text and f"play forget 127.0.0.1 {port}" in text
        assert old in text.replace(" ", "") and again.fingerprint in text.replace(" ", "")
        term.wait_until(lambda t: t.proc.poll() is not None, timeout=10, what="the exit")
        assert term.proc.returncode == 1
    finally:
        term.close()
        for proc in (server, again):
            if proc is not None and proc.proc.poll() is None:
                proc.kill()
