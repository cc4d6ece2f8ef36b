"""pygit2 objects to the core's plain values, and how libgit2 checks the objects the core writes."""

from __future__ import annotations

import pygit2

from .model import Commit, Signature

__all__ = [
    "commit_value",
    "forget_kept_commits",
    "keep_commit",
    "parse_trailers",
    "signature_value",
    "trust_object_links",
]

MAX_KEPT_COMMITS = 2048
MAX_KEPT_MESSAGE = 4096  # bytes of message: a longer one is made again when asked for
_kept: dict[str, Commit] = {}
"""Commit values made lately in this process, by id. A commit never changes (its id is its content's hash), so a
value made once answers every later read of that id, in any repository: the branch's head that the next commit's
checks read, the commit the indexer reads after the commit path wrote it. Bounded: forgotten all at once when full."""


def signature_value(sig: pygit2.Signature) -> Signature:
    return Signature(name=sig.name, email=sig.email, time=sig.time, offset_minutes=sig.offset)


def parse_trailers(message: str) -> dict[str, str]:
    """Trailers of the message's last paragraph (``Key: value`` lines), as git reads them."""
    paragraphs = message.strip().split("\n\n")
    if len(paragraphs) < 2:
        return {}
    trailers: dict[str, str] = {}
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if not sep or not key or " " in key:
            return {}
        trailers[key] = value.strip()
    return trailers


def keep_commit(value: Commit) -> Commit:
    """Keep ``value`` for the next :func:`commit_value` of its commit (one just written, say); returns it."""
    if len(value.message) <= MAX_KEPT_MESSAGE:
        if len(_kept) >= MAX_KEPT_COMMITS:
            _kept.clear()
        _kept[value.commit_id] = value
    return value


def forget_kept_commits() -> None:
    """Forget every kept value: the next read of each commit makes it from the object (a test comparing what a
    write answered with what a read gives)."""
    _kept.clear()


def commit_value(commit: pygit2.Commit) -> Commit:
    commit_id = str(commit.id)
    kept = _kept.get(commit_id)
    if kept is not None:
        return kept
    message = commit.message
    return keep_commit(
        Commit(
            commit_id=commit_id,
            tree_id=str(commit.tree_id),
            parent_ids=tuple(str(p) for p in commit.parent_ids),
            author=signature_value(commit.author),
            committer=signature_value(commit.committer),
            message=message,
            trailers=parse_trailers(message),
        )
    )


def trust_object_links() -> None:
    """For the whole process: libgit2 stops checking that every object a new tree or commit links to exists.

    The core only links objects it has just written or read from existing trees, so that check is pure
    cost (~10% of a commit); the server turns it off once at start-up, and ``git fsck --strict`` in the
    tests keeps the core honest.
    """
    pygit2.option(pygit2.enums.Option.ENABLE_STRICT_OBJECT_CREATION, False)
