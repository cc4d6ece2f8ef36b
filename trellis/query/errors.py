"""Errors raised by the query layer (index, SQL sandbox, export, imports).

Every error carries a stable machine-readable ``reason``, a message and
``metadata``. The one table in ``trellis.errors`` maps these classes to
status codes (the code each is sent with is shown here)::

    QueryError
    ├── InvalidQuery          INVALID_ARGUMENT     the SQL cannot run here
    │   ├── QuerySyntaxError      QUERY_SYNTAX: does not parse or bind (unknown table, column…)
    │   ├── QueryNotAllowed       QUERY_NOT_READ_ONLY, QUERY_MULTIPLE_STATEMENTS,
    │   │                         QUERY_FORBIDDEN_FUNCTION, QUERY_FORBIDDEN_TABLE,
    │   │                         QUERY_TOO_LONG, QUERY_TOO_DEEP, QUERY_EMPTY
    │   ├── QueryParamError       QUERY_PARAM_COUNT, QUERY_PARAM_NAME, QUERY_PARAM_TYPE: the bind
    │   │                         parameters do not match the statement's placeholders
    │   └── QueryFailed           QUERY_FAILED: a run-time error (division by zero, bad cast…)
    ├── QueryTimeout          DEADLINE_EXCEEDED    QUERY_TIMEOUT: interrupted at the time limit
    ├── QueryResourceExhausted RESOURCE_EXHAUSTED  QUERY_OUT_OF_MEMORY
    ├── RepositoryNotIndexed  NOT_FOUND            REPOSITORY_NOT_FOUND
    ├── TrajectoryFormatError INVALID_ARGUMENT     TRAJECTORY_INVALID
    ├── PatchError            INVALID_ARGUMENT     PATCH_INVALID
    │   └── PatchDoesNotApply     PATCH_DOES_NOT_APPLY
    └── HistoryImportError    FAILED_PRECONDITION  IMPORT_FAILED, IMPORT_SOURCE_NOT_FOUND
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "HistoryImportError",
    "InvalidQuery",
    "PatchDoesNotApply",
    "PatchError",
    "QueryError",
    "QueryFailed",
    "QueryNotAllowed",
    "QueryParamError",
    "QueryResourceExhausted",
    "QuerySyntaxError",
    "QueryTimeout",
    "RepositoryNotIndexed",
    "TrajectoryFormatError",
]


class QueryError(Exception):
    """Base class of every error the query layer raises on purpose."""

    reason: str = "QUERY_ERROR"
    reasons: ClassVar[tuple[str, ...]] = ()  # the other stable reasons this class is raised with

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata


class InvalidQuery(QueryError):
    """The SQL cannot run in the sandbox; the message says why."""

    reason = "QUERY_INVALID"


class QuerySyntaxError(InvalidQuery):
    reason = "QUERY_SYNTAX"


class QueryNotAllowed(InvalidQuery):
    """A statement, function or table the sandbox refuses (``reason`` says which rule)."""

    reason = "QUERY_NOT_READ_ONLY"
    reasons = (
        "QUERY_MULTIPLE_STATEMENTS",
        "QUERY_FORBIDDEN",
        "QUERY_FORBIDDEN_FUNCTION",
        "QUERY_FORBIDDEN_TABLE",
        "QUERY_TOO_LONG",
        "QUERY_TOO_DEEP",
        "QUERY_EMPTY",
    )


class QueryParamError(InvalidQuery):
    """Bind parameters that do not fit the statement (``reason`` says how; ``parameter`` names one)."""

    reason = "QUERY_PARAM_COUNT"
    reasons = ("QUERY_PARAM_NAME", "QUERY_PARAM_TYPE")


class QueryFailed(InvalidQuery):
    reason = "QUERY_FAILED"


class QueryTimeout(QueryError):
    reason = "QUERY_TIMEOUT"


class QueryResourceExhausted(QueryError):
    reason = "QUERY_OUT_OF_MEMORY"


class RepositoryNotIndexed(QueryError):
    reason = "REPOSITORY_NOT_FOUND"


class TrajectoryFormatError(QueryError):
    reason = "TRAJECTORY_INVALID"
    reasons = ("TRAJECTORY_UNREADABLE",)


class PatchError(QueryError):
    reason = "PATCH_INVALID"
    reasons = ("PATCH_BINARY",)


class PatchDoesNotApply(PatchError):
    reason = "PATCH_DOES_NOT_APPLY"


class HistoryImportError(QueryError):
    reason = "IMPORT_FAILED"
    reasons = ("IMPORT_SOURCE_NOT_FOUND",)
