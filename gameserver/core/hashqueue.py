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
chat: on Linux processes in the idle class, SCHED_IDLE, which any thread that wakes
preempts at once (gameserver/hashpool.py, tuning.HASH_PROCESSES and HASH_PROCESS_IDLE;
a process shares no GIL with the loop); else threads at nice 10. An
`express` runner (one thread at normal priority) is kept for checks from prefixes that
have nothing running: a real user's login during a flood from elsewhere takes it, the
flood cannot. With the idle-class workers (and their rescue, below) it takes such a
check only while another prefix has checks running or waiting, or no worker is free
(they still hold copies of checks answered elsewhere); with no one else's checks about,
the check goes to the workers, which give way to chat at once (a nice-0 hash at a login
storm's start took CPU from chat and protected nobody: scenario D, docs/performance.md,
perfd7). A lone check that a worker has held for `lone_after` (LONE_AFTER, 0.1 s: a
machine kept busy by other programs, where the idle class gets nothing) is run on the
express runner too, the first answer winning.

The idle class gets no CPU at all on a machine that is never idle, and an unprivileged
process cannot leave it again. So the runtime adds a `rescue` runner (`width` threads at
nice 10 in the server, never starved; processes with tuning.HASH_RESCUE_PROCESS) that
steps in for a check the workers are *starved* of, by either of two signs:

- the pool makes no progress: checks are waiting or running on the workers, and no
  worker has finished one for `rescue_after` seconds. Then the rescue takes the checks
  the workers hold, oldest first, then the waiting ones in turn;
- one check makes none: a worker has held it for `held_after` seconds. Worker processes
  share a queue, and one idle-class worker finishing a check now and then kept the
  first sign away while another held a real user's check for 3-15 s (a user whose check
  found the express runner busy). Then the rescue takes that check alone.

Both are judged by how the workers are doing, never by how long a check has waited in
the queue: a storm on a quiet machine has a long queue, but a check finishes every few
tens of milliseconds and none is held for long, and then the rescue never runs. It runs
up to `width` checks at once (as many as there are workers: while they starve the
rescue does their work at nice 10, as main's threads did before the idle class, not one
check at a time behind a flood), re-runs a held check (the worker's copy costs only CPU
nobody else wanted; the first answer wins, the late one is dropped), and takes no new
check once the workers are going again.
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
    handed: float = 0.0  # when a worker was given it (the rescue's clock)


# Who runs a check: a worker (`run`), the express runner, the rescue runner.
WORKER, EXPRESS, RESCUE = "worker", "express", "rescue"
Schedule = Callable[[float, Callable[[], None]], None]
LONE_AFTER = 0.1  # s a worker has held a lone check before the express runner runs it too


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
        self.held_after = 1.0
        self.lone_after = LONE_AFTER
        self.width = 1  # checks the rescue runs at once
        self._clock: Callable[[], float] = lambda: 0.0
        self._schedule: Schedule | None = None
        self._rescuing = 0  # checks on the rescue now
        self.rescued = 0  # checks the rescue runner ran
        self.rerun = 0  # ... of which a worker held too (so they ran twice)
        self.rescue_peak = 0  # the most it ran at once
        self._held: dict[_Job, None] = {}  # on a worker, not answered yet (oldest first)
        self._since: float | None = None  # checks are due, and no worker has finished since
        self._looking: float | None = None  # a timer is set to look again then
        # prefix -> address -> its checks, oldest first; both levels taken in turn
        self._groups: OrderedDict[str, OrderedDict[str, deque[_Job]]] = OrderedDict()
        self._group_waiting: dict[str, int] = {}

    def __len__(self) -> int:
        """Checks queued or running (not answered yet)."""
        return self.running + self.waiting

    def add_rescue(self, rescue: Callable[[Work], None], after: float,
                   clock: Callable[[], float], schedule: Schedule, *, width: int = 1,
                   held_after: float | None = None, lone_after: float = LONE_AFTER) -> None:
        """Rescue starved workers (see above): `rescue` runs a check on a never-starved
        runner, up to `width` at once; `clock` and `schedule(delay, callback)` are the
        runtime's. `held_after` (default 2 x `after`): one held check's limit;
        `lone_after`: a lone check's, before the express runner runs it too."""
        self.rescue, self.rescue_after, self.lone_after = rescue, after, lone_after
        self.held_after = held_after if held_after is not None else 2 * after
        self.width = max(1, width)
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
        """The next check of the first prefix in turn that has nothing running, if any.

        With a rescue (idle-class workers), only while another prefix has checks running
        or waiting, or no worker is free (they still hold copies of checks answered
        elsewhere: starved): the express runner keeps a check from waiting behind someone
        else's. With nobody else about (a lone login, a storm from one place) a free
        worker takes it, and nothing hashes at normal priority beside the loop; a lone
        check the worker is slow to run goes to the express runner too (_lone).
        """
        for group in self._groups:
            if not self._serving.get(group) and (self.rescue is None
                                                 or self._bulk >= self.slots
                                                 or self._others_busy(group)):
                return self._take_from(group)
        return None

    def _others_busy(self, group: str) -> bool:
        """Has a prefix other than `group` checks waiting or running?"""
        return len(self._groups) > 1 or any(other != group for other in self._serving)

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
        """Rescue the checks the workers are starved of; else look again when they would be."""
        if not self.waiting and not self._held:
            self._since = None  # nothing is due: the next check starts the clock afresh
            return
        now = self._clock()
        if self._since is None:
            self._since = now
        while self._rescuing < self.width:
            job = self._starved(now)
            if job is None:
                break
            self._rescuing += 1
            self.rescue_peak = max(self.rescue_peak, self._rescuing)
            self.rescued += 1
            job.rescued = True
            assert self.rescue is not None
            self.rescue(self._started(job, RESCUE))
        lone = self._lone()
        if lone is not None and lone.handed + self.lone_after <= now:
            lone.rescued = True  # (not the rescue's as well)
            self._express_busy = True
            self.expressed += 1
            self.rerun += 1
            assert self.express is not None
            self.express(self._started(lone, EXPRESS))
        self._look_at(self._next_sign(now))

    def _lone(self) -> _Job | None:
        """The check a worker holds while it is the only one about (none waiting, no other
        running), if the express runner is free to run it too: a lone login on a machine
        kept busy by other programs, whose idle-class worker gets no CPU, waits
        `lone_after` for it instead of the rescue's `held_after`."""
        if self.express is None or self._express_busy or self.waiting or self.running != 1:
            return None
        held = self._unrescued()
        return held[0] if len(held) == 1 else None

    def _starved(self, now: float) -> _Job | None:
        """The next check to rescue now, if any (taken off the queue if it was waiting)."""
        held = self._unrescued()
        assert self._since is not None
        if self._since + self.rescue_after <= now:  # no worker has finished one: all starve
            if held:  # the oldest first: it has waited longest, and may wait for ever
                self.rerun += 1
                return min(held, key=lambda job: job.seq)
            if self.waiting:
                job = self._next()
                self._count_running(job)
                return job
            return None
        stuck = [job for job in held if job.handed + self.held_after <= now]
        if stuck:  # a worker that has held one check too long: that one starves
            self.rerun += 1
            return min(stuck, key=lambda job: job.seq)
        return None

    def _next_sign(self, now: float) -> float | None:
        """When starvation would next show (either sign), if the rescue has room then."""
        if self._rescuing >= self.width:
            return None  # a rescue's end looks again (_started's over)
        held = [job.handed for job in self._unrescued()]
        assert self._since is not None
        signs = [self._since + self.rescue_after] if self.waiting or held else []
        if held:
            signs.append(min(held) + self.held_after)
        lone = self._lone()
        if lone is not None:
            signs.append(lone.handed + self.lone_after)
        signs = [when for when in signs if when > now]  # what is due now was just looked at
        return min(signs) if signs else None

    def _unrescued(self) -> list[_Job]:
        """The checks on a worker that the rescue has not taken, of connections still there."""
        return [job for job in self._held if not job.rescued and not _gone(job)]

    def _look_at(self, when: float | None) -> None:
        if when is None or self._schedule is None:
            return
        if self._looking is not None and self._looking <= when:
            return  # a timer set for sooner looks again anyway
        self._looking = when
        self._schedule(max(0.0, when - self._clock()), lambda: self._look_again(when))

    def _look_again(self, when: float) -> None:
        if self._looking == when:
            self._looking = None
        self._pump()

    def _start(self, job: _Job, on: str) -> None:
        self._count_running(job)
        if on == WORKER:
            self._held[job] = None
            job.handed = self._clock()
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
                    self._rescuing -= 1
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
