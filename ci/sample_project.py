"""A deterministic sample Python project, for the tests, the demo and the benchmark of verification.

:func:`generate` writes a pure-Python (standard library only) package whose
modules import each other along a DAG — ``helpers`` → ``services`` → ``api`` —
with module constants, functions and a class with methods per module, and a
``tests/`` directory with one test module per source module (some tests
reach several modules), a ``trellis.toml`` pipeline, ``pyproject.toml`` and a
root ``conftest.py``. Every test passes. The same arguments give the same
bytes.

The code is straight-line integer arithmetic modulo a prime, with positive
coefficients, so a change of one function's result changes the result of
every function that calls it, directly or not: :func:`inject_fault` makes
one function off by one, and exactly the tests that reach it fail
(:attr:`Fault.expected_failures`, from :func:`call_graph`). :func:`micro_edit`
makes a harmless edit (a comment, an equivalent refactor, a docstring, an
unused constant) for a series of micro-commits.

Sizes: the default (40 modules, 12 functions each) is about 10,000 lines and
550 tests, the benchmark's size; :func:`small` (6 modules, 5 functions) about
40 tests, for fast tests and the demo.
"""

from __future__ import annotations

import ast
import posixpath
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "MODULUS",
    "CallGraph",
    "Fault",
    "call_graph",
    "generate",
    "inject_fault",
    "micro_edit",
    "small",
    "write_files",
]

MODULUS = 1_000_000_007
SMALL = {"modules": 6, "functions_per_module": 5, "tests_per_function": 1}

_HELPERS = ["text", "numbers", "dates", "money", "geometry", "colors", "units", "checksums", "ranges", "vectors",
            "matrices", "parsing", "rounding", "hashing", "calendars", "intervals", "ratios", "encoding"]
_SERVICES = ["billing", "inventory", "shipping", "accounts", "orders", "catalog", "pricing", "reports", "payments",
             "notifications", "search", "scheduling", "auditing", "discounts", "invoices", "refunds"]
_API = ["checkout", "storefront", "admin", "webhooks", "exports", "dashboards", "partners", "mobile", "imports",
        "sessions", "feeds", "metrics"]
_VERBS = ["compute", "normalize", "scale", "merge", "score", "adjust", "estimate", "combine", "measure", "rank",
          "weigh", "shift", "blend", "count", "derive", "resolve", "summarize", "encode", "balance", "project",
          "reduce", "expand", "align", "clamp", "convert", "accumulate", "validate", "index"]
_NOUNS = ["total", "weight", "offset", "ratio", "margin", "budget", "window", "batch", "quota", "limit", "rate",
          "score", "level", "span", "factor", "delta", "share", "bucket", "tier", "streak", "volume", "priority",
          "capacity", "balance", "interval", "cursor", "segment", "threshold", "digest", "backlog"]
_CLASS_SUFFIX = {"helpers": ["Formatter", "Calculator", "Toolkit"], "services": ["Service", "Manager", "Ledger"],
                 "api": ["Handler", "Endpoint", "Controller"]}
_LAYER_DOC = {"helpers": "small pure helpers", "services": "business services built on the helpers",
              "api": "request handlers built on the services"}


@dataclass(frozen=True, slots=True)
class Fault:
    """One function made off by one: ``files`` is the whole project with the fault.

    ``expected_failures`` are the node ids of the tests that reach the
    function (they fail; every other test passes).
    """

    path: str
    qualname: str
    files: dict[str, bytes]
    description: str
    expected_failures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CallGraph:
    """Who calls whom in a generated project (semantic-diff qualnames), and what each test calls.

    Read back from the files by :func:`call_graph`, for the generated code's
    narrow dialect only: it is the ground truth the selection is checked
    against, computed independently of it.
    """

    functions: dict[str, tuple[str, ...]]
    paths: dict[str, str]
    tests: dict[str, tuple[str, ...]]

    def reached_by(self, nodeid: str) -> frozenset[str]:
        """Every function a test calls, directly or not."""
        seen: set[str] = set()
        stack = list(self.tests[nodeid])
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.functions.get(name, ()))
        return frozenset(seen)

    def tests_reaching(self, qualname: str) -> tuple[str, ...]:
        return tuple(sorted(t for t in self.tests if qualname in self.reached_by(t)))


# ---------------------------------------------------------------------------------------------
# The model


@dataclass(eq=False)
class _Func:
    module: _Module
    name: str
    cls: str
    a: int
    b: int
    style: str
    calls: list[tuple[int, _Func, int]] = field(default_factory=list)
    loop: _Func | None = None
    doc_lines: int = 1

    @property
    def qualname(self) -> str:
        owner = f".{self.cls}" if self.cls else ""
        return f"{self.module.dotted}{owner}.{self.name}"


@dataclass(eq=False)
class _Module:
    package: str
    layer: str
    name: str
    index: int
    scale: int
    offset: int
    weights: tuple[int, ...]
    imports: list[_Module] = field(default_factory=list)
    direct: dict[str, _Func] = field(default_factory=dict)
    relative: bool = False
    functions: list[_Func] = field(default_factory=list)
    cls: str = ""
    factor: int = 3
    methods: list[_Func] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return f"{self.package}.{self.layer}.{self.name}"

    @property
    def path(self) -> str:
        return f"{self.package}/{self.layer}/{self.name}.py"

    @property
    def test_path(self) -> str:
        return f"tests/test_{self.layer}_{self.name}.py"


def _evaluate(func: _Func, value: int, factor: int, memo: dict[tuple[int, int, int], int]) -> int:
    key = (id(func), value, factor)
    if key in memo:
        return memo[key]
    module = func.module
    total = func.a * value + func.b
    if func.cls:
        total += factor * value
    for coef, callee, offset in func.calls:
        total += coef * _evaluate(callee, value + offset, factor if callee.cls else 0, memo)
    if func.loop is not None:
        for step, weight in enumerate(module.weights):
            total += weight * _evaluate(func.loop, value + step, factor if func.loop.cls else 0, memo)
    result = total % MODULUS
    memo[key] = result
    return result


def _names(rng: random.Random, pool: list[str], count: int) -> list[str]:
    out = []
    for i in range(count):
        word = pool[i % len(pool)]
        out.append(word if i < len(pool) else f"{word}{i // len(pool) + 1}")
    rng.shuffle(out)
    return out


def _build(modules: int, functions_per_module: int, seed: int, package: str) -> list[_Module]:
    rng = random.Random(f"sample-project:{seed}")
    n_helpers = max(1, round(modules * 0.4))
    n_services = max(0, min(modules - n_helpers, round(modules * 0.35)))
    n_api = modules - n_helpers - n_services
    layers = (["helpers"] * n_helpers + ["services"] * n_services + ["api"] * n_api)
    names = {"helpers": _names(rng, _HELPERS, n_helpers), "services": _names(rng, _SERVICES, n_services),
             "api": _names(rng, _API, n_api)}
    taken = {layer: 0 for layer in names}
    out: list[_Module] = []
    for index, layer in enumerate(layers):
        name = names[layer][taken[layer]]
        taken[layer] += 1
        module = _Module(package=package, layer=layer, name=name, index=index, scale=rng.randint(2, 9),
                         offset=rng.randint(1, 97), weights=tuple(rng.randint(1, 5) for _ in range(rng.randint(2, 3))))
        helpers = [m for m in out if m.layer == "helpers"]
        services = [m for m in out if m.layer == "services"]
        if layer == "helpers":
            pool = rng.sample(helpers, min(len(helpers), rng.randint(0, 2)))
        elif layer == "services":
            pool = rng.sample(helpers, min(len(helpers), rng.randint(1, 3)))
            pool += rng.sample(services, min(len(services), rng.randint(0, 1)))
        else:
            pool = rng.sample(services or helpers, min(len(services or helpers), rng.randint(1, 2)))
            pool += rng.sample(helpers, min(len(helpers), rng.randint(0, 1)))
        module.imports = sorted(set(pool), key=lambda m: m.index)
        module.relative = layer != "helpers" and rng.random() < 0.3
        _fill(module, functions_per_module, rng)
        out.append(module)
    return out


def _fill(module: _Module, count: int, rng: random.Random) -> None:
    n_methods = max(2, count // 4) if count >= 4 else 0
    n_functions = count - n_methods
    words = rng.sample([f"{v}_{n}" for v in _VERBS for n in _NOUNS], count)
    for i in range(n_functions):
        func = _Func(module=module, name=words[i], cls="", a=rng.randint(1, 9), b=rng.randint(0, 99),
                     style=rng.choice(["expr", "acc", "acc"]), doc_lines=rng.choice([1, 1, 4, 8, 8]))
        _wire(func, module.functions, module, rng)
        module.functions.append(func)
    if n_methods:
        module.cls = "".join(p.capitalize() for p in module.name.split("_")) + rng.choice(_CLASS_SUFFIX[module.layer])
        module.factor = rng.randint(2, 7)
        for i in range(n_methods):
            func = _Func(module=module, name=words[n_functions + i], cls=module.cls, a=rng.randint(1, 9),
                         b=rng.randint(0, 99), style=rng.choice(["expr", "acc"]), doc_lines=rng.choice([1, 4, 8]))
            _wire(func, module.functions + module.methods, module, rng)
            module.methods.append(func)
    for func in module.functions + module.methods:
        if func.style == "acc":  # rendered as SCALE * value + OFFSET
            func.a, func.b = module.scale, module.offset
    # Some modules import a helper function by name instead of its module.
    names = {f.name for f in module.functions + module.methods}
    for imported in module.imports:
        callees = dict.fromkeys(c for f in module.functions + module.methods for _, c, _ in f.calls
                                if c.module is imported)
        for callee in callees:  # in call order (a set of objects would iterate by address)
            if callee.name not in names and callee.name not in module.direct and rng.random() < 0.2:
                module.direct[callee.name] = callee


def _wire(func: _Func, local: list[_Func], module: _Module, rng: random.Random) -> None:
    """Pick what a function calls: earlier functions here, functions of the imported modules."""
    external = [f for m in module.imports for f in m.functions]
    pool = [f for f in local if not f.cls or f.cls == func.cls]
    candidates = external + pool
    if not candidates:
        return
    count = min(len(candidates), rng.choice([0, 1, 1, 2, 2, 3]) if func.module.layer != "helpers" or local
                else rng.choice([0, 1]))
    for callee in rng.sample(candidates, count):
        func.calls.append((rng.randint(1, 5), callee, rng.randint(0, 3)))
    if candidates and rng.random() < 0.2:
        func.loop = rng.choice(candidates)


# ---------------------------------------------------------------------------------------------
# Rendering


def _call(func: _Func, callee: _Func, arg: str) -> str:
    module = func.module
    if callee.cls:
        return f"self.{callee.name}({arg})"
    if callee.module is module or module.direct.get(callee.name) is callee:
        return f"{callee.name}({arg})"
    return f"{callee.module.name}.{callee.name}({arg})"


def _doc(func: _Func) -> list[str]:
    verb, _, noun = func.name.partition("_")
    what = f"{verb.capitalize()} the {noun} of ``value``"
    if func.doc_lines == 1:
        return [f'"""{what}."""']
    if func.doc_lines == 4:
        return [f'"""{what}.', "", "The result is reduced modulo ``MODULUS`` so it stays a small integer.", '"""']
    return [f'"""{what}.', "", "Args:", "    value: the input, a non-negative integer.", "", "Returns:",
            f"    The {noun}, reduced modulo ``MODULUS``.", '"""']


def _render_func(func: _Func, indent: str) -> list[str]:
    module = func.module
    args = "self, value: int" if func.cls else "value: int"
    body = indent + "    "
    lines = [f"{indent}def {func.name}({args}) -> int:"]
    lines += [body + line if line else "" for line in _doc(func)]
    terms = [(f"{c} * " if c > 1 else "") + _call(func, callee, f"value + {off}" if off else "value")
             for c, callee, off in func.calls]
    loop = func.loop
    if func.style == "expr":
        parts = [f"{func.a} * value", str(func.b)]
        if func.cls:
            parts.append("self.factor * value")
        parts += terms
        if loop is not None:
            parts.append(f"sum(weight * {_call(func, loop, 'value + step')} "
                         "for step, weight in enumerate(WEIGHTS))")
        line = f"{body}return ({' + '.join(parts)}) % MODULUS"
        if len(line) <= 110:
            lines.append(line)
        else:
            lines.append(f"{body}return (")
            lines.append(f"{body}    {parts[0]}")
            lines += [f"{body}    + {part}" for part in parts[1:]]
            lines.append(f"{body}) % MODULUS")
    else:
        lines.append(f"{body}total = SCALE * value + OFFSET")
        if func.cls:
            lines.append(f"{body}total += self.factor * value")
        lines += [f"{body}total += {term}" for term in terms]
        if loop is not None:
            lines.append(f"{body}for step, weight in enumerate(WEIGHTS):")
            lines.append(f"{body}    total += weight * {_call(func, loop, 'value + step')}")
        lines.append(f"{body}return total % MODULUS")
    return lines


def _import_lines(module: _Module) -> list[str]:
    lines = []
    for imported in module.imports:
        if module.relative:
            lines.append(f"from ..{imported.layer} import {imported.name}")
        else:
            lines.append(f"from {module.package}.{imported.layer} import {imported.name}")
    for name, callee in sorted(module.direct.items()):
        lines.append(f"from {callee.module.dotted} import {name}")
    return sorted(lines)


def _render_module(module: _Module) -> str:
    lines = [f'"""{module.name.capitalize()}: {_LAYER_DOC[module.layer]} of the {module.package} sample.', "",
             "Every function is pure integer arithmetic modulo ``MODULUS``.", '"""', "",
             "from __future__ import annotations", ""]
    imports = _import_lines(module)
    if imports:
        lines += imports + [""]
    public = sorted([f.name for f in module.functions] + ([module.cls] if module.cls else []))
    lines += ["__all__ = [", *(f'    "{name}",' for name in public), "]", ""]
    lines += [f"MODULUS = {MODULUS:_}", f"SCALE = {module.scale}", f"OFFSET = {module.offset}",
              f"WEIGHTS = {module.weights!r}", "_REVISION = 1", ""]
    for func in module.functions:
        lines += ["", *_render_func(func, ""), ""]
    if module.cls:
        lines += ["", f"class {module.cls}:", f'    """{module.name.capitalize()} operations scaled by a factor."""',
                  "", f"    def __init__(self, factor: int = {module.factor}) -> None:",
                  "        self.factor = factor"]
        for func in module.methods:
            lines += ["", *_render_func(func, "    ")]
        lines.append("")
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _render_tests(module: _Module, modules: list[_Module], tests_per_function: int, rng: random.Random) -> str:
    memo: dict[tuple[int, int, int], int] = {}
    alias = module.name
    extra: list[_Module] = []
    body: list[str] = []
    for func in module.functions:
        for case in range(tests_per_function):
            name = f"test_{func.name}" + (f"_case{case + 1}" if case else "")
            if rng.random() < 0.25:
                values = sorted(rng.sample(range(1, 40), 3))
                pairs = ", ".join(f"({v}, {_evaluate(func, v, 0, memo)})" for v in values)
                body += ["", "", f'@pytest.mark.parametrize(("value", "expected"), [{pairs}])',
                         f"def {name}(value: int, expected: int) -> None:",
                         f"    assert {alias}.{func.name}(value) == expected"]
            else:
                value = rng.randint(1, 40)
                body += ["", "", f"def {name}() -> None:",
                         f'    """{alias}.{func.name} gives the known value for {value}."""',
                         f"    assert {alias}.{func.name}({value}) == {_evaluate(func, value, 0, memo)}"]
    if module.functions and module.index % 5 == 0:
        func = module.functions[0]
        expected = [_evaluate(func, v, 0, memo) for v in (1, 2, 3)]
        body += ["", "", f"def test_{func.name}_on_samples(sample_values: tuple[int, ...]) -> None:",
                 f"    assert [{alias}.{func.name}(v) for v in sample_values] == {expected}"]
    if module.cls:
        var = re.sub(r"^.*[a-z](?=[A-Z])", "", module.cls).lower()  # TextFormatter -> formatter
        body += ["", "", f"def test_{module.name}_default_factor() -> None:",
                 f"    assert {alias}.{module.cls}().factor == {module.factor}"]
        body += ["", "", f"class Test{module.cls}:"]
        first = True
        for func in module.methods:
            for case in range(tests_per_function):
                factor = rng.choice([None, rng.randint(2, 9)])
                used = module.factor if factor is None else factor
                value = rng.randint(1, 40)
                ctor = f"{alias}.{module.cls}()" if factor is None else f"{alias}.{module.cls}(factor={factor})"
                name = f"test_{func.name}" + (f"_case{case + 1}" if case else "")
                body += ([] if first else [""]) + [f"    def {name}(self) -> None:", f"        {var} = {ctor}",
                                                   f"        assert {var}.{func.name}({value}) == "
                                                   f"{_evaluate(func, value, used, memo)}"]
                first = False
    if module.layer == "api" and module.functions:
        others = [m for m in module.imports if m.functions]
        for i, other in enumerate(others[:2]):
            mine = module.functions[-1 - i % len(module.functions)]
            theirs = other.functions[i % len(other.functions)]
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            total = _evaluate(mine, a, 0, memo) + _evaluate(theirs, b, 0, memo)
            extra.append(other)
            body += ["", "", f"def test_{module.name}_flow_with_{other.name}() -> None:",
                     f"    assert {alias}.{mine.name}({a}) + {other.name}.{theirs.name}({b}) == {total}"]
    imports = sorted({f"from {module.package}.{m.layer} import {m.name}" for m in [module, *extra]})
    header = [f'"""Tests of {module.dotted}."""', "", "from __future__ import annotations", ""]
    if "pytest.mark" in "\n".join(body):
        header += ["import pytest", ""]
    return "\n".join(header + imports + body) + "\n"


def _static_files(package: str, layers: Iterable[str]) -> dict[str, str]:
    files = {
        "pyproject.toml": f'[project]\nname = "{package}"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
                          '\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
        "conftest.py": f'"""Shared fixtures of the {package} tests."""\n\nfrom __future__ import annotations\n\n'
                       "import pytest\n\n\n@pytest.fixture\ndef sample_values() -> tuple[int, ...]:\n"
                       '    """A few small inputs."""\n    return (1, 2, 3)\n',
        "trellis.toml": "# The verification pipeline of the sample project (see docs/pipelines.md).\n\n"
                        '[stages.syntax]\nkind = "syntax"\nscope = "file"\nwhen.languages = ["python"]\n\n'
                        '[stages.unit]\nkind = "pytest"\nselect = "affected"\nneeds = ["syntax"]\n'
                        'timeout = "120s"\n\n'
                        f'[stages.compile]\nrun = "python -m compileall -q {package}"\nneeds = ["syntax"]\n',
        f"{package}/__init__.py": f'"""The {package} sample package: helpers, services and api layers."""\n\n'
                                  '__version__ = "0.1.0"\n',
    }
    for layer in layers:
        files[f"{package}/{layer}/__init__.py"] = f'"""The {layer} layer: {_LAYER_DOC[layer]}."""\n'
    return files


def generate(*, modules: int = 40, functions_per_module: int = 12, tests_per_function: int = 1, seed: int = 0,
             package: str = "sampleapp") -> dict[str, bytes]:
    """The files of a sample project (path -> content); the same arguments give the same bytes."""
    if modules < 1 or functions_per_module < 1 or tests_per_function < 1:
        raise ValueError("modules, functions_per_module and tests_per_function must be at least 1")
    if not package.isidentifier():
        raise ValueError(f"package must be a Python identifier, not {package!r}")
    model = _build(modules, functions_per_module, seed, package)
    rng = random.Random(f"sample-tests:{seed}")
    files = _static_files(package, sorted({m.layer for m in model}))
    for module in model:
        files[module.path] = _render_module(module)
        files[module.test_path] = _render_tests(module, model, tests_per_function, rng)
    return {path: files[path].encode() for path in sorted(files)}


def small(*, seed: int = 0, package: str = "sampleapp") -> dict[str, bytes]:
    """The small preset: 6 modules, about 40 tests (fast tests, the demo)."""
    return generate(seed=seed, package=package, **SMALL)


def write_files(files: Mapping[str, bytes], root: Path) -> None:
    """Write a project (path -> content) under ``root`` (for a real pytest run, the demo)."""
    for path, content in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


# ---------------------------------------------------------------------------------------------
# Reading a generated project back


def call_graph(files: Mapping[str, bytes]) -> CallGraph:
    """The call graph of a generated project (its dialect: module aliases, direct imports, ``self``)."""
    modules = {_dotted(p): p for p in files if p.endswith(".py") and not p.startswith("tests/")}
    functions: dict[str, tuple[str, ...]] = {}
    paths: dict[str, str] = {}
    tests: dict[str, tuple[str, ...]] = {}
    for path, content in sorted(files.items()):
        if not path.endswith(".py") or posixpath.basename(path) in ("__init__.py", "conftest.py"):
            continue
        tree = ast.parse(content.decode())
        names = _aliases(tree, path, modules)
        if path.startswith("tests/"):
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                    tests[f"{path}::{node.name}"] = _calls(node, names, "", {})
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                            tests[f"{path}::{node.name}::{item.name}"] = _calls(item, names, "", {})
            continue
        module = _dotted(path)
        local = {n.name: f"{module}.{n.name}" for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[f"{module}.{node.name}"] = _calls(node, {**names, **local}, "", {})
                paths[f"{module}.{node.name}"] = path
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                        qualname = f"{module}.{node.name}.{item.name}"
                        functions[qualname] = _calls(item, {**names, **local}, f"{module}.{node.name}", {})
                        paths[qualname] = path
    return CallGraph(functions=functions, paths=paths, tests=tests)


def _dotted(path: str) -> str:
    stem = path[:-3]
    return (stem[: -len("/__init__")] if stem.endswith("/__init__") else stem).replace("/", ".")


def _aliases(tree: ast.Module, path: str, modules: Mapping[str, str]) -> dict[str, str]:
    """Local name -> module (``mod:x.y``) or function (``x.y.f``) it stands for."""
    out: dict[str, str] = {}
    package = _dotted(path).rpartition(".")[0]
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom) or node.module == "__future__":
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            target = f"{base}.{alias.name}"
            out[alias.asname or alias.name] = f"mod:{target}" if target in modules else target
    return out


def _calls(func: ast.FunctionDef, names: Mapping[str, str], owner: str, types: dict[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            target = _callee(node.value.func, names, owner, types)
            if target and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                types[node.targets[0].id] = target
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            target = _callee(node.func, names, owner, types)
            if target and not target[0].isupper() and target.rpartition(".")[2][:1].islower():
                found.append(target)
    return tuple(dict.fromkeys(found))


def _callee(func: ast.AST, names: Mapping[str, str], owner: str, types: Mapping[str, str]) -> str:
    if isinstance(func, ast.Name):
        target = names.get(func.id, "")
        return "" if target.startswith("mod:") else target
    if isinstance(func, ast.Attribute):
        base = func.value
        if isinstance(base, ast.Name):
            if base.id == "self" and owner:
                return f"{owner}.{func.attr}"
            if base.id in types:
                return f"{types[base.id]}.{func.attr}"
            target = names.get(base.id, "")
            if target.startswith("mod:"):
                return f"{target[4:]}.{func.attr}"
        if isinstance(base, ast.Call):
            cls = _callee(base.func, names, owner, types)
            return f"{cls}.{func.attr}" if cls else ""
    return ""


# ---------------------------------------------------------------------------------------------
# Faults and micro-edits


def _targets(files: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """(path, local qualname) of every function and method of the package, sorted."""
    out = []
    for path, content in sorted(files.items()):
        if not path.endswith(".py") or path.startswith("tests/") or "/" not in path:
            continue
        if posixpath.basename(path) in ("__init__.py", "conftest.py"):
            continue
        tree = ast.parse(content.decode())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                out.append((path, node.name))
            elif isinstance(node, ast.ClassDef):
                out += [(path, f"{node.name}.{n.name}") for n in node.body
                        if isinstance(n, ast.FunctionDef) and n.name != "__init__"]
    return out


def _find(tree: ast.Module, local: str) -> ast.FunctionDef:
    scope: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in local.split("."):
        node = next(n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
        scope = node.body
    assert isinstance(node, ast.FunctionDef)
    return node


def _offset(lines: list[str], lineno: int, col: int) -> int:
    return sum(len(line) for line in lines[: lineno - 1]) + len(lines[lineno - 1].encode()[:col].decode())


def inject_fault(files: Mapping[str, bytes], *, seed: int) -> Fault:
    """Make one function (chosen by ``seed``) return one more, or one less, than it should."""
    rng = random.Random(f"fault:{seed}")
    path, local = rng.choice(_targets(files))
    text = files[path].decode()
    func = _find(ast.parse(text), local)
    ret = func.body[-1]
    assert isinstance(ret, ast.Return) and ret.value is not None
    delta = rng.choice(["+ 1", "- 1"])
    lines = text.splitlines(keepends=True)
    at = _offset(lines, ret.value.end_lineno or ret.lineno, ret.value.end_col_offset or 0)
    new = text[:at] + f" {delta}" + text[at:]
    qualname = f"{_dotted(path)}.{local}"
    changed = {**files, path: new.encode()}
    graph = call_graph(changed)
    more = "one more" if delta == "+ 1" else "one less"
    return Fault(path=path, qualname=qualname, files=dict(changed),
                 description=f"off by one: {qualname} returns {more} than it should",
                 expected_failures=graph.tests_reaching(qualname))


_REVISION_COMMENT = re.compile(r"^(\s*)# revision \d+\n", re.MULTILINE)


def micro_edit(files: Mapping[str, bytes], *, seed: int) -> tuple[dict[str, bytes], str, str]:
    """A harmless edit (tests keep passing): ``(files, path, qualname)`` of what it touched.

    One of: a comment in a function body, an equivalent refactor of its
    ``return`` (through a local variable, or back), a docstring tweak, or —
    one time in ten — the module's unused ``_REVISION`` constant (then
    ``qualname`` is the module's).
    """
    rng = random.Random(f"edit:{seed}")
    path, local = rng.choice(_targets(files))
    text = files[path].decode()
    kind = rng.choice(["comment", "comment", "refactor", "refactor", "docstring", "comment", "refactor",
                       "docstring", "refactor", "constant"])
    if kind == "constant":
        new = re.sub(r"^_REVISION = (\d+)$", lambda m: f"_REVISION = {int(m.group(1)) + 1}", text, count=1,
                     flags=re.MULTILINE)
        return {**files, path: new.encode()}, path, _dotted(path)
    func = _find(ast.parse(text), local)
    lines = text.splitlines(keepends=True)
    ret = func.body[-1]
    assert isinstance(ret, ast.Return) and ret.value is not None
    indent = " " * ret.col_offset
    start = _offset(lines, ret.lineno, ret.col_offset) - ret.col_offset
    end = _offset(lines, ret.end_lineno or ret.lineno, ret.end_col_offset or 0)
    if kind == "comment":
        before = text[:start]
        previous = before.rfind("\n", 0, len(before) - 1) + 1
        stamp = f"{indent}# revision {rng.randint(1, 10**6)}\n"
        if _REVISION_COMMENT.fullmatch(before[previous:]):
            new = before[:previous] + stamp + text[start:]
        else:
            new = before + stamp + text[start:]
    elif kind == "refactor":
        prior = func.body[-2] if len(func.body) > 1 else None
        if (isinstance(ret.value, ast.Name) and ret.value.id == "result" and isinstance(prior, ast.Assign)
                and isinstance(prior.targets[0], ast.Name) and prior.targets[0].id == "result"):
            p_start = _offset(lines, prior.lineno, prior.col_offset)
            expression = ast.get_source_segment(text, prior.value) or ""
            new = text[:p_start] + f"return {expression}" + text[end:]
        else:
            expression = ast.get_source_segment(text, ret.value) or ""
            new = text[:start] + f"{indent}result = {expression}\n{indent}return result" + text[end:]
    else:  # docstring: toggle a remark
        doc = func.body[0]
        assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
        d_start = _offset(lines, doc.lineno, doc.col_offset)
        d_end = _offset(lines, doc.end_lineno or doc.lineno, doc.end_col_offset or 0)
        segment = text[d_start:d_end]
        if "\n" not in segment:
            inner = segment[3:-3]
            inner = (inner[: -len(" (reviewed).")] + "." if inner.endswith(" (reviewed).")
                     else inner.rstrip(".") + " (reviewed).")
            segment = f'"""{inner}"""'
        else:
            parts = segment.split("\n")
            if parts[-2].strip() == "Reviewed.":
                del parts[-2]
            else:
                parts.insert(-1, parts[-1][:-3] + "Reviewed.")
            segment = "\n".join(parts)
        new = text[:d_start] + segment + text[d_end:]
    return {**files, path: new.encode()}, path, f"{_dotted(path)}.{local}"
