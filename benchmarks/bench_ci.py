"""Benchmark: push-to-verdict for micro-commits with affected-test selection, against a fresh full run.

A sample Python project is generated (``tests.fixtures.sample_project``: about 10,000
lines and more than 500 tests at the default size) and pushed to a real
server (in this process, loopback gRPC) whose pipeline checks the syntax of
every changed file and runs the tests that reach the change (``kind =
"pytest"``, ``select = "affected"``). Then, in one run:

  trellis    a series of micro-commits (``sample_project.micro_edit``: one
             function body, docstring or constant each), every one a
             ``Commit(wait_for_verdict=True)``: the time from sending the
             commit to holding the verdict, p50 / p95;
  baseline   for a few of the same commits: a fresh checkout of the commit
             (``git archive`` into a new directory) plus the whole suite with
             ``pytest -n 2`` — what a hosted CI does on every push;
  cached     ``Verify`` of an already verified commit, answered from the
             result cache: the time from the request to the finished run.

Goals (issue 5): trellis p50 <= 1 s; baseline p50 / trellis p50 >= 20;
cached p50 <= 50 ms. Run ``python benchmarks/bench_ci.py [--quick]``
(``--json`` for machine-readable output, ``--check`` to exit 1 on a missed
goal). Prints a Markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from measure import cpu_model, pct  # noqa: E402

from tests.fixtures import sample_project  # noqa: E402
from trellis.client import Client  # noqa: E402
from trellis.config import ServerConfig  # noqa: E402
from trellis.server import build_server  # noqa: E402

PIPELINE = """\
[stages.syntax]
kind = "syntax"
when.languages = ["python"]

[stages.tests]
kind = "pytest"
select = "affected"
needs = ["syntax"]
timeout = "5m"
"""


def baseline(repo_path: Path, commit: str, workdir: Path) -> tuple[float, int]:
    """Fresh checkout + the full suite with pytest -n 2: seconds, and pytest's exit status."""
    target = workdir / f"checkout-{commit[:12]}"
    t0 = time.perf_counter()
    target.mkdir()
    archive = subprocess.run(
        ["git", "--git-dir", str(repo_path), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "xdist", "-p", "no:cacheprovider"],
        cwd=target,
        env=env,
        capture_output=True,
    )
    seconds = time.perf_counter() - t0
    shutil.rmtree(target, ignore_errors=True)
    return seconds, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer commits and baseline runs (about a minute)")
    parser.add_argument("--commits", type=int, default=0, help="micro-commits to time (default 30, quick 10)")
    parser.add_argument("--baseline-runs", type=int, default=0, help="baseline runs (default 3, quick 2)")
    parser.add_argument("--modules", type=int, default=40, help="sample project modules (default 40: ~10k lines)")
    parser.add_argument("--tmpdir", default=None, help="where the data directory goes (default: the system's)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    add_full_suite_arguments(parser)
    parser.add_argument(
        "--repo",
        default=None,
        help="replay this git repository's (or bundle's) last --commits "
        "first-parent commits instead of the sample project (see benchmarks/replay.py)",
    )
    parser.add_argument("--mutants", type=int, default=0, help="with --repo: faults to inject after the replay")
    parser.add_argument("--fresh-every", type=int, default=5, help="with --repo: time a fresh clone every N commits")
    parser.add_argument("--seed", type=int, default=0, help="with --repo: which functions get faults")
    parser.add_argument(
        "--reference-every",
        type=int,
        default=1,
        help="with --repo: the full-suite reference on "
        "every N-th commit, and on every commit where Trellis ran fewer than all tests (0: never, a timing run)",
    )
    parser.add_argument(
        "--out", default="", help="with --repo: rewrite this JSON file with the summary so far after every commit"
    )
    parser.add_argument(
        "--baseline-python",
        default="",
        help="with --repo: the interpreter of the full-suite "
        "baselines (one where the project's test dependencies are installed)",
    )
    parser.add_argument(
        "--load-tests",
        action="store_true",
        help="with --repo: the stage honours unittest's load_tests "
        "(load_tests = true), and the full-suite reference also runs `python -m unittest` (its verdict counts)",
    )
    parser.add_argument(
        "--serial-reference",
        action="store_true",
        help="with --repo: the full-suite reference runs in one process, in pytest's collection order (the "
        "project's own command), not with -n 2: for suites whose tests depend on the tests run before them",
    )
    parser.add_argument(
        "--save-observed",
        type=Path,
        default=None,
        help="with --repo: write what the server observed tests do (exec, computed imports, getattr...) to this "
        "file at the end, for selection_static.py --observed",
    )
    parser.add_argument(
        "--install",
        action="store_true",
        help="with --repo: the baselines install the checkout (pip install --no-deps -e, the project's own "
        "command) and no PYTHONPATH=src is set: the stage (with --environment) installs the project itself",
    )
    args = parser.parse_args()
    if args.full_suite:
        return full_suite(args)
    if args.repo:
        return _replay(args)
    commits = args.commits or (10 if args.quick else 30)
    baseline_runs = args.baseline_runs or (2 if args.quick else 3)

    files = sample_project.generate(modules=args.modules)
    lines = sum(c.count(b"\n") for p, c in files.items() if p.endswith(".py"))
    files["trellis.toml"] = PIPELINE.encode()
    work = Path(tempfile.mkdtemp(prefix="bench-ci-", dir=args.tmpdir))
    data_dir = work / "data"
    data_dir.mkdir()
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    results: dict[str, object] = {}
    try:
        with Client(running.address, agent="bench", timeout=600) as client:
            client.create_repository("sample")
            seeded = client.commit("sample", "main", files, "Seed the sample project", wait_for_verdict=True)
            assert seeded.run is not None
            tests_job = next(j for j in seeded.run.jobs if j.stage == "tests")
            total_tests = tests_job.total_tests
            print(
                f"seeded: {lines} lines of Python, {total_tests} tests; first run {seeded.run.verdict.value} "
                f"({tests_job.summary})",
                file=sys.stderr,
            )
            head = seeded.commit.commit_id
            current = dict(files)
            from replay import tree_cpu

            latencies: list[float] = []
            cpu: list[float] = []
            selected: list[int] = []
            verdicts: list[str] = []
            commit_ids: list[str] = []
            for n in range(commits):
                current, path, qualname = sample_project.micro_edit(current, seed=n)
                cpu0 = tree_cpu()
                t0 = time.perf_counter()
                reply = client.commit(
                    "sample",
                    "main",
                    {path: current[path]},
                    f"micro-edit {qualname}",
                    expected_head=head,
                    wait_for_verdict=True,
                )
                latencies.append(time.perf_counter() - t0)
                cpu.append(tree_cpu() - cpu0)
                assert reply.run is not None
                head = reply.commit.commit_id
                commit_ids.append(head)
                verdicts.append(reply.run.verdict.value)
                job = next((j for j in reply.run.jobs if j.stage == "tests"), None)
                selected.append(job.selected_tests if job is not None else 0)
                print(
                    f"  commit {n + 1}/{commits}: {latencies[-1] * 1000:.0f} ms ({cpu[-1] * 1000:.0f} ms CPU), "
                    f"{verdicts[-1]}, "
                    f"{selected[-1]} tests selected",
                    file=sys.stderr,
                )
            cached: list[float] = []
            for commit_id in commit_ids[-5:] * 2:
                t0 = time.perf_counter()
                run = client.verify("sample", commit_id)
                final = run if run.final else client.wait_run("sample", run.run_id)
                cached.append(time.perf_counter() - t0)
                assert all(j.cached for j in final.jobs), "a repeated verification was not served from the cache"
        repo_path = data_dir / "repos" / "sample.git"
        base_times: list[float] = []
        for commit_id in commit_ids[-baseline_runs:]:
            seconds, status = baseline(repo_path, commit_id, work)
            base_times.append(seconds)
            print(f"  baseline {commit_id[:12]}: {seconds:.2f} s (pytest exit {status})", file=sys.stderr)
    finally:
        running.stop(grace=5)
        shutil.rmtree(work, ignore_errors=True)

    p50, p95 = pct(latencies, 0.5), pct(latencies, 0.95)
    base_p50 = statistics.median(base_times)
    cached_p50 = pct(cached, 0.5)
    ratio = base_p50 / p50
    goals = {
        "p50 <= 1 s": p50 <= 1.0,
        "baseline / trellis >= 20": ratio >= 20,
        "cached p50 <= 50 ms": cached_p50 <= 0.05,
    }
    results = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}",
        "lines": lines,
        "tests": total_tests,
        "commits": commits,
        "push_to_verdict_p50_s": p50,
        "push_to_verdict_p95_s": p95,
        "push_cpu_p50_s": pct(cpu, 0.5),
        "push_cpu_p95_s": pct(cpu, 0.95),
        "tests_selected_median": statistics.median(selected),
        "verdicts": dict((v, verdicts.count(v)) for v in sorted(set(verdicts))),
        "baseline_p50_s": base_p50,
        "baseline_runs": base_times,
        "ratio": ratio,
        "cached_p50_ms": cached_p50 * 1000,
        "goals": goals,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"### Verification (issue 5): `bench_ci.py{' --quick' if args.quick else ''}`\n")
        print(
            f"Sample project: {lines} lines of Python, {total_tests} tests; {commits} micro-commits; "
            f"{results['machine']}.\n"
        )
        print("| measure | value |\n|---|---|")
        print(f"| push-to-verdict p50 / p95 (affected tests) | {p50 * 1000:.0f} ms / {p95 * 1000:.0f} ms |")
        print(
            f"| CPU per push (server, warm runners, jobs) p50 / p95 | {results['push_cpu_p50_s'] * 1000:.0f} ms / "
            f"{results['push_cpu_p95_s'] * 1000:.0f} ms |"
        )
        print(f"| tests selected per commit (median of {total_tests}) | {statistics.median(selected):.0f} |")
        print(f"| verdicts | {results['verdicts']} |")
        print(f"| baseline: fresh checkout + `pytest -n 2` (p50 of {len(base_times)}) | {base_p50:.2f} s |")
        print(f"| baseline / trellis | {ratio:.1f}x |")
        print(f"| repeated verification from the cache, p50 | {cached_p50 * 1000:.1f} ms |\n")
        for goal, ok in goals.items():
            print(f"- {goal}: {'PASS' if ok else 'FAIL'}")
    return 1 if args.check and not all(goals.values()) else 0


# --- full-suite runs (issue 17): every test inside Trellis against pytest -n 2 in a warm checkout -------


def add_full_suite_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-suite",
        metavar="PATH",
        default="",
        help='time whole-suite runs: "sample" (the generated project) or a git checkout',
    )
    parser.add_argument(
        "--pytest-args",
        default="",
        help="the project's own pytest arguments (full-suite mode; with --repo, the stage's args and the baselines')",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of the tests (full-suite mode; e.g. PYTHONPATH=src)",
    )
    parser.add_argument(
        "--environment", default="", help="a TOML inline table for the stage's environment (full-suite mode)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (full-suite mode)")
    parser.add_argument("--shards", default="auto", help='the stage\'s shards (full-suite mode; default "auto")')


def _checkout_files(path: Path) -> dict[str, bytes]:
    """The files git tracks in a checkout (regular files; symlinks and submodules left out)."""
    listed = subprocess.run(
        ["git", "-C", str(path), "ls-files", "-s", "-z"], check=True, capture_output=True
    ).stdout.split(b"\0")
    files: dict[str, bytes] = {}
    for entry in listed:
        if not entry:
            continue
        meta, name = entry.split(b"\t", 1)
        if meta.split()[0] in (b"100644", b"100755"):
            files[name.decode()] = (path / name.decode()).read_bytes()
    return files


class _WarmBaseline:
    """``pytest -n 2`` in a checkout that already ran once (imports, bytecode and tool caches warm)."""

    def __init__(
        self, files: dict[str, bytes], workdir: Path, pytest_args: list[str], env: dict[str, str], python: str
    ) -> None:
        self.target = workdir / "warm-checkout"
        for name, content in files.items():
            (self.target / name).parent.mkdir(parents=True, exist_ok=True)
            (self.target / name).write_bytes(content)
        self.command = [python, "-m", "pytest", "-q", "-p", "xdist", "-n", "2", "-p", "no:cacheprovider", *pytest_args]
        self.env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env}
        self.env.pop(
            "PYTHONDONTWRITEBYTECODE", None
        )  # a warm checkout keeps its bytecode (pytest's rewritten tests too)
        self.status = 0
        subprocess.run(self.command, cwd=self.target, env=self.env, capture_output=True)  # warm-up

    def run(self) -> float:
        t0 = time.perf_counter()
        self.status = subprocess.run(self.command, cwd=self.target, env=self.env, capture_output=True).returncode
        took = time.perf_counter() - t0
        print(f"  baseline pytest -n 2 (warm checkout): {took:.2f} s (exit {self.status})", file=sys.stderr)
        return took


def full_suite(args: argparse.Namespace) -> int:
    """Whole-suite verdicts inside Trellis (sharded, warm workers) vs ``pytest -n 2`` in a warm checkout."""
    pytest_args = args.pytest_args.split()
    env = dict(item.split("=", 1) for item in args.env)
    if args.full_suite == "sample":
        files = sample_project.generate(modules=args.modules)
        name = f"sample project ({args.modules} modules)"
    else:
        files = _checkout_files(Path(args.full_suite))
        name = Path(args.full_suite).name
    stage = [
        "[stages.tests]",
        'kind = "pytest"',
        'select = "all"',
        'timeout = "10m"',
        f"args = {json.dumps(pytest_args)}",
    ]
    if env:
        stage.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }")
    if args.environment:
        stage.append(f"environment = {args.environment}")
    if args.shards != "auto":
        stage.append(f"shards = {int(args.shards)}")
    pipeline = "\n".join(stage) + "\n"
    work = Path(tempfile.mkdtemp(prefix="bench-ci-full-", dir=args.tmpdir))
    data_dir = work / "data"
    data_dir.mkdir()
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    times: list[float] = []
    summaries: list[str] = []
    try:
        with Client(running.address, agent="bench", timeout=1200) as client:
            client.create_repository("project")
            t0 = time.perf_counter()
            reply = client.commit(
                "project", "main", {**files, "trellis.toml": pipeline.encode()}, "seed", wait_for_verdict=True
            )
            first = time.perf_counter() - t0
            assert reply.run is not None
            job = next(j for j in reply.run.jobs if j.stage == "tests")
            print(
                f"  first run (no recorded durations; environment built if declared): {first:.2f} s, "
                f"{reply.run.verdict.value}: {job.summary}",
                file=sys.stderr,
            )
            head = reply.commit.commit_id
            baseline = _WarmBaseline(files, work, pytest_args, env, args.baseline_python or sys.executable)
            base_times: list[float] = []
            for n in range(args.runs):  # alternating with the baseline: both see the same machine load
                base_times.append(baseline.run())
                text = f"{pipeline}# run {n}\n".encode()  # a new tree: nothing answers from the cache
                t0 = time.perf_counter()
                reply = client.commit(
                    "project", "main", {"trellis.toml": text}, f"run {n}", expected_head=head, wait_for_verdict=True
                )
                times.append(time.perf_counter() - t0)
                assert reply.run is not None
                head = reply.commit.commit_id
                job = next(j for j in reply.run.jobs if j.stage == "tests")
                summaries.append(job.summary)
                print(
                    f"  trellis full run {n + 1}: {times[-1]:.2f} s, {reply.run.verdict.value}: {job.summary}",
                    file=sys.stderr,
                )
                for line in job.output.decode(errors="replace").splitlines():  # each shard's own pytest time
                    if line.startswith("=") and (" in " in line and ("passed" in line or "failed" in line)):
                        print(f"    {line.strip('= ')}", file=sys.stderr)
    finally:
        running.stop(grace=5)
        shutil.rmtree(work, ignore_errors=True)
    p50, base_p50 = statistics.median(times), statistics.median(base_times)
    ratio = p50 / base_p50
    results = {
        "project": name,
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}",
        "cpu": cpu_model(),
        "trellis_full_p50_s": p50,
        "trellis_runs": times,
        "first_run_s": first,
        "baseline_p50_s": base_p50,
        "baseline_runs": base_times,
        "ratio": ratio,
        "summary": summaries[-1] if summaries else "",
        "goal <= 0.8x": ratio <= 0.8,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"### Full suite inside Trellis vs `pytest -n 2` in a warm checkout (issue 17): {name}\n")
        print(
            f"`bench_ci.py --full-suite {args.full_suite}"
            + (f" --pytest-args '{args.pytest_args}'" if args.pytest_args else "")
            + "".join(f" --env {e}" for e in args.env)
            + f"`; {results['machine']} ({results['cpu']}).\n"
        )
        print("| measure | value |\n|---|---|")
        print(f"| tests | {results['summary']} |")
        print(f"| first run (no recorded durations) | {first:.2f} s |")
        print(f"| full run inside Trellis, commit to verdict (p50 of {len(times)}) | {p50:.2f} s |")
        print(
            f"| `pytest -n 2` in a warm checkout (p50 of {len(base_times)}, exit {baseline.status}) | {base_p50:.2f} s |"
        )
        print(f"| Trellis / baseline | {ratio:.2f}x (goal <= 0.8x: {'PASS' if ratio <= 0.8 else 'FAIL'}) |")
    return 1 if args.check and ratio > 0.8 else 0


def _replay(args: argparse.Namespace) -> int:
    import replay

    args.commits = args.commits or 20
    result = replay.replay(args)
    machine = f"{platform.machine()} {os.cpu_count()} CPU, {platform.python_version()}"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        command = (
            f"bench_ci.py --repo {Path(args.repo).name} --commits {args.commits}"
            + (f" --mutants {args.mutants}" if args.mutants else "")
            + (f" --reference-every {args.reference_every}" if args.reference_every != 1 else "")
            + (f" --pytest-args '{args.pytest_args}'" if args.pytest_args else "")
            + (" --load-tests" if args.load_tests else "")
            + (" --install" if getattr(args, "install", False) else "")
            + (" --serial-reference" if args.serial_reference else "")
        )
        print(replay.markdown(result, machine, command))
    ok = not result["disagreements"] and not result["mutants_missed"]
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
