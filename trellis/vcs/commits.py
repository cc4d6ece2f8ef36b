"""Landing a change set as one commit on a branch, with compare-and-swap."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import pygit2

from .errors import InvalidArgument, MergeConflict, NotFound, StaleHead
from .merging import FileMerger, merge_trees, write_tree
from .model import Change, Commit, CommitDelta, Identity, Limits, OnStale, WrittenFile
from .objects import commit_value, keep_commit, parse_trailers, signature_value
from .refs import RefLocks, git_name
from .revisions import full_commit_id
from .trees import apply_changes, write_changes

__all__ = ["COMMITTER", "REQUEST_TRAILER", "compose_message", "land_commit", "signature", "write_commit"]

REQUEST_TRAILER = "Trellis-Request"
REQUEST_WINDOW = 100

COMMITTER = Identity("trellis")


def signature(identity: Identity) -> pygit2.Signature:
    return pygit2.Signature(identity.name, identity.email, int(time.time()), 0)


def compose_message(message: str, trailers: Mapping[str, str]) -> str:
    body = message.strip() or "Update files"
    if not trailers:
        return body + "\n"
    lines = "\n".join(f"{key}: {value}" for key, value in trailers.items())
    return f"{body}\n\n{lines}\n"


def write_commit(
    repo: pygit2.Repository,
    author: Identity,
    message: str,
    tree_id: pygit2.Oid,
    parents: list[pygit2.Oid],
) -> Commit:
    """Write a commit object (committed by :data:`COMMITTER`) and return it as the value a read of it gives,
    built from what was written rather than read back."""
    author_sig, committer_sig = signature(author), signature(COMMITTER)
    commit_id = repo.create_commit(None, author_sig, committer_sig, message, tree_id, parents)
    return keep_commit(
        Commit(
            commit_id=str(commit_id),
            tree_id=str(tree_id),
            parent_ids=tuple(str(p) for p in parents),
            # libgit2 trims the name and email it was given; the signature objects hold what it wrote
            author=signature_value(author_sig),
            committer=signature_value(committer_sig),
            message=message,
            trailers=parse_trailers(message),
        )
    )


def land_commit(
    repo: pygit2.Repository,
    locks: RefLocks,
    repository: str,
    branch: str,
    changes: Sequence[Change],
    message: str,
    author: Identity,
    *,
    expected_head: str | None,
    on_stale: OnStale,
    limits: Limits,
    trailers: Mapping[str, str],
    request_id: str | None = None,
    merger: FileMerger | None = None,
) -> tuple[Commit, bool, bool, CommitDelta | None]:
    """Land ``changes`` on ``branch``; return the commit, whether it was rebased and replayed, and what it
    changed (:class:`CommitDelta`; ``None`` for a replay or a rebase, whose tree is a merge's).

    With a ``request_id`` the commit carries a ``Trellis-Request`` trailer, and
    a retry whose original is among the branch's last commits returns that
    commit (``replayed``) instead of landing the change twice.

    Under the branch's lock: read the head, compare it with ``expected_head``,
    build the tree, write the commit, move the ref. A stale head fails with
    :class:`StaleHead` unless ``on_stale`` is REBASE, in which case the change
    (made against ``expected_head``) is three-way merged onto the real head and
    lands only if the merge is clean.
    """
    if expected_head is not None:
        expected_head = full_commit_id(repo, expected_head, "expected_head")
    refname = f"refs/heads/{branch}"
    with locks.hold(repository, refname):
        ref = repo.references.get(git_name(refname))
        if ref is None:
            raise NotFound(
                f"branch {branch!r} does not exist in {repository!r}: create it first "
                "(CreateBranch, or CreateSession which makes one per session)",
                reason="BRANCH_NOT_FOUND",
                branch=branch,
            )
        head = repo[ref.target]
        assert isinstance(head, pygit2.Commit)
        if request_id:
            earlier = _find_request(repo, head, request_id)
            if earlier is not None:
                return commit_value(earlier), False, True, None
            trailers = {**trailers, REQUEST_TRAILER: request_id}
        rebased = False
        written: tuple[WrittenFile, ...] | None = None
        if expected_head is None or expected_head == str(head.id):
            tree_id, written = write_changes(repo, head.tree, changes, limits)
        elif on_stale is OnStale.REBASE:
            tree_id = _rebase(repo, expected_head, head, changes, limits, branch, merger)
            rebased = True
        else:
            raise StaleHead(branch, expected_head, str(head.id))
        if tree_id == head.tree_id:
            raise InvalidArgument(
                "the change set leaves the tree unchanged (every put matches the current content); "
                "nothing was committed",
                reason="EMPTY_CHANGE",
            )
        commit = write_commit(repo, author, compose_message(message, trailers), tree_id, [head.id])
        ref.set_target(commit.commit_id, f"commit: {author.name}")
        return commit, rebased, False, CommitDelta(commit, written) if written is not None else None


def _find_request(repo: pygit2.Repository, head: pygit2.Commit, request_id: str) -> pygit2.Commit | None:
    needle = f"{REQUEST_TRAILER}: {request_id}"
    for i, commit in enumerate(repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL)):
        if i >= REQUEST_WINDOW:
            return None
        # Cheap substring test first, then the real trailer (the message body could quote it).
        if needle in commit.message and parse_trailers(commit.message).get(REQUEST_TRAILER) == request_id:
            return commit
    return None


def _rebase(
    repo: pygit2.Repository,
    expected_head: str,
    head: pygit2.Commit,
    changes: Sequence[Change],
    limits: Limits,
    branch: str,
    merger: FileMerger | None,
) -> pygit2.Oid:
    try:
        base = repo[expected_head]
    except (KeyError, ValueError):
        raise NotFound(
            f"expected_head {expected_head} is not a commit of this repository; the branch {branch!r} is at {head.id}",
            reason="REVISION_NOT_FOUND",
            actual_head=str(head.id),
        ) from None
    if not isinstance(base, pygit2.Commit):
        raise InvalidArgument(f"expected_head {expected_head} is not a commit", reason="INVALID_COMMIT_ID")
    changed_tree = repo[apply_changes(repo, base.tree, changes, limits)]
    assert isinstance(changed_tree, pygit2.Tree)
    _, conflicts, index, blobs = merge_trees(repo, base.tree, head.tree, changed_tree, merger)
    if conflicts:
        paths = sorted({c.path for c in conflicts})
        where = ", ".join(f"{c.path}:{c.qualname}" if c.qualname else c.path for c in conflicts)
        raise MergeConflict(
            f"cannot rebase onto {head.id}: conflicting changes in {where}; "
            "read the new head, redo the change and commit with the new expected_head",
            paths,
        )
    return write_tree(repo, index, blobs)
