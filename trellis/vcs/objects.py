"""pygit2 objects to the core's plain values, and how libgit2 checks the objects the core writes."""

from __future__ import annotations

import pygit2

from .model import Commit, Signature

__all__ = ["commit_value", "parse_trailers", "signature_value", "trust_object_links"]


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


def commit_value(commit: pygit2.Commit) -> Commit:
    message = commit.message
    return Commit(
        commit_id=str(commit.id),
        tree_id=str(commit.tree_id),
        parent_ids=tuple(str(p) for p in commit.parent_ids),
        author=signature_value(commit.author),
        committer=signature_value(commit.committer),
        message=message,
        trailers=parse_trailers(message),
    )


def trust_object_links() -> None:
    """For the whole process: libgit2 stops checking that every object a new tree or commit links to exists.

    The core only links objects it has just written or read from existing trees, so that check is pure
    cost (~10% of a commit); the server turns it off once at start-up, and ``git fsck --strict`` in the
    tests keeps the core honest.
    """
    pygit2.option(pygit2.enums.Option.ENABLE_STRICT_OBJECT_CREATION, False)
