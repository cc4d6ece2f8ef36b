"""Entity extraction: one iterative walk over a tree-sitter tree.

The walk visits every node once with a ``TreeCursor`` (no recursion, so
thousands of nesting levels are fine). Each entity gets a *frame*; every leaf
token lands in the innermost open frame, in one of its buckets (name,
signature, decorators, docstring, body — see ``languages/spec.py``), so an
entity's hashes cover its own tokens only, never those of nested entities.
Comments never enter the normalised token stream; they do enter the *raw* text
hash, which is what tells a formatting-only change from no change.

Incremental extraction: given the records of the previous version and the
region that changed, entities wholly outside the region are copied from the
previous records (positions shifted) instead of being walked again. The
result is identical to a full walk; ``tests/semantic_diff`` checks it.
"""

from __future__ import annotations

import hashlib
import sys
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node, Tree

from .languages.common import classify, param_names, root_found
from .languages.registry import grammar
from .languages.spec import DECO, NAME, SIG, Found, LanguageSpec, collapse

__all__ = ["Core", "Rec", "Reuse", "extract", "extract_subtree", "join_qualname"]


# Entities nested deeper than this are folded into their ancestor at the limit: it keeps
# qualified names short (they grow with depth) on pathological input such as JSON nested
# thousands of levels deep.
MAX_ENTITY_DEPTH = 48


_blake2b = hashlib.blake2b


def _hash(data: bytes) -> str:
    return _blake2b(data, digest_size=10).hexdigest()


_EMPTY = _hash(b"")


class Core:
    """What an entity is, derived from its text alone: shared by versions that reuse it."""

    __slots__ = (
        "kind",
        "name",
        "segment",
        "node_type",
        "positional",
        "signature",
        "params",
        "returns",
        "docstring",
        "sig_hash",
        "deco_hash",
        "body_hash",
        "doc_hash",
        "norm_hash",
        "text_hash",
        "tokens",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        segment: str,
        node_type: str,
        positional: bool,
        signature: str,
        params: tuple[tuple[str, str], ...],
        returns: str,
        docstring: str,
        sig_hash: str,
        deco_hash: str,
        body_hash: str,
        doc_hash: str,
        norm_hash: str,
        text_hash: str,
        tokens: bytes,
    ) -> None:
        self.kind = kind
        self.name = name
        self.segment = segment
        self.node_type = node_type
        self.positional = positional
        self.signature = signature
        self.params = params
        self.returns = returns
        self.docstring = docstring
        self.sig_hash = sig_hash
        self.deco_hash = deco_hash
        self.body_hash = body_hash
        self.doc_hash = doc_hash
        self.norm_hash = norm_hash
        self.text_hash = text_hash
        self.tokens = tokens  # normalised tokens (signature, decorators, body), NUL-separated


class Rec:
    """Where an entity is in one version of a file. Records are kept in preorder;
    ``end`` is the index after the last descendant, ``parent`` is -1 for the root."""

    __slots__ = (
        "core",
        "parent",
        "end",
        "depth",
        "lqual",
        "start_byte",
        "end_byte",
        "ext_start",
        "start_line",
        "end_line",
    )

    def __init__(
        self,
        core: Core | None,
        parent: int,
        end: int,
        depth: int,
        lqual: str,
        start_byte: int,
        end_byte: int,
        ext_start: int,
        start_line: int,
        end_line: int,
    ) -> None:
        self.core: Core = core  # type: ignore[assignment]  # set when the frame closes
        self.parent = parent
        self.end = end
        self.depth = depth
        self.lqual = lqual
        self.start_byte = start_byte
        self.end_byte = end_byte
        self.ext_start = ext_start
        self.start_line = start_line
        self.end_line = end_line


@dataclass(slots=True)
class Reuse:
    """The previous version's records and where the new version differs from it.

    ``region_starts`` / ``region_ends`` are the changed regions in new-file
    bytes (closed, sorted, disjoint): text edits and tree-sitter's changed
    ranges. ``edit_ends`` are the new-file end offsets of the text edits, with
    the cumulative byte and line shifts after each in ``byte_shift`` /
    ``line_shift``.
    """

    records: list[Rec]
    index: dict[tuple[int, int], int]  # (start_byte, end_byte) -> record index in ``records``
    region_starts: list[int]
    region_ends: list[int]
    edit_ends: list[int]
    byte_shift: list[int]
    line_shift: list[int]
    origin: dict[int, int] = field(default_factory=dict)  # filled: new index -> old index of copies

    def placement(self, start: int, end: int) -> tuple[int, int, int] | None:
        """(byte shift, line shift, end of the last region before) for a node clear of every region."""
        k = bisect_right(self.region_starts, end)
        before = -1
        if k:
            before = self.region_ends[k - 1]
            if before >= start:
                return None
        j = bisect_right(self.edit_ends, start)
        if not j:
            return 0, 0, before
        return self.byte_shift[j - 1], self.line_shift[j - 1], before


def join_qualname(parent: str, segment: str) -> str:
    if not parent:
        return segment
    if segment.startswith("["):
        return parent + segment
    return parent + "." + segment


def end_line_of(node: Node) -> int:
    row, col = node.end_point
    start_row = node.start_point[0]
    return row if col == 0 and row > start_row else row + 1


def line_count(content: bytes) -> int:
    n = content.count(b"\n")
    return max(1, n + (0 if content.endswith(b"\n") else 1))


# What the walk needs to know of a node kind, as bits (0: a plain node, the common case).
_ENTITY, _COMMENT, _IGNORED, _LEADING, _ATOMIC, _COMMA = 1, 2, 4, 8, 16, 32
_COMMENTLIKE = _COMMENT | _IGNORED

# Per language (by name): tree-sitter kind id -> bits, for every id a node can have (tree-sitter's
# ERROR symbol is 65535): indexing needs no bounds check.
_KIND_TABLES: dict[str, bytes] = {}


def _kind_table(spec: LanguageSpec) -> bytes:
    table = _KIND_TABLES.get(spec.name)
    if table is None:
        lang = grammar(spec)
        bits = [_kind_bits(spec, lang.node_kind_for_id(i) or "") for i in range(lang.node_kind_count)]
        table = _KIND_TABLES[spec.name] = bytes(bits) + bytes(65536 - len(bits))
    return table


# ``_Frame.prev_end`` when no token is in the frame's raw text yet (or a nested entity or
# subtree emit broke the run): greater than any offset, so one comparison tests both.
_NO_END = sys.maxsize


def _kind_bits(spec: LanguageSpec, ntype: str) -> int:
    return (
        (_ENTITY if ntype in spec.rules else 0)
        | (_COMMENT if ntype in spec.comment_types else 0)
        | (_IGNORED if ntype in spec.ignored_types else 0)
        | (_LEADING if ntype in spec.leading_types else 0)
        | (_ATOMIC if ntype in spec.atomic_types else 0)
        | (_COMMA if ntype == "," and (spec.trailing_commas or spec.trailing_commas_of_many) else 0)
    )


_CLOSERS = frozenset(b")]}#/")  # what may follow a trailing comma (a closing bracket, or a comment first)
_BLANKS = frozenset(b" \t\r\n\\")


def _trailing_comma(spec: LanguageSpec, node: Node, content: bytes) -> bool:
    """Is the comma ``node`` one that changes nothing, right before its parent's closing bracket
    (:attr:`LanguageSpec.trailing_commas`)? The text after it tells most commas apart without the tree."""
    at, size = node.end_byte, len(content)
    while at < size and content[at] in _BLANKS:
        at += 1
    if at < size and content[at] not in _CLOSERS:
        return False
    after = node.next_sibling
    while after is not None and after.type in spec.comment_types:
        after = after.next_sibling
    parent = node.parent
    if after is None or after.type not in (")", "]", "}") or parent is None:
        return False
    if parent.type in spec.trailing_commas:
        return True
    return parent.type in spec.trailing_commas_of_many and (
        sum(1 for child in parent.named_children if child.type not in spec.comment_types) >= 2
    )


class _Frame:
    __slots__ = (
        "index",
        "depth",
        "kind",
        "found",
        "node_type",
        "zones",
        "zi",
        "body",
        "sig",
        "deco",
        "raw",
        "marks",
        "prev_end",
        "run",
        "pending",
    )

    def __init__(self, index: int, depth: int, found: Found, node_type: str) -> None:
        self.index = index
        self.depth = depth
        self.kind = found.kind
        self.found = found
        self.node_type = node_type
        self.zones = found.zones
        self.zi = 0
        self.body: list[bytes] = []
        self.sig: list[bytes] = []
        self.deco: list[bytes] = []
        self.raw: list[bytes] = []
        self.marks: list[tuple[int, int]] = []  # (raw index, start byte) of each comment
        self.prev_end = _NO_END
        # Raw text not yet in ``raw``: content[run:prev_end] (run < 0: none). Consecutive tokens
        # make one run, sliced once; ``settle`` appends it before anything reads or indexes ``raw``.
        self.run = -1
        self.pending: list[Node] = []  # leading siblings (attributes) awaiting their entity

    def settle(self, content: bytes) -> None:
        if self.run >= 0:
            self.raw.append(content[self.run : self.prev_end])
            self.run = -1


def _zone(fr: _Frame) -> tuple[int, int, int]:
    """(start, end, bucket) of the frame's next zone; (_NO_END, -1, 0) when none is ahead."""
    zones = fr.zones
    if fr.zi < len(zones):
        return zones[fr.zi]
    return _NO_END, -1, 0


def _next_zone(fr: _Frame, start: int) -> tuple[int, int, int]:
    """The first zone of the frame that ends after ``start`` (zones are sorted and disjoint)."""
    zones = fr.zones
    zi, nz = fr.zi, len(zones)
    while zi < nz and zones[zi][1] <= start:
        zi += 1
    fr.zi = zi
    if zi == nz:
        return _NO_END, -1, 0
    return zones[zi]


def extract(spec: LanguageSpec, tree: Tree, content: bytes, reuse: Reuse | None = None) -> list[Rec]:
    """The entity records of a parsed file, in preorder; record 0 is the file itself."""
    walker = _Walker(spec, content, reuse)
    return walker.run(tree)


def extract_subtree(
    spec: LanguageSpec, node: Node, content: bytes, parent_kind: str, parent_lqual: str, parent_depth: int
) -> list[Rec]:
    """Records of the entities below ``node`` (a re-parsed region's root); record 0 stands for their parent."""
    return _Walker(spec, content, None).run_subtree(node, parent_kind, parent_lqual, parent_depth)


class _Walker:
    def __init__(self, spec: LanguageSpec, content: bytes, reuse: Reuse | None) -> None:
        self.spec = spec
        self.content = content
        self.reuse = reuse
        self.records: list[Rec] = []
        self.state: dict[Any, Any] = {}

    # -- the walk ---------------------------------------------------------------------

    def run(self, tree: Tree) -> list[Rec]:
        spec, content, records = self.spec, self.content, self.records
        root = tree.root_node
        records.append(Rec(None, -1, 0, 0, "", 0, len(content), 0, 1, line_count(content)))
        frames = [_Frame(0, 0, root_found(spec, root, content), root.type)]
        cursor = root.walk()
        if cursor.goto_first_child():
            self._loop(cursor, frames)
        while frames:
            self._finish(frames.pop())
        return records

    def run_subtree(self, node: Node, parent_kind: str, parent_lqual: str, parent_depth: int) -> list[Rec]:
        """The records of the entities among ``node``'s children (and their descendants), as
        children of a parent of the given kind, qualified name and depth. Record 0 stands for
        that parent."""
        records = self.records
        records.append(Rec(None, -1, 0, parent_depth, parent_lqual, 0, 0, 0, 0, 0))
        frames = [_Frame(0, 0, Found(kind=parent_kind, name=""), "")]
        cursor = node.walk()
        if cursor.goto_first_child():
            self._loop(cursor, frames)
        while len(frames) > 1:
            self._finish(frames.pop())
        return records

    def _loop(self, cursor: Any, frames: list[_Frame]) -> None:
        """Walk from the cursor's node through its following siblings (and all their
        descendants), at depth 1 below ``frames[0]``.

        The innermost frame's hot state (``prev_end``, ``run``, its lists, the zone ahead:
        ``zlo``/``zhi``/``zb``, ``zhi`` -1 when none) lives in locals; it is written back
        to the frame before anything else reads the frame."""
        spec, content = self.spec, self.content
        kinds = _kind_table(spec)
        reuse = self.reuse
        depth = 1
        fr = frames[-1]
        pe, run, frdepth, raw, pending, body_append = fr.prev_end, fr.run, fr.depth, fr.raw, fr.pending, fr.body.append
        zlo, zhi, zb = _zone(fr)
        while True:
            node = cursor.node
            bits = kinds[node.kind_id]
            if not bits:
                if cursor.goto_first_child():
                    # a plain inner node: its tokens are its descendants'
                    if pending:
                        fr.prev_end, fr.run = pe, run
                        self._flush_pending(fr, fr, -1)
                        pe, run = fr.prev_end, fr.run
                    depth += 1
                    continue
                tok = True  # a plain token: most nodes are these
            else:
                # the rare kinds: entities, comments, leading siblings, atomic tokens
                tok = handled = False
                if bits & _ENTITY and node.child_count and len(frames) <= MAX_ENTITY_DEPTH:
                    fr.prev_end, fr.run = pe, run
                    if reuse is not None and self._reuse(fr, node, node.type, reuse):
                        handled = True
                        pe, run = fr.prev_end, fr.run
                    else:
                        found = classify(spec, node, fr.kind, content, self.state)
                        if found is not None:
                            if found.ext_start < 0:
                                found.ext_start = node.start_byte
                            fr = self._push(fr, node, found, depth)
                            frames.append(fr)
                            pe, run, frdepth, raw, pending = fr.prev_end, fr.run, fr.depth, fr.raw, fr.pending
                            body_append = fr.body.append
                            zlo, zhi, zb = _zone(fr)
                            if cursor.goto_first_child():
                                depth += 1
                                continue
                            handled = True
                if handled:
                    pass
                elif bits & _COMMENTLIKE:
                    start, end = node.start_byte, node.end_byte
                    if end > start:
                        if run >= 0:
                            raw.append(content[run:pe])
                            run = -1
                        if pe < start:
                            raw.append(content[pe:start])
                        if bits & _COMMENT:
                            fr.marks.append((len(raw), start))
                        raw.append(content[start:end])
                        pe = end
                elif bits & _LEADING and self._precedes_entity(node):
                    pending.append(node)
                elif bits & _COMMA and _trailing_comma(spec, node, content):
                    # in the raw text as a token is, in no bucket: adding or removing it is formatting
                    if pending:
                        fr.prev_end, fr.run = pe, run
                        self._flush_pending(fr, fr, -1)
                        pe, run = fr.prev_end, fr.run
                    start, end = node.start_byte, node.end_byte
                    if pe > start:
                        if run >= 0:
                            raw.append(content[run:pe])
                        run = start
                    elif run < 0:
                        run = pe
                    pe = end
                elif bits & _ATOMIC or node.child_count == 0:
                    tok = True
                else:
                    if pending:
                        fr.prev_end, fr.run = pe, run
                        self._flush_pending(fr, fr, -1)
                        pe, run = fr.prev_end, fr.run
                    if cursor.goto_first_child():
                        depth += 1
                        continue
            if tok:
                # one token: into the raw text and the bucket of the zone it lies in
                if pending:
                    fr.prev_end, fr.run = pe, run
                    self._flush_pending(fr, fr, -1)
                    pe, run = fr.prev_end, fr.run
                start, end = node.start_byte, node.end_byte
                if end > start:
                    if pe > start:
                        if run >= 0:
                            raw.append(content[run:pe])
                        run = start
                    elif run < 0:
                        run = pe
                    pe = end
                    if start < zlo:  # before the next zone, or none is ahead: a body token
                        body_append(content[start:end])
                    else:
                        if start >= zhi:
                            zlo, zhi, zb = _next_zone(fr, start)
                        if start < zlo:
                            body_append(content[start:end])
                        elif zb == SIG:
                            fr.sig.append(content[start:end])
                        elif zb == DECO:
                            fr.deco.append(content[start:end])
                        elif zb == NAME:
                            # the name is compared on its own: keep a rename out of the raw text,
                            # or every rename would be "formatting" too (the token ends the
                            # pending raw run: the run goes in without it)
                            raw.append(content[run:start] + b"\x01")
                            run = -1
                        # DOC tokens are compared through the docstring text
            # advance to the next node in preorder, closing frames on the way up
            while not cursor.goto_next_sibling():
                cursor.goto_parent()
                depth -= 1
                if depth == 0:
                    fr.prev_end, fr.run = pe, run
                    return
                if depth == frdepth:
                    fr.prev_end, fr.run = pe, run
                    self._finish(fr)
                    frames.pop()
                    fr = frames[-1]
                    pe, run, frdepth, raw, pending = fr.prev_end, fr.run, fr.depth, fr.raw, fr.pending
                    body_append = fr.body.append
                    zlo, zhi, zb = _zone(fr)

    def _precedes_entity(self, node: Node) -> bool:
        spec = self.spec
        sib = node.next_named_sibling
        steps = 0
        while sib is not None and steps < 100 and (sib.type in spec.leading_types or sib.type in spec.comment_types):
            sib = sib.next_named_sibling
            steps += 1
        return sib is not None and sib.type in spec.rules

    # -- frames -----------------------------------------------------------------------

    def _push(self, parent: _Frame, node: Node, found: Found, depth: int) -> _Frame:
        records = self.records
        prec = records[parent.index]
        index = len(records)
        start_row = node.start_point[0]
        end_row, end_col = node.end_point
        records.append(
            Rec(
                None,
                parent.index,
                0,
                prec.depth + 1,
                join_qualname(prec.lqual, found.segment),
                node.start_byte,
                node.end_byte,
                found.ext_start,
                start_row + 1,
                end_row if end_col == 0 and end_row > start_row else end_row + 1,  # as ``end_line_of``
            )
        )
        child = _Frame(index, depth, found, node.type)
        parent.settle(self.content)
        self._take_leading(parent, child, found.ext_start)
        if parent.pending:
            self._flush_pending(parent, child, DECO)
        parent.prev_end = _NO_END
        return child

    @staticmethod
    def _take_leading(parent: _Frame, child: _Frame | None, ext_start: int) -> None:
        """Move the parent's trailing comments that document the child into the child's raw text."""
        marks = parent.marks
        cut = -1
        while marks and marks[-1][1] >= ext_start:
            cut = marks.pop()[0]
        if cut >= 0:
            if child is not None:
                child.raw.extend(parent.raw[cut:])
            del parent.raw[cut:]

    def _flush_pending(self, parent: _Frame, target: _Frame, bucket: int) -> None:
        """Walk the pending leading siblings into ``target`` (the entity they precede, or the parent)."""
        pending = list(parent.pending)
        parent.pending.clear()
        for node in pending:
            self._emit_subtree(target, node, bucket)

    def _emit_subtree(self, fr: _Frame, top: Node, bucket: int) -> None:
        spec, content = self.spec, self.content
        fr.settle(content)
        cursor = top.walk()
        depth = 0
        while True:
            node = cursor.node
            if node is None:
                break
            ntype = node.type
            leaf = node.child_count == 0 or ntype in spec.atomic_types
            is_comment = ntype in spec.comment_types or ntype in spec.ignored_types
            if (leaf or is_comment) and node.end_byte > node.start_byte:
                text = content[node.start_byte : node.end_byte]
                fr.raw.append(text)
                if not is_comment:
                    target = fr.deco if bucket == DECO else fr.body
                    target.append(text)
            elif not leaf and not is_comment and cursor.goto_first_child():
                depth += 1
                continue
            while depth > 0 and not cursor.goto_next_sibling():
                cursor.goto_parent()
                depth -= 1
            if depth == 0:
                break
        fr.prev_end = _NO_END

    def _finish(self, fr: _Frame) -> None:
        rec = self.records[fr.index]
        rec.end = len(self.records)
        fr.settle(self.content)
        found = fr.found
        sig = b"\x00".join(fr.sig)
        deco = b"\x00".join(fr.deco)
        body = b"\x00".join(fr.body)
        sig_hash = _blake2b(sig, digest_size=10).hexdigest() if sig else _EMPTY
        deco_hash = _blake2b(deco, digest_size=10).hexdigest() if deco else _EMPTY
        body_hash = _blake2b(body, digest_size=10).hexdigest()
        doc = found.docstring
        doc_hash = _blake2b(collapse(doc, 1 << 30).encode(), digest_size=10).hexdigest() if doc else _EMPTY
        params = found.params_node
        rec.core = Core(
            found.kind,
            found.name,
            found.segment or found.name,
            fr.node_type,
            found.positional,
            found.signature,
            tuple(param_names(params, self.content, self.spec.comment_types)) if params is not None else (),
            found.returns,
            doc,
            sig_hash,
            deco_hash,
            body_hash,
            doc_hash,
            _blake2b(f"{sig_hash}{deco_hash}{body_hash}{doc_hash}".encode(), digest_size=10).hexdigest(),
            _blake2b(b"".join(fr.raw), digest_size=10).hexdigest(),
            b"\x00".join([p for p in (sig, deco, body) if p]),
        )

    # -- incremental reuse ------------------------------------------------------------

    def _reuse(self, fr: _Frame, node: Node, ntype: str, reuse: Reuse) -> bool:
        """Copy an unchanged entity (and its subtree) from the previous version, if it is one.

        The node must lie clear of every changed region, together with its
        leading comments / attributes (taken from the old record, with one byte
        of margin), and match an old record in span, node type and context.
        """
        start, end = node.start_byte, node.end_byte
        place = reuse.placement(start, end)
        if place is None:
            return False
        shift, lshift, before = place
        old = reuse.records
        j = reuse.index.get((start - shift, end - shift))
        if j is None:
            return False
        o = old[j]
        oc = o.core
        if (
            oc.node_type != ntype
            or (before >= 0 and o.ext_start + shift <= before + 1)
            or oc.positional
            or o.parent < 0
            or old[o.parent].core.kind != fr.kind
        ):
            return False
        records = self.records
        off = len(records) - j
        origin = reuse.origin
        for k in range(j, o.end):
            ok = old[k]
            parent = fr.index if k == j else ok.parent + off
            pr = records[parent]
            origin[len(records)] = k
            records.append(
                Rec(
                    ok.core,
                    parent,
                    ok.end + off,
                    pr.depth + 1,
                    join_qualname(pr.lqual, ok.core.segment),
                    ok.start_byte + shift,
                    ok.end_byte + shift,
                    ok.ext_start + shift,
                    ok.start_line + lshift,
                    ok.end_line + lshift,
                )
            )
        fr.settle(self.content)
        self._take_leading(fr, None, o.ext_start + shift)
        fr.pending.clear()
        fr.prev_end = _NO_END
        return True
