"""Structured three-way merge: two versions of a file made from a common base, merged entity by entity.

Public API::

    merge_files(path, base, left, right, *, labels=("ours", "base", "theirs"),
                max_file_bytes=2 MiB, language=None) -> FileMerge
    merge_to_json(merge, *, content=False) / conflict_to_json(conflict) -> dict
    guess_language(*contents) -> str | None     a language for files whose name does not say

See ``docs/merge.md``.
"""

from .files import merge_files
from .model import MERGE_FALLBACK_REASONS, STRATEGIES, ConflictRegion, FileMerge, conflict_to_json, merge_to_json
from .sniff import guess_language

__all__ = [
    "MERGE_FALLBACK_REASONS",
    "STRATEGIES",
    "FileMerge",
    "ConflictRegion",
    "conflict_to_json",
    "guess_language",
    "merge_files",
    "merge_to_json",
]
