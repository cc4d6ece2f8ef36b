"""One admission queue for the server's work: cheap calls first, heavy ones bounded and never starved.

Every call runs on a thread of the server's pool (:mod:`trellis.serving`), and all
of them share one GIL. Left alone, 64 agents meant 60-odd threads contending
for it, and the losers were the unary calls: gRPC accepts new calls on one
thread (now ``grpc.aio``'s event loop), which has to win the GIL for each,
while a stream's next item goes to a thread already running. Under
``bench_load.py`` a unary ``Commit`` waited p50 1,080 ms where a
``CommitStream`` commit waited 47 ms (benchmarks/RESULTS.md, "Load").

:class:`Admission` lets at most ``slots`` calls run at once and queues the
others: every unary call, every ``CommitStream`` item and every step of a
``Query`` takes a slot (``TrellisInterceptor``). The threads that wait do so on
a lock, off the GIL, so the few running ones (and the thread that accepts
calls) get it quickly. A call that waits for something else (the sync of its
write, a background diff, a verification verdict) gives its slot up
meanwhile: :func:`waiting`. Streaming calls that stay open (``WatchRun``)
hold no slot between their answers.

Each call has a cost class (:func:`cost_of`): ``HEAVY`` for the methods whose
work grows with the data rather than with the request (a diff, a history walk
that may filter by path, a merge, an export), ``CHEAP`` for the others (a
commit, a branch, a file, a Query: its SQL runs on DuckDB's threads, and its
own thread spent 2.8 ms of CPU per call under load, as a Commit's 2.1). The
queue is ordered by class, then by arrival:

* a free slot goes to the first queued cheap call, so a commit is not stuck
  behind diffs and history walks that arrived before it;
* at most ``heavy_slots`` heavy calls run at once (half the slots, at least
  one), so cheap calls always find slots that heavy ones cannot all take;
* no call waits forever: the first queued heavy call is passed over by at most
  ``patience`` cheap ones while a heavy slot is free; then it goes next.
  Heavy calls keep their arrival order among themselves, as cheap ones do;
* a call that was admitted before and queues again (after it waited, for the
  sync of its write or for DuckDB; for the next step of a ``Query`` stream) goes
  ahead of the calls of its class that have not started: work begun is finished
  before new work starts. A ``Query`` took about seven turns and a unary
  ``Commit`` two; each queued behind every newer cheap call, so the tail of
  their latency under load was several queue waits (Query: 486 ms of its slowest
  2% under ``bench_load.py``, benchmarks/RESULTS.md, "Work begun first").

The order only matters if the calls queue here. Timed stage by stage under
``bench_load.py`` (64 agents), a unary ``Commit`` spent p50 21-26 ms from the
moment its handler was called to its answer (2 ms of it CPU) and 228 ms before
that: queued inside gRPC, which accepted the calls of all methods one at a
time, through an event loop that competed for the GIL with eight running
calls. With three slots and each method's calls accepted on their own
(:mod:`trellis.serving`) the wait moved here, where cheap calls go first
(benchmarks/RESULTS.md, "Cheap calls first").
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["HEAVY_METHODS", "STEPPED_STREAMS", "Admission", "Cost", "cost_of", "waiting"]

_held = threading.local()  # .admission, .cost: the Admission whose slot this thread holds, if any, and its class


class Cost(enum.Enum):
    """How much work a call is expected to do, for the order of the admission queue."""

    CHEAP = "cheap"
    """Bounded by the request: a commit, a branch, a file, a session's step."""
    HEAVY = "heavy"
    """Grows with the data: a diff of two branches, a (path-filtered) history walk, SQL over the index."""


HEAVY_METHODS = frozenset(
    {
        "/trellis.v1.DiffService/Diff",
        "/trellis.v1.ChangeService/ListCommits",
        "/trellis.v1.ChangeService/Merge",
        "/trellis.v1.QueryService/Export",
        "/trellis.v1.QueryService/CheckIndex",
    }
)
"""The methods whose calls are ``HEAVY``; every other method's are ``CHEAP``."""

STEPPED_STREAMS = frozenset({"/trellis.v1.QueryService/Query", "/trellis.v1.ChangeService/ReadFile"})
"""Server-streaming methods whose every step is work (the SQL and its rows, a file's chunks): each step takes
a slot, as a unary call does. The other streams wait between their answers (``WatchRun``) or run for minutes
(``RebuildIndex``) and take none."""


def cost_of(method: str) -> Cost:
    """The cost class of a call to ``method`` (its full name, ``/package.Service/Method``)."""
    return Cost.HEAVY if method in HEAVY_METHODS else Cost.CHEAP


class _Waiter:
    __slots__ = ("passed", "turn")

    def __init__(self) -> None:
        self.turn = threading.Lock()
        self.turn.acquire()
        self.passed = 0  # cheap calls let in before this one while it was the first heavy call and could run


class Admission:
    """At most ``slots`` holders at once (0: no limit), at most ``heavy_slots`` of them heavy (default: half,
    at least one); queued cheap calls go first, a queued heavy call is passed over at most ``patience`` times."""

    def __init__(self, slots: int, *, heavy_slots: int | None = None, patience: int = 8) -> None:
        self.slots = slots
        self.heavy_slots = max(1, slots // 2) if heavy_slots is None else max(1, min(heavy_slots, slots))
        self.patience = patience
        self._free = slots
        self._heavy_running = 0
        self._queues: dict[Cost, deque[_Waiter]] = {Cost.CHEAP: deque(), Cost.HEAVY: deque()}
        self._resumed: dict[Cost, int] = {Cost.CHEAP: 0, Cost.HEAVY: 0}  # resumed waiters at the head of each queue
        self._guard = threading.Lock()

    @property
    def queued(self) -> int:
        """Callers waiting for a slot now."""
        with self._guard:
            return sum(len(q) for q in self._queues.values())

    def queued_by_cost(self) -> dict[Cost, int]:
        """Callers waiting for a slot now, by cost class."""
        with self._guard:
            return {cost: len(q) for cost, q in self._queues.items()}

    def _next(self) -> Cost | None:
        """The class whose first waiter takes the free slot now, if any (called under the guard)."""
        cheap, heavy = self._queues[Cost.CHEAP], self._queues[Cost.HEAVY]
        heavy_may_run = bool(heavy) and self._heavy_running < self.heavy_slots
        if heavy_may_run and (not cheap or heavy[0].passed >= self.patience):
            return Cost.HEAVY
        if cheap:
            if heavy_may_run:
                heavy[0].passed += 1
            return Cost.CHEAP
        return None

    def _acquire(self, cost: Cost, *, resumed: bool = False) -> None:
        with self._guard:
            # Straight in only when no one of a class that may run is queued: arrival order within a class,
            # where a resumed call counts as having arrived before every call that has not started.
            if self._free and self._next_would_be(cost, resumed):
                self._take(cost)
                return
            waiter = _Waiter()
            queue = self._queues[cost]
            if resumed:
                if queue and queue[0].passed:  # the patience owed to the first heavy call stays at the head
                    waiter.passed = queue[0].passed
                queue.insert(self._resumed[cost], waiter)
                self._resumed[cost] += 1
            else:
                queue.append(waiter)
        waiter.turn.acquire()  # released by _release: the slot is handed over, no one can take it in between

    def _next_would_be(self, cost: Cost, resumed: bool = False) -> bool:
        cheap, heavy = self._queues[Cost.CHEAP], self._queues[Cost.HEAVY]
        ahead = self._resumed[cost] if resumed else len(self._queues[cost])  # waiters of its class it follows
        if cost is Cost.CHEAP:
            return not ahead and not (heavy and heavy[0].passed >= self.patience and self._heavy_may_start())
        return not ahead and not cheap and self._heavy_may_start()

    def _heavy_may_start(self) -> bool:
        return self._heavy_running < self.heavy_slots

    def _take(self, cost: Cost) -> None:
        self._free -= 1
        if cost is Cost.HEAVY:
            self._heavy_running += 1

    def _release(self, cost: Cost) -> None:
        with self._guard:
            self._free += 1
            if cost is Cost.HEAVY:
                self._heavy_running -= 1
            while self._free:
                chosen = self._next()
                if chosen is None:
                    break
                self._take(chosen)
                if self._resumed[chosen]:
                    self._resumed[chosen] -= 1
                self._queues[chosen].popleft().turn.release()

    @contextmanager
    def slot(self, cost: Cost = Cost.CHEAP, *, resumed: bool = False) -> Iterator[None]:
        """Hold a slot for the block (queue for it first); nested use in one thread takes no second slot.

        ``resumed``: the call held a slot before (the next step of a stream): it queues ahead of the calls of
        its class that have not started."""
        if not self.slots or getattr(_held, "admission", None) is self:
            yield
            return
        self._acquire(cost, resumed=resumed)
        _held.admission, _held.cost = self, cost
        try:
            yield
        finally:
            _held.admission = None
            self._release(cost)


@contextmanager
def waiting() -> Iterator[None]:
    """Give up this thread's slot, if it holds one, for a block that waits rather than works; queue
    again after it (in the same class, ahead of the calls that have not started)."""
    admission: Admission | None = getattr(_held, "admission", None)
    if admission is None:
        yield
        return
    cost: Cost = _held.cost
    _held.admission = None
    admission._release(cost)
    try:
        yield
    finally:
        admission._acquire(cost, resumed=True)
        _held.admission = admission
