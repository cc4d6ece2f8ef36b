"""The one table between domain errors and gRPC status codes.

Each domain package owns its errors, each tree under one base with a stable
``reason``, a message and ``metadata`` (the trees are drawn in each
``errors.py``)::

    vcs.VcsError              the version-control core
    ci.errors.CiError         verification; only VerificationError answers requests
    query.errors.QueryError   the index, SQL sandbox, patches and imports
    semantic_diff.errors.SemanticDiffError   misuse of the diff API (never sent)

and this layer's own, under :class:`TrellisError` (no package's base)::

    TrellisError              a status no package's class stands for (INTERNAL, UNKNOWN)
    ├── Unauthenticated       UNAUTHENTICATED: no token, an unknown or revoked one
    ├── Unavailable           UNAVAILABLE: no server answered, an index process did not
    ├── Unimplemented         UNIMPLEMENTED
    ├── DeadlineExceeded      DEADLINE_EXCEEDED
    ├── StorageFull           RESOURCE_EXHAUSTED (DISK_FULL): the server's disk is full
    ├── NotRouted             (also vcs.NotFound) no server owns the repository; never sent
    └── InvalidRoutes         (also vcs.InvalidArgument) the routing table is unreadable; never sent

Server side, :func:`status_for` turns a domain exception into a status code,
a message and a ``google.rpc.ErrorInfo`` (stable ``reason`` plus metadata).
Client side, :func:`error_from_rpc` turns the status back into the same
domain exception class, from the reason (:data:`REASONS`, built from every
sent class's ``reason`` and ``reasons``), else from the status code; so SDK
callers catch ``vcs.StaleHead``, ``ci.errors.GateClosed``,
``query.errors.QuerySyntaxError`` and friends; :data:`DOMAIN_ERRORS` catches
every one of them.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from trellis.ci import errors as ci_errors
from trellis.query import errors as query_errors
from trellis.semantic_diff import errors as semantic_diff_errors
from trellis.vcs import errors as vcs_errors

__all__ = [
    "DOMAIN",
    "DOMAIN_ERRORS",
    "REASONS",
    "SENT_ERRORS",
    "DomainError",
    "InvalidRoutes",
    "NotRouted",
    "StorageFull",
    "TrellisError",
    "Unauthenticated",
    "Unavailable",
    "error_from_rpc",
    "error_from_unexpected",
    "rich_status",
    "status_code",
    "status_for",
]

DOMAIN = "trellis.dev"


class TrellisError(Exception):
    """Base of the errors the composition root raises itself (auth, transport, routing, a full disk), and the
    class the SDK raises for a status no package's class stands for. Like every package's base: a stable
    ``reason``, a ``message`` and ``metadata``."""

    reason: str = "TRELLIS_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata


DomainError = (
    vcs_errors.VcsError
    | ci_errors.CiError
    | query_errors.QueryError
    | semantic_diff_errors.SemanticDiffError
    | TrellisError
)
# Every error a package (or this layer) raises on purpose: caught, mapped to a status (INTERNAL when the
# table has no row for it) and sent with its reason, never logged as a server fault.
DOMAIN_ERRORS: tuple[
    type[vcs_errors.VcsError],
    type[ci_errors.CiError],
    type[query_errors.QueryError],
    type[semantic_diff_errors.SemanticDiffError],
    type[TrellisError],
] = (
    vcs_errors.VcsError,
    ci_errors.CiError,
    query_errors.QueryError,
    semantic_diff_errors.SemanticDiffError,
    TrellisError,
)
# The errors that answer requests; the others stay where they happen (a job's result, the server's start).
SENT_ERRORS: tuple[type[Exception], ...] = (
    vcs_errors.VcsError,
    ci_errors.VerificationError,
    query_errors.QueryError,
    TrellisError,
)


class Unauthenticated(TrellisError):
    reason = "UNAUTHENTICATED"


class Unavailable(TrellisError):
    reason = "UNAVAILABLE"


class Unimplemented(TrellisError):
    reason = "UNIMPLEMENTED"


class DeadlineExceeded(TrellisError):
    reason = "DEADLINE_EXCEEDED"


class NotRouted(TrellisError, vcs_errors.NotFound):
    """No server owns the repository: the routing table (trellis.routing) has no route for it. Raised by the
    SDK and the CLI before any call; no server sends it."""

    reason = "REPOSITORY_NOT_ROUTED"


class InvalidRoutes(TrellisError, vcs_errors.InvalidArgument):
    """The routing table cannot be read or is not of its form (trellis.routing)."""

    reason = "INVALID_ROUTES"


class StorageFull(TrellisError):
    """The server's disk (or its quota) is full: the request was not acknowledged; retry once space is freed."""

    reason = "DISK_FULL"


def error_from_unexpected(exc: BaseException) -> DomainError | None:
    """The domain error for a non-domain exception with a clear meaning, or None (then it is INTERNAL).

    A full disk comes from below the domain in several shapes (see
    :func:`trellis.vcs.errors.out_of_space`); an RPC in the contract that has no
    implementation yet raises the generated servicer's ``NotImplementedError``.
    """
    if isinstance(exc, NotImplementedError):
        return Unimplemented("this RPC is not implemented by this server yet", reason="UNIMPLEMENTED")
    if vcs_errors.out_of_space(exc):
        return StorageFull(
            "the server ran out of disk space and did not complete the request: free space in its data "
            "directory, then retry (a retry with the same request_id completes the original request "
            "instead of repeating it)",
            reason="DISK_FULL",
        )
    return None


# Most specific first: the first matching class wins.
_TABLE: list[tuple[type[Exception], grpc.StatusCode]] = [
    (query_errors.QueryTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (query_errors.InvalidQuery, grpc.StatusCode.INVALID_ARGUMENT),
    (query_errors.TrajectoryFormatError, grpc.StatusCode.INVALID_ARGUMENT),
    (query_errors.PatchError, grpc.StatusCode.INVALID_ARGUMENT),
    (query_errors.RepositoryNotIndexed, grpc.StatusCode.NOT_FOUND),
    (query_errors.HistoryImportError, grpc.StatusCode.FAILED_PRECONDITION),
    (query_errors.QueryResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ci_errors.InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (ci_errors.PipelineNotFound, grpc.StatusCode.NOT_FOUND),
    (ci_errors.RunNotFound, grpc.StatusCode.NOT_FOUND),
    (ci_errors.Refused, grpc.StatusCode.FAILED_PRECONDITION),
    (ci_errors.TooManyRuns, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (vcs_errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (vcs_errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (vcs_errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (vcs_errors.StaleHead, grpc.StatusCode.FAILED_PRECONDITION),
    (vcs_errors.MergeConflict, grpc.StatusCode.FAILED_PRECONDITION),
    (vcs_errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (vcs_errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (vcs_errors.LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StorageFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (Unimplemented, grpc.StatusCode.UNIMPLEMENTED),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
]

_BY_CODE: dict[grpc.StatusCode, type[vcs_errors.VcsError | TrellisError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: vcs_errors.InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: vcs_errors.InvalidArgument,
    grpc.StatusCode.NOT_FOUND: vcs_errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: vcs_errors.AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: vcs_errors.FailedPrecondition,
    grpc.StatusCode.ABORTED: vcs_errors.FailedPrecondition,
    grpc.StatusCode.PERMISSION_DENIED: vcs_errors.PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: vcs_errors.LimitExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def status_code(error_class: type[Exception]) -> grpc.StatusCode:
    """The status code every error of ``error_class`` is sent with."""
    return next((code for cls, code in _TABLE if issubclass(error_class, cls)), grpc.StatusCode.INTERNAL)


def status_for(exc: DomainError) -> tuple[grpc.StatusCode, str, str, dict[str, str]]:
    """Code, message, reason and metadata for a domain error."""
    return status_code(type(exc)), exc.message, exc.reason, dict(exc.metadata)


# The status travels in the response trailers, which gRPC caps (8 KiB by default; past 16 KiB the
# client gets RESOURCE_EXHAUSTED "metadata size exceeds hard limit" instead). Messages quote what
# the caller sent, which can be megabytes, so both are clipped.
_MAX_MESSAGE_BYTES = 1024
_MAX_METADATA_VALUE_BYTES = 512


def _clip(text: str, limit: int) -> str:
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return data.decode("utf-8")
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def rich_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str] | None = None
) -> status_pb2.Status:
    """A ``google.rpc.Status`` with one ``ErrorInfo`` detail (message and metadata values clipped)."""
    clipped = {k: _clip(v, _MAX_METADATA_VALUE_BYTES) for k, v in (metadata or {}).items()}
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=clipped)
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=code.value[0], message=_clip(message, _MAX_MESSAGE_BYTES), details=[detail])


def _error_info(status: status_pb2.Status | None) -> error_details_pb2.ErrorInfo | None:
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    return None


def _sent_classes() -> list[type[Exception]]:
    found: list[type[Exception]] = []
    todo: list[type[Exception]] = list(SENT_ERRORS)
    while todo:
        cls = todo.pop(0)
        if cls not in found:  # NotRouted is a TrellisError and a vcs.NotFound
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def _registry() -> dict[str, tuple[type[Exception], ...]]:
    """reason -> the classes that declare it (as their ``reason``, or one of their ``reasons``)."""
    table: dict[str, tuple[type[Exception], ...]] = {}
    for cls in _sent_classes():
        own = [cls.__dict__["reason"]] if isinstance(cls.__dict__.get("reason"), str) else []
        for reason in (*own, *cls.__dict__.get("reasons", ())):
            if reason not in _SHARED_REASONS:
                table[reason] = (*table.get(reason, ()), cls)
    return table


# Reasons more than one package sends (vcs raises REPOSITORY_NOT_FOUND too): rebuilt from the status code.
_SHARED_REASONS = frozenset({"REPOSITORY_NOT_FOUND"})
# The classes the SDK raises back for each reason: the one sent with the status's code (else the code decides).
REASONS: dict[str, tuple[type[Exception], ...]] = _registry()


def error_from_status(status: status_pb2.Status) -> DomainError:
    """A domain exception from a ``google.rpc.Status`` (e.g. one item of a CommitStream)."""
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
    return _build(code, status.message, _error_info(status))


def error_from_rpc(error: grpc.RpcError) -> DomainError:
    """The domain exception an RPC failure stands for, with reason and metadata restored."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = error.details() if isinstance(error, grpc.Call) else str(error)
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    return _build(code, message or "", _error_info(status))


_STATUS_CLASSES: dict[tuple[type[Exception], type[Exception]], type[Exception]] = {}


def _with_status_class(domain: type[Exception], by_code: type[vcs_errors.VcsError | TrellisError]) -> type[DomainError]:
    """``domain`` as the SDK raises it: the package's own class, and also the ``vcs`` class of its status code.

    Callers catch the package's class (``ci.errors.GateClosed``); code written when every error was a
    ``vcs`` one (``except vcs.FailedPrecondition``) keeps working.
    """
    if issubclass(domain, by_code):
        return domain
    key = (domain, by_code)
    if key not in _STATUS_CLASSES:  # (a race builds two equal classes: either is fine)
        _STATUS_CLASSES[key] = type(
            domain.__name__, (domain, by_code), {"__module__": domain.__module__, "__qualname__": domain.__qualname__}
        )
    return _STATUS_CLASSES[key]  # type: ignore[return-value]


def _build(code: grpc.StatusCode, message: str, info: error_details_pb2.ErrorInfo | None) -> DomainError:
    reason = info.reason if info is not None else code.name
    metadata = dict(info.metadata) if info is not None else {}
    if reason == vcs_errors.StaleHead.reason:
        stale = vcs_errors.StaleHead(
            metadata.get("branch", ""), metadata.get("expected_head", ""), metadata.get("actual_head", "")
        )
        stale.message = message
        stale.args = (message,)
        return stale
    if reason == vcs_errors.MergeConflict.reason:
        paths = [p for p in metadata.get("paths", "").split(",") if p]
        return vcs_errors.MergeConflict(message, paths)
    by_code = _BY_CODE.get(code, TrellisError)
    domain = next((c for c in REASONS.get(reason, ()) if status_code(c) == code), None)
    cls = _with_status_class(domain, by_code) if domain is not None else by_code
    exc = cls(message, reason=reason, **metadata)
    exc.code = code  # type: ignore[union-attr]
    return exc
