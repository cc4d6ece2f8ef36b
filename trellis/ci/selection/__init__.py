"""Test selection: which pytest items can observe a change, and which results can be reused.

``index`` is the entry point (:class:`TestIndex`, :class:`Selection`); it
builds on ``python_refs`` (one file's facts, read with ``ast``) and
``python_calls`` (what well-known calls mean), ``ref_graph`` (the tree's
reference graph), ``pytest_config`` and ``pytest_collect`` (what pytest
collects) and ``file_rules`` (non-Python files). ``selector`` serves the
engine over a repository's trees; ``reuse`` keys per-test results by their
dependency closure. See docs/test-selection.md.
"""

from __future__ import annotations

from .index import (
    Change,
    ChangedEntity,
    ChangedPath,
    FactCache,
    Selection,
    TestIndex,
    changes_from_diff,
    missed_failures,
)

__all__ = [
    "Change",
    "ChangedEntity",
    "ChangedPath",
    "FactCache",
    "Selection",
    "TestIndex",
    "changes_from_diff",
    "missed_failures",
]
