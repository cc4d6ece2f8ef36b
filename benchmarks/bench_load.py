#!/usr/bin/env python3
"""Mixed load: 64 agents pushing, reading, diffing and querying one server for 60 s.

The server is ``python -m trellis serve`` in its own process, on the push benchmark's fixture
(1,023 Python modules). Agents are threads in separate client processes; each owns a branch
(every fourth one a session, with a step on every commit) and loops back to back over a mix
of operations: push 40% (a one-module micro-commit with ``expected_head``: unary ``Commit``,
``Commit`` with a session step, or ``CommitStream``, by agent), read 30% (``GetFile``,
``ListTree``, ``ListCommits``, ``GetBranch``), diff 15% (``Diff`` of one of the agent's last commits,
or, ``--branch-diff-share`` 0.3 of them, of its branch against ``main`` with line diffs: these grow as the
branches diverge) and query 15% (SQL over the index through
``Query``). Every call's latency and outcome is recorded.

Printed: per RPC the calls, calls/s, p50/p99/max latency and errors; the total throughput and
error count; and the server's memory (RSS, sampled every 0.5 s with psutil) with a leak verdict:
a least-squares line through the RSS samples of the second half of the run; a slope above
``--leak-mb-per-min`` (default 2 MB/min) is a suspected leak when the line explains the
samples (R² >= 0.5), inconclusive when it does not; the same line through the heap alone (anonymous
memory: on tmpfs the repository's pack files are mapped shared memory, which RSS counts as the
repository grows) is printed beside it. RSS is sampled again after the server has
drained its background indexing queue. The server's caches (parse cache, diff results, DuckDB's
buffers) grow with the work up to their bounds, so a short run with pushes always shows growth;
``--mix read=50,diff=20,query=30`` keeps the data constant.

    python benchmarks/bench_load.py                  # 64 agents, 60 s (about 90 s in all)
    python benchmarks/bench_load.py --quick          # 16 agents, 15 s
    python benchmarks/bench_load.py --agents 32 --seconds 120 --tmpdir /dev/shm --json
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import random
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_push  # noqa: E402  (the fixture, the editor, the server process, machine info)
from measure import percentile  # noqa: E402

REPO = "load"
MAIN = bench_push.MAIN
MIX = [("push", 40), ("read", 30), ("diff", 15), ("query", 15)]
QUERIES = [
    "SELECT author, count(*) AS commits FROM commits GROUP BY author ORDER BY commits DESC LIMIT 10",
    "SELECT path, count(*) AS n FROM file_changes GROUP BY path ORDER BY n DESC LIMIT 10",
    "SELECT qualname, kind, count(*) AS n FROM entity_changes GROUP BY qualname, kind ORDER BY n DESC LIMIT 10",
    "SELECT session_id, count(*) AS steps, sum(input_tokens) AS tokens FROM steps GROUP BY session_id",
    "SELECT commit_id, message FROM commits ORDER BY commit_time DESC LIMIT 20",
]


@dataclass(frozen=True)
class Spec:
    address: str
    seconds: float
    think_s: float
    mix: tuple[tuple[str, int], ...] = tuple(MIX)
    push: str = "mixed"
    own_connection: bool = False
    branch_diff_share: float = 0.3


# -- agents (in client processes) ------------------------------------------------------------------


def _agent(index: int, spec: Spec, start: Any, start_at: Any, ready: Any, out: dict[str, Any]) -> None:
    from trellis import Client, vcs
    from trellis.errors import DOMAIN_ERRORS

    name = f"load{index:02d}"
    rng = random.Random(bench_push.SEED + index)
    editor = bench_push.Editor(bench_push.SEED + index, name)
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    if spec.own_connection:  # not gRPC's process-wide subchannel pool: the kernel spreads them over the fronts
        import grpc

        channel = grpc.insecure_channel(spec.address, options=[("grpc.use_local_subchannel_pool", 1)])
        client = Client(spec.address, agent=name, timeout=120, channel=channel)
    else:
        client = Client(spec.address, agent=name, timeout=120)
    stream = None
    try:
        session_id = None
        if index % 4 == 0 and spec.push == "mixed":
            session = client.create_session(REPO, model="bench", task="load")
            branch, head, session_id = session.branch_id, session.base_commit_id, session.session_id
            push_rpc = "Commit+step"
        else:
            created = client.create_branch(REPO, f"agents/{name}/load", MAIN)
            branch, head = created.branch_id, created.head_commit_id
            stream_agent = spec.push == "stream" or (spec.push == "mixed" and index % 4 == 1)
            push_rpc = "CommitStream" if stream_agent else "Commit"
        if push_rpc == "CommitStream":
            stream = client.commit_stream()
        commits: list[str] = []
        branch_diff_files: list[tuple[float, int]] = []  # (s into the run, files in the answer)
        ready.put(index)
        start.wait()
        while time.monotonic() < start_at.value:
            time.sleep(0.001)
        end = start_at.value + spec.seconds
        while time.monotonic() < end:
            kind = rng.choices([k for k, _ in spec.mix], [w for _, w in spec.mix])[0]
            path, content, message = editor.next()
            if kind == "push":
                rpc = push_rpc
            elif kind == "read":
                rpc = rng.choice(["GetFile", "ListTree", "ListCommits", "GetBranch"])
            elif kind == "diff":
                rpc = "Diff" if commits and rng.random() >= spec.branch_diff_share else "Diff(branch vs main)"
            else:
                rpc = "Query"
            t0 = time.perf_counter()
            try:
                if rpc in ("Commit", "Commit+step", "CommitStream"):
                    options: dict[str, Any] = {"expected_head": head}
                    if session_id:
                        options.update(
                            session=session_id,
                            step=vcs.StepInput(
                                thought="edit the module",
                                action="edit_file",
                                arguments_json=json.dumps({"path": path}),
                                input_tokens=1500,
                                output_tokens=200,
                                cost_usd=0.002,
                                latency_ms=800,
                            ),
                        )
                    push = stream.commit if stream is not None else client.commit
                    result = push(REPO, branch, {path: content}, message, **options)
                    head = result.commit.commit_id
                    commits.append(head)
                elif rpc == "GetFile":
                    client.read_file(REPO, path, head)
                elif rpc == "ListTree":
                    list(client.list_tree(REPO, path.rsplit("/", 1)[0], head))
                elif rpc == "ListCommits":
                    list(client.log(REPO, head, limit=20))
                elif rpc == "GetBranch":
                    client.get_branch(REPO, branch)
                elif rpc == "Diff":
                    client.diff(REPO, rng.choice(commits[-20:]))
                elif rpc == "Diff(branch vs main)":
                    answer = client.diff(REPO, head, MAIN, line_diff=True)
                    branch_diff_files.append((round(time.monotonic() - start_at.value, 1), len(answer.result.files)))
                else:
                    client.query_rows(rng.choice(QUERIES), max_rows=100)
            except DOMAIN_ERRORS as exc:
                code = getattr(getattr(exc, "code", None), "name", "") or type(exc).__name__
                errors[f"{rpc} {code} {exc.reason}: {exc.message[:120]}"] += 1
                if rpc == "CommitStream":  # a failed stream cannot be reused
                    stream = client.commit_stream()
                continue
            latencies[rpc].append((time.perf_counter() - t0) * 1000)
            if spec.think_s:
                time.sleep(spec.think_s)
        out["latencies"] = dict(latencies)
        out["errors"] = dict(errors)
        out["branch_diff_files"] = branch_diff_files
    except BaseException as exc:  # setup failed: reported, the run fails
        out["fatal"] = f"agent {name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ready.put(-1 - index)
    finally:
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass
        client.close()


def _client_process(indices: list[int], spec: Spec, start: Any, start_at: Any, ready: Any, results: Any) -> None:
    outs = [dict[str, Any]() for _ in indices]
    threads = [
        threading.Thread(target=_agent, args=(i, spec, start, start_at, ready, o), daemon=True)
        for i, o in zip(indices, outs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(spec.seconds + 600)
    results.put(outs)


# -- the run ------------------------------------------------------------------------------------------


def _fit(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope (per second) and R² of (t, value) samples."""
    n = len(samples)
    if n < 3:
        return 0.0, 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    sxx = sum((t - mt) ** 2 for t, _ in samples)
    sxy = sum((t - mt) * (v - mv) for t, v in samples)
    syy = sum((v - mv) ** 2 for _, v in samples)
    slope = sxy / sxx if sxx else 0.0
    r2 = (sxy * sxy) / (sxx * syy) if sxx and syy else 0.0
    return slope, r2


def _level(samples: list[tuple[float, float]], seconds: float) -> dict[str, Any]:
    """One process's anonymous memory (MB) over the run, and whether it is at a level: the slope and the range
    of its samples in the last third of the run (after warm-up)."""
    last = [s for s in samples if s[0] >= seconds * 2 / 3]
    slope, r2 = _fit(last)
    return {
        "anon_mb": samples,
        "last_third_slope_mb_per_min": round(slope * 60, 2),
        "last_third_r2": round(r2, 2),
        "last_third_range_mb": round(max(v for _, v in last) - min(v for _, v in last), 1) if last else None,
    }


def _rss_fields(pid: int) -> dict[str, int]:
    """A process's RSS in bytes as /proc reports it: in all, anonymous, file and shared-memory pages."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def _rss_split(pid: int) -> str:
    """A process's RSS in MB, split as /proc reports it: anonymous memory (heaps, caches) and file or
    shared-memory pages (mmap'd pack files; on tmpfs a repository's files are shared memory)."""
    fields = {k: v / 2**20 for k, v in _rss_fields(pid).items()}
    return f"{fields['VmRSS']:.0f} (anon {fields['RssAnon']:.0f}, file {fields['RssFile'] + fields['RssShmem']:.0f})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    from trellis import Client

    with bench_push.workspace(args.tmpdir) as work:
        server = bench_push.ServerProcess(work / "data", workers=args.workers, serve_args=args.serve_args).start()
        try:
            assert server.proc is not None
            root = psutil.Process(server.proc.pid)

            def rss() -> int:  # summed over the server's processes (``--workers``: supervisor, fronts, index)
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        continue
                return total

            def heap() -> int:  # the anonymous part of rss() (heaps, caches), without mapped files
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += _rss_fields(p.pid)["RssAnon"]
                    except (OSError, KeyError, psutil.Error):
                        continue
                return total

            def roles() -> dict[int, str]:
                """The server's processes by role: the supervisor, each front, the index process (the one
                holding ``index.duckdb``; one process with ``--workers 0``), their helpers."""
                out: dict[int, str] = {}
                children = root.children(recursive=True)
                direct = {c.pid for c in root.children()}
                for p in [root, *children]:
                    try:
                        if p is root:
                            role = "supervisor" if children else "server"
                        elif p.pid not in direct:
                            role = f"helper of {p.ppid()}"  # a warm test runner, a sandbox...
                        elif any(f.path.endswith("index.duckdb") for f in p.open_files()):
                            role = "index"
                        else:
                            role = "front"
                        out[p.pid] = f"{role} {p.pid}"
                    except (psutil.Error, OSError):  # it ended meanwhile
                        continue
                return out

            def rss_by_role() -> dict[str, str]:
                """MB per process at this moment, by :func:`roles`."""
                out: dict[str, str] = {}
                for pid, role in roles().items():
                    try:
                        out[role] = _rss_split(pid)
                    except (OSError, KeyError):  # it ended meanwhile (a zombie has no RSS)
                        continue
                return out

            # Each long-lived process's anonymous memory over the run (``--process-samples``): whether the
            # fronts and the index process each settle at a level, which the sums above can hide.
            process_samples: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)

            def sample_processes(t: float) -> None:
                for pid, role in roles().items():
                    if role.startswith("helper"):
                        continue
                    try:
                        process_samples[role].append((round(t, 1), round(_rss_fields(pid)["RssAnon"] / 2**20, 1)))
                    except (OSError, KeyError):
                        continue

            with Client(server.address, agent="load-seed", timeout=300) as seed:
                repo = seed.create_repository(REPO, default_branch=MAIN, description="bench_load fixture")
                seed.commit(REPO, MAIN, bench_push.FIXTURE, "Seed fixture", expected_head=repo.head_commit_id)
            bench_push.wait_idle(server.proc.pid)
            rss_idle, rss_idle_roles = rss(), rss_by_role()

            ctx = mp.get_context("spawn")
            start, start_at = ctx.Event(), ctx.Value("d", 0.0)
            ready, results = ctx.Queue(), ctx.Queue()
            spec = Spec(
                server.address,
                args.seconds,
                args.think_ms / 1000,
                args.mix,
                args.push,
                args.own_connections,
                args.branch_diff_share,
            )
            procs = max(1, min(args.processes, args.agents))
            workers = [
                ctx.Process(
                    target=_client_process,
                    args=(list(range(args.agents))[p::procs], spec, start, start_at, ready, results),
                    daemon=True,
                )
                for p in range(procs)
            ]
            for w in workers:
                w.start()
            for _ in range(args.agents):
                got = ready.get(timeout=300)
                if got < 0:
                    raise RuntimeError(f"agent {-1 - got} failed to set up")
            samples: list[tuple[float, float]] = []
            heap_samples: list[tuple[float, float]] = []
            cpu0 = server.cpu()
            start_at.value = time.monotonic() + 0.5
            start.set()
            while time.monotonic() < start_at.value:
                time.sleep(0.001)
            began = time.monotonic()
            next_process_sample = 0.0
            while time.monotonic() - began < args.seconds:
                samples.append((time.monotonic() - began, rss() / 2**20))
                heap_samples.append((samples[-1][0], heap() / 2**20))
                if args.process_samples and samples[-1][0] >= next_process_sample:
                    sample_processes(samples[-1][0])
                    next_process_sample = samples[-1][0] + args.process_samples
                time.sleep(0.5)
            collected = [o for _ in workers for o in results.get(timeout=args.seconds + 600)]
            elapsed = time.monotonic() - began
            server_cpu = server.cpu() - cpu0
            for w in workers:
                w.join(30)
            rss_end, rss_end_roles = rss(), rss_by_role()
            drain_s, _ = bench_push.wait_idle(server.proc.pid, timeout=600)
            rss_drained = rss()
            fatal = [o["fatal"] for o in collected if "fatal" in o]
            if fatal:
                raise RuntimeError(fatal[0])
        finally:
            server.stop()

    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter[str] = collections.Counter()
    for o in collected:
        for rpc, values in o["latencies"].items():
            latencies[rpc].extend(values)
        errors.update(o["errors"])
    calls = sum(len(v) for v in latencies.values()) + sum(errors.values())
    commits = sum(len(latencies.get(k, [])) for k in ("Commit", "Commit+step", "CommitStream"))
    half = [s for s in samples if s[0] >= args.seconds / 2]
    slope_mb_s, r2 = _fit(half)
    heap_slope_mb_s, heap_r2 = _fit([s for s in heap_samples if s[0] >= args.seconds / 2])
    slope = slope_mb_s * 60
    # A steep line that explains little of the variance (R² < 0.5) is noise, not growth.
    verdict = (
        "no leak detected"
        if slope <= args.leak_mb_per_min
        else "suspected leak"
        if r2 >= 0.5
        else "inconclusive (noisy)"
    )
    processes = {role: _level(values, args.seconds) for role, values in process_samples.items()}
    # A Diff of a branch against main answers every file the branch changed: it grows as the agents' branches
    # diverge, and the memory a front needs for it with them (its answers, its parsed files).
    thirds: list[list[int]] = [[], [], []]
    for o in collected:
        for t, n in o.get("branch_diff_files", []):
            thirds[min(2, max(0, int(3 * t / args.seconds)))].append(n)
    branch_diff_files = [round(sum(v) / len(v), 1) if v else None for v in thirds]
    rpcs = {
        rpc: {
            "calls": len(v),
            "per_s": round(len(v) / elapsed, 1),
            "p50_ms": round(percentile(v, 50), 2),
            "p99_ms": round(percentile(v, 99), 2),
            "max_ms": round(max(v), 1) if v else None,
            "errors": sum(n for e, n in errors.items() if e.split(" ", 1)[0] == rpc),
        }
        for rpc, v in sorted(latencies.items())
    }
    return {
        "machine": bench_push.machine_info(),
        "agents": args.agents,
        "client_processes": procs,
        "mix": dict(args.mix),
        "push": args.push,
        "workers": args.workers,
        "own_connections": args.own_connections,
        "branch_diff_share": args.branch_diff_share,
        "serve_args": args.serve_args,
        "seconds": round(elapsed, 1),
        "think_ms": args.think_ms,
        "storage": args.tmpdir or "default temp dir",
        "calls": calls,
        "calls_per_s": round(calls / elapsed, 1),
        "commits": commits,
        "commits_per_s": round(commits / elapsed, 1),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "server_cpu_s": round(server_cpu, 1),
        "rpcs": rpcs,
        "rss_mb": {
            "by_process_idle_before": rss_idle_roles,
            "by_process_at_end": rss_end_roles,
            "idle_before": round(rss_idle / 2**20, 1),
            "start": round(samples[0][1], 1) if samples else None,
            "peak": round(max(v for _, v in samples), 1) if samples else None,
            "end": round(rss_end / 2**20, 1),
            "after_drain": round(rss_drained / 2**20, 1),
            "samples": [(round(t, 1), round(v, 1)) for t, v in samples],
            "heap_samples": [(round(t, 1), round(v, 1)) for t, v in heap_samples],
        },
        "drain_s": drain_s,
        "processes": processes,
        "branch_diff_files_by_third": branch_diff_files,
        "leak": {
            "slope_mb_per_min_second_half": round(slope, 2),
            "r2": round(r2, 2),
            "heap_slope_mb_per_min_second_half": round(heap_slope_mb_s * 60, 2),
            "heap_r2": round(heap_r2, 2),
            "threshold_mb_per_min": args.leak_mb_per_min,
            "verdict": verdict,
            "suspected": verdict == "suspected leak",
            "mb_per_1000_commits": round((samples[-1][1] - samples[0][1]) / commits * 1000, 2)
            if samples and commits
            else None,
        },
    }


def print_report(r: dict[str, Any]) -> None:
    m = r["machine"]
    print(
        f"machine: {m['nproc']} vCPU {m['cpu_model']}, {m['memory']}, Linux {m['kernel']}, Python {m['python']}, "
        f"trellis {m['trellis_revision']}"
    )
    print(
        f"{r['agents']} agents in {r['client_processes']} client processes for {r['seconds']} s "
        f"(think {r['think_ms']} ms, mix {r['mix']}, push {r['push']}, branch diffs {r['branch_diff_share']}), "
        f"storage: {r['storage']}, "
        f"server --workers {r['workers']} {' '.join(r['serve_args'])}"
        f"{', a connection per agent' if r['own_connections'] else ''}\n"
    )
    print(f"{'rpc':24s} {'calls':>7s} {'calls/s':>8s} {'p50 ms':>8s} {'p99 ms':>9s} {'max ms':>9s} {'errors':>6s}")
    for rpc, s in r["rpcs"].items():
        print(
            f"{rpc:24s} {s['calls']:7d} {s['per_s']:8.1f} {s['p50_ms']:8.1f} {s['p99_ms']:9.1f} "
            f"{s['max_ms']:9.1f} {s['errors']:6d}"
        )
    print(
        f"\ntotal: {r['calls']} calls ({r['calls_per_s']}/s), {r['commits']} commits ({r['commits_per_s']}/s), "
        f"{r['errors']} errors; server CPU {r['server_cpu_s']} s"
    )
    for e, n in sorted(r["error_kinds"].items(), key=lambda x: -x[1])[:10]:
        print(f"  {n:5d} x {e}")
    rss, leak = r["rss_mb"], r["leak"]
    print(
        f"server RSS: {rss['idle_before']} MB idle before, {rss['start']} at start, peak {rss['peak']}, "
        f"{rss['end']} at the end, {rss['after_drain']} after draining the index queue ({r['drain_s']:.1f} s)"
    )
    for when in ("idle_before", "at_end"):
        by_process = ", ".join(f"{k} {v}" for k, v in rss[f"by_process_{when}"].items())
        print(f"  {when.replace('_', ' ')}, by process (MB): {by_process}")
    print(
        f"leak check: second-half RSS slope {leak['slope_mb_per_min_second_half']} MB/min (R² {leak['r2']}), "
        f"threshold {leak['threshold_mb_per_min']} MB/min: {leak['verdict'].upper()}; "
        f"{leak['mb_per_1000_commits']} MB per 1,000 commits over the run; the heap alone (anonymous "
        f"memory, without mapped files: on tmpfs the repository's pack files count in RSS as they grow) "
        f"{leak['heap_slope_mb_per_min_second_half']} MB/min (R² {leak['heap_r2']})"
    )
    if r["processes"]:
        print(
            "anonymous memory by process (MB at a quarter / half / the end of the run; the last third's slope, range):"
        )
    if any(r["branch_diff_files_by_third"]):
        print(
            "files in a Diff of a branch against main, on average in each third of the run: "
            + " / ".join(str(n) for n in r["branch_diff_files_by_third"])
        )
    for role, level in r["processes"].items():
        values = level["anon_mb"]
        at = [values[min(len(values) - 1, len(values) * k // 4)][1] for k in (1, 2)] + [values[-1][1]]
        print(
            f"  {role:16s} {' / '.join(f'{v:.0f}' for v in at)}; {level['last_third_slope_mb_per_min']} MB/min "
            f"(R² {level['last_third_r2']}), range {level['last_third_range_mb']} MB"
        )


def _mix(text: str) -> tuple[tuple[str, int], ...]:
    pairs = tuple((k.strip(), int(v)) for k, v in (item.split("=") for item in text.split(",")))
    unknown = {k for k, _ in pairs} - {k for k, _ in MIX}
    if unknown or not any(w > 0 for _, w in pairs):
        raise argparse.ArgumentTypeError(f"use push, read, diff and query with weights, e.g. push=100 ({unknown})")
    return pairs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="measured duration (default 60)")
    p.add_argument("--agents", type=int, default=64, help="concurrent agents (default 64)")
    p.add_argument("--processes", type=int, default=4, help="client processes the agents run in (default 4)")
    p.add_argument("--think-ms", type=float, default=0.0, help="pause after each call (default 0: back to back)")
    p.add_argument("--quick", action="store_true", help="16 agents for 15 s")
    p.add_argument(
        "--push",
        choices=["mixed", "unary", "stream"],
        default="mixed",
        help="how agents push: mixed (by agent: Commit+step, CommitStream, Commit, Commit; "
        "the default), or all unary Commit, or all CommitStream",
    )
    p.add_argument(
        "--mix", type=_mix, default=tuple(MIX), help="operation weights (default push=40,read=30,diff=15,query=15)"
    )
    p.add_argument(
        "--branch-diff-share",
        type=float,
        default=0.3,
        metavar="FRACTION",
        help="of the diffs, the share that diff the agent's branch against main (default 0.3), whose answers "
        "grow as the branches diverge; the others diff one of its last 20 commits (0: a load that does not grow)",
    )
    p.add_argument("--tmpdir", default=None, help="where the server's data directory goes (e.g. /dev/shm)")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="the server's --workers (default 0: one process, as the earlier runs in RESULTS.md; "
        "`trellis serve` itself defaults to the number of cores); CPU and RSS are summed over its processes",
    )
    p.add_argument(
        "--own-connections",
        action="store_true",
        help="each agent opens its own connection (default: one per client process); with --workers "
        "the kernel spreads connections, not calls, over the fronts",
    )
    p.add_argument(
        "--serve",
        dest="serve_args",
        type=str.split,
        default=[],
        metavar="'OPTIONS'",
        help="more options for the server, e.g. --serve '--parse-cache-mb 32 --index-memory-mb 128' "
        "(small bounds show the level memory settles at within a short run)",
    )
    p.add_argument(
        "--leak-mb-per-min",
        type=float,
        default=2.0,
        help="second-half RSS growth above which a leak is suspected (default 2 MB/min)",
    )
    p.add_argument(
        "--process-samples",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="sample each server process's anonymous memory (RssAnon) this often (default 5; 0: not at all); "
        "printed with its slope and range in the run's last third",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--check", action="store_true", help="exit 1 on any error or a suspected leak")
    args = p.parse_args(argv)
    if args.quick:
        args.agents, args.seconds = min(args.agents, 16), min(args.seconds, 15.0)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 1 if args.check and (result["errors"] or result["leak"]["suspected"]) else 0


if __name__ == "__main__":
    sys.exit(main())
