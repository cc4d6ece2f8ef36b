"""External stages: pending reviews, posted verdicts and the refusals of a wrong post."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis import vcs
from trellis.ci.engine import Verifier
from trellis.ci.errors import CiError, InvalidRequest, Refused, RunNotFound
from trellis.ci.runs import Run, Verdict

from .fakes import ALICE, PIPELINE, FakeExecutor, Finished, Repo, make_verifier

APP = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"


def post(
    verifier: Verifier, run: Run, stage: str = "review", chunk: str = "app.py", verdict: Verdict = Verdict.PASSED
) -> object:
    return verifier.post_verdict(run.repository, run.run_id, stage, chunk, verdict, "", "https://review/1", ALICE)


def test_a_posted_verdict_finishes_the_run(verifier: Verifier, repo: Repo, finished: Finished) -> None:
    run = verifier.start(repo.name, repo.commit({"trellis.toml": PIPELINE, "app.py": APP}))
    review = next(verifier.watch_reviews(repo.name, "review", poll=0.05))
    assert (review.path, review.content, review.commit_id) == ("app.py", APP.encode(), run.commit_id)
    result = verifier.post_verdict(repo.name, run.run_id, "review", "app.py", Verdict.FAILED, "", "https://r/1", ALICE)
    assert (result.verdict, result.summary, result.reviewer, result.details_url) == (
        Verdict.FAILED,
        "failed",
        "alice",
        "https://r/1",
    )
    done = verifier.wait(repo.name, run.run_id, 30)
    assert done.verdict is Verdict.FAILED and finished.wait_for(1) == [done]
    assert verifier.pending_reviews(repo.name) == []
    with pytest.raises(Refused) as final:
        post(verifier, run)
    assert final.value.reason == "VERDICT_FINAL"


def test_an_entity_review_shows_the_entity(verifier: Verifier, repo: Repo) -> None:
    pipeline = '[stages.review]\nkind = "external"\nscope = "entity"\nwhen.entities = ["function"]\n'
    repo.commit({"trellis.toml": pipeline, "app.py": APP})
    run = verifier.start(repo.name, repo.commit({"app.py": APP.replace("return 2", "return 3")}))
    review = next(verifier.watch_reviews(repo.name, poll=0.05))
    assert (review.run_id, review.qualname, review.content) == (run.run_id, "app.g", b"def g():\n    return 3")


@pytest.mark.parametrize(
    ("stage", "chunk", "verdict", "reason", "error"),
    [
        ("review", "app.py", Verdict.RUNNING, "INVALID_VERDICT", InvalidRequest),
        ("review", "nope.py", Verdict.PASSED, "JOB_NOT_FOUND", RunNotFound),
        ("lint", "", Verdict.PASSED, "NOT_EXTERNAL", Refused),
        ("review", "app.py", Verdict.PASSED, "NOT_READY", Refused),
    ],
)
def test_a_wrong_post_is_refused_with_its_reason(
    store: vcs.Store,
    repo: Repo,
    tmp_path: Path,
    stage: str,
    chunk: str,
    verdict: Verdict,
    reason: str,
    error: type[CiError],
) -> None:
    executor = FakeExecutor(hold=True)  # lint runs until released: the review still waits for it
    verifier = make_verifier(store, repo, executor, tmp_path)
    try:
        run = verifier.start(repo.name, repo.commit({"trellis.toml": PIPELINE, "app.py": APP}))
        executor.wait_for(1)
        with pytest.raises(error) as caught:
            post(verifier, run, stage, chunk, verdict)
        assert caught.value.reason == reason
    finally:
        verifier.close()
