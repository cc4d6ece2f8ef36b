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


# Builtins that make a value from values (no test of their own): a loop over a table's rows may use them.
_VALUE_BUILTINS = frozenset(
    {"len", "range", "zip", "enumerate", "sorted", "reversed", "list", "tuple", "dict", "set", "str", "int", "float"}
)


def _own(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The nodes of ``function`` that run when it runs: not the bodies of the functions and classes it defines
    (a ``TestCase`` class's test methods run as its tests, reached through its roots), but what their
    definitions evaluate (decorators, bases, defaults)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            stack.extend(node.decorator_list)
            stack.extend(d for d in [*args.defaults, *args.kw_defaults] if d is not None)
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend([*node.decorator_list, *node.bases, *(k.value for k in node.keywords)])
            continue
        if isinstance(node, ast.Lambda):
            stack.extend(d for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None)
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return out


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
    defs, other, helpers = syntax
    if not targets and not defs and not other:
        return None
    if len(defs) != 1 or other or node is None or targets != {(ENTITY, node)}:
        return LoadTests(nodeid, path, node, opaque=f"{path} binds load_tests other than by one plain def")
    analysis = _Analysis(graph, path, defs[0], helpers)
    modules, opaque = analysis.run()
    return LoadTests(nodeid, path, node, modules, opaque, tuple(dict.fromkeys(analysis.roots)))


_Syntax = tuple[tuple[ast.FunctionDef, ...], bool, dict[str, ast.FunctionDef]]
_SYNTAX: dict[bytes, _Syntax | None] = {}  # source digest -> _scan
_SYNTAX_LOCK = threading.Lock()
_SYNTAX_SIZE = 256


def _syntax(source: bytes) -> _Syntax | None:
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


def _scan(source: bytes) -> _Syntax | None:
    """The module's top-level ``def load_tests`` statements, whether anything else binds the name, and the
    module's other top-level functions that nothing but their one ``def`` binds (helpers it may call)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    defs = tuple(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == LOAD_TESTS)
    bound: dict[str, int] = {}
    for found in ast.walk(tree):
        if isinstance(found, ast.Name) and not isinstance(found.ctx, ast.Load):
            bound[found.id] = bound.get(found.id, 0) + 1
        elif isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound[found.name] = bound.get(found.name, 0) + 1
        elif isinstance(found, ast.alias):
            name = found.asname or found.name.partition(".")[0]
            bound[name] = bound.get(name, 0) + 1
        elif isinstance(found, (ast.Global, ast.Nonlocal)):
            for name in found.names:
                bound[name] = bound.get(name, 0) + 2
    helpers = {
        s.name: s
        for s in tree.body
        if isinstance(s, ast.FunctionDef) and s.name != LOAD_TESTS and bound.get(s.name) == 1 and not s.decorator_list
    }
    return defs, _other_bindings(tree, defs), helpers


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
    """The modules a ``load_tests`` function's ``DocTestSuite`` calls name, or why it is opaque.

    A helper it calls (a plain top-level ``def`` of the module, bound once: isodate 0.6's ``load_tests`` returns
    ``test_suite()``, which adds ``create_testcase(...)`` for each row of a table, a factory defining a local
    ``TestCase`` class and returning ``loadTestsFromTestCase`` of it) is analysed the same way, and so is a
    ``TestCase`` class its body defines. A function that reads a module-level value (the table) must hand tests
    only from what the analysis sees: every ``addTest``/``addTests`` argument and every returned value a call it
    vetted (a suite, a loader's ``loadTestsFromTestCase``, a ``DocTestSuite``, a helper) or a local bound only to
    one; the values themselves then only feed arguments (a ``for`` over the table's rows).
    """

    def __init__(
        self,
        graph: Graph,
        path: str,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        helpers: dict[str, ast.FunctionDef] | None = None,
        seen: set[str] | None = None,
        roots: list[int] | None = None,
    ) -> None:
        self.graph = graph
        self.path = path
        self.facts = graph.facts[path]
        self.function = function
        self.helpers = helpers or {}
        self.seen = seen if seen is not None else {function.name}  # helpers analysed (or being analysed)
        self.roots: list[int] = roots if roots is not None else []  # where the test cases it adds start
        self.imports: dict[str, ImportRef] = {}  # names its own import statements bind
        self.locals: set[str] = set()
        self.classes: dict[str, int] = {}  # TestCase classes its body defines (bound once): their nodes
        self.values: list[str] = []  # module-level values it reads
        self.vetted: set[int] = set()  # calls that hand only tests the analysis sees
        args = function.args
        for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
            if arg is not None:
                self.locals.add(arg.arg)
        stores: dict[str, int] = {}
        for found in _own(function):
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
                stores[found.id] = stores.get(found.id, 0) + 1
            elif isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and found is not function:
                self.locals.add(found.name)
                stores[found.name] = stores.get(found.name, 0) + 1
            elif isinstance(found, ast.ExceptHandler) and found.name:
                self.locals.add(found.name)
        qualname = next((q for q in self.facts.defs.get(function.name, ())), function.name)
        for stmt in function.body:
            if isinstance(stmt, ast.ClassDef) and stores.get(stmt.name) == 1:
                node = graph.node_of.get((path, f"{qualname}.{stmt.name}"))
                if node is not None:
                    self.classes[stmt.name] = node

    def run(self) -> tuple[tuple[str, ...], str]:
        modules: dict[str, None] = {}
        allowed: set[int] = set()  # Name nodes read as a DocTestSuite's module (a module of the tree)
        loose: list[ast.Call] = []  # calls of values or builtins: they may hand tests only if they feed a suite
        for found in _own(self.function):
            if not isinstance(found, ast.Call):
                continue
            name = self.dotted(found.func)
            if name in _DOCTEST_SUITE:
                files, why = self.suite_modules(found, allowed)
                if why:
                    return (), why
                modules.update(dict.fromkeys(files))
                self.vetted.add(id(found))
            elif name in _SUITES or (isinstance(found.func, ast.Attribute) and found.func.attr in _ADDS):
                if name in _SUITES:
                    self.vetted.add(id(found))
                continue
            elif isinstance(found.func, ast.Attribute) and found.func.attr == "loadTestsFromTestCase":
                if len(found.args) != 1 or found.keywords or not self.test_cases(found.args[0], allowed):
                    return (
                        (),
                        f"load_tests passes loadTestsFromTestCase {ast.unparse(found)}, not a TestCase of the tree",
                    )
                self.vetted.add(id(found))
            elif self.test_cases(found.func, allowed):
                self.vetted.add(id(found))  # Case("test_x"): a test case of the tree
            elif (
                isinstance(found.func, ast.Name) and found.func.id in self.helpers and found.func.id not in self.locals
            ):
                helper = found.func.id
                if helper not in self.seen:
                    self.seen.add(helper)
                    inner = _Analysis(self.graph, self.path, self.helpers[helper], self.helpers, self.seen, self.roots)
                    names, why = inner.run()
                    if why:
                        return (), f"load_tests calls {helper}, where {why.removeprefix('load_tests ')}"
                    modules.update(dict.fromkeys(names))
                self.vetted.add(id(found))
                allowed.add(id(found.func))
            elif self.loose_call(found):
                loose.append(found)
            else:
                return (), f"load_tests calls {ast.unparse(found.func)}, which may load any test"
        for found in _own(self.function):
            if isinstance(found, ast.Name) and isinstance(found.ctx, ast.Load) and id(found) not in allowed:
                why = self.read(found.id)
                if why:
                    return (), why
        if self.values or loose or self.function.name != LOAD_TESTS:
            # A module-level value read, or a call of one, or a helper (its parameters may hold anything): what
            # the suites get and what it returns must come from vetted calls.
            why = self.handed()
            if why and (self.values or loose):
                value = self.values[0] if self.values else ast.unparse(loose[0].func)
                return (), f"load_tests reads {value}, which may hold tests the analysis does not see ({why})"
            if why:
                return (), f"load_tests {why}, which may be tests the analysis does not see"
        return tuple(modules), ""

    def loose_call(self, call: ast.Call) -> bool:
        """A call that loads no test by itself: a method of a module-level value (``TEST_CASES.items()``) or a
        builtin that makes a value (``len``, ``zip``, ``range``…); it may still hand tests on (checked by
        :meth:`handed` when it runs)."""
        root = call.func.value if isinstance(call.func, ast.Attribute) else None
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id not in self.locals and root.id in self.facts.values:
            return True
        return (
            isinstance(call.func, ast.Name)
            and call.func.id in _VALUE_BUILTINS
            and call.func.id not in self.locals
            and call.func.id not in self.facts.values
            and not self.facts.bindings.get(call.func.id)
            and not self.facts.defs.get(call.func.id)
        )

    def handed(self) -> str:
        """Why what this function hands a suite or returns may be a test the analysis did not see ("" if not)."""
        suites: dict[str, bool] = {}  # locals: bound only to vetted calls?
        for found in _own(self.function):
            targets: list[ast.expr] = []
            value: ast.expr | None = None
            if isinstance(found, ast.Assign):
                targets, value = found.targets, found.value
            elif isinstance(found, (ast.AnnAssign, ast.AugAssign)):
                targets, value = [found.target], found.value
            elif isinstance(found, (ast.For, ast.AsyncFor, ast.comprehension)):
                targets = [found.target]
            elif isinstance(found, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in found.items if i.optional_vars is not None]
            elif isinstance(found, ast.NamedExpr):
                targets, value = [found.target], found.value
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        fine = isinstance(target, ast.Name) and value is not None and self.vetted_value(value, {})
                        suites[name.id] = suites.get(name.id, True) and fine
        for found in _own(self.function):
            given: list[ast.expr] = []
            if isinstance(found, ast.Call) and isinstance(found.func, ast.Attribute) and found.func.attr in _ADDS:
                given = [*found.args, *(k.value for k in found.keywords)]
            elif isinstance(found, ast.Return) and found.value is not None:
                given = [found.value]
            elif isinstance(found, (ast.Yield, ast.YieldFrom)):
                return "it yields"
            for value in given:
                if not self.vetted_value(value, suites):
                    return f"hands on {ast.unparse(value)}"
        return ""

    def vetted_value(self, value: ast.expr, suites: dict[str, bool]) -> bool:
        """A vetted call, or a local (not a parameter) bound only to vetted calls."""
        if isinstance(value, ast.Call):
            return id(value) in self.vetted
        if isinstance(value, ast.Name):
            return suites.get(value.id, False)
        return isinstance(value, ast.Constant) and value.value is None

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
        if name in _VALUE_BUILTINS and not scopes and ref is None and name not in self.facts.values:
            return ""
        if name in self.facts.values and not scopes and ref is None:
            self.values.append(name)  # what it hands on is checked (handed)
            return ""
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
        if root.id in self.classes and not attrs:
            roots = unittest_roots(self.graph, self.classes[root.id])
            if roots is None:
                return False
            self.roots.extend(roots)
            allowed.add(id(root))
            return True
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
