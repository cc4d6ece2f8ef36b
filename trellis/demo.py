"""The demo: parallel simulated agents pushing micro-commits to a small Python project.

Library code for ``trellis demo``: runs against any server through the SDK
and returns what happened; the CLI starts the embedded server and prints.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from trellis import ci, vcs

from .client import Client

__all__ = ["AgentReport", "DemoReport", "MergeReport", "PROJECT", "merge_branches", "run_demo"]

PROJECT: dict[str, str] = {
    "README.md": "# calc\n\nA tiny calculator the demo agents keep improving.\n",
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0.1.0"\n',
    "calc/__init__.py": '"""A tiny calculator."""\n\nfrom .ops import add, sub\n\n__all__ = ["add", "sub"]\n',
    "calc/ops.py": '"""Arithmetic operations."""\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n',
    "calc/parser.py": '"""Parse "a op b" expressions."""\n\n\ndef parse(text):\n    a, op, b = text.split()\n    return float(a), op, float(b)\n',
    "tests/test_ops.py": "from calc.ops import add, sub\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n",
    # The pipeline: every changed file must parse, and the tests that reach a change must pass.
    "trellis.toml": (
        '[stages.syntax]\nkind = "syntax"\n\n'
        '[stages.tests]\nkind = "pytest"\nselect = "affected"\nneeds = ["syntax"]\ntimeout = "60s"\n'
    ),
}

_THOUGHTS = [
    "The parser should accept more operators; add one.",
    "Add a helper and a test for it.",
    "Tighten the docstring and handle a corner case.",
    "Refactor: extract a function so it can be tested.",
]


@dataclass
class AgentReport:
    agent: str
    session_id: str
    branch: str
    commits: int = 0
    steps: int = 0
    retries: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    # Verdicts this agent waited for (Commit with wait_for_verdict): (what it pushed, run, milliseconds).
    verdicts: list[tuple[str, ci.Run, float]] = field(default_factory=list)


@dataclass
class MergeReport:
    """How the agents' branches came back together on main."""

    merged: list[tuple[str, str]] = field(default_factory=list)  # (branch, strategy)
    line_merge_refused: list[str] = field(default_factory=list)  # branches diff3 (git merge-file) refuses
    conflicts: list[tuple[str, int]] = field(default_factory=list)  # (branch, conflicts) left unmerged
    main_run: ci.Run | None = None


@dataclass
class DemoReport:
    repository: str
    agents: list[AgentReport]
    seconds: float
    seed_commit: str = ""
    branch_runs: dict[str, ci.Run] = field(default_factory=dict)  # the last run of each agent branch
    merge: MergeReport = field(default_factory=MergeReport)

    @property
    def commits(self) -> int:
        return sum(a.commits for a in self.agents)

    @property
    def latencies_ms(self) -> list[float]:
        return sorted(x for a in self.agents for x in a.latencies_ms)

    def percentile(self, p: float) -> float:
        data = self.latencies_ms
        if not data:
            return 0.0
        return data[min(len(data) - 1, int(round(p / 100 * (len(data) - 1))))]

    @property
    def throughput(self) -> float:
        return self.commits / self.seconds if self.seconds else 0.0

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else 0.0


def _free_repository_name(client: Client, base: str) -> str:
    existing = {r.repository_id for r in client.list_repositories()}
    name, n = base, 1
    while name in existing:
        n += 1
        name = f"{base}-{n}"
    return name


def _agent(
    target: str,
    repository: str,
    index: int,
    commits: int,
    report: AgentReport,
    start: threading.Barrier,
    progress: Callable[[], None],
    blunder: int = -1,
) -> None:
    """One agent's session; at commit ``blunder`` it first pushes a syntax error and waits for the verdict."""
    rng = random.Random(index)
    with Client(target, agent=report.agent) as client:
        session = client.create_session(
            repository,
            model="demo-model-1",
            task=f"Agent {index}: grow the calculator",
            metadata={"demo": "true"},
        )
        report.session_id, report.branch = session.session_id, session.branch_id
        head = session.base_commit_id
        module = f"calc/agent{index}.py"
        draft = f"calc/agent{index}_draft.py"
        body = f'"""Helpers written by {report.agent}."""\n'
        start.wait()
        for n in range(commits):
            if n % 10 == 5:  # a step that changes no code: the agent reads and thinks
                client.record_step(
                    repository,
                    session.session_id,
                    vcs.StepInput(
                        thought="Run the tests before the next edit.",
                        action="run_tests",
                        arguments_json='{"cmd": "pytest -q"}',
                        observation="2 passed",
                        input_tokens=rng.randint(200, 900),
                        output_tokens=rng.randint(10, 60),
                        cost_usd=0.0004,
                        latency_ms=rng.randint(200, 900),
                    ),
                )
                report.steps += 1
            if n == blunder:  # a slip the pipeline catches: the agent waits for the verdict, then fixes it
                # The draft goes to a file of its own: a commit whose file does not parse, or whose parent's
                # did not, is diffed line by line, so in the module it would hide f{n} from the entity history.
                t0 = time.perf_counter()
                broken = client.commit(
                    repository,
                    session.branch_id,
                    {draft: f"def f{n}(x):\n    return x *\n"},
                    f"Add f{n} (draft)",
                    expected_head=head,
                    session=session.session_id,
                    wait_for_verdict=True,
                )
                report.commits += 1
                report.steps += 1
                head = broken.commit.commit_id
                if broken.run is not None:
                    report.verdicts.append((f"f{n} with a syntax error", broken.run, (time.perf_counter() - t0) * 1000))
            body += f'\n\ndef f{n}(x):\n    """Step {n} of {report.agent}."""\n    return x * {n + 1} + {index}\n'
            changes: dict[str, bytes | str | None] = {module: body}
            if n == blunder:  # the fix: f{n} where it belongs, the broken draft gone
                changes[draft] = None
            if n == 0:  # every agent also appends an operation to the shared module: the same spot in the file
                changes["calc/ops.py"] = PROJECT["calc/ops.py"] + (
                    f'\n\ndef op{index}(a, b):\n    """Added by {report.agent}."""\n    return a * {index} + b\n'
                )
            if n % 7 == 3 or n == commits - 1:
                changes[f"tests/test_agent{index}.py"] = (
                    f"from calc.agent{index} import f{n}\n\n\ndef test_f{n}():\n    assert f{n}(1) == {n + 1 + index}\n"
                )
            t0 = time.perf_counter()
            result = client.commit(
                repository,
                session.branch_id,
                changes,
                f"Add f{n} to {module}",
                expected_head=head,
                session=session.session_id,
                wait_for_verdict=n == blunder,
                step=vcs.StepInput(
                    thought=rng.choice(_THOUGHTS),
                    action="edit_file",
                    arguments_json=f'{{"path": "{module}", "function": "f{n}"}}',
                    observation="file written",
                    input_tokens=rng.randint(500, 3000),
                    output_tokens=rng.randint(50, 400),
                    cost_usd=round(rng.uniform(0.001, 0.01), 5),
                    latency_ms=rng.randint(300, 3000),
                ),
            )
            if n == blunder and result.run is not None:
                report.verdicts.append((f"f{n} fixed", result.run, (time.perf_counter() - t0) * 1000))
            else:
                report.latencies_ms.append((time.perf_counter() - t0) * 1000)
            head = result.commit.commit_id
            report.commits += 1
            report.steps += 1
            progress()
        client.end_session(repository, session.session_id, "succeeded", f"added {commits} functions")


def run_demo(
    target: str, *, agents: int = 8, commits: int = 50, progress: Callable[[], None] = lambda: None
) -> DemoReport:
    """Seed a repository, run ``agents`` agents with ``commits`` commits each in parallel, report."""
    with Client(target, agent="demo-operator") as client:
        repository = _free_repository_name(client, "demo")
        repo = client.create_repository(repository, description="trellis demo: a small Python project")
        seed = client.commit(
            repository, repo.default_branch, PROJECT, "Seed the calc project", expected_head=repo.head_commit_id
        ).commit.commit_id
    reports = [AgentReport(agent=f"agent-{i + 1}", session_id="", branch="") for i in range(agents)]
    barrier = threading.Barrier(agents + 1)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            progress()

    def work(i: int) -> None:
        try:
            _agent(
                target,
                repository,
                i + 1,
                commits,
                reports[i],
                barrier,
                tick,
                blunder=commits // 2 if i + 1 == min(2, agents) else -1,
            )
        except BaseException as exc:  # reported after join
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(i,), name=f"demo-agent-{i + 1}") for i in range(agents)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    report = DemoReport(repository, reports, seconds, seed)
    with Client(target, agent="demo-operator", timeout=300) as client:
        latest: dict[str, ci.Run] = {}
        for run in client.list_runs(repository):  # newest first
            latest.setdefault(run.branch, run)
        report.branch_runs = {
            a.branch: client.wait_run(repository, latest[a.branch].run_id, timeout=300)
            for a in reports
            if a.branch in latest
        }
        report.merge = merge_branches(client, repository, [a.branch for a in reports])
    return report


def _line_merge_conflicts(base: bytes, ours: bytes, theirs: bytes) -> bool:
    """Whether a line-level three-way merge (diff3, as ``git merge-file``) conflicts."""
    import merge3

    merged = merge3.Merge3(base.splitlines(True), ours.splitlines(True), theirs.splitlines(True))
    return any(region[0] == "conflict" for region in merged.merge_regions())


def merge_branches(client: Client, repository: str, branches: list[str], *, target: str = "main") -> MergeReport:
    """Merge each branch into ``target`` in turn; note which merges a line merge would have refused."""
    report = MergeReport()
    seed = client.read_file(repository, "calc/ops.py", target).content
    for branch in branches:
        ours = client.read_file(repository, "calc/ops.py", target).content
        theirs = client.read_file(repository, "calc/ops.py", branch).content
        result = client.merge(repository, target, branch, message=f"Merge {branch}")
        if not result.clean:
            report.conflicts.append((branch, len(result.conflicts)))
            continue
        report.merged.append((branch, result.strategy))
        if result.strategy != "fast_forward" and _line_merge_conflicts(seed, ours, theirs):
            report.line_merge_refused.append(branch)
    runs = [r for r in client.list_runs(repository) if r.branch == target]
    if runs:
        report.main_run = client.wait_run(repository, runs[0].run_id, timeout=300)
    return report
