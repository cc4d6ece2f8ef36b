"""Executors run verification jobs: here (LocalExecutor) or on a Ray cluster (RayExecutor)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from ..jobs import JobOutcome, JobRequest
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
