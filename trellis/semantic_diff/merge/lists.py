"""One line both sides changed, merged below the line where its changes are to an unordered list.

Two kinds of list on one line are sets, whatever the language:

- the types after ``throws``, ``implements`` and ``extends`` (Java, TypeScript):
  ``void f() throws IOException, JsonFormatException {``;
- the entries of a one-line object or keyed literal, ``key: value`` each
  (JavaScript/TypeScript objects, Go keyed composite literals, Rust struct
  expressions; bare names only in JS/TS and Rust, where they are shorthand
  keys): ``const o = { foo: 1, bar: 2 };``.

A third is merged per language, where the language lets it be a set: the
*modifiers* a declaration starts with (Java ``public static final``,
TypeScript/JavaScript ``export async``, ``private static readonly``, Rust
``pub const unsafe``; see ``MODIFIERS``). Visibility is one slot (``public``
against ``private``: changed differently on both sides, a conflict); the
others are a set. Every version's modifiers must be in the language's usual
order, and so is the merge's. Not Go (it has none) nor Python, whose
decorators apply in order (``async def`` is a keyword, not a modifier list).
The rest of the line merges three-way as a whole.

The line is split into the text around the list (which must be the same on
all three versions) and the list's items; the items merge three-way as a set
(by type name, or by key with its value three-way), CURRENT's first, then
OTHER's additions. Anything else (argument lists, whose order matters, or a
change outside the list) is left to the caller as a conflict.
"""

from __future__ import annotations

import re

__all__ = ["MODIFIERS", "merge_line"]

_KEYWORDS = re.compile(rb"\b(throws|implements|extends)\s+")
_KEY = re.compile(rb"\s*([A-Za-z_$][\w$]*|\"[^\"]*\"|'[^']*')\s*(:|$)")
_OPEN, _CLOSE = b"([{<", b")]}>"


def _split_items(text: bytes) -> list[bytes] | None:
    """Items separated by commas at bracket depth 0 (None when brackets or quotes do not balance)."""
    items: list[bytes] = []
    depth = 0
    quote = 0
    start = 0
    for k, c in enumerate(text):
        if quote:
            if c == quote:
                quote = 0
            continue
        if c in b"\"'`":
            quote = c
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                return None
        elif c == 44 and depth == 0:  # ","
            items.append(text[start:k])
            start = k + 1
    if depth or quote:
        return None
    items.append(text[start:])
    return items


Parts = tuple[list[bytes], list[list[bytes]]]  # the text around the lists, each list's items


def _keyword_lists(line: bytes) -> Parts | None:
    """``… throws A, B {``: the text around each keyword's list, and the lists."""
    around: list[bytes] = []
    lists: list[list[bytes]] = []
    pos = 0
    matches = list(_KEYWORDS.finditer(line))
    if not matches:
        return None
    for k, m in enumerate(matches):
        around.append(line[pos : m.end()])
        stop = matches[k + 1].start() if k + 1 < len(matches) else len(line)
        body = line[m.end() : stop]
        end = len(body)
        for term in (b"{", b";"):
            t = body.find(term)
            if 0 <= t < end:
                end = t
        while end > 0 and body[end - 1 : end].isspace():
            end -= 1
        items = _split_items(body[:end])
        if items is None or any(not x.strip() for x in items):
            return None
        lists.append([x.strip() for x in items])
        pos = m.end() + end
    around.append(line[pos:])
    return around, lists


def _object_list(line: bytes, bare: bool) -> Parts | None:
    """``… { a: 1, b }…``: the one brace pair on the line, its entries ``key: value`` (or, where
    ``bare``, a bare key: a JS shorthand property, a Rust field or use-list name; elsewhere a
    bare name can be a positional element — Go ``T{a, b}``, Java ``{a, b}`` — whose order matters)."""
    start = line.find(b"{")
    if start < 0 or line.find(b"{", start + 1) >= 0:
        return None
    end = line.find(b"}", start)
    if end < 0 or line.find(b"}", end + 1) >= 0:
        return None
    inner = line[start + 1 : end]
    items = [] if not inner.strip() else _split_items(inner)
    if items is None:
        return None
    if items and not items[-1].strip():
        items.pop()  # a trailing comma
    if any(not x.strip() or not _KEY.match(x) or (not bare and b":" not in x) for x in items):
        return None
    pad = b" " if inner[:1] == b" " else b""
    return [line[: start + 1] + pad, pad + line[end:]], [[x.strip() for x in items]]


def _key(item: bytes) -> bytes:
    m = _KEY.match(item)
    return m.group(1) if m else item


def _merge_set(base: list[bytes], left: list[bytes], right: list[bytes]) -> list[bytes] | None:
    maps = [{_key(x): x for x in side} for side in (base, left, right)]
    if any(len(m) != len(side) for m, side in zip(maps, (base, left, right))):
        return None
    merged = merge_keyed(*maps)
    return None if merged is None else list(merged.values())


def merge_keyed(
    base: dict[bytes, bytes], left: dict[bytes, bytes], right: dict[bytes, bytes]
) -> dict[bytes, bytes] | None:
    """Items by key merged three-way as a set: a key's item is the side that changed it (both
    alike, or removed where the other kept it unchanged); CURRENT's keys first, then OTHER's new
    ones, in their order. None when one key was changed differently on the two sides."""
    merged: dict[bytes, bytes] = {}
    for k in list(left) + [k for k in right if k not in left]:
        b, l, r = base.get(k), left.get(k), right.get(k)
        if l == b:
            v = r
        elif r == b or l == r:
            v = l
        else:
            return None
        if v is not None:
            merged[k] = v
    return merged


_JS_MODIFIERS = (
    b"export",
    b"default",
    b"declare",
    b"public",
    b"protected",
    b"private",
    b"static",
    b"abstract",
    b"override",
    b"readonly",
    b"async",
)
# Per language, its modifiers in their usual order (the order a compiler requires, where it does).
MODIFIERS: dict[str, tuple[bytes, ...]] = {
    "java": (
        b"public",
        b"protected",
        b"private",
        b"abstract",
        b"default",
        b"static",
        b"sealed",
        b"non-sealed",
        b"final",
        b"transient",
        b"volatile",
        b"synchronized",
        b"native",
        b"strictfp",
    ),
    "typescript": _JS_MODIFIERS,
    "tsx": _JS_MODIFIERS,
    "javascript": _JS_MODIFIERS,
    "rust": (b"pub", b"default", b"const", b"async", b"unsafe"),
}
_VISIBILITY = frozenset({b"public", b"protected", b"private", b"pub"})
# Modifiers a language forbids together (Java's JLS 8.4.3.1 and 8.3.1.4, TypeScript's checker):
# each side may add one, the merge must not hold both.
_JS_EXCLUSIVE = ((b"abstract", b"static"), (b"abstract", b"private"), (b"abstract", b"async"))
_EXCLUSIVE: dict[tuple[bytes, ...], tuple[tuple[bytes, bytes], ...]] = {
    MODIFIERS["java"]: tuple(
        (b"abstract", m) for m in (b"private", b"static", b"final", b"native", b"strictfp", b"synchronized")
    )
    + ((b"final", b"volatile"),),
    _JS_MODIFIERS: _JS_EXCLUSIVE,
}
_MODIFIER = re.compile(rb"(pub\([\w: ]+\)|[a-z][a-z-]*) ")


def _modifiers(line: bytes, order: tuple[bytes, ...]) -> tuple[bytes, dict[bytes, bytes], bytes] | None:
    """A line as its indentation, its leading modifiers by key (visibility is one key), and the
    rest; None when its modifiers are not in ``order``."""
    body = line.lstrip(b" \t")
    pos = 0
    found: dict[bytes, bytes] = {}
    last = -1
    while True:
        m = _MODIFIER.match(body, pos)
        if m is None:
            break
        word = m.group(1)
        base = b"pub" if word.startswith(b"pub(") else word
        if base not in order:
            break
        rank = order.index(base)
        key = b"visibility" if base in _VISIBILITY else base
        if rank <= last or key in found:
            return None
        found[key] = word
        last = rank
        pos = m.end()
    return line[: len(line) - len(body)], found, body[pos:]


def merge_modifiers(base: bytes, left: bytes, right: bytes, order: tuple[bytes, ...]) -> bytes | None:
    """One declaration line both sides changed, merged: its modifiers as a set (visibility one
    slot), the rest of the line three-way; None when that does not merge or no side changed the
    modifiers (then it is not a modifier merge)."""
    parts = [_modifiers(x, order) for x in (base, left, right)]
    pb, pl, pr = parts
    if pb is None or pl is None or pr is None or pl[1] == pb[1] == pr[1]:
        return None
    if pb[0] != pl[0] or pb[0] != pr[0]:
        return None
    rest = pr[2] if pl[2] == pb[2] else pl[2] if pr[2] == pb[2] or pl[2] == pr[2] else None
    merged = merge_keyed(pb[1], pl[1], pr[1])
    if rest is None or merged is None:
        return None
    if any(a in merged and b in merged for a, b in _EXCLUSIVE.get(order, ())):
        return None
    words = sorted(merged.values(), key=lambda w: order.index(b"pub" if w.startswith(b"pub(") else w))
    return pb[0] + b"".join(w + b" " for w in words) + rest


def merge_line(
    base: bytes, left: bytes, right: bytes, *, bare_keys: bool = False, modifiers: tuple[bytes, ...] = ()
) -> bytes | None:
    """The three versions of one line merged where they differ only in the items of such lists
    (see the module docstring), or None. ``bare_keys``: a bare name in braces is a key (JS/TS,
    Rust), not a positional element; ``modifiers``: the language's (``MODIFIERS``)."""
    if modifiers:
        merged_modifiers = merge_modifiers(base, left, right, modifiers)
        if merged_modifiers is not None:
            return merged_modifiers
    for parse in (_keyword_lists, _object_list):
        parts = [
            _keyword_lists(x) if parse is _keyword_lists else _object_list(x, bare_keys) for x in (base, left, right)
        ]
        pb, pl, pr = parts
        if pb is None or pl is None or pr is None:
            continue
        if not (pb[0] == pl[0] == pr[0]) and parse is _keyword_lists:
            continue
        if parse is _object_list and not (_bare(pb[0]) == _bare(pl[0]) == _bare(pr[0])):
            continue
        if not (len(pb[1]) == len(pl[1]) == len(pr[1])):
            continue
        lists = []
        for b, l, r in zip(pb[1], pl[1], pr[1]):
            merged = _merge_set(b, l, r)
            if merged is None or not merged and parse is _keyword_lists:
                return None
            lists.append(merged)
        around = pl[0] if parse is _keyword_lists else _padded(pb[0], pl, pr, lists[0])
        out = [around[0]]
        for k, items in enumerate(lists):
            out.append(b", ".join(items))
            out.append(around[k + 1])
        return b"".join(out)
    return None


def _bare(around: list[bytes]) -> list[bytes]:
    return [x.strip(b" ") for x in around]


def _padded(base: list[bytes], left: Parts, right: Parts, items: list[bytes]) -> list[bytes]:
    """The braces' surroundings, with the spaces inside them of a side that has items (none when
    the literal ends up empty)."""
    if not items:
        return [left[0][0].rstrip(b" "), left[0][1].lstrip(b" ")]
    for side in (left, right):
        if side[1][0]:
            return side[0]
    return base
