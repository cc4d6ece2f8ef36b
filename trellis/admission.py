"""One admission queue for the server's work: unary calls and stream items take turns in arrival order.

Every call runs on a thread of the server's pool (:mod:`trellis.serving`), and all
of them share one GIL. Left alone, 64 agents meant 60-odd threads contending
for it, and the losers were the unary calls: gRPC's Python server accepts new
calls one at a time on a single thread, which had to win the GIL once per
call, while a stream's next item went to a thread already running. Under
``bench_load.py`` a unary ``Commit`` waited p50 1,080 ms where a
``CommitStream`` commit waited 47 ms (benchmarks/RESULTS.md, "Load").

:class:`Admission` lets at most ``slots`` calls run at once and queues the
others first come, first served, whatever their kind: every unary call and
every ``CommitStream`` item takes a slot (``TrellisInterceptor``). The threads
that wait do so on a lock, off the GIL, so the few running ones (and the
thread that accepts calls) get it quickly. A call that waits for something
else (the sync of its write, a background diff, a verification verdict) gives
its slot up meanwhile: :func:`waiting`. Streaming calls that stay open
(``WatchRun``, ``Query``'s rows) hold no slot.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Admission", "waiting"]

_held = threading.local()  # .admission: the Admission whose slot this thread holds, if any


class Admission:
    """At most ``slots`` holders at once, the others served in arrival order (0: no limit)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = slots
        self._queue: deque[threading.Lock] = deque()
        self._guard = threading.Lock()

    @property
    def queued(self) -> int:
        """Callers waiting for a slot now."""
        with self._guard:
            return len(self._queue)

    def _acquire(self) -> None:
        with self._guard:
            if self._free and not self._queue:
                self._free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self._queue.append(turn)
        turn.acquire()  # released by _release: the slot is handed over, no one can take it in between

    def _release(self) -> None:
        with self._guard:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._free += 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot for the block (queue for it first); nested use in one thread takes no second slot."""
        if not self.slots or getattr(_held, "admission", None) is self:
            yield
            return
        self._acquire()
        _held.admission = self
        try:
            yield
        finally:
            _held.admission = None
            self._release()


@contextmanager
def waiting() -> Iterator[None]:
    """Give up this thread's slot, if it holds one, for a block that waits rather than works; queue
    again after it."""
    admission: Admission | None = getattr(_held, "admission", None)
    if admission is None:
        yield
        return
    _held.admission = None
    admission._release()
    try:
        yield
    finally:
        admission._acquire()
        _held.admission = admission
