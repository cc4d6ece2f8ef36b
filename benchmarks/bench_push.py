#!/usr/bin/env python3
"""Micro-commit throughput: raw pygit2, git plumbing, Trellis ``Commit`` and ``CommitStream``.

One run, one machine, one fixture (a ~1,000-file Python-ish repository). Every
variant lands the same kind of micro-commit: one file of ~1 KB changed, a
commit on top of the branch head, the branch moved.

    (a)  pygit2 in-process: blob, TreeBuilder from the file up to the root,
         create_commit, set_target -- the work Trellis does, without Trellis.
    (b)  git plumbing: hash-object, update-index (temporary GIT_INDEX_FILE),
         write-tree, commit-tree, update-ref -- five processes per commit.
    (c)  Trellis ``Commit`` over gRPC, server in its own process
         (``python -m trellis serve``), agents in separate client processes;
         1 agent and 32 agents, each agent on its own branch chaining
         ``expected_head``. Also with a session step on every commit, and
         32 agents paced (open loop: each commit is due at a fixed time and
         timed from then) at 0.75 x (a)'s rate and at half c32's rate.
    (d)  Trellis ``CommitStream``: one stream per agent, ``stream.commit``
         (send + receive) per commit.
    (e)  the floor: a no-op gRPC unary call (``grpc.health.v1.Health/Check``)
         against the same server, 1 and 32 callers.

Usage:
    python benchmarks/bench_push.py            # full run, ~2-2.5 minutes
    python benchmarks/bench_push.py --quick    # ~35-60 seconds
    python benchmarks/bench_push.py --tmpdir /dev/shm   # storage out of the picture
    python benchmarks/bench_push.py --json     # results as JSON on stdout
    python benchmarks/bench_push.py --only a,c32 --duration 5
    python benchmarks/bench_push.py --only c32,d32 --durability-compare   # durable against syncing off
    python benchmarks/bench_push.py --only a --maintenance 30000   # loose objects, packs, size against git gc

The server runs with ``--durability durable`` (its default) unless ``--durability none``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing as mp
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

ROOT = Path(__file__).resolve().parent.parent
for _path in (str(ROOT), str(ROOT / "benchmarks")):  # run from a checkout without installing
    if _path not in sys.path:
        sys.path.insert(0, _path)

from measure import percentile  # noqa: E402

# -- the fixture -----------------------------------------------------------------------------

N_DIRS = 20
FILES_PER_DIR = 50
SEED = 1729
MAIN = "main"


def _module_text(d: int, f: int) -> bytes:
    lines = [
        f'"""pkg{d:02d}.mod{f:02d}: part of the benchmark fixture."""',
        "",
        "from __future__ import annotations",
        "",
        "import math",
        "",
        f"SCALE = {d * FILES_PER_DIR + f}",
        "",
    ]
    for k in range(5):
        lines += [
            "",
            f"def compute_{k}(x: int, y: int = {k}) -> int:",
            f'    """Combine x and y ({d}/{f}/{k})."""',
            f"    total = x * {d + 1} + y * {f + 1} + SCALE",
            f"    if total % {k + 2} == 0:",
            f"        return total // {k + 2}",
            f"    return int(math.sqrt(abs(total))) + {k}",
            "",
        ]
    return ("\n".join(lines) + "\n").encode()


def fixture_files() -> dict[str, bytes]:
    """~1,000 files: ``src/pkgNN/modNN.py`` (20 × 50, ~1 KB each) plus a few top-level files."""
    files: dict[str, bytes] = {}
    for d in range(N_DIRS):
        files[f"src/pkg{d:02d}/__init__.py"] = f'"""Package {d}."""\n'.encode()
        for f in range(FILES_PER_DIR):
            files[f"src/pkg{d:02d}/mod{f:02d}.py"] = _module_text(d, f)
    files["README.md"] = b"# Benchmark fixture\n\nA generated project of about a thousand files.\n"
    files["pyproject.toml"] = b'[project]\nname = "fixture"\nversion = "0.0.1"\n'
    files[".gitignore"] = b"__pycache__/\n*.pyc\n"
    return files


FIXTURE = fixture_files()
EDITABLE = sorted(p for p in FIXTURE if "/mod" in p)


class Editor:
    """The micro-commits: one file of the fixture gets a new ~1 KB content each time."""

    def __init__(self, seed: int, tag: str) -> None:
        self._rng = random.Random(seed)
        self._tag = tag
        self._n = 0

    def next(self) -> tuple[str, bytes, str]:
        self._n += 1
        path = self._rng.choice(EDITABLE)
        content = FIXTURE[path] + f"\n# edit {self._tag} #{self._n}\n".encode()
        return path, content, f"Edit {path} ({self._tag} #{self._n})"


def write_tree(repo: pygit2.Repository, files: dict[str, bytes]) -> pygit2.Oid:
    """Write ``files`` (path -> content) as nested trees; return the root tree id."""
    nested: dict[str, Any] = {}
    for path, content in files.items():
        *dirs, name = path.split("/")
        node = nested
        for d in dirs:
            node = node.setdefault(d, {})
        node[name] = content

    def build(node: dict[str, Any]) -> pygit2.Oid:
        tb = repo.TreeBuilder()
        for name, value in sorted(node.items()):
            if isinstance(value, dict):
                tb.insert(name, build(value), pygit2.enums.FileMode.TREE)
            else:
                tb.insert(name, repo.create_blob(value), pygit2.enums.FileMode.BLOB)
        return tb.write()

    return build(nested)


def seeded_repository(path: Path) -> pygit2.Repository:
    """A bare repository configured like Trellis's, with the fixture committed on ``main``."""
    repo = pygit2.init_repository(str(path), bare=True, initial_head=MAIN)
    repo.config["core.logAllRefUpdates"] = "false"
    repo.config["gc.auto"] = "0"
    sig = pygit2.Signature("bench", "bench@example.com", int(time.time()), 0)
    repo.create_commit(f"refs/heads/{MAIN}", sig, sig, "Seed fixture\n", write_tree(repo, FIXTURE), [])
    return repo


# -- results ----------------------------------------------------------------------------------


@dataclass
class Result:
    key: str
    label: str
    agents: int
    commits: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None
    note: str = ""
    offered: float = 0.0  # offered commits/s of an open-loop run (0: closed loop)
    drain_s: float | None = None  # how long the server stayed busy after the last acknowledgement
    server_window_cpu_s: float | None = None  # server CPU during the measured phase only

    @property
    def rate(self) -> float:
        return self.commits / self.seconds if self.seconds > 0 else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "key": self.key,
            "label": self.label,
            "agents": self.agents,
            "commits": self.commits,
            "seconds": round(self.seconds, 3),
            "commits_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(50), 3),
            "p90_ms": round(self.pct(90), 3),
            "p99_ms": round(self.pct(99), 3),
            "max_ms": round(max(lat), 3) if lat else None,
            "mean_ms": round(sum(lat) / len(lat), 3) if lat else None,
            "server_cpu_ms_per_commit": (
                round(self.server_cpu_s * 1000 / self.commits, 3)
                if self.server_cpu_s is not None and self.commits
                else None
            ),
            "client_cpu_ms_per_commit": (
                round(self.client_cpu_s * 1000 / self.commits, 3)
                if self.client_cpu_s is not None and self.commits
                else None
            ),
            "server_cpu_in_window_ms_per_commit": (
                round(self.server_window_cpu_s * 1000 / self.commits, 3)
                if self.server_window_cpu_s is not None and self.commits
                else None
            ),
            "drain_s": round(self.drain_s, 2) if self.drain_s is not None else None,
            "offered_per_s": round(self.offered, 1) if self.offered else None,
            "note": self.note,
        }


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- (a) pygit2 in-process ----------------------------------------------------------------------


def combine(first: Result, second: Result) -> Result:
    """Two runs of (a) as one; the note keeps both rates and flags drift between them."""
    merged = Result(
        first.key,
        first.label,
        first.agents,
        first.commits + second.commits,
        first.seconds + second.seconds,
        first.latencies_ms + second.latencies_ms,
        client_cpu_s=(first.client_cpu_s or 0) + (second.client_cpu_s or 0),
    )
    drift = abs(first.rate - second.rate) / max(first.rate, second.rate)
    merged.note = f"before Trellis {first.rate:.0f}/s, after {second.rate:.0f}/s"
    if drift > 0.25:
        merged.note += f" -- drifted {drift:.0%}: the machine was not steady, rerun"
    return merged


def bench_pygit2(workdir: Path, commits: int, warmup: int = 20) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    repo = seeded_repository(workdir / "pygit2.git")
    refname = f"refs/heads/{MAIN}"
    editor = Editor(SEED, "pygit2")
    committer = pygit2.Signature("trellis", "trellis@localhost", int(time.time()), 0)
    tree_mode, blob_mode = pygit2.enums.FileMode.TREE, pygit2.enums.FileMode.BLOB
    latencies: list[float] = []

    def one() -> None:
        path, content, message = editor.next()
        ref = repo.references[refname]
        head = repo[ref.target]
        parts = path.split("/")
        trees = [head.tree]
        for name in parts[:-1]:
            trees.append(repo[trees[-1][name].id])
        oid, mode = repo.create_blob(content), blob_mode
        for depth in range(len(parts) - 1, -1, -1):
            builder = repo.TreeBuilder(trees[depth])
            builder.insert(parts[depth], oid, mode)
            oid, mode = builder.write(), tree_mode
        author = pygit2.Signature("agent", "agent@localhost", int(time.time()), 0)
        commit_id = repo.create_commit(None, author, committer, message + "\n", oid, [head.id])
        ref.set_target(commit_id, "commit")

    for _ in range(warmup):
        one()
    cpu0, start = time.process_time(), time.perf_counter()
    for _ in range(commits):
        t0 = time.perf_counter()
        one()
        latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    return Result(
        "a", "(a) pygit2 in-process loop", 1, commits, seconds, latencies, client_cpu_s=time.process_time() - cpu0
    )


# -- (b) git plumbing ---------------------------------------------------------------------------


def bench_git_cli(workdir: Path, commits: int, warmup: int = 3) -> Result:
    git_dir = workdir / "gitcli.git"
    seeded_repository(git_dir)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "GIT_DIR": str(git_dir),
        "GIT_INDEX_FILE": str(workdir / "gitcli.index"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "agent",
        "GIT_AUTHOR_EMAIL": "agent@localhost",
        "GIT_COMMITTER_NAME": "trellis",
        "GIT_COMMITTER_EMAIL": "trellis@localhost",
    }
    refname = f"refs/heads/{MAIN}"

    def git(*args: str, stdin: bytes | None = None) -> str:
        out = subprocess.run(["git", *args], input=stdin, env=env, capture_output=True, check=True)
        return out.stdout.decode().strip()

    head = git("rev-parse", refname)
    git("read-tree", head)  # the index starts as the head's tree (untimed)
    editor = Editor(SEED, "gitcli")

    def one() -> None:
        nonlocal head
        path, content, message = editor.next()
        blob = git("hash-object", "-w", "--stdin", stdin=content)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        tree = git("write-tree")
        commit = git("commit-tree", tree, "-p", head, "-m", message)
        git("update-ref", refname, commit, head)
        head = commit

    for _ in range(warmup):
        one()
    latencies: list[float] = []
    cpu0 = _children_cpu()
    start = time.perf_counter()
    for _ in range(commits):
        t0 = time.perf_counter()
        one()
        latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    return Result(
        "b",
        "(b) git plumbing (5 processes/commit)",
        1,
        commits,
        seconds,
        latencies,
        client_cpu_s=_children_cpu() - cpu0,
    )


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system + t.user + t.system


# -- the Trellis server -------------------------------------------------------------------------


def wait_idle(
    pid: int, *, interval: float = 0.5, quiet: float = 0.05, quiet_intervals: int = 3, timeout: float = 120.0
) -> tuple[float, float]:
    """Wait until process ``pid`` uses less than ``quiet`` of a core for ``quiet_intervals`` intervals in a row;
    return (seconds it stayed busy, CPU it used until then: the quiet intervals' few ms are left out).

    A server that defers work (a background queue) keeps working after the last
    acknowledgement: that work is part of what the commits cost, and must not
    leak into the next variant's measurement. The server's index syncs at most
    every 0.5 s while writes keep coming, so one quiet interval may fall between
    two syncs: the server is idle only after several.
    """
    start = time.monotonic()
    cpu0 = last = busy_until = _tree_cpu(pid)
    busy = 0.0
    calm = 0
    while time.monotonic() - start < timeout:
        time.sleep(interval)
        now = _tree_cpu(pid)
        calm = calm + 1 if now - last < quiet * interval else 0
        last = now
        if not calm:
            busy += interval
            busy_until = now
        elif calm >= quiet_intervals:
            break
    return busy, busy_until - cpu0


def _proc_cpu(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (all its threads), with ``children`` also those of its
    children that have exited (the server's git processes, for maintenance)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of every live process below it (``serve --workers``: the supervisor, the
    fronts and the index process), with the children each has waited for (the git processes of maintenance,
    whose packing is part of what the commits cost)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0.0
    for member in tree:
        try:
            total += _proc_cpu(member, children=True)
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
    return total


class ServerProcess:
    """``python -m trellis serve`` in its own process, on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        max_workers: int | None = None,
        durability: str = "durable",
        loose_objects: int | None = None,
        workers: int = 0,
        serve_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir.absolute()  # the server runs in ROOT
        self.workers = workers
        self.serve_args = tuple(serve_args)  # more `trellis serve` options, as given
        # BENCH_SERVER_LOG: keep the server's log there (with BENCH_SERVER_LOG_LEVEL=debug, a line per call)
        self.log_path = Path(os.environ.get("BENCH_SERVER_LOG") or data_dir.parent / f"server-{data_dir.name}.log")
        self.max_workers = max_workers
        self.durability = durability
        self.loose_objects = loose_objects
        self.proc: subprocess.Popen[bytes] | None = None
        self.address = ""

    def start(self, timeout: float = 120.0) -> ServerProcess:
        from trellis.datadir import running_server

        cmd = [
            sys.executable,
            "-m",
            "trellis",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            os.environ.get("BENCH_SERVER_LOG_LEVEL", "warning"),  # debug: one line per call, with its time
        ]
        if self.max_workers:
            cmd += ["--max-workers", str(self.max_workers)]
        cmd += ["--durability", self.durability, "--workers", str(self.workers)]
        if self.loose_objects is not None:
            cmd += ["--loose-objects", str(self.loose_objects)]
        cmd += self.serve_args
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "COLUMNS": "200",
        }
        self._log = open(self.log_path, "wb")
        # In ROOT: `python -m` puts the current directory first on the path, before PYTHONPATH, so a benchmark of
        # another checkout (a `git archive` of main) run from a work tree served that work tree's code.
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_text()}")
            owner = running_server(self.data_dir)
            if owner and owner.get("address"):
                self.address = str(owner["address"])
                return self
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start within {timeout:.0f}s:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def cpu(self) -> float:
        assert self.proc is not None
        return _tree_cpu(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()


# -- load generation (runs in separate client processes) ----------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    address: str
    repository: str
    mode: str  # "unary" | "stream" | "noop"
    session: bool
    warmup: int
    duration: float
    agents: int = 1
    rate: float = 0.0  # offered commits/s over all agents (open loop); 0: back-to-back (closed loop)
    commits: int = 0  # per agent, closed loop: stop after this many (0: run for ``duration``)
    own_connection: bool = False  # each agent its own connection (else the process's: one to each front)


def _agent_name(i: int) -> str:
    return f"bench{i:02d}"


STEP_FIELDS = dict(
    thought="The test fails on an off-by-one; adjust the bound in the helper.",
    action="edit_file",
    observation="edited 1 file",
    input_tokens=1800,
    output_tokens=240,
    cost_usd=0.0021,
    latency_ms=900,
)


def _run_agent(spec: LoadSpec, index: int, ready: Any, start_event: Any, start_at: Any, out: dict[str, Any]) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from trellis import Client, vcs

    name = _agent_name(index)
    if spec.own_connection:  # not gRPC's process-wide subchannel pool: the kernel spreads them over the fronts
        import grpc

        client = Client(
            spec.address,
            agent=name,
            channel=grpc.insecure_channel(spec.address, options=[("grpc.use_local_subchannel_pool", 1)]),
        )
    else:
        client = Client(spec.address, agent=name)
    stream = None
    try:
        client.wait_ready(30)
        editor = Editor(SEED + index, name)
        if spec.mode == "noop":
            health = health_pb2_grpc.HealthStub(client._channel)
            request = health_pb2.HealthCheckRequest(service="")

            def do() -> None:
                health.Check(request, timeout=30)
        else:
            session_id = None
            if spec.session:
                session = client.create_session(spec.repository, model="bench", task="micro-commits")
                branch, head, session_id = session.branch_id, session.base_commit_id, session.session_id
            else:
                created = client.create_branch(spec.repository, f"agents/{name}/bench", MAIN)
                branch, head = created.branch_id, created.head_commit_id
            if spec.mode == "stream":
                stream = client.commit_stream()
                commit: Callable[..., Any] = stream.commit
            else:
                commit = client.commit

            def do() -> None:
                nonlocal head
                path, content, message = editor.next()
                extra: dict[str, Any] = {}
                if session_id:
                    extra = {
                        "session": session_id,
                        "step": vcs.StepInput(arguments_json=json.dumps({"path": path}), **STEP_FIELDS),
                    }
                result = commit(spec.repository, branch, {path: content}, message, expected_head=head, **extra)
                head = result.commit.commit_id

        for _ in range(spec.warmup):
            do()
        ready.put(("ready", index, None))
        start_event.wait()
        begin = start_at.value
        while time.monotonic() < begin:
            time.sleep(0.0005)
        deadline = begin + spec.duration
        latencies: list[float] = []
        last = begin
        if spec.rate > 0:
            # Open loop: commit k of this agent is due at a fixed time; its latency runs from
            # that time (not from when it could be sent), so a server that falls behind is
            # charged for the queue it builds (no coordinated omission).
            interval = spec.agents / spec.rate
            due = begin + interval * index / spec.agents
            while due < deadline and last < deadline:
                while (now := time.monotonic()) < due:
                    time.sleep(min(due - now, 0.002))
                do()
                last = time.monotonic()
                latencies.append((last - due) * 1000)
                due += interval
        else:
            while last < deadline and not (spec.commits and len(latencies) >= spec.commits):
                t0 = time.perf_counter()
                do()
                latencies.append((time.perf_counter() - t0) * 1000)
                last = time.monotonic()
        out["latencies"] = latencies
        out["end"] = last
    except BaseException as exc:  # reported to the parent, which fails the run
        out["error"] = f"agent {name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        try:
            ready.put(("error", index, out["error"]))
        except Exception:
            pass
    finally:
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass
        client.close()


def _client_process(
    spec: LoadSpec, indices: list[int], ready: Any, start_event: Any, start_at: Any, results: Any
) -> None:
    outs = [dict[str, Any]() for _ in indices]
    threads = [
        threading.Thread(target=_run_agent, args=(spec, i, ready, start_event, start_at, out), daemon=True)
        for i, out in zip(indices, outs)
    ]
    for t in threads:
        t.start()
    start_event.wait()
    while time.monotonic() < start_at.value:
        time.sleep(0.0005)
    cpu0 = time.process_time()
    for t in threads:
        t.join(spec.duration + 120)
    cpu = time.process_time() - cpu0
    results.put({"cpu": cpu, "agents": outs})


def run_load(
    spec: LoadSpec,
    agents: int,
    procs: int,
    server: ServerProcess | None,
    server_pid: int | None = None,
    on_start: Callable[[], None] | None = None,
) -> tuple[int, float, list[float], float, float | None]:
    """Run ``agents`` agents in ``procs`` client processes; return (commits, seconds, latencies, client cpu, server cpu).

    ``on_start`` runs when the measured phase begins (after setup and warm-up).
    """
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    start_event = ctx.Event()
    start_at = ctx.Value("d", 0.0)
    procs = max(1, min(procs, agents))
    groups = [list(range(agents))[i::procs] for i in range(procs)]
    workers = [
        ctx.Process(target=_client_process, args=(spec, g, ready, start_event, start_at, results), daemon=True)
        for g in groups
    ]
    try:
        for w in workers:
            w.start()
        for _ in range(agents):
            kind, index, error = ready.get(timeout=120)
            if kind == "error":
                raise RuntimeError(error)
        pid = server.proc.pid if server is not None and server.proc is not None else server_pid
        start_at.value = time.monotonic() + 0.25
        start_event.set()
        while time.monotonic() < start_at.value:
            time.sleep(0.0005)
        if on_start is not None:
            on_start()
        server_cpu0 = _tree_cpu(pid) if pid else None
        collected = [results.get(timeout=spec.duration + 180) for _ in workers]
        server_cpu = _tree_cpu(pid) - server_cpu0 if pid and server_cpu0 is not None else None
        latencies: list[float] = []
        end = start_at.value
        for c in collected:
            for out in c["agents"]:
                if "error" in out:
                    raise RuntimeError(out["error"])
                latencies.extend(out["latencies"])
                end = max(end, out["end"])
        return len(latencies), end - start_at.value, latencies, sum(c["cpu"] for c in collected), server_cpu
    finally:
        for w in workers:
            if w.pid is None:  # never started
                continue
            w.join(10)
            if w.is_alive():
                w.terminate()
                w.join(5)


# -- orchestration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    mode: str
    agents: int
    session: bool = False
    rate: float = 0.0


TRELLIS_VARIANTS = [
    Variant("e1", "(e) no-op gRPC call (Health/Check), 1 caller", "noop", 1),
    Variant("e32", "(e) no-op gRPC call (Health/Check), 32 callers", "noop", 32),
    Variant("c1", "(c) Trellis Commit, 1 agent", "unary", 1),
    Variant("c32", "(c) Trellis Commit, 32 agents", "unary", 32),
    Variant("c32p", "(c) Commit, 32 agents paced at 0.75 x (a)", "unary", 32, rate=-1),
    Variant("c32h", "(c) Commit, 32 agents paced at 0.5 x c32", "unary", 32, rate=-2),
    Variant("c1s", "(c+s) Commit + session step, 1 agent", "unary", 1, session=True),
    Variant("c32s", "(c+s) Commit + session step, 32 agents", "unary", 32, session=True),
    Variant("d1", "(d) Trellis CommitStream, 1 agent", "stream", 1),
    Variant("d32", "(d) Trellis CommitStream, 32 agents", "stream", 32),
]
ALL_KEYS = ["a", "b", *(v.key for v in TRELLIS_VARIANTS)]


def seed_trellis_repository(address: str, name: str) -> None:
    from trellis import Client

    with Client(address, agent="bench-seed") as client:
        client.wait_ready(30)
        repo = client.create_repository(name, default_branch=MAIN, description="bench_push fixture")
        client.commit(name, MAIN, FIXTURE, "Seed fixture", expected_head=repo.head_commit_id)


def run_trellis(
    variant: Variant,
    address: str,
    server: ServerProcess | None,
    args: argparse.Namespace,
    server_pid: int | None = None,
    repository: str = "",
) -> Result:
    repository = repository or f"bench-{variant.key}"
    pid = server.proc.pid if server is not None and server.proc is not None else server_pid
    if variant.mode != "noop":
        seed_trellis_repository(address, repository)
        if pid:
            # The seed (1,000 files) is indexed and diffed before the measured phase: its second of CPU is
            # not a micro-commit's, and it used to spill into the window (the more, the later it started).
            wait_idle(pid)
    spec = LoadSpec(
        address,
        repository,
        variant.mode,
        variant.session,
        args.warmup,
        args.noop_duration if variant.mode == "noop" else args.duration,
        agents=variant.agents,
        rate=variant.rate,
        own_connection=args.own_connections,
    )
    procs = args.client_procs if variant.agents > 1 else 1
    commits, seconds, latencies, client_cpu, server_cpu = run_load(spec, variant.agents, procs, server, server_pid)
    drain_s, drain_cpu = wait_idle(pid) if pid else (None, 0.0)
    note = f"{procs} client process{'es' if procs > 1 else ''}"
    return Result(
        variant.key,
        variant.label,
        variant.agents,
        commits,
        seconds,
        latencies,
        server_cpu_s=(server_cpu or 0.0) + drain_cpu if server_cpu is not None else None,
        client_cpu_s=client_cpu,
        note=note,
        offered=variant.rate,
        drain_s=drain_s,
        server_window_cpu_s=server_cpu,
    )


# -- maintenance: many micro-commits, loose objects and repository size ------------------------


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_maintenance(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """``args.maintenance`` micro-commits from 8 CommitStream agents against a server with maintenance on.

    Samples the repository's loose objects and packs every half second (from
    this process, reading the directory), waits for the server to go idle,
    then compares the repository's size with what ``git gc`` makes of a copy.
    """
    from trellis.vcs.maintenance import loose_objects, pack_files

    agents = 8
    server = ServerProcess(
        work / "maintenance",
        max_workers=args.max_workers,
        durability=args.durability,
        loose_objects=args.loose_objects,
        workers=args.workers,
    )
    repository = "bench-maintenance"
    path = work / "maintenance" / "repos" / f"{repository}.git"
    samples: list[tuple[float, int, int]] = []  # (seconds, loose objects, packs)
    stop = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not stop.wait(0.5):
            samples.append((time.monotonic() - t0, len(loose_objects(path)), len(pack_files(path))))

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        server.start()
        assert server.proc is not None
        seed_trellis_repository(server.address, repository)
        per_agent = math.ceil(args.maintenance / agents)
        spec = LoadSpec(server.address, repository, "stream", False, 0, 24 * 3600.0, agents=agents, commits=per_agent)
        cpu0 = _tree_cpu(server.proc.pid)
        commits, seconds, latencies, _, _ = run_load(spec, agents, args.client_procs, server, on_start=sampler.start)
        drain_s, _ = wait_idle(server.proc.pid, timeout=600)
        cpu = _tree_cpu(server.proc.pid) - cpu0
    except BaseException:
        log(server.log_text())
        raise
    finally:
        stop.set()
        server.stop()
    errors = [line for line in server.log_text().splitlines() if "maintenance" in line]
    loose, packs = len(loose_objects(path)), pack_files(path)
    size = _dir_bytes(path / "objects")
    copy = work / "maintenance-gc.git"
    shutil.copytree(path, copy)
    subprocess.run(["git", "--git-dir", str(copy), "gc", "--quiet"], check=True)
    gc_size = _dir_bytes(copy / "objects")
    # git gc keeps the deltas it finds in the packs (it searches only what they hold whole, and not between two
    # objects of one pack): of maintenance's packs it makes about what maintenance made. What git makes of the
    # same objects with a delta search of its own (as gc of a repository of loose objects): repack -f.
    subprocess.run(["git", "--git-dir", str(copy), "repack", "-a", "-d", "-f", "-q"], check=True)
    fresh_size = _dir_bytes(copy / "objects")
    budget = commits * 5
    return {
        "commits": commits,
        "seconds": round(seconds, 1),
        "commits_per_s": round(commits / seconds, 1),
        "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "drain_s": drain_s,
        "server_cpu_ms_per_commit_incl_git": round(cpu * 1000 / max(commits, 1), 3),
        "loose_objects_max": max((s[1] for s in samples), default=loose),
        "loose_objects_end": loose,
        "samples": len(samples),
        "samples_over_10000": sum(1 for s in samples if s[1] > 10_000),  # the goal: at most 10,000 loose objects
        "packs_max": max((s[2] for s in samples), default=len(packs)),
        "packs_end": len(packs),
        "pack_sizes": [p.objects for p in packs],
        "loose_limit": args.loose_objects,
        "loose_share_of_budget": round(max((s[1] for s in samples), default=loose) / budget, 4) if budget else None,
        "objects_bytes": size,
        "gc_objects_bytes": gc_size,
        "size_vs_gc": round(size / gc_size, 3),
        "fresh_objects_bytes": fresh_size,
        "size_vs_fresh": round(size / fresh_size, 3),
        "maintenance_log": errors[-5:],  # the server logs at warning level: failed runs only
        # (seconds, loose objects, packs) every 10 s, and around the peak: where the loose objects pile up
        "timeline": [s for i, s in enumerate(samples) if i % 20 == 0 or s[1] == max(x[1] for x in samples)],
    }


def print_maintenance(report: dict[str, Any]) -> None:
    print(
        f"Maintenance: {report['commits']} micro-commits in {report['seconds']} s "
        f"({report['commits_per_s']}/s, p99 {report['p99_ms']} ms), server CPU incl. its git processes "
        f"{report['server_cpu_ms_per_commit_incl_git']} ms per commit, drained in {report['drain_s']:.1f} s"
    )
    print(
        f"  loose objects: at most {report['loose_objects_max']} during the run (limit {report['loose_limit']}; "
        f"{report['samples_over_10000']} of {report['samples']} samples above 10,000), "
        f"{report['loose_objects_end']} at the end = {report['loose_share_of_budget']:.2%} of commits x 5; "
        f"packs: at most {report['packs_max']}, {report['packs_end']} at the end {report['pack_sizes']}"
    )
    for line in report["maintenance_log"]:
        print(f"  server log: {line.strip()}")
    timeline = ", ".join(f"{t:.0f} s: {loose} ({packs})" for t, loose, packs in report["timeline"])
    print(f"  loose objects (packs) over the run: {timeline}")
    print(
        f"  objects: {report['objects_bytes'] / 1e6:.1f} MB; after git gc {report['gc_objects_bytes'] / 1e6:.1f} MB "
        f"= {report['size_vs_gc']:.2f} x; after git repack -a -d -f (git's own delta search) "
        f"{report['fresh_objects_bytes'] / 1e6:.1f} MB = {report['size_vs_fresh']:.2f} x"
    )
    ok_loose = report["loose_objects_max"] <= 10_000
    ok_size = report["size_vs_fresh"] <= 1.5
    print(
        f"{'PASS' if ok_loose else 'FAIL'} loose objects <= 10,000 (bounded by the limit plus one run's "
        f"writes, whatever the number of commits): {report['loose_objects_max']}"
    )
    print(
        f"{'PASS' if ok_size else 'FAIL'} size <= 1.5 x what git's own delta search gives: {report['size_vs_fresh']:.2f}"
    )


def _add(first: Result, second: Result) -> Result:
    """Two runs of one variant as one (rounds of an alternating comparison)."""
    cpu = (
        None if first.server_cpu_s is None or second.server_cpu_s is None else first.server_cpu_s + second.server_cpu_s
    )
    return dataclasses.replace(
        first,
        commits=first.commits + second.commits,
        seconds=first.seconds + second.seconds,
        latencies_ms=first.latencies_ms + second.latencies_ms,
        server_cpu_s=cpu,
        client_cpu_s=(first.client_cpu_s or 0) + (second.client_cpu_s or 0),
        server_window_cpu_s=None
        if first.server_window_cpu_s is None or second.server_window_cpu_s is None
        else first.server_window_cpu_s + second.server_window_cpu_s,
        drain_s=max(first.drain_s or 0.0, second.drain_s or 0.0),
        note=f"{first.note}; rounds at {first.rate:.0f}/s and {second.rate:.0f}/s",
    )


def run_durability_compare(work: Path, wanted: list[Variant], args: argparse.Namespace) -> dict[str, Result]:
    """Each variant on a server with durability none, then on one with durability durable (both running)."""
    servers = {
        d: ServerProcess(
            work / f"data-{d}", max_workers=args.max_workers, durability=d, loose_objects=args.loose_objects
        )
        for d in ("none", "durable")
    }
    results: dict[str, Result] = {}
    try:
        for durability, server in servers.items():
            server.start()
            log(f"server ({durability}) pid {server.proc.pid if server.proc else '?'} on {server.address}")
        for round in range(args.repeat):
            for variant in wanted:
                if variant.rate < 0:
                    continue  # the paced variants need (a)'s and c32's rates: run them without --durability-compare
                for durability, server in servers.items():
                    duration = args.noop_duration if variant.mode == "noop" else args.duration
                    log(
                        f"{variant.label} [{durability}], round {round + 1}/{args.repeat}: {duration:.1f}s measured ..."
                    )
                    labelled = dataclasses.replace(
                        variant,
                        key=f"{variant.key}-{durability}",
                        label=f"{variant.label.split(',')[0]} {variant.agents} {durability}",
                    )
                    result = run_trellis(
                        labelled, server.address, server, args, repository=f"bench-{variant.key}-{round}"
                    )
                    earlier = results.get(labelled.key)
                    results[labelled.key] = result if earlier is None else _add(earlier, result)
    except BaseException:
        for server in servers.values():
            log(server.log_text())
        raise
    finally:
        for server in servers.values():
            server.stop()
    return results


def cpu_times() -> list[int]:
    """The machine's aggregate CPU counters from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return []


def cpu_share(before: list[int], after: list[int]) -> dict[str, float]:
    if not before or not after:
        return {}
    delta = [b - a for a, b in zip(before, after)]
    total = sum(delta) or 1
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    return {n: round(d / total, 3) for n, d in zip(names, delta)}


def background_load(seconds: float = 1.0) -> float:
    """How busy the machine is before the run starts (share of all CPUs, 0..1): others' work skews every row."""
    before = cpu_times()
    time.sleep(seconds)
    after = cpu_times()
    if not before or not after:
        return 0.0
    delta = [b - a for a, b in zip(before, after)]
    idle = delta[3] + delta[4]
    return 1 - idle / (sum(delta) or 1)


def source_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    import grpc

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        git_version = "unavailable"
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pygit2": pygit2.__version__,
        "libgit2": pygit2.LIBGIT2_VERSION,
        "grpcio": grpc.__version__,
        "git": git_version,
        "trellis_revision": source_revision(),
    }


def goals(results: dict[str, Result]) -> tuple[dict[str, float], list[tuple[str, bool | None, str]]]:
    ratios: dict[str, float] = {}
    a, b, c32, d32 = (results.get(k) for k in ("a", "b", "c32", "d32"))
    if c32 and a:
        ratios["c32/a"] = c32.rate / a.rate
    if c32 and b:
        ratios["c32/b"] = c32.rate / b.rate
    if d32 and a:
        ratios["d32/a"] = d32.rate / a.rate
    if d32 and b:
        ratios["d32/b"] = d32.rate / b.rate
    c1 = results.get("c1")
    if c1 and a:
        ratios["c1/a"] = c1.rate / a.rate
    if c1 and b:
        ratios["c1/b"] = c1.rate / b.rate
    checks: list[tuple[str, bool | None, str]] = []
    if c32 and a:
        checks.append(
            (
                "c32 >= 0.75 x a",
                c32.rate >= 0.75 * a.rate,
                f"{c32.rate:.0f}/s vs 0.75 x {a.rate:.0f}/s = {0.75 * a.rate:.0f}/s",
            )
        )
    if c32:
        checks.append(("p99(c32) <= 15 ms", c32.pct(99) <= 15.0, f"p99 = {c32.pct(99):.2f} ms"))
    for key, what in [("c32p", "at the goal's load, 0.75 x a"), ("c32h", "at half its saturated rate")]:
        paced = results.get(key)
        if paced:
            checks.append(
                (
                    f"p99({key}: 32 agents paced {what}) <= 15 ms",
                    paced.pct(99) <= 15.0,
                    f"offered {paced.offered:.0f}/s, achieved {paced.rate:.0f}/s, "
                    f"p50 = {paced.pct(50):.2f} ms, p99 = {paced.pct(99):.2f} ms",
                )
            )
    if c32 and b:
        checks.append(
            ("c32 >= 10 x b", c32.rate >= 10 * b.rate, f"{c32.rate:.0f}/s vs 10 x {b.rate:.0f}/s = {10 * b.rate:.0f}/s")
        )
    for key in ("c32", "d32"):
        durable, relaxed = results.get(f"{key}-durable"), results.get(f"{key}-none")
        if durable and relaxed:
            ratios[f"{key} durable/none"] = durable.rate / relaxed.rate
            checks.append(
                (
                    f"durable {key} >= 0.8 x {key} with syncing off",
                    durable.rate >= 0.8 * relaxed.rate,
                    f"{durable.rate:.0f}/s vs 0.8 x {relaxed.rate:.0f}/s = {0.8 * relaxed.rate:.0f}/s",
                )
            )
    return ratios, checks


def _ordered(results: dict[str, Result]) -> list[str]:
    """The keys of ``results`` in the order of ALL_KEYS, each variant's durability comparison after it."""
    order = []
    for key in ALL_KEYS:
        order += [k for k in (key, f"{key}-none", f"{key}-durable") if k in results]
    return order


def print_report(info: dict[str, Any], results: dict[str, Result], args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=140)
    console.print(
        f"[bold]Machine[/]: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory']}, Linux {info['kernel']}"
    )
    console.print(
        f"[bold]Software[/]: Python {info['python']}, pygit2 {info['pygit2']} / libgit2 "
        f"{info['libgit2']}, grpcio {info['grpcio']}, {info['git']}"
    )
    console.print(f"[bold]Trellis[/]: {info.get('trellis_revision')}, run {time.strftime('%Y-%m-%d %H:%M %Z')}")
    if info.get("busy_before_run", 0) > 0.15:
        console.print(
            f"[red]warning[/]: the machine was {info['busy_before_run']:.0%} busy before the run "
            "started: other work skews every number, rerun on a quiet machine"
        )
    share = info.get("cpu_during_run") or {}
    if share:
        console.print(
            f"[bold]Machine CPU during the run[/]: user {share['user']:.0%}, system {share['system']:.0%}, "
            f"idle {share['idle']:.0%}, iowait {share['iowait']:.0%}, steal {share['steal']:.0%}; "
            f"work directory on {info.get('workdir_filesystem')}"
        )
    console.print(
        f"[bold]Fixture[/]: {len(FIXTURE)} files ({N_DIRS} packages × {FILES_PER_DIR} modules of "
        f"~{len(FIXTURE[EDITABLE[0]])} B); each commit changes one module"
    )
    table = Table(title="Micro-commit throughput", show_lines=False)
    for col, justify in [
        ("variant", "left"),
        ("agents", "right"),
        ("commits", "right"),
        ("seconds", "right"),
        ("commits/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("srv CPU ms/c", "right"),
        ("drain s", "right"),
        ("cli CPU ms/c", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for key in _ordered(results):
        r = results[key]
        s = r.summary()

        def fmt(v: float | None, spec: str = ".2f") -> str:
            return "-" if v is None else format(v, spec)

        table.add_row(
            r.label,
            str(r.agents),
            str(r.commits),
            f"{r.seconds:.2f}",
            f"{r.rate:.0f}",
            fmt(s["p50_ms"]),
            fmt(s["p99_ms"]),
            fmt(s["server_cpu_ms_per_commit"]),
            fmt(s["drain_s"], ".1f"),
            fmt(s["client_cpu_ms_per_commit"]),
        )
    console.print(table)
    for key in ALL_KEYS:
        r = results.get(key)
        if r is not None and r.note and (key == "a" or "drift" in r.note):
            console.print(f"{r.label}: {r.note}")
    console.print(
        "(e) rows count calls, not commits. srv CPU = user+sys of the server process per "
        "commit, including the work it does after the last acknowledgement until it is idle again "
        "(drain s: how long that took); cli CPU = the client processes' (for (b): the git "
        "processes and their driver). "
        "Closed-loop rows: every agent commits back to back, so by Little's law the mean "
        "latency is agents / throughput (32 agents at 700/s: 46 ms); the paced row offers a "
        "fixed load and times each commit from when it was due."
    )
    ratios, checks = goals(results)
    if ratios:
        console.print("[bold]Ratios[/] (throughput): " + ", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    for name, ok, detail in checks:
        tag = "[green]PASS[/]" if ok else "[red]FAIL[/]"
        console.print(f"{tag} {name}: {detail}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a ~30 s run (fewer commits, shorter phases)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--only", default="", help=f"comma-separated variants to run (of {','.join(ALL_KEYS)})")
    p.add_argument("--pygit2-commits", type=int, help="commits in (a) (default 2000; quick 500)")
    p.add_argument("--git-commits", type=int, help="commits in (b) (default 200; quick 60)")
    p.add_argument("--duration", type=float, help="seconds of each measured Trellis phase (default 8; quick 2)")
    p.add_argument("--noop-duration", type=float, help="seconds of each (e) phase (default 4; quick 1)")
    p.add_argument("--warmup", type=int, help="untimed commits per agent before measuring (default 5; quick 3)")
    p.add_argument(
        "--paced-rate", type=float, help="offered commits/s of the paced 32-agent run (default: 0.75 x the rate of (a))"
    )
    p.add_argument(
        "--client-procs", type=int, default=2, help="client processes hosting the 32 agents' threads (default 2)"
    )
    p.add_argument("--max-workers", type=int, help="server RPC worker threads (default: the server's, 64)")
    p.add_argument(
        "--tmpdir",
        help="where the repositories and the server's data directory go "
        "(default: the system temporary directory; its filesystem matters, see README)",
    )
    p.add_argument(
        "--durability",
        default="durable",
        choices=["durable", "none"],
        help="the server's --durability (default durable, as trellis serve; on tmpfs a sync costs next to nothing)",
    )
    p.add_argument(
        "--durability-compare",
        action="store_true",
        help="run each Trellis variant on a server with --durability none and on one with durable, "
        "alternately; the goal: durable c32 (and d32) >= 0.8 x with syncing off",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="K",
        help="with --durability-compare: K alternating rounds, summed (a shared machine drifts)",
    )
    p.add_argument(
        "--maintenance",
        type=int,
        default=0,
        metavar="N",
        help="then N micro-commits (8 CommitStream agents, one repository) with background maintenance "
        "on: loose objects and packs sampled during the run, the size against git gc's at the end",
    )
    p.add_argument(
        "--loose-objects",
        type=int,
        default=None,
        metavar="N",
        help="the server's --loose-objects (default: the server's, 2000)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="the server's --workers (default 0: one process, as the earlier runs in RESULTS.md); "
        "the server CPU is summed over all its processes",
    )
    p.add_argument(
        "--own-connections",
        action="store_true",
        help="each agent opens its own channel, used as given (default: the agents of a client process share "
        "its connections, one to each front with --workers: docs/processes.md); the kernel hands each "
        "connection to a front at random",
    )
    p.add_argument("--check", action="store_true", help="exit 1 if a goal fails")
    args = p.parse_args(argv)
    q = args.quick
    args.pygit2_commits = args.pygit2_commits or (500 if q else 2000)
    args.git_commits = args.git_commits or (60 if q else 200)
    args.duration = args.duration or (2.0 if q else 8.0)
    args.noop_duration = args.noop_duration or (1.0 if q else 4.0)
    args.warmup = args.warmup if args.warmup is not None else (3 if q else 5)
    args.keys = [k.strip() for k in args.only.split(",") if k.strip()] or list(ALL_KEYS)
    unknown = set(args.keys) - set(ALL_KEYS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; choose from {ALL_KEYS}")
    return args


def filesystem_of(path: Path) -> str:
    """The type and device of the filesystem holding ``path`` (from /proc/mounts)."""
    best = ("", "?", "?")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if str(path).startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
    except OSError:
        pass
    return f"{best[1]} on {best[2]} (mounted at {best[0] or '?'})"


@contextmanager
def workspace(base: str | None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="trellis-bench-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine_info()
    busy = background_load()
    info["busy_before_run"] = round(busy, 3)
    if busy > 0.15:
        log(f"warning: the machine is {busy:.0%} busy before the run starts; other work skews every number")
    results: dict[str, Result] = {}
    maintenance: dict[str, Any] | None = None
    started = time.time()
    cpu0 = cpu_times()
    with workspace(args.tmpdir) as work:
        args.fs = filesystem_of(work)
        log(f"working in {work} ({args.fs})")
        if "a" in args.keys:
            log(f"(a) pygit2: {args.pygit2_commits} commits ...")
            results["a"] = bench_pygit2(work / "a1", args.pygit2_commits)
        if "b" in args.keys:
            log(f"(b) git plumbing: {args.git_commits} commits ...")
            results["b"] = bench_git_cli(work, args.git_commits)
        wanted = [v for v in TRELLIS_VARIANTS if v.key in args.keys]
        if wanted and args.durability_compare:
            results.update(run_durability_compare(work, wanted, args))
        elif wanted:
            server = ServerProcess(
                work / "data",
                max_workers=args.max_workers,
                durability=args.durability,
                loose_objects=args.loose_objects,
                workers=args.workers,
            )
            try:
                server.start()
                log(
                    f"server pid {server.proc.pid if server.proc else '?'} on {server.address}, "
                    f"durability {args.durability}, --workers {args.workers}"
                )
                for variant in wanted:
                    if variant.rate == -1:  # the goal's load: three quarters of (a)
                        rate = args.paced_rate or (0.75 * results["a"].rate if "a" in results else 600.0)
                        variant = dataclasses.replace(variant, rate=rate, label=f"{variant.label}: {rate:.0f}/s")
                    elif variant.rate == -2:  # a load the server can carry: half its saturated rate
                        rate = 0.5 * results["c32"].rate if "c32" in results else 250.0
                        variant = dataclasses.replace(variant, rate=rate, label=f"{variant.label}: {rate:.0f}/s")
                    duration = args.noop_duration if variant.mode == "noop" else args.duration
                    log(f"{variant.label}: {duration:.1f}s measured ...")
                    results[variant.key] = run_trellis(variant, server.address, server, args)
            except BaseException:
                log(server.log_text())
                raise
            finally:
                server.stop()
        if "a" in args.keys and wanted:
            # (a) again, after the Trellis phases: the storage of a shared machine drifts (see
            # benchmarks/README.md); the ratios use both runs together.
            log(f"(a) pygit2 again: {args.pygit2_commits} commits ...")
            results["a"] = combine(results["a"], bench_pygit2(work / "a2", args.pygit2_commits))
        if args.maintenance:
            log(f"maintenance: {args.maintenance} micro-commits ...")
            maintenance = bench_maintenance(work, args)
    elapsed = time.time() - started
    info["cpu_during_run"] = cpu_share(cpu0, cpu_times())
    info["workdir_filesystem"] = args.fs
    ratios, checks = goals(results)
    if args.json:
        print(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "machine": info,
                    "fixture": {"files": len(FIXTURE), "dirs": N_DIRS, "files_per_dir": FILES_PER_DIR},
                    "args": {k: v for k, v in vars(args).items() if k != "keys"},
                    "results": [results[k].summary() for k in _ordered(results)],
                    "maintenance": maintenance,
                    "ratios": {k: round(v, 3) for k, v in ratios.items()},
                    "goals": [{"goal": n, "pass": ok, "detail": d} for n, ok, d in checks],
                    "elapsed_s": round(elapsed, 1),
                },
                indent=2,
            )
        )
    else:
        if results:
            print_report(info, results, args)
        if maintenance:
            print_maintenance(maintenance)
        print(f"total run time {elapsed:.0f}s")
    if args.check and any(ok is False for _, ok, _ in checks):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
