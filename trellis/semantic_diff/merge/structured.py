"""The structured merge: every entity merged on its own, as a line merge of its *units*.

The file is a tree of containers. Each entity that has lines of its own (see
``layout.py``) is cut out of its parent's text and replaced there by a
placeholder unit naming its identity; what is left of the parent — its
header, its own statements, blank lines, imports — is merged line by line
(``merge3``), conflicting regions that only differ in entities or imports are
resolved as ordered sets (``resolve.py``), and each placeholder is then filled
with the merge of that entity, recursively. So two sides editing two
functions, adding functions at the same place, reordering, or moving an entity
while the other edits it, all merge; a conflict stays inside the entity where
both sides changed the same lines.

Special cases, each a conflict confined to the entity: one side deleted an
entity the other changed, or moved to another container (one only reordered
among its siblings: it is deleted); both sides put it in two different
places. Untouched entities are copied byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..diff import module_name
from ..languages.registry import parser_for
from ..languages.spec import LanguageSpec
from .imports import ImportInfo, import_info, merge_statements
from .layout import IMPORT_TYPES
from .lists import MODIFIERS
from .model import ConflictRegion
from .resolve import is_glue, item_key, resolve, resolve_adjacent
from .text import Markers, merge_sequences
from .tokens import merge_tokens
from .units import entity_unit, parse_entity_unit, render_lines, text_units
from .versions import ROOT, Version, identities

__all__ = ["StructuredMerge"]

_T, _E, _F, _I, _C = ord("T"), ord("E"), ord("F"), ord("I"), ord("C")

# How annotations, decorators and attributes start, where their order does not matter (not
# Python: decorators apply bottom-up and often depend on each other's order).
_ANNOTATIONS: dict[str, tuple[bytes, ...]] = {
    "java": (b"@",),
    "typescript": (b"@",),
    "tsx": (b"@",),
    "javascript": (b"@",),
    "rust": (b"#[",),
}
# Where a bare name between braces is a key (a shorthand property, a Rust field or use-list name).
_BARE_KEYS = frozenset({"javascript", "typescript", "tsx", "rust"})
# The statement an otherwise empty body holds.
_PLACEHOLDERS: dict[str, frozenset[bytes]] = {"python": frozenset({b"pass", b"..."})}


@dataclass(frozen=True, slots=True)
class Region:
    """A conflicting region of a container's units."""

    base: tuple[bytes, ...]
    left: tuple[bytes, ...]
    right: tuple[bytes, ...]


Piece = bytes | Region


class StructuredMerge:
    """One structured merge of three parsed versions; ``run()`` gives the text and its conflicts."""

    def __init__(self, path: str, spec: LanguageSpec, versions: tuple[Version, ...], markers: Markers) -> None:
        self.path = path
        self.spec = spec
        self.vers = versions
        self.markers = markers
        self.module = "" if spec.keyed else module_name(path)
        self.where = identities(versions)
        self.abstract = self._abstract()
        self.delete_edit = self._delete_edit()
        self._units_memo: dict[tuple[int, int], list[bytes]] = {}
        self._import_infos: list[dict[bytes, ImportInfo]] = [{}, {}, {}]
        self._unchanged_memo: dict[str, bool] = {}
        self.plan: dict[str, list[Piece]] = {}
        self.dups: set[str] = set()
        self._dups_done: set[str] = set()
        self.conflicts: list[ConflictRegion] = []
        self.conflicted: list[str] = []  # the identities of the entities in conflict

    # -- the result -------------------------------------------------------------------

    def run(self) -> tuple[bytes, tuple[ConflictRegion, ...]]:
        counts: Counter[str] = Counter()
        self._plan(ROOT, counts)
        self.dups = {x for x, n in counts.items() if n > 1}
        text, _ = self._render(ROOT, b"")
        return text, tuple(self.conflicts)

    def exists(self, x: str) -> bool:
        """Whether the entity is in the merge: three-way on its presence."""
        b, l, r = (i is not None for i in self.where[x])
        return r if l == b else l

    # -- which entities are merged on their own ---------------------------------------

    def _abstract(self) -> set[str]:
        ok: dict[str, bool] = {}
        for ver in self.vers:
            for i in range(1, len(ver.records)):
                x = ver.ids[i]
                ok[x] = ok.get(x, True) and ver.chunks[i] is not None
        abstract = {x for x, good in ok.items() if good}
        changed = True
        while changed:  # an entity inside an inline one is inline too, on every side
            changed = False
            for ver in self.vers:
                for i in range(1, len(ver.records)):
                    x = ver.ids[i]
                    p = ver.records[i].parent
                    if x in abstract and p != 0 and ver.ids[p] not in abstract:
                        abstract.discard(x)
                        changed = True
        return abstract

    def _same(self, va: int, ia: int, vb: int, ib: int) -> bool:
        """Same text, indentation aside."""
        a, b = self.vers[va], self.vers[vb]
        ca, cb = a.chunks[ia], b.chunks[ib]
        ta, tb = a.text(ia), b.text(ib)
        if ca is None or cb is None or ca.indent == cb.indent:
            return ta == tb
        ua: list[bytes] = []
        ub: list[bytes] = []
        text_units(ta, ca.indent, ua)
        text_units(tb, cb.indent, ub)
        return ua == ub

    def _unchanged(self, x: str) -> bool:
        got = self._unchanged_memo.get(x)
        if got is None:
            b, l, r = self.where[x]
            got = False
            if b is not None and l is not None and r is not None:
                vb, vl, vr = self.vers
                cb, cl, cr = vb.chunks[b], vl.chunks[l], vr.chunks[r]
                got = (
                    cb is not None
                    and cl is not None
                    and cr is not None
                    and cb.indent == cl.indent == cr.indent
                    and vb.text(b) == vl.text(l) == vr.text(r)
                )
            self._unchanged_memo[x] = got
        return got

    def _delete_edit(self) -> dict[str, list[tuple[str, int]]]:
        """Entities one side deleted and the other changed, by the container they are in on that side."""
        out: dict[str, list[tuple[str, int]]] = {}
        for x, recs in self.where.items():
            b = recs[0]
            if b is None or x not in self.abstract:
                continue
            for gone, side in ((1, 2), (2, 1)):
                edited = recs[side]
                if recs[gone] is None and edited is not None and not self._same(0, b, side, edited):
                    out.setdefault(self.vers[side].parent_id(edited), []).append((x, side))
        return out

    # -- units and their merge ----------------------------------------------------------

    def _units(self, v: int, i: int) -> list[bytes]:
        key = (v, i)
        got = self._units_memo.get(key)
        if got is not None:
            return got
        ver = self.vers[v]
        chunk = ver.chunks[i]
        assert chunk is not None
        content, indent = ver.content, chunk.indent
        spans: list[tuple[int, int, int]] = []
        for c in ver.kids[i]:
            cc = ver.chunks[c]
            if cc is not None and ver.ids[c] in self.abstract:
                spans.append((cc.start, cc.tail, c))
        if i == 0 and ver.imports:
            spans.extend((s, e, -1) for s, e, _ in ver.imports)
        members = ver.members.get(i)
        if members:
            spans.extend((s, e, -2 - k) for k, (s, e, _) in enumerate(members))
        if len(spans) > 1:
            spans.sort()
        out: list[bytes] = []
        pos = chunk.start
        for s, e, c in spans:
            if s < pos:  # an import inside something already cut out: plain text
                continue
            if s > pos:
                text_units(content[pos:s], indent, out)
            if c == -1:
                out.append(b"I" + content[s:e])
                self._import_infos[v][out[-1]] = ver.import_at[s]
            elif c < -1:
                assert members is not None
                line = content[s:e]
                if not line.startswith(indent):  # indented less than its class: plain text
                    text_units(line, indent, out)
                else:
                    out.append(b"F" + members[-2 - c][2] + b"\0" + line[len(indent) :])
            else:
                cc = ver.chunks[c]
                assert cc is not None
                out.append(entity_unit(ver.ids[c], cc, indent))
            pos = e
        if chunk.end > pos:
            text_units(content[pos : chunk.end], indent, out)
        if out and i != 0 and not out[-1].endswith(b"\n"):
            # An entity's text stops at its last token; the unit that ends it ends a line, like it
            # does on a side that added something after it (``_line_ends`` removes it again).
            out[-1] += self.markers.newline
        self._units_memo[key] = out
        return out

    def _pieces(self, x: str) -> list[Piece]:
        """The merged units of entity ``x`` (conflicting regions as ``Region``)."""
        recs = self.where[x]
        b, l, r = (self._units(v, i) if i is not None else None for v, i in enumerate(recs))
        pieces: list[Piece]
        if l is None or r is None:
            pieces = list(l if l is not None else r or ())
        else:
            if b is None:
                b = []
            if x == ROOT and l != b and r != b and l != r:
                l, r = self._merge_import_names(b, l, r)
            if l == b:
                pieces = list(r)
            elif r == b or l == r:
                pieces = list(l)
            else:
                pieces = []
                for group in merge_sequences(b, l, r):
                    if group[0] != "conflict":
                        pieces.extend(group[1])
                        continue
                    gb, gl, gr = list(group[1]), list(group[2]), list(group[3])
                    moved = _slide_up(pieces, gb, gl, gr)
                    resolved = resolve(
                        gb, gl, gr, _ANNOTATIONS.get(self.spec.name, ()), _PLACEHOLDERS.get(self.spec.name, frozenset())
                    )
                    if resolved is None:
                        k = len(pieces)
                        while k and isinstance(pieces[k - 1], bytes):
                            k -= 1
                        resolved = resolve_adjacent(
                            gb,
                            gl,
                            gr,
                            [p for p in pieces[k:] if isinstance(p, bytes)],
                            bare_keys=self.spec.name in _BARE_KEYS,
                            modifiers=MODIFIERS.get(self.spec.name, ()),
                        )
                    if resolved is None:
                        resolved = merge_tokens(self.spec.name, gb, gl, gr)
                    if resolved is None:
                        pieces.append(Region(tuple(gb), tuple(gl), tuple(gr)))
                    else:
                        pieces.extend(resolved)
                    pieces.extend(moved)
        if x == ROOT:
            pieces = self._dedupe_imports(pieces)
        for gone, side in self.delete_edit.get(x, ()):
            self._insert_deleted(x, gone, side, pieces)
        if self.spec.name == "json":
            self._json_commas(pieces)
        else:
            self._member_commas(x, pieces)
        if not any(isinstance(p, Region) for p in pieces):
            self._line_ends(x, pieces)
        return pieces

    def _line_ends(self, x: str, pieces: list[Piece]) -> None:
        """A unit that was last (no line break) and is now followed by more gets one; the last
        unit loses its line break when no version of the entity ends with one."""
        nl = self.markers.newline
        for k in range(len(pieces) - 1):
            p = pieces[k]
            assert isinstance(p, bytes)
            if not p.endswith(b"\n"):
                pieces[k] = p + nl
        if not pieces:
            return
        ends = [self.vers[v].text(i).endswith(b"\n") for v, i in enumerate(self.where[x]) if i is not None]
        if any(ends):
            return
        while len(pieces) > 1 and isinstance(pieces[-1], bytes) and is_glue(pieces[-1]):
            pieces.pop()
        last = pieces[-1]
        assert isinstance(last, bytes)
        if last.endswith(b"\n"):
            pieces[-1] = last[:-2] if last.endswith(b"\r\n") else last[:-1]

    def _merge_import_names(
        self, base: list[bytes], left: list[bytes], right: list[bytes]
    ) -> tuple[list[bytes], list[bytes]]:
        """Both sides' import statements of one source that both sides changed (or both added),
        merged by the names they bind, in place of each side's statement — so the line merge
        takes one statement, not both. A side that kept the base's statement and added another
        of the same source has its names joined into the base's first."""
        Stmt = tuple[bytes, bytes, ImportInfo]  # the unit in the side's list, the text, what it binds

        def by_source(v: int, units: list[bytes]) -> dict[bytes, list[Stmt]]:
            out: dict[bytes, list[Stmt]] = {}
            for u in units:
                if u[0] == _I:
                    info = self._import_infos[v].get(u)
                    if info is not None and info.source:
                        out.setdefault(info.source, []).append((u, u[1:], info))
            return out

        sb, sl, sr = by_source(0, base), by_source(1, left), by_source(2, right)
        swap: dict[bytes, bytes] = {}
        for source, ls in sl.items():
            rs, bs = sr.get(source), sb.get(source, [])
            if rs is None or len(bs) > 1:
                continue
            bt = bs[0][1] if bs else None
            drop: list[bytes] = []
            other = ls if len(rs) > 1 else rs  # the side with one statement, when one is joined
            if len(ls) == 1 and len(rs) > 1:
                rs = self._joined(rs, bt, drop)
            elif len(rs) == 1 and len(ls) > 1:
                ls = self._joined(ls, bt, drop)
            if len(ls) != 1 or len(rs) != 1:
                continue
            (lu, lt, li), (ru, rt, ri) = ls[0], rs[0]
            if drop and other[0][1] == bt:
                continue  # the other side left the statement: these stand as written
            if not drop and (lt == bt or rt == bt or lt == rt):
                continue
            if lt == rt or rt == bt:
                merged: bytes | None = lt
            elif lt == bt:
                merged = rt
            else:
                merged = merge_statements((bt, bs[0][2]) if bt is not None else None, (lt, li), (rt, ri))
            if merged is None:
                continue
            swap[lu] = swap[ru] = b"I" + merged if merged else b""
            swap.update((u, b"") for u in drop)
        if not swap:
            return left, right
        return ([x for x in (swap.get(u, u) for u in left) if x], [x for x in (swap.get(u, u) for u in right) if x])

    def _joined(
        self, stmts: list[tuple[bytes, bytes, ImportInfo]], base: bytes | None, drop: list[bytes]
    ) -> list[tuple[bytes, bytes, ImportInfo]]:
        """A side's statements of one source — the base's (unchanged, else the side's first, which
        may have changed too) and ones it added — as one: that one with the added names (the
        added statements go in ``drop``). Unchanged when the side is not of that shape (the
        statements then stay, and the checks judge)."""
        keep = [x for x in stmts if x[1] == base]
        if base is None or len(keep) > 1 or not stmts:
            return stmts
        first = keep[0] if keep else stmts[0]
        added = [x for x in stmts if x is not first]
        if not added:
            return stmts
        unit, text, info = first
        for _u, t, i in added:
            joined = merge_statements(None, (text, info), (t, i))
            parsed = self._statement_info(joined) if joined else None
            if joined is None or parsed is None:
                return stmts
            text, info = joined, parsed
        drop.extend(u for u, _, _ in added)
        return [(unit, text, info)]

    def _statement_info(self, text: bytes) -> ImportInfo | None:
        """What one import statement, on its own, binds (None when it does not parse so)."""
        tree = parser_for(self.spec).parse(text)
        node = next((n for n in tree.root_node.children if n.type in IMPORT_TYPES.get(self.spec.name, ())), None)
        if tree.root_node.has_error or node is None:
            return None
        info = import_info(self.spec.name, node, text, 0)
        return info if info.source else None

    def _dedupe_imports(self, pieces: list[Piece]) -> list[Piece]:
        """An import both sides added, at different places, once (unless a version has it twice)."""
        twice: set[bytes] = set()
        for v, _ver in enumerate(self.vers):
            counts = Counter(item_key(u) for u in self._units(v, 0) if u[0] == _I)
            twice.update(k for k, n in counts.items() if n > 1)
        seen: set[bytes] = set()
        out: list[Piece] = []
        for p in pieces:
            if isinstance(p, bytes) and p[0] == _I:
                k = item_key(p)
                if k in seen and k not in twice:
                    continue
                seen.add(k)
            out.append(p)
        return out

    def _insert_deleted(self, x: str, gone: str, side: int, pieces: list[Piece]) -> None:
        """Put back, as a conflict, an entity one side deleted and the other changed (where it was)."""
        key = b"E" + gone.encode()
        if any(isinstance(p, bytes) and p[0] == _E and item_key(p) == key for p in pieces):
            return
        i = self.where[x][side]
        assert i is not None
        units = self._units(side, i)
        j = next((k for k, u in enumerate(units) if u[0] == _E and item_key(u) == key), None)
        if j is None:
            return
        at = -1
        for u in reversed(units[:j]):
            if u[0] in (_E, _F, _I):
                k = item_key(u)
                at = next(
                    (
                        n + 1
                        for n, p in enumerate(pieces)
                        if isinstance(p, bytes) and p[0] in (_E, _F, _I) and item_key(p) == k
                    ),
                    -1,
                )
                if at >= 0:
                    break
        if at < 0:
            first = next((n for n, p in enumerate(pieces) if isinstance(p, Region) or not is_glue(p)), -1)
            at = 0 if x == ROOT or first < 0 else first + 1
        pieces.insert(at, b"C" + units[j][1:])

    def _member_commas(self, x: str, pieces: list[Piece]) -> None:
        """Members separated by commas (Rust fields and variants, TS enum members): one that was
        last without a comma and now has a member after it gets one."""
        if not any(isinstance(p, bytes) and p[0] == _F for p in pieces):
            return
        if not any(
            u[0] == _F and u.rstrip().endswith(b",")
            for v, i in enumerate(self.where[x])
            if i is not None
            for u in self._units(v, i)
        ):
            return
        idx = [k for k, p in enumerate(pieces) if isinstance(p, Region) or not is_glue(p)]
        for a, b in zip(idx, idx[1:]):
            unit, nxt = pieces[a], pieces[b]
            if not (isinstance(unit, bytes) and isinstance(nxt, bytes) and unit[0] == _F and nxt[0] in (_F, _E)):
                continue
            body = unit.rstrip()
            if not body.endswith((b",", b";")):
                pieces[a] = body + b"," + unit[len(body) :]

    def _json_commas(self, pieces: list[Piece]) -> None:
        """Keys merged from both sides: a comma after each but the last (JSON has no terminators)."""
        if any(isinstance(p, Region) for p in pieces):
            return
        strict = self.path.lower().endswith(".json")
        idx = [k for k, p in enumerate(pieces) if isinstance(p, bytes) and not is_glue(p)]
        for a, b in zip(idx, idx[1:] + [-1]):
            unit = pieces[a]
            assert isinstance(unit, bytes)
            if unit[0] != _E:
                continue
            nxt = pieces[b] if b >= 0 else None
            closing = nxt is None or (isinstance(nxt, bytes) and nxt[0] == _T and nxt[1:].lstrip()[:1] in (b"}", b"]"))
            x, rel, trailing = parse_entity_unit(unit)
            has = b"," in trailing
            if not closing and not has:
                trailing = b"," + trailing
            elif closing and has and strict:
                trailing = trailing.replace(b",", b"", 1)
            else:
                continue
            pieces[a] = b"".join((b"E", x.encode(), b"\0", rel, b"\0", trailing))

    def _plan(self, x: str, counts: Counter[str]) -> None:
        pieces = self._pieces(x)
        self.plan[x] = pieces
        for p in pieces:
            if isinstance(p, bytes) and p[0] == _E:
                c = parse_entity_unit(p)[0]
                counts[c] += 1
                if counts[c] == 1 and c not in self.plan and self.exists(c) and not self._unchanged(c):
                    self._plan(c, counts)

    # -- rendering ----------------------------------------------------------------------

    def _render(self, x: str, indent: bytes) -> tuple[bytes, bool]:
        """The merged text of ``x`` at ``indent``, and whether it is a whole-entity conflict block."""
        if x in self.dups:
            if x in self._dups_done:
                return b"", True
            self._dups_done.add(x)
            return self._entity_conflict(x, indent), True
        if not self.exists(x):
            if self._only_reordered(x):
                return b"", True  # deleted on one side, only reordered on the other: deleted
            return self._entity_conflict(x, indent), True
        if self._unchanged(x):
            b = self.where[x][0]
            assert b is not None
            return self._reindent(0, b, indent), False
        pieces = self.plan.get(x)
        if pieces is None:
            pieces = self.plan[x] = self._pieces(x)
        out: list[bytes] = []
        conflicted = False
        nl = self.markers.newline

        def line_start() -> None:
            if out and not out[-1].endswith(b"\n"):
                out.append(nl)

        for p in pieces:
            if isinstance(p, Region):
                line_start()
                conflicted = True
                parts = [self._side_text(v, units, indent) for v, units in enumerate((p.base, p.left, p.right))]
                block = self.markers.block(parts[1], parts[0], parts[2])
                out.append(block)
                if x == ROOT:
                    self._conflict(x, parts[0], parts[1], parts[2], block)
                continue
            tag = p[0]
            if tag == _T:
                out.append(indent + p[1:])
            elif tag == _E:
                c, rel, trailing = parse_entity_unit(p)
                text, block_ = self._render(c, indent + rel)
                if block_:
                    line_start()
                    out.append(text)
                    continue
                out.append(text)
                if text.endswith(b"\n") and trailing.endswith(b"\n") and not self._ends_with_newline(c):
                    trailing = trailing.rstrip(b"\r\n")  # the entity ends in a conflict block
                out.append(trailing)
            elif tag == _C:
                c, rel, _ = parse_entity_unit(p)
                line_start()
                out.append(self._entity_conflict(c, indent + rel))
            elif tag == _F:
                out.append(indent + p[p.index(b"\0") + 1 :])
            else:
                out.append(p[1:])
        text = b"".join(out)
        if conflicted and x != ROOT:
            tb, tl, tr = (self.vers[v].text(i) if i is not None else b"" for v, i in enumerate(self.where[x]))
            self._conflict(x, tb, tl, tr, text)
        return text, False

    def _only_reordered(self, x: str) -> bool:
        """Present on one side only besides the base, unchanged and in the same container there
        (the line merge placed it anew because its siblings were reordered)."""
        b, l, r = self.where[x]
        side = 1 if r is None else 2
        i = l if r is None else r
        if b is None or i is None or (l is None) == (r is None):
            return False
        return self.vers[side].parent_id(i) == self.vers[0].parent_id(b) and self._same(0, b, side, i)

    def _ends_with_newline(self, x: str) -> bool:
        return any(self.vers[v].text(i).endswith(b"\n") for v, i in enumerate(self.where[x]) if i is not None)

    def _reindent(self, v: int, i: int, indent: bytes) -> bytes:
        ver = self.vers[v]
        chunk = ver.chunks[i]
        text = ver.text(i)
        if chunk is None or chunk.indent == indent:
            return text
        units: list[bytes] = []
        text_units(text, chunk.indent, units)
        return render_lines(units, indent)

    def _side_text(self, v: int, units: tuple[bytes, ...], indent: bytes) -> bytes:
        """One side of a conflicting region, its entities as that side has them."""
        out: list[bytes] = []
        for u in units:
            tag = u[0]
            if tag == _E:
                c, rel, trailing = parse_entity_unit(u)
                i = self.vers[v].index.get(c)
                if i is not None:
                    out.append(self._reindent(v, i, indent + rel))
                out.append(trailing)
            elif tag == _T:
                out.append(indent + u[1:])
            elif tag == _F:
                out.append(indent + u[u.index(b"\0") + 1 :])
            else:
                out.append(u[1:])
        return b"".join(out)

    def _entity_conflict(self, x: str, indent: bytes) -> bytes:
        recs = self.where[x]
        texts = [self._reindent(v, i, indent) if i is not None else b"" for v, i in enumerate(recs)]
        block = self.markers.block(texts[1], texts[0], texts[2])
        b, l, r = (self.vers[v].text(i) if i is not None else b"" for v, i in enumerate(recs))
        self._conflict(x, b, l, r, block)
        return block

    def _conflict(self, x: str, base: bytes, left: bytes, right: bytes, markers: bytes) -> None:
        qualname, kind = self._name(x)
        self.conflicted.append(x)
        self.conflicts.append(
            ConflictRegion(
                path=self.path, qualname=qualname, entity_kind=kind, base=base, left=left, right=right, markers=markers
            )
        )

    def _name(self, x: str) -> tuple[str, str]:
        """(qualified name, kind) of an entity: as in the base, else the smaller of the sides'."""
        names = []
        for v, i in enumerate(self.where[x]):
            if i is None:
                continue
            rec = self.vers[v].records[i]
            lqual = rec.lqual
            if self.spec.keyed:
                q = lqual or self.path
            else:
                q = f"{self.module}.{lqual}" if lqual and self.module else lqual or self.module
            names.append((q, rec.core.kind))
            if v == 0:
                break
        return names[0] if len(names) == 1 or self.where[x][0] is not None else min(names)


def _slide_up(before: list[Piece], base: list[bytes], left: list[bytes], right: list[bytes]) -> list[bytes]:
    """Slide a conflicting region up over the blank lines it ends with and that precede it, so that
    blank lines come before the items they separate (``X ⏎ | Y ⏎`` becomes ``⏎ X | ⏎ Y``).
    Changes the three lists in place; returns the blank lines now after the region."""
    after: list[bytes] = []
    while before and left and right:
        unit = before[-1]
        if (
            not isinstance(unit, bytes)
            or not is_glue(unit)
            or left[-1] != unit
            or right[-1] != unit
            or (base and base[-1] != unit)
        ):
            break
        before.pop()
        after.insert(0, unit)
        for side in (base, left, right):
            if side:
                side.pop()
                side.insert(0, unit)
    return after
