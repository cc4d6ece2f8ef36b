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

from trellis.vcs import RepositoryReader, VcsError
from trellis.vcs.records import RECORD_REF_PREFIX
from trellis.vcs.sessions import SESSION_REF_PREFIX

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
_PEELED = (_BRANCH_PREFIX, _TAG_PREFIX, SESSION_REF_PREFIX)
_FOLLOWED = (*_PEELED, RUN_REF_PREFIX)


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


def list_tips(repo: RepositoryReader) -> RefListing:
    """Branches, tags (peeled to their commit), session refs and run refs, in one pass."""
    tips: list[RefTip] = []
    runs: dict[str, str] = {}
    for ref in repo.list_refs(_FOLLOWED, peel=_PEELED):
        ref_name = ref.name
        if ref_name.startswith(RUN_REF_PREFIX):
            runs[ref_name.removeprefix(RUN_REF_PREFIX)] = ref.target_id
            continue
        if ref_name.startswith(_BRANCH_PREFIX):
            kind, name = "branch", ref_name.removeprefix(_BRANCH_PREFIX)
        elif ref_name.startswith(_TAG_PREFIX):
            kind, name = "tag", ref_name.removeprefix(_TAG_PREFIX)
        else:
            kind, name = "session", ref_name.removeprefix(SESSION_REF_PREFIX)
        tips.append(RefTip(ref_name, kind, name, ref.target_id))
    tips.sort(key=lambda t: t.ref_name)
    return RefListing(tips, runs)


def to_micros(seconds: float | None) -> int | None:
    """Seconds since the epoch as integer microseconds (deterministic rounding)."""
    if seconds is None:
        return None
    return round(seconds * 1_000_000)


def repository_row(repo: RepositoryReader, name: str) -> tuple[Any, ...]:
    """A ``repositories`` row."""
    head = repo.head()
    description = repo.config_value("trellis.description") or ""
    create_time: int | None = None
    created = repo.config_value("trellis.createTime")
    if created is not None:
        try:
            create_time = int(created) * 1_000_000
        except ValueError:
            create_time = None
    return (name, head.ref_name.removeprefix(_BRANCH_PREFIX), description, create_time, head.commit_id)


def session_chain(repo: RepositoryReader, tip: str, stop: str | None) -> list[str]:
    """Session event commits from ``tip`` back along first parents, up to (not including) ``stop``."""
    return repo.first_parents(tip, stop)


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session as its ref's tip says: the ``sessions`` row (its last column is the tip) and its steps."""

    row: tuple[Any, ...]

    @property
    def tip(self) -> str:
        return str(self.row[-1])

    def step_count(self, repo: RepositoryReader) -> int:
        """How many step files the session's tree holds."""
        return len(repo.session_steps(self.tip))

    def step_rows(self, repo: RepositoryReader, repository: str, after: int) -> Iterator[tuple[Any, ...]]:
        """``steps`` rows with index greater than ``after``, in order."""
        session_id = self.row[1]
        steps = repo.session_steps(self.tip, after)
        contents = repo.read_blobs(blob_id for _, blob_id in steps)
        for _, blob_id in steps:
            data = contents.get(blob_id)
            if data is not None:
                yield _step_row(repository, session_id, json.loads(data))


def read_session(repo: RepositoryReader, repository: str, tip: str) -> SessionSnapshot | None:
    """The session stored at commit ``tip`` (``None`` if the tree holds no ``session.json``)."""
    try:
        data = repo.read_file(tip, "session.json")
    except VcsError:  # no such commit, no such file
        return None
    record = json.loads(data)
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
    return SessionSnapshot(row)


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
