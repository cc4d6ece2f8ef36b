"""Gating: when a protected branch may move, decided from its required stages and a gate run.

Pure decisions over values; the engine finds the pipeline (at the protected
branch's own head) and the latest gate run of the source, and starts one when
there is none.
"""

from __future__ import annotations

from collections.abc import Sequence

from vcs import FailedPrecondition

from .runs import PIPELINE_STAGE, Run

__all__ = ["check_gate_run", "gate_started", "refuse_direct_write"]


def refuse_direct_write(branch: str, required: Sequence[str]) -> None:
    """A protected branch (one with required stages) moves only through Merge."""
    if required:
        raise FailedPrecondition(
            f"branch {branch!r} is protected (required: {', '.join(required)}): commit to your own branch "
            "and Merge it, which checks the required stages", reason="PROTECTED_BRANCH")


def check_gate_run(branch: str, source: str, required: Sequence[str], run: Run, *, repository: str = "") -> None:
    """Raise unless ``run`` (the gate run of ``source`` for ``branch``) finished with every required stage good.

    Good is what lets a dependent run: passed, or skipped because the stage
    does not apply to the chunk; a required job skipped because a job it
    needs failed is not. A source whose own pipeline is invalid never passes:
    merged, it would leave the branch without a pipeline that protects it.
    """
    if not run.final:
        raise FailedPrecondition(
            f"branch {branch!r} is protected: gate run {run.run_id} is still verifying {source[:12]} "
            f"({_watch(repository, run.run_id)}); merge again when it passes", reason="GATE_PENDING",
            run_id=run.run_id)
    bad = [f"{j.stage} {j.chunk}".strip() + f" ({j.verdict.value})"
           for j in run.jobs if j.stage in required and not j.lets_dependents_run]
    bad += [f"its pipeline is invalid: {j.summary}" for j in run.jobs if j.stage == PIPELINE_STAGE]
    if bad:
        raise FailedPrecondition(
            f"branch {branch!r} is protected and {source[:12]} did not pass: {'; '.join(bad)} "
            f"(gate run {run.run_id}); fix it and merge a new commit", reason="GATE_FAILED", run_id=run.run_id)


def gate_started(branch: str, source: str, required: Sequence[str], run_id: str, *,
                 repository: str = "") -> FailedPrecondition:
    """The refusal of a merge whose gate run was just started."""
    return FailedPrecondition(
        f"branch {branch!r} is protected: {', '.join(required)} must pass on {source[:12]} first; "
        f"started gate run {run_id} ({_watch(repository, run_id)}), merge again when it passes",
        reason="GATE_PENDING", run_id=run_id)


def _watch(repository: str, run_id: str) -> str:
    """The command that follows a run, runnable as printed (``trellis watch`` takes the repository first)."""
    return f"trellis watch {repository} {run_id}" if repository else f"trellis watch REPOSITORY {run_id}"
