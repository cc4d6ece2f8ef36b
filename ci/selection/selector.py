"""Affected-test selection for ``pytest`` stages, over the trees of a repository.

Wraps :mod:`ci.selection.index` for the engine: the test index of a tree is built
from its Python files and pytest configuration (read from git, per-file facts
cached by content so a micro-commit re-reads one file), kept per tree id, and
asked which tests can reach a commit's semantic changes, with the parent's
index for what was removed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import pygit2

import semantic_diff

from .file_rules import is_config
from .index import FactCache, Selection, TestIndex, changes_from_diff, missed_failures

__all__ = ["TestSelector"]



def _tree_files(repo: pygit2.Repository, tree: pygit2.Tree) -> dict[str, bytes]:
    """Python files and pytest configuration of a tree; other paths with empty content (their names count)."""
    files: dict[str, bytes] = {}
    stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while stack:
        prefix, node = stack.pop()
        for entry in node:
            path = f"{prefix}{entry.name}"
            if entry.type_str == "tree":
                sub = repo[entry.id]
                assert isinstance(sub, pygit2.Tree)
                stack.append((path + "/", sub))
            elif entry.type_str == "blob":
                wanted = path.endswith(".py") or is_config(path)
                blob = repo[entry.id] if wanted else None
                files[path] = blob.data if isinstance(blob, pygit2.Blob) else b""
    return files


class TestSelector:
    __test__ = False  # not a pytest test class

    def __init__(self, *, trees: int = 32) -> None:
        self._facts = FactCache()
        self._indexes: OrderedDict[str, TestIndex] = OrderedDict()
        self._max = trees
        self._guard = threading.Lock()

    def index(self, repo: pygit2.Repository, tree_id: str) -> TestIndex:
        with self._guard:
            found = self._indexes.get(tree_id)
            if found is not None:
                self._indexes.move_to_end(tree_id)
                return found
        tree = repo[tree_id]
        assert isinstance(tree, pygit2.Tree)
        built = TestIndex.build(_tree_files(repo, tree), cache=self._facts)
        with self._guard:
            self._indexes[tree_id] = built
            while len(self._indexes) > self._max:
                self._indexes.popitem(last=False)
        return built

    def select(self, repo: pygit2.Repository, tree_id: str, old_tree_id: str, diff: semantic_diff.DiffResult, *,
               inert: Sequence[str] = (), always_full: Sequence[str] = (), args: Sequence[str] = (),
               environment_changed: str = "") -> Selection:
        """The tests of ``tree_id`` that can observe ``diff`` (from ``old_tree_id``; "" for none).

        ``inert`` / ``always_full``: the stage's globs, ``args`` its pytest arguments,
        ``environment_changed`` a file that changed what its environment installs (see
        :meth:`TestIndex.select`).
        """
        index = self.index(repo, tree_id)
        old = self.index(repo, old_tree_id) if old_tree_id else None
        return index.select(changes_from_diff(diff), old_index=old, inert=inert, always_full=always_full,
                            args=args, environment_changed=environment_changed)

    @staticmethod
    def missed(selection: Selection, full_results: Mapping[str, str]) -> tuple[str, ...]:
        return missed_failures(selection, full_results)
