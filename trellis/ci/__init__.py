"""Verification: pipelines of stages run per chunk of changed code, in parallel, cached, in seconds.

A plain library (no gRPC): ``parse_pipeline`` reads ``trellis.toml``; ``plan``
fans stages out per changed file or entity; ``Verifier`` runs them through an
executor (``LocalExecutor``: warm sandboxed workers; ``RayExecutor``: Ray
tasks), answers repeated jobs from the ``ResultCache`` and keeps runs in git.
See docs/pipelines.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .pipeline.model import (
    Pipeline,
    PipelineConfigError,
    PipelineError,
    Protection,
    Selectors,
    Stage,
    StageLimits,
    UnknownStage,
)
from .pipeline.plan import ChangedFile, Chunk, CommitChanges, PlannedJob, dependencies, plan
from .pipeline.toml import format_pipeline, parse_pipeline
from .runs import JobResult, Run, TestCase, Verdict
from .selection.index import (
    Change,
    ChangedEntity,
    ChangedPath,
    FactCache,
    Selection,
    TestIndex,
    changes_from_diff,
    missed_failures,
)

__all__ = [
    "Change",
    "CommitChanges",
    "ChangedEntity",
    "ChangedFile",
    "ChangedPath",
    "Chunk",
    "Executor",
    "ExecutorUnavailable",
    "FactCache",
    "JobLimits",
    "JobOutcome",
    "JobRequest",
    "JobResult",
    "StageLimits",
    "LocalExecutor",
    "Pipeline",
    "PipelineConfigError",
    "PipelineError",
    "PlannedJob",
    "Protection",
    "RayExecutor",
    "ResultCache",
    "Run",
    "SandboxError",
    "SandboxResult",
    "Selection",
    "Selectors",
    "Stage",
    "TestCase",
    "TestIndex",
    "UnknownStage",
    "Verdict",
    "Verifier",
    "WorkspacePool",
    "changes_from_diff",
    "dependencies",
    "format_pipeline",
    "missed_failures",
    "parse_pipeline",
    "plan",
    "run_sandboxed",
]

if TYPE_CHECKING:  # what _LAZY names, for the type checker (else every one of them is Any)
    from .engine import Verifier
    from .engine.cache import ResultCache
    from .execution import Executor, ExecutorUnavailable, LocalExecutor, RayExecutor
    from .execution.jobs import JobLimits, JobOutcome, JobRequest
    from .execution.workspace import WorkspacePool
    from .sandbox import SandboxError, SandboxResult, run_sandboxed

_LAZY = {
    "Verifier": ("engine", "Verifier"),
    "Executor": ("execution", "Executor"),
    "ResultCache": ("engine.cache", "ResultCache"),
    "LocalExecutor": ("execution", "LocalExecutor"),
    "RayExecutor": ("execution", "RayExecutor"),
    "ExecutorUnavailable": ("execution", "ExecutorUnavailable"),
    "JobLimits": ("execution.jobs", "JobLimits"),
    "JobOutcome": ("execution.jobs", "JobOutcome"),
    "JobRequest": ("execution.jobs", "JobRequest"),
    "SandboxError": ("sandbox", "SandboxError"),
    "SandboxResult": ("sandbox", "SandboxResult"),
    "run_sandboxed": ("sandbox", "run_sandboxed"),
    "WorkspacePool": ("execution.workspace", "WorkspacePool"),
}


def __getattr__(name: str) -> Any:
    """The engine and executors load on first use (the CLI's client commands never need them)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'trellis.ci' has no attribute {name!r}")
