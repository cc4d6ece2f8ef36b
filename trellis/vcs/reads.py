"""Plain reads of a repository's objects for the layers above (``ci``, ``trellis``): no pygit2 object leaves.

Trees and blobs are named by their hex ids; a revision resolves to a
:class:`~trellis.vcs.model.Commit` (``Store.get_commit``). Each function takes the
open repository; :class:`~trellis.vcs.store.Store` offers them by repository name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pygit2

from .model import Commit
from .objects import commit_value
from .revisions import resolve_commit

__all__ = ["blob_id", "history", "merge_base", "read_blob", "tree_blobs", "tree_entry_id", "tree_files"]


def blob_id(data: bytes) -> str:
    """The id git gives a blob of ``data`` (without writing it)."""
    return str(pygit2.hash(data))


def _tree(repo: pygit2.Repository, tree_id: str) -> pygit2.Tree:
    tree = repo[tree_id]
    if isinstance(tree, pygit2.Commit):
        tree = tree.tree
    assert isinstance(tree, pygit2.Tree), f"{tree_id} is not a tree"
    return tree


def tree_blobs(repo: pygit2.Repository, tree_id: str, where: Callable[[str], bool] | None = None) -> dict[str, str]:
    """``path -> blob id`` of every file of the tree (depth first, in git's order), only where ``where(path)``."""
    found: dict[str, str] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if entry.type_str == "tree":
                sub = repo[entry.id]
                assert isinstance(sub, pygit2.Tree)
                walk(sub, f"{prefix}{entry.name}/")
            elif entry.type_str == "blob":
                path = f"{prefix}{entry.name}"
                if where is None or where(path):
                    found[path] = str(entry.id)

    walk(_tree(repo, tree_id), "")
    return found


def tree_files(repo: pygit2.Repository, tree_id: str, paths: Iterable[str]) -> dict[str, bytes]:
    """The content of each of ``paths`` that is a file of the tree (the others are left out)."""
    tree = _tree(repo, tree_id)
    files: dict[str, bytes] = {}
    for path in paths:
        try:
            blob = repo[tree[path].id]
        except KeyError:
            continue
        if isinstance(blob, pygit2.Blob):
            files[path] = blob.data
    return files


def tree_entry_id(repo: pygit2.Repository, tree_id: str, path: str) -> str | None:
    """The object id at ``path`` of the tree (a file, a directory, a submodule), None if there is none."""
    try:
        return str(_tree(repo, tree_id)[path].id)
    except KeyError:
        return None


def read_blob(repo: pygit2.Repository, blob_id: str) -> bytes | None:
    """A blob's content; None if the object is missing or not a blob."""
    try:
        blob = repo[blob_id]
    except (KeyError, ValueError):
        return None
    return blob.data if isinstance(blob, pygit2.Blob) else None


def merge_base(repo: pygit2.Repository, a: str, b: str) -> str | None:
    """The best common ancestor of two commits (ids or revisions), None if they share no history."""
    base = repo.merge_base(resolve_commit(repo, a).id, resolve_commit(repo, b).id)
    return str(base) if base is not None else None


def history(repo: pygit2.Repository, revision: str, *, first_parent: bool = False, limit: int = 0) -> Iterator[Commit]:
    """Commits from ``revision`` back (newest first; along first parents only if asked), at most ``limit`` (0: all)."""
    walker = repo.walk(
        resolve_commit(repo, revision).id,
        pygit2.enums.SortMode.NONE if first_parent else pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME,
    )
    if first_parent:
        walker.simplify_first_parent()
    for n, commit in enumerate(walker):
        if limit and n >= limit:
            return
        yield commit_value(commit)
