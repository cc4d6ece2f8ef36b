"""What a function does with the values its parameters are given: does it keep a function it is handed?

A decorator of the tree applied at module level (``@retry(stop=stop_after_attempt(3))`` over a helper of a test
module) ran, for the analysis, code that may call the decorated function or register it where other code calls
it: the module's code, and so every importer of the module, reached the function (funcy's ``@decorator``,
tenacity's ``@retry``). Most decorators only wrap: they read the function's attributes, ask predicates of it,
keep it in closures and return a wrapper. This module reads, for each function of the tree, whether one of its
parameters **stays kept**: while the call runs, the value it holds is

- never called (nor anything read from it: ``f.__call__()``), awaited, iterated, entered or raised;
- never stored but in the function's own locals, in attributes of what it keeps (``wrapper.retry_with =
  helper``), in closures of nested functions that the call does not run (``def wrapped(*a): return f(*a)``), in
  values it returns;
- handed only to calls known to read it alone (``isinstance``, ``callable``, ``getattr``, ``inspect.is*``,
  ``functools.wraps``...), or to a callee of the tree (:class:`Handoff`), whose own parameter the graph checks
  in turn (``r.wraps(f)``, ``_utils.is_coroutine_callable(f)``, ``retry()(f)``).

A nested function closing over such a value is kept the same way (it holds the value): returned, decorated
only by inert decorators, stored in an attribute of another kept value; never called while the call runs. A
decorator whose parameter stays kept hands the function to nothing that calls it except through the value it
returns — bound to the function's name, so only the references to that name (the tests calling it) reach it.
Anything else — a comprehension over it, a keyword argument, ``locals()``, a ``global`` — keeps nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trellis.ci.selection.python_calls import inert_decorator

if TYPE_CHECKING:
    from trellis.ci.selection.python_refs import Chain

__all__ = ["RETURNS_ARGUMENT", "Handoff", "Kept", "function_kept", "merge_kept"]

# Calls that read what they are given and neither call it nor keep it past the call (by the dotted name the file's
# imports give them). ``functools.wraps(f)`` keeps ``f`` in the decorator it returns, which stores it as the
# wrapper's ``__wrapped__``: a value of the wrapper, kept as the wrapper is.
_READERS = frozenset(
    {
        "callable",
        "isinstance",
        "issubclass",
        "hasattr",
        "getattr",
        "len",
        "type",
        "id",
        "repr",
        "str",
        "bool",
        "inspect.isclass",
        "inspect.isfunction",
        "inspect.ismethod",
        "inspect.isroutine",
        "inspect.isbuiltin",
        "inspect.iscoroutinefunction",
        "inspect.isgeneratorfunction",
        "inspect.isasyncgenfunction",
        "inspect.iscoroutine",
        "inspect.isawaitable",
        "inspect.unwrap",
        "inspect.signature",
        "asyncio.iscoroutinefunction",
        "asyncio.coroutines.iscoroutinefunction",
        "functools.wraps",
        "functools.update_wrapper",
        "typing.cast",
        # Test dependencies' own predicates over callables (attribute reads): tornado's coroutine check.
        "tornado.gen.is_coroutine_function",
    }
)
# Of those, the ones returning (a part of) their argument at this place: ``getattr(f, "x")``, ``cast(T, f)``.
_PASSES = {"getattr": 0, "typing.cast": 1, "inspect.unwrap": 0, "functools.update_wrapper": 0}
# Attributes of a function that are data: what they hold calls nothing of it (``SEEN.add(f.__code__)``).
_DATA_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__", "__code__", "__annotations__"})
# Calls that store the function they are given (the second argument on) on their first argument: ``wrapper``
# holds ``wrapped`` as its ``__wrapped__`` from then on; ``functools.wraps(f)`` returns such a call's partial.
_WRAPPERS = frozenset({"functools.update_wrapper"})
_WRAPS = "functools.wraps"
# Calls that hand out the local namespace (and so every local value).
_NAMESPACE = frozenset({"locals", "vars", "dir"})


RETURNS_ARGUMENT = "<argument>"  # in ``Kept.returned``: the ``return`` gives back the first positional argument


@dataclass(frozen=True, slots=True)
class Handoff:
    """A call of the tree a kept value is given to: ``callee`` (its readings, resolved by the graph), the value's
    ``position`` among the call's positional arguments; ``result_of`` >= 0: the callee is what calling ``callee``
    with that many positional arguments returns (``retry()(f)``: 0)."""

    callee: tuple[Chain, ...]
    position: int
    result_of: int = -1


@dataclass(frozen=True, slots=True)
class Kept:
    """For one function: for each positional parameter (a method's first included), None when the value it is
    given may be called or kept, else the calls of the tree it is handed to (each must keep it too); ``star``:
    the same for the values ``*args`` collects. ``returned``: for each ``return`` of the body, the local
    qualname of the nested function it returns by name (:data:`RETURNS_ARGUMENT` for its first positional
    parameter itself, "" for any other value) and whether it is guarded by
    a test that needs positional arguments (``if len(args) == 1 and callable(args[0]): return ...``: a call with
    keyword arguments alone never takes it). ``method``: the first parameter is the instance or the class.
    ``stub``: an ``@overload`` stub, which the definition after it replaces (merged away, see :func:`merge_kept`)."""

    params: tuple[tuple[Handoff, ...] | None, ...] = ()
    star: tuple[Handoff, ...] | None = None
    returned: tuple[tuple[str, bool], ...] = ()
    method: bool = False
    stub: bool = False


def merge_kept(a: Kept | None, b: Kept | None) -> Kept | None:
    """The facts of two definitions of one name (``if``/``else`` alternatives): what holds for both; an
    ``@overload`` stub gives way to the definition it announces."""
    if a is not None and a.stub:
        return b
    if a is None and b is not None and b.stub:
        return None
    if b is not None and b.stub:
        return a
    if a is None or b is None or a.method != b.method or len(a.params) != len(b.params):
        return None
    params = tuple(
        None if x is None or y is None else tuple(dict.fromkeys(x + y)) for x, y in zip(a.params, b.params, strict=True)
    )
    star = None if a.star is None or b.star is None else tuple(dict.fromkeys(a.star + b.star))
    return Kept(params, star, a.returned + b.returned, a.method)


class _Fail(Exception):
    pass


Chains = Callable[[ast.expr], "list[Chain] | None"]
Names = Callable[[ast.AST], str]
_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def function_kept(
    node: _FunctionNode, qualname: str, method: bool, chains: Chains, names: Names, *, stub: bool = False
) -> Kept:
    """The :class:`Kept` facts of ``node``; ``chains`` gives a callee expression's readings in its scope (None when
    it has none the graph can resolve), ``names`` its dotted name through the file's imports ("" if none)."""
    if stub:
        return Kept(stub=True)
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    try:
        params = tuple(_flow(node, a.arg, chains, names) if i < 4 else None for i, a in enumerate(positional))
        star = _flow(node, args.vararg.arg, chains, names) if args.vararg is not None else None
        returned = _returned(node, qualname)
    except RecursionError:  # nested too deeply: keeps nothing
        return Kept(tuple(None for _ in positional), None, (), method)
    return Kept(params, star, returned, method)


def _flow(node: _FunctionNode, name: str, chains: Chains, names: Names) -> tuple[Handoff, ...] | None:
    if not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node)):
        return ()
    flow = _Flow({name}, chains, names)
    try:
        for _ in range(4):
            before = set(flow.tainted)
            flow.handoffs = []
            flow.block(node.body)
            if flow.tainted == before:
                return tuple(dict.fromkeys(flow.handoffs))
    except _Fail:
        return None
    return None


class _Flow:
    def __init__(self, tainted: set[str], chains: Chains, names: Names) -> None:
        self.tainted = tainted
        self.chains = chains
        self.names = names
        self.handoffs: list[Handoff] = []
        self.declared: set[str] = set()

    def mentions(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in self.tainted for n in ast.walk(node))

    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.stmt(stmt)

    def bind(self, target: ast.expr, tainted: bool) -> None:
        if isinstance(target, ast.Name):
            if tainted:
                if target.id in self.declared:
                    raise _Fail  # a global or nonlocal name: kept beyond the call
                self.tainted.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind(elt, tainted)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, tainted)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            base = self.expr(target.value)
            if isinstance(target, ast.Subscript):
                self.expr(target.slice)
            if tainted and not base:
                raise _Fail  # stored into an object it does not keep: self.x = f, REGISTRY[k] = f
        else:
            raise _Fail

    def stmt(self, stmt: ast.stmt) -> None:  # noqa: C901 - one case per statement kind
        if isinstance(stmt, ast.Expr):
            self.expr(stmt.value)
        elif isinstance(stmt, ast.Assign):
            value = self.expr(stmt.value)
            for target in stmt.targets:
                self.bind(target, value)
        elif isinstance(stmt, ast.AnnAssign):
            if stmt.value is not None:
                self.bind(stmt.target, self.expr(stmt.value))
        elif isinstance(stmt, ast.AugAssign):
            if self.expr(stmt.value) or self.mentions(stmt.target):
                raise _Fail
        elif isinstance(stmt, ast.Return):
            if stmt.value is not None:
                self.expr(stmt.value)
        elif isinstance(stmt, (ast.If, ast.While)):
            branch: ast.If | ast.While = stmt
            while True:  # an ``elif`` chain in a loop, not a recursion per ``elif``
                self.expr(branch.test)
                self.block(branch.body)
                if isinstance(branch, ast.If) and len(branch.orelse) == 1 and isinstance(branch.orelse[0], ast.If):
                    branch = branch.orelse[0]
                    continue
                self.block(branch.orelse)
                break
        elif isinstance(stmt, ast.For):
            self.bind(stmt.target, self.expr(stmt.iter))
            self.block(stmt.body)
            self.block(stmt.orelse)
        elif isinstance(stmt, ast.With):
            for item in stmt.items:
                if self.expr(item.context_expr):
                    raise _Fail
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, False)
            self.block(stmt.body)
        elif isinstance(stmt, ast.Try):
            self.block(stmt.body)
            for handler in stmt.handlers:
                if handler.type is not None:
                    self.expr(handler.type)
                self.block(handler.body)
            self.block(stmt.orelse)
            self.block(stmt.finalbody)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.nested(stmt)
        elif isinstance(stmt, (ast.Global, ast.Nonlocal)):
            self.declared.update(stmt.names)
            if self.tainted.intersection(stmt.names):
                raise _Fail
        elif isinstance(stmt, ast.Assert):
            self.expr(stmt.test)
            if stmt.msg is not None:
                self.expr(stmt.msg)
        elif isinstance(stmt, (ast.Pass, ast.Break, ast.Continue, ast.Import, ast.ImportFrom, ast.Delete)):
            pass
        elif self.mentions(stmt):  # raise, async loops and blocks, match, a class statement: not read here
            raise _Fail

    def nested(self, stmt: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """A function defined by the body: what its ``def`` runs is the body's; its own body runs later, when
        whoever holds it calls it. Closing over a kept value, it is kept (it holds the value)."""
        wraps = [
            isinstance(d, ast.Call) and self.names(d.func) == _WRAPS and any([self.expr(a) for a in d.args])
            for d in stmt.decorator_list
        ]  # @functools.wraps(f): the nested function holds f as its __wrapped__
        decorated = [self.expr(d) and not w for d, w in zip(stmt.decorator_list, wraps, strict=True)]
        defaults = [self.expr(d) for d in (*stmt.args.defaults, *(d for d in stmt.args.kw_defaults if d is not None))]
        if any(decorated):
            raise _Fail  # a decorator made of a kept value (@f): it is called with the nested function
        carrier = any(defaults) or any(wraps) or self.mentions(stmt)
        if carrier:
            for dec in stmt.decorator_list:
                if not inert_decorator(self.names(dec.func if isinstance(dec, ast.Call) else dec)):
                    raise _Fail
        self.bind(ast.Name(stmt.name, ast.Store()), carrier)

    def expr(self, node: ast.expr) -> bool:  # noqa: C901 - one case per expression kind
        """Evaluate ``node`` in the body: does its value hold a kept value? Raise when it may call or keep one."""
        if isinstance(node, ast.Name):
            return node.id in self.tainted
        if isinstance(node, ast.Constant):
            return False
        if isinstance(node, ast.Attribute):
            held = self.expr(node.value)
            return held and node.attr not in _DATA_ATTRS
        if isinstance(node, ast.Subscript):
            self.expr(node.slice)
            return self.expr(node.value)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.BoolOp):
            return any([self.expr(v) for v in node.values])
        if isinstance(node, ast.IfExp):
            self.expr(node.test)
            return any([self.expr(node.body), self.expr(node.orelse)])
        if isinstance(node, (ast.Compare, ast.BinOp, ast.UnaryOp, ast.JoinedStr, ast.FormattedValue)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)
            return False
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any([self.expr(e) for e in node.elts])
        if isinstance(node, ast.Dict):
            return any([self.expr(e) for e in (*node.keys, *node.values) if e is not None])
        if isinstance(node, ast.Starred):
            return self.expr(node.value)
        if isinstance(node, ast.Lambda):
            return self.mentions(node)
        if self.mentions(node):  # await, yield, a comprehension, a walrus: not read here
            raise _Fail
        return False

    def wrapper(self, target: ast.expr | None) -> bool:
        """A kept value stored on ``target`` (``update_wrapper(target, f)``, ``functools.wraps(f)(target)``): a
        name of the body's holds it from then on; a value made there (a lambda, a call's result) is the call's
        result; anything else (an attribute of another object, a global) keeps it beyond the call."""
        if target is None:
            raise _Fail
        if isinstance(target, ast.Name):
            if target.id in self.declared:
                raise _Fail
            self.bind(target, True)
        elif not isinstance(target, (ast.Lambda, ast.Call)):
            raise _Fail
        else:
            self.expr(target)
        return True

    def call(self, node: ast.Call) -> bool:
        func = node.func
        if isinstance(func, ast.Call) and self.names(func.func) == _WRAPS and not func.keywords:
            # functools.wraps(f)(wrapper): update_wrapper(wrapper, f)
            if any([self.expr(a) for a in func.args]):
                return self.wrapper(node.args[0] if len(node.args) == 1 and not node.keywords else None)
            return any([self.expr(a) for a in node.args])
        if self.expr(node.func):
            raise _Fail  # calls the value, or something read from it
        name = self.names(node.func)
        given = [self.expr(a) for a in node.args]
        keywords = [self.expr(k.value) for k in node.keywords]
        if name in _WRAPPERS and any(given[1:]) or name == _WRAPS and any(given):
            # stored on the wrapper (functools.wraps(f) alone: a decorator holding f, which stores it)
            return self.wrapper(node.args[0]) if name in _WRAPPERS else True
        if name in _NAMESPACE and self.tainted:
            raise _Fail
        if not any(given) and not any(keywords):
            return False
        if name in _READERS:
            place = _PASSES.get(name)
            return place is not None and place < len(given) and given[place]
        if any(keywords):
            raise _Fail
        starred = next((i for i, a in enumerate(node.args) if isinstance(a, ast.Starred)), len(node.args))
        if any(given[starred:]):
            raise _Fail  # handed on among *args: its place is unknown
        callee: ast.expr = node.func
        result_of = -1
        if isinstance(callee, ast.Call):  # retry()(f): what the call returns is called
            if any(isinstance(a, ast.Starred) for a in callee.args) or self.mentions(callee):
                raise _Fail
            result_of = len(callee.args)
            callee = callee.func
        found = self.chains(callee)
        if not found:
            raise _Fail
        for position, held in enumerate(given):
            if held:
                self.handoffs.append(Handoff(tuple(found), position, result_of))
        return True


def _returned(node: _FunctionNode, qualname: str) -> tuple[tuple[str, bool], ...]:
    star = node.args.vararg.arg if node.args.vararg is not None else ""
    nested: dict[str, int] = {}
    rebound: set[str] = set()
    out: list[tuple[str, bool]] = []

    def walk(body: list[ast.stmt], guarded: bool) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                nested[stmt.name] = nested.get(stmt.name, 0) + 1
                continue
            if isinstance(stmt, ast.ClassDef):
                rebound.add(stmt.name)
                continue
            if isinstance(stmt, ast.Return):
                value = stmt.value
                out.append(
                    (value.id if isinstance(value, ast.Name) else "", guarded) if value is not None else ("", guarded)
                )
                continue
            if isinstance(stmt, ast.If):
                branch = stmt
                while len(branch.orelse) == 1 and isinstance(branch.orelse[0], ast.If):  # an elif chain
                    walk(branch.body, guarded or _needs_positional(branch.test, star))
                    branch = branch.orelse[0]
                walk(branch.body, guarded or _needs_positional(branch.test, star))
                walk(branch.orelse, guarded)
                continue
            for child in ast.walk(stmt):
                if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                    rebound.add(child.id)
                elif isinstance(child, (ast.Global, ast.Nonlocal)):
                    rebound.update(child.names)
            for field in ("body", "orelse", "finalbody", "handlers"):
                inner = getattr(stmt, field, None)
                if isinstance(inner, list):
                    for item in inner:
                        if isinstance(item, ast.ExceptHandler):
                            walk(item.body, guarded)
                    walk([s for s in inner if isinstance(s, ast.stmt)], guarded)

    walk(node.body, False)
    positional = [*node.args.posonlyargs, *node.args.args]
    first = positional[0].arg if positional else ""

    def what(name: str) -> str:
        if name and nested.get(name) == 1 and name not in rebound:
            return f"{qualname}.{name}"
        return RETURNS_ARGUMENT if name and name == first and name not in rebound else ""

    return tuple((what(name), guarded) for name, guarded in out)


def _needs_positional(test: ast.expr, star: str) -> bool:
    """Is ``test`` false when ``*star`` collected nothing (``len(args) == 1 and callable(args[0])``, ``args``)?"""
    if not star:
        return False
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return any(_needs_positional(v, star) for v in test.values)
    if isinstance(test, ast.Name):
        return test.id == star
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and len(test.comparators) == 1:
        left, op, right = test.left, test.ops[0], test.comparators[0]
        if (
            isinstance(left, ast.Call)
            and isinstance(left.func, ast.Name)
            and left.func.id == "len"
            and len(left.args) == 1
            and isinstance(left.args[0], ast.Name)
            and left.args[0].id == star
            and isinstance(right, ast.Constant)
            and type(right.value) is int
        ):
            n = right.value
            return (
                (isinstance(op, ast.Eq) and n >= 1)
                or (isinstance(op, ast.GtE) and n >= 1)
                or isinstance(op, ast.Gt)
                and n >= 0
            )
    return False
