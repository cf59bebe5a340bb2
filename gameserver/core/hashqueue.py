"""Password checks waiting for a hash worker: bounded, and fair between source addresses.

A login flood must not hold a real user's login behind it. The queue is kept here,
in the core, not in the runtime's thread pool (first in, first out): the runtime is
handed only as many checks as it has threads, and the next one to run is taken in
turn from each address prefix (IPv4 /24, IPv6 /48), then from each address within
it. When the queue is full, a login from a prefix with fewer checks waiting takes the
place of the newest check of the prefix with the most (that one is told `busy`), so
one prefix's flood cannot keep everyone else out. Many prefixes with one check each
are equal shares: then the bound says `busy` to the newest, as before.

The runtime's workers run at a low priority, so that a flood does not take the CPU from
chat: threads at nice 10 (tuning.HASH_IDLE_CLASS: in Linux's idle class, SCHED_IDLE,
which any thread that wakes preempts at once), or with tuning.HASH_PROCESSES processes
in the idle class (gameserver/hashpool.py; a process shares no GIL with the loop). An
`express` runner (one thread at normal priority) is kept for checks from prefixes that
have nothing running: a real user's login during a flood from elsewhere takes it, the
flood cannot.

The idle class gets no CPU at all on a machine that is never idle, and an unprivileged
process cannot leave it again. So the runtime adds a `rescue` runner (one thread at nice
10 in the server, never starved; a process with tuning.HASH_RESCUE_PROCESS) that steps
in while the workers are *starved*: checks are waiting or running on them, and no
worker has finished one for `rescue_after` seconds. Starvation is
judged by progress, not by how long a check has waited: a storm on a quiet machine
has a long queue, but a check finishes every few tens of milliseconds. The rescue
takes the oldest check a worker holds (running it again: the worker's copy costs only
CPU nobody else wanted; the first answer wins, the late one is dropped), else the next
waiting check in turn, one at a time, and stops as soon as a worker finishes a check.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gameserver.core.pending import Work
from gameserver.throttle import prefix_key


@dataclass(eq=False)
class _Job:
    work: Work
    group: str  # the address prefix (fair shares are kept between these first)
    address: str
    evicted: Callable[[], None]  # tell its client `busy` (after work.cancelled)
    seq: int  # the order of arrival
    answered: bool = False  # a run of it has finished: a later run's answer is dropped
    rescued: bool = False  # the rescue runner has taken it (too)


# Who runs a check: a worker (`run`), the express runner, the rescue runner.
WORKER, EXPRESS, RESCUE = "worker", "express", "rescue"
Schedule = Callable[[float, Callable[[], None]], None]


class HashQueue:
    """`submit` a check for an address; at most `slots` run at once, `bound` in all."""

    def __init__(self, run: Callable[[Work], None], bound: int, slots: int | None = None,
                 express: Callable[[Work], None] | None = None) -> None:
        self.run = run  # the runtime's: runs work.run off the loop, then done or cancelled
        self.express = express  # the same, on its one thread at normal priority
        self.bound = bound
        self.slots = slots if slots is not None else bound
        self.running = 0  # checks handed to a runner, not answered yet
        self._bulk = 0  # workers busy (with a check, or a copy of one answered already)
        self._express_busy = False
        self.expressed = 0  # checks that took the express runner
        self._serving: dict[str, int] = {}  # prefix -> its checks running
        self.waiting = 0
        self.evictions = 0
        self._seq = 0
        # The rescue of starved workers (add_rescue; none: the workers are never starved)
        self.rescue: Callable[[Work], None] | None = None
        self.rescue_after = 0.5
        self._clock: Callable[[], float] = lambda: 0.0
        self._schedule: Schedule | None = None
        self._rescuing = False
        self.rescued = 0  # checks the rescue runner ran
        self.rerun = 0  # ... of which a worker held too (so they ran twice)
        self._held: dict[_Job, None] = {}  # on a worker, not answered yet (oldest first)
        self._since: float | None = None  # checks are due, and no worker has finished since
        self._looking = False  # a timer is set to look again
        # prefix -> address -> its checks, oldest first; both levels taken in turn
        self._groups: OrderedDict[str, OrderedDict[str, deque[_Job]]] = OrderedDict()
        self._group_waiting: dict[str, int] = {}

    def __len__(self) -> int:
        """Checks queued or running (not answered yet)."""
        return self.running + self.waiting

    def add_rescue(self, rescue: Callable[[Work], None], after: float,
                   clock: Callable[[], float], schedule: Schedule) -> None:
        """Rescue starved workers (see above): `rescue` runs a check on a never-starved
        thread; `clock` and `schedule(delay, callback)` are the runtime's."""
        self.rescue, self.rescue_after = rescue, after
        self._clock, self._schedule = clock, schedule

    def has_room(self, address: str) -> bool:
        """Would a check from `address` be taken now (at once, or in another's place)?"""
        return len(self) < self.bound or self._victim(address) is not None

    def submit(self, work: Work, address: str, evicted: Callable[[], None]) -> bool:
        """Queue `work` (an address key); False if there is no room (tell the client busy).

        `work.cancelled` runs if the check never runs (its connection went, or it was
        displaced; then `evicted` runs too, to tell its client).
        """
        if len(self) >= self.bound:
            victim = self._victim(address)
            if victim is None:
                return False
            self._remove(victim)
            self.evictions += 1
            if victim.work.cancelled is not None:
                victim.work.cancelled()
            victim.evicted()
        self._seq += 1
        job = _Job(work, prefix_key(address), address, evicted, self._seq)
        addresses = self._groups.setdefault(job.group, OrderedDict())
        addresses.setdefault(address, deque()).append(job)
        self._group_waiting[job.group] = self._group_waiting.get(job.group, 0) + 1
        self.waiting += 1
        session = work.session
        if session is not None:
            session.cancel_work = lambda: self._cancel(job)
        self._pump()
        return True

    # ------------------------------------------------------------ inside

    def _victim(self, address: str) -> _Job | None:
        """The newest check of the fattest share, if it is fatter than the newcomer's would be."""
        group = prefix_key(address)
        mine = self._group_waiting.get(group, 0)
        fattest = max(self._group_waiting, key=self._group_waiting.__getitem__, default=None)
        if fattest is None:
            return None
        if fattest != group:
            if self._group_waiting[fattest] <= mine + 1:
                return None
            addresses = self._groups[fattest]
            return addresses[_heaviest(addresses)][-1]
        # the newcomer's own prefix is the fattest: fair between its addresses
        addresses = self._groups[group]
        mine = len(addresses.get(address, ()))
        heaviest = _heaviest(addresses)
        if heaviest == address or len(addresses[heaviest]) <= mine + 1:
            return None
        return addresses[heaviest][-1]

    def _remove(self, job: _Job) -> None:
        addresses = self._groups[job.group]
        jobs = addresses[job.address]
        jobs.remove(job)
        if not jobs:
            del addresses[job.address]
        if not addresses:
            del self._groups[job.group]
        left = self._group_waiting[job.group] - 1
        if left:
            self._group_waiting[job.group] = left
        else:
            del self._group_waiting[job.group]
        self.waiting -= 1
        session = job.work.session
        if session is not None and session.cancel_work is not None:
            session.cancel_work = None

    def _cancel(self, job: _Job) -> None:
        """Its connection went before the check ran: the CPU is not spent."""
        addresses = self._groups.get(job.group)
        if addresses is None or job not in addresses.get(job.address, ()):
            return
        self._remove(job)
        if job.work.cancelled is not None:
            job.work.cancelled()

    def _next(self) -> _Job:
        """The oldest check of the next address of the next prefix, in turn."""
        return self._take_from(next(iter(self._groups)))

    def _next_quiet(self) -> _Job | None:
        """The next check of the first prefix in turn that has nothing running, if any."""
        for group in self._groups:
            if not self._serving.get(group):
                return self._take_from(group)
        return None

    def _take_from(self, group: str) -> _Job:
        """The oldest check of `group`'s next address; both move to the back of the turn."""
        addresses = self._groups[group]
        address, jobs = next(iter(addresses.items()))
        job = jobs[0]
        self._remove(job)
        if address in addresses:
            addresses.move_to_end(address)
        if group in self._groups:
            self._groups.move_to_end(group)
        return job

    def _pump(self) -> None:
        if self.express is not None and not self._express_busy and self.waiting:
            job = self._next_quiet()
            if job is not None:
                self._express_busy = True
                self.expressed += 1
                self._start(job, EXPRESS)
        while self._bulk < self.slots and self.waiting:
            self._bulk += 1
            self._start(self._next(), WORKER)
        if self.rescue is not None:
            self._watch()

    def _watch(self) -> None:
        """Rescue the workers' checks if they are starved; else look again when they would be."""
        if not self.waiting and not self._held:
            self._since = None  # nothing is due: the next check starts the clock afresh
            return
        now = self._clock()
        if self._since is None:
            self._since = now
        if self._rescuing:
            return
        left = self._since + self.rescue_after - now
        if left > 0:
            if not self._looking and self._schedule is not None:
                self._looking = True
                self._schedule(left, self._look_again)
            return
        held = [job for job in self._held if not job.rescued and not _gone(job)]
        if held:  # the oldest first: it has waited longest, and may wait for ever
            job = min(held, key=lambda job: job.seq)
            self.rerun += 1
        elif self.waiting:
            job = self._next()
            self._count_running(job)
        else:
            return
        self._rescuing = True
        self.rescued += 1
        job.rescued = True
        assert self.rescue is not None
        self.rescue(self._started(job, RESCUE))

    def _look_again(self) -> None:
        self._looking = False
        self._pump()

    def _start(self, job: _Job, on: str) -> None:
        self._count_running(job)
        if on == WORKER:
            self._held[job] = None
        run = self.express if on == EXPRESS else self.run
        assert run is not None
        run(self._started(job, on))

    def _count_running(self, job: _Job) -> None:
        self.running += 1
        self._serving[job.group] = self._serving.get(job.group, 0) + 1

    def _started(self, job: _Job, on: str) -> Work:
        """The work handed to one runner; its first run to finish answers the check."""
        work = job.work
        finished = False

        def over(answer: Callable[[], None] | None) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            first = not job.answered
            job.answered = True
            try:
                if first and answer is not None:
                    answer()
            finally:
                if on == EXPRESS:
                    self._express_busy = False
                elif on == RESCUE:
                    self._rescuing = False
                else:
                    self._bulk -= 1
                    if self.rescue is not None:
                        self._since = self._clock()  # a worker got the CPU: not starved
                if first:
                    self._held.pop(job, None)
                    self.running -= 1
                    left = self._serving[job.group] - 1
                    if left:
                        self._serving[job.group] = left
                    else:
                        del self._serving[job.group]
                self._pump()

        def done(result: Any) -> None:
            over(lambda: work.done(result))

        def cancelled() -> None:
            over(work.cancelled)

        return replace(work, done=done, cancelled=cancelled)


def _gone(job: _Job) -> bool:
    """Its connection went while a worker held it: nobody is left to answer."""
    return bool(getattr(job.work.session, "closed", False))


def _heaviest(addresses: OrderedDict[str, deque[_Job]]) -> str:
    """The address with the most checks waiting (of equals, the one with the newest)."""
    return max(addresses, key=lambda a: (len(addresses[a]), addresses[a][-1].seq))
