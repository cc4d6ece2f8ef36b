"""Rust: functions, methods (in impl and trait blocks), structs, enums, unions, traits,
impl blocks, modules, type aliases and macros; attributes belong to the item they precede."""

from __future__ import annotations

from typing import Any

from tree_sitter import Node

from .common import leading_docs
from .spec import NAME, SIG, EntityRule, Found, LanguageSpec, collapse, node_text

__all__ = ["RUST"]

_IN_IMPL = {"impl": "method", "trait": "method"}


def _impl(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    """``impl Foo`` is ``Foo``; ``impl Display for Foo`` is ``<Foo as Display>``."""
    type_node = node.child_by_field_name("type")
    if type_node is None:
        return None
    type_text = collapse(node_text(type_node, content), 200)
    trait = node.child_by_field_name("trait")
    name = f"<{type_text} as {collapse(node_text(trait, content), 200)}>" if trait is not None else type_text
    zones = [(type_node.start_byte, type_node.end_byte, NAME)]
    if trait is not None:
        zones.append((trait.start_byte, trait.end_byte, NAME))
    for tp in node.children_by_field_name("type_parameters"):
        zones.append((tp.start_byte, tp.end_byte, SIG))
    zones.sort()
    ext, doc = leading_docs(spec, node, content)
    return Found(kind="impl", name=name, zones=zones, segment=name, ext_start=ext, docstring=doc)


_NO_PARAMS = dict(params_field=None)

RUST = LanguageSpec(
    name="rust",
    extensions=(".rs",),
    grammar=lambda: __import__("tree_sitter_rust").language(),
    rules={
        "function_item": EntityRule("function", returns_field="return_type", nested=_IN_IMPL),
        "function_signature_item": EntityRule("function", returns_field="return_type", nested=_IN_IMPL),
        "struct_item": EntityRule("struct", **_NO_PARAMS),  # type: ignore[arg-type]
        "enum_item": EntityRule("enum", **_NO_PARAMS),  # type: ignore[arg-type]
        "union_item": EntityRule("union", **_NO_PARAMS),  # type: ignore[arg-type]
        "trait_item": EntityRule("trait", **_NO_PARAMS),  # type: ignore[arg-type]
        "type_item": EntityRule("type", **_NO_PARAMS),  # type: ignore[arg-type]
        "mod_item": EntityRule("mod", **_NO_PARAMS),  # type: ignore[arg-type]
        "macro_definition": EntityRule("macro", **_NO_PARAMS),  # type: ignore[arg-type]
        "impl_item": EntityRule("impl", custom=_impl),
    },
    comment_types=frozenset({"line_comment", "block_comment"}),
    leading_types=frozenset({"attribute_item"}),
    atomic_types=frozenset({"raw_string_literal", "string_literal", "char_literal"}),
)
