#!/usr/bin/env python3
"""Where a Trellis commit spends its time: the profiles behind benchmarks/RESULTS.md.

Three views of the same micro-commit as bench_push.py (one ~1 KB file changed
in the ~1,000-file fixture):

    --mode grpc   the real server (``build_server``) in this process with one
                  cProfile per thread (CPU-time clock, so time spent waiting
                  for the GIL or the network is not counted), driven by agents
                  in separate client processes. Prints the server's CPU per
                  commit split into gRPC runtime, interceptor, servicer and
                  conversion, validation, each pygit2 write, session writes...
    --mode store  ``vcs.Store.commit`` called directly, one thread, no gRPC:
                  what the core costs next to raw pygit2 (bench_push (a)),
                  with and without a session step, and how a session step's
                  cost grows with the session's length.
    --mode perf   the server as its own process (``python -m trellis serve``)
                  under ``perf record`` while 32 agents commit: the native
                  split (Python interpreter, libgit2, zlib, gRPC core, kernel).

Usage:
    python benchmarks/profile_push.py --mode grpc --agents 32 [--session]
    python benchmarks/profile_push.py --mode store
    python benchmarks/profile_push.py --mode perf
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_push as bp  # noqa: E402

# -- attributing profile entries ----------------------------------------------------------------

# (category, test on "filename:function"); first match wins. pygit2's C methods are profiled as
# builtins, so each write is its own entry and carries the libgit2/zlib/syscall time under it.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "semantic diff (background differ, tree-sitter)",
        ("semantic_diff/", "trellis/differ.py", "tree_sitter", "changed_files"),
    ),
    ("query index (DuckDB indexer)", ("query/", "trellis/indexing.py", "duckdb")),
    ("pygit2: write blob (create_blob)", ("create_blob",)),
    ("pygit2: build trees (TreeBuilder)", ("TreeBuilder",)),
    ("pygit2: write commit (create_commit)", ("create_commit",)),
    ("pygit2: move ref (set_target)", ("set_target", "references.create")),
    ("pygit2: reads (refs, objects, tree paths)", ("_pygit2.", "pygit2/")),
    ("session step (vcs/sessions.py, json)", ("vcs/sessions.py", "json/", "dataclasses.py")),
    ("interceptor (trellis/interceptors.py, uuid, contextvars)", ("trellis/interceptors.py", "uuid.py", "ContextVar")),
    ("servicer, names, convert (trellis/)", ("trellis/",)),
    ("vcs core (validation, tree planning, locks, message)", ("vcs/",)),
    (
        "protobuf (parse, build, serialise)",
        (
            "google/protobuf",
            "_message",
            "SerializeToString",
            "FromString",
            "ParseFromString",
            "CopyFrom",
            "HasField",
            "_pb2",
        ),
    ),
    ("gRPC runtime (grpc/_server.py, cygrpc)", ("grpc/", "cygrpc", "grpc_status", "grpc_health")),
    (
        "thread pool, queues, locks",
        ("threading.py", "queue.py", "concurrent/futures", "_thread.", "contextlib.py", "'acquire'", "'release'"),
    ),
    ("logging", ("logging/",)),
]


def categorise(filename: str, func: str) -> str:
    key = f"{filename}:{func}"
    for name, needles in CATEGORIES:
        if any(n in key for n in needles):
            return name
    return "other Python"


def label(func_key: tuple[str, int, str]) -> str:
    filename, line, func = func_key
    if filename == "~":
        return func
    short = filename
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in short:
            short = short.split(marker, 1)[1]
    return f"{short}:{line}({func})"


def report_profile(stats: pstats.Stats, commits: int, process_cpu: float | None, title: str, top: int) -> None:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total_tt = sum(v[2] for v in raw.values())
    by_cat: dict[str, float] = defaultdict(float)

    def owner(key: Any, depth: int = 0) -> str:
        """The category of an entry; generic helpers (isinstance, deepcopy, dict.get...) take their callers'."""
        category = categorise(key[0], key[2])
        if category != "other Python" or depth >= 4 or key not in raw:
            return category
        callers = raw[key][4]
        if not callers:
            return category
        top_caller = max(callers.items(), key=lambda kv: kv[1][2])[0]
        return owner(top_caller, depth + 1)

    for key, (_cc, _nc, tt, _ct, callers) in raw.items():
        category = categorise(key[0], key[2])
        if category == "other Python" and callers:
            # split a generic helper's own time among its callers' categories
            for caller, caller_stats in callers.items():
                by_cat[owner(caller)] += caller_stats[2]
        else:
            by_cat[category] += tt
    print(f"\n== {title}: {commits} commits ==")
    if process_cpu is not None:
        print(
            f"process CPU {process_cpu * 1000 / commits:.3f} ms/commit (all threads, /proc), of which "
            f"profiled Python threads {total_tt * 1000 / commits:.3f} ms/commit (profiler overhead included); "
            f"the rest is gRPC core's native threads"
        )
    print(f"{'category':<58} {'ms/commit':>10} {'share':>7}")
    for name, tt in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        print(f"{name:<58} {tt * 1000 / commits:>10.3f} {tt / total_tt:>7.1%}")
    print("  (generic helpers such as isinstance, deepcopy or dict.get count for their callers' category)")
    print(f"\ntop {top} functions by own time (ms/commit, calls/commit):")
    entries = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for key, (_cc, nc, tt, ct, _callers) in entries:
        print(f"  {tt * 1000 / commits:8.3f} own {ct * 1000 / commits:8.3f} cum {nc / commits:6.1f}x  {label(key)}")
    wanted = [
        "_commit",
        "land_commit",
        "apply_changes",
        "validate_changes",
        "_build",
        "append_step",
        "check_session_writable",
        "commit_pb",
        "changes_from_pb",
        "__enter__",
        "__exit__",
        "unary_unary",
        "_check_step",
        "compose_message",
        "commit_value",
        "signature",
        "_run",
        "diff",
        "submit",
        "changed_files",
    ]
    print(
        "\ncumulative time of the steps of a commit (ms/commit; differ.py _run is the background differ "
        "thread's whole work):"
    )
    for key, (_cc, nc, _tt, ct, _callers) in sorted(raw.items(), key=lambda kv: -kv[1][3]):
        filename, _line, func = key
        if func in wanted and ("trellis/" in filename or "vcs/" in filename):
            print(f"  {ct * 1000 / commits:8.3f}  {nc / commits:5.1f}x  {label(key)}")


# -- mode grpc: the in-process server under per-thread profilers -----------------------------------


class ThreadProfilers:
    """One cProfile (CPU-time clock) per thread started after ``install``."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        def first_event(frame: Any, event: str, arg: Any) -> None:
            profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self.profiles.append(profile)
            profile.enable()  # replaces this hook for the calling thread

        threading.setprofile(first_event)

    def reset(self) -> None:
        # Safe from another thread: the profilers' callbacks and clear() both run under the GIL.
        with self._lock:
            for p in self.profiles:
                p.clear()

    def stats(self) -> pstats.Stats:
        with self._lock:
            profiles = list(self.profiles)
        stats: pstats.Stats | None = None
        for p in profiles:
            # snapshot_stats, not create_stats: create_stats disables the profiler, which closes
            # every call still open in *any* thread with *this* thread's CPU clock (garbage for
            # the idle workers blocked in their queue). Open calls are simply left out.
            p.snapshot_stats()
            if not p.stats:  # type: ignore[attr-defined]
                continue  # a thread that did nothing while measured
            snap = _Snapshot(p.stats)  # type: ignore[attr-defined]
            if stats is None:
                stats = pstats.Stats(snap)  # type: ignore[arg-type]
            else:
                stats.add(snap)
        assert stats is not None, "no thread was profiled"
        return stats


class _Snapshot:
    """What pstats.Stats accepts: an object with ``create_stats`` and ``stats``."""

    def __init__(self, stats: dict[Any, Any]) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


def _seeded_load(running: Any, repository: str, args: argparse.Namespace, *, warmup: int) -> bp.LoadSpec:
    """Seed ``repository`` on the in-process server, wait until the seed is indexed (its 1,000 files must not
    be indexed while anything is measured), and describe the load of ``args`` on it."""
    bp.seed_trellis_repository(running.address, repository)
    running.index.wait_idle(300)
    return bp.LoadSpec(
        running.address,
        repository,
        "stream" if args.stream else "unary",
        args.session,
        warmup=warmup,
        duration=args.duration,
        agents=args.agents,
    )


def mode_grpc(args: argparse.Namespace) -> None:
    from trellis.config import ServerConfig
    from trellis.server import build_server

    profilers = ThreadProfilers()
    profilers.install()
    work = Path(tempfile.mkdtemp(prefix="trellis-profile-", dir=args.tmpdir))
    running = build_server(ServerConfig(data_dir=work / "data", address="127.0.0.1:0"))
    try:
        spec = _seeded_load(running, "profile", args, warmup=5)
        commits, seconds, latencies, client_cpu, server_cpu = bp.run_load(
            spec,
            args.agents,
            args.client_procs if args.agents > 1 else 1,
            None,
            server_pid=os.getpid(),
            on_start=profilers.reset,
        )
        stats = profilers.stats()
        result = bp.Result("p", "profiled", args.agents, commits, seconds, latencies, server_cpu, client_cpu)
        s = result.summary()
        kind = ("CommitStream" if args.stream else "Commit") + (" + session step" if args.session else "")
        print(
            f"{kind}, {args.agents} agents, profiled server: {s['commits_per_s']} commits/s, "
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms (slowed by the profiler)"
        )
        report_profile(stats, commits, server_cpu, f"server threads, {kind}, {args.agents} agents", args.top)
        if args.save:
            stats.dump_stats(args.save)
            print(f"\nsaved the merged profile to {args.save} (python -m pstats {args.save})")
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
        running.stop(0)
        shutil.rmtree(work, ignore_errors=True)


# -- mode split: where the whole server's CPU goes, without a profiler ---------------------------------


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of every thread of this process, by native thread id (the scheduler's exact run time,
    ``/proc/.../schedstat``; the tick counts of ``stat`` are sampled, too coarse for many short threads)."""
    cpu: dict[int, float] = {}
    for stat in Path("/proc/self/task").glob("*/schedstat"):
        try:
            cpu[int(stat.parent.name)] = int(stat.read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
    return cpu


def _thread_role(name: str) -> str:
    for prefix, role in (
        ("trellis-rpc", "RPC pool (interceptor, admission, servicer, store)"),
        ("trellis-grpc-loop", "grpc.aio event loop"),
        ("trellis-indexer", "background indexer (diff + index)"),
        ("trellis-snapshot", "index snapshot publisher"),
        ("trellis-maintenance", "maintenance"),
    ):
        if name.startswith(prefix):
            return role
    return f"other Python thread ({name.split('-')[0]})"


class CpuMeter:
    """CPU seconds (``time.thread_time``, the calling thread's) spent inside wrapped callables, by label.

    Nested labels count in both: the report subtracts them."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def wrap(self, label: str, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - t0
                with self._lock:
                    self.seconds[label] += spent
                    self.calls[label] += 1

        return timed

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.index_interval is None else {"index_interval": args.index_interval}


_SUBPROCESS_CPU = [0.0]  # CPU seconds of the subprocesses this process reaped through subprocess.Popen


def _meter_subprocesses() -> None:
    """Count each subprocess's CPU (``os.wait4``) as ``subprocess.Popen`` reaps it: the server's git runs."""

    def _try_wait(self: subprocess.Popen[Any], wait_flags: int) -> tuple[int, int]:
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            _SUBPROCESS_CPU[0] += usage.ru_utime + usage.ru_stime
        return pid, status

    subprocess.Popen._try_wait = _try_wait  # type: ignore[attr-defined]


def mode_split(args: argparse.Namespace) -> None:
    """The in-process server with no profiler: each thread's CPU from /proc, and thread-CPU meters around the
    big steps (the store's commit, the durability sync, the indexer's rows, semantic diff and DuckDB writes),
    from the start of the measured phase until the server is idle again (the background work included)."""
    import trellis.query.catchup as catchup
    from trellis.config import ServerConfig
    from trellis.server import build_server
    from trellis.vcs.durability import sync_filesystems

    meter = CpuMeter()
    _meter_subprocesses()
    work = Path(tempfile.mkdtemp(prefix="trellis-profile-", dir=args.tmpdir))
    catchup.commit_rows = meter.wrap("index: rows of a commit (git diff, reads, semantic diff)", catchup.commit_rows)
    running = build_server(
        ServerConfig(data_dir=work / "data", address="127.0.0.1:0", **server_options(args)),
        sync=meter.wrap("commit: durability sync", sync_filesystems),
    )
    try:
        store = running.store
        store.commit = meter.wrap("commit: Store.commit (sync wait included)", store.commit)  # type: ignore[method-assign]
        # the CI hooks around it (is the branch protected; does a pipeline apply to the push)
        verifier = running.verifier
        verifier.check_direct_write = meter.wrap("commit: CI check_direct_write", verifier.check_direct_write)  # type: ignore[method-assign]
        verifier.on_push = meter.wrap("commit: CI on_push", verifier.on_push)  # type: ignore[method-assign]
        indexer = running.index.indexer  # type: ignore[union-attr]
        assert indexer.differ is not None
        indexer.differ = meter.wrap("index: semantic diff", indexer.differ)
        indexer._write = meter.wrap("index: DuckDB inserts (_write)", indexer._write)  # type: ignore[method-assign]
        sync_repository = meter.wrap("index: whole sync", indexer.sync_repository)
        profile = cProfile.Profile() if args.profile_indexer else None
        if profile is not None:
            # one cProfile on the indexer's thread, around its syncs only (deterministic, inflates Python ~2x)
            def profiled(*a: Any, **k: Any) -> Any:
                profile.enable()
                try:
                    return sync_repository(*a, **k)
                finally:
                    profile.disable()

            indexer.sync_repository = profiled  # type: ignore[method-assign]
        else:
            indexer.sync_repository = sync_repository  # type: ignore[method-assign]
        # warmup 0: every commit made is measured (a warm-up commit's indexing would fall in the window)
        spec = _seeded_load(running, "split", args, warmup=0)
        before: dict[int, float] = {}
        cache0 = running.differ.cache.stats()

        children0: list[float] = []
        git0: list[float] = []

        def start() -> None:
            before.update(_thread_cpu())
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            children0.append(usage.ru_utime + usage.ru_stime)
            git0.append(_SUBPROCESS_CPU[0])
            meter.reset()
            if profile is not None:
                profile.clear()

        commits, _seconds, _lat, _client, _server = bp.run_load(
            spec, args.agents, args.client_procs if args.agents > 1 else 1, None, os.getpid(), on_start=start
        )
        running.index.wait_idle(300)
        after = _thread_cpu()
        cache1 = running.differ.cache.stats()
        roles: dict[str, float] = defaultdict(float)
        named = {t.native_id: t.name for t in threading.enumerate()}
        for tid, seconds in after.items():
            spent = seconds - before.get(tid, 0.0)
            if spent:
                name = named.get(tid)
                roles[_thread_role(name) if name else "native threads (gRPC core, DuckDB)"] += spent
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        # RUSAGE_CHILDREN also counts the load's client processes (joined by run_load, start-up included):
        # the server's own subprocesses are metered as they are reaped.
        roles["git subprocesses (maintenance packing)"] = _SUBPROCESS_CPU[0] - git0[0]
        clients = usage.ru_utime + usage.ru_stime - children0[0] - roles["git subprocesses (maintenance packing)"]
        total = sum(roles.values())
        kind = "CommitStream" if args.stream else "Commit"
        print(
            f"{kind}, {args.agents} agents: {commits} commits in {args.duration:g} s; "
            f"process CPU {total * 1000 / commits:.3f} ms/commit until idle (the background indexing included)"
        )
        print(
            f"parse cache: {(cache1.hits - cache0.hits) / commits:.2f} hits and "
            f"{(cache1.misses - cache0.misses) / commits:.2f} misses per commit"
        )
        print("\nby thread (schedstat):")
        for role, spent in sorted(roles.items(), key=lambda kv: -kv[1]):
            print(f"  {role:<58} {spent * 1000 / commits:8.3f} ms/commit {spent / total:6.1%}")
        print(f"  (not counted: the client processes, start-up included: {clients * 1000 / commits:.3f} ms/commit)")
        print("\nmetered steps (thread CPU, ms/commit; nested steps are included in their parents):")
        for label, spent in sorted(meter.seconds.items()):
            print(f"  {label:<62} {spent * 1000 / commits:8.3f}  ({meter.calls[label] / commits:.2f} calls/commit)")
        if profile is not None:
            stats = pstats.Stats(profile)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    finally:
        running.stop(0)
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.move(work / "data", args.keep)
            print(f"\nthe data directory is kept in {args.keep} (benchmarks/index_rows.py compares its index)")
        shutil.rmtree(work, ignore_errors=True)


# -- mode store: the core without gRPC ------------------------------------------------------------


def mode_store(args: argparse.Namespace) -> None:
    from trellis import vcs
    from trellis.vcs import Identity, Store

    work = Path(tempfile.mkdtemp(prefix="trellis-profile-", dir=args.tmpdir))
    try:
        store = Store(work / "data")
        agent = Identity("bench00")

        def prepare(name: str, session: bool) -> tuple[str, str | None, str]:
            store.create_repository(name, agent)
            head = store.get_repository(name).head_commit_id
            seeded = store.commit(
                name, "main", [vcs.PutFile(p, c) for p, c in bp.FIXTURE.items()], "Seed", agent, expected_head=head
            )
            if session:
                s = store.create_session(name, agent, model="bench", task="profile")
                return s.branch_id, s.session_id, s.base_commit_id
            return "main", None, seeded.commit.commit_id

        def loop(
            name: str, session: bool, n: int, profile: cProfile.Profile | None = None
        ) -> tuple[list[float], float]:
            branch, session_id, head = prepare(name, session)
            editor = bp.Editor(bp.SEED, "store")
            step = vcs.StepInput(arguments_json="{}", **bp.STEP_FIELDS) if session else None
            latencies = []
            cpu0 = time.process_time()
            if profile is not None:
                profile.enable()
            for _ in range(n):
                path, content, message = editor.next()
                t0 = time.perf_counter()
                r = store.commit(
                    name,
                    branch,
                    [vcs.PutFile(path, content)],
                    message,
                    agent,
                    expected_head=head,
                    session_id=session_id,
                    step=step,
                )
                latencies.append((time.perf_counter() - t0) * 1000)
                head = r.commit.commit_id
            if profile is not None:
                profile.disable()
            return latencies, time.process_time() - cpu0

        n = args.commits
        a = bp.bench_pygit2(work / "raw", n)
        print(
            f"(a) raw pygit2 loop: {a.rate:.0f} commits/s, p50 {a.pct(50):.3f} ms, "
            f"CPU {a.client_cpu_s * 1000 / n:.3f} ms/commit"
        )
        # As the server runs the store (trellis/server.py, open_store); after (a), which is plain pygit2.
        import pygit2

        pygit2.option(pygit2.enums.Option.ENABLE_STRICT_OBJECT_CREATION, False)
        for session in (False, True):
            lat, cpu = loop(f"plain{int(session)}", session, n)
            ordered = sorted(lat)
            what = "Store.commit + session step" if session else "Store.commit"
            print(
                f"{what}: {n / (sum(lat) / 1000):.0f} commits/s, p50 {ordered[len(ordered) // 2]:.3f} ms, "
                f"p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms, CPU {cpu * 1000 / n:.3f} ms/commit"
            )
        for session in (False, True) if args.profile else ():
            profile = cProfile.Profile()
            loop(f"prof{int(session)}", session, n, profile)
            stats = pstats.Stats(profile)
            report_profile(
                stats,
                n,
                None,
                "Store.commit" + (" + session step" if session else "") + " (in-process, wall clock)",
                args.top,
            )

        # How a session step's cost grows with the session: the steps/ tree gains an entry per step
        # and is rewritten whole each time.
        if not args.growth:
            return
        print("\nsession step cost against the session's length (Store.commit + step, ms):")
        lat, _ = loop("growth", True, args.growth)
        chunk = max(1, args.growth // 8)
        for i in range(0, args.growth, chunk):
            part = sorted(lat[i : i + chunk])
            print(
                f"  steps {i + 1:>5}-{i + len(part):<5}  p50 {part[len(part) // 2]:.3f}  mean "
                f"{sum(part) / len(part):.3f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- mode perf: native profile of the server process ----------------------------------------------


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all the threads of ``pid`` (live threads only)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches" in line:
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def mode_perf(args: argparse.Namespace) -> None:
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed")
    work = Path(tempfile.mkdtemp(prefix="trellis-profile-", dir=args.tmpdir))
    server = bp.ServerProcess(work / "data")
    perf_data = work / "perf.data"
    recorder: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        assert server.proc is not None
        repository = "perf"
        bp.seed_trellis_repository(server.address, repository)
        spec = bp.LoadSpec(
            server.address, repository, "unary", args.session, warmup=5, duration=args.duration, agents=args.agents
        )

        switches0 = 0

        def start_perf() -> None:
            nonlocal recorder, switches0
            assert server.proc is not None
            switches0 = context_switches(server.proc.pid)
            recorder = subprocess.Popen(
                ["perf", "record", "-F", "999", "-g", "-o", str(perf_data), "-p", str(server.proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        commits, seconds, latencies, client_cpu, server_cpu = bp.run_load(
            spec, args.agents, args.client_procs if args.agents > 1 else 1, server, on_start=start_perf
        )
        switches = context_switches(server.proc.pid) - switches0
        assert recorder is not None
        recorder.send_signal(2)
        recorder.wait(30)
        print(
            f"{args.agents} agents: {commits / seconds:.0f} commits/s, server CPU "
            f"{(server_cpu or 0) * 1000 / commits:.3f} ms/commit, {switches / commits:.1f} context switches "
            f"per commit in the server's threads"
        )
        report = subprocess.run(
            ["perf", "report", "-i", str(perf_data), "--no-children", "--sort", "dso", "--stdio", "-g", "none"],
            capture_output=True,
            text=True,
        ).stdout
        print("\nserver CPU by library (perf, samples):")
        for line in report.splitlines():
            if "%" in line and not line.startswith("#"):
                print("  " + line.strip())
        report = subprocess.run(
            ["perf", "report", "-i", str(perf_data), "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
            capture_output=True,
            text=True,
        ).stdout
        print(f"\ntop {args.top} symbols:")
        for line in [x for x in report.splitlines() if "%" in x and not x.startswith("#")][: args.top]:
            print("  " + line.strip())
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["grpc", "split", "store", "perf"], default="grpc")
    p.add_argument("--agents", type=int, default=32)
    p.add_argument("--session", action="store_true", help="commit with a session step")
    p.add_argument("--stream", action="store_true", help="use CommitStream (grpc mode)")
    p.add_argument("--duration", type=float, default=8.0, help="measured seconds (grpc, perf)")
    p.add_argument("--commits", type=int, default=1500, help="commits per loop (store)")
    p.add_argument("--growth", type=int, default=4000, help="session steps in the growth test (store; 0: none)")
    p.add_argument(
        "--no-profile", dest="profile", action="store_false", help="store: only the CPU per commit, no cProfile"
    )
    p.add_argument("--client-procs", type=int, default=2)
    p.add_argument("--index-interval", type=float, help="split: the server's index_interval (default: its default)")
    p.add_argument("--keep", type=Path, help="split: keep the server's data directory here")
    p.add_argument("--profile-indexer", action="store_true", help="split: cProfile the indexer's syncs")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--tmpdir")
    p.add_argument("--save", help="write the merged pstats here (grpc)")
    args = p.parse_args()
    {"grpc": mode_grpc, "split": mode_split, "store": mode_store, "perf": mode_perf}[args.mode](args)


if __name__ == "__main__":
    main()
