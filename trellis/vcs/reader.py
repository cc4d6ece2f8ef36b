"""Reading a repository in bulk, as plain values: what an index that follows git needs.

:class:`RepositoryReader` opens a bare repository by its path, read-only: it
takes none of the store's locks, so a reader (the query index, a worker
process of a history import) never blocks a push. It answers with plain values
(ids as hex strings, :class:`~trellis.vcs.model.Commit`, :class:`FileDelta`,
bytes), shaped for walking whole histories: commit ids from a revision walk,
one commit's metadata, the file changes between two trees with their line
counts, blobs by id in batches.

Objects that are missing or of another type give ``None`` / are left out
where a reader of many objects should go on; where the caller asked for one
thing, it raises :class:`~trellis.vcs.errors.NotFound` (or
:class:`~trellis.vcs.errors.InvalidArgument`) with the reason the rest of the
core uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from . import reads
from .errors import InvalidArgument, NotFound
from .model import Commit, WrittenFile
from .objects import commit_value
from .reads import TreeReader
from .sessions import step_blobs
from .treediff import ChangedFile, TreeBytes, changed_files

__all__ = [
    "BlobBytes",
    "BoundedWalk",
    "FileDelta",
    "Head",
    "RefTarget",
    "RepositoryReader",
    "cache_blobs",
    "limit_object_cache",
]

_STATUS = {
    "A": "added",
    "D": "deleted",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "type_changed",
}
_NONE = pygit2.enums.SortMode.NONE
_ZERO_ID = "0" * 40
_KEEP_BLOB_BYTES = 16 << 20  # contents of the last diff's files kept for read_blobs, at most
_BLOB = pygit2.enums.ObjectType.BLOB
_OLDEST_FIRST = pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
_REGULAR = frozenset({0o100644, 0o100755})  # git's modes of a file and an executable file
_WRITTEN_LIMIT = 256  # files of a handed delta computed from it (more: git's diff, as treediff's limit)


@dataclass(frozen=True, slots=True)
class RefTarget:
    """A reference and the object it names (symbolic references followed; peeled to a commit if asked)."""

    name: str
    target_id: str


@dataclass(frozen=True, slots=True)
class Head:
    """What ``HEAD`` says: the branch ref it names (``""`` when detached or missing), and that branch's
    commit (``None`` when the branch does not exist yet; a detached ``HEAD``'s own target)."""

    ref_name: str
    commit_id: str | None


@dataclass(frozen=True, slots=True)
class BoundedWalk:
    """What :meth:`RepositoryReader.walk_to_stops` found: ``commits``, parents before children, and the stops
    it met on the way (each reachable from the walk's starting commits)."""

    commits: list[str]
    stops_met: frozenset[str]


@dataclass(frozen=True, slots=True)
class FileDelta:
    """One file's change between two trees, as ``git diff --find-renames`` sees it.

    ``status`` is ``added``, ``deleted``, ``modified``, ``renamed``, ``copied`` or
    ``type_changed``. On the side where the file does not exist the path is
    the other side's, the id 40 zeros and the mode and size 0. Line counts are
    0 for a binary file.
    """

    status: str
    old_path: str
    new_path: str
    old_id: str
    new_id: str
    old_mode: int
    new_mode: int
    old_size: int
    new_size: int
    similarity: int
    binary: bool
    additions: int
    deletions: int


class RepositoryReader(TreeReader):
    """Read-only access to the bare repository at ``path``, in plain values (a :class:`TreeReader` that also
    reads references, configuration and commits). Raises :class:`NotFound` (``REPOSITORY_NOT_FOUND``) when
    there is no repository there.

    One reader per thread or process (it holds an open libgit2 handle). The
    store's readers (``Store.get_commit``, ``tree_blobs``, ``history``…) are the
    ones to use for a repository of a running server by name; this one is for
    following a repository's whole history from its directory.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(str(path))
        self._diffed: dict[str, bytes] = {}  # blob id -> content of the files the last diff read (read_blobs)
        self._diffed_bytes = 0
        self._trees = TreeBytes()  # the trees diffs read (a commit's new side is the next one's old side)

    # -- references and configuration ---------------------------------------------------------

    def list_refs(self, prefixes: Sequence[str] = ("refs/",), *, peel: Sequence[str] = ()) -> list[RefTarget]:
        """The references under ``prefixes``, in one pass, unsorted.

        A reference under one of the ``peel`` prefixes is peeled to its commit
        (tags of trees or blobs and dangling references are left out); the others
        give the object they point at, not read (dangling symbolic references are
        left out).
        """
        wanted = tuple(prefixes)
        peeled = tuple(peel)
        found: list[RefTarget] = []
        for ref in self._repo.references.iterator():
            name = ref.name
            if not name.startswith(wanted):
                continue
            if name.startswith(peeled):
                try:
                    commit = ref.peel(pygit2.Commit)
                except (pygit2.GitError, KeyError, ValueError, pygit2.InvalidSpecError):
                    continue
                found.append(RefTarget(name, str(commit.id)))
                continue
            target = ref.target
            if not isinstance(target, pygit2.Oid):  # symbolic
                try:
                    target = ref.resolve().target
                except (pygit2.GitError, KeyError, ValueError):
                    continue
            found.append(RefTarget(name, str(target)))
        return found

    def head(self) -> Head:
        """The branch ``HEAD`` names and its commit."""
        head = self._repo.references.get("HEAD")
        if head is None:
            return Head("", None)
        target = head.target
        if not isinstance(target, str):
            return Head("", str(target))
        ref = self._repo.references.get(target)
        if ref is None:
            return Head(target, None)
        try:
            return Head(target, str(ref.peel(pygit2.Commit).id))
        except (pygit2.GitError, ValueError):
            return Head(target, None)

    def config_value(self, key: str) -> str | None:
        """A configuration value as git reads it for this repository (None if unset)."""
        config = self._repo.config
        return str(config[key]) if key in config else None

    # -- commits ------------------------------------------------------------------------------

    def walk(self, include: Iterable[str], exclude: Iterable[str] = (), *, oldest_first: bool = False) -> Iterator[str]:
        """Ids of the commits reachable from ``include`` and not from ``exclude``, like ``git rev-list``.

        Newest first in no particular order, or ``oldest_first`` (parents before
        children, ``--topo-order --reverse``). A commit of ``include`` that is
        missing raises :class:`NotFound`; one of ``exclude`` is ignored (nothing
        of it to hide).
        """
        walker = self._repo.walk(None, _OLDEST_FIRST if oldest_first else _NONE)
        for commit_id in include:
            try:
                walker.push(pygit2.Oid(hex=commit_id))
            except (KeyError, ValueError, pygit2.GitError):
                raise NotFound(
                    f"commit {commit_id} is not in the repository", reason="REVISION_NOT_FOUND", revision=commit_id
                ) from None
        for commit_id in exclude:
            try:
                walker.hide(pygit2.Oid(hex=commit_id))
            except (KeyError, ValueError, pygit2.GitError):
                continue
        return (str(commit.id) for commit in walker)

    def walk_to_stops(self, include: Iterable[str], stops: Iterable[str], *, limit: int) -> BoundedWalk | None:
        """The commits reachable from ``include`` along paths that end at one of ``stops`` (not included),
        parents before children; ``None`` when some path ends elsewhere (a root commit, a missing commit)
        or more than ``limit`` commits would be listed.

        It answers what :meth:`walk` with ``stops`` excluded answers when the new commits sit on top of the
        stops (a branch moved forward), reading only those commits: libgit2's revision walk, given commits to
        hide, reads back to the root when the commits share their timestamp (micro-commits, many a second),
        so hiding the tips indexed before costs a read of the whole history. The answer may also hold commits
        reachable from a stop by another path (a branch started below another's tip); a caller that wants
        exactly :meth:`walk`'s answer filters out what it already has, and calls :meth:`walk` on ``None``.
        """
        stop = set(stops)
        repo = self._repo
        order: list[str] = []
        seen: set[str] = set()
        met: set[str] = set()
        for tip in include:
            if tip in stop:
                met.add(tip)
                continue
            if tip in seen:
                continue
            seen.add(tip)
            pending: list[tuple[str, list[str] | None]] = [(tip, None)]
            while pending:
                commit_id, parents = pending[-1]
                if parents is None:  # first visit: read its parents, then visit them before it
                    try:
                        obj = repo[commit_id]
                    except (KeyError, ValueError):
                        return None
                    if not isinstance(obj, pygit2.Commit):
                        return None
                    parents = [str(p) for p in obj.parent_ids]
                    if not parents:
                        return None  # a root: this path met no stop
                    pending[-1] = (commit_id, parents)
                if parents:
                    parent = parents.pop()
                    if parent in stop:
                        met.add(parent)
                    elif parent not in seen:
                        seen.add(parent)
                        if len(seen) > limit:
                            return None
                        pending.append((parent, None))
                    continue
                pending.pop()
                order.append(commit_id)
        return BoundedWalk(order, frozenset(met))

    def first_parents(self, tip: str, stop: str | None = None) -> list[str]:
        """Commit ids from ``tip`` back along first parents, up to (not including) ``stop``.

        The chain ends at a root commit, at ``stop``, or at a commit the
        repository lacks (a missing ``tip`` gives ``[]``).
        """
        chain: list[str] = []
        current = self._commit_object(tip)
        while current is not None:
            commit_id = str(current.id)
            if commit_id == stop:
                break
            chain.append(commit_id)
            parents = current.parent_ids
            current = self._commit_object(str(parents[0])) if parents else None
        return chain

    def commit(self, commit_id: str) -> Commit:
        """One commit's metadata (its parents, signatures, message and trailers), by full id."""
        commit = self._commit_object(commit_id)
        if commit is None:
            raise NotFound(
                f"commit {commit_id} is not in the repository", reason="REVISION_NOT_FOUND", revision=commit_id
            )
        return commit_value(commit)

    def _commit_object(self, commit_id: str) -> pygit2.Commit | None:
        try:
            obj = self._repo[commit_id]
        except (KeyError, ValueError):
            return None
        return obj if isinstance(obj, pygit2.Commit) else None

    # -- trees and blobs ----------------------------------------------------------------------

    def diff(self, old: str | None, new: str, *, find_renames: bool = True) -> list[FileDelta]:
        """The files that differ from tree ``old`` (None: the empty tree) to tree ``new``, in git's order.

        Either may be given as a commit id (its tree is meant). Renames are found
        as ``git diff -M`` finds them; line counts as ``git diff --numstat``.
        """
        self._diffed.clear()
        self._diffed_bytes = 0
        if old is not None:
            # A few files changed (a micro-commit): only the trees on their paths are read (see treediff).
            changed = changed_files(self._repo, self._tree_id(old), self._tree_id(new), trees=self._trees)
            if changed is not None:
                return [self._file_delta(f) for f in changed]
        new_tree = reads._tree(self._repo, new)
        if old is not None:
            diff = reads._tree(self._repo, old).diff_to_tree(new_tree, context_lines=0, interhunk_lines=0)
        else:
            diff = new_tree.diff_to_tree(context_lines=0, interhunk_lines=0, swap=True)
        if find_renames:
            diff.find_similar(flags=pygit2.enums.DiffFind.FIND_RENAMES)
        deltas: list[FileDelta] = []
        for patch in diff:
            if patch is None:
                continue
            delta = patch.delta
            binary = bool(delta.is_binary)
            _, additions, deletions = patch.line_stats if not binary else (0, 0, 0)
            old_file, new_file = delta.old_file, delta.new_file
            deltas.append(
                FileDelta(
                    _STATUS.get(delta.status_char(), "modified"),
                    old_file.path,
                    new_file.path,
                    str(old_file.id),
                    str(new_file.id),
                    int(old_file.mode),
                    int(new_file.mode),
                    old_file.size,
                    new_file.size,
                    delta.similarity,
                    binary,
                    additions,
                    deletions,
                )
            )
        return deltas

    def written_diff(self, files: Sequence[WrittenFile], kept: BlobBytes | None = None) -> list[FileDelta] | None:
        """What :meth:`diff` of a commit against its parent answers, computed from the files its write handed
        over (:attr:`~trellis.vcs.CommitDelta.files`) instead of from the two trees: no tree is read, and a
        blob is read from git only when neither the delta nor ``kept`` holds its bytes (the contents used are
        put in ``kept``: a file's new side is its next change's old side). The blobs' contents answer
        :meth:`read_blobs` until the next diff, as after :meth:`diff`.

        ``None`` where :meth:`diff` decides by rules of its own, as :func:`~trellis.vcs.treediff.changed_files`
        leaves them to libgit2: files both added and deleted (renames), a mode changed alone, anything but
        regular files, more than 256 files; and when a blob is missing (the caller's :meth:`diff` raises).
        Line counts and the binary check are libgit2's patch of the two contents, as in :meth:`diff`'s."""
        if len(files) > _WRITTEN_LIMIT:
            return None
        added = deleted = False
        for file in files:
            old, new = file.old, file.new
            if old is None and new is None:
                return None
            if (old is not None and old[0] not in _REGULAR) or (new is not None and new[0] not in _REGULAR):
                return None
            if old is not None and new is not None and old[1] == new[1]:
                return None  # the mode alone changed
            added = added or old is None
            deleted = deleted or new is None
        if added and deleted:
            return None
        contents: list[tuple[bytes | None, bytes | None]] = []
        for file in files:
            old_data = self._written_blob(file.old[1], None, kept) if file.old is not None else None
            new_data = self._written_blob(file.new[1], file.content, kept) if file.new is not None else None
            if (file.old is not None and old_data is None) or (file.new is not None and new_data is None):
                return None
            contents.append((old_data, new_data))
        self._diffed.clear()
        self._diffed_bytes = 0
        return [self._patched(file.path, file.old, file.new, old, new) for file, (old, new) in zip(files, contents)]

    def _written_blob(self, blob_id: str, content: bytes | None, kept: BlobBytes | None) -> bytes | None:
        """A blob's bytes: ``content`` if given, else from ``kept``, else from git (None: no such blob)."""
        if content is None and kept is not None:
            content = kept.get(blob_id)
        if content is None:
            try:
                blob = self._repo[blob_id]
            except (KeyError, ValueError):
                return None
            if not isinstance(blob, pygit2.Blob):
                return None
            content = blob.data
        if kept is not None:
            kept.put(blob_id, content)
        return content

    def _tree_id(self, revision: str) -> pygit2.Oid:
        """The id of tree ``revision``, or of commit ``revision``'s tree (a commit comes from libgit2's object
        cache: the indexer has just read it)."""
        obj = self._repo[revision]
        return obj.tree_id if isinstance(obj, pygit2.Commit) else obj.id

    def _blob(self, blob_id: pygit2.Oid) -> pygit2.Blob:
        blob = self._repo[blob_id]
        assert isinstance(blob, pygit2.Blob)  # (a regular file's entry, see treediff)
        return blob

    def _file_delta(self, file: ChangedFile) -> FileDelta:
        """A regular file changed, added or deleted, as the tree diff gives it."""
        old_blob = self._blob(file.old[1]) if file.old is not None else None
        new_blob = self._blob(file.new[1]) if file.new is not None else None
        return self._patched(file.path, file.old, file.new, old_blob, new_blob)

    def _patched(
        self,
        path: str,
        old: tuple[int, str | pygit2.Oid] | None,
        new: tuple[int, str | pygit2.Oid] | None,
        old_data: bytes | pygit2.Blob | None,
        new_data: bytes | pygit2.Blob | None,
    ) -> FileDelta:
        """A regular file's delta from its sides ((mode, id) or None) and their contents: libgit2's patch of the two
        (the same binary check and line counts as its tree diff, the path given for its attributes). The contents
        are kept for :meth:`read_blobs` until the next diff."""
        for side, data in ((old, old_data), (new, new_data)):
            size = len(data) if isinstance(data, bytes) else data.size if data is not None else 0
            if side is not None and data is not None and size <= _KEEP_BLOB_BYTES - self._diffed_bytes:
                self._diffed[str(side[1])] = data if isinstance(data, bytes) else data.data
                self._diffed_bytes += size
        patch = pygit2.Patch.create_from(old_data, new_data, path, path, context_lines=0, interhunk_lines=0)
        delta = patch.delta
        binary = bool(delta.is_binary)
        _, additions, deletions = patch.line_stats if not binary else (0, 0, 0)
        status = "modified" if old is not None and new is not None else "added" if new else "deleted"
        return FileDelta(
            status,
            path,
            path,
            str(old[1]) if old is not None else _ZERO_ID,
            str(new[1]) if new is not None else _ZERO_ID,
            old[0] if old is not None else 0,
            new[0] if new is not None else 0,
            delta.old_file.size,
            delta.new_file.size,
            0,
            binary,
            additions,
            deletions,
        )

    def tree_blobs(self, tree_id: str, where: Callable[[str], bool] | None = None) -> dict[str, str]:
        """``path -> blob id`` of every file of a tree (or a commit's tree), only where ``where(path)``."""
        return reads.tree_blobs(self._repo, tree_id, where)

    def read_blobs(self, blob_ids: Iterable[str]) -> dict[str, bytes]:
        """``blob id -> content`` of each of ``blob_ids`` that is a blob of the repository."""
        repo = self._repo
        found: dict[str, bytes] = {}
        for blob_id in blob_ids:
            data = self._diffed.get(blob_id)
            if data is not None:  # read by the last diff
                found[blob_id] = data
                continue
            try:
                blob = repo[blob_id]
            except (KeyError, ValueError):
                continue
            if isinstance(blob, pygit2.Blob):
                found[blob_id] = blob.data
        return found

    def session_steps(self, tip: str, after: int = 0) -> list[tuple[int, str]]:
        """``(index, blob id)`` of each step numbered above ``after`` of the session record at commit ``tip``,
        in order (both layouts of ``steps/``, see :func:`trellis.vcs.sessions.step_blobs`); none if the
        commit or its ``steps`` directory is missing."""
        commit = self._commit_object(tip)
        if commit is None:
            return []
        try:
            steps = commit.tree["steps"]
        except KeyError:
            return []
        if not isinstance(steps, pygit2.Tree):
            return []
        return [(index, str(blob_id)) for index, blob_id in step_blobs(self._repo, steps, after)]

    def read_file(self, commit_id: str, path: str) -> bytes:
        """The content of file ``path`` (a path of git's tree, no checks) at commit ``commit_id``.

        Raises :class:`NotFound` (``REVISION_NOT_FOUND``, ``PATH_NOT_FOUND``,
        ``NOT_A_FILE``) or :class:`InvalidArgument` (``NOT_A_COMMIT``).
        """
        try:
            obj = self._repo[commit_id]
        except (KeyError, ValueError):
            raise NotFound(
                f"commit {commit_id} is not in the repository", reason="REVISION_NOT_FOUND", revision=commit_id
            ) from None
        if not isinstance(obj, pygit2.Commit):
            raise InvalidArgument(f"{commit_id} names a {obj.type_str}, not a commit", reason="NOT_A_COMMIT")
        try:
            entry = obj.tree[path]
        except KeyError:
            raise NotFound(f"path {path!r} does not exist at {commit_id}", reason="PATH_NOT_FOUND", path=path) from None
        blob = self._repo[entry.id]
        if not isinstance(blob, pygit2.Blob):
            raise NotFound(f"path {path!r} is not a file at {commit_id}", reason="NOT_A_FILE", path=path)
        return blob.data


class BlobBytes:
    """Blobs' contents by id, the most recently used kept up to ``max_bytes`` in all (a blob larger than a
    quarter of that is not kept). A blob id names its content in every repository, so one serves them all."""

    def __init__(self, max_bytes: int = 8 << 20) -> None:
        self.max_bytes = max_bytes
        self._data: dict[str, bytes] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size(self) -> int:
        """The bytes held."""
        return self._bytes

    def get(self, blob_id: str) -> bytes | None:
        data = self._data.pop(blob_id, None)
        if data is not None:
            self._data[blob_id] = data  # the most recently used last
        return data

    def put(self, blob_id: str, data: bytes) -> None:
        if len(data) > self.max_bytes // 4:
            return
        old = self._data.pop(blob_id, None)
        if old is not None:
            self._bytes -= len(old)
        self._data[blob_id] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            self._bytes -= len(self._data.pop(next(iter(self._data))))


def cache_blobs(max_blob_bytes: int) -> None:
    """Let libgit2 keep the blobs this process reads, up to ``max_blob_bytes`` each (0: none, libgit2's default),
    in its object cache (bounded in all by libgit2's total for the process, 256 MiB by default).

    Process-wide: for a process that reads most blobs more than once, as a history import's worker does (the
    tree diff of a commit reads both sides of each changed file, :meth:`RepositoryReader.read_blobs` reads them
    again for the semantic diff, and the next commit's old side is this one's new side).
    """
    pygit2.settings.cache_object_limit(_BLOB, max(0, max_blob_bytes))


def limit_object_cache(total_bytes: int) -> None:
    """Bound libgit2's object cache for this process at ``total_bytes`` (libgit2's own default: 256 MiB).

    Process-wide and shared by every repository the process opens. A server keeps it small: micro-commits
    read back only the few trees and commits near the branch heads, and each front process would otherwise
    hold up to 256 MiB of objects it will not read again.
    """
    pygit2.settings.cache_max_size(max(0, total_bytes))
