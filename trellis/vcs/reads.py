"""Plain reads of a repository's objects for the layers above (``ci``, ``trellis``): no pygit2 object leaves.

Trees and blobs are named by their hex ids; a revision resolves to a
:class:`~trellis.vcs.model.Commit` (``Store.get_commit``). Each function takes the
open repository; :class:`~trellis.vcs.store.Store` offers them by repository name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pygit2

from .errors import NotFound
from .model import Commit
from .objects import commit_value
from .revisions import resolve_commit

__all__ = [
    "TreeReader",
    "blob_id",
    "history",
    "merge_base",
    "read_blob",
    "tree_blobs",
    "tree_changes",
    "tree_entries",
    "tree_entry_id",
    "tree_files",
]

Entry = tuple[int, str]  # (git file mode, object id)


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


def _find_tree(repo: pygit2.Repository, tree_id: str) -> pygit2.Tree | None:
    """The tree (or a commit's tree) of that id, None if the repository has no such object."""
    try:
        obj = repo.get(tree_id)
    except (ValueError, pygit2.GitError):
        return None
    return obj.peel(pygit2.Tree) if obj is not None else None


def tree_entries(repo: pygit2.Repository, tree_id: str) -> dict[str, Entry] | None:
    """``path -> (mode, id)`` of every entry that is not a directory (files, symlinks, submodules); None if the
    tree is not in the repository. One call: the recursion runs in libgit2."""
    tree = _find_tree(repo, tree_id)
    if tree is None:
        return None
    index = pygit2.Index()
    index.read_tree(tree)
    return {e.path: (e.mode, str(e.id)) for e in index}


def tree_changes(repo: pygit2.Repository, old_tree_id: str, tree_id: str) -> dict[str, Entry | None] | None:
    """The entries of ``tree_id`` that differ from ``old_tree_id`` (None: removed); None if either tree is not
    in the repository."""
    old, new = _find_tree(repo, old_tree_id), _find_tree(repo, tree_id)
    if old is None or new is None:
        return None
    found: dict[str, Entry | None] = {}
    for delta in old.diff_to_tree(new).deltas:
        if delta.status != pygit2.enums.DeltaStatus.ADDED:
            found.setdefault(delta.old_file.path, None)
        if delta.status != pygit2.enums.DeltaStatus.DELETED:
            found[delta.new_file.path] = (delta.new_file.mode, str(delta.new_file.id))
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


class TreeReader:
    """Trees and blobs of the git repository at ``path`` on this machine (a verification worker's view), as
    plain values. Raises :class:`NotFound` (``REPOSITORY_NOT_FOUND``) when there is none."""

    def __init__(self, path: str) -> None:
        try:
            self._repo = pygit2.Repository(path)
        except (pygit2.GitError, KeyError, OSError) as e:
            raise NotFound(f"no git repository at {path}: {e}", reason="REPOSITORY_NOT_FOUND") from e
        self.path: str = self._repo.path

    def has_tree(self, tree_id: str) -> bool:
        return _find_tree(self._repo, tree_id) is not None

    def tree_entries(self, tree_id: str) -> dict[str, Entry] | None:
        return tree_entries(self._repo, tree_id)

    def tree_changes(self, old_tree_id: str, tree_id: str) -> dict[str, Entry | None] | None:
        return tree_changes(self._repo, old_tree_id, tree_id)

    def read_blob(self, blob_id: str) -> bytes | None:
        return read_blob(self._repo, blob_id)
