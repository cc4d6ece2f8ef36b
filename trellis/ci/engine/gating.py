"""Gating: when a protected branch may move, decided from its required stages and a gate run.

:class:`Gate` finds the pipeline (at the protected branch's own head, never
the change's) and the latest gate run of the source, and starts one when
there is none; the decisions themselves are pure functions over values
(:func:`check_gate_run`, :func:`gate_started`, :func:`refuse_direct_write`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from trellis import vcs
from trellis.vcs import NotFound

from ..errors import GateClosed
from ..pipeline.model import PipelineError
from ..runs import PIPELINE_STAGE, Run
from .source import PipelineSource
from .store import RunStore

__all__ = ["Gate", "check_gate_run", "gate_started", "refuse_direct_write"]

GATE_RUNS_SEARCHED = 200


class Gate:
    """The gate of protected branches: which stages a branch requires, and whether a source passed them.

    ``start(repository, revision, stages, pipeline_branch, base_revision)`` starts a gate run;
    ``invalid_run(repository, commit, error, branch)`` records the finished, failed run of a commit
    whose pipeline is invalid.
    """

    def __init__(
        self,
        store: vcs.Store,
        source: PipelineSource,
        runs: RunStore,
        *,
        get: Callable[[str, str], Run],
        start: Callable[[str, str, Sequence[str], str, str], Run],
        invalid_run: Callable[[str, vcs.Commit, PipelineError, str], Run],
    ) -> None:
        self.store = store
        self.source = source
        self.runs = runs
        self._get = get
        self._start = start
        self._invalid_run = invalid_run

    def required_stages(self, repository: str, branch: str) -> tuple[str, ...]:
        """The stages the pipeline of ``branch``'s own head requires before it may move."""
        try:
            head = self.store.get_commit(repository, branch)
            pipeline = self.source.at(repository, head)
        except (NotFound, PipelineError):
            return ()
        return pipeline.required_for(branch) if pipeline is not None else ()

    def check(self, repository: str, branch: str, source_revision: str) -> None:
        """Refuse (:class:`~trellis.ci.errors.GateClosed`) to move protected ``branch`` to ``source_revision`` until it passed.

        The required stages and their definitions come from the protected
        branch's head, never from the change: a gate run verifies the source
        with that pipeline (started here when none exists).
        """
        required = self.required_stages(repository, branch)
        if not required:
            return
        source = self.store.get_commit(repository, source_revision).commit_id
        latest: Run | None = None
        for run_id in self.runs.ids(repository)[:GATE_RUNS_SEARCHED]:
            run = self._get(repository, run_id)
            if run.commit_id == source and run.trigger == "gate" and run.branch == branch:
                latest = run
                break
        if latest is None:
            commit = self.store.get_commit(repository, source)
            try:
                self.source.at(repository, commit)
            except PipelineError as exc:  # merged, it would unprotect the branch: the gate fails at once
                run = self._invalid_run(repository, commit, exc, branch)
                check_gate_run(branch, source, required, run)
            base = self.store.merge_base(repository, self.store.get_commit(repository, branch).commit_id, source)
            run = self._start(repository, source, required, branch, base or "")
            raise gate_started(branch, source, required, run.run_id, repository=repository)
        check_gate_run(branch, source, required, latest, repository=repository)

    def check_direct_write(self, repository: str, branch: str) -> None:
        """A protected branch moves only through Merge."""
        refuse_direct_write(branch, self.required_stages(repository, branch))


def refuse_direct_write(branch: str, required: Sequence[str]) -> None:
    """A protected branch (one with required stages) moves only through Merge."""
    if required:
        raise GateClosed(
            f"branch {branch!r} is protected (required: {', '.join(required)}): commit to your own branch "
            "and Merge it, which checks the required stages",
            reason="PROTECTED_BRANCH",
        )


def check_gate_run(branch: str, source: str, required: Sequence[str], run: Run, *, repository: str = "") -> None:
    """Raise unless ``run`` (the gate run of ``source`` for ``branch``) finished with every required stage good.

    Good is what lets a dependent run: passed, or skipped because the stage
    does not apply to the chunk; a required job skipped because a job it
    needs failed is not. A source whose own pipeline is invalid never passes:
    merged, it would leave the branch without a pipeline that protects it.
    """
    if not run.final:
        raise GateClosed(
            f"branch {branch!r} is protected: gate run {run.run_id} is still verifying {source[:12]} "
            f"({_watch(repository, run.run_id)}); merge again when it passes",
            reason="GATE_PENDING",
            run_id=run.run_id,
        )
    bad = [
        f"{j.stage} {j.chunk}".strip() + f" ({j.verdict.value})"
        for j in run.jobs
        if j.stage in required and not j.lets_dependents_run
    ]
    bad += [f"its pipeline is invalid: {j.summary}" for j in run.jobs if j.stage == PIPELINE_STAGE]
    if bad:
        raise GateClosed(
            f"branch {branch!r} is protected and {source[:12]} did not pass: {'; '.join(bad)} "
            f"(gate run {run.run_id}); fix it and merge a new commit",
            reason="GATE_FAILED",
            run_id=run.run_id,
        )


def gate_started(branch: str, source: str, required: Sequence[str], run_id: str, *, repository: str = "") -> GateClosed:
    """The refusal of a merge whose gate run was just started."""
    return GateClosed(
        f"branch {branch!r} is protected: {', '.join(required)} must pass on {source[:12]} first; "
        f"started gate run {run_id} ({_watch(repository, run_id)}), merge again when it passes",
        reason="GATE_PENDING",
        run_id=run_id,
    )


def _watch(repository: str, run_id: str) -> str:
    """The command that follows a run, runnable as printed (``trellis watch`` takes the repository first)."""
    return f"trellis watch {repository} {run_id}" if repository else f"trellis watch REPOSITORY {run_id}"
