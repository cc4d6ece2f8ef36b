"""The sample project generator: deterministic, the benchmark's size, green, and faults that fail as announced."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ci.config import parse_pipeline
from ci.sample_project import MODULUS, call_graph, generate, inject_fault, micro_edit, small, write_files
from semantic_diff import diff_files


@functools.lru_cache(maxsize=1)
def _default() -> dict[str, bytes]:
    return generate()


def _run_pytest(root: Path) -> dict[str, str]:
    """Run real pytest on a project: test name (parameters dropped) -> worst outcome."""
    report = root / "report.xml"
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "-o", "junit_family=xunit1", "--junitxml", str(report)],
                          cwd=root, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        file, classname, name = case.get("file", ""), case.get("classname", ""), case.get("name", "")
        classes = [c for c in classname[len(file[:-3].replace("/", ".")):].split(".") if c]
        nodeid = "::".join([file, *classes, name.split("[")[0]])
        failed = any(child.tag in ("failure", "error") for child in case)
        outcomes[nodeid] = "failed" if failed or outcomes.get(nodeid) == "failed" else "passed"
    return outcomes


def sources_of(files: dict[str, bytes]) -> list[str]:
    return sorted(p for p in files if p.startswith("sampleapp/") and not p.endswith("__init__.py"))


def test_the_same_arguments_give_the_same_bytes() -> None:
    assert small() == small()
    assert small(seed=1) != small()
    renamed = small(package="shop")
    assert "shop/__init__.py" in renamed and not any(p.startswith("sampleapp/") for p in renamed)


def test_the_default_preset_is_the_benchmarks_size() -> None:
    files = _default()
    lines = sum(content.count(b"\n") for content in files.values())
    assert 9_000 <= lines <= 12_000
    tests = call_graph(files).tests
    assert len(tests) >= 500
    sources = sources_of(files)
    assert len(sources) == 40
    for path in sources:  # one test module per source module
        layer, name = path[len("sampleapp/"):-3].split("/")
        assert f"tests/test_{layer}_{name}.py" in files


def test_the_structure_is_a_layered_dag_of_importing_modules() -> None:
    files = _default()
    graph = call_graph(files)
    layers = {"helpers": 0, "services": 1, "api": 2}
    cross = 0
    for caller, callees in graph.functions.items():
        for callee in callees:
            assert layers[callee.split(".")[1]] <= layers[caller.split(".")[1]], (caller, callee)
            cross += callee.rpartition(".")[0] != caller.rpartition(".")[0]
    assert cross > 100  # modules call into each other
    assert any(len({c.split(".")[2] for c in graph.reached_by(t)}) >= 3 for t in graph.tests)
    reached = set().union(*(graph.reached_by(t) for t in graph.tests))
    assert reached == set(graph.functions)  # every function has a test that reaches it
    text = files["trellis.toml"].decode()
    stages = {stage.name: stage for stage in parse_pipeline(text).stages}
    assert stages["unit"].kind == "pytest" and stages["unit"].select == "affected"
    assert stages["syntax"].kind == "syntax" and stages["compile"].kind == "command"
    for path, content in files.items():
        if path.endswith(".py"):
            ast.parse(content)
            for line in content.decode().splitlines():
                assert not line.startswith(("import os", "import subprocess")), path  # plain computation only
    assert f"MODULUS = {MODULUS:_}" in files[sources_of(files)[0]].decode()


def test_the_small_preset_passes_under_real_pytest(tmp_path: Path) -> None:
    files = small()
    write_files(files, tmp_path)
    outcomes = _run_pytest(tmp_path)
    assert outcomes and set(outcomes.values()) == {"passed"}
    assert set(outcomes) == set(call_graph(files).tests)


@pytest.mark.parametrize("seed", [1, 2])
def test_an_injected_fault_fails_exactly_the_tests_that_reach_it(seed: int, tmp_path: Path) -> None:
    files = small()
    fault = inject_fault(files, seed=seed)
    changed = [p for p in files if files[p] != fault.files[p]]
    assert changed == [fault.path] and set(fault.files) == set(files)
    assert fault.qualname in fault.description and fault.expected_failures
    diff = diff_files({fault.path: files[fault.path]}, {fault.path: fault.files[fault.path]})
    assert [(c.qualname, c.change) for c in diff.changes] == [(fault.qualname, "modified")]
    write_files(fault.files, tmp_path)
    outcomes = _run_pytest(tmp_path)
    assert {t for t, o in outcomes.items() if o == "failed"} == set(fault.expected_failures)


def test_micro_edits_keep_the_tests_passing_and_name_what_they_touched(tmp_path: Path) -> None:
    files = small()
    for seed in range(12):
        edited, path, qualname = micro_edit(files, seed=seed)
        assert [p for p in files if files[p] != edited[p]] == [path]
        diff = diff_files({path: files[path]}, {path: edited[path]})
        assert {c.qualname for c in diff.changes} == {qualname}, (seed, diff.changes)
        files = edited
    write_files(files, tmp_path)
    assert set(_run_pytest(tmp_path).values()) == {"passed"}
    # A fault still lands on an edited project.
    fault = inject_fault(files, seed=5)
    assert fault.expected_failures


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(modules=0)
    with pytest.raises(ValueError, match="identifier"):
        generate(package="not a package")
    assert len(generate(modules=1, functions_per_module=1)) > 4
