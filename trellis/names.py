"""AIP-style resource names: parsing at the edge, formatting for responses.

Every servicer reads names through this module, so one field form means one thing everywhere:

- ``name`` is the resource a method acts on, ``parent`` the collection (or repository) it acts in:
  full resource names such as ``repositories/{repo}/branches/{branch}``.
- A revision field (``revision``, ``base_revision``, ``source_revision``, ``old_revision``,
  ``new_revision``) takes a full resource name of a branch or a commit of the request's repository, or
  a bare revision: a branch id, a commit id or an unambiguous prefix of at least 4 hex digits,
  ``HEAD`` (the default branch), any of them followed by ``~N`` / ``^N``. :func:`parse_revision`.
- A field that refers to a branch (``pipeline_branch``, the ``branch`` filter of ListRuns) takes its
  full resource name or its bare id. :func:`parse_branch_ref`.

A value that starts with ``repositories/`` is always read as a resource name.
"""

from __future__ import annotations

import re

from trellis.vcs import InvalidArgument
from trellis.vcs.validation import check_branch_name, check_repository_name, check_session_id

__all__ = [
    "branch_name",
    "commit_name",
    "parse_branch",
    "parse_commit",
    "parse_repository",
    "parse_session",
    "parse_session_ref",
    "parse_branch_ref",
    "parse_revision",
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
    if not name.startswith(_PREFIX) or "/" in name[len(_PREFIX) :]:
        raise _bad(field, name, "repositories/{repository}")
    return check_repository_name(name[len(_PREFIX) :])


def _split(name: str, collection: str, field: str, pattern: str) -> tuple[str, str]:
    if not name.startswith(_PREFIX):
        raise _bad(field, name, pattern)
    repository, sep, rest = name[len(_PREFIX) :].partition(f"/{collection}/")
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


def _same_repository(repository: str, named: str, field: str, value: str) -> None:
    if named != repository:
        raise InvalidArgument(
            f"{field} {value[:200]!r} names repository {named!r}, but the request is about {repository!r}",
            reason="REPOSITORY_MISMATCH",
            field=field,
            repository=repository,
        )


def parse_revision(repository: str, value: str, field: str = "revision") -> str:
    """The bare revision a revision field names, in ``repository`` (empty stays empty: the default).

    ``repositories/{repo}/branches/{branch}`` gives the branch id, ``repositories/{repo}/commits/{revision}``
    the bare revision after ``/commits/``; anything else is already bare and is checked by the store.
    """
    if not value.startswith(_PREFIX):
        return value
    collection = value[len(_PREFIX) :].partition("/")[2].partition("/")[0]
    if collection == "branches":
        named, branch = parse_branch(value, field)
        _same_repository(repository, named, field, value)
        return branch
    if collection == "commits":
        named, revision = parse_commit(value, field)
        _same_repository(repository, named, field, value)
        return revision
    raise _bad(
        field,
        value,
        "a bare revision, repositories/{repository}/branches/{branch} or repositories/{repository}/commits/{revision}",
    )


def parse_branch_ref(repository: str, value: str, field: str) -> str:
    """The branch id a branch field names in ``repository``: its full resource name or its bare id."""
    if not value.startswith(_PREFIX):
        return value
    named, branch = parse_branch(value, field)
    _same_repository(repository, named, field, value)
    return branch


def parse_session_ref(repository: str, value: str, field: str) -> str:
    """The session id a field referring to a session of ``repository`` names (its full resource name)."""
    named, session_id = parse_session(value, field)
    _same_repository(repository, named, field, value)
    return session_id
