#!/usr/bin/env python3
"""The query index: import + index speed, entity lookups against ``git log -L``, aggregates at scale.

In one run, on one machine:

    (a) import and index a history of >= 2,000 commits (built deterministically
        from the standard library's sources, edited step by step: function
        bodies changed, functions added, renamed, moved between files, files
        renamed), against the time ``git log -p`` takes over the same history.
        Goal: at most 20x git's time.
    (b) "every commit that changed function F", for a sample of functions:
        ``entity_changes`` through the SQL sandbox against
        ``git log -L :F:file``. Goal: at least 50x faster; the number of
        commits each finds is reported (git loses a function at a rename).
    (c) aggregate queries over 1,000,000 synthetic commits and 10,000,000
        entity changes. Goal: p50 under 0.5 s each.

    (d) with ``--cli REPO`` instead: whole ``trellis`` processes, as a user
        runs them, on a real history (a repository or a git bundle):
        ``trellis import`` (every branch, semantic diffs) against
        ``git log -p --all`` (goal: at most 10x), ``trellis query`` on the
        local data directory (goal: p50 <= 300 ms end to end), and one
        function's history through ``trellis query`` against
        ``git log -L :F:file`` (goal: faster).

Usage:
    python benchmarks/bench_query.py                 # full run
    python benchmarks/bench_query.py --quick         # small sizes, ~1 minute
    python benchmarks/bench_query.py --record        # also append the Markdown section to RESULTS.md
    python benchmarks/bench_query.py --cli ../shared/data/repos/attrs.bundle [--record]
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from trellis import vcs  # noqa: E402
from trellis.query import DatabaseSettings, Indexer, import_history, open_database, run_query  # noqa: E402

GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
}
AGENT = vcs.Identity("bench-agent")
REBUILDS = 5


# -- (a) a deterministic, realistic history ------------------------------------------------


def stdlib_files(count: int, rng: random.Random) -> dict[str, bytes]:
    root = Path(sysconfig.get_paths()["stdlib"])
    pool = []
    for p in sorted(root.glob("*.py")):
        data = p.read_bytes()
        if not 3_000 <= len(data) <= 30_000:
            continue
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            continue
        if sum(isinstance(n, ast.FunctionDef) for n in tree.body) >= 3:
            pool.append((f"lib/{p.name}", data))
    return dict(rng.sample(pool, min(count, len(pool))))


def _top_functions(data: bytes) -> list[ast.FunctionDef]:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return []
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.end_lineno and not n.decorator_list]


def _all_functions(data: bytes) -> list[ast.FunctionDef]:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.append(node)
        elif isinstance(node, ast.ClassDef):
            out.extend(n for n in node.body if isinstance(n, ast.FunctionDef))
    return [f for f in out if len(f.body) >= 1 and f.end_lineno]


def next_change(files: dict[str, bytes], n: int, rng: random.Random) -> tuple[str, list[vcs.Change]]:
    """One step of an agent: mostly body edits, sometimes added, renamed or moved functions, renamed files."""
    paths = sorted(files)
    roll = rng.random()
    path = rng.choice(paths)
    data = files[path]
    lines = data.splitlines(keepends=True)
    if roll < 0.60:
        funcs = _all_functions(data)
        if funcs:
            f = rng.choice(funcs)
            last = f.body[-1]
            indent = b" " * f.body[0].col_offset
            at = last.end_lineno or f.end_lineno or 0
            new = b"".join(lines[:at] + [indent + b"_edit_%d = %d\n" % (n, n)] + lines[at:])
            return f"Edit {f.name} in {path}", [vcs.PutFile(path, new)]
    elif roll < 0.77:
        new = data + b'\n\ndef generated_%d(value):\n    """Step %d."""\n    return value * %d\n' % (n, n, n)
        return f"Add generated_{n} to {path}", [vcs.PutFile(path, new)]
    elif roll < 0.87:
        funcs = [f for f in _top_functions(data) if not f.name.startswith("__")]
        if funcs:
            f = rng.choice(funcs)
            i = f.lineno - 1
            needle = b"def " + f.name.encode() + b"("
            if needle in lines[i]:
                lines[i] = lines[i].replace(needle, b"def " + f.name.encode() + b"_v%d(" % n, 1)
                return f"Rename {f.name} in {path}", [vcs.PutFile(path, b"".join(lines))]
    elif roll < 0.96:
        funcs = _top_functions(data)
        others = [p for p in paths if p != path]
        if len(funcs) > 1 and others:
            f = rng.choice(funcs)
            start, end = f.lineno - 1, f.end_lineno or f.lineno
            block = b"".join(lines[start:end])
            rest = b"".join(lines[:start] + lines[end:])
            target = rng.choice(others)
            return f"Move {f.name} from {path} to {target}", [
                vcs.PutFile(path, rest),
                vcs.PutFile(target, files[target] + b"\n\n" + block),
            ]
    else:
        stem = path.removesuffix(".py").split("_r")[0]
        new_path = f"{stem}_r{n}.py"
        return f"Rename {path} to {new_path}", [vcs.RenameFile(path, new_path)]
    new = data + b"# touched %d\n" % n
    return f"Touch {path}", [vcs.PutFile(path, new)]


def _apply(files: dict[str, bytes], changes: list[vcs.Change]) -> None:
    for c in changes:
        if isinstance(c, vcs.PutFile):
            files[c.path] = c.content
        elif isinstance(c, vcs.RenameFile):
            files[c.new_path] = files.pop(c.old_path)
        elif isinstance(c, vcs.DeleteFile):
            files.pop(c.path)


def build_history(data_dir: Path, commits: int, seed: int = 7) -> Path:
    rng = random.Random(seed)
    files = stdlib_files(40, rng)
    store = vcs.Store(data_dir)
    store.create_repository("src", AGENT)
    store.commit("src", "main", [vcs.PutFile(p, d) for p, d in sorted(files.items())], "Import sources", AGENT)
    session = None
    for n in range(1, commits):
        if n % 50 == 1:  # a new agent session every 50 commits, on main
            if session is not None:
                store.end_session("src", session.session_id, vcs.SessionStatus.SUCCEEDED, AGENT)
            session = store.create_session("src", AGENT, model="bench-model", task=f"task {n}")
        title, changes = next_change(files, n, rng)
        assert session is not None
        try:
            store.commit(
                "src",
                "main",
                changes,
                title,
                AGENT,
                session_id=session.session_id,
                step=vcs.StepInput(
                    thought=title,
                    action="edit",
                    input_tokens=1000 + n,
                    output_tokens=50,
                    cost_usd=0.001,
                    latency_ms=200,
                ),
            )
        except vcs.InvalidArgument:  # an edit that changed nothing
            continue
        _apply(files, changes)
    return data_dir / "repos" / "src.git"


def git(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(path), *args], env=GIT_ENV, capture_output=True, text=True, check=True
    ).stdout


def time_git_log_p(path: Path, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            ["git", "--git-dir", str(path), "log", "-p", "--all"], env=GIT_ENV, stdout=subprocess.DEVNULL, check=True
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- (b) entity lookups against git log -L -------------------------------------------------


@dataclass
class Lookup:
    path: str
    qualname: str
    name: str
    query_s: float
    query_commits: int
    lineage_commits: int
    git_s: float
    git_commits: int


def sample_functions(ix: Indexer, count: int) -> list[tuple[str, str, str]]:
    """Functions edited most, that still exist at the head (so git log -L can look them up)."""
    rows = ix.connection.execute(
        "SELECT path, qualname, count(*) AS n FROM entity_changes WHERE repository = 'bench' "
        "AND kind = 'function' AND change = 'modified' GROUP BY ALL ORDER BY n DESC, qualname LIMIT 200"
    ).fetchall()
    head = "refs/heads/main"
    out = []
    repo_path = ix.repos_dir / "bench.git"
    for path, qualname, _ in rows:
        name = qualname.rsplit(".", 1)[-1]
        try:
            content = git(repo_path, "show", f"{head}:{path}")
        except subprocess.CalledProcessError:
            continue
        if content.count(f"def {name}(") == 1:
            out.append((path, qualname, name))
        if len(out) == count:
            break
    return out


def lookup(ix: Indexer, path: str, qualname: str, name: str, runs: int = 5) -> Lookup:
    repo_path = ix.repos_dir / "bench.git"
    # qualname alone: it names the module, and an equality on it alone uses the ART index
    sql = f"SELECT DISTINCT commit_id FROM entity_changes WHERE qualname = '{qualname}'"
    lineage_sql = (
        "SELECT DISTINCT commit_id FROM entity_history WHERE lineage_id IN "
        f"(SELECT lineage_id FROM entity_history WHERE path = '{path}' AND qualname = '{qualname}')"
    )
    times, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = run_query(ix, sql, max_rows=100_000, timeout_s=60).table.num_rows
        times.append(time.perf_counter() - started)
    lineage = run_query(ix, lineage_sql, max_rows=100_000, timeout_s=60).table.num_rows
    git_times, git_found = [], 0
    for _ in range(max(1, runs // 2)):
        started = time.perf_counter()
        out = git(repo_path, "log", "-L", f":{name}:{path}", "--format=COMMIT %H", "refs/heads/main")
        git_times.append(time.perf_counter() - started)
        git_found = sum(1 for line in out.splitlines() if line.startswith("COMMIT "))
    return Lookup(
        path, qualname, name, statistics.median(times), found, lineage, statistics.median(git_times), git_found
    )


# -- (c) aggregates over synthetic data ----------------------------------------------------

SYNTH = {
    "commits": """
INSERT INTO commits SELECT
  'repo-' || (i % 100), md5(i::VARCHAR) || lpad((i % 100000000)::VARCHAR, 8, '0'), md5((i + 1)::VARCHAR),
  'agent-' || (hash(i) % 200), 'agent@x', TIMESTAMP '2024-01-01' + to_seconds(i * 30), 0,
  'trellis', 'trellis@x', TIMESTAMP '2024-01-01' + to_seconds(i * 30), 0,
  'commit ' || i, 'commit ' || i, 'agent-' || (hash(i) % 200), 'session-' || (i // 20), (i % 20 + 1)::INTEGER,
  NULL, 1, md5((i - 1)::VARCHAR), (hash(i * 3) % 5 + 1)::INTEGER, (hash(i * 5) % 80)::INTEGER,
  (hash(i * 7) % 40)::INTEGER, 10
FROM range({n}) t(i)""",
    "entity_changes": """
INSERT INTO entity_changes SELECT
  'repo-' || ((j // 10) % 100), md5((j // 10)::VARCHAR) || lpad(((j // 10) % 100000000)::VARCHAR, 8, '0'),
  NULL, (j % 10)::INTEGER,
  'src/mod' || (hash(j) % 2000) || '.py', 'src/mod' || (hash(j) % 2000) || '.py',
  ['function', 'method', 'class', 'function'][(hash(j * 11) % 4)::BIGINT + 1],
  'mod' || (hash(j) % 2000) || '.f' || (hash(j * 7) % 40), 'mod' || (hash(j) % 2000) || '.f' || (hash(j * 7) % 40),
  ['modified', 'modified', 'modified', 'added', 'removed', 'renamed', 'moved', 'moved_renamed'][(hash(j * 13) % 8)::BIGINT + 1],
  ['body'], 1, 10, 1, 11, 1.0,
  ['python', 'python', 'typescript', 'go', 'rust'][(hash(j * 17) % 5)::BIGINT + 1], NULL
FROM range({n}) t(j)""",
    "sessions": """
INSERT INTO sessions SELECT
  'repo-' || ((s * 20) % 100), 'session-' || s, 'agent-' || (hash(s * 20) % 200), 'model-' || (s % 4),
  'task', NULL, 'agents/x/' || s, ['succeeded', 'failed', 'abandoned'][(s % 3)::BIGINT + 1], '',
  TIMESTAMP '2024-01-01' + to_seconds(s * 600), TIMESTAMP '2024-01-01' + to_seconds(s * 600 + 500),
  20, 20, 20000, 1000, 0.2, MAP {{}}, md5(s::VARCHAR)
FROM range({n}) t(s)""",
    "steps": """
INSERT INTO steps SELECT
  'repo-' || (i % 100), 'session-' || (i // 20), (i % 20 + 1)::INTEGER,
  md5(i::VARCHAR) || lpad((i % 100000000)::VARCHAR, 8, '0'), 'thought', 'edit', NULL, 'ok',
  1000, 50, 0.01, (hash(i) % 5000)::BIGINT, TIMESTAMP '2024-01-01' + to_seconds(i * 30), MAP {{}}
FROM range({n}) t(i)""",
}

AGGREGATES = {
    "commits per agent and month": (
        "SELECT agent, date_trunc('month', commit_time) AS month, count(*) AS commits, sum(additions) AS added "
        "FROM commits GROUP BY ALL ORDER BY month, agent"
    ),
    "most-changed functions": (
        "SELECT qualname, count(*) AS changes FROM entity_changes WHERE kind IN ('function', 'method') "
        "GROUP BY qualname ORDER BY changes DESC LIMIT 20"
    ),
    "change mix per language": (
        "SELECT language, kind, change, count(*) AS n FROM entity_changes GROUP BY ALL ORDER BY ALL"
    ),
    "functions edited most in succeeded sessions": (
        "SELECT e.qualname, count(*) AS edits FROM entity_changes e "
        "JOIN commits c ON c.repository = e.repository AND c.commit_id = e.commit_id "
        "JOIN sessions s ON s.repository = c.repository AND s.session_id = c.session_id "
        "WHERE s.status = 'succeeded' GROUP BY e.qualname ORDER BY edits DESC LIMIT 10"
    ),
    "every commit that changed one function": (
        "SELECT DISTINCT commit_id FROM entity_changes WHERE qualname = 'mod17.f3'"
    ),
    "costliest sessions (session_summary)": (
        "SELECT session_id, steps, commits, total_tokens, cost_usd FROM session_summary "
        "ORDER BY cost_usd DESC, session_id LIMIT 20"
    ),
}


def synthetic(db_dir: Path, commits: int, entities: int, runs: int) -> list[tuple[str, float, float, int]]:
    path = db_dir / "synthetic.duckdb"
    con = open_database(path, DatabaseSettings(memory_limit="6GB", threads=os.cpu_count() or 2))
    started = time.perf_counter()
    con.execute(SYNTH["commits"].format(n=commits))
    con.execute(SYNTH["entity_changes"].format(n=entities))
    con.execute(SYNTH["sessions"].format(n=commits // 20))
    con.execute(SYNTH["steps"].format(n=commits))
    con.execute("CHECKPOINT")
    print(
        f"  generated {commits:,} commits, {entities:,} entity changes, {commits // 20:,} sessions "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    results = []
    for name, sql in AGGREGATES.items():
        times, rows = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            rows = run_query(con, sql, max_rows=1_000_000, timeout_s=120).table.num_rows
            times.append(time.perf_counter() - t0)
        results.append((name, statistics.median(times), max(times), rows))
        print(f"  {name}: p50 {statistics.median(times) * 1000:.0f} ms ({rows} rows)", flush=True)
    con.close()
    return results


# -- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test of the benchmark)")
    parser.add_argument("--commits", type=int, help="history length for (a) and (b)")
    parser.add_argument("--synthetic-commits", type=int, help="synthetic commits for (c)")
    parser.add_argument("--functions", type=int, default=5, help="functions sampled for (b)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the Markdown section to RESULTS.md")
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    parser.add_argument(
        "--cli",
        type=Path,
        metavar="REPO",
        help="(d) only: time whole trellis processes on this repository or git bundle",
    )
    parser.add_argument("--runs", type=int, default=15, help="(d): runs of each trellis query")
    parser.add_argument(
        "--lookup-runs", type=int, default=7, help="(d): runs of each function's history, ours and git's interleaved"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="(d): with --keep, reuse the data directory an earlier run imported"
    )
    args = parser.parse_args()
    if args.cli is not None:
        return cli_mode(args)
    n_commits = args.commits or (300 if args.quick else 2_000)
    n_synth = args.synthetic_commits or (100_000 if args.quick else 1_000_000)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-query-"))
    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    try:
        print(f"(a) building a {n_commits:,}-commit history from the standard library…", flush=True)
        started = time.perf_counter()
        source = build_history(work / "source", n_commits)
        total_commits = len(git(source, "rev-list", "--branches").split())
        print(f"  built {total_commits:,} commits in {time.perf_counter() - started:.1f} s", flush=True)
        git_s = time_git_log_p(source)
        print(f"  git log -p --all: {git_s:.2f} s", flush=True)

        data = work / "data"
        with Indexer(data) as ix:
            started, cpu_started = time.perf_counter(), cpu_seconds()
            result = import_history(data, source, "bench", indexer=ix, workers=args.workers)
            import_s, import_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
            stats = result.stats
            print(
                f"  import + index with semantic diff ({args.workers} workers): {import_s:.2f} s "
                f"({import_cpu:.2f} s CPU) = {import_s / git_s:.1f}x git log -p ({stats.commits_added:,} commits, "
                f"{stats.file_changes_added:,} file changes, {stats.entity_changes_added:,} entity changes)",
                flush=True,
            )
            assert ix.check() == [], ix.check()
            files_only_dir = work / "files-only"
            with Indexer(files_only_dir, entity_differ=None) as plain:
                started, cpu_started = time.perf_counter(), cpu_seconds()
                import_history(files_only_dir, source, "bench", indexer=plain, workers=1)
                files_only_s, files_only_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
                # The index alone, from git (no fetch, no semantic diff): what reading git in bulk costs.
                rebuilds = []
                for _ in range(REBUILDS):
                    started, cpu_started = time.perf_counter(), cpu_seconds()
                    plain.rebuild()
                    rebuilds.append((time.perf_counter() - started, cpu_seconds() - cpu_started))
                rebuild_s = statistics.median(r[0] for r in rebuilds)
                rebuild_cpu = statistics.median(r[1] for r in rebuilds)
            print(
                f"  import + index without entity changes: {files_only_s:.2f} s ({files_only_cpu:.2f} s CPU) "
                f"= {files_only_s / git_s:.1f}x; rebuild of that index (median of {REBUILDS}): {rebuild_s:.2f} s "
                f"({rebuild_cpu:.2f} s CPU)",
                flush=True,
            )

            print("(b) every commit that changed function F…", flush=True)
            lookups = [lookup(ix, *f) for f in sample_functions(ix, args.functions)]
            for lk in lookups:
                print(
                    f"  {lk.qualname}: query {lk.query_s * 1000:.1f} ms ({lk.query_commits} commits, "
                    f"{lk.lineage_commits} across renames/moves) vs git log -L {lk.git_s * 1000:.0f} ms "
                    f"({lk.git_commits} commits) = {lk.git_s / lk.query_s:.0f}x",
                    flush=True,
                )

        print(f"(c) aggregates over {n_synth:,} commits and {n_synth * 10:,} entity changes…", flush=True)
        aggregates = synthetic(work, n_synth, n_synth * 10, runs=3 if args.quick else 5)

        ratio_a = import_s / git_s
        speedups = [lk.git_s / lk.query_s for lk in lookups]
        lines += [
            f"## Query index (`benchmarks/bench_query.py{' --quick' if args.quick else ''}`)",
            "",
            f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, git {_git_version()}, DuckDB {_duckdb_version()}; load average "
            f"{os.getloadavg()[0]:.1f} at the end (the machine is shared: timings are noisy).",
            "",
            f"**(a) Import and index** a {total_commits:,}-commit history built from {len(stdlib_files(40, random.Random(7)))}"
            " standard-library modules edited step by step (bodies edited, functions added, renamed, moved "
            "across files, files renamed; an agent session every 50 commits):",
            "",
            "| | time | CPU | vs `git log -p --all` |",
            "|---|---|---|---|",
            f"| `git log -p --all` | {git_s:.2f} s | | 1x |",
            f"| import + index, files only | {files_only_s:.2f} s | {files_only_cpu:.2f} s | "
            f"{files_only_s / git_s:.1f}x |",
            f"| rebuild of that index from git (median of {REBUILDS}) | {rebuild_s:.2f} s | {rebuild_cpu:.2f} s | "
            f"{rebuild_s / git_s:.1f}x |",
            f"| import + index with semantic diff ({args.workers} workers) | {import_s:.2f} s | {import_cpu:.2f} s | "
            f"**{ratio_a:.1f}x** (goal <= 20x: {'met' if ratio_a <= 20 else 'NOT met'}) |",
            "",
            f"{stats.file_changes_added:,} file changes and {stats.entity_changes_added:,} entity changes indexed; "
            "`check()` clean afterwards.",
            "",
            "**(b) Every commit that changed function F** (`entity_changes` through the SQL sandbox, median of 5) "
            "against `git log -L :F:file` on `main`:",
            "",
            "| function | query | commits found | across renames/moves | `git log -L` | commits found | speed-up |",
            "|---|---|---|---|---|---|---|",
        ]
        for lk in lookups:
            lines.append(
                f"| `{lk.qualname}` | {lk.query_s * 1000:.1f} ms | {lk.query_commits} | "
                f"{lk.lineage_commits} | {lk.git_s * 1000:.0f} ms | {lk.git_commits} | "
                f"{lk.git_s / lk.query_s:.0f}x |"
            )
        if speedups:
            lines += [
                "",
                f"Median speed-up **{statistics.median(speedups):.0f}x** (goal >= 50x: "
                f"{'met' if min(speedups) >= 50 else 'NOT met for every function'}). "
                "`git log -L` counts every commit whose diff touches the function's current line "
                "range (so it includes the commit that added it and commits that only shifted it), "
                "and cannot follow a function across a rename or a move; the index counts "
                "semantic changes, and `entity_history` follows renames and moves.",
            ]
        lines += [
            "",
            f"**(c) Aggregates** over {n_synth:,} synthetic commits, {n_synth * 10:,} entity changes, "
            f"{n_synth // 20:,} sessions and {n_synth:,} steps (through the sandbox, "
            f"{'3' if args.quick else '5'} runs):",
            "",
            "| query | p50 | max | rows |",
            "|---|---|---|---|",
        ]
        for name, p50, worst, rows in aggregates:
            lines.append(f"| {name} | {p50 * 1000:.0f} ms | {worst * 1000:.0f} ms | {rows} |")
        met = all(p50 < 0.5 for _, p50, _, _ in aggregates)
        lines += ["", f"Goal p50 < 0.5 s each: {'met' if met else 'NOT met for every query'}.", ""]
        text = "\n".join(lines)
        print()
        print(text)
        if args.record:
            results = ROOT / "benchmarks" / "RESULTS.md"
            with results.open("a") as out:
                out.write("\n" + text)
            print(f"appended to {results}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


# -- (d) whole trellis processes on a real history -----------------------------------------

FLOOR = """
import json, os, sys
import _duckdb
index, sql = sys.argv[1], sys.argv[2]
config = {
    "enable_external_access": False, "autoinstall_known_extensions": False, "autoload_known_extensions": False,
    "allow_community_extensions": False, "python_enable_replacements": False, "memory_limit": "2GB", "threads": 2,
    "max_temp_directory_size": "8GB",
}
con = _duckdb.connect(index, read_only=True, config=config)
con.execute("SET enable_progress_bar = false")
con.execute("SET lock_configuration = true")
con.execute("SELECT key, value FROM index_info").fetchall()
con.extract_statements(sql)
json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0])
con.execute(f"SELECT * FROM (\\n{sql}\\n) LIMIT 0")
con.execute(sql)
sys.stdout.write("".join(",".join(map(str, row)) + "\\n" for row in con.fetchall()))
sys.stdout.flush()
os._exit(0)
"""
"""What any Python process answering one function's history from the index pays: DuckDB's part alone."""

CLI_QUERIES = {
    "SELECT 1": "SELECT 1",
    "commits per author": "SELECT author, count(*) AS n FROM commits GROUP BY ALL ORDER BY n DESC LIMIT 10",
    "most-changed functions": (
        "SELECT qualname, count(*) AS n FROM entity_changes WHERE kind IN "
        "('function', 'method') GROUP BY ALL ORDER BY n DESC LIMIT 10"
    ),
}


@dataclass
class Process:
    wall_s: float
    cpu_s: float
    stdout: str


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its children that have ended (pool workers)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_process(argv: list[str], env: dict[str, str] | None = None) -> Process:
    """One whole process: wall clock and the CPU time (user + system) it and its children used."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Process(wall, cpu, done.stdout)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cli_mode(args: argparse.Namespace) -> int:
    trellis = str(Path(sys.executable).with_name("trellis"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from measure import installed_env

    env = installed_env()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-cli-"))
    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    try:
        source = work / "source.git"
        if not source.exists():
            subprocess.run(["git", "clone", "-q", "--mirror", str(args.cli), str(source)], env=GIT_ENV, check=True)
        name = args.cli.name.removesuffix(".bundle").removesuffix(".git")
        commits = len(git(source, "rev-list", "--all").split())
        branches = len(git(source, "for-each-ref", "refs/heads", "refs/remotes").split("\n")) - 1
        heads = git(source, "for-each-ref", "--format=%(refname)", "refs/heads").split()
        tip = next((h for h in ("refs/heads/main", "refs/heads/master") if h in heads), heads[0])
        print(f"(d) {name}: {commits:,} commits on {branches} branch(es)", flush=True)
        git_p = [run_process(["git", "--git-dir", str(source), "log", "-p", "--all"], GIT_ENV) for _ in range(3)]
        git_p_s = statistics.median(p.wall_s for p in git_p)
        print(f"  git log -p --all: {git_p_s:.2f} s", flush=True)
        data = work / "data"
        reused = args.reuse and args.keep is not None and (data / "index.duckdb").exists()
        if not reused:
            shutil.rmtree(data, ignore_errors=True)
        imported = (
            Process(0.0, 0.0, "")
            if reused
            else run_process(
                [
                    trellis,
                    "import",
                    str(source),
                    "--name",
                    name,
                    "--data-dir",
                    str(data),
                    "--workers",
                    str(args.workers),
                    "--json",
                ],
                env,
            )
        )
        ratio = imported.wall_s / git_p_s
        if reused:
            print(f"  (reusing the data directory imported earlier in {data}: no import timed)", flush=True)
        else:
            print(
                f"  trellis import: {imported.wall_s:.1f} s wall, {imported.cpu_s:.1f} s CPU = {ratio:.1f}x "
                "git log -p --all",
                flush=True,
            )
        timings: dict[str, list[Process]] = {}
        for label, sql in CLI_QUERIES.items():
            timings[label] = [
                run_process([trellis, "query", sql, "--data-dir", str(data), "--format", "csv"], env)
                for _ in range(args.runs)
            ]
            walls = [p.wall_s for p in timings[label]]
            print(
                f"  trellis query ({label}): p50 {_p(walls, 0.5) * 1000:.0f} ms, p90 {_p(walls, 0.9) * 1000:.0f} "
                f"ms wall; CPU p50 {_p([p.cpu_s for p in timings[label]], 0.5) * 1000:.0f} ms",
                flush=True,
            )
        # What any process of ours pays before it reads a row: the interpreter with this environment's site, DuckDB's
        # package, and DuckDB's engine module alone opening the index read-only for one statement.
        index = str(data / "index.duckdb")
        floors = {
            "`python -c pass`": [sys.executable, "-c", "pass"],
            "`python -c 'import duckdb'`": [sys.executable, "-c", "import duckdb"],
            "`import _duckdb`, open the index read-only, `SELECT 1`": [
                sys.executable,
                "-c",
                f"import _duckdb; _duckdb.connect({index!r}, read_only=True).execute('SELECT 1').fetchall()",
            ],
            "`trellis --help`": [trellis, "--help"],
        }
        floor_timings = {label: [run_process(argv, env) for _ in range(args.runs)] for label, argv in floors.items()}
        for label, ps in floor_timings.items():
            print(
                f"  {label}: p50 {_p([p.wall_s for p in ps], 0.5) * 1000:.0f} ms wall, "
                f"{_p([p.cpu_s for p in ps], 0.5) * 1000:.0f} ms CPU",
                flush=True,
            )
        functions = _cli_functions(trellis, data, source, tip, name, env, args.functions)
        lookups = []
        for path, qualname, fname in functions:
            sql = (
                f"SELECT DISTINCT commit_id FROM entity_changes WHERE repository = '{name}' AND qualname = '{qualname}'"
            )
            ours, theirs, floor = [], [], []
            for _ in range(args.lookup_runs):  # interleaved: a change of the machine's load hits all alike
                ours.append(run_process([trellis, "query", sql, "--data-dir", str(data), "--format", "csv"], env))
                floor.append(run_process([sys.executable, "-c", FLOOR, str(data / "index.duckdb"), sql], env))
                theirs.append(
                    run_process(
                        ["git", "--git-dir", str(source), "log", "-L", f":{fname}:{path}", "--format=COMMIT %H", tip],
                        GIT_ENV,
                    )
                )
            found = len(ours[0].stdout.splitlines()) - 1
            git_found = sum(1 for line in theirs[0].stdout.splitlines() if line.startswith("COMMIT "))
            ours_s, git_s = statistics.median(p.wall_s for p in ours), statistics.median(p.wall_s for p in theirs)
            ours_cpu, git_cpu = statistics.median(p.cpu_s for p in ours), statistics.median(p.cpu_s for p in theirs)
            floor_s, floor_cpu = statistics.median(p.wall_s for p in floor), statistics.median(p.cpu_s for p in floor)
            lookups.append((qualname, path, ours_s, ours_cpu, found, git_s, git_cpu, git_found, floor_s, floor_cpu))
            print(
                f"  {qualname}: trellis query {ours_s * 1000:.0f} ms ({ours_cpu * 1000:.0f} ms CPU, {found} commits) "
                f"vs git log -L {git_s * 1000:.0f} ms ({git_cpu * 1000:.0f} ms CPU, {git_found} commits); "
                f"the floor {floor_s * 1000:.0f} ms ({floor_cpu * 1000:.0f} ms CPU)",
                flush=True,
            )
        select1 = [p.wall_s for p in timings["SELECT 1"]]
        all_walls = [p.wall_s for ps in timings.values() for p in ps]
        lines += [
            f"## CLI on a real history (`benchmarks/bench_query.py --cli {args.cli.name}`)",
            "",
            f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}, git {_git_version()}, DuckDB {_duckdb_version()}; load average "
            f"{os.getloadavg()[0]:.1f} at the end (the machine is shared by several engineers: wall times are "
            "noisy, CPU times less so). Whole processes, started as a user starts them.",
            "",
            f"**Import** of {name} ({commits:,} commits, {branches} branch(es), every branch, semantic diffs, "
            f"{args.workers} workers) against `git log -p --all` (median of 3):",
            "",
            "| | wall | CPU | vs `git log -p --all` |",
            "|---|---|---|---|",
            f"| `git log -p --all` | {git_p_s:.2f} s | {statistics.median(p.cpu_s for p in git_p):.2f} s | 1x |",
            "| `trellis import` | (reused: not timed) | | |"
            if reused
            else f"| `trellis import` | {imported.wall_s:.1f} s | {imported.cpu_s:.1f} s | **{ratio:.1f}x** "
            f"(goal <= 10x: {'met' if ratio <= 10 else 'NOT met'}) |",
            "",
            f"**`trellis query`** on the local data directory (no server; {args.runs} runs each, `--format csv`):",
            "",
            "| query | wall p50 | wall p90 | CPU p50 |",
            "|---|---|---|---|",
        ]
        for label, ps in timings.items():
            walls = [p.wall_s for p in ps]
            lines.append(
                f"| {label} | {_p(walls, 0.5) * 1000:.0f} ms | {_p(walls, 0.9) * 1000:.0f} ms | "
                f"{_p([p.cpu_s for p in ps], 0.5) * 1000:.0f} ms |"
            )
        lines += [
            "",
            f"p50 over every run {_p(all_walls, 0.5) * 1000:.0f} ms (`SELECT 1`: "
            f"{_p(select1, 0.5) * 1000:.0f} ms); goal <= 300 ms: "
            f"{'met' if _p(all_walls, 0.5) <= 0.3 else 'NOT met'}.",
            "",
        ]
        lines += [
            f"What a process costs before it reads a row ({args.runs} runs each):",
            "",
            "| process | wall p50 | CPU p50 |",
            "|---|---|---|",
        ]
        for label, ps in floor_timings.items():
            lines.append(
                f"| {label} | {_p([p.wall_s for p in ps], 0.5) * 1000:.0f} ms | "
                f"{_p([p.cpu_s for p in ps], 0.5) * 1000:.0f} ms |"
            )
        lines.append("")
        if lookups:
            lines += [
                "**One function's history**: `trellis query` (a whole process) against "
                f"`git log -L :F:file {tip.removeprefix('refs/heads/')}`, {args.lookup_runs} runs of each, "
                "interleaved, medians:",
                "",
                "| function | `trellis query` wall / CPU | commits | `git log -L` wall / CPU | commits | speed-up (wall) "
                "| the floor wall / CPU |",
                "|---|---|---|---|---|---|---|",
            ]
            for qualname, path, ours_s, ours_cpu, found, git_s, git_cpu, git_found, floor_s, floor_cpu in lookups:
                lines.append(
                    f"| `{qualname}` ({path}) | {ours_s * 1000:.0f} / {ours_cpu * 1000:.0f} ms | {found} | "
                    f"{git_s * 1000:.0f} / {git_cpu * 1000:.0f} ms | {git_found} | {git_s / ours_s:.1f}x | "
                    f"{floor_s * 1000:.0f} / {floor_cpu * 1000:.0f} ms |"
                )
            lines += [
                "",
                "The floor: a Python process of this environment doing only DuckDB's part of the answer with the "
                "engine module (open the index read-only, its two settings, one statement for the index's state, the "
                "checks' two, `LIMIT 0`, the query), ending at once; no Trellis.",
            ]
            faster = sum(1 for lk in lookups if lk[2] < lk[5])
            faster_cpu = sum(1 for lk in lookups if lk[3] < lk[6])
            lines += [
                "",
                f"Faster than `git log -L` for {faster} of {len(lookups)} functions by wall, {faster_cpu} by CPU.",
                "",
            ]
        text = "\n".join(lines)
        print()
        print(text)
        if args.record:
            results = ROOT / "benchmarks" / "RESULTS.md"
            with results.open("a") as out:
                out.write("\n" + text)
            print(f"appended to {results}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _cli_functions(
    trellis: str, data: Path, source: Path, tip: str, name: str, env: dict[str, str], count: int
) -> list[tuple[str, str, str]]:
    """The functions changed most that exist once at the tip (so git log -L can find them)."""
    import csv
    import io

    sql = (
        f"SELECT path, qualname, count(*) AS n FROM entity_changes WHERE repository = '{name}' AND kind IN "
        "('function', 'method') AND change = 'modified' GROUP BY ALL ORDER BY n DESC, qualname LIMIT 100"
    )
    rows = list(
        csv.DictReader(
            io.StringIO(run_process([trellis, "query", sql, "--data-dir", str(data), "--format", "csv"], env).stdout)
        )
    )
    out = []
    for row in rows:
        fname = row["qualname"].rsplit(".", 1)[-1]
        try:
            content = git(source, "show", f"{tip}:{row['path']}")
        except subprocess.CalledProcessError:
            continue
        if content.count(f"def {fname}(") == 1:
            out.append((row["path"], row["qualname"], fname))
        if len(out) == count:
            break
    return out


def _duckdb_version() -> str:
    import duckdb

    return str(duckdb.__version__)


def _git_version() -> str:
    return subprocess.run(["git", "version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    raise SystemExit(main())
