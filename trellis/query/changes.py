"""What one commit changed: its rows for ``commits``, ``commit_parents``, ``file_changes``
and ``entity_changes``.

Pure functions of a repository and a commit id (plus the entity differ), so
they run the same in the indexer's thread and in a worker process (history
import). Diffs are against the first parent, with rename detection; merges
therefore show what they brought into the first parent's line.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .languages import language_for_path

if TYPE_CHECKING:
    from trellis.vcs import BlobBytes, CommitDelta, RepositoryReader

__all__ = [
    "MAX_ENTITY_DIFF_BYTES",
    "MAX_ENTITY_DIFF_TOTAL",
    "CommitRows",
    "EntityDiffer",
    "SemanticDiffer",
    "commit_rows",
    "default_entity_differ",
    "entity_rows",
]

log = logging.getLogger(__name__)

# Files larger than this are not given to the semantic diff (file rows still are),
# nor files past this total per commit (a vendored tree landing in one commit).
MAX_ENTITY_DIFF_BYTES = 1024 * 1024
MAX_ENTITY_DIFF_TOTAL = 64 * 1024 * 1024

_REGULAR = {0o100644, 0o100755}  # git's modes of a file and an executable file


class EntityDiffer(Protocol):
    """The semantic diff of a set of files: ``{path: bytes}`` before and after.

    Returns objects with the attributes of ``semantic_diff.EntityChange``:
    ``path, old_path, kind, qualname, old_qualname, change, details,
    old_start_line, old_end_line, new_start_line, new_end_line, similarity``.
    ``old_ids`` / ``new_ids`` give each file's blob id (a parse-cache key);
    ``renames`` the file renames git detected (old path -> new path).
    """

    def __call__(
        self,
        old: Mapping[str, bytes],
        new: Mapping[str, bytes],
        *,
        old_ids: Mapping[str, str],
        new_ids: Mapping[str, str],
        renames: Mapping[str, str],
    ) -> Sequence[Any]: ...


class SemanticDiffer:
    """:class:`EntityDiffer` over ``semantic_diff.diff_files`` (picklable: workers rebuild the cache, and extract in
    their own process)."""

    def __init__(self) -> None:
        self._cache: Any = None
        self._module: Any = None
        self._pool: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._cache = None
        self._module = None
        self._pool = None

    @contextmanager
    def extracting(self, workers: int) -> Iterator[None]:
        """Within: the files a diff parses from scratch, when they are many, are parsed in ``workers`` processes
        (``semantic_diff.ExtractionPool``: started on first need, stopped on leaving; the same rows)."""
        if workers <= 1 or self._pool is not None:
            yield
            return
        self._load()
        make = getattr(self._module, "ExtractionPool", None)
        self._pool = make(workers) if make is not None else None
        try:
            yield
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.close()

    def _load(self) -> None:
        if self._module is None:
            self._module = importlib.import_module("trellis.semantic_diff")
            cache_type = getattr(self._module, "ParseCache", None)
            if cache_type is not None:
                try:
                    self._cache = cache_type()
                except TypeError:
                    self._cache = None

    def __call__(
        self,
        old: Mapping[str, bytes],
        new: Mapping[str, bytes],
        *,
        old_ids: Mapping[str, str],
        new_ids: Mapping[str, str],
        renames: Mapping[str, str],
    ) -> Sequence[Any]:
        self._load()
        kwargs: dict[str, Any] = {"old_ids": old_ids, "new_ids": new_ids}
        if renames:
            kwargs["renames"] = renames
        if self._cache is not None:
            kwargs["cache"] = self._cache
        if self._pool is not None:
            kwargs["pool"] = self._pool
        result = self._module.diff_files(old, new, **kwargs)
        # Members carried along by a renamed or moved class are rows too (marked ``follows``).
        return tuple(getattr(result, "changes", result)) + tuple(getattr(result, "carried", ()))


def default_entity_differ() -> EntityDiffer | None:
    """The semantic diff engine if it is installed (``semantic_diff.diff_files``), else ``None``.

    An engine already imported is checked; otherwise finding it is enough, and it loads on the first diff (an
    index that is up to date, as for a query, never pays for importing tree-sitter)."""
    module = sys.modules.get("trellis.semantic_diff", False)
    if module is False:
        try:
            found = importlib.util.find_spec("trellis.semantic_diff") is not None
        except (ImportError, ValueError):
            found = False
        return SemanticDiffer() if found else None
    if module is None or not callable(getattr(module, "diff_files", None)):
        return None
    return SemanticDiffer()


@dataclass(slots=True)
class CommitRows:
    """Rows of one commit, in the column order of :mod:`trellis.query.schema`."""

    commit: tuple[Any, ...]
    parents: list[tuple[Any, ...]] = field(default_factory=list)
    files: list[tuple[Any, ...]] = field(default_factory=list)
    entities: list[tuple[Any, ...]] = field(default_factory=list)
    entity_state: str = "unavailable"


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def commit_rows(
    repo: RepositoryReader,
    repository: str,
    commit_id: str,
    differ: EntityDiffer | None,
    *,
    written: CommitDelta | None = None,
    kept: BlobBytes | None = None,
) -> CommitRows:
    """Every row commit ``commit_id`` contributes to the index.

    ``written``: what the commit's write handed over (:class:`trellis.vcs.CommitDelta`); its files are taken
    for the diff against the parent where they decide it (:meth:`~trellis.vcs.RepositoryReader.written_diff`:
    the same rows, without reading the trees or the blobs it holds), else git's diff is read as without one.
    ``kept``: blobs' contents shared between commits (a file's new side is its next change's old side)."""
    handed = None
    if written is not None and written.commit.commit_id == commit_id and len(written.commit.parent_ids) == 1:
        handed = repo.written_diff(written.files, kept)
    commit = written.commit if written is not None and handed is not None else repo.commit(commit_id)
    parent_id = commit.parent_ids[0] if commit.parent_ids else None
    files: list[tuple[Any, ...]] = []
    old_ids: dict[str, str] = {}
    new_ids: dict[str, str] = {}
    renames: dict[str, str] = {}
    budget = MAX_ENTITY_DIFF_TOTAL
    total_add = total_del = 0
    # (without a handed delta: the commit, just read, names its tree)
    for delta in handed if handed is not None else repo.diff(parent_id, commit_id):
        status = delta.status
        added, deleted = status == "added", status == "deleted"
        binary = delta.binary
        additions, deletions = delta.additions, delta.deletions
        total_add += additions
        total_del += deletions
        path = delta.old_path if deleted else delta.new_path
        files.append(
            (
                repository,
                commit_id,
                parent_id,
                status,
                None if added else delta.old_path,
                path,
                None if added else delta.old_id,
                None if deleted else delta.new_id,
                None if added else delta.old_mode,
                None if deleted else delta.new_mode,
                additions,
                deletions,
                delta.similarity if status in ("renamed", "copied") else None,
                language_for_path(path),
                binary,
            )
        )
        if differ is None or binary:
            continue
        if status == "renamed":
            renames[delta.old_path] = delta.new_path
        if budget <= 0:
            continue
        if not added and status != "copied" and delta.old_mode in _REGULAR and delta.old_size <= MAX_ENTITY_DIFF_BYTES:
            old_ids[delta.old_path] = delta.old_id
            budget -= delta.old_size
        if not deleted and delta.new_mode in _REGULAR and delta.new_size <= MAX_ENTITY_DIFF_BYTES:
            new_ids[delta.new_path] = delta.new_id
            budget -= delta.new_size
    files.sort(key=lambda r: (r[5], r[4] or ""))

    entities: list[tuple[Any, ...]] = []
    state = "unavailable"
    if differ is not None:
        state = "indexed"
        if old_ids or new_ids:
            contents = repo.read_blobs({*old_ids.values(), *new_ids.values()})
            old_files = {path: contents[blob_id] for path, blob_id in old_ids.items()}
            new_files = {path: contents[blob_id] for path, blob_id in new_ids.items()}
            try:
                changes = differ(old_files, new_files, old_ids=old_ids, new_ids=new_ids, renames=renames)
                entities = entity_rows(repository, commit_id, parent_id, changes)
            except Exception:  # the semantic diff must never stop indexing
                log.exception("semantic diff failed for %s in %s", commit_id, repository)
                entities, state = [], "failed"

    message = commit.message
    trailers = commit.trailers
    author, committer = commit.author, commit.committer
    row = (
        repository,
        commit_id,
        commit.tree_id,
        author.name,
        author.email,
        author.time * 1_000_000,
        author.offset_minutes,
        committer.name,
        committer.email,
        committer.time * 1_000_000,
        committer.offset_minutes,
        message,
        message.strip().split("\n", 1)[0] if message.strip() else "",
        trailers.get("Trellis-Agent"),
        trailers.get("Trellis-Session"),
        _int_or_none(trailers.get("Trellis-Step")),
        trailers.get("Trellis-Request"),
        len(commit.parent_ids),
        parent_id,
        len(files),
        total_add,
        total_del,
        len(entities) if state == "indexed" else None,
    )
    parents = [(repository, commit_id, p, i) for i, p in enumerate(commit.parent_ids)]
    return CommitRows(row, parents, files, entities, state)


def _text(value: Any) -> str | None:
    """A name as text; ``None`` (NULL) for a missing one (the engine writes "" for "none")."""
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    text = str(value)
    return text or None


def _line(value: Any) -> int | None:
    """A 1-based line; ``None`` (NULL) on the side where the entity does not exist (the engine's 0)."""
    if value is None:
        return None
    number = int(value)
    return number if number > 0 else None


def entity_rows(
    repository: str, commit_id: str, parent_id: str | None, changes: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """``entity_changes`` rows from semantic diff changes (duck-typed ``EntityChange`` values)."""
    rows: list[tuple[Any, ...]] = []
    for ordinal, ch in enumerate(changes):
        path = _text(getattr(ch, "path", None))
        details = getattr(ch, "details", None) or ()
        similarity = getattr(ch, "similarity", None)
        rows.append(
            (
                repository,
                commit_id,
                parent_id,
                ordinal,
                path,
                _text(getattr(ch, "old_path", None)),
                _text(getattr(ch, "kind", None)),
                _text(getattr(ch, "qualname", None)),
                _text(getattr(ch, "old_qualname", None)),
                _text(getattr(ch, "change", None)),
                [t for t in (_text(d) for d in details) if t is not None],
                _line(getattr(ch, "old_start_line", None)),
                _line(getattr(ch, "old_end_line", None)),
                _line(getattr(ch, "new_start_line", None)),
                _line(getattr(ch, "new_end_line", None)),
                None if similarity is None else float(similarity),
                language_for_path(path) if path else None,
                _text(getattr(ch, "follows", None)),
            )
        )
    return rows
