#!/usr/bin/env python3
"""Where the wall time of one push's verdict goes, phase by phase, on a real history.

Replays the last ``--commits N`` first-parent commits of a repository (as
``bench_ci.py --repo`` does: a server in this process, a syntax stage and a
pytest stage with ``select = "affected"``) and prints, for each push, the
timeline of its verdict::

    commit      the Commit RPC until the run's first stage starts
    syntax      the syntax stage
    select      test selection (TestSelector.select)
    plan        from selection to the job's submission
    lease       the workspace checkout (WorkspacePool lease: reconcile the tree)
    prepare     the job's TMPDIR, plugin copy and config, cgroup
    launch      the warm runner forks the job (up to the launcher's reply)
    sandbox     fork to the in-process pytest start: namespaces, mounts, Landlock, uid
    startup     pytest.main to our plugin's pytest_configure (argument parsing, plugins, conftests)
    collect     collection (importing the project's modules and test files, assertion rewriting)
    run         running the kept items
    finish      session finish to the job's exit seen by the supervisor
    results     reading the stream, merging the outcome
    deliver     the verdict back to the client

Nothing in Trellis is changed: the timers are wrappers installed here, a copy of
the warm runner that records when it forked and when pytest started, and a copy
of the job plugin that records pytest's phases in the job's result stream.

Beside the wall clock, each push's CPU is split (``--cpu``): by the server's
threads (``/proc/self/task/*/schedstat``, grouped by thread name), by the
wrapped phases (each wrapper's own thread's CPU clock), and by the processes
below the server (the warm runners and their jobs; anything else).
``--profile-job`` also runs each job's ``pytest.main`` under cProfile (inside
the sandbox, written to the job's TMPDIR) and prints the functions that took
the most CPU over the small pushes.

Usage:
    python benchmarks/profile_verdict.py --repo PATH --commits 20 \
        --pytest-args "--doctest-modules more_itertools tests"
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay  # noqa: E402

from trellis.ci.engine import stages  # noqa: E402
from trellis.ci.execution import local, running, warm, workspace  # noqa: E402
from trellis.ci.selection import selector  # noqa: E402
from trellis.client import Client  # noqa: E402
from trellis.config import ServerConfig  # noqa: E402
from trellis.server import build_server  # noqa: E402

PHASES = (
    "commit",
    "syntax",
    "select",
    "plan",
    "lease",
    "prepare",
    "launch",
    "sandbox",
    "startup",
    "collect",
    "run",
    "finish",
    "results",
    "deliver",
)
# (phase, event it starts at, event it ends at)
SPANS = (
    ("commit", "push", "syntax+"),
    ("syntax", "syntax+", "syntax-"),
    ("select", "select+", "select-"),
    ("plan", "select-", "job+"),
    ("lease", "lease+", "lease-"),
    ("prepare", "lease-", "launch+"),
    ("launch", "launch+", "launch-"),
    ("sandbox", "fork", "pytest"),
    ("startup", "pytest", "configure"),
    ("collect", "collect+", "collect-"),
    ("run", "collect-", "sessionfinish"),
    ("finish", "sessionfinish", "sandbox-"),
    ("results", "sandbox-", "done"),
    ("deliver", "done", "verdict"),
)

_events: dict[str, float] = {}
_cpu: dict[str, float] = {}
_lock = threading.Lock()
_profiles: list[Path] = []


def mark(name: str, at: float | None = None) -> None:
    with _lock:
        _events.setdefault(name, time.time() if at is None else at)


def timed(owner: Any, attr: str, before: str, after: str | None = None) -> None:
    original: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                mark(after)

    setattr(owner, attr, wrapper)


def cputimed(owner: Any, attr: str, name: str) -> None:
    """Add the CPU the calling thread spends in ``owner.attr`` to ``_cpu[name]`` (nested calls count in both)."""
    original: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent = time.thread_time() - t0
            with _lock:
                _cpu[name] = _cpu.get(name, 0.0) + spent

    setattr(owner, attr, wrapper)


_server_profiles: list[Any] = []


def profiled(owner: Any, attr: str) -> None:
    """Run ``owner.attr`` under cProfile (with the thread's CPU clock), keeping each call's stats."""
    import cProfile

    original: Callable[..., Any] = getattr(owner, attr)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        profile = cProfile.Profile(time.thread_time)
        try:
            return profile.runcall(original, *args, **kwargs)
        finally:
            with _lock:
                _server_profiles.append(profile)

    setattr(owner, attr, wrapper)


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each of this process's threads so far, summed by name (pool numbers dropped)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    found: dict[str, float] = {}
    for entry in os.scandir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{entry.name}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        name = names.get(int(entry.name), "other")
        name = name.rstrip("0123456789").rstrip("_-") or name
        found[name] = found.get(name, 0.0) + ns / 1e9
    return found


def process_cpu() -> dict[str, float]:
    """CPU seconds of the processes below this one (their own and their reaped children's), by kind."""
    children: dict[int, list[int]] = {}
    own: dict[int, float] = {}
    kind: dict[int, str] = {}
    for pid, parent, seconds, cmdline in replay.processes(cmdlines=True):
        children.setdefault(parent, []).append(pid)
        own[pid] = seconds
        kind[pid] = "warm runner + jobs" if b"warm_server.py" in cmdline else "other processes"
    found: dict[str, float] = {}

    def walk(pid: int, label: str) -> None:
        for child in children.get(pid, ()):
            name = label or kind[child]
            found[name] = found.get(name, 0.0) + own[child]
            walk(child, name)

    walk(os.getpid(), "")
    t = os.times()
    found["reaped children"] = t.children_user + t.children_system
    return found


WARM_PATCH = (
    (
        "        pid = os.fork()\n        if pid == 0:\n",
        "        pid = os.fork()\n        if pid == 0:\n            _T['fork'] = __import__('time').time()\n",
    ),
    (
        "        os.environ.update(env)\n",
        "        os.environ.update(env)\n"
        "        os.environ['TRELLIS_TIMELINE'] = json.dumps({**_T, 'pytest': __import__('time').time()})\n",
    ),
    ("_IN_PROCESS_ENV = ", "_T: dict = {}\n_IN_PROCESS_ENV = "),
)
PROFILE_PATCH = (
    (
        "            code = int(pytest.main(argv[3:]))\n",
        "            import cProfile\n"
        "            _prof = cProfile.Profile()\n"
        "            try:\n"
        "                code = int(_prof.runcall(pytest.main, argv[3:]))\n"
        "            finally:\n"
        "                _prof.dump_stats(os.path.join(os.environ['TMPDIR'], 'job.prof'))\n",
    ),
)

PLUGIN_PATCH = """

import time as _time


class _Timeline:
    def __init__(self, job):
        self.job = job
        for name, at in json.loads(os.environ.get("TRELLIS_TIMELINE", "{}")).items():
            job.write({"timeline": name, "at": at})
        job.write({"timeline": "configure", "at": _time.time()})

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        self.job.write({"timeline": "collect+", "at": _time.time()})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.job.write({"timeline": "collect-", "at": _time.time()})

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        self.job.write({"timeline": "sessionfinish", "at": _time.time()})


_configure = pytest_configure


def pytest_configure(config):
    _configure(config)
    job = config.pluginmanager.get_plugin("trellis-job")
    if job is not None:
        config.pluginmanager.register(_Timeline(job), "trellis-timeline")
"""


def instrument(work: Path, profile_job: bool = False) -> None:
    text = warm.WARM_SERVER.read_text()
    for old, new in WARM_PATCH + (PROFILE_PATCH if profile_job else ()):
        assert old in text, old
        text = text.replace(old, new, 1)
    (work / "warm_server.py").write_text(text)
    warm.WARM_SERVER = work / "warm_server.py"
    plugin = work / "pytest_plugin.py"
    plugin.write_text(running._PLUGIN_SOURCE.read_text() + PLUGIN_PATCH)
    running._PLUGIN_SOURCE = plugin

    timed(stages.StageRunner, "_run_syntax", "syntax+", "syntax-")
    timed(selector.TestSelector, "select", "select+", "select-")
    timed(local, "run_job", "job+")
    timed(workspace.WorkspacePool, "_prepare", "lease+", "lease-")
    timed(running, "run_sandboxed", "sandbox+", "sandbox-")
    timed(warm.WarmPytestLauncher, "start", "launch+", "launch-")
    timed(stages.StageRunner, "_process_done", "done")
    cputimed(stages.StageRunner, "_run_syntax", "syntax")
    cputimed(stages.StageRunner, "_run_process", "stage: run_process (all)")
    cputimed(stages.StageRunner, "_environment", "stage: environment spec")
    cputimed(selector.TestSelector, "select", "stage: select")
    cputimed(selector.TestSelector, "index", "stage: test index (in select or reuse)")
    cputimed(stages.StageRunner, "_reuse", "stage: closure keys (reuse)")
    cputimed(stages.StageRunner, "_test_plan", "stage: test plan")
    cputimed(stages.StageRunner, "_process_done", "stage: process_done")
    cputimed(selector.TestSelector, "observe", "stage: observe")
    cputimed(local, "run_job", "job thread: run_job (all)")
    cputimed(workspace.WorkspacePool, "_prepare", "job thread: lease")
    cputimed(running, "workspace_project", "job thread: workspace_project")
    cputimed(running, "write_install", "job thread: write_install")
    cputimed(running, "ensure_environment", "job thread: ensure_environment")
    cputimed(running, "run_sandboxed", "job thread: run_sandboxed")
    cputimed(running, "read_stream", "job thread: read_stream")

    sandboxed = running.run_sandboxed

    def keep_profile(argv: Any, workspace_dir: Path, **kwargs: Any) -> Any:
        result = sandboxed(argv, workspace_dir, **kwargs)
        found = Path(workspace_dir) / ".trellis-tmp" / "job.prof"
        if found.exists():
            target = work / f"job-{len(_profiles)}.prof"
            shutil.copy(found, target)
            with _lock:
                _profiles.append(target)
        return result

    running.run_sandboxed = keep_profile

    read_stream = running.read_stream

    def reading(data: bytes) -> Any:
        for line in data.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "timeline" in record:
                mark(str(record["timeline"]), float(record["at"]))
        return read_stream(data)

    running.read_stream = reading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--pytest-args", default="")
    parser.add_argument("--tmpdir", default=None)
    parser.add_argument("--json", help="write every push's timeline here")
    parser.add_argument("--no-bytecode", action="store_true", help="workspaces without our compiled pycs")
    parser.add_argument("--environment", default="", help="the stage's environment, as bench_ci.py takes it")
    parser.add_argument("--profile-job", action="store_true", help="cProfile each job's pytest.main")
    parser.add_argument(
        "--profile-server", default="", help="cProfile these server calls (comma-separated: select,lease,run_job)"
    )
    parser.add_argument("--top", type=int, default=40, help="functions of the job profile to print")
    args = parser.parse_args()
    if args.no_bytecode:
        assert local.LocalExecutor.__init__.__kwdefaults__ is not None
        local.LocalExecutor.__init__.__kwdefaults__["bytecode_budget_s"] = 0.0

    work = Path(tempfile.mkdtemp(prefix="profile-verdict-", dir=args.tmpdir))
    instrument(work, args.profile_job)
    targets = {
        "select": (selector.TestSelector, "select"),
        "lease": (workspace.WorkspacePool, "_prepare"),
        "run_job": (local, "run_job"),
        "run_process": (stages.StageRunner, "_run_process"),
    }
    for name in filter(None, args.profile_server.split(",")):
        profiled(*targets[name])
    source = work / "source"
    subprocess.run(["git", "clone", "-q", args.repo, str(source)], check=True)
    commits = replay.git(source, "rev-list", "--first-parent", f"-n{args.commits + 1}", "HEAD").decode().split()
    commits.reverse()
    pipeline = replay.PIPELINE
    if args.pytest_args:
        pipeline = pipeline.replace(
            'timeout = "10m"', f'timeout = "10m"\nargs = {json.dumps(args.pytest_args.split())}'
        )
    if args.environment:
        pipeline = pipeline.replace('timeout = "10m"', f'timeout = "10m"\nenvironment = {args.environment}')
    running_server = build_server(ServerConfig(data_dir=work / "data", address="127.0.0.1:0"))
    rows: list[dict[str, Any]] = []
    try:
        with Client(running_server.address, agent="profile", timeout=3600) as client:
            client.create_repository("p")
            current = replay.tree_files(source, commits[0])
            current["trellis.toml"] = pipeline.encode()
            tip = client.commit("p", "main", current, "seed", wait_for_verdict=True).commit.commit_id
            for commit in commits[1:]:
                new = replay.tree_files(source, commit)
                new["trellis.toml"] = pipeline.encode()
                changes: dict[str, bytes | None] = {p: c for p, c in new.items() if current.get(p) != c}
                changes.update({p: None for p in current if p not in new})
                current = new
                if not changes:
                    continue
                _events.clear()
                _cpu.clear()
                first_profile = len(_profiles)
                first_server = len(_server_profiles)
                threads0, processes0 = thread_cpu(), process_cpu()
                cpu0 = replay.tree_cpu()
                mark("push")
                reply = client.commit("p", "main", changes, commit[:12], expected_head=tip, wait_for_verdict=True)
                mark("verdict")
                cpu = replay.tree_cpu() - cpu0
                time.sleep(0.3)  # let the job's end (observe, process_done) finish before reading the split
                threads1, processes1 = thread_cpu(), process_cpu()
                split = {f"thread {k}": v - threads0.get(k, 0.0) for k, v in threads1.items()}
                split.update({f"process {k}": v - processes0.get(k, 0.0) for k, v in processes1.items()})
                split = {k: v for k, v in split.items() if v > 0.0005}
                tip = reply.commit.commit_id
                run = reply.run
                job = next((j for j in run.jobs if j.stage == "tests"), None) if run else None
                spans = {name: _events[b] - _events[a] for name, a, b in SPANS if a in _events and b in _events}
                row = {
                    "commit": commit[:12],
                    "verdict": run.verdict.value if run else "no run",
                    "selected": job.selected_tests if job else 0,
                    "total": job.total_tests if job else 0,
                    "seconds": _events["verdict"] - _events["push"],
                    "cpu_s": cpu,
                    "phases": spans,
                    "cpu_split": split,
                    "cpu_phases": dict(_cpu),
                    "profiles": [str(x) for x in _profiles[first_profile:]],
                    "server_profiles": list(range(first_server, len(_server_profiles))),
                    "tests": [t.test_id for t in job.tests] if job else [],
                }
                rows.append(row)
                print(
                    f"{row['commit']} {row['verdict']:7} {row['seconds']:6.2f} s ({cpu:.2f} CPU) "
                    f"{row['selected']:4}/{row['total']}: " + " ".join(f"{k} {v * 1000:.0f}" for k, v in spans.items()),
                    flush=True,
                )
                print(
                    "    CPU ms: "
                    + " ".join(f"[{k}] {v * 1000:.0f}" for k, v in sorted(split.items(), key=lambda kv: -kv[1]))
                    + "\n    phases CPU ms: "
                    + " ".join(f"[{k}] {v * 1000:.0f}" for k, v in sorted(_cpu.items(), key=lambda kv: -kv[1])),
                    flush=True,
                )
        small = [r for r in rows if 0 < r["selected"] <= 20]
        if small:
            print(f"\nCPU ms, medians over the {len(small)} pushes that ran 1-20 tests:")
            for field in ("cpu_split", "cpu_phases"):
                names = sorted({k for r in small for k in r[field]})
                medians = {k: statistics.median(r[field].get(k, 0.0) for r in small) for k in names}
                for k, v in sorted(medians.items(), key=lambda kv: -kv[1]):
                    print(f"  {k:45} {v * 1000:7.0f}")
            chosen = [_server_profiles[i] for r in small for i in r["server_profiles"]]
            if chosen:
                import pstats

                merged = pstats.Stats(chosen[0])
                for extra in chosen[1:]:
                    merged.add(extra)
                print(f"\nserver profile ({args.profile_server}), {len(chosen)} calls of the small pushes:")
                merged.sort_stats("cumulative").print_stats(args.top)
                merged.sort_stats("tottime").print_stats(args.top)
            files = [f for r in small for f in r["profiles"]]
            if files:
                import pstats

                stats = pstats.Stats(*files)
                print(f"\njob profile, {len(files)} jobs of the small pushes (cumulative, all jobs summed):")
                stats.sort_stats("cumulative").print_stats(args.top)
                stats.sort_stats("tottime").print_stats(args.top)
    finally:
        running_server.stop(grace=5)
        shutil.rmtree(work, ignore_errors=True)
    small = [r for r in rows if 0 < r["selected"] <= 20]
    if small:
        print(f"\nmedian ms over the {len(small)} pushes that ran 1-20 tests (load {os.getloadavg()[0]:.1f}):")
        for name in PHASES:
            values = [r["phases"][name] for r in small if name in r["phases"]]
            if values:
                print(f"  {name:8} {statistics.median(values) * 1000:7.0f}")
        print(f"  {'total':8} {statistics.median(r['seconds'] for r in small) * 1000:7.0f}")
        print(f"  {'CPU':8} {statistics.median(r['cpu_s'] for r in small) * 1000:7.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
