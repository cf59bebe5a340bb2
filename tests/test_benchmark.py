"""benchmarks/load.py keeps working: small, bounded runs; no loss and sane figures, not speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import child_env

LOAD = Path(__file__).resolve().parent.parent / "benchmarks" / "load.py"


def load(tmp_path: Path, *args: str, timeout: float = 120) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(LOAD), *args, "--timeout", "60", "--json", str(out)],
        capture_output=True, text=True, timeout=timeout, env=child_env(),
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(out.read_text())


def test_full_speed_run_loses_nothing_and_reports_every_figure(tmp_path):
    text, result = load(tmp_path, "--clients", "5", "--senders", "2", "--messages", "40")
    fig = result["figures"]
    assert fig["sent"] == 80 and fig["confirmed"] == 80
    assert fig["deliveries"] == 5 * 80
    assert fig["lost"] == 0 and fig["errors"] == 0 and fig["kicked"] == 0
    assert 0 < fig["p50_ms"] <= fig["p99_ms"] <= fig["max_ms"]
    assert 0 < fig["first_p50_ms"] <= fig["first_max_ms"] <= fig["max_ms"]
    assert fig["server_cpu_s"] >= 0 and fig["cpu_us_per_delivery"] is not None
    assert fig["rss_kib_start"] > 0 and fig["rss_kib_end"] > 0
    assert fig["login_s"] > 0
    for words in ("login:", "deliveries:", "lost messages:", "latency all:", "latency first:",
                  "server CPU:", "server RSS:", "per connection:"):
        assert words in text


def test_rate_storm_idle_and_reconnect_paths(tmp_path):
    text, result = load(tmp_path, "--clients", "6", "--senders", "1", "--rate", "200",
                        "--messages", "20", "--storm", "3", "--storm-at", "0.02",
                        "--idle", "0.2", "--reconnect")
    fig = result["figures"]
    assert fig["lost"] == 0 and fig["deliveries"] == 6 * 20
    assert fig["storm_logins"] == 3 and fig["storm_login_s"] > 0
    assert fig["resumes"] == 6 and fig["not_restored"] == 0
    assert "idle_cpu_pct" in fig and fig["rss_kib_idle"] > 0
    assert "login storm:" in text and "reconnect:" in text


def test_scenario_presets_print_their_targets(tmp_path):
    # Scenario A's shape, scaled down by flags: the target lines still print.
    text, result = load(tmp_path, "--scenario", "A", "--clients", "4", "--senders", "2",
                        "--messages", "10")
    assert result["scenario"] == "A"
    assert set(result["targets"]) == {"cpu_us_per_delivery", "lost"}
    assert "server CPU <= 0.35 us per delivery" in text
    assert result["targets"]["lost"]["result"] == "met"


def test_scenario_f_names_the_rate_it_ran_at(tmp_path):
    # F scaled down: 8 clients resume all at once, then at 40/s; its title and target say 40/s.
    text, result = load(tmp_path, "--scenario", "F", "--clients", "8", "--arrivals", "40",
                        "--server-set", "MAX_WAIT=0.2", timeout=180)
    fig = result["figures"]
    assert fig["arrival_rate"] == 40 and fig["burst_cpu_ms_per_join"] >= 0
    assert "then at 40 a second" in text and "CPU per join at 40/s within 1.5x" in text
    assert result["targets"]["arrival_ratio"]["label"].startswith("CPU per join at 40/s")
    assert "250" not in text.splitlines()[0]
    assert result["meta"]["pinned"] == "no"


def test_pinned_server_and_load_generator_use_separate_cpus(tmp_path):
    text, result = load(tmp_path, "--clients", "3", "--senders", "1", "--messages", "5",
                        "--pin")
    assert result["figures"]["lost"] == 0
    if len(os.sched_getaffinity(0)) >= 2:
        server, bench = result["meta"]["pinned"].split(", ")
        assert server.startswith("server on CPU ") and bench.startswith("load generator on CPU ")
        assert not set(server.split()[-1].split(",")) & set(bench.split()[-1].split(","))
    else:
        assert result["meta"]["pinned"] == "no (one CPU)"


def test_only_loopback_servers_are_driven(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(LOAD), "--attach", "192.0.2.1:5220:1", "--clients", "1"],
        capture_output=True, text=True, timeout=30, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "not a loopback address" in proc.stderr


def test_e2e_cost_runs_and_prints_every_row(tmp_path):
    script = LOAD.parent / "e2e_cost.py"
    proc = subprocess.run([sys.executable, str(script), "--n", "60"], capture_output=True,
                          text=True, timeout=120, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line[:1] == " "]
    assert len(rows) == 10  # the header and 3 lengths x 3 device counts
    for row in rows[1:]:
        sealed_bytes, plain_bytes = int(row[4]), int(row[5])
        assert sealed_bytes > plain_bytes  # an envelope is bigger than its text
    assert "store file growth per PM" in proc.stdout


def test_wakecost_prints_a_row_per_gap():
    script = LOAD.parent / "wakecost.py"
    proc = subprocess.run([sys.executable, str(script), "--size", "5", "--seconds", "0.05"],
                          capture_output=True, text=True, timeout=60, env=child_env(),
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert [row.split(":")[0] for row in rows] == [
        "gap    0.0 ms", "gap    1.0 ms", "gap   10.0 ms", "gap   50.0 ms", "gap  100.0 ms",
        "gap  500.0 ms"]
    assert all("ms CPU per chunk" in row for row in rows)
