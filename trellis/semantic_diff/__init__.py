"""Semantic diff: every change described as changes to functions, classes, methods and keys.

A tree-sitter engine that extracts *entities* from source files and keyed
documents and diffs two versions of a file set entity by entity, detecting
renames and moves (across files too) by normalised-body similarity. It is a
plain library: no I/O beyond its arguments, no environment, no transport.

Public API::

    diff_files(old, new, *, cache=None, old_ids=None, new_ids=None, renames=None,
               max_file_bytes=2 MiB, options=None) -> DiffResult
    extract_entities(path, content, *, cache=None, blob_id=None, max_file_bytes=2 MiB) -> ParsedFile
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

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_MAX_FILE_BYTES",
    "FALLBACK_REASONS",
    "CacheStats",
    "DiffResult",
    "Entity",
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
    "file_to_json",
    "guess_language",
    "language_for",
    "languages",
    "line_stats",
    "merge_files",
    "merge_to_json",
    "module_name",
    "result_to_json",
]


def languages() -> tuple[str, ...]:
    """Names of the registered languages."""
    return tuple(spec.name for spec in LANGUAGES)
