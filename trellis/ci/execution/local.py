"""The local executor: a pool of job slots on this machine, each job in its own sandbox."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from .jobs import JobOutcome, JobRequest, TestOutcome
from .pytest_job import read_report
from .running import job_plugin, read_stream, run_job
from .warm import WarmPytestLauncher
from .workspace import DEFAULT_UID_BASE, WorkspacePool

__all__ = ["BYTECODE_BUDGET_S", "LocalExecutor"]

BYTECODE_BUDGET_S = 0.25  # per lease: compiling the workspace's pycs (those of changed files first)


class LocalExecutor:
    """Runs up to ``workers`` jobs at once, each in a workspace of a pool under ``workspace_root``.

    With ``warm_pytest`` (the default) pytest jobs start from a pre-started interpreter that
    has already imported pytest (see :mod:`trellis.ci.execution.warm`). The workspaces keep the
    pycs of their Python files, compiled by us, up to ``bytecode_budget_s`` of compiling per
    lease (0: none; see :mod:`trellis.ci.execution.bytecode`).
    """

    name = "local"

    def __init__(
        self,
        workspace_root: Path,
        *,
        workers: int | None = None,
        warm_pytest: bool = True,
        uid_base: int | None = DEFAULT_UID_BASE,
        bytecode_budget_s: float = BYTECODE_BUDGET_S,
    ) -> None:
        self.slots = workers or os.cpu_count() or 1
        self.pool = WorkspacePool(
            workspace_root, size=self.slots, uid_base=uid_base, bytecode_budget_s=bytecode_budget_s
        )
        self._threads = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="trellis-job")
        self.warm = WarmPytestLauncher(plugin=job_plugin()) if warm_pytest else None
        self._closed = threading.Event()
        self._stops: dict[str, threading.Event] = {}
        self._warm_envs: dict[str, WarmPytestLauncher] = {}
        self._streams: dict[str, Path] = {}
        self._guard = threading.Lock()

    def submit(self, request: JobRequest) -> Future[JobOutcome]:
        if self._closed.is_set():
            raise RuntimeError("the executor is closed")
        stop = threading.Event()
        with self._guard:
            self._stops[request.job_id] = stop
        return self._threads.submit(self._run, request, stop)

    def _run(self, request: JobRequest, stop: threading.Event) -> JobOutcome:
        try:
            if self._closed.is_set():
                stop.set()
            return run_job(
                request,
                self.pool,
                launcher=self.warm,
                executor=self.name,
                stop=stop,
                launcher_for=self._launcher_for if self.warm is not None else None,
                streaming=lambda path: self._streaming(request.job_id, path),
            )
        finally:
            with self._guard:
                if self._stops.get(request.job_id) is stop:
                    del self._stops[request.job_id]

    def _launcher_for(self, python: str) -> WarmPytestLauncher:
        """A warm runner per project environment's Python (started on first use)."""
        with self._guard:
            found = self._warm_envs.get(python)
            if found is None:
                found = self._warm_envs[python] = WarmPytestLauncher(python, plugin=job_plugin())
            return found

    def _streaming(self, job_id: str, path: Path | None) -> None:
        with self._guard:
            if path is None:
                self._streams.pop(job_id, None)
            else:
                self._streams[job_id] = path

    def progress(self, job_id: str) -> tuple[TestOutcome, ...]:
        """The tests a running pytest job has finished so far (empty when it is not running)."""
        with self._guard:
            path = self._streams.get(job_id)
        if path is None:
            return ()
        return read_stream(read_report(path) or b"")[2]

    def cancel(self, job_id: str) -> None:
        """Kill the running job ``job_id`` (it ends "killed"); nothing if it is not running."""
        with self._guard:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()

    def close(self) -> None:
        """Kill running jobs (they end "killed"), drop queued ones, stop the warm runner."""
        self._closed.set()
        with self._guard:
            for stop in self._stops.values():
                stop.set()
        self._threads.shutdown(wait=True, cancel_futures=True)
        if self.warm is not None:
            self.warm.close()
        for warm in self._warm_envs.values():
            warm.close()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
