"""What defining a subclass of a standard-library class runs: looked at in the standard library itself.

A class statement hands the new class to its bases' ``__init_subclass__`` and to its metaclass, which may keep it
(a registry) and make instances later; :class:`~trellis.ci.selection.ref_graph.Graph` treats a base from outside
the tree as doing so unless it is known to be quiet. For the classes of a fixed list of standard-library modules
(:data:`MODULES`, those projects subclass most: ``logging.Formatter``, ``threading.Thread``,
``json.JSONEncoder``...) this module imports the module and reads the class: *quiet* when its metaclass is
``type`` or ``abc.ABCMeta`` (neither keeps the class nor makes instances) and no class of its MRO but ``object``
defines ``__init_subclass__``; a *metaclass* when it derives from ``type``. A name of another module is never
imported (the list is fixed, so selection does not depend on what the server happened to import, and no module
with effects on import, ``antigravity``, is run): unknown, as before. The server's interpreter answers for the
job's: these properties of the standard library's classes do not change between Python versions in practice.
"""

from __future__ import annotations

import abc
import functools
import importlib

__all__ = ["MODULES", "metaclass_base", "quiet_base", "quiet_value"]

MODULES = frozenset(
    {
        "abc",
        "argparse",
        "asyncio",
        "cmd",
        "codecs",
        "collections",
        "configparser",
        "contextlib",
        "datetime",
        "decimal",
        "email.message",
        "fractions",
        "html.parser",
        "http.server",
        "io",
        "json",
        "logging",
        "logging.handlers",
        "numbers",
        "pathlib",
        "pprint",
        "queue",
        "reprlib",
        "shlex",
        "socketserver",
        "string",
        "threading",
        "unittest",
        "weakref",
        "xml.sax.handler",
    }
)
_PLAIN_METACLASSES = (type, abc.ABCMeta)
# Modules whose values a class body may bind (``num_type = int``, ``DESERIALIZATION_CLASS = ipaddress.IPv4Address``):
# fixed, as MODULES, and without effects on import.
VALUE_MODULES = MODULES | frozenset(
    {"builtins", "ipaddress", "datetime", "uuid", "enum", "re", "typing", "operator", "types", "functools"}
    | {"email.utils", "time", "calendar", "math", "base64", "hashlib", "itertools", "copy", "textwrap"}
    | {"urllib.parse", "html", "zoneinfo", "posixpath", "os.path", "inspect", "dataclasses"}
)
_MISSING = object()


@functools.cache
def _stdlib_class(name: str) -> type | None:
    """The class ``name`` (``module.Class``, the module one of :data:`MODULES`) names, or None."""
    module, _, attr = name.rpartition(".")
    if module not in MODULES:
        return None
    try:
        value = getattr(importlib.import_module(module), attr, None)
    except ImportError:  # a module this interpreter was built without
        return None
    return value if isinstance(value, type) else None


def quiet_base(name: str) -> bool:
    """Is ``name`` a standard-library class whose subclasses' definition runs none of its code and keeps nothing?"""
    cls = _stdlib_class(name)
    if cls is None or type(cls) not in _PLAIN_METACLASSES:
        return False
    return not any("__init_subclass__" in vars(c) for c in cls.__mro__ if c is not object)


def metaclass_base(name: str) -> bool | None:
    """Does the standard-library class ``name`` derive from ``type`` (None: not such a class, unknown)?"""
    cls = _stdlib_class(name)
    return None if cls is None else issubclass(cls, type)


@functools.cache
def quiet_value(name: str) -> bool:
    """Is ``name`` (``module.attr``, the module one of :data:`VALUE_MODULES`; ``builtins.int`` for a builtin) a value
    whose type has no ``__set_name__``? A class body binding it hands the class to nothing: ``type.__new__`` calls
    ``type(value).__set_name__`` only where there is one."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:end])
        if module in VALUE_MODULES:
            break
    else:
        return False
    try:
        value: object = importlib.import_module(module)
    except ImportError:  # a module this interpreter was built without
        return False
    for attr in parts[end:]:
        value = getattr(value, attr, _MISSING)
        if value is _MISSING:
            return False
    return not hasattr(type(value), "__set_name__")
