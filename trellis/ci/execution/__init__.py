"""Execution: how a verification job runs, here (LocalExecutor) or on a Ray cluster (RayExecutor).

``jobs`` holds the values an executor is asked to run and gives back;
``running`` runs one job start to end (``workspace`` leases a directory with
the tree, the sandbox confines it, ``pytest_job`` reads the report back);
``local``, ``warm`` and ``ray_executor`` are the executors and the warm
launcher; ``shards`` splits a pytest job across them and ``history`` keeps
the durations that balance the shards; ``environments`` builds a project's
own test environment. ``warm_server`` and ``pytest_plugin`` run inside a job,
loaded by path: they import nothing of Trellis.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from .jobs import JobOutcome, JobRequest
from .local import LocalExecutor
from .ray_executor import ExecutorUnavailable, RayExecutor
from .running import run_job
from .warm import WarmPytestLauncher

__all__ = ["Executor", "ExecutorUnavailable", "LocalExecutor", "RayExecutor", "WarmPytestLauncher", "run_job"]


class Executor(Protocol):
    """Where jobs run. ``slots``: how many run at once; ``name``: "local", "ray"."""

    name: str
    slots: int

    def submit(self, request: JobRequest) -> Future[JobOutcome]: ...

    def cancel(self, job_id: str) -> None:
        """Stop the submitted job ``job_id`` if it still runs (it ends "killed" or its future fails)."""

    def close(self) -> None: ...
