"""Side-by-side, syntax-highlighted file diffs for the commit page.

Hunks come from git's own unified diff (``Differ.diff(line_diff=True)``,
libgit2's xdiff, the same text ``trellis diff`` prints); each side is lexed
whole by Pygments, so a multi-line string or comment is coloured right even
where a hunk starts inside it, and the lines a hunk shows are picked from that.
Every piece of text is escaped here (``markupsafe.escape``) before it is
wrapped in a ``<span>``: the result is safe ``Markup``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

__all__ = ["HIGHLIGHT_MAX_BYTES", "Cell", "FileView", "Row", "highlight_lines", "side_by_side"]

HIGHLIGHT_MAX_BYTES = 256 * 1024
"""Files larger than this are shown without colours (lexing them costs more than it helps)."""

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


_EMPTY = Cell(0, Markup(""), "empty")


def _css_class(token: _TokenType) -> str:
    while token not in STANDARD_TYPES:
        token = token.parent
    return STANDARD_TYPES[token]


def _lexer(path: str) -> Lexer:
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def highlight_lines(path: str, text: str) -> list[Markup]:
    """``text`` as escaped, highlighted HTML, one ``Markup`` per line (without the newline)."""
    if len(text) > HIGHLIGHT_MAX_BYTES:
        return [escape(line) for line in text.split("\n")]
    lines: list[str] = []
    current: list[str] = []
    for token, value in _lexer(path).get_tokens(text):
        css = _css_class(token)
        pieces = value.split("\n")
        for i, piece in enumerate(pieces):
            if i:
                lines.append("".join(current))
                current = []
            if piece:
                current.append(f'<span class="{css}">{escape(piece)}</span>' if css else str(escape(piece)))
    lines.append("".join(current))
    return [Markup(line) for line in lines]


def _language(path: str) -> str:
    lexer = _lexer(path)
    return "" if isinstance(lexer, TextLexer) else str(lexer.name)


def side_by_side(path: str, old_path: str, status: str, patch: str, old: bytes | None, new: bytes | None
                 ) -> FileView:
    """Rows pairing the removed and added lines of each hunk of ``patch`` (a unified diff of one file)."""
    binary = (old is not None and b"\0" in old[:8000]) or (new is not None and b"\0" in new[:8000])
    if binary:
        return FileView(path, old_path, status, True, (), False, "")
    old_lines = highlight_lines(old_path or path, (old or b"").decode("utf-8", "replace"))
    new_lines = highlight_lines(path, (new or b"").decode("utf-8", "replace"))
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
            rows.append(Row(Cell(old_no, _at(old_lines, old_no), "context"),
                            Cell(new_no, _at(new_lines, new_no), "context")))
            old_no += 1
            new_no += 1
        else:
            continue  # "\ No newline at end of file", the empty last line
        shown += 1
    flush()
    return FileView(path, old_path, status, False, tuple(rows), clipped, _language(path))


def _at(lines: list[Markup], number: int) -> Markup:
    return lines[number - 1] if 0 < number <= len(lines) else Markup("")
