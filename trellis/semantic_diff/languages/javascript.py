"""JavaScript, TypeScript and TSX: classes, functions, methods, arrow functions bound to
names, and TypeScript's interfaces, type aliases, enums and namespaces."""

from __future__ import annotations

from typing import Any

from tree_sitter import Node

from .common import apply_rule
from .spec import EntityRule, Found, LanguageSpec

__all__ = ["JAVASCRIPT", "TSX", "TYPESCRIPT"]

_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_CLASS_VALUES = frozenset({"class"})
_BOUND_FUNCTION = EntityRule("function", returns_field="return_type")
_BOUND_CLASS = EntityRule("class", params_field=None, sig_child_types=frozenset({"class_heritage"}))


def _bound(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    """``const f = (x) => …`` / ``f = function () {}`` / class fields holding functions."""
    value = node.child_by_field_name("value")
    if value is None:
        return None
    member = node.type != "variable_declarator"
    name_field = "property" if node.type == "field_definition" else "name"
    if value.type in _FUNCTION_VALUES:
        rule = EntityRule("method" if member else "function", name_field=name_field, returns_field="return_type")
        params = value.child_by_field_name("parameters") or value.child_by_field_name("parameter")
        returns = value.child_by_field_name("return_type")
        return apply_rule(spec, rule, node, node, parent_kind, content, params=params, returns=returns)
    if value.type in _CLASS_VALUES and not member:
        return apply_rule(spec, _BOUND_CLASS, node, node, parent_kind, content)
    return None


_CLASS_RULE = EntityRule("class", params_field=None, sig_child_types=frozenset({"class_heritage"}))
_FUNCTION_RULE = EntityRule("function", returns_field="return_type", nested={"class": "method"})
_METHOD_RULE = EntityRule("method", returns_field="return_type")
_BOUND = EntityRule("function", custom=_bound)

_JS_RULES: dict[str, EntityRule] = {
    "class_declaration": _CLASS_RULE,
    "function_declaration": _FUNCTION_RULE,
    "generator_function_declaration": _FUNCTION_RULE,
    "method_definition": _METHOD_RULE,
    "variable_declarator": _BOUND,
    "field_definition": _BOUND,
}

_TS_RULES: dict[str, EntityRule] = {
    **_JS_RULES,
    "public_field_definition": _BOUND,
    "abstract_class_declaration": _CLASS_RULE,
    "function_signature": _FUNCTION_RULE,
    "method_signature": _METHOD_RULE,
    "abstract_method_signature": _METHOD_RULE,
    "interface_declaration": EntityRule(
        "interface", params_field=None, sig_child_types=frozenset({"extends_type_clause"})
    ),
    "type_alias_declaration": EntityRule("type", params_field=None),
    "enum_declaration": EntityRule("enum", params_field=None),
    "internal_module": EntityRule("namespace", params_field=None),
}

_COMMON = dict(
    comment_types=frozenset({"comment", "html_comment"}),
    leading_types=frozenset({"decorator"}),
    comment_anchors=frozenset({"export_statement", "lexical_declaration", "variable_declaration"}),
)

JAVASCRIPT = LanguageSpec(
    name="javascript",
    extensions=(".js", ".mjs", ".cjs", ".jsx"),
    grammar=lambda: __import__("tree_sitter_javascript").language(),
    rules=_JS_RULES,
    **_COMMON,  # type: ignore[arg-type]
)

TYPESCRIPT = LanguageSpec(
    name="typescript",
    extensions=(".ts", ".mts", ".cts"),
    grammar=lambda: __import__("tree_sitter_typescript").language_typescript(),
    rules=_TS_RULES,
    **_COMMON,  # type: ignore[arg-type]
)

TSX = LanguageSpec(
    name="tsx",
    extensions=(".tsx",),
    grammar=lambda: __import__("tree_sitter_typescript").language_tsx(),
    rules=_TS_RULES,
    **_COMMON,  # type: ignore[arg-type]
)
