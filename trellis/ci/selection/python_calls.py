"""What well-known calls and decorators mean for reachability (tables for :mod:`trellis.ci.selection.python_refs`).

Names are dotted as the file's imports spell them out: ``sp.run`` after
``import subprocess as sp`` is ``subprocess.run``.
"""

from __future__ import annotations

import _compat_pickle
import ast
import pickletools
import posixpath
import re
import sys
from dataclasses import dataclass

__all__ = [
    "ANY_ATTR_CALLS",
    "CONSTANT_LOADS",
    "DOCTEST_RUNS",
    "ENTRY_POINT_CALLS",
    "IMPORT_CALLS",
    "METADATA_READERS",
    "NAMESPACE_ATTRS",
    "NAMESPACE_CALLS",
    "OBSERVED_IMPORT_CALLS",
    "OBSERVED_LOADS",
    "OBSERVED_STARTS",
    "PICKLE_SAFE_GLOBALS",
    "PROCESS_CALLS",
    "PickleReads",
    "REFLECTIVE_CALLS",
    "RESOURCE_CALLS",
    "ROUND_TRIP_DUMPS",
    "ROUND_TRIP_LOADS",
    "SAFE_YAML_LOADERS",
    "STRING_ATTR_METHODS",
    "compat_global",
    "dotted",
    "QUIET_ARGUMENTS",
    "inert_decorator",
    "is_dynamic",
    "pickle_reads",
    "python_target",
    "reads_namespace",
]

_DOTTED_OR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_SCRIPT_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")  # python x/run-it.py

# Decorators that neither register nor hand the function to code that may call it under
# another name: the decorated function is still reached only by references to its name.
_INERT_DECORATORS = frozenset(
    {
        "staticmethod",
        "classmethod",
        "property",
        "abc.abstractmethod",
        "abc.abstractproperty",
        "functools.wraps",
        "functools.lru_cache",
        "functools.cache",
        "functools.cached_property",
        "functools.total_ordering",
        "typing.overload",
        "typing.final",
        "typing.override",
        "typing.runtime_checkable",
        "typing_extensions.override",
        "typing_extensions.final",
        "typing_extensions.overload",
        "typing_extensions.runtime_checkable",
        "dataclasses.dataclass",
        "contextlib.contextmanager",
        "contextlib.asynccontextmanager",
        "enum.unique",
        "unittest.skip",
        "unittest.skipIf",
        "unittest.skipUnless",
        "unittest.expectedFailure",
        # Hypothesis's test decorators keep the test (``settings``, ``example``, ``seed``, ``reproduce_failure``
        # attach attributes to it) or wrap it (``given``: the wrapper calls it when called), calling neither it
        # nor their arguments when they decorate (the strategies run when the test does). Only with arguments
        # that call nothing (``@given(st.BIDICTS)``): see QUIET_ARGUMENTS.
        *(f"hypothesis.{name}" for name in ("given", "settings", "example", "seed", "reproduce_failure")),
    }
)
# Inert decorators whose arguments are module code the analysis keeps whole only when they call nothing: a changed
# ``@given(make_strategy())`` changes what the module runs at import, not only the test (python_refs).
QUIET_ARGUMENTS = frozenset(
    f"hypothesis.{name}" for name in ("given", "settings", "example", "seed", "reproduce_failure")
)
_INERT_DECORATOR_PREFIXES = ("pytest.mark.", "unittest.mock.patch", "mock.patch")
_INERT_DECORATOR_SUFFIXES = (".setter", ".getter", ".deleter")

# Calls after which the analysis cannot know what runs (resolved through the file's imports).
_DYNAMIC_CALLS = frozenset(
    {
        "exec",
        "eval",
        "execfile",
        "importlib.__import__",
        "importlib.reload",
        "pkg_resources.load_entry_point",
        "pkgutil.iter_modules",
        "pkgutil.walk_packages",
        "pkgutil.resolve_name",
        # A function made of a code object runs it (``marshal.load`` and ``compile`` only make code objects, and
        # run none: the code runs where ``exec``/``eval`` — observed — or such a function runs it).
        "types.FunctionType",
        "types.LambdaType",
        "shelve.open",
        "os.posix_spawn",
        "os.posix_spawnp",
        "os.startfile",
        "pty.spawn",
        "pytest.main",
        "unittest.main",
        "code.interact",
        "zipimport.zipimporter",
        # Deserialisers that make objects of any class their data names (like unpickling): a class whose
        # instance comes out of them is named by no reference.
        "yaml.load",
        "yaml.load_all",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
        "jsonpickle.decode",
        "joblib.load",
        "pandas.read_pickle",
        "torch.load",
    }
)
# Loaders with which ``yaml.load`` makes only plain values (no Python objects).
SAFE_YAML_LOADERS = frozenset({"yaml.SafeLoader", "yaml.CSafeLoader", "yaml.BaseLoader", "yaml.CBaseLoader"})
_DYNAMIC_PREFIXES = (
    "runpy.",
    "importlib.util.",
    "importlib.machinery.",
    "pickle.load",
    "pickle.Unpickler",
    "dill.load",
    "cloudpickle.load",
    "os.exec",
    "os.spawn",
)
_HARMLESS = frozenset(
    {
        "importlib.util.find_spec",
        "importlib.machinery.PathFinder.find_spec",  # finds a spec as importlib.util.find_spec does; imports nothing
        # A spec only names a module and its loader; its code runs where a loader's exec_module/load_module is
        # called (any code: python_refs) or module_from_spec makes the module.
        "importlib.util.spec_from_file_location",
        "importlib.util.spec_from_loader",
        "importlib.machinery.ModuleSpec",
        "importlib.util.cache_from_source",
        "importlib.util.source_hash",
        "importlib.machinery.all_suffixes",
        # lists of strings, named without being called
        "importlib.machinery.SOURCE_SUFFIXES",
        "importlib.machinery.BYTECODE_SUFFIXES",
        "importlib.machinery.DEBUG_BYTECODE_SUFFIXES",
        "importlib.machinery.OPTIMIZED_BYTECODE_SUFFIXES",
        "importlib.machinery.EXTENSION_SUFFIXES",
    }
)
# Calls that start a process: dynamic unless the command is a literal naming a well-known tool that
# runs no Python (``git``), or Python running a module / file of the tree (``[sys.executable, "-m", "app"]``).
# Any other program may be one of the project's console scripts.
PROCESS_CALLS = frozenset(
    {
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "os.system",
        "os.popen",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
    }
)
_TOOLS = frozenset(
    {
        "git",
        "hg",
        "svn",
        "ls",
        "cat",
        "echo",
        "printf",
        "true",
        "false",
        "rm",
        "cp",
        "mv",
        "ln",
        "mkdir",
        "rmdir",
        "touch",
        "chmod",
        "chown",
        "tar",
        "gzip",
        "gunzip",
        "zip",
        "unzip",
        "xz",
        "curl",
        "wget",
        "ssh",
        "scp",
        "kill",
        "pkill",
        "sleep",
        "perf",
        "strace",
        "which",
        "uname",
        "id",
        "whoami",
        "hostname",
        "date",
        "diff",
        "patch",
        "grep",
        "sed",
        "awk",
        "find",
        "sort",
        "uniq",
        "head",
        "tail",
        "wc",
        "cut",
        "tr",
        "tee",
        "openssl",
        "gpg",
        "df",
        "du",
        "ps",
        "free",
        "nproc",
        "stat",
        "readlink",
        "realpath",
        "dd",
        "sha256sum",
        "md5sum",
        "file",
        "protoc",
    }
)
IMPORT_CALLS = frozenset({"__import__", "importlib.import_module"})
# What reads installed distributions' metadata: calls (and references) of these modules' functions.
METADATA_READERS = ("importlib.metadata.", "importlib_metadata.", "pkg_resources.")
# Calls that run doctest examples of docstrings found at run time (a module's, and what its ``__test__`` holds):
# examples of any module of the tree, no other code (a module's examples run where ``DocTestSuite``/
# ``--doctest-modules`` make items of them).
DOCTEST_RUNS = frozenset({"doctest.testmod", "doctest.run_docstring_examples"})
# Calls listing installed entry points, whose ``load()`` imports the module an entry point names and returns the
# object it names: the installed project's own are what its packaging declares (ref_graph), others are outside code.
ENTRY_POINT_CALLS = frozenset(
    {"importlib.metadata.entry_points", "importlib_metadata.entry_points", "pkg_resources.iter_entry_points"}
)
# Calls that import the package their first argument names (a resource's anchor) to find its files.
RESOURCE_CALLS = frozenset(
    {
        f"{module}.{name}"
        for module in ("importlib.resources", "importlib_resources")
        for name in ("files", "open_binary", "open_text", "read_binary", "read_text", "path", "contents")
    }
    | {"importlib.resources.is_resource", "importlib_resources.is_resource", "pkgutil.get_data"}
)
# The computed imports and unpickling calls a pytest job records as they run (:mod:`trellis.ci.execution.pytest_plugin`
# wraps the import functions and hears ``pickle.find_class``): a node whose every such call is one of these is bounded
# by what was observed (:mod:`trellis.ci.selection.observed`); any other stays "any module" / "may run any code".
OBSERVED_IMPORT_CALLS = frozenset(
    {"importlib.import_module", "pkgutil.get_data"}
    | {
        f"importlib.resources.{name}"
        for name in ("files", "open_binary", "open_text", "read_binary", "read_text", "path", "contents", "is_resource")
    }
)
OBSERVED_LOADS = frozenset({"pickle.load", "pickle.loads", "_pickle.load", "_pickle.loads"})
# Calls of ``os`` that start a program the job hears (audit events ``os.exec``, ``os.posix_spawn``, ``os.spawn``,
# ``os.startfile``; ``os.spawn*`` on POSIX forks and execs): bounded, as a process of ``PROCESS_CALLS`` whose command
# the analysis cannot read, by what was observed.
OBSERVED_STARTS = frozenset(
    {"os.posix_spawn", "os.posix_spawnp", "os.startfile"}
    | {f"os.exec{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")}
    | {f"os.spawn{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")}
)
# Reflection: a constant attribute name is a reference to that name; a computed one to any.
REFLECTIVE_CALLS = frozenset(
    {
        "getattr",
        "hasattr",
        "setattr",
        "delattr",
        "operator.attrgetter",
        "operator.methodcaller",
        "inspect.getattr_static",
    }
)
# Unpickling bytes that a pickling call made in the same expression (``pickle.loads(pickle.dumps(x))``), or
# in the same function through a variable holding nothing else, runs only what copying ``x`` runs
# (``copy.deepcopy``): the ``__reduce__`` & co of the objects that exist, and the callables they return, which
# those methods reference (or, for a name rebound since, the code that rebound it). Any other unpickling is
# dynamic.
ROUND_TRIP_LOADS = frozenset({"pickle.loads", "_pickle.loads", "cloudpickle.loads", "dill.loads"})
ROUND_TRIP_DUMPS = frozenset({"pickle.dumps", "_pickle.dumps", "cloudpickle.dumps", "dill.dumps"})
# Unpickling constant bytes with the standard unpickler (``find_class`` as ``pickle`` has it): the pickle
# names what it may run (:func:`pickle_reads`).
CONSTANT_LOADS = frozenset({"pickle.loads", "_pickle.loads", "cloudpickle.loads"})
# Globals outside the tree a constant pickle may name: values of builtin types, and ``copyreg``'s and
# ``_codecs``'s reconstructors, which make one only from what the pickle hands them (their class, and the
# dunders of that class: reached with it, named by the pickle too). Anything else outside the tree may run
# anything (``builtins.eval``, ``builtins.getattr``, ``os.system``, a library's function).
PICKLE_SAFE_GLOBALS = frozenset(
    {f"builtins.{name}" for name in ("int", "float", "complex", "bool", "str", "bytes", "bytearray", "tuple")}
    | {f"builtins.{name}" for name in ("list", "dict", "set", "frozenset", "slice", "range", "object")}
    | {"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "_codecs.encode"}
    | {"collections.OrderedDict", "collections.defaultdict", "collections.deque", "decimal.Decimal", "uuid.UUID"}
    | {f"datetime.{name}" for name in ("date", "datetime", "time", "timedelta", "timezone")}
)
NAMESPACE_CALLS = frozenset({"globals", "locals", "vars", "dir"})  # without arguments: this module's names
# Attributes holding a namespace (a module's, a class's, a function's globals, a frame's variables): reading one
# hands out what no reference names. Only writing it (``.update(...)``, ``.clear()``) hands out nothing.
NAMESPACE_ATTRS = frozenset({"__dict__", "__globals__", "f_globals", "f_locals"})


def reads_namespace(attrs: tuple[str, ...]) -> bool:
    """Does the attribute chain ``attrs`` read a namespace (:data:`NAMESPACE_ATTRS`) other than to write it?"""
    return any(attr in NAMESPACE_ATTRS and not writes_namespace(attrs, i) for i, attr in enumerate(attrs))


def writes_namespace(attrs: tuple[str, ...], position: int) -> bool:
    """Is ``attrs[position]`` a namespace only written (``x.__dict__.update(...)``, ``.clear()``) or asked for its
    keys (``.keys()``, which are strings: glom's ``hasattr(C.__dict__, "keys")``), handing out nothing?"""
    return attrs[position] in NAMESPACE_ATTRS and attrs[position + 1 : position + 2] in (
        ("update",),
        ("clear",),
        ("keys",),
    )


# (``gc`` hands out every object the interpreter holds: any class among them.)
ANY_ATTR_CALLS = frozenset(
    {"globals", "vars", "locals", "dir", "inspect.getmembers", "inspect.getmembers_static"}
    | {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}
)
# Call arguments named by a string in these calls' last attribute (patch.object(obj, "name"),
# monkeypatch.setattr(obj, "name", ...)) are attribute references too.
STRING_ATTR_METHODS = frozenset({"object", "setattr", "delattr", "getattr", "hasattr", "setitem"})


@dataclass(frozen=True, slots=True)
class PickleReads:
    """What unpickling one constant pickle may run besides the dunders of the classes it makes.

    ``globals``: the globals it looks up and may call (``module.qualname``), outside :data:`PICKLE_SAFE_GLOBALS`;
    ``modules``: their modules, which the load imports; ``methods``: methods it calls by name (``add`` and
    ``update`` for ADDITEMS; ``append`` and ``extend``, which APPENDS calls, are protocol methods already).
    """

    globals: tuple[str, ...]
    modules: tuple[str, ...]
    methods: tuple[str, ...]


_MARK = object()  # a MARK on the stack
_ANY = object()  # a value the reading does not follow
_STRING_PUSHES = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
)
_UNBOUNDED = frozenset({"PERSID", "BINPERSID", "EXT1", "EXT2", "EXT4"})  # persistent ids, the extension registry


def pickle_reads(data: bytes) -> PickleReads | None:
    """What ``pickle.loads(data)`` may run, read with :mod:`pickletools` without loading: None when it cannot be
    bounded (it does not read as a pickle, uses persistent ids or the extension registry, or builds a global's
    name from anything but strings it pushes).

    The unpickler runs only the globals it names (GLOBAL and INST: module and name; STACK_GLOBAL: the two
    strings on the stack, pushed or fetched from the memo) and, on what they return, construction (REDUCE,
    NEWOBJ, OBJ, INST: the callable with arguments), ``__setstate__`` or ``__setattr__`` (BUILD),
    ``__setitem__`` (SETITEM), ``extend``/``append`` (APPENDS) and ``add`` (ADDITEMS). A stack of strings and
    unknown values follows the strings; every other opcode pops and pushes what :mod:`pickletools` says it does.
    """
    stack: list[object] = []
    memo: dict[object, object] = {}
    proto = 0
    named: list[tuple[str, str, int]] = []
    methods: set[str] = set()
    try:
        for opcode, arg, _ in pickletools.genops(data):
            name = opcode.name
            if name in _UNBOUNDED:
                return None
            if name == "PROTO":
                proto = arg if isinstance(arg, int) else 0
            elif name in _STRING_PUSHES:
                stack.append(arg if isinstance(arg, str) else _ANY)
            elif name == "MEMOIZE":
                if not stack:
                    return None
                memo[len(memo)] = stack[-1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if not stack:
                    return None
                memo[arg] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, _ANY))
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                named.append((module, qualname, proto))
                if name == "INST":
                    while stack and stack[-1] is not _MARK:
                        stack.pop()
                    if not stack:
                        return None
                    stack.pop()
                stack.append(_ANY)
            elif name == "STACK_GLOBAL":
                if len(stack) < 2:
                    return None
                pushed_name, pushed_module = stack.pop(), stack.pop()
                if not (isinstance(pushed_module, str) and isinstance(pushed_name, str)):
                    return None
                named.append((pushed_module, pushed_name, proto))
                stack.append(_ANY)
            else:
                if name == "ADDITEMS":
                    methods.update(("add", "update"))
                before = opcode.stack_before
                if pickletools.markobject in before:
                    while stack and stack[-1] is not _MARK:
                        stack.pop()
                    if not stack:
                        return None
                    stack.pop()
                    count = before.index(pickletools.markobject)
                elif name == "POP" and stack and stack[-1] is _MARK:
                    count = 1
                else:
                    count = len(before)
                if count > len(stack):
                    return None
                del stack[len(stack) - count :]
                stack.extend(_MARK if item is pickletools.markobject else _ANY for item in opcode.stack_after)
    except (ValueError, TypeError, KeyError, IndexError, EOFError, UnicodeDecodeError):
        return None
    found: dict[str, None] = {}
    modules: dict[str, None] = {}
    for module, qualname, at in named:
        if at < 3:  # ``fix_imports``: Python 2 names (``__builtin__``, ``copy_reg``) as Python 3 has them
            module, qualname = compat_global(module, qualname)
        dotted = f"{module}.{qualname}"
        if dotted in PICKLE_SAFE_GLOBALS:
            continue
        if not (_DOTTED_OR_NAME.fullmatch(module) and _DOTTED_OR_NAME.fullmatch(qualname)):
            return None  # a name no module of the tree can bind (``<locals>``): the load fails, or runs elsewhere
        if module.split(".")[0] in sys.stdlib_module_names or module == "__main__":
            return None  # the interpreter's own module, whatever file of the tree has its name
        found[dotted] = None
        modules[module] = None
    return PickleReads(tuple(found), tuple(modules), tuple(sorted(methods)))


def compat_global(module: str, qualname: str) -> tuple[str, str]:
    """A global as unpickling finds it: Python 2 names (``__builtin__``, ``copy_reg``) as Python 3 has them (an
    unpickler maps them for pickles of protocol < 3, and ``pickle.find_class`` hears them before)."""
    if (module, qualname) in _compat_pickle.NAME_MAPPING:
        found: tuple[str, str] = _compat_pickle.NAME_MAPPING[(module, qualname)]
        return found
    return _compat_pickle.IMPORT_MAPPING.get(module, module), qualname


def inert_decorator(name: str) -> bool:
    """Is a decorator known to neither register the function nor hand it to other code?"""
    return (
        name in _INERT_DECORATORS
        or name.startswith(_INERT_DECORATOR_PREFIXES)
        or name.endswith(_INERT_DECORATOR_SUFFIXES)
    )


def is_dynamic(name: str) -> bool:
    """Does calling ``name`` run code the analysis cannot see (a computed import, ``exec``, unpickling)?"""
    return name in _DYNAMIC_CALLS or (name.startswith(_DYNAMIC_PREFIXES) and name not in _HARMLESS)


def python_target(words: list[str | None]) -> str | None:
    """The module of the tree a command runs: "" when it runs no Python, None when it cannot be known.

    ``words`` is the command line, None for a word that is not a constant.
    """
    if not words or words[0] is None:
        return None
    program = posixpath.basename(words[0])
    if program.endswith(".py"):
        return _module_of_path(words[0])
    if program in _TOOLS:
        return ""
    if not re.fullmatch(r"(python|pypy)[0-9.]*", program):
        return None
    for i, word in enumerate(words[1:], start=1):
        if word == "-c":
            code = words[i + 1] if i + 1 < len(words) else None
            return "" if code is not None and _standard_only(code) else None
        if word is None:
            return None
        if word == "-m":
            target = words[i + 1] if i + 1 < len(words) else None
            return target if target and _DOTTED_OR_NAME.fullmatch(target) else None
        if word.endswith(".py"):
            return _module_of_path(word)
        if word.startswith("-"):
            continue
        return None
    return None


def _standard_only(code: str) -> bool:
    """Does ``python -c code`` run only the standard library: it parses, imports only standard modules by
    name, and calls nothing that imports, evaluates, unpickles or starts a process (``import platform;
    print(platform.mac_ver()[0])``)? A tree module shadowing a standard one is not considered."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in sys.stdlib_module_names:
                    return False
                if alias.asname:
                    aliases[alias.asname] = alias.name  # import a.b as c: c is a.b
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]  # import a.b binds a
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] not in sys.stdlib_module_names:
                return False
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in ("exec", "eval", "compile", "__import__", "breakpoint"):
            return False
        if isinstance(node, ast.Attribute) or (isinstance(node, ast.Name) and node.id in aliases):
            parts: list[str] = []
            base: ast.AST = node
            while isinstance(base, ast.Attribute):
                parts.append(base.attr)
                base = base.value
            if not isinstance(base, ast.Name):
                continue
            name = ".".join([aliases.get(base.id, base.id), *reversed(parts)])
            if is_dynamic(name) or name in PROCESS_CALLS or name in IMPORT_CALLS:
                return False
    return True


def _module_of_path(path: str) -> str | None:
    """The file ``python path`` runs, as the dotted key of its path under the tree (``examples.c-to-c``). A
    script's name need not be a module name (``c-to-c.py``): Python runs the file, and the graph finds it by
    its path; a part holding a dot or a space cannot be told from the dots, so it stays unknown."""
    clean = posixpath.normpath(path).removeprefix("./")
    if clean.startswith(("/", "..")):
        return None
    dotted = clean[:-3].replace("/", ".")
    return dotted if _SCRIPT_PATH.fullmatch(dotted) else None


def dotted(node: ast.AST) -> list[str] | None:
    """The names of a dotted reference (``a.b.c`` -> ``["a", "b", "c"]``); None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts
