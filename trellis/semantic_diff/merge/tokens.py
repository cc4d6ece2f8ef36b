"""A conflicting region of text lines merged below the line: token by token.

Where both sides changed the same lines of an entity, the edits may still be to
different parts of one statement or expression: one side changes an operand,
the other deletes another; one renames a call, the other adds an argument; one
adds a condition to an ``if``, the other removes another. Syntax-aware merge
tools merge these on the syntax tree; here the region's text is cut into
tokens (identifiers, numbers, punctuation; a string literal or a comment is
one token, so no edit inside a string or a sentence is ever combined with
another) and each side's edits of the base's tokens are applied together when
they are apart:

- no two edits touch or overlap (an insertion where the other side edits,
  or right next to it, has no known order: a conflict);
- each edit lands in a stable place on the other side: the ``CONTEXT``
  tokens before and after it are kept there (or changed by an edit of one
  or two tokens, or deleted with the whole lines they are on), so a side
  that rewrote the surroundings does not receive an edit meant for the old
  text;
- the layout (the whitespace before each token) merges three-way too:
  changed differently on both sides, a conflict.

Anything else stays a conflict. The merged file is then checked like any
structured merge (it parses, binds names once, keeps every change).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .text import _NoJunk

__all__ = ["TOKEN_LANGUAGES", "merge_tokens"]

# Tokens on either side of an edit that the other side must keep, unchanged and in one run.
CONTEXT = 3
# An edit this small (base tokens replaced, tokens put in) is no rewrite of the surroundings.
SMALL = 2

# How comments start, per language: the languages where this merge runs (not YAML or JSON,
# whose bare scalars are values a token merge could recombine, nor Markdown-like text).
_LINE_COMMENT: dict[str, bytes] = {
    "python": rb"#[^\n]*",
    "toml": rb"#[^\n]*",
    "go": rb"//[^\n]*",
    "java": rb"//[^\n]*",
    "javascript": rb"//[^\n]*",
    "typescript": rb"//[^\n]*",
    "tsx": rb"//[^\n]*",
    "rust": rb"//[^\n]*",
}
TOKEN_LANGUAGES = frozenset(_LINE_COMMENT)

_STRINGS = (
    rb'"""[\s\S]*?"""',
    rb"'''[\s\S]*?'''",
    rb'"(?:[^"\\\n]|\\.)*"',
    rb"'(?:[^'\\\n]|\\.)*'",
    rb"`(?:[^`\\]|\\.)*`",
)
_COMMON = (
    rb"/\*[\s\S]*?\*/",
    rb"\d[\w.]*",
    rb"[A-Za-z_$\x80-\xff][\w$\x80-\xff]*",
    rb"===|!==|\*\*=|<<=|>>=|\.\.\.|\?\?=|&&|\|\||==|!=|<=|>=|=>|->|::|:=|\+=|-=|\*=|/=|\?\?|\?\.|<<|>>|\+\+|--",
    rb"\S",
)
_PATTERNS: dict[str, re.Pattern[bytes]] = {}


def _pattern(language: str) -> re.Pattern[bytes]:
    got = _PATTERNS.get(language)
    if got is None:
        block = () if language in ("python", "toml") else _COMMON[:1]
        alts = (_LINE_COMMENT[language], *block, *_STRINGS, *_COMMON[1:])
        got = _PATTERNS[language] = re.compile(rb"(\s*)(" + rb"|".join(alts) + rb")")
    return got


def _tokens(language: str, text: bytes) -> tuple[list[bytes], list[bytes], bytes] | None:
    """(tokens, the whitespace before each, the whitespace at the end), or None when the text
    does not cut cleanly (an unterminated string or comment)."""
    words: list[bytes] = []
    spaces: list[bytes] = []
    pos = 0
    pattern = _pattern(language)
    n = len(text)
    while pos < n:
        m = pattern.match(text, pos)
        if m is None:
            if text[pos:].strip():
                return None
            break
        spaces.append(m.group(1))
        words.append(m.group(2))
        pos = m.end()
    return words, spaces, text[pos:]


Edit = tuple[int, int, int, int]  # base tokens [i1, i2) replaced by the side's [j1, j2)


def _diff(base: list[bytes], side: list[bytes]) -> tuple[list[Edit], list[tuple[int, int, int]]]:
    """The side's edits, each insertion or deletion slid as far up as it goes (``|| b`` deleted
    from ``a || b || c``, not ``b ||``: every side's diff of one text the same way), and the runs
    it keeps (base start, side start, length)."""
    m = _NoJunk(None, base, side)
    edits: list[Edit] = []
    for op, i1, i2, j1, j2 in m.get_opcodes():
        if op == "equal":
            continue
        if i1 == i2:  # an insertion: slide while the inserted run ends as the base before it does
            while i1 > 0 and (not edits or edits[-1][1] < i1) and side[j2 - 1] == base[i1 - 1]:
                i1, i2, j1, j2 = i1 - 1, i2 - 1, j1 - 1, j2 - 1
        elif j1 == j2:  # a deletion
            while i1 > 0 and (not edits or edits[-1][1] < i1) and base[i2 - 1] == base[i1 - 1]:
                i1, i2, j1, j2 = i1 - 1, i2 - 1, j1 - 1, j2 - 1
        edits.append((i1, i2, j1, j2))
    runs: list[tuple[int, int, int]] = []
    i = j = 0
    for i1, i2, _j1, j2 in edits:
        if i1 > i:
            runs.append((i, j, i1 - i))
        i, j = i2, j2
    if len(base) > i:
        runs.append((i, j, len(base) - i))
    return edits, runs


def _stable(edit: Edit, at: list[int | None], small: set[int]) -> bool:
    """Whether the ``CONTEXT`` base tokens on each side of an edit are all kept by the other side,
    or changed there by an edit of a token or two (``f(a, b)`` to ``f(A, b)`` and ``f(a, B)``);
    its insertions between them are checked not to touch this edit."""
    i1, i2 = edit[0], edit[1]
    window = range(max(0, i1 - CONTEXT), min(len(at), i2 + CONTEXT))
    return all(at[k] is not None or k in small for k in window if not i1 <= k < i2)


def _small(edits: list[Edit], lines: list[int]) -> set[int]:
    """The base tokens that edits of at most ``SMALL`` tokens (on both sides of them) change, or
    that a deletion of whole lines removes (a statement deleted next to an edit is no rewrite of it)."""
    n = len(lines)
    out: set[int] = set()
    for i1, i2, j1, j2 in edits:
        whole = j1 == j2 and (i1 == 0 or lines[i1 - 1] != lines[i1]) and (i2 == n or lines[i2 - 1] != lines[i2])
        if whole or (i2 - i1 <= SMALL and j2 - j1 <= SMALL):
            out.update(range(i1, i2))
    return out


def _aligned(runs: list[tuple[int, int, int]], n: int) -> list[int | None]:
    """For each base token, its index on the side (None where the side changed it)."""
    out: list[int | None] = [None] * n
    for s, j, k in runs:
        for d in range(k):
            out[s + d] = j + d
    return out


def merge_tokens(
    language: str, base: Sequence[bytes], left: Sequence[bytes], right: Sequence[bytes]
) -> list[bytes] | None:
    """The merged ``T``/``V`` units of a conflicting region of text lines, or None (a conflict).
    Every unit must be a text line (``T``) or a blank one (``V``), or the region one one-line
    member (``F``) of one name on every side."""
    if language not in TOKEN_LANGUAGES or not base or not left or not right:
        return None
    if len(base) == len(left) == len(right) == 1 and base[0][:1] == b"F" and b"\0" in base[0]:
        # One one-line member (a field) changed on both sides: its line, under its name.
        head = base[0][: base[0].index(b"\0") + 1]
        if not (left[0].startswith(head) and right[0].startswith(head)):
            return None
        n = len(head)
        got = merge_tokens(language, [b"T" + base[0][n:]], [b"T" + left[0][n:]], [b"T" + right[0][n:]])
        if got is None or len(got) != 1 or got[0][:1] != b"T":
            return None
        return [head + got[0][1:]]
    texts: list[bytes] = []
    for units in (base, left, right):
        if any(u[:1] != b"T" and (u[:1] != b"V" or u[1:].strip()) for u in units):
            return None
        texts.append(b"".join(u[1:] for u in units))
    cut = [_tokens(language, t) for t in texts]
    if any(c is None for c in cut):
        return None
    (bw, bs, bend), (lw, ls, lend), (rw, rs, rend) = cut  # type: ignore[misc]
    el, runs_l = _diff(bw, lw)
    er, runs_r = _diff(bw, rw)
    if not el or not er:
        return None
    # The same edit on both sides counts once (as the left's).
    same = {(b[0], b[1]) for a in el for b in er if a[:2] == b[:2] and lw[a[2] : a[3]] == rw[b[2] : b[3]]}
    er = [b for b in er if b[:2] not in same]
    if same and _same_line(
        bs, [e for e in el if e[:2] in same], ls, [(e, ls) for e in el if e[:2] not in same] + [(e, rs) for e in er]
    ):
        return None
    n = len(bw)
    for a in el:
        for b in er:
            if a[0] <= b[1] and b[0] <= a[1]:
                return None  # they touch or overlap: no order, or one edit inside the other
    at_l, at_r = _aligned(runs_l, n), _aligned(runs_r, n)
    at = _lines(bs)
    small_l, small_r = _small(el, at), _small(er, at)
    if not all(_stable(e, at_r, small_r) for e in el if e[:2] not in same) or not all(
        _stable(e, at_l, small_l) for e in er
    ):
        return None
    edits = sorted([(e, lw, ls) for e in el] + [(e, rw, rs) for e in er], key=lambda x: (x[0][0], x[0][1]))
    out: list[bytes] = []
    pos = 0

    def keep(upto: int) -> bool:
        nonlocal pos
        for i in range(pos, upto):
            jl, jr = at_l[i], at_r[i]
            space = _space(bs[i], ls[jl] if jl is not None else None, rs[jr] if jr is not None else None)
            if space is None:
                return False
            out.extend((space, bw[i]))
        pos = upto
        return True

    for (i1, i2, j1, j2), words, spaces in edits:
        if not keep(i1):
            return None
        for j in range(j1, j2):
            out.extend((spaces[j], words[j]))
        pos = i2
    if not keep(n):
        return None
    end = _space(bend, lend, rend)
    if end is None:
        return None
    out.append(end)
    merged = b"".join(out)
    return [(b"T" if line.strip() else b"V") + line for line in merged.splitlines(keepends=True)]


def _lines(spaces: list[bytes]) -> list[int]:
    """The line each base token is on."""
    out: list[int] = []
    line = 0
    for sp in spaces:
        line += sp.count(b"\n")
        out.append(line)
    return out


def _same_line(bs: list[bytes], same: list[Edit], ls: list[bytes], others: list[tuple[Edit, list[bytes]]]) -> bool:
    """Whether an edit only one side made is on a line where both sides made the same edit: the
    two sides worked on one line (``a === b || c`` made ``a !== b || c`` on one side, ``a !== b && c``
    on the other), and one side's line is not the other's plus an independent edit."""
    at = _lines(bs)
    n = len(bs)

    def lines(i1: int, i2: int, inline: bool) -> set[int]:
        if i2 > i1:
            return set(range(at[i1], at[i2 - 1] + 1))
        if not inline:
            return set()  # whole lines inserted: no line of the base is edited
        return {at[k] for k in (i1 - 1, i1) if 0 <= k < n}

    def inline(spaces: list[bytes], j1: int, j2: int) -> bool:
        return not any(b"\n" in spaces[j] for j in range(j1, j2))

    shared: set[int] = set()
    for i1, i2, j1, j2 in same:
        shared |= lines(i1, i2, inline(ls, j1, j2))
    return any(lines(i1, i2, inline(sp, j1, j2)) & shared for (i1, i2, j1, j2), sp in others)


def _space(b: bytes, l: bytes | None, r: bytes | None) -> bytes | None:
    """The whitespace before a base token, three-way (a side that changed the token next to it
    keeps its own)."""
    l = b if l is None else l
    r = b if r is None else r
    if l == b:
        return r
    if r == b or l == r:
        return l
    return None
