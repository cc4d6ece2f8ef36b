"""The values a merge returns: plain frozen dataclasses, and their JSON form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..parse import FALLBACK_REASONS

__all__ = ["MERGE_FALLBACK_REASONS", "STRATEGIES", "FileMerge", "ConflictRegion", "conflict_to_json", "merge_to_json"]

STRATEGIES = ("structured", "line", "trivial")

# Why a merge was made line by line: the semantic diff's vocabulary, plus one of the merge's own.
MERGE_FALLBACK_REASONS = {
    **FALLBACK_REASONS,
    "unverified": "the structured result did not re-parse or lost a change of one side, so the line merge was used",
    "duplicate_names": "the structured merge conflicted only on entities whose name the base defines more than once "
    "(functions of nested callbacks), so the clean line merge was used",
}


@dataclass(frozen=True, slots=True)
class ConflictRegion:
    """One conflict, confined to one entity (or, for a line merge, one hunk).

    ``qualname`` / ``entity_kind`` name the entity ("" for a line-level hunk);
    ``base`` / ``left`` / ``right`` hold just that entity (or hunk) as each
    version has it, ``b""`` where it is absent; ``markers`` is that region
    rendered with diff3-style conflict markers, as it appears in the merged file.
    """

    path: str
    qualname: str
    entity_kind: str
    base: bytes
    left: bytes
    right: bytes
    markers: bytes


@dataclass(frozen=True, slots=True)
class FileMerge:
    """The three-way merge of one file.

    ``strategy`` is ``structured`` (entity by entity), ``line`` (a line merge,
    ``fallback_reason`` says why) or ``trivial`` (one side unchanged, both
    sides identical, or a deleted file). ``content`` is the merged file when
    ``clean``, the file with conflict markers when not, and None when the
    merge deletes the file.
    """

    path: str
    language: str
    strategy: str
    fallback_reason: str
    clean: bool
    content: bytes | None
    conflicts: tuple[ConflictRegion, ...]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def conflict_to_json(conflict: ConflictRegion) -> dict[str, Any]:
    """The JSON form of a conflict (texts decoded as UTF-8, invalid bytes replaced)."""
    return {
        "path": conflict.path,
        "qualname": conflict.qualname,
        "kind": conflict.entity_kind,
        "base": _text(conflict.base),
        "left": _text(conflict.left),
        "right": _text(conflict.right),
        "markers": _text(conflict.markers),
    }


def merge_to_json(merge: FileMerge, *, content: bool = False) -> dict[str, Any]:
    """The ``--json`` form of a merge (key order is stable); the merged text only when ``content``."""
    out: dict[str, Any] = {
        "path": merge.path,
        "language": merge.language,
        "strategy": merge.strategy,
        "fallback_reason": merge.fallback_reason,
        "clean": merge.clean,
        "deleted": merge.content is None,
        "conflicts": [conflict_to_json(c) for c in merge.conflicts],
    }
    if content:
        out["content"] = None if merge.content is None else _text(merge.content)
    return out
