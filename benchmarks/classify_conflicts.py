"""Classify the conflicts Trellis reports on a corpus of real merges by how the maintainers resolved them.

Usage::

    python benchmarks/classify_conflicts.py --corpus ../shared/data/merge-scenarios [--language go] [--list]

For every scenario that Trellis merges with conflicts, and whose Expected (the maintainers' file) is
not simply one of the three versions, each conflict block in Trellis's output is matched against
Expected (whitespace ignored) with a few candidate resolutions, in order:

- ``one-side``: the block's CURRENT, OTHER or BASE text (the maintainers picked a side there: no
  tool can know which);
- ``both``: CURRENT's text then OTHER's, or the other way round (both sides' additions at one place);
- ``union``: the lines of one side, then the other's lines that it lacks (a set union of list items
  both sides changed);
- ``tokens``: a three-way merge of the block's tokens (words and punctuation) is clean and matches
  (independent edits of different expressions of one statement, or of adjacent lines).

A scenario gets the "largest" class any of its blocks needs (tokens > union > both > one-side), or:

- ``outside``: every block can be resolved but Expected also differs outside the blocks (the
  maintainers' follow-up edits, or a clean part merged otherwise);
- ``hand``: a block that no candidate resolves (a resolution by hand, or a finer merge than these);
- a ``parse_error`` prefix when Trellis fell back to the line merge because a version does not parse.

This is an analysis aid for issue 11, not a benchmark of Trellis's own: it reads ``../shared``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from trellis.semantic_diff.merge import merge_files
from trellis.semantic_diff.merge.text import merge_sequences

_WS = re.compile(rb"\s+")
_TOKEN = re.compile(rb"\w+|[^\w\s]")
_ORDER = ["one-side", "both", "union", "tokens"]


def norm(data: bytes) -> bytes:
    return _WS.sub(b"", data)


def blocks(content: bytes) -> list[bytes | tuple[bytes, bytes, bytes]]:
    """Plain text and (left, base, right) conflict blocks of a merged file with diff3 markers."""
    out: list[bytes | tuple[bytes, bytes, bytes]] = []
    plain: list[bytes] = []
    state = 0
    parts: list[list[bytes]] = [[], [], []]
    for line in content.splitlines(keepends=True):
        if state == 0 and line.startswith(b"<<<<<<<"):
            out.append(b"".join(plain))
            plain = []
            parts = [[], [], []]
            state = 1
        elif state == 1 and line.startswith(b"|||||||"):
            state = 2
        elif state == 2 and line.startswith(b"======="):
            state = 3
        elif state == 3 and line.startswith(b">>>>>>>"):
            out.append(tuple(b"".join(p) for p in parts))  # type: ignore[arg-type]
            state = 0
        elif state == 0:
            plain.append(line)
        else:
            parts[state - 1].append(line)
    out.append(b"".join(plain))
    return out


def token_merge(base: bytes, left: bytes, right: bytes) -> bytes | None:
    tb, tl, tr = (_TOKEN.findall(x) for x in (base, left, right))
    out: list[bytes] = []
    for group in merge_sequences(tb, tl, tr):
        if group[0] == "conflict":
            return None
        out.extend(group[1])
    return b"".join(out)


def union(first: bytes, second: bytes) -> bytes:
    a = first.splitlines()
    seen = {norm(x) for x in a}
    return b"".join(a + [x for x in second.splitlines() if norm(x) not in seen])


def candidates(block: tuple[bytes, bytes, bytes]) -> list[tuple[str, bytes]]:
    left, base, right = block
    out = [("one-side", left), ("one-side", right), ("one-side", base)]
    out += [("both", left + right), ("both", right + left)]
    out += [("union", union(left, right)), ("union", union(right, left))]
    merged = token_merge(base, left, right)
    if merged is not None:
        out.append(("tokens", merged))
    return [(k, norm(v)) for k, v in out]


def classify(content: bytes, expected: bytes) -> tuple[str, list[str]]:
    """The scenario's class and, per block, the smallest candidate class that fits (or '?')."""
    segs = blocks(content)
    exp = norm(expected)
    # Reachable (position in Expected -> classes used so far), segment by segment.
    states: dict[int, tuple[str, ...]] = {0: ()}
    per_block: list[str] = []
    stuck = ""
    for seg in segs:
        nxt: dict[int, tuple[str, ...]] = {}
        if isinstance(seg, bytes):
            s = norm(seg)
            for pos, used in states.items():
                if exp.startswith(s, pos):
                    nxt.setdefault(pos + len(s), used)
            if not nxt and not stuck:
                stuck = "outside"
        else:
            kinds = set()
            cands = candidates(seg)
            for pos, used in states.items():
                for kind, text in cands:
                    if exp.startswith(text, pos):
                        kinds.add(kind)
                        got = nxt.get(pos + len(text))
                        new = (*used, kind)
                        if got is None or _rank(new) < _rank(got):
                            nxt[pos + len(text)] = new
            # Independently of the position: which candidate's text occurs in Expected at all.
            alone = [k for k, t in cands if t and t in exp]
            per_block.append(min(alone, key=_ORDER.index) if alone else "?")
            if not nxt and not stuck:
                stuck = "hand"
        if not nxt:
            states = {}
            break
        states = nxt
    if len(exp) in states:
        used = states[len(exp)]
        return (max(used, key=_ORDER.index) if used else "none"), per_block
    if stuck == "outside" or (stuck == "hand" and "?" not in per_block):
        return "outside", per_block
    return "hand", per_block


def _rank(used: tuple[str, ...]) -> int:
    return max((_ORDER.index(k) for k in used), default=-1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--language", action="append", default=[])
    ap.add_argument("--list", action="store_true", help="one line per scenario")
    args = ap.parse_args()
    root: Path = args.corpus
    index = [json.loads(x) for x in (root / "index.jsonl").read_text().splitlines() if x.strip()]
    counts: Counter[str] = Counter()
    by_lang: dict[str, Counter[str]] = {}
    kept_side = 0
    for row in index:
        lang = row["language"]
        if args.language and lang not in args.language:
            continue
        folder = root / lang / row["id"]
        files = {p.name.split(".")[0]: p.read_bytes() for p in folder.iterdir()}
        base, left, right, expected = (files[k] for k in ("Base", "Left", "Right", "Expected"))
        m = merge_files(row["path"], base, left, right)
        if m.clean:
            continue
        if norm(expected) in (norm(left), norm(right), norm(base)):
            kept_side += 1
            continue
        assert m.content is not None
        kind, per_block = classify(m.content, expected)
        if m.fallback_reason == "parse_error":
            kind = "parse_error/" + kind
        counts[kind] += 1
        by_lang.setdefault(lang, Counter())[kind] += 1
        if args.list:
            names = [c.qualname for c in m.conflicts][:3]
            print(f"{kind:22} {lang:10} {row['id']:45} {row['path']} {' '.join(per_block)} {names}")
    print(f"\nconflicts where Expected is one version unchanged: {kept_side}", file=sys.stderr)
    print(f"conflicts where Expected mixes: {sum(counts.values())}", file=sys.stderr)
    for k, v in counts.most_common():
        print(f"  {k:24} {v}", file=sys.stderr)
    for lang in sorted(by_lang):
        print(f"  {lang:10} {dict(by_lang[lang].most_common())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
