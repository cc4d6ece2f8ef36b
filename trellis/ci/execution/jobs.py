"""Jobs: what an executor is asked to run, and what comes back. Plain, frozen, picklable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from ..sandbox.model import JobLimits, SandboxResult, SandboxStatus
from .environments import EnvironmentSpec

__all__ = ["JobKind", "JobLimits", "JobOutcome", "JobRequest", "TestOutcome", "TestPlan", "TestResult", "summarize"]

JobKind: TypeAlias = Literal["command", "pytest"]
TestResult: TypeAlias = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True, slots=True)
class TestPlan:
    """How a pytest job runs its tests (see :mod:`trellis.ci.execution.pytest_plugin`).

    ``shard``: this job runs part ``k`` of ``n`` of what pytest collects (each shard collects
    its own files and the shared ones, and keeps its part). ``expected``: recorded durations
    (node id, seconds) that give files to shards and balance the parts. ``timeouts``: per-test timeouts; ``default_timeout_s`` for the tests
    not listed (0: none). ``exclude``: node ids not to run again (done before a test had to be
    killed). ``fail_fast``: stop at the first failing test. ``reused``: tests whose results are
    reused (left out before the split; a parametrised test's id leaves out all its items).
    ``only``: the selected tests (node ids relative to the workspace; a parametrised test's id
    keeps all its items), kept from what the job's own command line collects; None: all of it.
    They are never named on the command line: pytest collects a named path even when the
    project's ``collect_ignore``, ``--ignore`` or ``pytest_ignore_collect`` would skip it, and
    runs named tests in the order named. ``load_tests``: honour unittest's ``load_tests`` protocol
    (what a test module's ``load_tests`` adds becomes items under ``<module>::load_tests``).
    ``evals``: record the code exec/eval runs for the tree, except the sources with these digests
    (None: record nothing). ``until``: run only what is collected up to the last of these node ids
    (a failure's collection prefix, :mod:`trellis.ci.execution.confirm`; None: no such limit).
    """

    __test__ = False  # a value, not a test class to collect

    shard: tuple[int, int] = (0, 1)
    expected: tuple[tuple[str, float], ...] = ()
    timeouts: tuple[tuple[str, float], ...] = ()
    default_timeout_s: float = 0.0
    exclude: tuple[str, ...] = ()
    fail_fast: bool = False
    reused: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    load_tests: bool = False
    evals: tuple[str, ...] | None = None
    until: tuple[str, ...] | None = None

    def to_json(self, stream: str) -> dict[str, object]:
        return {
            "shard": list(self.shard),
            "expected": dict(self.expected),
            "timeouts": dict(self.timeouts),
            "default_timeout": self.default_timeout_s,
            "exclude": list(self.exclude),
            "fail_fast": self.fail_fast,
            "reused": list(self.reused),
            "only": None if self.only is None else list(self.only),
            "load_tests": self.load_tests,
            "evals": None if self.evals is None else list(self.evals),
            "until": None if self.until is None else list(self.until),
            "stream": stream,
        }


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job: run ``command`` (kind "command", a shell line) or pytest with ``pytest_args``
    (kind "pytest": node ids or paths, then flags) in a workspace holding ``tree_id`` of the
    repository at ``repo_path``, under ``limits``, with ``env`` (pairs) as its environment.
    ``tests``: the shard, timeouts and fail-fast of a pytest job (None: one shard, no timeouts).
    ``environment``: the project's test dependencies (None: the server's own Python).
    ``tool_caches``: directories of the tree kept between the jobs of ``cache_scope``
    (:mod:`trellis.ci.execution.tool_caches`)."""

    job_id: str
    repo_path: str
    tree_id: str
    command: str = ""
    env: tuple[tuple[str, str], ...] = ()
    limits: JobLimits = field(default_factory=JobLimits)
    network: bool = False
    kind: JobKind = "command"
    pytest_args: tuple[str, ...] = ()
    tests: TestPlan | None = None
    environment: EnvironmentSpec | None = None
    tool_caches: tuple[str, ...] = ()
    cache_scope: str = ""
    commit_id: str = ""  # the commit whose tree runs: a version from git is described from it

    def __post_init__(self) -> None:
        if self.kind not in ("command", "pytest"):
            raise ValueError(f"unknown job kind {self.kind!r}")
        if self.kind == "command" and not self.command.strip():
            raise ValueError(f"job {self.job_id}: a command job needs a command")


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """One test of a pytest job, as its junit report tells it."""

    __test__ = False  # a value, not a test class to collect

    nodeid: str
    outcome: TestResult
    duration_s: float
    message: str = ""
    index: int = -1  # position within its file in pytest's collection (orders the results of several shards)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended: the sandbox's result, plus per-test outcomes for pytest jobs.

    ``setup_s`` is the time spent getting the workspace ready (included in no other field);
    ``executor`` says where the job ran ("local", "ray:<node id>").
    """

    job_id: str
    status: SandboxStatus
    exit_code: int | None
    output: bytes
    duration_s: float
    cpu_s: float
    max_rss: int
    isolation: tuple[str, ...]
    reason: str | None = None
    output_size: int = 0
    tests: tuple[TestOutcome, ...] = ()
    summary: str = ""
    setup_s: float = 0.0
    executor: str = ""
    collected: int = -1  # items pytest collected before sharding (-1: unknown)
    collection: str = ""  # digest of what the shards of one run split alike (equal in every shard)
    evals: tuple[str, ...] = ()  # the code exec/eval ran for the tree: the plugin's stream lines (JSON)
    # failing tests that passed after their collection prefix: (node id, how many tests ran before it)
    order_dependent: tuple[tuple[str, int], ...] = ()
    # what the verdict must say besides the tests' counts: "compiled extensions not built (...)"
    notes: tuple[str, ...] = ()

    @classmethod
    def from_sandbox(cls, job_id: str, result: SandboxResult, **extra: object) -> JobOutcome:
        return cls(
            job_id=job_id,
            status=result.status,
            exit_code=result.exit_code,
            output=result.output,
            duration_s=result.duration_s,
            cpu_s=result.cpu_s,
            max_rss=result.max_rss,
            isolation=result.isolation,
            reason=result.reason,
            output_size=result.output_size,
            **extra,  # type: ignore[arg-type]
        )


def summarize(tests: tuple[TestOutcome, ...]) -> str:
    """``"12 passed, 1 failed, 2 skipped"``: non-zero counts in a fixed order."""
    counts = {kind: 0 for kind in ("passed", "failed", "error", "skipped")}
    for test in tests:
        counts[test.outcome] += 1
    parts = [f"{n} {'errors' if kind == 'error' and n > 1 else kind}" for kind, n in counts.items() if n]
    return ", ".join(parts) if parts else "no tests ran"
