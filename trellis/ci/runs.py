"""Verification runs and their job results: values, verdict rules and the JSON kept in git.

A run's JSON (``run.json`` of the record ``refs/trellis/runs/<run_id>``) is
the durable form the index rebuilds from; its fields are documented in
docs/pipelines.md ("Runs in git").
"""

from __future__ import annotations

import enum
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FINAL",
    "PIPELINE_STAGE",
    "JobResult",
    "Run",
    "TestCase",
    "Verdict",
    "new_run_id",
    "overall_verdict",
    "run_from_json",
    "run_to_json",
]


class Verdict(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


FINAL = frozenset(
    {Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.SKIPPED, Verdict.CANCELLED, Verdict.TIMED_OUT}
)

# The stage of the one job of a run whose pipeline is invalid: its summary is the error. Not a valid
# stage name (it has a dot), so it never stands for a stage of a pipeline.
PIPELINE_STAGE = "trellis.toml"


@dataclass(frozen=True, slots=True)
class TestCase:
    test_id: str
    verdict: Verdict
    duration_ms: int
    message: str


# The fallbacks of a selection of nearly every test (selection's NEARLY_ALL_RULES, which a test keeps alike).
NEARLY_ALL_PREFIXES = ("any-code:", "nearly-all:")


@dataclass(frozen=True, slots=True)
class JobResult:
    """One stage for one chunk. ``chunk`` is "" (commit scope), a path, or ``path::qualname``."""

    stage: str
    scope: str
    chunk: str
    path: str = ""
    qualname: str = ""
    verdict: Verdict = Verdict.PENDING
    cached: bool = False
    duration_ms: int = 0
    summary: str = ""
    output: bytes = b""
    exit_code: int = 0
    tests: tuple[TestCase, ...] = ()
    selected_tests: int = 0
    total_tests: int = 0
    fallback: str = ""  # a pytest stage with select = "affected" that ran every test (or nearly): "rule: why"
    start_time: float | None = None
    end_time: float | None = None
    details_url: str = ""
    reviewer: str = ""
    blocked_by: str = ""  # for a job skipped because a job it needs did not pass: that job, "stage chunk"

    @property
    def final(self) -> bool:
        return self.verdict in FINAL

    @property
    def nearly_all(self) -> bool:
        """Did the fallback run the selected tests only, nearly every test (rules ``any-code``, ``nearly-all``:
        ``trellis.ci.selection.index.NEARLY_ALL_RULES``), rather than the whole suite?"""
        return self.fallback.startswith(NEARLY_ALL_PREFIXES)

    @property
    def lets_dependents_run(self) -> bool:
        """Whether the jobs that need this one may run (and a gate may count it as good).

        Only a job that PASSED, or one skipped because the stage does not apply
        to its chunk (a file in a language the syntax check does not parse, a
        reviewer's ``skipped``). A job skipped because one of its own needs did
        not pass (``blocked_by``) holds its dependents back in turn.
        """
        return self.verdict is Verdict.PASSED or (self.verdict is Verdict.SKIPPED and not self.blocked_by)


@dataclass(frozen=True, slots=True)
class Run:
    repository: str
    run_id: str
    commit_id: str
    verdict: Verdict
    jobs: tuple[JobResult, ...]
    create_time: float
    end_time: float | None = None
    branch: str = ""
    trigger: str = "verify"
    pipeline_source: str = ""
    missed_tests: tuple[str, ...] = ()
    session_id: str = ""
    start_time: float | None = None
    stages: tuple[str, ...] = field(default=())
    base_commit_id: str = ""  # what the jobs were planned against ("" for a root commit: every file)
    pipeline_blob: str = ""  # the git blob of the pipeline's text, so a restart can resume the run

    @property
    def final(self) -> bool:
        return self.verdict in FINAL

    def job(self, stage: str, chunk: str) -> JobResult | None:
        return next((j for j in self.jobs if j.stage == stage and j.chunk == chunk), None)


def overall_verdict(jobs: tuple[JobResult, ...] | list[JobResult]) -> Verdict:
    """PASSED when every job passed or was skipped; otherwise the first bad verdict by severity."""
    verdicts = {j.verdict for j in jobs}
    if verdicts & {Verdict.PENDING, Verdict.RUNNING}:
        return Verdict.RUNNING if Verdict.RUNNING in verdicts or any(j.final for j in jobs) else Verdict.PENDING
    for bad in (Verdict.FAILED, Verdict.TIMED_OUT, Verdict.ERROR, Verdict.CANCELLED):
        if bad in verdicts:
            return bad
    return Verdict.PASSED


_id_guard = threading.Lock()
_last_ms = 0


def new_run_id() -> str:
    """Time-ordered and unique (as session ids): 12 hex digits of milliseconds, 8 random hex digits."""
    global _last_ms
    with _id_guard:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return f"{_last_ms:012x}{secrets.token_hex(4)}"


def _job_json(job: JobResult) -> dict[str, Any]:
    return {
        "stage": job.stage,
        "scope": job.scope,
        "chunk": job.chunk,
        "path": job.path,
        "qualname": job.qualname,
        "verdict": job.verdict.value,
        "cached": job.cached,
        "duration_ms": job.duration_ms,
        "summary": job.summary,
        "output": job.output.decode("utf-8", "replace"),
        "exit_code": job.exit_code,
        "tests": [[t.test_id, t.verdict.value, t.duration_ms, t.message] for t in job.tests],
        "selected_tests": job.selected_tests,
        "total_tests": job.total_tests,
        "fallback": job.fallback,
        "start_time": job.start_time,
        "end_time": job.end_time,
        "details_url": job.details_url,
        "reviewer": job.reviewer,
        "blocked_by": job.blocked_by,
    }


def _job_from(data: dict[str, Any]) -> JobResult:
    return JobResult(
        stage=data["stage"],
        scope=data["scope"],
        chunk=data["chunk"],
        path=data.get("path", ""),
        qualname=data.get("qualname", ""),
        verdict=Verdict(data["verdict"]),
        cached=bool(data.get("cached")),
        duration_ms=int(data.get("duration_ms", 0)),
        summary=data.get("summary", ""),
        output=data.get("output", "").encode(),
        exit_code=int(data.get("exit_code", 0)),
        tests=tuple(TestCase(t[0], Verdict(t[1]), int(t[2]), t[3]) for t in data.get("tests", [])),
        selected_tests=int(data.get("selected_tests", 0)),
        total_tests=int(data.get("total_tests", 0)),
        fallback=data.get("fallback", ""),
        start_time=data.get("start_time"),
        end_time=data.get("end_time"),
        details_url=data.get("details_url", ""),
        reviewer=data.get("reviewer", ""),
        blocked_by=data.get("blocked_by", ""),
    )


def run_to_json(run: Run) -> bytes:
    return json.dumps(
        {
            "version": 1,
            "repository": run.repository,
            "run_id": run.run_id,
            "commit_id": run.commit_id,
            "verdict": run.verdict.value,
            "create_time": run.create_time,
            "start_time": run.start_time,
            "end_time": run.end_time,
            "branch": run.branch,
            "trigger": run.trigger,
            "pipeline_source": run.pipeline_source,
            "missed_tests": list(run.missed_tests),
            "session_id": run.session_id,
            "stages": list(run.stages),
            "base_commit_id": run.base_commit_id,
            "pipeline_blob": run.pipeline_blob,
            "jobs": [_job_json(j) for j in run.jobs],
        },
        indent=1,
        sort_keys=True,
    ).encode()


def run_from_json(data: bytes) -> Run:
    d = json.loads(data)
    return Run(
        repository=d["repository"],
        run_id=d["run_id"],
        commit_id=d["commit_id"],
        verdict=Verdict(d["verdict"]),
        jobs=tuple(_job_from(j) for j in d["jobs"]),
        create_time=d["create_time"],
        end_time=d.get("end_time"),
        branch=d.get("branch", ""),
        trigger=d.get("trigger", "verify"),
        pipeline_source=d.get("pipeline_source", ""),
        missed_tests=tuple(d.get("missed_tests", ())),
        session_id=d.get("session_id", ""),
        start_time=d.get("start_time"),
        stages=tuple(d.get("stages", ())),
        base_commit_id=d.get("base_commit_id", ""),
        pipeline_blob=d.get("pipeline_blob", ""),
    )
