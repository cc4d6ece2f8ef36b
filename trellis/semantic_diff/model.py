"""The values the semantic diff returns: plain frozen dataclasses, and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHANGE_KINDS",
    "DiffResult",
    "Entity",
    "EntityChange",
    "FileDiff",
    "ParsedFile",
    "change_to_json",
    "describe",
    "file_to_json",
    "result_to_json",
]

CHANGE_KINDS = ("added", "removed", "modified", "renamed", "moved", "moved_renamed")


@dataclass(frozen=True, slots=True)
class Entity:
    """A code entity (module, class, function, method, …) or a key of a keyed document.

    Lines are 1-based and inclusive; bytes are a half-open ``[start_byte, end_byte)``.
    ``normalized_hash`` covers the entity's own tokens (signature, decorators,
    body, docstring) without whitespace, comments, its name or nested entities;
    ``body_hash`` the body part alone; ``text_hash`` the raw text of the same
    tokens including whitespace and comments.
    """

    kind: str
    name: str
    qualname: str
    path: str
    language: str
    start_byte: int
    end_byte: int
    start_line: int
    end_line: int
    signature: str
    parameters: tuple[str, ...]
    docstring: str
    body_hash: str
    normalized_hash: str
    text_hash: str
    parent_qualname: str


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The entities of one file, or the reason it has none (``fallback_reason``)."""

    path: str
    language: str
    fallback_reason: str
    entities: tuple[Entity, ...]


@dataclass(frozen=True, slots=True)
class EntityChange:
    """One entity-level change.

    ``path`` / ``qualname`` name the entity after the change (before it, for a
    removal); ``old_path`` / ``old_qualname`` before the change ("" for an
    addition). Line spans are 1-based, inclusive, 0 on the side where the
    entity does not exist. ``similarity`` is the normalised-token similarity
    that paired a renamed or moved entity (1.0 when paired by name, 0.0 for
    added and removed). ``follows`` is set on an entity that did not move by
    itself but went along with a renamed or moved container (a class): that
    container's qualified name after the change ("" otherwise).
    """

    path: str
    old_path: str
    kind: str
    qualname: str
    old_qualname: str
    change: str
    details: tuple[str, ...]
    old_start_line: int
    old_end_line: int
    new_start_line: int
    new_end_line: int
    similarity: float
    follows: str = ""


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One changed file. ``fallback_reason`` is "" when the file was diffed entity by entity."""

    path: str
    old_path: str
    status: str  # added | deleted | modified | renamed
    language: str  # "" when unsupported
    additions: int
    deletions: int
    binary: bool
    fallback_reason: str

    @property
    def entity_level(self) -> bool:
        return not self.fallback_reason


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The semantic diff of a set of files: files sorted by path, changes by path and line.

    ``carried`` lists the members that went along with a renamed or moved class
    without changing themselves (``change`` "moved", ``follows`` the class): not
    changes of their own, so not in ``changes``, but the index records them so that
    a member's history crosses its class's rename.
    """

    files: tuple[FileDiff, ...]
    changes: tuple[EntityChange, ...]
    carried: tuple[EntityChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.files and not self.changes


def change_to_json(change: EntityChange) -> dict[str, Any]:
    """The ``--json`` / API form of a change (key order is stable)."""
    return {
        "path": change.path,
        "old_path": change.old_path,
        "kind": change.kind,
        "qualname": change.qualname,
        "old_qualname": change.old_qualname,
        "change": change.change,
        "details": list(change.details),
        "old_lines": [change.old_start_line, change.old_end_line],
        "new_lines": [change.new_start_line, change.new_end_line],
        "similarity": change.similarity,
        "follows": change.follows,
    }


def file_to_json(file: FileDiff) -> dict[str, Any]:
    return {
        "path": file.path,
        "old_path": file.old_path,
        "status": file.status,
        "language": file.language,
        "additions": file.additions,
        "deletions": file.deletions,
        "binary": file.binary,
        "fallback_reason": file.fallback_reason,
    }


def result_to_json(result: DiffResult) -> dict[str, Any]:
    return {"files": [file_to_json(f) for f in result.files], "changes": [change_to_json(c) for c in result.changes]}


_SYMBOLS = {"added": "+", "removed": "-", "modified": "~", "renamed": "→", "moved": "→", "moved_renamed": "→"}


def describe(change: EntityChange) -> str:
    """One human-readable line, e.g. ``~ modified method app.models.User.save (body)``."""
    symbol = _SYMBOLS.get(change.change, "?")
    verb = change.change.replace("_", " and ")
    if change.change in ("renamed", "moved", "moved_renamed"):
        what = f"{change.old_qualname} → {change.qualname}"
        if change.path != change.old_path:
            what += f" ({change.old_path} → {change.path})"
    else:
        what = change.qualname
    details = f" ({', '.join(change.details)})" if change.details else ""
    return f"{symbol} {verb} {change.kind} {what}{details}"
