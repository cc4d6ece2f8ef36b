"""``trellis verify``, ``runs``, ``watch``, ``pipeline`` and ``review``: verification from the command line."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, connect, lazy, new_table
from .local import reader

if TYPE_CHECKING:
    from trellis import ci

    from ..client import Client
else:
    ci = lazy("trellis.ci")

_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "error": "red",
    "timed_out": "red",
    "cancelled": "yellow",
    "skipped": "dim",
    "pending": "cyan",
    "running": "cyan",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    v = sub.add_parser(
        "verify",
        parents=[common],
        help="verify a revision with its pipeline and show the verdict",
        description="Start a verification run and follow it until it finishes. Exit status: 0 when "
        "the run passed, 1 when it did not.",
    )
    v.add_argument("repository", help="repository name")
    v.add_argument("revision", nargs="?", default="", help="branch or commit (default: the default branch)")
    v.add_argument(
        "--stage",
        action="append",
        default=[],
        dest="stages",
        help="run only this stage and the stages it needs (repeatable)",
    )
    v.add_argument(
        "--full",
        action="store_true",
        help="run every test, not only the affected ones, and report tests selection would have missed",
    )
    v.add_argument(
        "--for-branch",
        default="",
        metavar="BRANCH",
        help="use the pipeline of BRANCH's head (as a protected branch's gate does)",
    )
    v.add_argument("--no-wait", action="store_true", help="start the run and print its id without waiting")
    v.set_defaults(run=verify)

    r = sub.add_parser("runs", parents=[common], help="list verification runs, newest first")
    r.add_argument("repository", help="repository name")
    r.add_argument("--commit", default="", help="only runs of this commit (its id, or at least 4 of its first digits)")
    r.add_argument("--branch", default="", help="only runs of this branch (its pushes, and gates of merges into it)")
    r.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    r.set_defaults(run=runs)

    w = sub.add_parser(
        "watch",
        parents=[common],
        help="follow a run's job events until it finishes",
        description="Stream a run's events: the run named, or with --latest the newest one (of "
        "--branch). Exit status: 0 when the run passed, 1 when it did not.",
    )
    w.add_argument("repository", help="repository name")
    w.add_argument("run_id", nargs="?", default="", help="the run (omit with --latest)")
    w.add_argument("--latest", action="store_true", help="the newest run of the repository, or of --branch")
    w.add_argument("--branch", default="", help="with --latest: the newest run of this branch (implies --latest)")
    w.set_defaults(run=watch)

    p = sub.add_parser("pipeline", parents=[common], help="show, set or check a pipeline")
    psub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = psub.add_parser("show", parents=[common], help="the pipeline that applies to a revision")
    show.add_argument("repository", help="repository name")
    show.add_argument("revision", nargs="?", default="", help="branch or commit (default: the default branch)")
    show.set_defaults(run=pipeline_show)
    set_ = psub.add_parser("set", parents=[common], help="set the repository-level pipeline from a TOML file")
    set_.add_argument("repository", help="repository name")
    set_.add_argument(
        "file", type=Path, help="a trellis.toml (use --remove to drop the repository pipeline)", nargs="?"
    )
    set_.add_argument("--remove", action="store_true", help="remove the repository-level pipeline")
    set_.set_defaults(run=pipeline_set)
    check = psub.add_parser("check", parents=[common], help="validate a trellis.toml locally (no server)")
    check.add_argument("file", type=Path, help="the pipeline file to check (TOML)")
    check.set_defaults(run=pipeline_check)

    rv = sub.add_parser("review", parents=[common], help="external stages: list waiting chunks, post verdicts")
    rsub = rv.add_subparsers(dest="action", metavar="ACTION", required=True)
    pending = rsub.add_parser(
        "pending",
        parents=[common],
        help="list the chunks waiting for a verdict",
        description="Print the chunks of external stages waiting for a verdict now, and "
        "exit; with --follow, keep printing new ones as runs reach them (Ctrl-C to stop).",
    )
    pending.add_argument("repository", help="repository name")
    pending.add_argument("--stage", default="", help="only this external stage")
    pending.add_argument("--follow", action="store_true", help="keep waiting and print chunks as they arrive")
    pending.add_argument("--once", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for scripts
    pending.set_defaults(run=review_pending)
    post = rsub.add_parser("post", parents=[common], help="post the verdict of an external stage for one chunk")
    post.add_argument("repository", help="repository name")
    post.add_argument("run_id", help="the run (from review pending)")
    post.add_argument("stage", help="the stage waiting for review")
    post.add_argument("chunk", help="the chunk as listed (a path, path::qualname, or '' for commit scope)")
    post.add_argument(
        "--verdict", required=True, choices=["passed", "failed", "error", "skipped"], help="the reviewer's verdict"
    )
    post.add_argument("--summary", default="", help="one line shown with the verdict")
    post.add_argument("--details-url", default="", help="a link to the review's details")
    post.set_defaults(run=review_post)


def _verdict(value: ci.Verdict | str) -> str:
    name = value.value if isinstance(value, ci.Verdict) else value
    return f"[{_STYLE.get(name, '')}]{name}[/]"


def print_run(out: Output, run: ci.Run) -> None:
    out.print(
        f"run {run.run_id} of {run.commit_id[:12]} ({run.trigger}{', ' + run.branch if run.branch else ''}, "
        f"pipeline {run.pipeline_source}): {_verdict(run.verdict)}"
    )
    table = new_table("stage", "chunk", "verdict", "time", "summary", box=None)
    for job in run.jobs:
        took = "cached" if job.cached else f"{job.duration_ms} ms"
        table.add_row(job.stage, job.chunk or "(commit)", _verdict(job.verdict), took, job.summary)
    if run.jobs:
        out.print(table)
    else:
        out.print("no stage applies to this change")
    for job in run.jobs:
        if job.fallback:
            ran = "nearly every test" if job.nearly_all else "every test"
            out.print(f"{job.stage}: {ran} ran, because {job.fallback}", markup=False)
    for test in run.missed_tests:
        out.print(f"[bold red]selection miss:[/] {test} failed in the full run but was not selected")
    print_failures(out, run)


_BAD = ("failed", "error", "timed_out")  # ci.Verdict values, a str enum (ci loads when a run is printed)
MESSAGE_LINES = 8
LOG_LINES = 15


def print_failures(out: Output, run: ci.Run) -> None:
    """Why jobs failed: each failing test with its assertion message and the end of its part of the log;
    for a job without failing tests (a command, a collection error), the end of its output."""
    for job in run.jobs:
        if job.verdict not in _BAD:
            continue
        failing = [t for t in job.tests if t.verdict in _BAD]
        log = job.output.decode("utf-8", "replace")
        if not failing and not log.strip():
            continue
        out.print("")
        out.print(f"{job.stage} {job.chunk or '(commit)'}: {job.verdict.value} ({job.summary})", markup=False)
        shown_log = False
        for test in failing:
            out.print(f"  {test.verdict.value.upper()} {test.test_id}", markup=False)
            for line in _last(test.message, MESSAGE_LINES, first=True):
                out.print(f"      {line}", markup=False)
            section = _test_section(log, test.test_id)
            if section:
                shown_log = True
                out.print("    last lines of its log:", markup=False)
                for line in _last(section, LOG_LINES):
                    out.print(f"      {line}", markup=False)
        if not shown_log and log.strip():
            out.print("  last lines of the output:", markup=False)
            for line in _last(log, LOG_LINES):
                out.print(f"    {line}", markup=False)


def _last(text: str, count: int, *, first: bool = False) -> list[str]:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if len(lines) <= count:
        return lines
    return [*lines[:count], "…"] if first else ["…", *lines[-count:]]


def _test_section(log: str, test_id: str) -> str:
    """The part of pytest's report about ``test_id``: from its ``____ name ____`` header to the next header."""
    name = test_id.split("::", 1)[-1].replace("::", ".")
    lines = log.splitlines()
    header = f" {name} "
    for start, line in enumerate(lines):
        if line.startswith("_") and line.endswith("_") and line.strip("_") == header:
            end = next((k for k in range(start + 1, len(lines)) if _is_header(lines[k])), len(lines))
            return "\n".join(lines[start + 1 : end])
    return ""


def _is_header(line: str) -> bool:
    framed = len(line) > 6 and line[:3] == line[-3:] and line[:3] in ("___", "===")
    return framed or line.startswith("- generated xml file:")


def _follow(out: Output, client: Client, repository: str, run_id: str) -> int:
    from .. import convert

    final: ci.Run | None = None
    for event, run in client.watch_run(repository, run_id):
        if event is not None and not out.json:
            out.note(
                f"{event.stage} {event.chunk or '(commit)'}: "
                f"{convert.verdict_from_pb(event.verdict).value} {event.message}".rstrip()
            )
        if run is not None:
            final = run
    assert final is not None
    if out.json:
        out.data(final)
    else:
        print_run(out, final)
    return 0 if final.verdict is ci.Verdict.PASSED else 1


def verify(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        run = client.verify(
            args.repository, args.revision, stages=args.stages, full=args.full, pipeline_branch=args.for_branch
        )
        if args.no_wait:
            if out.json:
                out.data(run)
            else:
                out.print(f"started run {run.run_id}; follow it with: trellis watch {args.repository} {run.run_id}")
            return 0
        return _follow(out, client, args.repository, run.run_id)


def watch(args: argparse.Namespace) -> int:
    out = Output(args)
    latest = args.latest or bool(args.branch)
    if latest == bool(args.run_id):
        out.error("name a run, or give --latest (with --branch, the newest run of that branch)")
        return 2
    with connect(args) as client:
        run_id = args.run_id
        if latest:
            newest = next(client.list_runs(args.repository, branch=args.branch, page_size=1), None)
            if newest is None:
                out.error(f"no run in {args.repository}" + (f" for branch {args.branch}" if args.branch else ""))
                return 1
            run_id = newest.run_id
        return _follow(out, client, args.repository, run_id)


def runs(args: argparse.Namespace) -> int:
    out = Output(args)
    found: list[ci.Run] = []
    with reader(args) as client:
        for run in client.list_runs(args.repository, args.commit, branch=args.branch):
            found.append(run)
            if len(found) >= args.limit:
                break
    if out.json:
        out.data(found)
        return 0
    table = new_table("run", "commit", "trigger", "branch", "verdict", "jobs", "tests", box=None)
    for run in found:
        cached = sum(j.cached for j in run.jobs)
        table.add_row(
            run.run_id,
            run.commit_id[:12],
            run.trigger,
            run.branch,
            _verdict(run.verdict),
            f"{len(run.jobs)} ({cached} cached)",
            _tests_column(run),
        )
    out.print(table)
    return 0


def _tests_column(run: ci.Run) -> str:
    """How many tests the run's pytest stages ran, why every test ran when selection fell back, and how many
    passed only after the tests collected before them (order-dependent: the project's bug)."""
    parts = []
    for job in run.jobs:
        if job.total_tests:
            text = f"{job.selected_tests}/{job.total_tests}"
            every = "nearly all" if job.nearly_all else "all"
            text = f"{text} ({every}: {job.fallback})" if job.fallback else text
            # "; N order-dependent: …" (confirm.py): the list's runs carry no test cases
            order = sum(int(n) for n in re.findall(r"; (\d+) order-dependent: ", job.summary))
            parts.append(f"{text} ({order} order-dependent)" if order else text)
    return "; ".join(parts)


def pipeline_show(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        pipeline = client.get_pipeline(args.repository, args.revision)
    if out.json:
        out.data({"source": pipeline.source, "stages": list(pipeline.stages), "config_toml": pipeline.config_toml})
    else:
        out.print(f"# from {pipeline.source}; stages in order: {', '.join(pipeline.stages)}")
        out.print(pipeline.config_toml, markup=False)
    return 0


def pipeline_set(args: argparse.Namespace) -> int:
    out = Output(args)
    if args.remove == bool(args.file):
        out.error("give a trellis.toml file, or --remove")
        return 2
    text = "" if args.remove else _read(args.file)
    with connect(args) as client:
        pipeline = client.set_pipeline(args.repository, text)
    if out.json:
        out.data({"source": pipeline.source, "stages": list(pipeline.stages)})
    elif args.remove:
        out.print(f"removed the repository pipeline of {args.repository}")
    else:
        out.print(f"set the pipeline of {args.repository}: {', '.join(pipeline.stages)}")
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OSError(f"{path}: the pipeline is not UTF-8 text") from None


def pipeline_check(args: argparse.Namespace) -> int:
    out = Output(args)
    try:
        pipeline = ci.parse_pipeline(args.file.read_bytes(), source=str(args.file))
    except ci.PipelineError as exc:
        if out.json:
            out.data({"valid": False, "error": str(exc)})
        else:
            out.error(str(exc))
        return 1
    if out.json:
        out.data({"valid": True, "stages": list(pipeline.names)})
    else:
        out.print(f"{args.file}: valid; stages in order: {', '.join(pipeline.names)}")
        for protection in pipeline.protections:
            out.print(f"  protects {protection.branch}: requires {', '.join(protection.required)}")
    return 0


def review_pending(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        # --follow runs until Ctrl-C, which ends it as every command: status 130 (trellis.cli.main)
        reviews = (
            client.watch_reviews(args.repository, args.stage)
            if args.follow
            else client.pending_reviews(args.repository, args.stage)
        )
        for review in reviews:
            if out.json:
                print(
                    json.dumps(
                        {
                            "run_id": review.run.rsplit("/", 1)[-1],
                            "stage": review.stage,
                            "chunk": review.chunk,
                            "commit_id": review.commit_id,
                        }
                    ),
                    flush=True,
                )
            else:
                out.print(
                    f"{review.run.rsplit('/', 1)[-1]} {review.stage} {review.chunk or '(commit)'} "
                    f"at {review.commit_id[:12]}"
                )
    return 0


def review_post(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        job = client.post_verdict(
            args.repository, args.run_id, args.stage, args.chunk, args.verdict, args.summary, args.details_url
        )
    if out.json:
        out.data(job)
    else:
        out.print(f"{job.stage} {job.chunk or '(commit)'}: {_verdict(job.verdict)}")
    return 0
