"""Python: classes, functions, methods (functions in a class), nested functions; decorators."""

from __future__ import annotations

from typing import Any

from tree_sitter import Node

from .common import apply_rule
from .spec import DECO, EntityRule, Found, LanguageSpec

__all__ = ["PYTHON"]

_FUNCTION = EntityRule(
    "function", returns_field="return_type", nested={"class": "method"}, wrapped_by=frozenset({"decorated_definition"})
)
_CLASS = EntityRule(
    "class",
    params_field=None,
    sig_fields=("superclasses", "type_parameters"),
    wrapped_by=frozenset({"decorated_definition"}),
)


def _decorated(spec: LanguageSpec, node: Node, parent_kind: str, content: bytes, state: dict[Any, Any]) -> Found | None:
    """``@decorator`` + definition: one entity spanning both, decorators in their own bucket."""
    inner = node.child_by_field_name("definition")
    if inner is None or inner.type not in ("function_definition", "class_definition"):
        return None
    rule = _FUNCTION if inner.type == "function_definition" else _CLASS
    found = apply_rule(spec, rule, node, inner, parent_kind, content)
    if found is None:
        return None
    for child in node.children:
        if child.type == "decorator":
            found.zones.append((child.start_byte, child.end_byte, DECO))
    found.zones.sort()
    found.wrapped = inner
    return found


PYTHON = LanguageSpec(
    name="python",
    extensions=(".py", ".pyi"),
    grammar=lambda: __import__("tree_sitter_python").language(),
    rules={
        "function_definition": _FUNCTION,
        "class_definition": _CLASS,
        "decorated_definition": EntityRule("function", custom=_decorated),
    },
    ignored_types=frozenset({"line_continuation"}),
    atomic_types=frozenset({"string_content"}),
    docstrings="python",
    module_suffixes=("__init__",),
    region_reparse=True,
    line_comment=b"#",
    # Not a subscript: ``x[a,]`` is ``x[(a,)]``.
    trailing_commas=frozenset(
        {"argument_list", "parameters", "list", "set", "dictionary", "import_from_statement", "list_pattern"}
        | {"dict_pattern"}
    ),
    trailing_commas_of_many=frozenset({"tuple", "tuple_pattern"}),
)
