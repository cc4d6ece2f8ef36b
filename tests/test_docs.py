"""The docs stay true: README's two commands, CI, the generated CLI reference; the checkout is self-contained."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
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
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True, timeout=60
        ).stdout
        return [p for p in listed.decode().split("\0") if p]
    skip = {".venv", "build", "__pycache__", ".pytest_cache", ".hypothesis", ".git"}
    return [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)
    ]


def test_no_tracked_file_depends_on_data_beside_the_checkout() -> None:
    files = _tracked_files()
    assert "README.md" in files and "tests/test_docs.py" in files
    offenders = []
    for name in files:
        if name.startswith(_MAY_NAME_IT) or not (ROOT / name).is_file():
            continue
        text = (ROOT / name).read_bytes().decode("utf-8", "replace")
        offenders += [
            f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}" for m in _OUTSIDE_DATA.finditer(text)
        ]
    assert offenders == [], "tests, docs and code must use the project's own files (tests/fixtures/):\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize(
    "line",
    [
        "SAMPLES = Path(__file__).resolve().parents[3] / 'shared' / \"data\" / 'trajectories'",
        "see `../shared/DESIGN.md`",
        "open('/work/shared/x')",
        'root / "shared"',
        "load('shared/data/repos/x.bundle')",
    ],
)
def test_the_check_recognises_paths_to_shared_data(line: str) -> None:
    assert _OUTSIDE_DATA.search(line)


@pytest.mark.parametrize(
    "line",
    [
        'cli(data_dir, "repo", "create", "shared", "--json")',
        "shared_roots(graph, path)",
        "a shared machine",
        "git(path, 'shared.txt')",
    ],
)
def test_the_check_allows_the_word_shared(line: str) -> None:
    assert not _OUTSIDE_DATA.search(line)


QUICKSTART_ADDRESS = "127.0.0.1:7433"


def _free_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_readme_sdk_quickstart_runs_as_written(tmp_path: Path) -> None:
    """The quickstart's operator commands, then every Python block of README, against a real server.

    The one change: the fixed port 7433 becomes a free one, so tests can run side by side.
    """
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Quickstart for an agent") :]
    setup = re.findall(r"```bash\n(.+?)\n```", section, re.S)[0]
    blocks = re.findall(r"```python\n(.+?)\n```", text, re.S)
    assert blocks and QUICKSTART_ADDRESS in setup and all(QUICKSTART_ADDRESS in b for b in blocks)
    address = _free_address()
    for n, block in enumerate(blocks):
        (tmp_path / f"block{n}.py").write_text(block.replace(QUICKSTART_ADDRESS, address))
    script = "\n".join(
        [
            "set -euo pipefail",
            "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",  # the server the block starts in the background
            setup.replace(QUICKSTART_ADDRESS, address),
            *(f"python block{n}.py" for n in range(len(blocks))),
        ]
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update({"TRELLIS_DATA": str(tmp_path / "data"), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"})
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    assert "someone moved the branch to" in result.stdout
    assert "True []" in result.stdout  # the merge preview: clean, no conflicts
