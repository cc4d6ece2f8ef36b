"""The local executor: a pool of job slots on this machine, each job in its own sandbox."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ..jobs import JobOutcome, JobRequest
from ..workspace import DEFAULT_UID_BASE, WorkspacePool
from .running import run_job
from .warm import WarmPytestLauncher

__all__ = ["LocalExecutor"]


class LocalExecutor:
    """Runs up to ``workers`` jobs at once, each in a workspace of a pool under ``workspace_root``.

    With ``warm_pytest`` (the default) pytest jobs start from a pre-started interpreter that
    has already imported pytest (see :mod:`ci.executors.warm`).
    """

    name = "local"

    def __init__(self, workspace_root: Path, *, workers: int | None = None, warm_pytest: bool = True,
                 uid_base: int | None = DEFAULT_UID_BASE) -> None:
        self.slots = workers or os.cpu_count() or 1
        self.pool = WorkspacePool(workspace_root, size=self.slots, uid_base=uid_base)
        self._threads = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="trellis-job")
        self.warm = WarmPytestLauncher() if warm_pytest else None
        self._closed = threading.Event()

    def submit(self, request: JobRequest) -> Future[JobOutcome]:
        if self._closed.is_set():
            raise RuntimeError("the executor is closed")
        return self._threads.submit(run_job, request, self.pool, launcher=self.warm, executor=self.name,
                                    stop=self._closed)

    def close(self) -> None:
        """Kill running jobs (they end "killed"), drop queued ones, stop the warm runner."""
        self._closed.set()
        self._threads.shutdown(wait=True, cancel_futures=True)
        if self.warm is not None:
            self.warm.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
