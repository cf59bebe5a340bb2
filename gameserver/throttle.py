"""Throttles, pure and clock-driven: failed-login backoff, per-address rates, flood gates."""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from gameserver.durations import say_duration
from gameserver.settings import Settings

Clock = Callable[[], float]
BASE_WAIT = 1.0  # the first wait after the free failures; each later one doubles
MAX_KEYS = 100_000  # entries a table keeps before it forgets the quietest


def address_key(peer: str) -> str:
    """Whom a peer label ('1.2.3.4:5678', '::1:5678') counts as: its IP; IPv6 by /64."""
    return _host_key(peer.rsplit(":", 1)[0].strip("[]") if ":" in peer else peer)


# The keys are pure functions of a host, asked several times per connection (the
# listener's count, the login's throttles, the hash queue's fair share): parsed once per
# host while it comes and goes (a crowd from one address, a login storm's: ~0.1 ms each
# through `ipaddress`), at most KEY_CACHE hosts kept.
KEY_CACHE = 4096


@functools.lru_cache(maxsize=KEY_CACHE)
def _host_key(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip.is_loopback:
            return str(ip)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@functools.lru_cache(maxsize=KEY_CACHE)
def prefix_key(address: str) -> str:
    """The network an address key belongs to, for fair shares: IPv4 /24, IPv6 /48."""
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return address
    if network.version == 4:
        return str(network.supernet(new_prefix=24)) if network.prefixlen > 24 else str(network)
    if network.network_address.is_loopback:
        return str(network)
    return str(network.supernet(new_prefix=48)) if network.prefixlen > 48 else str(network)


def say_wait(seconds: float) -> str:
    """'8 seconds', '3 minutes', '1 hour': a wait in words, rounded up (never shorter)."""
    return say_duration(seconds, round_up=True)


@dataclass
class _Record:
    failures: int = 0
    pending: int = 0
    until: float = 0.0
    last: float = 0.0


class Backoff:
    """Failures per key: `free` attempts, then each further one waits twice as long (capped).

    An attempt in flight counts as a failure until it is known, so many connections
    trying at once get no more tries than one connection trying in turn.
    """

    def __init__(self, free: int, cap: float, clock: Clock, forget: float | None = None) -> None:
        self.free = free
        self.cap = cap
        self.clock = clock
        self.forget = forget if forget is not None else max(4 * cap, 900.0)
        self.records: dict[str, _Record] = {}

    def _record(self, key: str, now: float) -> _Record | None:
        rec = self.records.get(key)
        if rec is not None and not rec.pending and now - rec.last > self.forget:
            del self.records[key]
            return None
        return rec

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        now = self.clock()
        rec = self._record(key, now)
        return max(0.0, rec.until - now) if rec is not None else 0.0

    def begin(self, key: str) -> float:
        """Start an attempt: 0 if allowed (then call end), else the seconds still to wait."""
        now = self.clock()
        rec = self._record(key, now)
        if rec is None:
            if len(self.records) >= MAX_KEYS:
                self.prune()
            rec = self.records[key] = _Record()
        if now < rec.until:
            return rec.until - now
        rec.pending += 1
        rec.last = now
        over = rec.failures + rec.pending - self.free
        if over > 0:
            rec.until = now + min(BASE_WAIT * 2 ** (over - 1), self.cap)
        return 0.0

    def end(self, key: str, ok: bool | None) -> int:
        """The attempt begun is over: succeeded, failed, or (None) never checked.

        Returns the key's failures so far if this one is worth a line in the log: the one
        that starts the waits, then the 10th, 100th, 1000th ... (else 0)."""
        rec = self.records.get(key)
        if rec is None:
            return 0
        rec.pending = max(0, rec.pending - 1)
        if ok:
            del self.records[key]
        elif ok is False:
            rec.failures += 1
            rec.last = self.clock()
            n = rec.failures
            if n == self.free + 1 or (n >= 10 and 10 ** round(math.log10(n)) == n):
                return n
        return 0

    def prune(self) -> None:
        """Forget keys quiet for `forget` seconds; past MAX_KEYS, the quietest half too."""
        now = self.clock()
        for key in [k for k, r in self.records.items()
                    if not r.pending and now - r.last > self.forget]:
            del self.records[key]
        if len(self.records) >= MAX_KEYS:
            quiet = sorted(self.records, key=lambda k: self.records[k].last)
            for key in quiet[: len(quiet) // 2]:
                del self.records[key]


class LoginThrottle:
    """Failed logins slow down per account and per source address (success clears the account)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        free, cap = settings.login_free_failures, settings.login_wait_max
        self.accounts = Backoff(free, cap, clock)
        self.addresses = Backoff(free, cap, clock)

    def begin(self, account: str, address: str) -> str | None:
        """None if this login may be checked now (then call end), else why not, in words."""
        account_key = account.casefold()
        wait = self.accounts.wait(account_key)
        if wait > 0:
            return f"too many failed logins for {account}; try again in {say_wait(wait)}"
        wait = self.addresses.begin(address)
        if wait > 0:
            return f"too many failed logins from your address; try again in {say_wait(wait)}"
        wait = self.accounts.begin(account_key)
        if wait > 0:
            self.addresses.end(address, None)
            return f"too many failed logins for {account}; try again in {say_wait(wait)}"
        return None

    def end(self, account: str, address: str, ok: bool | None) -> list[str]:
        """The check is over; what an operator should read of it (a guessing attack)."""
        news = []
        failures = self.accounts.end(account.casefold(), ok)
        if failures:
            news.append(f"{failures} failed logins in a row for the account {account}: its"
                        " next tries wait")
        # A success does not clear the address: one's own account must not reset guessing.
        failures = self.addresses.end(address, None if ok else ok)
        if failures:
            news.append(f"{failures} failed logins from {address} (any account): its next"
                        " tries wait")
        return news

    def wait(self, account: str, address: str) -> float:
        return max(self.accounts.wait(account.casefold()), self.addresses.wait(address))

    def prune(self) -> None:
        self.accounts.prune()
        self.addresses.prune()


class RateLimit:
    """At most `count` events per `period` seconds per key (a token bucket that starts full)."""

    def __init__(self, count: int, period: float, clock: Clock) -> None:
        self.count = count
        self.rate = count / period
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> float:
        """0 if the event may happen now (and counts it), else the seconds to wait."""
        now = self.clock()
        tokens, when = self.buckets.get(key, (float(self.count), now))
        tokens = min(float(self.count), tokens + (now - when) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else math.inf
        if tokens - 1 >= self.count - 1 and len(self.buckets) >= MAX_KEYS:
            self.prune()
        self.buckets[key] = (tokens - 1, now)
        return 0.0

    def prune(self) -> None:
        """Forget the keys whose buckets are full again."""
        now = self.clock()
        full = [k for k, (tokens, when) in self.buckets.items()
                if tokens + (now - when) * self.rate >= self.count]
        for key in full:
            del self.buckets[key]


class Verdict(Enum):
    PASS = "pass"  # handle it now
    DELAY = "delay"  # handle it later, in order (the gate says when)
    REFUSE = "refuse"  # answer 'slow down'; it is not handled
    DISCONNECT = "disconnect"  # far past the limit for too long


class FloodGate:
    """One session's token bucket for what it sends.

    A burst of `flood_burst` lines passes at once (a paste). Past it, lines are held
    back to `flood_rate` a second, up to `flood_queue` of them; further lines are
    refused. Refusals count up (and drain at the rate); past `flood_kick` the session
    is disconnected, but only once refusals have gone on for `flood_kick_after` seconds
    (a pause as long ends them): a paste arrives at once, so a paste, however long, is
    refused past its first lines and never a disconnect; a script that keeps sending is.
    """

    # One per connection before login and one per account after: the settings are read
    # from the one shared Settings, not copied into every gate (5 slots and a float each).
    __slots__ = ("settings", "tokens", "stamp", "held", "strikes", "strike_stamp", "spell")

    def __init__(self, settings: Settings, now: float) -> None:
        self.settings = settings
        self.tokens: float = settings.flood_burst
        self.stamp = now
        self.held = 0  # lines delayed and not yet released
        self.strikes = 0.0
        self.strike_stamp = now
        self.spell = now  # when the refusals going on now began

    def admit(self, now: float) -> tuple[Verdict, float]:
        """What to do with a line arriving at `now`; for DELAY, the time to release it."""
        settings = self.settings
        rate, burst = settings.flood_rate, settings.flood_burst
        tokens = self.tokens + (now - self.stamp) * rate
        if tokens > burst:
            tokens = burst
        self.stamp = now
        if tokens >= 1 and not self.held:
            self.tokens = tokens - 1
            return Verdict.PASS, now
        if self.held < settings.flood_queue:
            self.tokens = tokens - 1  # a debt: it is paid back at the rate
            self.held += 1
            return Verdict.DELAY, now + (-self.tokens / rate if self.tokens < 0 else 0.0)
        self.tokens = tokens
        kick_after = settings.flood_kick_after
        if now - self.strike_stamp > kick_after:
            self.spell = now  # refusals after as long a pause: a new spell (another paste)
        strikes = self.strikes - (now - self.strike_stamp) * rate
        self.strikes = (strikes if strikes > 0 else 0.0) + 1
        self.strike_stamp = now
        if self.strikes > settings.flood_kick and now - self.spell >= kick_after:
            return Verdict.DISCONNECT, now
        return Verdict.REFUSE, now

    def admit_many(self, now: float, lines: int) -> int:
        """How many of `lines` arriving at `now` pass at once: admit() each, in one call.

        Stops at the first that would not pass (held lines first, or no token left);
        admit() decides for the rest.
        """
        if self.held:
            return 0
        settings = self.settings
        tokens = self.tokens + (now - self.stamp) * settings.flood_rate
        if tokens > settings.flood_burst:
            tokens = settings.flood_burst
        self.stamp = now
        passing = min(lines, int(tokens)) if tokens >= 1 else 0
        self.tokens = tokens - passing
        return passing

    def released(self) -> None:
        """A delayed line was handled."""
        if self.held:
            self.held -= 1

    def describe(self) -> str:
        return f"{self.settings.flood_rate:g} lines a second"

    def rested(self, now: float) -> bool:
        """Full again, nothing held, no strikes left: the same as a new gate."""
        rate = self.settings.flood_rate
        return (not self.held
                and self.tokens + (now - self.stamp) * rate >= self.settings.flood_burst
                and self.strikes - (now - self.strike_stamp) * rate <= 0)


class FloodGates:
    """One FloodGate per account, shared by its sessions on every door of the process.

    A gate per connection gave each new connection a fresh burst: a script that
    reconnected (a resume costs no password check) after every 20 lines put 650 lines a
    second in front of everyone and was never refused. The account's gate outlives its
    sessions, so coming back brings back the same bucket (and the same strikes).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.gates: dict[str, FloodGate] = {}

    def take(self, account: str, now: float) -> FloodGate:
        """The account's gate for a session starting now (what an ended session held is gone)."""
        key = account.casefold()
        gate = self.gates.get(key)
        if gate is None:
            if len(self.gates) >= MAX_KEYS:
                self.prune(now)
            gate = self.gates[key] = FloodGate(self.settings, now)
        gate.held = 0  # the lines an earlier session held back went with it
        return gate

    def prune(self, now: float) -> None:
        """Forget the gates that are full again and hold no strikes (a new one is the same)."""
        for key in [k for k, g in self.gates.items() if g.rested(now)]:
            del self.gates[key]


class AddressCounts:
    """Connections open per source address, one count for every door of a process.

    Past `cap` a connection is refused with a sentence; past twice the cap it is not
    even told (it costs a socket, nothing more). `take` counts a connection in (call
    `release` once when it ends); a refusal is counted too, until its socket closes.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: dict[str, int] = {}

    def take(self, address: str) -> tuple[bool, str | None]:
        """(counted, refusal): refusal None means admitted; not counted means close at once."""
        count = self.open.get(address, 0)
        if count >= 2 * self.cap:
            return False, self.refusal()
        self.open[address] = count + 1
        return True, None if count < self.cap else self.refusal()

    def release(self, address: str) -> None:
        count = self.open.get(address, 0) - 1
        if count > 0:
            self.open[address] = count
        else:
            self.open.pop(address, None)

    def count(self, address: str) -> int:
        return self.open.get(address, 0)

    @property
    def total(self) -> int:
        return sum(self.open.values())

    def refusal(self) -> str:
        return (f"too many connections from your address (at most {self.cap}); "
                "close some and try again")
