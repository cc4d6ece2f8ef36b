"""Checking a merged file before it is called clean.

A merge is clean only if the merged file parses without errors, binds each
name by its top-level imports as often as the three-way rule says (so never
twice where no version does, and not at the old place of an import one side
moved into a function), holds exactly
the entities the three-way rule expects (an entity is in the merge unless a
side deleted it, with the name, kind and parent a side gave it — and no name
defined more often than in any version: that is two sides giving one name to
different entities), and every
entity that one side changed and the other did not has that side's tokens
(its normalised hash). Entities of arrays (named by position) are left out of
the entity checks; the parse still covers them. In code (not data files), no
name may be left dangling: a name one side stopped defining (renamed or
deleted) while the other side added uses of it, with those uses in the merge
and no definition of it, is a semantic conflict, not a clean merge; so is a name defined elsewhere that one side replaced
by another at every use in the file while the other side added uses of it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TypeVar

from tree_sitter import Tree

from ..extract import Rec, extract, join_qualname
from ..languages.registry import parser_for, spec_for
from ..parse import DEFAULT_MAX_FILE_BYTES, Parsed, _reuse_plan, analyze, precheck, text_delta, tree_of
from .imports import bound_names
from .layout import IMPORT_TYPES
from .versions import ROOT, Version

__all__ = ["added_twice", "parse_records", "parse_tree", "syntax_errors", "verify"]

V = TypeVar("V")


class _Ambiguous(Exception):
    pass


def _three_way(b: V | None, l: V | None, r: V | None) -> V | None:
    if l == b:
        return r
    if r == b or l == r:
        return l
    raise _Ambiguous


def _skipped(records: list[Rec]) -> list[bool]:
    """Positional entities (array items) and everything inside them."""
    out = [False] * len(records)
    for i in range(1, len(records)):
        out[i] = records[i].core.positional or out[records[i].parent]
    return out


def verify(
    path: str,
    content: bytes,
    versions: tuple[Version, ...],
    where: dict[str, list[int | None]],
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    loose: frozenset[str] = frozenset(),
    tolerated: Counter[bytes] | None = None,
) -> bool:
    """Whether ``content`` is a faithful merge of the three versions (see the module docstring).
    Entities whose local name is in ``loose`` are left out of the entity checks (names defined
    more than once, whose identities across the versions are a guess). ``tolerated``: the syntax
    errors the merge may have (``syntax_errors``), for versions that do not parse themselves."""
    parsed = parse_tree(path, content, versions[1].parsed, max_file_bytes, tolerated)
    if parsed is None:
        return False
    records, tree = parsed
    if _imports_wrong(path, tree, content, versions):
        return False
    try:
        expected = _expected(versions, where)
    except _Ambiguous:
        return False
    skipped = _skipped(records)
    actual: dict[tuple[str, str], list[int]] = {}
    for i in range(1, len(records)):
        if not skipped[i] and not _within(records[i].lqual, loose):
            actual.setdefault((records[i].core.kind, records[i].lqual), []).append(i)
    wanted = Counter(v for x, v in expected.items() if x != ROOT and not _within(v[1], loose))
    if wanted != Counter({k: len(v) for k, v in actual.items()}):
        return False
    if _clash(wanted, versions):
        return False
    if _dangling(path, content, records, versions) or _renamed_uses(path, content, tree, records, versions):
        return False
    actual[("", "")] = [0]
    for x, key in expected.items():
        if x == ROOT:
            key = ("", "")
        elif _within(key[1], loose) or wanted[key] != 1:
            continue
        own = _expected_hash(versions, where[x])
        if own is not None and records[actual[key][0]].core.norm_hash != own:
            return False
    return True


def _within(lqual: str, names: frozenset[str]) -> bool:
    """Whether the entity ``lqual`` is one of ``names`` or inside one."""
    return bool(names) and any(lqual == n or lqual.startswith((n + ".", n + "[")) for n in names)


def parse_records(path: str, content: bytes, near: Parsed, max_file_bytes: int) -> list[Rec] | None:
    """The entity records of ``content``, or None when it does not parse (see ``parse_tree``)."""
    parsed = parse_tree(path, content, near, max_file_bytes)
    return None if parsed is None else parsed[0]


def syntax_errors(tree: Tree, content: bytes) -> Counter[bytes]:
    """The syntax errors of a tree, each as the whole lines it is on (an ERROR node's, a MISSING
    node's, with its type). A merge of versions that do not parse may have errors, but only ones
    a version has: those lines copied unchanged from there."""
    out: Counter[bytes] = Counter()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            start = content.rfind(b"\n", 0, node.start_byte) + 1
            end = content.find(b"\n", max(node.end_byte - 1, node.start_byte))
            lines = content[start : end if end >= 0 else len(content)]
            out[(b"E" if node.type == "ERROR" else b"M" + node.type.encode()) + b"\0" + lines] += 1
        elif node.has_error:
            stack.extend(node.children)
    return out


# A line worth comparing: it has a name in it (not a brace or a blank line).
_WORDY = re.compile(rb"[A-Za-z_]\w")


def added_twice(path: str, content: bytes, versions: tuple[Version, ...]) -> bool:
    """Whether a line in the syntax errors of ``content`` (a merge of versions that do not parse)
    is one both sides added, and the merge has it more often than either side: the text one side
    added where error recovery swallowed it (no entity, no import, for the other checks) and the
    other side's copy of it elsewhere, both kept (a function or an import both sides added)."""
    spec = spec_for(path)
    if spec is None:
        return False
    tree = parser_for(spec).parse(content)
    lines: set[bytes] = set()
    for key in syntax_errors(tree, content):
        lines.update(x.strip() for x in key.split(b"\0", 1)[1].splitlines() if _WORDY.search(x))
    if not lines:
        return False
    counts = [Counter(x.strip() for x in v.content.splitlines()) for v in versions]
    merged = Counter(x.strip() for x in content.splitlines())
    cb, cl, cr = counts
    return any(cl[x] > cb[x] and cr[x] > cb[x] and merged[x] > max(cl[x], cr[x]) for x in lines)


def _imports_wrong(path: str, tree: Tree, content: bytes, versions: tuple[Version, ...]) -> bool:
    """Whether the merged file's top-level imports are not what the three-way rule says: a binding
    (a name, from where) that one side added, removed or moved into a function and the other did
    not touch must be there as often as that side has it; and no name may be bound more often
    than in any version (two sides' versions of one statement, both kept, bind a name twice)."""
    spec = spec_for(path)
    types = IMPORT_TYPES.get(spec.name) if spec is not None else None
    if spec is None or not types:
        return False
    parser = parser_for(spec)
    got = bound_names(spec.name, tree, content, types, parser)
    counts: list[Counter[tuple[bytes, bytes]]] = []
    for ver in versions:
        vtree = tree_of(ver.parsed, parser)
        counts.append(bound_names(spec.name, vtree, ver.content, types, parser) if vtree is not None else Counter())
    cb, cl, cr = counts
    for key in set(got) | set(cb) | set(cl) | set(cr):
        b, l, r = cb[key], cl[key], cr[key]
        want = r if l == b else l if (r == b or l == r) else None
        if want is not None and got[key] != want:
            return True
    names: Counter[bytes] = Counter()
    most: Counter[bytes] = Counter()
    for (name, _), n in got.items():
        names[name] += n
    for c in counts:
        per: Counter[bytes] = Counter()
        for (name, _), n in c.items():
            per[name] += n
        most |= per
    return any(n > 1 and n > most[name] for name, n in names.items())


def parse_tree(
    path: str, content: bytes, near: Parsed, max_file_bytes: int, tolerated: Counter[bytes] | None = None
) -> tuple[list[Rec], Tree] | None:
    """The entity records and syntax tree of ``content``, or None when it does not parse.

    tree-sitter re-parses incrementally from a nearby version (exact: the same
    tree as a fresh parse), and the records of entities clear of the changes
    are copied; the region re-parse shortcut (``analyze``'s fastest path) is
    not used: the merge is judged on its own tree. With ``tolerated`` (the
    versions do not all parse), a fresh parse whose syntax errors are all
    among those is accepted, its records walked in full.
    """
    spec = spec_for(path)
    if spec is None or precheck(spec, content, max_file_bytes):
        return None
    parser = parser_for(spec)
    if tolerated is not None:
        # Error recovery may differ between an incremental and a fresh parse: a fresh one, as
        # the versions had (``syntax_errors`` compares the two).
        tree = parser.parse(content)
        if tree.root_node.has_error and syntax_errors(tree, content) - tolerated:
            return None
        return extract(spec, tree, content), tree
    old_tree = tree_of(near, parser)
    if old_tree is None or near.fallback_reason:
        parsed = analyze(path, content, max_file_bytes=max_file_bytes)
        fresh = None if parsed.fallback_reason else tree_of(parsed, parser)
        return None if fresh is None else (parsed.records, fresh)
    delta = text_delta(near.content, content)
    edited = old_tree.copy()
    for e in reversed(delta.edits):
        edited.edit(
            e.old_start,
            e.old_end,
            e.old_start + (e.new_end - e.new_start),
            e.start_point,
            e.old_end_point,
            e.new_end_point,
        )
    tree = parser.parse(content, edited)
    if tree.root_node.has_error:
        return None
    reuse = _reuse_plan(near, delta, [(r.start_byte, r.end_byte) for r in edited.changed_ranges(tree)])
    return extract(spec, tree, content, reuse if delta.edits else None), tree


def _clash(wanted: Counter[tuple[str, str]], versions: tuple[Version, ...]) -> bool:
    """A name both sides gave to different entities (a rename on one side, an addition on the
    other): more definitions of it than any version has."""
    names = Counter(lq for _, lq in wanted.elements())
    if max(names.values(), default=0) < 2:
        return False
    most: Counter[str] = Counter()
    for ver in versions:
        skipped = _skipped(ver.records)
        counts = Counter(r.lqual for i, r in enumerate(ver.records) if i and not skipped[i])
        most |= counts
    return any(n > most[lq] for lq, n in names.items())


# Data formats: a key one side dropped and a word the other side wrote are not a definition and a use.
_DATA_LANGUAGES = frozenset({"json", "yaml", "toml"})


def _dangling(path: str, content: bytes, records: list[Rec], versions: tuple[Version, ...]) -> bool:
    """Whether the merge uses a name that no longer names anything: the base defines an entity of
    that name, one side defines none (it renamed or deleted it), the other side uses the name more
    often than the base did, the merge defines none, and uses it more often than the side that
    dropped it. Git conflicts on most of these only by chance (adjacent lines). Fields and other
    one-line members count as definitions too (a field one side renamed): the merge holds one only
    where the three-way rule keeps it, that is not where one side dropped it."""
    spec = spec_for(path)
    if spec is None or spec.name in _DATA_LANGUAGES:
        return False
    defined = [
        {r.core.segment for i, r in enumerate(v.records) if i}
        | {name.decode(errors="replace") for spans in v.members.values() for _, _, name in spans}
        for v in versions
    ]
    merged = {r.core.segment for i, r in enumerate(records) if i}
    base, left, right = versions
    for name in defined[0] - merged:
        if len(name) < 3 or not name.isidentifier():
            continue
        word = re.compile(rb"(?<![\w$])" + re.escape(name.encode()) + rb"(?![\w$])")
        uses = [len(word.findall(v.content)) for v in versions]
        here = len(word.findall(content))
        for gone, kept in ((1, 2), (2, 1)):
            if name not in defined[gone] and uses[kept] > uses[0] and here > uses[gone]:
                return True
    return False


# A name, or a name on a receiver (``deserializer.visit``: the method may be gone where another
# ``visit`` stays).
_WORD = re.compile(rb"(?<![\w$.])(?:[A-Za-z_]\w*\.)?[A-Za-z_]\w{2,}(?![\w$])")
_NAME = rb"((?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*)"


def _renamed_uses(path: str, content: bytes, tree: Tree, records: list[Rec], versions: tuple[Version, ...]) -> bool:
    """Whether the merge uses a name in code that one side replaced by another everywhere in the
    file (a rename of something defined elsewhere: a method of another module, an API), while
    the other side added uses of it: ``visit`` written ``deserialize`` on one side, a new call
    of ``visit`` on the other. The evidence of the rename: the name is gone from that side, and
    at least one of the base's lines with it is there with another name in its place, the rest
    of the line unchanged. Names the merge defines are left to ``_dangling``."""
    spec = spec_for(path)
    if spec is None or spec.name in _DATA_LANGUAGES:
        return False
    base, left, right = versions
    words = [Counter(_WORD.findall(v.content)) for v in versions]
    defined: set[bytes] | None = None
    for gone, kept in ((1, 2), (2, 1)):
        for name, n in words[0].items():
            if words[gone][name] or words[kept][name] <= n:
                continue
            if defined is None:
                defined = {r.core.segment.encode() for i, r in enumerate(records) if i}
            word = re.compile(rb"(?<![\w$.])" + re.escape(name) + rb"(?![\w$])")
            if name in defined or not word.search(content):
                continue
            if _substituted(name, word, base.content, versions[gone].content) and _in_code(
                word, content, tree, IMPORT_TYPES.get(spec.name, frozenset())
            ):
                return True
    return False


def _substituted(name: bytes, word: re.Pattern[bytes], base: bytes, side: bytes) -> bool:
    """Whether a line of ``base`` with ``name`` is in ``side`` with one other name in its place."""
    lines = set(side.splitlines())
    for line in base.splitlines():
        if not word.search(line) or len(line.strip()) < len(name) + 2:
            continue
        parts = word.split(line)
        pattern = re.compile((rb"(?<![\w$.])" + _NAME + rb"(?![\w$])").join(re.escape(p) for p in parts))
        for other in lines:
            found = pattern.fullmatch(other)
            if found is not None and len(set(found.groups())) == 1 and found.group(1) != name:
                return True
    return False


def _in_code(word: re.Pattern[bytes], content: bytes, tree: Tree, imports: frozenset[str]) -> bool:
    """Whether an occurrence of the word in ``content`` is a name in the code: not a comment's or
    a string's word, nor in an import statement (the import checks judge those)."""
    for found in word.finditer(content):
        start = content.rfind(b".", found.start(), found.end()) + 1 or found.start()
        node = tree.root_node.descendant_for_byte_range(start, found.end())
        if node is None or (node.start_byte, node.end_byte) != (start, found.end()) or "identifier" not in node.type:
            continue
        up = node.parent
        while up is not None and up.type not in imports:
            up = up.parent
        if up is None:
            return True
    return False


def _expected(versions: tuple[Version, ...], where: dict[str, list[int | None]]) -> dict[str, tuple[str, str]]:
    """(kind, local qualified name) of every entity the merge must hold, arrays aside."""
    skipped = [_skipped(v.records) for v in versions]
    facts: dict[str, tuple[str, str, str] | None] = {}  # kind, segment, parent; None: skipped
    for x, recs in where.items():
        present = [i is not None for i in recs]
        if not _three_way(*present):
            continue
        if x == ROOT:
            facts[x] = ("", "", "")
            continue
        vals: list[tuple[str, str, str] | None] = []
        skip = False
        for v, i in enumerate(recs):
            if i is None:
                vals.append(None)
                continue
            rec = versions[v].records[i]
            skip = skip or skipped[v][i]
            vals.append((rec.core.kind, rec.core.segment, versions[v].parent_id(i)))
        if skip:
            facts[x] = None
            continue
        kind = _three_way(*(v[0] if v else None for v in vals))
        segment = _three_way(*(v[1] if v else None for v in vals))
        parent = _three_way(*(v[2] if v else None for v in vals))
        assert kind is not None and segment is not None and parent is not None
        facts[x] = (kind, segment, parent)
    lquals: dict[str, str | None] = {ROOT: ""}

    def lqual(x: str) -> str | None:
        if x in lquals:
            return lquals[x]
        if x not in facts:
            raise _Ambiguous  # the parent is not in the merge
        fact = facts[x]
        if fact is None:
            lquals[x] = None
            return None
        parent = lqual(fact[2])
        lquals[x] = None if parent is None else join_qualname(parent, fact[1])
        return lquals[x]

    out: dict[str, tuple[str, str]] = {}
    for x, fact in facts.items():
        q = lqual(x)
        if q is not None and fact is not None:
            out[x] = (fact[0], q)
    return out


def _expected_hash(versions: tuple[Version, ...], recs: list[int | None]) -> str | None:
    """The normalised hash the merged entity must have, or None when it cannot be said: both
    sides changed it, or both changed its set of members (separators are its own tokens)."""
    own: list[str | None] = []
    members: list[frozenset[str] | None] = []
    for v, i in enumerate(recs):
        if i is None:
            own.append(None)
            members.append(None)
            continue
        ver = versions[v]
        own.append(ver.records[i].core.norm_hash)
        members.append(frozenset(ver.ids[c] for c in ver.kids[i]))
    if recs[0] is not None and recs[1] is not None and recs[2] is not None:
        if members[1] != members[0] and members[2] != members[0]:
            return None
    elif recs[0] is not None:
        return None
    try:
        return _three_way(*own)
    except _Ambiguous:
        return None
