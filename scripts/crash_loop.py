#!/usr/bin/env python3
"""Crash safety under load: SIGKILL the server again and again while agents push, and check.

``trellis serve`` runs in its own process on a fixed loopback port. Agents (threads in
separate client processes) each own a branch and, most of them, a session; they push
micro-commits without pause in four ways: unary ``Commit`` with a session step, the same over
``CommitStream``, unary ``Commit`` without a session (compare-and-swap on ``expected_head``),
and ``RecordStep`` mixed with session commits. Every request carries a ``request_id``; when
the server dies the agent retries the *same* request until a restarted server acknowledges
it (the server recognises a retry of a commit that landed before the crash, and records the
step if the crash came between the commit and its step). Each acknowledgement is appended to
a journal.

Each cycle lets the load run for a random 1-3 s, kills the server with SIGKILL, and then,
with the server down, checks:

* ``git fsck --strict`` is clean;
* every acknowledged commit is reachable from its branch;
* every acknowledged step is in its session, with its commit (or its thought);

restarts the server on the same data directory (which recovers and catches the index up
before serving) and, every ``--check-index-every`` cycles, stops it gracefully and runs
``trellis check`` (the index must match git exactly), then restarts it again. Errors an
agent sees must be transport errors within a crash window (from the kill until shortly after
the restart); any other error fails the run.

    python scripts/crash_loop.py                 # 20 cycles, 32 agents
    python scripts/crash_loop.py --cycles 50 --agents 16 --check-index-every 5

tests/e2e/test_crash.py runs one cycle of the same code; docs/reliability.md records a run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REPO = "crash"
KINDS = ("unary-session", "stream-session", "unary-plain", "steps")
# Reconnect quickly after a restart (gRPC's default backoff grows to two minutes).
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]
TRANSPORT_CODES = {"UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL"}
SETTLE_S = 3.0  # after a restart is ready, calls that were already failing may still report


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    return env


# -- the server ---------------------------------------------------------------------------------


class Server:
    """``python -m trellis serve`` on a fixed port, started and killed at will."""

    def __init__(
        self, data_dir: Path, port: int, log: Path, workers: int = 0, loose_objects: int | None = None
    ) -> None:
        self.data_dir, self.port, self.log, self.workers = data_dir, port, log, workers
        self.loose_objects = loose_objects
        self.address = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> float:
        """Start and wait until it serves (it recovers and catches the index up first); return the seconds."""
        from trellis.datadir import running_server

        begin = time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trellis",
                    "serve",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    self.address,
                    "--log-level",
                    "warning",
                    "--workers",
                    str(self.workers),
                    *(["--loose-objects", str(self.loose_objects)] if self.loose_objects is not None else []),
                ],
                stdout=out,
                stderr=out,
                env=_env(),
                start_new_session=True,
            )
        while time.monotonic() - begin < timeout:
            record = running_server(self.data_dir)
            if record and record.get("address") and record.get("pid") == self.proc.pid:
                return time.monotonic() - begin
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"the server did not start:\n{self.log.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """SIGKILL every process of the server (with --workers: the supervisor, the fronts, the index process)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        from trellis.datadir import running_server

        deadline = time.monotonic() + 30
        while running_server(self.data_dir) is not None and time.monotonic() < deadline:
            time.sleep(0.02)  # the children are gone once the data directory is free

    def processes(self) -> dict[str, int]:
        """With --workers: each process of the server by name (supervisor, index, front-N) -> pid."""
        from trellis.datadir import running_server

        record = running_server(self.data_dir) or {}
        found = {"supervisor": int(record["pid"])} if record.get("pid") else {}
        for ready in (self.data_dir / "run").glob("*.ready"):
            try:
                found[ready.stem] = int(ready.read_text())
            except (OSError, ValueError):
                continue
        return found

    def kill_one(self, rng: random.Random) -> str:
        """SIGKILL one process of the server, picked at random; return its name."""
        name, pid = rng.choice(sorted(self.processes().items()))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if pid == self.proc.pid if self.proc is not None else False:
            self.proc.wait()
        return name

    def terminate(self, timeout: float = 120.0) -> int:
        """SIGTERM the supervisor (a new one, if the first was killed) and wait until the server is gone."""
        from trellis.datadir import running_server

        assert self.proc is not None
        record = running_server(self.data_dir) or {}
        pid = int(record.get("pid") or self.proc.pid)
        os.kill(pid, signal.SIGTERM)
        if pid == self.proc.pid:
            return self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while running_server(self.data_dir) is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not stop")
            time.sleep(0.05)
        self.proc.wait()
        return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the agents (in client processes) -----------------------------------------------------------


def _transport(exc: BaseException) -> str | None:
    """The status code name when ``exc`` is a transport failure (no Trellis ErrorInfo), else None."""
    code = getattr(exc, "code", None)
    name = getattr(code, "name", None)
    if name in TRANSPORT_CODES and getattr(exc, "reason", None) == name:
        return str(name)
    return None


class Journal:
    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **record: Any) -> None:
        line = json.dumps({**record, "t": time.time()}) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def _agent(index: int, address: str, go: Any, stop: Any, journal: Journal) -> None:
    import grpc

    from trellis import vcs
    from trellis.client import Client
    from trellis.errors import DOMAIN_ERRORS

    name = f"agent{index:02d}"
    kind = KINDS[index % len(KINDS)]
    client = Client(address, agent=name, timeout=10, channel=grpc.insecure_channel(address, options=CHANNEL_OPTIONS))
    stream: Any = None

    def retry(what: Callable[[], Any]) -> Any:
        """Call until it succeeds; transport failures are journaled and retried, anything else is fatal."""
        nonlocal stream
        while True:
            if stop.is_set():
                raise SystemExit
            if not go.is_set():
                go.wait(0.2)
                continue
            try:
                return what()
            except DOMAIN_ERRORS as exc:
                code = _transport(exc)
                if code is None:
                    raise
                journal.write(kind="transport", agent=name, code=code, message=str(exc)[:200])
                if stream is not None:
                    try:
                        stream.close()
                    except Exception:  # the stream died with the server
                        pass
                    stream = None
                time.sleep(0.05)

    try:
        session_id = branch = head = None
        if kind == "unary-plain":
            created = retry(lambda: client.create_branch(REPO, f"plain/{name}"))
            branch, head = created.branch_id, created.head_commit_id
        else:
            session = retry(lambda: client.create_session(REPO, model="crash-loop", task=name))
            session_id, branch = session.session_id, session.branch_id
        journal.write(kind="ready", agent=name)
        n = 0
        while not stop.is_set():
            n += 1
            request_id = f"{name}-{n}"
            step = vcs.StepInput(thought=f"{name} thought {n}", action="edit", input_tokens=n, output_tokens=1)
            changes = {f"{name}/f{n % 7}.txt": f"{name} {n}\n", f"{name}/log.txt": f"{n}\n"}
            if kind == "steps" and n % 3:
                sid = str(session_id)
                recorded = retry(lambda: client.record_step(REPO, sid, step))
                journal.write(kind="step", agent=name, session=session_id, step=recorded.index, thought=step.thought)
                continue

            def push() -> Any:
                nonlocal stream
                options: dict[str, Any] = {"request_id": request_id, "expected_head": head}
                if session_id is not None:
                    options.update(session=session_id, step=step)
                if kind == "stream-session":
                    if stream is None:
                        stream = client.commit_stream()
                    return stream.commit(REPO, branch, changes, f"{name} #{n}", **options)
                return client.commit(REPO, branch, changes, f"{name} #{n}", **options)

            result = retry(push)
            head = result.commit.commit_id
            journal.write(
                kind="commit",
                agent=name,
                branch=branch,
                commit=head,
                session=session_id,
                step=result.step.index if result.step is not None else None,
                request=request_id,
            )
    except SystemExit:
        pass
    except BaseException as exc:  # reported through the journal; the controller fails the run
        journal.write(kind="error", agent=name, error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass
        client.close()


def agent_process(indices: list[int], address: str, go: Any, stop: Any, journal_path: str) -> None:
    journal = Journal(Path(journal_path))
    threads = [threading.Thread(target=_agent, args=(i, address, go, stop, journal), daemon=True) for i in indices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# -- checks (with the server down) -----------------------------------------------------------------


def read_journals(paths: list[Path]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):  # a line being written is not a record yet
                records.append(json.loads(line))
    return records


def fsck(path: Path) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "LC_ALL": "C",
    }
    result = subprocess.run(
        ["git", "--git-dir", str(path), "fsck", "--strict", "--no-dangling", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or any(w in output.lower() for w in ("error", "warning", "missing", "broken")):
        return f"git fsck --strict failed ({result.returncode}): {output[:2000]}"
    return ""


def verify_git(data_dir: Path, records: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """Every acknowledged commit on its branch, every acknowledged step in its session; fsck clean."""
    import pygit2

    from trellis import vcs

    path = data_dir / "repos" / f"{REPO}.git"
    problems = [p for p in [fsck(path)] if p]
    repo = pygit2.Repository(str(path))
    reachable: dict[str, set[str]] = {}
    commits = steps = 0
    for r in records:
        if r["kind"] != "commit":
            continue
        branch = r["branch"]
        if branch not in reachable:
            ref = repo.references.get(f"refs/heads/{branch}")
            reachable[branch] = {str(c.id) for c in repo.walk(ref.target)} if ref is not None else set()
        commits += 1
        if r["commit"] not in reachable[branch]:
            problems.append(f"acknowledged commit {r['commit']} ({r['request']}) is not on {branch}")
    store = vcs.Store(data_dir)
    recorded: dict[str, dict[int, vcs.Step]] = {}
    for r in records:
        if r["kind"] not in ("commit", "step") or r.get("step") is None:
            continue
        sid = r["session"]
        if sid not in recorded:
            recorded[sid] = {}
            token = ""
            while True:
                page = store.list_steps(REPO, sid, page_size=1000, page_token=token)
                recorded[sid].update({s.index: s for s in page.items})
                token = page.next_page_token
                if not token:
                    break
        steps += 1
        found = recorded[sid].get(r["step"])
        if found is None:
            problems.append(f"acknowledged step {r['step']} of session {sid} is missing")
        elif r["kind"] == "commit" and found.commit_id != r["commit"]:
            problems.append(f"step {r['step']} of session {sid} has commit {found.commit_id}, not {r['commit']}")
        elif r["kind"] == "step" and found.input.thought != r["thought"]:
            problems.append(f"step {r['step']} of session {sid} has another thought than acknowledged")
    return commits, steps, problems


def check_index(data_dir: Path) -> list[str]:
    """``trellis check``: the index matches git (run with the server stopped)."""
    result = subprocess.run(
        [sys.executable, "-m", "trellis", "check", "--data-dir", str(data_dir), "--json"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        return [f"trellis check failed ({result.returncode}): {result.stdout[-1000:]}{result.stderr[-2000:]}"]
    return [f"index: {d}" for d in report.get("differences", [])] + (
        [] if report.get("consistent") else ["index: trellis check reported the index inconsistent"]
    )


# -- the loop ---------------------------------------------------------------------------------------


@dataclass
class Report:
    cycles: int = 0
    agents: int = 0
    commits_checked: int = 0
    steps_checked: int = 0
    acknowledged_per_cycle: list[int] = field(default_factory=list)
    index_checks: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    transport_errors: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.cycles > 0

    def summary(self) -> str:
        restart = (
            f"restart {min(self.restart_seconds):.1f}-{max(self.restart_seconds):.1f} s" if self.restart_seconds else ""
        )
        return (
            f"{self.cycles} SIGKILL cycles, {self.agents} agents, {self.seconds:.0f} s: "
            f"{self.commits_checked} acknowledged commits and {self.steps_checked} steps checked, "
            f"{self.index_checks} index checks, {self.transport_errors} transport errors around the kills, "
            f"{restart}; {'OK' if self.ok else f'{len(self.problems)} PROBLEMS'}"
        )


def run(
    workdir: Path,
    *,
    cycles: int = 20,
    agents: int = 32,
    processes: int = 4,
    min_load_s: float = 1.0,
    max_load_s: float = 3.0,
    min_acks: int = 20,
    check_index_every: int = 1,
    seed: int | None = None,
    workers: int = 0,
    loose_objects: int | None = None,
    say: Callable[[str], None] = print,
) -> Report:
    from trellis.client import Client

    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    server = Server(data_dir, free_port(), workdir / "server.log", workers, loose_objects)
    report = Report(agents=agents)
    began = time.monotonic()
    server.start()
    with Client(server.address, agent="setup") as setup:
        setup.create_repository(REPO)
        setup.commit(REPO, "main", {"README.md": "crash loop\n"}, "seed")

    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    go.set()
    processes = max(1, min(processes, agents))
    journals = [workdir / f"journal-{p}.jsonl" for p in range(processes)]
    workers = [
        ctx.Process(
            target=agent_process,
            args=(list(range(agents))[p::processes], server.address, go, stop, str(journals[p])),
            daemon=True,
        )
        for p in range(processes)
    ]
    windows: list[tuple[float, float]] = []
    try:
        for w in workers:
            w.start()
        deadline = time.monotonic() + 120
        while sum(r["kind"] == "ready" for r in read_journals(journals)) < agents:
            errors = [r for r in read_journals(journals) if r["kind"] == "error"]
            if errors or time.monotonic() > deadline:
                raise RuntimeError(f"the agents did not start: {errors[:3]}")
            time.sleep(0.05)

        for cycle in range(1, cycles + 1):
            acked_before = sum(r["kind"] in ("commit", "step") for r in read_journals(journals))
            load = rng.uniform(min_load_s, max_load_s)
            go.set()
            start = time.monotonic()
            time.sleep(load)
            while (
                sum(r["kind"] in ("commit", "step") for r in read_journals(journals)) - acked_before < min_acks
                and time.monotonic() - start < 60
            ):
                time.sleep(0.05)
            killed_at, loaded_s = time.time(), time.monotonic() - start
            survived = ""
            if server.workers:
                # One process dies; the others go on serving (agents that met it retry) and it is started again.
                victim = server.kill_one(rng)
                middle = sum(r["kind"] in ("commit", "step") for r in read_journals(journals))
                begin = time.monotonic()
                while (
                    sum(r["kind"] in ("commit", "step") for r in read_journals(journals)) - middle < min_acks
                    and time.monotonic() - begin < 60
                ):
                    time.sleep(0.05)
                after = sum(r["kind"] in ("commit", "step") for r in read_journals(journals)) - middle
                if after < min_acks:
                    report.problems.append(
                        f"cycle {cycle}: after SIGKILL of the {victim} process only {after} "
                        "acknowledgements in 60 s: the others did not go on serving"
                    )
                survived = f"SIGKILL of the {victim} process, {after} acknowledgements after it; then "
                windows.append((killed_at, time.time() + SETTLE_S))
                killed_at = time.time()
            server.kill()
            go.clear()
            records = read_journals(journals)
            acked = sum(r["kind"] in ("commit", "step") for r in records)
            commits, steps, problems = verify_git(data_dir, records)
            report.problems += [f"cycle {cycle}: {p}" for p in problems]
            report.problems += [
                f"cycle {cycle}: agent {r['agent']} failed: {r['error']}" for r in records if r["kind"] == "error"
            ]
            restart = server.start()
            checked = ""
            if check_index_every and cycle % check_index_every == 0:
                code = server.terminate()
                if code != 0:
                    report.problems.append(f"cycle {cycle}: the restarted server exited with {code} on SIGTERM")
                index_problems = check_index(data_dir)
                report.problems += [f"cycle {cycle}: {p}" for p in index_problems]
                report.index_checks += 1
                checked = ", index " + ("matches git" if not index_problems else f"{len(index_problems)} differences")
                restart += server.start()
            windows.append((killed_at, time.time() + SETTLE_S))
            report.cycles = cycle
            report.commits_checked, report.steps_checked = commits, steps
            report.acknowledged_per_cycle.append(acked - acked_before)
            report.restart_seconds.append(restart)
            say(
                f"cycle {cycle}/{cycles}: {survived}killed after {loaded_s:.1f} s of load "
                f"({acked - acked_before} acknowledgements); {commits} commits and {steps} steps on disk, "
                f"fsck clean{'' if not problems else ' NOT'}{checked}; restarted in {restart:.1f} s"
            )
            if report.problems:
                break
        go.set()
        time.sleep(1.0)  # the agents reconnect and push on the last restart too
    finally:
        stop.set()
        go.set()
        for w in workers:
            w.join(30)
            if w.is_alive():
                w.terminate()
                w.join(5)
    records = read_journals(journals)
    if server.proc is not None and server.proc.poll() is None:
        code = server.terminate()
        if code != 0:
            report.problems.append(f"the final server exited with {code} on SIGTERM")
    commits, steps, problems = verify_git(data_dir, records)
    report.problems += [f"final: {p}" for p in problems]
    report.problems += [f"final: {p}" for p in check_index(data_dir)]
    report.commits_checked, report.steps_checked = commits, steps
    report.problems += [f"agent {r['agent']} failed: {r['error']}" for r in records if r["kind"] == "error"]
    transports = [r for r in records if r["kind"] == "transport"]
    report.transport_errors = len(transports)
    for r in transports:
        if not any(a <= r["t"] <= b for a, b in windows):
            report.problems.append(f"agent {r['agent']} saw {r['code']} outside any crash window: {r['message']}")
    report.seconds = time.monotonic() - began
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20, help="SIGKILL/restart cycles (default 20)")
    parser.add_argument("--agents", type=int, default=32, help="pushing agents (default 32)")
    parser.add_argument("--processes", type=int, default=4, help="client processes the agents run in (default 4)")
    parser.add_argument("--min-load", type=float, default=1.0, help="shortest load before a kill, s (default 1)")
    parser.add_argument("--max-load", type=float, default=3.0, help="longest load before a kill, s (default 3)")
    parser.add_argument(
        "--check-index-every",
        type=int,
        default=1,
        help="stop gracefully and run `trellis check` every N cycles (0: only at the end)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="serve --workers N (default 0: one process); each cycle first SIGKILLs one of its "
        "processes at random (a front, the index process or the supervisor) under load, then all",
    )
    parser.add_argument(
        "--loose-objects",
        type=int,
        default=None,
        metavar="N",
        help="the server's --loose-objects (default: the server's, 2000); a small limit packs, and holds the "
        "writers of a repository far above it, while processes are killed",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the data directory and journals here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="trellis-crash-"))
    print(
        f"crash loop: {args.cycles} cycles, {args.agents} agents in {args.processes} processes; work in {workdir}",
        flush=True,
    )
    report = run(
        workdir,
        cycles=args.cycles,
        agents=args.agents,
        processes=args.processes,
        min_load_s=args.min_load,
        max_load_s=args.max_load,
        check_index_every=args.check_index_every,
        seed=args.seed,
        workers=args.workers,
        loose_objects=args.loose_objects,
        say=lambda s: print(s, flush=True),
    )
    if args.json:
        print(json.dumps({**report.__dict__, "ok": report.ok}, indent=2))
    print(report.summary())
    for p in report.problems[:50]:
        print(f"  - {p}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
