"""``trellis import-trajectory``: agents' logs (files, directories, globs; six formats) as sessions."""

from __future__ import annotations

import argparse
import glob
import hashlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..datadir import running_server
from .context import Output, connect_bulk, data_dir, lazy

if TYPE_CHECKING:
    from trellis import vcs

    from ..client import Client
else:
    vcs = lazy("trellis.vcs")

# What a directory walk picks up; named files are read whatever their name (the content decides the format).
SUFFIXES = (".traj", ".json", ".jsonl")
SOURCE_KEY = "source_sha256"
BRANCH_PREFIX = "imported/"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import-trajectory",
        parents=[common],
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
            matches = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
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
        return self.client.create_session(
            repository,
            model=options["model"],
            task=options["task"],
            base_revision=options["base_revision"],
            branch=options["branch"],
            metadata=options["metadata"],
        )

    def record_steps(
        self, repository: str, session_id: str, steps: list[vcs.StepInput], actor: vcs.Identity
    ) -> list[vcs.Step]:
        return self.client.record_steps(repository, session_id, steps)

    def commit(
        self, repository: str, branch: str, changes: list[vcs.Change], message: str, actor: vcs.Identity, **options: Any
    ) -> vcs.CommitResult:
        return self.client.commit(
            repository, branch, changes, message, session=options["session_id"], step=options["step"]
        )

    def end_session(
        self, repository: str, session_id: str, status: vcs.SessionStatus, actor: vcs.Identity, outcome: str = ""
    ) -> vcs.Session:
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
        self.guard = threading.Lock()

    def __call__(self, agent: str) -> Client:
        if self.fixed:
            return self.client
        with self.guard:
            if agent not in self.clients:
                self.clients[agent] = self.client.with_agent(agent)
            return self.clients[agent]


def import_files(
    client: Client,
    repository: str,
    paths: list[Path],
    *,
    agent: str | None = None,
    base: str | None = None,
    workers: int = 4,
) -> Iterator[Outcome]:
    """Import each file as a session unless its content already is one (then finish it if it was interrupted).

    Files are parsed and landed by ``workers`` threads (each file is its own session and branch); outcomes come
    in the order of ``paths``. A content met twice is landed once, the second file reported as a duplicate.
    """
    from trellis.query import TrajectoryFormatError, content_key, land_trajectory, parse_trajectory
    from trellis.query.trajectories import with_source

    from ..errors import DOMAIN_ERRORS

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

    def land(path: Path, data: bytes, key: str, previous: vcs.Session | None) -> Outcome:
        try:
            trajectory = with_source(parse_trajectory(data, name=path.name), path, key)
        except TrajectoryFormatError as exc:
            return Outcome(path, "failed", error=exc.message)
        owner = agents(previous.agent if previous is not None else trajectory.session.agent)
        try:
            landed = land_trajectory(
                _ClientStore(owner),  # type: ignore[arg-type]
                repository,
                trajectory,
                vcs.Identity(trajectory.session.agent),
                base_revision=base or "",
                land_patch=base is not None,
                branch=BRANCH_PREFIX + key[:32],
                resume=previous,
            )
        except vcs.AlreadyExists:  # imported meanwhile by someone else (the branch is the content's)
            return Outcome(path, "duplicate", trajectory.format)
        except DOMAIN_ERRORS as exc:
            return Outcome(path, "failed", trajectory.format, error=f"{exc.message} [{exc.reason}]")
        return Outcome(
            path,
            "resumed" if previous is not None else "imported",
            trajectory.format,
            landed.session.session_id,
            landed.session.step_count,
        )

    pending: deque[tuple[Path, Future[Outcome] | Outcome, bool]] = deque()  # (path, result, a repeat?)
    first: dict[str, Future[Outcome] | Outcome] = {}

    def ready(item: tuple[Path, Future[Outcome] | Outcome, bool]) -> Outcome:
        path, result, repeat = item
        outcome = result.result() if isinstance(result, Future) else result
        if repeat and outcome.status != "failed":
            return Outcome(path, "duplicate", outcome.format, outcome.session_id, outcome.steps)
        return outcome if not repeat else Outcome(path, "failed", outcome.format, error=outcome.error)

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="import") as pool:
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError as exc:
                pending.append((path, Outcome(path, "failed", error=f"cannot read {path}: {exc.strerror}"), False))
                continue
            key = content_key(data)
            previous = imported.get(key)
            if key in first:
                pending.append((path, first[key], True))
            elif previous is not None and previous.status is not vcs.SessionStatus.ACTIVE:
                pending.append(
                    (
                        path,
                        Outcome(
                            path,
                            "duplicate",
                            previous.metadata.get("format", ""),
                            previous.session_id,
                            previous.step_count,
                        ),
                        False,
                    )
                )
            else:
                first[key] = pool.submit(land, path, data, key, previous)
                pending.append((path, first[key], False))
            while len(pending) > 4 * max(1, workers) or (pending and not isinstance(pending[0][1], Future)):
                yield ready(pending.popleft())
        while pending:
            yield ready(pending.popleft())


def _imported_locally(args: argparse.Namespace) -> dict[str, vcs.Session] | None:
    """With no server to ask (none given, none owning the data directory): the sessions already imported, by key,
    read straight from git, so that a re-import of known files starts no server. None: ask the server."""
    from .. import config as cfg

    if getattr(args, "server", None) or cfg.env_server():
        return None
    root = data_dir(args)
    if not (root / "repos").is_dir():
        return {}
    if running_server(root):
        return None
    store = vcs.Store(root)
    imported: dict[str, vcs.Session] = {}
    token = ""
    while True:
        try:
            page = store.list_sessions(args.repo, page_size=store.limits.max_page_size, page_token=token)
        except vcs.NotFound:
            return {}
        for session in page.items:
            if session.metadata.get(SOURCE_KEY):
                imported.setdefault(session.metadata[SOURCE_KEY], session)
        token = page.next_page_token
        if not token:
            return imported


def _already_there(paths: list[Path], imported: dict[str, vcs.Session]) -> tuple[list[Outcome], list[Path]]:
    """(the files whose content is an ended session already, the others)."""
    known: list[Outcome] = []
    rest: list[Path] = []
    for path in paths:
        try:
            # query.content_key, without importing the query package (DuckDB...) for a re-import of known files
            previous = imported.get(hashlib.sha256(path.read_bytes()).hexdigest())
        except OSError:
            previous = None  # reported by the import
        if previous is not None and previous.status is not vcs.SessionStatus.ACTIVE:
            known.append(
                Outcome(
                    path, "duplicate", previous.metadata.get("format", ""), previous.session_id, previous.step_count
                )
            )
        else:
            rest.append(path)
    return known, rest


# How often a bulk import makes what it wrote durable, and tells the user which files are in.
SYNC_EVERY_S = 1.0


def run(args: argparse.Namespace) -> int:
    out = Output(args)
    paths, missing = expand(args.paths)
    for pattern in missing:
        out.error(f"{pattern}: no such file, directory or match")
    outcomes: list[Outcome] = []

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        announce(outcome)

    def announce(outcome: Outcome) -> None:
        if out.json:
            return
        if outcome.status == "failed":
            out.error(f"{outcome.path}: {outcome.error}")
        else:
            out.print(
                f"{outcome.status:<9} {outcome.path} ({outcome.format}): session {outcome.session_id}, "
                f"{outcome.steps} steps",
                markup=False,
            )

    imported = _imported_locally(args)
    if imported is not None:
        known, paths = _already_there(paths, imported)
        for outcome in known:
            report(outcome)
    unsynced: list[Outcome] = []  # written, not yet durable: told only after a sync
    if paths:
        with connect_bulk(args, creates=True) as (client, sync):
            synced_at = time.monotonic()
            for outcome in import_files(client, args.repo, paths, agent=getattr(args, "agent", None), base=args.base):
                outcomes.append(outcome)
                if outcome.status in ("imported", "resumed"):
                    unsynced.append(outcome)
                else:
                    announce(outcome)  # nothing was written for it
                if unsynced and time.monotonic() - synced_at >= SYNC_EVERY_S:
                    sync()
                    synced_at = time.monotonic()
                    for done in unsynced:
                        announce(done)
                    unsynced.clear()
    for done in unsynced:  # synced when the connection closed
        announce(done)
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("imported", "resumed", "duplicate", "failed")}
    if out.json:
        out.data(
            {
                "repository": args.repo,
                **counts,
                "files": [
                    {
                        "path": str(o.path),
                        "status": o.status,
                        "format": o.format,
                        "session": o.session_id or None,
                        "steps": o.steps,
                        **({"error": o.error} if o.error else {}),
                    }
                    for o in outcomes
                ],
            }
        )
    else:
        out.print(
            f"{args.repo}: {counts['imported']} imported, {counts['resumed']} resumed, "
            f"{counts['duplicate']} already there, {counts['failed']} failed",
            markup=False,
        )
    return 1 if counts["failed"] or missing else 0
