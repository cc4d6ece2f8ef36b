"""Affected-test selection for ``pytest`` stages, over the trees of a repository.

Wraps :mod:`trellis.ci.selection.index` for the engine: the test index of a tree is built
from its Python files and pytest configuration (read from git, per-file facts
cached by content so a micro-commit re-reads one file), kept per tree id, and
asked which tests can reach a commit's semantic changes, with the parent's
index for what was removed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

from trellis import semantic_diff, vcs

from .file_rules import is_config
from .index import FactCache, Selection, TestIndex, changes_from_diff, missed_failures

__all__ = ["TestSelector"]


def _tree_entries(store: vcs.Store, repository: str, tree_id: str) -> dict[str, str | None]:
    """Every file of a tree: the blob id of Python files and pytest configuration, None for the others
    (only their names count)."""
    return {
        path: blob if path.endswith(".py") or is_config(path) else None
        for path, blob in store.tree_blobs(repository, tree_id).items()
    }


def _index_key(entries: Mapping[str, str | None]) -> bytes:
    """What a tree's index depends on: the paths, and the content of its Python and configuration files."""
    digest = hashlib.blake2b(digest_size=20)
    for path in sorted(entries):
        oid = entries[path]
        digest.update(f"{path}\0{oid if oid is not None else ''}\n".encode())
    return digest.digest()


def _read(store: vcs.Store, repository: str, entries: Mapping[str, str | None]) -> dict[str, bytes]:
    return {
        path: (store.read_blob(repository, oid) or b"") if oid is not None else b"" for path, oid in entries.items()
    }


class TestSelector:
    __test__ = False  # not a pytest test class

    def __init__(self, *, trees: int = 32) -> None:
        self._facts = FactCache()
        self._indexes: OrderedDict[str, TestIndex] = OrderedDict()
        self._by_content: OrderedDict[bytes, TestIndex] = OrderedDict()
        self._max = trees
        self._guard = threading.Lock()

    def index(self, store: vcs.Store, repository: str, tree_id: str) -> TestIndex:
        """The test index of a tree; a tree whose paths, Python files and configuration equal another's
        (a commit that edited only docs or data) shares that tree's index instead of building its own."""
        with self._guard:
            found = self._indexes.get(tree_id)
            if found is not None:
                self._indexes.move_to_end(tree_id)
                return found
        entries = _tree_entries(store, repository, tree_id)
        key = _index_key(entries)
        with self._guard:
            built = self._by_content.get(key)
        if built is None:
            built = TestIndex.build(_read(store, repository, entries), cache=self._facts)
        with self._guard:
            self._indexes[tree_id] = built
            self._by_content[key] = built
            self._by_content.move_to_end(key)
            while len(self._indexes) > self._max:
                self._indexes.popitem(last=False)
            while len(self._by_content) > self._max:
                self._by_content.popitem(last=False)
        return built

    def select(
        self,
        store: vcs.Store,
        repository: str,
        tree_id: str,
        old_tree_id: str,
        diff: semantic_diff.DiffResult,
        *,
        inert: Sequence[str] = (),
        always_full: Sequence[str] = (),
        args: Sequence[str] = (),
        environment_changed: str = "",
        load_tests: bool = False,
    ) -> Selection:
        """The tests of ``tree_id`` that can observe ``diff`` (from ``old_tree_id``; "" for none).

        ``inert`` / ``always_full``: the stage's globs, ``args`` its pytest arguments,
        ``environment_changed`` a file that changed what its environment installs, ``load_tests``
        whether it honours unittest's ``load_tests`` (see :meth:`TestIndex.select`).
        """
        index = self.index(store, repository, tree_id)
        old = self.index(store, repository, old_tree_id) if old_tree_id else None
        return index.select(
            changes_from_diff(diff),
            old_index=old,
            inert=inert,
            always_full=always_full,
            args=args,
            environment_changed=environment_changed,
            load_tests=load_tests,
        )

    @staticmethod
    def missed(selection: Selection, full_results: Mapping[str, str]) -> tuple[str, ...]:
        return missed_failures(selection, full_results)
