"""Errors raised by verification (the ``ci`` package).

Every error carries a stable machine-readable ``reason``, a message that says
what to do next and ``metadata``. ``trellis.errors`` is the one place that
maps these classes to gRPC status codes; the errors under
:class:`VerificationError` answer requests, the others stay inside the
engine (a job's result says what happened)::

    CiError
    ├── VerificationError          what a request to the engine is refused with
    │   ├── InvalidRequest         INVALID_PIPELINE (a pipeline sent to be set), UNKNOWN_STAGE, INVALID_VERDICT
    │   ├── PipelineNotFound       PIPELINE_NOT_FOUND: no pipeline applies to the revision
    │   ├── RunNotFound            RUN_NOT_FOUND, JOB_NOT_FOUND
    │   ├── Refused                the state does not allow it: INVALID_PIPELINE (the commit's own),
    │   │   │                      VERDICT_FINAL, NOT_EXTERNAL, NOT_READY
    │   │   └── GateClosed         PROTECTED_BRANCH, GATE_PENDING, GATE_FAILED (metadata: run_id)
    │   └── TooManyRuns            TOO_MANY_RUNS: the server runs as many as it may at once
    ├── PipelineError (ValueError) INVALID_PIPELINE: a definition that is not valid (ci.pipeline.model)
    │   ├── PipelineConfigError        a trellis.toml that is not a valid pipeline: source, field, detail
    │   └── UnknownStage               UNKNOWN_STAGE
    ├── GlobError, TemplateError (ValueError)   a bad glob or command template (become PipelineConfigError)
    ├── SandboxError               SANDBOX_ERROR: a job's sandbox could not start
    ├── WorkspaceError             WORKSPACE_ERROR, TREE_NOT_FOUND: a job's workspace could not be prepared
    ├── EnvironmentBuildError      ENVIRONMENT_FAILED: a pytest stage's environment could not be built
    └── ExecutorUnavailable        EXECUTOR_UNAVAILABLE: the Ray executor cannot start
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CiError",
    "GateClosed",
    "InvalidRequest",
    "PipelineNotFound",
    "Refused",
    "RunNotFound",
    "TooManyRuns",
    "VerificationError",
]


class CiError(Exception):
    """Base class of every error the verification package raises on purpose."""

    reason: str = "CI_ERROR"
    reasons: ClassVar[tuple[str, ...]] = ()  # the other stable reasons this class is raised with

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata

    def __str__(self) -> str:
        return self.message


class VerificationError(CiError):
    """A request to the verification engine that it refuses; sent to the client with its reason."""


class InvalidRequest(VerificationError):
    reasons: ClassVar[tuple[str, ...]] = ("INVALID_PIPELINE", "UNKNOWN_STAGE", "INVALID_VERDICT")


class PipelineNotFound(VerificationError):
    reason = "PIPELINE_NOT_FOUND"


class RunNotFound(VerificationError):
    reason = "RUN_NOT_FOUND"
    reasons: ClassVar[tuple[str, ...]] = ("JOB_NOT_FOUND",)


class Refused(VerificationError):
    reasons: ClassVar[tuple[str, ...]] = ("INVALID_PIPELINE", "VERDICT_FINAL", "NOT_EXTERNAL", "NOT_READY")


class GateClosed(Refused):
    reason = "GATE_PENDING"
    reasons: ClassVar[tuple[str, ...]] = ("GATE_FAILED", "PROTECTED_BRANCH")


class TooManyRuns(VerificationError):
    reason = "TOO_MANY_RUNS"
