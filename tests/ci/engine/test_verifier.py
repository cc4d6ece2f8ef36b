"""The facade: starting runs (and refusing to), pushes, superseded runs, full runs, resuming after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import repo_path
from trellis import vcs
from trellis.ci.engine import Verifier
from trellis.ci.errors import CiError, InvalidRequest, PipelineNotFound, Refused, TooManyRuns
from trellis.ci.runs import PIPELINE_STAGE, Verdict

from .fakes import ALICE, PIPELINE, FakeExecutor, Finished, Repo, make_verifier

LINT = '[stages.lint]\nrun = "lint"\n'


def test_a_run_of_a_commit_without_changes_to_check_passes_at_once(
    verifier: Verifier, repo: Repo, finished: Finished
) -> None:
    first = repo.commit({"trellis.toml": LINT + 'when.paths = ["**/*.py"]\n'})
    repo.commit({"notes.txt": "plain\n"})
    run = verifier.start(repo.name, "main")
    assert run.final and run.jobs == () and run.verdict is Verdict.PASSED and finished == [run]
    assert run.base_commit_id == first
    assert verifier.get(repo.name, run.run_id) == run


@pytest.mark.parametrize(
    ("files", "stages", "reason", "error"),
    [
        ({"a.py": "x = 1\n"}, (), "PIPELINE_NOT_FOUND", PipelineNotFound),
        ({"trellis.toml": "[stages.x]\nkind = 'nope'\n"}, (), "INVALID_PIPELINE", Refused),
        ({"trellis.toml": LINT}, ("nope",), "UNKNOWN_STAGE", InvalidRequest),
    ],
)
def test_a_run_that_cannot_start_says_why(
    verifier: Verifier,
    repo: Repo,
    files: dict[str, str | None],
    stages: tuple[str, ...],
    reason: str,
    error: type[CiError],
) -> None:
    with pytest.raises(error) as caught:
        verifier.start(repo.name, repo.commit(files), stages=stages)
    assert caught.value.reason == reason


def test_the_number_of_runs_in_progress_is_bounded(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    verifier = make_verifier(store, repo, FakeExecutor(hold=True), tmp_path, max_active_runs=1)
    try:
        commit_id = repo.commit({"trellis.toml": LINT})
        verifier.start(repo.name, commit_id)
        with pytest.raises(TooManyRuns) as caught:
            verifier.start(repo.name, commit_id)
        assert caught.value.reason == "TOO_MANY_RUNS"
    finally:
        verifier.close()


def test_a_push_supersedes_the_previous_push_to_its_branch(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    executor = FakeExecutor(hold=True)
    verifier = make_verifier(store, repo, executor, tmp_path)
    try:
        pipeline = '[stages.a]\nrun = "a"\n\n[stages.b]\nrun = "b"\nneeds = ["a"]\n'
        first = verifier.on_push(repo.name, "main", repo.commit({"trellis.toml": pipeline}))
        executor.wait_for(1)
        second_id = repo.commit({"x.txt": "x\n"})
        second = verifier.on_push(repo.name, "main", second_id, session_id="s1")
        assert first is not None and second is not None
        assert (second.trigger, second.branch, second.session_id) == ("push", "main", "s1")
        executor.release()
        old = verifier.wait(repo.name, first.run_id, 30)
        assert old.jobs[1].verdict is Verdict.CANCELLED
        assert old.jobs[1].summary == f"superseded by a newer push ({second_id[:12]}) to main"
    finally:
        verifier.close()


def test_a_push_without_a_pipeline_starts_nothing_and_an_invalid_one_fails_at_once(
    verifier: Verifier, repo: Repo
) -> None:
    assert verifier.on_push(repo.name, "main", repo.commit({"a.py": "x = 1\n"})) is None
    run = verifier.on_push(repo.name, "main", repo.commit({"trellis.toml": "[stages.x]\nkind = 'nope'\n"}))
    assert run is not None and run.final and run.verdict is Verdict.FAILED
    assert [j.stage for j in run.jobs] == [PIPELINE_STAGE] and "nope" in run.jobs[0].summary


def test_a_push_the_caller_just_wrote_is_not_read_again(
    verifier: Verifier, store: vcs.Store, repo: Repo, data_dir: Path
) -> None:
    """The commit path hands over the commit it wrote: without a pipeline, the push reads nothing of it."""
    commit = store.get_commit(repo.name, repo.commit({"a.py": "x = 1\n"}))
    repo_path(data_dir, repo.name).joinpath("objects", commit.commit_id[:2], commit.commit_id[2:]).unlink()
    store.reopen(repo.name)
    assert verifier.on_push(repo.name, "main", commit.commit_id, commit=commit) is None
    with pytest.raises(vcs.NotFound):  # given only its id, the push reads it
        verifier.on_push(repo.name, "main", commit.commit_id)


def test_every_nth_push_is_a_full_run(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    verifier = make_verifier(store, repo, FakeExecutor(), tmp_path, full_run_every=2)
    try:
        triggers = []
        for n in range(4):
            run = verifier.on_push(repo.name, "main", repo.commit({"trellis.toml": LINT, "n.txt": f"{n}\n"}))
            assert run is not None
            triggers.append(verifier.wait(repo.name, run.run_id, 30).trigger)
        assert triggers == ["push", "full", "push", "full"]
    finally:
        verifier.close()


def test_list_runs_filters_and_sees_runs_in_progress(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    verifier = make_verifier(store, repo, FakeExecutor(hold=True), tmp_path)
    try:
        commit_id = repo.commit({"trellis.toml": LINT})
        run = verifier.start(repo.name, commit_id, branch="main")
        assert verifier.list_runs(repo.name, commit_id=commit_id[:8]) == [run.run_id]
        assert verifier.list_runs(repo.name, branch="other") == []
    finally:
        verifier.close()


def test_a_restart_resumes_the_run_a_reviewer_owes_a_verdict(store: vcs.Store, repo: Repo, tmp_path: Path) -> None:
    first = make_verifier(store, repo, FakeExecutor(), tmp_path)
    run = first.start(repo.name, repo.commit({"trellis.toml": PIPELINE, "app.py": "x = 1\n"}))
    next(first.watch_reviews(repo.name, poll=0.05))
    first.close()
    finished = Finished()
    again = make_verifier(store, repo, FakeExecutor(), tmp_path, finished)
    try:
        assert again.recover() == 0
        again.post_verdict(repo.name, run.run_id, "review", "app.py", Verdict.PASSED, "ok", "", ALICE)
        done = again.wait(repo.name, run.run_id, 30)
        assert done.verdict is Verdict.PASSED and [r.run_id for r in finished.wait_for(1)] == [run.run_id]
    finally:
        again.close()
