"""``trellis session``: start, list, show, end sessions and record steps."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, connect, lazy, new_table
from .local import reader

if TYPE_CHECKING:
    from trellis import vcs
else:
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("session", parents=[common], help="agent sessions (trajectories) and their steps")
    ssub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    st = ssub.add_parser("start", parents=[common], help="start a session and its branch agents/<agent>/<id>")
    st.add_argument("repository", help="repository name")
    st.add_argument("--model", default="", help="the model the agent runs on, e.g. claude-sonnet-4")
    st.add_argument("--task", default="", help="what the agent was asked to do")
    st.add_argument("--base", default="", help="base revision (default: the default branch)")
    st.add_argument("--branch", default="", help="branch to create (default: agents/<agent>/<session id>)")
    st.set_defaults(run=start)
    ls = ssub.add_parser("list", parents=[common], help="list sessions, newest first")
    ls.add_argument("repository", help="repository name")
    ls.add_argument("--by", dest="by_agent", default="", help="only this agent's sessions")
    ls.set_defaults(run=list_)
    sh = ssub.add_parser("show", parents=[common], help="show a session and its steps")
    sh.add_argument("repository", help="repository name")
    sh.add_argument("session_id", help="the session's id (from session start or session list)")
    sh.set_defaults(run=show)
    en = ssub.add_parser("end", parents=[common], help="end a session")
    en.add_argument("repository", help="repository name")
    en.add_argument("session_id", help="the session's id (from session start or session list)")
    en.add_argument(
        "--status",
        default="succeeded",
        choices=["succeeded", "failed", "abandoned"],
        help="how the session ended (default succeeded)",
    )
    en.add_argument("--outcome", default="", help="a short description of the result")
    en.set_defaults(run=end)
    sp = ssub.add_parser("step", parents=[common], help="record a step that changed no code")
    sp.add_argument("repository", help="repository name")
    sp.add_argument("session_id", help="the session's id (from session start or session list)")
    sp.add_argument("--thought", default="", help="the agent's reasoning for this step")
    sp.add_argument("--action", default="", help="the tool or action the agent took, e.g. edit_file")
    sp.add_argument("--arguments", default="", help="tool-call arguments as JSON")
    sp.add_argument("--observation", default="", help="what the action returned")
    sp.add_argument("--input-tokens", type=int, default=0, help="prompt tokens the step used")
    sp.add_argument("--output-tokens", type=int, default=0, help="completion tokens the step used")
    sp.add_argument("--cost", type=float, default=0.0, help="cost in USD")
    sp.set_defaults(run=step)
    ex = ssub.add_parser(
        "export",
        parents=[common],
        help="write a session as ATIF JSON or OpenTelemetry GenAI spans",
        description="Write a session and its steps in an interchange format: ATIF (the Agent "
        "Trajectory Interchange Format, v1.4) or OTLP JSON (OpenTelemetry GenAI spans, one trace: "
        "invoke_agent, a chat span per step, execute_tool for its action). See docs/trajectories.md.",
    )
    ex.add_argument("repository", help="the repository of the session")
    ex.add_argument("session_id", help="the session to export")
    ex.add_argument("--format", choices=["atif", "otlp"], default="atif", help="atif (default) or otlp")
    ex.add_argument("-o", "--output", type=Path, default=None, metavar="FILE", help="write here (default: stdout)")
    ex.set_defaults(run=export)


def _when(t: float | None) -> str:
    return datetime.datetime.fromtimestamp(t).isoformat(sep=" ", timespec="seconds") if t else ""


def _summary(out: Output, s: vcs.Session) -> None:
    out.print(f"[bold]session {s.session_id}[/] agent {s.agent} model {s.model or '-'} [{s.status.value}]")
    out.print(
        f"  branch {s.branch_id}  base {s.base_commit_id[:12]}  started {_when(s.create_time)}"
        + (f"  ended {_when(s.end_time)}" if s.end_time else "")
    )
    out.print(
        f"  {s.step_count} steps, {s.commit_count} commits, {s.input_tokens}+{s.output_tokens} tokens, "
        f"${s.cost_usd:.4f}" + (f"  outcome: {s.outcome}" if s.outcome else "")
    )
    if s.task:
        out.print(f"  task: {s.task}", markup=False)


def start(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        s = client.create_session(
            args.repository, model=args.model, task=args.task, base_revision=args.base, branch=args.branch
        )
    out.data(s) if out.json else _summary(out, s)
    return 0


def list_(args: argparse.Namespace) -> int:
    out = Output(args)
    with reader(args) as client:
        sessions = list(client.list_sessions(args.repository, agent=args.by_agent))
    if out.json:
        out.data(sessions)
        return 0
    table = new_table("session", "agent", "status", "steps", "commits", "cost", "started")
    for s in sessions:
        table.add_row(
            s.session_id,
            s.agent,
            s.status.value,
            str(s.step_count),
            str(s.commit_count),
            f"${s.cost_usd:.4f}",
            _when(s.create_time),
        )
    out.print(table)
    return 0


def show(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        s = client.get_session(args.repository, args.session_id)
        steps = list(client.list_steps(args.repository, args.session_id))
    if out.json:
        out.data({"session": s, "steps": steps})
        return 0
    _summary(out, s)
    for st in steps:
        code = f" -> {st.commit_id[:12]}" if st.commit_id else ""
        out.print(f"  {st.index:>4}. {st.input.action or 'step'}{code}: {st.input.thought[:100]}", markup=False)
    return 0


def end(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        s = client.end_session(args.repository, args.session_id, args.status, args.outcome)
    out.data(s) if out.json else _summary(out, s)
    return 0


def step(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        st = client.record_step(
            args.repository,
            args.session_id,
            vcs.StepInput(
                thought=args.thought,
                action=args.action,
                arguments_json=args.arguments,
                observation=args.observation,
                input_tokens=args.input_tokens,
                output_tokens=args.output_tokens,
                cost_usd=args.cost,
            ),
        )
    if out.json:
        out.data(st)
    else:
        out.print(f"recorded step {st.index} in session {args.session_id}")
    return 0


def export(args: argparse.Namespace) -> int:
    from trellis.query import to_atif, to_otlp

    out = Output(args)
    with connect(args) as client:
        s = client.get_session(args.repository, args.session_id)
        steps = list(client.list_steps(args.repository, args.session_id))
    document = to_atif(s, steps) if args.format == "atif" else to_otlp(args.repository, s, steps)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
        out.note(f"wrote {args.output}: session {s.session_id} as {args.format}, {len(steps)} steps")
    return 0
