"""Runs in git: each run is the record ``refs/trellis/runs/<run_id>`` (its ``run.json``).

A run is written when it starts, when it finishes and when a verdict is
posted, so it survives a restart and the index can rebuild it; a job's output
is kept to its last :data:`MAX_OUTPUT_IN_GIT` bytes there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from trellis import vcs
from trellis.vcs import Identity, InvalidArgument, NotFound

from ..errors import RunNotFound
from ..runs import Run, Verdict, overall_verdict, run_from_json, run_to_json

__all__ = ["ENGINE", "MAX_OUTPUT_IN_GIT", "RunStore"]

RUNS = "runs"
ENGINE = Identity("trellis-ci")
MAX_OUTPUT_IN_GIT = 64 * 1024
RECOVER_PER_REPOSITORY = 100


class RunStore:
    """Save, read and list the runs of a store's repositories."""

    def __init__(self, store: vcs.Store) -> None:
        self.store = store

    def save(self, run: Run) -> None:
        stored = replace(run, jobs=tuple(replace(j, output=j.output[-MAX_OUTPUT_IN_GIT:]) for j in run.jobs))
        self.store.write_record(
            run.repository,
            RUNS,
            run.run_id,
            {"run.json": run_to_json(stored)},
            f"Run {run.run_id} of {run.commit_id[:12]}: {run.verdict.value}",
            ENGINE,
        )

    def get(self, repository: str, run_id: str) -> Run:
        """The run as last saved; RunNotFound (``RUN_NOT_FOUND``) if there is none."""
        try:
            data = self.store.read_record(repository, RUNS, run_id)
        except (NotFound, InvalidArgument):
            raise RunNotFound(f"run {run_id!r} not found in {repository!r}", reason="RUN_NOT_FOUND") from None
        return run_from_json(data["run.json"])

    def ids(self, repository: str) -> list[str]:
        """The ids of the repository's runs, newest first (run ids sort by time)."""
        return sorted(self.store.list_records(repository, RUNS), reverse=True)

    def find(
        self, repository: str, commit_id: str = "", branch: str = "", get: Callable[[str, str], Run] | None = None
    ) -> list[str]:
        """Run ids of a repository, newest first; only those of a commit (its id or a prefix) or branch if given.

        ``get`` reads a run (default: as saved; the engine passes one that knows the runs in progress).
        """
        read = get or self.get
        ids = self.ids(repository)
        if commit_id:
            commit_id = self.store.full_commit_id(repository, commit_id, "commit_id")
        if commit_id or branch:
            runs = (read(repository, i) for i in ids)
            ids = [
                r.run_id
                for r in runs
                if (not commit_id or r.commit_id == commit_id) and (not branch or r.branch == branch)
            ]
        return ids

    def recover(self, resume: Callable[[Run], bool]) -> int:
        """Close the unfinished runs a restart interrupted, unless ``resume`` takes one up again.

        A closed run's unfinished jobs become ERROR. Looks at the newest
        :data:`RECOVER_PER_REPOSITORY` runs of every repository; returns how
        many runs were closed.
        """
        count = 0
        for repository in self.repositories():
            for run_id in self.ids(repository)[:RECOVER_PER_REPOSITORY]:
                run = self.get(repository, run_id)
                if run.final or resume(run):
                    continue
                jobs = tuple(
                    j
                    if j.final
                    else replace(j, verdict=Verdict.ERROR, summary="interrupted by a server restart; verify again")
                    for j in run.jobs
                )
                self.save(replace(run, jobs=jobs, verdict=overall_verdict(jobs), end_time=time.time()))
                count += 1
        return count

    def repositories(self) -> list[str]:
        names: list[str] = []
        token = ""
        while True:
            page = self.store.list_repositories(requested_page_size=1000, page_token=token)
            names.extend(r.repository_id for r in page.items)
            token = page.next_page_token
            if not token:
                return names
