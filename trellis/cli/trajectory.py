"""``trellis import-trajectory``: agents' logs (files, directories, globs; six formats) as sessions."""

from __future__ import annotations

import argparse
import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import vcs

from .context import Output, connect

if TYPE_CHECKING:
    from ..client import Client

# What a directory walk picks up; named files are read whatever their name (the content decides the format).
SUFFIXES = (".traj", ".json", ".jsonl")
SOURCE_KEY = "source_sha256"
BRANCH_PREFIX = "imported/"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import-trajectory", parents=[common],
        help="import agents' logs (SWE-agent, mini-swe-agent, OpenHands, Claude Code, Codex, ATIF) as sessions",
        description="Record agent trajectories as sessions with their steps: thoughts, actions, observations, "
        "tokens and cost, credentials redacted. Takes files, directories (searched for *.traj, *.json, *.jsonl) "
        "and globs; the format is detected from each file's content. Content already imported (same SHA-256) is "
        "skipped, and an import that was interrupted is finished. With --base, a trajectory's submitted patch "
        "lands as the session's commit on top of that revision. See docs/trajectories.md.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="trajectory files, directories or glob patterns")
    p.add_argument("--repo", default="trajectories", help="repository to record them in (created if missing)")
    p.add_argument("--base", default=None, help="base revision; also lands each submitted patch")
    p.set_defaults(run=run)


def expand(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """(the files named, found in directories or matched by globs, each once, in order; the patterns matching none)."""
    found: dict[Path, None] = {}
    missing: list[str] = []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                             and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            matches = [path]
        else:
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True) if Path(m).is_file())
        if not matches:
            missing.append(pattern)
        for match in matches:
            found.setdefault(match.absolute(), None)
    return list(found), missing


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

    def record_steps(self, repository: str, session_id: str, steps: list[vcs.StepInput],
                     actor: vcs.Identity) -> list[vcs.Step]:
        return self.client.record_steps(repository, session_id, steps)

    def commit(self, repository: str, branch: str, changes: list[vcs.Change], message: str,
               actor: vcs.Identity, **options: Any) -> vcs.CommitResult:
        return self.client.commit(repository, branch, changes, message, session=options["session_id"],
                                  step=options["step"])

    def end_session(self, repository: str, session_id: str, status: vcs.SessionStatus, actor: vcs.Identity,
                    outcome: str = "") -> vcs.Session:
        return self.client.end_session(repository, session_id, status, outcome)


@dataclass(frozen=True, slots=True)
class Outcome:
    path: Path
    status: str  # imported | resumed | duplicate | failed
    format: str = ""
    session_id: str = ""
    steps: int = 0
    error: str = ""


class _Agents:
    """One SDK client per agent name on the same channel: a session belongs to the agent that wrote the log."""

    def __init__(self, client: Client, fixed: str | None) -> None:
        self.client, self.fixed = client, fixed
        self.clients: dict[str, Client] = {}

    def __call__(self, agent: str) -> Client:
        if self.fixed:
            return self.client
        if agent not in self.clients:
            self.clients[agent] = self.client.with_agent(agent)
        return self.clients[agent]


def import_files(client: Client, repository: str, paths: list[Path], *, agent: str | None = None,
                 base: str | None = None) -> Iterator[Outcome]:
    """Import each file as a session unless its content already is one (then finish it if it was interrupted)."""
    from query import TrajectoryFormatError, content_key, land_trajectory, parse_trajectory
    from query.trajectories import with_source

    try:
        client.get_repository(repository)
    except vcs.NotFound:
        client.create_repository(repository, description="imported agent trajectories")
    imported: dict[str, vcs.Session] = {}
    for session in client.list_sessions(repository):
        key = session.metadata.get(SOURCE_KEY)
        if key:
            imported.setdefault(key, session)
    agents = _Agents(client, agent)
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            yield Outcome(path, "failed", error=f"cannot read {path}: {exc.strerror}")
            continue
        key = content_key(data)
        previous = imported.get(key)
        if previous is not None and previous.status is not vcs.SessionStatus.ACTIVE:
            yield Outcome(path, "duplicate", previous.metadata.get("format", ""), previous.session_id,
                          previous.step_count)
            continue
        try:
            trajectory = with_source(parse_trajectory(data, name=path.name), path, key)
        except TrajectoryFormatError as exc:
            yield Outcome(path, "failed", error=exc.message)
            continue
        owner = agents(previous.agent if previous is not None else trajectory.session.agent)
        try:
            landed = land_trajectory(
                _ClientStore(owner), repository, trajectory, vcs.Identity(trajectory.session.agent),  # type: ignore[arg-type]
                base_revision=base or "", land_patch=base is not None, branch=BRANCH_PREFIX + key[:32],
                resume=previous,
            )
        except vcs.AlreadyExists:  # imported meanwhile by someone else (the branch is the content's)
            yield Outcome(path, "duplicate", trajectory.format)
            continue
        except vcs.VcsError as exc:
            yield Outcome(path, "failed", trajectory.format, error=f"{exc.message} [{exc.reason}]")
            continue
        imported[key] = landed.session
        yield Outcome(path, "resumed" if previous is not None else "imported", trajectory.format,
                      landed.session.session_id, landed.session.step_count)


def run(args: argparse.Namespace) -> int:
    out = Output(args)
    paths, missing = expand(args.paths)
    for pattern in missing:
        out.error(f"{pattern}: no such file, directory or match")
    outcomes: list[Outcome] = []
    with connect(args, creates=True) as client:
        for outcome in import_files(client, args.repo, paths, agent=getattr(args, "agent", None), base=args.base):
            outcomes.append(outcome)
            if out.json:
                continue
            if outcome.status == "failed":
                out.error(f"{outcome.path}: {outcome.error}")
            else:
                out.print(f"{outcome.status:<9} {outcome.path} ({outcome.format}): session {outcome.session_id}, "
                          f"{outcome.steps} steps", markup=False)
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("imported", "resumed", "duplicate", "failed")}
    if out.json:
        out.data({"repository": args.repo, **counts, "files": [
            {"path": str(o.path), "status": o.status, "format": o.format, "session": o.session_id or None,
             "steps": o.steps, **({"error": o.error} if o.error else {})} for o in outcomes]})
    else:
        out.print(f"{args.repo}: {counts['imported']} imported, {counts['resumed']} resumed, "
                  f"{counts['duplicate']} already there, {counts['failed']} failed", markup=False)
    return 1 if counts["failed"] or missing else 0
