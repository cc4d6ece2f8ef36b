"""The docs stay true: README's two commands, CI, and the generated CLI reference."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_install_and_demo_then_tests() -> None:
    demo, tests = _readme_commands()
    assert "pip install -e ." in demo and demo.endswith("trellis demo")
    assert "pip install -e '.[test,ray]'" in tests and "pytest -n auto" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _readme_commands()
    run_tests = tests.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert run_tests in ci
    assert "pip install --quiet -e '.[test,ray]'" in ci


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    actual = (ROOT / "docs" / "cli.md").read_text()
    assert actual == expected, "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`"
