"""Runs in git: save, get, list and recover."""

from __future__ import annotations

import pytest

from trellis import vcs
from trellis.ci.engine.store import MAX_OUTPUT_IN_GIT, RunStore
from trellis.ci.errors import RunNotFound
from trellis.ci.runs import JobResult, Run, Verdict

from .fakes import Repo


def run_of(
    repo: Repo,
    commit_id: str,
    run_id: str,
    *,
    verdict: Verdict = Verdict.PASSED,
    branch: str = "",
    jobs: tuple[JobResult, ...] = (),
) -> Run:
    return Run(
        repository=repo.name,
        run_id=run_id,
        commit_id=commit_id,
        verdict=verdict,
        jobs=jobs or (JobResult("lint", "commit", "", verdict=verdict),),
        create_time=1.0,
        branch=branch,
    )


def test_a_saved_run_reads_back_with_its_output_clipped(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"a.py": "x = 1\n"})
    runs = RunStore(store)
    big = JobResult("lint", "commit", "", verdict=Verdict.FAILED, output=b"x" * (MAX_OUTPUT_IN_GIT + 10) + b"end")
    runs.save(run_of(repo, commit_id, "0001", verdict=Verdict.FAILED, jobs=(big,)))
    back = runs.get(repo.name, "0001")
    assert back.verdict is Verdict.FAILED and back.commit_id == commit_id
    assert len(back.jobs[0].output) == MAX_OUTPUT_IN_GIT and back.jobs[0].output.endswith(b"end")


def test_an_unknown_run_is_run_not_found(store: vcs.Store, repo: Repo) -> None:
    with pytest.raises(RunNotFound) as caught:
        RunStore(store).get(repo.name, "0099")
    assert caught.value.reason == "RUN_NOT_FOUND"


def test_list_is_newest_first_and_filters_by_commit_prefix_and_branch(store: vcs.Store, repo: Repo) -> None:
    first = repo.commit({"a.py": "x = 1\n"})
    second = repo.commit({"a.py": "x = 2\n"})
    runs = RunStore(store)
    runs.save(run_of(repo, first, "0001", branch="main"))
    runs.save(run_of(repo, second, "0002", branch="main"))
    runs.save(run_of(repo, second, "0003", branch="topic"))
    assert runs.find(repo.name) == ["0003", "0002", "0001"]
    assert runs.find(repo.name, commit_id=second[:10]) == ["0003", "0002"]
    assert runs.find(repo.name, branch="main") == ["0002", "0001"]
    assert runs.find(repo.name, commit_id=second, branch="topic") == ["0003"]


def test_recover_closes_unfinished_runs_unless_resumed(store: vcs.Store, repo: Repo) -> None:
    commit_id = repo.commit({"a.py": "x = 1\n"})
    runs = RunStore(store)
    done = JobResult("syntax", "file", "a.py", "a.py", verdict=Verdict.PASSED)
    running = JobResult("lint", "commit", "", verdict=Verdict.RUNNING)
    runs.save(run_of(repo, commit_id, "0001"))
    runs.save(run_of(repo, commit_id, "0002", verdict=Verdict.RUNNING, jobs=(done, running)))
    runs.save(run_of(repo, commit_id, "0003", verdict=Verdict.RUNNING, jobs=(done, running)))
    asked: list[str] = []

    def resume(run: Run) -> bool:
        asked.append(run.run_id)
        return run.run_id == "0003"

    assert runs.recover(resume) == 1
    assert sorted(asked) == ["0002", "0003"]  # a finished run is left alone
    closed = runs.get(repo.name, "0002")
    assert closed.final and closed.verdict is Verdict.ERROR and closed.end_time is not None
    assert closed.jobs[0].verdict is Verdict.PASSED
    assert closed.jobs[1].verdict is Verdict.ERROR and "restart" in closed.jobs[1].summary
    assert runs.get(repo.name, "0003").verdict is Verdict.RUNNING
