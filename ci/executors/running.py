"""One job, start to end, wherever it runs: lease a workspace, run the sandbox, read the report."""

from __future__ import annotations

import re
import threading
import time

from ..jobs import JobOutcome, JobRequest, summarize
from ..sandbox import TMPDIR_NAME, Launcher, run_sandboxed
from ..workspace import TreeSource, WorkspacePool
from .pytest_job import PYTEST_ENV, parse_junit, pytest_argv, read_report

__all__ = ["run_job"]


def run_job(request: JobRequest, pool: WorkspacePool, *, source: TreeSource | None = None,
            launcher: Launcher | None = None, executor: str = "local",
            stop: threading.Event | None = None) -> JobOutcome:
    """Run ``request`` in a workspace of ``pool`` (its tree from ``source``, else from the repository).

    ``launcher`` starts pytest jobs (the warm runner); command jobs always use the plain one.
    Raises :class:`ci.workspace.WorkspaceError` or :class:`ci.sandbox.SandboxError` when the
    job could not be run at all; anything the job itself does ends in the outcome.
    """
    start = time.monotonic()
    lease = pool.lease(request.repo_path, request.tree_id) if source is None else \
        pool.lease_tree(source, request.tree_id)
    with lease as workspace:
        setup_s = time.monotonic() - start
        env = dict(request.env)
        if request.kind == "pytest":
            report = workspace / TMPDIR_NAME / f"junit-{re.sub(r'[^A-Za-z0-9_.-]', '_', request.job_id)}.xml"
            env = {**PYTEST_ENV, **env}
            result = run_sandboxed(pytest_argv(request.pytest_args, report), workspace, env=env,
                                   limits=request.limits, network=request.network, launcher=launcher, stop=stop)
            data = read_report(report)
            tests = parse_junit(data) if data else ()
            return JobOutcome.from_sandbox(request.job_id, result, tests=tests, summary=summarize(tests),
                                           setup_s=setup_s, executor=executor)
        result = run_sandboxed(request.command, workspace, env=env, limits=request.limits,
                               network=request.network, stop=stop)
        return JobOutcome.from_sandbox(request.job_id, result, setup_s=setup_s, executor=executor)
