#!/usr/bin/env python3
"""How fast the ``trellis`` command answers: whole processes, start-up included.

Times each command as a user runs it (a new process each time, output to a pipe),
against baselines that do next to nothing: ``python -c pass`` (the interpreter's
own start-up) and ``git log -1`` (the tool agents compare us with).

    trellis --help                       goal: p50 <= 150 ms
    trellis --version
    trellis query "SELECT 1"             on a local data directory, no server running: goal p50 <= 300 ms
    trellis query "SELECT count(*) ..."  the same, touching the index
    trellis log REPO --limit 1

The data directory is made here by ``trellis import`` of a small generated git
history, unless ``--data-dir`` names an existing one (and ``--repository`` a
repository in it), e.g. one holding a real imported history.

Usage:
    python benchmarks/bench_cli.py                   # 15 runs of each command
    python benchmarks/bench_cli.py --runs 5          # quicker
    python benchmarks/bench_cli.py --record          # also append the Markdown section to RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import cpu_model, installed_env, pct  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TRELLIS = [sys.executable, "-m", "trellis"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@x",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@x",
        },
    )


def make_history(root: Path, commits: int) -> Path:
    """A small Python project with ``commits`` commits, each editing one function."""
    work = root / "history"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    for i in range(commits):
        (work / f"mod{i % 5}.py").write_text(
            "".join(f"def f{j}():\n    return {i * 10 + j if j == i % 7 else j}\n\n" for j in range(7))
        )
        _git(work, "add", "-A")
        _git(work, "commit", "-q", "-m", f"edit {i}")
    return work


def time_command(
    argv: list[str], runs: int, env: dict[str, str], cwd: Path | None = None
) -> tuple[list[float], list[float]]:
    """(wall-clock seconds, CPU seconds: user + system of the process and its children) of each run.

    On a shared machine the wall clock mostly measures the queue for a core; CPU time is what the command costs."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, env=env, cwd=cwd)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr.decode()}")
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    parser.add_argument("--commits", type=int, default=200, help="commits of the generated history (default 200)")
    parser.add_argument("--data-dir", type=Path, help="an existing data directory (default: import a generated one)")
    parser.add_argument("--repository", default="bench", help="repository in --data-dir for `trellis log`")
    parser.add_argument("--record", action="store_true", help="append the results to benchmarks/RESULTS.md")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    try:
        env = installed_env()
        if args.data_dir is None:
            history = make_history(tmp, args.commits)
            data_dir = tmp / "data"
            subprocess.run(
                [*TRELLIS, "import", str(history), "--name", args.repository, "--data-dir", str(data_dir)],
                check=True,
                capture_output=True,
                env=env,
            )
            described = f"a generated {args.commits}-commit history imported with `trellis import`"
        else:
            data_dir, history = args.data_dir, None
            described = f"the data directory {args.data_dir}"
        env["TRELLIS_DATA"] = str(data_dir)
        cases: list[tuple[str, list[str], Path | None]] = [
            ("`python -c pass` (baseline)", [sys.executable, "-c", "pass"], None),
            ("`git log -1` (baseline)", ["git", "log", "-1"], history or ROOT),
            ("`trellis --help`", [*TRELLIS, "--help"], None),
            ("`trellis --version`", [*TRELLIS, "--version"], None),
            ('`trellis query "SELECT 1"`', [*TRELLIS, "query", "SELECT 1"], None),
            (
                '`trellis query "SELECT count(*) FROM commits"`',
                [*TRELLIS, "query", "SELECT count(*) FROM commits", "--format", "json"],
                None,
            ),
            (f"`trellis log {args.repository} --limit 1`", [*TRELLIS, "log", args.repository, "--limit", "1"], None),
        ]
        rows = []
        for label, argv, cwd in cases:
            walls, cpus = time_command(argv, args.runs, env, cwd)
            rows.append((label, pct(walls, 0.5), pct(walls, 0.9), pct(cpus, 0.5)))
            print(
                f"{label:55} p50 {pct(walls, 0.5) * 1000:7.1f} ms   p90 {pct(walls, 0.9) * 1000:7.1f} ms   "
                f"CPU p50 {pct(cpus, 0.5) * 1000:7.1f} ms",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    python_p50 = rows[0][1]
    goals = {"`trellis --help`": 0.150, '`trellis query "SELECT 1"`': 0.300}
    load = os.getloadavg()[0]
    lines = [
        "",
        "## CLI start-up (issue 13): `benchmarks/bench_cli.py`",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), "
        f"Python {platform.python_version()}; load average {load:.1f} (the machine is shared: timings are noisy). "
        f"Whole processes, output to a pipe, {args.runs} runs each; local data directory with no server running: "
        f"{described}.",
        "",
        "| command | wall p50 | wall p90 | wall vs `python -c pass` | CPU p50 | goal (wall p50) |",
        "|---|---|---|---|---|---|",
    ]
    for label, p50, p90, cpu in rows:
        goal = goals.get(label)
        verdict = "" if goal is None else f"<= {goal * 1000:.0f} ms: {'met' if p50 <= goal else 'NOT met'}"
        lines.append(
            f"| {label} | {p50 * 1000:.0f} ms | {p90 * 1000:.0f} ms | {p50 / python_p50:.1f}x | "
            f"{cpu * 1000:.0f} ms | {verdict} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as results:
            results.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
