"""docs/api.md says what the server does: its services, every error reason, its size limits.

The reasons are collected from the source: every ``reason = "..."`` of an
exception class and every ``reason="..."`` passed where an error is raised,
with the status code that error is sent with (``trellis.errors.status_code``)
and the metadata keys given there. The table of reasons in docs/api.md must
name exactly these reasons, with the same codes and at least these keys.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trellis import servicers, vcs
from trellis.config import ServerConfig
from trellis.errors import DOMAIN_ERRORS, SENT_ERRORS, status_code
from trellis.v1 import (
    changes_pb2,
    changes_pb2_grpc,
    diffs_pb2,
    diffs_pb2_grpc,
    pipelines_pb2,
    pipelines_pb2_grpc,
    queries_pb2,
    queries_pb2_grpc,
    repositories_pb2,
    repositories_pb2_grpc,
    sessions_pb2,
    sessions_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
PACKAGES = ("trellis",)
GENERATED = ROOT / "trellis" / "v1"
LOCAL = "local"  # an error class the server never sends as such (start-up, CLI, inside CI)
REASON_SHAPE = re.compile(r"[A-Z][A-Z0-9_]*")


@dataclass
class Reason:
    codes: set[str] = field(default_factory=set)
    metadata: set[str] = field(default_factory=set)
    places: list[str] = field(default_factory=list)


def _modules(root: Path, packages: tuple[str, ...]) -> Iterator[tuple[str, Path, ast.Module]]:
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if GENERATED in path.parents or path.name == "__main__.py":  # importing it would run it
                continue
            relative = path.relative_to(root).with_suffix("")
            parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
            yield ".".join(parts), path, ast.parse(path.read_text(), str(path))


def _imported_in_functions(tree: ast.Module, module: Any) -> dict[str, Any]:
    """Names bound by ``from X import Y`` inside functions (deferred imports), resolved."""
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.col_offset > 0:
            try:
                package = importlib.import_module(
                    "." * node.level + (node.module or ""), module.__package__ if node.level else None
                )
            except ImportError:  # an optional dependency (ray) that is not installed
                continue
            for alias in node.names:
                if hasattr(package, alias.name):
                    names[alias.asname or alias.name] = getattr(package, alias.name)
    return names


def _code_of_class(cls: type) -> str:
    if issubclass(cls, SENT_ERRORS):
        return status_code(cls).name
    return LOCAL


def _codes_of_callee(callee: Any, call: ast.Call) -> set[str]:
    """The status codes a call that passes ``reason=`` produces: an error class, or a helper that raises one."""
    if inspect.isclass(callee) and issubclass(callee, BaseException):
        return {_code_of_class(callee)}
    if not callable(callee):
        return set()
    code = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "code"), None)
    if code is not None and ast.unparse(code).startswith("grpc.StatusCode."):  # rich_status(code, ..., reason=)
        return {ast.unparse(code).removeprefix("grpc.StatusCode.")}
    # A helper that raises an error with the reason it was given (e.g. vcs.validation.check_text).
    source = inspect.getsource(inspect.unwrap(callee))
    module = importlib.import_module(callee.__module__)
    codes = set()
    for node in ast.walk(ast.parse(inspect.cleandoc("\n" + source))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            if any(k.arg == "reason" and isinstance(k.value, ast.Name) for k in node.exc.keywords):
                codes.add(_code_of_class(eval(ast.unparse(node.exc.func), vars(module))))
    return codes


def _metadata_keys(callee: Any, call: ast.Call) -> set[str]:
    """Keyword arguments that land in the error's ``**metadata``."""
    if not (inspect.isclass(callee) and issubclass(callee, DOMAIN_ERRORS)):
        return set()
    parameters = inspect.signature(callee).parameters
    named = {n for n, p in parameters.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return {k.arg for k in call.keywords if k.arg is not None and k.arg not in named}


def collect_reasons(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> tuple[dict[str, Reason], list[str]]:
    """Every reason in the source with its codes and metadata keys, and the problems found on the way."""
    reasons: dict[str, Reason] = {}
    problems: list[str] = []
    for name, path, tree in _modules(root, packages):
        module = importlib.import_module(name)
        where = path.relative_to(root).as_posix()
        local_imports = _imported_in_functions(tree, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                cls = getattr(module, node.name, None)
                if not (inspect.isclass(cls) and issubclass(cls, BaseException)):
                    continue
                for statement in node.body:
                    target = (
                        statement.targets[0]
                        if isinstance(statement, ast.Assign)
                        else getattr(statement, "target", None)
                    )
                    value = getattr(statement, "value", None)
                    if isinstance(target, ast.Name) and target.id == "reason" and isinstance(value, ast.Constant):
                        entry = reasons.setdefault(value.value, Reason())
                        entry.codes.add(_code_of_class(cls))
                        entry.places.append(f"{where}:{statement.lineno}")
            if not isinstance(node, ast.Call):
                continue
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
            if isinstance(reason, (ast.Name, ast.Attribute)):
                try:  # a constant (REASON = "...") counts as written literally
                    constant = eval(ast.unparse(reason), {**vars(module), **local_imports})
                except Exception:  # noqa: BLE001 - a parameter passed on (its literal is where it is passed)
                    constant = None
                reason = ast.Constant(constant) if isinstance(constant, str) else None
            if reason is None:
                continue
            try:
                callee = eval(ast.unparse(node.func), {**vars(module), **local_imports})
            except Exception:  # noqa: BLE001 - e.g. a method of `self`
                problems.append(f"{where}:{node.lineno}: cannot tell what {ast.unparse(node.func)} is")
                continue
            codes = _codes_of_callee(callee, node)
            if not codes:
                continue  # not an error: a value with a `reason` of its own (a job outcome, a selection)
            if not (isinstance(reason, ast.Constant) and isinstance(reason.value, str)):
                problems.append(f"{where}:{node.lineno}: reason={ast.unparse(reason)} is computed; write it literally")
                continue
            entry = reasons.setdefault(reason.value, Reason())
            entry.codes |= codes
            entry.metadata |= _metadata_keys(callee, node)
            entry.places.append(f"{where}:{node.lineno}")
    problems += [
        f"{r}: not UPPER_SNAKE_CASE ({e.places[0]})" for r, e in reasons.items() if not REASON_SHAPE.fullmatch(r)
    ]
    return reasons, problems


# -- the table in docs/api.md ------------------------------------------------------------------


def _section(title: str) -> str:
    text = API_MD.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/api.md has no '## {title}' section"
    return match.group(1)


def _table_rows(text: str, first_header: str) -> list[list[str]]:
    """The rows of the markdown table whose first header cell is ``first_header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip()[1:-1].split("|")])
    return rows


def _ticked(cell: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", cell))


def documented_reasons() -> dict[str, tuple[set[str], set[str], str]]:
    """reason -> (codes, metadata keys, what to do) from the table in docs/api.md."""
    table: dict[str, tuple[set[str], set[str], str]] = {}
    for row in _table_rows(_section("Error reasons"), "reason"):
        assert len(row) == 4, f"a row of the reasons table needs 4 cells: {row}"
        reason, codes, metadata, advice = row
        names = _ticked(reason)
        assert len(names) == 1, f"one reason per row: {row}"
        (name,) = names
        assert name not in table, f"{name} is listed twice"
        table[name] = (set(re.findall(r"[A-Z_]+|local", codes)), _ticked(metadata), advice)
    return table


@pytest.fixture(scope="module")
def collected() -> dict[str, Reason]:
    reasons, problems = collect_reasons()
    assert not problems, "\n".join(problems)
    assert len(reasons) > 50, "the collector found too few reasons: is it still looking in the right places?"
    return reasons


def test_the_collector_finds_reasons_in_every_form(collected: dict[str, Reason]) -> None:
    assert collected["STALE_HEAD"].codes == {"FAILED_PRECONDITION"}  # a class attribute
    assert collected["PATH_NOT_FOUND"].codes == {"NOT_FOUND"}  # raise NotFound(..., reason=)
    assert collected["MESSAGE_TOO_LARGE"].codes == {"RESOURCE_EXHAUSTED"}  # through vcs.validation.check_text
    assert collected["INTERNAL"].codes == {"INTERNAL"}  # rich_status(grpc.StatusCode.INTERNAL, reason=)
    assert "field" in collected["MISSING_FIELD"].metadata
    assert collected["INVALID_PIPELINE"].codes >= {"INVALID_ARGUMENT", "FAILED_PRECONDITION"}


_SAMPLE = """
from trellis import vcs
from trellis.vcs import errors

REASON = "FROM_A_CONSTANT"


class Refused(vcs.PermissionDenied):
    reason = "FROM_A_CLASS"


class Outcome:  # not an error: its reason is not an error reason
    def __init__(self, reason: str) -> None:
        self.reason = reason


def fail(what: str, reason: str) -> None:
    raise vcs.LimitExceeded(what, reason=reason)


def calls(name: str, reason: str) -> None:
    Outcome(reason="NOT_AN_ERROR")
    fail("x", reason="THROUGH_A_HELPER")
    raise errors.NotFound("gone", reason=REASON, path=name)


def forwards(reason: str) -> None:
    raise vcs.InvalidArgument("bad", reason=reason)


def computes(name: str) -> None:
    raise vcs.InvalidArgument("bad", reason=f"{name.upper()}_BAD")
"""


def test_the_collector_tests_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reasons_sample").mkdir()
    (tmp_path / "reasons_sample" / "__init__.py").write_text(_SAMPLE)
    monkeypatch.syspath_prepend(str(tmp_path))
    reasons, problems = collect_reasons(tmp_path, ("reasons_sample",))
    found = {name: (r.codes, r.metadata) for name, r in reasons.items()}
    assert found == {
        "FROM_A_CLASS": ({"PERMISSION_DENIED"}, set()),
        "THROUGH_A_HELPER": ({"RESOURCE_EXHAUSTED"}, set()),
        "FROM_A_CONSTANT": ({"NOT_FOUND"}, {"path"}),
    }
    assert len(problems) == 1 and "is computed; write it literally" in problems[0], problems


def test_every_error_reason_is_documented_with_its_codes_and_metadata(collected: dict[str, Reason]) -> None:
    table = documented_reasons()
    missing = sorted(collected.keys() - table.keys())
    stale = sorted(table.keys() - collected.keys())
    problems = [f"{r}: raised at {collected[r].places[0]} but not in the table of docs/api.md" for r in missing]
    problems += [f"{r}: in the table of docs/api.md but raised nowhere" for r in stale]
    for name in sorted(collected.keys() & table.keys()):
        codes, metadata, advice = table[name]
        found = collected[name]
        if codes != found.codes:
            problems.append(f"{name}: the table says {sorted(codes)}, the code sends {sorted(found.codes)}")
        if not found.metadata <= metadata:
            problems.append(f"{name}: metadata {sorted(found.metadata - metadata)} missing from the table")
        if not advice.endswith("."):
            problems.append(f"{name}: say what a client should do, in a sentence")
    assert not problems, "\n".join(problems)


# -- services -----------------------------------------------------------------------------------

_SERVICES: list[tuple[Any, Callable[..., Any], type]] = [
    (repositories_pb2, repositories_pb2_grpc.RepositoryServiceServicer, servicers.RepositoryServicer),
    (changes_pb2, changes_pb2_grpc.ChangeServiceServicer, servicers.ChangeServicer),
    (sessions_pb2, sessions_pb2_grpc.SessionServiceServicer, servicers.SessionServicer),
    (diffs_pb2, diffs_pb2_grpc.DiffServiceServicer, servicers.DiffServicer),
    (pipelines_pb2, pipelines_pb2_grpc.PipelineServiceServicer, servicers.PipelineServicer),
    (queries_pb2, queries_pb2_grpc.QueryServiceServicer, servicers.QueryServicer),
]


def test_every_rpc_of_the_contract_has_an_implementation() -> None:
    for module, base, servicer in _SERVICES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                assert getattr(servicer, method.name) is not getattr(base, method.name), (
                    f"{service.full_name}.{method.name} is not implemented by {servicer.__name__}"
                )


def test_the_services_table_lists_every_rpc() -> None:
    documented = {
        row[0].strip("`"): _ticked(row[1]) | set(re.findall(r"\b[A-Z]\w+\b", row[1]))
        for row in _table_rows(_section("Services"), "service")
    }
    for module, _, _ in _SERVICES:
        for service in module.DESCRIPTOR.services_by_name.values():
            methods = {m.name for m in service.methods}
            assert service.name in documented, f"{service.name} is missing from the services table"
            assert methods <= documented[service.name], (
                f"{service.name}: {sorted(methods - documented[service.name])} missing from the services table"
            )


# -- size limits --------------------------------------------------------------------------------


def _size(value: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value:,}"


def test_the_size_limits_table_matches_the_defaults() -> None:
    rows = {row[0]: row[1] for row in _table_rows(_section("Size limits"), "limit")}
    limits, config = vcs.Limits(), ServerConfig(data_dir=ROOT)
    expected = {
        "`Limits.max_file_bytes`": _size(limits.max_file_bytes),
        "`Limits.max_commit_bytes`": _size(limits.max_commit_bytes),
        "`Limits.max_files_per_commit`": _size(limits.max_files_per_commit),
        "`Limits.max_message_bytes`": _size(limits.max_message_bytes),
        "`Limits.max_step_bytes`": _size(limits.max_step_bytes),
        "`Limits.max_page_size`": str(limits.max_page_size),
        "`ServerConfig.max_message_bytes`": _size(config.max_message_bytes),
    }
    for name, value in expected.items():
        assert name in rows, f"{name} is missing from the size limits table"
        assert rows[name] == value, f"{name}: the table says {rows[name]!r}, the default is {value}"
    paths = f"{limits.max_path_bytes} and {limits.max_path_segment_bytes} bytes"
    assert rows["`Limits.max_path_bytes`, `Limits.max_path_segment_bytes`"] == paths
    # What a client must raise: gRPC's default receive limit against the server's.
    assert "gRPC clients accept only 4 MiB by default" in " ".join(_section("Size limits").split())
