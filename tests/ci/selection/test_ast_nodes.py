"""The shared walks of the analysis (``ast_nodes``) yield what ``ast`` does, and walking once serves every pass.

The analysis of one changed test module used to walk its whole tree about ten
times with ``ast.walk``; it now walks it once per phase (before and after
pruning) with ``ast_nodes.walk``, which must yield the same nodes in the same
order, and pruning must decide the branches nested in a branch it empties as
it did while walking the tree as it changed.
"""

from __future__ import annotations

import ast
import inspect
from textwrap import dedent

from trellis.ci.selection import ast_nodes, python_refs
from trellis.ci.selection.interpreter_branches import prune


def test_walk_and_child_nodes_yield_what_ast_does() -> None:
    source = inspect.getsource(python_refs) + dedent(
        """
        match x:
            case {"a": [1, *rest], **more} | Point(x=0) as p:
                pass
        async def f(a, /, b=1, *c, d: int = 2, **e) -> "T":
            async with a as (b, c):
                return [y async for y in b if (z := y)] or {k: v for k, v in e.items()}
        """
    )
    tree = ast.parse(source)
    assert [id(n) for n in ast_nodes.walk(tree)] == [id(n) for n in ast.walk(tree)]
    for node in ast.walk(tree):
        assert ast_nodes.child_nodes(node) == list(ast.iter_child_nodes(node))


def test_pruning_decides_the_branches_inside_a_branch_it_empties() -> None:
    """``ast.walk`` queues a node's children before yielding it: an ``if`` inside an emptied branch was still
    decided (its names are relied on), and so it is when one walk serves every pass."""
    tree = ast.parse(
        dedent(
            """
            import sys
            if sys.version_info < (3, 0):
                if sys.platform == "win32":
                    import winhelper
            else:
                import helper
            """
        )
    )
    assert prune(tree) == ("version_info", "platform")
    assert "winhelper" not in ast.unparse(tree) and "import helper" in ast.unparse(tree)
