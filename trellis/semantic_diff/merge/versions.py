"""The three versions of a file, parsed, with one identity per entity across them.

Each entity of the left and right versions is paired with its base entity by
the semantic diff's matcher (by name top-down, then renames and moves by
similarity), and takes the base entity's identity ``b<index>``. An entity a
side added is named by its parent's identity, its name and its rank among
the added siblings of that name — so two sides adding "the same" entity give
it the same identity, and a conflict on it is found. A rename needs more evidence
than in a diff (``MIN_RENAME_TOKENS``, or the renamed entity standing where the
old one stood): a wrong pairing would carry the other side's edits into another
entity.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tree_sitter import Tree

from ..diff import module_name
from ..extract import Rec
from ..languages.registry import parser_for
from ..languages.spec import LanguageSpec
from ..matching import FileSide, MatchOptions, _Matcher
from ..parse import Parsed, tree_of
from .imports import ImportInfo
from .layout import IMPORT_TYPES, MEMBER_TYPES, Chunk, chunks_of, import_spans, member_spans

__all__ = ["ROOT", "Version", "identities", "versions_of"]

ROOT = "b0"

# Tokens an entity needs before a similar one under another name counts as its rename (the
# semantic diff asks for 8): two short functions are easily alike without being the same.
MIN_RENAME_TOKENS = 30


@dataclass(slots=True)
class Version:
    """One side of the merge (0 base, 1 left, 2 right) and where its entities are."""

    content: bytes
    parsed: Parsed
    records: list[Rec]
    ids: list[str]
    index: dict[str, int]  # identity -> record index
    chunks: list[Chunk | None]
    imports: list[tuple[int, int, ImportInfo]]
    members: dict[int, list[tuple[int, int, bytes]]]  # record index -> its one-line non-entity members
    import_at: dict[int, ImportInfo]  # an import span's start -> what it binds
    kids: list[list[int]]

    def parent_id(self, i: int) -> str:
        return self.ids[self.records[i].parent]

    def text(self, i: int) -> bytes:
        chunk = self.chunks[i]
        if chunk is None:
            rec = self.records[i]
            return self.content[rec.ext_start : rec.end_byte]
        return self.content[chunk.start : chunk.end]


def _file_side(path: str, spec: LanguageSpec, parsed: Parsed) -> FileSide:
    return FileSide(path=path, module="" if spec.keyed else module_name(path), keyed=spec.keyed, records=parsed.records)


def _side_ids(base: FileSide, side: FileSide) -> list[str]:
    m = _Matcher([base], [side], MatchOptions())
    m.pair((0, 0), (0, 0))
    m.by_name()
    similar = m.by_similarity()
    for o, n in similar:
        # A rename carries the other side's edits to another name: only on strong evidence —
        # enough tokens, or the very place of the old entity (same parent, same neighbour).
        same_name = base.records[o[1]].core.name == side.records[n[1]].core.name
        if (
            not same_name
            and len(m.tokens(False, o)) < MIN_RENAME_TOKENS
            and not _same_place(m.o2n[0], base.records, o[1], side.records, n[1])
        ):
            del m.o2n[0][o[1]]
            del m.n2o[0][n[1]]
            m.pairs.remove((o, n))
    if similar:
        m.by_name()
    n2o = m.n2o[0]
    records = side.records
    ids = [""] * len(records)
    seen: Counter[tuple[str, str]] = Counter()
    for i, rec in enumerate(records):
        paired = n2o.get(i)
        if paired is not None:
            ids[i] = f"b{paired[1]}"
            continue
        parent = ids[rec.parent]
        segment = rec.core.segment
        rank = seen[(parent, segment)]
        seen[(parent, segment)] += 1
        ids[i] = f"{parent}\x1f{segment}\x1e{rank}"
    return ids


def _siblings(records: list[Rec], i: int) -> tuple[int | None, int | None]:
    """The entities right before and after record ``i`` under the same parent."""
    parent = records[i].parent
    prev = nxt = None
    k = parent + 1
    while k < len(records) and k < records[parent].end:
        if records[k].parent == parent:
            if k < i:
                prev = k
            elif k > i:
                nxt = k
                break
        k = records[k].end if records[k].end > k else k + 1
    return prev, nxt


def _same_place(o2n: dict[int, tuple[int, int]], base: list[Rec], o: int, side: list[Rec], n: int) -> bool:
    """Whether ``n`` sits where ``o`` was: paired parents, and a paired neighbour on either side
    (or none on that side, in both)."""
    if o2n.get(base[o].parent) != (0, side[n].parent):
        return False
    (bp, bn), (sp, sn) = _siblings(base, o), _siblings(side, n)
    before = (bp is None and sp is None) or (bp is not None and sp is not None and o2n.get(bp) == (0, sp))
    after = (bn is None and sn is None) or (bn is not None and sn is not None and o2n.get(bn) == (0, sn))
    return before or after


def versions_of(path: str, spec: LanguageSpec, parsed: tuple[Parsed, Parsed, Parsed]) -> tuple[Version, ...]:
    """The three versions, with identities, chunks and imports (every version parsed without errors)."""
    parser = parser_for(spec)
    sides = [_file_side(path, spec, p) for p in parsed]
    all_ids = [
        [f"b{i}" for i in range(len(parsed[0].records))],
        _side_ids(sides[0], sides[1]),
        _side_ids(sides[0], sides[2]),
    ]
    out = []
    needs_tree = bool(spec.comment_anchors) or spec.name in IMPORT_TYPES or spec.name in MEMBER_TYPES
    for p, ids in zip(parsed, all_ids):
        tree: Tree | None = tree_of(p, parser) if needs_tree else None
        records = p.records
        kids: list[list[int]] = [[] for _ in records]
        for i in range(1, len(records)):
            kids[records[i].parent].append(i)
        chunks = chunks_of(spec, p.content, records, tree)
        imports = import_spans(spec, tree, p.content)
        out.append(
            Version(
                content=p.content,
                parsed=p,
                records=records,
                ids=ids,
                index={x: i for i, x in enumerate(ids)},
                chunks=chunks,
                imports=imports,
                import_at={s: info for s, _, info in imports},
                members=member_spans(spec, tree, p.content, records, chunks),
                kids=kids,
            )
        )
    return tuple(out)


def identities(versions: tuple[Version, ...]) -> dict[str, list[int | None]]:
    """Each identity's record index in the base, left and right versions (None where absent)."""
    where: dict[str, list[int | None]] = {}
    for v, ver in enumerate(versions):
        for i, x in enumerate(ver.ids):
            where.setdefault(x, [None, None, None])[v] = i
    return where
