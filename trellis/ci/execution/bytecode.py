"""Bytecode for a workspace's Python files, compiled by us, so that jobs do not recompile unchanged modules.

A pytest job imports the project's package and its selected test modules;
compiling them from source (and, for test modules, rewriting their asserts)
is most of what a small selection costs: a 7,400-line test module takes
~120 ms to rewrite and compile, every job, because jobs run with
``PYTHONDONTWRITEBYTECODE`` and their workspaces keep no ``__pycache__``.

The workspace pool writes, next to each ``.py`` file of the tree, the
``__pycache__`` file that Python (or pytest's assertion rewriter) would read:

- ``__pycache__/<name>.<cache tag>.pyc`` for a module: ``compile(source, path,
  "exec", dont_inherit=True)``, as the import system compiles it;
- ``__pycache__/<name>.<cache tag>-pytest-<version>.pyc`` for a test module
  (``test_*.py``, ``*_test.py``) or ``conftest.py``: pytest's own
  ``rewrite_asserts`` then ``compile``, as pytest's import hook does.

Both are **checked-hash** pycs (PEP 552): the importer (and pytest) hash the
source file on every import and use the pyc only when the hash matches, so a
source changed since — by a later tree, or by the job itself with the same
size and mtime — is compiled afresh, never run from a stale pyc. They are
written by the server from the repository's blobs (never by a job: a pyc the
job changes or adds is undone by the next lease, like any other file), in the
same format as pytest's own cache, with the server's interpreter: a job that
runs another Python or pytest looks for other file names and compiles as
before. A file whose compilation warns or fails gets no pyc (the job compiles
it and sees the warning or error, as a fresh run would), and no pytest pyc is
written where the project turns on ``enable_assertion_pass_hook`` (the
rewritten code then differs).
"""

from __future__ import annotations

import ast
import importlib.util
import marshal
import sys
import warnings
from collections.abc import Callable
from types import CodeType

__all__ = [
    "PASS_HOOK_OPTION",
    "PLAIN",
    "PYTEST",
    "compile_pyc",
    "pyc_path",
    "pytest_reads",
    "pytest_tag",
    "relocate_pyc",
]

PLAIN, PYTEST = "py", "pytest"
PASS_HOOK_OPTION = b"enable_assertion_pass_hook"  # an ini option that changes how asserts are rewritten
_CHECKED_HASH = (0b11).to_bytes(4, "little")  # PEP 552: hash-based, always checked against the source
_MAX_SOURCE = 4 << 20
_HEADER = 16  # magic, flags, source hash (PEP 552)


def _rewriter() -> tuple[str, Callable[..., None]] | None:
    """pytest's tag and ``rewrite_asserts``, when its cache is checked by source hash (else None: no pytest pycs)."""
    try:
        from _pytest.assertion import rewrite
    except ImportError:
        return None
    code = getattr(getattr(rewrite, "_read_pyc", None), "__code__", None)
    if not isinstance(code, CodeType) or "source_hash" not in code.co_names:
        return None  # an older pytest validates its pycs by mtime and size: never feed it ours
    return str(rewrite.PYC_TAIL), rewrite.rewrite_asserts


_REWRITER = _rewriter()


def pytest_tag() -> str | None:
    """The suffix of pytest's rewritten pycs (``.cpython-311-pytest-9.2.0.pyc``), or None when not cached."""
    return _REWRITER[0] if _REWRITER is not None else None


def pytest_reads(version: str | None) -> bool:
    """Does a job whose pytest is ``version`` (None: the server's own) read the rewritten pycs we write?

    pytest looks for its own version's file name only (``-pytest-7.4.4.pyc``), so for a job in an
    environment that installs another pytest, rewriting its test modules here is work nobody reads.
    """
    tag = pytest_tag()
    return tag is not None and (version is None or tag.endswith(f"-pytest-{version}.pyc"))


def _is_test_module(name: str) -> bool:
    return name == "conftest.py" or (name.startswith("test_") or name.endswith("_test.py"))


def pyc_path(path: str, *, rewrite: bool) -> tuple[str, str] | None:
    """(the pyc's path, its kind) for the ``.py`` file ``path`` (slash-separated), or None."""
    directory, _, name = path.rpartition("/")
    if not name.endswith(".py") or name == ".py" or "__pycache__" in path.split("/"):
        return None
    prefix = f"{directory}/__pycache__/" if directory else "__pycache__/"
    if _is_test_module(name):
        tag = pytest_tag()
        if not rewrite or tag is None:
            return None
        return f"{prefix}{name[:-3]}{tag}", PYTEST
    cache_tag = sys.implementation.cache_tag
    if cache_tag is None:
        return None
    return f"{prefix}{name[:-3]}.{cache_tag}.pyc", PLAIN


def compile_pyc(path: str, source: bytes, kind: str) -> bytes | None:
    """The checked-hash pyc of ``source`` at ``path`` (``kind``: PLAIN or PYTEST); None if it warns or fails."""
    if len(source) > _MAX_SOURCE:
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if kind == PYTEST:
                if _REWRITER is None:
                    return None
                tree = ast.parse(source, filename=path)
                _REWRITER[1](tree, source, path, None)
                code = compile(tree, path, "exec", dont_inherit=True)
            else:
                code = compile(source, path, "exec", dont_inherit=True)
        except Exception:  # noqa: BLE001 - a syntax error, a recursion limit...: the job compiles it and reports it
            return None
    if caught:
        return None
    return importlib.util.MAGIC_NUMBER + _CHECKED_HASH + importlib.util.source_hash(source) + marshal.dumps(code)


def relocate_pyc(pyc: bytes, path: str) -> bytes:
    """``pyc`` (from :func:`compile_pyc`, for the same source at another path) as compiling it at ``path`` gives it.

    The source's path is in the code alone (``co_filename`` of the module's code and of every code object in it:
    pytest's rewriting puts it nowhere else), so a pool's workspaces compile a blob once: another workspace's
    copy only has its file names replaced, ~50x quicker than parsing, rewriting and compiling again. pytest
    executes its pycs' code as it is (the import system would fix a plain pyc's file name; pytest does not), so
    the name is the workspace's own, as in a pyc compiled there: tracebacks, ``inspect`` and the job's observation
    of what the tree's code runs (``co_filename`` under the working directory) see the job's files."""
    code = marshal.loads(pyc[_HEADER:])
    if not isinstance(code, CodeType):
        raise ValueError("not a module's code")
    return pyc[:_HEADER] + marshal.dumps(_renamed(code, path))


def _renamed(code: CodeType, path: str) -> CodeType:
    consts = tuple(_renamed(c, path) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)
