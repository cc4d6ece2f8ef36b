"""Resolving a conflicting region of a container whose sides differ only in *items*.

A container (a file, a class, a JSON object…) is merged as a sequence of
*units* (see ``units.py``): text lines, entity placeholders, fields and import
statements. Where the line merge of two sides' units conflicts, the region is
resolved here when it can be done without guessing:

- the sides' *anchors* (text lines other than blank ones) are the same, so
  only items (entities, fields, imports, and in Java, TypeScript/JavaScript
  and Rust one-line annotations, decorators and attributes) and blank lines
  differ;
- between two anchors, items merge as an ordered set: an item stays unless a
  side deleted it; items added by either side are kept; the order of the items
  both sides keep is the one a side changed (both changed it differently: a
  conflict); items a side added follow the item they follow on that side, and
  when both sides added items at the same place, CURRENT's (left) come first,
  then OTHER's, as ``git merge-file`` orders them. Imports that are sorted on
  every side stay sorted (an aliased Go import by its path, as gofmt sorts).
  An import statement a side edited in place (one statement replaced by one
  where the base had it) is the base's item, changed: it keeps its place.

Anything else is left to the caller as a conflict.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .lists import merge_line

__all__ = ["is_glue", "item_key", "resolve", "resolve_adjacent"]

_GLUE, _ANCHOR, _ITEM = 0, 1, 2
_E, _F, _I, _T, _V = ord("E"), ord("F"), ord("I"), ord("T"), ord("V")

Glue = tuple[bytes, ...]
Item = tuple[bytes, Glue, bytes]  # (key, blank lines before it, unit)


def is_glue(unit: bytes) -> bool:
    return unit[0] == _V and not unit[1:].strip()


def _kind(unit: bytes, annotations: tuple[bytes, ...] = (), placeholders: frozenset[bytes] = frozenset()) -> int:
    tag = unit[0]
    if tag == _E or tag == _I or tag == _F:
        return _ITEM
    if tag == _V and not unit[1:].strip():
        return _GLUE
    if tag == _T and ((annotations and _annotation(unit[1:], annotations)) or unit[1:].strip() in placeholders):
        return _ITEM
    return _ANCHOR


def _annotation(line: bytes, prefixes: tuple[bytes, ...]) -> bool:
    """A whole annotation, decorator or attribute alone on its line (``@Deprecated``,
    ``@SuppressWarnings("x")``, ``#[inline]``), brackets balanced; not ``@Input() name``."""
    text = line.strip()
    if not text.startswith(prefixes):
        return False
    depth = 0
    for c in text:
        if c in b"([{":
            depth += 1
        elif c in b")]}":
            depth -= 1
            if depth < 0:
                return False
    if depth:
        return False
    head = text.split(b"(", 1)[0].split(b"[", 1)[-1] if text.startswith(b"#[") else text.split(b"(", 1)[0]
    return b" " not in head.strip() and (text.endswith((b")", b"]")) or b"(" not in text)


def item_key(unit: bytes) -> bytes:
    """An entity's identity (``E<id>``), a member's name (``F<name>``), an import's
    whitespace-collapsed text (``I…``), or an annotation's name (``@…``)."""
    if unit[0] == _E or unit[0] == _F:
        return unit[: unit.index(b"\0")]
    if unit[0] == _T:  # an annotation, by its name: one changed on both sides is a conflict
        return b"@" + unit[1:].strip().split(b"(", 1)[0]
    return b"I" + b" ".join(unit[1:].split())


@dataclass(slots=True)
class _Side:
    anchors: list[tuple[Glue, bytes]] = field(default_factory=list)
    gaps: list[list[Item]] = field(default_factory=lambda: [[]])
    tail: Glue = ()

    @property
    def has_items(self) -> bool:
        return any(self.gaps)


def _split(units: Sequence[bytes], annotations: tuple[bytes, ...], placeholders: frozenset[bytes]) -> _Side:
    side = _Side()
    glue: list[bytes] = []
    for u in units:
        kind = _kind(u, annotations, placeholders)
        if kind == _GLUE:
            glue.append(u)
        elif kind == _ITEM:
            side.gaps[-1].append((item_key(u), tuple(glue), u))
            glue = []
        else:
            side.anchors.append((tuple(glue), u))
            side.gaps.append([])
            glue = []
    side.tail = tuple(glue)
    return side


class _Unresolved(Exception):
    pass


def resolve(
    base: Sequence[bytes],
    left: Sequence[bytes],
    right: Sequence[bytes],
    annotations: tuple[bytes, ...] = (),
    placeholders: frozenset[bytes] = frozenset(),
) -> list[bytes] | None:
    """The merged units of a conflicting region, or None when it stays a conflict. Lines that are
    a whole annotation starting with one of ``annotations`` (``@`` in Java) are items too: the
    annotations of a declaration are a set. So are ``placeholders``, the statement of an empty
    body (Python's ``pass``): both sides replacing it with members keep both members."""
    b, l, r = (_split(x, annotations, placeholders) for x in (base, left, right))
    if not (l.has_items or r.has_items or b.has_items):
        return None
    anchors = [u for _, u in l.anchors]
    if anchors != [u for _, u in r.anchors]:
        return None
    pure = not base  # both sides inserted here: nothing to compare with
    if not pure and anchors != [u for _, u in b.anchors]:
        return None
    out: list[bytes] = []
    try:
        for g in range(len(l.gaps)):
            bg = [] if pure else b.gaps[g]
            items = bool(bg or l.gaps[g] or r.gaps[g])
            for _, glue, unit in _merge_gap(bg, l.gaps[g], r.gaps[g]):
                out.extend(glue)
                out.append(unit)
            if g < len(anchors):
                out.extend(_pick(() if pure else b.anchors[g][0], l.anchors[g][0], r.anchors[g][0], soft=items))
                out.append(anchors[g])
        last = bool(l.gaps[-1] or r.gaps[-1] or (not pure and b.gaps[-1]))
        out.extend(_pick(() if pure else b.tail, l.tail, r.tail, soft=last))
    except _Unresolved:
        return None
    return out


def _pick(b: Glue, l: Glue, r: Glue, *, soft: bool) -> Glue:
    """Blank lines, three-way; changed differently on both sides: the fewer when next to an item."""
    if l == b:
        return r
    if r == b or l == r:
        return l
    if not soft:
        raise _Unresolved
    return min(l, r)


def _choose_unit(b: bytes | None, l: bytes, r: bytes) -> bytes:
    if l == b:
        return r
    if r == b or l == r:
        return l
    # Both changed the unit differently. Entities and members: only the separator after them may
    # differ (one side added an item after it): the one with the separator.
    if l[0] in (_E, _F) and item_key(l) == item_key(r):
        strip_l, strip_r = l.replace(b",", b"").replace(b";", b""), r.replace(b",", b"").replace(b";", b"")
        if strip_l == strip_r:
            return max(l, r, key=len)
    raise _Unresolved


def _in_place(base: list[Item], side: list[Item]) -> list[Item]:
    """``side``'s items, each import statement it edited in place under the key of the base's statement.

    Edited in place: a run of base imports replaced by as many of the side's, each from the same source
    (``_import_source``: the names it imports changed), where neither key is on the other version. Without this an edited statement is one item deleted and another added, and loses its
    place (two sides each editing one of two adjacent imports got them swapped)."""
    base_keys, side_keys = [k for k, _, _ in base], [k for k, _, _ in side]
    out = list(side)
    matcher = difflib.SequenceMatcher(None, base_keys, side_keys, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "replace" or i2 - i1 != j2 - j1:
            continue
        for i, j in zip(range(i1, i2), range(j1, j2)):
            old, new = base_keys[i], side_keys[j]
            source = _import_source(old)
            if source is not None and source == _import_source(new) and old not in side_keys and new not in base_keys:
                out[j] = (old, side[j][1], side[j][2])
    return out


# Where a statement imports its names from, in languages whose one statement can bind several names:
# Python ``from m import …``, JS/TS ``… from 'm'``, Rust ``use a::b::{…}`` / ``use a::b::c``. Elsewhere (Java,
# Go: one name or path each) a different statement imports something else.
_SOURCES = (
    re.compile(rb"Ifrom (\S+) import "),
    re.compile(rb"I(?:import|export)\b.* from (['\"][^'\"]+['\"]) ?;?$"),
    re.compile(rb"I(?:pub(?:\([^)]*\))? )?use ([\w:]+)::(?:\{|[\w*]+(?: as \w+)? ?;$)"),
)


def _import_source(key: bytes) -> bytes | None:
    """The module an import item's statement imports from (``_SOURCES``), or None."""
    for pattern in _SOURCES:
        m = pattern.match(key)
        if m:
            return m.group(1)
    return None


def _merge_gap(base: list[Item], left: list[Item], right: list[Item]) -> list[Item]:
    if not left and not right:
        return []
    paired_l, paired_r = _in_place(base, left), _in_place(base, right)
    keys_l, keys_r = {k for k, _, _ in paired_l}, {k for k, _, _ in paired_r}
    # An edit in place counts where the other side kept the statement too (as it was, or edited in place);
    # where the other side removed it, the statement stays one deleted and one added, as before.
    left = [p if p[0] in keys_r else o for p, o in zip(paired_l, left)]
    right = [p if p[0] in keys_l else o for p, o in zip(paired_r, right)]
    sides = (base, left, right)
    maps: list[dict[bytes, tuple[Glue, bytes]]] = []
    for side in sides:
        m = {k: (g, u) for k, g, u in side}
        if len(m) != len(side):
            raise _Unresolved  # the same item twice: not a set
        maps.append(m)
    bm, lm, rm = maps

    def kept(k: bytes) -> bool:
        if k in bm:
            return k in lm and k in rm
        return k in lm or k in rm

    def element(k: bytes) -> Item:
        lv, rv = lm.get(k), rm.get(k)
        if lv is None or rv is None:
            v = lv or rv
            assert v is not None
            return k, v[0], v[1]
        bv = bm.get(k)
        unit = _choose_unit(bv[1] if bv else None, lv[1], rv[1])
        glue = _pick(bv[0] if bv else (), lv[0], rv[0], soft=True) if bv else min(lv[0], rv[0])
        return k, glue, unit

    lk = [k for k, _, _ in left if kept(k)]
    rk = [k for k, _, _ in right if kept(k)]
    imports = all(k[:1] == b"I" for side in sides for k, _, _ in side)
    if imports and all(_sorted([k for k, _, _ in side]) for side in sides):
        return [element(k) for k in sorted(set(lk) | set(rk), key=_sort_key)]
    common = set(lk) & set(rk)
    order_l = [k for k in lk if k in common]
    order_r = [k for k in rk if k in common]
    order = order_l
    if order_l != order_r:
        order_b = [k for k, _, _ in base if k in common]
        if order_l == order_b:
            order = order_r
        elif order_r != order_b:
            raise _Unresolved  # both sides reordered, differently
    groups_l, groups_r = _groups(lk, common), _groups(rk, common)
    out: list[bytes] = []
    for anchor in [b""] + order:
        if anchor:
            out.append(anchor)
        gl, gr = groups_l.get(anchor, []), groups_r.get(anchor, [])
        out.extend(_two_groups(gl, gr))
    return [element(k) for k in out]


# An aliased import spec, Go's ``name "path"`` (not JS's side-effect ``import "x"``).
_ALIASED = re.compile(rb'I(?!import )(?:[A-Za-z_]\w*|\.) (?=")')


def _sort_key(key: bytes) -> bytes:
    """An import's key for sorting: an aliased spec by its path, as gofmt sorts them."""
    m = _ALIASED.match(key)
    return b"I" + key[m.end() :] if m else key


def _sorted(keys: list[bytes]) -> bool:
    return all(_sort_key(a) <= _sort_key(b) for a, b in zip(keys, keys[1:]))


def _groups(keys: list[bytes], common: set[bytes]) -> dict[bytes, list[bytes]]:
    """Items only one side has, grouped under the common item they follow (b"" for none)."""
    groups: dict[bytes, list[bytes]] = {}
    anchor = b""
    for k in keys:
        if k in common:
            anchor = k
        else:
            groups.setdefault(anchor, []).append(k)
    return groups


def _two_groups(gl: list[bytes], gr: list[bytes]) -> list[bytes]:
    """Two groups added at the same place: as ``git merge-file`` and syntax-aware merge tools
    order them, CURRENT's (left) first, then OTHER's — after the imports they open with (kept
    sorted when both groups' are), so that no import lands below a definition."""
    if not gl or not gr:
        return gl or gr
    il = next((k for k, key in enumerate(gl) if not key.startswith(b"I")), len(gl))
    ir = next((k for k, key in enumerate(gr) if not key.startswith(b"I")), len(gr))
    head = gl[:il] + gr[:ir]
    if _sorted(gl[:il]) and _sorted(gr[:ir]):
        head = sorted(head, key=_sort_key)
    return head + gl[il:] + gr[ir:]


Edit = tuple[int, int, Sequence[bytes]]  # base units [i, j) replaced by these


def _edits(base: Sequence[bytes], side: Sequence[bytes]) -> list[Edit]:
    m = difflib.SequenceMatcher(None, base, side, autojunk=False)
    return [(i1, i2, side[j1:j2]) for op, i1, i2, j1, j2 in m.get_opcodes() if op != "equal"]


def resolve_adjacent(
    base: Sequence[bytes],
    left: Sequence[bytes],
    right: Sequence[bytes],
    before: Sequence[bytes] = (),
    *,
    bare_keys: bool = False,
    modifiers: tuple[bytes, ...] = (),
) -> list[bytes] | None:
    """A conflicting region where the two sides changed *different* units of the base, next to
    each other (one edits a statement, the other the next one): both edits. ``merge3``, like
    diff3, calls edits that touch a conflict; a syntax-aware merge sees two statements. Still a
    conflict (None) when the edits overlap, when both insert at one place (but elements of one
    list, CURRENT's first), or when one inserts right at the edge of what the other replaced
    (which comes first is a guess). ``before`` are the units before the region; ``bare_keys`` and
    ``modifiers`` as in ``merge_line``."""
    if not base:
        # CURRENT's lines go first, so each needs its comma: one without is a statement of a code
        # block (``function f() {``), not an element, and two sides' statements have no order.
        if _elements(before, left) and _elements(before, right) and _all_commas(left):
            return [*left, *right]
        return None
    el, er = _comma_split(base, _edits(base, left)), _comma_split(base, _edits(base, right))
    if not el or not er:
        return None
    el, er = _one_line_lists(base, el, er, bare_keys, modifiers)
    same = {(i, j, tuple(new)) for i, j, new in el} & {(i, j, tuple(new)) for i, j, new in er}
    er = [e for e in er if (e[0], e[1], tuple(e[2])) not in same]  # the same edit on both sides: once
    context = list(base)
    for i, j, edit in same:
        if j == i + 1 and len(edit) == 1:
            context[i] = edit[0]
    both: set[int] = set()
    for a1, a2, na in el:
        if (a1, a2, tuple(na)) in same:
            continue
        for b1, b2, nb in er:
            if a1 < b2 and b1 < a2:
                return None  # both changed the same units
            if (
                a1 == a2 == b1 == b2
                and _elements([*before, *context[:a1]], na)
                and _elements([*before, *context[:a1]], nb)
                and (a1 == len(context) or _closes(context[a1]) or (_all_commas(na) and _all_commas(nb)))
            ):
                both.add(a1)  # both added elements to one list: CURRENT's first
                continue
            if a1 == b1 or (a1 == a2 and a1 in (b1, b2)) or (b1 == b2 and b1 in (a1, a2)):
                return None  # an insertion where the other edits: order unknown
    out: list[bytes] = []
    pos = 0
    for i, j, new in sorted(el + er, key=lambda e: (e[0], e[1])):  # stable: left's first
        out.extend(base[pos:i])
        if i == j and i in both and any(e[0] == e[1] == i for e in er) and (i, j, new) in el:
            new = [*new[:-1], _with_comma(new[-1])]  # a last element gets a comma: another follows
        out.extend(new)
        pos = j
    out.extend(base[pos:])
    return out


def _with_comma(unit: bytes) -> bytes:
    body = unit.rstrip()
    return unit if body.endswith(b",") else body + b"," + unit[len(body) :]


def _comma_split(base: Sequence[bytes], edits: list[Edit]) -> list[Edit]:
    """A line that only gained a comma, with lines added after it (an element appended to a list
    whose last element had none), as two edits: the comma, and the addition."""
    out: list[Edit] = []
    for i, j, new in edits:
        if j == i + 1 and len(new) >= 2 and base[i][:1] == b"T" and new[0] == _with_comma(base[i]) != base[i]:
            out.append((i, j, new[:1]))
            out.append((j, j, new[1:]))
        else:
            out.append((i, j, new))
    return out


def _one_line_lists(
    base: Sequence[bytes], el: list[Edit], er: list[Edit], bare_keys: bool, modifiers: tuple[bytes, ...] = ()
) -> tuple[list[Edit], list[Edit]]:
    """Edits of one line on both sides that ``merge_line`` merges (a ``throws`` list, a one-line
    object literal, a field's modifiers) become one edit, on the left."""
    rl = {(i, j): new for i, j, new in er}
    out_l: list[Edit] = []
    done: set[tuple[int, int]] = set()
    for i, j, new in el:
        other = rl.get((i, j))
        if j == i + 1 and other is not None and len(new) == 1 and len(other) == 1:
            b, l, r = base[i], new[0], other[0]
            # A text line, or a one-line member (``F`` name NUL line) that keeps its name.
            head = b[:1] if b[:1] == b"T" else b[: b.find(b"\0") + 1] if b[:1] == b"F" and b"\0" in b else b""
            if head and l.startswith(head) and r.startswith(head):
                n = len(head)
                merged = merge_line(b[n:], l[n:], r[n:], bare_keys=bare_keys, modifiers=modifiers)
                if merged is not None:
                    out_l.append((i, j, [head + merged]))
                    done.add((i, j))
                    continue
        out_l.append((i, j, new))
    return out_l, [e for e in er if (e[0], e[1]) not in done]


def _all_commas(new: Sequence[bytes]) -> bool:
    return all(u.rstrip().endswith(b",") for u in new)


def _closes(unit: bytes) -> bool:
    """Whether the line closes a literal: elements inserted before it may be the last ones."""
    return unit[1:].lstrip()[:1] in (b"}", b"]")


def _elements(before: Sequence[bytes], new: Sequence[bytes]) -> bool:
    """Whether ``new``, inserted after the units ``before``, are elements of a multi-line list or
    object literal: each line ends with a comma (the last may not: it was the last element), and
    so do the lines above up to one that opens the literal with ``{`` or ``[`` (not ``(``:
    arguments and parameters are ordered)."""
    if not new or any(u[:1] != b"T" or not u.rstrip().endswith(b",") for u in new[:-1]) or new[-1][:1] != b"T":
        return False
    for u in reversed(before):
        if u[:1] != b"T":
            return False
        last = u.rstrip()[-1:]
        if last != b",":
            return last in (b"{", b"[")
    return False
