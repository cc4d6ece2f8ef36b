"""The sandbox one verification job runs in: limits, isolation, a clean kill.

Start at :func:`run_sandboxed`; docs/ci-runtime.md says what each mechanism
stops and how the sandbox degrades on machines that lack one.
"""

from .model import ISOLATION_MECHANISMS, JobLimits, SandboxError, SandboxResult, SandboxStatus
from .runner import (
    DEFAULT_READABLE,
    TMPDIR_NAME,
    Launcher,
    LaunchHandle,
    ProcessLauncher,
    default_path,
    make_tmpdir,
    run_sandboxed,
)

__all__ = [
    "DEFAULT_READABLE",
    "ISOLATION_MECHANISMS",
    "JobLimits",
    "LaunchHandle",
    "Launcher",
    "ProcessLauncher",
    "SandboxError",
    "SandboxResult",
    "SandboxStatus",
    "TMPDIR_NAME",
    "default_path",
    "make_tmpdir",
    "run_sandboxed",
]
