"""Plain values that cross the version-control core's interface."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeAlias, TypeVar

T = TypeVar("T")

__all__ = [
    "Branch",
    "Change",
    "ChangedFiles",
    "Commit",
    "CommitDelta",
    "CommitResult",
    "DeleteFile",
    "FileContent",
    "Identity",
    "MergeConflictInfo",
    "MergeResult",
    "Limits",
    "OnStale",
    "Page",
    "PutFile",
    "RenameFile",
    "Repository",
    "Session",
    "SessionStatus",
    "Signature",
    "Step",
    "StepInput",
    "TreeEntry",
    "WrittenFile",
]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is acting: the authenticated agent (or operator) name."""

    name: str

    @property
    def email(self) -> str:
        return f"{self.name}@agents.trellis.invalid"


@dataclass(frozen=True, slots=True)
class Limits:
    """Size and count limits applied to every request (configurable)."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_commit_bytes: int = 128 * 1024 * 1024
    max_files_per_commit: int = 10_000
    max_path_bytes: int = 4096
    max_path_segment_bytes: int = 255
    max_message_bytes: int = 64 * 1024
    max_step_bytes: int = 4 * 1024 * 1024
    max_page_size: int = 1000
    max_batch_steps: int = 1000


class OnStale(enum.Enum):
    FAIL = "fail"
    REBASE = "rebase"


@dataclass(frozen=True, slots=True)
class PutFile:
    """Write ``content`` at ``path``; ``executable`` None keeps the mode of the file it replaces (100644 if new)."""

    path: str
    content: bytes
    executable: bool | None = None


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: str


@dataclass(frozen=True, slots=True)
class RenameFile:
    old_path: str
    new_path: str


Change: TypeAlias = PutFile | DeleteFile | RenameFile


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    email: str
    time: int
    offset_minutes: int = 0


@dataclass(frozen=True, slots=True)
class Commit:
    commit_id: str
    tree_id: str
    parent_ids: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str
    trailers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChangedFiles:
    """The files that differ between two commits: content and blob id on each side.

    A path only in ``old`` was deleted, only in ``new`` added (renames are
    for the semantic diff to find).
    """

    old_commit_id: str  # "" when the new commit has no parent
    new_commit_id: str
    old: dict[str, bytes]
    new: dict[str, bytes]
    old_ids: dict[str, str]
    new_ids: dict[str, str]


@dataclass(frozen=True, slots=True)
class Repository:
    repository_id: str
    default_branch: str
    description: str
    create_time: int
    head_commit_id: str


@dataclass(frozen=True, slots=True)
class Branch:
    branch_id: str
    head_commit_id: str


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str
    object_id: str
    kind: str  # "file" | "directory" | "symlink" | "submodule"
    executable: bool
    size: int


@dataclass(frozen=True, slots=True)
class FileContent:
    path: str
    content: bytes
    executable: bool
    blob_id: str


class SessionStatus(enum.Enum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class StepInput:
    """What an agent reports about one step of its trajectory."""

    thought: str = ""
    action: str = ""
    arguments_json: str = ""
    observation: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step:
    session_id: str
    index: int
    input: StepInput
    commit_id: str
    create_time: float


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    agent: str
    model: str
    task: str
    base_commit_id: str
    branch_id: str
    status: SessionStatus
    create_time: float
    end_time: float | None
    step_count: int
    commit_count: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    outcome: str
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """One path whose entry a commit's write changed, as the write knew it (nothing read back from git):
    ``(mode, blob id)`` on each side, ``None`` on the side where the path held no file; ``content``, the new
    side's bytes when the write kept them (see :class:`CommitDelta`)."""

    path: str
    old: tuple[int, str] | None
    new: tuple[int, str] | None
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class CommitDelta:
    """What a commit changed against its (only) parent, handed over by the write that made it: every path
    whose entry differs, sorted, so that a reader of the commit (the index) need not diff the two trees in git
    or read the new blobs again. ``content`` is kept for files up to a total of :data:`DELTA_CONTENT_BYTES` per
    commit; the others are read from git."""

    commit: Commit
    files: tuple[WrittenFile, ...]

    @property
    def content_bytes(self) -> int:
        """The bytes of content it holds."""
        return sum(len(f.content) for f in self.files if f.content is not None)


DELTA_CONTENT_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CommitResult:
    commit: Commit
    rebased: bool
    step: Step | None
    # what the commit changed, when it was written from the change set as sent (for the index; not compared)
    delta: CommitDelta | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class MergeConflictInfo:
    """One conflict: an entity (``qualname`` set) or a region/file of a line-level merge."""

    path: str
    qualname: str
    entity_kind: str
    base: bytes
    left: bytes
    right: bytes
    markers: bytes


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge did (or, for a preview or a merge with conflicts, would do).

    ``commit`` is the target's head afterwards: the merge commit, the source
    after a fast-forward, the unchanged head when the source was already
    merged; ``None`` for a preview or a merge with conflicts.
    """

    commit: Commit | None
    strategy: str  # "structured" | "line" | "fast_forward"
    conflicts: tuple[MergeConflictInfo, ...]
    up_to_date: bool
    step: Step | None

    @property
    def clean(self) -> bool:
        return not self.conflicts


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str
