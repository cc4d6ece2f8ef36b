"""What one Python file defines and references, read with ``ast`` (the facts of test selection).

:func:`file_facts` turns a file into a :class:`FileFacts`: its scopes (the
module, classes, functions and methods, named as :mod:`semantic_diff` names
them, without the module prefix: ``User.save``), and for every *node* — the
module's top-level code or a function's body — the names it references,
still unresolved: a name is looked up in the module's namespace only when the
whole tree is known (:mod:`trellis.ci.selection.ref_graph`). The facts depend on the path and
the content alone, so they are cached by content hash.

Python's evaluation order decides which node a piece of code belongs to:

* a function's body belongs to the function;
* its decorators, default values and (without ``from __future__ import
  annotations``) annotations run when the ``def`` runs, so they belong to the
  enclosing node — the module for a top-level function or a method;
* a class body runs when the ``class`` statement runs, so it belongs to the
  enclosing node too: a class is not a node of its own code, only of its
  *use* (see :mod:`trellis.ci.selection.ref_graph`).

Conservative readings (each over-approximates; see docs/test-selection.md):

* a local variable's attributes are unknown objects' attributes: ``x.save()``
  records the bare name ``save``, resolved later against every entity of
  that name the test can load;
* a name both local and global is recorded as both;
* dotted string constants (``"app.models.User"``: ``mock.patch`` targets,
  ``pytest_plugins``) count as references;
* ``getattr``-like calls with a constant name record that name; with a
  computed one, the node may reach *any* attribute (``any_attr``) — of the
  object a plain name holds (``getattr(str, case)``: a chain to ``str``
  reading ``"*"``, nothing of the tree for a builtin), and unless the value
  read cannot leave the expression or the local variable holding it
  (``hasattr``; ``getattr`` whose result is only tested, compared, hashed,
  passed to ``isinstance``/``inspect.signature``, or read further): then
  only the code an attribute *read* runs is reached (``GETTERS``: properties,
  ``__getattr__``, ``__getattribute__``, ``__get__``);
* a function's annotations that are not evaluated with the ``def`` (``from
  __future__ import annotations``, strings), or evaluated but only reading
  names and subscripting the standard generics with them (``Union[A, B]``),
  are the function's own references: whatever reads them
  (``typing.get_type_hints``) has the function;
* ``globals()[name] = value``, ``globals().update(...)`` write the module's
  namespace and read nothing of it;
* an import of a computed name (``import_module(name)``) imports any module
  of the tree: it runs every module's top-level code;
* ``exec``/``eval``, unpickling, import hooks and subprocesses make the
  node *dynamic*: it may run any code of the tree — except unpickling what
  the same expression pickled (``pickle.loads(pickle.dumps(x))``), or a
  variable that only ever holds what a pickling call of the function made
  (:meth:`_Extractor.held_pickles`), which runs what copying ``x`` runs, and
  unpickling constant bytes (a literal, a variable holding one, ``parametrize``
  values), which runs what the pickle names (:func:`python_calls.pickle_reads`:
  their modules, dynamic when one is not in the tree, and the names);
* a reference to one of those callables that does not call it (``eval`` or
  ``getattr`` returned by a ``__reduce__``, for ``copy`` or ``pickle`` to
  call) counts as a call with arguments the analysis cannot read;
* a string a ``__reduce__`` returns names a global of the module (pickle
  looks it up there);
* a private function the file names only as the callable a ``__reduce__``
  returns, when that method names objects by ``__module__`` and
  ``__qualname__`` (a reconstructor), imports and reads by computed names
  nothing new: copy and unpickling call it with what the method made of an
  existing object (unless another file names it: ref_graph);
  ``import_module(x.__module__)`` imports nothing new either;
* a method of the file's own class called on ``self`` or on a module global
  bound only to an instance (``loader.exec_module(m)``) is that method, not a
  loader running a module's code.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import doctest
import hashlib
import posixpath
import re
import shlex
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from . import ast_nodes, interpreter_branches
from .builtin_values import BuiltinValues, after_builtin
from .param_flow import Kept, function_kept, merge_kept
from .python_calls import (
    ANY_ATTR_CALLS,
    CONSTANT_LOADS,
    DOCTEST_RUNS,
    ENTRY_POINT_CALLS,
    IMPORT_CALLS,
    METADATA_READERS,
    NAMESPACE_ATTRS,
    NAMESPACE_CALLS,
    OBSERVED_LOADS,
    OBSERVED_STARTS,
    PROCESS_CALLS,
    QUIET_ARGUMENTS,
    REFLECTIVE_CALLS,
    RESOURCE_CALLS,
    ROUND_TRIP_DUMPS,
    ROUND_TRIP_LOADS,
    SAFE_YAML_LOADERS,
    STRING_ATTR_METHODS,
    inert_decorator,
    is_dynamic,
    pickle_reads,
    python_target,
    reads_namespace,
    writes_namespace,
)
from .python_calls import dotted as _dotted

__all__ = [
    "DOCTESTS",
    "MAIN",
    "GETTERS",
    "Chain",
    "FileFacts",
    "ImportRef",
    "NodeRefs",
    "Scope",
    "TUPLE_FACTORIES",
    "TopLevel",
    "file_facts",
]

# What only a regular expression spells, never a path or a glob: a group extension, an alternation, a class escape
# repeated (``(?=``, ``a|b``, ``\s*``: sqlparse's lexer patterns, whose ``\s*`` split at the backslash read as a
# glob ``s*`` naming every file whose name starts with an s).
_REGEX = re.compile(r"\(\?|\||\\[sSdDwW][*+?{]")
_NAMESPACE_CALL = re.compile(r"\b(vars|globals|locals)\(")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_BUILTINS = frozenset(dir(builtins))
# Names every module has without binding them, which are not builtins: the builtins' namespace, the file's path.
_MODULE_GLOBALS = frozenset({"__builtins__", "__file__", "__cached__"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DOCTESTS = "<doctests>"  # the qualname of a module's doctest examples (one node; no entity is named so)
MAIN = "<main>"  # the qualname of a module's ``if __name__ == "__main__":`` blocks (run as a script, not imported)
GETTERS = "<get>"  # an attribute under a computed name read (its value staying put) or written: code that runs
_GETTER_DECORATORS = ("property", "functools.cached_property", "cached_property", "abc.abstractproperty")
_GETTER_HOOKS = frozenset(
    {"__getattr__", "__getattribute__", "__get__", "__setattr__", "__delattr__", "__set__", "__delete__"}
)
_DANGEROUS_BUILTINS = frozenset(
    {"eval", "exec", "execfile", "__import__", "getattr", "hasattr", "setattr", "delattr", "globals", "locals"}
    | {"vars", "dir", "builtins"}
)
# Calls whose argument at that position is a type only the type checker reads (the call returns the other one).
_TYPE_ONLY = {
    f"{module}.{name}": position
    for module in ("typing", "typing_extensions")
    for name, position in (("cast", 0), ("assert_type", 1))
}
# Does a job hear the builtin ``vars``? Its stand-in (trellis.ci.execution.pytest_plugin) gives ``vars()`` the caller's
# ``f_locals``, which is what the builtin returns before Python 3.13 (PEP 667 made them differ): jobs run on this
# interpreter, so from 3.13 on a computed read by ``vars`` stays any attribute.
_HEARS_VARS = sys.version_info < (3, 13)
# The unbound attribute hooks of ``object`` and ``type`` called with the object first: ``getattr`` and the rest
# (``object.__getattribute__(self, token["type"])``, mistune's renderer dispatch).
_UNBOUND_ATTR_CALLS = {
    f"{owner}.__{verb}attr{suffix}__": f"{verb}attr"
    for owner in ("object", "type")
    for verb, suffix in (("get", "ibute"), ("set", ""), ("del", ""))
}
# Classes whose instances hold no code of the tree: no function, class, method or module is one (nor a subclass of
# the tree: its code is a dunder or a method, reached with the class or read by name), and what one holds it holds
# under attribute names only (no items: not a container, not a wrapper calling what it wraps). A value read under a
# computed name and seen to be one may go anywhere (``if isinstance(field, ast.AST): yield field``, pyflakes'
# ``iter_child_nodes``): :meth:`_Extractor.narrowed`.
_CODE_FREE = frozenset({"str", "bytes", "int", "float", "complex", "bool"}) | frozenset(
    f"ast.{name}" for name, value in vars(ast).items() if isinstance(value, type) and issubclass(value, ast.AST)
)
# Calls that look at an object without letting it go anywhere that may call it (the dunders they call are
# reached with the object's class).
_LOOKING = frozenset(
    {
        "isinstance",
        "issubclass",
        "callable",
        "hasattr",
        "getattr",
        "inspect.getattr_static",
        "id",
        "hash",
        "len",
        "bool",
        "inspect.signature",
        "inspect.isclass",
        "inspect.isfunction",
        "inspect.ismethod",
        "inspect.isroutine",
        "inspect.ismodule",
        "inspect.isbuiltin",
        "inspect.iscoroutinefunction",
        "inspect.isgeneratorfunction",
    }
)


@dataclass(frozen=True, slots=True)
class ImportRef:
    """A module (``name == ""``) or a name in a module, as an import statement spells it.

    ``level`` counts the leading dots of a relative import (0: absolute).
    ``module == "*"``: any module of the package (``import_module(f".{x}", __name__)``).
    """

    level: int
    module: str
    name: str = ""


# The decorators that make a function a pytest fixture (through the file's imports: ``from pytest import fixture``).
FIXTURE_DECORATORS = frozenset(
    {"pytest.fixture", "pytest.yield_fixture", "_pytest.fixtures.fixture", "pytest_asyncio.fixture"}
)
# Methods that run a fixture by name (a request's), and the fixture machinery's attributes, whose use may make a
# test run any fixture visible to it (``item.fixturenames.append(name)``, ``manager.getfixturedefs(name, node)``).
_FIXTURE_LOOKUPS = frozenset({"getfixturevalue", "getfuncargvalue"})
_FIXTURE_MACHINERY = frozenset(
    {
        "fixturenames",
        "funcargnames",
        "_fixtureinfo",
        "_fixturemanager",
        "names_closure",
        "getfixturedefs",
        "getfixtureclosure",
        "parsefactories",
        "_get_active_fixturedef",
        "_getnextfixturedef",
        "_arg2fixturedefs",
    }
)
_REGISTERS_PLUGINS = re.compile(r"\.(register|import_plugin|consider_module|consider_pluginarg|consider_conftest)\s*\(")
# A string naming fixtures as pytest's marks do: one name, or names separated by commas ("a, b").
_FIXTURE_WORDS = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*,?\s*")

# Decorators whose function is a stub that the next definition of the name replaces.
_OVERLOADS = frozenset({"typing.overload", "typing_extensions.overload"})

# Methods whose first parameter is the class, not an instance, without a decorator saying so.
_CLASS_BOUND = frozenset({"__new__", "__init_subclass__", "__class_getitem__"})


@dataclass(frozen=True, slots=True)
class Chain:
    """A reference: a root and the attributes read from it (``a.b.c`` is root ``a``, attrs ``(b, c)``).

    ``kind`` says where the root lives: ``global`` (a name of the module's
    namespace), ``local`` (an entity of this file: ``root`` is its local
    qualname), ``import`` (a name bound by an import inside a function:
    ``spec``), ``self`` / ``super`` (attributes of an instance of the class
    ``root``; ``instance``: the root is the instance of an ordinary method,
    not the class a classmethod or ``__new__`` gets). ``store``: the root's
    one attribute is only stored into or deleted (``memoize.skip = Skip``),
    which runs nothing of a function the root is. ``looked``: the value is
    only a class tested against (``isinstance(x, C)``, ``issubclass(k, C)``,
    ``except C:``), which reads the class object and runs none of its code
    when its metaclass is ``type`` (:meth:`trellis.ci.selection.ref_graph.Graph.plain_type`).
    """

    kind: str
    root: str
    attrs: tuple[str, ...] = ()
    spec: ImportRef | None = None
    instance: bool = False
    store: bool = False
    looked: bool = False


@dataclass(frozen=True, slots=True)
class NodeRefs:
    """Everything one node's code references.

    ``chains``: names and their attribute chains; ``attrs``: attribute names
    read from objects of unknown type; ``imports``: modules its import
    statements execute; ``strings``: dotted names in string constants;
    ``escapes``: local qualnames of definitions whose decorators hand them to
    other code when the definition runs (so running this node may call them);
    ``any_attr``: a computed attribute name (``getattr(x, name)``);
    ``namespace``: it reads its own module's namespace (``globals()``);
    ``dynamic``: why this node may run any code ("" if it cannot), ``evals``
    aside: it calls ``exec``/``eval``, which run what their code says — any
    code, unless :mod:`trellis.ci.selection.observed` knows the code they were given;
    ``runs``: modules of the tree it runs in a Python subprocess
    (``python -m app.cli``, ``python scripts/x.py`` as ``scripts.x``); ``unpickled``: the modules of the globals a
    constant pickle it loads names (:func:`python_calls.pickle_reads`), imported in this process;
    ``words``: the parts of its short string constants without spaces, split
    at ``/`` (``"data"``, ``"README.rst"``, ``"*.md"``): the files it may name (not those that can only be
    identifiers: an attribute name handed to ``setattr``, ``__slots__``, parametrize's argument names).
    ``computed``: the calls importing a computed name (``import_module(name)``: an import of ``"*"``, any
    module, among ``imports``), ``unpickles`` the unpickling calls it cannot bound (it may run any code) and
    ``processes`` the processes it starts whose command it cannot read (``subprocess.run(cmd)``: any code):
    what a run observed them do may bound them (:mod:`trellis.ci.selection.observed`).
    ``fixtures``: the pytest fixtures it asks for by a constant name (``request.getfixturevalue("db")``);
    ``any_fixture``: by a computed one, or it edits what pytest runs (``item.fixturenames.append(x)``): any
    fixture visible where it runs.
    ``instances``: namespaces whose values it reads only through ``isinstance(v, C)`` (``[v for v in
    vars().values() if isinstance(v, ParserElement)]``): for each, the readings of the namespace's owner (none:
    the module's own) and of ``C``; the graph reads them as the namespace's values that are not definitions
    when ``C`` is a class of the tree no class object is an instance of, else as the whole namespace.
    ``entry_points``: the groups of installed entry points it lists
    (``importlib.metadata.entry_points(group="app.plugins")``; ``"*"``: any group), whose ``load()`` imports and
    returns what an entry point names.
    ``module_attrs``: it reads a computed attribute of a module its own ``import_module`` call returned
    (``getattr(importlib.import_module(name), attr)``): a top-level name of a module it imports.
    ``doctests``: it runs doctest examples of docstrings it cannot name (``doctest.testmod(module)``, which also
    runs the examples of what the module's ``__test__`` holds): those of any module of the tree.
    ``reads_metadata``: it calls or names a reader of installed distributions' metadata (``importlib.metadata``,
    ``pkg_resources``): a change to the project's descriptive metadata (URLs, classifiers) counts for it.
    ``stored``: attribute names its code only stores into or deletes (``self.lineno = n``), never reads: the
    chains name them as they name what is read (a store may run a setter), but storing reads no value.
    ``made`` (a module's): the callees of the calls whose value a module-level statement binds to names alone
    (``once = once_per()``, ``printer = Logger(print)``), read nowhere else in the module's code: the module runs
    each call, but what it returned — a function the callee defined, an instance — runs only where the names
    are read, whose nodes hold these chains too. The graph reaches from the module what calling them runs
    (``Graph.results``), not what the returned value runs.
    ``fetches``: every attribute it reads under a computed name (``"*"`` in its chains and ``attrs``), it reads by a
    call of the builtin ``getattr`` in its own code (``getattr(transformer, rule_name)``), or by the builtin
    ``vars`` of a value of unknown type (voluptuous's ``vars(obj)``: a module's or a class's namespace, maybe,
    whose values are any attribute), which the job hears: what a run observed those calls fetch (the names of the
    namespaces ``vars`` handed out) may bound them (:mod:`trellis.ci.selection.observed`).
    """

    chains: tuple[Chain, ...] = ()
    attrs: frozenset[str] = frozenset()
    imports: tuple[ImportRef, ...] = ()
    strings: tuple[str, ...] = ()
    escapes: tuple[str, ...] = ()
    any_attr: bool = False
    namespace: bool = False
    dynamic: str = ""
    runs: tuple[str, ...] = ()
    unpickled: tuple[str, ...] = ()
    words: frozenset[str] = frozenset()
    evals: bool = False
    computed: tuple[str, ...] = ()
    unpickles: tuple[str, ...] = ()
    fixtures: tuple[str, ...] = ()
    any_fixture: bool = False
    processes: tuple[str, ...] = ()
    instances: tuple[tuple[tuple[Chain, ...], tuple[Chain, ...]], ...] = ()
    entry_points: tuple[str, ...] = ()
    module_attrs: bool = False
    doctests: bool = False
    reads_metadata: bool = False
    stored: frozenset[str] = frozenset()
    doc_copies: bool = False
    namespace_looked: bool = False
    made: tuple[Chain, ...] = ()
    fetches: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """A module, class, function or method of the file.

    ``qualname`` is local to the file ("" for the module, ``User.save`` for a
    method); ``container`` is the node whose code runs the definition (the
    nearest enclosing function, else the module: ""). ``def_hash`` hashes
    what runs when the definition runs (decorators, defaults, annotations,
    bases — for a class its whole body but nested bodies), so two versions
    with the same hash differ only in what runs when the entity is *used*.
    ``def_effects``: running the definition may do more than bind a name
    (a decorator that is not known to be inert, a call in a default or in a
    class body, a keyword, a named value bound by a statement that is not a
    plain binding); for a class, what its bases and plain bindings run is
    :meth:`trellis.ci.selection.ref_graph.Graph.def_effects`'s. ``decorated_by`` (functions): when the only
    effects are decorators named by dotted names not known here, each one's readings, for the graph to
    resolve through the tree's imports and aliases to a decorator known to be inert. ``def_raises``: running the definition
    evaluates something that may raise (a decorator, a default or annotation that is not a constant or a
    built-in name, a base of the tree, a class body statement other than a definition or a constant), which
    would fail the module's import. ``inert_call`` (functions): calling it only computes a value from its
    arguments and what it reads (no decorator; a body of local assignments, conditions and returns of
    expressions making only pure calls). Classes carry ``bases`` (for each base,
    its readings, resolved in the enclosing scope; ``generic_bases``: those of the bases subscripted with names and
    constants, ``class M(Serializer[str])``), ``members`` (name -> local qualname of
    methods and nested classes), ``class_attrs`` (other names the body
    binds), ``base_names`` (each base's dotted name through the file's
    imports, "" when it is not a plain name) and ``not_a_test``
    (``__test__ = False``). ``getter``: a method reading an attribute runs (a property, a
    ``__getattr__``-like hook; a module's ``__getattr__``). ``hands_out`` (classes): creating the class hands
    the new class object to other code, which may keep it and make instances later — a decorator not known
    to be inert, a keyword (a metaclass, ``__init_subclass__`` arguments), or an attribute whose value may have
    a ``__set_name__`` (:meth:`_Extractor.may_set_name`) — but for its methods under bare decorators not known to
    be inert (``set_name_members``: the graph reads what those decorators return) and for names bound to what a
    call of a dotted name makes (``__size = _DefaultSize()``; ``set_name_calls``: the callees' readings, whose
    instances the graph judges: those of a plain class of the tree have no such hook); what the bases do is
    :mod:`trellis.ci.selection.ref_graph`'s. ``customised`` (classes): a decorator not known to be inert (it may
    replace the class) or a keyword (a metaclass, whose attributes the class's are too). ``bound_values`` (classes): the readings of each value a statement
    of the body binds by name alone or in a display (``cls = mod.Thing``, ``kinds = (mod.A, mod.B)``,
    :func:`_plain_binding`); those statements' references
    are the class's ``refs`` (whoever reads the attribute has the class), and they run code when the class is
    defined only if a value's type has a ``__set_name__``, which :mod:`trellis.ci.selection.ref_graph` decides
    (then they count for the definer too, and the class is handed out).

    pytest's view (:mod:`trellis.ci.selection.fixtures`): ``fixture`` (functions and methods) is the name pytest
    registers a ``@pytest.fixture`` under (its ``name=``, else its own: ``fixture_named`` says which),
    ``autouse`` whether it is one (a computed ``autouse=`` counts), ``fixture_plain`` whether its other
    decorators are all inert (else they hand the function to other code too); ``args``: the parameters
    pytest fills by name (those without a default; a method's first aside); ``marks``: the words of the
    decorators' (and a class body's ``pytestmark``'s) string constants that may name a fixture
    (``usefixtures("db")``, ``parametrize("a, b", ...)`` with ``indirect``, ``lazy_fixture("db")``).

    ``kept`` (functions): what the function does with the values its parameters are given
    (:mod:`trellis.ci.selection.param_flow`): a decorator of the tree whose parameter stays kept hands the function
    it decorates to nothing that calls it. ``decorator_args``: for each ``decorated_by`` entry, -1 for a bare
    decorator (``@retry``), else the positional arguments of its call (``@retry(stop=...)``: 0; 99 for ``*args``);
    ``decorators_hash``: their text's (no whitespace), when ``decorated_by`` is not empty: a change of the header
    under the same decorators is one of the signature alone.

    ``results`` (functions): the local qualnames of the functions it defines (undecorated, or under inert
    decorators) that its code does nothing with but return them by name (and store attributes on them): calling
    it defines them and runs none of their bodies; only what calls the value it returned does
    (:func:`_returned_definitions`). ``made_by`` (names): when every statement binding the name at module level
    is a call bound to names alone (``NodeRefs.made``), the callees' readings. ``self_plain`` (ordinary methods):
    its code reads its instance only for attributes, or hands it first to the methods ``self_handoffs`` reads
    (``Base.__init__(self)``): it runs no dunder method of the instance but through those names
    (:meth:`_Extractor.self_handoffs`). ``base_only`` (classes): the readings among ``refs`` that only its bases
    read (the graph reaches the parents those are through the class's run and results instead).
    """

    qualname: str
    kind: str
    name: str
    parent: str
    container: str
    line: int
    refs: NodeRefs
    def_hash: str = ""
    def_effects: bool = False
    decorated_by: tuple[tuple[Chain, ...], ...] = ()
    generic_bases: tuple[tuple[Chain, ...], ...] = ()
    def_raises: bool = False
    inert_call: bool = False
    bases: tuple[tuple[Chain, ...], ...] = ()
    base_names: tuple[str, ...] = ()
    members: tuple[tuple[str, str], ...] = ()
    class_attrs: frozenset[str] = frozenset()
    not_a_test: bool = False
    is_async: bool = False
    getter: bool = False
    hands_out: bool = False
    set_name_members: tuple[str, ...] = ()
    set_name_calls: tuple[tuple[Chain, ...], ...] = ()
    customised: bool = False
    bound_values: tuple[tuple[Chain, ...], ...] = ()
    fixture: str = ""
    fixture_named: bool = False
    fixture_plain: bool = False
    autouse: bool = False
    args: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()
    reconstructor: bool = False
    kept: Kept | None = None
    decorator_args: tuple[int, ...] = ()
    decorators_hash: str = ""
    results: tuple[str, ...] = ()
    made_by: tuple[Chain, ...] = ()
    self_plain: bool = False
    self_handoffs: tuple[tuple[Chain, ...], ...] = ()
    base_only: tuple[Chain, ...] = ()


@dataclass(frozen=True, slots=True)
class TopLevel:
    """One top-level statement of a module, for telling which names a module-level change touches.

    ``key`` identifies the statement's code (``def:name`` for a definition,
    whose own changes are the entity's); ``names`` the module names it binds;
    ``pure``: it only binds those names, running no code of its own (a
    constant, an import, ``__all__``, a docstring); ``imports``: the modules
    it executes; ``sources``: for an import statement, what each name it
    binds is bound to (``name``, ``"1:core:a"`` for ``from .core import a``); ``calls``: a statement that
    would be pure but for calls of functions named by these references (``WORDS = (N_("one"), N_("two"))``)
    is pure when each is a function of the tree whose body only computes a value (:attr:`Scope.inert_call`);
    ``main``: an ``if __name__ == "__main__":`` block without ``else`` (it runs
    nothing on import: its code is the ``MAIN`` node's).
    """

    key: str
    names: tuple[str, ...] = ()
    pure: bool = False
    imports: tuple[ImportRef, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    calls: tuple[Chain, ...] = ()
    main: bool = False


@dataclass(frozen=True, slots=True)
class FileFacts:
    """The facts of one ``.py`` file; ``error`` is non-empty when it does not parse.

    The module namespace: ``defs`` (name -> local qualnames of top-level
    functions and classes), ``bindings`` (name -> imports binding it),
    ``values`` (other names bound at top level), ``star_imports``.
    ``file_imports``: every module any import in the file executes;
    ``file_strings``: every dotted string constant (for the file-level import
    closure); ``plugins``: the modules ``pytest_plugins`` names;
    ``toplevel``: the module's statements in order (:class:`TopLevel`).
    ``exports``: the names ``__all__`` lists, when one top-level statement
    assigns it a literal list or tuple of strings and nothing else in the
    file names ``__all__``; in a file that names ``__all__`` nowhere and writes no
    namespace by other means (``globals()``...), its public top-level names (what a
    star import binds without one); None otherwise.
    Names bound at top level other than by a definition are scopes of kind
    ``name`` (qualname the name): their refs are what the pure statements
    binding them reference (an impure statement's belong to the module).
    ``marks``: the fixture-naming words of the module's ``pytestmark``; ``usefixtures``: those of every
    ``usefixtures(...)`` call in the file (a mark bound to a name and applied elsewhere counts for every test
    importing the file); ``registers_plugins``: the file hands pytest plugins at run time
    (``config.pluginmanager.register(obj)``), whose fixtures then apply by name anywhere.
    ``conditions``: what the branches left out as unable to run on this interpreter read (``platform``,
    ``version_info``, a constant's name: :mod:`trellis.ci.selection.interpreter_branches`); empty when none is.
    ``state_writers``: the local qualnames of the module's functions and of its classes' methods that store into
    state that outlives them (:func:`_state_writers`): a test among them may change what the tests after it in
    the same run see (pyparsing's ``Test03_EnablePackratParsing.runTest`` sets a class attribute that the
    ``setUp`` of the tests after it restores).
    ``aliases``: the names among ``values`` that every binding binds to a dotted reference (``h = helpers``,
    ``ppt = pp.pyparsing_test``), name -> each binding's dotted parts, when nothing else may rebind them
    (:func:`_module_aliases`): such a name is what one of those references is, not a value of unknown type.
    ``rebound``: the names a module-level statement binds otherwise than by ``def``, ``class`` or an import
    (:func:`_assigned_at_module`): a defined name among them may be another value too.
    """

    path: str
    error: str
    scopes: tuple[Scope, ...] = ()
    defs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bindings: dict[str, tuple[ImportRef, ...]] = field(default_factory=dict)
    values: frozenset[str] = frozenset()
    star_imports: tuple[ImportRef, ...] = ()
    file_imports: tuple[ImportRef, ...] = ()
    file_strings: tuple[str, ...] = ()
    file_runs: tuple[str, ...] = ()
    dynamic: str = ""
    not_a_test: bool = False
    plugins: tuple[str, ...] = ()
    toplevel: tuple[TopLevel, ...] = ()
    exports: tuple[str, ...] | None = None
    marks: tuple[str, ...] = ()
    usefixtures: tuple[str, ...] = ()
    registers_plugins: bool = False
    conditions: tuple[str, ...] = ()
    state_writers: tuple[str, ...] = ()
    aliases: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    names_doc: bool = False
    doc_setter: bool = False
    rebound: frozenset[str] = frozenset()

    def scope(self, qualname: str) -> Scope | None:
        for scope in self.scopes:
            if scope.qualname == qualname:
                return scope
        return None


def file_facts(path: str, content: bytes, *, prune: bool = True) -> FileFacts:
    """The facts of a Python file (never raises: a file that does not parse gets ``error``). ``prune``: without
    the branches that cannot run on this interpreter (:func:`~trellis.ci.selection.interpreter_branches.prune`)."""
    try:
        text = content.decode("utf-8")
        tree = ast.parse(text, filename=path)
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        return FileFacts(path=path, error=f"{type(exc).__name__}: {exc}")
    try:
        _inline_constant_exec(tree, text)
        conditions = interpreter_branches.prune(tree) if prune else ()
        facts = _Extractor(path, tree, text).run()
        return dataclasses.replace(facts, conditions=conditions) if conditions else facts
    except RecursionError:
        return FileFacts(path=path, error="RecursionError: nested too deeply to analyse")
    finally:
        _SCOPE_BINDINGS.clear()  # the file's trees are not kept alive by the memo


def _inline_constant_exec(tree: ast.Module, text: str) -> None:
    """Replace, in place, each module-level statement ``exec("<code>")`` (in the module's blocks, not in a
    function or a class; the builtin, with the module's namespace: no other argument, or ``globals()``) by the
    statements of its constant code, at their places in the file: what it runs is what that code says, as if
    written there (funcy's and six's ``exec(\"\"\"def raise_from(value, from_value): ...\"\"\")``: a
    definition, not any code). Only a literal whose text is the code itself (no escape sequence: every position
    of the code is one of the file) is read; any other, or code that does not parse, stays an ``exec``."""
    if "exec" not in text:
        return
    bound = _module_bound_names(tree)
    if "exec" in bound or "*" in bound:
        return
    blocks = [tree.body]  # (a stack, not recursion: an elif chain nests as deep as it is long)
    while blocks:
        body = blocks.pop()
        for index in reversed(range(len(body))):
            stmt = body[index]
            parsed = _constant_exec(stmt, text)
            if parsed is not None:
                body[index : index + 1] = parsed or [ast.copy_location(ast.Pass(), stmt)]
            elif not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                blocks.extend(b for b in (getattr(stmt, n, None) for n in ("body", "orelse", "finalbody")) if b)
                blocks.extend(handler.body for handler in getattr(stmt, "handlers", ()))


_LITERAL_START = re.compile("(?i)[ru]?(\"\"\"|'''|\"|')")


def _constant_exec(stmt: ast.stmt, text: str) -> list[ast.stmt] | None:
    """The statements of ``exec("<code>")`` / ``exec("<code>", globals())`` as a statement, placed where the code
    is in the file; None when ``stmt`` is no such call, its literal is not the code's text, or it does not parse."""
    if not isinstance(stmt, ast.Expr) or not isinstance(call := stmt.value, ast.Call):
        return None
    if not (isinstance(call.func, ast.Name) and call.func.id == "exec") or call.keywords or not call.args:
        return None
    literal, *rest = call.args
    if rest and not (
        len(rest) == 1
        and isinstance(rest[0], ast.Call)
        and isinstance(rest[0].func, ast.Name)
        and rest[0].func.id == "globals"
        and not rest[0].args
        and not rest[0].keywords
    ):
        return None
    if not isinstance(literal, ast.Constant) or not isinstance(literal.value, str):
        return None
    segment = ast.get_source_segment(text, literal)
    start = _LITERAL_START.match(segment or "")
    if segment is None or start is None or segment[start.end() : len(segment) - len(start.group(1))] != literal.value:
        return None  # escapes, implicit concatenation: a position of the code is not one of the file
    try:
        parsed = ast.parse(literal.value)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    shift = literal.col_offset + len(start.group(0).encode())  # the code's first line starts after the quotes
    for node in ast.walk(parsed):
        if isinstance(node, (ast.expr, ast.stmt, ast.excepthandler, ast.arg, ast.keyword, ast.alias, ast.pattern)):
            if node.lineno == 1:
                node.col_offset += shift
            if node.end_lineno == 1 and node.end_col_offset is not None:
                node.end_col_offset += shift
    ast.increment_lineno(parsed, literal.lineno - 1)
    return parsed.body


def _module_bound_names(tree: ast.Module) -> set[str]:
    """Every name the file binds anywhere (any scope), and ``*`` for a star import: whether a builtin's name is
    the builtin."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.partition(".")[0])
        elif isinstance(node, ast.arg):
            out.add(node.arg)
    return out


_BUILTIN_NAMES = frozenset(dir(builtins))
# Base classes whose subclassing runs no code beyond the new class: built-ins (no ``__init_subclass__`` of
# their own) and standard-library classes whose hooks only set the new class's own attributes.
_INERT_BUILTIN_BASES = frozenset(
    {"object", "dict", "list", "tuple", "set", "frozenset", "str", "bytes", "int", "float", "complex"}
    | {name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)}
)
_INERT_BASES = frozenset(
    {
        "unittest.TestCase",
        "unittest.case.TestCase",
        "unittest.IsolatedAsyncioTestCase",
        "unittest.async_case.IsolatedAsyncioTestCase",
        "builtins.object",
        "builtins.Exception",
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
    }
)


def _binds_named_value(stmt: ast.stmt) -> bool:
    """A class-body statement binding a value it does not spell out (``handler = mod.thing``): creating the class
    calls ``__set_name__`` on such a value if its type has one, code that runs when the class statement runs.
    Literals (``RATE = 2``, ``maxDiff = None``) have no such hook."""
    if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
        return False
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        value = stmt.value
        assert value is not None
        return any(isinstance(n, (ast.Name, ast.Attribute, ast.Lambda, ast.NamedExpr)) for n in ast.walk(value))
    return False


# Calls whose result is a value of a standard type with no ``__set_name__`` that could keep the class it is bound
# in (the arguments are not bound): builtins, and the pure calls a module-level constant may make.
_PLAIN_VALUE_CALLS = frozenset(
    {
        "object",
        "hash",
        "len",
        "repr",
        "id",
        "classmethod",
        "staticmethod",
        "property",
        "sorted",
        "enumerate",
        "zip",
        "map",
        "filter",
        "reversed",
        "iter",
        "any",
        "all",
        "isinstance",
        "issubclass",
        "callable",
        "ord",
        "chr",
        "types.GenericAlias",
        "types.MappingProxyType",
        "threading.Lock",
        "threading.RLock",
        "weakref.WeakKeyDictionary",
        "weakref.WeakValueDictionary",
        "weakref.WeakSet",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
        "collections.Counter",
        "itertools.count",
    }
)
# Calls that make a plain tuple subclass (metaclass ``type``, no ``__init_subclass__``): as a class's base, called
# with arguments that call nothing, they hand the new class to no code (ref_graph's quiet bases, as ``NAME()``).
TUPLE_FACTORIES = frozenset({"collections.namedtuple", "typing.NamedTuple", "typing_extensions.NamedTuple"})
# Expressions whose value is a builtin container or string (no ``__set_name__``), whatever their parts run.
_DISPLAYS = (ast.Dict, ast.List, ast.Set, ast.Tuple, ast.ListComp, ast.SetComp, ast.DictComp, ast.JoinedStr)
# Generics whose subscription (in an annotation) only keeps its arguments: builtins' and the standard modules'.
_BUILTIN_GENERICS = frozenset({"type", "list", "dict", "tuple", "set", "frozenset"})
_GENERIC_MODULES = ("typing.", "typing_extensions.", "collections.abc.")
# Builtins that only keep their arguments, calling nothing of theirs: a class body calling them runs no code.
_WRAPPING_CALLS = frozenset({"classmethod", "staticmethod", "types.GenericAlias"})
# Decorators of a method whose result has no ``__set_name__``, besides the inert ones: pytest's fixture definition,
# hypothesis's test wrappers (functions).
_PLAIN_DECORATORS = frozenset(
    {"pytest.fixture", "pytest.yield_fixture"}
    | {f"hypothesis.{name}" for name in ("given", "settings", "example", "seed", "reproduce_failure", "note")}
)


def _plain_binding(stmt: ast.stmt, *, quiet_annotation: bool = False) -> list[ast.expr] | None:
    """The dotted names a statement binds names to, alone or in a tuple, list, set or dict display of them and
    constants (``cls = mod.Thing``, ``a = b = helper``, ``functions = (mi.a, mi.b)``): reading a name runs no code
    of the tree (a module ``__getattr__`` or a property aside, which resolve to something else than a class, a
    function or a module), and a display's type has no ``__set_name__``, so all the statement may run is the
    ``__set_name__`` of a value bound alone. An annotated one (``default_signer: type[Signer] = Signer``) too, when
    its annotation runs nothing (``quiet_annotation``: :meth:`_Extractor.quiet_annotation`). None for any other
    statement."""
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        if quiet_annotation:
            stmt = ast.Assign(targets=[stmt.target], value=stmt.value)
    if not (isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets)):
        return None
    if _dotted(stmt.value) is not None:
        return [stmt.value]
    if not isinstance(stmt.value, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
        return None
    out: list[ast.expr] = []
    stack: list[ast.expr | None] = [stmt.value]
    while stack:
        node = stack.pop()
        if node is None or isinstance(node, ast.Constant):
            continue  # (a None key: ``**`` in a dict display, whose value is checked below)
        if _dotted(node) is not None:
            out.append(node)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            stack.extend(node.elts)
        elif isinstance(node, ast.Dict) and None not in node.keys:
            stack.extend([*node.keys, *node.values])
        else:
            return None  # a call, a starred or computed element: it may run code
    return out or None


def _names_of(stmt: ast.stmt) -> list[ast.Name]:
    """The names an assignment of names binds."""
    if isinstance(stmt, ast.AnnAssign):
        return [stmt.target] if isinstance(stmt.target, ast.Name) else []
    return [t for t in stmt.targets if isinstance(t, ast.Name)] if isinstance(stmt, ast.Assign) else []


def _read_at_definition(node: ast.ClassDef) -> set[str] | None:
    """The names a class body reads while the class statement runs (its statements, and the decorators, defaults
    and annotations of its methods, nested classes whole; not the methods' bodies); None when it reads its own
    namespace by other means (``locals()``, ``vars()``, ``eval``…)."""
    out: set[str] = set()
    stack: list[ast.AST] = list(node.body)
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(item.decorator_list)
            stack.extend(d for d in [*item.args.defaults, *item.args.kw_defaults] if d is not None)
            stack.extend(a.annotation for a in _all_args(item.args) if a.annotation is not None)
            if item.returns is not None:
                stack.append(item.returns)
            continue
        if isinstance(item, ast.Lambda):
            stack.extend(d for d in [*item.args.defaults, *item.args.kw_defaults] if d is not None)
            continue
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Load):
            if item.id in ("locals", "vars", "dir", "eval", "exec", "globals"):
                return None
            out.add(item.id)
        stack.extend(ast.iter_child_nodes(item))
    return out


def _import_sources(stmt: ast.stmt) -> tuple[tuple[str, str], ...]:
    """What each name an import statement binds is bound to (``()`` for any other statement)."""
    if isinstance(stmt, ast.ImportFrom):
        return tuple(
            (alias.asname or alias.name, f"{stmt.level}:{stmt.module or ''}:{alias.name}") for alias in stmt.names
        )
    if isinstance(stmt, ast.Import):
        return tuple(
            (alias.asname, f"module:{alias.name}") if alias.asname else (alias.name.split(".")[0], "package")
            for alias in stmt.names
        )
    return ()


def _literal_all(tree: ast.Module) -> tuple[str, ...] | None:
    """The strings of ``__all__ = [...]`` when that is the only place the file names ``__all__``."""
    assigned: tuple[str, ...] | None = None
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "__all__"
            and isinstance(stmt.value, (ast.List, ast.Tuple))
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in stmt.value.elts)
        ):
            assigned = tuple(str(e.value) for e in stmt.value.elts if isinstance(e, ast.Constant))
    if assigned is None:
        return None
    mentions = sum(
        1
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == "__all__")
        or (isinstance(node, ast.Attribute) and node.attr == "__all__")
        or (isinstance(node, ast.Constant) and node.value == "__all__")
        or (isinstance(node, (ast.Global, ast.Nonlocal)) and "__all__" in node.names)
    )
    return assigned if mentions == 1 else None


# ---------------------------------------------------------------------------------------------
# Extraction


@dataclass(slots=True)
class _Acc:
    """The references of one node, being collected."""

    chains: list[Chain] = field(default_factory=list)
    attrs: set[str] = field(default_factory=set)
    imports: list[ImportRef] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    escapes: list[str] = field(default_factory=list)
    any_attr: bool = False
    namespace: bool = False
    dynamic: str = ""
    runs: list[str] = field(default_factory=list)
    unpickled: list[str] = field(default_factory=list)
    words: set[str] = field(default_factory=set)
    evals: bool = False
    computed: list[str] = field(default_factory=list)
    unpickles: list[str] = field(default_factory=list)
    fixtures: list[str] = field(default_factory=list)
    any_fixture: bool = False
    processes: list[str] = field(default_factory=list)
    instances: list[tuple[tuple[Chain, ...], tuple[Chain, ...]]] = field(default_factory=list)
    entry_points: list[str] = field(default_factory=list)
    module_attrs: bool = False
    doctests: bool = False
    reads_metadata: bool = False
    stores: set[str] = field(default_factory=set)
    loads: set[str] = field(default_factory=set)
    fetches: bool = False  # it calls the builtin getattr with a computed name
    other_computed: bool = False  # it reads an attribute under a computed name otherwise
    doc_copies: bool = False  # it copies a docstring into another ``__doc__`` (_docstring_copy)
    namespace_looked: bool = False  # it looks into values of a namespace read quietly (looked_spaces)

    def merge(self, other: _Acc) -> None:
        self.chains.extend(other.chains)
        self.attrs |= other.attrs
        self.imports.extend(other.imports)
        self.strings.extend(other.strings)
        self.escapes.extend(other.escapes)
        self.any_attr = self.any_attr or other.any_attr
        self.namespace = self.namespace or other.namespace
        self.dynamic = self.dynamic or other.dynamic
        self.runs.extend(other.runs)
        self.unpickled.extend(other.unpickled)
        self.words |= other.words
        self.evals = self.evals or other.evals
        self.computed.extend(other.computed)
        self.unpickles.extend(other.unpickles)
        self.fixtures.extend(other.fixtures)
        self.any_fixture = self.any_fixture or other.any_fixture
        self.processes.extend(other.processes)
        self.instances.extend(other.instances)
        self.entry_points.extend(other.entry_points)
        self.module_attrs = self.module_attrs or other.module_attrs
        self.doctests = self.doctests or other.doctests
        self.reads_metadata = self.reads_metadata or other.reads_metadata
        self.stores |= other.stores
        self.loads |= other.loads
        self.fetches = self.fetches or other.fetches
        self.other_computed = self.other_computed or other.other_computed
        self.doc_copies = self.doc_copies or other.doc_copies
        self.namespace_looked = self.namespace_looked or other.namespace_looked

    def freeze(self) -> NodeRefs:
        return NodeRefs(
            chains=tuple(dict.fromkeys(self.chains)),
            attrs=frozenset(self.attrs),
            imports=tuple(dict.fromkeys(self.imports)),
            strings=tuple(dict.fromkeys(self.strings)),
            escapes=tuple(dict.fromkeys(self.escapes)),
            any_attr=self.any_attr,
            namespace=self.namespace,
            dynamic=self.dynamic,
            runs=tuple(dict.fromkeys(self.runs)),
            unpickled=tuple(dict.fromkeys(self.unpickled)),
            words=frozenset(self.words),
            evals=self.evals,
            computed=tuple(dict.fromkeys(self.computed)),
            unpickles=tuple(dict.fromkeys(self.unpickles)),
            fixtures=tuple(dict.fromkeys(self.fixtures)),
            any_fixture=self.any_fixture,
            processes=tuple(dict.fromkeys(self.processes)),
            instances=tuple(dict.fromkeys(self.instances)),
            entry_points=tuple(dict.fromkeys(self.entry_points)),
            module_attrs=self.module_attrs,
            doctests=self.doctests,
            reads_metadata=self.reads_metadata,
            stored=frozenset(self.stores - self.loads),
            fetches=self.fetches and not self.other_computed,
            doc_copies=self.doc_copies,
            namespace_looked=self.namespace_looked,
        )


@dataclass(slots=True)
class _Frame:
    """A scope of Python's name resolution while walking."""

    kind: str  # module | class | function
    qualname: str
    bound: set[str] = field(default_factory=set)
    defs: dict[str, str] = field(default_factory=dict)
    imports: dict[str, list[ImportRef]] = field(default_factory=dict)
    self_name: str = ""
    self_class: str = ""
    self_instance: bool = False  # self_name is an instance (an ordinary method), not a class
    attr_param: str = ""  # in __getattr__ & co: the parameter holding the attribute name being looked up
    typed: dict[str, list[list[str]]] = field(default_factory=dict)
    # Variables read only by unpickling calls whose every value is known (:meth:`_Extractor.held_pickles`): None
    # for what one pickling call of this function returned (``data = pickle.dumps(x)``), else the constant pickles.
    held: dict[str, tuple[bytes, ...] | None] = field(default_factory=dict)
    # Module and class scopes: names bound once, to constant bytes, by a statement of the body (its line).
    constants: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    quiet: bool = False  # a class whose methods nothing wraps: decorators only pytest marks, no keywords or hooks
    uses: _Acc | None = None  # class scopes: the references of the class's users (its annotations not evaluated)
    # Function scopes: variables bound only as the target of ``for`` loops over literal strings (their values).
    loop_strings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Function scopes: for a function defined in its body (by id()), the parameters every call gives a string
    # literal (:func:`_constant_args`): it holds one of those strings, as a loop variable of ``loop_strings``.
    constant_args: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # Module and function scopes: names bound once, and in no other way, to ``importlib.util.find_spec`` of a
    # constant absolute module name (that name): the spec ``module_from_spec`` loads that module from.
    specs: dict[str, str] = field(default_factory=dict)
    # Function scopes: variables bound once, and in no other way, to what an ``importlib.import_module`` call returns.
    modules: set[str] = field(default_factory=set)
    # Function scopes: variables bound once, and in no other way, to an object's ``__module__``.
    own_modules: set[str] = field(default_factory=set)
    # Names bound only by undecorated ``def`` or ``class`` statements of the block (:func:`_bind_block`): functions
    # or classes.
    def_only: frozenset[str] = frozenset()


_FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
_DefNode = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


class _Extractor:
    def __init__(self, path: str, tree: ast.Module, text: str) -> None:
        self.path = path
        self.tree = tree
        # Every node of the module, in ``ast.walk`` order: the passes over the whole module share this one walk.
        self.nodes = list(ast_nodes.walk(tree))
        # Might the module's code write a global by other means than binding its name (``_writes_namespaces``)?
        self.writes_namespaces = _writes_namespaces(self.nodes)
        self.lines = text.splitlines(keepends=True)
        self.text = text
        self.scopes: list[Scope] = []
        self.future_annotations = any(
            isinstance(s, ast.ImportFrom) and s.module == "__future__" and any(a.name == "annotations" for a in s.names)
            for s in tree.body
        )
        self.frames: list[_Frame] = []
        self.acc_stack: list[_Acc] = []
        self.typing: set[str] = set()
        self.file_imports: list[ImportRef] = []
        self.file_strings: list[str] = []
        self.file_runs: list[str] = []
        self.dynamic = ""
        self.callees: set[int] = set()  # id() of the expressions called as functions (``f`` in ``f(x)``)
        self.type_tests: set[int] = set()  # id() of the classes ``isinstance``/``issubclass`` test against
        # id() of the dotted names only tested against: isinstance's and issubclass's classes, ``except`` types
        self.looked: set[int] = set()
        self.contained: set[int] = set()  # id() of computed getattr calls whose value cannot escape
        self.writes: set[int] = set()  # id() of globals() calls whose namespace is only written
        # id() of namespace expressions read in a way that runs nothing (quiet_namespaces) whose values the block
        # also looks into: compares, tests, measures, calls a method of (a docstring's text among them)
        self.looked_spaces: set[int] = set()
        # id() of docstring reads whose value is only copied into another ``__doc__`` (_docstring_copy)
        self.doc_copies: set[int] = set()
        # id() of namespace reads under a constant key (``frame.f_globals.get("__name__")``, ``x.__dict__["a"]``):
        # a read of that one name
        self.named_reads: set[int] = set()
        self.augmented: set[int] = set()  # id() of augmented assignments' targets (they read too)
        # id() of string constants that can only be identifiers (an attribute name handed to setattr, a class's
        # ``__slots__``, parametrize's argument names): they name no file (:meth:`identifier_strings`)
        self.identifiers: set[int] = set()
        # blocks with reads to classify: a computed getattr, a namespace read (``cls.__dict__[name]``)
        self.read_blocks = _read_blocks(tree) if "getattr" in text or _NAMESPACE_WORDS.search(text) else set()
        # id() of namespace expressions (``x.__dict__``, ``vars(x)``) whose reads run nothing: only keys are used, or
        # values that stay put (see :meth:`contained_reads`) -> whether values are read (the classes they may be).
        self.quiet_namespaces: dict[int, bool] = {}
        # id() of namespace calls whose values a comprehension keeps only when ``isinstance(v, C)``: -> C
        self.filtered = _filtered_namespaces(self.nodes) if _NAMESPACE_CALL.search(text) else {}
        # id() of getmembers calls whose values a loop drops (``for name, _ in getmembers(x)``)
        self.names_only = _names_only_members(self.nodes) if "getmembers" in text else set()
        self.imported: set[str] = set()  # every name an import binds in a frame entered so far
        # How many top-level statements bind each name (a base named by an import bound nowhere else is known).
        self.builtin_values = BuiltinValues(tree, self.nodes)  # expressions certainly of an exact builtin type
        # Names that only imports bind anywhere in the file (a reference to one is the module or object imported).
        self.import_only = _import_only_names(self.nodes) if "reload" in text else frozenset()
        self.module_bindings: Counter[str] = Counter(
            name for i, stmt in enumerate(tree.body) for name in _bound_names(stmt, docstring=i == 0)
        )
        self.reconstructors = _reconstructors(tree, self.nodes, self.module_bindings) if "__reduce" in text else set()

    # -- driver -------------------------------------------------------------------------------

    def run(self) -> FileFacts:
        module = _Frame("module", "")
        _bind_block(self.tree.body, module, "")
        if "global" in self.text:  # a function may rebind a module's function (``global f``)
            module.def_only -= {n for node in self.nodes if isinstance(node, ast.Global) for n in node.names}
        self.imported.update(module.imports)
        self.frames.append(module)
        if not self.writes_namespaces:
            module.constants = _constants(self.tree.body)
            module.specs = self.found_specs(self.tree.body, [])
        if id(self.tree) in self.read_blocks:
            self.contained |= self.contained_reads(self.tree.body, frozenset())
        acc = _Acc()
        self.acc_stack.append(acc)
        toplevel: list[TopLevel] = []
        name_refs: dict[str, list[_Acc]] = {}
        made: list[Chain] = []  # NodeRefs.made
        made_by: dict[str, list[Chain]] = {}  # a name -> the callees of the bound calls binding it
        made_counts: Counter[str] = Counter()  # a name -> how many of those statements bind it
        name_lines: dict[str, int] = {}
        main: _Acc | None = None
        main_line = 0
        # A module that binds __name__ (or may write it into its namespace) may enter its guard on import.
        guards = "__name__" not in module.bound and not (
            self.writes_namespaces
            and any(_main_guard(stmt) for stmt in self.tree.body)
            and _may_rebind_globals(self.path, self.nodes, name="__name__")
        )
        for i, stmt in enumerate(self.tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                toplevel.append(TopLevel(f"def:{stmt.name}", (stmt.name,)))
                self.walk_stmt(stmt)
                continue
            if guards and _main_guard(stmt):
                # Runs only when the module runs as a script (``python -m``, ``python file.py``): its own node,
                # which what runs the module reaches; importing it runs the test and the ``else`` alone.
                assert isinstance(stmt, ast.If)
                main = main or _Acc()
                main_line = main_line or stmt.lineno
                self.acc_stack.append(main)
                self.walk_block(stmt.body)
                self.acc_stack.pop()
                self.visit(stmt.test)
                self.walk_block(stmt.orelse)
                names = _bound_names(stmt, docstring=False)
                for name in names:
                    name_lines.setdefault(name, stmt.lineno)
                toplevel.append(TopLevel(self.statement_key(stmt), names, main=not stmt.orelse))
                continue
            names = _bound_names(stmt, docstring=i == 0)
            pure = self.pure(stmt, docstring=i == 0) and bool(names)
            calls: list[Chain] = []
            if not pure and names and not self.pure(stmt, docstring=i == 0, calls=calls):
                calls = []
            own = _Acc()
            self.acc_stack.append(own)
            self.walk_stmt(stmt)
            self.acc_stack.pop()
            imports = tuple(dict.fromkeys(own.imports))
            for name in names:
                name_lines.setdefault(name, stmt.lineno)
            if pure and self.type_checking_only(stmt):  # runs nothing and binds nothing at run time
                acc.imports.extend(imports)  # (counted as run all the same: the graph stays an over-estimate)
                toplevel.append(TopLevel(self.statement_key(stmt), (), True))
                continue
            if pure:  # its references are the bound names' own; the module only executes its imports
                acc.imports.extend(imports)
                for name in names:
                    name_refs.setdefault(name, []).append(own)
            else:
                callee = self.bound_call(stmt)
                if callee:
                    # ``once = once_per()``: the module runs the call; the names hold what it returned
                    moved = [c for c in dict.fromkeys(callee) if own.chains.count(c) == 1]
                    own.chains = [c for c in own.chains if c not in moved]
                    made.extend(moved)
                    for name in names:
                        name_refs.setdefault(name, []).append(_Acc(chains=list(moved)))
                        made_by.setdefault(name, []).extend(callee)
                        made_counts[name] += 1
                acc.merge(own)
            toplevel.append(
                TopLevel(self.statement_key(stmt), names, pure, imports, _import_sources(stmt), tuple(calls))
            )
        not_a_test = any(_assigns_false(s, "__test__") for s in self.tree.body)
        plugins: list[str] = []
        for stmt in self.tree.body:
            if _assigns_name(stmt, "pytest_plugins"):
                for value in _string_constants(stmt):
                    acc.imports.append(ImportRef(0, value))
                    self.file_imports.append(ImportRef(0, value))
                    plugins.append(value)
        refs = acc.freeze()
        refs = dataclasses.replace(refs, made=tuple(c for c in dict.fromkeys(made) if c not in refs.chains))
        self.scopes.insert(0, Scope(qualname="", kind="module", name="", parent="", container="", line=1, refs=refs))
        # A name every binding of which is such a call holds what those calls returned, and nothing else.
        declared = {n for node in self.nodes if isinstance(node, ast.Global) for n in node.names}
        if main is not None:
            self.scopes.append(
                Scope(
                    qualname=MAIN, kind="main", name=MAIN, parent="", container="", line=main_line, refs=main.freeze()
                )
            )
        defined = {
            s.name for s in self.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        }
        for name in sorted((module.bound | {n for t in toplevel for n in t.names}) - defined - {"*"}):
            merged = _Acc()
            for part in name_refs.get(name, ()):
                merged.merge(part)
            self.scopes.append(
                Scope(
                    qualname=name,
                    kind="name",
                    name=name,
                    parent="",
                    container="",
                    line=name_lines.get(name, 1),
                    refs=merged.freeze(),
                    made_by=(
                        tuple(dict.fromkeys(made_by[name]))
                        if name in made_by
                        and self.module_bindings[name] == made_counts[name]
                        and name not in declared
                        and not self.writes_namespaces
                        and not any(
                            isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names)
                            for n in self.tree.body
                        )
                        else ()
                    ),
                )
            )
        examples = self.doctests()
        if examples is not None:
            self.scopes.append(examples)
        self.scopes = _merge_duplicates(self.scopes)
        values = frozenset(module.bound - set(module.defs) - set(module.imports))
        defs: dict[str, list[str]] = {}
        for scope in self.scopes:
            if scope.kind in ("function", "class") and scope.parent == "" and scope.qualname:
                defs.setdefault(scope.name, []).append(scope.qualname)
        stars = tuple(ref for name, refs in module.imports.items() if name == "*" for ref in refs)
        return FileFacts(
            path=self.path,
            error="",
            scopes=tuple(self.scopes),
            defs={k: tuple(dict.fromkeys(v)) for k, v in defs.items()},
            bindings={k: tuple(dict.fromkeys(v)) for k, v in module.imports.items() if k != "*"},
            values=values,
            star_imports=stars,
            file_imports=tuple(dict.fromkeys(self.file_imports)),
            file_strings=tuple(dict.fromkeys(self.file_strings)),
            file_runs=tuple(dict.fromkeys(self.file_runs)),
            dynamic=self.dynamic,
            not_a_test=not_a_test,
            plugins=tuple(plugins),
            toplevel=tuple(toplevel),
            exports=(
                _literal_all(self.tree)
                if "__all__" in self.text or self.writes_namespaces
                else tuple(n for t in toplevel for n in t.names if not n.startswith("_"))  # what a star import binds
            ),
            marks=_fixture_words(s for s in self.tree.body if _assigns_name(s, "pytestmark")),
            usefixtures=_loose_usefixtures(self.tree) if "usefixtures" in self.text else (),
            registers_plugins="pluginmanager" in self.text and bool(_REGISTERS_PLUGINS.search(self.text)),
            state_writers=_state_writers(self.tree),
            aliases=_module_aliases(self.path, self.tree, self.nodes),
            names_doc=names_doc(self.text, self.tree),
            doc_setter=doc_setter(self.text, self.tree),
            rebound=_assigned_at_module(self.tree),
        )

    def doctests(self) -> Scope | None:
        """The module's doctest examples as one node (``DOCTESTS``), run in the module's namespace.

        What ``--doctest-modules`` runs: the examples of every docstring (the
        module's, and every function's, class's and method's at any depth) and
        of any other string constant holding ``>>>`` (``__test__`` entries, a
        docstring assigned to ``__doc__``). The node references what the
        examples' code references, and each docstring's owner (a change to
        the docstring is a change to its entity; the module's binds ``__doc__``).
        Nothing of it counts as the file's own imports or dynamic code.
        """
        owners: dict[str, None] = {}
        texts: list[str] = []
        docstrings: set[int] = set()
        named = {(s.line, s.name): s.qualname for s in self.scopes if s.kind in ("function", "method", "class")}
        module_doc = _docstring_node(self.tree)
        if module_doc is not None:
            docstrings.add(id(module_doc))
            if ">>>" in module_doc.value:
                owners["__doc__"] = None
                texts.append(module_doc.value)
        for node in self.nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found = _docstring_node(node)
                if found is None:
                    continue
                docstrings.add(id(found))
                if ">>>" in found.value:
                    owner = named.get((node.lineno, node.name))
                    if owner is not None:
                        owners[owner] = None
                    texts.append(found.value)
        for node in self.nodes:
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and ">>>" in node.value
                and (id(node) not in docstrings)
            ):
                texts.append(node.value)
        if not texts:
            return None
        body: list[ast.stmt] = []
        parser = doctest.DocTestParser()
        for text in texts:
            try:
                examples = parser.get_examples(text)
            except ValueError:  # doctest cannot read it either: the item fails at collection, running nothing
                continue
            for example in examples:
                try:
                    body.extend(ast.parse(example.source).body)
                except (SyntaxError, ValueError):  # fails when run, before running anything
                    continue
        saved = (self.file_imports, self.file_strings, self.file_runs, self.dynamic)
        self.file_imports, self.file_strings, self.file_runs = [], [], []
        frame = _Frame("function", DOCTESTS)
        _bind_block(body, frame, DOCTESTS)
        self.imported.update(frame.imports)
        self.frames.append(frame)
        acc = _Acc(chains=[Chain("local", owner) for owner in owners])
        self.acc_stack.append(acc)
        self.walk_block(body)
        self.acc_stack.pop()
        self.frames.pop()
        self.file_imports, self.file_strings, self.file_runs, self.dynamic = saved
        return Scope(
            qualname=DOCTESTS, kind="doctest", name=DOCTESTS, parent="", container="", line=1, refs=acc.freeze()
        )

    def header(self, node: _FunctionNode) -> str:
        """The text of a definition up to its body (decorators, signature), without whitespace."""
        first = node.decorator_list[0] if node.decorator_list else node
        body = node.body[0]
        lines = self.lines[first.lineno - 1 : body.lineno]
        if not lines:
            return ""
        lines[-1] = lines[-1].encode()[: body.col_offset].decode(errors="replace")
        lines[0] = lines[0].encode()[first.col_offset :].decode(errors="replace")
        return "".join("".join(lines).split())

    @property
    def acc(self) -> _Acc:
        return self.acc_stack[-1]

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def qual(self, name: str) -> str:
        prefix = self.frame.qualname
        return f"{prefix}.{name}" if prefix else name

    def container(self) -> str:
        for frame in reversed(self.frames):
            if frame.kind != "class":
                return frame.qualname
        return ""

    # -- statements ---------------------------------------------------------------------------

    def walk_block(self, body: Iterable[ast.stmt]) -> None:
        for stmt in body:
            self.walk_stmt(stmt)

    def walk_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.AugAssign):
            self.augmented.add(id(stmt.target))
        copied = _docstring_copy(stmt)
        if (
            copied is not None
            and (
                isinstance(copied, ast.Attribute)
                or (self.call_name(copied.func) == "getattr" and not any("getattr" in f.bound for f in self.frames))
            )
            and all(self.holds_definition(t) for t in cast(ast.Assign, stmt).targets)
        ):
            self.doc_copies.add(id(copied))
        if (
            self.frame.kind == "class"
            and isinstance(stmt, (ast.Assign, ast.AnnAssign))
            and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in _targets(stmt))
            and stmt.value is not None
        ):
            self.identifiers.update(id(n) for n in _string_items(stmt.value))
        if isinstance(stmt, ast.AnnAssign) and self.frame.uses is not None and self.quiet_annotation(stmt.annotation):
            # A class body's annotation under ``from __future__ import annotations`` is a string in the class's
            # ``__annotations__``, and one that only reads names keeps them there: no code of the class statement
            # runs. What reads it (``typing.get_type_hints(cls)``) uses the class.
            if not self.future_annotations:
                for read in self.attribute_reads(stmt.annotation):  # ``events.Request``: read now, it may raise
                    self.visit(read)
            self.acc_stack.append(self.frame.uses)
            self.visit(stmt.annotation)
            for parsed in _annotation_strings(stmt.annotation):
                self.visit(parsed)
            self.acc_stack.pop()
            self.visit(stmt.target)
            if stmt.value is not None:
                self.visit(stmt.value)
            return
        if isinstance(stmt, ast.AnnAssign):
            for parsed in _annotation_strings(stmt.annotation):  # ``x: "Inner"``: what get_type_hints finds
                self.visit(parsed)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(stmt)
        elif isinstance(stmt, ast.ClassDef):
            self.klass(stmt)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                self.executes(ImportRef(0, alias.name))
        elif isinstance(stmt, ast.ImportFrom):
            module = stmt.module or ""
            self.executes(ImportRef(stmt.level, module))
            for alias in stmt.names:
                if alias.name != "*":
                    self.executes(ImportRef(stmt.level, module, alias.name))
        elif isinstance(stmt, ast.If):
            # An ``elif`` chain (an ``if`` nested in ``orelse``) walked in a loop: Jinja's compiled templates
            # hold 1,000 ``elif``s, deeper than Python's recursion limit.
            chain = ast_nodes.elif_chain(stmt)
            for branch in chain:
                self.visit(branch.test)
                self.walk_block(branch.body)
            self.walk_block(chain[-1].orelse)
        else:
            self.walk_children(stmt)

    def walk_children(self, node: ast.AST) -> None:
        """A compound statement's parts: statements are walked (definitions in them get scopes), the rest visited.

        ``except`` handlers and ``match`` cases are not statements but hold
        statement bodies: definitions there (``except ImportError: def f(): …``)
        are definitions like any other.
        """
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.walk_stmt(child)
            elif isinstance(child, (ast.excepthandler, ast.match_case)):
                if isinstance(child, ast.ExceptHandler) and child.type is not None:
                    self.look(child.type)  # matching an exception is a subtype check: no hook runs
                self.walk_children(child)
            else:
                self.visit(child)

    def expression_key(self, expr: ast.expr) -> str:
        try:
            return _hash(ast.dump(expr))
        except RecursionError:
            return _hash("text", ast.get_source_segment("".join(self.lines), expr) or "")

    def statement_key(self, stmt: ast.stmt) -> str:
        """A statement's code, without positions and comments (its text where it nests too deeply to dump)."""
        try:
            return _hash(ast.dump(stmt))
        except RecursionError:
            end = stmt.end_lineno or stmt.lineno
            return _hash("text", "".join(self.lines[stmt.lineno - 1 : end]))

    def pure(self, stmt: ast.stmt, *, docstring: bool, calls: list[Chain] | None = None) -> bool:
        """Does a top-level statement only bind names, running no code a test could observe otherwise?
        With ``calls``, calls of functions by dotted names are allowed and their references added there."""
        if isinstance(stmt, ast.Import):
            return True
        if isinstance(stmt, ast.ImportFrom):
            return all(alias.name != "*" for alias in stmt.names) and stmt.module != "__future__"
        if isinstance(stmt, ast.Expr):
            if docstring and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                return True
            return not docstring and self.pure_value(stmt.value, calls)  # in a block: ``mod.name`` may raise
        if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(_only_names(t) for t in targets):
                return False
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
                return True
            assert stmt.value is not None
            return self.pure_value(stmt.value, calls, tables=True)
        if isinstance(stmt, ast.Pass):
            return True
        # A block of such statements under a plain condition (``if TYPE_CHECKING:``, ``if sys.version_info >=
        # (3, 11):``) or a ``try`` with handlers (``try: import x`` / ``except ImportError: x = None``).
        if isinstance(stmt, ast.If):
            return self.pure_value(stmt.test, calls) and self.pure_block([*stmt.body, *stmt.orelse], calls)
        if isinstance(stmt, (ast.Try, ast.TryStar)):
            handlers = stmt.handlers
            return all(h.type is None or self.pure_value(h.type, calls) for h in handlers) and self.pure_block(
                [*stmt.body, *stmt.orelse, *stmt.finalbody, *(s for h in handlers for s in h.body)], calls
            )
        return False

    def type_checking_only(self, stmt: ast.stmt) -> bool:
        """``if TYPE_CHECKING:`` without ``else``, where ``TYPE_CHECKING`` is ``typing``'s (False at run time)
        or bound only to ``False``: its body is for type checkers and never runs."""
        if not isinstance(stmt, ast.If) or stmt.orelse or self.writes_namespaces:
            return False
        test = stmt.test
        if isinstance(test, ast.Attribute) and isinstance(test.value, ast.Name) and test.attr == "TYPE_CHECKING":
            module = test.value.id  # ``import typing``, and nothing else binds the name
            return module in ("typing", "typing_extensions") and self._bound_only_by(
                module, lambda s: isinstance(s, ast.Import)
            )
        if not isinstance(test, ast.Name) or test.id != "TYPE_CHECKING":
            return False
        return self._bound_only_by(
            "TYPE_CHECKING",
            lambda s: (
                isinstance(s, ast.ImportFrom)
                and s.module in ("typing", "typing_extensions")
                and not s.level
                or isinstance(s, ast.Assign)
                and isinstance(s.value, ast.Constant)
                and s.value.value is False
            ),
        )

    def _bound_only_by(self, name: str, kind: Callable[[ast.stmt], bool]) -> bool:
        """Is ``name`` bound at module level, only by statements of ``kind`` that bind it as itself (an import
        of that very name, not ``import x as name``)?"""
        bindings = [s for s in self.tree.body if name in _bound_names(s, docstring=False)]
        return bool(bindings) and all(
            kind(s) and all(a.name == name for a in getattr(s, "names", ()) if (a.asname or a.name) == name)
            for s in bindings
        )

    def pure_block(self, body: list[ast.stmt], calls: list[Chain] | None = None) -> bool:
        return all(self.pure(s, docstring=False, calls=calls) for s in body)

    def pure_value(self, value: ast.expr, calls: list[Chain] | None = None, *, tables: bool = False) -> bool:
        """Does evaluating an expression at module level run no code of its own (only pure calls; with
        ``calls``, also calls by dotted names, whose references go there)?

        With ``tables`` (the value an assignment binds), a ``lambda`` that is the value or an item of displays
        holding it (isodate's ``STRF_DT_MAP = {"%Z": lambda tdt, yds: tz_isoformat(tdt, "%Z"), ...}``) only
        makes a function: its body runs when a reader of the bound name calls it, not at import (its defaults
        run, and must be pure). A lambda anywhere else (an argument: ``sorted(xs, key=lambda x: f(x))``) may
        run now."""
        stack: list[tuple[ast.AST, bool]] = [(value, tables)]  # (node, an item of the bound value's displays?)
        while stack:
            node, shelved = stack.pop()
            if isinstance(node, ast.Lambda) and shelved:
                stack.extend((d, False) for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None)
                continue
            if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)):
                return False
            display = shelved and isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set))
            stack.extend((child, display) for child in ast.iter_child_nodes(node))
            if isinstance(node, ast.Call) and self.call_name(node.func) not in _PURE_CALLS:
                dotted = _dotted(node.func)
                if calls is None or dotted is None:
                    return False
                calls.extend(self.name_chains(dotted[0], tuple(dotted[1:]), record=False))
        return True

    def executes(self, ref: ImportRef) -> None:
        self.acc.imports.append(ref)
        self.file_imports.append(ref)

    # -- definitions --------------------------------------------------------------------------

    def function(self, node: _FunctionNode) -> None:
        qualname = self.qual(node.name)
        parent = self.frame
        in_class = parent.kind == "class"
        # What runs when the ``def`` runs (decorators, defaults, annotations) belongs to the enclosing node.
        decorators = [self.call_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
        # ``@given(make_strategy())``: a decorator inert only with quiet arguments calls code when the ``def`` runs.
        loud = [
            i
            for i, (dec, name) in enumerate(zip(node.decorator_list, decorators, strict=True))
            if name in QUIET_ARGUMENTS
            and isinstance(dec, ast.Call)
            and any(_has_call(a) for a in [*dec.args, *(k.value for k in dec.keywords)])
        ]
        for i in loud:
            decorators[i] = f"{decorators[i]}()"  # not inert: the definition runs code
        # What a reference or a default that only names something holds, the function runs, if anything does:
        # resolved in the enclosing scope, it is the function's reference.
        deferred = _Acc()
        for dec, name in zip(node.decorator_list, decorators, strict=True):
            if isinstance(dec, ast.Call) and inert_decorator(name) and all(map(_names_only, _call_args(dec))):
                # ``@pytest.mark.parametrize("cls", TYPES)``, ``@given(st.BIDICTS)``: an inert decorator keeps its
                # arguments for the test alone (pytest hands it the values, Hypothesis draws from the strategies
                # when it runs); reading names runs nothing when the ``def`` runs.
                self.acc_stack.append(deferred)
                self.visit(dec)
                self.acc_stack.pop()
            else:
                self.visit(dec)
        args = node.args
        defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
        # A default that is a plain reference (``f=Cache.clear``) runs nothing when the ``def`` runs: the
        # function runs it, if anything does. A constant (``context="metadata"``) runs nothing either, and its
        # value reaches other code only through the function (its body, or a reader of its defaults, which holds
        # the function): a file its string names is the function's to read, not its definer's.
        for default in defaults:
            if isinstance(default, ast.Constant):
                self.acc_stack.append(deferred)
                self.visit(default)
                self.acc_stack.pop()
            else:
                self.visit_reference(default, deferred)
        annotations = [a.annotation for a in _all_args(args) if a.annotation is not None]
        if node.returns is not None:
            annotations.append(node.returns)
        # An evaluated annotation that only reads names and subscripts the standard generics with them
        # (``event: Union[Request, Response]``, :meth:`quiet_types`) runs no code of the tree with the ``def``:
        # it keeps the names in ``__annotations__``, as an unevaluated one does. Any other runs with the ``def``.
        kept_annotations = [a for a in annotations if self.future_annotations or self.quiet_types(a)]
        for annotation in annotations:
            if not any(annotation is kept for kept in kept_annotations):
                self.visit(annotation)
            elif not self.future_annotations:
                for read in self.attribute_reads(annotation):  # ``events.Request``: read now, it may raise
                    self.visit(read)
        # Whatever reads the annotations later (``typing.get_type_hints``: a framework building an argument from
        # its type) has the function: kept ones and strings are the function's references.
        self.acc_stack.append(deferred)
        for annotation in annotations:
            if any(annotation is kept for kept in kept_annotations):
                self.visit(annotation)
            for parsed in _annotation_strings(annotation):
                self.visit(parsed)
        self.acc_stack.pop()
        escapes = any(not inert_decorator(d) for d in decorators)
        if escapes:
            self.acc.escapes.append(qualname)
        fixture, fixture_named, autouse = _fixture_decorator(node, decorators)
        evaluated = [*defaults, *([] if self.future_annotations else annotations)]
        # A decorator's arguments run with the ``def`` too (``@pytest.mark.parametrize("x", compute())``: at the
        # module's import, for every test of the file), an inert decorator's as well.
        arguments = [
            a for d in node.decorator_list if isinstance(d, ast.Call) for a in (*d.args, *(k.value for k in d.keywords))
        ]
        def_effects = escapes or any(_has_call(e) for e in (*evaluated, *arguments))
        # Decorators not known here but perhaps another module's name for one that is (pyflakes' test modules
        # import ``skipIf`` from their harness, which binds ``skipIf = unittest.skipIf``): the graph resolves them.
        decorated_by: list[tuple[Chain, ...]] = []
        for dec, name in zip(node.decorator_list, decorators, strict=True):
            dotted = _dotted(dec.func if isinstance(dec, ast.Call) else dec)
            if not inert_decorator(name) and dotted is not None:
                decorated_by.append(tuple(self.name_chains(dotted[0], tuple(dotted[1:]), record=False)))
        decorator_args = [
            -1
            if not isinstance(dec, ast.Call)
            else 99
            if any(isinstance(a, ast.Starred) for a in dec.args)
            else len(dec.args)
            for dec, name in zip(node.decorator_list, decorators, strict=True)
            if not inert_decorator(name) and _dotted(dec.func if isinstance(dec, ast.Call) else dec) is not None
        ]
        if (
            not escapes
            or loud  # (the graph would find the decorator inert by its name)
            or any(_has_call(e) for e in evaluated)
            or len(decorated_by) != sum(not inert_decorator(d) for d in decorators)
        ):
            decorated_by = []
            decorator_args = []
        def_hash = _hash(type(node).__name__, node.name, self.header(node))
        # The body is a node of its own.
        frame = _Frame("function", qualname)
        for arg in _all_args(args):
            frame.bound.add(arg.arg)
        positional = [*args.posonlyargs, *args.args]
        if in_class and "staticmethod" not in decorators and positional:
            frame.self_name = positional[0].arg
            frame.self_class = parent.qualname
            frame.self_instance = "classmethod" not in decorators and node.name not in _CLASS_BOUND
        hooks = ("__getattr__", "__getattribute__", "__setattr__", "__delattr__")
        if node.name in hooks and len(positional) > (1 if in_class else 0):
            frame.attr_param = positional[1 if in_class else 0].arg
        _bind_block(node.body, frame, qualname)
        frame.loop_strings = _loop_strings(node, {arg.arg for arg in _all_args(args)})
        frame.loop_strings.update(parent.constant_args.get(id(node), {}))
        frame.constant_args = _constant_args(node)
        self.imported.update(frame.imports)
        getter = node.name in _GETTER_HOOKS or any(
            d in _GETTER_DECORATORS or d.endswith((".getter", ".setter", ".deleter")) for d in decorators
        )
        if in_class and node.name in ("__reduce__", "__reduce_ex__"):
            # ``return "name"``: pickle and copy look the name up among the module's globals.
            for returned in _returns(node.body):
                value = _constant_str(returned)
                if value is not None and value and all(_IDENTIFIER.fullmatch(p) for p in value.split(".")):
                    root, *rest = value.split(".")
                    deferred.chains.append(Chain("global", root, tuple(rest)))
        index = len(self.scopes)
        parametrized = self.parametrized(node)
        self.frames.append(frame)
        frame.held = self.held_pickles(node, parametrized)
        self_handoffs = self.self_handoffs(node, frame.self_name) if frame.self_instance else None
        # What calling it does with its arguments, when its name binds the function itself: a decorator not known
        # to be inert binds the name to whatever the decorator returned (a decorated decorator is that value), which
        # the graph reads through the decorators it can name (``decorated_by``: those giving back their argument).
        kept = (
            None
            if escapes and not decorated_by and not any(d in _OVERLOADS for d in decorators)
            else function_kept(
                node,
                qualname,
                in_class and "staticmethod" not in decorators,
                self.callee_chains,
                self.call_name,
                stub=any(d in _OVERLOADS for d in decorators),
            )
        )
        frame.specs = self.found_specs(node.body, _all_args(args))
        frame.modules, frame.own_modules = self.module_variables(node.body, _all_args(args))
        if id(node) in self.read_blocks:
            self.contained |= self.contained_reads(node.body, frozenset(frame.bound))
        self.acc_stack.append(deferred)
        file_imports = len(self.file_imports)
        self.walk_block(node.body)
        acc = self.acc_stack.pop()
        self.frames.pop()
        if qualname in self.reconstructors:
            # Called by copy or unpickling alone, with what a __reduce__ made of an existing object by its module
            # and qualified name: what it imports and reads by computed names is that object (as pickle's own
            # lookup by reference finds it), which the test holding it reaches already.
            acc.any_attr = acc.module_attrs = False
            acc.computed = []
            acc.chains = [
                dataclasses.replace(c, attrs=c.attrs[: c.attrs.index("*")]) if "*" in c.attrs else c for c in acc.chains
            ]
            acc.imports = [ref for ref in acc.imports if ref != _ANY_MODULE]
            self.file_imports[file_imports:] = [ref for ref in self.file_imports[file_imports:] if ref != _ANY_MODULE]
        self.scopes.insert(
            index,
            Scope(
                qualname=qualname,
                kind="method" if in_class else "function",
                name=node.name,
                parent=parent.qualname,
                container=self.container(),
                line=node.lineno,
                refs=acc.freeze(),
                def_hash=def_hash,
                def_effects=def_effects,
                decorated_by=tuple(decorated_by),
                decorator_args=tuple(decorator_args),
                decorators_hash=_hash(*(ast.dump(d) for d in node.decorator_list)) if decorated_by else "",
                kept=kept,
                results=_returned_definitions(node, qualname, self.call_name),
                self_plain=self_handoffs is not None,
                self_handoffs=self_handoffs or (),
                def_raises=bool(node.decorator_list) or not all(map(self.cannot_raise, evaluated)),
                inert_call=not node.decorator_list and not in_class and self.computes_only(node.body),
                is_async=isinstance(node, ast.AsyncFunctionDef),
                reconstructor=qualname in self.reconstructors,
                getter=getter,
                fixture=fixture,
                fixture_named=fixture_named,
                fixture_plain=bool(fixture) and all(inert_decorator(d) or d in FIXTURE_DECORATORS for d in decorators),
                autouse=autouse,
                args=_requested_args(args, method=in_class and "staticmethod" not in decorators),
                marks=_fixture_words(
                    d for d, name in zip(node.decorator_list, decorators, strict=True) if name not in FIXTURE_DECORATORS
                ),
            ),
        )

    def callee_chains(self, expr: ast.expr) -> list[Chain] | None:
        """Every reading of a callee (``r.wraps``, ``super().wraps``, ``helper``) when each is known (an import, a
        definition, a name bound only by calls: ``r = Retrying(...)``), else None."""
        if isinstance(expr, ast.Attribute) and _is_super_call(expr.value):
            owner = self.self_class()
            return [Chain("super", owner, (expr.attr,))] if owner and not expr.value.args else None  # type: ignore[attr-defined]
        dotted = _dotted(expr)
        if dotted is None:
            return None
        return self.name_chains(dotted[0], tuple(dotted[1:]), record=False, known_only=True) or None

    def visit_reference(self, node: ast.expr, acc: _Acc) -> None:
        """Visit ``node``; a plain dotted reference runs nothing by itself: its readings go to ``acc``."""
        if _dotted(node) is None:
            self.visit(node)
            return
        self.acc_stack.append(acc)
        self.visit(node)
        self.acc_stack.pop()

    def computes_only(self, body: list[ast.stmt]) -> bool:
        """Does a function body only compute a value: docstrings, ``pass``, assignments to local names,
        conditions and returns, whose expressions make only pure calls?"""
        for stmt in body:
            if isinstance(stmt, ast.Pass) or isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue
            if isinstance(stmt, ast.Return) and (stmt.value is None or self.pure_value(stmt.value)):
                continue
            if (
                isinstance(stmt, ast.Assign)
                and all(isinstance(t, ast.Name) for t in stmt.targets)
                and self.pure_value(stmt.value)
            ):
                continue
            if (
                isinstance(stmt, ast.If)
                and self.pure_value(stmt.test)
                and self.computes_only(stmt.body)
                and self.computes_only(stmt.orelse)
            ):
                continue
            return False
        return True

    def cannot_raise(self, value: ast.expr) -> bool:
        """Can evaluating ``value`` not raise: a constant, a built-in name the module does not rebind, a
        display of those (hashable constants only as keys and set elements)?"""
        if isinstance(value, ast.Constant):
            return True
        if isinstance(value, ast.Name):
            return value.id in _BUILTIN_NAMES and self.module_bindings[value.id] == 0
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, (ast.USub, ast.UAdd)):
            return isinstance(value.operand, ast.Constant) and type(value.operand.value) in (int, float, complex)
        if isinstance(value, (ast.Tuple, ast.List)):
            return all(map(self.cannot_raise, value.elts))
        if isinstance(value, ast.Set):
            return all(isinstance(e, ast.Constant) for e in value.elts)
        if isinstance(value, ast.Dict):
            return all(isinstance(k, ast.Constant) for k in value.keys) and all(map(self.cannot_raise, value.values))
        return False

    def defines_quietly(self, stmt: ast.stmt) -> bool:
        """Can a statement of a class body (not a nested definition) not raise when the class is defined?"""
        if isinstance(stmt, ast.Pass):
            return True
        if isinstance(stmt, ast.Expr):
            return isinstance(stmt.value, ast.Constant)
        if isinstance(stmt, ast.Assign):
            return all(isinstance(t, ast.Name) for t in stmt.targets) and self.cannot_raise(stmt.value)
        if isinstance(stmt, ast.AnnAssign):
            return (
                isinstance(stmt.target, ast.Name)
                and (stmt.value is None or self.cannot_raise(stmt.value))
                and (self.future_annotations or self.cannot_raise(stmt.annotation))
            )
        return False

    def inert_base(self, base: ast.expr) -> bool:
        """Is ``base`` (of a module-level class) ``object``, a built-in exception or container, or a standard
        library class of :data:`_INERT_BASES`, named by a module name nothing else binds? Subclassing those runs
        no hook that could reach code beyond the new class (``TestCase.__init_subclass__`` sets two of its
        attributes); any other base may have an ``__init_subclass__`` or a metaclass that runs anything."""
        dotted = _dotted(base)
        if dotted is None:
            return False
        module = self.frames[0]
        counts = self.module_bindings
        root = dotted[0]
        if counts[root] == 0 and root not in module.imports:
            return len(dotted) == 1 and root in _INERT_BUILTIN_BASES
        refs = module.imports.get(root, [])
        if counts[root] != 1 or len(refs) != 1 or refs[0].level:
            return False
        ref = refs[0]
        full = ".".join([ref.module, ref.name, *dotted[1:]] if ref.name else [ref.module, *dotted[1:]])
        return full in _INERT_BASES

    def klass(self, node: ast.ClassDef) -> None:
        qualname = self.qual(node.name)
        parent = self.frame
        decorators = [self.call_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
        for dec in node.decorator_list:
            self.visit(dec)
        bases: list[tuple[Chain, ...]] = []
        base_names: list[str] = []
        # ``cls = mod.Thing``: binding a named value runs no code unless its type has a ``__set_name__``, which
        # ref_graph decides from what the name resolves to; until then the statement is the class's own code.
        bindings = _Acc()
        base_refs = _Acc()  # the bases' readings (Scope.base_only)
        generic_bases: list[tuple[Chain, ...]] = []
        for base in node.bases:
            # A base named (``class D(C)``) runs nothing when the statement runs (what C's metaclass or
            # __init_subclass__ run is Graph.hands_out's): using D uses C, defining D does not.
            generic = (
                isinstance(base, ast.Subscript) and _dotted(base.value) is not None and self.quiet_types(base.slice)
            )
            if generic:
                # ``class M(Serializer[str])``: subscribing runs the base's ``__class_getitem__`` (typing's keeps
                # the names): the base is the class's reference, as a plain one; what the subscription may run
                # is the graph's (Graph._subscribed: a ``__class_getitem__`` of the tree, or the base used).
                assert isinstance(base, ast.Subscript)
                self.visit_reference(base.value, base_refs)
                self.visit(base.slice)
            else:
                self.visit_reference(base, base_refs)
            target = base.value if isinstance(base, ast.Subscript) else base
            dotted = _dotted(target)
            if dotted is not None:
                bases.append(tuple(self.name_chains(dotted[0], tuple(dotted[1:]), record=False)))
                base_names.append(self.call_name(target) or ".".join(dotted))
                if generic:
                    generic_bases.append(bases[-1])
            elif (
                isinstance(target, ast.Call)
                and self.call_name(target.func) in TUPLE_FACTORIES
                and not any(_has_call(a) for a in [*target.args, *(k.value for k in target.keywords)])
            ):
                # ``namedtuple("ExtType", "code data")``: a new tuple subclass, of metaclass ``type`` (quiet)
                bases.append(())
                base_names.append(f"{self.call_name(target.func)}()")
            else:
                bases.append(())
                base_names.append("")
        for keyword in node.keywords:
            self.visit(keyword.value)
        # ``metaclass=abc.ABCMeta`` (or ``type``): its ``__new__`` reads the namespace for abstract methods, keeps
        # nothing and runs no code of the tree (stdlib_bases: a quiet metaclass).
        keeps = bool(node.keywords) and not all(
            k.arg == "metaclass" and self.quiet_metaclass(k.value) for k in node.keywords
        )
        if any(not inert_decorator(d) for d in decorators):
            self.acc.escapes.append(qualname)
        # The class body runs when the class statement runs: it belongs to the enclosing node,
        # but its names resolve in the class scope first.
        frame = _Frame("class", qualname, uses=bindings)
        _bind_block(node.body, frame, qualname)
        self.imported.update(frame.imports)
        frame.constants = _constants(node.body)
        frame.quiet = (
            not node.keywords
            and all(d.startswith("pytest.mark.") for d in decorators)
            and all(self.inert_base(b) for b in node.bases)
        )
        index = len(self.scopes)
        self.frames.append(frame)
        bound_values: list[tuple[Chain, ...]] = []
        read = _read_at_definition(node)
        for stmt in node.body:
            value = self.plain_binding(stmt)
            if value is not None and (read is None or any(t.id in read for t in _names_of(stmt))):
                value = None  # the class body itself uses the value when the class is defined
            if value is None:
                self.walk_stmt(stmt)
                continue
            self.acc_stack.append(bindings)
            self.walk_stmt(stmt)
            self.acc_stack.pop()
            for element in value:
                if isinstance(element, ast.Name) and element is not getattr(stmt, "value", None):
                    # A plain name in a display (``words = ("FROM", join_words)``): reading it runs no code, and
                    # creating the class calls ``__set_name__`` on the display, never on its elements.
                    continue
                dotted = _dotted(element)
                assert dotted is not None
                bound_values.append(tuple(self.name_chains(dotted[0], tuple(dotted[1:]), record=False)))
        self.frames.pop()
        # What runs when the class statement runs, besides nested definitions (and the docstring, which
        # only users of the class can read): a change there reaches the class's definer, not only its users.
        own = [s for s in node.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        unbound = [
            s for s in own if self.plain_binding(s) is None or read is None or any(t.id in read for t in _names_of(s))
        ]
        if own and isinstance(own[0], ast.Expr) and isinstance(own[0].value, ast.Constant) and node.body[0] is own[0]:
            own = own[1:]
        head = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        def_hash = _hash(
            "class",
            node.name,
            *(self.statement_key(s) for s in own),
            *(self.expression_key(e) for e in head),
            *(k.arg or "**" for k in node.keywords),
        )
        # (What the bases run — a metaclass, an ``__init_subclass__`` — is ref_graph's: Graph.def_effects.)
        def_effects = (
            any(not inert_decorator(d) for d in decorators)
            or keeps
            or any(self.runs_calls(s) for s in own)
            or any(_has_call(e) for e in head if not self.inert_decorator_call(e))
            or any(
                _binds_named_value(n) and not self.plain_assignment(n)
                for s in unbound
                for n in ast.walk(s)
                if isinstance(n, ast.stmt)
            )
        )
        # Methods under bare decorators of the tree: what the decorator returns is the graph's to judge.
        judged = [
            s
            for s in node.body
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
            and s.decorator_list
            and all(_dotted(d) is not None for d in s.decorator_list)
        ]
        set_name_calls: list[tuple[Chain, ...]] = []
        hands_out = (
            any(not inert_decorator(d) for d in decorators)
            or keeps
            or self.may_set_name(node, {id(s) for s in judged}, set_name_calls)
        )
        base_only = tuple(c for c in dict.fromkeys(base_refs.chains) if c not in bindings.chains)
        bindings.merge(base_refs)
        self.scopes.insert(
            index,
            Scope(
                qualname=qualname,
                kind="class",
                name=node.name,
                parent=parent.qualname,
                container=self.container(),
                line=node.lineno,
                refs=bindings.freeze(),
                def_hash=def_hash,
                def_effects=def_effects,
                def_raises=bool(node.decorator_list or node.keywords)
                or not all(map(self.cannot_raise, node.bases))
                or not all(map(self.defines_quietly, own)),
                bases=tuple(bases),
                base_names=tuple(base_names),
                generic_bases=tuple(generic_bases),
                members=tuple(sorted(frame.defs.items())),
                class_attrs=frozenset(frame.bound - set(frame.defs)),
                not_a_test=any(_assigns_false(s, "__test__") for s in node.body),
                hands_out=hands_out,
                set_name_members=tuple(
                    f"{qualname}.{s.name}"
                    for s in judged
                    if any(
                        not inert_decorator(self.call_name(d)) and self.call_name(d) not in _PLAIN_DECORATORS
                        for d in s.decorator_list
                    )
                ),
                set_name_calls=tuple(dict.fromkeys(set_name_calls)),
                customised=any(not inert_decorator(d) for d in decorators) or bool(node.keywords),
                bound_values=tuple(bound_values),
                base_only=base_only,
                marks=_fixture_words([*node.decorator_list, *(s for s in node.body if _assigns_name(s, "pytestmark"))]),
            ),
        )

    def may_set_name(
        self, node: ast.ClassDef, judged: Collection[int] = (), calls: list[tuple[Chain, ...]] | None = None
    ) -> bool:
        """Might creating the class hand it to a ``__set_name__``? ``type.__new__`` calls ``value.__set_name__(cls,
        name)`` for each attribute value whose type has one, which may keep the class. A literal, a value made by a
        call of :data:`_PLAIN_VALUE_CALLS` (``hash(...)``, ``classmethod(...)``), an import, a method with inert
        decorators (or a pytest fixture) and a nested class without keywords and with inert bases and decorators
        have no such hook; anything else (a named value, another call's result, a decorated method) may — but a
        name bound to what a call of a dotted name returns goes to ``calls`` (the callee's readings), when given:
        the graph knows whether that is an instance of a class of the tree without the hook."""
        read = _read_at_definition(node)
        stack: list[ast.stmt] = [
            s
            for s in node.body
            if self.plain_binding(s) is None or read is None or any(t.id in read for t in _names_of(s))
        ]
        while stack:
            stmt = stack.pop()
            if id(stmt) in judged:  # Scope.set_name_members: the graph's
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [self.call_name(d.func if isinstance(d, ast.Call) else d) for d in stmt.decorator_list]
                if any(not inert_decorator(d) and d not in _PLAIN_DECORATORS for d in names):
                    return True
                if isinstance(stmt, ast.ClassDef) and (
                    stmt.keywords or not all(self.inert_base(b) or _dotted(b) == ["object"] for b in stmt.bases)
                ):
                    return True
                continue
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                plain = self.plain_assignment(stmt) or self.display_assignment(stmt)
                if _binds_named_value(stmt) and not plain:
                    made = self.made_by_call(stmt)
                    if made is None or calls is None:
                        return True
                    calls.append(made)
                continue
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    stack.append(child)
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    stack.extend(c for c in ast.iter_child_nodes(child) if isinstance(c, ast.stmt))
        return False

    def self_handoffs(self, node: _FunctionNode, name: str) -> tuple[tuple[Chain, ...], ...] | None:
        """:attr:`Scope.self_handoffs` of an ordinary method whose instance parameter ``name`` its code (nested
        functions and lambdas included) reads only to read or store its attributes (``self.x``, ``self.m()``), to
        give it first to a method read from a dotted name (``Base.__init__(self, ...)``: those callees' readings),
        or to ``super(C, self)``; it binds it nowhere else and reads no frame by name. None otherwise: it may hand
        the instance to code that runs its dunder methods (``hash(self)``, ``with self:``)."""
        parents: dict[int, ast.AST] = {}
        handoffs: list[tuple[Chain, ...]] = []
        for parent in ast.walk(node):
            for child in ast.iter_child_nodes(parent):
                parents[id(child)] = parent
        for item in ast.walk(node):
            if isinstance(item, (ast.Global, ast.Nonlocal)) and name in item.names:
                return None
            if isinstance(item, ast.Name) and item.id in ("locals", "vars", "exec", "eval"):
                return None
            if isinstance(item, ast.Attribute) and item.attr == "f_locals":
                return None
            if not (isinstance(item, ast.Name) and item.id == name):
                continue
            if not isinstance(item.ctx, ast.Load):
                return None
            holder = parents.get(id(item))
            if isinstance(holder, ast.Attribute) and holder.value is item:
                continue
            if isinstance(holder, ast.Call) and item in holder.args:
                callee = holder.func
                dotted = _dotted(callee)
                if (
                    isinstance(callee, ast.Name)
                    and callee.id == "super"
                    and len(holder.args) == 2
                    and holder.args[1] is item
                    and self.module_bindings["super"] == 0
                ):
                    continue
                if dotted is not None and len(dotted) >= 2 and holder.args[0] is item:
                    handoffs.append(tuple(self.name_chains(dotted[0], tuple(dotted[1:]), record=False)))
                    continue
            return None
        return tuple(handoffs)

    def bound_call(self, stmt: ast.stmt) -> list[Chain]:
        """The readings of the callee of a module-level ``x = f(...)`` (``x = y = mod.f(...)``): a call of a dotted
        name whose value the statement binds to names alone; [] for any other statement."""
        if not (
            isinstance(stmt, ast.Assign)
            and all(isinstance(t, ast.Name) for t in stmt.targets)
            and isinstance(stmt.value, ast.Call)
        ):
            return []
        dotted = _dotted(stmt.value.func)
        if dotted is None:
            return []
        return self.name_chains(dotted[0], tuple(dotted[1:]), record=False)

    def plain_binding(self, stmt: ast.stmt) -> list[ast.expr] | None:
        """:func:`_plain_binding`, an annotated statement's annotation judged here."""
        quiet = isinstance(stmt, ast.AnnAssign) and self.quiet_annotation(stmt.annotation)
        return _plain_binding(stmt, quiet_annotation=quiet)

    def quiet_metaclass(self, value: ast.expr) -> bool:
        """Is ``value`` (a class statement's ``metaclass=``) ``abc.ABCMeta`` or ``type``, by a name the module does not
        rebind?"""
        dotted = _dotted(value)
        name = self.call_name(value).removeprefix("builtins.")
        if dotted is None or name not in ("abc.ABCMeta", "type"):
            return False
        count = self.module_bindings[dotted[0]]
        return count == 0 or (count == 1 and dotted[0] in self.frames[0].imports)

    def made_by_call(self, stmt: ast.stmt) -> tuple[Chain, ...] | None:
        """The readings of the callee when ``stmt`` binds names, unpacking nothing, to what a call of a dotted name
        returns (``__size = _DefaultSize()``); else None."""
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
            value = stmt.value
        elif (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and self.quiet_annotation(stmt.annotation)
        ):
            value = stmt.value
        if not isinstance(value, ast.Call):
            return None
        dotted = _dotted(value.func)
        if dotted is None:
            return None
        return tuple(self.name_chains(dotted[0], tuple(dotted[1:]), record=False)) or None

    def plain_assignment(self, stmt: ast.stmt) -> bool:
        """An assignment of a :meth:`plain_value` (``x = staticmethod(f)``), or an annotated one whose annotation runs
        nothing (``x: t.Any = staticmethod(f)``, :meth:`quiet_annotation`)."""
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            return self.quiet_annotation(stmt.annotation) and self.plain_value(stmt.value)
        return isinstance(stmt, ast.Assign) and self.plain_value(stmt.value)

    def display_assignment(self, stmt: ast.stmt) -> bool:
        """A display or comprehension bound to names (``algorithms = {"HS256": HMACAlgorithm(sha256)}``): its calls
        run with the class statement (the statement's own code), but the value bound is a dict, list, set or tuple,
        whose type has no ``__set_name__``: creating the class hands it to nothing."""
        if isinstance(stmt, ast.Assign):
            named = all(isinstance(t, ast.Name) for t in stmt.targets)
        elif isinstance(stmt, ast.AnnAssign):
            named = isinstance(stmt.target, ast.Name) and self.quiet_annotation(stmt.annotation)
        else:
            return False
        return named and isinstance(stmt.value, _DISPLAYS)

    def quiet_annotation(self, annotation: ast.expr) -> bool:
        """Does an annotation run no code of the tree when its statement runs? Not evaluated (``from __future__
        import annotations``), or made of constants, dotted names, and the standard generics subscripted with
        such (``_t.Type[TimestampSigner]``, ``list[str]``, ``t.Optional[t.Dict[str, t.Any]]``): typing's or a
        builtin's ``__getitem__`` only keeps the names it reads."""
        return self.future_annotations or self.quiet_types(annotation)

    def quiet_types(self, expr: ast.expr) -> bool:
        """Is ``expr`` made of constants, dotted names, and the standard generics subscripted with such (what
        :meth:`quiet_annotation` accepts of an evaluated annotation)?"""
        stack: list[ast.expr] = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Constant) or _dotted(node) is not None:
                continue
            if isinstance(node, (ast.Tuple, ast.List)):
                stack.extend(node.elts)
                continue
            if not isinstance(node, ast.Subscript):
                return False
            dotted = _dotted(node.value)
            if dotted is None:
                return False
            name = self.call_name(node.value)
            count = self.module_bindings[dotted[0]]
            if name in _BUILTIN_GENERICS and count == 0:
                pass
            elif not (name.startswith(_GENERIC_MODULES) and count == 1 and dotted[0] in self.frames[0].imports):
                return False
            stack.append(node.slice)
        return True

    def attribute_reads(self, annotation: ast.expr) -> list[ast.expr]:
        """The attributes an evaluated annotation reads off names other than the standard generic modules'
        (``events.Request`` in ``Optional[events.Request]``, not ``t.Optional``): reading one when the statement
        runs raises when the module of the tree no longer binds it, for every importer of the annotating module."""
        out: list[ast.expr] = []
        stack: list[ast.expr] = [annotation]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Attribute) and _dotted(node) is not None:
                name = self.call_name(node)
                if not name.startswith(_GENERIC_MODULES):
                    out.append(node)
                continue
            stack.extend(n for n in ast.iter_child_nodes(node) if isinstance(n, ast.expr))
        return out

    def inert_decorator_call(self, expr: ast.expr) -> bool:
        """Is ``expr`` a call of a decorator known to be inert whose arguments call nothing
        (``@dataclass(init=False, frozen=True)``)? It runs no code of the tree, as the bare decorator does."""
        return (
            isinstance(expr, ast.Call)
            and inert_decorator(self.call_name(expr.func))
            and not any(_has_call(a) for a in [*expr.args, *(k.value for k in expr.keywords)])
        )

    def runs_calls(self, stmt: ast.stmt) -> bool:
        """Does a class-body statement call anything but a builtin that only wraps its arguments
        (``__class_getitem__ = classmethod(types.GenericAlias)``, :data:`_WRAPPING_CALLS`)?"""
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call):
                continue
            dotted = _dotted(node.func)
            name = self.call_name(node.func).removeprefix("builtins.")
            count = self.module_bindings[dotted[0]] if dotted else 0
            known = dotted is not None and (count == 0 or (count == 1 and dotted[0] in self.frames[0].imports))
            if not known or name not in _WRAPPING_CALLS or node.keywords:
                return True
        return False

    def plain_value(self, value: ast.expr) -> bool:
        """A value whose type is a builtin one without a ``__set_name__`` that could keep the class: a call of
        :data:`_PLAIN_VALUE_CALLS` by a name no module-level statement rebinds."""
        if not isinstance(value, ast.Call):
            return False
        dotted = _dotted(value.func)
        name = self.call_name(value.func).removeprefix("builtins.")
        if dotted is None or not (name in _PLAIN_VALUE_CALLS or name in _PURE_CALLS):
            return False
        count = self.module_bindings[dotted[0]]
        return count == 0 or (count == 1 and dotted[0] in self.frames[0].imports)

    # -- expressions --------------------------------------------------------------------------

    def visit(self, root: ast.AST) -> None:
        """Record the references of an expression (iteratively: expressions can nest deeply)."""
        stack: list[ast.AST] = [root]
        while stack:
            node = stack.pop()
            keyed = _namespace_key_read(node)
            if keyed is not None:
                # ns["name"] / ns.get("name", default) of a module's, a class's or a function's globals' namespace
                # reads that one name, as ``owner.name`` does (a computed key reads any: the attribute below).
                space, key, rest = keyed
                stack.append(ast.copy_location(ast.Attribute(value=space, attr=key, ctx=ast.Load()), node))
                stack.extend(rest)
                continue
            if id(node) in self.doc_copies:
                # wrapper.__doc__ = f.__doc__: the docstring moves to another object, read by nothing here
                assert isinstance(node, (ast.Attribute, ast.Call))
                self.acc.doc_copies = True
                stack.extend([node.value] if isinstance(node, ast.Attribute) else [node.args[0], *node.args[2:]])
                continue
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    start = len(self.acc.chains)
                    self.name_chains(node.id, ())
                    self.mark_looked(node, start)
                    if id(node) not in self.callees:
                        self.referenced(node)
                continue
            if isinstance(node, ast.Attribute) and node.attr == "__code__" and not isinstance(node.ctx, ast.Load):
                self.set_dynamic("a store into __code__ (the function then runs that code object)")
            if isinstance(node, ast.Attribute) and node.attr in _KEYED_NAMESPACES and id(node) in self.writes:
                stack.append(node.value)  # obj.__dict__[name] = value: a write, nothing of the namespace read
                continue
            if isinstance(node, ast.Attribute) and self.quiet_namespace(node, stack):
                continue
            if isinstance(node, ast.Attribute):
                attrs: list[str] = []
                base: ast.AST = node
                while isinstance(base, ast.Attribute):
                    attrs.append(base.attr)
                    base = base.value
                attrs.reverse()
                chain = tuple(attrs)
                if isinstance(node.ctx, ast.Load):
                    self.acc.loads.update(chain)
                else:  # x.a.b = v / del x.a.b: a and what leads to it read, b only stored into
                    self.acc.loads.update(chain[:-1])
                    self.acc.stores.add(chain[-1])
                leftover = self.builtin_rest(base, chain)
                if leftover is not None:  # "a/b".split: an attribute of an exact builtin runs no code of the tree
                    self.unknown_attrs(leftover, named=id(node) in self.named_reads)
                    if not isinstance(base, ast.Name):
                        stack.append(base)
                    continue
                if isinstance(base, ast.Name) and len(chain) == 1 and not isinstance(node.ctx, ast.Load):
                    # f.attr = v: the function f is (or whatever else the name is) gets an attribute
                    named = id(node) in self.named_reads
                    found = self.name_chains(base.id, chain, named=named, record=False, unknown=True)
                    self.acc.chains.extend(dataclasses.replace(c, store=True) for c in found)
                    self.referenced(node)
                    continue
                if isinstance(base, ast.Name):
                    start = len(self.acc.chains)
                    self.name_chains(base.id, chain, named=id(node) in self.named_reads)
                    self.mark_looked(node, start)
                    if id(node) not in self.callees:
                        self.referenced(node)
                    continue
                # ns.get("name").attr: an attribute of the name's value (the read itself: _namespace_key_read)
                if isinstance(base, ast.Call) and not _is_super_call(base) and _namespace_key_read(base) is None:
                    callee = _dotted(base.func)
                    receiver: ast.expr = base.func
                    while isinstance(receiver, ast.Attribute):
                        receiver = receiver.value
                    leftover = self.builtin_rest(receiver, (*callee[1:], "()", *chain)) if callee else None
                    if leftover is not None:  # d.get(k).save: save of an unknown object, d.get none of the tree
                        self.unknown_attrs(leftover, named=id(node) in self.named_reads)
                        self.call(base)
                        stack.extend(base.args)
                        stack.extend(k.value for k in base.keywords)
                        continue
                    if callee is not None:  # Thing(...).attr: an attribute of what Thing returns
                        chains = self.name_chains(callee[0], (*callee[1:], "()", *chain), record=False, unknown=True)
                        self.acc.chains.extend(chains)
                        if not chains:
                            self.unknown_attrs(chain, named=id(node) in self.named_reads)
                        self.type_arguments(base)
                        self.call(base)
                        stack.extend(base.args)
                        stack.extend(k.value for k in base.keywords)
                        continue
                if _is_super_call(base):
                    owner = self.self_class()
                    assert isinstance(base, ast.Call)
                    if owner:
                        # super().x: after the class in the MRO; super(Other, obj).x: anywhere in its family
                        self.acc.chains.append(Chain("self" if base.args else "super", owner, chain))
                    else:
                        self.acc.attrs.update(chain)
                    stack.extend(base.args)
                    stack.extend(k.value for k in base.keywords)
                    continue
                self.unknown_attrs(chain, named=id(node) in self.named_reads)
                stack.append(base)
                continue
            if (
                isinstance(node, ast.Subscript)
                and not isinstance(node.ctx, ast.Load)
                and id(node) not in self.augmented
            ):
                self.writes.add(id(node.value))  # globals()[name] = value: a write, nothing read
            elif isinstance(node, ast.Subscript):
                self.named_read(node.value, node.slice)
            if isinstance(node, ast.Call):
                self.callees.add(id(node.func))
                self.type_arguments(node)
                self.identifier_strings(node)
                listed = self.listed_names(node)
                if listed is not None:
                    self.writes.add(id(listed))  # the names alone, handed to dir()'s callers
                if isinstance(node.func, ast.Attribute) and node.func.attr == "update":
                    self.writes.add(id(node.func.value))  # globals().update(...)
                if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
                    self.named_read(node.func.value, node.args[0], node.func)
                if len(node.args) == 2 and self.call_name(node.func) == "hasattr":
                    self.named_read(node.args[0], node.args[1])  # hasattr(C.__dict__, "keys"): a bool, no value
                self.call(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if len(node.value) <= 200 and _DOTTED.fullmatch(node.value):
                    self.acc.strings.append(node.value)
                    self.file_strings.append(node.value)
                if (
                    0 < len(node.value) <= 200
                    and not any(c.isspace() for c in node.value)
                    and id(node) not in self.identifiers
                ):
                    parts = node.value.replace("\\", "/").split("/")
                    pattern = _REGEX.search(node.value) is not None  # its * and ? are a regex's, not a glob's
                    self.acc.words.update(
                        w for w in parts if w not in ("", ".", "..") and not (pattern and ("*" in w or "?" in w))
                    )
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # not reachable from an expression
            stack.extend(ast.iter_child_nodes(node))

    def mark_looked(self, node: ast.expr, start: int) -> None:
        """The chains recorded from ``start`` on read ``node``: marked ``looked`` when it is only tested against."""
        if id(node) in self.looked:
            chains = self.acc.chains
            chains[start:] = [dataclasses.replace(c, looked=True) for c in chains[start:]]

    def identifier_strings(self, call: ast.Call) -> None:
        """Record the string constants of ``call`` that can only be identifiers: the attribute name handed to
        ``setattr``/``getattr``/``hasattr``/``delattr`` (``object.__setattr__(self, "data", v)``), the argument names
        of ``pytest.mark.parametrize``. A file they seem to name is not read through them."""
        name = self.call_name(call.func).removeprefix("builtins.")
        if name in _ATTRIBUTE_CALLS and len(call.args) >= 2:
            self.identifiers.update(id(n) for n in _string_items(call.args[1]))
        elif name in _ATTRIBUTE_METHODS and len(call.args) >= 2:
            self.identifiers.update(id(n) for n in _string_items(call.args[1]))
        elif name.endswith("pytest.mark.parametrize"):
            argnames = [k.value for k in call.keywords if k.arg == "argnames"] or call.args[:1]
            for value in argnames:
                self.identifiers.update(id(n) for n in _string_items(value))

    def holds_definition(self, target: ast.expr) -> bool:
        """Is ``target`` (a ``__doc__`` stored into) a function's or a class's: ``__doc__`` in a class body or at
        module level, or ``f.__doc__`` with ``f`` bound only by undecorated ``def``/``class`` statements of the
        scope it resolves in? A function keeps its docstring out of its ``__dict__``; an instance would hold the
        copy in its own, where ``vars(a) == vars(b)`` compares it without counting as a read."""
        if isinstance(target, ast.Name):
            return self.frame.kind in ("module", "class")
        if not isinstance(target, ast.Attribute) or not isinstance(target.value, ast.Name):
            return False
        name = target.value.id
        frame = next((f for f in self.visible_frames() if name in f.bound), None)
        return frame is not None and name in frame.def_only

    def listed_names(self, call: ast.Call) -> ast.Call | None:
        """In a ``__dir__`` (a module's, PEP 562, or a class's), the own namespace's names listed
        (``set(globals())``, ``sorted(globals().keys())``): the ``globals()`` call. Only keys, strings, are read,
        and they go where ``__dir__``'s result goes: to ``dir()`` and its like, which count as reading by
        themselves (:mod:`trellis.ci.selection.source_readers`)."""
        if self.frame.kind != "function" or self.frame.qualname.rpartition(".")[2] != "__dir__":
            return None
        if len(call.args) != 1 or call.keywords or not isinstance(call.func, ast.Name):
            return None
        if call.func.id not in _KEY_LISTINGS or any(call.func.id in f.bound for f in self.frames):
            return None
        space = call.args[0]
        if (  # globals().keys()
            isinstance(space, ast.Call)
            and isinstance(space.func, ast.Attribute)
            and space.func.attr == "keys"
            and not space.args
            and not space.keywords
        ):
            space = space.func.value
        if (
            isinstance(space, ast.Call)
            and isinstance(space.func, ast.Name)
            and space.func.id == "globals"
            and not space.args
            and not space.keywords
            and not any("globals" in f.bound for f in self.frames)
        ):
            return space
        return None

    def quiet_namespace(self, node: ast.Attribute, stack: list[ast.AST]) -> bool:
        """``x.__dict__`` (or ``x.__dict__.get``) read in a way that runs nothing (:attr:`quiet_namespaces`): record
        only ``x`` itself, and the namespace's name where values are read (a class's namespace hands out the classes
        defined in its body, which no reference names); no attribute of ``x`` under a computed name."""
        space: ast.expr = node
        while isinstance(space, ast.Attribute) and id(space) not in self.quiet_namespaces:
            space = space.value
        if not isinstance(space, ast.Attribute):
            return False
        holder = space.value
        frame = next(
            (f for f in self.visible_frames() if isinstance(holder, ast.Name) and f.self_name == holder.id), None
        )
        if id(space) in self.looked_spaces and not (frame is not None and frame.self_instance):
            # its values looked into (an ordinary method's self.__dict__ holds what the instance stored: no docstring)
            self.acc.namespace_looked = True
        if self.quiet_namespaces[id(space)] and frame is not None and frame.self_class and not frame.self_instance:
            # cls.__dict__[name] in a classmethod: the values one class of the family binds in its body (its
            # members, the classes it defines), not those of any class (a metaclass's self may be any class)
            self.acc.chains.append(Chain("self", frame.self_class, (space.attr,)))
        elif self.quiet_namespaces[id(space)]:
            self.acc.attrs.add(space.attr)
        stack.append(space.value)
        return True

    def builtin_rest(self, receiver: ast.AST, chain: tuple[str, ...]) -> tuple[str, ...] | None:
        """The attributes of ``chain`` (``"()"``: a call) still read from unknown objects when ``receiver`` is
        certainly of an exact builtin type (:mod:`trellis.ci.selection.builtin_values`); None if it is not."""
        kind = self.builtin_values.type_of(receiver)
        return after_builtin(kind, chain) if kind is not None else None

    def computed_read(self, call: str) -> None:
        """A call of ``call`` read an attribute under a computed name (``"*"``): by the builtin ``getattr`` or
        ``vars``, which the job hears unless the file binds the name to something else, or otherwise
        (``NodeRefs.fetches``)."""
        if call in ("getattr", "vars") and not any(call in frame.bound for frame in self.frames):
            self.acc.fetches = True
        else:
            self.acc.other_computed = True

    def unknown_attrs(self, chain: tuple[str, ...], *, named: bool = False) -> None:
        """Attributes read from an object the analysis cannot name (a parameter, an item, a call's result): by
        name, and a namespace among them (``x.__dict__``, which may be a module's or a class's) reads any
        attribute, unless ``named``: read under a constant key (:meth:`named_read`)."""
        if named:  # one name read from the namespace (named_read recorded it): the namespace hands out nothing
            self.acc.attrs.update(a for a in chain if a not in NAMESPACE_ATTRS)
            return
        self.acc.attrs.update(a for i, a in enumerate(chain) if not writes_namespace(chain, i))
        if reads_namespace(chain):
            self.acc.any_attr = True
            self.acc.namespace_looked = True  # a class's or a module's holds its docstring, under its own key

    def named_read(self, namespace: ast.expr, key: ast.expr, node: ast.expr | None = None) -> None:
        """``ns[key]`` / ``ns.get(key)`` (``node``: the ``ns.get`` attribute) of a namespace attribute
        (``x.f_globals``, ``x.__dict__``) with a constant key: a read of the attribute of that name."""
        name = _constant_str(key)
        if name is None or not isinstance(namespace, ast.Attribute) or namespace.attr not in NAMESPACE_ATTRS:
            return
        self.named_reads.add(id(node if node is not None else namespace))
        if _IDENTIFIER.fullmatch(name):
            self.acc.attrs.add(name)

    def type_arguments(self, node: ast.Call) -> None:
        """Record the arguments of ``node`` that are types only compared or read by the type checker."""
        called = self.call_name(node.func)
        if len(node.args) == 2 and called in ("isinstance", "issubclass"):
            tested = node.args[1]
            self.type_tests.update(map(id, tested.elts if isinstance(tested, ast.Tuple) else [tested]))
            if not node.keywords and self.module_bindings[called] == 0:
                self.look(tested)
        elif len(node.args) == 2 and called in _TYPE_ONLY:
            # cast(T, x) returns x, assert_type(x, T) returns x: T only tells the type checker.
            self.type_tests.update(map(id, ast.walk(node.args[_TYPE_ONLY[called]])))

    def look(self, tested: ast.expr) -> None:
        """Mark the dotted names of ``tested`` (one, or a tuple's items) as classes only tested against."""
        for item in tested.elts if isinstance(tested, ast.Tuple) else [tested]:
            if _dotted(item) is not None:
                self.looked.add(id(item))

    def referenced(self, node: ast.expr) -> None:
        """A callable named without being called: whoever calls it later (``copy`` calling what a
        ``__reduce__`` returned, say) calls it with arguments the analysis cannot read."""
        if id(node) in self.type_tests:  # isinstance(loader, zipimport.zipimporter): compared, never called
            return
        root = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return
        if root.id not in _DANGEROUS_BUILTINS and root.id not in self.imported:
            return  # neither a builtin of those nor a name an import binds: a value of the program
        name = self.call_name(node).removeprefix("builtins.")
        if not name:
            return
        if name.startswith(METADATA_READERS):
            self.acc.reads_metadata = True
        name = _UNBOUND_ATTR_CALLS.get(name, name)
        if name in IMPORT_CALLS or name in RESOURCE_CALLS:
            self.executes(ImportRef(0, "*"))
            self.acc.computed.append(f"a reference to {name}")  # called elsewhere: no run observes it here
        elif name in ENTRY_POINT_CALLS:
            self.acc.entry_points.append("*")
        elif name in DOCTEST_RUNS:
            self.acc.doctests = True
        elif name in PROCESS_CALLS or is_dynamic(name):
            self.set_dynamic(f"a reference to {name}, which other code may call")
        elif name in ("setattr", "delattr", "hasattr"):
            # Handed on (glom's ``register_op('assign', ...)`` returning ``setattr``): whoever calls it writes,
            # deletes or looks up an attribute under a name it is given, which runs what that runs (a property's
            # setter, ``__set__``, ``__setattr__``, a getter), as a call of it with a computed name here does.
            self.acc.attrs.add(GETTERS)
        elif name in REFLECTIVE_CALLS or name in ANY_ATTR_CALLS or name in NAMESPACE_CALLS:
            self.acc.any_attr = True

    def call(self, node: ast.Call) -> None:
        name = self.call_name(node.func).removeprefix("builtins.")
        if name.startswith(METADATA_READERS):
            self.acc.reads_metadata = True
        name = _UNBOUND_ATTR_CALLS.get(name, name)
        args = node.args
        first = _constant_str(args[0]) if args else None
        if name in IMPORT_CALLS and args and self.object_module(args[0]):
            pass  # the module an object of the running code was defined in: imported already, as pickle finds it
        elif name in IMPORT_CALLS:
            prefix = _leading_constant(args[0]) if args else ""
            if first is not None and not first.startswith("."):
                self.executes(ImportRef(0, first))
            elif name == "importlib.import_module" and prefix.startswith(".") and prefix.strip(".") == "":
                # import_module(f".{name}", __name__): some module of this package (or one above).
                self.executes(ImportRef(len(prefix), "*"))
            else:
                # A computed name: any module of the tree. Importing runs a module's top-level code and
                # nothing else; what is then read from the module object is read by name (an attribute
                # of an unknown object, resolved in an import closure that now holds every file).
                self.executes(ImportRef(0, "*"))
            if first is None or first.startswith("."):
                self.acc.computed.append(name)
        elif name in RESOURCE_CALLS:
            # files("pkg"), pkgutil.get_data("pkg", "x.json"): imports the package (its __init__ runs) unless it
            # is this module's own (__name__, __package__) or a module object; a computed name any module.
            anchor = next((k.value for k in node.keywords if k.arg in ("anchor", "package")), args[0] if args else None)
            if anchor is not None and not (isinstance(anchor, ast.Name) and anchor.id in ("__name__", "__package__")):
                text = _constant_str(anchor)
                self.executes(ImportRef(0, text if text and not text.startswith(".") else "*"))
                if not text or text.startswith("."):
                    self.acc.computed.append(name)
        elif name in PROCESS_CALLS:
            self.process(name, node)
        elif name == "importlib.reload" and args and (reloaded := self.imported_module(args[0])):
            # reload(pkg.mod) of a module an import binds: that module's code runs again, as importing it runs it.
            self.executes(ImportRef(0, reloaded))
        elif name in DOCTEST_RUNS:
            self.acc.doctests = True
        elif name in ("eval", "exec"):
            self.acc.evals = True  # may run any code: the graph decides, with what was observed (observed.py)
            self.dynamic = self.dynamic or name
        elif (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in ("exec_module", "load_module")
            and not self.own_method(node.func)
        ):
            of = node.func.value
            module = (
                self.spec_of(of.value)
                if node.func.attr == "exec_module" and isinstance(of, ast.Attribute) and of.attr == "loader"
                else None
            )
            if module is not None:
                # spec.loader.exec_module(m) of the spec find_spec found for a constant name: that module's code.
                self.executes(ImportRef(0, module))
            else:
                self.set_dynamic(f"{node.func.attr} of a loader (a module's code)")
        elif name in ENTRY_POINT_CALLS:
            # What their load() may import and return: the graph decides (ref_graph), by the group listed.
            group = next((k.value for k in node.keywords if k.arg == "group"), None)
            if group is None and name == "pkg_resources.iter_entry_points" and args:
                group = args[0]
            text = _constant_str(group) if group is not None else None
            self.acc.entry_points.append(text if text else "*")
        elif name == _MODULE_FROM_SPEC and (module := self.spec_module(node)) is not None:
            # A fresh copy of a module named by a constant (``spec.loader.exec_module(module)`` then runs its code,
            # and the imports of its parent packages): what importing it runs.
            self.executes(ImportRef(0, module))
        elif name in FUNCTION_MAKERS and _copies_function(node):
            pass  # a copy of a function the program holds: calling it runs that function's code, as calling it does
        elif is_dynamic(name):
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), args[1] if len(args) > 1 else None)
            if self.bounded_load(name, node) or (
                name in ("yaml.load", "yaml.load_all")
                and loader is not None
                and self.call_name(loader) in SAFE_YAML_LOADERS
            ):
                pass
            elif name in OBSERVED_LOADS:
                self.acc.unpickles.append(name)  # may run any code: the graph decides, with what was observed
                self.dynamic = self.dynamic or name
            elif name in OBSERVED_STARTS:
                self.acc.processes.append(name)  # starts a program: the graph decides, with what was observed
                self.dynamic = self.dynamic or name
            else:
                self.set_dynamic(name)
        elif name in REFLECTIVE_CALLS:
            if name in ("operator.attrgetter", "operator.methodcaller"):
                named = [first] if name.endswith("methodcaller") else [_constant_str(a) for a in args]
            else:
                named = [_constant_str(args[1]) if len(args) > 1 else None]
                owner = self.self_class()
                if (
                    named == [None]
                    and args
                    and isinstance(args[0], ast.Name)
                    and owner
                    and any(f.self_name == args[0].id for f in self.frames)
                ):
                    # getattr(self, name): any member of the class's family, not any attribute at all.
                    self.acc.chains.append(Chain("self", owner, ("*",)))
                    self.computed_read(name)
                    named = []
            if (
                named == [None]
                and len(args) > 1
                and isinstance(args[1], ast.Name)
                and self.frame.kind == "function"
                and self.frame.attr_param == args[1].id
            ):
                # __getattr__(self, name) forwarding getattr(self._inner, name): the name is one its callers
                # read from this object, and they record it as an attribute of an unknown object.
                named = []
            if (
                named == [None]
                and len(args) > 1
                and isinstance(args[1], ast.Name)
                and args[1].id in self.frame.loop_strings
            ):
                # for attr in ("year", "month"): getattr(x, attr) — the names it takes, one by one.
                named = list(self.frame.loop_strings[args[1].id])
            if named == [None] and len(args) > 1 and (choices := _string_choices(args[1])) is not None:
                named = list(dict.fromkeys(choices))  # getattr(node, 'prv' if reverse else 'nxt')
            if (
                named == [None]
                and name == "getattr"
                and args
                and isinstance(args[0], ast.Name)
                and self.frame.kind == "function"
                and args[0].id in self.frame.modules
            ):
                # getattr(module, name) of the module import_module returned here: a top-level name of a module
                # its computed import gives (the graph bounds them by the modules it was observed to import).
                self.acc.module_attrs = True
                named = []
            if named == [None] and (name == "hasattr" or id(node) in self.contained):
                self.acc.attrs.add(GETTERS)  # only what reading an attribute runs; the value stays here
                named = []
            if (
                named == [None]
                and name in ("getattr", "inspect.getattr_static")
                and args
                and isinstance(args[0], ast.Name)
            ):
                # getattr(str, name): an attribute of what the name holds, as str.upper is — resolved by the
                # graph (nothing of the tree for a builtin; any attribute of a value it cannot name).
                self.name_chains(args[0].id, ("*",))
                self.computed_read(name)
                named = []
            if named == [None] and name == "getattr" and args:
                # getattr(self.fields[key], name): any attribute of a value of unknown type — by the builtin,
                # which the job hears (marshmallow's Schema.__apply_nested_option)
                self.acc.attrs.add("*")
                self.computed_read(name)
                named = []
            if (
                name == "getattr"
                and len(named) == 1
                and named[0] is not None
                and _IDENTIFIER.fullmatch(named[0])
                and isinstance(args[0], ast.Name)
            ):
                # getattr(x, "name", default): what ``x.name`` reads, resolved by the graph as that reference is
                # (``getattr(__builtins__, "__dict__", None)``: the builtins' namespace, not any object's).
                self.name_chains(args[0].id, (named[0],))
                named = []
            if named == [None] and name in ("setattr", "delattr"):
                # Writing an attribute under a computed name reads none: it runs what a write runs (a property's
                # setter, __set__, __setattr__: GETTERS); the value written is this node's own reference.
                self.acc.attrs.add(GETTERS)
                named = []
            for value in named:
                if value is None:
                    self.acc.any_attr = True
                else:
                    self.acc.attrs.update(p for p in value.split(".") if _IDENTIFIER.fullmatch(p))
        elif id(node) in self.filtered and self.filtered[id(node)] is None and self.frame.kind == "class":
            # A class body's own names (``[k for k in locals() if ...]``), keys alone: strings. Which names there
            # are is the class's body, whose change is the class's (the values made reach its users through it).
            pass
        elif (
            self.filtered.get(id(node)) is not None
            and not node.keywords
            and (name == "globals" or name == "vars" and (args or self.frame.kind == "module"))
        ):
            # [v for v in vars().values() if isinstance(v, C)]: the namespace's instances of C
            kind = self.filtered[id(node)]
            classes = _dotted(kind) if kind is not None else None
            assert classes is not None
            holder: tuple[Chain, ...] = ()  # the module's own namespace
            if args:  # vars(x): x's
                assert isinstance(args[0], ast.Name)
                holder = tuple(self.name_chains(args[0].id, (), record=False))
            self.acc.chains.extend(holder)
            self.acc.instances.append((holder, tuple(self.name_chains(classes[0], tuple(classes[1:])))))
        elif name == "dir" and not args and not node.keywords and self.frame.kind != "module":
            # dir() in a class body or a function: the names (strings) its own scope bound so far (pyflakes'
            # ``class DetectClassScopedMagic: names = dir()``, which every added function of the module reached).
            pass
        elif name in NAMESPACE_CALLS and not args:
            if id(node) not in self.writes:
                self.acc.namespace = True
        elif name == "vars" and len(args) == 1 and isinstance(args[0], ast.Name) and not node.keywords:
            if id(node) in self.quiet_namespaces:  # read in a way that runs nothing (quiet_namespace)
                if id(node) in self.looked_spaces and not any(
                    f.self_instance and f.self_name == args[0].id for f in self.visible_frames()
                ):
                    self.acc.namespace_looked = True
                self.name_chains(args[0].id, ())
                if self.quiet_namespaces[id(node)]:
                    self.acc.attrs.add("__dict__")
            elif _HEARS_VARS and not self.name_chains(args[0].id, (), record=False, known_only=True):
                # vars(x) of a value of unknown type (a module's or a class's namespace, maybe): any attribute, as
                # getattr(x, computed) — the names of what it handed out, once the job heard it (NodeRefs.fetches)
                self.acc.chains.extend(self.name_chains(args[0].id, ("__dict__",), record=False))
                self.acc.attrs.add("*")
                self.computed_read("vars")
            else:
                self.name_chains(args[0].id, ("__dict__",))  # vars(x) is x.__dict__ (an instance's: what it stored)
        elif name == "dir" and len(args) == 1 and not node.keywords:
            self.acc.attrs.add("__dir__")  # dir(x): type(x).__dir__ runs; the names it gives are strings
        elif name in _GETMEMBERS and len(args) == 1 and not node.keywords and id(node) in self.names_only:
            # for name, _ in getmembers(x): the names alone; reading each runs its getter, and no value escapes
            self.acc.attrs.add(GETTERS)
        elif (
            name in _GETMEMBERS
            and len(args) == 1
            and not node.keywords
            and isinstance(args[0], ast.Name)
            and (owner := self.self_class())
            and any(f.self_name == args[0].id for f in self.frames)
        ):
            # getmembers(cls) in a method: any member of the class's family, as getattr(self, name)
            self.acc.chains.append(Chain("self", owner, ("*",)))
            self.acc.other_computed = True
        elif name in ANY_ATTR_CALLS:
            self.acc.any_attr = True
        if isinstance(node.func, ast.Attribute) and (
            node.func.attr in _FIXTURE_LOOKUPS
            or node.func.attr in _FIXTURE_MACHINERY
            or (isinstance(node.func.value, ast.Attribute) and node.func.value.attr in _FIXTURE_MACHINERY)
        ):
            # request.getfixturevalue("db") runs that fixture (resolved where the test runs); a computed name,
            # or code editing pytest's fixture machinery (item.fixturenames.append(x)), any fixture visible there.
            if node.func.attr in _FIXTURE_LOOKUPS and first is not None:
                self.acc.fixtures.append(first)
            else:
                self.acc.any_fixture = True
        if isinstance(node.func, ast.Attribute) and node.func.attr in STRING_ATTR_METHODS:
            for arg in args:
                value = _constant_str(arg)
                if value is not None and _IDENTIFIER.fullmatch(value):
                    self.acc.attrs.add(value)

    def bounded_load(self, name: str, node: ast.Call) -> bool:
        """Does an unpickling call load bytes whose effects the analysis knows? What a pickling call of this
        function made (:meth:`pickled_here`: it runs what copying runs), or constant pickles, which run the globals
        they name (recorded here: their modules' top-level code, dynamic where a module is not in the tree, and
        the globals themselves) and what unpickling calls on them (:func:`pickle_reads`)."""
        args = node.args
        if not args:
            return False
        if name in ROUND_TRIP_LOADS and self.pickled_here(args[0]):
            return True
        if name not in CONSTANT_LOADS or node.keywords or len(args) != 1:
            return False
        data = args[0]
        pickles: tuple[bytes, ...] | None = None
        if isinstance(data, ast.Constant) and isinstance(data.value, bytes):
            pickles = (data.value,)
        elif isinstance(data, ast.Name):
            pickles = self.frame.held.get(data.id)
        reads = [pickle_reads(p) for p in pickles or ()]
        if not pickles or any(r is None for r in reads):
            return False
        for read in reads:
            assert read is not None
            self.acc.unpickled.extend(read.modules)  # not a module of the tree: dynamic (ref_graph)
            self.file_runs.extend(read.modules)
            self.acc.strings.extend(read.globals)
            self.file_strings.extend(read.globals)
            self.acc.attrs.update(read.methods)
        return True

    def own_method(self, func: ast.Attribute) -> bool:
        """Is ``x.name`` a method a class of this file defines in its body: ``x`` the instance parameter of a method
        of that class (``self.exec_module(m)``; a subclass's override is the tree's code too, found by name), or a
        module global bound only to an instance of it (``loader = Loader()`` then ``loader.exec_module(m)``)?"""
        if not isinstance(func.value, ast.Name):
            return False
        name = func.value.id
        for frame in self.visible_frames():
            if frame.self_name == name:
                return frame.self_instance and any(
                    f.kind == "class" and f.qualname == frame.self_class and func.attr in f.defs for f in self.frames
                )
            if frame.kind == "module":
                calls = frame.typed.get(name, [])
                return (
                    len(calls) == 1
                    and len(calls[0]) == 1
                    and self.module_bindings[calls[0][0]] == 1
                    and any(
                        isinstance(stmt, ast.ClassDef)
                        and stmt.name == calls[0][0]
                        and any(isinstance(d, _FunctionNode) and d.name == func.attr for d in stmt.body)
                        for stmt in self.tree.body
                    )
                )
            if name in frame.bound:
                return False
        return False

    def found_spec(self, node: ast.AST | None) -> str | None:
        """``importlib.util.find_spec("pkg.mod")``, an absolute constant name and nothing else: that name."""
        if not isinstance(node, ast.Call) or node.keywords or len(node.args) != 1:
            return None
        if self.call_name(node.func) != _FIND_SPEC:
            return None
        name = _constant_str(node.args[0])
        return name if name and not name.startswith(".") else None

    def found_specs(self, body: list[ast.stmt], params: list[ast.arg]) -> dict[str, str]:
        """The scope's names bound once, by a plain assignment, to :meth:`found_spec` and in no other way (no other
        binding, no ``global``/``nonlocal``, no nested scope naming them, no reading of the frame by name)."""
        if not any(isinstance(n, ast.Call) and self.found_spec(n) for s in body for n in ast.walk(s)):
            return {}  # no such call (spares walking the bindings)
        found = _scope_bindings(body, params)
        if found.reads_frame:
            return {}
        # spec.loader = custom: its exec_module is another loader's.
        edited = {
            n.value.id
            for s in body
            for n in ast.walk(s)
            if isinstance(n, ast.Attribute) and not isinstance(n.ctx, ast.Load) and isinstance(n.value, ast.Name)
        }
        out: dict[str, str] = {}
        for name, values in found.sites.items():
            if len(values) != 1 or name in found.nested or name in found.declared or name in edited:
                continue
            module = self.found_spec(values[0])
            if module is not None:
                out[name] = module
        return out

    def module_variables(self, body: list[ast.stmt], params: list[ast.arg]) -> tuple[set[str], set[str]]:
        """The function's variables bound once, by a plain assignment of an ``importlib.import_module`` call, and
        in no other way (as :meth:`found_specs`); and those bound only to an object's ``__module__``."""
        found = _scope_bindings(body, params)
        if found.reads_frame:
            return set(), set()
        once = {
            name: values[0]
            for name, values in found.sites.items()
            if len(values) == 1 and name not in found.nested and name not in found.declared
        }
        return {
            name
            for name, value in once.items()
            if isinstance(value, ast.Call) and self.call_name(value.func) == "importlib.import_module"
        }, {name for name, value in once.items() if value is not None and self.object_module(value)}

    def object_module(self, expr: ast.AST) -> bool:
        """Is ``expr`` the name of the module an object was defined in: ``x.__module__``, ``getattr(x,
        "__module__", default)``, or a variable of the function bound only to one of those?"""
        if isinstance(expr, ast.Attribute):
            return expr.attr == "__module__"
        if isinstance(expr, ast.Call) and len(expr.args) >= 2 and self.call_name(expr.func) == "getattr":
            return _constant_str(expr.args[1]) == "__module__"
        return isinstance(expr, ast.Name) and expr.id in self.frame.own_modules

    def spec_module(self, node: ast.Call) -> str | None:
        """The module ``importlib.util.module_from_spec(spec)`` makes, when its spec is :meth:`found_spec`'s (the
        call itself, or a name of :meth:`found_specs` in this scope or, unbound here, the module's)."""
        if node.keywords or len(node.args) != 1:
            return None
        return self.spec_of(node.args[0])

    def spec_of(self, spec: ast.expr) -> str | None:
        """The module a spec is :meth:`found_spec`'s for: the call itself, or a name of :meth:`found_specs` in this
        scope or, unbound here, the module's."""
        if not isinstance(spec, ast.Name):
            return self.found_spec(spec)
        frame = self.frame
        if frame.kind == "function" and spec.id not in frame.specs and spec.id not in frame.bound:
            frame = self.frames[0]  # a global of the module
        return frame.specs.get(spec.id) if frame.kind != "class" else None

    def pickled_here(self, data: ast.expr) -> bool:
        """Are the bytes an unpickling call loads what a pickling call of this function made: the call itself
        (``loads(dumps(x))``), or a variable of :meth:`held_pickles` (``data = dumps(x); loads(data)``)?"""
        if isinstance(data, ast.Call):
            return self.call_name(data.func) in ROUND_TRIP_DUMPS
        return isinstance(data, ast.Name) and data.id in self.frame.held and self.frame.held[data.id] is None

    def held_pickles(
        self, node: _FunctionNode, parametrized: dict[str, tuple[bytes, ...]]
    ) -> dict[str, tuple[bytes, ...] | None]:
        """The function's variables whose every value is known, read only as the bytes an unpickling call loads.

        A variable qualifies when one binding gives it its values and every read of it is the bytes an
        unpickling call loads (``pickle.loads(data)``, in the function's own code or a comprehension of it). The
        binding is a plain assignment of a pickling call of ``ROUND_TRIP_DUMPS`` (``data = pickle.dumps(x)``:
        None, what copying runs; in a loop too, each time a new pickle of an object that exists) or of constant
        bytes, or a parameter that ``parametrize`` gives constant bytes (:meth:`parametrized`). Anything else
        keeps the unpickling dynamic: another binding of the name (an assignment, an augmented one, a walrus, a
        ``for`` or ``with`` target, an import, a ``def``, ``except ... as``, a ``match`` capture, ``del``, a
        parameter), a ``global`` or ``nonlocal`` naming it, a nested function, lambda or class naming it, any
        other read (it escapes), or a function that may reach its own frame's variables by name (``locals``,
        ``vars``, ``exec``, ``eval``, ``f_locals``).
        """
        found = _scope_bindings(node.body, _all_args(node.args))
        if found.reads_frame:
            return {}
        out: dict[str, tuple[bytes, ...] | None] = {}
        for name, values in found.sites.items():
            if name in found.nested or name in found.declared or len(values) != 1:
                continue
            reads = found.loads.get(name, [])
            calls = [found.first_of.get(id(r)) for r in reads]
            if not all(c is not None and self.call_name(c.func) in ROUND_TRIP_LOADS for c in calls):
                continue
            value = values[0]
            if isinstance(value, ast.Call) and self.call_name(value.func) in ROUND_TRIP_DUMPS:
                out[name] = None
            elif isinstance(value, ast.Constant) and isinstance(value.value, bytes):
                out[name] = (value.value,)
            elif isinstance(value, ast.arg) and name in parametrized:
                out[name] = parametrized[name]
        return out

    def parametrized(self, node: _FunctionNode) -> dict[str, tuple[bytes, ...]]:
        """The parameters of a test function that ``@pytest.mark.parametrize`` gives only constant bytes: each
        value a bytes literal, or a name the enclosing class or module binds once, to a bytes literal, before
        the ``def`` (``frame.constants``). Only for what pytest calls with those values, as written: a function
        named ``test*`` of a module or of classes whose decorators are pytest marks (no keywords, quiet bases:
        nothing wraps its methods), whose own decorators are pytest marks alone, without ``indirect``. (A
        direct call of a test function with other bytes is not followed.)"""
        if not node.name.startswith("test") or not node.decorator_list:
            return {}
        if any(f.kind == "function" or (f.kind == "class" and not f.quiet) for f in self.frames):
            return {}
        line = min(d.lineno for d in node.decorator_list)
        out: dict[str, tuple[bytes, ...]] = {}
        for dec in node.decorator_list:
            call = dec if isinstance(dec, ast.Call) else None
            name = self.call_name(call.func if call is not None else dec)
            if not name.startswith("pytest.mark."):
                return {}
            if name != "pytest.mark.parametrize" or call is None:
                continue
            given = dict(zip(("argnames", "argvalues"), call.args, strict=False))
            given.update((k.arg, k.value) for k in call.keywords if k.arg)
            indirect = given.get("indirect")
            if indirect is not None and not (isinstance(indirect, ast.Constant) and indirect.value is False):
                continue
            names = _parametrize_names(given.get("argnames"))
            rows = given.get("argvalues")
            if not names or not isinstance(rows, (ast.List, ast.Tuple)):
                continue
            columns: list[list[bytes] | None] = [[] for _ in names]
            for row in rows.elts:
                if isinstance(row, ast.Call) and self.call_name(row.func) == "pytest.param":
                    values: list[ast.expr] | None = list(row.args)
                elif len(names) == 1:
                    values = [row]
                else:
                    values = list(row.elts) if isinstance(row, (ast.Tuple, ast.List)) else None
                if values is None or len(values) != len(names) or any(isinstance(v, ast.Starred) for v in values):
                    return {}
                for i, value in enumerate(values):
                    column = columns[i]
                    constant = self.constant_bytes(value, line)
                    if column is None or constant is None:
                        columns[i] = None
                    else:
                        column.append(constant)
            for arg, column in zip(names, columns, strict=True):
                if column:
                    out[arg] = tuple(column)
        return out

    def constant_bytes(self, value: ast.expr, before: int) -> bytes | None:
        """The bytes an expression evaluated in the current scope holds before line ``before``: a literal, or a
        name its class body or module binds once, to a literal, on an earlier line (a class scope first)."""
        if isinstance(value, ast.Constant):
            return value.value if isinstance(value.value, bytes) else None
        if not isinstance(value, ast.Name):
            return None
        for frame in self.visible_frames():
            if value.id in frame.bound:
                line, constant = frame.constants.get(value.id, (before, b""))
                return constant if line < before else None
            if frame.kind == "module":
                return None
        return None

    def process(self, name: str, node: ast.Call) -> None:
        """A subprocess: which program, and if Python, which module of the tree it runs."""
        command: ast.AST | None = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg in ("args", "cmd", "program"):
                command = keyword.value
        words: list[str | None] = []
        if isinstance(command, (ast.List, ast.Tuple)):
            for element in command.elts:
                if isinstance(element, ast.Starred):
                    words.append(None)
                elif self.call_name(element) == "sys.executable":
                    words.append("python")
                else:
                    words.append(_constant_str(element))
        elif command is not None and _constant_str(command) is not None:
            try:
                words = list(shlex.split(_constant_str(command) or ""))
            except ValueError:
                words = [None]
        else:
            words = [None]
        self.acc.words.update(w for w in words if w and not any(c.isspace() for c in w))  # ``make``: its files
        module = python_target(words)
        if module is None:  # may run any code: the graph decides, with what runs were observed to start there
            self.acc.processes.append(f"{name} of a command the analysis cannot read")
            self.dynamic = self.dynamic or name
        elif module:
            self.acc.runs.append(module)
            self.file_runs.append(module)

    def contained_reads(self, body: list[ast.stmt], local: frozenset[str]) -> set[int]:
        """The computed ``getattr`` calls of a block whose value cannot escape it.

        A value escapes unless it is only looked at or dropped (an expression statement: ``getattr(obj, name)``
        run for what reading it runs): tested, compared, hashed,
        passed to a call of ``_LOOKING`` (``isinstance``, ``inspect.signature``;
        ``getattr``/``hasattr`` on it), read further (``v.attr``: a read by
        name, recorded as such), or bound to a local variable (``local``: the
        function's own names) every use of which is one of those. Returned,
        yielded, stored, passed to any other call, called, captured by a nested
        function: escaped.
        """
        parents: dict[int, ast.AST] = {}
        loads: dict[str, list[ast.Name]] = {}
        captured: set[str] = set()
        reads: list[ast.Call] = []
        spaces: list[ast.expr] = []  # namespace expressions (x.__dict__, vars(x)): see _quiet_read
        stack: list[ast.AST] = list(body)
        for stmt in body:
            parents[id(stmt)] = stmt  # a statement is its own parent: no context of interest
        while stack:
            node = stack.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                captured.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                loads.setdefault(node.id, []).append(node)
            elif isinstance(node, ast.Name) and id(node) in self.augmented:
                captured.add(node.id)  # n += ...: read and rebound by a dunder; not followed
            elif (
                isinstance(node, ast.Call)
                and len(node.args) > 1
                and _constant_str(node.args[1]) is None
                and self.call_name(node.func) in ("getattr", "inspect.getattr_static")
            ):
                reads.append(node)
            elif _namespace_read(node) and not (isinstance(node, ast.Attribute) and id(node) in self.writes):
                spaces.append(cast(ast.expr, node))
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
                stack.append(child)
        variables: dict[str, bool] = {}
        looked = [False]  # a value that stays is looked into somewhere in the block (see looked_spaces)
        if loads.keys() & {"locals", "eval", "exec"} or any(
            not (isinstance(call := parents.get(id(use)), ast.Call) and call.func is use and call.args)
            for name in ("vars", "dir")
            for use in loads.get(name, ())
        ):
            local = frozenset()  # the block reads its own variables by name (vars(), dir()): none stays put

        def kept(name: str) -> bool:
            if name not in variables:
                variables[name] = True  # assumed while its uses are checked (a loop re-binding it)
                variables[name] = name in local and name not in captured and all(stays(u) for u in loads.get(name, ()))
            return variables[name]

        def stays(expr: ast.AST) -> bool:
            parent = parents.get(id(expr))
            if parent is None or parent is expr:
                return False
            if isinstance(expr, ast.Name) and self.narrowed(expr, parents):
                looked[0] = True
                return True  # whatever it goes on to: an instance of a class that holds no code (below)
            if isinstance(parent, (ast.For, ast.AsyncFor)) and expr is parent.iter:
                # for item in value: iterating runs the value's own dunders (reached with its class); the items
                # are values again, and stay put when the loop's variable does.
                return isinstance(parent.target, ast.Name) and kept(parent.target.id)
            if isinstance(parent, ast.Call):
                if expr is parent.func:
                    return False
                looking = self.call_name(parent.func)
                if looking in ("getattr", "hasattr", "inspect.getattr_static"):
                    return bool(parent.args) and expr is parent.args[0]
                looked[0] = looked[0] or looking in _MEASURING
                return looking in _LOOKING and any(expr is a for a in parent.args)
            if isinstance(parent, ast.Compare):
                looked[0] = True
                # Identity, or a builtin constant's comparison: no other object's code gets the value
                # (``x == E`` may hand E to ``x.__eq__``). ``x in E`` asks E's own ``__contains__``.
                operands = [parent.left, *parent.comparators]
                for i, op in enumerate(parent.ops):
                    left, right = operands[i], operands[i + 1]
                    if expr is not left and expr is not right:
                        continue
                    other = right if expr is left else left
                    if isinstance(op, (ast.Is, ast.IsNot)) or _literal(other):
                        continue
                    if isinstance(op, (ast.In, ast.NotIn)) and expr is right:
                        continue
                    return False
                return True
            if isinstance(parent, ast.Expr):
                return True  # an expression statement's value is dropped (a module's code, not a prompt's)
            if isinstance(parent, (ast.UnaryOp, ast.If, ast.While, ast.Assert, ast.IfExp, ast.BoolOp)):
                looked[0] = True  # its truth: a docstring's presence
            if isinstance(parent, ast.UnaryOp):
                return isinstance(parent.op, ast.Not)
            if isinstance(parent, (ast.If, ast.While, ast.Assert)):
                return expr is parent.test
            if isinstance(parent, ast.IfExp):
                return expr is parent.test or stays(parent)
            if isinstance(parent, ast.BoolOp):
                return stays(parent)
            if isinstance(parent, ast.Attribute):
                call = parents.get(id(parent))
                if isinstance(call, ast.Call) and call.func is parent:
                    looked[0] = True  # v.startswith("x"): a method of the value, which may read it
                return isinstance(expr, ast.Name) and isinstance(parent.ctx, ast.Load)
            if isinstance(parent, ast.Assign):
                targets = parent.targets
                return (
                    expr is parent.value
                    and len(targets) == 1
                    and isinstance(targets[0], ast.Name)
                    and kept(targets[0].id)
                )
            return False

        for space in spaces:
            quiet = _quiet_read(space, parents, stays, kept)
            if quiet is not None:
                self.quiet_namespaces[id(space)] = quiet
        contained = {id(call) for call in reads if stays(call)}
        for space in spaces:
            if id(space) in self.quiet_namespaces and (looked[0] or _compared(space, parents)):
                self.looked_spaces.add(id(space))
        return contained

    def narrowed(self, name: ast.Name, parents: Mapping[int, ast.AST]) -> bool:
        """Is ``name`` read where ``isinstance(name, K)`` held and the name was not bound since, ``K`` a class whose
        instances hold no code of the tree (:data:`_CODE_FREE`)? In the body of an ``if`` (or the value of a
        conditional expression, an operand after it in an ``and``) testing it: such a value may go anywhere — it is
        no function, class, method or module, and what it holds it holds under attribute names, which whoever
        reads them reads by name (or under a computed name: a read of its own)."""
        child: ast.AST = name
        node = parents.get(id(name))
        while node is not None and node is not child:
            if isinstance(node, ast.If) and any(child is s for s in node.body):
                if self.narrows(node.test, name.id) and not _binds(node.body, name.id):
                    return True
            elif isinstance(node, ast.IfExp) and child is node.body:
                if self.narrows(node.test, name.id) and not _binds([node.body], name.id):
                    return True
            elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
                before = node.values[: next(i for i, v in enumerate(node.values) if v is child)]
                if any(self.narrows(v, name.id) for v in before) and not _binds([child, *before], name.id):
                    return True
            child, node = node, parents.get(id(node))
        return False

    def narrows(self, test: ast.expr, name: str) -> bool:
        """Does ``test`` hold only when ``name`` is an instance of classes of :data:`_CODE_FREE`?"""
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            return any(self.narrows(v, name) for v in test.values)
        if not (
            isinstance(test, ast.Call)
            and len(test.args) == 2
            and not test.keywords
            and isinstance(test.args[0], ast.Name)
            and test.args[0].id == name
            and self.call_name(test.func) == "isinstance"
        ):
            return False
        kinds = test.args[1]
        classes = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
        return bool(classes) and all(self.code_free(k) for k in classes)

    def code_free(self, kind: ast.expr) -> bool:
        """Is ``kind`` the standard library's class of :data:`_CODE_FREE` (not a name the file binds otherwise)?"""
        dotted = _dotted(kind)
        if dotted is None or self.call_name(kind) not in _CODE_FREE:
            return False
        for frame in self.visible_frames():
            if dotted[0] in frame.bound:
                return len(dotted) > 1 and len(set(frame.imports.get(dotted[0], ()))) == 1
        return len(dotted) == 1

    def set_dynamic(self, why: str) -> None:
        if not self.acc.dynamic:
            self.acc.dynamic = why
        if not self.dynamic:
            self.dynamic = why

    def self_class(self) -> str:
        for frame in reversed(self.frames):
            if frame.self_class:
                return frame.self_class
        return ""

    def visible_frames(self) -> Iterator[_Frame]:
        """The frames a name is looked up in: a class scope only when it is the innermost."""
        for i, frame in enumerate(reversed(self.frames)):
            if frame.kind == "class" and i > 0:
                continue
            yield frame

    def name_chains(
        self,
        name: str,
        attrs: tuple[str, ...],
        *,
        record: bool = True,
        named: bool = False,
        unknown: bool = False,
        known_only: bool = False,
    ) -> list[Chain]:
        """Every reading of ``name`` (local entity, import, self, variable, global), recorded on the node
        (``named``: a namespace read under a constant key, see :meth:`unknown_attrs`). Not ``record``ed, the
        attributes of a variable's unknown value are still recorded if ``unknown`` (``x.load().save()``: ``load``
        and ``save`` of unknown objects; the chains alone would lose them)."""
        record_value = record or unknown
        chains: list[Chain] = []
        value = False
        bound = False
        for frame in self.visible_frames():
            if frame.kind == "module":
                chains.append(Chain("global", name, attrs))
                if not bound and name not in frame.bound and name not in _BUILTINS and name not in _MODULE_GLOBALS:
                    value = True  # bound only inside an expression (walrus, comprehension)
                break
            if name not in frame.bound:
                continue
            bound = True
            known = False
            if name in frame.defs:
                chains.append(Chain("local", frame.defs[name], attrs))
                known = True
            for spec in frame.imports.get(name, ()):
                chains.append(Chain("import", name, attrs, spec))
                known = True
            if frame.self_name == name:
                chains.append(Chain("self", frame.self_class, attrs, instance=frame.self_instance))
                known = True
            if (
                not known
                and name in frame.typed
                and name not in self.typing
                # x = cls.__dict__.get(k): any value (the namespace read is the assignment's, recorded there)
                and not any(reads_namespace(tuple(call)) for call in frame.typed[name])
            ):
                self.typing.add(name)
                for call in frame.typed[name]:
                    chains.extend(self.name_chains(call[0], (*call[1:], "()", *attrs), record=False))
                self.typing.discard(name)
                known = True
            value = value or not known
            if frame.kind == "function":
                # Bound in a function (not declared global or nonlocal): its local throughout the body — read
                # before the binding it raises, it never reads an enclosing scope's or the module's name.
                break
        if record:
            self.acc.chains.extend(chains)
        if record_value and value:
            self.unknown_attrs(tuple(a for a in attrs if a != "()"), named=named)
        if known_only and value:  # some binding of the name is a value of unknown type
            return []
        return chains

    def imported_module(self, expr: ast.expr) -> str:
        """The dotted name of the module ``expr`` (``pkg.mod``) is, when its root is a name only imports bind in
        the file (``import pkg.mod``, ``from pkg import mod``); "" otherwise."""
        dotted = _dotted(expr)
        if dotted is None or not any(dotted[0] in frame.imports for frame in self.visible_frames()):
            return ""
        if dotted[0] not in self.import_only:
            return ""
        return self.call_name(expr)

    def call_name(self, func: ast.AST) -> str:
        """The dotted name a callee is known by, through the file's imports (``sp.run`` -> ``subprocess.run``)."""
        dotted = _dotted(func)
        if dotted is None:
            return ""
        root, rest = dotted[0], dotted[1:]
        for frame in self.visible_frames():
            refs = frame.imports.get(root)
            if refs:
                ref = refs[0]
                if ref.level:
                    return ""
                base = f"{ref.module}.{ref.name}" if ref.name else ref.module
                return ".".join([base, *rest])
            if root in frame.bound:
                return ".".join(dotted) if frame.kind == "module" and root not in frame.defs else ""
        return ".".join(dotted)


# ---------------------------------------------------------------------------------------------
# Helpers


# Calls whose second argument is an attribute name (``setattr(x, "name", v)``), and the object methods called so.
_ATTRIBUTE_CALLS = frozenset({"setattr", "getattr", "hasattr", "delattr"})
# Calls of _LOOKING whose answer depends on the value's content (a string's length, its hash, its truth).
_MEASURING = frozenset({"hash", "len", "bool"})
# Builtins that, given a dict, read its keys alone.
_KEY_LISTINGS = frozenset({"set", "frozenset", "list", "sorted", "tuple", "len", "iter"})
_ATTRIBUTE_METHODS = frozenset(
    {"object.__setattr__", "object.__getattribute__", "object.__delattr__", "type.__setattr__", "type.__getattribute__"}
)


def _targets(stmt: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]


def _string_items(value: ast.expr) -> list[ast.Constant]:
    """A string constant, or the string constants of a tuple, list or set display of them (``("a", "b")``)."""
    items = value.elts if isinstance(value, (ast.Tuple, ast.List, ast.Set)) else [value]
    return [n for n in items if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _fixture_decorator(node: _FunctionNode, decorators: list[str]) -> tuple[str, bool, bool]:
    """(the name pytest registers the fixture under, whether ``name=`` gave it, autouse) for a function one
    fixture decorator makes a fixture; ("", False, False) otherwise, or when the name is computed (then the
    function stays what its decorator hands to other code: whatever runs its definition reaches it)."""
    found = [d for d, name in zip(node.decorator_list, decorators, strict=True) if name in FIXTURE_DECORATORS]
    if len(found) != 1:
        return "", False, False
    name, named, autouse = node.name, False, False
    if isinstance(found[0], ast.Call):
        for keyword in found[0].keywords:
            if keyword.arg is None:  # **options: the name may be in them
                return "", False, False
            if keyword.arg == "name":
                value = _constant_str(keyword.value)
                if not value:
                    return "", False, False
                name, named = value, True
            elif keyword.arg == "autouse":
                autouse = not (isinstance(keyword.value, ast.Constant) and not keyword.value.value)
    return name, named, autouse


def _loose_usefixtures(tree: ast.Module) -> tuple[str, ...]:
    """The fixture names of the ``usefixtures(...)`` calls of a file that are not where pytest reads them for
    the decorated test or class alone (a decorator, a ``pytestmark``): a mark bound to a name, which any test
    importing it may apply (``needs_db = pytest.mark.usefixtures("db")``)."""
    placed: set[int] = set()
    for node in ast.walk(tree):
        held: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            held.extend(node.decorator_list)
        if isinstance(node, (ast.Module, ast.ClassDef)):
            held.extend(s for s in node.body if _assigns_name(s, "pytestmark"))
        placed.update(id(n) for h in held for n in ast.walk(h))
    return _fixture_words(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and (_dotted(n.func) or [""])[-1] == "usefixtures" and id(n) not in placed
    )


def _requested_args(args: ast.arguments, *, method: bool) -> tuple[str, ...]:
    """The parameters pytest fills with fixtures: those without a default (a bound method's first aside)."""
    positional = [*args.posonlyargs, *args.args]
    required = positional[: len(positional) - len(args.defaults)]
    if method and required and required[0] is positional[0]:
        required = required[1:]
    keyword = [a for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None]
    return tuple(a.arg for a in [*required, *keyword])


def _fixture_words(nodes: Iterable[ast.AST]) -> tuple[str, ...]:
    """The names the string constants in ``nodes`` may give pytest as fixtures (a mark's ``"db"``, ``"a, b"``)."""
    out: list[str] = []
    for node in nodes:
        for child in ast.walk(node):
            text = _constant_str(child)
            if text is not None and _FIXTURE_WORDS.fullmatch(text):
                out.extend(w.strip() for w in text.split(",") if w.strip())
    return tuple(dict.fromkeys(out))


def _main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either way round)."""
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = (test.left, test.comparators[0])
    return any(
        isinstance(a, ast.Name) and a.id == "__name__" and _constant_str(b) == "__main__"
        for a, b in (sides, sides[::-1])
    )


def _merge_refs(a: NodeRefs, b: NodeRefs) -> NodeRefs:
    """The references of two definitions of one name, every field: sequences joined, sets and flags united; but
    ``stored`` (names only stored into) where both only store, and ``fetches`` (every computed read heard) where
    both say so."""
    merged: dict[str, object] = {}
    for f in dataclasses.fields(NodeRefs):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name in ("stored", "fetches"):
            merged[f.name] = x & y
        elif isinstance(x, tuple):
            merged[f.name] = tuple(dict.fromkeys(x + y))
        elif isinstance(x, frozenset):
            merged[f.name] = x | y
        else:  # bool, or str (``dynamic``: why, the first)
            merged[f.name] = x or y
    return NodeRefs(**merged)  # type: ignore[arg-type]


def _merge_scopes(seen: Scope, scope: Scope) -> Scope:
    """One node for two definitions of a name: every field of both, each merged the way that selects more — what
    may happen in either happens (effects, fixtures, parameters, marks, bases), what holds of both holds
    (``inert_call``, ``not_a_test``, ``self_plain``…), and a reading of one alone that would narrow (the
    decorators resolved to inert ones, ``results``, ``made_by``, ``base_only``) only where both agree. A module's
    name bound by a compound statement beside a definition (``if ...: def db()``: a ``name`` node) claims nothing
    of the definition: the definition's own claims hold. (Two fixtures of one name registered under different
    ``name=``s keep the first's.)"""
    claims: Scope | None = None
    if (seen.kind == "name") != (scope.kind == "name"):
        claims = scope if seen.kind == "name" else seen

    def both(name: str) -> Any:  # holds of both
        return getattr(claims, name) if claims else getattr(seen, name) and getattr(scope, name)

    def agreed(name: str) -> Any:  # where both agree
        a, b = getattr(seen, name), getattr(scope, name)
        return getattr(claims, name) if claims else a if a == b else type(a)()

    def joined(name: str) -> Any:
        return tuple(dict.fromkeys(getattr(seen, name) + getattr(scope, name)))

    def decorating(s: Scope) -> tuple[object, ...]:
        return (s.decorated_by, s.decorator_args, s.decorators_hash)

    decorators = claims or (seen if decorating(seen) == decorating(scope) else None)
    named_by = seen if seen.fixture else scope
    return Scope(
        qualname=seen.qualname,
        kind=seen.kind,
        name=seen.name,
        parent=seen.parent,
        container=seen.container,
        line=seen.line,
        refs=_merge_refs(seen.refs, scope.refs),
        def_hash=_hash(seen.def_hash, scope.def_hash),
        def_effects=seen.def_effects or scope.def_effects,
        decorated_by=decorators.decorated_by if decorators else (),
        generic_bases=joined("generic_bases"),
        def_raises=seen.def_raises or scope.def_raises,
        inert_call=both("inert_call"),
        bases=seen.bases + scope.bases,
        base_names=seen.base_names + scope.base_names,
        members=tuple(sorted(set(seen.members) | set(scope.members))),
        class_attrs=seen.class_attrs | scope.class_attrs,
        not_a_test=both("not_a_test"),
        is_async=seen.is_async or scope.is_async,
        getter=seen.getter or scope.getter,
        hands_out=seen.hands_out or scope.hands_out,
        set_name_members=seen.set_name_members + scope.set_name_members,
        set_name_calls=seen.set_name_calls + scope.set_name_calls,
        customised=seen.customised or scope.customised,
        bound_values=seen.bound_values + scope.bound_values,
        fixture=named_by.fixture,
        fixture_named=named_by.fixture_named,
        fixture_plain=both("fixture_plain"),
        autouse=seen.autouse or scope.autouse,
        args=joined("args"),
        marks=joined("marks"),
        reconstructor=seen.reconstructor or scope.reconstructor,
        kept=(
            merge_kept(seen.kept, scope.kept)
            if seen.kind == scope.kind
            else seen.kept
            if scope.kind == "name"  # an import binding the name too: the graph reads its alternatives
            else None
        ),
        decorator_args=decorators.decorator_args if decorators else (),
        decorators_hash=decorators.decorators_hash if decorators else "",
        results=agreed("results"),
        made_by=agreed("made_by"),
        self_plain=both("self_plain"),
        self_handoffs=joined("self_handoffs"),
        base_only=agreed("base_only"),
    )


def _merge_duplicates(scopes: list[Scope]) -> list[Scope]:
    """One scope per qualname: definitions of the same name (``if``/``else``, property setters) merge."""
    merged: dict[str, Scope] = {}
    for scope in scopes:
        seen = merged.get(scope.qualname)
        if seen is None:
            merged[scope.qualname] = scope
            continue
        merged[scope.qualname] = _merge_scopes(seen, scope)
    return list(merged.values())


def _assigned_at_module(tree: ast.Module) -> frozenset[str]:
    """The module-level names a statement binds otherwise than by ``def``, ``class`` or an import: assignment,
    loop, ``with`` and ``except`` targets, walruses, ``del``, and a function's or class's ``global`` names."""
    found: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            found.update(n for sub in ast_nodes.walk(node) if isinstance(sub, ast.Global) for n in sub.names)
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return frozenset(found)


def _bind_block(body: list[ast.stmt], frame: _Frame, qualname: str) -> None:
    """Fill ``frame`` with the names a block's statements bind (nested scopes' bodies excluded).

    Expressions are not searched: a name bound only inside one (a walrus, a
    comprehension variable) and nowhere else reads as an unknown value.
    """
    declared_global: set[str] = set()
    stack: list[ast.stmt] = list(body)
    targets: list[ast.AST] = []
    constructed: dict[str, list[list[str]]] = {}
    declared_local: set[str] = set()
    given = set(frame.bound)  # (parameters)
    others: set[str] = set()  # names bound otherwise than by a def or a class statement
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            frame.bound.add(node.name)
            frame.defs[node.name] = f"{qualname}.{node.name}" if qualname else node.name
            if node.decorator_list:  # a decorator may bind the name to anything
                others.add(node.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound, ref = alias.asname, ImportRef(0, alias.name)
                else:
                    bound, ref = alias.name.split(".")[0], ImportRef(0, alias.name.split(".")[0])
                others.add(bound)
                frame.imports.setdefault(bound, []).append(ref)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    frame.imports.setdefault("*", []).append(ImportRef(node.level, node.module or ""))
                    continue
                bound = alias.asname or alias.name
                others.add(bound)
                frame.imports.setdefault(bound, []).append(ImportRef(node.level, node.module or "", alias.name))
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
        elif isinstance(node, ast.AnnAssign) and node.value is None:
            if isinstance(node.target, ast.Name):  # ``r: Base``: declares a local, binds nothing
                declared_local.add(node.target.id)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            node_targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            call = _dotted(node.value.func) if isinstance(node.value, ast.Call) else None
            if node.value is not None and _namespace_key_read(node.value) is not None:
                call = None  # x = ns.get("name"): the value of that name, not what a call of ``get`` returns
            if call is not None and len(node_targets) == 1 and isinstance(node_targets[0], ast.Name):
                constructed.setdefault(node_targets[0].id, []).append(call)  # x = Thing(...)
            else:
                targets.extend(node_targets)
        elif isinstance(node, ast.AugAssign):
            targets.append(node.target)
        elif isinstance(node, ast.Delete):
            targets.extend(node.targets)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            targets.append(node.target)
            stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets.extend(item.optional_vars for item in node.items if item.optional_vars is not None)
            stack.extend(node.body)
        elif isinstance(node, (ast.If, ast.While)):
            stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            stack.extend(node.body)
            stack.extend(node.orelse)
            stack.extend(node.finalbody)
            for handler in node.handlers:
                if handler.name:
                    others.add(handler.name)
                stack.extend(handler.body)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                for pattern in ast.walk(case.pattern):
                    if isinstance(pattern, (ast.MatchAs, ast.MatchStar)) and pattern.name:
                        others.add(pattern.name)
                    elif isinstance(pattern, ast.MatchMapping) and pattern.rest:
                        others.add(pattern.rest)
                stack.extend(case.body)
    while targets:
        target = targets.pop()
        if isinstance(target, ast.Name):
            others.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            targets.extend(target.elts)
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
    frame.bound |= others
    # Names bound only by ``name = callee(...)`` (not a parameter, nothing else): the result of
    # those calls — an instance, if the callee is a class.
    frame.typed = {
        name: calls
        for name, calls in constructed.items()
        if name not in frame.bound and all(call[0] != name for call in calls)
    }
    frame.bound.update(constructed)
    frame.bound.update(declared_local)
    frame.bound -= declared_global
    frame.def_only = frozenset(
        n for n in frame.defs if n in frame.bound and n not in others | given | constructed.keys() | declared_local
    )


# Calls a module-level constant may make without running code of the tree or changing global state.
_PURE_CALLS = frozenset(
    {
        "frozenset",
        "set",
        "dict",
        "list",
        "tuple",
        "object",
        "str",
        "int",
        "float",
        "bytes",
        "bool",
        "range",
        "re.compile",
        "str.maketrans",
        "bytes.maketrans",
        "collections.namedtuple",
        "typing.TypeVar",
        "typing.NewType",
        "typing.ParamSpec",
        "typing_extensions.TypeVar",
        "typing_extensions.ParamSpec",
        "TypeVar",
        "NewType",
        "ParamSpec",
        "typing.NamedTuple",
        "logging.getLogger",
        "os.environ.get",
        "os.getenv",
        "sys.intern",
        "enum.auto",
        # The interpreter and its host, asked: no code of the tree runs, no state it reads changes.
        "platform.python_implementation",
        "platform.python_version",
        "platform.python_version_tuple",
        "platform.system",
        "platform.machine",
        "sys.getdefaultencoding",
        "sys.getfilesystemencoding",
        "sys.getrecursionlimit",
        "os.cpu_count",
    }
)


def _name_bound_by(node: ast.alias | ast.excepthandler | ast.pattern) -> str | None:
    """The name an import alias, an ``except ... as`` or a ``match`` capture binds."""
    if isinstance(node, ast.alias):
        return node.asname or node.name.split(".")[0]
    if isinstance(node, ast.MatchMapping):
        return node.rest
    name = getattr(node, "name", None)  # ExceptHandler, MatchAs, MatchStar
    return name if isinstance(name, str) else None


@dataclass(slots=True)
class _Bindings:
    """How a scope's own code binds and reads names (:func:`_scope_bindings`)."""

    sites: dict[str, list[ast.expr | ast.arg | None]] = field(default_factory=dict)  # per binding: what it binds
    loads: dict[str, list[ast.Name]] = field(default_factory=dict)  # the reads in the scope's own code
    first_of: dict[int, ast.Call] = field(default_factory=dict)  # id() of a Name passed first to a call -> the call
    nested: set[str] = field(default_factory=set)  # names a nested function, lambda or class names
    declared: set[str] = field(default_factory=set)  # names a ``global`` or ``nonlocal`` statement names
    reads_frame: bool = False  # the code may reach variables by name (``locals``, ``vars``, ``exec``, ``f_locals``)


_FIND_SPEC = "importlib.util.find_spec"
_MODULE_FROM_SPEC = "importlib.util.module_from_spec"


# The last scopes' bindings, by the body's and the parameters' identity: found_specs, module_variables,
# _constants, _state_writers... each ask for the same scope (a 6,800-line test module: 843 walks of ~310 scopes).
# An entry holds its body and parameters, so their ids are not reused while it is kept; read-only for callers;
# emptied after each file (file_facts), and the tree is not edited once the walks begin.
_SCOPE_BINDINGS: dict[tuple[int, ...], tuple[list[ast.stmt], list[ast.arg], _Bindings]] = {}
_SCOPE_BINDINGS_KEPT = 2048


def _scope_bindings(body: list[ast.stmt], params: list[ast.arg]) -> _Bindings:
    """Every binding of a scope's own code (a parameter: its ``ast.arg``; a plain assignment of one name: the
    value; any other binding — augmented assignment, walrus, ``for``/``with``/``except``/``match`` target,
    import, ``def``, ``class``, ``del``, a comprehension's target —: None), and the reads around them."""
    key = (id(body), *(id(stmt) for stmt in body[:1]), *(id(arg) for arg in params))
    kept = _SCOPE_BINDINGS.get(key)
    if kept is not None and kept[0] is body and len(kept[1]) == len(params):
        if all(a is b for a, b in zip(kept[1], params, strict=True)):
            return kept[2]
    out = _walk_scope_bindings(body, params)
    if len(_SCOPE_BINDINGS) >= _SCOPE_BINDINGS_KEPT:
        _SCOPE_BINDINGS.clear()
    _SCOPE_BINDINGS[key] = (body, list(params), out)
    return out


def _walk_scope_bindings(body: list[ast.stmt], params: list[ast.arg]) -> _Bindings:
    out = _Bindings()
    for arg in params:
        out.sites.setdefault(arg.arg, []).append(arg)
    plain: dict[int, ast.expr] = {}  # id() of a Name assigned alone -> the value
    stack: list[tuple[ast.AST, bool]] = [(stmt, False) for stmt in reversed(body)]
    while stack:
        item, nested = stack.pop()
        if isinstance(item, (ast.Global, ast.Nonlocal)):
            out.declared.update(item.names)
        elif isinstance(item, ast.Name):
            if item.id in ("locals", "vars", "exec", "eval"):
                out.reads_frame = True
            if nested:
                out.nested.add(item.id)
            elif isinstance(item.ctx, ast.Load):
                out.loads.setdefault(item.id, []).append(item)
            else:
                out.sites.setdefault(item.id, []).append(plain.get(id(item)))
        elif isinstance(item, ast.Attribute) and item.attr == "f_locals":
            out.reads_frame = True
        elif isinstance(item, ast.arg) and nested:
            out.nested.add(item.arg)
        elif isinstance(item, (ast.alias, ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping)):
            bound = _name_bound_by(item)
            if bound and nested:
                out.nested.add(bound)
            elif bound:
                out.sites.setdefault(bound, []).append(None)
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not nested:
            out.sites.setdefault(item.name, []).append(None)
        if isinstance(item, (ast.Assign, ast.AnnAssign)) and item.value is not None:
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                plain[id(targets[0])] = item.value
        elif isinstance(item, ast.Call) and item.args and isinstance(item.args[0], ast.Name):
            out.first_of[id(item.args[0])] = item
        inner = nested or isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        stack.extend((child, inner) for child in reversed(ast_nodes.child_nodes(item)))
    return out


def _constants(body: list[ast.stmt]) -> dict[str, tuple[int, bytes]]:
    """The names a module or class body binds once, by a statement of its own (not under an ``if``), to a bytes
    literal, and in no other way (no ``global`` naming them, no reading of the namespace by name): name -> (line,
    value). Until another line rebinds it — none does — the name holds those bytes from that line on."""
    if not any(
        isinstance(s, ast.Assign) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, bytes)
        for s in body
    ):
        return {}  # no statement binds a bytes literal (spares walking the body)
    found = _scope_bindings(body, [])
    if found.reads_frame:
        return {}
    out: dict[str, tuple[int, bytes]] = {}
    for stmt in body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            continue
        name = stmt.targets[0].id
        value = stmt.value
        if (
            isinstance(value, ast.Constant)
            and isinstance(value.value, bytes)
            and found.sites.get(name) == [value]
            and name not in found.declared
        ):
            out[name] = (stmt.lineno, value.value)
    return out


# Namespaces whose entries are the names bound in a module or a class (a frame's locals are not names of either).
_KEYED_NAMESPACES = NAMESPACE_ATTRS - {"f_locals"}


def _namespace_key_read(node: ast.AST) -> tuple[ast.expr, str, list[ast.expr]] | None:
    """``owner.__dict__["name"]``, ``owner.f_globals.get("name", default)`` (a read under a constant key of a
    namespace): the owner, the name, and the expressions evaluated besides (the key, a default); None for anything
    else."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        space, key, rest = node.value, _constant_str(node.slice), [node.slice]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and 1 <= len(node.args) <= 2
        and not node.keywords
    ):
        space, key, rest = node.func.value, _constant_str(node.args[0]), node.args
    else:
        return None
    if not isinstance(space, ast.Attribute) or space.attr not in _KEYED_NAMESPACES:
        return None
    if key is None or not _IDENTIFIER.fullmatch(key):
        return None
    return space.value, key, rest


def _writes_namespaces(nodes: list[ast.AST]) -> bool:
    """Might the module's code (``nodes``: all of its nodes) write a global by other means than binding its name
    (``globals()``, ``setattr``, ``sys.modules``, a ``__dict__``, a frame's variables)? Storing a module into
    ``sys.modules`` (``sys.modules["name"] = module``, ``del sys.modules["name"]``) writes no global."""
    stored = {
        id(node.value)
        for node in nodes
        if isinstance(node, ast.Subscript)
        and not isinstance(node.ctx, ast.Load)
        and isinstance(node.value, ast.Attribute)
    }
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in ("globals", "vars", "locals", "exec", "eval", "setattr"):
            return True
        if isinstance(node, ast.Attribute) and node.attr in ("__dict__", "f_globals", "f_locals"):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "modules" and id(node) not in stored:
            return True
    return False


def doc_setter(text: str, tree: ast.Module) -> bool:
    """May storing into an attribute named ``__doc__`` run code of the file with the value stored? A
    ``__setattr__`` (any: an instance's, a metaclass's), a ``__doc__`` property with a setter
    (``@__doc__.setter``, ``property(get, set)``, ``fset=``), a class body binding ``__doc__`` to what a call made
    (a descriptor, maybe with ``__set__``). Then a docstring copied into another (:func:`_docstring_copy`) is read
    after all."""
    if "__setattr__" not in text and "__doc__" not in text:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name == "__setattr__":
                return True
            if node.name == "__doc__" and any(
                (isinstance(d, ast.Attribute) and d.attr == "setter")
                or (isinstance(d, ast.Call) and (len(d.args) > 1 or any(k.arg in ("fset", None) for k in d.keywords)))
                for d in node.decorator_list
            ):
                return True
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (
                    isinstance(stmt, (ast.Assign, ast.AnnAssign))
                    and isinstance(stmt.value, ast.Call)
                    and any(isinstance(t, ast.Name) and t.id == "__doc__" for t in _targets(stmt))
                ):
                    return True
        elif isinstance(node, ast.Name) and node.id == "__setattr__":  # __setattr__ = _frozen_setattrs
            return True
        elif isinstance(node, ast.Attribute) and node.attr == "__setattr__" and not isinstance(node.ctx, ast.Load):
            return True
    return False


def _docstring_copy(stmt: ast.stmt) -> ast.Attribute | ast.Call | None:
    """The docstring read of ``stmt`` if it only copies a docstring into another: ``wrapper.__doc__ = f.__doc__``,
    ``self.__doc__ = getattr(f, "__doc__", None)`` (the call yet to be checked to be the builtin's), every target
    an attribute named ``__doc__`` (or the name ``__doc__``: a class's or a module's own docstring)."""
    if not isinstance(stmt, ast.Assign) or not all(
        (isinstance(t, ast.Attribute) and t.attr == "__doc__") or (isinstance(t, ast.Name) and t.id == "__doc__")
        for t in stmt.targets
    ):
        return None
    value = stmt.value
    if isinstance(value, ast.Attribute) and value.attr == "__doc__" and isinstance(value.ctx, ast.Load):
        return value
    if (
        isinstance(value, ast.Call)
        and 2 <= len(value.args) <= 3
        and not value.keywords
        and not any(isinstance(a, ast.Starred) for a in value.args)
        and _constant_str(value.args[1]) == "__doc__"
    ):
        return value
    return None


def _attribute_name_arguments(tree: ast.Module) -> set[int]:
    """id() of the string constants a file hands to the builtins ``getattr``, ``hasattr``, ``setattr`` or
    ``delattr`` as the attribute's name (their second argument), where the file binds none of those names (nor
    star-imports)."""
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    if not any(call.func.id in _ATTRIBUTE_CALLS for call in calls if isinstance(call.func, ast.Name)):
        return set()
    bound = _module_bound_names(tree)
    if "*" in bound or not _ATTRIBUTE_CALLS.isdisjoint(bound):  # (a star import may bind one too)
        return set()
    return {
        id(call.args[1])
        for call in calls
        if isinstance(call.func, ast.Name) and call.func.id in _ATTRIBUTE_CALLS and len(call.args) >= 2
    }


def _filtered_namespaces(nodes: list[ast.AST]) -> dict[int, ast.expr | None]:
    """The namespace reads (``vars()``, ``globals()``, ``vars(x)`` with ``x`` a name) whose values only a
    comprehension's ``isinstance(v, C)`` condition lets out: ``[v for v in vars().values() if isinstance(v, C)]``
    (also ``.items()`` with ``for k, v in``, a condition among others joined by ``and``). id() of the call -> C
    (a dotted name); -> None for a namespace call without arguments whose keys alone are read (``for k in
    locals()``, ``[k for k in vars() if ...]``, ``"x" in globals()``): strings, no value — but which keys there
    are changes when a name comes or goes, so only a class body's count as reading nothing
    (:meth:`_Extractor.call`)."""
    out: dict[int, ast.expr | None] = {}
    for node in nodes:
        keyed: list[ast.expr] = []
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            keyed.append(node.iter)
        elif isinstance(node, ast.Compare):
            keyed.extend(
                c for op, c in zip(node.ops, node.comparators, strict=True) if isinstance(op, ast.In | ast.NotIn)
            )
        for space in keyed:
            if (
                isinstance(space, ast.Call)
                and isinstance(space.func, ast.Name)
                and space.func.id in ("vars", "globals", "locals")
                and not space.args
                and not space.keywords
            ):
                out[id(space)] = None
        if not isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            continue
        if len(node.generators) != 1:
            continue
        gen = node.generators[0]
        it = gen.iter
        if not (
            isinstance(it, ast.Call)
            and not it.args
            and isinstance(it.func, ast.Attribute)
            and it.func.attr in ("values", "items")
            and isinstance(it.func.value, ast.Call)
            and isinstance(it.func.value.func, ast.Name)
        ):
            continue
        space = it.func.value
        assert isinstance(space.func, ast.Name)
        if space.func.id not in ("vars", "globals") or len(space.args) > (space.func.id == "vars"):
            continue
        if space.args and not isinstance(space.args[0], ast.Name):
            continue
        target = gen.target
        if it.func.attr == "items":
            if not (isinstance(target, ast.Tuple) and len(target.elts) == 2):
                continue
            target = target.elts[1]
        if not isinstance(target, ast.Name):
            continue
        tests: list[ast.expr] = []
        for cond in gen.ifs:
            tests.extend(cond.values if isinstance(cond, ast.BoolOp) and isinstance(cond.op, ast.And) else [cond])
        for test in tests:
            if (
                isinstance(test, ast.Call)
                and isinstance(test.func, ast.Name)
                and test.func.id == "isinstance"
                and len(test.args) == 2
                and not test.keywords
                and isinstance(test.args[0], ast.Name)
                and test.args[0].id == target.id
                and _dotted(test.args[1]) is not None
            ):
                out[id(space)] = test.args[1]
                break
    return out


def _module_aliases(path: str, tree: ast.Module, nodes: list[ast.AST]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The module-level names bound only to dotted references (``h = helpers``, ``ppt = pp.pyparsing_test``,
    ``X = mod.Class``, under any condition, loop or ``try``): name -> the dotted parts of each binding's value.

    Only names that nothing else may bind: every binding of the name in the module's own code is such a
    statement (no other assignment, import, definition, ``for``/``with``/``except`` target, walrus, ``del``),
    no ``global``/``nonlocal`` statement names it, the value is read from the name itself by every binding
    (``__builtins__ = __builtins__.__dict__``: what the name was before, a builtin or a star import's) or by
    none, and the module
    cannot write its namespace otherwise (:func:`_may_rebind_globals`). As for imports and definitions, code of
    other modules is taken not to rebind the module's names (``mod.name = v``). Reading an attribute runs
    nothing here that a reference to the name does not reach: the name's own node holds the statements'
    references."""
    candidates: dict[str, list[tuple[str, ...]]] = {}
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            dotted = _dotted(stmt.value) if stmt.value is not None else None
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and dotted:
                candidates.setdefault(targets[0].id, []).append(tuple(dotted))
        elif isinstance(stmt, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
            stack.extend([*stmt.body, *getattr(stmt, "orelse", ())])
        elif isinstance(stmt, (ast.Try, ast.TryStar)):
            stack.extend([*stmt.body, *stmt.orelse, *stmt.finalbody, *(s for h in stmt.handlers for s in h.body)])
        elif isinstance(stmt, ast.Match):
            stack.extend(s for case in stmt.cases for s in case.body)
    if not candidates or _may_rebind_globals(path, nodes):
        return {}
    found = _scope_bindings(tree.body, [])
    out: dict[str, tuple[tuple[str, ...], ...]] = {}
    for name, values in candidates.items():
        sites = found.sites.get(name, [])
        if name in found.declared or len(sites) != len(values):
            continue  # a global statement names it, or another kind of binding binds it too
        own = [parts[0] == name for parts in values]
        if any(own) and not all(own):
            continue  # ``X = mod.Y`` then ``X = X.inner``: the value read may be any of the earlier ones
        if all(isinstance(site, (ast.Name, ast.Attribute)) and _dotted(site) is not None for site in sites):
            out[name] = tuple(dict.fromkeys(values))
    return out


# Attributes that hand out a module's namespace or the module object: what may write it by other means.
_GLOBALS_ATTRS = frozenset({"modules", "__globals__", "f_globals", "__builtins__"})
_MODULE_GETTERS = frozenset({"__import__", "import_module", "getmodule", "execfile"})
# Methods of a namespace mapping that only read it (``globals().get("x")``).
_MAPPING_READS = frozenset({"get", "keys", "items", "values", "copy", "__contains__", "__getitem__"})


def _may_rebind_globals(path: str, nodes: list[ast.AST], *, name: str | None = None) -> bool:
    """Might the module's code bind a global (``name``, or any) by other means than a statement binding its name? Through
    ``globals()`` (``vars()``/``locals()`` at module level) used other than to read it (``"x" in globals()``,
    ``globals()["x"]``, ``globals().get("x")``, or as the globals of ``exec``/``eval`` given a function's own
    locals mapping, where the code's bindings go); ``exec``/``eval`` at module or class level without a
    namespace (the code binds there); a frame's or function's globals, ``sys.modules``, a call returning a
    module object (``__import__``, ``import_module``, ``inspect.getmodule``) or an import of the module by its
    own name: how its code could get the module object to ``setattr`` on. Code ``exec`` runs that binds a
    global by a ``global`` statement of its own is any code, as that of a dynamic node elsewhere: not counted.
    With ``name``, a store under a key that cannot be ``name`` (``globals()["Test" + kind] = cls``: lark's test
    classes made per parser) binds other globals only."""
    stem = posixpath.basename(path).removesuffix(".py")
    if stem == "__init__":
        stem = posixpath.basename(posixpath.dirname(path))
    parents: dict[int, ast.AST] = {}
    function_nodes: set[int] = set()
    enclosing: dict[int, ast.AST] = {}  # id() of a node in a function -> the innermost function
    for node in nodes:
        inside = id(node) in function_nodes or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
            if inside:
                function_nodes.add(id(child))
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    enclosing[id(child)] = node
                elif id(node) in enclosing:
                    enclosing[id(child)] = enclosing[id(node)]
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr in _GLOBALS_ATTRS:
            return True
        if isinstance(node, ast.alias) and stem in node.name.split("."):
            return True  # ``import pkg.this``, ``from pkg import this``: the module object, whose attributes are set
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == stem:
            return True
        if not isinstance(node, ast.Name):
            continue
        if node.id in _MODULE_GETTERS:
            return True
        in_function = id(node) in function_nodes
        parent = parents.get(id(node))
        call = parent if isinstance(parent, ast.Call) and parent.func is node else None
        if node.id in ("exec", "eval"):
            if call is None:
                return True  # handed on: called elsewhere, with any namespace
            if not in_function and len(call.args) < 2 and not call.keywords:
                return True
            continue
        if node.id not in ("globals", "vars", "locals") or (in_function and node.id != "globals"):
            continue
        if call is None:
            return True
        if call.args or call.keywords:
            continue  # vars(obj): an object's attributes (a module object comes from what is counted above)
        user = parents.get(id(call))
        if isinstance(user, ast.Compare) and any(
            c is call and isinstance(op, (ast.In, ast.NotIn)) for op, c in zip(user.ops, user.comparators, strict=True)
        ):
            continue
        if isinstance(user, ast.Subscript) and user.value is call and isinstance(user.ctx, ast.Load):
            continue
        if (
            name is not None
            and isinstance(user, ast.Subscript)
            and user.value is call
            and isinstance(user.ctx, ast.Store)
            and _key_is_not(user.slice, name, enclosing.get(id(user), nodes[0]))
        ):
            continue
        if isinstance(user, ast.Attribute) and user.attr in _MAPPING_READS:
            above = parents.get(id(user))
            if isinstance(above, ast.Call) and above.func is user:
                continue
        if (
            in_function
            and isinstance(user, ast.Call)
            and isinstance(user.func, ast.Name)
            and user.func.id in ("exec", "eval")
            and len(user.args) == 3
            and user.args[1] is call
            and not _namespace_call(user.args[2], module_level=False)
        ):
            continue  # exec(code, globals(), locals()) in a function: the code binds in the locals mapping
        return True
    return False


def _key_is_not(key: ast.expr, name: str, scope: ast.AST | None) -> bool:
    """Can the string ``key`` evaluates to not be ``name``? A constant other than it, a string built after a
    constant start that ``name`` does not begin with (``"Test" + kind``, ``f"Test{kind}"``), or a variable of
    ``scope`` (the key's function, or the module) bound only to such there, in a scope that reads no variables
    by name and declares it neither ``global`` nor ``nonlocal``."""
    if isinstance(key, ast.Constant):
        return isinstance(key.value, str) and key.value != name
    if isinstance(key, (ast.BinOp, ast.JoinedStr)):
        start = _leading_constant(key)
        return bool(start) and not name.startswith(start)
    if isinstance(key, ast.Name) and isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        bindings = _scope_bindings(scope.body, _all_args(scope.args))
    elif isinstance(key, ast.Name) and isinstance(scope, ast.Module):
        bindings = _scope_bindings(scope.body, [])
    else:
        return False
    if bindings.reads_frame or key.id in bindings.declared or key.id in bindings.nested:
        return False
    sites = bindings.sites.get(key.id, [])
    return bool(sites) and all(
        isinstance(value, (ast.Constant, ast.BinOp, ast.JoinedStr)) and _key_is_not(value, name, None)
        for value in sites
    )


_GETMEMBERS = frozenset({"inspect.getmembers", "inspect.getmembers_static"})


def _names_only_members(nodes: list[ast.AST]) -> set[int]:
    """id() of the calls iterated by a loop or comprehension whose target is a pair ``name, value`` with ``value``
    a variable the loop never reads (``{n for c in mro for n, _ in getmembers(c)}``: lark's ``_apply_v_args``)."""
    out: set[int] = set()
    for node in nodes:
        loops: list[tuple[ast.expr, ast.expr, list[ast.AST]]] = []
        if isinstance(node, (ast.For, ast.AsyncFor)):
            loops.append((node.target, node.iter, [*node.body, *node.orelse]))
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            # what may read the value: the element, every condition, and the iterables of the other generators
            body: list[ast.AST] = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            body += [part for g in node.generators for part in (g.iter, *g.ifs)]
            loops.extend((g.target, g.iter, body) for g in node.generators)
        for target, iterated, body in loops:
            if not (
                isinstance(iterated, ast.Call)
                and isinstance(target, ast.Tuple)
                and len(target.elts) == 2
                and isinstance(target.elts[1], ast.Name)
            ):
                continue
            dropped = target.elts[1].id
            if not any(
                isinstance(n, ast.Name) and n.id == dropped and isinstance(n.ctx, ast.Load)
                for part in body
                for n in ast.walk(part)
            ):
                out.add(id(iterated))
    return out


def _import_only_names(nodes: list[ast.AST]) -> frozenset[str]:
    """The names that import statements bind in the file and nothing else binds (no assignment, ``del``,
    definition, parameter, ``except``/``match`` capture of that name)."""
    imported: set[str] = set()
    other: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.alias):
            imported.add((node.asname or node.name).partition(".")[0])
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            other.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            other.add(node.name)
        elif isinstance(node, ast.arg):
            other.add(node.arg)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            other.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            other.add(node.rest)
    return frozenset(imported - other)


def _namespace_call(node: ast.AST, *, module_level: bool) -> bool:
    """``globals()`` (or ``vars()``/``locals()`` at module level: the same mapping)."""
    names = ("globals", "vars", "locals") if module_level else ("globals",)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names and not node.args


def _loop_strings(function: _FunctionNode, params: set[str]) -> dict[str, tuple[str, ...]]:
    """The variables of ``function`` whose every binding, anywhere in its body (nested scopes included), is the
    target of a ``for`` loop over a literal tuple, list or set of strings: name -> the strings."""
    found: dict[str, list[str]] = {}
    other: set[str] = set(params)
    loop_targets: set[int] = set()
    stored: list[ast.Name] = []  # every Name assigned, deleted, a with/walrus/comprehension target, augmented
    for node in ast_nodes.walk(function):
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                stored.append(node)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            for target, strings in _loop_places(node):
                if all(v is not None for v in strings):
                    loop_targets.add(id(target))
                    found.setdefault(target.id, []).extend(v for v in strings if v is not None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            # ``attr = 'prv' if reverse else 'nxt'`` (bidict's linked list): one of those strings, as a loop's.
            choices = _string_choices(node.value)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if choices is not None:
                for bound in targets:
                    if isinstance(bound, ast.Name):
                        loop_targets.add(id(bound))
                        found.setdefault(bound.id, []).extend(choices)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            other.update(node.names)
        elif isinstance(node, ast.arg):
            other.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            other.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            other.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            other.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            other.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            other.add(node.rest)
    other.update(node.id for node in stored if id(node) not in loop_targets)
    return {name: tuple(dict.fromkeys(values)) for name, values in found.items() if name not in other}


def _string_choices(node: ast.expr) -> list[str] | None:
    """The strings an expression made only of string constants and conditional expressions choosing between them
    (``'prv' if reverse else 'nxt'``) may give (its tests may run code, but its value is one of those); else None."""
    if isinstance(node, ast.IfExp):
        body, orelse = _string_choices(node.body), _string_choices(node.orelse)
        return None if body is None or orelse is None else [*body, *orelse]
    text = _constant_str(node)
    return None if text is None else [text]


def _loop_places(loop: ast.For | ast.AsyncFor) -> list[tuple[ast.Name, list[str | None]]]:
    """The names a ``for`` loop over a literal tuple, list or set binds, each with the constants it takes (None
    for one that is no string): ``for name in ("a", "b")``, and ``for suffix, attr in (("x", "name"), ("y",
    "expr"))`` — each name of an unpacking target takes the items at its place of literal tuples of that length
    (any other item, a starred target: its names take anything)."""
    items = loop.iter.elts if isinstance(loop.iter, (ast.Tuple, ast.List, ast.Set)) else None
    if isinstance(loop.target, ast.Name):
        return [(loop.target, [_constant_str(e) for e in items] if items is not None else [None])]
    if not isinstance(loop.target, (ast.Tuple, ast.List)):
        return []
    names = loop.target.elts
    rows: list[list[ast.expr] | None] = (
        [e.elts if isinstance(e, (ast.Tuple, ast.List)) and len(e.elts) == len(names) else None for e in items]
        if items is not None
        else [None]
    )
    return [
        (name, [_constant_str(row[i]) if row is not None else None for row in rows])
        for i, name in enumerate(names)
        if isinstance(name, ast.Name)
    ]


def _constant_args(function: _FunctionNode) -> dict[int, dict[str, tuple[str, ...]]]:
    """For each undecorated function defined directly in ``function``'s body that the body (nested scopes
    included) only calls, never hands out, rebinds or calls with ``*``/``**`` (simplejson's ``call_method(obj,
    'for_json')`` in ``_make_iterencode``): its parameters that every call gives a string literal (or leaves to a
    string default) and its body never rebinds -> those strings."""
    nested = {
        id(stmt): stmt
        for stmt in function.body
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and not stmt.decorator_list
    }
    if not nested:
        return {}
    names = {stmt.name for stmt in nested.values()}
    if len(names) < len(nested):
        return {}  # one name defined twice: which one a call runs depends on the order
    calls: dict[str, list[ast.Call]] = {name: [] for name in names}
    callees: set[int] = set()
    for node in ast_nodes.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in calls:
            calls[node.func.id].append(node)
            callees.add(id(node.func))
    for node in ast_nodes.walk(function):
        if isinstance(node, ast.Name) and node.id in calls and id(node) not in callees:
            del calls[node.id]  # handed out, rebound or deleted: called with anything
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for name in node.names:
                calls.pop(name, None)
    out: dict[int, dict[str, tuple[str, ...]]] = {}
    for key, stmt in nested.items():
        sites = calls.get(stmt.name)
        if not sites or any(
            any(isinstance(a, ast.Starred) for a in c.args) or any(k.arg is None for k in c.keywords) for c in sites
        ):
            continue
        args = stmt.args
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults) :], args.defaults))
        defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None)
        stored = {n.id for n in ast_nodes.walk(stmt) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        found: dict[str, tuple[str, ...]] = {}
        for i, param in enumerate([*positional, *args.kwonlyargs]):
            if param.arg in stored:
                continue
            values: list[str | None] = []
            for call in sites:
                keyword = next((k.value for k in call.keywords if k.arg == param.arg), None)
                given = call.args[i] if i < len(positional) and i < len(call.args) else keyword
                if given is None:
                    given = defaults.get(param.arg)
                values.append(_constant_str(given) if given is not None else None)
            if all(v is not None for v in values):
                found[param.arg] = tuple(dict.fromkeys(v for v in values if v is not None))
        if found:
            out[key] = found
    return out


# What may make the name ``__doc__`` as a value: the string itself, a name built around a computed part ("__%s__",
# f"__{name}__"), the standard library's list of what ``functools.wraps`` copies.
_DOC_NAMING = ("__doc__", "__%", "%s__", "__{", "}__")


def names_doc(text: str, tree: ast.Module) -> bool:
    """May the file make ``__doc__`` as a *value* — an attribute name that a ``getattr(x, name)`` with a
    computed name then reads? A string constant holding it or a name built around a computed part
    (``"__%s__" % part``, ``f"__{part}__"``), or ``functools.WRAPPER_ASSIGNMENTS``; not ``x.__doc__`` nor
    ``__doc__ = "..."`` (an attribute read, a binding: :mod:`trellis.ci.selection.source_readers` counts those),
    nor the constant name of the builtins' ``getattr(x, "__doc__", None)`` (toolz's ``curry``: a read of that
    one attribute, which the call consumes — no other code gets the string)."""
    if "__" not in text and "WRAPPER_ASSIGNMENTS" not in text:
        return False

    def around(part: ast.expr) -> bool:  # "__" + name, f"__{name}__": a part of a built name
        return (
            isinstance(part, ast.Constant) and isinstance(part.value, str) and "__" in (part.value[:2], part.value[-2:])
        )

    named = _attribute_name_arguments(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in named and any(part in node.value for part in _DOC_NAMING):
                return True
        elif isinstance(node, ast.JoinedStr) and any(map(around, node.values)):
            return True
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and (around(node.left) or around(node.right)):
            return True
        elif "WRAPPER_ASSIGNMENTS" in (getattr(node, "id", ""), getattr(node, "attr", ""), getattr(node, "name", "")):
            return True
    return False


def _state_writers(tree: ast.Module) -> tuple[str, ...]:
    """The local qualnames of the module's functions and of its classes' methods (at any depth of classes) whose
    code, nested functions included, stores into state that outlives the call: a ``global`` name (a
    ``nonlocal`` one not of the function's own), or an attribute or item of a name that is not the function's own (``Other.attr = v``, ``pp.X.y = v``,
    ``CACHE[k] = v``, ``del mod.x``; not ``self.attr`` nor a local's). Stores only: a mutation by a method call
    (``CACHE.append(v)``) is not counted."""
    out: list[str] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                visit(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and _stores_outside(stmt):
                out.append(f"{prefix}{stmt.name}")

    visit(tree.body, "")
    return tuple(out)


def _stores_outside(function: _FunctionNode) -> bool:
    """Does ``function`` (with its nested functions) store into a name or object that is not its own: a name
    a ``global`` statement names (a ``nonlocal`` one that the function does not bind), or an attribute or item of a
    name that neither its own code binds nor is a parameter (a nested function's: a callback's argument, as
    ``self`` is the method's)? A nested function's other locals count as not its own: more writers, never fewer."""
    own = set(_scope_bindings(function.body, _all_args(function.args)).sites)
    own.update(node.arg for node in ast_nodes.walk(function) if isinstance(node, ast.arg))
    for node in ast_nodes.walk(function):
        if isinstance(node, ast.Global) or isinstance(node, ast.Nonlocal) and not own.issuperset(node.names):
            return True
        if isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            root = node.value
            while isinstance(root, (ast.Attribute, ast.Subscript, ast.Call)):
                root = root.func if isinstance(root, ast.Call) else root.value
            if not isinstance(root, ast.Name) or root.id not in own:
                return True
    return False


def _parametrize_names(node: ast.expr | None) -> list[str]:
    """The parameter names ``parametrize`` spells (``"a, b"``, ``("a", "b")``); [] when they are not constants."""
    text = _constant_str(node) if node is not None else None
    if text is not None:
        return [name.strip() for name in text.split(",") if name.strip()]
    if isinstance(node, (ast.Tuple, ast.List)):
        names = [_constant_str(e) for e in node.elts]
        return [n for n in names if n is not None] if all(names) else []
    return []


def _only_names(target: ast.AST) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_only_names(t) for t in target.elts)
    if isinstance(target, ast.Starred):
        return _only_names(target.value)
    return False


def _bound_names(stmt: ast.stmt, *, docstring: bool) -> tuple[str, ...]:
    """The module names a top-level statement binds (at any depth of a compound statement)."""
    frame = _Frame("module", "")
    _bind_block([stmt], frame, "")
    names = set(frame.bound) - {"*"}
    if (
        docstring
        and isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    ):
        names.add("__doc__")
    return tuple(sorted(names))


class _Docstring(Protocol):
    value: str  # an ast.Constant holding a str


def _docstring_node(node: ast.AST) -> _Docstring | None:
    body = getattr(node, "body", None)
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return cast(_Docstring, body[0].value)  # ast.Constant types its value as any constant's: a str here
    return None


def _all_args(args: ast.arguments) -> list[ast.arg]:
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg is not None:
        out.append(args.vararg)
    if args.kwarg is not None:
        out.append(args.kwarg)
    return out


def _is_super_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _leading_constant(node: ast.AST) -> str:
    """The constant text a string expression starts with (``f".{x}"`` -> ``"."``)."""
    if isinstance(node, ast.JoinedStr) and node.values:
        return _constant_str(node.values[0]) or ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _leading_constant(node.left)
    return _constant_str(node) or ""


FUNCTION_MAKERS = frozenset({"types.FunctionType", "types.LambdaType"})


def _copies_function(call: ast.Call) -> bool:
    """``FunctionType(f.__code__, f.__globals__, name, argdefs, closure)``: a copy of the function ``f`` (boltons'
    ``copy_function``). The code object is one a function already holds, so calling the copy runs code of the tree
    that whoever handed ``f`` over referenced; with ``f``'s own globals its names resolve where ``f``'s do, and with
    its own closure (or none: a function without free names) so do its free names. ``f`` is a name (a parameter, a
    local): one object read twice. Any other code object (``compile``, ``CodeType``, ``__code__.replace``), namespace
    or closure may run anything."""
    if len(call.args) > 5 or any(k.arg is None for k in call.keywords):
        return False
    args: dict[str, ast.expr] = dict(zip(("code", "globals", "name", "argdefs", "closure"), call.args, strict=False))
    args.update((k.arg, k.value) for k in call.keywords if k.arg is not None)
    code, namespace = args.get("code"), args.get("globals")

    def of(node: ast.expr | None, attr: str) -> str | None:
        """The name whose ``attr`` ``node`` reads (``f.__code__``, ``getattr(f, "__closure__", None)``)."""
        if isinstance(node, ast.Attribute) and node.attr == attr and isinstance(node.value, ast.Name):
            return node.value.id
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) in (2, 3)
            and not node.keywords
            and isinstance(node.args[0], ast.Name)
            and _constant_str(node.args[1]) == attr
            and (len(node.args) == 2 or (isinstance(node.args[2], ast.Constant) and node.args[2].value is None))
        ):
            return node.args[0].id
        return None

    owner = of(code, "__code__")
    if owner is None or of(namespace, "__globals__") != owner:
        return False
    closure = args.get("closure")
    return (
        closure is None
        or (isinstance(closure, ast.Constant) and closure.value is None)
        or of(closure, "__closure__") == owner
    )


def _constant_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _string_constants(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        value = _constant_str(child)
        if value is not None and all(_IDENTIFIER.fullmatch(p) for p in value.split(".")):
            yield value


def _assigns_name(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return isinstance(stmt.target, ast.Name) and stmt.target.id == name
    return False


def _assigns_false(stmt: ast.stmt, name: str) -> bool:
    if not _assigns_name(stmt, name):
        return False
    value = getattr(stmt, "value", None)
    return isinstance(value, ast.Constant) and value.value is False


def _computed_read(node: ast.AST) -> bool:
    """Might this be ``getattr(o, name)`` with a name that is not a constant (before resolving the callee)?"""
    if not isinstance(node, ast.Call) or len(node.args) < 2 or _constant_str(node.args[1]) is not None:
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "getattr") or (
        isinstance(func, ast.Attribute) and func.attr in ("getattr", "getattr_static")
    )


_NAMESPACE_WORDS = re.compile(r"__dict__|__globals__|f_globals|\bvars\(")
_DICT_VALUES = frozenset({"get", "items", "values"})


def _namespace_read(node: ast.AST) -> bool:
    """``x.__dict__`` (a module's, a class's, a function's globals' namespace) or ``vars(x)`` of a name."""
    if isinstance(node, ast.Attribute):
        return node.attr in _KEYED_NAMESPACES and isinstance(node.ctx, ast.Load)
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "vars"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Name)
        and not node.keywords
    )


def _compared(space: ast.expr, parents: Mapping[int, ast.AST]) -> bool:
    """Is the namespace ``space`` compared whole (``vars(a) == vars(b)``): its values compared, a docstring's
    text among them?"""
    parent = parents.get(id(space))
    return isinstance(parent, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in parent.ops)


def _quiet_read(
    space: ast.expr,
    parents: Mapping[int, ast.AST],
    stays: Callable[[ast.AST], bool],
    kept: Callable[[str], bool],
) -> bool | None:
    """How a namespace (``space``: ``x.__dict__``, ``vars(x)``) is read, when the reading runs nothing: a dict's (or a
    mappingproxy's) lookup invokes no descriptor and calls nothing of the tree. False: only its keys are used
    (``k in ns``, ``for k in ns``, ``ns.keys()``: strings; ``ns == other``: values compared in place, their
    ``__eq__`` a dunder of their classes); True: values are read that stay put (``ns[k]``,
    ``ns.get(k)``, ``for k, v in ns.items()`` with ``v`` tested, compared or read by name; ``stays``/``kept``: the
    block's :meth:`_Extractor.contained_reads`); None: any other use (a value handed on, called, returned; the
    namespace itself handed to code)."""
    parent = parents.get(id(space))
    if isinstance(parent, ast.Subscript) and parent.value is space and isinstance(parent.ctx, ast.Load):
        return True if stays(parent) else None
    if isinstance(parent, ast.Compare) and space in parent.comparators:
        i = parent.comparators.index(space)
        if isinstance(parent.ops[i], (ast.Eq, ast.NotEq)) and len(parent.ops) == 1:
            # vars(a) == vars(b): the values compared stay put, and comparing runs their __eq__, a dunder reached
            # with their classes (as for any value the reach holds): no value is handed out, no class either
            return False
        return False if isinstance(parent.ops[i], (ast.In, ast.NotIn)) else None
    if isinstance(parent, ast.Compare) and parent.left is space and len(parent.ops) == 1:
        return False if isinstance(parent.ops[0], (ast.Eq, ast.NotEq)) else None
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and parent.iter is space:
        return False
    if not isinstance(parent, ast.Attribute) or parent.attr not in {*_DICT_VALUES, "keys"}:
        return None
    call = parents.get(id(parent))
    if not isinstance(call, ast.Call) or call.func is not parent or call.keywords:
        return None
    if parent.attr == "keys":
        return False
    if parent.attr == "get":
        return True if 1 <= len(call.args) <= 2 and stays(call) else None
    loop = parents.get(id(call))
    if call.args or not isinstance(loop, (ast.For, ast.AsyncFor)) or loop.iter is not call:
        return None
    target = loop.target
    if parent.attr == "items" and isinstance(target, ast.Tuple) and len(target.elts) == 2:
        target = target.elts[1]
    elif parent.attr != "values":
        return None
    return True if isinstance(target, ast.Name) and kept(target.id) else None


def _read_blocks(tree: ast.Module) -> set[int]:
    """id() of the module and the functions whose own code (nested scopes excluded) may read an attribute
    under a computed name: the blocks :meth:`_Extractor.contained_reads` has something to classify in."""
    found: set[int] = set()
    stack: list[tuple[ast.AST, int]] = [(tree, id(tree))]
    while stack:
        node, block = stack.pop()
        if _computed_read(node) or _namespace_read(node):
            found.add(block)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stack.append((child, id(child)))
            elif isinstance(child, (ast.Lambda, ast.ClassDef)):
                stack.append((child, 0))  # never classified: every read there stays "any"
            else:
                stack.append((child, block))
    return found


def _binds(nodes: Iterable[ast.AST], name: str) -> bool:
    """Does code of ``nodes`` bind or delete ``name`` (an assignment, a loop's or a ``with``'s target, ``except ...
    as``, a pattern's capture, an import)?"""
    for node in nodes:
        for inner in ast.walk(node):
            if isinstance(inner, ast.Name) and inner.id == name and not isinstance(inner.ctx, ast.Load):
                return True
            if isinstance(inner, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and inner.name == name:
                return True
            if isinstance(inner, ast.MatchMapping) and inner.rest == name:
                return True
            if isinstance(inner, ast.alias) and (inner.asname or inner.name.partition(".")[0]) == name:
                return True
    return False


_ANY_MODULE = ImportRef(0, "*")
_NAMED_BY_REFERENCE = ("__module__", "__qualname__")


def _reconstructors(tree: ast.Module, nodes: list[ast.AST], bindings: Counter[str]) -> set[str]:
    """The module's private functions that only copying or unpickling calls: each is named nowhere in the file but
    as the callable a ``__reduce__``/``__reduce_ex__`` returns (``return _restore, state``), no string names it,
    one statement binds it, and that method names objects as pickle does by reference (it reads ``__module__``
    and ``__qualname__``: toolz's ``curry.__reduce__`` -> ``_restore_curry``)."""
    allowed: set[int] = set()
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        for method in node.body:
            if not isinstance(method, ast.FunctionDef) or method.name not in ("__reduce__", "__reduce_ex__"):
                continue
            read = {n.attr for n in ast.walk(method) if isinstance(n, ast.Attribute)} | {
                text for n in ast.walk(method) if (text := _constant_str(n)) is not None
            }
            if not read.issuperset(_NAMED_BY_REFERENCE):
                continue
            for value in _returns(method.body):
                if isinstance(value, ast.Tuple) and value.elts and isinstance(value.elts[0], ast.Name):
                    allowed.add(id(value.elts[0]))
    if not allowed:
        return set()
    names = {
        stmt.name
        for stmt in tree.body
        if isinstance(stmt, ast.FunctionDef) and stmt.name.startswith("_") and bindings[stmt.name] == 1
    }
    for node in nodes:
        if isinstance(node, ast.Name) and node.id in names and id(node) not in allowed:
            names.discard(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = {name for name in names if name not in node.value}
    return {name for name in names if any(isinstance(n, ast.Name) and n.id == name for n in nodes)}


def _literal(node: ast.AST) -> bool:
    """A constant, or a tuple, list or set display of constants: builtin values with builtin dunders."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(_literal(e) for e in node.elts)


def _returned_definitions(
    function: _FunctionNode, qualname: str, call_name: Callable[[ast.AST], str]
) -> tuple[str, ...]:
    """:attr:`Scope.results`: the functions ``function`` defines in its own body — undecorated or under inert
    decorators, bound by that ``def`` alone (no other binding, no ``global``/``nonlocal`` naming them, no read of
    the frame by name) — whose name its code reads only to return it (``return wrapper``) or to store an attribute
    on it (``wrapper.calls = 0``); at least one ``return`` gives it back. What runs where they are defined
    (decorators, defaults, annotations, a class body) counts as a read. Local qualnames."""
    bindings = _scope_bindings(function.body, _all_args(function.args))
    if bindings.reads_frame:
        return ()
    defined: dict[str, _FunctionNode] = {}
    returned: set[str] = set()
    other: set[str] = set()  # names read (or bound) otherwise
    declared: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # its decorators, defaults and annotations run here; its body where it is called
            defined.setdefault(node.name, node)
            stack.extend(node.decorator_list)
            stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None)
            stack.extend(a.annotation for a in _all_args(node.args) if a.annotation is not None)
            if node.returns is not None:
                stack.append(node.returns)
            continue
        if isinstance(node, ast.ClassDef):  # its body runs here, and its methods' references count as reads
            other.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            continue
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            returned.add(node.value.id)
            continue
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and isinstance(node.value, ast.Name)
        ):
            continue  # an attribute stored on it: runs nothing of a plain function
        if isinstance(node, ast.Name):
            other.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    out: list[str] = []
    for name, node in defined.items():
        if name not in returned or name in other or name in declared or len(bindings.sites.get(name, ())) != 1:
            continue
        if all(inert_decorator(call_name(d.func if isinstance(d, ast.Call) else d)) for d in node.decorator_list):
            out.append(f"{qualname}.{name}")
    return tuple(sorted(out))


def _returns(body: list[ast.stmt]) -> Iterator[ast.expr]:
    """The values a function body returns (nested definitions' excluded)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Return) and node.value is not None:
            yield node.value
        stack.extend(ast.iter_child_nodes(node))


def _annotation_strings(annotation: ast.expr) -> list[ast.expr]:
    """The expressions the string constants of an annotation spell (``"Inner"``, ``list["Inner"]``)."""
    out: list[ast.expr] = []
    for node in ast.walk(annotation):
        value = _constant_str(node)
        if value is None or len(value) > 500:
            continue
        try:
            out.append(ast.parse(value.strip(), mode="eval").body)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return out


def _call_args(call: ast.Call) -> list[ast.expr]:
    return [*call.args, *(k.value for k in call.keywords)]


def _names_only(node: ast.expr) -> bool:
    """Is ``node`` a constant, a dotted name, or a tuple, list, set or dict display of those (``TYPES``,
    ``st.BIDICTS``, ``[(1, "a"), (2, "b")]``): evaluating it reads names, and runs no code of its own?"""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(map(_names_only, node.elts))
    if isinstance(node, ast.Dict):
        return all(k is not None and _names_only(k) for k in node.keys) and all(map(_names_only, node.values))
    return isinstance(node, ast.Constant) or _dotted(node) is not None


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def _hash(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()
