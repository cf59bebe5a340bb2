"""benchmarks/ssh_door.py keeps working: a tiny run through a real SSH door prints every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import child_env

ROOT = Path(__file__).resolve().parent.parent


def test_a_small_run_prints_memory_and_cpu_split_into_their_parts() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ssh_door.py"), "--sessions", "3",
         "--messages", "2"],
        capture_output=True, text=True, timeout=150, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "3 sessions at 80x24" in out and "load average" in out
    assert "target < 1024 KiB" in out and "target < 0.5 ms" in out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["frames"] >= 3 * 2  # every screen drew every message
    assert figures["writes"] >= figures["frames"]
    assert figures["draw_ms_per_session"] > 0 and figures["ssh_write_ms_per_session"] > 0
