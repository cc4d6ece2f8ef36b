"""Region re-parse: re-parse only the entities an edit touched, and splice their records in.

A micro-commit usually changes one function, or adds, removes or replaces a
few whole functions next to each other. Re-parsing the file, even
incrementally, and walking everything around the edit again costs more than
the text diff; this module re-parses just the run of sibling entities whose
*regions* hold every edit.

The region of a sibling runs from the start of the line after the previous
token to the start of the line holding the next token. A run of consecutive
siblings (or a single one, searched innermost first) qualifies when only
whitespace separates them in the old text. Its new text is parsed alone —
tree-sitter ``included_ranges``, so positions stay absolute — and must give
only entities, without errors or comments at the top, each starting at the
column the old siblings had. The parent's own tokens were outside the region
and are unchanged, so its hashes stand; records after the run shift; the
records of the run are replaced.

This is sound for languages whose entities end where indentation says
(Python); a language opts in with ``LanguageSpec.region_reparse``. Anything
unusual returns None and the caller parses the whole file incrementally.
``tests/semantic_diff`` checks, on random edits, that the result always equals
a full parse.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from tree_sitter import Parser, Range

from .extract import Rec, extract_subtree, line_count
from .languages.common import classify
from .languages.spec import LanguageSpec

__all__ = ["reparse_region"]

_NON_SPACE = re.compile(rb"\S")
_FULL_RANGE = Range((0, 0), (0xFFFFFFFF, 0xFFFFFFFF), 0, 0xFFFFFFFF)


def _point(data: bytes, offset: int) -> tuple[int, int]:
    return data.count(b"\n", 0, offset), offset - (data.rfind(b"\n", 0, offset) + 1)


def _children(records: list[Rec], parent: int) -> list[int]:
    out = []
    k = parent + 1
    end = records[parent].end
    while k < end:
        out.append(k)
        k = records[k].end
    return out


class _Regions:
    """Region bounds of records in one text, computed on demand."""

    def __init__(self, data: bytes, records: list[Rec]) -> None:
        self.data = data
        self.records = records

    def end(self, k: int) -> int:
        """Start of the line holding the next token after record ``k`` (len(data) if none)."""
        m = _NON_SPACE.search(self.data, self.records[k].end_byte)
        return self.data.rfind(b"\n", 0, m.start()) + 1 if m else len(self.data)

    def start(self, k: int) -> int:
        """Start of the line after the previous token before record ``k`` (0 if none)."""
        data, s = self.data, self.records[k].start_byte
        i = len(data[:s].rstrip())
        if i == 0:
            return 0
        nl = data.find(b"\n", i)
        return s if nl < 0 or nl >= s else nl + 1


def _find_run(records: list[Rec], regions: _Regions, lo: int, hi: int) -> tuple[int, int, int] | None:
    """(parent, first, last) record indices of the innermost run of siblings holding [lo, hi]."""
    found = None
    parent = 0
    while True:
        kids = _children(records, parent)
        if not kids:
            return found
        starts = [records[k].start_byte for k in kids]
        i = bisect_right(starts, lo) - 1
        if i < 0 or lo > regions.end(kids[i]):
            i += 1
            if i >= len(kids) or lo < regions.start(kids[i]):
                return found
        j = max(i, bisect_right(starts, hi) - 1)
        if hi > regions.end(kids[j]):
            return found
        data = regions.data
        for a, b in zip(kids[i:j], kids[i + 1 : j + 1]):
            if data[records[a].end_byte : records[b].start_byte].strip():
                return found  # the parent's own tokens between them: not a run of entities
        found = (parent, kids[i], kids[j])
        if i != j:
            return found
        parent = kids[i]  # one sibling holds everything: look inside it


def reparse_region(
    spec: LanguageSpec, parser: Parser, records: list[Rec], old: bytes, new: bytes, lo: int, hi: int, line_delta: int
) -> list[Rec] | None:
    """The records of ``new``, re-parsing only the run of entities holding the edits in
    ``old[lo:hi]``; None when no run qualifies (the caller parses the whole file)."""
    regions = _Regions(old, records)
    run = _find_run(records, regions, lo, hi)
    if run is None:
        return None
    parent, first, last = run
    shift = len(new) - len(old)
    region_start = regions.start(first)
    old_end = regions.end(last)
    region_end = old_end + shift
    if region_end < region_start or (region_end - region_start) * 4 > len(new) + 4096:
        return None  # a large region: the whole-file incremental parse is as cheap
    if region_end < len(new) and new[region_end - 1 : region_end] != b"\n":
        return None  # the edit joined the next line onto the region's last one
    m = _NON_SPACE.search(new, region_start, region_end)
    column = records[first].start_byte - (old.rfind(b"\n", 0, records[first].start_byte) + 1)
    if m is None:
        # The run was deleted: fine if a sibling entity follows it (the parent's next own
        # token still comes after an entity, so its raw text is unchanged) or nothing does.
        nxt = _NON_SPACE.search(old, old_end)
        if nxt is not None and not (last_sibling_next(records, parent, last) == nxt.start()):
            return None
        sub: list[Rec] = []
    else:
        start = m.start()
        if spec.line_comment and _comment_line_at_or_left_of(new, start, region_end, column, spec.line_comment):
            # A comment at the top of the region (a root child that is no entity) or a line of a string or of
            # a block at or left of the run's column (no entity's first line): either is refused below, after
            # the parse. A comment added after a module's last function is the common case.
            return None
        try:
            parser.included_ranges = [Range(_point(new, start), _point(new, region_end), start, region_end)]
            tree = parser.parse(new)
        finally:
            parser.included_ranges = [_FULL_RANGE]
        root = tree.root_node
        if root.has_error:
            return None
        prec = records[parent]
        pkind = prec.core.kind
        rows = set()
        for node in root.children:
            if (
                node.type not in spec.entity_types
                or node.start_point[1] != column
                or classify(spec, node, pkind, new, {}) is None
            ):
                return None  # a comment, a statement or a misplaced entity at the top
            rows.add(node.start_point[0])
        if not _indentation_agrees(new, start, region_end, column, rows):
            return None
        sub = extract_subtree(spec, root, new, pkind, prec.lqual, prec.depth)[1:]
        if len(sub) < 1:
            return None
    return _splice(records, parent, first, last, sub, shift, line_delta, new)


def last_sibling_next(records: list[Rec], parent: int, last: int) -> int:
    """Start of the sibling entity right after ``last`` (-1 if none)."""
    stop = records[last].end
    if stop < len(records) and records[stop].parent == parent:
        return records[stop].start_byte
    return -1


def _comment_line_at_or_left_of(data: bytes, start: int, end: int, column: int, comment: bytes) -> bool:
    """Whether a line of ``data[start:end]`` (whole lines from ``start``'s) opens with ``comment`` at or left of
    ``column``."""
    line_start = data.rfind(b"\n", 0, start) + 1
    for line in data[line_start:end].split(b"\n"):
        stripped = line.lstrip(b" \t")
        if stripped.startswith(comment) and len(line) - len(stripped) <= column:
            return True
    return False


def _indentation_agrees(data: bytes, start: int, end: int, column: int, rows: set[int]) -> bool:
    """Whether no line of the region is indented at or left of the run's column except the
    first lines of the run's entities.

    Parsed alone, the region knows nothing of the enclosing blocks; such a line
    would close them in the whole file but not in the region.
    """
    row = data.count(b"\n", 0, start)
    line_start = data.rfind(b"\n", 0, start) + 1
    for line in data[line_start:end].split(b"\n"):
        stripped = line.lstrip(b" \t")
        if stripped and len(line) - len(stripped) <= column and row not in rows:
            return False
        row += 1
    return True


def _splice(
    records: list[Rec], parent: int, first: int, last: int, sub: list[Rec], shift: int, line_delta: int, new: bytes
) -> list[Rec] | None:
    """``records`` with the subtrees ``first``..``last`` (children of ``parent``) replaced by ``sub``,
    whose parent index 0 stands for ``parent``."""
    stop = records[last].end
    old_end_byte = records[last].end_byte
    grown = len(sub) - (stop - first)
    ancestors = set()
    p = parent
    while p >= 0:
        ancestors.add(p)
        p = records[p].parent
    tops = [r for r in sub if r.parent == 0]
    out: list[Rec] = []
    for i in range(first):
        r = records[i]
        if i in ancestors:
            if i == 0:
                end_byte, end_line = len(new), line_count(new)
            elif r.end_byte == old_end_byte:  # the run ended this ancestor
                if not tops:
                    return None
                end_byte, end_line = tops[-1].end_byte, tops[-1].end_line
            else:
                end_byte, end_line = r.end_byte + shift, r.end_line + line_delta
            r = Rec(
                r.core,
                r.parent,
                r.end + grown,
                r.depth,
                r.lqual,
                r.start_byte,
                end_byte,
                r.ext_start,
                r.start_line,
                end_line,
            )
        out.append(r)
    for r in sub:
        out.append(
            Rec(
                r.core,
                parent if r.parent == 0 else r.parent + first - 1,
                r.end + first - 1,
                r.depth,
                r.lqual,
                r.start_byte,
                r.end_byte,
                r.ext_start,
                r.start_line,
                r.end_line,
            )
        )
    for i in range(stop, len(records)):
        r = records[i]
        rp = r.parent if r.parent < first else r.parent + grown
        out.append(
            Rec(
                r.core,
                rp,
                r.end + grown,
                r.depth,
                r.lqual,
                r.start_byte + shift,
                r.end_byte + shift,
                r.ext_start + shift,
                r.start_line + line_delta,
                r.end_line + line_delta,
            )
        )
    return out
