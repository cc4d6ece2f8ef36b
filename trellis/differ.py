"""Semantic diffs of repository revisions: the vcs core's changed files fed to the diff engine.

``Differ`` owns the parse cache (bounded by bytes, keyed by blob id) and an
LRU of finished diffs, bounded by bytes too (estimated: a diff of a branch
against its base grows with every file the branch changed, so a count of
diffs bounds nothing). Every commit's diff is computed once, off the
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


def result_cost(result: semantic_diff.DiffResult) -> int:
    """Bytes a finished diff holds, estimated (measured: ~425 bytes per file with one entity change)."""
    return 512 + 256 * len(result.files) + 320 * (len(result.changes) + len(result.carried))


class Differ:
    def __init__(
        self, store: Store, *, cache_bytes: int = 256 * 1024 * 1024, results_bytes: int = 16 * 1024 * 1024
    ) -> None:
        self.store = store
        self.cache = semantic_diff.ParseCache(max_bytes=cache_bytes)
        self._results: OrderedDict[tuple[str, str, str, tuple[str, ...]], tuple[CommitDiff, int]] = OrderedDict()
        self._results_bytes = 0
        self.max_results_bytes = results_bytes
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
            entry = self._results.get(key)
            cached = entry[0] if entry is not None else None
            if entry is not None:
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
            self._remember(key, cached)
        if not line_diff:
            return cached
        assert changed is not None
        lines = {}
        for file in cached.result.files:
            old = changed.old.get(file.old_path or file.path, b"")
            new = changed.new.get(file.path, b"") if file.status != "deleted" else b""
            lines[file.path] = unified_diff(old, new, file.old_path or file.path, file.path)
        return CommitDiff(cached.old_commit_id, cached.new_commit_id, cached.result, lines)

    def _remember(self, key: tuple[str, str, str, tuple[str, ...]], done: CommitDiff) -> None:
        cost = result_cost(done.result)
        with self._guard:
            old = self._results.pop(key, None)
            if old is not None:
                self._results_bytes -= old[1]
            if cost > self.max_results_bytes:
                return
            self._results[key] = (done, cost)
            self._results_bytes += cost
            while self._results_bytes > self.max_results_bytes:
                _, (_, evicted) = self._results.popitem(last=False)
                self._results_bytes -= evicted

    def results_held(self) -> tuple[int, int]:
        """Finished diffs kept, and their estimated bytes."""
        with self._guard:
            return len(self._results), self._results_bytes
