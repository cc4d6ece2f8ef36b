"""The pytest items of a tree and the nodes each one starts from, on the reference graph.

The items pytest collects from the root with no arguments (files and names as
:mod:`trellis.ci.selection.pytest_config` says); each item starts from its own function, its
classes and their xunit ``setup``/``teardown`` methods (and the fixtures it runs, which
:mod:`trellis.ci.selection.fixtures` resolves by name), and shares with the other items of its file
the file's module code, the conftest files above it and the plugins they name (their module code,
top-level names and ``pytest_*`` hooks: what pytest runs of them besides fixtures), the module's
xunit functions and ``pytest_*`` hooks.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ref_graph import ENTITY, Graph

__all__ = ["TestItem", "collect", "conftests", "runner_files", "shared_roots", "unittest_roots"]

_XUNIT_MODULE = frozenset(
    {
        "setup_module",
        "teardown_module",
        "setUpModule",
        "tearDownModule",
        "setup_function",
        "teardown_function",
        "setup",
        "teardown",
    }
)
_XUNIT_CLASS = frozenset(
    {
        "setup_method",
        "teardown_method",
        "setup_class",
        "teardown_class",
        "setup",
        "teardown",
        "setUp",
        "tearDown",
        "setUpClass",
        "tearDownClass",
        "asyncSetUp",
        "asyncTearDown",
    }
)


@dataclass(frozen=True, slots=True)
class TestItem:
    """A pytest item (``nodeid``) and the nodes its run starts from (besides its file's shared ones)."""

    __test__ = False  # not a pytest test class

    nodeid: str
    path: str
    function: int
    roots: tuple[int, ...]
    classes: tuple[int, ...] = ()  # the classes it is collected in, outermost first


def collect(graph: Graph) -> dict[str, list[TestItem]]:
    """The pytest items of every test file, keyed by file."""
    out: dict[str, list[TestItem]] = {}
    for path in graph.paths:
        facts = graph.facts[path]
        if not graph.config.is_test_file(path) or facts.not_a_test:
            continue
        items: dict[str, TestItem] = {}
        for scope in facts.scopes:
            if scope.parent or not scope.qualname or "." in scope.qualname:
                continue
            node = graph.node_of[(path, scope.qualname)]
            _collect_entity(graph, path, scope.name, node, items)
        # Imported names: pytest collects what the module's namespace holds, a TestCase under any name.
        for name, refs in facts.bindings.items():
            for ref in refs:
                for kind, value in graph.binding(path, ref):
                    if kind == ENTITY:
                        assert isinstance(value, int)
                        _collect_entity(graph, path, name, value, items)
        # And what its star imports bind (a runner module gathering other modules' tests: lark's tests/__main__.py
        # ``from .test_tree_templates import *``), unless the module binds the name itself.
        for name in sorted(_star_names(graph, path, frozenset()) - facts.defs.keys() - facts.bindings.keys()):
            for kind, value in graph.file_symbol(path, name):
                if kind == ENTITY:
                    assert isinstance(value, int)
                    _collect_entity(graph, path, name, value, items)
        out[path] = sorted(items.values(), key=lambda item: item.nodeid)
    return out


def runner_files(graph: Graph, path: str, shared: Sequence[int], roots: Iterable[int], others: Iterable[str]) -> int:
    """The files tests collected from ``path`` but defined in another module (``roots``: theirs) may read names
    from unknown objects in: the import closure of their roots, of the file's shared roots but its own module code,
    and of what that module code imports but the other test modules it gathers (``others``: a runner module
    importing every test module), and the file itself."""
    own = graph.module_node(path)
    bits = graph.context_files(path, [*(n for n in shared if n != own), *roots]) | 1 << graph.file_index[path]
    skipped = set(others)
    for ref in graph.facts[path].file_imports:
        for file in graph.import_files(path, ref):
            if file not in skipped:
                bits |= graph.file_closure(file)
    return bits


def _star_names(graph: Graph, path: str, seen: frozenset[str]) -> set[str]:
    """The names the star imports of ``path`` may bind: a source's literal ``__all__``; without one its public
    names, its own star imports' included; with a computed ``__all__`` any top-level name it binds (a superset:
    an id pytest does not collect selects nothing)."""
    out: set[str] = set()
    for star in graph.facts[path].star_imports:
        for key in graph.module_keys(path, star.level, star.module):
            for file in graph.module_files.get(key, ()):
                if file in seen or file == path:
                    continue
                facts = graph.facts[file]
                if facts.exports is not None and "__all__" in facts.defs.keys() | facts.values:
                    out.update(facts.exports)
                    continue
                names = {n for t in facts.toplevel for n in t.names} | _star_names(graph, file, seen | {path})
                out |= names if facts.exports is None else {n for n in names if not n.startswith("_")}
    return out


def _collect_entity(graph: Graph, path: str, name: str, node: int, items: dict[str, TestItem]) -> None:
    scope = graph.node_scope[node]
    if scope.kind == "function" and graph.config.is_test_function(name):
        nodeid = f"{path}::{name}"
        items[nodeid] = TestItem(nodeid, path, node, (node,))
    elif scope.kind == "class":
        _collect_class(graph, path, name, node, (), items)


def _collect_class(
    graph: Graph, path: str, prefix: str, cls: int, outer: tuple[int, ...], items: dict[str, TestItem]
) -> None:
    """Collect a class found under the name ``prefix.rpartition("::")[2]`` (pytest matches that name)."""
    scope = graph.node_scope[cls]
    _, _, is_unittest = graph.class_info(cls)
    name = prefix.rpartition("::")[2]
    prefix = f"{path}::{prefix}"
    if scope.not_a_test:
        return
    mro = [cls, *graph.ancestors(cls)]
    if not is_unittest:
        if not graph.config.is_test_class(name) or _defined(graph, mro, "__init__") or _defined(graph, mro, "__new__"):
            return
    chain = (*outer, cls)
    setups = tuple(n for c in chain for n in _defined_all(graph, [c, *graph.ancestors(c)], _XUNIT_CLASS))
    seen: set[str] = set()
    found = False
    run_test: int | None = None
    for klass in mro:
        for member, qualname in graph.node_scope[klass].members:
            if member in seen:
                continue
            seen.add(member)
            node = graph.node_of[(graph.node_path[klass], qualname)]
            kind = graph.node_scope[node].kind
            if kind == "method":
                wanted = member.startswith("test") if is_unittest else graph.config.is_test_function(member)
                if wanted:
                    nodeid = f"{prefix}::{member}"
                    items[nodeid] = TestItem(nodeid, path, node, (node, *chain, *setups), chain)
                    found = True
                elif is_unittest and member == "runTest":
                    run_test = node
            elif kind == "class" and not is_unittest:
                _collect_class(graph, path, f"{prefix.partition('::')[2]}::{member}", node, chain, items)
    if is_unittest and not found and run_test is not None:
        # A TestCase without test* methods: pytest collects its runTest (unittest's default method name).
        nodeid = f"{prefix}::runTest"
        items[nodeid] = TestItem(nodeid, path, run_test, (run_test, *chain, *setups), chain)


def unittest_roots(graph: Graph, cls: int) -> tuple[int, ...] | None:
    """What running a ``unittest.TestCase`` class's tests by unittest starts from (``loadTestsFromTestCase``,
    ``Case("test_x")``): the class, its ``test*`` and ``runTest`` methods and xunit fixtures at any depth of its
    bases, and its module's shared roots (unittest runs its ``setUpModule``); None if it is not a TestCase."""
    if not graph.class_info(cls)[2]:
        return None
    mro = [cls, *graph.ancestors(cls)]
    roots = [
        cls,
        *_defined_all(graph, mro, _XUNIT_CLASS),
        *shared_roots(graph, graph.node_path[cls], every_fixture=True),
    ]
    for klass in mro:
        for member, qualname in graph.node_scope[klass].members:
            if member.startswith("test") or member == "runTest":
                roots.append(graph.node_of[(graph.node_path[klass], qualname)])
    return tuple(dict.fromkeys(roots))


def _defined(graph: Graph, classes: list[int], name: str) -> bool:
    return any(member == name for c in classes for member, _ in graph.node_scope[c].members)


def _defined_all(graph: Graph, classes: list[int], names: frozenset[str]) -> list[int]:
    return [
        graph.node_of[(graph.node_path[c], q)]
        for c in classes
        for member, q in graph.node_scope[c].members
        if member in names
    ]


def shared_roots(graph: Graph, path: str, *, every_fixture: bool = False) -> list[int]:
    """The nodes every item of a test file starts from: module code, conftests, plugins, xunit, hooks.

    ``every_fixture``: every fixture the file's items can see too, for items whose fixtures are not resolved
    by name (doctests, which may ``getfixture`` any; unittest cases run by ``load_tests``)."""
    roots = [graph.module_node(path)]
    for conftest in conftests(graph, path):
        roots.extend(_pytest_nodes(graph, conftest, every_fixture))
        roots.extend(_plugin_nodes(graph, conftest, graph.facts[conftest].plugins, every_fixture))
    roots.extend(_plugin_nodes(graph, path, graph.facts[path].plugins, every_fixture))
    roots.extend(_plugin_nodes(graph, "", graph.config.plugins, every_fixture))
    if every_fixture:
        roots.extend(n for n in graph.named_fixtures if graph.node_path[n] == path)
    for scope in graph.facts[path].scopes:
        if (
            scope.kind == "function"
            and not scope.parent
            and (scope.name in _XUNIT_MODULE or scope.name.startswith("pytest_"))
        ):
            roots.append(graph.node_of[(path, scope.qualname)])
    return roots


def _plugin_nodes(graph: Graph, path: str, plugins: Iterable[str], every_fixture: bool) -> list[int]:
    out: list[int] = []
    for plugin in plugins:
        for key in graph.module_keys(path, 0, plugin):
            for file in graph.executed(key):
                out.extend(_pytest_nodes(graph, file, every_fixture))
    return out


def _pytest_nodes(graph: Graph, path: str, every_fixture: bool) -> list[int]:
    """What pytest runs of a conftest or plugin file for every test below it: its module code, its top-level
    names (``collect_ignore``...) and its ``pytest_*`` hooks — and its fixtures, unless they are resolved by name
    (:attr:`Graph.named_fixtures`). Other functions and classes run when those call them (the graph's edges). When no
    fixture is resolved by name (the tree registers plugins at run time, say), every node of the file."""
    scopes = graph.facts[path].scopes
    if not graph.fixtures_resolved or every_fixture:
        return [graph.node_of[(path, s.qualname)] for s in scopes]
    return [
        graph.node_of[(path, s.qualname)]
        for s in scopes
        if s.kind not in ("function", "method", "class") or (not s.parent and s.name.startswith("pytest_"))
    ]


def conftests(graph: Graph, path: str) -> list[str]:
    """The conftest.py files pytest loads for a test file: in its directory and every ancestor."""
    out: list[str] = []
    directory = posixpath.dirname(path)
    while True:
        candidate = f"{directory}/conftest.py" if directory else "conftest.py"
        if candidate in graph.facts:
            out.append(candidate)
        if not directory:
            break
        directory = posixpath.dirname(directory)
    return out
