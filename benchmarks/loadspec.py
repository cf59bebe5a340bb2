"""The load benchmark's scenarios, targets, limits and run configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- scenarios and targets

SCENARIOS: dict[str, dict[str, Any]] = {
    "A": {"clients": 100, "senders": 10, "messages": 2000, "rate": 0.0},
    "B": {"clients": 500, "senders": 1, "rate": 100.0, "duration": 10.0},
    "C": {"clients": 2000, "senders": 0, "idle": 5.0},
    "D": {"clients": 500, "senders": 1, "rate": 100.0, "duration": 10.0, "storm": 200},
    "E": {"clients": 2000, "senders": 0, "reconnect": True},
    "F": {"clients": 1500, "senders": 0, "arrivals": 250.0},
}
SCENARIO_TEXT = {
    "A": "100 clients, 10 senders x 2000 messages at full speed",
    "B": "500 clients, 1 sender at 100 messages/s for 10 s",
    "C": "2000 idle logged-in clients",
    "D": "scenario B while 200 new clients log in with passwords at once",
    "E": "2000 clients drop and reconnect at once (session-token resume)",
    "F": "{clients} clients resume into one room all at once, then at {arrivals:g} a second",
}


def described(text: str, values: dict[str, Any]) -> str:
    """A scenario's text or a target's label with the run's own figures in it (F's rate
    and crowd)."""
    preset = SCENARIOS["F"]
    return text.format(arrivals=values.get("arrivals") or preset["arrivals"],
                       clients=values.get("clients") or preset["clients"])


STORM_ARRIVAL = 0.5  # s: the first part of a login storm; what came after is reported apart


@dataclass(frozen=True)
class Target:
    figure: str  # a key of the figures dict
    limit: float
    label: str
    most: bool = True  # the figure must be <= limit (else >= limit)

    def check(self, figures: dict[str, Any]) -> str:
        value = figures.get(self.figure)
        if value is None:
            return "n/a"
        good = value <= self.limit if self.most else value >= self.limit
        return "met" if good else "MISSED"


TARGETS: dict[str, list[Target]] = {
    "A": [Target("cpu_us_per_delivery", 0.35, "server CPU <= 0.35 us per delivery"),
          Target("lost", 0, "no message lost")],
    "B": [Target("p99_ms", 10.0, "p99 latency <= 10 ms"),
          Target("server_core_pct", 40.0, "server under 40% of one core"),
          Target("lost", 0, "no message lost")],
    "C": [Target("rss_kib_per_conn", 8.0, "<= 8 KiB server memory per idle connection")],
    "D": [Target("storm_p99_ms", 15.0, "p99 latency <= 15 ms during the login storm"),
          Target("lost", 0, "no message lost")],
    "E": [Target("resume_s", 2.0, "2000 resumes complete in <= 2 s"),
          Target("not_restored", 0, "every room and nick restored")],
    "F": [Target("arrival_ratio", 1.5,
                 "CPU per join at {arrivals:g}/s within 1.5x of all at once")],
}

MAX_CLIENTS = 10_000
MAX_MESSAGES = 1_000_000
WINDOW = 256  # full speed: messages a sender may have sent but not yet seen come back
LAG_CAP = 1000  # full speed: how far the slowest receiver may fall behind (bytes stay bounded)
DRAIN_SECONDS = 10.0  # after the last send, how long deliveries may still arrive
SAY_ID_BASE = 1000

# One bench message: "b SENDER SEQ SENDTIME"; the regex finds them in room_msg frames only.
MSG_RE = re.compile(rb'\{"type":"room_msg",[^\n]*?"text":"b (\d+) (\d+) ([\d.]+)"')
ROOM_HEAD_RE = re.compile(rb'\{"type":"room","room":("(?:[^"\\]|\\.)*"),"nick":("(?:[^"\\]|\\.)*")')
# Frames no client of the bench needs parsed. A big room's presence batch is up to ~100 KB
# and goes to every member: 2000 clients in one process parsing it took 7-9 s of the load
# generator's CPU in E, when a batch went out while the resumes were still coming.
PRESENCE = b'{"type":"presence"'
SKIP_PREFIXES = (b'{"type":"room_msg"', b'{"type":"joined"', b'{"type":"left"', PRESENCE)


def without_presence(chunk: bytes) -> bytes:
    """`chunk` (whole frames) without its presence frames, found and cut at memchr's speed:
    every other scan of the chunk (counting lines, finding bench messages) then reads
    only the rest. A batch is up to ~100 KB to each of 2000 clients in E."""
    at = chunk.find(PRESENCE)
    if at < 0:
        return chunk
    kept, start = [], 0
    while at >= 0:
        if at == 0 or chunk[at - 1] == 0x0A:  # a frame starts here (not a text quoting it)
            kept.append(chunk[start:at])
            start = chunk.index(b"\n", at) + 1
            at = chunk.find(PRESENCE, start)
        else:
            at = chunk.find(PRESENCE, at + 1)
    kept.append(chunk[start:])
    return b"".join(kept)


@dataclass
class Config:
    clients: int = 10
    senders: int = 1
    messages: int | None = None
    rate: float = 0.0
    duration: float = 10.0
    idle: float = 0.0
    storm: int = 0
    storm_at: float = 2.0
    reconnect: bool = False
    arrivals: float = 0.0  # > 0: scenario F, everyone resumes again at this rate a second
    room: str = "lobby"
    login: str = "token"
    password: str = "bench-password"
    prefix: str = "b"
    scenario: str = ""
    window: int = WINDOW
    lag_cap: int = LAG_CAP
    tls: bool = False
    pin: bool = False  # the started server on half the CPUs, this load generator on the rest

    @property
    def per_sender(self) -> int:
        if self.messages is not None:
            return self.messages
        return int(self.rate * self.duration) if self.rate > 0 else 100
