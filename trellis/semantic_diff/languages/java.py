"""Java: classes, interfaces, enums, records, annotation types, methods and constructors."""

from __future__ import annotations

from .spec import EntityRule, LanguageSpec

__all__ = ["JAVA"]

_TYPE_SIG = ("type_parameters", "superclass", "interfaces")

JAVA = LanguageSpec(
    name="java",
    extensions=(".java",),
    grammar=lambda: __import__("tree_sitter_java").language(),
    rules={
        "class_declaration": EntityRule("class", params_field=None, sig_fields=_TYPE_SIG),
        "interface_declaration": EntityRule(
            "interface",
            params_field=None,
            sig_fields=("type_parameters",),
            sig_child_types=frozenset({"extends_interfaces"}),
        ),
        "enum_declaration": EntityRule("enum", params_field=None, sig_fields=("interfaces",)),
        "record_declaration": EntityRule("record", sig_fields=_TYPE_SIG),
        "annotation_type_declaration": EntityRule("annotation", params_field=None),
        "method_declaration": EntityRule("method", returns_field="type", sig_child_types=frozenset({"throws"})),
        "constructor_declaration": EntityRule("constructor", sig_child_types=frozenset({"throws"})),
        "compact_constructor_declaration": EntityRule("constructor"),
    },
    comment_types=frozenset({"line_comment", "block_comment"}),
)
