"""What a language contributes: a grammar, and rules saying which syntax nodes are entities.

A language is one :class:`LanguageSpec`. Most of it is a table of
:class:`EntityRule` keyed by tree-sitter node type; a rule names the fields
that hold the entity's name, parameters and return type, and the kind it takes
when nested in another entity (a Python ``function_definition`` inside a class
is a ``method``). Languages whose naming does not fit the table (Go methods are
named after their receiver, Rust ``impl`` blocks after their type, JSON array
items after their index) give a rule a ``custom`` hook that returns a
:class:`Found` itself. Adding a language is one module in this package plus one
line in ``registry.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tree_sitter import Node

__all__ = [
    "BODY",
    "DECO",
    "DOC",
    "NAME",
    "SIG",
    "EntityRule",
    "Found",
    "LanguageSpec",
    "collapse",
    "node_text",
]

# Token buckets: every normalised token of an entity lands in exactly one.
BODY, NAME, SIG, DECO, DOC = 0, 1, 2, 3, 4

# Kinds that hold members: a function rule's ``nested`` table maps these to "method".
CONTAINER_KINDS = frozenset({"class", "interface", "struct", "impl", "trait", "enum", "record", "namespace"})


def node_text(node: Node | None, content: bytes) -> str:
    if node is None:
        return ""
    return content[node.start_byte : node.end_byte].decode("utf-8", "replace")


def collapse(text: str, limit: int = 1000) -> str:
    """Whitespace-collapsed text, cut at ``limit`` characters."""
    out = " ".join(text.split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass(slots=True)
class Found:
    """An entity recognised at a node, as a language rule reports it to the walker."""

    kind: str
    name: str
    # Zones: (start_byte, end_byte, bucket) for the name, signature parts,
    # decorators and an in-body docstring; tokens elsewhere are BODY.
    zones: list[tuple[int, int, int]] = field(default_factory=list)
    params_node: Node | None = None
    segment: str = ""  # qualname segment; defaults to name
    signature: str = ""
    returns: str = ""
    docstring: str = ""
    ext_start: int = -1  # start of leading doc comments / attributes (default: node start)
    positional: bool = False  # name depends on sibling position (array items): never reused
    wrapped: Node | None = None  # inner definition node of a wrapper (Python decorated_definition)


# A custom hook gets (spec, node, enclosing entity kind, file content, per-parse state).
CustomHook = Callable[["LanguageSpec", Node, str, bytes, dict[Any, Any]], "Found | None"]


@dataclass(frozen=True, slots=True)
class EntityRule:
    """How one node type becomes an entity."""

    kind: str
    name_field: str | None = "name"
    params_field: str | None = "parameters"
    returns_field: str | None = None
    # Other fields / child node types whose tokens belong to the signature.
    sig_fields: tuple[str, ...] = ("type_parameters",)
    sig_child_types: frozenset[str] = frozenset()
    # Kind override by the enclosing entity's kind, e.g. {"class": "method"}.
    nested: Mapping[str, str] = field(default_factory=dict)
    # Node types that, as the parent of this node, make it part of a wrapper entity instead.
    wrapped_by: frozenset[str] = frozenset()
    custom: CustomHook | None = None


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """A language: grammar, file extensions, entity rules and token classes."""

    name: str
    extensions: tuple[str, ...]
    grammar: Callable[[], object]  # returns the grammar capsule, e.g. tree_sitter_python.language
    rules: Mapping[str, EntityRule]
    comment_types: frozenset[str] = frozenset({"comment"})
    # Leaves that are neither comments nor tokens (line continuations): kept in the raw text only.
    ignored_types: frozenset[str] = frozenset()
    # Nodes taken as one token although they have children (strings whose children
    # do not cover their text).
    atomic_types: frozenset[str] = frozenset()
    # Sibling nodes that precede an entity and belong to it (Rust attributes, TS decorators).
    leading_types: frozenset[str] = frozenset()
    # Docstring style: "python" (first string statement of the body), "comments"
    # (comments right before the entity) or "none".
    docstrings: str = "comments"
    # Parents that wrap an entity for the purpose of finding its leading comments.
    comment_anchors: frozenset[str] = frozenset()
    keyed: bool = False  # a keyed document (JSON, YAML, TOML), not code
    # An edit inside one entity may be re-parsed from that entity's text alone (see
    # ``parse._region_reparse``); sound for Python, whose entities end where indentation says.
    region_reparse: bool = False
    # What opens a line comment ("#"): a region holding a line that opens with one at or left of the run's
    # column is refused before it is parsed (no entity starts on such a line; see ``region.reparse_region``).
    line_comment: bytes = b""
    root_kind: str = "module"
    module_suffixes: tuple[str, ...] = ()  # file stems dropped from module names ("__init__")
    # Parents in which a comma right before the closing bracket changes nothing (``f(a, b,)``, black's "magic
    # trailing comma"): it stays in the raw text only, so adding or removing it is a formatting change. In
    # ``trailing_commas_of_many`` only with two items or more (``(x,)`` is a tuple, ``(x)`` is ``x``).
    trailing_commas: frozenset[str] = frozenset()
    trailing_commas_of_many: frozenset[str] = frozenset()

    @property
    def entity_types(self) -> frozenset[str]:
        return frozenset(self.rules)
