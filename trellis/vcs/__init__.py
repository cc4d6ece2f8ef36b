"""Trellis version-control core: bare git repositories on pygit2.

Plain library: no gRPC, no environment, no printing. Start at :class:`Store`.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .durability import Durability, GroupSync, SyncFunction, sync_filesystems
    from .errors import (
        AlreadyExists,
        FailedPrecondition,
        InvalidArgument,
        LimitExceeded,
        MergeConflict,
        NotFound,
        PermissionDenied,
        StaleHead,
        VcsError,
    )
    from .linediff import Hunk, LineChanges, line_changes, unified_diff
    from .maintenance import LOOSE_LIMIT, Maintainer, MaintenanceFailed, MaintenanceResult, WriterHolds, maintain
    from .model import (
        Branch,
        Change,
        ChangedFiles,
        Commit,
        CommitDelta,
        CommitResult,
        DeleteFile,
        FileContent,
        Identity,
        Limits,
        MergeConflictInfo,
        MergeResult,
        OnStale,
        Page,
        PutFile,
        RenameFile,
        Repository,
        Session,
        SessionStatus,
        Signature,
        Step,
        StepInput,
        TreeEntry,
        WrittenFile,
    )
    from .objects import parse_trailers, trust_object_links
    from .reader import BlobBytes, FileDelta, Head, RefTarget, RepositoryReader, cache_blobs, limit_object_cache
    from .reads import TreeReader, blob_id
    from .redaction import Redacted, Redactor, SecretPattern
    from .store import Store

# Each name loads its module on first use: a command that needs the model or one read of the refs does not pay
# for pygit2 and the whole store (``trellis query`` on a local data directory, ``trellis --help``).
_LAZY = {
    "AlreadyExists": "errors",
    "BlobBytes": "reader",
    "Branch": "model",
    "Change": "model",
    "ChangedFiles": "model",
    "Commit": "model",
    "CommitDelta": "model",
    "CommitResult": "model",
    "DeleteFile": "model",
    "Durability": "durability",
    "FailedPrecondition": "errors",
    "FileContent": "model",
    "FileDelta": "reader",
    "GroupSync": "durability",
    "Head": "reader",
    "Hunk": "linediff",
    "Identity": "model",
    "InvalidArgument": "errors",
    "LOOSE_LIMIT": "maintenance",
    "LimitExceeded": "errors",
    "LineChanges": "linediff",
    "Limits": "model",
    "Maintainer": "maintenance",
    "MaintenanceFailed": "maintenance",
    "MaintenanceResult": "maintenance",
    "MergeConflict": "errors",
    "MergeConflictInfo": "model",
    "MergeResult": "model",
    "NotFound": "errors",
    "OnStale": "model",
    "Page": "model",
    "PermissionDenied": "errors",
    "PutFile": "model",
    "Redacted": "redaction",
    "Redactor": "redaction",
    "RefTarget": "reader",
    "RenameFile": "model",
    "Repository": "model",
    "RepositoryReader": "reader",
    "SecretPattern": "redaction",
    "Session": "model",
    "SessionStatus": "model",
    "Signature": "model",
    "StaleHead": "errors",
    "Step": "model",
    "StepInput": "model",
    "Store": "store",
    "SyncFunction": "durability",
    "TreeEntry": "model",
    "WrittenFile": "model",
    "TreeReader": "reads",
    "VcsError": "errors",
    "WriterHolds": "maintenance",
    "blob_id": "reads",
    "cache_blobs": "reader",
    "limit_object_cache": "reader",
    "maintain": "maintenance",
    "parse_trailers": "objects",
    "sync_filesystems": "durability",
    "trust_object_links": "objects",
    "line_changes": "linediff",
    "unified_diff": "linediff",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trellis.vcs' has no attribute {name!r}")


__all__ = [
    "AlreadyExists",
    "BlobBytes",
    "Branch",
    "Change",
    "ChangedFiles",
    "Commit",
    "CommitDelta",
    "CommitResult",
    "DeleteFile",
    "Durability",
    "FailedPrecondition",
    "GroupSync",
    "Hunk",
    "LOOSE_LIMIT",
    "LineChanges",
    "MaintenanceFailed",
    "MaintenanceResult",
    "Maintainer",
    "SyncFunction",
    "WriterHolds",
    "blob_id",
    "cache_blobs",
    "limit_object_cache",
    "maintain",
    "parse_trailers",
    "sync_filesystems",
    "trust_object_links",
    "line_changes",
    "unified_diff",
    "FileContent",
    "FileDelta",
    "Head",
    "Identity",
    "InvalidArgument",
    "LimitExceeded",
    "Limits",
    "MergeConflict",
    "MergeConflictInfo",
    "MergeResult",
    "NotFound",
    "OnStale",
    "Page",
    "PermissionDenied",
    "PutFile",
    "Redacted",
    "Redactor",
    "SecretPattern",
    "RefTarget",
    "RenameFile",
    "RepositoryReader",
    "Repository",
    "Session",
    "SessionStatus",
    "Signature",
    "StaleHead",
    "Step",
    "StepInput",
    "Store",
    "TreeEntry",
    "TreeReader",
    "VcsError",
    "WrittenFile",
]
