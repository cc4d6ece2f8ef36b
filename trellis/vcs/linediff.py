"""Line diffs of two byte strings as git computes them (libgit2): the unified diff a reader sees, and the line
counts and hunks that the semantic diff and its incremental parse use. Plain values in, plain values out."""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

__all__ = ["Hunk", "LineChanges", "line_changes", "unified_diff"]


@dataclass(frozen=True, slots=True)
class Hunk:
    """Lines ``old_start``.. (``old_lines`` of them) became ``new_start``.. (``new_lines``), 1-based as git numbers
    them; a side with no lines gives the line before the hunk as its start."""

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int


@dataclass(frozen=True, slots=True)
class LineChanges:
    """Lines added and deleted, and the hunks without context lines."""

    additions: int
    deletions: int
    hunks: tuple[Hunk, ...]


def line_changes(old: bytes, new: bytes) -> LineChanges:
    """What turns ``old`` into ``new``, line by line (``git diff -U0``)."""
    patch = pygit2.Patch.create_from(old, new, context_lines=0)
    _, additions, deletions = patch.line_stats
    hunks = tuple(Hunk(h.old_start, h.old_lines, h.new_start, h.new_lines) for h in patch.hunks)
    return LineChanges(additions, deletions, hunks)


def unified_diff(old: bytes, new: bytes, old_path: str, path: str) -> bytes:
    """Git's unified diff of one file, as bytes (the files' own bytes: nothing decoded or replaced)."""
    patch = pygit2.Patch.create_from(old, new, old_as_path=old_path, new_as_path=path)
    return patch.data or b""
