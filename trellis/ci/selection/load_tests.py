"""What a test module's ``load_tests`` adds to its tests (unittest's protocol), for selection.

With a pytest stage's ``load_tests = true`` the job runs, besides pytest's own
items, what each test module's ``load_tests(loader, standard_tests, pattern)``
returns that pytest did not collect (``trellis/ci/execution/pytest_plugin.py``): the items
``<module>::load_tests::<unittest id>``. Selection knows them as one test per
module, ``<module>::load_tests``, which reaches

- the ``load_tests`` function itself and what it references (code of the test
  module: with the module's shared roots, like any of its tests);
- for every ``DocTestSuite(m)`` it calls, the doctests of ``m`` exactly as
  ``--doctest-modules`` maps them (the module's ``<doctests>`` node: what its
  examples call, and its docstrings' owners);
- for every ``loader.loadTestsFromTestCase(Case)`` or ``Case("test_x")`` of a
  ``unittest.TestCase`` class of the tree, what that class's tests start from
  (:func:`trellis.ci.selection.pytest_collect.unittest_roots`).

Precision before recall: a ``load_tests`` that does anything else — loads tests
by name or module, discovers a directory, calls a helper, reads a
module-level value, takes a ``DocTestSuite`` module or a test case class it
cannot name, or is not a plain ``def`` of the module — is *opaque*: its test is selected by every
change to Python code and its results are never reused.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import threading
from dataclasses import dataclass

from .pytest_collect import unittest_roots
from .python_refs import Chain, ImportRef
from .ref_graph import ENTITY, Graph

__all__ = ["LOAD_TESTS", "LoadTests", "find_load_tests"]

LOAD_TESTS = "load_tests"
_DOCTEST_SUITE = frozenset({"doctest.DocTestSuite"})
_SUITES = frozenset(
    {"unittest.TestSuite", "unittest.suite.TestSuite", "unittest.BaseTestSuite", "unittest.TestLoader"}
    | {"unittest.loader.TestLoader"}
)
_ADDS = frozenset({"addTest", "addTests"})
_LIBRARIES = ("doctest", "unittest")  # names bound to these (or their members) are what load_tests may use


@dataclass(frozen=True, slots=True)
class LoadTests:
    """A test module's ``load_tests``: its test id, its node, the files whose doctests it adds, the nodes
    the test cases it adds start from.

    ``function`` is None when ``load_tests`` is not a plain ``def`` of the module; ``opaque``
    says why the analysis cannot bound what it loads ("" when it can).
    """

    nodeid: str
    path: str
    function: int | None
    modules: tuple[str, ...] = ()
    opaque: str = ""
    roots: tuple[int, ...] = ()


def find_load_tests(graph: Graph, path: str, source: bytes) -> LoadTests | None:
    """The ``load_tests`` of the test module ``path`` (``source``: its text), or None if it has none."""
    targets = graph.file_symbol(path, LOAD_TESTS)
    if not targets and LOAD_TESTS.encode() not in source:
        return None
    nodeid = f"{path}::{LOAD_TESTS}"
    node = graph.node_of.get((path, LOAD_TESTS))
    syntax = _syntax(source)
    if syntax is None:  # the index treats a file that does not parse on its own
        return None
    defs, other = syntax
    if not targets and not defs and not other:
        return None
    if len(defs) != 1 or other or node is None or targets != {(ENTITY, node)}:
        return LoadTests(nodeid, path, node, opaque=f"{path} binds load_tests other than by one plain def")
    analysis = _Analysis(graph, path, defs[0])
    modules, opaque = analysis.run()
    return LoadTests(nodeid, path, node, modules, opaque, tuple(dict.fromkeys(analysis.roots)))


_SYNTAX: dict[bytes, tuple[tuple[ast.FunctionDef, ...], bool] | None] = {}  # source digest -> _scan
_SYNTAX_LOCK = threading.Lock()
_SYNTAX_SIZE = 256


def _syntax(source: bytes) -> tuple[tuple[ast.FunctionDef, ...], bool] | None:
    """:func:`_scan` of ``source``, remembered by its digest (every index build asks it of every test module)."""
    key = hashlib.blake2b(source, digest_size=20).digest()
    with _SYNTAX_LOCK:
        if key in _SYNTAX:
            return _SYNTAX[key]
    found = _scan(source)
    with _SYNTAX_LOCK:
        if len(_SYNTAX) >= _SYNTAX_SIZE:
            _SYNTAX.pop(next(iter(_SYNTAX)))
        _SYNTAX[key] = found
    return found


def _scan(source: bytes) -> tuple[tuple[ast.FunctionDef, ...], bool] | None:
    """The module's top-level ``def load_tests`` statements, and whether anything else binds the name."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defs = tuple(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == LOAD_TESTS)
    return defs, _other_bindings(tree, defs)


def _other_bindings(tree: ast.Module, defs: tuple[ast.FunctionDef, ...]) -> bool:
    """Does anything but ``defs`` bind ``load_tests`` (an assignment, an import, ``global``, a name in a string)?"""
    for found in ast.walk(tree):
        if any(found is d for d in defs):
            continue
        if isinstance(found, ast.Name) and found.id == LOAD_TESTS and not isinstance(found.ctx, ast.Load):
            return True
        if isinstance(found, ast.alias) and LOAD_TESTS in (found.asname, found.name.rpartition(".")[2]):
            return True
        if isinstance(found, (ast.Global, ast.Nonlocal)) and LOAD_TESTS in found.names:
            return True
        if isinstance(found, ast.Constant) and found.value == LOAD_TESTS:  # setattr(module, "load_tests", …)
            return True
        if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and found.name == LOAD_TESTS:
            return True
    return False


class _Analysis:
    """The modules a ``load_tests`` function's ``DocTestSuite`` calls name, or why it is opaque."""

    def __init__(self, graph: Graph, path: str, function: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.graph = graph
        self.path = path
        self.facts = graph.facts[path]
        self.function = function
        self.roots: list[int] = []  # where the test cases it adds start (their classes' tests)
        self.imports: dict[str, ImportRef] = {}  # names its own import statements bind
        self.locals: set[str] = set()
        args = function.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self.locals.add(arg.arg)
        for found in ast.walk(function):
            if isinstance(found, ast.Import):
                for alias in found.names:
                    if alias.asname:
                        self.imports[alias.asname] = ImportRef(0, alias.name)
                    else:
                        self.imports[alias.name.partition(".")[0]] = ImportRef(0, alias.name.partition(".")[0])
            elif isinstance(found, ast.ImportFrom):
                for alias in found.names:
                    self.imports[alias.asname or alias.name] = ImportRef(found.level, found.module or "", alias.name)
            elif isinstance(found, ast.Name) and not isinstance(found.ctx, ast.Load):
                self.locals.add(found.id)
            elif isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and found is not function:
                self.locals.add(found.name)
            elif isinstance(found, ast.ExceptHandler) and found.name:
                self.locals.add(found.name)

    def run(self) -> tuple[tuple[str, ...], str]:
        modules: dict[str, None] = {}
        allowed: set[int] = set()  # Name nodes read as a DocTestSuite's module (a module of the tree)
        for found in ast.walk(self.function):
            if not isinstance(found, ast.Call):
                continue
            name = self.dotted(found.func)
            if name in _DOCTEST_SUITE:
                files, why = self.suite_modules(found, allowed)
                if why:
                    return (), why
                modules.update(dict.fromkeys(files))
            elif name in _SUITES or (isinstance(found.func, ast.Attribute) and found.func.attr in _ADDS):
                continue
            elif isinstance(found.func, ast.Attribute) and found.func.attr == "loadTestsFromTestCase":
                if len(found.args) != 1 or found.keywords or not self.test_cases(found.args[0], allowed):
                    return (
                        (),
                        f"load_tests passes loadTestsFromTestCase {ast.unparse(found)}, not a TestCase of the tree",
                    )
            elif self.test_cases(found.func, allowed):
                continue  # Case("test_x"): a test case of the tree
            else:
                return (), f"load_tests calls {ast.unparse(found.func)}, which may load any test"
        for found in ast.walk(self.function):
            if isinstance(found, ast.Name) and isinstance(found.ctx, ast.Load) and id(found) not in allowed:
                why = self.read(found.id)
                if why:
                    return (), why
        return tuple(modules), ""

    def read(self, name: str) -> str:
        """Why reading ``name`` in load_tests makes it opaque ("" when it cannot hand it tests)."""
        if name in self.locals:
            return ""
        ref = self.imports.get(name) or next(iter(self.facts.bindings.get(name, ())), None)
        if ref is not None and ref.level == 0 and ref.module.partition(".")[0] in _LIBRARIES:
            return ""
        scopes = [self.facts.scope(q) for q in self.facts.defs.get(name, ())]
        if scopes and all(s is not None and s.kind == "function" for s in scopes):
            return ""  # a function of the module (a doctest's setUp, say): the load_tests node reaches it
        return f"load_tests reads {name}, which may hold tests the analysis does not see"

    def resolve(self, node: ast.expr) -> ImportRef | None:
        """The module (or member) an expression names through imports (``a.b`` for ``import a`` then ``a.b``)."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or (node.id in self.locals and node.id not in self.imports):
            return None
        ref = self.imports.get(node.id)
        if ref is None:
            bound = self.facts.bindings.get(node.id, ())
            if len(bound) != 1:
                return None
            ref = bound[0]
        parts = [p for p in (ref.module, ref.name, *reversed(attrs)) if p]
        return ImportRef(ref.level, ".".join(parts))

    def test_cases(self, node: ast.expr, allowed: set[int]) -> bool:
        """Does ``node`` name only ``unittest.TestCase`` classes of the tree? Their tests' roots join ``roots``."""
        attrs: list[str] = []
        root = node
        while isinstance(root, ast.Attribute):
            attrs.append(root.attr)
            root = root.value
        if not isinstance(root, ast.Name):
            return False
        if root.id in self.imports:
            chain = Chain("import", root.id, tuple(reversed(attrs)), self.imports[root.id])
        elif root.id in self.locals:
            return False
        else:
            chain = Chain("global", root.id, tuple(reversed(attrs)))
        final: set[tuple[int, str | int]] = set()
        self.graph.resolve(self.path, chain, final)
        found: list[int] = []
        for kind, value in final:
            if kind != ENTITY or not isinstance(value, int) or self.graph.node_scope[value].kind != "class":
                return False
            roots = unittest_roots(self.graph, value)
            if roots is None:
                return False
            found.extend(roots)
        if not found:
            return False
        self.roots.extend(found)
        allowed.update(id(n) for n in ast.walk(node) if isinstance(n, ast.Name))
        return True

    def dotted(self, node: ast.expr) -> str:
        ref = self.resolve(node)
        return ref.module if ref is not None and ref.level == 0 else ""

    def suite_modules(self, call: ast.Call, allowed: set[int]) -> tuple[list[str], str]:
        """The files whose doctests ``DocTestSuite(...)`` adds, or why the analysis cannot tell."""
        arg: ast.expr | None = call.args[0] if call.args else None
        for keyword in call.keywords:
            if keyword.arg == "module":
                arg = keyword.value
            elif keyword.arg is None:
                return [], "load_tests passes DocTestSuite **arguments the analysis cannot read"
        if any(isinstance(a, ast.Starred) for a in call.args):
            return [], "load_tests passes DocTestSuite *arguments the analysis cannot read"
        if arg is None:  # the calling module: the test module's own doctests
            return [self.path], ""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            ref: ImportRef | None = ImportRef(0, arg.value)
        else:
            ref = self.resolve(arg)
            for found in ast.walk(arg):
                if isinstance(found, ast.Name):
                    allowed.add(id(found))
        text = ast.unparse(arg)
        if ref is None or not ref.module.strip("."):
            return [], f"load_tests passes DocTestSuite {text}, which the analysis cannot resolve to a module"
        keys = self.graph.module_keys(self.path, ref.level, ref.module)
        files = [f for key in keys for f in self.graph.module_files.get(key, ())]
        if files:
            return files, ""
        if ref.level == 0 and ref.module.partition(".")[0] in sys.stdlib_module_names:
            return [], ""  # the standard library's own doctests: no code of the tree
        return [], f"load_tests passes DocTestSuite {text}, which is not a module of the tree"
