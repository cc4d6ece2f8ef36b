"""Syntax colours for diffs: tree-sitter for the languages the semantic diff parses, Pygments for the rest.

The semantic diff's grammars (Python, JavaScript, TypeScript, Go, Rust, Java,
JSON, YAML, TOML) parse a 200-line file in about a millisecond, where
Pygments' regular expressions take tens; a 50-file commit page would spend
seconds in Pygments alone. The leaves of the syntax tree are classified the
same way for every grammar (comments, strings, numbers, keywords, the names
that definitions introduce, types) and given Pygments' short CSS classes, so
one stylesheet colours both. Every piece of text is escaped before it is
wrapped: the result is safe ``Markup``, one per line.
"""

from __future__ import annotations

import functools
import posixpath
from typing import cast

from markupsafe import Markup, escape
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.lexers.special import TextLexer
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound
from tree_sitter import Node

from trellis.semantic_diff.languages import GrammarUnavailable, parser_for, spec_for

__all__ = ["HIGHLIGHT_MAX_BYTES", "PYGMENTS_MAX_BYTES", "highlight_lines", "language_name"]

HIGHLIGHT_MAX_BYTES = 1024 * 1024
"""Files larger than this are shown without colours."""
PYGMENTS_MAX_BYTES = 128 * 1024
"""The same for the (slower) Pygments lexers of languages tree-sitter does not parse here."""

_CONSTANTS = frozenset({"true", "false", "none", "null", "nil", "boolean", "undefined", "iota"})
_NUMBERS = ("integer", "float", "number", "int_literal", "float_literal", "decimal", "hex_", "octal", "binary_")
_STRINGS = ("string", "char_literal", "character_literal", "rune_literal", "heredoc")
_TYPES = frozenset(
    {
        "type_identifier",
        "primitive_type",
        "predefined_type",
        "integral_type",
        "floating_point_type",
        "boolean_type",
        "void_type",
    }
)


def _class_of(node: Node) -> str | None:
    """The CSS class of a node coloured as a whole (its children are not visited), or None."""
    kind = node.type
    if node.is_named:
        if "comment" in kind:
            return "c"
        if any(s in kind for s in _STRINGS) and kind not in ("string_content", "escape_sequence"):
            return "s"
        if node.child_count == 0:
            if kind in _CONSTANTS:
                return "kc"
            if any(kind.startswith(n) or kind.endswith(n) for n in _NUMBERS):
                return "m"
            if kind in _TYPES:
                return "kt"
            if "identifier" in kind or kind == "name":
                parent = node.parent
                if parent is not None and parent.child_by_field_name("name") == node:
                    owner = parent.type
                    if "class" in owner or "struct" in owner or "interface" in owner or "enum" in owner:
                        return "nc"
                    if "function" in owner or "method" in owner or "constructor" in owner:
                        return "nf"
                if kind == "property_identifier" or kind == "field_identifier":
                    return None
        return None
    # anonymous nodes: keywords are words (def, return, fn, func, let); punctuation gets no colour
    if node.child_count == 0 and kind[:1].isalpha() and kind.replace("_", "").isalpha():
        return "kc" if kind.lower() in _CONSTANTS else "k"
    return None


def _tree_spans(content: bytes, root: Node) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        css = _class_of(node)
        if css is not None:
            if node.end_byte > node.start_byte:
                spans.append((node.start_byte, node.end_byte, css))
            continue
        children = node.children
        if children:
            stack.extend(reversed(children))
    return spans


def _lines_from_spans(content: bytes, spans: list[tuple[int, int, str]]) -> list[Markup]:
    lines: list[str] = []
    current: list[str] = []

    def emit(piece: bytes, css: str | None) -> None:
        parts = piece.decode("utf-8", "replace").split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append("".join(current))
                current.clear()
            if part:
                current.append(f'<span class="{css}">{escape(part)}</span>' if css else str(escape(part)))

    at = 0
    for start, end, css in spans:
        if start < at:
            continue  # overlapping (an error-recovered tree): keep the first
        if start > at:
            emit(content[at:start], None)
        emit(content[start:end], css)
        at = end
    emit(content[at:], None)
    lines.append("".join(current))
    return [Markup(line) for line in lines]


@functools.lru_cache(maxsize=512)
def _pygments_for(kind: str) -> Lexer:
    try:
        return get_lexer_for_filename(kind, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=False)


def _pygments(path: str) -> Lexer:
    """The Pygments lexer of a file name, looked up once per extension (Pygments' own search costs ms)."""
    name = posixpath.basename(path)
    stem, ext = posixpath.splitext(name)
    return _pygments_for(f"x{ext}" if ext and stem else name)


def _css_class(token: _TokenType) -> str:
    while token not in STANDARD_TYPES:
        token = token.parent
    return cast(str, STANDARD_TYPES[token])  # pygments has no type information


def _pygments_lines(path: str, text: str) -> list[Markup]:
    lines: list[str] = []
    current: list[str] = []
    for token, value in _pygments(path).get_tokens(text):
        css = _css_class(token)
        css = "" if css in ("w", "p", "n") else css  # whitespace, punctuation, plain names: no colour
        for i, piece in enumerate(value.split("\n")):
            if i:
                lines.append("".join(current))
                current = []
            if piece:
                current.append(f'<span class="{css}">{escape(piece)}</span>' if css else str(escape(piece)))
    lines.append("".join(current))
    return [Markup(line) for line in lines]


def language_name(path: str) -> str:
    spec = spec_for(path)
    if spec is not None:
        return spec.name
    lexer = _pygments(path)
    return "" if isinstance(lexer, TextLexer) else str(lexer.name)


def highlight_lines(path: str, content: bytes) -> list[Markup]:
    """``content`` as escaped, highlighted HTML, one ``Markup`` per line (without the newline)."""
    if len(content) > HIGHLIGHT_MAX_BYTES:
        return [escape(line) for line in content.decode("utf-8", "replace").split("\n")]
    spec = spec_for(path)
    if spec is not None:
        try:
            tree = parser_for(spec).parse(content)
        except (GrammarUnavailable, ValueError):
            tree = None
        if tree is not None:
            return _lines_from_spans(content, _tree_spans(content, tree.root_node))
    if len(content) > PYGMENTS_MAX_BYTES or isinstance(_pygments(path), TextLexer):
        return [escape(line) for line in content.decode("utf-8", "replace").split("\n")]
    return _pygments_lines(path, content.decode("utf-8", "replace"))
