"""Three-way merges of commits, with the content of each file merged by a pluggable merger.

libgit2 merges the trees (adds, deletes, renames, directory/file clashes and a
line merge of every file). Every path that both sides changed is then merged
again by the store's :class:`FileMerger` — the structured, entity-level merge
of ``semantic_diff`` in the server — whose verdict wins: a file libgit2 merged
line by line but whose result would not parse becomes a conflict, and a file
libgit2 refused (two functions appended at the same place) can merge cleanly.

Nothing is written until :func:`write_merge`: a preview reads only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pygit2

from .model import MergeConflictInfo
from .refs import git_name

__all__ = [
    "ConflictLike",
    "FileMerger",
    "FileMergeLike",
    "MergeConflictInfo",
    "TreeMerge",
    "merge_commits",
    "merge_trees",
    "write_tree",
    "write_merge",
]


class ConflictLike(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def qualname(self) -> str: ...
    @property
    def entity_kind(self) -> str: ...
    @property
    def base(self) -> bytes: ...
    @property
    def left(self) -> bytes: ...
    @property
    def right(self) -> bytes: ...
    @property
    def markers(self) -> bytes: ...


class FileMergeLike(Protocol):
    """What a file merger returns (``semantic_diff.FileMerge`` has this shape)."""

    @property
    def clean(self) -> bool: ...
    @property
    def content(self) -> bytes | None: ...
    @property
    def strategy(self) -> str: ...
    @property
    def conflicts(self) -> Sequence[ConflictLike]: ...


FileMerger = Callable[[str, "bytes | None", "bytes | None", "bytes | None"], FileMergeLike]
"""``merger(path, base, ours, theirs)``; ``None`` where the file does not exist."""


@dataclass(frozen=True, slots=True)
class TreeMerge:
    """The outcome of merging ``theirs`` into ``ours``; ``index`` holds the merged tree when clean."""

    base_id: str
    ours_id: str
    theirs_id: str
    fast_forward: bool  # ours is an ancestor of theirs
    up_to_date: bool  # theirs is already contained in ours
    strategy: str  # "structured" | "line" | "fast_forward"
    conflicts: tuple[MergeConflictInfo, ...]
    index: pygit2.Index | None
    blobs: tuple[tuple[str, bytes | None, int], ...]  # (path, merged content or None to delete, mode)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def _changed_paths(repo: pygit2.Repository, old: pygit2.Tree, new: pygit2.Tree) -> set[str]:
    paths: set[str] = set()
    for delta in old.diff_to_tree(new).deltas:
        paths.add(delta.old_file.path)
        paths.add(delta.new_file.path)
    return paths


def _blob(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> tuple[bytes | None, int]:
    try:
        entry = tree[git_name(path)]
    except KeyError:
        return None, 0
    obj = repo[entry.id]
    if not isinstance(obj, pygit2.Blob):
        return None, 0
    return obj.data, entry.filemode


def merge_commits(
    repo: pygit2.Repository,
    ours: pygit2.Commit,
    theirs: pygit2.Commit,
    merger: FileMerger | None,
    *,
    base: pygit2.Commit | None = None,
) -> TreeMerge:
    """Merge ``theirs`` into ``ours`` in memory (the merge base is found unless given)."""
    if base is None:
        base_oid = repo.merge_base(ours.id, theirs.id)
        base = repo[base_oid] if base_oid is not None else None  # type: ignore[assignment]
    ids = (str(base.id) if base is not None else "", str(ours.id), str(theirs.id))
    if base is not None and base.id == theirs.id:
        return TreeMerge(*ids, False, True, "fast_forward", (), None, ())
    if base is not None and base.id == ours.id:
        return TreeMerge(*ids, True, False, "fast_forward", (), None, ())
    empty = repo[repo.TreeBuilder().write()]
    base_tree = base.tree if base is not None else empty
    assert isinstance(base_tree, pygit2.Tree)
    strategy, conflicts, index, blobs = merge_trees(repo, base_tree, ours.tree, theirs.tree, merger)
    return TreeMerge(*ids, False, False, strategy, conflicts, index, blobs)


def merge_trees(
    repo: pygit2.Repository,
    base_tree: pygit2.Tree,
    ours_tree: pygit2.Tree,
    theirs_tree: pygit2.Tree,
    merger: FileMerger | None,
) -> tuple[str, tuple[MergeConflictInfo, ...], pygit2.Index, tuple[tuple[str, bytes | None, int], ...]]:
    """Three-way merge of trees: (strategy, conflicts, libgit2's index, files the merger settled)."""
    index = repo.merge_trees(base_tree, ours_tree, theirs_tree)
    unsettled = _conflict_paths(index)
    contested = (_changed_paths(repo, base_tree, ours_tree) & _changed_paths(repo, base_tree, theirs_tree)) | unsettled
    conflicts: list[MergeConflictInfo] = []
    blobs: list[tuple[str, bytes | None, int]] = []
    used: set[str] = set()
    for path in sorted(contested):
        b, _ = _blob(repo, base_tree, path)
        o, o_mode = _blob(repo, ours_tree, path)
        t, t_mode = _blob(repo, theirs_tree, path)
        if o == t and o_mode == t_mode:
            continue
        if (o is None or t is None) and path not in unsettled:
            continue  # renamed on one side and edited on the other: libgit2 followed the rename
        if merger is None:
            if path in unsettled:
                conflicts.append(MergeConflictInfo(path, "", "", b or b"", o or b"", t or b"", b""))
            continue
        result = merger(path, b, o, t)
        used.add(result.strategy)
        if not result.clean:
            conflicts.extend(
                MergeConflictInfo(c.path or path, c.qualname, c.entity_kind, c.base, c.left, c.right, c.markers)
                for c in result.conflicts
            )
            if not result.conflicts:  # a merger that reports no detail still conflicts
                conflicts.append(MergeConflictInfo(path, "", "", b or b"", o or b"", t or b"", result.content or b""))
            continue
        blobs.append((path, result.content, o_mode or t_mode or pygit2.enums.FileMode.BLOB))
    # Structural conflicts no file merger can settle (a file against a directory).
    settled = {p for p, _, _ in blobs} | {c.path for c in conflicts}
    for path in sorted(unsettled - settled):
        conflicts.append(MergeConflictInfo(path, "", "", b"", b"", b"", b""))
    strategy = "structured" if "structured" in used else "line"
    return strategy, tuple(conflicts), index, tuple(blobs)


def _conflict_paths(index: pygit2.Index) -> set[str]:
    if index.conflicts is None:
        return set()
    return {e.path for side in index.conflicts for e in side if e is not None}


def write_merge(repo: pygit2.Repository, merge: TreeMerge) -> pygit2.Oid:
    """Write the merged files and the tree of a clean, non-fast-forward merge; return the tree id."""
    assert merge.clean and merge.index is not None
    return write_tree(repo, merge.index, merge.blobs)


def write_tree(
    repo: pygit2.Repository, index: pygit2.Index, blobs: Sequence[tuple[str, bytes | None, int]]
) -> pygit2.Oid:
    """Apply the files a merger settled to libgit2's merge index and write its tree."""
    for path, content, mode in blobs:
        if index.conflicts is not None and path in _conflict_paths(index):
            del index.conflicts[path]
        if content is None:
            if path in index:
                index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, repo.create_blob(content), pygit2.enums.FileMode(mode)))
    return index.write_tree(repo)
