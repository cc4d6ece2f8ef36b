"""Go: functions, methods (qualified by their receiver type), structs, interfaces, types."""

from __future__ import annotations

from typing import Any

from tree_sitter import Node

from .common import apply_rule, first_descendant
from .spec import EntityRule, Found, LanguageSpec, node_text

__all__ = ["GO"]

_METHOD = EntityRule("method", returns_field="result", sig_fields=("receiver", "type_parameters"))
_TYPE = EntityRule("type", params_field=None)
_TYPE_NAMES = frozenset({"type_identifier"})


def _method(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    """``func (r *Repo) Save()`` is ``Repo.Save``."""
    found = apply_rule(spec, _METHOD, node, node, parent_kind, content)
    if found is None:
        return None
    receiver = node.child_by_field_name("receiver")
    recv_type = first_descendant(receiver, _TYPE_NAMES) if receiver is not None else None
    if recv_type is not None:
        found.segment = f"{node_text(recv_type, content)}.{found.name}"
    return found


def _type_spec(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    found = apply_rule(spec, _TYPE, node, node, parent_kind, content)
    if found is None:
        return None
    value = node.child_by_field_name("type")
    if value is not None and value.type == "struct_type":
        found.kind = "struct"
    elif value is not None and value.type == "interface_type":
        found.kind = "interface"
    return found


GO = LanguageSpec(
    name="go",
    extensions=(".go",),
    grammar=lambda: __import__("tree_sitter_go").language(),
    rules={
        "function_declaration": EntityRule("function", returns_field="result"),
        "method_declaration": EntityRule("method", custom=_method),
        "type_spec": EntityRule("type", custom=_type_spec),
        "type_alias": EntityRule("type", params_field=None),
    },
    comment_anchors=frozenset({"type_declaration"}),
)
