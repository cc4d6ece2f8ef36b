"""Reading what the index derives from a bare repository: refs, repository facts, sessions.

Verification runs are read by :mod:`trellis.query.runs`; their refs are listed here,
in the same pass over the references as the branches, tags and sessions.

Read-only: nothing here writes to git or takes the version-control core's
locks, so indexing never blocks a push.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pygit2

from trellis.vcs.records import RECORD_REF_PREFIX
from trellis.vcs.sessions import SESSION_REF_PREFIX, step_blobs

__all__ = [
    "RUN_REF_PREFIX",
    "RefListing",
    "RefTip",
    "SessionSnapshot",
    "list_tips",
    "read_session",
    "repository_row",
    "session_chain",
    "to_micros",
]

_BRANCH_PREFIX = "refs/heads/"
_TAG_PREFIX = "refs/tags/"
# The verification engine keeps each run as the record ``runs/<run_id>`` (the
# namespace is the engine's; the query layer does not import it).
RUN_REF_PREFIX = f"{RECORD_REF_PREFIX}runs/"


@dataclass(frozen=True, slots=True)
class RefTip:
    ref_name: str
    kind: str  # "branch" | "tag" | "session"
    name: str
    commit_id: str


@dataclass(frozen=True, slots=True)
class RefListing:
    """What a sync follows, from one pass over the references.

    ``refs``: branches, tags and sessions, sorted by name. ``runs``: run id →
    the record commit ``refs/trellis/runs/<run_id>`` points at (not peeled or
    read: a sync reads only the runs whose target moved).
    """

    refs: list[RefTip]
    runs: dict[str, str]


def list_tips(repo: pygit2.Repository) -> RefListing:
    """Branches, tags (peeled to their commit), session refs and run refs, in one pass."""
    tips: list[RefTip] = []
    runs: dict[str, str] = {}
    for ref in repo.references.iterator():
        ref_name = ref.name
        if ref_name.startswith(RUN_REF_PREFIX):
            target = ref.target
            if not isinstance(target, pygit2.Oid):  # a symbolic ref, not written by Trellis
                try:
                    target = ref.resolve().target
                except (pygit2.GitError, KeyError, ValueError):
                    continue
            runs[ref_name.removeprefix(RUN_REF_PREFIX)] = str(target)
            continue
        if ref_name.startswith(_BRANCH_PREFIX):
            kind, name = "branch", ref_name.removeprefix(_BRANCH_PREFIX)
        elif ref_name.startswith(_TAG_PREFIX):
            kind, name = "tag", ref_name.removeprefix(_TAG_PREFIX)
        elif ref_name.startswith(SESSION_REF_PREFIX):
            kind, name = "session", ref_name.removeprefix(SESSION_REF_PREFIX)
        else:
            continue
        try:
            commit = ref.peel(pygit2.Commit)
        except (pygit2.GitError, KeyError, ValueError, pygit2.InvalidSpecError):
            continue  # a tag of a tree or blob, or a dangling ref: nothing to index
        tips.append(RefTip(ref_name, kind, name, str(commit.id)))
    tips.sort(key=lambda t: t.ref_name)
    return RefListing(tips, runs)


def to_micros(seconds: float | None) -> int | None:
    """Seconds since the epoch as integer microseconds (deterministic rounding)."""
    if seconds is None:
        return None
    return round(seconds * 1_000_000)


def repository_row(repo: pygit2.Repository, name: str) -> tuple[Any, ...]:
    """A ``repositories`` row."""
    default_branch = ""
    head_commit_id: str | None = None
    head = repo.references.get("HEAD")
    if head is not None:
        target = head.target
        if isinstance(target, str):
            default_branch = target.removeprefix(_BRANCH_PREFIX)
            ref = repo.references.get(target)
            if ref is not None:
                try:
                    head_commit_id = str(ref.peel(pygit2.Commit).id)
                except (pygit2.GitError, ValueError):
                    head_commit_id = None
        else:
            head_commit_id = str(target)
    config = repo.config
    description = str(config["trellis.description"]) if "trellis.description" in config else ""
    create_time: int | None = None
    if "trellis.createTime" in config:
        try:
            create_time = int(str(config["trellis.createTime"])) * 1_000_000
        except ValueError:
            create_time = None
    return (name, default_branch, description, create_time, head_commit_id)


def session_chain(repo: pygit2.Repository, tip: str, stop: str | None) -> list[str]:
    """Session event commits from ``tip`` back along first parents, up to (not including) ``stop``."""
    chain: list[str] = []
    current: pygit2.Commit | None = _commit(repo, tip)
    while current is not None:
        commit_id = str(current.id)
        if commit_id == stop:
            break
        chain.append(commit_id)
        parents = current.parent_ids
        current = _commit(repo, str(parents[0])) if parents else None
    return chain


def _commit(repo: pygit2.Repository, commit_id: str) -> pygit2.Commit | None:
    try:
        obj = repo[commit_id]
    except (KeyError, ValueError):
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session as its ref's tip says: the ``sessions`` row and a reader for its steps."""

    row: tuple[Any, ...]
    _steps_tree: pygit2.Tree | None

    def step_count(self, repo: pygit2.Repository) -> int:
        """How many step files the session's tree holds."""
        return len(step_blobs(repo, self._steps_tree)) if self._steps_tree is not None else 0

    def step_rows(self, repo: pygit2.Repository, repository: str, after: int) -> Iterator[tuple[Any, ...]]:
        """``steps`` rows with index greater than ``after``, in order."""
        if self._steps_tree is None:
            return
        session_id = self.row[1]
        for _, blob_id in step_blobs(repo, self._steps_tree, after):
            blob = repo[blob_id]
            if not isinstance(blob, pygit2.Blob):
                continue
            yield _step_row(repository, session_id, json.loads(blob.data))


def read_session(repo: pygit2.Repository, repository: str, tip: str) -> SessionSnapshot | None:
    """The session stored at commit ``tip`` (``None`` if the tree holds no ``session.json``)."""
    commit = _commit(repo, tip)
    if commit is None:
        return None
    try:
        blob = commit.tree["session.json"]
    except KeyError:
        return None
    if not isinstance(blob, pygit2.Blob):
        return None
    record = json.loads(blob.data)
    row = (
        repository,
        str(record.get("session_id", "")),
        str(record.get("agent", "")),
        str(record.get("model", "")),
        str(record.get("task", "")),
        record.get("base_commit_id") or None,
        record.get("branch_id") or None,
        str(record.get("status", "")),
        str(record.get("outcome", "")),
        to_micros(record.get("create_time")),
        to_micros(record.get("end_time")),
        int(record.get("step_count", 0)),
        int(record.get("commit_count", 0)),
        int(record.get("input_tokens", 0)),
        int(record.get("output_tokens", 0)),
        float(record.get("cost_usd", 0.0)),
        _map(record.get("metadata")),
        tip,
    )
    try:
        steps = commit.tree["steps"]
    except KeyError:
        return SessionSnapshot(row, None)
    return SessionSnapshot(row, steps if isinstance(steps, pygit2.Tree) else None)


def _map(value: object) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return []
    return sorted((str(k), str(v)) for k, v in value.items())


def _step_row(repository: str, session_id: str, record: dict[str, Any]) -> tuple[Any, ...]:
    step_input = record.get("input") or {}
    arguments = step_input.get("arguments_json") or None
    if arguments is not None:
        try:
            json.loads(arguments)
        except ValueError:
            arguments = json.dumps(arguments)  # keep the column valid JSON
    return (
        repository,
        str(record.get("session_id") or session_id),
        int(record.get("index", 0)),
        record.get("commit_id") or None,
        str(step_input.get("thought", "")),
        str(step_input.get("action", "")),
        arguments,
        str(step_input.get("observation", "")),
        int(step_input.get("input_tokens", 0)),
        int(step_input.get("output_tokens", 0)),
        float(step_input.get("cost_usd", 0.0)),
        int(step_input.get("latency_ms", 0)),
        to_micros(record.get("create_time")),
        _map(step_input.get("metadata")),
    )
