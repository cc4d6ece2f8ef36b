"""Lanes: how the commits of a history import are shared out between worker processes.

The semantic diff of a commit is cheap when the worker diffed the commit
before it: the old side of each changed file is then in the worker's parse
cache, and the new side is parsed incrementally from it. Jobs handed out
round-robin break that chain at every job (each worker sees every other run
of commits), and the worker parses both sides of the files again from
scratch. So each worker gets a *lane*: a contiguous run of the commits (in
the order they are given, oldest first), done job by job in order. A worker
whose lane is empty takes the later half of the longest remaining lane, so
the workers finish together and the chains break only where a lane was cut.

:class:`LanePlan` is the bookkeeping alone (no processes); the indexer drives
one single-process pool per lane with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

__all__ = ["LanePlan"]

T = TypeVar("T")


class LanePlan(Generic[T]):
    """``items`` cut into ``lanes`` contiguous lanes of jobs of at most ``job_size`` items."""

    def __init__(self, items: Sequence[T], lanes: int, job_size: int) -> None:
        if lanes < 1 or job_size < 1:
            raise ValueError("lanes and job_size must be >= 1")
        jobs = [list(items[i : i + job_size]) for i in range(0, len(items), job_size)]
        lanes = min(lanes, len(jobs)) or 1
        share, extra = divmod(len(jobs), lanes)
        self._lanes: list[deque[list[T]]] = []
        start = 0
        for lane in range(lanes):
            end = start + share + (1 if lane < extra else 0)
            self._lanes.append(deque(jobs[start:end]))
            start = end

    @property
    def lanes(self) -> int:
        return len(self._lanes)

    def remaining(self, lane: int) -> int:
        """Jobs still waiting in ``lane``."""
        return len(self._lanes[lane])

    def next_job(self, lane: int) -> list[T] | None:
        """The next job of ``lane``; when the lane is empty, it first takes the later half of the longest
        other lane (a lone last job included). ``None``: nothing is left anywhere."""
        own = self._lanes[lane]
        if not own:
            donor = max(range(len(self._lanes)), key=lambda i: (len(self._lanes[i]), -i))
            waiting = self._lanes[donor]
            if not waiting:
                return None
            take = (len(waiting) + 1) // 2 if len(waiting) > 1 else 1
            moved = [waiting.pop() for _ in range(take)]
            own.extend(reversed(moved))
        return own.popleft()
