"""Test modules whose tests the index cannot name: tests made at import time under computed names.

A data-driven suite makes its tests when its modules are imported: a class method attaches one test
per fixture file entry (``setattr(cls, "test_" + name, method)``, mistune's ``load_fixtures``), a loop
binds one class per plugin (``globals()["TestPlugin_" + name] = cls``). pytest collects them; the index,
which reads names in the source, does not see them, and a selection naming only the tests it sees
would leave out every such test (the job keeps only the selected ids).

Such a module gets one more id, ``path::*`` (:data:`GENERATED`), standing for every item pytest collects
from the file: the job keeps all of them when it is selected
(``trellis/ci/execution/pytest_plugin.py``). Its reach is what such a test may run: the file's shared roots
(module code, conftests, plugins, and through them the code making the tests) and every class and
function of the file but the tests the index names (a test made from one is made by code that reads it). A module
counts as making tests when its import (module code, class bodies, what they call) reaches code that
writes an attribute under a computed name on anything but ``self`` (``setattr(cls, name, value)``), or
stores into a namespace under a computed key (``globals()[name] = ...``, ``vars()``, ``locals()``, their
``update`` with a mapping), or ``exec``s code (a constant string only when it spells "test").
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence

from .pytest_collect import TestItem, runner_files, shared_roots
from .python_refs import MAIN
from .ref_graph import Graph

__all__ = ["GENERATED", "generated_tests"]

GENERATED = "*"
_NAMESPACES = frozenset({"globals", "vars", "locals"})
_WORDS = (b"setattr", b"globals", b"vars", b"locals", b"exec")


def generated_tests(
    graph: Graph, files: Mapping[str, bytes], collected: Mapping[str, Sequence[TestItem]]
) -> dict[str, int]:
    """``path::*`` -> its reach, for each test module whose import may make tests under computed names
    (``collected``: the items the index names, by file)."""
    writers = 0
    written: dict[str, int] = {}  # by file
    for path, content in files.items():
        if path in graph.facts and any(word in content for word in _WORDS):
            for qualname in _computed_writers(content):
                node = graph.node_of.get((path, qualname))
                if node is None:
                    node = graph.module_node(path)
                writers |= 1 << node
                written[path] = written.get(path, 0) | 1 << node
    out: dict[str, int] = {}
    named = {item.function for items in collected.values() for item in items}
    # the file's classes and functions but the tests the index names (and its ``__main__`` block: a script's)
    nodes: dict[str, list[int]] = {}
    for (path, qualname), node in graph.node_of.items():
        if qualname and qualname != MAIN and node not in named:
            nodes.setdefault(path, []).append(node)
    for path in graph.paths:
        facts = graph.facts[path]
        if not graph.config.is_test_file(path) or facts.not_a_test:
            continue
        shared = shared_roots(graph, path)
        classes = [
            graph.node_of[(path, s.qualname)] for s in facts.scopes if s.kind == "class" and "." not in s.qualname
        ]
        files_bits = graph.context_files(path, [*shared, *nodes.get(path, ())])
        imported = graph.reach({path: classes}, shared, files_bits)[path]
        if not imported & writers:
            continue
        # The tests may be made in another module its import runs (a runner module star-importing them: lark's
        # tests/__main__.py, ``from .test_parser import *``): that module's classes and functions too.
        elsewhere = [file for file, bits in written.items() if file != path and imported & bits]
        roots = [*nodes.get(path, ()), *(n for file in elsewhere for n in nodes.get(file, ()))]
        if elsewhere and not imported & written.get(path, 0):
            # made only in the modules it imports: their import closure, not every module the runner imports
            # (as for a test defined elsewhere, :func:`runner_files`)
            homes = {graph.node_path[item.function] for item in collected.get(path, ())} - set(elsewhere)
            files_bits = runner_files(graph, path, shared, roots, homes)
        else:
            files_bits |= graph.context_files(path, roots)
        nodeid = f"{path}::{GENERATED}"
        out[nodeid] = graph.reach({nodeid: roots}, shared, files_bits)[nodeid]
    return out


def _computed_writers(content: bytes) -> set[str]:
    """The local qualnames ("" for module code) of the scopes whose code writes an attribute under a computed
    name on anything but ``self``, or into a namespace under a computed key."""
    try:
        tree = ast.parse(content)
    except (SyntaxError, ValueError):
        return set()
    out: set[str] = set()

    def visit(node: ast.AST, qualname: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                for part in (*child.decorator_list, *getattr(child, "bases", ())):
                    visit(part, qualname)
                visit(child, f"{qualname}.{child.name}" if qualname else child.name)
                continue
            if _computed_write(child):
                out.add(qualname)
            visit(child, qualname)

    visit(tree, "")
    return out


def _computed_write(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "exec":
        # code run from a string binds what it likes (a constant one: a test's name only if it spells "test")
        code = node.args[0] if node.args else None
        return not (isinstance(code, ast.Constant) and isinstance(code.value, str)) or "test" in code.value.lower()
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
        if len(node.args) < 2:
            return True
        target, name = node.args[0], node.args[1]
        named = isinstance(name, ast.Constant) and isinstance(name.value, str)
        return not named and not (isinstance(target, ast.Name) and target.id == "self")
    if isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load):
        return _namespace(node.value) and not isinstance(node.slice, ast.Constant)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _namespace(node.func.value):
        # ``globals().update(h=None)`` names what it binds; a mapping passed in does not
        return node.func.attr == "setdefault" or node.func.attr == "update" and bool(node.args)
    return False


def _namespace(node: ast.expr) -> bool:
    """``globals()``, ``vars()``/``vars(x)``, ``locals()`` (an object's ``__dict__`` is an instance's: a class's
    cannot be written, and pytest collects no instance attribute)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NAMESPACES
