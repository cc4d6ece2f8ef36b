"""Reading what is in a repository: files, trees and commit logs."""

from __future__ import annotations

from collections.abc import Iterator

import pygit2

from .errors import NotFound
from .model import ChangedFiles, Commit, FileContent, Limits, Page, TreeEntry
from .objects import commit_value
from .paging import decode_token, encode_token, page_size
from .refs import git_name
from .revisions import resolve_commit
from .treediff import changed_files as tree_changed_files
from .validation import check_path

__all__ = ["changed_files", "diff_endpoints", "list_commits", "list_tree", "read_file"]

_NO_CONTENT_MODES = (pygit2.enums.FileMode.COMMIT, pygit2.enums.FileMode.TREE)

_KINDS = {
    pygit2.enums.FileMode.TREE: "directory",
    pygit2.enums.FileMode.LINK: "symlink",
    pygit2.enums.FileMode.COMMIT: "submodule",
}


def _object_at(tree: pygit2.Tree, path: str, revision: str) -> pygit2.Object:
    try:
        return tree[git_name(path)]
    except KeyError:
        raise NotFound(
            f"path {path!r} does not exist at revision {revision or 'HEAD'!r}",
            reason="PATH_NOT_FOUND",
            path=path,
        ) from None


def read_file(repo: pygit2.Repository, revision: str, path: str, limits: Limits) -> FileContent:
    check_path(path, limits)
    commit = resolve_commit(repo, revision)
    obj = _object_at(commit.tree, path, revision)
    if not isinstance(obj, pygit2.Blob):
        raise NotFound(
            f"path {path!r} is a directory, not a file: list it with ListTree", reason="NOT_A_FILE", path=path
        )
    parent, _, name = path.rpartition("/")
    holder = commit.tree[git_name(parent)] if parent else commit.tree
    assert isinstance(holder, pygit2.Tree)
    mode = next(e.filemode for e in holder if e.name == name)
    return FileContent(
        path=path,
        content=obj.data,
        executable=mode == pygit2.enums.FileMode.BLOB_EXECUTABLE,
        blob_id=str(obj.id),
    )


def _walk_tree(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str, recursive: bool) -> Iterator[TreeEntry]:
    """Entries in path order, depth first; iterative so deep trees cannot exhaust the stack."""
    stack: list[tuple[Iterator[pygit2.Object], str]] = [(iter(sorted(tree, key=lambda e: e.name or "")), prefix)]
    while stack:
        entries, base = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        path = f"{base}{entry.name}"
        kind = _KINDS.get(entry.filemode, "file")
        yield TreeEntry(
            path=path,
            object_id=str(entry.id),
            kind=kind,
            executable=entry.filemode == pygit2.enums.FileMode.BLOB_EXECUTABLE,
            size=repo.odb.read_header(entry.id)[1] if kind in ("file", "symlink") else 0,
        )
        if recursive and kind == "directory":
            subtree = repo[entry.id]
            assert isinstance(subtree, pygit2.Tree)
            stack.append((iter(sorted(subtree, key=lambda e: e.name or "")), f"{path}/"))


def list_tree(
    repo: pygit2.Repository,
    revision: str,
    path: str,
    recursive: bool,
    limits: Limits,
    *,
    requested_page_size: int = 0,
    page_token: str = "",
) -> Page[TreeEntry]:
    size = page_size(requested_page_size, limits, default=1000)
    # The token pins the commit, so paging a branch that moves meanwhile stays consistent.
    state = decode_token(page_token, offset=int, start=str)
    offset = int(state.get("offset", 0))
    commit = resolve_commit(repo, str(state["start"]) if state else revision)
    tree = commit.tree
    prefix = ""
    if path:
        check_path(path, limits)
        obj = _object_at(commit.tree, path, revision)
        if not isinstance(obj, pygit2.Tree):
            raise NotFound(f"path {path!r} is a file, not a directory: read it with GetFile", reason="NOT_A_DIRECTORY")
        tree, prefix = obj, f"{path}/"
    items: list[TreeEntry] = []
    more = False
    for i, entry in enumerate(_walk_tree(repo, tree, prefix, recursive)):
        if i < offset:
            continue
        if len(items) == size:
            more = True
            break
        items.append(entry)
    return Page(items, encode_token(start=str(commit.id), offset=offset + size) if more else "")


def _entry_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[git_name(path)].id
    except KeyError:
        return None


def _touches(commit: pygit2.Commit, path: str) -> bool:
    mine = _entry_id(commit.tree, path)
    parents = commit.parents
    if not parents:
        return mine is not None
    return all(_entry_id(p.tree, path) != mine for p in parents)


def list_commits(
    repo: pygit2.Repository,
    revision: str,
    path: str,
    limits: Limits,
    *,
    requested_page_size: int = 0,
    page_token: str = "",
) -> Page[Commit]:
    """Commits reachable from ``revision``, newest first, optionally only those touching ``path``.

    The page token pins the starting commit, so later pushes do not shift pages.
    """
    size = page_size(requested_page_size, limits, default=50)
    state = decode_token(page_token, start=str, offset=int)
    if path:
        check_path(path, limits)
    if state:
        start = resolve_commit(repo, str(state["start"]))
        offset = int(state["offset"])
    else:
        start = resolve_commit(repo, revision)
        offset = 0
    walker = repo.walk(start.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME)
    items: list[Commit] = []
    seen = 0
    more = False
    for commit in walker:
        if path and not _touches(commit, path):
            continue
        if seen < offset:
            seen += 1
            continue
        if len(items) == size:
            more = True
            break
        items.append(commit_value(commit))
        seen += 1
    token = encode_token(start=str(start.id), offset=seen) if more else ""
    return Page(items, token)


def diff_endpoints(
    repo: pygit2.Repository, old_revision: str, new_revision: str
) -> tuple[pygit2.Commit | None, pygit2.Commit]:
    """The commits a diff compares: ``old_revision`` (default: the first parent, None for a root) and ``new_revision``."""
    new = resolve_commit(repo, new_revision)
    if old_revision:
        return resolve_commit(repo, old_revision), new
    return (new.parents[0] if new.parents else None), new


def changed_files(
    repo: pygit2.Repository, old_revision: str, new_revision: str, paths: list[str], limits: Limits
) -> ChangedFiles:
    """Files that differ from ``old_revision`` (default: the first parent) to ``new_revision``."""
    for path in paths:
        check_path(path, limits)
    old, new = diff_endpoints(repo, old_revision, new_revision)

    def wanted(path: str) -> bool:
        return not paths or any(path == p or path.startswith(p + "/") for p in paths)

    result = ChangedFiles(str(old.id) if old is not None else "", str(new.id), {}, {}, {}, {})
    # Regular files changed, added or deleted (most diffs): only the trees on their paths are read (treediff).
    files = tree_changed_files(repo, old.tree_id, new.tree_id, renames=False) if old is not None else None
    if files is not None:
        for file in files:
            if not wanted(file.path):
                continue
            for entry, content, ids in ((file.old, result.old, result.old_ids), (file.new, result.new, result.new_ids)):
                if entry is not None:
                    blob = repo[entry[1]]
                    assert isinstance(blob, pygit2.Blob)
                    content[file.path] = blob.data
                    ids[file.path] = str(entry[1])
        return result
    diff = old.tree.diff_to_tree(new.tree) if old is not None else new.tree.diff_to_tree(swap=True)
    for delta in diff.deltas:
        for side, content, ids in (
            (delta.old_file, result.old, result.old_ids),
            (delta.new_file, result.new, result.new_ids),
        ):
            if side.id.raw == b"\0" * 20 or side.mode in _NO_CONTENT_MODES or not wanted(side.path):
                continue
            blob = repo[side.id]
            assert isinstance(blob, pygit2.Blob)
            content[side.path] = blob.data
            ids[side.path] = str(side.id)
    return result
