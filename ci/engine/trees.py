"""What the engine reads from git: a revision's commit, a file of a tree, every blob of a tree."""

from __future__ import annotations

from collections.abc import Iterator

import pygit2

import vcs

__all__ = ["blobs", "blobs_in_tree", "commit", "entry_id", "file_in_tree"]


def commit(store: vcs.Store, repository: str, revision: str) -> pygit2.Commit:
    from vcs.revisions import resolve_commit

    return resolve_commit(store.open(repository), revision)


def file_in_tree(store: vcs.Store, repository: str, tree_id: str, path: str) -> bytes | None:
    """The content of ``path`` in tree ``tree_id``; None if there is no such entry (b"" if it is no blob)."""
    repo = store.open(repository)
    tree = repo[tree_id]
    assert isinstance(tree, pygit2.Tree)
    try:
        blob = repo[tree[path].id]
    except KeyError:
        return None
    return blob.data if isinstance(blob, pygit2.Blob) else b""


def blobs(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, pygit2.Oid]]:
    for entry in tree:
        if entry.type_str == "tree":
            sub = repo[entry.id]
            assert isinstance(sub, pygit2.Tree)
            yield from blobs(repo, sub, f"{prefix}{entry.name}/")
        elif entry.type_str == "blob":
            yield f"{prefix}{entry.name}", entry.id


def blobs_in_tree(store: vcs.Store, repository: str, tree_id: str, paths: tuple[str, ...]) -> dict[str, bytes]:
    """The content of each of ``paths`` that is a blob in tree ``tree_id`` (the others are left out)."""
    repo = store.open(repository)
    tree = repo[tree_id]
    assert isinstance(tree, pygit2.Tree)
    files: dict[str, bytes] = {}
    for path in paths:
        try:
            blob = repo[tree[path].id]
        except KeyError:
            continue
        if isinstance(blob, pygit2.Blob):
            files[path] = blob.data
    return files


def entry_id(store: vcs.Store, repository: str, tree_id: str, path: str) -> str | None:
    """The object id of ``path`` in tree ``tree_id``, None if there is no such entry."""
    tree = store.open(repository)[tree_id]
    assert isinstance(tree, pygit2.Tree)
    try:
        return str(tree[path].id)
    except KeyError:
        return None
