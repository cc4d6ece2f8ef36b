"""Errors raised by the version-control core.

Every error carries a stable machine-readable ``reason`` and a message that
says what to do next. ``trellis.errors`` is the one place that maps these
classes to gRPC status codes::

    VcsError
    ├── InvalidArgument        malformed name, path, revision, change set
    ├── NotFound               repository, branch, revision, path, session
    ├── AlreadyExists          repository, branch
    ├── FailedPrecondition     state does not allow the request
    │   ├── StaleHead          expected_head is not the branch head
    │   └── MergeConflict      a rebase onto the new head did not merge cleanly
    ├── PermissionDenied       the caller may not touch this resource
    └── LimitExceeded          a size or count limit was exceeded
"""

from __future__ import annotations

import errno

__all__ = [
    "AlreadyExists",
    "FailedPrecondition",
    "InvalidArgument",
    "LimitExceeded",
    "MergeConflict",
    "NotFound",
    "PermissionDenied",
    "StaleHead",
    "VcsError",
    "out_of_space",
]


class VcsError(Exception):
    """Base class of every error the version-control core raises on purpose."""

    reason: str = "VCS_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata


class InvalidArgument(VcsError):
    reason = "INVALID_ARGUMENT"


class NotFound(VcsError):
    reason = "NOT_FOUND"


class AlreadyExists(VcsError):
    reason = "ALREADY_EXISTS"


class FailedPrecondition(VcsError):
    reason = "FAILED_PRECONDITION"


class StaleHead(FailedPrecondition):
    """``expected_head`` did not match; ``actual_head`` names the real head."""

    reason = "STALE_HEAD"

    def __init__(self, branch: str, expected: str, actual: str) -> None:
        super().__init__(
            f"branch {branch!r} is at {actual}, not at the expected head {expected}; "
            "rebase your change onto it (or send on_stale=REBASE)",
            branch=branch,
            expected_head=expected,
            actual_head=actual,
        )
        self.actual_head = actual


class MergeConflict(FailedPrecondition):
    reason = "MERGE_CONFLICT"

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message, paths=",".join(paths))
        self.paths = paths


class PermissionDenied(VcsError):
    reason = "PERMISSION_DENIED"


class LimitExceeded(VcsError):
    reason = "LIMIT_EXCEEDED"


_OUT_OF_SPACE = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}


def out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the disk or a quota is full.

    Python's ``OSError`` carries the errno; libgit2's errors (``OSError`` or
    ``GitError`` without one) and DuckDB's only say it in their message. The core
    lets these through unchanged (never as a conflict or a bad argument); the
    server maps them to RESOURCE_EXHAUSTED.
    """
    seen: BaseException | None = exc
    for _ in range(5):  # the exception and its causes
        if seen is None:
            return False
        if getattr(seen, "errno", None) in _OUT_OF_SPACE or any(m in str(seen) for m in _OUT_OF_SPACE.values()):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
