"""Where each entity sits in the lines of its file: its *chunk*, and the file's import statements.

A structured merge works on whole lines. An entity can be merged on its own
when it occupies lines of its own inside its parent: nothing but indentation
before it on its first line, nothing but a separator (``,`` or ``;``) after it
on its last, and not on its parent's first line. Its chunk then runs from the
start of that first line — widened upwards over the comment lines right above
it at the same indentation, and outwards over a wrapper that holds nothing
else (``export``, ``const f = …;``, Go's ``type T struct``) — to its last
token; the rest of its last line is its *trailing* text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node, Tree

from ..extract import Rec
from ..languages.spec import LanguageSpec
from .imports import ImportInfo, import_info

__all__ = ["Chunk", "chunks_of", "import_spans", "member_spans"]

TRAILING = re.compile(rb"[ \t]*[,;]?[ \t]*\r?\n?")

_SPACE = frozenset(b" \t\r\n")
_HASH_COMMENTS = frozenset({"python", "yaml", "toml"})

# Statements merged as a set at the top of a file (Go: each spec of an ``import ( … )`` block).
IMPORT_TYPES: dict[str, frozenset[str]] = {
    "python": frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
    "javascript": frozenset({"import_statement"}),
    "typescript": frozenset({"import_statement"}),
    "tsx": frozenset({"import_statement"}),
    "java": frozenset({"import_declaration"}),
    "rust": frozenset({"use_declaration"}),
    "go": frozenset({"import_declaration"}),
}


# Members that are not entities but can be merged as a set, keyed by name: one line each, in a
# class, struct, enum or interface body. Their order rarely matters, and where it does (Go or Rust
# struct layout, unkeyed literals) syntax-aware merge tools and ``git merge-file`` alike keep
# both sides' additions, CURRENT's first. Not Python (class attributes are statements: one can
# refer to another).
MEMBER_TYPES: dict[str, frozenset[str]] = {
    "java": frozenset({"field_declaration", "enum_constant", "constant_declaration"}),
    "javascript": frozenset({"field_definition"}),
    "typescript": frozenset(
        {"public_field_definition", "property_signature", "enum_assignment", "property_identifier", "method_signature"}
    ),
    "tsx": frozenset(
        {"public_field_definition", "property_signature", "enum_assignment", "property_identifier", "method_signature"}
    ),
    "go": frozenset({"field_declaration", "method_elem", "method_spec"}),
    "rust": frozenset({"field_declaration", "enum_variant"}),
}
# Entity kinds whose body holds such members, and the nodes that are such a body.
_CONTAINER_KINDS = frozenset({"class", "interface", "struct", "enum", "type", "trait", "union"})
_BODY_TYPES = frozenset(
    {
        "class_body",
        "interface_body",
        "enum_body",
        "field_declaration_list",
        "enum_variant_list",
        "interface_type",
        "object_type",
        "enum_constant_body",
    }
)
_MEMBER_NAMES = ("name", "property")


@dataclass(frozen=True, slots=True)
class Chunk:
    """The lines of one entity: ``content[start:end]`` is its text (``start`` is a line start),
    ``content[end:tail]`` its trailing text; ``indent`` is its first line's indentation."""

    start: int
    end: int
    tail: int
    indent: bytes
    trailing: bytes


def chunks_of(spec: LanguageSpec, content: bytes, records: list[Rec], tree: Tree | None) -> list[Chunk | None]:
    """The chunk of every record (record 0, the file, spans it all); None for an entity that shares
    a line with something else, is positional (array items), or lies inside such an entity."""
    n = len(records)
    chunks: list[Chunk | None] = [None] * n
    chunks[0] = Chunk(0, len(content), len(content), b"", b"")
    kids: list[list[int]] = [[] for _ in range(n)]
    for i in range(1, n):
        kids[records[i].parent].append(i)
    root = tree.root_node if tree is not None and spec.comment_anchors else None
    comment = b"#" if spec.name in _HASH_COMMENTS else b"//"
    for p in range(n):
        pc = chunks[p]
        if pc is None or not kids[p]:
            continue
        if p == 0:
            lo, hi = 0, len(content)
        else:
            nl = content.find(b"\n", records[p].start_byte)
            if nl < 0 or nl >= pc.end:
                continue
            lo, hi = nl + 1, pc.end
        floor = lo
        for c in kids[p]:
            rec = records[c]
            start, end = rec.ext_start, rec.end_byte
            if root is not None:
                start, end = _widen(root, spec, rec, start, end)
            while end > start and content[end - 1] in _SPACE:  # TOML tables end after blank lines
                end -= 1
            chunk = None if rec.core.positional else _place(content, start, end, floor, hi, pc.indent, comment)
            if chunk is None:
                floor = max(floor, end)
            else:
                chunks[c] = chunk
                floor = chunk.tail
    return chunks


def _place(
    content: bytes, start: int, end: int, floor: int, hi: int, parent_indent: bytes, comment: bytes
) -> Chunk | None:
    if end > hi:
        return None
    ls = content.rfind(b"\n", 0, start) + 1
    if ls < floor:
        return None
    indent = content[ls:start]
    if indent.strip(b" \t") or not indent.startswith(parent_indent):
        return None
    nl = content.find(b"\n", end)
    tail = nl + 1 if 0 <= nl < hi else hi
    trailing = content[end:tail]
    if not TRAILING.fullmatch(trailing):
        return None
    marker = indent + comment
    while ls > floor:
        prev = content.rfind(b"\n", 0, ls - 1) + 1
        if prev < floor or not content.startswith(marker, prev):
            break
        ls = prev
    return Chunk(ls, end, tail, indent, trailing)


def _widen(root: Node, spec: LanguageSpec, rec: Rec, start: int, end: int) -> tuple[int, int]:
    """Grow the span over wrappers that hold only this entity (``export …``, ``const f = …;``)."""
    node = root.descendant_for_byte_range(rec.start_byte, rec.end_byte)
    if node is None:
        return start, end
    parent = node.parent
    while (
        parent is not None
        and parent.type not in spec.comment_anchors
        and parent.start_byte == node.start_byte
        and parent.end_byte == node.end_byte
    ):
        node, parent = parent, parent.parent
    while parent is not None and parent.type in spec.comment_anchors and _holds_only(parent, node, spec):
        node, parent = parent, parent.parent
    return min(start, node.start_byte), max(end, node.end_byte)


def _holds_only(parent: Node, node: Node, spec: LanguageSpec) -> bool:
    for child in parent.named_children:
        if child.type in spec.comment_types or child.type in spec.leading_types:
            continue
        if (child.start_byte, child.end_byte) != (node.start_byte, node.end_byte):
            return False
    return True


def import_spans(spec: LanguageSpec, tree: Tree | None, content: bytes) -> list[tuple[int, int, ImportInfo]]:
    """Line spans ``[start, tail)`` of the top-level import statements that have lines of their own,
    with what each binds (offsets relative to the span)."""
    types = IMPORT_TYPES.get(spec.name)
    if not types or tree is None:
        return []
    nodes: list[Node] = []
    for node in tree.root_node.children:
        if node.type not in types:
            continue
        lists = [c for c in node.named_children if c.type == "import_spec_list"]
        if lists:  # import ( … ): each spec is a unit, the parentheses are text
            nodes.extend(s for lst in lists for s in lst.named_children if s.type == "import_spec")
        else:
            nodes.append(node)
    spans = []
    for node in nodes:
        ls = content.rfind(b"\n", 0, node.start_byte) + 1
        if content[ls : node.start_byte].strip(b" \t"):
            continue
        nl = content.find(b"\n", node.end_byte)
        tail = nl + 1 if nl >= 0 else len(content)
        if TRAILING.fullmatch(content[node.end_byte : tail]):
            spans.append((ls, tail, import_info(spec.name, node, content, ls)))
    return spans


def member_spans(
    spec: LanguageSpec, tree: Tree | None, content: bytes, records: list[Rec], chunks: list[Chunk | None]
) -> dict[int, list[tuple[int, int, bytes]]]:
    """Per entity (record index), its one-line members that are not entities (fields,
    properties): ``(line start, line end, name)``."""
    types = MEMBER_TYPES.get(spec.name)
    out: dict[int, list[tuple[int, int, bytes]]] = {}
    if not types or tree is None:
        return out
    entity_spans = {(r.start_byte, r.end_byte) for r in records}
    root = tree.root_node
    for i in range(1, len(records)):
        rec = records[i]
        if chunks[i] is None or rec.core.kind not in _CONTAINER_KINDS:
            continue
        node = root.descendant_for_byte_range(rec.start_byte, rec.end_byte)
        body = _body(node) if node is not None else None
        if body is None:
            continue
        spans = []
        for member in body.named_children:
            if member.type not in types or (member.start_byte, member.end_byte) in entity_spans:
                continue
            name = _member_name(member, content)
            ls = content.rfind(b"\n", 0, member.start_byte) + 1
            nl = content.find(b"\n", member.end_byte)
            if not name or nl < 0 or content[ls : member.start_byte].strip(b" \t"):
                continue
            if b"\n" in content[member.start_byte : member.end_byte] or not TRAILING.fullmatch(
                content[member.end_byte : nl + 1]
            ):
                continue
            spans.append((ls, nl + 1, name))
        if spans:
            out[i] = spans
    return out


def _body(node: Node) -> Node | None:
    """The node holding a container's members: its ``body``, or the first body-like node below it
    (Go: ``type_spec`` → ``struct_type`` → ``field_declaration_list``)."""
    body = node.child_by_field_name("body")
    if body is not None and body.type in _BODY_TYPES:
        return body
    todo = [(node, 0)]
    while todo:
        n, depth = todo.pop(0)
        for c in n.named_children:
            if c.type in _BODY_TYPES:
                return c
            if depth < 3:
                todo.append((c, depth + 1))
    return body


def _member_name(member: Node, content: bytes) -> bytes:
    if member.type == "property_identifier":
        return content[member.start_byte : member.end_byte]
    for field in _MEMBER_NAMES:
        name = member.child_by_field_name(field)
        if name is not None:
            return content[name.start_byte : name.end_byte]
    names = [d.child_by_field_name("name") for d in member.named_children if d.type == "variable_declarator"]
    return b",".join(content[n.start_byte : n.end_byte] for n in names if n is not None)
