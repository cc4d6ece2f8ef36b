"""Turning a change set into a new git tree.

The change set is checked completely against the base tree first (paths,
sizes, duplicates, missing sources, file/directory clashes); only then are
blobs and trees written, so a rejected change set writes nothing. Checking and
building share one walk of the base tree (:class:`_Base`): each directory on
the way to a changed path is read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pygit2

from .errors import InvalidArgument, LimitExceeded, NotFound
from .model import DELTA_CONTENT_BYTES, Change, DeleteFile, Limits, PutFile, RenameFile, WrittenFile
from .refs import git_name
from .validation import check_path

__all__ = ["apply_changes", "validate_changes", "write_changes"]

_TREE = pygit2.enums.FileMode.TREE
_BLOB = pygit2.enums.FileMode.BLOB
_EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE


@dataclass(frozen=True, slots=True)
class _Write:
    """A path's new content: a blob to write, or an existing object to reuse."""

    content: bytes | None
    oid: pygit2.Oid | None
    mode: int


_Op = _Write | None  # None deletes the path


class _Base:
    """The base tree, walked once: each directory is looked up the first time a path needs it."""

    __slots__ = ("_dirs", "_entries")

    def __init__(self, tree: pygit2.Tree | None) -> None:
        self._dirs: dict[str, pygit2.Tree | None] = {"": tree}
        self._entries: dict[str, pygit2.Object | None] = {}  # a path is asked for by each check: looked up once

    def directory(self, path: str) -> pygit2.Tree | None:
        """The directory at ``path`` ("" is the root), or None if there is none (or a file is there)."""
        try:
            return self._dirs[path]
        except KeyError:
            pass
        entry = self.entry(path)
        tree = entry if isinstance(entry, pygit2.Tree) else None
        self._dirs[path] = tree
        return tree

    def entry(self, path: str) -> pygit2.Object | None:
        """The file or directory at ``path``, or None."""
        try:
            return self._entries[path]
        except KeyError:
            pass
        parent, _, name = path.rpartition("/")
        holder = self.directory(parent)
        found: pygit2.Object | None = None
        if holder is not None:
            try:
                found = holder[git_name(name)]
            except KeyError:
                pass
        self._entries[path] = found
        return found


def validate_changes(tree: pygit2.Tree | None, changes: Sequence[Change], limits: Limits) -> dict[str, _Op]:
    """Check ``changes`` against ``tree`` and return path -> operation, writing nothing."""
    return _validate(_Base(tree), changes, limits)


def _validate(base: _Base, changes: Sequence[Change], limits: Limits) -> dict[str, _Op]:
    if not changes:
        raise InvalidArgument("the change set is empty: send at least one put, delete or rename", reason="EMPTY_CHANGE")
    if len(changes) > limits.max_files_per_commit:
        raise LimitExceeded(
            f"the change set has {len(changes)} changes; the limit is {limits.max_files_per_commit} "
            "per commit: split it into several commits",
            reason="TOO_MANY_FILES",
        )
    ops: dict[str, _Op] = {}
    total = 0

    def claim(path: str) -> str:
        check_path(path, limits)
        if path in ops:
            raise InvalidArgument(f"path {path!r} appears more than once in the change set", reason="DUPLICATE_PATH")
        return path

    for change in changes:
        if isinstance(change, PutFile):
            claim(change.path)
            size = len(change.content)
            if size > limits.max_file_bytes:
                raise LimitExceeded(
                    f"file {change.path!r} is {size} bytes; the limit is {limits.max_file_bytes}",
                    reason="FILE_TOO_LARGE",
                )
            total += size
            executable = change.executable
            if executable is None:  # unset: keep the mode of the file it overwrites
                existing = base.entry(change.path)
                executable = existing is not None and existing.filemode == _EXECUTABLE
            mode = _EXECUTABLE if executable else _BLOB
            ops[change.path] = _Write(change.content, None, mode)
        elif isinstance(change, DeleteFile):
            claim(change.path)
            _existing_file(base, change.path, "delete")
            ops[change.path] = None
        elif isinstance(change, RenameFile):
            claim(change.old_path)
            claim(change.new_path)
            source = _existing_file(base, change.old_path, "rename")
            ops[change.old_path] = None
            ops[change.new_path] = _Write(None, source.id, int(source.filemode))
        else:  # pragma: no cover - the type union is closed
            raise InvalidArgument(f"unknown change {change!r}", reason="INVALID_CHANGE")
    if total > limits.max_commit_bytes:
        raise LimitExceeded(
            f"the change set carries {total} bytes; the limit is {limits.max_commit_bytes} per commit",
            reason="COMMIT_TOO_LARGE",
        )
    _check_structure(base, ops)
    return ops


def _existing_file(base: _Base, path: str, verb: str) -> pygit2.Object:
    obj = base.entry(path)
    if obj is None:
        raise NotFound(f"cannot {verb} {path!r}: no such file at the branch head", reason="PATH_NOT_FOUND", path=path)
    if obj.type == pygit2.enums.ObjectType.TREE:
        raise NotFound(
            f"cannot {verb} {path!r}: it is a directory; {verb} its files one by one",
            reason="PATH_NOT_FOUND",
            path=path,
        )
    return obj


def _check_structure(base: _Base, ops: dict[str, _Op]) -> None:
    """Reject file/directory clashes: a file where a directory is needed or the reverse."""
    for path, op in ops.items():
        if op is None:
            continue
        existing = base.entry(path)
        if existing is not None and existing.type == pygit2.enums.ObjectType.TREE:
            raise InvalidArgument(
                f"cannot write file {path!r}: a directory of that name exists", reason="PATH_CONFLICT"
            )
        parts = path.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in ops:
                if ops[prefix] is not None:
                    raise InvalidArgument(
                        f"cannot write {path!r} and file {prefix!r} in one change set",
                        reason="PATH_CONFLICT",
                    )
                continue  # the file is deleted in this change, the directory may take its place
            above = base.entry(prefix)
            if above is not None and above.type != pygit2.enums.ObjectType.TREE:
                raise InvalidArgument(f"cannot write {path!r}: {prefix!r} is a file", reason="PATH_CONFLICT")


def apply_changes(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: Sequence[Change], limits: Limits
) -> pygit2.Oid:
    """Validate ``changes`` against ``tree``, write the blobs and trees, return the new root tree id."""
    return write_changes(repo, tree, changes, limits)[0]


def write_changes(
    repo: pygit2.Repository, tree: pygit2.Tree | None, changes: Sequence[Change], limits: Limits
) -> tuple[pygit2.Oid, tuple[WrittenFile, ...]]:
    """:func:`apply_changes`, and the files whose entry differs from ``tree``'s, sorted by path (a put of the
    content and mode already there is none), with the new content of puts kept up to
    :data:`~trellis.vcs.model.DELTA_CONTENT_BYTES` in all."""
    base = _Base(tree)
    ops = _validate(base, changes, limits)
    resolved: dict[str, tuple[pygit2.Oid, int] | None] = {}
    for path, op in ops.items():
        if op is None:
            resolved[path] = None
        elif op.oid is not None:
            resolved[path] = (op.oid, op.mode)
        else:
            assert op.content is not None
            resolved[path] = (repo.create_blob(op.content), op.mode)
    root = _build(repo, base, "", resolved)
    if root is None:
        root = repo.TreeBuilder().write()
    written: list[WrittenFile] = []
    kept = 0
    for path in sorted(resolved):
        target = resolved[path]
        entry = base.entry(path)  # (a file: validation refused a directory in the way)
        old = (int(entry.filemode), str(entry.id)) if entry is not None else None
        new = (int(target[1]), str(target[0])) if target is not None else None
        if old == new:
            continue
        op = ops[path]
        content = op.content if op is not None else None
        if content is not None and kept + len(content) <= DELTA_CONTENT_BYTES:
            kept += len(content)
        else:
            content = None
        written.append(WrittenFile(path, old, new, content))
    return root, tuple(written)


def _build(
    repo: pygit2.Repository,
    base: _Base,
    where: str,
    ops: dict[str, tuple[pygit2.Oid, int] | None],
) -> pygit2.Oid | None:
    """The tree at ``where`` (a directory path, "" the root) with ``ops`` (paths relative to it) applied."""
    tree = base.directory(where)
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    nested: dict[str, dict[str, tuple[pygit2.Oid, int] | None]] = {}
    for path, op in ops.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = op
        elif op is None:
            if builder.get(git_name(head)) is not None:
                builder.remove(head)
        else:
            builder.insert(head, op[0], op[1])
    for name, sub_ops in sorted(nested.items()):
        # The base's directory of that name, or a new one (checked: no file stays in its way).
        oid = _build(repo, base, f"{where}/{name}" if where else name, sub_ops)
        if oid is None:
            if builder.get(git_name(name)) is not None:
                builder.remove(name)
        else:
            builder.insert(name, oid, _TREE)
    if len(builder) == 0:
        return None
    return builder.write()
