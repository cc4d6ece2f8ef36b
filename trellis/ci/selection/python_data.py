"""Python files read as data: ``.py`` files that pytest never imports and that no code of the tree imports.

A checker's or a parser's cases are often Python files kept in a directory pytest does not enter
(``norecursedirs``): parso's ``test/normalizer_issue_files/*.py``, which its root conftest lists with
``os.listdir`` and ``f.endswith(".py")`` and each test opens; some of them do not parse, on purpose (``E10.py``:
tabs and spaces mixed). Such a file is code to nobody: pytest does not collect it, and no import reaches it. So

* one that does not parse breaks no collection (it is no ``parse-error`` for every commit), and
* a change to one, parsing or not, is a change to a data file: it counts for the tests reaching the code that
  names it (its name, a directory of it, an extension: :meth:`TestIndex._data_readers`).

What pytest imports: every conftest, the test modules, with ``--doctest-modules`` every module in a directory it
collects from, the paths a stage's arguments name, the plugins (``-p``, ``pytest_plugins``) and the installed
project's entry points it states (one it does not state, a ``pytest11`` plugin say, is no data file: a
module of those that does not parse would fail the project's own command, and a change to one that parses
selects what it did before, plus the tests naming it); then what those import, at any depth and from any scope (:meth:`Graph.file_closure`,
which counts a computed import as one of any module), and the packages above them. A file that does not parse is
not in the graph: it counts as imported when an import, a dotted string or a module run anywhere in the tree
spells its name (or any computed import is there), which over-counts, as it should.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from .pytest_config import doctest_modules, in_paths, positional_paths
from .python_refs import ImportRef
from .ref_graph import Graph

__all__ = ["python_data_files"]


def python_data_files(graph: Graph, errors: Mapping[str, str], args: Sequence[str], reached: int) -> frozenset[str]:
    """The ``.py`` files of the tree (``graph.paths`` and those of ``errors``, which do not parse) that neither
    pytest's collection nor any code of the tree imports; ``reached``: the nodes some test reaches (bits)."""
    config = graph.config
    if reached & graph.dyn_bit:  # a test may run any code, which may import any module
        return frozenset()
    # A function no test reaches never runs in the session: its computed import (``__import__(debugger)`` in a
    # script's ``main``) imports nothing. Module and class bodies run on import, reached or not (pytest imports
    # the modules it collects doctests from, examples or none).
    idle = {
        node
        for node, scope in enumerate(graph.node_scope)
        if scope.refs.computed and scope.kind in ("function", "method") and not reached >> node & 1
    }
    closures = graph.file_closures_running(idle)
    doctests = config.doctest_modules or doctest_modules(args)
    scope = positional_paths(args, [*graph.paths, *errors])

    def collected(path: str) -> bool:
        return config.imports_at_collection(path, doctests) or (bool(scope) and in_paths(path, scope))

    roots = [path for path in graph.paths if collected(path)]
    plugins = [*config.plugins, *(p for path in graph.paths for p in graph.facts[path].plugins)]
    plugins += [text.partition(":")[0] for _, text in config.entry_points or ()]
    for plugin in plugins:
        roots.extend(graph.import_files("", ImportRef(0, plugin)))
    for root in list(roots):  # pytest imports a test module's packages first
        directory = posixpath.dirname(root)
        while directory:
            if f"{directory}/__init__.py" in graph.facts:
                roots.append(f"{directory}/__init__.py")
            directory = posixpath.dirname(directory)
    code = 0
    for root in roots:
        code |= closures[graph.file_index[root]]
    data = {path for path in graph.paths if not code >> graph.file_index[path] & 1}
    spelled = _spelled_modules(graph, idle)
    for path in errors:
        if path.endswith(".py") and not collected(path) and _stem(path) not in spelled and "*" not in spelled:
            data.add(path)
    return frozenset(data)


def _stem(path: str) -> str:
    """The last part of the module name of ``path`` (its package's, for an ``__init__.py``)."""
    stem = posixpath.basename(path)[: -len(".py")]
    return posixpath.basename(posixpath.dirname(path)) if stem == "__init__" else stem


def _spelled_modules(graph: Graph, idle: AbstractSet[int]) -> set[str]:
    """Every part of every dotted name an import, a dotted string or a module run spells in the tree (``"*"``
    for a computed import, but those of the nodes ``idle``, which never run)."""
    out: set[str] = set()
    quiet = {graph.node_path[node] for node in idle}
    for path, facts in graph.facts.items():
        refs: Iterable[ImportRef] = (*facts.file_imports, *facts.star_imports)
        for ref in refs:
            if ref.module == "*" and path in quiet and _all_idle(graph, path, idle):
                continue
            out.update(ref.module.split("."))
            if ref.name:
                out.add(ref.name)
        for text in (*facts.file_strings, *facts.file_runs, *facts.plugins):
            out.update(text.split("."))
    return out


def _all_idle(graph: Graph, path: str, idle: AbstractSet[int]) -> bool:
    """Are the computed imports of ``path`` all in nodes of ``idle``?"""
    return all(
        graph.node_of[(path, scope.qualname)] in idle for scope in graph.facts[path].scopes if scope.refs.computed
    )
