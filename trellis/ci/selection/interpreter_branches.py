"""Branches that cannot run on the jobs' interpreter: compatibility code for other versions and platforms.

A job's environment is a venv of the interpreter this process runs on
(:mod:`trellis.ci.execution.environments`), so a condition made only of what
that interpreter is — ``sys.version_info`` (compared, indexed, sliced,
``.major``/``.minor``), ``sys.platform``/``os.name``/``platform.system()``
(equality, ``in``, ``startswith``), ``sys.implementation.name``, ``six.PY2``/
``six.PY3`` — and of module constants assigned once from such conditions
(``PY2 = sys.version_info[0] == 2``; not ``DEBUG = False``), combined with
``not``/``and``/``or``, has one value in every job. :func:`prune` empties the
branch such a condition rules out (its body becomes ``pass``, its ``else``
nothing): what cannot run references, defines, imports and binds nothing.
The condition itself stays. (``if TYPE_CHECKING:`` is the extractor's own
rule: its imports still count as run.) So do the handlers of a ``try`` whose
body only imports from the standard library what this interpreter has, or
reads such an attribute, catching only ImportError/AttributeError
(``try: import tomllib`` / ``except ImportError: import tomli``, ``return
collections.OrderedDict`` / ``except AttributeError: from . import
ordered_dict``): the handler cannot run here, and is emptied.

Only certain names count: ``sys`` (``os``, ``platform``, ``six``) bound by
nothing but ``import sys`` (``as`` an alias) anywhere in the file, ``PY2``
by nothing but ``from six import PY2``, a constant by one top-level
assignment and nothing else; a file that may write namespaces (``globals()``,
``exec``, ``setattr`` on anything but ``self``) is left as it is. Any other term
leaves a condition unknown unless ``and``/``or`` decide without it (``False
and x`` is false whatever ``x``).

Tests may change what a condition reads (``monkeypatch.setattr(sys,
"platform", "win32")``, ``mock.patch("pkg.compat.WIN", True)``): :func:`prune`
returns the names its decisions read, and the index analyses a file again
unpruned when a file of the tree may set one of them (:func:`patched`), or
when the tree has a module of its own named ``six`` or ``platform`` (``MODULE``).
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import platform
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import ast_nodes
from .python_calls import dotted

__all__ = ["MODULE", "patched", "prune"]

# What the decisions relying on ``six`` or ``platform`` name (``module:six``): valid only when the import is the
# real module, not a module of the tree (``sys`` and ``os`` are loaded before any code of the tree runs).
MODULE = "module:"
_SHADOWABLE = frozenset({"six", "platform"})

_UNKNOWN: Any = object()

# module -> attribute chain -> what it is on this interpreter (read once: the process's own)
_FACTS: dict[str, dict[tuple[str, ...], Any]] = {
    "sys": {
        ("version_info",): tuple(sys.version_info),
        ("version_info", "major"): sys.version_info.major,
        ("version_info", "minor"): sys.version_info.minor,
        ("version_info", "micro"): sys.version_info.micro,
        ("platform",): sys.platform,
        ("implementation", "name"): sys.implementation.name,
    },
    "os": {("name",): os.name},
    "six": {("PY2",): sys.version_info[0] == 2, ("PY3",): sys.version_info[0] == 3},
}
_CALLS: dict[tuple[str, str], Any] = {("platform", "system"): platform.system()}
_STR_METHODS = frozenset({"startswith", "endswith"})
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def prune(tree: ast.Module) -> tuple[str, ...]:
    """Empty, in place, every branch of ``tree`` that cannot run on this interpreter; the names the decisions
    read (``platform``, ``version_info``, a constant's name), for :func:`patched` (none when nothing changed)."""
    # One walk serves every pass: emptying a branch below does not change which nodes ``ast.walk`` yields (it
    # queues a node's children before yielding the node).
    nodes = list(ast_nodes.walk(tree))
    relied: dict[str, None] = {}
    decides = _may_decide(nodes)
    bindings = _bindings(nodes) if decides or any(isinstance(node, ast.Try) for node in nodes) else {}
    if bindings:
        for node in nodes:
            if isinstance(node, ast.Try) and node.handlers and all(map(_catches_missing, node.handlers)):
                read = _present(node.body, bindings if decides else {})
                if read:
                    relied.update(dict.fromkeys(read))
                    for handler in node.handlers:
                        handler.body = [ast.copy_location(ast.Pass(), handler.body[0])]
    if not decides:
        return tuple(relied)
    evaluator = _Evaluator(tree, bindings)
    if not evaluator.modules and not evaluator.constants and not evaluator.imported:
        return tuple(relied)
    for node in nodes:
        if not isinstance(node, ast.If):
            continue
        evaluator.read = []
        value = evaluator.truth(node.test)
        if value is None:
            continue
        relied.update(dict.fromkeys(evaluator.read))
        if value:
            node.orelse = []
        else:
            node.body = [ast.copy_location(ast.Pass(), node.body[0])]
    return tuple(relied)


_MISSING = frozenset({"ImportError", "ModuleNotFoundError", "AttributeError"})


def _catches_missing(handler: ast.ExceptHandler) -> bool:
    """Does the handler catch only what a missing module or attribute raises?"""
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return all(isinstance(c, ast.Name) and c.id in _MISSING for c in caught)


def _loaded_stdlib(module: str) -> Any:
    """The standard library's module of that name, when this process has imported it (else None: importing one
    here to look may run code, ``this`` prints)."""
    if module.partition(".")[0] not in sys.stdlib_module_names:
        return None
    return sys.modules.get(module)


@functools.cache
def _stdlib_has(module: str) -> bool:
    """Does this interpreter's standard library have the top-level module (found, not imported)?"""
    return "." not in module and module in sys.stdlib_module_names and importlib.util.find_spec(module) is not None


def _present(body: list[ast.stmt], bindings: Mapping[str, list[tuple[str, str]]]) -> list[str]:
    """When ``body`` only imports from the standard library what this interpreter has (``from math import
    sumprod``, ``import tomllib``) or reads such an attribute of a module only ``import`` binds (``return
    collections.OrderedDict``), so that it cannot raise ImportError or AttributeError here: the names that
    decided it (a test may take the module away, ``sys.modules["tomllib"] = None``: :func:`patched`; a module of
    the tree may shadow it: ``MODULE``). Else nothing."""
    read: list[str] = []
    for stmt in body:
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if _loaded_stdlib(alias.name) is None and not _stdlib_has(alias.name):
                    return []
                read.extend([*alias.name.split("."), MODULE + alias.name.partition(".")[0]])
        elif isinstance(stmt, ast.ImportFrom):
            module = _loaded_stdlib(stmt.module or "") if not stmt.level else None
            if module is None or any(a.name == "*" or not hasattr(module, a.name) for a in stmt.names):
                return []
            read.extend([*(stmt.module or "").split("."), MODULE + (stmt.module or "").partition(".")[0]])
            read.extend(a.name for a in stmt.names)
        elif isinstance(stmt, (ast.Return, ast.Assign, ast.Expr)) and (
            not isinstance(stmt, ast.Assign) or all(isinstance(t, ast.Name) for t in stmt.targets)
        ):
            chain = dotted(stmt.value) if stmt.value is not None else None
            kinds = bindings.get(chain[0], []) if chain else []
            modules = {k[1] for k in kinds}
            if not chain or len(chain) < 2 or not kinds or any(k[0] != "import" for k in kinds) or len(modules) != 1:
                return []
            value = _loaded_stdlib(next(iter(modules)))
            for attr in chain[1:]:
                value = getattr(value, attr, None) if value is not None else None
            if value is None:
                return []
            read.extend([*next(iter(modules)).split("."), MODULE + next(iter(modules)).partition(".")[0], *chain[1:]])
        else:
            return []
    return read


# A module's literal export list (``__all__ = ["OrderedDict", ...]``): its strings name the module's own exports and
# set nothing.
_EXPORTS = re.compile(rb"^__all__\s*\+?=\s*[\[(][^\[\]()]*[\])]", re.MULTILINE)


def patched(names: Iterable[str], sources: Iterable[bytes]) -> set[str]:
    """Which of ``names`` some file may set: named by a string constant (``setattr(sys, "platform", …)``,
    ``patch("pkg.compat.WIN")``; not in a literal ``__all__``) or assigned as an attribute (``sys.platform = …``)."""
    wanted = sorted(n for n in set(names) if n.isidentifier())
    if not wanted:
        return set()
    alternatives = "|".join(re.escape(n) for n in wanted)
    pattern = re.compile(
        rf"""[\"'](?:[\w.]*\.)?({alternatives})[\"']|\.({alternatives})\s*(?:=(?!=)|[-+*/|&]=)""".encode()
    )
    found: set[str] = set()
    for source in sources:
        for match in pattern.finditer(_EXPORTS.sub(b"", source)):
            found.add((match.group(1) or match.group(2)).decode())
        if len(found) == len(wanted):
            break
    return found


def _may_decide(nodes: list[ast.AST]) -> bool:
    """Can nothing but its bindings rebind the file's names? Not with ``import *``, ``globals()``, ``exec``, a frame's
    variables, or ``setattr``/``vars``/``__dict__`` on anything but ``self``/``cls`` (an instance, a class)."""
    own: set[int] = set()  # the ``setattr`` of ``setattr(self, …)``, the ``self`` of ``self.__dict__``
    for node in nodes:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _OBJECT_WRITES
            and node.args
            and _instance(node.args[0])
        ):
            own.add(id(node.func))
        if isinstance(node, ast.Attribute) and node.attr == "__dict__" and _instance(node.value):
            own.add(id(node))
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return False  # binds names this file does not list
        if isinstance(node, ast.Name) and (
            node.id in ("exec", "eval", "globals", "locals") or node.id in _OBJECT_WRITES and id(node) not in own
        ):
            return False
        if isinstance(node, ast.Attribute) and (
            node.attr in ("f_globals", "f_locals") or node.attr == "__dict__" and id(node) not in own
        ):
            return False
    return True


_OBJECT_WRITES = frozenset({"setattr", "delattr", "vars"})


def _instance(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


class _Evaluator:
    def __init__(self, tree: ast.Module, bindings: Mapping[str, list[tuple[str, str]]]) -> None:
        # A name bound only by ``import sys`` (``import sys as s``) in the whole file is the module.
        self.modules: dict[str, str] = {}
        self.imported: dict[str, tuple[str, str]] = {}
        for name, kinds in bindings.items():
            modules = {k[1] for k in kinds if k[0] == "import"}
            if len(modules) == 1 and all(k[0] == "import" for k in kinds):
                module = next(iter(modules))
                if module in _FACTS or module == "platform":
                    self.modules[name] = module
            # ``from sys import version_info``, ``from six import PY2``: the fact itself
            if len(kinds) == 1 and kinds[0][0] == "from":
                module, _, attr = kinds[0][1].rpartition(".")
                if (attr,) in _FACTS.get(module, {}):
                    self.imported[name] = (module, attr)
        self.read: list[str] = []
        self.constants: dict[str, Any] = {}
        self.constant_reads: dict[str, list[str]] = {}
        for stmt in tree.body:
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and len(bindings.get(stmt.targets[0].id, ())) == 1
            ):
                self.read = []
                value = self.value(stmt.value)
                if value is not _UNKNOWN and self.read and isinstance(value, (bool, int, str, tuple)):
                    self.constants[stmt.targets[0].id] = value
                    self.constant_reads[stmt.targets[0].id] = self.read
        self.read = []

    def truth(self, test: ast.expr) -> bool | None:
        """``test``'s truth on this interpreter, None when unknown."""
        if isinstance(test, ast.BoolOp):
            # ``or``: true when any term is (an earlier truthy one is the result, else that term is); false when
            # every term is. ``and`` the other way round. (A term that raises runs neither branch.)
            values = [self.truth(v) for v in test.values]
            decisive = isinstance(test.op, ast.Or)
            if decisive in values:
                return decisive
            return None if None in values else not decisive
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.truth(test.operand)
            return None if inner is None else not inner
        value = self.value(test)
        if value is _UNKNOWN:
            return None
        try:
            return bool(value)
        except Exception:
            return None

    def value(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, str, bool, type(None))):
            return node.value
        if isinstance(node, ast.Tuple):
            items = [self.value(e) for e in node.elts]
            return _UNKNOWN if any(i is _UNKNOWN for i in items) else tuple(items)
        if isinstance(node, ast.Name):
            if node.id in self.imported:
                module, attr = self.imported[node.id]
                self.read.extend([attr, *((MODULE + module,) if module in _SHADOWABLE else ())])
                return _FACTS[module][(attr,)]
            if node.id in self.constants:
                self.read.extend([node.id, *self.constant_reads[node.id]])
                return self.constants[node.id]
            return _UNKNOWN
        if isinstance(node, ast.Attribute):
            chain = dotted(node)
            if chain is None or chain[0] not in self.modules:
                return _UNKNOWN
            facts = _FACTS.get(self.modules[chain[0]], {})
            attrs = tuple(chain[1:])
            if attrs not in facts:
                return _UNKNOWN
            module = self.modules[chain[0]]
            self.read.extend([attrs[0], *((MODULE + module,) if module in _SHADOWABLE else ())])
            return facts[attrs]
        if isinstance(node, ast.Subscript):
            target = self.value(node.value)
            if not isinstance(target, tuple):
                return _UNKNOWN
            index = node.slice
            try:
                if isinstance(index, ast.Slice):
                    parts = [None if p is None else self.value(p) for p in (index.lower, index.upper, index.step)]
                    if any(p is _UNKNOWN or not isinstance(p, (int, type(None))) for p in parts):
                        return _UNKNOWN
                    return target[slice(*parts)]
                at = self.value(index)
                return target[at] if isinstance(at, int) and not isinstance(at, bool) else _UNKNOWN
            except (IndexError, ValueError):
                return _UNKNOWN
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            if left is _UNKNOWN:
                return _UNKNOWN
            result: Any = True
            for op, right_node in zip(node.ops, node.comparators):
                right = self.value(right_node)
                compare = _COMPARE.get(type(op))
                if right is _UNKNOWN or compare is None:
                    return _UNKNOWN
                try:
                    result = compare(left, right)
                except TypeError:
                    return _UNKNOWN
                if not result:
                    return False
                left = right
            return result
        if isinstance(node, ast.Call) and not node.keywords:
            if isinstance(node.func, ast.Attribute) and node.func.attr in _STR_METHODS:
                subject = self.value(node.func.value)
                args = [self.value(a) for a in node.args]
                if (
                    isinstance(subject, str)
                    and len(args) == 1
                    and (
                        isinstance(args[0], str)
                        or isinstance(args[0], tuple)
                        and all(isinstance(a, str) for a in args[0])
                    )
                ):
                    return getattr(subject, node.func.attr)(args[0])
                return _UNKNOWN
            chain = dotted(node.func)
            if chain is not None and len(chain) == 2 and not node.args and self.modules.get(chain[0]) == "platform":
                key = ("platform", chain[1])
                if key in _CALLS:
                    self.read.extend([chain[1], MODULE + "platform"])
                    return _CALLS[key]
            return _UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            truth = self.truth(node.operand)
            return _UNKNOWN if truth is None else not truth
        if isinstance(node, ast.BoolOp):  # one of its operands: known when every operand is
            operands = [self.value(v) for v in node.values]
            if any(o is _UNKNOWN for o in operands):
                return _UNKNOWN
            result = operands[0]
            for operand in operands[1:]:
                if bool(result) is isinstance(node.op, ast.Or):
                    break
                result = operand
            return result
        return _UNKNOWN


def _bindings(nodes: list[ast.AST]) -> Mapping[str, list[tuple[str, str]]]:
    """Every binding of every name anywhere in the file: ``("import", module)`` for ``import module [as
    name]``, ``("from", "module.name")`` for ``from module import name``, ``("other", "")`` for anything else (an assignment, a parameter, ``from m import name``, …)."""
    found: dict[str, list[tuple[str, str]]] = {}

    def add(name: str | None, kind: tuple[str, str] = ("other", "")) -> None:
        if name:
            found.setdefault(name, []).append(kind)

    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    add(alias.asname, ("import", alias.name))
                else:
                    name = alias.name.partition(".")[0]
                    add(name, ("import", name) if name == alias.name else ("other", ""))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                kind = ("from", f"{node.module}.{alias.name}") if not node.level and node.module else ("other", "")
                add(alias.asname or alias.name, kind)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            add(node.id)
        elif isinstance(node, ast.arg):
            add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                add(name)
        elif isinstance(node, ast.ExceptHandler):
            add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)):
            add(node.name)
        elif isinstance(node, ast.MatchMapping):
            add(node.rest)
    return found
