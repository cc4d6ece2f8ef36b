"""Semantic diff: every change described as changes to functions, classes, methods and keys.

A tree-sitter engine that extracts *entities* from source files and keyed
documents and diffs two versions of a file set entity by entity, detecting
renames and moves (across files too) by normalised-body similarity. It is a
plain library: no I/O beyond its arguments, no environment, no transport.

Public API::

    diff_files(old, new, *, cache=None, old_ids=None, new_ids=None, renames=None,
               max_file_bytes=2 MiB, options=None) -> DiffResult
    extract_entities(path, content, *, cache=None, blob_id=None, max_file_bytes=2 MiB) -> ParsedFile
    extract_many(files, *, pool=None, workers=None, max_file_bytes=2 MiB) -> list[ParsedFile]
                                               the same, cold, across worker processes (``pool.py``)
    ExtractionPool(workers=None, *, min_bytes=256 KiB)   worker processes for cold extraction; also
                                               ``diff_files(..., pool=)`` for the files it parses from scratch
    language_for(path) -> str | None
    ParseCache(max_bytes=256 MiB)              thread-safe LRU of parses, keyed by blob id
    change_to_json(change) / file_to_json(file) / result_to_json(result) -> dict
    describe(change) -> str                    "~ modified method app.models.User.save (body)"
    merge_files(path, base, left, right, *, labels=("ours", "base", "theirs"), max_file_bytes=2 MiB,
                language=None, cache=None) -> FileMerge    structured three-way merge (docs/merge.md)
    merge_to_json(merge, *, content=False) / conflict_to_json(conflict) -> dict
    guess_language(*contents) -> str | None    for text whose file name does not say

Values: ``Entity``, ``ParsedFile``, ``EntityChange``, ``FileDiff``,
``DiffResult``, ``FileMerge``, ``ConflictRegion`` (frozen dataclasses). The vocabulary (kinds, change classes,
details, fallback reasons) is documented in ``docs/semantic-diff.md``.
"""

from typing import TYPE_CHECKING

from .cache import CacheStats, ParseCache
from .diff import diff_files, extract_entities, line_stats, module_name
from .errors import InvalidInput, SemanticDiffError
from .languages.registry import LANGUAGES, language_for
from .matching import MatchOptions
from .merge import ConflictRegion, FileMerge, conflict_to_json, guess_language, merge_files, merge_to_json
from .model import (
    CHANGE_KINDS,
    DiffResult,
    Entity,
    EntityChange,
    FileDiff,
    ParsedFile,
    change_to_json,
    describe,
    file_to_json,
    result_to_json,
)
from .parse import DEFAULT_MAX_FILE_BYTES, FALLBACK_REASONS
from .syntax import SyntaxCheck, SyntaxProblem, check_syntax

if TYPE_CHECKING:
    from .pool import ExtractionPool, extract_many, usable_cores

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_MAX_FILE_BYTES",
    "FALLBACK_REASONS",
    "CacheStats",
    "DiffResult",
    "Entity",
    "ExtractionPool",
    "EntityChange",
    "FileDiff",
    "FileMerge",
    "InvalidInput",
    "MatchOptions",
    "ConflictRegion",
    "ParseCache",
    "ParsedFile",
    "SemanticDiffError",
    "SyntaxCheck",
    "SyntaxProblem",
    "check_syntax",
    "change_to_json",
    "conflict_to_json",
    "describe",
    "diff_files",
    "extract_entities",
    "extract_many",
    "file_to_json",
    "guess_language",
    "language_for",
    "languages",
    "line_stats",
    "merge_files",
    "merge_to_json",
    "module_name",
    "result_to_json",
    "usable_cores",
]

_POOL_NAMES = ("ExtractionPool", "extract_many", "usable_cores")


def __getattr__(name: str) -> object:
    # Loaded on first use: multiprocessing costs a process that never extracts in parallel ~8 ms of start-up.
    if name in _POOL_NAMES:
        from . import pool

        return getattr(pool, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def languages() -> tuple[str, ...]:
    """Names of the registered languages."""
    return tuple(spec.name for spec in LANGUAGES)
