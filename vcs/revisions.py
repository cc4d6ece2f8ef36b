"""Resolving a caller's revision string to a commit."""

from __future__ import annotations

import pygit2

from .errors import InvalidArgument, NotFound
from .refs import git_name
from .validation import check_revision

__all__ = ["default_branch", "resolve_commit"]


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
