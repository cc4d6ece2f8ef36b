"""From file bytes to entity records: checks, cache, full or incremental parse.

``analyze`` never raises for any content: whatever keeps a file from an
entity-level diff becomes its ``fallback_reason`` (see ``FALLBACK_REASONS``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import accumulate

from tree_sitter import Parser, Tree

from trellis.vcs.linediff import line_changes

from .cache import ParseCache
from .extract import Rec, Reuse, extract
from .languages.registry import GrammarUnavailable, parser_for, spec_for
from .languages.spec import LanguageSpec
from .region import reparse_region

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "FALLBACK_REASONS",
    "Edit",
    "Parsed",
    "TextDelta",
    "analyze",
    "analyze_pair",
    "content_key",
    "text_delta",
    "tree_of",
]

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
BINARY_SNIFF_BYTES = 8000  # git's heuristic: a NUL byte in the first 8000 bytes

FALLBACK_REASONS = {
    "unsupported_language": "no grammar is registered for the file's extension",
    "grammar_unavailable": "the language's grammar wheel is not installed or cannot be loaded",
    "binary": "the file contains a NUL byte in its first 8000 bytes",
    "too_large": "the file is larger than the size limit (2 MiB by default)",
    "invalid_utf8": "the file is not valid UTF-8",
    "parse_error": "tree-sitter found a syntax error (an ERROR or MISSING node)",
}


@dataclass(slots=True)
class Parsed:
    """One version of one file: its records, or why it has none."""

    language: str
    content: bytes
    tree: Tree | None
    records: list[Rec]
    fallback_reason: str = ""
    cost: int = 0
    # After an incremental parse: new record index -> base record index of entities copied unchanged.
    origin: dict[int, int] = field(default_factory=dict)
    how: str = "full"  # how the records were made: full | incremental | region (for tests and benchmarks)
    # A region re-parse makes no tree; it keeps the version it came from and the delta, so that
    # a tree can be made incrementally when one is needed (``tree_of``). ``chain`` bounds the links.
    tree_source: tuple[Parsed, TextDelta] | None = None
    chain: int = 0
    _index: dict[tuple[int, int], int] | None = None

    @property
    def spans_index(self) -> dict[tuple[int, int], int]:
        if self._index is None:
            self._index = {(r.start_byte, r.end_byte): i for i, r in enumerate(self.records)}
        return self._index


def content_key(content: bytes) -> str:
    return "b2:" + hashlib.blake2b(content, digest_size=16).hexdigest()


def _estimate(content: bytes, records: list[Rec], tree: bool = True) -> int:
    """Bytes held by a parse: content, tree (~22 bytes per content byte, measured), records, tokens
    (at most about the content again)."""
    return (24 * len(content) if tree else 0) + 2 * len(content) + 400 * len(records) + 512


def precheck(spec: LanguageSpec | None, content: bytes, max_file_bytes: int) -> str:
    """The fallback reason that needs no parse, or ""."""
    if b"\x00" in content[:BINARY_SNIFF_BYTES]:
        return "binary"
    if spec is None:
        return "unsupported_language"
    if len(content) > max_file_bytes:
        return "too_large"
    if not content.isascii():
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
    return ""


def analyze(
    path: str,
    content: bytes,
    *,
    cache: ParseCache | None = None,
    blob_id: str | None = None,
    base: Parsed | None = None,
    delta: TextDelta | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Parsed:
    """Parse ``content`` (as the file at ``path``) into entity records, using and filling ``cache``.

    ``base`` is the previous version of the same file: when given and usable,
    the parse is incremental (tree-sitter reuses the old tree) and entities
    clear of the edits are copied from it instead of walked. ``delta`` is the
    text delta from ``base`` (computed when omitted).
    """
    spec = spec_for(path)
    reason = precheck(spec, content, max_file_bytes)
    if reason or spec is None:
        return Parsed(spec.name if spec is not None else "", content, None, [], reason or "unsupported_language")
    key = (spec.name, blob_id or content_key(content)) if cache is not None else None
    if cache is not None and key is not None:
        hit = cache.get(key)
        if hit is not None and hit.content == content:
            return hit
    try:
        parser = parser_for(spec)
    except GrammarUnavailable:
        return Parsed(spec.name, content, None, [], "grammar_unavailable")
    reuse: Reuse | None = None
    if (
        base is not None
        and spec.region_reparse
        and base.language == spec.name
        and not base.fallback_reason
        and base.content != content
    ):
        if delta is None:
            delta = text_delta(base.content, content)
        spliced = _region(spec, parser, base, content, delta)
        if spliced is not None:
            if cache is not None and key is not None:
                cache.put(key, spliced)
            return spliced
    base_tree = tree_of(base, parser) if base is not None and base.language == spec.name else None
    if base is not None and base_tree is not None and base.content != content:
        if delta is None:
            delta = text_delta(base.content, content)
        old_tree = base_tree.copy()
        for e in reversed(delta.edits):  # last first: earlier offsets stay valid
            old_tree.edit(
                e.old_start,
                e.old_end,
                e.old_start + (e.new_end - e.new_start),
                e.start_point,
                e.old_end_point,
                e.new_end_point,
            )
        tree = parser.parse(content, old_tree)
        if not base.fallback_reason and not tree.root_node.has_error and delta.edits:
            reuse = _reuse_plan(base, delta, [(r.start_byte, r.end_byte) for r in old_tree.changed_ranges(tree)])
    else:
        tree = parser.parse(content)
    if tree.root_node.has_error:
        parsed = Parsed(spec.name, content, tree, [], "parse_error")
    else:
        records = extract(spec, tree, content, reuse)
        parsed = Parsed(spec.name, content, tree, records)
        if reuse is not None:
            parsed.origin = reuse.origin
            parsed.how = "incremental"
    parsed.cost = _estimate(content, parsed.records)
    if cache is not None and key is not None:
        cache.put(key, parsed)
    return parsed


def analyze_pair(
    old_path: str,
    old: bytes,
    new_path: str,
    new: bytes,
    *,
    cache: ParseCache | None = None,
    old_id: str | None = None,
    new_id: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> tuple[Parsed, TextDelta | None, Parsed]:
    """Both versions of a changed file: the old one (from ``cache`` or parsed), the new one incrementally from it,
    and the text delta between them (None when either version is binary)."""
    po = analyze(old_path, old, cache=cache, blob_id=old_id, max_file_bytes=max_file_bytes)
    binary = po.fallback_reason == "binary" or b"\x00" in new[:BINARY_SNIFF_BYTES]
    delta = None if binary else text_delta(old, new)
    pn = analyze(new_path, new, cache=cache, blob_id=new_id, base=po, delta=delta, max_file_bytes=max_file_bytes)
    return po, delta, pn


def cache_key(path: str, content: bytes, blob_id: str | None) -> tuple[str, str] | None:
    """The key under which ``analyze`` caches ``content`` as the file ``path``; None when it would not cache it
    (a fallback found before any parse)."""
    spec = spec_for(path)
    if spec is None:
        return None
    return (spec.name, blob_id or content_key(content))


def _region(spec: LanguageSpec, parser: Parser, base: Parsed, content: bytes, delta: TextDelta) -> Parsed | None:
    """The new version by re-parsing only the entities the edits touched (see ``region.py``)."""
    if not delta.edits:
        return None
    records = reparse_region(
        spec,
        parser,
        base.records,
        base.content,
        content,
        delta.edits[0].old_start,
        delta.edits[-1].old_end,
        sum(e.line_delta for e in delta.edits),
    )
    if records is None:
        return None
    linked = base.tree is not None or (base.tree_source is not None and base.chain < MAX_TREE_CHAIN)
    return Parsed(
        spec.name,
        content,
        None,
        records,
        cost=_estimate(content, records, tree=False),
        how="region",
        tree_source=(base, delta) if linked else None,
        chain=base.chain + 1 if linked else 0,
    )


MAX_TREE_CHAIN = 8


def tree_of(parsed: Parsed, parser: Parser) -> Tree | None:
    """The tree of a parsed version, made now if a region re-parse left none.

    Follows ``tree_source`` links back to a version with a tree and re-parses
    forward incrementally; without one, parses in full. None for fallbacks
    that never had a tree (binary, too large…).
    """
    if parsed.tree is not None or parsed.fallback_reason:
        return parsed.tree
    chain = [parsed]
    while chain[-1].tree is None and chain[-1].tree_source is not None:
        chain.append(chain[-1].tree_source[0])
    root = chain.pop()
    tree = root.tree if root.tree is not None else parser.parse(root.content)
    root.tree = tree
    for version in reversed(chain):
        # Versions are shared through the parse cache: another thread may have made this tree meanwhile. It
        # sets ``tree`` before it drops ``tree_source``, so a dropped link means the tree is there.
        source = version.tree_source
        if source is None:
            assert version.tree is not None
            tree = version.tree
            continue
        delta = source[1]
        edited = tree.copy()
        for e in reversed(delta.edits):
            edited.edit(
                e.old_start,
                e.old_end,
                e.old_start + (e.new_end - e.new_start),
                e.start_point,
                e.old_end_point,
                e.new_end_point,
            )
        tree = parser.parse(version.content, edited)
        version.tree = tree
        version.tree_source = None
        version.chain = 0
    return tree


def _reuse_plan(base: Parsed, delta: TextDelta, changed: list[tuple[int, int]]) -> Reuse:
    spans = sorted([(e.new_start, e.new_end) for e in delta.edits] + changed)
    starts: list[int] = []
    ends: list[int] = []
    for a, b in spans:
        if ends and a <= ends[-1] + 1:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    edit_ends: list[int] = []
    byte_shift: list[int] = []
    line_shift: list[int] = []
    bsum = lsum = 0
    for e in delta.edits:
        bsum += (e.new_end - e.new_start) - (e.old_end - e.old_start)
        lsum += e.line_delta
        edit_ends.append(e.new_end)
        byte_shift.append(bsum)
        line_shift.append(lsum)
    return Reuse(base.records, base.spans_index, starts, ends, edit_ends, byte_shift, line_shift)


@dataclass(frozen=True, slots=True)
class Edit:
    """One contiguous text edit: ``old[old_start:old_end]`` became ``new[new_start:new_end]``.

    Points are tree-sitter (row, byte column) pairs in the document where the
    edits before this one are not applied yet (edits are applied last first).
    """

    old_start: int
    old_end: int
    new_start: int
    new_end: int
    start_point: tuple[int, int]
    old_end_point: tuple[int, int]
    new_end_point: tuple[int, int]
    line_delta: int


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A line diff summary of two versions plus the byte edits between them, in order."""

    additions: int
    deletions: int
    edits: tuple[Edit, ...]


def common_prefix(a: bytes, b: bytes) -> int:
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # binary search on slice equality: a few memcmp calls
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def common_suffix(a: bytes, b: bytes, limit: int) -> int:
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _line_starts(data: bytes) -> list[int]:
    """Offset of each line's start, and ``len(data)`` last (once)."""
    starts = list(accumulate([len(line) + 1 for line in data.split(b"\n")[:-1]], initial=0))
    if starts[-1] != len(data):
        starts.append(len(data))
    return starts


class _Rows:
    """Row/column of byte offsets, scanning forward only (offsets must not decrease)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.row = 0

    def point(self, offset: int) -> tuple[int, int]:
        self.row += self.data.count(b"\n", self.pos, offset)
        self.pos = offset
        return self.row, offset - (self.data.rfind(b"\n", 0, offset) + 1)


def _edit(old: bytes, new: bytes, rows: _Rows, os_: int, oe: int, ns: int, ne: int) -> Edit:
    start_point = rows.point(os_)
    inserted = new[ns:ne]
    k = inserted.count(b"\n")
    if k:
        new_end_point = (start_point[0] + k, len(inserted) - inserted.rfind(b"\n") - 1)
    else:
        new_end_point = (start_point[0], start_point[1] + len(inserted))
    old_end_point = rows.point(oe)
    return Edit(os_, oe, ns, ne, start_point, old_end_point, new_end_point, k - (old_end_point[0] - start_point[0]))


def text_delta(old: bytes, new: bytes) -> TextDelta:
    """Line counts (as libgit2 counts them) and the byte edits turning ``old`` into ``new``.

    Only the part between the common prefix and suffix (widened to whole
    lines) goes to libgit2 — for a micro-commit, a few lines. One hunk gives
    one exact byte edit; several hunks give one edit per hunk, so that an
    import added at the top and a function changed at the bottom leave
    everything in between reusable.
    """
    if old == new:
        return TextDelta(0, 0, ())
    prefix = common_prefix(old, new)
    start = old.rfind(b"\n", 0, prefix) + 1
    suffix = common_suffix(old, new, min(len(old), len(new)) - prefix)
    old_end, new_end = len(old) - suffix, len(new) - suffix
    exact = (prefix, old_end, prefix, new_end)
    if old_end < len(old) and not (old_end > start and old[old_end - 1 : old_end] == b"\n"):
        nl = old.find(b"\n", old_end)
        grow = (nl + 1 if nl >= 0 else len(old)) - old_end
        old_end += grow
        new_end += grow
    a, b = old[start:old_end], new[start:new_end]
    changes = line_changes(a, b)
    rows = _Rows(old)
    if len(changes.hunks) <= 1:
        return TextDelta(changes.additions, changes.deletions, (_edit(old, new, rows, *exact),))
    astarts, bstarts = _line_starts(a), _line_starts(b)
    edits = []
    for h in changes.hunks:
        i = h.old_start - 1 if h.old_lines else h.old_start
        j = h.new_start - 1 if h.new_lines else h.new_start
        edits.append(
            _edit(
                old,
                new,
                rows,
                start + astarts[i],
                start + astarts[i + h.old_lines],
                start + bstarts[j],
                start + bstarts[j + h.new_lines],
            )
        )
    return TextDelta(changes.additions, changes.deletions, tuple(edits))
