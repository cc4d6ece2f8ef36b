"""The cold extraction's shortcuts give what the general path gives (hypothesis).

- a one-line docstring is cleaned without ``inspect.cleandoc``'s line splitting: same text;
- a Python docstring is found by reading the block's first statements only: the same
  statement and text as scanning every statement of the block.
"""

from __future__ import annotations

import inspect

from hypothesis import given
from hypothesis import strategies as st

from trellis.semantic_diff.languages.common import _python_string_value, node_text, python_docstring
from trellis.semantic_diff.languages.registry import parser_for, spec_for

# Whitespace of every kind cleandoc and str.lstrip / expandtabs treat differently, and line breaks
# other than "\n" (not split by cleandoc).
_CHARS = st.sampled_from([" ", "\t", "a", "é", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u00a0", "\u2003", "\u2028"])


@given(st.lists(_CHARS, max_size=12).map("".join), st.sampled_from(['"""', "'''", '"', "'", 'r"', "b'''"]))
def test_one_line_docstring_is_cleaned_as_cleandoc_cleans_it(text: str, quote: str) -> None:
    closing = quote.lstrip("rb")
    assert _python_string_value(quote + text + closing) == inspect.cleandoc(text)


def _scan_every_statement(body: object, content: bytes) -> tuple[int, str] | None:
    """The reference: the block's named children, all of them, in order."""
    for child in body.named_children:  # type: ignore[attr-defined]
        if child.type == "comment":
            continue
        if child.type != "expression_statement" or child.named_child_count != 1:
            return None
        string = child.named_children[0]
        if string.type not in ("string", "concatenated_string"):
            return None
        return child.start_byte, _python_string_value(node_text(string, content))
    return None


_STATEMENTS = st.sampled_from(
    ["# c", '"""Doc."""', "'one' 'two'", "x = 1", "'''a\n    b\n    '''", "pass", "f'x'", "b'bytes'", "..."]
)


@given(st.lists(_STATEMENTS, max_size=6), st.booleans())
def test_docstring_from_the_first_statements_equals_a_full_scan(statements: list[str], in_function: bool) -> None:
    body = "".join(("    " if in_function else "") + s + "\n" for s in statements)
    source = ("def f():\n" + (body or "    pass\n") if in_function else body).encode()
    tree = parser_for(spec_for("m.py")).parse(source)  # type: ignore[arg-type]
    block = tree.root_node.child(0).child_by_field_name("body") if in_function else tree.root_node
    if tree.root_node.has_error or block is None:
        return
    got = python_docstring(block, source)
    want = _scan_every_statement(block, source)
    assert (None if got is None else (got[0].start_byte, got[1])) == want
