"""Values that cross the sandbox's interface: the limits a job runs under and what came out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..errors import CiError

__all__ = ["ISOLATION_MECHANISMS", "JobLimits", "SandboxError", "SandboxResult", "SandboxStatus"]

SandboxStatus: TypeAlias = Literal["passed", "failed", "timed_out", "killed"]

# Every name that may appear in SandboxResult.isolation, roughly from strongest to weakest.
ISOLATION_MECHANISMS = (
    "pidns",  # own pid namespace: the job sees only itself; all of it dies with its init
    "netns",  # own network namespace (only its own loopback): no network
    "mntns",  # own mount namespace (private /proc; nothing mounted leaks out)
    "ipcns",  # own System V IPC / POSIX message queues
    "utsns",  # own host name
    "cgroup-pids",  # process (and thread) limit, counted by the kernel
    "cgroup-memory",  # memory limit for the whole job, OOM kills reported
    "cgroup-cpu",  # CPU time of the whole job accounted (the CPU limit is enforced on it)
    "landlock",  # writes only inside the workspace; reads only system dirs + workspace
    "landlock-net",  # TCP bind/connect refused (used when there is no network namespace)
    "landlock-scope",  # no signals / abstract unix sockets to processes outside the job
    "readonly-root",  # fallback without Landlock: every mount read-only except the workspace
    "private-shm",  # /dev/shm is the job's own tmpfs
    "unprivileged-uid",  # runs as the workspace's owner (one uid per workspace), not root
    "nocaps",  # no capabilities at all, none regained by execve
    "rlimits",  # per-process CPU, file size, core (and address space without cgroup-memory)
)


@dataclass(frozen=True, slots=True)
class JobLimits:
    """What one job may use. Times in seconds, sizes in bytes.

    ``processes`` counts every process and thread of the job. ``output_bytes`` is how much of
    the combined stdout+stderr is kept (head and tail); a job that floods far past it is killed.
    ``file_bytes`` caps the size of any single file the job writes.
    """

    timeout_s: float = 600.0
    cpu_s: float = 600.0
    memory_bytes: int = 2 << 30
    processes: int = 512
    output_bytes: int = 1 << 20
    file_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        for name in ("timeout_s", "cpu_s", "memory_bytes", "processes", "output_bytes", "file_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"JobLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """How one sandboxed command ended.

    ``exit_code`` is the command's exit status, or ``-N`` when signal N ended it (as in
    :mod:`subprocess`); ``None`` if it never started. ``reason`` says why a job was
    ``killed`` or ``timed_out`` (``"memory limit 256 MiB exceeded"``), or what signal
    ended a ``failed`` one. ``output`` is stdout and stderr interleaved, at most
    ``JobLimits.output_bytes`` plus a marker where the middle was cut; ``output_size``
    is how much the job wrote in all. ``cpu_s`` is user+system time of all its
    processes, ``max_rss`` the largest resident set of any one of them.
    ``isolation`` names the mechanisms that were in force (see ISOLATION_MECHANISMS).
    """

    status: SandboxStatus
    exit_code: int | None
    output: bytes
    duration_s: float
    cpu_s: float
    max_rss: int
    isolation: tuple[str, ...]
    reason: str | None = None
    output_size: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "passed"


class SandboxError(CiError):
    """The sandbox itself failed (not the job): bad workspace, a launcher that could not start."""

    reason: str = "SANDBOX_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
