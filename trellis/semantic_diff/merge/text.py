"""Lines, diff3-style conflict markers, and the line-level three-way merge (``merge3``)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import merge3

__all__ = ["Hunk", "Markers", "line_merge", "merge_sequences", "newline_of", "split_lines"]

T = TypeVar("T", bound=bytes)


def split_lines(data: bytes) -> list[bytes]:
    """The lines of ``data``, each with its ``\\n`` (the last one without, if the text has none)."""
    if not data:
        return []
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def newline_of(*texts: bytes | None) -> bytes:
    """``\\r\\n`` when the first line of the first non-empty text ends so, else ``\\n``."""
    for text in texts:
        if text:
            nl = text.find(b"\n")
            return b"\r\n" if nl > 0 and text[nl - 1 : nl] == b"\r" else b"\n"
    return b"\n"


@dataclass(frozen=True, slots=True)
class Markers:
    """diff3-style conflict markers with their labels (``<<<<<<< ours`` … ``>>>>>>> theirs``)."""

    ours: bytes = b"ours"
    base: bytes = b"base"
    theirs: bytes = b"theirs"
    newline: bytes = b"\n"

    @staticmethod
    def of(labels: tuple[str, str, str], newline: bytes) -> Markers:
        ours, base, theirs = (label.encode("utf-8", "replace") for label in labels)
        return Markers(ours, base, theirs, newline)

    def _line(self, marker: bytes, label: bytes) -> bytes:
        return marker + (b" " + label if label else b"") + self.newline

    def _part(self, text: bytes) -> bytes:
        return text if not text or text.endswith(b"\n") else text + self.newline

    def block(self, left: bytes, base: bytes, right: bytes) -> bytes:
        """One conflict: ours, then the base, then theirs; every part ends with a line break."""
        return b"".join(
            (
                self._line(b"<<<<<<<", self.ours),
                self._part(left),
                self._line(b"|||||||", self.base),
                self._part(base),
                b"=======" + self.newline,
                self._part(right),
                self._line(b">>>>>>>", self.theirs),
            )
        )


class _NoJunk(difflib.SequenceMatcher[Any]):
    """difflib without the "popular lines are junk" heuristic, which misaligns blank lines."""

    def __init__(
        self,
        isjunk: Callable[[Any], bool] | None = None,
        a: Sequence[Any] = (),
        b: Sequence[Any] = (),
        autojunk: bool = False,
    ) -> None:
        super().__init__(None, a, b, autojunk=False)


# A merged sequence: runs taken as they are, and conflicts as (base, left, right).
Group = tuple[str, Sequence[T]] | tuple[str, Sequence[T], Sequence[T], Sequence[T]]


def merge_sequences(base: Sequence[T], left: Sequence[T], right: Sequence[T]) -> list[Any]:
    """``merge3``'s groups: ``("unchanged"|"a"|"b"|"same", items)`` or ``("conflict", base, left, right)``."""
    m = merge3.Merge3(base, left, right, sequence_matcher=_NoJunk)  # type: ignore[arg-type]
    return list(m.merge_groups())


@dataclass(frozen=True, slots=True)
class Hunk:
    """A conflicting hunk of a line merge: each side's lines, and the block with markers."""

    base: bytes
    left: bytes
    right: bytes
    markers: bytes


def line_merge(base: bytes, left: bytes, right: bytes, markers: Markers) -> tuple[bytes, list[Hunk]]:
    """The line-level three-way merge (diff3): the merged text and its conflicting hunks."""
    out: list[bytes] = []
    hunks: list[Hunk] = []
    for group in merge_sequences(split_lines(base), split_lines(left), split_lines(right)):
        if group[0] == "conflict":
            b, l, r = (b"".join(g) for g in group[1:])
            block = markers.block(l, b, r)
            hunks.append(Hunk(b, l, r, block))
            out.append(block)
        else:
            out.extend(group[1])
    return b"".join(out), hunks
