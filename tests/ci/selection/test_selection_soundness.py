"""Soundness of test selection, checked against what tests really run.

Hypothesis generates programs that define functions in every position Python
allows (``if``/``else``, ``try`` bodies, ``except`` handlers, ``else`` and
``finally``, ``with``, ``match`` cases, loops, classes, nested functions, at
any depth) and call each other in every way (plainly, through a lambda, a
comprehension, a default argument, a decorator, a class body, a method, a
nested function). Each program's test is run in this process under a
profiler that records every function it enters; then a change to any entered
definition — its body, or its definition — must select the test.
"""

from __future__ import annotations

import doctest
import importlib
import re
import sys
import threading
import unittest
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.ci.selection.index import ChangedEntity, ChangedPath, TestIndex, changes_from_diff
from trellis.semantic_diff import diff_files

# Wrappers put a definition somewhere it still runs once, at import time. Each is a header and
# the lines that follow its body (indented like the header); "{body}" is where the definition goes.
WRAPPERS: dict[str, tuple[list[str], list[str]]] = {
    "if": (["if True:"], []),
    "else": (["if len(()) == 1:", "    pass", "else:"], []),
    "try": (["try:"], ["except ZeroDivisionError:", "    pass"]),
    "except": (["try:", "    raise ImportError('fallback')", "except ImportError:"], []),
    "try-else": (["try:", "    pass", "except ImportError:", "    pass", "else:"], []),
    "finally": (["try:", "    pass", "finally:"], []),
    "with": (["with contextlib.nullcontext():"], []),
    "match": (["match 1:", "    case 1:"], []),
    "for": (["for _ in range(1):"], []),
    "while": (["while True:"], ["    break"]),
}
# How one function calls the next ("{callee}" is the next function's name); what the call needs
# to exist before the caller is defined is put before it.
CALLS = (
    "direct",
    "lambda",
    "comprehension",
    "default",
    "decorator",
    "generator",
    "getattr",
    "pickle",
    "pickle-local",
    "pickle-bytes",
    "copy",
    "property",
    "hasattr",
    "frame-globals",
    "dict-get",
)
# "pickle" and "copy": the callee comes back from a round trip through pickle or copy, whose __reduce__ hands
# a builtin (eval, getattr) the callee's name, for pickle or copy to call. "pickle-local": a pickle kept in a
# variable is loaded under ``mock.patch`` of its class's name: the class patched in runs (its __setstate__ calls).
# "pickle-bytes": constant pickle bytes name the callee (module and name), which the load returns.
REDUCERS = [
    "import copy",
    "import importlib",
    "import pickle",
    "",
    "class _Eval:",
    "    def __init__(self, name):",
    "        self.name = name",
    "    def __reduce__(self):",
    "        return (eval, (self.name,))",
    "",
    "class _Get:",
    "    def __init__(self, owner, name):",
    "        self.owner = owner",
    "        self.name = name",
    "    def __reduce__(self):",
    "        return (getattr, (self.owner, self.name))",
    "",
]
# How a function is defined: plain, as a static method of a class, as a nested function.
KINDS = ("plain", "static", "method", "nested", "classbody")


def _indent(lines: list[str], depth: int) -> list[str]:
    return [("    " * depth + line) if line else line for line in lines]


def _definition(index: int, kind: str, call: str, last: bool) -> tuple[list[str], str]:
    """The lines defining function ``f{index}``, and the expression that calls it with ``x``."""
    callee = f"f{index + 1}"
    if last:
        result = "x + 1"
    elif call == "direct":
        result = f"{callee}(x) + 1"
    elif call == "lambda":
        result = f"(lambda y: {callee}(y))(x) + 1"
    elif call == "comprehension":
        result = f"[{callee}(y) for y in [x]][0] + 1"
    elif call == "generator":
        result = f"sum({callee}(y) for y in [x]) + 1"
    elif call == "default":
        result = "_callee(x) + 1"
    elif call == "getattr":
        result = f"getattr(sys.modules[__name__], {callee!r})(x) + 1"
    elif call == "frame-globals":  # the namespace read under a constant key: that name
        result = f"sys._getframe(0).f_globals[{callee!r}](x) + 1"
    elif call == "dict-get":
        result = f"(lambda: 0).__globals__.get({callee!r}, None)(x) + 1"
    elif call == "pickle":  # unpickling calls eval(callee's name) in the caller's globals
        result = f"pickle.loads(pickle.dumps(_Eval({callee!r})))(x) + 1"
    elif call == "pickle-local":
        result = "pickle.loads(_data).x + 1"
    elif call == "pickle-bytes":  # protocol 4: STACK_GLOBAL of two memoized strings
        name = callee.encode()
        data = b"\x80\x04\x8c\x07gen.mod\x94\x8c" + bytes([len(name)]) + name + b"\x94\x93."
        result = f"pickle.loads({data!r})(x) + 1"
    elif call == "copy":
        result = f"copy.copy(_Get(importlib.import_module(__name__), {callee!r}))(x) + 1"
    elif call == "property":  # a read under a computed name whose value stays put runs a property
        result = f"(x + 1 if getattr(P{index}(x), 'val' + 'ue') is not None else 0)"
    elif call == "hasattr":
        result = f"(x + 1 if hasattr(P{index}(x), 'val' + 'ue') else 0)"
    else:  # decorator: the decorator calls the callee when the function is called
        result = "x + 1"
    params = f"x, _callee={callee}" if call == "default" and not last else "x"
    holder = []
    if call in ("property", "hasattr") and not last:
        holder = [
            f"class P{index}:",
            "    def __init__(self, x):",
            "        self.x = x",
            "    @property",
            "    def value(self):",
            f"        return {callee}(self.x)",
        ]
    body = [f"def f{index}_impl({params}):", f"    return {result}"]
    if call == "pickle-local" and not last:
        body[1:] = [
            f"    _data = pickle.dumps(_Box{index}(x))",
            f'    with mock.patch(f"{{__name__}}._Box{index}", _Other{index}):',
            f"        return {result}",
        ]
        holder = [
            f"class _Box{index}:",
            "    def __init__(self, x):",
            "        self.x = x",
            f"class _Other{index}:",
            "    def __setstate__(self, state):",
            f"        self.x = {callee}(state['x'])",
        ]
    if call == "decorator" and not last:
        body = [f"@_calling({callee})", *body]
    name = f"f{index}"
    if kind == "plain":
        lines = [line.replace(f"f{index}_impl", name) for line in body]
        return [*holder, *lines], f"{name}(x)"
    if kind == "static":
        lines = [
            f"class K{index}:",
            "    @staticmethod",
            *("    " + line.replace(f"f{index}_impl", "run") for line in body),
            f"{name} = K{index}.run",
        ]
        return [*holder, *lines], f"{name}(x)"
    if kind == "method":
        method = [line.replace(f"def f{index}_impl(", "def run(self, ") for line in body]
        lines = [
            f"class K{index}:",
            *("    " + line for line in method),
            f"def {name}(x):",
            f"    return K{index}().run(x)",
        ]
        return [*holder, *lines], f"{name}(x)"
    if kind == "nested":
        lines = [
            f"def make{index}():",
            *("    " + line for line in body),
            f"    return f{index}_impl",
            f"{name} = make{index}()",
        ]
        return [*holder, *lines], f"{name}(x)"
    # classbody: the function is called once by a class body (at import time) and again by name
    lines = [*(line.replace(f"f{index}_impl", name) for line in body), f"class Use{index}:", f"    value = {name}(0)"]
    return [*holder, *lines], f"{name}(x)"


@st.composite
def programs(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 5))
    out = [
        "import contextlib",
        "import sys",
        "from unittest import mock",
        "",
        "def _calling(callee):",
        "    def wrap(f):",
        "        def inner(*args):",
        "            return callee(args[-1]) + f(*args)",
        "        return inner",
        "    return wrap",
        "",
    ]
    # Define the last function first: every reference at definition time finds its target.
    for index in reversed(range(count)):
        kind = draw(st.sampled_from(KINDS))
        call = draw(st.sampled_from(CALLS))
        if call.startswith(("pickle", "copy")) and index < count - 1 and REDUCERS[0] not in out:
            out[2:2] = REDUCERS
        lines, _ = _definition(index, kind, call, last=index == count - 1)
        depth = 0
        for wrapper in draw(st.lists(st.sampled_from(sorted(WRAPPERS)), max_size=3)):
            head, tail = WRAPPERS[wrapper]
            inner = len(head[-1]) - len(head[-1].lstrip()) + 4
            lines = [*head, *(" " * inner + line if line else line for line in lines), *tail]
            depth += 1
        out.extend(lines)
        out.append("")
    return "\n".join(out) + "\n"


TEST = """\
from gen.mod import f0


def test_reaches_the_chain():
    assert f0(1) > 0


def test_reaches_nothing():
    assert True
"""


@contextmanager
def _entered(root: Path) -> Iterator[set[str]]:
    """The functions (``file::qualname``) entered under ``root`` while the block runs."""
    entered: set[str] = set()
    prefix = str(root)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(prefix):
            code = frame.f_code
            entered.add(f"{Path(code.co_filename).relative_to(root).as_posix()}::{code.co_qualname}")

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield entered
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def _entity(qualname: str) -> str:
    """A code object's qualname as semantic_diff names the entity: ``f.<locals>.g`` is ``f.g``; a lambda, a
    comprehension or a module's code is its nearest enclosing entity."""
    parts = [p for p in qualname.split(".") if p != "<locals>"]
    while parts and parts[-1].startswith("<"):
        parts.pop()
    return ".".join(parts)


def _run(tmp: Path, source: str) -> set[str]:
    """Import the program and run the reaching test; the entities entered (module included)."""
    package = tmp / "gen"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(source)
    sys.path.insert(0, str(tmp))
    for name in ("gen", "gen.mod"):
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    try:
        with _entered(tmp) as entered:
            module = importlib.import_module("gen.mod")
            assert module.f0(1) > 0
    finally:
        sys.path.remove(str(tmp))
        for name in ("gen", "gen.mod"):
            sys.modules.pop(name, None)
    return {_entity(e.partition("::")[2]) for e in entered if e.startswith("gen/mod.py::")}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(source=programs())
def test_a_change_to_any_definition_a_test_runs_selects_the_test(source: str, tmp_path: Path) -> None:
    entered = _run(tmp_path, source)
    assert len(entered) > 1  # the module and at least one function
    files = {"gen/__init__.py": b"", "gen/mod.py": source.encode(), "tests/test_gen.py": TEST.encode()}
    index = TestIndex.build(files)
    reaching = "tests/test_gen.py::test_reaches_the_chain"
    assert reaching in index.tests
    for entity in sorted(entered):
        qualname = f"gen.mod.{entity}" if entity else "gen.mod"
        for details in (("body",), ("signature",)):
            selection = index.select([ChangedEntity("gen/mod.py", qualname, "modified", details)])
            assert reaching in selection.tests, (entity, details, source)
    whole = index.select([ChangedPath("gen/mod.py")])
    assert reaching in whole.tests
    # Plain functions (no decorator, default, class or alias refers to them at import time): a body change selects
    # only the tests calling them.
    if not any(word in source for word in ("@_calling", "class ", "make", "_callee=")):
        for entity in entered - {""}:
            qualname = f"gen.mod.{entity}"
            assert (
                "tests/test_gen.py::test_reaches_nothing"
                not in index.select([ChangedEntity("gen/mod.py", qualname, "modified", ("body",))]).tests
            ), (entity, source)


DOCS = '''"""Examples.

>>> from gen.mod import f0
>>> f0(1) > 0
True
"""
'''
LOAD_TESTS = """\
from doctest import DocTestSuite


def load_tests(loader, tests, pattern):
    tests.addTests(DocTestSuite("gen.docs"))
    return tests
"""


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(source=programs())
def test_a_change_to_any_definition_a_load_tests_doctest_runs_selects_it(source: str, tmp_path: Path) -> None:
    """The same programs, run by a module's doctest that a test module's load_tests adds (a stage's
    ``load_tests = true``): a change to anything the doctest entered selects ``<test module>::load_tests``."""
    package = tmp_path / "gen"
    package.mkdir(exist_ok=True)  # hypothesis runs every example in the same tmp_path
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(source)
    (package / "docs.py").write_text(DOCS)
    sys.path.insert(0, str(tmp_path))
    names = ("gen", "gen.mod", "gen.docs")
    for name in names:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    try:
        suite = doctest.DocTestSuite(importlib.import_module("gen.docs"))
        result = unittest.TestResult()
        with _entered(tmp_path) as entered:
            suite.run(result)
        assert result.wasSuccessful(), (result.failures, result.errors)
    finally:
        sys.path.remove(str(tmp_path))
        for name in names:
            sys.modules.pop(name, None)
    ran = {_entity(e.partition("::")[2]) for e in entered if e.startswith("gen/mod.py::")}
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "gen/docs.py": DOCS.encode(),
        "tests/test_gen.py": LOAD_TESTS.encode(),
    }
    index = TestIndex.build(files)
    assert index.load_tests == ("tests/test_gen.py::load_tests",)
    for entity in sorted(ran | {""}):
        qualname = f"gen.mod.{entity}" if entity else "gen.mod"
        for details in (("body",), ("signature",)):
            selection = index.select([ChangedEntity("gen/mod.py", qualname, "modified", details)], load_tests=True)
            assert "tests/test_gen.py::load_tests" in selection.tests, (entity, details, source)


def test_a_function_defined_in_an_except_handler_is_a_definition() -> None:
    """The fallback pattern ``try: from math import sumprod / except ImportError: def sumprod``; its body's calls
    enter the graph (issue 17: a helper it calls was changed, and the test calling it was not selected)."""
    mod = (
        b"def helper(x):\n    return x + 1\n\n"
        b"try:\n    from math import sumprod\nexcept ImportError:\n"
        b"    def sumprod(a):\n        return helper(a)\n\n"
        b"match 1:\n    case 1:\n        def other(x):\n            return helper(x)\n"
    )
    test = (
        b"from m import sumprod, other\n\ndef test_a():\n    assert sumprod(1)\n\n"
        b"def test_b():\n    assert other(1)\n\ndef test_c():\n    pass\n"
    )
    index = TestIndex.build({"m.py": mod, "test_m.py": test})
    selection = index.select([ChangedEntity("m.py", "m.helper", "modified", ("body",))])
    assert selection.tests == ("test_m.py::test_a", "test_m.py::test_b")


# -- module-level names ---------------------------------------------------------------------------------


@st.composite
def constant_programs(draw: st.DrawFn) -> tuple[list[str], int, int]:
    """Lines of a module of constants (some derived from others, some re-exported through a package) and
    functions reading them; which constant to change, and its new value."""
    count = draw(st.integers(2, 6))
    lines = ['"""Constants."""', "from gen.base import BASE"]
    for i in range(count):
        source = draw(st.sampled_from(["literal", "derived", "base", "tuple"])) if i else "literal"
        if source == "literal":
            value = f"{draw(st.integers(1, 9))}"
        elif source == "derived":
            value = f"C{draw(st.integers(0, i - 1))} + 1"
        elif source == "base":
            value = "BASE * 2"
        else:
            value = f"(C{draw(st.integers(0, i - 1))}, 3)[0]"
        # Bound plainly, under a condition (either branch may run) or in a try (the handler may run).
        guard = draw(st.sampled_from(["plain", "if", "else", "try", "except"]))
        if guard == "plain":
            lines.append(f"C{i} = {value}")
        elif guard in ("if", "else"):
            test = "BASE > 0" if guard == "if" else "BASE < 0"
            lines.append(f"if {test}:\n    C{i} = {value}\nelse:\n    C{i} = {value} - 1")
        else:
            fails = "BASE" if guard == "try" else "BASE.nothing"
            lines.append(f"try:\n    C{i} = {value}\n    {fails}\nexcept AttributeError:\n    C{i} = {value} - 1")
    lines.append("__all__ = [" + ", ".join(f'"f{i}"' for i in range(count)) + "]")
    for i in range(count):
        read = draw(st.integers(0, count - 1))
        lines += ["", f"def f{i}():", f"    return C{read}"]
    which = draw(st.integers(0, count - 1))
    return lines, which, draw(st.integers(10, 99))


def _results(tmp: Path, files: dict[str, bytes], tests: list[str]) -> dict[str, bool]:
    """Run each test function of tests/test_gen.py in this process: test name -> passed."""
    for path, content in files.items():
        target = tmp / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    sys.path.insert(0, str(tmp))
    names = ["gen", "gen.mod", "gen.base", "gen.a", "gen.b", "tests", "tests.test_gen", "extlib"]
    for name in names:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    out: dict[str, bool] = {}
    try:
        module = importlib.import_module("tests.test_gen")
        for test in tests:
            try:
                getattr(module, test)()
                out[test] = True
            except Exception:  # noqa: BLE001 - any failure
                out[test] = False
    finally:
        sys.path.remove(str(tmp))
        for name in names:
            sys.modules.pop(name, None)
    return out


def _failing_and_selection(
    tmp: Path,
    files: dict[str, bytes],
    new_files: dict[str, bytes],
    tests: list[str],
    changes: list[Any] | None = None,
    outside: dict[str, bytes] | None = None,
) -> tuple[set[str], Any]:
    """Run tests/test_gen.py's tests on both trees (every one passes before): the node ids failing after (all of
    them when the module no longer imports), and what selection picks for the change (``changes``, else the
    semantic diff of the files that differ). ``outside``: files the runs import that are not in the tree (an
    installed library's, ``extlib.py``)."""
    before = _results(tmp / "before", {**files, **(outside or {})}, tests)
    assert all(before.values()), before
    try:
        after = _results(tmp / "after", {**new_files, **(outside or {})}, tests)
    except Exception:  # noqa: BLE001 - the test module does not import any more: every test fails
        after = dict.fromkeys(tests, False)
    failing = {f"tests/test_gen.py::{t}" for t, ok in after.items() if not ok}
    old = TestIndex.build(files)
    new = TestIndex.update(old, new_files)
    if changes is None:
        changed = {p for p in files.keys() | new_files.keys() if files.get(p) != new_files.get(p)}
        diff = diff_files(
            {p: files[p] for p in changed if p in files}, {p: new_files[p] for p in changed if p in new_files}
        )
        changes = list(changes_from_diff(diff))
    return failing, new.select(changes, old_index=old)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(program=constant_programs(), via=st.sampled_from(["module", "name", "star"]))
def test_a_changed_module_constant_selects_every_test_whose_outcome_it_changes(
    program: tuple[list[str], int, int], via: str, tmp_path: Path
) -> None:
    lines, which, value = program
    count = sum(1 for line in lines if line.startswith("def f"))
    source = "\n".join(lines) + "\n"
    imports = {
        "module": "import gen.mod as m\n",
        "name": "from gen.mod import " + ", ".join(f"f{i}" for i in range(count)) + "\n",
        "star": "from gen.mod import *\n",
    }[via]
    prefix = "m." if via == "module" else ""
    tests = [f"test_f{i}" for i in range(count)]
    test_file = imports + "".join(
        f"\n\ndef test_f{i}():\n    assert {prefix}f{i}() == EXPECTED[{i}]\n" for i in range(count)
    )
    files = {
        "gen/__init__.py": b"",
        "gen/base.py": b"BASE = 2\n",
        "gen/mod.py": source.encode(),
        "tests/__init__.py": b"",
    }
    # The expected values are those of the unchanged program.
    namespace: dict[str, object] = {"BASE": 2}
    exec(compile(source.replace("from gen.base import BASE\n", ""), "gen/mod.py", "exec"), namespace)  # noqa: S102
    expected = [namespace[f"f{i}"]() for i in range(count)]  # type: ignore[operator]
    files["tests/test_gen.py"] = (f"EXPECTED = {expected!r}\n" + test_file).encode()
    item = next(line for line in lines if line.startswith((f"C{which} = ", "if", "try")) and f"C{which} = " in line)
    changed = source.replace(item, re.sub(rf"C{which} = [^\n]*", f"C{which} = {value}", item))
    new_files = {**files, "gen/mod.py": changed.encode()}
    module_change = [ChangedEntity("gen/mod.py", "gen.mod", "modified", ("body",))]
    failing, selection = _failing_and_selection(tmp_path, files, new_files, tests, module_change)
    assert failing <= set(selection.tests), (failing, selection.reasons, changed)
    # Name granularity: a test whose function reads none of the changed constant's dependents is not selected.
    assert not selection.run_all
    dependents = {which}
    for _ in range(count):
        dependents |= {
            int(m.group(1))
            for item in lines
            if (m := re.match(r"(?:if [^\n]*\n    |try:\n    )?C(\d+) = ", item))
            and any(re.search(rf"\bC{d}\b", item.split("=", 1)[1]) for d in dependents)
        }
    reads = [int(line.rpartition("C")[2]) for line in lines if line.startswith("    return C")]
    reaching = {f"tests/test_gen.py::test_f{i}" for i, read in enumerate(reads) if read in dependents}
    # (Beside them, one test importing the module when none of those does: the change may raise at import.)
    extra = set(selection.tests) - reaching
    assert len(extra) <= (0 if reaching else 1), (selection.tests, reaching, changed)


@st.composite
def export_changes(draw: st.DrawFn) -> tuple[int, list[int], list[int], set[int], bool]:
    """A module of functions ``f0..fN`` with a literal ``__all__`` (old and new subsets; a new one may name a
    function that does not exist), star-imported by its package, which may bind some names itself first."""
    count = draw(st.integers(1, 5))
    names = st.lists(st.integers(0, count - 1), unique=True)
    old, new = draw(names), draw(names)
    if draw(st.integers(0, 5)) == 0:
        new = [*new, count]  # names nothing: the star import raises
    shadowed = set(draw(st.lists(st.integers(0, count - 1), unique=True)))
    return count, old, new, shadowed, draw(st.booleans())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(program=export_changes())
def test_a_changed_all_selects_every_test_whose_outcome_it_changes(
    program: tuple[int, list[int], list[int], set[int], bool], tmp_path: Path
) -> None:
    count, old_all, new_all, shadowed, star_in_test = program

    def module(exported: list[int]) -> bytes:
        body = "".join(f"\n\ndef f{i}():\n    return {i}\n" for i in range(count))
        return (f"__all__ = {[f'f{i}' for i in exported]!r}\n" + body).encode()

    package = "".join(f"def f{i}():\n    return -1\n\n" for i in sorted(shadowed)) + "from gen.mod import *\n"
    use = "{name}()" if star_in_test else "gen.{name}()"
    test_file = ("from gen import *\n" if star_in_test else "import gen\n") + "".join(
        f"\n\ndef test_f{i}():\n    try:\n        value = {use.format(name=f'f{i}')}\n"
        f"    except (AttributeError, NameError):\n        value = None\n    assert value == EXPECTED[{i}]\n"
        for i in range(count)
    )
    tests = [f"test_f{i}" for i in range(count)]
    expected = [i if i in old_all else (-1 if i in shadowed else None) for i in range(count)]
    files = {
        "gen/__init__.py": package.encode(),
        "gen/base.py": b"",
        "gen/mod.py": module(old_all),
        "tests/__init__.py": b"",
        "tests/test_gen.py": (f"EXPECTED = {expected!r}\n" + test_file).encode(),
    }
    new_files = {**files, "gen/mod.py": module(new_all)}
    module_change = [ChangedEntity("gen/mod.py", "gen.mod", "modified", ("body",))]
    failing, selection = _failing_and_selection(tmp_path, files, new_files, tests, module_change)
    assert failing <= set(selection.tests), (failing, selection.reasons, old_all, new_all)
    # Name granularity: a test of a function that stays exported (or stays out) is not selected.
    if count not in new_all:
        moved = set(old_all) ^ set(new_all)
        # (Beside them, one test importing the module when none of those does: the change may raise at import.)
        extra = {t for t in selection.tests if "::test_f" in t and int(t.rpartition("::test_f")[2]) not in moved}
        assert len(extra) <= (0 if moved else 1), selection.tests


@st.composite
def import_headers(draw: st.DrawFn) -> tuple[int, str, str]:
    """Two import headers of a test module: each name ``f0..fN`` imported from ``gen.a`` or ``gen.b`` (which
    return different values), or not at all, in one or two statements per source, sometimes with a standard
    library import beside them."""
    count = draw(st.integers(1, 4))

    def header() -> str:
        where = [draw(st.sampled_from(["a", "b", ""])) for _ in range(count)]
        lines = []
        for source in ("a", "b"):
            names = [f"f{i}" for i in range(count) if where[i] == source]
            if names and draw(st.booleans()) and len(names) > 1:
                lines += [f"from gen.{source} import {names[0]}", f"from gen.{source} import {', '.join(names[1:])}"]
            elif names:
                lines.append(f"from gen.{source} import {', '.join(names)}")
        if draw(st.booleans()):
            lines.append("from itertools import chain")
        return "\n".join(lines) + "\n"

    return count, header(), header()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(program=import_headers())
def test_an_edited_import_header_selects_every_test_whose_outcome_it_changes(
    program: tuple[int, str, str], tmp_path: Path
) -> None:
    count, old_header, new_header = program
    tests = [f"test_f{i}" for i in range(count)]
    body = "".join(
        f"\n\ndef test_f{i}():\n    try:\n        value = f{i}()\n    except NameError:\n        value = None\n"
        f"    assert value == EXPECTED[{i}]\n"
        for i in range(count)
    )
    namespace: dict[str, object] = {}
    sources = {
        "gen/a.py": "".join(f"def f{i}():\n    return {i}\n\n\n" for i in range(count)),
        "gen/b.py": "".join(f"def f{i}():\n    return {10 + i}\n\n\n" for i in range(count)),
    }
    for line in old_header.splitlines():  # the values the old header's functions return
        if line.startswith("from gen."):
            module, names = line[len("from gen.") :].split(" import ")
            exec(sources[f"gen/{module}.py"], scope := {})  # noqa: S102
            namespace.update({n: scope[n]() for n in names.split(", ")})  # type: ignore[operator]
    expected = [namespace.get(f"f{i}") for i in range(count)]
    files = {
        "gen/__init__.py": b"",
        "gen/base.py": b"",
        **{path: text.encode() for path, text in sources.items()},
        "tests/__init__.py": b"",
    }
    old_test, new_test = (f"{header}EXPECTED = {expected!r}\n{body}" for header in (old_header, new_header))
    files["tests/test_gen.py"] = old_test.encode()
    new_files = {**files, "tests/test_gen.py": new_test.encode()}
    failing, selection = _failing_and_selection(tmp_path, files, new_files, tests)
    assert failing <= set(selection.tests), (failing, selection.reasons, old_header, new_header)


# -- classes ----------------------------------------------------------------------------------------------


@st.composite
def class_programs(draw: st.DrawFn) -> tuple[str, str, int, str]:
    """A module of classes (some deriving from others), attributes and methods reading them; the program, the
    line to change, the index of the class and the new line."""
    count = draw(st.integers(1, 4))
    lines = ["C = 1", ""]
    edits: list[tuple[str, str]] = []
    for i in range(count):
        base = f"K{draw(st.integers(0, i - 1))}" if i and draw(st.booleans()) else ""
        lines.append(f"class K{i}({base}):" if base else f"class K{i}:")
        doc = f'    """Class {i}."""'
        lines.append(doc)
        edits.append((doc, f'    """Class {i}, reworded."""'))
        value = draw(st.integers(1, 9))
        attr = f"    A{i} = {value}" if draw(st.booleans()) else f"    A{i} = C + {value}"
        lines.append(attr)
        edits.append((attr, f"    A{i} = {value + 10}"))
        reads = draw(st.sampled_from([f"self.A{i}", "C", f"type(self).A{i}"]))
        method = f"        return {reads} + {i}"
        lines += ["", f"    def m{i}(self):", method, ""]
        edits.append((method, f"        return {reads} + {i + 100}"))
        if draw(st.booleans()):
            call = f"        return self.m{i}() * 2"
            lines += [f"    def n{i}(self):", call, ""]
            edits.append((call, f"        return self.m{i}() * 3"))
    old_line, new_line = draw(st.sampled_from(edits))
    return "\n".join(lines) + "\n", old_line, count, new_line


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(program=class_programs())
def test_a_changed_class_selects_every_test_whose_outcome_it_changes(
    program: tuple[str, str, int, str], tmp_path: Path
) -> None:
    source, old_line, count, new_line = program
    namespace: dict[str, Any] = {}
    exec(compile(source, "gen/mod.py", "exec"), namespace)  # noqa: S102
    tests: list[str] = []
    body = ["from gen.mod import *", ""]
    for i in range(count):
        for method in ("m", "n"):
            if hasattr(namespace[f"K{i}"], f"{method}{i}"):
                expected = getattr(namespace[f"K{i}"](), f"{method}{i}")()
                body += ["", f"def test_{method}{i}():", f"    assert K{i}().{method}{i}() == {expected!r}", ""]
                tests.append(f"test_{method}{i}")
        body += ["", f"def test_doc{i}():", f"    assert K{i}.__doc__ == {namespace[f'K{i}'].__doc__!r}", ""]
        tests.append(f"test_doc{i}")
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "tests/__init__.py": b"",
        "tests/test_gen.py": "\n".join(body).encode(),
    }
    changed = source.replace(old_line, new_line, 1)
    new_files = {**files, "gen/mod.py": changed.encode()}
    assert all(_results(tmp_path / "before", files, tests).values())
    after = _results(tmp_path / "after", new_files, tests)
    failing = {f"tests/test_gen.py::{t}" for t, ok in after.items() if not ok}
    old = TestIndex.build(files)
    new = TestIndex.update(old, new_files)
    changes = changes_from_diff(
        diff_files({"gen/mod.py": files["gen/mod.py"]}, {"gen/mod.py": new_files["gen/mod.py"]})
    )
    selection = new.select(changes, old_index=old)
    assert failing <= set(selection.tests), (failing, selection.reasons, changes, changed)


# -- instances: a method called on an object of unknown type ----------------------------------------------------
#
# Selection resolves ``obj.probe()`` on an object of unknown type to the methods named ``probe`` of the classes
# whose instances may exist where the call runs (rapid type analysis): a class is used when its node is reached.
# Each way below makes an instance of ``C{i}`` and hands it to ``call_probe`` without the test naming the class;
# a change to ``C{i}.probe`` must select the test.

# Installed code outside the tree (not indexed): a decorator, a base and a metaclass that keep the class.
EXTLIB = """\
KEPT = {}


def keep(cls):
    KEPT[cls.__name__] = cls
    return cls


class Base:
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        KEPT[cls.__name__] = cls


class Meta(type):
    def __init__(cls, *args, **kwargs):
        super().__init__(*args, **kwargs)
        KEPT[cls.__name__] = cls
"""
INSTANCE_WAYS = (
    "call",
    "registry",
    "defaultdict",
    "map",
    "partial",
    "default",
    "class_attr",
    "class_attr_self",
    "class_attr_body",
    "raise",
    "init_subclass",
    "metaclass",
    "decorator",
    "enum",
    "set_name",
    "outside_decorator",
    "outside_base",
    "outside_metaclass",
    "getattr",
    "string",
    "globals",
    "vars",
    "module_dict",
    "sys_modules",
    "getmembers",
    "subclasses",
    "annotation",
    "annotation_str",
    "nested",
    "in_function",
    "eval",
    "test_subclass",
)


def _instance_way(way: str, i: int) -> tuple[str, str, str, str]:
    """How ``C{i}`` is defined and where its instance comes from: the module's code (with ``get{i}()``), the test
    file's extra code, the expression the test passes to ``call_probe``, the class's local qualname."""
    name = f"C{i}"
    computed = f'"".join(["C", "{i}"])'  # a name nothing reads as a reference

    def cls(header: str = f"class {name}:", init: str = "pass", extra: str = "", indent: str = "") -> str:
        lines = [*header.split("\n"), *([extra] if extra else [])]
        lines += [
            "    def __init__(self, *args):",
            f"        {init}",
            "    def probe(self):",
            f"        return {i} + 0",
        ]
        return "\n".join(indent + line for line in lines)

    def getter(expr: str) -> str:
        return f"def get{i}():\n    return {expr}"

    use = f"mod.get{i}()"
    kept = f'extlib.KEPT["{name}"]()'
    simple: dict[str, tuple[str, str]] = {  # way -> (code before the class, the getter's expression)
        "call": ("", f"{name}()"),
        "map": ("", f"list(map({name}, [1]))[0]"),
        "getattr": ("", f"getattr(importlib.import_module(__name__), {computed})()"),
        "string": ("", f'getattr(importlib.import_module("gen.mod"), "{name}")()'),
        "globals": ("", f"globals()[{computed}]()"),
        "vars": ("", f"vars(importlib.import_module(__name__))[{computed}]()"),
        "module_dict": ("", f"importlib.import_module(__name__).__dict__[{computed}]()"),
        "sys_modules": ("", f"sys.modules[__name__].__dict__[{computed}]()"),
        "getmembers": ("", f"dict(inspect.getmembers(importlib.import_module(__name__)))[{computed}]()"),
        "eval": ("", f'eval("{name}")()'),
    }
    if way in simple:
        return f"{cls()}\n\n{getter(simple[way][1])}\n", "", use, name
    if way == "registry":
        return f"{cls()}\n\nREG{i} = {{'k': {name}}}\n\n{getter(f'REG{i}[chr(107)]()')}\n", "", use, name
    if way == "defaultdict":
        return f"{cls()}\n\nDD{i} = collections.defaultdict({name})\n\n{getter(f'DD{i}[0]')}\n", "", use, name
    if way == "partial":
        return f"{cls()}\n\nPART{i} = functools.partial({name})\n\n{getter(f'PART{i}()')}\n", "", use, name
    if way == "default":
        return f"{cls()}\n\ndef get{i}(made={name}):\n    return made()\n", "", use, name
    if way == "class_attr":
        return f"{cls()}\n\nclass Holder{i}:\n    made = {name}\n\n{getter(f'Holder{i}.made()')}\n", "", use, name
    if way == "class_attr_self":  # read through self: a binding of the class, reached with the class
        holder = f"class Holder{i}:\n    made = {name}\n\n    def get(self):\n        return self.made()"
        return f"{cls()}\n\n{holder}\n\n{getter(f'Holder{i}().get()')}\n", "", use, name
    if way == "class_attr_body":  # used by the class body itself while the class statement runs
        holder = f"class Holder{i}:\n    made = {name}\n    kept = [made()]"
        return f"{cls()}\n\n{holder}\n\n{getter(f'Holder{i}.kept[0]')}\n", "", use, name
    if way == "raise":
        body = f"def get{i}():\n    try:\n        raise {name}()\n    except Exception as exc:\n        return exc"
        return f"{cls(f'class {name}(Exception):')}\n\n{body}\n", "", use, name
    if way == "init_subclass":
        base = (
            f"SUBS{i} = []\n\nclass Base{i}:\n    def __init_subclass__(cls, **kwargs):\n"
            f"        super().__init_subclass__(**kwargs)\n        SUBS{i}.append(cls)\n"
        )
        return f"{base}\n{cls(f'class {name}(Base{i}):')}\n\n{getter(f'SUBS{i}[-1]()')}\n", "", use, name
    if way == "metaclass":
        meta = (
            f"MADE{i} = []\n\nclass Meta{i}(type):\n    def __init__(cls, *args, **kwargs):\n"
            f"        super().__init__(*args, **kwargs)\n        MADE{i}.append(cls)\n"
        )
        return f"{meta}\n{cls(f'class {name}(metaclass=Meta{i}):')}\n\n{getter(f'MADE{i}[-1]()')}\n", "", use, name
    if way == "decorator":
        keep = f"DEC{i} = []\n\ndef keep{i}(cls):\n    DEC{i}.append(cls)\n    return cls\n"
        return f"{keep}\n{cls(f'@keep{i}' + chr(10) + f'class {name}:')}\n\n{getter(f'DEC{i}[-1]()')}\n", "", use, name
    if way == "enum":
        code = cls(f"class {name}(enum.Enum):", init=f"ENUM{i}.append(self)", extra="    A = 1")
        return f"ENUM{i} = []\n\n{code}\n\n{getter(f'ENUM{i}[0]')}\n", "", use, name
    if way == "set_name":
        grab = (
            f"GRAB{i} = []\n\nclass Grab{i}:\n    def __set_name__(self, owner, name):\n        GRAB{i}.append(owner)\n"
            f"\nGRABBER{i} = Grab{i}()\n"
        )
        code = cls(extra=f"    grabbed = GRABBER{i}")
        return f"{grab}\n{code}\n\n{getter(f'GRAB{i}[-1]()')}\n", "", use, name
    if way in ("outside_decorator", "outside_base", "outside_metaclass"):
        header = {
            "outside_decorator": f"@extlib.keep\nclass {name}:",
            "outside_base": f"class {name}(extlib.Base):",
            "outside_metaclass": f"class {name}(metaclass=extlib.Meta):",
        }[way]
        return f"{cls(header)}\n\n{getter(kept)}\n", "", use, name
    if way == "subclasses":
        return (
            f"class Root{i}:\n    pass\n\n{cls(f'class {name}(Root{i}):')}\n\n"
            + getter(f"Root{i}.__subclasses__()[0]()")
            + "\n",
            "",
            use,
            name,
        )
    if way in ("annotation", "annotation_str"):
        hint = f'"{name}"' if way == "annotation_str" else name
        build = f"def build{i}(x: {hint}) -> None:\n    pass"
        return f"{cls()}\n\n{build}\n\n{getter(f'typing.get_type_hints(build{i})[chr(120)]()')}\n", "", use, name
    if way == "nested":
        return f"class Outer{i}:\n{cls(indent='    ')}\n\n{getter(f'Outer{i}.{name}()')}\n", "", use, f"Outer{i}.{name}"
    if way == "in_function":
        code = f"def make{i}():\n{cls(indent='    ')}\n    return {name}()\n\n{getter(f'make{i}()')}\n"
        return code, "", use, f"make{i}.{name}"
    assert way == "test_subclass", way
    return f"{cls()}\n", f"class D{i}(mod.{name}):\n    pass\n", f"D{i}()", name


INSTANCE_HEADER = """\
import collections
import enum
import functools
import doctest
import importlib
import inspect
import sys
import typing

import extlib


def call_probe(obj):
    return obj.probe()


class Other:
    def probe(self):
        return -1

"""


def _instance_program(ways: list[str], future: bool) -> tuple[dict[str, bytes], list[str], list[str]]:
    """The tree (gen/mod.py, tests/test_gen.py) making one instance per way, the test names, the qualnames."""
    module = ["from __future__ import annotations\n" if future else "", INSTANCE_HEADER]
    test = ["from gen import mod\n"]
    tests, qualnames = [], []
    for i, way in enumerate(ways):
        code, extra, use, qualname = _instance_way(way, i)
        module.append(f"\n{code}\n")
        test.append(f"\n{extra}\n\ndef test_{i}():\n    assert mod.call_probe({use}) == {i}\n")
        tests.append(f"test_{i}")
        qualnames.append(qualname)
    test.append("\n\ndef test_other():\n    assert mod.call_probe(mod.Other()) == -1\n")
    tests.append("test_other")
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": "".join(module).encode(),
        "tests/__init__.py": b"",
        "tests/test_gen.py": "".join(test).encode(),
    }
    return files, tests, qualnames


@pytest.mark.parametrize("way", INSTANCE_WAYS)
def test_a_method_called_on_an_unknown_object_selects_the_tests_that_made_an_instance(way: str, tmp_path: Path) -> None:
    """Every way an instance of a class may come to exist without the test naming the class (made when the class
    is defined, kept by a hook, named only in a container, a string, an annotation, found through a namespace):
    a change to the method selects the test, which fails."""
    files, tests, _ = _instance_program([way], future=way == "annotation")
    source = files["gen/mod.py"].decode()
    new_files = {**files, "gen/mod.py": source.replace("return 0 + 0", "return 0 + 100").encode()}
    failing, selection = _failing_and_selection(
        tmp_path, files, new_files, tests, outside={"extlib.py": EXTLIB.encode()}
    )
    assert failing == {"tests/test_gen.py::test_0"}, failing
    assert failing <= set(selection.tests), (way, selection.reasons)
    if way == "call":  # the class is used only by get0(): the other test's call cannot reach its method
        assert "tests/test_gen.py::test_other" not in selection.tests, selection.reasons


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    ways=st.lists(st.sampled_from(INSTANCE_WAYS), min_size=1, max_size=4),
    which=st.integers(0, 3),
    future=st.booleans(),
)
def test_a_changed_method_of_any_class_with_instances_selects_every_test_whose_outcome_it_changes(
    ways: list[str], which: int, future: bool, tmp_path: Path
) -> None:
    """Programs making instances of several classes in several ways and calling a method of each through an
    object of unknown type: a change to one class's method selects every test whose outcome changes."""
    files, tests, _ = _instance_program(ways, future)
    which %= len(ways)
    source = files["gen/mod.py"].decode()
    new_files = {**files, "gen/mod.py": source.replace(f"return {which} + 0", f"return {which} + 100").encode()}
    failing, selection = _failing_and_selection(
        tmp_path, files, new_files, tests, outside={"extlib.py": EXTLIB.encode()}
    )
    assert f"tests/test_gen.py::test_{which}" in failing
    assert failing <= set(selection.tests), (ways, which, selection.reasons)


def test_an_instance_made_only_by_a_doctest_selects_that_doctest(tmp_path: Path) -> None:
    """A module whose doctest makes the instance and hands it to an unknown-receiver call: ``--doctest-modules``
    selects the module's doctest item for a change to the method, and the doctest fails."""
    source = (
        '"""Probe.\n\n>>> from gen.other import call_probe\n>>> call_probe(Kept())\n1\n"""\n\n\n'
        "class Kept:\n    def probe(self):\n        return 1\n"
    )
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "gen/other.py": b"def call_probe(obj):\n    return obj.probe()\n",
        "tests/test_gen.py": b"from gen.other import call_probe\n\n\ndef test_other():\n    assert call_probe\n",
    }
    changed = source.replace("return 1", "return 2")

    def failed(text: str) -> int:
        for path, content in {**files, "gen/mod.py": text.encode()}.items():
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(content)
        sys.path.insert(0, str(tmp_path))
        try:
            for name in ("gen", "gen.mod", "gen.other"):
                sys.modules.pop(name, None)
            importlib.invalidate_caches()
            return doctest.testmod(importlib.import_module("gen.mod"), report=False).failed
        finally:
            sys.path.remove(str(tmp_path))
            for name in ("gen", "gen.mod", "gen.other"):
                sys.modules.pop(name, None)

    assert failed(source) == 0
    assert failed(changed) == 1
    index = TestIndex.build(files)
    selection = index.select(
        [ChangedEntity("gen/mod.py", "gen.mod.Kept.probe", "modified", ("body",))], args=["--doctest-modules"]
    )
    assert selection.tests == ("gen/mod.py",), selection.reasons


@pytest.mark.parametrize("annotation", ["", ": object"])
@pytest.mark.parametrize("value", ["Tracked", "Plain", "plain_function", "Tracked.mark"])
def test_a_class_attribute_naming_a_class_of_the_tree_runs_code_only_if_its_metaclass_has_set_name(
    value: str, annotation: str, tmp_path: Path
) -> None:
    """``k = mod.Tracked`` (or ``k: object = mod.Tracked``) in a new class body: ``type.__new__`` calls
    ``type(value).__set_name__``, here the metaclass's, which another test observes; naming a class whose metaclass
    is ``type``, or a plain function, is only a binding (the definer is not marked)."""
    source = (
        "LOG = []\n\n\nclass Meta(type):\n    def __set_name__(cls, owner, name):\n        LOG.append(name)\n\n"
        "    def mark(cls):\n        return 1\n\n\n"
        "class Tracked(metaclass=Meta):\n    pass\n\n\nclass Plain:\n    pass\n\n\ndef plain_function():\n    return 1\n"
    )
    test = "from gen import mod\n\n\ndef test_one():\n    assert mod.LOG == []\n"
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "tests/__init__.py": b"",
        "tests/test_gen.py": test.encode(),
    }
    new_test = test + f"\n\nclass NewHolder:\n    k{annotation} = mod.{value}\n"
    new_files = {**files, "tests/test_gen.py": new_test.encode()}
    failing, selection = _failing_and_selection(tmp_path, files, new_files, ["test_one"])
    assert failing <= set(selection.tests), (value, selection.reasons)
    if value == "Tracked":
        assert failing == {"tests/test_gen.py::test_one"}
    if value in ("Plain", "plain_function"):
        # Only the one importer that shows whether defining the class raises (``mod.Plain`` might not exist).
        assert not failing and all(why.startswith("imports ") for why in selection.reasons.values()), selection.reasons


def test_a_binding_the_class_body_itself_uses_is_code_of_the_definer(tmp_path: Path) -> None:
    """``made = Thing`` followed by ``made().record()`` in the same class body: the binding is used while the class
    statement runs, so the definer (the module) reaches ``Thing``, and a change to ``Thing.record`` selects a test
    that only imports the module."""
    source = (
        "LOG = []\n\n\nclass Thing:\n    def record(self):\n        LOG.append(1)\n\n\n"
        "class Holder:\n    made = Thing\n    made().record()\n"
    )
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "tests/__init__.py": b"",
        "tests/test_gen.py": b"from gen import mod\n\n\ndef test_log():\n    assert mod.LOG == [1]\n",
    }
    new_files = {**files, "gen/mod.py": source.replace("LOG.append(1)", "LOG.append(2)").encode()}
    failing, selection = _failing_and_selection(tmp_path, files, new_files, ["test_log"])
    assert failing == {"tests/test_gen.py::test_log"}
    assert failing <= set(selection.tests), selection.reasons


@pytest.mark.parametrize("way", ["module_dict", "sys_modules", "subclasses", "getattr", "globals", "vars", "string"])
def test_constructing_a_class_found_through_a_namespace_selects_the_test_for_a_change_to_its_dunders(
    way: str, tmp_path: Path
) -> None:
    """A class found without a reference (``mod.__dict__[name]``, ``Root.__subclasses__()``…) and constructed: a
    change to its ``__init__`` selects the test (every class such a read may find is used, not only its methods)."""
    files, tests, _ = _instance_program([way], future=False)
    test = files["tests/test_gen.py"].decode().replace("mod.call_probe(mod.get0()) == 0", "mod.get0() is not None")
    files["tests/test_gen.py"] = test.encode()  # only constructed: no method of the class is called
    source = files["gen/mod.py"].decode()
    broken = source.replace(
        "    def __init__(self, *args):\n        pass", "    def __init__(self, *args):\n        raise ValueError", 1
    )
    new_files = {**files, "gen/mod.py": broken.encode()}
    failing, selection = _failing_and_selection(
        tmp_path, files, new_files, tests, outside={"extlib.py": EXTLIB.encode()}
    )
    assert failing == {"tests/test_gen.py::test_0"}, failing
    assert failing <= set(selection.tests), (way, selection.reasons)


NAMESPACE_READS = {
    "module_dict": 'mod.__dict__["".join(["f", "n"])]()',
    "module_dict_values": '[v for v in mod.__dict__.values() if getattr(v, "__name__", "") == "fn"][0]()',
    "function_globals": 'mod.other.__globals__["".join(["f", "n"])]()',
    "class_dict": 'mod.Holder.__dict__["".join(["m", "e"])].__func__(None)',
    "cls_dict": "mod.Holder.via_cls()",
    "metaclass_self_dict": "mod.Holder.via_meta()",
    # the namespace of an object the analysis cannot name: a parameter, an item, a module from sys.modules
    "parameter_dict": 'mod.via_param(mod, "".join(["f", "n"]))',
    "parameter_vars": 'mod.via_vars(mod, "".join(["f", "n"]))',
    "module_vars": 'vars(mod)["".join(["f", "n"])]()',
    "item_dict": '[mod][0].__dict__["".join(["f", "n"])]()',
    "sys_modules_dict": 'sys.modules["gen.mod"].__dict__["".join(["f", "n"])]()',
}


@pytest.mark.parametrize("way", sorted(NAMESPACE_READS))
def test_a_function_called_through_a_namespace_it_was_found_in_is_reached(way: str, tmp_path: Path) -> None:
    """A module's, a function's globals' or a class's ``__dict__`` hands out what no reference names: a function
    found there and called is reached, so a change to it selects the test, which fails."""
    module = "def fn():\n    return 1\n\n\ndef other():\n    return 0\n"
    if way in ("class_dict", "cls_dict", "metaclass_self_dict"):  # (a metaclass's own namespace reads reach far)
        module += (
            "\n\nclass Meta(type):\n"
            '    def via_meta(self):\n        return self.__dict__["".join(["m", "e"])].__func__(self)\n\n\n'
            "class Holder(metaclass=Meta):\n    @classmethod\n    def me(cls):\n        return 1\n\n"
            '    @classmethod\n    def via_cls(cls):\n        return cls.__dict__["".join(["m", "e"])].__func__(cls)\n'
        )
    elif way == "parameter_dict":
        module += "\n\ndef via_param(namespace, name):\n    return namespace.__dict__[name]()\n"
    elif way == "parameter_vars":
        module += "\n\ndef via_vars(namespace, name):\n    return vars(namespace)[name]()\n"
    if way in ("class_dict", "cls_dict", "metaclass_self_dict"):
        broken = module.replace("        return 1\n", "        return 2\n")
    else:
        broken = module.replace("def fn():\n    return 1\n", "def fn():\n    return 2\n")
    test = f"import sys\n\nfrom gen import mod\n\n\ndef test_0():\n    assert {NAMESPACE_READS[way]} == 1\n"
    files = {"gen/__init__.py": b"", "gen/mod.py": module.encode(), "tests/__init__.py": b""}
    files["tests/test_gen.py"] = test.encode()
    failing, selection = _failing_and_selection(tmp_path, files, {**files, "gen/mod.py": broken.encode()}, ["test_0"])
    assert failing == {"tests/test_gen.py::test_0"}, failing
    assert failing <= set(selection.tests), (way, selection.reasons)


# -- values of exact builtin types --------------------------------------------------------------------------------
#
# An attribute read from a value certainly of an exact builtin type (``"a/b".split("/")``) reaches no method of
# the tree. Each program binds one variable several ways, each to a builtin value or to a value of the tree (an
# instance of a class with a ``split``, of a subclass of ``str``, a parameter, what ``str()`` or ``"%s" %`` make
# of an object whose ``__str__`` returns a subclass of ``str``), then reads ``split`` from it.

BUILTIN_SOURCES = ['"a/b"', '" a/b ".strip()', '"/".join(["a", "b"])', 'f"{1}/{2}"', "str(12)", '"a" + "/b"']
TREE_SOURCES = [
    "Lexer()",
    'MyStr("a/b")',
    "make()",
    "arg",
    "str(Shown())",
    '"%s" % MyStr("a/b")',
    'f"{Shown()}"',
    '"a/b".partition(MyStr("/"))[1]',
    "[Lexer()][0]",
]
BUILTIN_MODULE = """\
class Lexer:
    def split(self, sep=None):
        return ["lexer"]


class MyStr(str):
    def split(self, sep=None, maxsplit=-1):
        return ["mine"]


class Shown:
    def __str__(self):
        return MyStr("a/b")


def make():
    return Lexer()


def use(arg):
{bindings}
    return {read}
"""


@st.composite
def builtin_programs(draw: st.DrawFn) -> tuple[str, bool, bool]:
    """The module, whether any binding may be a value of the tree, whether one goes where the analysis does not
    follow values (a nested scope's ``nonlocal``, a list changed in place, a dict's items)."""
    lines: list[str] = []
    tree_value = opaque = False
    for i in range(draw(st.integers(1, 4))):
        source = draw(st.sampled_from(BUILTIN_SOURCES + TREE_SOURCES))
        tree_value = tree_value or source in TREE_SOURCES
        way = draw(
            st.sampled_from(["assign", "if", "for", "walrus", "unpack", "nonlocal", "loop-rebind", "list", "dict"])
        )
        if way == "assign" or (way == "loop-rebind" and i == 0):
            lines.append(f"v = {source}")
        elif way == "if":
            lines += ["if arg is not None:", f"    v = {source}"]
        elif way == "for":
            lines += [f"for v in [{source}]:", "    pass"]
        elif way == "walrus":
            lines += [f"if (v := {source}) is None:", "    pass"]
        elif way == "unpack":
            lines.append(f"v, _w = {source}, 0")
        elif way == "nonlocal":
            opaque = True
            lines += [f"def set{i}():", "    nonlocal v", f"    v = {source}", f"set{i}()"]
        elif way == "list":  # a list changed in place: its elements are anything
            opaque = True
            lines += ['vs = "a/b".split()', f"vs.append({source})", "v = vs[-1]"]
        elif way == "dict":
            opaque = True
            lines += [f'v = {{"k": {source}}}["k"]']
        else:  # rebinding from itself: keeps the type it had
            lines += ["for _ in range(2):", "    v = (v, 0)[0] or v"]
    read = draw(st.sampled_from(['v.split("/")', '[w.split("/") for w in [v]][0]']))
    bindings = "\n".join("    " + line for line in ["v = None", *lines])
    return BUILTIN_MODULE.format(bindings=bindings, read=read), tree_value, opaque


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(program=builtin_programs(), argument=st.sampled_from(["Lexer()", 'MyStr("a/b")', '"a/b"']))
def test_a_split_of_a_variable_bound_to_any_value_of_the_tree_selects_the_test(
    program: tuple[str, bool, bool], argument: str, tmp_path: Path
) -> None:
    source, tree_value, opaque = program
    tests = ["test_use"]
    test = f"from gen.mod import *\n\n\ndef test_use():\n    Lexer()\n    assert use({argument}) is not None\n"
    files = {
        "gen/__init__.py": b"",
        "gen/mod.py": source.encode(),
        "tests/__init__.py": b"",
        "tests/test_gen.py": test.encode(),
    }
    for cls, returned in (("Lexer", '["lexer"]'), ("MyStr", '["mine"]')):
        broken = source.replace(f"        return {returned}", "        raise RuntimeError", 1)
        failing, selection = _failing_and_selection(
            tmp_path / cls, files, {**files, "gen/mod.py": broken.encode()}, tests
        )
        assert failing <= set(selection.tests), (cls, source, argument, selection.reasons)
        if not tree_value and not opaque:  # every binding a builtin value: no split of the tree is reached
            assert not selection.tests, (cls, source, selection.reasons)
