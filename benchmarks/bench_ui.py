"""Server time of the web viewer's heaviest pages (goals of issue 14).

A real server on a temporary data directory with tokens; pages are requested
in-process through the ASGI application (``trellis.web.build_app`` over the
server's own store, differ, index and verifier), so the times are what the
server spends — routing, authentication, the git and DuckDB reads, rendering —
without the network or a browser. Each page is asked ``--runs`` times; p50 and
max wall time are printed with the goal, and the p50 of the CPU time the
process spent on the request (what the page costs on a machine other
processes do not share).

- **Session list over 50,000 sessions** (goal p50 <= 150 ms): ten real
  repositories, 50,000 session rows (and 10,000 verification runs of them)
  written into the index directly, as ``bench_query.py`` (c) does: the list
  reads only the index and ``list_repositories``, and creating 50,000 git
  sessions would take the benchmark's whole budget. Measured: the first page,
  a page 400 pages deep (keyset token), and a filtered page (agent + outcome).
- **A 5,000-step session's first screen** (goal <= 300 ms): a real session
  whose 5,000 steps (observations from 20 bytes to 40 KB) are recorded
  through the store in batches and indexed by the server; the first screen is
  the session page (header, filters, the first 100 steps); a later batch of
  200 steps (what htmx fetches while scrolling) is measured too.
- **A 50-file commit page** (goal <= 300 ms): a real commit changing 50
  Python files of about 200 lines (bodies edited, a function added in each);
  the first view after the indexer has indexed it (nothing of it cached by
  the viewer; the templates compiled by another commit's page; p50 over five
  such commits, one per repository) and then repeated views. The page shows the entity changes (the first 150), the
  verification run and the diffs of its first files; the other files' diffs
  load as the reader scrolls (each fragment measured too).

    python benchmarks/bench_ui.py [--sessions 50000] [--steps 5000] [--files 50] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import duckdb

from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import Grant, Role
from trellis.config import ServerConfig
from trellis.server import RunningServer, build_server
from trellis.web import Services, build_app

GOALS = {"sessions": 150.0, "timeline": 300.0, "commit": 300.0}
FIRST_VIEWS = 5
AGENT = vcs.Identity("bench-agent")


async def _get(app: Any, path: str, token: str) -> tuple[int, bytes]:
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": urllib.parse.unquote(target),
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "root_path": "",
    }
    status, body = 0, bytearray()
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(body)


class Pages:
    def __init__(self, running: RunningServer, data_dir: Path, token: str) -> None:
        self.app = build_app(
            Services(running.store, running.differ, running.index, running.verifier),
            TokenStore(data_dir),
            require_tokens=True,
        )
        self.token = token
        self.loop = asyncio.new_event_loop()

    def get(self, path: str) -> tuple[float, int, bytes]:
        """Wall time in ms (and the process's CPU time of the request in ``self.cpu``)."""
        started, cpu = time.perf_counter(), time.process_time()
        status, body = self.loop.run_until_complete(_get(self.app, path, self.token))
        elapsed = time.perf_counter() - started
        self.cpu = (time.process_time() - cpu) * 1000
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status}\n{body[:2000].decode('utf-8', 'replace')}")
        return elapsed * 1000, status, body

    def measure(self, path: str, runs: int) -> tuple[float, float, float, int]:
        """p50 and max wall time, p50 CPU time, size."""
        times, cpus = [], []
        for _ in range(runs):
            times.append(self.get(path)[0])
            cpus.append(self.cpu)
        return statistics.median(times), max(times), statistics.median(cpus), len(self.get(path)[2])

    def close(self) -> None:
        self.loop.close()


# -- data ---------------------------------------------------------------------------------------------


def synthetic_sessions(con: duckdb.DuckDBPyConnection, sessions: int, repositories: int) -> None:
    con.execute(f"""
        INSERT INTO sessions SELECT
          'repo-' || (s % {repositories}), printf('%020x', 1000000000000 + s), 'agent-' || (hash(s) % 200),
          ['model-a', 'model-b', 'model-c', 'model-d'][(s % 4)::BIGINT + 1],
          'Fix issue #' || s || ': make the parser accept more operators', NULL, 'agents/x/' || s,
          ['succeeded', 'failed', 'abandoned', 'active'][(hash(s * 7) % 4)::BIGINT + 1], '',
          TIMESTAMP '2025-01-01' + to_seconds(s * 60), TIMESTAMP '2025-01-01' + to_seconds(s * 60 + 45),
          (hash(s) % 200)::INTEGER, (hash(s * 3) % 20)::INTEGER, (hash(s) % 100000)::BIGINT,
          (hash(s * 5) % 10000)::BIGINT, (hash(s) % 1000) / 100.0, MAP {{}}, md5(s::VARCHAR)
        FROM range({sessions}) t(s)""")
    con.execute(f"""
        INSERT INTO verification_runs SELECT
          'repo-' || (s % {repositories}), printf('%020x', 2000000000000 + s), md5(s::VARCHAR) || 'abcdefgh',
          'agents/x/' || s, 'repository', 'push', ['passed', 'failed'][(s % 2)::BIGINT + 1],
          TIMESTAMP '2025-01-01' + to_seconds(s * 60 + 50), NULL, NULL, NULL, printf('%020x', 1000000000000 + s)
        FROM range(0, {sessions}, 5) t(s)""")
    con.execute("CHECKPOINT")


def long_session(running: RunningServer, repository: str, steps: int) -> str:
    store = running.store
    session = store.create_session(repository, AGENT, model="model-a", task="A long session")
    rng = random.Random(5)
    tools = ["Bash", "Read", "Edit", "Grep", "WebFetch"]
    for start in range(0, steps, 1000):
        batch = []
        for i in range(start, min(steps, start + 1000)):
            size = rng.choice([20, 200, 2000, 40_000])
            batch.append(
                vcs.StepInput(
                    thought=f"Step {i}: look at the next failing test and decide what to change.",
                    action=f"{tools[i % 5]} src/module_{i % 40}.py",
                    arguments_json='{"path": "src/x.py"}',
                    observation=("line of tool output\n" * (size // 20 + 1))[:size],
                    input_tokens=rng.randint(500, 9000),
                    output_tokens=rng.randint(10, 900),
                    cost_usd=0.002,
                    latency_ms=rng.randint(100, 9000),
                    metadata={"tool": tools[i % 5]},
                )
            )
        store.record_steps(repository, session.session_id, batch, AGENT)
    running.index.changed(repository)
    return session.session_id


def module(index: int, variant: int, salt: str = "") -> str:
    parts = [f'"""Module {index}{salt}."""\n\nimport os\n\n']
    for f in range(18):
        parts.append(
            f'\ndef function_{f}(value, other=None):\n    """Compute thing {f} of module {index}."""\n'
            f"    result = value * {f + variant} + {index}\n    if other is not None:\n"
            f"        result += other\n    for step in range({f + 2}):\n        result = (result + step) % 97\n"
            f"    return result\n\n"
        )
    if variant:
        parts.append(f"\ndef added_{index}(x):\n    return function_1(x) + {variant}\n")
    return "".join(parts)


def wide_commit(running: RunningServer, repository: str, files: int) -> str:
    store = running.store
    head = store.get_branch(repository, "main").head_commit_id
    seed = store.commit(
        repository,
        "main",
        [vcs.PutFile(f"src/module_{i}.py", module(i, 0, repository).encode()) for i in range(files)],
        "seed modules",
        AGENT,
        expected_head=head,
    )
    change = store.commit(
        repository,
        "main",
        [vcs.PutFile(f"src/module_{i}.py", module(i, 3, repository).encode()) for i in range(files)],
        "edit every module",
        AGENT,
        expected_head=seed.commit.commit_id,
    )
    running.index.changed(repository)
    return change.commit.commit_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=5_000)
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        data_dir = Path(tmp)
        token = TokenStore(data_dir).create("reader", grants=(Grant("*", Role.READER),))[1]
        running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", durability=vcs.Durability.NONE))
        pages = Pages(running, data_dir, token)
        try:
            started = time.perf_counter()
            for r in range(10):
                running.store.create_repository(f"repo-{r}", AGENT)
            session_id = long_session(running, "repo-0", args.steps)
            # the first view is measured once per commit (a second view finds its colours cached): one commit in
            # each of repo-1..repo-5, all alike
            firsts = [wide_commit(running, f"repo-{r}", args.files) for r in range(1, 1 + FIRST_VIEWS)]
            commit_id = firsts[0]
            warm_id = wide_commit(running, "repo-9", 2)
            running.index.wait_idle(600)
            synthetic_sessions(running.index.indexer.connection, args.sessions, 10)
            print(
                f"data: {args.sessions:,} sessions, a {args.steps:,}-step session, a {args.files}-file commit "
                f"({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            rows: list[tuple[str, float, float, float, int, float | None]] = []

            def report(name: str, p50: float, worst: float, cpu: float, size: int, goal: float | None) -> None:
                rows.append((name, p50, worst, cpu, size, goal))
                print(
                    f"  {name:<44} p50 {p50:7.1f} ms  max {worst:7.1f} ms  cpu {cpu:7.1f} ms  {size / 1024:5.0f} KiB"
                    + (f"  goal {goal:.0f} ms: {'met' if p50 <= goal else 'NOT met'}" if goal else ""),
                    flush=True,
                )

            def row(name: str, path: str, goal: float | None) -> None:
                p50, worst, cpu, size = pages.measure(path, args.runs)
                report(name, p50, worst, cpu, size, goal)

            pages.get("/sessions")  # templates compiled, caches warm, as on a server that has served a page
            row("session list, first page", "/sessions", GOALS["sessions"])
            deep = pages.get("/sessions")[2].decode()
            token_at = deep.index("page=") + len("page=")
            path = "/sessions?page=" + deep[token_at : deep.index('"', token_at)].replace("&amp;", "&")
            depth = max(1, min(400, args.sessions // 50 - 1))
            for _ in range(depth - 1):
                body = pages.get(path)[2].decode()
                token_at = body.index("page=") + len("page=")
                path = "/sessions?page=" + body[token_at : body.index('"', token_at)].replace("&amp;", "&")
            row(f"session list, page {depth}", path, GOALS["sessions"])
            row("session list, agent + outcome filter", "/sessions?agent=agent-7&status=failed", GOALS["sessions"])
            row(
                f"{args.steps:,}-step session, first screen",
                f"/repositories/repo-0/sessions/{session_id}",
                GOALS["timeline"],
            )
            row(
                f"{args.steps:,}-step session, a later batch of 200",
                f"/repositories/repo-0/sessions/{session_id}/steps?after={args.steps // 2}",
                GOALS["timeline"],
            )
            pages.get(f"/repositories/repo-9/commits/{warm_id}")  # the commit page's templates compiled
            times, cpus = [], []
            for r, first in enumerate(firsts, start=1):
                times.append(pages.get(f"/repositories/repo-{r}/commits/{first}")[0])
                cpus.append(pages.cpu)
            report(
                f"{args.files}-file commit, first view ({FIRST_VIEWS} commits)",
                statistics.median(times),
                max(times),
                statistics.median(cpus),
                len(pages.get(f"/repositories/repo-1/commits/{commit_id}")[2]),
                GOALS["commit"],
            )
            row(f"{args.files}-file commit, repeated", f"/repositories/repo-1/commits/{commit_id}", GOALS["commit"])
            later = range(10, args.files)[: args.runs]  # each file once: its colours not cached yet
            if later:
                times, cpus = [], []
                for i in later:
                    times.append(pages.get(f"/repositories/repo-1/commits/{commit_id}/diff/src/module_{i}.py")[0])
                    cpus.append(pages.cpu)
                report(
                    "a later file's diff (htmx), first fetch",
                    statistics.median(times),
                    max(times),
                    statistics.median(cpus),
                    0,
                    None,
                )
        finally:
            pages.close()
            running.stop()
    load = os.getloadavg()[0]
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, DuckDB {duckdb.__version__}; load average {load:.1f}; {args.runs} runs each"
    )
    print("\n| page | p50 | max | CPU p50 | size | goal (p50) |\n|---|---|---|---|---|---|")
    for name, p50, worst, cpu, size, goal in rows:
        verdict = "" if goal is None else f"<= {goal:.0f} ms: {'met' if p50 <= goal else 'NOT met'}"
        print(f"| {name} | {p50:.1f} ms | {worst:.1f} ms | {cpu:.1f} ms | {size / 1024:.0f} KiB | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
