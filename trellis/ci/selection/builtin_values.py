"""Values whose type is certainly a builtin type (``str``, ``list``, ``dict``...): a sound, local inference.

An attribute read from an object the analysis cannot name (``x.split()``) may be any method of that name in
the tree (:mod:`trellis.ci.selection.ref_graph`). When the object is certainly an instance of an *exact* builtin
type — not of a subclass, which the tree may define (``class MyStr(str)``) — the read runs no code of the tree
(the language's protocols — ``__eq__``, ``__hash__``, ``__iter__``, ``keys`` of an argument — run with the
argument's class, reached from wherever that value was made). :class:`BuiltinValues` finds those values in one
file.

What is certain (each a fact of CPython, checked on 3.11 — see the tests):

* literals and displays: ``"a"``, ``b""``, ``1``, ``[...]``, ``(...)``, ``{...}``, comprehensions (their
  elements' type when certain: ``[p.strip() for p in parts]`` is a list of ``str``);
* an f-string of two parts or more (a new string is built); of one ``{x}``, only when ``x`` is certain: the
  value ``format(x)`` returns may be a subclass of ``str`` (so may ``str(x)``, ``repr(x)``, ``"%s" % x``,
  ``"{}".format(x)`` and ``bytes(x)``: they are certain only of certain arguments);
* calls of builtins not bound anywhere in the file (no binding of the name, no ``import *``): ``list(x)``,
  ``dict(...)``, ``sorted(x)``, ``len(x)``, ``int(x)``, ``range(...)``...;
* methods of certain values that return builtins (``s.strip()``, ``s.split()`` -> list of ``str``,
  ``",".join(xs)``, ``d.items()``...). Not ``s.partition(sep)`` of an unknown ``sep`` (the tuple holds the
  separator object itself), nor what a container holds (``d.get(k)``, ``xs.pop()``, ``xs[0]``) unless the
  container was built of certain values (``s.split()[0]``);
* operators on certain operands (``"a" + s``): with one unknown operand, a subclass of ``str`` on the right may
  answer with its ``__radd__``/``__rmod__``; ``not x``, ``x is y`` and ``x in y`` are always ``bool``;
* a variable of a function (or a comprehension) whose *every* binding is certain, by a least fixed point over
  its bindings (``s = ""`` then ``s = s.strip()`` in a loop): assignments (tuple unpacking of certain
  sequences, starred targets: a list), augmented assignments, walrus, ``for`` targets over certain sequences
  (``enumerate``/``zip``/``reversed`` of them too). ``del`` binds nothing (a later read raises).

Never certain: a parameter (annotations bind no type at run time, and a subclass may override any method),
``with``/``except``/``match``/``import`` targets, definitions, names of the module or of a class body (other
code writes them: ``mod.X = ...``, ``monkeypatch.setattr``), a name a nested scope declares ``nonlocal``, a name
declared ``global``, every variable of a function whose code may reach its frame by name (``locals``,
``vars``, ``exec``, ``eval``, ``f_locals``). Assumed: nothing rebinds the ``builtins`` module's names, and no
other frame writes a function's locals (a debugger).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .ast_nodes import child_nodes, elif_chain

__all__ = ["BuiltinValues", "after_builtin"]

_PENDING = ""  # the least element while solving: no binding has given a type yet
_ANY = "object"  # an exact builtin of a type not tracked (still no code of the tree behind its attributes)
_SCALARS = frozenset({"str", "bytes", "int", "float", "complex", "bool", "NoneType"})
# Containers may carry their elements' type ("list:str"; one level: "tuple:list"). A list or a set can be changed
# in place (``parts.append(x)``, by any code it is handed to): only a new one, not read from a
# variable, keeps its elements' type (``s.split()[0]``, ``for p in s.split()``, ``a, b = s.split(":")``).
_CONTAINERS = frozenset({"list", "tuple", "set", "frozenset"})
_MUTABLE = frozenset({"list", "set"})

_STR_TO_SELF = (
    "capitalize casefold center expandtabs ljust lower lstrip replace rjust rstrip strip swapcase title translate"
    " upper zfill removeprefix removesuffix join"
).split()
_PREDICATES = (
    "startswith endswith isalnum isalpha isascii isdecimal isdigit isidentifier islower isnumeric isprintable"
    " isspace istitle isupper"
).split()
_COUNTS = "find rfind index rindex count".split()


def _text_methods(kind: str, other: str) -> dict[str, str | None]:
    methods: dict[str, str | None] = dict.fromkeys(_STR_TO_SELF, kind)
    methods.update(dict.fromkeys(_PREDICATES, "bool"))
    methods.update(dict.fromkeys(_COUNTS, "int"))
    methods.update(dict.fromkeys(("split", "rsplit", "splitlines"), f"list:{kind}"))
    methods["encode" if kind == "str" else "decode"] = other
    methods["maketrans"] = "dict" if kind == "str" else "bytes"
    if kind == "bytes":
        methods["hex"] = "str"
    return methods


# Methods of exact builtins and what they return (None: a value the analysis cannot name; "@": the receiver's
# type, elements included; "^": its kind, elements unknown;# own type; "*": the receiver's element type). A method not listed still runs no code of the tree.
_METHODS: dict[str, dict[str, str | None]] = {
    "str": _text_methods("str", "bytes"),
    "bytes": _text_methods("bytes", "str"),
    "list": {
        "copy": "@",
        "count": "int",
        "index": "int",
        "pop": "*",
        **dict.fromkeys(("append", "extend", "insert", "remove", "reverse", "sort", "clear"), "NoneType"),
    },
    "tuple": {"count": "int", "index": "int"},
    "dict": {
        "keys": "view",
        "values": "view",
        "items": "view",
        "copy": "dict",
        "fromkeys": "dict",
        "update": "NoneType",
        "clear": "NoneType",
    },
    "set": {
        # a union's elements come from the argument, an intersection's from either: only the kind is known
        **dict.fromkeys(("union", "intersection", "symmetric_difference"), "^"),
        **dict.fromkeys(("difference", "copy"), "@"),
        **dict.fromkeys(("isdisjoint", "issubset", "issuperset"), "bool"),
        **dict.fromkeys(("add", "discard", "remove", "update", "clear"), "NoneType"),
        **dict.fromkeys(("difference_update", "intersection_update", "symmetric_difference_update"), "NoneType"),
        "pop": "*",
    },
    "int": {"bit_length": "int", "bit_count": "int", "to_bytes": "bytes", "conjugate": "int"},
    "float": {"is_integer": "bool", "hex": "str", "conjugate": "float"},
    "range": {"count": "int", "index": "int"},
    "view": {"isdisjoint": "bool"},
}
_METHODS["frozenset"] = {m: t for m, t in _METHODS["set"].items() if t != "NoneType" and m != "pop"}
_METHODS["bool"] = _METHODS["int"]
# Attributes that are values, not methods.
_VALUES: dict[str, dict[str, str]] = {
    "int": {"real": "int", "imag": "int", "numerator": "int", "denominator": "int"},
    "bool": {"real": "int", "imag": "int", "numerator": "int", "denominator": "int"},
    "float": {"real": "float", "imag": "float"},
    "complex": {"real": "float", "imag": "float"},
    "range": {"start": "int", "stop": "int", "step": "int"},
}
# Builtins whose call's result is certain whatever the arguments ("@0": the first argument's elements).
_CALLS: dict[str, str] = {
    "list": "list:@0",
    "tuple": "tuple:@0",
    "set": "set:@0",
    "frozenset": "frozenset:@0",
    "sorted": "list:@0",
    "dict": "dict",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "len": "int",
    "ord": "int",
    "id": "int",
    "hash": "int",
    "chr": "str",
    "hex": "str",
    "oct": "str",
    "bin": "str",
    "range": "range",
    "isinstance": "bool",
    "issubclass": "bool",
    "hasattr": "bool",
    "callable": "bool",
}
# Builtins whose result is certain only when every argument is (``str(x)`` may return a subclass of str).
_CERTAIN_OF_CERTAIN: dict[str, str] = {"str": "str", "repr": "str", "ascii": "str", "format": "str", "bytes": "bytes"}
_ITERATORS = frozenset({"enumerate", "zip", "reversed"})
_CALLABLE_NAMES = frozenset(_CALLS) | frozenset(_CERTAIN_OF_CERTAIN) | _ITERATORS
_FRAME_READERS = frozenset({"locals", "vars", "exec", "eval"})


def _base(kind: str) -> str:
    return kind.split(":", 1)[0]


def _element(kind: str | None) -> str | None:
    """The type of what iterating a value of ``kind`` gives (None: unknown)."""
    if kind is None or kind == _PENDING:
        return kind
    if kind == "str":
        return "str"
    if kind in ("bytes", "range"):
        return "int"
    base, _, item = kind.partition(":")
    return item if base in _CONTAINERS and item else None


def _of(kind: str, items: str | None) -> str:
    """A container of ``kind`` holding values of type ``items`` (a container among them: its own elements may
    change, its type does not)."""
    return f"{kind}:{_base(items)}" if items else kind


def _join(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return None
    if a == _PENDING or a == b:
        return b
    if b == _PENDING:
        return a
    if _base(a) == _base(b):
        return _base(a)  # list:str | list:int -> list
    return _ANY


def _dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _method_result(kind: str, method: str) -> str | None:
    result = _METHODS.get(_base(kind), {}).get(method)
    if result == "@":
        return kind
    if result == "^":
        return _base(kind)
    if result == "*":
        return _element(kind)
    return result


def after_builtin(kind: str, attrs: tuple[str, ...]) -> tuple[str, ...] | None:
    """The attributes of a chain (``"()"``: a call) read from a value of exact builtin type ``kind`` that are
    still read from objects the analysis cannot name: ``("split", "()", "count")`` of a ``str`` -> ``()``;
    ``("get", "()", "save")`` of a ``dict`` -> ``("save",)``. None when the chain names a dunder
    (``x.__class__.__subclasses__()`` hands out classes of the tree): read it as an unknown object's."""
    if any(_dunder(a) for a in attrs):
        return None
    state: str | None = kind
    method = ""
    for position, attr in enumerate(attrs):
        if state is None:
            return tuple(a for a in attrs[position:] if a != "()")
        if attr == "()":
            state = _method_result(state, method) if method else None
            method = ""
        elif method:  # an attribute of a bound builtin method: none of the tree
            state = None
        else:
            value = _VALUES.get(_base(state), {}).get(attr)
            method = "" if value is not None else attr
            state = value if value is not None else state
    return ()


# -- scopes and bindings ------------------------------------------------------------------------


@dataclass(eq=False)
class _Scope:
    kind: str  # module | class | function | comprehension
    parent: _Scope | None
    bindings: dict[str, list[Callable[[], str | None]]] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)  # global / nonlocal here: not this scope's variables
    unknown: set[str] = field(default_factory=set)
    frame_read: bool = False


_Key = tuple[_Scope, str]


class BuiltinValues:
    """The expressions of one module whose value is certainly of an exact builtin type (see the module doc)."""

    def __init__(self, tree: ast.Module, nodes: list[ast.AST] | None = None) -> None:
        """``nodes``: every node of ``tree`` in ``ast.walk`` order, when the caller has walked it already."""
        self.shadowed = _shadowed(list(ast.walk(tree)) if nodes is None else nodes)
        self.env: dict[_Key, str | None] = {}
        self.resolved: dict[int, _Key | None] = {}  # id() of a Name read -> the variable it reads (None: other)
        self.loads: list[tuple[ast.Name, _Scope]] = []
        self.names: dict[int, str] = {}  # id() of a Name read -> its certain type
        module = _Scope("module", None)
        self._collect_block(tree.body, module)
        for name, scope in self.loads:
            self.resolved[id(name)] = self._resolve(name.id, scope)
        self._solve()
        for name, _ in self.loads:
            key = self.resolved[id(name)]
            kind = self.env.get(key) if key is not None else None
            if kind:
                self.names[id(name)] = kind

    def type_of(self, expr: ast.AST) -> str | None:
        """The exact builtin type of ``expr``'s value if certain ("object": some builtin), else None."""
        kind = self._type(expr)
        return kind or None

    # -- collection --------------------------------------------------------------------------

    def _bind(self, scope: _Scope, name: str, kind: Callable[[], str | None]) -> None:
        scope.bindings.setdefault(name, []).append(kind)

    def _bind_unknown(self, scope: _Scope, name: str) -> None:
        scope.bindings.setdefault(name, [])
        scope.unknown.add(name)

    def _bind_target(self, target: ast.AST, scope: _Scope, kind: Callable[[], str | None]) -> None:
        """Bind an assignment target to a value of type ``kind()`` (tuples unpack the elements)."""
        if isinstance(target, ast.Name):
            self._bind(scope, target.id, kind)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, scope, lambda: _starred(kind()))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(element, scope, lambda: _element(kind()))
        elif isinstance(target, ast.expr):  # an attribute or an item: no variable bound, but its parts are read
            self._expr(target, scope)

    def _bind_unpacked(self, target: ast.AST, value: ast.expr, scope: _Scope) -> None:
        """``a, b = x, y``: each name its own value; anything else unpacks the value's elements."""
        if (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
            and not any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts))
        ):
            for sub, part in zip(target.elts, value.elts, strict=True):
                self._bind_unpacked(sub, part, scope)
            return
        self._bind_target(target, scope, lambda: self._type(value))

    def _bind_iteration(self, target: ast.AST, iterable: ast.expr, scope: _Scope) -> None:
        """``for target in iterable``: the elements' type."""
        call = iterable if isinstance(iterable, ast.Call) and not iterable.keywords else None
        builtin = self._builtin_call(call) if call is not None else ""
        if call is not None and builtin == "reversed" and len(call.args) == 1:
            self._bind_target(target, scope, self._items(call.args[0]))
            return
        if (
            call is not None
            and builtin in ("enumerate", "zip")
            and isinstance(target, ast.Tuple)
            and not any(isinstance(e, (ast.Starred, ast.Tuple, ast.List)) for e in target.elts)
            and not any(isinstance(a, ast.Starred) for a in call.args)
        ):
            parts: list[Callable[[], str | None]]
            if builtin == "enumerate" and len(call.args) == 1:
                first = call.args[0]
                parts = [_constant("int"), self._items(first)]
            else:
                parts = [self._items(arg) for arg in call.args] if builtin == "zip" else []
            if len(parts) == len(target.elts):
                for element, part in zip(target.elts, parts, strict=True):
                    self._bind_target(element, scope, part)
                return
        self._bind_target(target, scope, self._items(iterable))

    def _items(self, iterable: ast.expr) -> Callable[[], str | None]:
        return lambda: _element(self._type(iterable))

    def _collect_block(self, body: list[ast.stmt], scope: _Scope) -> None:
        for stmt in body:
            self._stmt(stmt, scope)

    def _stmt(self, stmt: ast.stmt, scope: _Scope) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._bind_unknown(scope, stmt.name)
            for expr in (*stmt.decorator_list, *stmt.args.defaults, *stmt.args.kw_defaults):
                if expr is not None:
                    self._expr(expr, scope)
            annotations = [a.annotation for a in _arguments(stmt.args)] + [stmt.returns]
            for annotation in annotations:
                if annotation is not None:
                    self._expr(annotation, scope)
            inner = _Scope("function", scope)
            for arg in _arguments(stmt.args):
                self._bind_unknown(inner, arg.arg)
            self._collect_block(stmt.body, inner)
        elif isinstance(stmt, ast.ClassDef):
            self._bind_unknown(scope, stmt.name)
            for expr in (*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)):
                self._expr(expr, scope)
            self._collect_block(stmt.body, _Scope("class", scope))
        elif isinstance(stmt, ast.Assign):
            self._expr(stmt.value, scope)
            for target in stmt.targets:
                self._bind_unpacked(target, stmt.value, scope)
        elif isinstance(stmt, ast.AnnAssign):
            self._expr(stmt.annotation, scope)
            if stmt.value is not None:
                self._expr(stmt.value, scope)
                self._bind_unpacked(stmt.target, stmt.value, scope)
            elif not isinstance(stmt.target, ast.Name):
                self._expr(stmt.target, scope)
        elif isinstance(stmt, ast.AugAssign):
            self._expr(stmt.value, scope)
            if isinstance(stmt.target, ast.Name):
                read = ast.Name(id=stmt.target.id, ctx=ast.Load())
                self._expr(read, scope)
                augmented = ast.BinOp(left=read, op=stmt.op, right=stmt.value)
                self._bind(scope, stmt.target.id, lambda: self._type(augmented))
            else:
                self._expr(stmt.target, scope)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            self._expr(stmt.iter, scope)
            if isinstance(stmt, ast.AsyncFor):
                for name in _target_names(stmt.target):
                    self._bind_unknown(scope, name)
            else:
                self._bind_iteration(stmt.target, stmt.iter, scope)
            self._collect_block(stmt.body, scope)
            self._collect_block(stmt.orelse, scope)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self._expr(item.context_expr, scope)
                if item.optional_vars is not None:
                    for name in _target_names(item.optional_vars):
                        self._bind_unknown(scope, name)
                    self._expr(item.optional_vars, scope)
            self._collect_block(stmt.body, scope)
        elif isinstance(stmt, (ast.Try, ast.TryStar)):
            self._collect_block(stmt.body, scope)
            for handler in stmt.handlers:
                if handler.type is not None:
                    self._expr(handler.type, scope)
                if handler.name:
                    self._bind_unknown(scope, handler.name)
                self._collect_block(handler.body, scope)
            self._collect_block(stmt.orelse, scope)
            self._collect_block(stmt.finalbody, scope)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    self._bind_unknown(scope, alias.asname or alias.name.split(".")[0])
        elif isinstance(stmt, (ast.Global, ast.Nonlocal)):
            scope.declared.update(stmt.names)
            if isinstance(stmt, ast.Nonlocal):  # the enclosing function's variable is written from here
                outer = scope.parent
                while outer is not None:
                    if outer.kind == "function":
                        for name in stmt.names:
                            outer.unknown.add(name)
                    outer = outer.parent
        elif isinstance(stmt, ast.Match):
            self._expr(stmt.subject, scope)
            for case in stmt.cases:
                for node in ast.walk(case.pattern):
                    captured = getattr(node, "name", None) or getattr(node, "rest", None)
                    if isinstance(captured, str):
                        self._bind_unknown(scope, captured)
                    if isinstance(node, ast.expr):
                        self._expr(node, scope)
                if case.guard is not None:
                    self._expr(case.guard, scope)
                self._collect_block(case.body, scope)
        elif isinstance(stmt, ast.Delete):
            for target in stmt.targets:
                if not isinstance(target, ast.Name):
                    self._expr(target, scope)
        elif isinstance(stmt, ast.If):  # an ``elif`` chain in a loop, not one call deeper per ``elif``
            chain = elif_chain(stmt)
            for branch in chain:
                self._expr(branch.test, scope)
                self._collect_block(branch.body, scope)
            self._collect_block(chain[-1].orelse, scope)
        else:  # While, Expr, Return, Raise, Assert, Pass...: expressions and nested blocks
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    self._stmt(child, scope)
                elif isinstance(child, ast.expr):
                    self._expr(child, scope)

    def _expr(self, root: ast.expr, scope: _Scope) -> None:
        """Record the reads of an expression, and the scopes and bindings inside it (walrus, comprehensions)."""
        stack: list[tuple[ast.AST, _Scope]] = [(root, scope)]
        while stack:
            node, where = stack.pop()
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    self.loads.append((node, where))
                    if node.id in _FRAME_READERS:
                        _frame_read(where)
                continue
            if isinstance(node, ast.Attribute) and node.attr == "f_locals":
                _frame_read(where)
            if isinstance(node, ast.NamedExpr):
                owner = where
                while owner.kind == "comprehension" and owner.parent is not None:
                    owner = owner.parent
                value = node.value
                self._bind(owner, node.target.id, lambda value=value: self._type(value))  # type: ignore[misc]
                stack.append((value, where))
                continue
            if isinstance(node, ast.Lambda):
                inner = _Scope("function", where)
                for arg in _arguments(node.args):
                    self._bind_unknown(inner, arg.arg)
                defaults = [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
                stack.extend((d, where) for d in defaults)
                stack.append((node.body, inner))
                continue
            if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                inner = _Scope("comprehension", where)
                for position, generator in enumerate(node.generators):
                    stack.append((generator.iter, where if position == 0 else inner))
                    if generator.is_async:
                        for name in _target_names(generator.target):
                            self._bind_unknown(inner, name)
                    else:
                        self._bind_iteration(generator.target, generator.iter, inner)
                    stack.extend((condition, inner) for condition in generator.ifs)
                    if not isinstance(generator.target, ast.Name):
                        stack.append((generator.target, inner))
                parts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
                stack.extend((part, inner) for part in parts)
                continue
            stack.extend((child, where) for child in child_nodes(node))

    def _resolve(self, name: str, scope: _Scope) -> _Key | None:
        """The variable a read of ``name`` in ``scope`` reads, if it is a function's or a comprehension's."""
        current: _Scope | None = scope
        if scope.kind == "class":
            return None  # the class namespace first (a metaclass's __prepare__ may fill it), then the globals
        while current is not None:
            if current.kind == "module":
                return None
            if current.kind == "class":
                current = current.parent
                continue
            if name in current.declared:
                return None  # global, or nonlocal: written from elsewhere too
            if name in current.bindings:
                return (current, name)
            current = current.parent
        return None

    # -- solving -----------------------------------------------------------------------------

    def _solve(self) -> None:
        """The least fixed point of every candidate variable's type over its bindings."""
        candidates: list[_Key] = []
        scopes: list[_Scope] = []
        seen: set[int] = set()
        for key in self.resolved.values():
            if key is not None and id(key[0]) not in seen:
                seen.add(id(key[0]))
                scopes.append(key[0])
        for scope in scopes:
            for name, bindings in scope.bindings.items():
                key = (scope, name)
                if scope.frame_read or name in scope.unknown or name in scope.declared or not bindings:
                    self.env[key] = None
                else:
                    self.env[key] = _PENDING
                    candidates.append(key)
        for _ in range(64):
            changed = False
            for key in candidates:
                kind: str | None = _PENDING
                for binding in key[0].bindings[key[1]]:
                    kind = _join(kind, binding())
                    if kind is None:
                        break
                if kind != self.env[key]:
                    self.env[key] = kind
                    changed = True
            if not changed:
                break
        else:  # not settled (it always does: types only climb a short lattice): nothing certain
            for key in candidates:
                self.env[key] = None
        for key in candidates:
            if self.env[key] == _PENDING:  # bound only from itself: never holds a value
                self.env[key] = None

    # -- types -------------------------------------------------------------------------------

    def _name(self, node: ast.Name) -> str | None:
        found = self.names.get(id(node))
        if found is None:
            key = self.resolved.get(id(node))
            found = self.env.get(key) if key is not None else None
        if found and _base(found) in _MUTABLE:
            return _base(found)  # changed in place since, maybe: its elements are anything
        return found

    def _builtin_call(self, call: ast.Call) -> str:
        """The builtin a call calls, if its name is one of those tracked and the file binds it nowhere."""
        func = call.func
        if isinstance(func, ast.Name) and func.id in _CALLABLE_NAMES and func.id not in self.shadowed:
            return func.id
        return ""

    def _type(self, node: ast.AST) -> str | None:  # noqa: C901 - one case per kind of expression
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None:
                return "NoneType"
            if isinstance(value, bool):
                return "bool"
            if value is ...:
                return _ANY
            return type(value).__name__
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.JoinedStr):
            if len(node.values) != 1 or not isinstance(node.values[0], ast.FormattedValue):
                return "str"
            return "str" if self._scalar(node.values[0].value) else None
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            kind = {ast.List: "list", ast.Tuple: "tuple", ast.Set: "set"}[type(node)]
            items: str | None = _PENDING
            for element in node.elts:
                items = None if isinstance(element, ast.Starred) else _join(items, self._type(element))
            return _of(kind, items)
        if isinstance(node, (ast.Dict, ast.DictComp)):
            return "dict"
        if isinstance(node, (ast.ListComp, ast.SetComp)):
            items = self._type(node.elt)
            kind = "list" if isinstance(node, ast.ListComp) else "set"
            return _of(kind, items)
        if isinstance(node, ast.NamedExpr):
            return self._type(node.value)
        if isinstance(node, ast.BoolOp):
            joined: str | None = _PENDING
            for part in node.values:
                joined = _join(joined, self._type(part))
            return joined
        if isinstance(node, ast.IfExp):
            return _join(self._type(node.body), self._type(node.orelse))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return "bool"
            operand = self._type(node.operand)
            if not operand:
                return operand
            return "int" if operand in ("int", "bool") else operand if operand in ("float", "complex") else _ANY
        if isinstance(node, ast.Compare):
            if all(isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops):
                return "bool"
            kinds = [self._type(node.left), *map(self._type, node.comparators)]
            if any(k is None for k in kinds):
                return None
            return _PENDING if _PENDING in kinds else "bool"
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            if _dunder(node.attr):
                return None
            receiver = self._type(node.value)
            if not receiver:
                return receiver
            value = _VALUES.get(_base(receiver), {}).get(node.attr)
            if value is not None:
                return value
            return _ANY if node.attr in _METHODS.get(_base(receiver), {}) else None  # a bound builtin method
        return None

    def _scalar(self, expr: ast.expr) -> bool:
        kind = self._type(expr)
        return kind == _PENDING or kind in _SCALARS

    def _binop(self, node: ast.BinOp) -> str | None:
        left = self._type(node.left)
        if isinstance(node.op, ast.Mod) and left in ("str", "bytes"):
            # "%s" % x returns str(x) itself, which may be a subclass of str: certain only of certain scalars.
            right = node.right
            parts = right.elts if isinstance(right, ast.Tuple) else [right]
            return left if all(self._scalar(p) for p in parts) else None
        right_kind = self._type(node.right)
        if left is None or right_kind is None:
            return None
        if left == _PENDING or right_kind == _PENDING:
            return _PENDING
        numbers = ("bool", "int", "float", "complex")
        if left in numbers and right_kind in numbers:
            if isinstance(node.op, (ast.Div, ast.Pow)) or "complex" in (left, right_kind):
                return _ANY if "complex" in (left, right_kind) or isinstance(node.op, ast.Pow) else "float"
            return "float" if "float" in (left, right_kind) else "int"
        if isinstance(node.op, ast.Add) and _base(left) == _base(right_kind) and _base(left) in ("str", "bytes"):
            return _base(left)
        if isinstance(node.op, ast.Add) and _base(left) == _base(right_kind) and _base(left) in ("list", "tuple"):
            return _join(left, right_kind)
        if isinstance(node.op, ast.Mult):
            for sequence, count in ((left, right_kind), (right_kind, left)):
                if count in ("int", "bool") and _base(sequence) in ("str", "bytes", "list", "tuple"):
                    return sequence
        return _ANY  # builtins' operators on builtins: a builtin (or an exception)

    def _subscript(self, node: ast.Subscript) -> str | None:
        value = self._type(node.value)
        if not value:
            return value
        sliced = isinstance(node.slice, ast.Slice)
        base = _base(value)
        if base == "str":
            return "str"
        if base == "bytes":
            return "bytes" if sliced else "int"
        if base == "range":
            return "range" if sliced else "int"
        if base in ("list", "tuple"):
            return value if sliced else _element(value)
        return None  # a dict's values, or a view's: unknown

    def _call(self, node: ast.Call) -> str | None:
        builtin = self._builtin_call(node)
        if builtin:
            if builtin in _CERTAIN_OF_CERTAIN:
                arguments = [*node.args, *(k.value for k in node.keywords)]
                return _CERTAIN_OF_CERTAIN[builtin] if all(self._scalar(a) for a in arguments) else None
            result = _CALLS.get(builtin)
            if result is None:
                return None
            if result.endswith(":@0"):
                kind = result.split(":")[0]
                if not node.args or len(node.args) > 1 or node.keywords or isinstance(node.args[0], ast.Starred):
                    return kind
                items = _element(self._type(node.args[0]))
                if items == _PENDING:
                    return _PENDING
                return _of(kind, items)
            return result
        func = node.func
        if not isinstance(func, ast.Attribute) or _dunder(func.attr):
            return None
        receiver = self._type(func.value)
        if not receiver:
            return receiver
        base = _base(receiver)
        if func.attr in ("format", "format_map") and base == "str":
            arguments = [*node.args, *(k.value for k in node.keywords)]
            return "str" if func.attr == "format" and all(self._scalar(a) for a in arguments) else None
        if func.attr in ("partition", "rpartition") and base in ("str", "bytes"):
            # the tuple holds the separator object itself
            return f"tuple:{base}" if node.args and all(self._scalar(a) for a in node.args) else "tuple"
        return _method_result(receiver, func.attr)


def _constant(kind: str) -> Callable[[], str | None]:
    return lambda: kind


def _starred(kind: str | None) -> str | None:
    """``a, *rest = value``: ``rest`` is a new list of the value's elements."""
    if kind is None or kind == _PENDING:
        return kind if kind == _PENDING else "list"
    items = _element(kind)
    return _of("list", items)


def _frame_read(scope: _Scope) -> None:
    current: _Scope | None = scope
    while current is not None and current.kind == "comprehension":
        current.frame_read = True
        current = current.parent
    if current is not None:
        current.frame_read = True


def _arguments(args: ast.arguments) -> list[ast.arg]:
    found = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    found.extend(a for a in (args.vararg, args.kwarg) if a is not None)
    return found


def _target_names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            yield node.id


def _shadowed(nodes: list[ast.AST]) -> frozenset[str]:
    """The tracked builtins' names the file binds somewhere: all of them after an ``import *`` or where its code
    may write its own namespace by other means (``globals()``, ``vars()``, ``exec``, ``eval``,
    ``sys.modules[...]``, ``f_globals``, ``f.__globals__``); ``x.str = ...`` and ``setattr(x, "str", ...)`` too
    (``x`` may be the module itself). Other modules writing this one's globals (``mod.len = ...``) or the
    ``builtins`` module are not followed."""
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in ("globals", "vars", "exec", "eval"):
            return _CALLABLE_NAMES
        if isinstance(node, ast.Attribute) and node.attr in ("modules", "f_globals", "__globals__"):
            return _CALLABLE_NAMES
        if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            bound.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr":
            name = node.args[1] if len(node.args) > 1 else None
            if not isinstance(name, ast.Constant):
                return _CALLABLE_NAMES
            bound.add(str(name.value))
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            if node.name == "*":
                return _CALLABLE_NAMES
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
    return frozenset(bound & _CALLABLE_NAMES)
