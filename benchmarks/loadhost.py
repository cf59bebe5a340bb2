"""The load benchmark's server side: /proc figures, prepared accounts, the server process."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

# ---------------------------------------------------------------- server side: /proc


def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads) in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        rest = f.read().rsplit(b")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(rest[11]) / tick, int(rest[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def wrapper() -> list[str]:
    """PLAY_BENCH_WRAP="valgrind --tool=callgrind --instr-atstart=no ...": the server's prefix.

    Benchmark-only: the started server runs under that command (valgrind, perf, taskset).
    """
    return shlex.split(os.environ.get("PLAY_BENCH_WRAP", ""))


def profile(pid: int, start: bool) -> None:
    """With PLAY_BENCH_PROFILE=PATH set: start the server's profile, or dump it to PATH.N.

    Under callgrind (PLAY_BENCH_WRAP): collection is switched on for the phase, and at its
    end dumped (callgrind's out file .N: the login phase is .1, the chat phase .2) and off.
    """
    if any("callgrind" in word for word in wrapper()):
        steps = [["-i", "on"]] if start else [["-d"], ["-i", "off"]]
        for step in steps:
            subprocess.run(["callgrind_control", *step, str(pid)], check=False,
                           stdout=subprocess.DEVNULL, timeout=120)
    if os.environ.get("PLAY_BENCH_PROFILE"):
        os.kill(pid, signal.SIGUSR1 if start else signal.SIGUSR2)
        time.sleep(0.05)  # the handler runs on the server's next pass


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit on open files toward `wanted` (capped by the hard limit)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def check_loopback(host: str) -> str:
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        if host == "localhost":
            return "127.0.0.1"
    raise SystemExit(f"error: {host} is not a loopback address; the benchmark only drives "
                     "servers on this machine (127.0.0.1, ::1)")


# ---------------------------------------------------------------- accounts and the server


def prepare_store(data_dir: Path, users: list[str], password: str, room: str,
                  with_tokens: bool) -> dict[str, str]:
    """Create the accounts (and session tokens) straight in a fresh store; {user: token}.

    Every account gets the same full-cost scrypt hash of one password, made once: the
    server still pays a full verify for each password login, but preparing 2000 accounts
    takes one hash instead of 2000.
    """
    from gameserver.passwords import hash_password
    from gameserver.store import SQLiteStore

    pwhash = hash_password(password)
    store = SQLiteStore(data_dir / "play.db")
    tokens: dict[str, str] = {}
    try:
        for i, user in enumerate(users):
            store.create_account(user, pwhash)
            if with_tokens:
                token = secrets.token_urlsafe(24)
                digest = hashlib.sha256(token.encode()).hexdigest()  # as logins.token_digest
                store.save_token(digest, user, time.time() + 3600,
                                 {"room": room, "nick": f"n{i}"})
                tokens[user] = token
        store.commit()
    finally:
        store.close()
    return tokens


# `play host` itself, after choosing the loop and applying --server-set (for ablations).
SERVE_CODE = (
    "import ast, json, os, sys\n"
    "import gameserver.doors.jsonlines as door, gameserver.doors.jsonconn as conn\n"
    "import gameserver.runtime as runtime, gameserver.commits as commits\n"
    "import gameserver.tuning as tuning, gameserver.listener as listener\n"
    "import gameserver.core.presence as presence, gameserver.doors.flushing as flushing\n"
    "import gameserver.store as store, gameserver.storeapi as storeapi\n"
    "for name, value in json.loads(os.environ.get('PLAY_BENCH_SET', '{}')).items():\n"
    "    modules = (door, conn, commits, runtime, tuning, listener, presence, flushing, store,\n"
    "               storeapi)\n"
    "    where = [m for m in modules if hasattr(m, name)]\n"
    "    assert where, f'no server module has {name}'\n"
    "    setattr(where[0], name, ast.literal_eval(value))\n"
    "if os.environ.get('PLAY_BENCH_PROFILE', '').endswith('.mem'):  # tracemalloc, by line\n"
    "    import signal, tracemalloc\n"
    "    tracemalloc.start(); snaps = []\n"
    "    def _mem(*_):\n"
    "        snaps.append(tracemalloc.take_snapshot().filter_traces(\n"
    "            [tracemalloc.Filter(False, tracemalloc.__file__)]))\n"
    "        if len(snaps) == 2:\n"
    "            with open(os.environ['PLAY_BENCH_PROFILE'], 'w') as f:\n"
    "                diff = snaps[1].compare_to(snaps[0], 'lineno')\n"
    "                print('total', sum(d.size_diff for d in diff), file=f)\n"
    "                for stat in diff[:80]:\n"
    "                    print(stat, file=f)\n"
    "    signal.signal(signal.SIGUSR1, _mem)\n"
    "    signal.signal(signal.SIGUSR2, _mem)\n"
    "elif os.environ.get('PLAY_BENCH_PROFILE', '').endswith('.census'):  # live objects by type\n"
    "    import signal; sys.path.insert(0, os.path.join(os.getcwd(), 'benchmarks'))\n"
    "    import memcensus; counts = []\n"
    "    def _census(*_):\n"
    "        counts.append(memcensus.census())\n"
    "        if len(counts) == 2:\n"
    "            memcensus.write_diff(os.environ['PLAY_BENCH_PROFILE'], *counts,\n"
    "                                 int(os.environ.get('PLAY_BENCH_CLIENTS', '1')))\n"
    "    signal.signal(signal.SIGUSR1, _census)\n"
    "    signal.signal(signal.SIGUSR2, _census)\n"
    "elif os.environ.get('PLAY_BENCH_PROFILE'):  # SIGUSR1 starts a profile, SIGUSR2 dumps it\n"
    "    import cProfile, signal, time\n"
    "    # PLAY_BENCH_PROFILE_CLOCK=cpu: the loop thread's CPU time, not the wall clock (on a\n"
    "    # busy machine wall time includes waiting for a core; CPU time does not)\n"
    "    cpu = os.environ.get('PLAY_BENCH_PROFILE_CLOCK') == 'cpu'\n"
    "    prof, dumps = cProfile.Profile(time.thread_time) if cpu else cProfile.Profile(), [0]\n"
    "    def _dump(*_):\n"
    "        prof.disable(); dumps[0] += 1\n"
    "        prof.dump_stats(f\"{os.environ['PLAY_BENCH_PROFILE']}.{dumps[0]}\")\n"
    "        prof.clear()\n"
    "    signal.signal(signal.SIGUSR1, lambda *_: prof.enable())\n"
    "    signal.signal(signal.SIGUSR2, _dump)\n"
    "print('loop:', runtime.use_fast_loop(), flush=True)\n"
    "from gameclient.cli import main\n"
    "sys.argv[0] = 'play'\n"
    "main()\n"
)


# A crowd from 127.0.0.1 at full speed is what is measured here, not what the limits stop.
BENCH_LIMITS = """\
flood_burst = 1000000
flood_rate = 1000000.0
max_per_address = 100000
registrations_per_hour = 100000
hash_queue = 100000
login_free_failures = 100000
hello_timeout = 60.0
login_timeout = 600.0
"""


def split_cpus() -> tuple[set[int], set[int]] | None:
    """The CPUs this process may use, in two halves: the server's and the load generator's
    (None with one CPU). Apart, the load generator's wake-ups do not preempt the server
    in the middle of its passes, which on shared cores is charged to the server's CPU."""
    if not hasattr(os, "sched_getaffinity"):  # not Linux
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def cpu_list(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


class OwnServer:
    """`play host --headless --port 0` in a fresh data directory, on the chosen loop
    (and on `cpus` only, if given: every thread and process it starts inherits them)."""

    def __init__(self, data_dir: Path, loop: str, settings: dict[str, str] | None = None,
                 tls: bool = False, cpus: set[int] | None = None) -> None:
        (data_dir / "play.toml").write_text(BENCH_LIMITS)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PLAY_LOOP=loop,
                   PLAY_BENCH_SET=json.dumps(settings or {}))
        env.pop("PLAY_PASSWORD", None)
        self.log_path = data_dir / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*wrapper(), sys.executable, "-c", SERVE_CODE, "host", "--headless",
             "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir),
             *(() if tls else ("--no-tls",))],
            stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            env=env, cwd=str(REPO), text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        self.loop = "?"
        self.port = self._read_port()
        self.pid = self.proc.pid

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + (300 if wrapper() else 30)  # valgrind starts slowly
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("loop:"):
                self.loop = line.split(":", 1)[1].strip()
            match = re.search(r"listening on [\d.]+:(\d+)", line)
            if match:
                return int(match.group(1))
        self.stop()
        raise SystemExit("error: the server did not start:\n" + self.log_tail())

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120 if wrapper() else 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
