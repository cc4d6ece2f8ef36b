"""Trellis version-control core: bare git repositories on pygit2.

Plain library: no gRPC, no environment, no printing. Start at :class:`Store`.
"""

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
from .maintenance import LOOSE_LIMIT, Maintainer, MaintenanceFailed, MaintenanceResult, maintain
from .model import (
    Branch,
    Change,
    ChangedFiles,
    Commit,
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
)
from .objects import parse_trailers
from .reads import blob_id
from .redaction import Redacted, Redactor, SecretPattern
from .store import Store

__all__ = [
    "AlreadyExists", "Branch", "Change", "ChangedFiles", "Commit", "CommitResult", "DeleteFile", "Durability",
    "FailedPrecondition", "GroupSync", "LOOSE_LIMIT", "MaintenanceFailed", "MaintenanceResult", "Maintainer",
    "SyncFunction", "blob_id", "maintain", "parse_trailers", "sync_filesystems",
    "FileContent", "Identity", "InvalidArgument", "LimitExceeded", "Limits", "MergeConflict", "MergeConflictInfo", "MergeResult", "NotFound",
    "OnStale", "Page", "PermissionDenied", "PutFile", "Redacted", "Redactor", "SecretPattern", "RenameFile", "Repository", "Session",
    "SessionStatus", "Signature", "StaleHead", "Step", "StepInput", "Store", "TreeEntry", "VcsError",
]
