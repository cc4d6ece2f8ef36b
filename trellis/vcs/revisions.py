"""Resolving a caller's revision string to a commit."""

from __future__ import annotations

import re

import pygit2

from .errors import InvalidArgument, NotFound
from .refs import git_name
from .validation import check_revision

__all__ = ["default_branch", "full_commit_id", "resolve_commit"]

_COMMIT_ID = re.compile(r"[0-9a-f]{4,40}")


def default_branch(repo: pygit2.Repository) -> str:
    head = repo.references.get("HEAD")
    target = head.target if head is not None else "refs/heads/main"
    return str(target).removeprefix("refs/heads/")


def resolve_commit(repo: pygit2.Repository, revision: str) -> pygit2.Commit:
    """``""`` is the default branch; otherwise a branch name or commit id, with ``~N`` / ``^N``."""
    if not revision:
        revision = default_branch(repo)
    check_revision(revision)
    branch = repo.references.get(git_name(f"refs/heads/{revision}"))
    if branch is not None:
        obj = repo[branch.target]
    else:
        try:
            obj = repo.revparse_single(revision)
        except KeyError:
            raise NotFound(
                f"revision {revision!r} not found: name a branch or a commit id of this repository",
                reason="REVISION_NOT_FOUND",
                revision=revision,
            ) from None
        except (ValueError, pygit2.GitError) as exc:
            raise InvalidArgument(
                f"revision {revision!r} is ambiguous or malformed: {exc}", reason="INVALID_REVISION"
            ) from None
    try:
        commit = obj.peel(pygit2.Commit)
    except (pygit2.GitError, ValueError, TypeError):
        raise InvalidArgument(
            f"revision {revision!r} names a {obj.type_str}, not a commit", reason="NOT_A_COMMIT"
        ) from None
    assert isinstance(commit, pygit2.Commit)
    return commit


def full_commit_id(repo: pygit2.Repository, commit_id: str, what: str = "commit id") -> str:
    """The full id of a commit given by its id or an unambiguous prefix of it (4 hex digits at least, as git).

    For values that must name a commit, not a branch (``expected_head``). A
    full id is returned as given, whether or not it exists: a compare-and-swap
    on it then fails as stale.
    """
    if not _COMMIT_ID.fullmatch(commit_id):
        raise InvalidArgument(
            f"invalid {what} {commit_id!r}: expected a commit id, 40 lowercase hex digits or at least their first 4",
            reason="INVALID_COMMIT_ID",
        )
    if len(commit_id) == 40:
        return commit_id
    try:
        obj = repo.get(commit_id)
    except (ValueError, pygit2.GitError):
        raise InvalidArgument(
            f"{what} {commit_id!r} is ambiguous: give more of its hex digits", reason="INVALID_COMMIT_ID"
        ) from None
    if obj is None:
        raise NotFound(
            f"{what} {commit_id!r}: no commit of this repository starts with it",
            reason="REVISION_NOT_FOUND",
            revision=commit_id,
        )
    if not isinstance(obj, pygit2.Commit):
        raise InvalidArgument(f"{what} {commit_id!r} names a {obj.type_str}, not a commit", reason="INVALID_COMMIT_ID")
    return str(obj.id)
