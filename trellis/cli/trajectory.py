"""``trellis import-trajectory``: an agent trajectory (SWE-agent ``.traj``) as a session."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vcs

from .context import Output, connect

if TYPE_CHECKING:
    from ..client import Client


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import-trajectory", parents=[common], help="import a SWE-agent .traj file as a session",
        description="Record an agent trajectory (SWE-agent .traj) as a session with its steps: thoughts, "
        "actions, observations, tokens and cost. With --base, the trajectory's submitted patch lands as the "
        "session's commit on top of that revision.",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--repo", default="trajectories", help="repository to record it in (created if missing)")
    p.add_argument("--base", default=None, help="base revision; also lands the submitted patch")
    p.set_defaults(run=run)


class _ClientStore:
    """The slice of ``vcs.Store`` that ``query.land_trajectory`` uses, over the SDK."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get_commit(self, repository: str, revision: str) -> vcs.Commit:
        return self.client.get_commit(repository, revision or self.client.get_repository(repository).default_branch)

    def read_file(self, repository: str, revision: str, path: str) -> vcs.FileContent:
        return self.client.read_file(repository, path, revision)

    def create_session(self, repository: str, actor: vcs.Identity, **options: Any) -> vcs.Session:
        return self.client.create_session(repository, model=options["model"], task=options["task"],
                                          base_revision=options["base_revision"], branch=options["branch"],
                                          metadata=options["metadata"])

    def record_step(self, repository: str, session_id: str, step: vcs.StepInput, actor: vcs.Identity) -> vcs.Step:
        return self.client.record_step(repository, session_id, step)

    def commit(self, repository: str, branch: str, changes: list[vcs.Change], message: str,
               actor: vcs.Identity, **options: Any) -> vcs.CommitResult:
        return self.client.commit(repository, branch, changes, message, session=options["session_id"],
                                  step=options["step"])

    def end_session(self, repository: str, session_id: str, status: vcs.SessionStatus, actor: vcs.Identity,
                    outcome: str = "") -> vcs.Session:
        return self.client.end_session(repository, session_id, status, outcome)


def run(args: argparse.Namespace) -> int:
    from query import land_trajectory, load_trajectory

    out = Output(args)
    trajectory = load_trajectory(args.file)
    if not getattr(args, "agent", None):
        args.agent = trajectory.session.agent  # on a local-mode server the session is the trajectory's agent's
    with connect(args, creates=True) as client:  # creates the repository (and the data directory) if need be
        try:
            client.get_repository(args.repo)
        except vcs.NotFound:
            client.create_repository(args.repo, description="imported agent trajectories")
        landed = land_trajectory(
            _ClientStore(client), args.repo, trajectory, vcs.Identity(args.agent),  # type: ignore[arg-type]
            base_revision=args.base or "", land_patch=args.base is not None,
        )
    s = landed.session
    if out.json:
        out.data({"repository": args.repo, "session": s, "steps": len(landed.steps),
                  "commit": landed.commit.commit_id if landed.commit else None})
    else:
        commit = f", commit {landed.commit.commit_id[:12]}" if landed.commit else ""
        out.print(f"session {s.session_id} in {args.repo}: {len(landed.steps)} steps, "
                  f"{s.input_tokens}+{s.output_tokens} tokens, ${s.cost_usd:.4f}, {s.status.value}{commit}")
    return 0
