"""AIP-style resource names: parsing at the edge, formatting for responses."""

from __future__ import annotations

import re

from vcs import InvalidArgument
from vcs.validation import check_branch_name, check_repository_name, check_session_id

__all__ = [
    "branch_name",
    "commit_name",
    "parse_branch",
    "parse_commit",
    "parse_repository",
    "parse_session",
    "parse_run",
    "repository_name",
    "run_name",
    "session_name",
    "step_name",
]

_PREFIX = "repositories/"


def repository_name(repository: str) -> str:
    return f"{_PREFIX}{repository}"


def branch_name(repository: str, branch: str) -> str:
    return f"{_PREFIX}{repository}/branches/{branch}"


def commit_name(repository: str, commit_id: str) -> str:
    return f"{_PREFIX}{repository}/commits/{commit_id}"


def session_name(repository: str, session_id: str) -> str:
    return f"{_PREFIX}{repository}/sessions/{session_id}"


def run_name(repository: str, run_id: str) -> str:
    return f"{_PREFIX}{repository}/runs/{run_id}"


def step_name(repository: str, session_id: str, index: int) -> str:
    return f"{session_name(repository, session_id)}/steps/{index}"


def _bad(field: str, value: str, pattern: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid {field} {value[:200]!r}: expected {pattern!r}", reason="INVALID_RESOURCE_NAME", field=field
    )


def parse_repository(name: str, field: str = "name") -> str:
    if not name.startswith(_PREFIX) or "/" in name[len(_PREFIX):]:
        raise _bad(field, name, "repositories/{repository}")
    return check_repository_name(name[len(_PREFIX):])


def _split(name: str, collection: str, field: str, pattern: str) -> tuple[str, str]:
    if not name.startswith(_PREFIX):
        raise _bad(field, name, pattern)
    repository, sep, rest = name[len(_PREFIX):].partition(f"/{collection}/")
    if not sep or not rest or "/" in repository:
        raise _bad(field, name, pattern)
    return check_repository_name(repository), rest


def parse_branch(name: str, field: str = "name") -> tuple[str, str]:
    repository, branch = _split(name, "branches", field, "repositories/{repository}/branches/{branch}")
    return repository, check_branch_name(branch)


def parse_commit(name: str, field: str = "name") -> tuple[str, str]:
    return _split(name, "commits", field, "repositories/{repository}/commits/{revision}")


def parse_session(name: str, field: str = "name") -> tuple[str, str]:
    repository, session_id = _split(name, "sessions", field, "repositories/{repository}/sessions/{session}")
    return repository, check_session_id(session_id)


_RUN_ID = re.compile(r"[0-9a-f]{20}")


def parse_run(name: str, field: str = "name") -> tuple[str, str]:
    repository, run_id = _split(name, "runs", field, "repositories/{repository}/runs/{run}")
    if not _RUN_ID.fullmatch(run_id):
        raise _bad(field, name, "repositories/{repository}/runs/{run}, run ids are 20 hex digits")
    return repository, run_id
