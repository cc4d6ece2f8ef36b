"""What well-known calls and decorators mean for reachability (tables for :mod:`trellis.ci.selection.python_refs`).

Names are dotted as the file's imports spell them out: ``sp.run`` after
``import subprocess as sp`` is ``subprocess.run``.
"""

from __future__ import annotations

import posixpath
import re

__all__ = [
    "ANY_ATTR_CALLS",
    "IMPORT_CALLS",
    "NAMESPACE_CALLS",
    "PROCESS_CALLS",
    "REFLECTIVE_CALLS",
    "ROUND_TRIP_DUMPS",
    "ROUND_TRIP_LOADS",
    "SAFE_YAML_LOADERS",
    "STRING_ATTR_METHODS",
    "inert_decorator",
    "is_dynamic",
    "python_target",
]

_DOTTED_OR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

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
    }
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
        "importlib.metadata.entry_points",
        "pkg_resources.iter_entry_points",
        "pkg_resources.load_entry_point",
        "pkgutil.iter_modules",
        "pkgutil.walk_packages",
        "pkgutil.resolve_name",
        "marshal.load",
        "marshal.loads",
        "shelve.open",
        "os.posix_spawn",
        "os.posix_spawnp",
        "os.startfile",
        "pty.spawn",
        "pytest.main",
        "unittest.main",
        "doctest.testmod",
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
        "importlib.util.cache_from_source",
        "importlib.util.source_hash",
        "importlib.machinery.all_suffixes",
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
NAMESPACE_CALLS = frozenset({"globals", "locals", "vars", "dir"})  # without arguments: this module's names
# (``gc`` hands out every object the interpreter holds: any class among them.)
ANY_ATTR_CALLS = frozenset(
    {"globals", "vars", "locals", "dir", "inspect.getmembers", "inspect.getmembers_static"}
    | {"gc.get_objects", "gc.get_referrers", "gc.get_referents"}
)
# Call arguments named by a string in these calls' last attribute (patch.object(obj, "name"),
# monkeypatch.setattr(obj, "name", ...)) are attribute references too.
STRING_ATTR_METHODS = frozenset({"object", "setattr", "delattr", "getattr", "hasattr", "setitem"})


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
        if word is None or word == "-c":
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


def _module_of_path(path: str) -> str | None:
    clean = posixpath.normpath(path).removeprefix("./")
    if clean.startswith(("/", "..")):
        return None
    dotted = clean[:-3].replace("/", ".")
    return dotted if _DOTTED_OR_NAME.fullmatch(dotted) else None
