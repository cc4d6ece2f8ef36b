"""Pairing the entities of two versions of a file set, and naming what changed.

1. **Files.** Each file pair (same path, or a detected/declared file rename)
   pairs its two file-level entities (module / document).
2. **By name, top-down.** For every paired entity, its children pair with the
   children of its counterpart that have the same kind and name. Duplicates
   (overloads, property getter/setter) pair by identical text, then identical
   normalised tokens, then identical signature, then order.
3. **Containers by their members** (classes, interfaces, structs…): each side's
   own tokens plus its members', same-named members counting with their own
   similarity (:meth:`_Matcher.container_score`), at the thresholds below. Step 2
   then pairs the members under each new pair, so a renamed or moved class is one
   change and its members follow it.
4. **Everything else by similarity.** What is still unpaired on both sides is
   compared by normalised-token similarity (``difflib`` ratio over token lists,
   nested entities and docstring words in, the name left out): an old and a new
   entity pair only when they are of the same kind family, the similarity
   reaches the threshold (0.8 when the names differ, 0.6 when only the container
   differs; 0.6, or 0.5 with the same parameters, for a rename whose call sites
   were updated from the old name to the new; 0.65 for a rename in place that
   keeps a word of the name; 0.5 for one in place that kept its docstring word for
   word and half its code; any, for the same code under a new docstring), each is
   the other's strictly best
   candidate (a tie pairs nothing), and — for a rename — the entity has at least
   ``MIN_RENAME_TOKENS`` tokens. Same-named functions whose bodies changed a lot
   are released first and stay apart only when both halves pair elsewhere: rename
   chains (a→b, b→c) and swaps. Then an unpaired class whose members moved
   together to one unpaired class pairs with it (:meth:`_Matcher.consolidate`).
   Last, along the class hierarchy (:meth:`_Matcher.hierarchy`): a method pulled up
   from several classes into their base, or pushed down from a base into several,
   pairs with each of them; the pairs beyond the first are ``extra`` (one row each).
5. **Classification.** A pair whose parent is not paired with the new parent
   *moved*; one whose name differs was *renamed*; both: *moved_renamed*. A class
   named like its file moves with the file.
   Otherwise it is *modified* when any detail differs, else unchanged and not
   reported. Unpaired old entities were *removed*, unpaired new ones *added*.
   Members whose qualified name changed only with a renamed or moved class
   *follow* it (``EntityChange.follows``); unchanged ones are *carried*.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from .extract import Core, Rec
from .languages.spec import CONTAINER_KINDS
from .model import EntityChange

__all__ = ["FileSide", "MatchOptions", "details_of", "match_entities"]

MIN_RENAME_TOKENS = 8
MIN_DOC_WORDS = 6  # a docstring kept word for word is evidence of a rename from this length on
MAX_RELEASED = 200  # chains and swaps are looked for among at most this many changed functions


_MATCHERS = 4096  # second sequences whose difflib index a matcher keeps (cleared past it)


@dataclass(frozen=True, slots=True)
class MatchOptions:
    rename_threshold: float = 0.8  # similarity needed to pair entities with different names
    move_threshold: float = 0.6  # similarity needed when the name is the same (a pure move)
    evidence_threshold: float = 0.6  # ... for a rename whose call sites moved from the old name to the new
    signature_threshold: float = 0.5  # ... and whose parameters are the same
    name_threshold: float = 0.65  # ... for a rename in the same container keeping a word of the name
    loose_threshold: float = 0.8  # a same-named function below this may be part of a chain or swap
    loose_margin: float = 0.1  # ... and is, when both halves pair elsewhere this much better
    max_comparisons: int = 4000  # similarity computations per diff; beyond, exact matches only
    max_tokens: int = 4000  # tokens compared per entity (longer ones are cut)


@dataclass(slots=True)
class FileSide:
    """One side of one file: where it is and its records."""

    path: str
    module: str  # module qualname for code ("app.models"); "" for keyed documents
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


Ref = tuple[int, int]  # (file index, record index)

_FAMILIES = {"method": "function", "constructor": "function"}


def _family(kind: str) -> str:
    return _FAMILIES.get(kind, kind)


_CONSTRUCTOR = "\x00constructor"


def _segment_key(core: Core) -> str:
    """What pairs siblings by name: the segment, except that constructors (named after
    their class in Java) pair as constructors, so that a renamed class keeps them."""
    return _CONSTRUCTOR if core.kind == "constructor" else core.segment


_RECEIVERS = frozenset({"self", "cls", "this"})
# Words too common in names to say two names are related.
_COMMON_WORDS = frozenset(
    {
        "test",
        "tests",
        "get",
        "set",
        "is",
        "has",
        "do",
        "to",
        "of",
        "the",
        "a",
        "an",
        "and",
        "or",
        "for",
        "on",
        "in",
        "with",
        "by",
        "from",
        "new",
        "init",
        "main",
        "run",
        "impl",
    }
)


_GENERIC_NAMES = frozenset(
    {
        "setUp",
        "tearDown",
        "setup",
        "teardown",
        "run",
        "main",
        "get",
        "set",
        "call",
        "apply",
        "execute",
        "handle",
        "process",
        "build",
        "create",
        "update",
        "close",
        "open",
        "start",
        "stop",
        "init",
        "render",
        "toString",
        "equals",
        "hashCode",
        "constructor",
        "default",
        "func",
        "wrapper",
        "decorator",
        "inner",
        "helper",
        "test",
        "value",
        "name",
        "data",
    }
)


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _generic(name: str) -> bool:
    """Names many unrelated entities share: dunders and the usual protocol and helper names."""
    return _dunder(name) or name in _GENERIC_NAMES


_IDENT = re.compile(r"[A-Za-z_$][\w$]*")


def _name_words(name: str) -> list[str]:
    """The words of an identifier (snake_case, camelCase, PascalCase) in order, lower-cased,
    common and short ones aside."""
    words = []
    for part in name.split("_"):
        for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", part):
            w = w.lower()
            if len(w) > 2 and w not in _COMMON_WORDS:
                words.append(w)
    return words


def _related_names(a: str, b: str) -> bool:
    """Whether a new name keeps the old one's subject: at least half the words of the shorter
    one in common, and more than a shared leading verb (``build_session`` / ``build_channel``)."""
    wa, wb = _name_words(a), _name_words(b)
    shared = set(wa) & set(wb)
    if not shared or (len(shared) == 1 and wa[0] == wb[0] and wa[0] in shared and len(wa) > 1 and len(wb) > 1):
        return False
    return 2 * len(shared) >= min(len(set(wa)), len(set(wb)))


class _Matcher:
    def __init__(self, old: list[FileSide], new: list[FileSide], options: MatchOptions) -> None:
        self.old = old
        self.new = new
        self.options = options
        self.o2n: list[dict[int, Ref]] = [{} for _ in old]
        self.n2o: list[dict[int, Ref]] = [{} for _ in new]
        self.pairs: list[tuple[Ref, Ref]] = []
        self.score: dict[Ref, float] = {}  # new ref -> similarity when paired by similarity
        self._tokens: dict[tuple[bool, Ref, bool], list[bytes]] = {}
        self._switched: tuple[dict[bytes, dict[int, int]], dict[bytes, dict[int, int]]] | None = None
        # One matcher per second sequence (by identity; the list is kept alive with it): difflib indexes the
        # second sequence when it is set, and the canonical order below changes which side that is.
        self._seqs: dict[int, tuple[list[bytes], difflib.SequenceMatcher[bytes]]] = {}
        self._own_tokens: dict[tuple[bool, Ref], list[bytes]] = {}
        self.budget = options.max_comparisons
        self.weak: list[tuple[Ref, Ref]] = []  # generic-name moves below the rename threshold
        # Renames on evidence beyond the body (updated call sites, same parameters) and the
        # locality tie-break: the diff's own matching turns them on, the merge's does not.
        self.evidence = False
        # Second sources of a pull-up from several classes and second targets of a push-down
        # to several (:meth:`hierarchy`): pairs beyond the one-to-one ``o2n``/``n2o``.
        self.extra: list[tuple[Ref, Ref]] = []
        self.extra_score: dict[tuple[Ref, Ref], float] = {}
        self._bases: dict[bool, dict[str, set[str]]] = {}

    def pair(self, o: Ref, n: Ref) -> None:
        self.o2n[o[0]][o[1]] = n
        self.n2o[n[0]][n[1]] = o
        self.pairs.append((o, n))

    def unpair(self, o: Ref, n: Ref) -> None:
        del self.o2n[o[0]][o[1]]
        del self.n2o[n[0]][n[1]]
        self.pairs.remove((o, n))
        self.score.pop(n, None)

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
                seg = c.segment if c.kind != "constructor" else _CONSTRUCTOR
                old_groups.setdefault((oi, records[k].parent, c.kind, seg), []).append(k)
        if not old_groups:
            return
        for ni, side in enumerate(self.new):
            records = side.records
            unpaired = self.unpaired_new(ni)
            new_groups: dict[tuple[int, str, str], list[int]] = {}
            for k in unpaired:
                c = records[k].core
                seg = c.segment if c.kind != "constructor" else _CONSTRUCTOR
                new_groups.setdefault((records[k].parent, c.kind, seg), []).append(k)
            n2o = self.n2o[ni]
            for k in unpaired:
                if k in n2o:
                    continue
                rec = records[k]
                op = n2o.get(rec.parent)
                if op is None:
                    continue
                c = rec.core
                key = c.segment if c.kind != "constructor" else _CONSTRUCTOR
                olist = old_groups.get((op[0], op[1], c.kind, key))
                if not olist:
                    continue
                o2n = self.o2n[op[0]]
                olist = [x for x in olist if x not in o2n]
                nlist = [x for x in new_groups[(rec.parent, c.kind, key)] if x not in n2o]
                oi = op[0]
                for ok, nk in _pair_group(
                    olist,
                    nlist,
                    self.old[oi].records,
                    records,
                    lambda a, b, oi=oi, ni=ni: self.ratio((oi, a), (ni, b), 0.0),  # type: ignore[misc]
                ):
                    self.pair((oi, ok), (ni, nk))

    # -- step 3: by similarity ----------------------------------------------------------

    def tokens(self, new: bool, ref: Ref, docs: bool = True) -> list[bytes]:
        """The entity's normalised tokens, its subtree's included (each nested entity's name
        too), and the words of the docstrings unless ``docs`` is false."""
        key = (new, ref, docs)
        toks = self._tokens.get(key)
        if toks is None:
            side = (self.new if new else self.old)[ref[0]]
            records = side.records
            r = records[ref[1]]
            parts = [r.core.tokens, _doc_words(r.core) if docs else b""]
            for k in range(ref[1] + 1, r.end):
                parts.append(records[k].core.segment.encode())
                parts.append(records[k].core.tokens)
                if docs:
                    parts.append(_doc_words(records[k].core))
            toks = b"\x00".join(p for p in parts if p).split(b"\x00")
            if toks == [b""]:
                toks = []
            toks = toks[: self.options.max_tokens]
            self._tokens[key] = toks
        return toks

    def ratio(self, o: Ref, n: Ref, threshold: float) -> float:
        """Token similarity of an old and a new entity (subtrees included), 0.0 when it is
        certainly below ``threshold`` or the comparison budget is spent."""
        ocore = self.old[o[0]].records[o[1]].core
        ncore = self.new[n[0]].records[n[1]].core
        if ocore.norm_hash == ncore.norm_hash and _subtree_equal(
            self.old[o[0]].records, o[1], self.new[n[0]].records, n[1]
        ):
            return 1.0
        return self._ratio(self.tokens(False, o), self.tokens(True, n), threshold)

    def _ratio(self, otoks: list[bytes], ntoks: list[bytes], threshold: float) -> float:
        la, lb = len(otoks), len(ntoks)
        if la + lb == 0 or 2.0 * min(la, lb) / (la + lb) < threshold or self.budget <= 0:
            return 0.0
        self.budget -= 1
        # Canonical order, so that swapping old and new gives the same score.
        first, second = (otoks, ntoks) if (la, otoks) <= (lb, ntoks) else (ntoks, otoks)
        found = self._seqs.get(id(second))
        if found is None or found[0] is not second:
            if len(self._seqs) >= _MATCHERS:
                self._seqs.clear()
            found = self._seqs[id(second)] = (second, difflib.SequenceMatcher(None, [], second, autojunk=False))
        matcher = found[1]
        matcher.set_seq1(first)
        if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
            return 0.0
        return matcher.ratio()

    def by_similarity(self, phase: str = "") -> list[tuple[Ref, Ref]]:
        """Pair unpaired entities by similarity: all kinds at once (``phase=""``), only
        containers (``"containers"``: classes, interfaces… scored member by member), or
        everything else (``"members"``: functions, methods, keys…)."""
        opts = self.options
        olds = [(oi, k) for oi in range(len(self.old)) for k in self.unpaired_old(oi)]
        news = [(ni, k) for ni in range(len(self.new)) for k in self.unpaired_new(ni)]
        if phase:
            want = phase == "containers"
            olds = [r for r in olds if (self.old[r[0]].records[r[1]].core.kind in CONTAINER_KINDS) == want]
            news = [r for r in news if (self.new[r[0]].records[r[1]].core.kind in CONTAINER_KINDS) == want]
        if not olds or not news:
            return []
        by_family: dict[str, list[Ref]] = {}
        for ref in olds:
            by_family.setdefault(_family(self.old[ref[0]].records[ref[1]].core.kind), []).append(ref)
        edges: list[tuple[float, Ref, Ref]] = []
        evidence = self.evidence
        for n in news:
            nrec = self.new[n[0]].records[n[1]]
            candidates = by_family.get(_family(nrec.core.kind))
            if not candidates:
                continue
            nname = nrec.core.name
            for o in candidates:
                orec = self.old[o[0]].records[o[1]]
                same_name = orec.core.name == nname
                if (
                    evidence
                    and not same_name
                    and _dunder(orec.core.name)
                    and self.o2n[o[0]].get(orec.parent) != (n[0], nrec.parent)
                ):
                    # A protocol method (``__get__``, ``__iter__``) is what its name says: it does
                    # not leave its class under another name (a descriptor's ``__get__`` replaced
                    # by a property of the class that used it is not a move).
                    continue
                threshold = opts.move_threshold if same_name else opts.rename_threshold
                floor = threshold
                if evidence and not same_name:
                    floor = min(threshold, opts.evidence_threshold, opts.signature_threshold, opts.name_threshold)
                if phase == "containers":
                    score, size = self.container_score(o, n, floor)
                    if score < threshold:
                        # Member by member gives nothing for what one side added; the
                        # whole token sequence does, for what resembles it.
                        score = max(score, self.ratio(o, n, floor))
                else:
                    score = self.ratio(o, n, floor)
                    size = min(len(self.tokens(False, o)), len(self.tokens(True, n)))
                    if (
                        evidence
                        and not same_name
                        and score < threshold
                        and orec.core.tokens == nrec.core.tokens
                        and orec.end == o[1] + 1
                        and nrec.end == n[1] + 1
                    ):
                        # The same code, only the docstring was written or rewritten: a rename.
                        score = 1.0
                        size = len(self.tokens(False, o, False))
                if score < floor or score == 0.0:
                    continue
                if not same_name and size < MIN_RENAME_TOKENS:
                    continue
                if score < threshold and not self.renamed_with_evidence(o, n, score):
                    continue
                # A same-name candidate wins a tie on similarity: the name is evidence too;
                # so, by less, does staying in the same container (identical helpers in two files).
                bonus = 0.001 if same_name else 0.0
                if evidence and self.o2n[o[0]].get(orec.parent) == (n[0], nrec.parent):
                    bonus += 0.0005
                edges.append((score + bonus, o, n))
        best_o = _unique_best((o, n, s) for s, o, n in edges)
        best_n = _unique_best((n, o, s) for s, o, n in edges)
        pairs: list[tuple[Ref, Ref]] = []
        for o, (n, s) in sorted(best_o.items()):
            if best_n.get(n, (None, 0.0))[0] == o:
                self.pair(o, n)
                self.score[n] = round(min(s, 1.0), 4)
                pairs.append((o, n))
                if evidence and s < opts.rename_threshold and _generic(self.new[n[0]].records[n[1]].core.name):
                    self.weak.append((o, n))
        if evidence and len(best_o) < len({o for _, o, _ in edges}):
            pairs.extend(self.break_ties(edges))
        return pairs

    def break_ties(self, edges: list[tuple[float, Ref, Ref]]) -> list[tuple[Ref, Ref]]:
        """Between equally similar candidates (identical copies), the one in the same place:
        an entity still unpaired whose top candidates tie pairs with the one whose previous or
        next sibling is paired with its own, when that picks exactly one on both sides (a test
        renamed in place while a copy of it was added elsewhere in the class)."""
        top_o: dict[Ref, tuple[float, list[Ref]]] = {}
        top_n: dict[Ref, tuple[float, list[Ref]]] = {}
        for score, o, n in edges:
            for top, a, b in ((top_o, o, n), (top_n, n, o)):
                cur = top.get(a)
                if cur is None or score > cur[0]:
                    top[a] = (score, [b])
                elif score == cur[0]:
                    cur[1].append(b)
        pairs: list[tuple[Ref, Ref]] = []
        for o, (score, cands) in sorted(top_o.items()):
            if len(cands) < 2 or o[1] in self.o2n[o[0]]:
                continue
            near = [n for n in cands if n[1] not in self.n2o[n[0]] and self.neighbours(o, n)]
            if len(near) != 1:
                continue
            n = near[0]
            back = [x for x in top_n[n][1] if x[1] not in self.o2n[x[0]] and self.neighbours(x, n)]
            if back != [o]:
                continue
            self.pair(o, n)
            self.score[n] = round(min(score, 1.0), 4)
            pairs.append((o, n))
        return pairs

    def neighbours(self, o: Ref, n: Ref) -> bool:
        """Whether the previous or the next sibling of ``o`` is paired with that of ``n``."""
        oprev, onext = _siblings(self.old[o[0]].records, o[1])
        nprev, nnext = _siblings(self.new[n[0]].records, n[1])
        return (oprev >= 0 and nprev >= 0 and self.o2n[o[0]].get(oprev) == (n[0], nprev)) or (
            onext >= 0 and nnext >= 0 and self.o2n[o[0]].get(onext) == (n[0], nnext)
        )

    def drop_weak(self) -> None:
        """A move of an entity with a generic name (``__init__``, ``run``) below the rename
        threshold says little by itself: it stands only as part of its container's move."""
        for o, n in self.weak:
            if self.o2n[o[0]].get(o[1]) != n:
                continue
            op = self.old[o[0]].records[o[1]].parent
            np_ = self.new[n[0]].records[n[1]].parent
            if self.o2n[o[0]].get(op) != (n[0], np_):
                self.unpair(o, n)
        self.weak = []

    # -- pull up and push down: along the class hierarchy -------------------------------

    def ancestors(self, new: bool, name: str) -> set[str]:
        """The names a container of that name derives from on one side, transitively (by
        name: the bases as its signature writes them, ``mod.Base`` counting as ``Base``)."""
        bases = self._bases.get(new)
        if bases is None:
            bases = {}
            for side in self.new if new else self.old:
                for rec in side.records[1:]:
                    core = rec.core
                    if core.kind in CONTAINER_KINDS and core.signature:
                        found = set(_IDENT.findall(core.signature)) - {core.name}
                        bases.setdefault(core.name, set()).update(found)
            self._bases[new] = bases
        out: set[str] = set()
        todo = [name]
        while todo and len(out) < 64:
            for base in bases.get(todo.pop(), ()):
                if base not in out:
                    out.add(base)
                    todo.append(base)
        out.discard(name)
        return out

    def hierarchy(self) -> None:
        """Methods that left classes for a class they derive from (pull up) or came from one
        (push down), several at once: ``Inbox.refresh`` and ``Outbox.refresh`` both pulled up
        into their base ``Box.refresh``, or ``Box.refresh`` pushed down into both.

        A method still unpaired on one side pairs with a same-named method on the other side
        in an ancestor (pull up: of its class's counterpart, on the new side) or a descendant
        (push down: whose class's counterpart derives from its class, on the old side), at the
        move threshold (the rename threshold for generic names), when that method is new in
        its class (unpaired, or paired by a move from elsewhere): the first source or target
        found pairs as usual if that method was still unpaired, the others are ``extra``.
        Identical copies in an unrelated class do not compete: the hierarchy decides."""
        opts = self.options
        for new_side in (False, True):  # pull up (old methods unpaired), then push down
            here, there = (self.new, self.old) if new_side else (self.old, self.new)
            here_map, there_map = (self.n2o, self.o2n) if new_side else (self.o2n, self.n2o)
            loose = []
            for i, side in enumerate(here):
                for k in sorted(set(range(1, len(side.records))).difference(here_map[i])):
                    rec = side.records[k]
                    if _family(rec.core.kind) != "function" or rec.parent <= 0:
                        continue
                    parent = side.records[rec.parent]
                    if parent.core.kind not in CONTAINER_KINDS:
                        continue
                    counterpart = here_map[i].get(rec.parent)
                    if counterpart is None:
                        continue
                    # pull up: ancestors of the class's counterpart on the new side; push down:
                    # ancestors of the class's counterpart on the old side that this class is one of
                    loose.append(((i, k), counterpart))
            if not loose:
                continue
            wanted = {here[r[0]].records[r[1]].core.name for r, _ in loose}
            by_name: dict[str, list[Ref]] = {}
            for j, side in enumerate(there):
                for k, rec in enumerate(side.records):
                    if k and rec.core.name in wanted and _family(rec.core.kind) == "function":
                        by_name.setdefault(rec.core.name, []).append((j, k))
            found: dict[Ref, list[tuple[float, Ref]]] = {}
            for ref, counterpart in loose:
                core = here[ref[0]].records[ref[1]].core
                cls_there = there[counterpart[0]].records[counterpart[1]].core.name
                cls_here = here[ref[0]].records[here[ref[0]].records[ref[1]].parent].core.name
                threshold = opts.rename_threshold if _generic(core.name) else opts.move_threshold
                best: list[tuple[float, Ref]] = []
                for cand in by_name.get(core.name, ()):
                    crec = there[cand[0]].records[cand[1]]
                    cparent = there[cand[0]].records[crec.parent]
                    if crec.parent <= 0 or cparent.core.kind not in CONTAINER_KINDS:
                        continue
                    if new_side:
                        # push down: the candidate's class is an ancestor of this class's old self
                        related = cparent.core.name in self.ancestors(False, cls_there)
                    else:
                        # pull up: the candidate's class is an ancestor of this class's new self
                        related = cparent.core.name in self.ancestors(True, cls_there)
                    if not related or cparent.core.name == cls_here:
                        continue
                    # the candidate is new in its class: unpaired, or paired by a move
                    other = there_map[cand[0]].get(cand[1])
                    if other is not None and here_map[other[0]].get(here[other[0]].records[other[1]].parent) == (
                        cand[0],
                        crec.parent,
                    ):
                        continue
                    score = self.ratio(cand, ref, threshold) if new_side else self.ratio(ref, cand, threshold)
                    if score >= threshold:
                        best.append((score, cand))
                if best:
                    best.sort(key=lambda b: -b[0])
                    if len(best) == 1 or best[1][0] < best[0][0]:
                        found.setdefault(best[0][1], []).append((best[0][0], ref))
            for cand, sources in sorted(found.items()):
                sources.sort(key=lambda s: (-s[0], s[1]))
                for score, ref in sources:
                    o, n = (cand, ref) if new_side else (ref, cand)
                    if there_map[cand[0]].get(cand[1]) is None:
                        self.pair(o, n)
                        self.score[n] = round(min(score, 1.0), 4)
                    else:
                        self.extra.append((o, n))
                        self.extra_score[(o, n)] = round(min(score, 1.0), 4)

    # -- containers: scored by their members ------------------------------------------

    def own_tokens(self, new: bool, ref: Ref) -> list[bytes]:
        found = self._own_tokens.get((new, ref))
        if found is None:
            core = (self.new if new else self.old)[ref[0]].records[ref[1]].core
            toks = b"\x00".join(p for p in (core.tokens, _doc_words(core)) if p).split(b"\x00")
            found = self._own_tokens[(new, ref)] = [] if toks == [b""] else toks[: self.options.max_tokens]
        return found

    def members(self, new: bool, ref: Ref) -> dict[tuple[str, str], list[Ref]]:
        records = (self.new if new else self.old)[ref[0]].records
        out: dict[tuple[str, str], list[Ref]] = {}
        k = ref[1] + 1
        end = records[ref[1]].end
        while k < end:
            core = records[k].core
            out.setdefault((_family(core.kind), _segment_key(core)), []).append((ref[0], k))
            k = records[k].end
        return out

    def container_score(self, o: Ref, n: Ref, threshold: float) -> tuple[float, int]:
        """(similarity, size in tokens) of two containers, member by member.

        Each side's tokens are its own (bases, class-level statements, docstring) plus
        its members'; members that share a name count with their own similarity, the
        rest count as different. Unlike one token sequence over the whole class, this
        does not depend on the order of the members nor on the class's length.
        """
        oown, nown = self.own_tokens(False, o), self.own_tokens(True, n)
        omembers, nmembers = self.members(False, o), self.members(True, n)
        total = len(oown) + len(nown)
        common: list[tuple[Ref, Ref, int]] = []
        for key, orefs in omembers.items():
            for ref in orefs:
                total += len(self.tokens(False, ref))
            nrefs = nmembers.get(key)
            if nrefs:
                for a, b in zip(orefs, nrefs):
                    common.append((a, b, len(self.tokens(False, a)) + len(self.tokens(True, b))))
        for nrefs in nmembers.values():
            for ref in nrefs:
                total += len(self.tokens(True, ref))
        if not total:
            return 0.0, 0
        reachable = len(oown) + len(nown) + sum(w for _, _, w in common)
        if reachable / total < threshold:
            return 0.0, total // 2
        matched = 0.0
        if oown or nown:
            matched += (1.0 if oown == nown else self._ratio(oown, nown, 0.0)) * (len(oown) + len(nown))
        for a, b, w in sorted(common, key=lambda c: -c[2]):
            if (matched + reachable - len(oown) - len(nown)) / total < threshold:
                break
            matched += self.ratio(a, b, 0.0) * w
            reachable -= w
        return matched / total, total // 2

    # -- renames with edits: evidence beyond the body ---------------------------------

    def switched(self) -> tuple[dict[bytes, dict[int, int]], dict[bytes, dict[int, int]]]:
        """For every token, the paired entities (by index) whose own tokens lost it and those
        that gained it, with how many: where references went from one name to another."""
        if self._switched is None:
            lost: dict[bytes, dict[int, int]] = {}
            gained: dict[bytes, dict[int, int]] = {}
            for i, (o, n) in enumerate(self.pairs):
                ocore = self.old[o[0]].records[o[1]].core
                ncore = self.new[n[0]].records[n[1]].core
                if ocore is ncore or ocore.tokens == ncore.tokens:
                    continue
                before = Counter(ocore.tokens.split(b"\x00"))
                after = Counter(ncore.tokens.split(b"\x00"))
                for tok, k in (before - after).items():
                    lost.setdefault(tok, {})[i] = k
                for tok, k in (after - before).items():
                    gained.setdefault(tok, {})[i] = k
            self._switched = (lost, gained)
        return self._switched

    def renamed_with_evidence(self, o: Ref, n: Ref, score: float) -> bool:
        """Whether a rename below the plain threshold holds: some entity that is the same on
        both sides (a caller, an importing module) references the old name less and the new
        name more — a call site was updated — and the similarity reaches the evidence
        threshold (lower when the parameters are the same, receivers aside)."""
        opts = self.options
        if not self.evidence or score < min(opts.evidence_threshold, opts.signature_threshold, opts.name_threshold):
            return False
        ocore = self.old[o[0]].records[o[1]].core
        ncore = self.new[n[0]].records[n[1]].core
        if (
            score >= opts.name_threshold
            and _related_names(ocore.name, ncore.name)
            and self.o2n[o[0]].get(self.old[o[0]].records[o[1]].parent) == (n[0], self.new[n[0]].records[n[1]].parent)
        ):
            return True  # renamed in place, keeping a word of its name: test_hash -> test_hash_works
        if (
            ocore.doc_hash == ncore.doc_hash
            and len(ocore.docstring.split()) >= MIN_DOC_WORDS
            and self.o2n[o[0]].get(self.old[o[0]].records[o[1]].parent) == (n[0], self.new[n[0]].records[n[1]].parent)
            and self._ratio(self.tokens(False, o, False), self.tokens(True, n, False), opts.signature_threshold)
            >= opts.signature_threshold
        ):
            return True  # renamed in place, its docstring kept word for word, half its code too
        lost, gained = self.switched()
        went = lost.get(ocore.name.encode(), {})
        came = gained.get(ncore.name.encode(), {})
        # as many references to the new name appeared in that entity as went to the old one
        if not any(came.get(i) == k for i, k in went.items()):
            return False
        if score >= opts.evidence_threshold:
            return True
        oparams = [p[0] for p in ocore.params if p[0] not in _RECEIVERS]
        return bool(oparams) and oparams == [p[0] for p in ncore.params if p[0] not in _RECEIVERS]

    def consolidate(self, similar: list[tuple[Ref, Ref]]) -> bool:
        """Pair an unpaired old container with an unpaired new one when its members moved
        there: at least two, at least half of its members, and the new container's members
        came from no other one more often. Its members then follow it instead of each
        being a move of its own. Returns whether anything was paired."""
        votes: dict[Ref, Counter[Ref]] = {}
        back: dict[Ref, Counter[Ref]] = {}
        for o, n in similar:
            if o[1] == 0 or n[1] == 0 or self.o2n[o[0]].get(o[1]) != n:
                continue
            op = (o[0], self.old[o[0]].records[o[1]].parent)
            np_ = (n[0], self.new[n[0]].records[n[1]].parent)
            if op[1] <= 0 or np_[1] <= 0 or op[1] in self.o2n[op[0]] or np_[1] in self.n2o[np_[0]]:
                continue
            if self.old[op[0]].records[op[1]].core.kind not in CONTAINER_KINDS or _family(
                self.old[op[0]].records[op[1]].core.kind
            ) != _family(self.new[np_[0]].records[np_[1]].core.kind):
                continue
            votes.setdefault(op, Counter())[np_] += 1
            back.setdefault(np_, Counter())[op] += 1
        paired = False
        for op, counter in sorted(votes.items()):
            best = counter.most_common(2)
            if not best or best[0][1] < 2 or (len(best) > 1 and best[1][1] == best[0][1]):
                continue
            np_, count = best[0]
            members = sum(len(v) for v in self.members(False, op).values())
            top = back[np_].most_common(2)
            if 2 * count < members or top[0][0] != op or (len(top) > 1 and top[1][1] == count):
                continue
            self.pair(op, np_)
            self.score[np_] = round(self.container_score(op, np_, 0.0)[0], 4)
            paired = True
        return paired

    # -- chains and swaps ---------------------------------------------------------------

    def release_replaced(self) -> list[tuple[Ref, Ref, float]]:
        """Unpair same-named leaf functions whose bodies changed a lot (similarity under
        ``loose_threshold``) so that a chain (a→b, b→c) or a swap can pair them by body;
        :meth:`settle` restores them unless both halves paired elsewhere, clearly better."""
        fam = "function"
        modified: list[tuple[Ref, Ref]] = []
        old, new = self.old, self.new
        for o, n in self.pairs:
            if o[1] == 0:
                continue
            orec = old[o[0]].records[o[1]]
            nrec = new[n[0]].records[n[1]]
            ocore, ncore = orec.core, nrec.core
            if ocore is ncore or ocore.norm_hash == ncore.norm_hash:
                continue
            if _family(ocore.kind) == fam and orec.end == o[1] + 1 and nrec.end == n[1] + 1:
                modified.append((o, n))
        if not modified or len(modified) > MAX_RELEASED:
            return []
        loose_o = any(
            _family(self.old[oi].records[k].core.kind) == fam
            for oi in range(len(self.old))
            for k in self.unpaired_old(oi)
        )
        loose_n = any(
            _family(self.new[ni].records[k].core.kind) == fam
            for ni in range(len(self.new))
            for k in self.unpaired_new(ni)
        )
        if len(modified) < 2 and not (loose_o or loose_n):
            return []
        released = []
        for o, n in modified:
            score = self.ratio(o, n, 0.0)
            if score < self.options.loose_threshold:
                self.unpair(o, n)
                released.append((o, n, score))
        return released

    def settle(self, released: list[tuple[Ref, Ref, float]]) -> None:
        """Keep a released pair broken only when both its halves paired elsewhere, each with
        a similarity ``loose_margin`` above the pair's own."""
        margin = self.options.loose_margin
        changed = True
        while changed:
            changed = False
            for o, n, own in released:
                no = self.o2n[o[0]].get(o[1])
                on = self.n2o[n[0]].get(n[1])
                if no == n:  # paired again with each other: a pair by name after all
                    self.score.pop(n, None)
                    continue
                if no is None and on is None:
                    continue
                if (
                    no is not None
                    and on is not None
                    and self.score.get(no, 0.0) >= own + margin
                    and self.score.get(n, 0.0) >= own + margin
                ):
                    continue
                if no is not None:
                    self.unpair(o, no)
                if on is not None:
                    self.unpair(on, n)
                changed = True
        for o, n, _ in released:
            if self.o2n[o[0]].get(o[1]) is None and self.n2o[n[0]].get(n[1]) is None:
                self.pair(o, n)


def _doc_words(core: Core) -> bytes:
    """The docstring's words as tokens: a long docstring is evidence that a stub was renamed."""
    return b"\x00".join(core.docstring.encode().split()) if core.docstring else b""


_K = TypeVar("_K")
_V = TypeVar("_V")


def _unique_best(edges: Iterable[tuple[_K, _V, float]]) -> dict[_K, tuple[_V, float]]:
    """For each left item, its strictly best right item (ties: none)."""
    best: dict[_K, tuple[_V | None, float]] = {}
    for a, b, s in edges:
        cur = best.get(a)
        if cur is None or s > cur[1]:
            best[a] = (b, s)
        elif s == cur[1]:
            best[a] = (None, s)
    return {a: (b, s) for a, (b, s) in best.items() if b is not None}


def _siblings(records: list[Rec], k: int) -> tuple[int, int]:
    """The indexes of the previous and the next sibling of record ``k`` (-1: none)."""
    parent = records[k].parent
    i = parent + 1 if parent >= 0 else 1
    end = records[parent].end if parent >= 0 else len(records)
    prev = -1
    while i < end and i != k:
        prev, i = i, records[i].end
    nxt = records[k].end
    return prev, (nxt if nxt < end else -1)


def _subtree_equal(orecs: list[Rec], oi: int, nrecs: list[Rec], ni: int) -> bool:
    o, n = orecs[oi], nrecs[ni]
    if o.end - oi != n.end - ni:
        return False
    for k in range(1, o.end - oi):
        a, b = orecs[oi + k].core, nrecs[ni + k].core
        if a.norm_hash != b.norm_hash or a.segment != b.segment:
            return False
    return True


def _pair_group(
    olist: list[int],
    nlist: list[int],
    orecs: list[Rec],
    nrecs: list[Rec],
    similarity: Callable[[int, int], float] | None = None,
) -> list[tuple[int, int]]:
    """Pair same-named siblings: identical text first, then identical tokens, then identical
    signature, then each with its most similar (subtrees included: the definitions in the
    branches of one ``if`` pair with their own branch), then in order. Symmetric: swapping the
    sides swaps the pairs."""
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
    if similarity is not None and orest and nrest and len(orest) + len(nrest) > 2:
        # mutual best by similarity, as long as there is one
        while orest and nrest:
            edges = [(o, n, similarity(o, n)) for o in orest for n in nrest]
            best_o = _unique_best((o, n, x) for o, n, x in edges if x > 0.0)
            best_n = _unique_best((n, o, x) for o, n, x in edges if x > 0.0)
            mutual = [(o, n) for o, (n, _) in best_o.items() if best_n.get(n, (None, 0.0))[0] == o]
            if not mutual:
                break
            pairs.extend(mutual)
            orest = [k for k in orest if k not in {o for o, _ in mutual}]
            nrest = [k for k in nrest if k not in {n for _, n in mutual}]
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
        if (
            removed
            and len(removed) == len(added)
            and all(onames.index(a) == nnames.index(b) for a, b in zip(removed, added))
        ):
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


def match_entities(
    old: list[FileSide], new: list[FileSide], file_pairs: list[tuple[int, int]], options: MatchOptions | None = None
) -> tuple[list[EntityChange], list[EntityChange]]:
    """All entity changes between ``old`` and ``new`` file sides, and the members carried
    along by a renamed or moved container (see :func:`_classify`).

    ``file_pairs`` lists (old index, new index) of files that are the same file.
    The result depends on the two versions only — never on how they were parsed
    (incrementally or not) or on what the cache held.
    """
    m = _Matcher(old, new, options or MatchOptions())
    m.evidence = True
    for oi, ni in file_pairs:
        m.pair((oi, 0), (ni, 0))
    m.by_name()
    # Containers first, by their members: a renamed or moved class pairs as one, and
    # its members then pair by name under it instead of each moving on its own.
    if m.by_similarity("containers"):
        m.by_name()
    released = m.release_replaced()
    similar = m.by_similarity("members")
    if released:
        m.settle(released)
    if similar:
        m.consolidate(similar)  # a container whose members moved together moved itself
        m.drop_weak()
        m.by_name()
    m.hierarchy()  # pull up from several classes, push down to several
    return _classify(m)


def _classify(m: _Matcher) -> tuple[list[EntityChange], list[EntityChange]]:
    """The changes, and the carried members: unchanged entities whose qualified name changed
    only because a container around them (a class, not a module) was renamed or moved.
    Those, and modified members in the same position, name that container in ``follows``."""
    changes: list[EntityChange] = []
    carried: list[EntityChange] = []
    pairs = [(o, n) for o, n in m.pairs if m.o2n[o[0]].get(o[1]) == n]
    status: dict[Ref, str] = {}
    for (oi, ok), (ni, nk) in pairs:
        oside, nside = m.old[oi], m.new[ni]
        orec, nrec = oside.records[ok], nside.records[nk]
        oc, nc = orec.core, nrec.core
        if ok == 0 or nk == 0:
            moved = posixpath.dirname(oside.path) != posixpath.dirname(nside.path)
            renamed = oside.name(ok) != nside.name(nk)
        else:
            # Moved: to another parent, or (Go methods) to another receiver type.
            moved = m.o2n[oi].get(orec.parent) != (ni, nrec.parent) or (
                oc is not nc and _container(oc) != _container(nc)
            )
            # A constructor is named after its class: it follows the class's name.
            renamed = oc is not nc and oc.name != nc.name and not (oc.kind == nc.kind == "constructor")
            if not moved and oside.path != nside.path and _eponymous(oside, ok) and _eponymous(nside, nk):
                # The class a file is named after (Java's public class, ``UserService.ts``)
                # moves with its file: another directory is another package.
                moved = posixpath.dirname(oside.path) != posixpath.dirname(nside.path)
        status[(ni, nk)] = "moved_renamed" if moved and renamed else "moved" if moved else "renamed" if renamed else ""
    # Only a renamed or moved container carries members along.
    carriers = any(
        st and m.new[ref[0]].records[ref[1]].core.kind in CONTAINER_KINDS for ref, st in status.items() if ref[1]
    )
    for (oi, ok), (ni, nk) in pairs:
        oside, nside = m.old[oi], m.new[ni]
        orec, nrec = oside.records[ok], nside.records[nk]
        oc, nc = orec.core, nrec.core
        change = status[(ni, nk)]
        if oc is nc and not change and not carriers:
            continue
        details = details_of(oc, nc, nside.keyed) if oc is not nc else []
        follows = ""
        if carriers and not change and nk:
            follows = _followed(m, ni, nk, status)
        if not change and not details and not follows:
            continue
        entry = EntityChange(
            path=nside.path,
            old_path=oside.path,
            kind=nc.kind,
            qualname=nside.qualname(nk),
            old_qualname=oside.qualname(ok),
            change=change or ("modified" if details else "moved"),
            details=tuple(details),
            old_start_line=orec.start_line,
            old_end_line=orec.end_line,
            new_start_line=nrec.start_line,
            new_end_line=nrec.end_line,
            similarity=m.score.get((ni, nk), 1.0),
            follows=follows,
        )
        (changes if change or details else carried).append(entry)
    extra_old = {o for o, _ in m.extra}
    extra_new = {n for _, n in m.extra}
    for (oi, ok), (ni, nk) in m.extra:
        # a second source of a pull-up, or a second target of a push-down: a move of its own
        oside, nside = m.old[oi], m.new[ni]
        orec, nrec = oside.records[ok], nside.records[nk]
        changes.append(
            EntityChange(
                path=nside.path,
                old_path=oside.path,
                kind=nrec.core.kind,
                qualname=nside.qualname(nk),
                old_qualname=oside.qualname(ok),
                change="moved" if orec.core.name == nrec.core.name else "moved_renamed",
                details=tuple(details_of(orec.core, nrec.core, nside.keyed)),
                old_start_line=orec.start_line,
                old_end_line=orec.end_line,
                new_start_line=nrec.start_line,
                new_end_line=nrec.end_line,
                similarity=m.extra_score.get(((oi, ok), (ni, nk)), 1.0),
            )
        )
    for oi, side in enumerate(m.old):
        for k in sorted(set(range(len(side.records))).difference(m.o2n[oi])):
            if (oi, k) in extra_old:
                continue
            rec = side.records[k]
            q = side.qualname(k)
            changes.append(
                EntityChange(
                    path=side.path,
                    old_path=side.path,
                    kind=rec.core.kind,
                    qualname=q,
                    old_qualname=q,
                    change="removed",
                    details=(),
                    old_start_line=rec.start_line,
                    old_end_line=rec.end_line,
                    new_start_line=0,
                    new_end_line=0,
                    similarity=0.0,
                )
            )
    for ni, side in enumerate(m.new):
        for k in sorted(set(range(len(side.records))).difference(m.n2o[ni])):
            if (ni, k) in extra_new:
                continue
            rec = side.records[k]
            changes.append(
                EntityChange(
                    path=side.path,
                    old_path="",
                    kind=rec.core.kind,
                    qualname=side.qualname(k),
                    old_qualname="",
                    change="added",
                    details=(),
                    old_start_line=0,
                    old_end_line=0,
                    new_start_line=rec.start_line,
                    new_end_line=rec.end_line,
                    similarity=0.0,
                )
            )
    changes.sort(key=_order)
    carried.sort(key=_order)
    return changes, carried


def _eponymous(side: FileSide, k: int) -> bool:
    """Whether record ``k`` is a top-level container named like its file."""
    rec = side.records[k]
    stem = posixpath.splitext(posixpath.basename(side.path))[0]
    return rec.parent == 0 and rec.core.kind in CONTAINER_KINDS and rec.core.name == stem


def _followed(m: _Matcher, ni: int, nk: int, status: dict[Ref, str]) -> str:
    """The new qualified name of the nearest renamed or moved container around a new
    entity, when the entity's qualified name changed; "" otherwise."""
    side = m.new[ni]
    records = side.records
    k = records[nk].parent
    while k > 0:
        if status.get((ni, k)) and records[k].core.kind in CONTAINER_KINDS:
            return side.qualname(k)
        k = records[k].parent
    return ""


def _container(core: Core) -> str:
    """The part of a qualname segment before the name: ``Repo.`` for Go's ``Repo.Save``."""
    seg, name = core.segment, core.name
    return seg[: len(seg) - len(name)] if seg.endswith(name) else seg


def _order(c: EntityChange) -> tuple[str, int, int, str, str, str, str]:
    line = c.old_start_line if c.change == "removed" else c.new_start_line
    end = c.old_end_line if c.change == "removed" else c.new_end_line
    return (c.path, line, -end, c.qualname, c.old_qualname, c.change, c.kind)
