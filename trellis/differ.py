"""Semantic diffs of repository revisions: the vcs core's changed files fed to the diff engine.

``Differ`` owns the parse cache (bounded by bytes, keyed by blob id) and a
small LRU of finished diffs. Every commit's diff is computed once, off the
acknowledgement path, by the background indexer (``trellis.indexing``), which
shares this parse cache: so the new side of each micro-commit is parsed and
cached before the next one arrives, and ``Diff`` answers from the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from trellis import semantic_diff
from trellis.vcs import Store, unified_diff

__all__ = ["Differ", "CommitDiff"]


class CommitDiff:
    """A semantic diff between two commits, with optional unified line diffs per file (bytes, as the files hold them)."""

    __slots__ = ("line_diffs", "new_commit_id", "old_commit_id", "result")

    def __init__(
        self, old_commit_id: str, new_commit_id: str, result: semantic_diff.DiffResult, line_diffs: dict[str, bytes]
    ) -> None:
        self.old_commit_id = old_commit_id
        self.new_commit_id = new_commit_id
        self.result = result
        self.line_diffs = line_diffs


class Differ:
    def __init__(self, store: Store, *, cache_bytes: int = 256 * 1024 * 1024, results: int = 2048) -> None:
        self.store = store
        self.cache = semantic_diff.ParseCache(max_bytes=cache_bytes)
        self._results: OrderedDict[tuple[str, str, str, tuple[str, ...]], CommitDiff] = OrderedDict()
        self._max_results = results
        self._guard = threading.Lock()

    def diff(
        self,
        repository: str,
        old_revision: str,
        new_revision: str,
        paths: Sequence[str] = (),
        *,
        line_diff: bool = False,
    ) -> CommitDiff:
        # Resolve first: a repeated diff answers from the LRU without reading any file.
        old_id, new_id = self.store.diff_endpoints(repository, old_revision, new_revision)
        key = (repository, old_id, new_id, tuple(paths))
        with self._guard:
            cached = self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
        changed = None
        if cached is None or line_diff:
            changed = self.store.changed_files(repository, old_id, new_id, paths)
        if cached is None:
            assert changed is not None
            result = semantic_diff.diff_files(
                changed.old, changed.new, cache=self.cache, old_ids=changed.old_ids, new_ids=changed.new_ids
            )
            cached = CommitDiff(changed.old_commit_id, changed.new_commit_id, result, {})
            with self._guard:
                self._results[key] = cached
                while len(self._results) > self._max_results:
                    self._results.popitem(last=False)
        if not line_diff:
            return cached
        assert changed is not None
        lines = {}
        for file in cached.result.files:
            old = changed.old.get(file.old_path or file.path, b"")
            new = changed.new.get(file.path, b"") if file.status != "deleted" else b""
            lines[file.path] = unified_diff(old, new, file.old_path or file.path, file.path)
        return CommitDiff(cached.old_commit_id, cached.new_commit_id, cached.result, lines)
