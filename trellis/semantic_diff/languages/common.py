"""Applying an :class:`EntityRule` to a node, and the helpers custom hooks share.

Everything here is iterative or bounded: no helper recurses over the tree, so
deeply nested input cannot reach Python's recursion limit.
"""

from __future__ import annotations

import inspect
from typing import Any

from tree_sitter import Node

from .spec import DOC, NAME, SIG, EntityRule, Found, LanguageSpec, collapse, node_text

__all__ = [
    "apply_rule",
    "classify",
    "comment_text",
    "first_descendant",
    "item_index",
    "leading_docs",
    "param_names",
    "python_docstring",
    "root_found",
]

IDENTIFIER_TYPES = frozenset(
    {
        "identifier",
        "type_identifier",
        "field_identifier",
        "property_identifier",
        "shorthand_property_identifier_pattern",
        "private_property_identifier",
        "self",
        "this",
    }
)
_NAME_TYPES = IDENTIFIER_TYPES - {"type_identifier"}


def classify(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    """The entity at ``node``, or None when the node is not one (per the spec's rules)."""
    rule = spec.rules[node.type]
    if rule.wrapped_by:
        parent = node.parent
        if parent is not None and parent.type in rule.wrapped_by:
            return None
    if rule.custom is not None:
        return rule.custom(spec, node, parent_kind, content, state)
    return apply_rule(spec, rule, node, node, parent_kind, content)


def apply_rule(
    spec: LanguageSpec,
    rule: EntityRule,
    node: Node,
    defn: Node,
    parent_kind: str,
    content: bytes,
    *,
    params: Node | None = None,
    returns: Node | None = None,
) -> Found | None:
    """The generic rule: name / parameter / return fields, docstring, signature zones.

    ``node`` is the entity's span (a wrapper such as a decorated definition);
    ``defn`` the definition that holds the fields. ``params`` and ``returns``
    override the fields (JavaScript arrow functions keep them on the value).
    """
    zones: list[tuple[int, int, int]] = []
    name = ""
    if rule.name_field:
        name_node = defn.child_by_field_name(rule.name_field)
        if name_node is None:
            return None
        ns, ne = name_node.start_byte, name_node.end_byte
        name = content[ns:ne].decode("utf-8", "replace")
        zones.append((ns, ne, NAME))
    kind = rule.nested.get(parent_kind, rule.kind)
    if params is None and rule.params_field:
        params = defn.child_by_field_name(rule.params_field)
    if returns is None and rule.returns_field:
        returns = defn.child_by_field_name(rule.returns_field)
    # (start, end) of the signature's parts: parameters, return type, the rule's other fields
    spans = [(n.start_byte, n.end_byte) for n in (params, returns) if n is not None]
    for fname in rule.sig_fields:
        spans.extend((n.start_byte, n.end_byte) for n in defn.children_by_field_name(fname))
    if rule.sig_child_types:
        spans.extend((c.start_byte, c.end_byte) for c in defn.children if c.type in rule.sig_child_types)
    signature = ""
    if len(spans) == 1:  # the parameters alone, most often
        lo, hi = spans[0]
        if hi > lo:
            zones.append((lo, hi, SIG))
        signature = collapse(content[lo:hi].decode("utf-8", "replace"))
    elif spans:
        seen: set[tuple[int, int]] = set()
        for span in spans:
            if span not in seen and span[1] > span[0]:
                seen.add(span)
                zones.append((span[0], span[1], SIG))
        lo = min(span[0] for span in spans)
        hi = max(span[1] for span in spans)
        signature = collapse(content[lo:hi].decode("utf-8", "replace"))
    found = Found(
        kind=kind,
        name=name,
        zones=zones,
        params_node=params,
        segment=name,
        signature=signature,
        returns=collapse(node_text(returns, content)) if returns is not None else "",
    )
    if spec.docstrings == "python":
        doc = python_docstring(defn.child_by_field_name("body"), content)
        if doc is not None:
            stmt, text = doc
            zones.append((stmt.start_byte, stmt.end_byte, DOC))
            found.docstring = text
    elif spec.docstrings == "comments":
        found.ext_start, found.docstring = leading_docs(spec, node, content)
    _drop_overlaps(zones)
    return found


def _drop_overlaps(zones: list[tuple[int, int, int]]) -> None:
    """Sort zones by start and drop any that overlap an earlier one (nested signature fields)."""
    zones.sort()
    kept: list[tuple[int, int, int]] = []
    for z in zones:
        if kept and z[0] < kept[-1][1]:
            continue
        kept.append(z)
    zones[:] = kept


def root_found(spec: LanguageSpec, root: Node, content: bytes) -> Found:
    """The file-level entity (module or document): Python module docstrings count."""
    found = Found(kind=spec.root_kind, name="", ext_start=0)
    if spec.docstrings == "python":
        doc = python_docstring(root, content)
        if doc is not None:
            stmt, text = doc
            found.zones.append((stmt.start_byte, stmt.end_byte, DOC))
            found.docstring = text
    return found


def python_docstring(body: Node | None, content: bytes) -> tuple[Node, str] | None:
    """The docstring statement of a Python block (first statement, a lone string) and its text."""
    if body is None:
        return None
    n = body.named_child_count
    i = 0
    while i < n:
        child = body.named_child(i)
        if child.type != "comment":
            break
        i += 1
    else:
        return None
    if child.type != "expression_statement" or child.named_child_count != 1:
        return None
    string = child.named_child(0)
    if string.type not in ("string", "concatenated_string"):
        return None
    return child, _python_string_value(node_text(string, content))


def _python_string_value(text: str) -> str:
    i = 0
    while i < len(text) and text[i] not in "'\"":
        i += 1
    body = text[i:]
    for quote in ('"""', "'''", '"', "'"):
        if body.startswith(quote) and body.endswith(quote) and len(body) >= 2 * len(quote):
            body = body[len(quote) : -len(quote)]
            break
    if "\n" not in body:  # what ``cleandoc`` makes of one line, without its line splitting
        return body.expandtabs().lstrip()
    return inspect.cleandoc(body)


def leading_docs(spec: LanguageSpec, node: Node, content: bytes) -> tuple[int, str]:
    """Comments (and leading siblings such as attributes) right before ``node``.

    Returns the byte where they start (``node.start_byte`` when there are none)
    and the comments' text without comment markers. A comment counts when it
    starts its own line and at most a line break separates it from what follows.
    """
    anchor = node
    parent = anchor.parent
    while parent is not None and parent.type in spec.comment_anchors:
        anchor, parent = parent, parent.parent
    ext = node.start_byte
    expected = anchor.start_byte
    comments: list[str] = []
    prev = anchor.prev_sibling
    steps = 0
    while prev is not None and steps < 200:
        steps += 1
        ptype = prev.type
        is_comment = ptype in spec.comment_types
        if not is_comment and ptype not in spec.leading_types:
            break
        gap = content[prev.end_byte : expected]
        if gap.strip() or gap.count(b"\n") > 1:
            break
        line_start = content.rfind(b"\n", 0, prev.start_byte) + 1
        if content[line_start : prev.start_byte].strip():
            break
        if is_comment:
            comments.append(node_text(prev, content))
        ext = expected = prev.start_byte
        prev = prev.prev_sibling
    comments.reverse()
    return min(ext, node.start_byte), comment_text(comments)


def comment_text(comments: list[str]) -> str:
    """Comment bodies without markers (``//``, ``///``, ``/**``, ``*``, ``#``), one per line."""
    lines: list[str] = []
    for comment in comments:
        for line in comment.splitlines():
            s = line.strip()
            for marker in ("/**", "/*!", "/*", "//!", "///", "//", "#"):
                if s.startswith(marker):
                    s = s[len(marker) :]
                    break
            if s.endswith("*/"):
                s = s[:-2]
            s = s.strip()
            if s.startswith("*"):
                s = s[1:].strip()
            lines.append(s)
    return "\n".join(lines).strip()


def first_descendant(node: Node, types: frozenset[str], limit: int = 64) -> Node | None:
    """First node of one of ``types`` in preorder below ``node`` (bounded, iterative)."""
    stack = [node]
    seen = 0
    while stack and seen < limit:
        n = stack.pop()
        seen += 1
        if n.type in types:
            return n
        stack.extend(reversed(n.named_children))
    return None


def param_names(params: Node | None, content: bytes, comment_types: frozenset[str]) -> list[tuple[str, str]]:
    """(name, normalised text) of each parameter in a parameter list."""
    if params is None:
        return []
    if params.type in IDENTIFIER_TYPES:  # `x => x`
        text = node_text(params, content)
        return [(text, text)]
    out: list[tuple[str, str]] = []
    for p in params.named_children:
        ptype = p.type
        if ptype in comment_types:
            continue
        if ptype in IDENTIFIER_TYPES:  # a bare name (``self``): its own name, no fields
            text = content[p.start_byte : p.end_byte].decode("utf-8", "replace")
            out.append((text, collapse(text, 300)))
            continue
        text = collapse(node_text(p, content), 300)
        names = p.children_by_field_name("name")
        if len(names) > 1:  # Go: `a, b int`
            for n in names:
                out.append((node_text(n, content), text))
            continue
        # one name field: where ``_param_name``'s first step would go
        out.append((_param_name(names[0], content, 7) if names else _param_name(p, content), text))
    return out


def _param_name(p: Node, content: bytes, steps: int = 8) -> str:
    node = p
    for _ in range(steps):
        if node.type in IDENTIFIER_TYPES:
            return node_text(node, content)
        nxt = None
        for fname in ("name", "pattern", "left", "declarator"):
            nxt = node.child_by_field_name(fname)
            if nxt is not None:
                break
        if nxt is None:
            named = node.named_children
            decl = next((c for c in named if c.type == "variable_declarator"), None)
            if decl is not None:  # Java `String... names`
                node = decl
                continue
            ident = next((c for c in named if c.type in _NAME_TYPES), None)
            if ident is None:
                return collapse(node_text(node, content), 100)
            return node_text(ident, content)
        node = nxt
    return collapse(node_text(node, content), 100)


def item_index(node: Node, state: dict[Any, Any], comment_types: frozenset[str]) -> int:
    """Position of ``node`` among its parent's named, non-comment children (cached per parent)."""
    parent = node.parent
    if parent is None:
        return 0
    key = ("item_index", parent.id)
    table = state.get(key)
    if table is None:
        table = {}
        i = 0
        for child in parent.named_children:
            if child.type in comment_types:
                continue
            table[child.id] = i
            i += 1
        state[key] = table
    return int(table.get(node.id, 0))
