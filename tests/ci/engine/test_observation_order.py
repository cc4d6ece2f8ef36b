"""A job's observations (the code exec/eval ran, :mod:`trellis.ci.selection.observed`) reach the background before
its verdict is delivered: a push answered by that verdict starts its selection at once, and that selection waits for
them instead of finding nothing to wait for and selecting every test through the site as not observed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from trellis import vcs
from trellis.ci.engine import Verifier
from trellis.ci.execution.jobs import JobOutcome, JobRequest, TestOutcome
from trellis.ci.runs import Run, Verdict
from trellis.ci.selection.observed import FORMAT

from .fakes import FakeExecutor, Finished, Repo, make_verifier, outcome

PIPELINE = '[stages.tests]\nkind = "pytest"\nselect = "affected"\ncache = false\nshards = 1\n'
GEN = {
    "trellis.toml": PIPELINE,
    "lib/__init__.py": "",
    "lib/gen.py": """\
def make(fields):
    source = "def __init__(self):\\n" + "".join(f"    self.{f} = 1\\n" for f in fields)
    namespace = {}
    exec(source, {}, namespace)
    return type("Made", (), namespace)
""",
    "lib/other.py": "def helper():\n    return 2\n",
    "tests/test_gen.py": "from lib.gen import make\n\n\ndef test_make():\n    assert make(['x'])().x == 1\n",
    "tests/test_other.py": "from lib.other import helper\n\n\ndef test_helper():\n    assert helper() == 2\n",
}
MAKE, HELPER = "tests/test_gen.py::test_make", "tests/test_other.py::test_helper"
# What the job's plugin reports: the exec in make() ran source that reaches nothing of lib/other.py.
EVALS = (
    json.dumps({"eval": "", "recording": FORMAT}),
    json.dumps({"eval": "lib/gen.py::make", "sha": "s1", "source": "def __init__(self):\n    self.x = 1\n"}),
)


def _passes(request: JobRequest) -> JobOutcome:
    """Every test the job was given passes, run to its end; the plugin's records of exec/eval come with them."""
    assert request.tests is not None
    ran = request.tests.only or (MAKE, HELPER)
    tests = tuple(TestOutcome(nodeid, "passed", 0.01) for nodeid in ran)
    return replace(outcome(request), tests=tests, summary=f"{len(tests)} passed", evals=EVALS)


class PushOnVerdict(Finished):
    """An agent answered by the seed's verdict: it pushes its next commit from the verdict's delivery, and the
    delivery returns only once that push's selection is done (its job reached the executor). The job's
    observations are handed over after that point or before it, never "meanwhile"."""

    def __init__(self, repo: Repo, executor: FakeExecutor) -> None:
        super().__init__()
        self.repo = repo
        self.executor = executor
        self.verifier: Verifier | None = None
        self.next: Run | None = None

    def add(self, repository: str, run: Run) -> None:
        if self.verifier is not None and self.next is None:
            self.next = self.verifier.on_push(
                repository, "main", self.repo.commit({"lib/other.py": "def helper():\n    return 1 + 1\n"})
            )
            self.executor.wait_for(2)
        super().add(repository, run)


def test_a_push_started_when_a_verdict_is_delivered_selects_with_what_that_job_observed(
    store: vcs.Store, repo: Repo, tmp_path: Path
) -> None:
    # Fails on the order before 2c5bc9e (observations handed over after the verdict): test_make selected too.
    executor = FakeExecutor(_passes, hold=True)
    finished = PushOnVerdict(repo, executor)
    verifier = make_verifier(store, repo, executor, tmp_path, finished)
    finished.verifier = verifier
    try:
        seed = verifier.on_push(repo.name, "main", repo.commit(GEN))
        assert seed is not None
        executor.wait_for(1)
        executor.release()  # the seed's job ends: both tests ran to their end, test_make through the exec site
        finished.wait_for(1)
        assert verifier.get(repo.name, seed.run_id).verdict is Verdict.PASSED
        assert finished.next is not None
        # The change reaches test_helper; test_make was observed to run only source that cannot reach it.
        second = executor.requests[1]
        assert second.tests is not None and second.tests.only == (HELPER,)
        executor.release()
        run = finished.wait_for(2)[-1]
        assert run.run_id == finished.next.run_id and run.verdict is Verdict.PASSED
        assert [t.test_id for t in run.jobs[0].tests] == [HELPER]
    finally:
        verifier.close()
