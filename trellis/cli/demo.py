"""``trellis demo``: an embedded server, parallel agents, and what happened."""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, lazy, new_table

if TYPE_CHECKING:
    from trellis import semantic_diff

    from ..demo import DemoReport
    from ..server import RunningServer
    from ..web import WebServer
else:
    semantic_diff = lazy("trellis.semantic_diff")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run simulated agents against an embedded server",
        description="Start an embedded server on a free port, run parallel simulated agents (each in its own "
        "session on its own branch) pushing micro-commits to a small Python project, and print what happened. "
        "The data directory is kept so you can explore it with git and the CLI.",
    )
    p.add_argument("--agents", type=int, default=8, help="number of agents (default 8)")
    p.add_argument("--commits", type=int, default=50, help="commits per agent (default 50)")
    p.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="afterwards, keep the embedded server running with the web viewer on this loopback address "
        "(port 0 picks one) until Ctrl-C, and print the addresses of a session and a merge",
    )
    p.set_defaults(run=run)


QUESTIONS = [
    (
        "Which agents used the most tokens, and what did it buy?",
        "SELECT agent, steps, commits, total_tokens, round(cost_usd, 4) AS cost_usd, status "
        "FROM session_summary WHERE repository = $repo ORDER BY total_tokens DESC LIMIT 5",
    ),
    (
        "Which functions did each agent add (entity changes joined with commits)?",
        "SELECT c.agent, count(*) AS functions_added, arg_min(e.qualname, (c.commit_time, c.step_index, e.ordinal)) "
        "AS first, arg_max(e.qualname, (c.commit_time, c.step_index, e.ordinal)) AS last "
        "FROM entity_changes e JOIN commits c USING (repository, commit_id) "
        "WHERE e.repository = $repo AND e.change = 'added' AND e.kind = 'function' AND c.agent LIKE 'agent-%' "
        "GROUP BY ALL ORDER BY c.agent LIMIT 8",
    ),
    (
        "Which files changed most often?",
        "SELECT path, count(*) AS commits, sum(additions) AS lines_added FROM file_changes "
        "WHERE repository = $repo GROUP BY path ORDER BY commits DESC, path LIMIT 5",
    ),
]


def _data_dir(args: argparse.Namespace) -> Path:
    from .. import config as cfg

    if getattr(args, "data_dir", None):
        return Path(args.data_dir).expanduser()
    env = cfg.env_data_dir()
    return env if env is not None else Path(tempfile.mkdtemp(prefix="trellis-demo-"))


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from trellis.query import json_rows

    from .. import config as cfg
    from ..client import Client
    from ..demo import run_demo
    from ..server import build_server

    out = Output(args)
    if args.agents < 1 or args.commits < 1:
        out.error("--agents and --commits must be at least 1")
        return 2
    data_dir = _data_dir(args)
    logging.getLogger("trellis").setLevel(logging.ERROR)
    running = build_server(cfg.ServerConfig(data_dir=data_dir, address="127.0.0.1:0", durability=cfg.env_durability()))
    try:
        out.note(f"embedded server on {running.address}, data in {data_dir}")
        total = args.agents * args.commits
        with Progress(
            TextColumn("[bold]agents pushing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out.err,
            disable=out.json,
            transient=True,
        ) as bar:
            task = bar.add_task("push", total=total)
            report = run_demo(
                running.address, agents=args.agents, commits=args.commits, progress=lambda: bar.advance(task)
            )
        with Client(running.address) as client:
            sample = report.agents[0]
            log = list(client.log(report.repository, sample.branch, limit=8))
            last_diff = client.diff(report.repository, sample.branch).result
            branch_diffs = {
                a.agent: client.diff(report.repository, a.branch, report.seed_commit).result for a in report.agents
            }
            running.index.wait_idle(60)
            answers = [(question, client.query(sql, {"repo": report.repository}).table) for question, sql in QUESTIONS]
            main_head = client.get_branch(report.repository, "main").head_commit_id
        web = _start_web(args, running, data_dir)
    except BaseException:
        running.stop(grace=5)
        raise
    if web is None:
        running.stop(grace=5)
    urls = web_urls(report, main_head, web.url if web is not None else f"http://{_ui_listen()}")
    repo_path = data_dir / "repos" / f"{report.repository}.git"
    if out.json:
        out.data(
            {
                "data_dir": str(data_dir),
                "repository": report.repository,
                "commits": report.commits,
                "seconds": report.seconds,
                "commits_per_second": report.throughput,
                "p50_ms": report.percentile(50),
                "p99_ms": report.percentile(99),
                "sql": [{"question": q, "rows": list(json_rows(t))} for q, t in answers],
                "verdicts": {branch: run.verdict.value for branch, run in report.branch_runs.items()},
                "merges": {
                    "merged": report.merge.merged,
                    "line_merge_refused": report.merge.line_merge_refused,
                    "conflicts": report.merge.conflicts,
                    "main_verdict": report.merge.main_run.verdict.value if report.merge.main_run else None,
                },
                "agents": [
                    {
                        "agent": a.agent,
                        "session_id": a.session_id,
                        "branch": a.branch,
                        "commits": a.commits,
                        "steps": a.steps,
                        "entity_changes": [semantic_diff.change_to_json(c) for c in branch_diffs[a.agent].changes],
                    }
                    for a in report.agents
                ],
                "web": {**urls, "serving": web is not None},
            }
        )
        return _serve_web(out, running, web)
    table = new_table("agent", "session", "branch", "commits", "steps", title=f"repository {report.repository}")
    for a in report.agents:
        table.add_row(a.agent, a.session_id, a.branch, str(a.commits), str(a.steps))
    out.print(table)
    out.print(
        f"[bold]{report.commits}[/] commits from {len(report.agents)} agents in {report.seconds:.2f}s: "
        f"[bold]{report.throughput:.0f} commits/s[/], commit latency p50 {report.percentile(50):.1f} ms, "
        f"p99 {report.percentile(99):.1f} ms (embedded server and agents share this process)"
    )
    out.print(f"\n[bold]log of {sample.branch}[/] (newest first):")
    for c in log:
        out.print(
            f"  [yellow]{c.commit_id[:12]}[/] [cyan]{c.author.name}[/] {c.message.splitlines()[0]}"
            f" [dim]step {c.trailers.get('Trellis-Step', '-')}[/]"
        )
    out.print(f"\n[bold]semantic diff of the last commit on {sample.branch}[/]:")
    for change in last_diff.changes:
        out.print(f"  {semantic_diff.describe(change)}", markup=False)
    out.print("\n[bold]what each agent changed[/] (entity level, against the seed commit):")
    for agent, result in branch_diffs.items():
        counts = Counter(f"{c.change} {c.kind}" for c in result.changes)
        out.print(f"  {agent}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    for question, table in answers:
        out.print(f"\n[bold]SQL: {question}[/]")
        view = new_table(*table.column_names, box=None)
        for row in table.to_pylist():
            view.add_row(*(str(v) for v in row.values()))
        out.print(view)
    _print_verification(out, report)
    trellis = f"{trellis_command()} --data-dir {shlex.quote(str(data_dir))}"
    out.print(f"\nData kept in [bold]{data_dir}[/]. Explore it:")
    out.print(f"  git --git-dir {repo_path} log --oneline {sample.branch} | head", markup=False)
    out.print(f"  git --git-dir {repo_path} show refs/trellis/sessions/{sample.session_id}:session.json", markup=False)
    out.print(f"  {trellis} session show {report.repository} {sample.session_id}", markup=False)
    out.print(f"  {trellis} log {report.repository} {sample.branch}", markup=False)
    out.print(f"  {trellis} diff {report.repository} main {sample.branch}", markup=False)
    out.print(f'  {trellis} query "SELECT * FROM session_summary"', markup=False)
    out.print(f"  {trellis} runs {report.repository}", markup=False)
    out.print(f"  {trellis} verify {report.repository} main", markup=False)
    if web is None:
        out.print(f"\nIn a browser: start the web viewer with [bold]{trellis} ui[/], then open")
    else:
        out.print("\nIn a browser (the web viewer of the embedded server; Ctrl-C stops it):")
    for what, url in urls.items():
        out.print(f"  {what + ':':<16} {url}", markup=False)
    return _serve_web(out, running, web)


def _ui_listen() -> str:
    from .ui import DEFAULT_LISTEN

    return DEFAULT_LISTEN


def web_urls(report: DemoReport, main_head: str, base: str) -> dict[str, str]:
    """Where the web viewer shows the demo: a session's timeline, the last merge, a merge preview."""
    from ..web import url

    sample = report.agents[0]
    conflicted = report.merge.conflicts[0][0] if report.merge.conflicts else ""
    return {
        "session": base + url("repositories", report.repository, "sessions", sample.session_id),
        "merge commit": base + url("repositories", report.repository, "commits", main_head),
        "merge preview": base
        + url("repositories", report.repository, "merge", target="main", source=conflicted or sample.branch),
        "sessions": base + url("repositories", report.repository, "sessions"),
    }


def _start_web(args: argparse.Namespace, running: RunningServer, data_dir: Path) -> WebServer | None:
    if not args.http:
        return None
    from .. import config as cfg
    from ..server import ConfigError
    from ..web import start_http

    if not cfg.is_loopback(args.http):
        raise ConfigError(f"trellis demo serves the web viewer on loopback addresses only, not {args.http}")
    return start_http(running, data_dir, args.http)


def _serve_web(out: Output, running: RunningServer, web: WebServer | None) -> int:
    """With --http: serve until Ctrl-C (or SIGTERM), then stop the viewer and the embedded server."""
    if web is None:
        return 0
    import signal
    import threading

    done = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        web.stop()
        running.stop(grace=5)
    return 130 if received[:1] == [signal.SIGINT] else 0  # Ctrl-C: 130, as every command; SIGTERM: 0


def trellis_command() -> str:
    """How to run this very ``trellis`` from a shell: its name when PATH finds it, else its path in the venv."""
    script = Path(sys.executable).parent / "trellis"
    found = shutil.which("trellis")
    if found is not None and script.exists() and Path(found).resolve() == script.resolve():
        return "trellis"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m trellis"


def _print_verification(out: Output, report: DemoReport) -> None:
    out.print(
        "\n[bold]verification[/]: every push ran the pipeline (syntax per file, then the affected tests); "
        "a newer push cancels what an older one had not started"
    )
    table = new_table("agent", "head verdict", "jobs", "tests run / suite", "summary", box=None)
    for a in report.agents:
        run = report.branch_runs.get(a.branch)
        if run is None:
            continue
        tests = next((j for j in run.jobs if j.stage == "tests"), None)
        selected = f"{tests.selected_tests} / {tests.total_tests}" if tests and tests.total_tests else "-"
        table.add_row(a.agent, run.verdict.value, str(len(run.jobs)), selected, tests.summary if tests else "")
    out.print(table)
    for a in report.agents:
        for what, run, ms in a.verdicts:
            failed = [j for j in run.jobs if j.verdict.value not in ("passed", "skipped")]
            detail = f": {failed[0].stage} {failed[0].summary}" if failed else ""
            out.print(
                f"  {a.agent} pushed {what} and waited {ms:.0f} ms for the verdict: "
                f"[bold]{run.verdict.value}[/]{detail}",
                markup=True,
            )
    merge = report.merge
    strategies = Counter(strategy for _, strategy in merge.merged)
    out.print(
        f"\n[bold]merging the {len(report.agents)} agent branches into main[/]: "
        + ", ".join(f"{n} {s.replace('_', '-')}" for s, n in sorted(strategies.items()))
    )
    if merge.line_merge_refused:
        out.print(
            f"  a line merge (diff3, as git merge-file) would have refused {len(merge.line_merge_refused)} of "
            "them: every agent appended a function at the end of calc/ops.py; the structured merge "
            "combined them entity by entity"
        )
    for branch, n in merge.conflicts:
        out.print(f"  {branch}: {n} conflict(s), left unmerged")
    if merge.main_run is not None:
        out.print(f"  main after the merges: [bold]{merge.main_run.verdict.value}[/] (run {merge.main_run.run_id})")
