"""A pytest plugin recording, per test, the functions of the tree that it entered (issue 17; measurement only).

Loaded with ``PYTHONPATH=benchmarks -p entered_probe`` in a project's checkout; ``ENTERED_PROBE_OUT`` names the
JSON file it writes at the end of the session; ``ENTERED_PROBE_ROOT`` the tree (default: the working directory).
Nothing in Trellis uses it: ``entered_check.py`` runs it to measure what narrowing selection by observed
execution would give, and what it costs.

**Probes.** Every module of the tree other than pytest's own (test modules and ``conftest.py``, which pytest's
assertion rewriter compiles) is compiled by this plugin's import hook with one statement first in each
function body, after its docstring: ``__trellis_hits__[N] = 1`` (``N`` the function's number, the list in
``builtins``: one specialised list store, ~10 ns), with the location of the body's first statement, so line
numbers, tracebacks, ``inspect.getsource`` and the docstring stay as they were. A lambda's body and a generator
expression's lazily run parts (its element, its conditions, its inner iterables) become
``(__trellis_hits__.__setitem__(N, 1) or expr)``: they may run after the function that made them returned.
A generator function's probe fires when it starts, not when it resumes: a generator resumed by a later test
is not seen there (such functions are left out of the narrowing, see ``entered_check.py``).

**Attribution.** What runs outside any test (collection, imports, session hooks) counts for every test
(``outside``); what runs while a fixture wider than a function is set up counts for every test using that
fixture, wherever in the session the setup ran. Code run by another thread counts for the test running at
that moment.

``ENTERED_PROBE_COUNT=1`` makes each probe count entries instead (``+= 1``), to know how many probes a suite
runs (``entries``): the cost is that number times a probe's cost.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import sys
import time
from collections.abc import Iterator
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType
from typing import Any

import pytest

ROOT = os.path.realpath(os.environ.get("ENTERED_PROBE_ROOT", os.getcwd())) + os.sep
COUNT = bool(os.environ.get("ENTERED_PROBE_COUNT"))
HITS: list[int] = []
NAMES: list[str] = []
_SECONDS = {"compile": 0.0, "record": 0.0, "find": 0.0}


def _is_pytests(name: str) -> bool:
    return name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def _located(node: ast.AST, at: ast.stmt | ast.expr) -> None:
    """Give ``node`` and what it holds the start of ``at`` (no line of its own)."""
    for sub in ast.walk(node):
        sub.lineno = sub.end_lineno = at.lineno  # type: ignore[attr-defined]
        sub.col_offset = sub.end_col_offset = at.col_offset  # type: ignore[attr-defined]


class _Probes(ast.NodeTransformer):
    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.stack: list[str] = []

    def _register(self, name: str) -> int:
        NAMES.append(f"{self.rel}::{'.'.join([*self.stack, name])}")
        HITS.append(0)
        return len(NAMES) - 1

    def _wrap(self, ident: int, expr: ast.expr) -> ast.expr:
        call = ast.Call(
            func=ast.Attribute(value=ast.Name("__trellis_hits__", ast.Load()), attr="__setitem__", ctx=ast.Load()),
            args=[ast.Constant(ident), ast.Constant(1)],
            keywords=[],
        )
        _located(call, expr)
        return ast.copy_location(ast.BoolOp(op=ast.Or(), values=[call, expr]), expr)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()
        return node

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self.stack += [node.name, "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]
        ident = self._register(node.name)
        body = node.body
        first = body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        at = 1 if docstring and isinstance(first.value.value, str) else 0  # type: ignore[attr-defined]
        anchor = body[min(at, len(body) - 1)]
        target = ast.Subscript(
            value=ast.Name("__trellis_hits__", ast.Load()), slice=ast.Constant(ident), ctx=ast.Store()
        )
        probe: ast.stmt
        if COUNT:
            probe = ast.AugAssign(target=target, op=ast.Add(), value=ast.Constant(1))
        else:
            probe = ast.Assign(targets=[target], value=ast.Constant(1))
        _located(probe, anchor)
        body.insert(at, probe)
        return node

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.stack += ["<lambda>", "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]
        node.body = self._wrap(self._register("<lambda>"), node.body)
        return node

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> ast.AST:
        self.stack += ["<genexpr>", "<locals>"]
        self.generic_visit(node)
        del self.stack[-2:]
        ident = self._register("<genexpr>")
        node.elt = self._wrap(ident, node.elt)
        for i, generator in enumerate(node.generators):
            if i:
                generator.iter = self._wrap(ident, generator.iter)
            generator.ifs = [self._wrap(ident, cond) for cond in generator.ifs]
        return node


def instrument(source: bytes | str, path: str, rel: str) -> CodeType:
    """The module's code with a probe in every function (``rel``: the file's name in the records)."""
    tree = ast.parse(source, filename=path)
    _Probes(rel).visit(tree)
    return compile(tree, path, "exec", dont_inherit=True)


class _Loader(SourceFileLoader):
    def get_code(self, fullname: str) -> CodeType:  # never the plain pyc: always our compilation
        path = self.get_filename(fullname)
        start = time.process_time()
        code = instrument(self.get_data(path), path, os.path.realpath(path)[len(ROOT) :])
        _SECONDS["compile"] += time.process_time() - start
        return code


class _Finder:
    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        start = time.process_time()
        try:
            spec = PathFinder.find_spec(name, path, target)
            if spec is None or not isinstance(spec.loader, SourceFileLoader) or not spec.origin:
                return None  # the finders after this one decide (pytest's assertion rewriter among them)
            origin = os.path.realpath(spec.origin)
            if not origin.startswith(ROOT) or _is_pytests(os.path.basename(origin)):
                return None
            spec.loader = _Loader(spec.loader.name, spec.loader.path)
            return spec
        finally:
            _SECONDS["find"] += time.process_time() - start


if __name__ != "__main__":
    builtins.__trellis_hits__ = HITS  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _Finder)  # type: ignore[arg-type]


def _drain() -> set[int]:
    """The functions entered since the last drain (their marks cleared)."""
    if COUNT:
        return set()
    found: set[int] = set()
    index = HITS.index
    i = -1
    try:
        while True:
            i = index(1, i + 1)
            found.add(i)
            HITS[i] = 0
    except ValueError:
        return found


_outside: set[int] = set()
_current: set[int] = set()
_fixtures: dict[int, set[int]] = {}
_tests: dict[str, set[int]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    if fixturedef.scope == "function":
        yield
        return
    _current.update(_drain())
    yield
    mine = _drain()
    _fixtures.setdefault(id(fixturedef), set()).update(mine)
    _current.update(mine)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Iterator[None]:
    start = time.process_time()
    _outside.update(_drain())
    _current.clear()
    _SECONDS["record"] += time.process_time() - start
    yield
    start = time.process_time()
    found = _current | _drain()
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for fixturedef in defs:
            found |= _fixtures.get(id(fixturedef), set())
    _tests[item.nodeid] = found
    _SECONDS["record"] += time.process_time() - start


def pytest_sessionfinish(session: Any) -> None:
    _outside.update(_drain())
    out = os.environ.get("ENTERED_PROBE_OUT", "")
    if not out:
        return
    with open(out, "w") as fh:
        json.dump(
            {
                "functions": len(NAMES),
                "outside": sorted(NAMES[i] for i in _outside),
                "tests": {t: sorted(NAMES[i] for i in s) for t, s in _tests.items()},
                "compile_s": round(_SECONDS["compile"], 4),
                "record_s": round(_SECONDS["record"], 4),
                "find_s": round(_SECONDS["find"], 4),
                "entries": sum(HITS) if COUNT else None,
            },
            fh,
        )
