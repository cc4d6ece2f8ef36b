"""Walking a syntax tree quickly: the same nodes, in the same order, as :func:`ast.iter_child_nodes` and
:func:`ast.walk`, without their per-field generators (the analysis of one large test module walks its tree many
times, and ``ast.walk`` was the largest part of its CPU)."""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterator


def child_nodes(node: ast.AST) -> list[ast.AST]:
    """``list(ast.iter_child_nodes(node))``: the direct children, field by field, in ``_fields`` order."""
    out: list[ast.AST] = []
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            out.append(value)
        elif isinstance(value, list):
            out.extend(item for item in value if isinstance(item, ast.AST))
    return out


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk(node)``: ``node`` and every node under it, breadth first (a node's children are queued before
    it is yielded, so changing what a yielded node holds does not change what the walk yields)."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(child_nodes(node))
        yield node


def elif_chain(stmt: ast.If) -> list[ast.If]:
    """``stmt`` and the ``if`` of each of its ``elif``\\s, in order (the last one's ``orelse`` is the chain's
    ``else``): walked in a loop, a chain nests no deeper than one ``if`` (Jinja compiles ``{% elif %}`` to
    ``elif``, and its tests render 1,000 of them: far deeper than Python's recursion limit)."""
    chain = [stmt]
    while len(chain[-1].orelse) == 1 and isinstance(chain[-1].orelse[0], ast.If):
        chain.append(chain[-1].orelse[0])
    return chain
