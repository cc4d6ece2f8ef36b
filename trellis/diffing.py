"""Semantic diffs of repository revisions: the vcs core's changed files fed to the diff engine.

``Differ`` owns the parse cache (bounded by bytes, keyed by blob id) and a
small LRU of finished diffs. After every acknowledged commit the server calls
``submit``; a background thread computes the commit's diff against its parent
off the acknowledgement path, which also leaves the new side's parses in the
cache for the next micro-commit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import pygit2

import semantic_diff
from vcs import Store, VcsError

__all__ = ["Differ", "RevisionDiff"]

log = logging.getLogger("trellis.diff")


class RevisionDiff:
    """A semantic diff between two commits, with optional unified line diffs per file."""

    __slots__ = ("line_diffs", "new_commit_id", "old_commit_id", "result")

    def __init__(self, old_commit_id: str, new_commit_id: str, result: semantic_diff.DiffResult,
                 line_diffs: dict[str, str]) -> None:
        self.old_commit_id = old_commit_id
        self.new_commit_id = new_commit_id
        self.result = result
        self.line_diffs = line_diffs


class Differ:
    def __init__(self, store: Store, *, cache_bytes: int = 256 * 1024 * 1024, results: int = 2048,
                 on_diff: Callable[[str, str, RevisionDiff], None] | None = None) -> None:
        self.store = store
        self.cache = semantic_diff.ParseCache(max_bytes=cache_bytes)
        self._results: OrderedDict[tuple[str, str, str, tuple[str, ...]], RevisionDiff] = OrderedDict()
        self._max_results = results
        self._guard = threading.Lock()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._on_diff = on_diff
        self._worker = threading.Thread(target=self._run, name="trellis-differ", daemon=True)
        self._worker.start()

    def diff(self, repository: str, old_revision: str, new_revision: str, paths: Sequence[str] = (),
             *, line_diff: bool = False) -> RevisionDiff:
        changed = self.store.changed_files(repository, old_revision, new_revision, paths)
        key = (repository, changed.old_commit_id, changed.new_commit_id, tuple(paths))
        with self._guard:
            cached = self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
        if cached is None:
            result = semantic_diff.diff_files(changed.old, changed.new, cache=self.cache,
                                              old_ids=changed.old_ids, new_ids=changed.new_ids)
            cached = RevisionDiff(changed.old_commit_id, changed.new_commit_id, result, {})
            with self._guard:
                self._results[key] = cached
                while len(self._results) > self._max_results:
                    self._results.popitem(last=False)
        if not line_diff:
            return cached
        lines = {}
        for file in cached.result.files:
            old = changed.old.get(file.old_path or file.path, b"")
            new = changed.new.get(file.path, b"") if file.status != "deleted" else b""
            patch = pygit2.Patch.create_from(old, new, old_as_path=file.old_path or file.path, new_as_path=file.path)
            lines[file.path] = patch.text or ""
        return RevisionDiff(cached.old_commit_id, cached.new_commit_id, cached.result, lines)

    # -- background ----------------------------------------------------------

    def submit(self, repository: str, commit_id: str) -> None:
        """Diff ``commit_id`` against its parent in the background (never blocks the caller)."""
        self._queue.put((repository, commit_id))

    def drain(self) -> None:
        """Wait until every submitted diff is done (tests, shutdown)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                repository, commit_id = item
                try:
                    done = self.diff(repository, "", commit_id)
                except VcsError:
                    continue  # the repository was deleted meanwhile
                except Exception:  # noqa: BLE001 - a diff failure must never take the server down
                    log.exception("semantic diff of %s@%s failed", repository, commit_id)
                    continue
                if self._on_diff is not None:
                    self._on_diff(repository, commit_id, done)
            finally:
                self._queue.task_done()
