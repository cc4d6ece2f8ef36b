"""Side-by-side, syntax-highlighted file diffs for the commit page.

Hunks come from git's own unified diff (``Differ.diff(line_diff=True)``,
libgit2's xdiff, the same text ``trellis diff`` prints); each side is
highlighted whole (``highlight.py``), so a multi-line string or comment is
coloured right even where a hunk starts inside it, and the lines a hunk shows
are picked from that. The highlighted text is escaped ``Markup``.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from markupsafe import Markup, escape

from .highlight import highlight_lines, language_name

__all__ = ["Cell", "FileView", "Highlighter", "Row", "side_by_side"]

MAX_DIFF_LINES = 3000
"""A file diff with more lines than this is folded to its first ones (the rest: ``trellis diff``)."""

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")


@dataclass(frozen=True, slots=True)
class Cell:
    """One side of a row: its line number (0: no line on this side) and its highlighted text."""

    number: int
    html: Markup
    kind: str  # "context" | "removed" | "added" | "empty"


@dataclass(frozen=True, slots=True)
class Row:
    left: Cell
    right: Cell
    header: str = ""  # a hunk header row ("@@ -1,3 +1,4 @@ def f"): the cells are empty


@dataclass(frozen=True, slots=True)
class FileView:
    path: str
    old_path: str
    status: str
    binary: bool
    rows: tuple[Row, ...]
    clipped: bool
    language: str

    @property
    def table(self) -> Markup:
        """The rows as ``<tr>`` elements (built here: a Jinja loop costs several times more per row)."""
        out = []
        for r in self.rows:
            if r.header:
                out.append(f'<tr class="hunk"><td colspan="4" class="mono">{escape(r.header)}</td></tr>')
                continue
            left, right = r.left, r.right
            out.append(
                f'<tr><td class="n {left.kind}">{left.number or ""}</td><td class="mono {left.kind}">'
                f'{left.html}</td><td class="n {right.kind}">{right.number or ""}</td>'
                f'<td class="mono {right.kind}">{right.html}</td></tr>'
            )
        return Markup("\n".join(out))


_EMPTY = Cell(0, Markup(""), "empty")


class Highlighter:
    """Highlighted lines per blob id, least recently used first out, bounded by the characters kept.

    An agent's next micro-commit diffs against the blob its last one wrote, so half of every commit
    page's lexing has usually been done already (and all of it when a page is seen again).
    """

    def __init__(self, max_chars: int = 64 * 1024 * 1024) -> None:
        self.max_chars = max_chars
        self._lines: OrderedDict[tuple[str, str], tuple[list[Markup], int]] = OrderedDict()
        self._chars = 0
        self._guard = threading.Lock()

    def lines(self, path: str, blob_id: str, content: bytes | None) -> list[Markup]:
        if content is None:
            return []
        key = (blob_id, posixpath.splitext(path)[1])
        with self._guard:
            found = self._lines.get(key)
            if found is not None:
                self._lines.move_to_end(key)
                return found[0]
        lines = highlight_lines(path, content)
        size = sum(len(line) for line in lines)
        if blob_id and size <= self.max_chars // 4:
            with self._guard:
                if key not in self._lines:
                    self._lines[key] = (lines, size)
                    self._chars += size
                while self._chars > self.max_chars:
                    _, (_, dropped) = self._lines.popitem(last=False)
                    self._chars -= dropped
        return lines


def side_by_side(
    path: str,
    old_path: str,
    status: str,
    patch: str,
    old: bytes | None,
    new: bytes | None,
    *,
    old_id: str = "",
    new_id: str = "",
    highlighter: Highlighter | None = None,
) -> FileView:
    """Rows pairing the removed and added lines of each hunk of ``patch`` (a unified diff of one file)."""
    binary = (old is not None and b"\0" in old[:8000]) or (new is not None and b"\0" in new[:8000])
    if binary:
        return FileView(path, old_path, status, True, (), False, "")
    colour = highlighter or Highlighter(0)
    old_lines = colour.lines(old_path or path, old_id, old)
    new_lines = colour.lines(path, new_id, new)
    rows: list[Row] = []
    removed: list[int] = []
    added: list[int] = []

    def flush() -> None:
        for k in range(max(len(removed), len(added))):
            left = Cell(removed[k], _at(old_lines, removed[k]), "removed") if k < len(removed) else _EMPTY
            right = Cell(added[k], _at(new_lines, added[k]), "added") if k < len(added) else _EMPTY
            rows.append(Row(left, right))
        removed.clear()
        added.clear()

    old_no = new_no = 0
    shown = 0
    clipped = False
    for line in patch.split("\n"):
        if shown >= MAX_DIFF_LINES:
            clipped = True
            break
        match = _HUNK.match(line)
        if match:
            flush()
            old_no, new_no = int(match.group(1)), int(match.group(3))
            rows.append(Row(_EMPTY, _EMPTY, header=line))
            continue
        if not rows:
            continue  # the file header lines ("diff --git", "---", "+++") before the first hunk
        if line.startswith("-"):
            removed.append(old_no)
            old_no += 1
        elif line.startswith("+"):
            added.append(new_no)
            new_no += 1
        elif line.startswith(" "):
            flush()
            rows.append(
                Row(Cell(old_no, _at(old_lines, old_no), "context"), Cell(new_no, _at(new_lines, new_no), "context"))
            )
            old_no += 1
            new_no += 1
        else:
            continue  # "\ No newline at end of file", the empty last line
        shown += 1
    flush()
    return FileView(path, old_path, status, False, tuple(rows), clipped, language_name(path))


def _at(lines: list[Markup], number: int) -> Markup:
    return lines[number - 1] if 0 < number <= len(lines) else Markup("")
