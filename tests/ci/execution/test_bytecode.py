"""Workspaces keep the pycs we compile for their Python files: checked against the source, never stale,
never a job's, and the jobs that import them see what a fresh interpreter compiling the source would."""

from __future__ import annotations

import importlib.util
import marshal
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.ci.execution import LocalExecutor, bytecode
from trellis.ci.execution.jobs import JobLimits, JobOutcome, JobRequest, TestPlan
from trellis.ci.execution.shards import submit_tests
from trellis.ci.execution.workspace import WorkspacePool

from .test_workspace import GitRepo

LIMITS = JobLimits(timeout_s=120, cpu_s=120, memory_bytes=512 << 20, processes=64, output_bytes=256 << 10)
TAG = f".{bytecode.sys.implementation.cache_tag}.pyc"
PYTEST_TAG = bytecode.pytest_tag()

PROJECT: dict[str, bytes | None] = {
    "lib/__init__.py": b"VALUE = 1\n",
    "lib/warns.py": b'PATTERN = "\\d"\n',  # an invalid escape: compiling it warns
    "tests/conftest.py": b"",
    "tests/test_lib.py": b"import lib\n\n\ndef test_value():\n    assert lib.VALUE == 1\n",
    "README.md": b"not python\n",
}


@pytest.fixture
def pool_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="trellis-pyc-") as d:
        os.chmod(d, 0o755)
        yield Path(d)


def pycs(ws: Path) -> set[str]:
    return {str(p.relative_to(ws)) for p in ws.rglob("*.pyc")}


def check(pyc: Path, source: Path) -> dict[str, object]:
    """The code of a checked-hash pyc of ``source`` (asserting its header), run into a namespace."""
    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert data[4:8] == b"\x03\x00\x00\x00"  # hash-based, checked against the source on every import
    assert data[8:16] == importlib.util.source_hash(source.read_bytes())
    namespace: dict[str, object] = {}
    code = marshal.loads(data[16:])
    if "import" not in source.read_text():
        exec(code, namespace)
    return namespace


def test_a_lease_holds_checked_hash_pycs_of_the_python_files(repo_tree: tuple[GitRepo, str], pool_root: Path) -> None:
    repo, tree = repo_tree
    pool = WorkspacePool(pool_root / "pool", size=1, bytecode_budget_s=10)
    with pool.lease(str(repo.path), tree, bytecode=True) as ws:
        assert pycs(ws) == {
            f"lib/__pycache__/__init__{TAG}",  # not warns.py: its compilation warns (the job must see that)
            f"tests/__pycache__/conftest{PYTEST_TAG}",
            f"tests/__pycache__/test_lib{PYTEST_TAG}",
        }
        assert check(ws / f"lib/__pycache__/__init__{TAG}", ws / "lib/__init__.py")["VALUE"] == 1
        check(ws / f"tests/__pycache__/test_lib{PYTEST_TAG}", ws / "tests/test_lib.py")
    # No pyc without a budget, nor for a job that does not ask (a command job sees the tree alone).
    with WorkspacePool(pool_root / "plain", size=1).lease(str(repo.path), tree, bytecode=True) as ws:
        assert pycs(ws) == set()
    with pool.lease(str(repo.path), tree) as ws:
        assert pycs(ws) == set() and not list(ws.rglob("__pycache__"))


def test_a_pyc_a_job_changed_or_planted_is_undone(repo_tree: tuple[GitRepo, str], pool_root: Path) -> None:
    repo, tree = repo_tree
    pool = WorkspacePool(pool_root / "pool", size=1, bytecode_budget_s=10)
    with pool.lease(str(repo.path), tree, bytecode=True) as ws:
        ours = (ws / f"lib/__pycache__/__init__{TAG}").read_bytes()
        (ws / f"lib/__pycache__/__init__{TAG}").write_bytes(
            ours[:16] + marshal.dumps(compile("VALUE = 666", "x", "exec"))
        )
        (ws / f"lib/__pycache__/warns{TAG}").write_bytes(b"planted")
    with pool.lease(str(repo.path), tree, bytecode=True) as ws:
        assert (ws / f"lib/__pycache__/__init__{TAG}").read_bytes() == ours
        assert not (ws / f"lib/__pycache__/warns{TAG}").exists()


def test_no_pytest_pycs_where_the_assertion_pass_hook_is_on(pool_root: Path, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    tree = repo.commit({**PROJECT, "pytest.ini": b"[pytest]\nenable_assertion_pass_hook = true\n"})  # type: ignore[arg-type]
    pool = WorkspacePool(pool_root / "pool", size=1, bytecode_budget_s=10)
    with pool.lease(str(repo.path), tree, bytecode=True) as ws:
        assert pycs(ws) == {f"lib/__pycache__/__init__{TAG}"}
    plain = repo.commit({"pytest.ini": None})
    with pool.lease(
        str(repo.path), plain, bytecode=True, rewrite_asserts=False
    ) as ws:  # the job's own arguments turn it on
        assert pycs(ws) == {f"lib/__pycache__/__init__{TAG}"}


NESTED = b"""\
import functools


class Outer:
    def method(self, xs):
        return [lambda: x for x in xs]

    class Inner:
        @functools.cache
        def deep(self):
            def inner():
                return {k: v for k, v in ()}

            return inner


def test_nested():
    assert (lambda: 1)() == 1, "a message"
"""


def _codes(code: object) -> list[object]:
    """``code`` and every code object in it."""
    assert isinstance(code, type(_codes.__code__))
    return [code, *(c for const in code.co_consts if isinstance(const, type(code)) for c in _codes(const))]


@pytest.mark.parametrize("kind", [bytecode.PLAIN, bytecode.PYTEST])
def test_a_pyc_relocated_to_another_workspace_is_the_pyc_compiled_there(kind: str) -> None:
    here, there = "/pool/ws-0/tests/test_nested.py", "/pool/ws-1/tests/test_nested.py"
    ours = bytecode.compile_pyc(here, NESTED, kind)
    compiled = bytecode.compile_pyc(there, NESTED, kind)
    assert ours is not None and compiled is not None
    moved = bytecode.relocate_pyc(ours, there)
    assert moved[:16] == compiled[:16]  # the same checked hash of the same source
    relocated, expected = _codes(marshal.loads(moved[16:])), _codes(marshal.loads(compiled[16:]))
    assert len(relocated) == len(expected) > 8
    assert relocated == expected  # code objects compare their code, constants, names and lines
    assert {c.co_filename for c in relocated} == {there}  # type: ignore[attr-defined]


def test_two_workspaces_of_a_pool_hold_pycs_of_their_own_files(repo_tree: tuple[GitRepo, str], pool_root: Path) -> None:
    # The second workspace's pycs are the first's relocated (compiled once per pool): their code names its files.
    repo, tree = repo_tree
    pool = WorkspacePool(pool_root / "pool", size=2, bytecode_budget_s=10)
    with (
        pool.lease(str(repo.path), tree, bytecode=True) as first,
        pool.lease(str(repo.path), tree, bytecode=True) as second,
    ):
        assert first != second and pycs(first) == pycs(second) != set()
        for ws in (first, second):
            for pyc in ws.rglob("*.pyc"):
                source = pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")
                check(pyc, source)
                names = {c.co_filename for c in _codes(marshal.loads(pyc.read_bytes()[16:]))}  # type: ignore[attr-defined]
                assert names == {str(source)}


def test_what_a_lease_had_no_budget_for_is_compiled_in_the_background_for_the_next(
    repo_tree: tuple[GitRepo, str], pool_root: Path
) -> None:
    # Next to a job, the lease compiles what its budget allows and leaves the rest to the background; the next
    # lease of any workspace finds them compiled (relocated: outside the budget).
    repo, tree = repo_tree
    pool = WorkspacePool(pool_root / "pool", size=2, bytecode_budget_s=1e-9)
    with pool.lease(str(repo.path), tree, bytecode=True) as first:
        assert len(pycs(first)) < 3
    assert pool.settle(timeout=60)
    with (
        pool.lease(str(repo.path), tree, bytecode=True) as first,
        pool.lease(str(repo.path), tree, bytecode=True) as second,
    ):
        for ws in (first, second):
            assert pycs(ws) == {
                f"lib/__pycache__/__init__{TAG}",
                f"tests/__pycache__/conftest{PYTEST_TAG}",
                f"tests/__pycache__/test_lib{PYTEST_TAG}",
            }
            for pyc in ws.rglob("*.pyc"):
                check(pyc, pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py"))


@pytest.fixture
def repo_tree(tmp_path: Path) -> tuple[GitRepo, str]:
    repo = GitRepo(tmp_path / "repo")
    return repo, repo.commit(PROJECT)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with tempfile.TemporaryDirectory(prefix="trellis-pyc-jobs-") as d:
        os.chmod(d, 0o755)
        with LocalExecutor(Path(d), workers=1) as local:
            yield local


def run(executor: LocalExecutor, repo: GitRepo, tree: str) -> JobOutcome:
    request = JobRequest(
        "job", str(repo.path), tree, kind="pytest", pytest_args=("-q",), limits=LIMITS, tests=TestPlan()
    )
    return submit_tests(executor, request).result(timeout=300)


# The module and the test change between two jobs, keeping their sizes: a pyc validated by mtime and
# size (what Python writes by default) could be taken for the new source when the lease writes it in
# the same second. The job also changes a module itself, keeping its size and mtime.
STALE = {
    "lib/__init__.py": b"VALUE = 1\n",
    "lib/other.py": b"VALUE = 1\n",
    "tests/test_lib.py": b"""\
import os

import lib


def test_value():
    assert lib.VALUE == 1


def test_a_module_changed_by_the_job_with_its_size_and_mtime():
    path = os.path.join("lib", "other.py")
    before = os.stat(path)
    with open(path, "w") as f:
        f.write("VALUE = 7\\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    from lib import other

    assert other.VALUE == 7


def test_the_pycs_are_ours():
    import importlib.util

    assert importlib.util.cache_from_source(lib.__file__) == lib.__cached__
    with open(lib.__cached__, "rb") as f:
        assert f.read(8)[4:] == b"\\x03\\x00\\x00\\x00"
""",
}


def test_a_job_never_runs_a_stale_pyc(executor: LocalExecutor, tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit(STALE)  # type: ignore[arg-type]
    second = repo.commit(
        {
            "lib/__init__.py": b"VALUE = 2\n",
            "tests/test_lib.py": STALE["tests/test_lib.py"].replace(b"VALUE == 1", b"VALUE == 2"),  # type: ignore[union-attr]
        }
    )
    for tree, value in [(first, 1), (second, 2), (first, 1)]:
        outcome = run(executor, repo, tree)
        assert outcome.status == "passed", (value, outcome.output.decode())
        assert [t.outcome for t in outcome.tests] == ["passed"] * 3
