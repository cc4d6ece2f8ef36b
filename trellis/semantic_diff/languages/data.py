"""Keyed documents: JSON, YAML and TOML. A key is an entity (kind ``key``); its qualified
name is the dotted key path (``tool.ruff.line-length``). Mappings inside arrays are
``item`` entities named by index (``servers[0].host``); TOML tables are ``table``."""

from __future__ import annotations

from typing import Any

from tree_sitter import Node

from .common import item_index
from .spec import NAME, EntityRule, Found, LanguageSpec, node_text

__all__ = ["JSON", "TOML", "YAML"]

_QUOTES = "\"'"


def _key_name(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        return text[1:-1]
    return text


def _key(node: Node, key: Node | None, content: bytes, kind: str = "key") -> Found | None:
    if key is None:
        return None
    name = _key_name(node_text(key, content))
    return Found(
        kind=kind, name=name, segment=name, zones=[(key.start_byte, key.end_byte, NAME)], ext_start=node.start_byte
    )


def _item(spec: LanguageSpec, node: Node, state: dict[Any, Any]) -> Found:
    name = f"[{item_index(node, state, spec.comment_types)}]"
    return Found(kind="item", name=name, segment=name, ext_start=node.start_byte, positional=True)


# --- JSON -------------------------------------------------------------------------


def _json_pair(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    return _key(node, node.child_by_field_name("key"), content)


def _json_object(
    spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]
) -> Found | None:
    parent = node.parent
    return _item(spec, node, state) if parent is not None and parent.type == "array" else None


JSON = LanguageSpec(
    name="json",
    extensions=(".json", ".jsonc", ".json5"),
    grammar=lambda: __import__("tree_sitter_json").language(),
    rules={
        "pair": EntityRule("key", custom=_json_pair),
        "object": EntityRule("item", custom=_json_object),
    },
    docstrings="none",
    keyed=True,
    root_kind="document",
)


# --- YAML -------------------------------------------------------------------------

_YAML_MAPPINGS = frozenset({"block_mapping", "flow_mapping"})


def _yaml_pair(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    return _key(node, node.child_by_field_name("key"), content)


def _holds_mapping(node: Node) -> bool:
    for child in node.named_children:
        if child.type in _YAML_MAPPINGS:
            return True
        if child.type in ("block_node", "flow_node"):
            return any(c.type in _YAML_MAPPINGS for c in child.named_children)
    return False


def _yaml_item(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    if node.type == "flow_node":
        parent = node.parent
        if parent is None or parent.type != "flow_sequence":
            return None
    return _item(spec, node, state) if _holds_mapping(node) else None


def _yaml_document(
    spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]
) -> Found | None:
    """Documents of a multi-document stream (``---``) are items ``[0]``, ``[1]``…"""
    parent = node.parent
    if parent is None or sum(1 for c in parent.named_children if c.type == "document") < 2:
        return None
    return _item(spec, node, state)


YAML = LanguageSpec(
    name="yaml",
    extensions=(".yaml", ".yml"),
    grammar=lambda: __import__("tree_sitter_yaml").language(),
    rules={
        "block_mapping_pair": EntityRule("key", custom=_yaml_pair),
        "flow_pair": EntityRule("key", custom=_yaml_pair),
        "block_sequence_item": EntityRule("item", custom=_yaml_item),
        "flow_node": EntityRule("item", custom=_yaml_item),
        "document": EntityRule("item", custom=_yaml_document),
    },
    atomic_types=frozenset({"double_quote_scalar", "single_quote_scalar", "block_scalar"}),
    docstrings="none",
    keyed=True,
    root_kind="document",
)


# --- TOML -------------------------------------------------------------------------

_TOML_KEYS = frozenset({"bare_key", "dotted_key", "quoted_key"})


def _toml_key_node(node: Node) -> Node | None:
    return next((c for c in node.named_children if c.type in _TOML_KEYS), None)


def _toml_pair(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    return _key(node, _toml_key_node(node), content)


def _toml_table(
    spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]
) -> Found | None:
    return _key(node, _toml_key_node(node), content, kind="table")


def _toml_table_array(
    spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]
) -> Found | None:
    """``[[servers]]`` elements are ``servers[0]``, ``servers[1]``… in file order."""
    found = _key(node, _toml_key_node(node), content, kind="table")
    if found is None:
        return None
    counter = ("toml_array", found.name)
    index = state.get(counter, 0)
    state[counter] = index + 1
    found.name = found.segment = f"{found.name}[{index}]"
    found.positional = True
    return found


def _toml_inline_item(
    spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]
) -> Found | None:
    parent = node.parent
    return _item(spec, node, state) if parent is not None and parent.type == "array" else None


TOML = LanguageSpec(
    name="toml",
    extensions=(".toml",),
    grammar=lambda: __import__("tree_sitter_toml").language(),
    rules={
        "pair": EntityRule("key", custom=_toml_pair),
        "table": EntityRule("table", custom=_toml_table),
        "table_array_element": EntityRule("table", custom=_toml_table_array),
        "inline_table": EntityRule("item", custom=_toml_inline_item),
    },
    atomic_types=frozenset({"string"}),
    docstrings="none",
    keyed=True,
    root_kind="document",
)
