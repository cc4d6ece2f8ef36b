"""The reference graph of a tree, and what a set of starting nodes may run.

Nodes are the module-level code of each file and every function, method and
class (a class node stands for *using* the class: constructing it runs its
dunder methods). An edge ``a -> b`` means "running ``a`` may run ``b``".
:class:`Graph` resolves the names :mod:`trellis.ci.selection.python_refs` recorded, through the
imports of the tree:

* ``import a.b`` runs ``a/__init__.py`` and ``a/b.py``: edges to their
  module nodes; ``from m import n`` also runs the submodule ``m.n`` if it
  exists; every absolute import is looked up under every import root (the
  repository root, ``src/``, pytest's ``pythonpath`` and each test file's
  rootdir-relative base directory) — all hits count; a name no root has
  (and no standard module) matches a module of that dotted name anywhere
  (``sys.path.insert`` happens);
* a name resolves through the module's namespace: definitions, import
  bindings (re-exports followed), star imports, module ``__getattr__``;
* ``self.x`` / ``cls.x`` / ``super().x`` resolve to every ``x`` in the class's
  family: its bases, its subclasses and their bases (any override may run);
  ``Thing().x`` (and a local bound only by ``t = Thing()``) to ``x`` in
  ``Thing`` and its bases;
* an attribute of an object of unknown type (``obj.save()``) may be any
  class, top-level function or module-level name of that name *in a module
  the test file's import closure contains* (an object exists only if its
  class's module was imported), and any *method* of that name of a class
  whose instances may exist in the reach (rapid type analysis): the class,
  or a subclass of it, is *used* — its node is reached, computed as a fixed
  point with the names (a method reached may use new classes). An instance
  needs the class object, and the class object comes from a reference
  (resolved to the class node), from a namespace read under a computed name
  (``getattr(mod, name)``, ``globals()``, ``vars(mod)``: every class), from
  an attribute handing out classes no reference names (``mod.__dict__``,
  ``C.__subclasses__()``, ``f.__globals__``: every class counts as used), or
  from the class statement itself: a class whose definition hands the new
  class object to other code (a decorator, a metaclass or other keyword, a
  ``__set_name__`` of an attribute's value, a base of the tree with
  ``__init_subclass__`` or handing out its subclasses, an outside base not
  known to be quiet — ``Enum`` makes its members there) is used by the node
  that runs its definition; ``getattr`` with a computed name may be any of them;
* every entity reaches its module's top-level code (it ran when the module
  was imported), a method its class, a nested function its parent;
* a class reaches its bases, its dunder and protocol methods (called by the
  language and the standard library), and all its methods when it derives
  from a class outside the tree (that class may call any of them);
* a node may be reached as *run* rather than *used*: a module's ``x = f(...)``
  (``NodeRefs.made``) runs ``f``, but the functions ``f`` defines and returns
  (``Scope.results``) run only where ``x`` is read; ``x = C(...)`` runs the
  construction of a class whose attributes all come from the tree, its other
  dunder and protocol methods (the class's results) run where the instance is
  used — a method reading its instance only for attributes reaches its class
  so too. Each such node has two reaches: what running it runs, and that plus
  its results (:meth:`Graph._static_reach`);
* ``python -m app.cli`` in a subprocess runs that module, its ``if __name__ ==
  "__main__":`` blocks included (importing it does not run them); a node that
  imports dynamically, ``exec``\\s, unpickles or starts a process the
  analysis cannot read may run anything: it reaches every node (unless what
  runs observed it do bounds it: :mod:`trellis.ci.selection.observed`).

Which nodes a pytest item starts from is :mod:`trellis.ci.selection.pytest_collect`'s business;
:meth:`Graph.reach` computes what they reach.
"""

from __future__ import annotations

import builtins
import posixpath
import re
import sys
import unittest
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace

from .observed import SiteCode
from .param_flow import RETURNS_ARGUMENT, Kept
from .pytest_config import PytestConfig
from .python_calls import (
    NAMESPACE_ATTRS,
    OBSERVED_IMPORT_CALLS,
    OBSERVED_LOADS,
    PICKLE_SAFE_GLOBALS,
    compat_global,
    inert_decorator,
    writes_namespace,
)
from .python_refs import DOCTESTS, GETTERS, MAIN, TUPLE_FACTORIES, Chain, FileFacts, ImportRef, NodeRefs, Scope
from .stdlib_bases import metaclass_base, quiet_base, quiet_value

__all__ = ["ENTITY", "Graph"]

_WORD = re.compile(r"\w+")

# Methods the interpreter or the standard library call without naming them in the caller.
_PROTOCOL = frozenset(
    {
        "keys",
        "items",
        "values",
        "get",
        "read",
        "readline",
        "readlines",
        "write",
        "writelines",
        "flush",
        "close",
        "fileno",
        "seek",
        "tell",
        "send",
        "recv",
        "emit",
        "handle",
        "run",
        "default",
        "encode",
        "decode",
        "filter",
        "format",
        "copy",
        "next",
        "fromkeys",
        # copy and pickle fill a list subclass's copy through these (``copy._reconstruct``, the APPENDS opcode)
        "append",
        "extend",
    }
)
# What making an instance of a class whose attributes all come from the tree may run of its methods (the
# interpreter's calls, dataclasses' and attrs' generated ``__init__``'s; what those methods call, they name): its
# other dunder and protocol methods run where the instance is used.
_CONSTRUCTION = frozenset(
    {"__new__", "__init__", "__post_init__", "__attrs_pre_init__", "__attrs_post_init__", "__setattr__"}
    | {"__getattr__", "__getattribute__", "__delattr__", "__del__", "__init_subclass__", "__set_name__"}
    | {"__class_getitem__", "__instancecheck__", "__subclasscheck__", "__prepare__", "__set__", "__get__"}
)
# Bases outside the tree that do not call back into their subclasses' ordinary methods.
_INERT_BASES = frozenset(
    {
        "object",
        "int",
        "float",
        "complex",
        "str",
        "bytes",
        "bytearray",
        "tuple",
        "list",
        "dict",
        "set",
        "frozenset",
        "BaseException",
        "Exception",
        "typing.NamedTuple",
        "typing.Generic",
        "typing.Protocol",
        "typing.TypedDict",
        "typing_extensions.Protocol",
        "typing_extensions.TypedDict",
        "typing_extensions.NamedTuple",
        "abc.ABC",
        "enum.Enum",
        "enum.IntEnum",
        "enum.StrEnum",
        "enum.Flag",
        "enum.IntFlag",
        "NamedTuple",
        "Generic",
        "Protocol",
        "TypedDict",
        "ABC",
        "Enum",
        "IntEnum",
        "StrEnum",
    }
)
# Outside bases known to call back only some methods of a subclass, by name: besides dunders and _PROTOCOL,
# the names their own code calls (collections.abc mixins), or that the framework calls (unittest: every
# TestCase attribute, e.g. setUp; the test method itself is the item's own root).
_MAPPING = frozenset({"keys", "items", "values", "get"})
_MUTABLE_MAPPING = _MAPPING | {"pop", "popitem"}
_SET = frozenset({"_from_iterable", "_hash", "isdisjoint"})
_MUTABLE_SET = _SET | {"add", "discard", "pop", "remove"}
_SEQUENCE = frozenset({"index", "count"})
_MUTABLE_SEQUENCE = _SEQUENCE | {"insert", "append", "extend", "pop", "remove", "reverse"}
_ABC_CALLBACKS: dict[str, frozenset[str]] = {}
for _module in ("collections.abc", "typing", "collections"):
    for _name, _names in (
        ("Mapping", _MAPPING),
        ("MutableMapping", _MUTABLE_MAPPING),
        ("Set", _SET),
        ("AbstractSet", _SET),
        ("MutableSet", _MUTABLE_SET),
        ("Sequence", _SEQUENCE),
        ("MutableSequence", _MUTABLE_SEQUENCE),
        ("Iterable", frozenset()),
        ("Iterator", frozenset()),
        ("Container", frozenset()),
        ("Sized", frozenset()),
        ("Hashable", frozenset()),
        ("Callable", frozenset()),
        ("Collection", frozenset()),
        ("Reversible", frozenset()),
        ("Awaitable", frozenset()),
        ("AsyncIterable", frozenset()),
        ("AsyncIterator", frozenset()),
        ("Generator", frozenset({"send", "throw", "close"})),
        ("KeysView", _SET),
        ("ItemsView", _SET),
        ("ValuesView", frozenset()),
        ("MappingView", frozenset()),
    ):
        _ABC_CALLBACKS[f"{_module}.{_name}"] = _names
        _ABC_CALLBACKS.setdefault(_name, _names)
# datetime calls a time zone's utcoffset, dst, tzname and fromutc (and pickling its dunders).
_ABC_CALLBACKS["datetime.tzinfo"] = frozenset({"utcoffset", "dst", "tzname", "fromutc"})
_TESTCASE = frozenset(name for name in dir(unittest.IsolatedAsyncioTestCase) if not name.startswith("test"))
for _name in (
    "unittest.TestCase",
    "unittest.IsolatedAsyncioTestCase",
    "TestCase",
    "IsolatedAsyncioTestCase",
    "unittest.case.TestCase",
):
    _ABC_CALLBACKS[_name] = _TESTCASE
# Outside bases whose subclassing neither makes an instance of the new class nor hands the class object to code
# that could keep it (no metaclass or ``__init_subclass__`` of theirs does): builtins and their exceptions, the
# ABCs, typing's helpers, unittest's TestCase (pytest makes its instances for its own items). Enum's are apart:
# _ENUM_BASES.
_QUIET_BASES = frozenset(
    {name for name, value in vars(builtins).items() if isinstance(value, type) and name not in ("type", "super")}
    | {f"builtins.{name}" for name, value in vars(builtins).items() if isinstance(value, type) and name != "type"}
    | {name for name in _ABC_CALLBACKS if "." in name}
    | {f"{module}.{name}" for module in ("typing", "typing_extensions") for name in ("Generic", "Protocol")}
    | {f"{module}.{name}" for module in ("typing", "typing_extensions") for name in ("NamedTuple", "TypedDict")}
    | {"abc.ABC", "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter"}
    | {"collections.UserDict", "collections.UserList", "collections.UserString"}
    | {f"{name}()" for name in TUPLE_FACTORIES}  # ``class P(namedtuple("P", "x y"))`` (python_refs)
)
# Enum's bases: their metaclass makes the members, instances of the new class, when the class statement runs — with
# the standard library's code alone, unless the family defines one of _ENUM_HOOKS (Graph.hands_out).
# (By their dotted names alone: a bare ``Flag`` a star import binds may be anyone's.)
_ENUM_BASES = frozenset({"enum.Enum", "enum.IntEnum", "enum.StrEnum", "enum.Flag", "enum.IntFlag"})
_ENUM_HOOKS = ("__new__", "__init__", "_generate_next_value_", "__init_subclass__", "__set_name__")
# The builtin classes by the names a base may spell them: their metaclass is ``type`` (none derives from another).
_BUILTIN_CLASSES = frozenset(
    spelled
    for name, value in vars(builtins).items()
    if isinstance(value, type) and name != "type" and type(value) is type
    for spelled in (name, f"builtins.{name}")
)
# Bases whose class subscription (``Base[T]``) runs typing's ``__class_getitem__``, which keeps the names it is given.
_GENERIC_ROOTS = frozenset(
    {"object", "builtins.object"}
    | {f"{module}.{name}" for module in ("typing", "typing_extensions") for name in ("Generic", "Protocol")}
)
# Attributes that hand out classes no reference names: a namespace's values, a class's subclasses.
_CALLED = frozenset({"function", "method"})  # the kinds of scopes whose code runs only when called
_CLASS_LEAKS = frozenset({"__dict__", "__subclasses__", "__globals__", "f_globals", "f_locals"})
_MAX_LINEAGES = 64  # ways a class's bases may resolve, past which super() looks in the whole family
DISPATCH = "<dispatch>"  # the prefix of a name for the overrides self.x may run in subclasses (Graph._dispatch)
# The extensions of a Python file's name: ``"setup.py"`` names a file, not the attribute ``py`` of a module.
_SOURCE_SUFFIXES = frozenset({"py", "pyi", "pyw"})
INSTANCES = "<instances>"  # a name standing for "any class may be used": every class of the closure is reached
_MOD, _ENT, _VAL, _INST = 0, 1, 2, 3
ENTITY = _ENT  # the kind of a resolved target that is a node (see Graph.binding)
_Target = tuple[int, str | int]  # (_MOD, module key) | (_ENT / _INST, node) | _VALUE
_VALUE: _Target = (_VAL, "")


def fetching(refs: NodeRefs, fetched: frozenset[str]) -> NodeRefs:
    """``refs`` with each attribute read under a computed name (``"*"``: its ``getattr`` calls, ``NodeRefs.fetches``)
    read under each name of ``fetched`` instead, as ``x.name`` would be."""
    chains: list[Chain] = []
    for chain in refs.chains:
        if "*" not in chain.attrs:
            chains.append(chain)
            continue
        i = chain.attrs.index("*")
        chains.extend(replace(chain, attrs=(*chain.attrs[:i], name, *chain.attrs[i + 1 :])) for name in sorted(fetched))
    attrs = refs.attrs - {"*"} | fetched if "*" in refs.attrs else refs.attrs
    return replace(refs, chains=tuple(dict.fromkeys(chains)), attrs=attrs)


class Graph:
    """The reference graph of one tree (``facts``: every parsable ``.py`` file's facts)."""

    def __init__(
        self, facts: Mapping[str, FileFacts], config: PytestConfig, observed: Mapping[str, SiteCode] | None = None
    ) -> None:
        self.facts = facts
        # May storing a ``__doc__`` run code of the tree (python_refs.doc_setter)? Then a docstring copy reads it.
        self.doc_setters = any(f.doc_setter for f in facts.values())
        self.config = config
        self.paths = sorted(facts)
        # Nodes.
        self.node_path: list[str] = []
        self.node_scope: list[Scope] = []
        self.node_of: dict[tuple[str, str], int] = {}
        for path in self.paths:
            for scope in facts[path].scopes:
                self.node_of[(path, scope.qualname)] = len(self.node_path)
                self.node_path.append(path)
                self.node_scope.append(scope)
        self.size = len(self.node_path)
        self.dyn_bit = 1 << self.size
        # Every module's doctest examples: what running examples found at run time may run (``doctest.testmod``).
        self.doctest_nodes = {node for (_, qualname), node in self.node_of.items() if qualname == DOCTESTS}
        # What reads installed distributions' metadata (a change to the project's descriptive metadata counts there).
        self.metadata_readers = [node for node in range(self.size) if self.node_scope[node].refs.reads_metadata]
        # Modules: key = path without ".py" ("a/b" for a/b.py and a/b/__init__.py).
        self.module_files: dict[str, list[str]] = {}
        self.dirs: set[str] = set()
        for path in self.paths:
            stem = path[:-3]
            key = stem[: -len("/__init__")] if stem.endswith("/__init__") else stem
            if stem == "__init__":
                continue
            self.module_files.setdefault(key, []).append(path)
            parent = posixpath.dirname(path)
            while parent and parent not in self.dirs:
                self.dirs.add(parent)
                parent = posixpath.dirname(parent)
        self.roots = self._import_roots()
        self.by_name: dict[str, list[str]] = {}
        for key in [*self.module_files, *self.dirs]:
            self.by_name.setdefault(key.rpartition("/")[2], []).append(key)
        self._symbols: dict[tuple[str, str], frozenset[_Target]] = {}
        self._file_symbols: dict[tuple[str, str], frozenset[_Target]] = {}
        self._file_symbols_busy: set[tuple[str, str]] = set()
        self._module_keys: dict[tuple[str, int, str], list[str]] = {}
        self._parents: dict[int, tuple[tuple[int, ...], bool, bool]] = {}
        self._callbacks: dict[int, frozenset[str] | None] = {}
        self._metaclass: dict[int, bool] = {}
        self._children: dict[int, list[int]] | None = None
        self._family: dict[int, frozenset[int]] = {}
        self._after: dict[int, frozenset[int]] = {}
        self._lineages: dict[int, frozenset[frozenset[int]] | None] = {}
        self._named: dict[str, set[str]] | None = None  # reconstructors' names -> the files naming them
        self._hands_out: dict[int, bool] = {}
        self._unknown_base: dict[int, bool] = {}
        self._closed: dict[int, bool] = {}
        self._plain_type: dict[int, bool] = {}
        self._kept_decorated: dict[int, bool] = {}
        self._binds_itself: dict[int, bool] = {}
        self._plain: dict[int, bool] = {}
        # The classes whose definition hands the new class object to other code: used where they are defined;
        # those whose body binds a value that may have a ``__set_name__``: their bindings run there too.
        self._defined_used: dict[int, list[int]] = {}
        self._defined_bindings: dict[int, list[int]] = {}
        for node, scope in enumerate(self.node_scope):
            if scope.kind != "class":
                continue
            container = self.node_of.get((self.node_path[node], scope.container))
            if container is not None and self.hands_out(node):
                self._defined_used.setdefault(container, []).append(node)
            if container is not None and not self.plain_bindings(node):
                self._defined_bindings.setdefault(container, []).append(node)
            if container is not None and scope.generic_bases:
                self._defined_used.setdefault(container, []).extend(self._subscribed(node))
        # The code exec/eval ran, observed at run time (observed.py), by the node that ran it.
        self.observed: dict[int, SiteCode] = {}
        for site, code in (observed or {}).items():
            found = self._site_node(site)
            if found is not None:
                self.observed[found] = self.observed[found] | code if found in self.observed else code
        self.observed_bits = 0  # the nodes whose exec/eval is bounded by what was observed
        self.fetched_bits = 0  # those of them bounded only by the names their getattr calls fetched (_fetched)
        self.fetched: dict[int, frozenset[str]] = {}  # node -> those names (of the nodes bounded by what they fetched)
        # getattr calls with computed names are bounded by what they were observed to fetch once the job heard
        # them (a record of one): not where the tree runs its own modules in Python processes, which no job hears
        # (by a constant command, or one observed; a constant pickle's modules load in the test's own process).
        self._fetches_heard = (
            any("getattr" in code.kinds for code in self.observed.values())
            and not any(s.refs.runs for s in self.node_scope)
            and not any(code.runs for code in self.observed.values())
        )
        self._site_imports: dict[int, set[str]] = {}  # observed node -> the files its evaluated code imports
        # Computed imports and unpickling bounded by what was observed: the nodes whose computed imports are, and
        # per file the files those imports and unpickling ran (the file's import closure holds them).
        self._bounded_imports: set[int] = set()
        self._observed_files: dict[str, set[str]] = {}
        # pytest fixtures pytest runs only by name (trellis.ci.selection.fixtures decides which tests do): the node
        # running their definition hands them to pytest and does not reach them.
        self.fixtures_resolved = not any(f.registers_plugins for f in facts.values())
        self.named_fixtures = self._fixtures_by_name() if self.fixtures_resolved else frozenset()
        # Edges.
        self._dispatched: dict[str, list[int]] = {}  # a name of _dispatch -> the overrides it may run
        # What a node's value runs beyond what calling it runs (the functions it defines and returns, see
        # Scope.results), and the nodes a module's code calls only to bind what they return to names (NodeRefs.made):
        # from there, what calling them runs (``run reach``), not their results.
        self.results: dict[int, tuple[int, ...]] = {}
        self.run_succ: dict[int, tuple[int, ...]] = {}
        self.succ: list[tuple[int, ...]] = []
        self.fallbacks: list[frozenset[str]] = []
        self.dynamic: list[str] = []
        for node in range(self.size):
            edges, names, why = self._edges(node)
            edges.discard(node)
            self.succ.append(tuple(sorted(edges)))
            self.fallbacks.append(frozenset(names))
            self.dynamic.append(why)
        # Attribute names read from unknown objects, indexed; only names some entity has matter.
        candidates: dict[str, list[int]] = {}
        getters: list[int] = []
        hooks: list[int] = []
        for node, scope in enumerate(self.node_scope):
            if node in self.named_fixtures:
                continue  # pytest errors on a direct call of a fixture (since 4.0): only pytest runs it, by name
            if scope.kind in ("class", "method", "name") or (scope.kind == "function" and scope.parent == ""):
                candidates.setdefault(scope.name, []).append(node)
            if scope.getter and (scope.kind == "method" or (scope.kind == "function" and scope.parent == "")):
                getters.append(node)
            if scope.name in ("__instancecheck__", "__subclasscheck__"):
                hooks.append(node)
        # A value read under a computed name that stays where it was read: what reading it runs (GETTERS).
        # An isinstance() there hands it to a metaclass's __instancecheck__ (issubclass: __subclasscheck__), which
        # runs: if one of the tree may call or keep what it is given (param_flow), anything.
        hooked = any(self.node_scope[h].kind != "method" or not self._keeps(h, 1, set()) for h in hooks)
        candidates[GETTERS] = [n for c in candidates.values() for n in c] if hooked else getters + hooks
        candidates[INSTANCES] = [n for n, s in enumerate(self.node_scope) if s.kind == "class"]
        every = [n for c in candidates.values() for n in c]
        candidates.update(self._dispatched)
        self.names = ["*", *sorted(candidates)]
        self.name_index = {name: i for i, name in enumerate(self.names)}
        self.candidates = [every, *(candidates[n] for n in self.names[1:])]
        self.instances_bit = 1 << (self.size + 1 + self.name_index[INSTANCES])
        # Rapid type analysis: a method is a candidate only where an instance of its class may exist — the class,
        # or a subclass inheriting it, is used (its node reached; a class handed out when defined is used by its
        # definer). ``owner[n]``: the class whose use a method candidate waits for (-1: none, a candidate as such).
        self.owner: list[int] = [-1] * self.size
        # A class or method defined in a function's body exists only once that function ran: as a candidate it
        # waits for the function's node too (``definer[n]``; -1: defined when its module is imported).
        self.definer: list[int] = [-1] * self.size
        for node, scope in enumerate(self.node_scope):
            if scope.kind == "method":
                cls = self.node_of.get((self.node_path[node], scope.parent), -1)
                if cls >= 0 and self.node_scope[cls].kind == "class":
                    self.owner[node] = cls
            if scope.kind in ("class", "method") and scope.container:
                self.definer[node] = self.node_of.get((self.node_path[node], scope.container), -1)
        self._gates: dict[int, int] = {}
        self.name_shift = self.size + 1
        self.node_mask = (1 << self.name_shift) - 1
        self.file_index = {path: i for i, path in enumerate(self.paths)}
        self._file_closure = self._file_closures()
        # Names the evaluated code reads resolve in the test's import closure, which holds the site's file's: a
        # module it imports counts only if that file imports it too (any depth), else it may run any code.
        for node, files in self._site_imports.items():
            path = self.node_path[node]
            closure = self._file_closure[self.file_index[path]]
            above = {f"{d}/__init__.py" for d in _parents(path)}  # its packages ran before it
            if any(not closure >> self.file_index[f] & 1 and f not in above for f in files):
                self.dynamic[node] = "evaluated code that imports a module its function's file does not"
                self.observed_bits &= ~(1 << node)
        self.static = self._static_reach()
        self._dynamic_nodes: list[int] | None = None  # the nodes that may run any code (dynamic_reason)
        self._closure_flags: int | None = None  # files holding such a node or another observed site (unbounded_files)

    # -- modules ------------------------------------------------------------------------------

    def _import_roots(self) -> tuple[str, ...]:
        roots: dict[str, None] = {"": None}
        if "src" in self.dirs:
            roots["src"] = None
        for entry in self.config.pythonpath:
            roots[entry] = None
        for path in self.paths:
            name = posixpath.basename(path)
            if name == "conftest.py" or self.config.is_test_file(path):
                roots[self._basedir(path)] = None
        return tuple(roots)

    def _basedir(self, path: str) -> str:
        """pytest's rootdir-relative base directory of a test file: the first ancestor not a package."""
        directory = posixpath.dirname(path)
        while directory and f"{directory}/__init__.py" in self.facts:
            directory = posixpath.dirname(directory)
        return directory

    def exists(self, key: str) -> bool:
        return key in self.module_files or key in self.dirs

    def module_keys(self, path: str, level: int, module: str) -> list[str]:
        """The module keys an import names, from the file ``path``."""
        memo = (posixpath.dirname(path) if level else "", level, module)
        found = self._module_keys.get(memo)
        if found is None:
            found = self._module_keys[memo] = self._find_module_keys(path, level, module)
        return found

    def _find_module_keys(self, path: str, level: int, module: str) -> list[str]:
        if module == "*" and level == 0:  # any module of the tree (an import of a computed name)
            return list(self.module_files)
        if module == "*":  # any module of the package (a computed relative import)
            base = posixpath.dirname(path)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            prefix = f"{base}/" if base else ""
            return [k for k in self.module_files if k.startswith(prefix) and k != base]
        rel = module.replace(".", "/")
        if level == 0:
            if not module:
                return []
            keys = [f"{root}/{rel}" if root else rel for root in self.roots]
            found = [k for k in keys if k and self.exists(k)]
            if found or module.partition(".")[0] in sys.stdlib_module_names:
                return found
            # Not under any import root: the code may put another directory on sys.path
            # (sys.path.insert in a conftest, a script's own directory). Any module of that name.
            return [k for k in self.by_name.get(rel.rpartition("/")[2], ()) if k == rel or k.endswith("/" + rel)]
        else:
            base = posixpath.dirname(path)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            keys = [f"{base}/{rel}".strip("/") if rel else base]
        return [k for k in keys if k and self.exists(k)]

    def executed(self, key: str) -> list[str]:
        """The files importing ``key`` runs: its packages' ``__init__`` and the module itself."""
        parts = key.split("/")
        out: list[str] = []
        for i in range(1, len(parts) + 1):
            out.extend(self.module_files.get("/".join(parts[:i]), ()))
        return out

    def import_files(self, path: str, ref: ImportRef) -> list[str]:
        out: list[str] = []
        for key in self.module_keys(path, ref.level, ref.module):
            out.extend(self.executed(key))
            if ref.name:
                out.extend(self.module_files.get(f"{key}/{ref.name}", ()))
        return out

    def module_node(self, path: str) -> int:
        return self.node_of[(path, "")]

    def _fixtures_by_name(self) -> frozenset[int]:
        """The fixtures pytest runs only by name: functions and methods that one fixture decorator with a constant
        name makes fixtures (other decorators inert), defined when their file is imported (at its top level or in
        its classes), in a file whose namespace pytest reads fixtures from — a ``conftest.py``, a test module, a
        plugin ``pytest_plugins`` or ``-p`` names. (Only where no file of the tree registers plugins at run time,
        ``config.pluginmanager.register(obj)``: the fixtures of ``obj`` would apply by name anywhere.)"""
        plugins = {*self.config.plugins, *(p for facts in self.facts.values() for p in facts.plugins)}
        holders = {p for p in self.paths if posixpath.basename(p) == "conftest.py" or self.config.is_test_file(p)}
        for plugin in plugins:
            for key in self.module_keys("", 0, plugin):
                holders.update(self.module_files.get(key, ()))
        return frozenset(
            node
            for node, scope in enumerate(self.node_scope)
            if scope.fixture and scope.fixture_plain and not scope.container and self.node_path[node] in holders
        )

    def fixture_scope(self, path: str, local: str) -> bool:
        """Is ``local`` in ``path`` a fixture pytest runs by name, or code inside one?"""
        parts = local.split(".") if local else []
        return any(
            self.node_of.get((path, ".".join(parts[:i])), -1) in self.named_fixtures for i in range(1, len(parts) + 1)
        )

    # -- names --------------------------------------------------------------------------------

    def symbol(self, key: str, name: str) -> frozenset[_Target]:
        """What ``name`` is in the module ``key`` (its namespace, or a submodule)."""
        memo = (key, name)
        if memo in self._symbols:
            return self._symbols[memo]
        self._symbols[memo] = frozenset()  # cycle guard (re-exports in a loop)
        out: set[_Target] = set()
        files = self.module_files.get(key, ())
        for path in files:
            out |= self.file_symbol(path, name)
        sub = f"{key}/{name}"
        if self.exists(sub):
            out.add((_MOD, sub))
        for path in files if not out else ():
            getattr_hook = self.facts[path].defs.get("__getattr__", ())  # PEP 562: only for missing names
            out |= {(_ENT, self.node_of[(path, q)]) for q in getattr_hook}
            if getattr_hook:
                out.add(_VALUE)
        result = frozenset(out)
        self._symbols[memo] = result
        return result

    def file_symbol(self, path: str, name: str) -> set[_Target]:
        memo = (path, name)
        found = self._file_symbols.get(memo)
        if found is None:
            if memo in self._file_symbols_busy:
                if name in self.facts[path].aliases:
                    return {_VALUE}  # aliases in a cycle (with a condition or star import beside): unknown
                return set()  # a star import in a cycle: what is found elsewhere on the cycle counts there
            self._file_symbols_busy.add(memo)
            found = frozenset(self._file_symbol(path, name))
            self._file_symbols_busy.discard(memo)
            self._file_symbols[memo] = found
        return set(found)

    def _file_symbol(self, path: str, name: str) -> set[_Target]:
        facts = self.facts[path]
        out: set[_Target] = set()
        for qualname in facts.defs.get(name, ()):
            out.add((_ENT, self.node_of[(path, qualname)]))
        for ref in facts.bindings.get(name, ()):
            out |= self.binding(path, ref)
        aliased = facts.aliases.get(name)
        if aliased is not None:
            # Bound only to dotted references (FileFacts.aliases): what one of them is when its statement ran.
            for parts in aliased:
                if parts[0] != name:
                    self.resolve(path, Chain("global", parts[0], parts[1:]), out)
                elif facts.star_imports:
                    out.add(_VALUE)  # ``x = x.attr`` of a star import's ``x`` (once or more): unknown
                # else ``__builtins__ = __builtins__.__dict__``: an attribute of a builtin (or of nothing bound, a
                # NameError), outside the tree, as the attributes of a module outside it are
        elif name in facts.values:
            out.add(_VALUE)
        named = self.node_of.get((path, name))
        if named is not None and self.node_scope[named].kind == "name":
            out.add((_ENT, named))  # the statements binding it: a change there reaches whoever reads it
        if not out or (aliased is not None and facts.star_imports):
            # (An alias's name may also be what a star import binds, before or after it: ``if "x" not in
            # globals(): x = y`` after ``from .m import *``.)
            for star in facts.star_imports:
                for key in self.module_keys(path, star.level, star.module):
                    out |= self.symbol(key, name)
        return out

    def star_importers(self, path: str) -> set[str]:
        """The files whose namespace a star import fills from ``path``'s, at any depth."""
        found: set[str] = set()
        todo = [path]
        while todo:
            source = todo.pop()
            for file, facts in self.facts.items():
                if file not in found and any(
                    source in self.module_files.get(key, ())
                    for star in facts.star_imports
                    for key in self.module_keys(file, star.level, star.module)
                ):
                    found.add(file)
                    todo.append(file)
        return found

    def binding(self, path: str, ref: ImportRef) -> set[_Target]:
        keys = self.module_keys(path, ref.level, ref.module)
        if not ref.name:
            return {(_MOD, key) for key in keys}
        out: set[_Target] = set()
        for key in keys:
            out |= self.symbol(key, ref.name)
        return out

    def resolve(self, path: str, chain: Chain, final: set[_Target] | None = None) -> tuple[set[int], set[str]]:
        """The nodes a reference may run, and the attribute names read from unknown objects (``final``, if
        given, receives what the reference may evaluate to)."""
        attrs = chain.attrs
        if chain.kind == "global":
            targets = self.file_symbol(path, chain.root)
        elif chain.kind == "local":
            node = self.node_of.get((path, chain.root))
            targets = {(_ENT, node)} if node is not None else set()
        elif chain.kind == "import":
            assert chain.spec is not None
            targets = self.binding(path, chain.spec)
        else:  # self / super: the first attribute is looked up in the class's family
            cls = self.node_of.get((path, chain.root))
            if cls is None or not attrs:
                return set(), set()
            if attrs[0] == "__subclasses__":  # cls.__subclasses__(): classes no reference names
                edges, names = self.walk({_VALUE}, attrs[1:])
                return edges, names | {INSTANCES}
            if attrs[0] in NAMESPACE_ATTRS and chain.instance and self.may_be_metaclass(cls):
                # self.__dict__ where self may be a class (a metaclass's method: an outside base may be ``type``):
                # any class's namespace; an instance's own __dict__ holds what it stored
                return self.walk({_VALUE}, attrs)
            classes = self.after(cls) if chain.kind == "super" else self.family(cls)
            if attrs[0] == "*" or (attrs[0] in NAMESPACE_ATTRS and not chain.instance):
                # getattr(self, computed): every member of the family. So does the namespace of ``cls`` in a
                # classmethod (``vars(cls)``, ``cls.__dict__``) handed on whole (natsort's
                # ``fmt.format(**vars(cls))``): it holds the members of one class of the family, and the values
                # its body binds, which the class's own references reach
                every: set[_Target] = {
                    (_ENT, self.node_of[(self.node_path[c], q)]) for c in classes for _, q in self.node_scope[c].members
                }
                kept, dispatched = self._dispatch(cls, chain.kind, "*", every)
                if any(map(self.unknown_base, classes)):
                    dispatched = dispatched | {"*"}
                return {n for _, n in kept if isinstance(n, int)}, dispatched
            found, dispatched = self._dispatch(cls, chain.kind, attrs[0], self.members(classes, attrs[0]))
            targets = found or {_VALUE}
            edges, names = self.walk(targets, attrs[1:], final)
            if any(map(self.unknown_base, classes)):
                # A base that is a value of unknown type (a call's result: ``class T(make_mixin())``) may be a
                # class of the tree whose member ``self.x`` finds, first in the MRO: any entity of that name.
                names.add(attrs[0])
            return edges, names | dispatched
        return self.walk(targets, attrs, final)

    def _dispatch(self, cls: int, kind: str, attr: str, found: set[_Target]) -> tuple[set[_Target], set[str]]:
        """Split what ``self.attr`` (``super().attr``) in a method of ``cls`` may find in the class's family: the
        members of ``cls`` and its ancestors stay targets; a method only a subclass, or a base only a subclass has,
        defines runs only on an instance of such a subclass, so it is left to a name of its own (``dispatched``),
        whose candidates are those methods, each waiting for its class (or a subclass) to be used, its file to be
        in the test's import closure and its definer to have run, as any method read from an unknown object does
        (:meth:`reach`). An override defined by a class another test file defines, or in a test function that
        never ran, is then not reached by a test that makes no instance of it."""
        own = {cls, *self.ancestors(cls)}
        kept: set[_Target] = set()
        later: list[int] = []
        for target in found:
            node = target[1]
            if target[0] == _ENT and isinstance(node, int) and self.node_scope[node].kind == "method":
                holder = self.node_of.get((self.node_path[node], self.node_scope[node].parent))
                if holder is not None and holder not in own:
                    later.append(node)
                    continue
            kept.add(target)
        if not later:
            return kept, set()
        if not kept and attr != "*":
            kept.add(_VALUE)  # the value is among what the dispatched methods give: unknown here, as for them
        name = f"{DISPATCH}{kind} {self.describe(cls)}.{attr}"
        self._dispatched[name] = sorted(set(later))
        return kept, {name}

    def walk(
        self, targets: set[_Target], attrs: Iterable[str], final: set[_Target] | None = None
    ) -> tuple[set[int], set[str]]:
        edges: set[int] = set()
        names: set[str] = set()
        self._collect(targets, edges)
        attrs = tuple(attrs)
        for position, attr in enumerate(attrs):
            # A name node is only a marker of the statements binding the name: what the name holds is
            # among the other targets (the imported entity, or an unknown value).
            targets = {t for t in targets if not self._is_name(t)}
            written = writes_namespace(attrs, position)
            if attr in NAMESPACE_ATTRS and any(kind != _INST for kind, _ in targets) and not written:
                # A module's, a class's or a function's globals' namespace hands out what no reference names:
                # any attribute of anything (an instance's own __dict__ holds only what was stored in it).
                names.add("*")
            new: set[_Target] = set()
            if attr == "*":  # getattr(x, computed): any attribute of what the tree gives x (nothing of a builtin)
                if targets:
                    got: set[_Target] = {_VALUE}
                    for target in targets:
                        cls = target[1]
                        if target[0] == _ENT and isinstance(cls, int) and self.closed(cls):
                            # A class of the tree whose bases are all of the tree: a member of its MRO, a value its
                            # body binds (its node's references), or one of ``type``'s (``__subclasses__()``: its
                            # subclasses; ``__mro__``, ``__dict__``: its ancestors, its members).
                            got.add(target)
                            for c in (cls, *self.ancestors(cls)):
                                path = self.node_path[c]
                                got |= {(_ENT, self.node_of[(path, q)]) for _, q in self.node_scope[c].members}
                            got |= {(_ENT, c) for c in self.descendants(cls)}
                        else:
                            names.add("*")
                    self._collect(got, edges)
                    targets = {_VALUE}
                continue
            if attr == "()":  # a call: a class gives an instance of it; anything else, an unknown value
                for kind, value in targets:
                    if kind == _ENT and isinstance(value, int) and self.node_scope[value].kind == "class":
                        mro = {value, *self.ancestors(value)}
                        new.add(_VALUE if self.members(mro, "__new__") else (_INST, value))
                    else:
                        new.add(_VALUE)
                if not targets:  # calling something outside the tree returns an unknown value
                    new.add(_VALUE)
                targets = new
                continue
            for kind, value in targets:
                if kind == _INST:
                    assert isinstance(value, int)
                    members = self.members({value, *self.ancestors(value)}, attr)
                    if members and _VALUE not in members and not self.class_info(value)[1]:
                        new |= members
                    else:  # an instance attribute, or one an outside base class provides
                        new |= members
                        names.add(attr)
                        new.add(_VALUE)
                elif kind == _MOD:
                    assert isinstance(value, str)
                    found = self.symbol(value, attr)
                    if found:
                        new |= found
                    else:  # set at run time (setattr, globals()): unknown
                        names.add(attr)
                        new.add(_VALUE)
                elif kind == _ENT and isinstance(value, int) and self.node_scope[value].kind == "class":
                    members = self.members({value, *self.ancestors(value)}, attr)
                    if members:
                        new |= members
                    else:
                        names.add(attr)
                        new.add(_VALUE)
                else:  # an attribute of a function or of a value of unknown type
                    if not written:
                        names.add(attr)
                    new.add(_VALUE)
            self._collect(new, edges)
            targets = new
        if final is not None:
            final |= targets
        return edges, names

    def _is_name(self, target: _Target) -> bool:
        kind, value = target
        return kind == _ENT and isinstance(value, int) and self.node_scope[value].kind == "name"

    def _collect(self, targets: Iterable[_Target], edges: set[int]) -> None:
        for kind, value in targets:
            if kind == _ENT:
                assert isinstance(value, int)
                edges.add(value)
            elif kind == _MOD:
                assert isinstance(value, str)
                edges.update(self.module_node(p) for p in self.executed(value))

    def members(self, classes: Iterable[int], name: str) -> set[_Target]:
        out: set[_Target] = set()
        for cls in classes:
            scope = self.node_scope[cls]
            path = self.node_path[cls]
            for member, qualname in scope.members:
                if member == name:
                    out.add((_ENT, self.node_of[(path, qualname)]))
            if name in scope.class_attrs:
                out.add(_VALUE)
        return out

    # -- classes ------------------------------------------------------------------------------

    def class_info(self, cls: int) -> tuple[tuple[int, ...], bool, bool]:
        """(parent classes in the tree, open: derives from an outside class, unittest: a TestCase)."""
        if cls in self._parents:
            return self._parents[cls]
        self._parents[cls] = ((), False, False)  # guard
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        parents: list[int] = []
        is_open = False
        is_unittest = False
        for chains, name in zip(scope.bases, scope.base_names, strict=False):
            found: list[int] = []
            for chain in chains:
                edges, _ = self.resolve(path, chain)
                found.extend(n for n in edges if self.node_scope[n].kind == "class" and n != cls)
            if found:
                parents.extend(dict.fromkeys(found))
            else:
                is_open = is_open or name not in _INERT_BASES and not name.endswith(("Error", "Exception", "Warning"))
                is_unittest = is_unittest or name.endswith("TestCase")
        for parent in parents:
            _, parent_open, parent_unittest = self.class_info(parent)
            is_open = is_open or parent_open
            is_unittest = is_unittest or parent_unittest
        info = (tuple(dict.fromkeys(parents)), is_open, is_unittest)
        self._parents[cls] = info
        return info

    def closed(self, cls: int) -> bool:
        """Does every attribute of the class ``cls`` come from the tree: it and its ancestors have no base but
        classes of the tree (or ``object``), no metaclass keyword and no decorator that may replace the class
        (``Scope.customised``)? Then an attribute under a computed name is a member of its MRO or one of
        ``type``'s."""
        found = self._closed.get(cls)
        if found is None:
            self._closed[cls] = found = False  # guard (a cycle of bases)
            found = self.node_scope[cls].kind == "class"
            for c in (cls, *self.ancestors(cls)) if found else ():
                scope, path = self.node_scope[c], self.node_path[c]
                if scope.customised:
                    found = False
                    break
                for chains, name in zip(scope.bases, scope.base_names, strict=False):
                    if name in ("object", "builtins.object"):
                        continue
                    edges: set[int] = set()
                    for chain in chains:
                        edges |= self.resolve(path, chain)[0]
                    if not any(self.node_scope[n].kind == "class" and n != c for n in edges):
                        found = False
                        break
                if not found:
                    break
            self._closed[cls] = found
        return found

    def plain_type(self, cls: int) -> bool:
        """Is the metaclass of ``cls`` surely ``type``? It and its ancestors have no keyword (a metaclass), no
        decorator that may replace the class (``Scope.customised``), and no base but classes of the tree (every way
        the base expression resolves) and builtin classes (``object``, ``Exception``, ``dict``:
        :data:`_BUILTIN_CLASSES`, whose metaclass is ``type``). Then ``isinstance(x, cls)`` runs
        ``type.__instancecheck__``, which runs no code of the tree but what reading ``x.__class__`` runs (a dunder
        of ``x``'s class, in use wherever ``x`` exists); an ABC's ``__subclasshook__``, a metaclass's hooks, a
        typing ``Protocol``'s attribute probes would."""
        found = self._plain_type.get(cls)
        if found is None:
            self._plain_type[cls] = False  # guard (a cycle of bases)
            found = self._plain_type[cls] = all(self._plain_bases(c) for c in (cls, *self.ancestors(cls)))
        return found

    def _plain_bases(self, cls: int) -> bool:
        """Are the bases of ``cls`` only classes of the tree and builtin classes, with no keyword or replacing
        decorator (see :meth:`plain_type`)?"""
        scope, path = self.node_scope[cls], self.node_path[cls]
        if scope.kind != "class" or scope.customised or self.unknown_base(cls):
            return False
        if len(scope.bases) != len(scope.base_names):
            return False
        for chains, name in zip(scope.bases, scope.base_names, strict=True):
            for chain in chains:
                edges = self.resolve(path, chain)[0]
                if edges and all(self.node_scope[n].kind == "class" and n != cls for n in edges):
                    continue  # classes of the tree (ancestors, checked in turn)
                if edges or name not in _BUILTIN_CLASSES:
                    return False  # a name bound otherwise, or a class from outside the tree
            if not chains:
                return False
        return True

    def unknown_base(self, cls: int) -> bool:
        """Has ``cls`` a base of its own that is a value of unknown type, which may be a class of the tree (a
        call's result, ``class T(make_mixin())``; a name bound to such a value), rather than a class of the tree
        or one from outside it?"""
        found = self._unknown_base.get(cls)
        if found is None:
            self._unknown_base[cls] = found = False  # guard
            scope, path = self.node_scope[cls], self.node_path[cls]
            for chains in scope.bases:
                final: set[_Target] = set()
                for chain in chains:
                    self.resolve(path, chain, final)
                if not chains or _VALUE in final:
                    found = True
                    break
            self._unknown_base[cls] = found
        return found

    def may_be_metaclass(self, cls: int) -> bool:
        """May ``cls`` derive from ``type`` (then ``self`` in its methods is a class)? Yes when a base outside the
        tree, at any depth, is not known to be another kind of class (:data:`_QUIET_BASES`, :data:`_INERT_BASES`,
        exceptions, a standard-library class that does not derive from ``type``: :mod:`.stdlib_bases`)."""
        found = self._metaclass.get(cls)
        if found is not None:
            return found
        self._metaclass[cls] = True  # guard
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        out = False
        for chains, name in zip(scope.bases, scope.base_names, strict=False):
            inside = [
                n
                for chain in chains
                for n in self.resolve(path, chain)[0]
                if self.node_scope[n].kind == "class" and n != cls
            ]
            if any(self.may_be_metaclass(n) for n in inside):
                out = True
            elif not inside and name not in _QUIET_BASES and name not in _INERT_BASES:
                known = metaclass_base(name)  # a standard-library class says what it is
                out = not name.endswith(("Error", "Exception", "Warning")) if known is None else known
            if out:
                break
        self._metaclass[cls] = out
        return out

    def callbacks(self, cls: int) -> frozenset[str] | None:
        """The methods outside bases may call by name (besides dunders and protocol names): None for any."""
        if cls in self._callbacks:
            return self._callbacks[cls]
        self._callbacks[cls] = frozenset()  # guard
        scope = self.node_scope[cls]
        parents = self.class_info(cls)[0]
        found: set[str] | None = set()
        for chains, name in zip(scope.bases, scope.base_names, strict=False):
            inside = any(
                self.node_scope[n].kind == "class"
                for chain in chains
                for n in self.resolve(self.node_path[cls], chain)[0]
            )
            if inside or name in _INERT_BASES or name.endswith(("Error", "Exception", "Warning")):
                continue
            names = _ABC_CALLBACKS.get(name)
            if names is None or found is None:
                found = None
            else:
                found |= names
        for parent in parents:
            above = self.callbacks(parent)
            if above is None or found is None:
                found = None
            else:
                found |= above
        result = None if found is None else frozenset(found)
        self._callbacks[cls] = result
        return result

    def hands_out(self, cls: int) -> bool:
        """Does defining ``cls`` hand the new class object to other code, which may keep it and make instances
        later (or make them at once: an enum's members)? Its own decorators, keywords or ``__set_name__``
        hooks (``Scope.hands_out``), a base of the tree whose subclasses are handed out (it is, or defines
        ``__init_subclass__``), or an outside base not known to be quiet (:data:`_QUIET_BASES`, or a standard-library
        class found quiet where it is defined: :func:`~trellis.ci.selection.stdlib_bases.quiet_base`)."""
        found = self._hands_out.get(cls)
        if found is not None:
            return found
        self._hands_out[cls] = True  # guard (a cycle of bases cannot be defined: assume the worst)
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        out = scope.hands_out or not self.plain_bindings(cls)
        out = out or any(not self._returns_functions(path, q) for q in scope.set_name_members)
        out = out or any(not self._plain_instances(path, chains) for chains in scope.set_name_calls)
        for chains, name in zip(scope.bases, scope.base_names, strict=False):
            if out:
                break
            parents: list[int] = []
            outside = not chains
            for chain in chains:
                edges, _ = self.resolve(path, chain)
                inside = [n for n in edges if self.node_scope[n].kind == "class" and n != cls]
                parents.extend(inside)
                outside = outside or not inside or self._may_be_outside(path, chain)
            out = any(self.hands_out(p) or self._has_member(p, "__init_subclass__") for p in parents)
            out = out or (outside and name not in _QUIET_BASES and not quiet_base(name) and name not in _ENUM_BASES)
        family = (cls, *self.ancestors(cls))
        if not out and any(name in _ENUM_BASES for c in family for name in self._outside_bases(c)):
            # An enum: its members are made when the class statement runs, by code of the family's own if it
            # defines a hook (``__init__`` of a member's value, ``_generate_next_value_`` of ``auto()``...).
            out = any(self._has_member(c, hook) for c in family for hook in _ENUM_HOOKS)
        self._hands_out[cls] = out
        return out

    def _plain_instances(self, path: str, chains: tuple[Chain, ...]) -> bool:
        """Is what a call of ``chains`` returns an instance of a class of the tree that has no ``__set_name__`` (a
        value a class body binds: ``__size = _DefaultSize()``)? Each class it may name is one of the tree, deriving
        from no class outside it but ``object``, not handed out (its metaclass is ``type``), and neither it nor a
        class it derives from defines ``__set_name__``, ``__new__`` (which may return anything) or ``__getattr__``."""
        values: set[_Target] = set()
        for chain in chains:
            if self._may_be_outside(path, chain):
                return False
            self.resolve(path, chain, values)
        values = {v for v in values if not self._is_name(v)}
        if not values:
            return False
        for kind, value in values:
            if kind != _ENT or not isinstance(value, int) or self.node_scope[value].kind != "class":
                return False
            if self.class_info(value)[1] or self.hands_out(value):
                return False
            for cls in (value, *self.ancestors(value)):
                if any(self._has_member(cls, hook) for hook in ("__set_name__", "__new__", "__getattr__")):
                    return False
                if any(name != "object" for name in self._outside_bases(cls)):
                    return False
        return True

    def _outside_bases(self, cls: int) -> list[str]:
        """The dotted names of ``cls``'s bases that name no class of the tree ("" for one that is no plain name)."""
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        out: list[str] = []
        for chains, name in zip(scope.bases, scope.base_names, strict=False):
            found = [n for chain in chains for n in self.resolve(path, chain)[0] if self.node_scope[n].kind == "class"]
            if not found:
                out.append(name)
        return out

    def kept(self, node: int) -> Kept | None:
        """``Scope.kept`` of a function whose name binds the function itself: no decorator but inert ones and
        decorators of the tree that give back their argument (:meth:`_gives_back`); else None."""
        scope = self.node_scope[node]
        if scope.kept is None or not scope.decorated_by:
            return scope.kept
        found = self._binds_itself.get(node)
        if found is None:
            self._binds_itself[node] = False  # (a decorator decorated by itself: nothing known)
            path = self.node_path[node]
            found = len(scope.decorator_args) == len(scope.decorated_by) and all(
                given < 0 and self._gives_back(path, chains)
                for chains, given in zip(scope.decorated_by, scope.decorator_args, strict=True)
            )
            self._binds_itself[node] = found
        return scope.kept if found else None

    def _gives_back(self, path: str, chains: tuple[Chain, ...]) -> bool:
        """Is a bare decorator inert, or functions of the tree (and nothing else) whose every ``return`` gives back
        their argument (tenacity's ``override`` backport: ``method.__override__ = True; return method``)?"""
        return self._decorator_makes(path, chains, lambda _, returned: returned == RETURNS_ARGUMENT)

    def _returns_functions(self, path: str, method: str) -> bool:
        """Is what a method's bare decorators make of it a function (no ``__set_name__`` to hand the class to)?
        Each decorator is inert, or a function of the tree (and nothing else) whose every ``return`` gives back its
        argument or a function it defines under inert decorators."""
        node = self.node_of.get((path, method))
        scope = self.node_scope[node] if node is not None else None
        if scope is None or not scope.decorated_by or len(scope.decorator_args) != len(scope.decorated_by):
            return False
        return all(
            given < 0 and self._decorator_makes(path, chains, self._a_function)
            for chains, given in zip(scope.decorated_by, scope.decorator_args, strict=True)
        )

    def _a_function(self, function: int, returned: str) -> bool:
        """Is what a ``return`` of ``function`` gives back (``Kept.returned``) a function: the argument, or a
        function it defines under inert decorators?"""
        if returned == RETURNS_ARGUMENT:
            return True
        made = self.node_of.get((self.node_path[function], returned)) if returned else None
        return made is not None and self.node_scope[made].kind == "function" and not self.node_scope[made].def_effects

    def _decorator_makes(self, path: str, chains: tuple[Chain, ...], accept: Callable[[int, str], bool]) -> bool:
        """Is a bare decorator of ``path`` inert, or bound to functions of the tree (and inert outside names alone
        besides) every ``return`` of which gives back what ``accept`` accepts (``Kept.returned``)?"""
        names = [self.outside_names(path, chain) for chain in chains]
        if chains and all(n is not None and all(map(inert_decorator, n)) for n in names):
            return True
        for chain in chains:
            final: set[_Target] = set()
            self.resolve(path, chain, final)
            functions = self._functions(final)
            outside = self._outside_alternatives(path, chain)
            if functions is None or outside is None or not all(map(inert_decorator, outside)):
                return False
            for function in functions:
                kept = self.kept(function)
                if self.node_scope[function].kind != "function" or kept is None or not kept.returned:
                    return False
                if not all(accept(function, returned) for returned, _ in kept.returned):
                    return False
        return bool(chains)

    def _subscribed(self, cls: int) -> set[int]:
        """What subscribing ``cls``'s generic bases runs where ``cls`` is defined (``class M(Serializer[str])``):
        for a base of the tree whose ancestors are the tree's, ``object`` or typing's ``Generic``/``Protocol``
        (none customised: no metaclass of its own), the ``__class_getitem__`` methods of the tree among them
        (typing's keeps the names it is given); for any other base, the base as used, as reading it counts."""
        out: set[int] = set()
        path = self.node_path[cls]
        for chains in self.node_scope[cls].generic_bases:
            classes = self._tree_classes(path, chains)
            if classes and cls not in classes and all(self._generic_only(c) for c in classes):
                for c in classes:
                    for k in (c, *self.ancestors(c)):
                        out.update(
                            self.node_of[(self.node_path[k], q)]
                            for m, q in self.node_scope[k].members
                            if m == "__class_getitem__"
                        )
            else:
                for chain in chains:
                    out |= self.resolve(path, chain)[0]
        return out

    def _tree_classes(self, path: str, chains: tuple[Chain, ...]) -> list[int] | None:
        """The classes of the tree a base's readings name, when they name nothing else (but the node of the import
        binding the name in ``path``: ``from .serializer import Serializer``) and cannot be bound to anything
        outside the tree; else None."""
        facts = self.facts[path]
        classes: list[int] = []
        for chain in chains:
            if self._may_be_outside(path, chain):
                return None
            for node in self.resolve(path, chain)[0]:
                scope = self.node_scope[node]
                if scope.kind == "class":
                    classes.append(node)
                elif not (
                    scope.kind == "name"
                    and self.node_path[node] == path
                    and scope.name in facts.bindings
                    and scope.name not in facts.values
                ):
                    return None
        return classes or None

    def _generic_only(self, cls: int) -> bool:
        """Are ``cls`` and its ancestors, but for classes of the tree, based on ``object`` or typing's ``Generic``
        or ``Protocol`` alone, none customised (a metaclass or a decorator may give the class a ``__getitem__``)?"""
        for c in (cls, *self.ancestors(cls)):
            scope, path = self.node_scope[c], self.node_path[c]
            if scope.customised or "__class_getitem__" in scope.class_attrs:  # (bound to a function elsewhere)
                return False
            for chains, name in zip(scope.bases, scope.base_names, strict=False):
                if name not in _GENERIC_ROOTS and self._tree_classes(path, chains) is None:
                    return False
        return True

    def plain_bindings(self, cls: int) -> bool:
        """Do the statements of ``cls``'s body that bind a name to a named value (``Scope.bound_values``) only
        bind, running no ``__set_name__``? Yes when every value is a module, a function or method of the tree without
        definition effects (a decorator may return anything), or a class of the tree that is not handed out
        (so its metaclass is ``type``, or a quiet base's: none has a ``__set_name__``)."""
        found = self._plain.get(cls)
        if found is not None:
            return found
        self._plain[cls] = False  # guard (classes naming each other: assume the worst)
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        out = True
        for chains in scope.bound_values:
            if chains and all(self._outside_module(path, chain) for chain in chains):
                continue  # ``default_serializer = json``: a module's type has no ``__set_name__``
            if chains and all(self._quiet_outside_value(path, chain) for chain in chains):
                continue  # ``num_type = int``, ``DESERIALIZATION_CLASS = ipaddress.IPv4Address``: neither has one
            values: set[_Target] = set()
            for chain in chains:
                self.resolve(path, chain, values)
            values = {v for v in values if not self._is_name(v)}
            out = out and bool(values) and all(self._plain_value(v) for v in values)
        self._plain[cls] = out
        return out

    def _quiet_outside_value(self, path: str, chain: Chain) -> bool:
        """Is ``chain`` a builtin or a value of the standard library (:func:`~trellis.ci.selection.stdlib_bases.
        quiet_value`) whose type has no ``__set_name__``, whatever it may be bound to?"""
        names = self.outside_names(path, chain)
        if names is None and chain.kind == "global":
            facts = self.facts[path]
            unbound = not (
                facts.star_imports
                or chain.root in facts.bindings
                or chain.root in facts.defs
                or chain.root in facts.values
                or chain.root in facts.aliases
            )
            if unbound and hasattr(builtins, chain.root):
                names = frozenset({".".join(("builtins", chain.root, *chain.attrs))})
        return bool(names) and all(quiet_value(name) for name in names or ())

    def _outside_module(self, path: str, chain: Chain) -> bool:
        """Is ``chain`` a module outside the tree, read whole (``import json`` then ``json``): bound only by ``import``
        statements of modules the tree does not hold?"""
        if chain.attrs:
            return False
        if chain.kind == "import":
            refs: tuple[ImportRef, ...] = (chain.spec,) if chain.spec is not None else ()
        elif chain.kind == "global":
            facts = self.facts.get(path)
            if facts is None or facts.star_imports or chain.root in facts.defs or chain.root in facts.values:
                return False
            if chain.root in facts.aliases:
                return False
            refs = tuple(facts.bindings.get(chain.root, ()))
        else:
            return False
        return bool(refs) and all(
            not r.name and not r.level and r.module != "*" and not self.module_keys(path, 0, r.module) for r in refs
        )

    def _plain_value(self, target: _Target) -> bool:
        kind, value = target
        if kind == _MOD:
            return True
        if kind != _ENT or not isinstance(value, int):
            return False
        scope = self.node_scope[value]
        if scope.kind in ("function", "method"):  # a method aliased in its class body: ``next = __next__``
            return not scope.def_effects
        return scope.kind == "class" and not self.hands_out(value)

    def def_effects(self, node: int) -> bool:
        """Does running ``node``'s definition do more than bind its name? ``Scope.def_effects``, or for a class,
        handing the new class to other code (:meth:`hands_out`: a base's ``__init_subclass__`` or metaclass, an
        outside base's, a ``__set_name__`` of a value its body binds)."""
        scope = self.node_scope[node]
        if scope.def_effects and self.inert_decorated(node):
            return False
        return scope.def_effects or (scope.kind == "class" and self.hands_out(node))

    def inert_decorated(self, node: int) -> bool:
        """Are the decorators that made ``node``'s definition do more than bind its name (``Scope.decorated_by``)
        each bound, through the tree's imports and aliases, to a decorator known to be inert (a helper module's
        ``skipIf = unittest.skipIf``, ``from unittest import skip`` imported from it)? Then running the
        definition binds its name and hands the function to no code."""
        scope = self.node_scope[node]
        if not scope.decorated_by:
            return False
        path = self.node_path[node]
        for chains in scope.decorated_by:
            names = [self.outside_names(path, chain) for chain in chains]
            if not chains or not all(n is not None and all(map(inert_decorator, n)) for n in names):
                return False
        return True

    def kept_decorated(self, node: int) -> bool:
        """Is each decorator of the function ``node`` inert (:meth:`inert_decorated`'s names) or a function of the
        tree that keeps what it is given (:mod:`trellis.ci.selection.param_flow`): ``@retry`` keeps its argument,
        ``@retry(stop=...)`` returns a nested function that keeps its argument? Then defining the function calls it
        nowhere and hands it to nothing but the value bound to its name: only the references to the name reach it."""
        found = self._kept_decorated.get(node)
        if found is None:
            found = self._kept_decorated[node] = self._decorators_keep(node)
        return found

    def _decorators_keep(self, node: int) -> bool:
        scope = self.node_scope[node]
        if scope.kind not in ("function", "method") or not scope.decorated_by:
            return False
        if len(scope.decorator_args) != len(scope.decorated_by):
            return False
        path = self.node_path[node]
        for chains, given in zip(scope.decorated_by, scope.decorator_args, strict=True):
            names = [self.outside_names(path, chain) for chain in chains]
            if chains and all(n is not None and all(map(inert_decorator, n)) for n in names):
                continue
            if not chains:
                return False
            for chain in chains:
                final: set[_Target] = set()
                self.resolve(path, chain, final)
                functions = self._functions(final)
                if functions is None or any(self.node_scope[f].kind != "function" for f in functions):
                    return False
                outside = self._outside_alternatives(path, chain)
                if outside is None or not all(map(inert_decorator, outside)):
                    return False
                for function in functions:
                    if given < 0:
                        if not self._keeps(function, 0, set()):
                            return False
                    elif not self._returns_keeping(function, given, 0, set()):
                        return False
        return True

    def _functions(self, targets: set[_Target]) -> set[int] | None:
        """The functions and methods of the tree ``targets`` are, or None if any may be anything else. A module
        (``from pkg import retry``, where ``pkg/retry.py`` is a submodule too) runs nothing when called: it
        raises; a name's marker node is no value (:meth:`_is_name`)."""
        found: set[int] = set()
        for target in targets:
            kind, value = target
            if kind == _MOD or self._is_name(target):
                continue
            if kind != _ENT or not isinstance(value, int) or self.node_scope[value].kind not in ("function", "method"):
                return None
            found.add(value)
        return found or None

    def _only_functions(self, path: str, chain: Chain, *, names: bool = False) -> bool:
        """Is a reference of ``path`` bound to functions of the tree and nothing else? ``names``: a module-level
        name holding what calls returned (``Scope.made_by``) counts when each callee is a function of the tree
        whose every ``return`` gives back a function it defines (``Scope.results``)."""
        final: set[_Target] = set()
        self.resolve(path, chain, final)
        if names and any(self._is_name(t) for t in final):
            held = {t for t in final if self._is_name(t)}
            if self.facts[path].star_imports or not all(self._holds_functions(int(t[1])) for t in held):
                return False
            final -= held | {_VALUE}  # (the value those names hold)
            if not final:
                return True
        functions = self._functions(final)
        return (
            functions is not None
            and all(self.node_scope[f].kind == "function" for f in functions)
            and self._outside_alternatives(path, chain) == frozenset()
        )

    def _constructs_apart(self, cls: int) -> bool:
        """Is making an instance of ``cls`` apart from using it: every attribute comes from the tree (:meth:`closed`:
        no outside base but ``object``, no metaclass, no decorator replacing a class of its family)?"""
        if self.node_scope[cls].kind != "class" or self.class_info(cls)[1] or not self.closed(cls):
            return False
        return not any(  # (a base of the tree that may be bound to an outside class too: open after all)
            self._may_be_outside(self.node_path[c], chain)
            for c in (cls, *self.ancestors(cls))
            for chains, name in zip(self.node_scope[c].bases, self.node_scope[c].base_names, strict=False)
            if name not in ("object", "builtins.object")
            for chain in chains
        )

    def _plain_method(self, method: int, cls: int) -> bool:
        """Does the method ``method`` of ``cls`` (one its construction may run) reach ``cls`` as making an instance
        does: the class's construction apart (:meth:`_constructs_apart`), its code reading the instance only for
        attributes or handing it to methods of the class's ancestors (``Scope.self_plain``)? Else, for the
        operators and protocols it may apply to the instance, the class as used."""
        scope = self.node_scope[method]
        if scope.kind != "method" or not scope.self_plain or not self._constructs_apart(cls):
            return False
        family = {cls, *self.ancestors(cls)}
        path = self.node_path[method]
        for chains in scope.self_handoffs:
            if not chains:
                return False
            for chain in chains:
                final: set[_Target] = set()
                self.resolve(path, chain, final)
                for kind, value in final:
                    if kind != _ENT or not isinstance(value, int) or self.node_scope[value].kind != "method":
                        return False
                    owner = self.node_of.get((self.node_path[value], self.node_scope[value].parent))
                    if owner not in family:
                        return False
                if not final:
                    return False
        return True

    def _holds_functions(self, name: int) -> bool:
        """Does a module-level name hold only what calls of functions of the tree returned (``Scope.made_by``),
        each function's every ``return`` giving back a function it defines (``Scope.results``): a function?"""
        scope = self.node_scope[name]
        if not scope.made_by:
            return False
        path = self.node_path[name]
        for chain in scope.made_by:
            final: set[_Target] = set()
            self.resolve(path, chain, final)
            functions = self._functions(final)
            if functions is None or self._outside_alternatives(path, chain) != frozenset():
                return False
            for function in functions:
                made = self.node_scope[function]
                kept = self.kept(function)
                if made.kind != "function" or kept is None or not kept.returned:
                    return False
                if not all(returned in made.results for returned, _ in kept.returned):
                    return False
        return True

    def _outside_alternatives(self, path: str, chain: Chain, depth: int = 0) -> frozenset[str] | None:
        """The dotted names outside the tree a callee of ``path`` may also be bound to, beside definitions and
        modules of the tree (``try: from lib import deco`` / ``except ImportError: def deco(f)``): None when it may
        be another value (an assignment, a star import's name)."""
        if depth > 8:
            return None
        if chain.kind == "local":
            return frozenset()
        if chain.kind == "import":
            assert chain.spec is not None
            return self._import_alternatives(path, chain.spec, chain.attrs, depth)
        if chain.kind != "global" or chain.attrs:
            return None if chain.kind != "global" else self._attr_alternatives(path, chain, depth)
        facts = self.facts.get(path)
        if facts is None or facts.star_imports or chain.root in facts.values:
            return None
        if chain.root in facts.rebound:
            return None  # a statement binds the defined name to something else (``if lib.flag: deco = lib.deco``)
        found: set[str] = set()
        for ref in facts.bindings.get(chain.root, ()):
            names = self._import_alternatives(path, ref, (), depth)
            if names is None:
                return None
            found |= names
        for parts in facts.aliases.get(chain.root, ()):  # deco = lib.register (under a condition, say)
            names = self._outside_alternatives(path, Chain("global", parts[0], tuple(parts[1:])), depth + 1)
            if names is None:
                return None
            found |= names
        return frozenset(found)

    def _attr_alternatives(self, path: str, chain: Chain, depth: int) -> frozenset[str] | None:
        """``mod.deco`` where ``mod`` is only imported: the alternatives of ``deco`` in that module."""
        facts = self.facts.get(path)
        if facts is None or facts.star_imports or chain.root in facts.values or chain.root in facts.defs:
            return None
        found: set[str] = set()
        for ref in facts.bindings.get(chain.root, ()):
            names = self._import_alternatives(path, ref, chain.attrs, depth)
            if names is None:
                return None
            found |= names
        return frozenset(found)

    def _import_alternatives(
        self, path: str, ref: ImportRef, attrs: tuple[str, ...], depth: int
    ) -> frozenset[str] | None:
        keys = self.module_keys(path, ref.level, ref.module)
        if not keys:
            if ref.level:
                return None
            return frozenset({".".join([ref.module, *([ref.name] if ref.name else []), *attrs])})
        name, rest = (ref.name, attrs) if ref.name else (attrs[0] if attrs else "", attrs[1:])
        if not name:
            return None
        found: set[str] = set()
        for key in keys:
            if f"{key}/{name}" in self.module_files and not rest:
                continue  # the submodule: calling it raises
            for file in self.module_files.get(key, ()):
                names = self._outside_alternatives(file, Chain("global", name, rest), depth + 1)
                if names is None:
                    return None
                found |= names
        return frozenset(found)

    def _keeps(self, function: int, position: int, seen: set[tuple[int, int]]) -> bool:
        """Does ``function`` keep what it is given at ``position`` (its positional parameters, then ``*args``)?
        A cycle of calls keeps it unless some call of it does not."""
        if (function, position) in seen:
            return True
        seen.add((function, position))
        kept = self.kept(function)
        if kept is None:
            return False
        if position < len(kept.params):
            handoffs = kept.params[position]
        else:
            handoffs = kept.star
        if handoffs is None:
            return False
        path = self.node_path[function]
        for handoff in handoffs:
            for chain in handoff.callee:
                final: set[_Target] = set()
                self.resolve(path, chain, final)
                callees = self._functions(final)
                if callees is None:
                    return False
                for callee in callees:
                    if handoff.result_of >= 0:
                        if self.node_scope[callee].kind != "function" or not self._returns_keeping(
                            callee, handoff.result_of, handoff.position, seen
                        ):
                            return False
                        continue
                    offset = self._bound_offset(chain, callee)
                    if offset is None or not self._keeps(callee, handoff.position + offset, seen):
                        return False
        return True

    def _bound_offset(self, chain: Chain, callee: int) -> int | None:
        """Where a call's first positional argument lands in ``callee``'s parameters: after the instance of a method
        read from an instance (``r.wraps``, ``super().wraps``, ``self.wraps``), first for a plain function; None
        when it is unclear (a method read from its class, a function stored in a class)."""
        kept = self.kept(callee)
        if kept is None:
            return None
        instance = (chain.kind == "super") or (chain.kind == "self" and chain.instance)
        instance = instance or (len(chain.attrs) >= 2 and chain.attrs[-2] == "()")
        if self.node_scope[callee].kind == "method":
            return 1 if instance and kept.method else None
        return 0 if not instance and chain.kind in ("global", "local", "import") else None

    def _returns_keeping(self, function: int, given: int, position: int, seen: set[tuple[int, int]]) -> bool:
        """Does every value ``function`` may return when called with ``given`` positional arguments keep what it
        is given at ``position``: a nested function of it (``wrap``), which :meth:`_keeps`?"""
        kept = self.kept(function)
        if kept is None or not kept.returned:
            return False
        path = self.node_path[function]
        for qualname, guarded in kept.returned:
            if guarded and given == 0:
                continue
            nested = self.node_of.get((path, qualname)) if qualname else None
            if nested is None or self.node_scope[nested].kind != "function":
                return False
            if not self._keeps(nested, position, seen):
                return False
        return True

    def outside_names(self, path: str, chain: Chain, depth: int = 0) -> frozenset[str] | None:
        """The dotted names outside the tree that a reference of ``path`` may be bound to, through imports of the
        tree's modules and module-level aliases (``FileFacts.aliases``): None when it may be anything else (a
        definition or another value of the tree, a module of the tree, a star import's name, a local)."""
        if depth > 8:
            return None
        if chain.kind == "import":
            assert chain.spec is not None
            return self._import_outside(path, chain.spec, chain.attrs, depth)
        if chain.kind != "global":
            return None
        facts = self.facts.get(path)
        if facts is None or facts.star_imports or chain.root in facts.defs:
            return None
        refs = facts.bindings.get(chain.root, ())
        aliased = facts.aliases.get(chain.root)
        if refs and aliased is None and chain.root not in facts.values:
            found = [self._import_outside(path, ref, chain.attrs, depth) for ref in refs]
        elif aliased is not None and not refs:
            if any(parts[0] == chain.root for parts in aliased):
                return None  # rebound from its own earlier value (``__builtins__ = __builtins__.__dict__``)
            found = [
                self.outside_names(path, Chain("global", parts[0], (*parts[1:], *chain.attrs)), depth + 1)
                for parts in aliased
            ]
        else:
            return None
        return _union(found)

    def _import_outside(self, path: str, ref: ImportRef, attrs: tuple[str, ...], depth: int) -> frozenset[str] | None:
        keys = self.module_keys(path, ref.level, ref.module)
        if not keys:
            return None if ref.level else frozenset({".".join([ref.module, *([ref.name] if ref.name else []), *attrs])})
        name, rest = (ref.name, attrs) if ref.name else (attrs[0] if attrs else "", attrs[1:])
        found: list[frozenset[str] | None] = []
        for key in keys:
            files = self.module_files.get(key, ())
            if not name or not files or f"{key}/{name}" in self.module_files:
                return None  # the module itself, or a submodule
            found.extend(self.outside_names(file, Chain("global", name, rest), depth + 1) for file in files)
        return _union(found)

    def _has_member(self, cls: int, name: str) -> bool:
        return any(member == name for member, _ in self.node_scope[cls].members)

    def _may_be_outside(self, path: str, chain: Chain, seen: frozenset[str] = frozenset()) -> bool:
        """May a name read as a class of the tree be bound to something else too (an import from outside the
        tree beside the definition, ``try: from lib import Base`` / ``except ImportError: class Base``)?"""
        if chain.kind == "global":
            facts = self.facts[path]
            aliased = facts.aliases.get(chain.root)
            if aliased is not None and chain.root not in seen:
                return bool(facts.star_imports) or any(
                    self._may_be_outside(path, Chain("global", p[0], p[1:]), seen | {chain.root}) for p in aliased
                )
            if chain.root in facts.values or (chain.root not in facts.defs and chain.root not in facts.bindings):
                return True
            return any(not self.module_keys(path, ref.level, ref.module) for ref in facts.bindings.get(chain.root, ()))
        if chain.kind == "import" and chain.spec is not None:
            return not self.module_keys(path, chain.spec.level, chain.spec.module)
        return False

    def ancestors(self, cls: int) -> list[int]:
        out: list[int] = []
        queue = list(self.class_info(cls)[0])
        while queue:
            parent = queue.pop(0)
            if parent not in out and parent != cls:
                out.append(parent)
                queue.extend(self.class_info(parent)[0])
        return out

    def descendants(self, cls: int) -> set[int]:
        if self._children is None:
            self._children = {}
            for node, scope in enumerate(self.node_scope):
                if scope.kind == "class":
                    for parent in self.class_info(node)[0]:
                        self._children.setdefault(parent, []).append(node)
        out: set[int] = set()
        queue = [cls]
        while queue:
            for child in self._children.get(queue.pop(), ()):
                if child not in out:
                    out.add(child)
                    queue.append(child)
        return out

    def family(self, cls: int) -> frozenset[int]:
        """Every class whose method ``self.x`` may dispatch to, for an instance of ``cls`` or a subclass: the
        classes of each subclass's lineages (:meth:`lineages`) that hold ``cls``."""
        if cls not in self._family:
            self._family[cls] = self._lineage_classes(cls, after=False)
        return self._family[cls]

    def after(self, cls: int) -> frozenset[int]:
        """The classes of the tree ``super()`` in a method of ``cls`` may find an attribute in: those after ``cls``
        in the method resolution order of ``cls`` or of a subclass. A subclass precedes its bases there, so they
        are the family less ``cls`` and its subclasses."""
        found = self._after.get(cls)
        if found is None:
            found = self._after[cls] = self._lineage_classes(cls, after=True)
        return found

    def _lineage_classes(self, cls: int, *, after: bool) -> frozenset[int]:
        below = {cls, *self.descendants(cls)}
        out: set[int] = set()
        for sub in below:
            lineages = self.lineages(sub)
            if lineages is None:  # too many ways to list: every ancestor of every subclass
                out = set(below)
                for c in below:
                    out.update(self.ancestors(c))
                break
            for lineage in lineages:
                if cls in lineage:
                    out |= lineage
        return frozenset(out - below if after else out)

    def lineages(self, cls: int) -> frozenset[frozenset[int]] | None:
        """The sets of classes of the tree that ``cls`` and its ancestors may be, one per way its bases resolve: a
        base expression naming several classes (``try: from .a import Base`` / ``except ImportError: class
        Base``) is one of them at run time, not all. None past :data:`_MAX_LINEAGES`."""
        if cls in self._lineages:
            return self._lineages[cls]
        self._lineages[cls] = frozenset({frozenset({cls})})  # guard against a cycle of names
        scope = self.node_scope[cls]
        path = self.node_path[cls]
        out: frozenset[frozenset[int]] | None = frozenset({frozenset({cls})})
        for chains in scope.bases:
            options: set[int] = set()
            for chain in chains:
                edges, _ = self.resolve(path, chain)
                options.update(n for n in edges if self.node_scope[n].kind == "class" and n != cls)
            if not options:
                continue  # an outside base: nothing of the tree
            choices: set[frozenset[int]] = set()
            for option in options:
                below = self.lineages(option)
                if below is None:
                    choices = set()
                    break
                choices |= below
            if not choices or out is None or len(out) * len(choices) > _MAX_LINEAGES:
                out = None
                break
            out = frozenset(mine | theirs for mine in out for theirs in choices)
        self._lineages[cls] = out
        return out

    # -- edges --------------------------------------------------------------------------------

    def _edges(self, node: int) -> tuple[set[int], set[str], str]:
        path = self.node_path[node]
        scope = self.node_scope[node]
        refs = scope.refs
        if scope.results:
            returned = frozenset(scope.results)
            refs = replace(
                refs,
                chains=tuple(c for c in refs.chains if not (c.kind == "local" and c.root in returned and not c.attrs)),
            )
            self.results[node] = tuple(self.node_of[(path, q)] for q in scope.results if (path, q) in self.node_of)
        if scope.kind == "class" and scope.base_only and self._constructs_apart(node):
            # its parents: the run's (as making an instance) and the results' (as using it), below
            refs = replace(refs, chains=tuple(c for c in refs.chains if c not in scope.base_only))
        runs: set[int] = set()
        handed_edges: set[int] = set()
        parent = self.node_of.get((path, scope.parent)) if scope.parent else None
        plain = parent is not None and self._plain_method(node, parent)
        if plain and parent is not None and scope.self_handoffs:
            # ``Base.__init__(self, ...)``: reading a method off a class of the family runs nothing of the class (no
            # metaclass): the method, and the class as making an instance reaches it
            handed = {c for chains in scope.self_handoffs for c in chains}
            refs = replace(refs, chains=tuple(c for c in refs.chains if c not in handed))
            family = {parent, *self.ancestors(parent)}
            for chain in handed:
                for target in self.resolve(path, chain)[0]:
                    (runs if target in family else handed_edges).add(target)
        if refs.made:
            for chain in refs.made:
                runs |= self.resolve(path, chain)[0]
        if plain and parent is not None:
            runs.add(parent)  # what making an instance runs (_CONSTRUCTION), not all its dunders
        if runs:
            self.run_succ[node] = tuple(sorted(runs))
        if scope.reconstructor and self.named_elsewhere(node):
            # Another file names it, so anything may call it with any name: what the extractor left out for the
            # calls of copy and unpickling (python_refs._reconstructors), any module and any attribute.
            refs = replace(refs, any_attr=True, imports=(*refs.imports, ImportRef(0, "*")))
        modules = self._observed_modules(node) if refs.computed else None
        if modules is not None:  # its computed imports: the modules they were given, not any module
            refs = replace(refs, imports=tuple(r for r in refs.imports if r.module != "*"))
        fetched = self._fetched(node) if refs.fetches else None
        if fetched is not None:  # getattr(x, computed): the attributes the calls were observed to fetch
            refs = fetching(refs, fetched)
        edges, names, dynamic = self._refs(path, refs)
        edges |= handed_edges
        if modules is not None:
            self._imported(node, modules, edges)
        if refs.module_attrs:
            if modules is None:
                names.add("*")  # any module: any attribute
            else:
                edges |= self.top_level_nodes(modules)
        if refs.unpickles:
            dynamic = self._unpickled(node, edges, names, dynamic)
        if refs.processes:
            dynamic = self._started(node, edges, dynamic)
        if scope.refs.evals:
            dynamic = self._evaluated(node, edges, names, dynamic)
        edges.update(self._defined_used.get(node, ()))
        for cls in self._defined_bindings.get(node, ()):
            more, more_names, why = self._refs(path, self.node_scope[cls].refs)
            edges |= more
            names |= more_names
            dynamic = dynamic or why
        if scope.qualname:
            edges.add(self.module_node(path))
            if parent is not None and not plain:
                edges.add(parent)  # a method its class, a nested function its function
        if scope.kind == "module":
            # Which names a star import binds: the source's __all__. A literal __all__ is left out: selection
            # compares its names between trees and marks the names that came or went (TestIndex.select).
            for star in self.facts[path].star_imports:
                for key in self.module_keys(path, star.level, star.module):
                    for file in self.module_files.get(key, ()):
                        found = self.node_of.get((file, "__all__"))
                        if found is not None and self.facts[file].exports is None:
                            edges.add(found)
        if scope.kind == "class":
            parents, is_open, _ = self.class_info(node)
            called = self.callbacks(node) if is_open else frozenset()
            # A class whose attributes all come from the tree: making an instance (a module's ``x = C()``: a run
            # edge) runs its construction's methods (_CONSTRUCTION) and its parents'; its other dunder and protocol
            # methods run where the instance is used (the class's results), or where a method hands it on.
            split = self._constructs_apart(node)
            results: list[int] = []
            if split:
                results.extend(parents)
                self.run_succ[node] = parents
            else:
                edges.update(parents)
            container = self.node_of.get((path, scope.container))
            if container is not None:
                edges.add(container)
            for member, qualname in scope.members:
                if (
                    called is None
                    or member in called
                    or member in _PROTOCOL
                    or (member.startswith("__") and member.endswith("__"))
                ):
                    target = self.node_of[(path, qualname)]
                    if split and member not in _CONSTRUCTION:
                        results.append(target)
                    else:
                        edges.add(target)
            if results:
                self.results[node] = tuple(dict.fromkeys(results))
        return edges, names, dynamic

    def site_node(self, site: str) -> int | None:
        """The node whose code runs at the observed site ``path::qualname`` (:meth:`_site_node`)."""
        return self._site_node(site)

    def _site_node(self, site: str) -> int | None:
        """The node whose code runs at ``path::qualname`` as the interpreter names it (a class body's code is
        its container's; a lambda's or a comprehension's, its function's)."""
        path, _, qualname = site.partition("::")
        parts = qualname.split(".") if qualname else []
        while True:
            node = self.node_of.get((path, ".".join(parts)))
            if node is not None:
                scope = self.node_scope[node]
                if scope.kind != "class":
                    return node
                return self.node_of.get((path, scope.container))
            if not parts:
                return None
            parts.pop()

    def observed_alike(self, observed: Mapping[str, SiteCode]) -> bool:
        """Would this observed code give the graph the same edges? Names no entity of the tree has count for
        nothing (the code attrs generates for hypothesis's random classes brings new ones every run)."""
        mine: dict[int, SiteCode] = {}
        for site, code in observed.items():
            found = self._site_node(site)
            if found is not None:
                mine[found] = mine[found] | code if found in mine else code
        if mine.keys() != self.observed.keys():
            return False
        counted = self.name_index.keys() | _CLASS_LEAKS

        def shape(code: SiteCode) -> SiteCode:
            return replace(code, names=code.names & counted, attrs=code.attrs & counted)

        return all(shape(mine[n]) == shape(self.observed[n]) for n in mine)

    def _evaluated(self, node: int, edges: set[int], names: set[str], dynamic: str) -> str:
        """Add what the code exec/eval ran at ``node`` reaches, when it was observed and is bounded."""
        code = self.observed.get(node)
        if not dynamic and (code is None or "eval" not in code.kinds) and self.node_scope[node].kind in _CALLED:
            # No record: the job hears every exec/eval a function of the tree calls (an audit hook installed before
            # any of the tree's code runs), so no observed run of a function evaluated anything here (lark's
            # TestNearley.test_css, a test never collected, reached by every test through an attribute under a
            # computed name). Module and class bodies run on import, which may come before the hook: unobserved.
            self.observed_bits |= 1 << node
            return ""
        if code is None or "eval" not in code.kinds or code.dynamic or dynamic:
            return dynamic or (code.dynamic if code is not None and code.dynamic else "exec/eval")
        path = self.node_path[node]
        for module in code.imports:  # absolute, by constant names: the module's code runs
            files = self.import_files(path, ImportRef(0, module))
            edges.update(self.module_node(p) for p in files)
            self._site_imports.setdefault(node, set()).update(files)
        names |= code.names
        if code.any_attr:
            names.add("*")
        if not names.isdisjoint(_CLASS_LEAKS):
            names.add(INSTANCES)
        for text in code.strings:
            edges |= self.string_nodes(text)
        self.observed_bits |= 1 << node
        return ""

    def _fetched(self, node: int) -> frozenset[str] | None:
        """The attribute names the node's ``getattr`` calls with computed names were observed to fetch (None: any,
        as the source says). The job hears every call of the builtin ``getattr`` (it wraps the builtin before any
        of the tree's code runs), so a function or method without a record fetched nothing in any observed run.
        Module and class bodies may run before the wrapper: without a record, they stay any attribute."""
        if not self._fetches_heard:
            return None
        code = self.observed.get(node)
        if code is not None and "getattr" in code.kinds:
            if code.any_attr:  # too many names to keep (or code exec/eval ran there reads any): any
                return None
            fetched = code.attrs
        elif self.node_scope[node].kind in _CALLED:
            fetched = frozenset()
        else:
            return None
        self.observed_bits |= 1 << node
        self.fetched_bits |= 1 << node
        self.fetched[node] = fetched
        return fetched

    def _observed_modules(self, node: int) -> frozenset[str] | None:
        """The modules the node's computed imports were observed to be given, if every one of them is a call
        the job records (None: any module, as the source says)."""
        code = self.observed.get(node)
        if code is None or "import" not in code.kinds:
            return None
        if not all(call in OBSERVED_IMPORT_CALLS for call in self.node_scope[node].refs.computed):
            return None
        return code.modules

    def _imported(self, node: int, modules: Iterable[str], edges: set[int]) -> None:
        """Add the module code the node's observed computed imports run (absolute names, as the job resolved them)."""
        path = self.node_path[node]
        files = self._observed_files.setdefault(path, set())
        for module in modules:
            found = self.import_files(path, ImportRef(0, module))
            edges.update(self.module_node(p) for p in found)
            files.update(found)
        self._bounded_imports.add(node)
        self.observed_bits |= 1 << node

    def _unpickled(self, node: int, edges: set[int], names: set[str], dynamic: str) -> str:
        """Add what the node's unpickling may run, bounded by the globals it was observed to look up (as
        :func:`~trellis.ci.selection.python_calls.pickle_reads` counts a constant pickle's): their modules'
        code and the globals themselves (a class: used, its dunders and protocol methods run); any global
        outside the tree, not found in it, or named by a call the job does not hear: any code. The job hears every
        lookup (the audit event ``pickle.find_class``, which every global and extension code of a pickle goes
        through), so a site without a record looked up nothing in any observed run: it made values of builtin
        types only (Jinja's bytecode cache unpickles an int), which run no code of the tree."""
        refs = self.node_scope[node].refs
        code = self.observed.get(node)
        if dynamic:
            return dynamic
        if not all(c in OBSERVED_LOADS for c in refs.unpickles):
            return refs.unpickles[0]
        path = self.node_path[node]
        files = self._observed_files.setdefault(path, set())
        found: set[int] = set()
        for entry in sorted(code.globals if code is not None else ()):
            module, qualname = compat_global(*entry.partition(" ")[::2])
            dotted = f"{module}.{qualname}"
            if dotted in PICKLE_SAFE_GLOBALS:
                continue
            if module.split(".")[0] in sys.stdlib_module_names or module == "__main__":
                return f"{refs.unpickles[0]} of {dotted}"
            run = self.import_files(path, ImportRef(0, module))
            named = self.string_nodes(dotted)
            if not run or not named:
                return f"{refs.unpickles[0]} of {dotted}, which the analysis does not find in the tree"
            edges.update(self.module_node(p) for p in run)
            files.update(run)
            found |= named
        edges |= found
        if found:  # ADDITEMS calls add/update; BUILD sets attributes (a property's setter); load reads the file
            names.update(("add", "update", GETTERS))
        names.update(("readinto", "peek"))
        self.observed_bits |= 1 << node
        return ""

    def _started(self, node: int, edges: set[int], dynamic: str) -> str:
        """Add what the processes the node starts run, bounded by what runs observed them start (no record: none
        started there; programs that run no Python code of the tree: nothing; ``python -m`` a module of the tree:
        that module, as a constant command's); a process that may run any code observed there: any code."""
        refs = self.node_scope[node].refs
        if dynamic:
            return dynamic
        code = self.observed.get(node)
        if code is not None and code.spawns:
            return f"{refs.processes[0]}, which started {code.spawns}"
        path = self.node_path[node]
        for module in sorted(code.runs) if code is not None else ():
            files = self.run_files(module)
            if not files:
                return f"{refs.processes[0]}, which ran Python module {module}, not in the tree"
            edges.update(self.module_node(p) for p in files)
            edges.update(n for p in files if (n := self.node_of.get((p, MAIN))) is not None)
            self._observed_files.setdefault(path, set()).update(files)
        self.observed_bits |= 1 << node
        return ""

    def named_elsewhere(self, node: int) -> bool:
        """Does a file other than the node's name it (a reference, an import, a string)?"""
        if self._named is None:
            wanted = {s.name for s in self.node_scope if s.reconstructor}
            self._named = {}
            for path, facts in self.facts.items():
                words: set[str] = set(facts.bindings)
                words.update(ref.name for refs in facts.bindings.values() for ref in refs)
                words.update(w for text in facts.file_strings for w in _WORD.findall(text))
                for scope in facts.scopes:
                    refs = scope.refs
                    words.update(refs.attrs)
                    words.update(w for text in (*refs.strings, *refs.words) for w in _WORD.findall(text))
                    for chain in refs.chains:
                        words.add(chain.root)
                        words.update(chain.attrs)
                        if chain.spec is not None:
                            words.add(chain.spec.name)
                for name in words & wanted:
                    self._named.setdefault(name, set()).add(path)
        return bool(self._named.get(self.node_scope[node].name, set()) - {self.node_path[node]})

    def observed_reason(self, node: int) -> str:
        """What a node bounded by observation does: why a test through it needs an observed run."""
        refs = self.node_scope[node].refs
        if refs.evals:
            return "runs code exec/eval made"
        if node in self._bounded_imports:
            return "imports computed names"
        if refs.fetches and not (refs.unpickles or refs.processes):
            return "reads attributes under computed names (getattr)"
        return "unpickles" if refs.unpickles else "starts processes"

    def _refs(self, path: str, refs: NodeRefs) -> tuple[set[int], set[str], str]:
        edges: set[int] = set()
        names: set[str] = set(refs.attrs)
        for chain in refs.chains:
            if chain.store and self._only_functions(path, replace(chain, attrs=(), store=False), names=True):
                continue  # an attribute stored on a function object: nothing of it runs
            final: set[_Target] | None = set() if chain.looked else None
            found, unknown = self.resolve(path, chain, final)
            for target, node in final or ():
                # A class only tested against (isinstance, except) whose metaclass is type: it is read, not used
                if target == _ENT and isinstance(node, int) and self.node_scope[node].kind == "class":
                    if self.plain_type(node):
                        found.discard(node)
            edges |= found
            names |= unknown
        for ref in refs.imports:
            edges.update(self.module_node(p) for p in self.import_files(path, ref))
        for text in refs.strings:
            edges |= self.string_nodes(text)
        for qualname in refs.escapes:
            escaped = self.node_of[(path, qualname)]
            if (
                escaped not in self.named_fixtures
                and not self.inert_decorated(escaped)
                and not self.kept_decorated(escaped)
            ):
                edges.add(escaped)
        if refs.any_attr:
            names.add("*")
        if not names.isdisjoint(_CLASS_LEAKS):
            names.add(INSTANCES)
        if refs.namespace:
            self._namespace(path, edges)
        for owner, kind in refs.instances:
            self._instances(path, owner, kind, edges, names)
        dynamic = refs.dynamic
        if refs.doctests:
            edges |= self.doctest_nodes
        if refs.entry_points:
            if self.config.entry_points is None:
                dynamic = dynamic or "importlib.metadata.entry_points, of a project whose entry points are not stated"
            else:
                edges |= self.entry_point_nodes(path, refs.entry_points)
        for module, how in [(m, "runs Python module") for m in refs.runs] + [
            (m, "unpickles a global of module") for m in refs.unpickled
        ]:
            files = self.run_files(module)
            if files:
                edges.update(self.module_node(p) for p in files)
                edges.update(n for p in files if (n := self.node_of.get((p, MAIN))) is not None)
            else:
                dynamic = dynamic or f"{how} {module}, which is not in the tree"
        return edges, names, dynamic

    def _namespace(self, path: str, edges: set[int]) -> None:
        """A module's namespace read whole (``globals()``): every top-level entity and name of ``path``."""
        facts = self.facts[path]
        edges.update(self.node_of[(path, q)] for qs in facts.defs.values() for q in qs)
        edges.update(self.node_of[(path, s.qualname)] for s in facts.scopes if s.kind == "name")

    def _instances(
        self, path: str, owner: tuple[Chain, ...], kind: tuple[Chain, ...], edges: set[int], names: set[str]
    ) -> None:
        """The values of a namespace that are instances of ``kind`` (``[v for v in vars().values() if
        isinstance(v, C)]``, ``NodeRefs.instances``): when ``C`` is only classes of the tree that no class object
        is an instance of (no metaclass may be among them: :meth:`may_be_metaclass`), no function or class the
        namespace holds passes (nor a class whose metaclass derives from ``C``: no subclass of ``C`` may be a
        metaclass either), only values its statements bound — the module's name nodes, or, for a class's
        namespace (``vars(cls)``), what the class's body binds (the class node's references). Otherwise the
        namespace as a whole."""
        classes: set[_Target] = set()
        for chain in kind:
            self.resolve(path, chain, classes)
        classes = {t for t in classes if not self._is_name(t)}
        known = bool(classes) and all(
            t[0] == _ENT and isinstance(t[1], int) and self.node_scope[t[1]].kind == "class" for t in classes
        )
        known = known and not any(
            self.may_be_metaclass(c)
            for t in classes
            if isinstance(t[1], int)
            for c in (t[1], *self.descendants(t[1]))  # an instance of a subclass passes too
        )
        if not owner:
            if known:
                facts = self.facts[path]
                edges.update(self.node_of[(path, s.qualname)] for s in facts.scopes if s.kind == "name")
            else:
                self._namespace(path, edges)
            return
        spaces: set[_Target] = set()
        for chain in owner:
            edges |= self.resolve(path, chain, spaces)[0]
        spaces = {t for t in spaces if not self._is_name(t)}
        if not (known and spaces and all(t[0] == _ENT and self.node_scope[int(t[1])].kind == "class" for t in spaces)):
            for chain in owner:  # vars(x) is x.__dict__
                more, more_names = self.resolve(path, replace(chain, attrs=(*chain.attrs, "__dict__")))
                edges |= more
                names |= more_names

    def top_level_nodes(self, modules: Iterable[str]) -> set[int]:
        """Every name the modules bind at top level (their functions, classes and other names, a PEP 562
        ``__getattr__`` among them): what ``getattr(module, computed)`` may read."""
        edges: set[int] = set()
        for module in modules:
            for key in self.module_keys("", 0, module):
                for path in self.module_files.get(key, ()):
                    edges.update(
                        self.node_of[(path, s.qualname)]
                        for s in self.facts[path].scopes
                        if s.qualname and s.container == "" and "." not in s.qualname
                    )
        return edges

    def entry_point_nodes(self, path: str, groups: Iterable[str]) -> set[int]:
        """What loading the installed project's entry points of ``groups`` (``"*"``: any) runs and returns
        (``module:attr``: the module's code, its packages' and the attribute); those of other distributions are
        code outside the tree."""
        edges: set[int] = set()
        listed = set(groups)
        for group, text in self.config.entry_points or ():
            if group not in listed and "*" not in listed:
                continue
            module, _, attr = text.partition(":")
            edges.update(self.module_node(p) for p in self.import_files(path, ImportRef(0, module)))
            edges |= self.string_nodes(f"{module}.{attr}" if attr else module)
        return edges

    def run_files(self, module: str) -> list[str]:
        """The files ``python -m module`` (or ``python module.py``) runs, if the module is in the tree."""
        out: list[str] = []
        for key in self.module_keys("", 0, module):
            out.extend(self.executed(key))
            out.extend(self.module_files.get(f"{key}/__main__", ()))
        return out

    def string_nodes(self, text: str) -> set[int]:
        """A dotted string naming a module of the tree (and maybe a name in it): ``mock.patch`` targets. One that
        names a Python file (``collect_ignore = ["setup.py"]``) names no module: the module ``setup`` binds no
        ``py`` (nor has a submodule of that name)."""
        parts = text.split(".")
        for i in range(len(parts), 0, -1):
            keys = [k for k in self.module_keys("", 0, ".".join(parts[:i]))]
            if keys and i == len(parts) - 1 and parts[-1] in _SOURCE_SUFFIXES:
                if not any(self.symbol(k, parts[-1]) for k in keys):
                    return set()
            if keys:
                edges, _ = self.walk({(_MOD, k) for k in keys}, parts[i:])
                return edges
        return set()

    # -- files --------------------------------------------------------------------------------

    def _file_closures(self, idle: AbstractSet[int] = frozenset()) -> list[int]:
        """For each file, the bitset of files importing it may run (at any depth, from any scope); ``idle``: nodes
        known never to run, whose computed imports import nothing."""
        succ: list[list[int]] = []
        computed: dict[str, bool] = {}  # file -> its computed imports are all bounded by what was observed
        for node, scope in enumerate(self.node_scope):
            if scope.refs.computed:
                path = self.node_path[node]
                computed[path] = computed.get(path, True) and (node in self._bounded_imports or node in idle)
        for path in self.paths:
            facts = self.facts[path]
            out: set[int] = set()
            file_imports = facts.file_imports
            if any(s.reconstructor and self.named_elsewhere(self.node_of[(path, s.qualname)]) for s in facts.scopes):
                file_imports = (*file_imports, ImportRef(0, "*"))
            for ref in file_imports:
                if ref.module == "*" and computed.get(path, False):
                    continue
                out.update(self.file_index[p] for p in self.import_files(path, ref))
            out.update(self.file_index[p] for p in self._observed_files.get(path, ()))
            for text in facts.file_strings:
                out.update(self.file_index[self.node_path[n]] for n in self.string_nodes(text))
            groups = {g for scope in facts.scopes for g in scope.refs.entry_points}
            if groups:
                out.update(self.file_index[self.node_path[n]] for n in self.entry_point_nodes(path, groups))
            for module in facts.file_runs:
                out.update(self.file_index[p] for p in self.run_files(module))
            succ.append(sorted(out))
        closure = _reach_bits(range(len(self.paths)), lambda i: succ[i], lambda i: 1 << i)
        return [closure[i] for i in range(len(self.paths))]

    def unbounded_files(self, files: Iterable[str]) -> frozenset[str] | None:
        """The files a test reaching ``files`` may run when no observation of its ``getattr`` calls counts: an
        attribute under a computed name is then any entity of its import closure (the closures of the files it
        reaches, which hold its own and its fixtures'); None when one of those files holds a node that may run
        any code or is bounded by another observation (exec/eval, a computed import, unpickling, a process)."""
        if self._closure_flags is None:
            unbounded = 0
            for node in range(self.size):
                if self.dynamic[node] or (self.observed_bits & ~self.fetched_bits) >> node & 1:
                    unbounded |= 1 << self.file_index[self.node_path[node]]
            self._closure_flags = unbounded
        bits = 0
        for path in files:
            index = self.file_index.get(path)
            if index is not None:
                bits |= self._file_closure[index]
        if bits & self._closure_flags:
            return None
        return frozenset(self.paths[i] for i in range(len(self.paths)) if bits >> i & 1)

    def import_closure(self, path: str, refs: Iterable[ImportRef]) -> int:
        """The files importing ``refs`` from ``path`` may run (a doctest's own imports, say)."""
        bits = 0
        for ref in refs:
            for file in self.import_files(path, ref):
                bits |= self._file_closure[self.file_index[file]]
        return bits

    def file_closure(self, path: str) -> int:
        """The files importing ``path`` may run, itself included."""
        return self._file_closure[self.file_index[path]]

    def file_closures_running(self, idle: AbstractSet[int]) -> list[int]:
        """:meth:`file_closure` of every file (by ``file_index``) when the nodes ``idle`` never run: a computed
        import of theirs (``__import__(name)`` in a script's ``main``) imports no module."""
        return self._file_closures(idle) if idle else self._file_closure

    def context_files(self, path: str, roots: Iterable[int]) -> int:
        """The files a test file's items may have imported: the closure of the files of its roots."""
        bits = 0
        for root in roots:
            bits |= self._file_closure[self.file_index[self.node_path[root]]]
        return bits

    def _static_reach(self) -> list[int]:
        """For each node, one int: the nodes it reaches by resolved edges (bits ``0..size``, ``dyn_bit``),
        and above ``name_shift`` the attribute names those nodes read from unknown objects."""
        own: list[int] = []
        for node in range(self.size):
            bits = 1 << node | (self.dyn_bit if self.dynamic[node] else 0)
            for name in self.fallbacks[node]:
                index = self.name_index.get(name)
                if index is not None:
                    bits |= 1 << (self.name_shift + index)
            own.append(bits)
        # A node with results has a second vertex, its run (what calling it runs): the node is its run and its
        # results; a run edge (NodeRefs.made) goes to the run alone.
        run_of = {node: self.size + i for i, node in enumerate(sorted(self.results))}
        nodes = {v: n for n, v in run_of.items()}

        def successors(vertex: int) -> Iterable[int]:
            if vertex in nodes:
                node = nodes[vertex]
            elif vertex in run_of:
                return (run_of[vertex], *self.results[vertex])
            else:
                node = vertex
            return (*self.succ[node], *(run_of.get(n, n) for n in self.run_succ.get(node, ())))

        found = _reach_bits(range(self.size), successors, lambda v: own[nodes.get(v, v)])
        return [found[n] for n in range(self.size)]

    def reach(self, items: Mapping[str, Sequence[int]], shared: Sequence[int], files: int) -> dict[str, int]:
        """Each item's reach as a bitset over nodes (``dyn_bit`` set: it may run any code).

        The resolved edges' reach is static (:meth:`_static_reach`); the
        attribute names read from unknown objects then pull in every entity of
        that name in a file of ``files`` (the test file's import closure), and
        what those reach, until nothing new comes.
        """
        by_name: dict[int, tuple[int, list[tuple[int, int, int]]]] = {}
        in_files = [bool(files >> self.file_index[path] & 1) for path in self.paths]
        file_of = self.file_index

        def name_reach(index: int) -> tuple[int, list[tuple[int, int, int]]]:
            """What the entities of one name reach: the candidates as such, and (gate, definer, reach) for the
            others: a method waits for its class (or a subclass) to be used — a node of ``gate`` reached —, a class
            or method defined in a function for that function to run (its node, ``definer``, reached)."""
            found = by_name.get(index)
            if found is None:
                free = 0
                waiting: dict[tuple[int, int], int] = {}
                for node in self.candidates[index]:
                    if in_files[file_of[self.node_path[node]]]:
                        key = (self.owner[node], self.definer[node])
                        if key == (-1, -1):
                            free |= self.static[node]
                        else:
                            waiting[key] = waiting.get(key, 0) | self.static[node]
                found = by_name[index] = (
                    free,
                    [
                        (self.gate(cls) if cls >= 0 else 0, 1 << definer if definer >= 0 else 0, bits)
                        for (cls, definer), bits in waiting.items()
                    ],
                )
            return found

        expanded: dict[int, int] = {}
        instances = self.instances_bit

        def expand(start: int) -> int:
            found = expanded.get(start)
            if found is not None:
                return found
            total = start
            done = 0
            waiting: list[tuple[int, int, int]] = []
            while True:
                pending = (total >> self.name_shift) & ~done
                if pending:
                    done |= pending
                    while pending:
                        low = pending & -pending
                        pending ^= low
                        free, gated = name_reach(low.bit_length() - 1)
                        total |= free
                        waiting.extend(gated)
                    continue

                # The methods whose class is now used (any, once an attribute hands out unnamed classes), the
                # classes and methods whose defining function now runs.
                used = total
                ready = [
                    (not gate or used & (gate | instances)) and (not definer or used & definer)
                    for gate, definer, _ in waiting
                ]
                opened = [entry[2] for entry, go in zip(waiting, ready, strict=True) if go]
                if not opened:
                    break
                waiting = [entry for entry, go in zip(waiting, ready, strict=True) if not go]
                for bits in opened:
                    total |= bits
            expanded[start] = total & self.node_mask
            return expanded[start]

        base = 0
        for root in shared:
            base |= self.static[root]
        out: dict[str, int] = {}
        for nodeid, roots in items.items():
            start = base
            for root in roots:
                start |= self.static[root]
            out[nodeid] = expand(start)
        return out

    def gate(self, cls: int) -> int:
        """The class nodes whose use means an instance of ``cls`` may exist: it and its subclasses."""
        found = self._gates.get(cls)
        if found is None:
            found = 1 << cls
            for child in self.descendants(cls):
                found |= 1 << child
            self._gates[cls] = found
        return found

    def dynamic_reason(self, reach: int) -> str:
        if self._dynamic_nodes is None:
            self._dynamic_nodes = [node for node, why in enumerate(self.dynamic) if why]
        for node in self._dynamic_nodes:
            if reach >> node & 1:
                return f"{self.describe(node)} may run any code ({self.dynamic[node]})"
        return ""

    def describe(self, node: int) -> str:
        return f"{self.node_path[node]}::{self.node_scope[node].qualname or '<module>'}"

    def route(self, node: int, reach: int, roots: Iterable[int]) -> list[tuple[int, str]]:
        """How a test (``reach``: its reach bits; ``roots``: the nodes it starts from) gets to ``node``, for people:
        the nodes from a root to ``node``, each with the name read from an object of unknown type that led to it
        ("" for a resolved edge; ``*``: an attribute under a computed name). Resolved edges are preferred: the
        route reads as few names as any route does. [] when ``node`` is not found from the roots."""
        parent: dict[int, tuple[int, str]] = {}
        cost: dict[int, int] = {}
        queue: deque[tuple[int, int]] = deque()
        for root in roots:
            if reach >> root & 1 and root not in cost:
                cost[root] = 0
                parent[root] = (-1, "")
                queue.append((root, 0))
        while queue:
            here, spent = queue.popleft()
            if spent > cost[here]:
                continue
            if here == node:
                out: list[tuple[int, str]] = []
                while here >= 0:
                    before, name = parent[here]
                    out.append((here, name))
                    here = before
                return out[::-1]
            steps = [(n, "") for n in (*self.succ[here], *self.run_succ.get(here, ()), *self.results.get(here, ()))]
            for name in sorted(self.fallbacks[here]):
                index = self.name_index.get(name)
                if index is not None:
                    steps.extend((n, name) for n in self.candidates[index])
            for there, name in steps:
                step = spent + (1 if name else 0)
                if reach >> there & 1 and step < cost.get(there, step + 1):
                    cost[there] = step
                    parent[there] = (here, name)
                    if name:
                        queue.append((there, step))
                    else:
                        queue.appendleft((there, step))
        return []


def _union(found: Iterable[frozenset[str] | None]) -> frozenset[str] | None:
    out: set[str] = set()
    for names in found:
        if names is None:
            return None
        out |= names
    return frozenset(out) if out else None


def _parents(path: str) -> list[str]:
    out: list[str] = []
    directory = posixpath.dirname(path)
    while directory:
        out.append(directory)
        directory = posixpath.dirname(directory)
    return out


def _reach_bits(
    starts: Iterable[int], succ: Callable[[int], Iterable[int]], own: Callable[[int], int]
) -> dict[int, int]:
    """Reachability bitsets of every node reachable from ``starts`` (iterative Tarjan, one pass)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    bits: dict[int, int] = {}
    counter = 0
    for start in starts:
        if start in index:
            continue
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(succ(start)))]
        while work:
            node, successors = work[-1]
            descended = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(succ(nxt))))
                    descended = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members: list[int] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                total = 0
                inside = set(members)
                for member in members:
                    total |= own(member)
                    for nxt in succ(member):
                        if nxt not in inside:
                            total |= bits[nxt]
                for member in members:
                    bits[member] = total
    return bits
