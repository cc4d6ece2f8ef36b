"""Pairing the entities of two versions of a file set, and naming what changed.

1. **Files.** Each file pair (same path, or a detected/declared file rename)
   pairs its two file-level entities (module / document).
2. **By name, top-down.** For every paired entity, its children pair with the
   children of its counterpart that have the same kind and name. Duplicates
   (overloads, property getter/setter) pair by identical text, then identical
   normalised tokens, then identical signature, then order.
3. **By similarity.** What is still unpaired on both sides is compared by
   normalised-token similarity (``difflib`` ratio over token lists, nested
   entities and docstring words in, the name left out): an old and a new entity pair only when they are of the same kind
   family, the similarity reaches the threshold (0.8 when the names differ,
   0.6 when only the container differs), each is the other's strictly best
   candidate (a tie pairs nothing), and — for a rename — the entity has at
   least ``MIN_RENAME_TOKENS`` tokens. Step 2 then runs under each new pair, so
   the members of a renamed class pair by name.
4. **Classification.** A pair whose parent is not paired with the new parent
   *moved*; one whose name differs was *renamed*; both: *moved_renamed*.
   Otherwise it is *modified* when any detail differs, else unchanged and not
   reported. Unpaired old entities were *removed*, unpaired new ones *added*.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from .extract import Core, Rec
from .model import EntityChange

__all__ = ["FileSide", "MatchOptions", "details_of", "match_entities"]

MIN_RENAME_TOKENS = 8


@dataclass(frozen=True, slots=True)
class MatchOptions:
    rename_threshold: float = 0.8     # similarity needed to pair entities with different names
    move_threshold: float = 0.6       # similarity needed when the name is the same (a pure move)
    max_comparisons: int = 4000       # similarity computations per diff; beyond, exact matches only
    max_tokens: int = 4000            # tokens compared per entity (longer ones are cut)


@dataclass(slots=True)
class FileSide:
    """One side of one file: where it is and its records."""

    path: str
    module: str          # module qualname for code ("app.models"); "" for keyed documents
    keyed: bool
    records: list[Rec]

    def qualname(self, i: int) -> str:
        lqual = self.records[i].lqual
        if self.keyed:
            return lqual or self.path
        if not lqual:
            return self.module
        return f"{self.module}.{lqual}" if self.module else lqual

    def name(self, i: int) -> str:
        if i == 0:
            return posixpath.basename(self.path) if self.keyed else self.module.rsplit(".", 1)[-1]
        return self.records[i].core.name


Ref = tuple[int, int]    # (file index, record index)

_FAMILIES = {"method": "function", "constructor": "function"}


def _family(kind: str) -> str:
    return _FAMILIES.get(kind, kind)


class _Matcher:
    def __init__(self, old: list[FileSide], new: list[FileSide], options: MatchOptions) -> None:
        self.old = old
        self.new = new
        self.options = options
        self.o2n: list[dict[int, Ref]] = [{} for _ in old]
        self.n2o: list[dict[int, Ref]] = [{} for _ in new]
        self.pairs: list[tuple[Ref, Ref]] = []
        self.score: dict[Ref, float] = {}           # new ref -> similarity when paired by similarity
        self._tokens: dict[tuple[bool, Ref], list[bytes]] = {}

    def pair(self, o: Ref, n: Ref) -> None:
        self.o2n[o[0]][o[1]] = n
        self.n2o[n[0]][n[1]] = o
        self.pairs.append((o, n))

    def unpaired_old(self, oi: int) -> list[int]:
        return sorted(set(range(1, len(self.old[oi].records))).difference(self.o2n[oi]))

    def unpaired_new(self, ni: int) -> list[int]:
        return sorted(set(range(1, len(self.new[ni].records))).difference(self.n2o[ni]))

    # -- step 2: by name ----------------------------------------------------------------

    def by_name(self) -> None:
        """Pair unpaired entities whose parents are paired, by (kind, name), top-down.

        Unpaired new entities are visited in preorder, so a parent is paired
        before its children are looked at; the work is proportional to the
        number of unpaired entities, not to the size of the files.
        """
        old_groups: dict[tuple[int, int, str, str], list[int]] = {}
        for oi, side in enumerate(self.old):
            records = side.records
            for k in self.unpaired_old(oi):
                c = records[k].core
                old_groups.setdefault((oi, records[k].parent, c.kind, c.segment), []).append(k)
        if not old_groups:
            return
        for ni, side in enumerate(self.new):
            records = side.records
            unpaired = self.unpaired_new(ni)
            new_groups: dict[tuple[int, str, str], list[int]] = {}
            for k in unpaired:
                c = records[k].core
                new_groups.setdefault((records[k].parent, c.kind, c.segment), []).append(k)
            n2o = self.n2o[ni]
            for k in unpaired:
                if k in n2o:
                    continue
                rec = records[k]
                op = n2o.get(rec.parent)
                if op is None:
                    continue
                c = rec.core
                olist = old_groups.get((op[0], op[1], c.kind, c.segment))
                if not olist:
                    continue
                o2n = self.o2n[op[0]]
                olist = [x for x in olist if x not in o2n]
                nlist = [x for x in new_groups[(rec.parent, c.kind, c.segment)] if x not in n2o]
                for ok, nk in _pair_group(olist, nlist, self.old[op[0]].records, records):
                    self.pair((op[0], ok), (ni, nk))

    # -- step 3: by similarity ----------------------------------------------------------

    def tokens(self, new: bool, ref: Ref) -> list[bytes]:
        key = (new, ref)
        toks = self._tokens.get(key)
        if toks is None:
            side = (self.new if new else self.old)[ref[0]]
            records = side.records
            r = records[ref[1]]
            parts = [r.core.tokens, _doc_words(r.core)]
            for k in range(ref[1] + 1, r.end):
                parts.append(records[k].core.segment.encode())
                parts.append(records[k].core.tokens)
                parts.append(_doc_words(records[k].core))
            toks = b"\x00".join(p for p in parts if p).split(b"\x00")
            if toks == [b""]:
                toks = []
            toks = toks[: self.options.max_tokens]
            self._tokens[key] = toks
        return toks

    def by_similarity(self) -> list[tuple[Ref, Ref]]:
        opts = self.options
        olds = [(oi, k) for oi in range(len(self.old)) for k in self.unpaired_old(oi)]
        news = [(ni, k) for ni in range(len(self.new)) for k in self.unpaired_new(ni)]
        if not olds or not news:
            return []
        by_family: dict[str, list[Ref]] = {}
        for ref in olds:
            by_family.setdefault(_family(self.old[ref[0]].records[ref[1]].core.kind), []).append(ref)
        edges: list[tuple[float, Ref, Ref]] = []
        budget = opts.max_comparisons
        matcher: difflib.SequenceMatcher[bytes] = difflib.SequenceMatcher(None, [], [], autojunk=False)
        for n in news:
            nrec = self.new[n[0]].records[n[1]]
            candidates = by_family.get(_family(nrec.core.kind))
            if not candidates:
                continue
            ntoks = self.tokens(True, n)
            nname = nrec.core.name
            nnorm = nrec.core.norm_hash
            for o in candidates:
                orec = self.old[o[0]].records[o[1]]
                same_name = orec.core.name == nname
                threshold = opts.move_threshold if same_name else opts.rename_threshold
                if orec.core.norm_hash == nnorm and _subtree_equal(self.old[o[0]].records, o[1],
                                                                     self.new[n[0]].records, n[1]):
                    score = 1.0
                    toks_len = len(ntoks)
                else:
                    otoks = self.tokens(False, o)
                    la, lb = len(otoks), len(ntoks)
                    toks_len = min(la, lb)
                    if la + lb == 0 or 2.0 * min(la, lb) / (la + lb) < threshold:
                        continue
                    if budget <= 0:
                        continue
                    budget -= 1
                    # Canonical order, so that swapping old and new gives the same score.
                    if (la, otoks) <= (lb, ntoks):
                        matcher.set_seqs(otoks, ntoks)
                    else:
                        matcher.set_seqs(ntoks, otoks)
                    if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                        continue
                    score = matcher.ratio()
                if score < threshold:
                    continue
                if not same_name and toks_len < MIN_RENAME_TOKENS:
                    continue
                # A same-name candidate wins a tie on similarity: the name is evidence too.
                edges.append((score + (0.001 if same_name else 0.0), o, n))
        best_o = _unique_best((o, n, s) for s, o, n in edges)
        best_n = _unique_best((n, o, s) for s, o, n in edges)
        pairs: list[tuple[Ref, Ref]] = []
        for o, (n, s) in sorted(best_o.items()):
            if best_n.get(n, (None, 0.0))[0] == o:
                self.pair(o, n)
                self.score[n] = round(min(s, 1.0), 4)
                pairs.append((o, n))
        return pairs


def _doc_words(core: Core) -> bytes:
    """The docstring's words as tokens: a long docstring is evidence that a stub was renamed."""
    return b"\x00".join(core.docstring.encode().split()) if core.docstring else b""


def _unique_best(edges: Iterable[tuple[Ref, Ref, float]]) -> dict[Ref, tuple[Ref, float]]:
    """For each left ref, its strictly best right ref (ties: none)."""
    best: dict[Ref, tuple[Ref | None, float]] = {}
    for a, b, s in edges:
        cur = best.get(a)
        if cur is None or s > cur[1]:
            best[a] = (b, s)
        elif s == cur[1]:
            best[a] = (None, s)
    return {a: (b, s) for a, (b, s) in best.items() if b is not None}


def _subtree_equal(orecs: list[Rec], oi: int, nrecs: list[Rec], ni: int) -> bool:
    o, n = orecs[oi], nrecs[ni]
    if o.end - oi != n.end - ni:
        return False
    for k in range(1, o.end - oi):
        a, b = orecs[oi + k].core, nrecs[ni + k].core
        if a.norm_hash != b.norm_hash or a.segment != b.segment:
            return False
    return True


def _pair_group(olist: list[int], nlist: list[int], orecs: list[Rec],
                nrecs: list[Rec]) -> list[tuple[int, int]]:
    """Pair same-named siblings: identical text first, then identical tokens, then identical
    signature, then in order. Symmetric: swapping the sides swaps the pairs."""
    if len(olist) == 1 and len(nlist) == 1:
        return [(olist[0], nlist[0])]
    pairs: list[tuple[int, int]] = []
    orest, nrest = list(olist), list(nlist)
    for attr in ("text_hash", "norm_hash", "sig_hash"):
        by_new: dict[str, list[int]] = {}
        for k in nrest:
            by_new.setdefault(getattr(nrecs[k].core, attr), []).append(k)
        by_old: dict[str, list[int]] = {}
        for k in orest:
            by_old.setdefault(getattr(orecs[k].core, attr), []).append(k)
        for value, olds in by_old.items():
            pairs.extend(zip(olds, by_new.get(value, ())))
        paired_o = {o for o, _ in pairs}
        paired_n = {n for _, n in pairs}
        orest = [k for k in orest if k not in paired_o]
        nrest = [k for k in nrest if k not in paired_n]
    pairs.extend(zip(orest, nrest))
    return pairs


def details_of(o: Core, n: Core, keyed: bool) -> list[str]:
    """What differs between two versions of an entity, in the documented vocabulary."""
    out: list[str] = []
    if o.kind != n.kind:
        out.append(f"kind:{o.kind}->{n.kind}")
    if o.sig_hash != n.sig_hash:
        out.append("signature")
        out.extend(_parameter_details(o.params, n.params))
        if o.returns != n.returns:
            out.append("return_type")
    if o.deco_hash != n.deco_hash:
        out.append("decorators")
    if o.doc_hash != n.doc_hash:
        out.append("docstring")
    if o.body_hash != n.body_hash:
        out.append("value" if keyed else "body")
    if not out and o.text_hash != n.text_hash:
        out.append("formatting")
    return out


def _parameter_details(old: tuple[tuple[str, str], ...], new: tuple[tuple[str, str], ...]) -> list[str]:
    onames = [p[0] for p in old]
    nnames = [p[0] for p in new]
    out: list[str] = []
    if onames != nnames:
        removed = [x for x in onames if x not in nnames]
        added = [x for x in nnames if x not in onames]
        if removed and len(removed) == len(added) and all(
                onames.index(a) == nnames.index(b) for a, b in zip(removed, added)):
            out.extend(f"parameters_renamed:{a}->{b}" for a, b in zip(removed, added))
        else:
            out.extend(f"parameters_added:{x}" for x in added)
            out.extend(f"parameters_removed:{x}" for x in removed)
        if [x for x in onames if x in nnames] != [x for x in nnames if x in onames]:
            out.append("parameters_reordered")
    otext = dict(old)
    for name, text in new:
        if name in otext and otext[name] != text:
            out.append(f"parameters_changed:{name}")
    return out


def match_entities(old: list[FileSide], new: list[FileSide], file_pairs: list[tuple[int, int]],
                   options: MatchOptions | None = None) -> list[EntityChange]:
    """All entity changes between ``old`` and ``new`` file sides.

    ``file_pairs`` lists (old index, new index) of files that are the same file.
    The result depends on the two versions only — never on how they were parsed
    (incrementally or not) or on what the cache held.
    """
    m = _Matcher(old, new, options or MatchOptions())
    for oi, ni in file_pairs:
        m.pair((oi, 0), (ni, 0))
    m.by_name()
    if m.by_similarity():
        m.by_name()
    return _classify(m)


def _classify(m: _Matcher) -> list[EntityChange]:
    changes: list[EntityChange] = []
    for (oi, ok), (ni, nk) in m.pairs:
        oside, nside = m.old[oi], m.new[ni]
        orec, nrec = oside.records[ok], nside.records[nk]
        oc, nc = orec.core, nrec.core
        if ok == 0 or nk == 0:
            moved = posixpath.dirname(oside.path) != posixpath.dirname(nside.path)
            renamed = oside.name(ok) != nside.name(nk)
        else:
            # Moved: to another parent, or (Go methods) to another receiver type.
            moved = m.o2n[oi].get(orec.parent) != (ni, nrec.parent) or (
                oc is not nc and _container(oc) != _container(nc))
            renamed = oc is not nc and oc.name != nc.name
        if oc is nc and not moved and not renamed:
            continue
        details = details_of(oc, nc, nside.keyed) if oc is not nc else []
        if not moved and not renamed and not details:
            continue
        change = "moved_renamed" if moved and renamed else "moved" if moved else "renamed" if renamed else "modified"
        changes.append(EntityChange(
            path=nside.path, old_path=oside.path, kind=nc.kind, qualname=nside.qualname(nk),
            old_qualname=oside.qualname(ok), change=change, details=tuple(details),
            old_start_line=orec.start_line, old_end_line=orec.end_line,
            new_start_line=nrec.start_line, new_end_line=nrec.end_line,
            similarity=m.score.get((ni, nk), 1.0)))
    for oi, side in enumerate(m.old):
        for k in sorted(set(range(len(side.records))).difference(m.o2n[oi])):
            rec = side.records[k]
            q = side.qualname(k)
            changes.append(EntityChange(
                path=side.path, old_path=side.path, kind=rec.core.kind, qualname=q, old_qualname=q,
                change="removed", details=(), old_start_line=rec.start_line, old_end_line=rec.end_line,
                new_start_line=0, new_end_line=0, similarity=0.0))
    for ni, side in enumerate(m.new):
        for k in sorted(set(range(len(side.records))).difference(m.n2o[ni])):
            rec = side.records[k]
            changes.append(EntityChange(
                path=side.path, old_path="", kind=rec.core.kind, qualname=side.qualname(k), old_qualname="",
                change="added", details=(), old_start_line=0, old_end_line=0,
                new_start_line=rec.start_line, new_end_line=rec.end_line, similarity=0.0))
    changes.sort(key=_order)
    return changes


def _container(core: Core) -> str:
    """The part of a qualname segment before the name: ``Repo.`` for Go's ``Repo.Save``."""
    seg, name = core.segment, core.name
    return seg[: len(seg) - len(name)] if seg.endswith(name) else seg


def _order(c: EntityChange) -> tuple[str, int, int, str, str, str, str]:
    line = c.old_start_line if c.change == "removed" else c.new_start_line
    end = c.old_end_line if c.change == "removed" else c.new_end_line
    return (c.path, line, -end, c.qualname, c.old_qualname, c.change, c.kind)
