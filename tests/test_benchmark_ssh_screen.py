"""benchmarks/ssh_screen.py keeps working: a tiny run prints every figure beside its target."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import child_env

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import ssh_screen  # noqa: E402


def test_a_small_run_prints_cpu_and_memory_for_both_sizes() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ssh_screen.py"), "--sessions", "3",
         "--messages", "4", "--repeats", "1"],
        capture_output=True, text=True, timeout=120, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "target < 0.5 ms" in out and "target < 1.0 MiB" in out and "load average" in out
    assert len(re.findall(r"^\s+80x24\s+chat\s+[\d.]+ ms", out, re.M)) == 1
    assert len(re.findall(r"^\s+200x50\s+chat \+ board\s+[\d.]+ ms", out, re.M)) == 1
    assert len(re.findall(r"^\s+200x50\s+[\d.]+ MiB", out, re.M)) == 1


def test_make_session_is_a_drawn_screen_a_room_message_updates() -> None:
    session = ssh_screen.make_session(24, 80, members=5, history=3, board=True)
    assert "#lobby" in session.canvas.text(0) and "5 online" in session.canvas.text(0)
    sent = session.update(ssh_screen.room_message(1))
    assert isinstance(sent, bytes) and ssh_screen.chat_text(1).encode() in sent
    assert any("#1 tictactoe" in session.canvas.text(y) for y in range(24))
