"""Errors raised by the query layer (index, SQL sandbox, export, imports).

Every error carries a stable machine-readable ``reason``. The classes also
derive from the matching :mod:`vcs.errors` class, so the one table in
``trellis.errors`` maps them to a status code without knowing this package::

    QueryError (vcs.VcsError)
    ├── InvalidQuery          (+ vcs.InvalidArgument)  the SQL cannot run here
    │   ├── QuerySyntaxError      QUERY_SYNTAX: does not parse or bind (unknown table, column…)
    │   ├── QueryNotAllowed       QUERY_NOT_READ_ONLY, QUERY_MULTIPLE_STATEMENTS,
    │   │                         QUERY_FORBIDDEN_FUNCTION, QUERY_FORBIDDEN_TABLE,
    │   │                         QUERY_TOO_LONG, QUERY_TOO_DEEP, QUERY_EMPTY
    │   ├── QueryParamError       QUERY_PARAM_COUNT, QUERY_PARAM_NAME, QUERY_PARAM_TYPE: the bind
    │   │                         parameters do not match the statement's placeholders
    │   └── QueryFailed           QUERY_FAILED: a run-time error (division by zero, bad cast…)
    ├── QueryTimeout          (+ vcs.LimitExceeded)    QUERY_TIMEOUT: interrupted at the time limit
    ├── QueryResourceExhausted (+ vcs.LimitExceeded)   QUERY_OUT_OF_MEMORY
    ├── RepositoryNotIndexed  (+ vcs.NotFound)         REPOSITORY_NOT_FOUND
    ├── TrajectoryFormatError (+ vcs.InvalidArgument)  TRAJECTORY_INVALID
    ├── PatchError            (+ vcs.InvalidArgument)  PATCH_INVALID
    │   └── PatchDoesNotApply     PATCH_DOES_NOT_APPLY
    └── HistoryImportError    (+ vcs.FailedPrecondition) IMPORT_FAILED, IMPORT_SOURCE_NOT_FOUND

``QueryTimeout`` maps to RESOURCE_EXHAUSTED through ``LimitExceeded``; the
server's table should list it before ``LimitExceeded`` to answer
DEADLINE_EXCEEDED instead.
"""

from __future__ import annotations

from vcs import errors as vcs_errors

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


class QueryError(vcs_errors.VcsError):
    """Base class of every error the query layer raises on purpose."""

    reason = "QUERY_ERROR"


class InvalidQuery(QueryError, vcs_errors.InvalidArgument):
    """The SQL cannot run in the sandbox; the message says why."""

    reason = "QUERY_INVALID"


class QuerySyntaxError(InvalidQuery):
    reason = "QUERY_SYNTAX"


class QueryNotAllowed(InvalidQuery):
    """A statement, function or table the sandbox refuses (``reason`` says which rule)."""

    reason = "QUERY_NOT_READ_ONLY"


class QueryParamError(InvalidQuery):
    """Bind parameters that do not fit the statement (``reason`` says how; ``parameter`` names one)."""

    reason = "QUERY_PARAM_COUNT"


class QueryFailed(InvalidQuery):
    reason = "QUERY_FAILED"


class QueryTimeout(QueryError, vcs_errors.LimitExceeded):
    reason = "QUERY_TIMEOUT"


class QueryResourceExhausted(QueryError, vcs_errors.LimitExceeded):
    reason = "QUERY_OUT_OF_MEMORY"


class RepositoryNotIndexed(QueryError, vcs_errors.NotFound):
    reason = "REPOSITORY_NOT_FOUND"


class TrajectoryFormatError(QueryError, vcs_errors.InvalidArgument):
    reason = "TRAJECTORY_INVALID"


class PatchError(QueryError, vcs_errors.InvalidArgument):
    reason = "PATCH_INVALID"


class PatchDoesNotApply(PatchError):
    reason = "PATCH_DOES_NOT_APPLY"


class HistoryImportError(QueryError, vcs_errors.FailedPrecondition):
    reason = "IMPORT_FAILED"
