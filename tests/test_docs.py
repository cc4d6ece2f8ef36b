"""The docs stay true: README's two commands, CI, the generated CLI reference; the checkout is self-contained."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)[:2]


def test_readme_opens_with_install_and_demo_then_tests() -> None:
    demo, tests = _readme_commands()
    assert "pip install -e ." in demo and demo.endswith("trellis demo")
    assert "pip install -e '.[test,ray]'" in tests and "pytest -n auto" in tests


def test_ci_runs_the_readme_test_command_in_a_fresh_copy() -> None:
    _, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == tests  # the whole command, verbatim, and last
    # ... run from a clone in a new temporary directory, where nothing is beside the checkout:
    assert 'work="$(mktemp -d' in ci and 'git clone --quiet "$src" "$work/trellis"' in ci
    assert commands[-3] == 'cd "$work/trellis"' and '"$work/shared"' in commands[-2]
    assert "\ncd " not in ci.split('cd "$work/trellis"', 1)[1]


def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    actual = (ROOT / "docs" / "cli.md").read_text()
    assert actual == expected, "docs/cli.md is stale: run `python scripts/gen_cli_docs.py`"


# A path into the data beside the checkout: ``../shared``, ``/work/shared``, ``shared/data``, or a
# ``"shared"`` component joined with ``/`` (``parents[3] / "shared" / "data"``).
_OUTSIDE_DATA = re.compile(r"""\.\./shared\b|/work/shared\b|\bshared/data\b|/\s*["']shared["']|["']shared["']\s*/""")
# benchmarks may default to the real data for their real-data modes (and must take the path as an option);
# this file names the patterns it looks for.
_MAY_NAME_IT = ("benchmarks/", "tests/test_docs.py")


def _tracked_files() -> list[str]:
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True,
                                timeout=60).stdout
        return [p for p in listed.decode().split("\0") if p]
    skip = {".venv", "build", "__pycache__", ".pytest_cache", ".hypothesis", ".git"}
    return [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)]


def test_no_tracked_file_depends_on_data_beside_the_checkout() -> None:
    files = _tracked_files()
    assert "README.md" in files and "tests/test_docs.py" in files
    offenders = []
    for name in files:
        if name.startswith(_MAY_NAME_IT) or not (ROOT / name).is_file():
            continue
        text = (ROOT / name).read_bytes().decode("utf-8", "replace")
        offenders += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
                      for m in _OUTSIDE_DATA.finditer(text)]
    assert offenders == [], "tests, docs and code must use the project's own files (tests/fixtures/):\n" + \
        "\n".join(offenders)


@pytest.mark.parametrize("line", [
    "SAMPLES = Path(__file__).resolve().parents[3] / 'shared' / \"data\" / 'trajectories'",
    "see `../shared/DESIGN.md`",
    "open('/work/shared/x')",
    "root / \"shared\"",
    "load('shared/data/repos/x.bundle')",
])
def test_the_check_recognises_paths_to_shared_data(line: str) -> None:
    assert _OUTSIDE_DATA.search(line)


@pytest.mark.parametrize("line", ['cli(data_dir, "repo", "create", "shared", "--json")', "shared_roots(graph, path)",
                                  "a shared machine", "git(path, 'shared.txt')"])
def test_the_check_allows_the_word_shared(line: str) -> None:
    assert not _OUTSIDE_DATA.search(line)
