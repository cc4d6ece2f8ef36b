"""Recording a parsed trajectory as a Trellis session, through :class:`trellis.vcs.Store` (or the SDK's equivalent)."""

from __future__ import annotations

from dataclasses import dataclass

from trellis import vcs

from ..patches import patch_changes
from .model import Trajectory

__all__ = ["LandedTrajectory", "land_trajectory"]

_BATCH = 500


@dataclass(frozen=True, slots=True)
class LandedTrajectory:
    session: vcs.Session
    steps: tuple[vcs.Step, ...]
    commit: vcs.Commit | None


def land_trajectory(
    store: vcs.Store,
    repository: str,
    trajectory: Trajectory,
    actor: vcs.Identity,
    *,
    base_revision: str = "",
    branch: str = "",
    land_patch: bool = True,
    resume: vcs.Session | None = None,
) -> LandedTrajectory:
    """Record ``trajectory`` as a session of ``repository`` (owned by ``actor``), and end it.

    The session starts at ``base_revision`` (default: the default branch's
    head). Every step is recorded; with ``land_patch`` and a submitted patch,
    the patch is applied to the base revision and lands as the commit of the
    last step (a patch that does not apply raises
    :class:`~trellis.query.errors.PatchDoesNotApply` before anything is written).

    ``resume`` is an active session a previous landing of the same trajectory
    left behind (interrupted): its recorded steps are skipped and the rest
    recorded, so a second landing finishes the first instead of duplicating it.
    """
    session_facts = trajectory.session
    changes: list[vcs.Change] | None = None
    if resume is not None:
        base_revision = resume.base_commit_id
        land_patch = land_patch and resume.commit_count == 0
    if land_patch and trajectory.patch is not None:
        base = store.get_commit(repository, base_revision or "")
        base_revision = base.commit_id

        def read(path: str) -> vcs.FileContent | None:
            try:
                return store.read_file(repository, base.commit_id, path)
            except vcs.NotFound:
                return None

        changes = patch_changes(trajectory.patch, read)
    session = resume or store.create_session(
        repository,
        actor,
        model=session_facts.model,
        task=session_facts.task,
        base_revision=base_revision,
        branch=branch,
        metadata=dict(session_facts.metadata),
    )
    steps: list[vcs.Step] = []
    commit: vcs.Commit | None = None
    inputs = list(trajectory.steps)
    last = inputs.pop() if changes else None
    pending = inputs[session.step_count if resume else 0 :]
    for start in range(0, len(pending), _BATCH):  # several steps per write (one commit, one ref update)
        steps.extend(store.record_steps(repository, session.session_id, pending[start : start + _BATCH], actor))
    if changes:
        title = f"Apply the patch submitted by {session_facts.agent}"
        if session_facts.instance_id:
            title += f" for {session_facts.instance_id}"
        result = store.commit(
            repository,
            session.branch_id,
            changes,
            title,
            actor,
            session_id=session.session_id,
            step=last or vcs.StepInput(action="submit", metadata={"usage_scope": "none"}),
        )
        commit = result.commit
        if result.step is not None:
            steps.append(result.step)
    ended = store.end_session(
        repository, session.session_id, session_facts.status, actor, outcome=session_facts.exit_status
    )
    return LandedTrajectory(ended, tuple(steps), commit)
