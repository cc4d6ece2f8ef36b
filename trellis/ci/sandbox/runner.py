"""Run one command in the sandbox: the parent side (limits, watchdog, output, verdict).

The child side — namespaces, mounts, Landlock, capabilities — is
:mod:`trellis.ci.sandbox.confine`, started through a :class:`Launcher`: by default a
fresh ``python -I -S confine.py`` (:class:`ProcessLauncher`); the warm pytest
runner of :mod:`trellis.ci.execution` is another launcher that forks a pre-started
interpreter instead. Everything a job can do to exceed its limits is watched
here, in the calling thread, and ends with the whole job killed.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from .cgroups import JobCgroup, create_job_cgroup
from .model import JobLimits, SandboxError, SandboxResult, SandboxStatus

__all__ = [
    "DEFAULT_READABLE",
    "DEVICE_FILES",
    "LaunchHandle",
    "Launcher",
    "ProcessLauncher",
    "TMPDIR_NAME",
    "default_path",
    "make_tmpdir",
    "run_sandboxed",
]

CONFINE_SCRIPT = Path(__file__).with_name("confine.py")
TMPDIR_NAME = ".trellis-tmp"
# What a job may read (and execute) besides its workspace and the Python installation.
DEFAULT_READABLE = (
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/bin",
    "/sbin",
    "/etc",
    "/opt",
    "/proc",
    "/sys",
    "/dev",
    "/nix",
    "/snap",
)
DEVICE_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
_POLL_S = 0.05
_MIB = 1 << 20


class LaunchHandle(Protocol):
    def kill(self) -> None:
        """SIGKILL the launcher; the job's init and pid namespace die with it."""

    def reap(self) -> None:
        """Collect the launcher once the status pipe is closed."""


class Launcher(Protocol):
    def start(self, spec: dict[str, Any], *, output_fd: int, status_fd: int) -> LaunchHandle:
        """Start ``confine.launch(spec)`` with stdout/stderr on ``output_fd``."""


class _PopenHandle:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    def kill(self) -> None:
        self._process.kill()  # safe: not reaped before reap(), so the pid cannot be reused

    def reap(self) -> None:
        self._process.wait()


class ProcessLauncher:
    """Start the launcher as a fresh, minimal interpreter (``python -I -S``, ~30 ms)."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python

    def start(self, spec: dict[str, Any], *, output_fd: int, status_fd: int) -> LaunchHandle:
        process = subprocess.Popen(
            [self.python, "-I", "-S", str(CONFINE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=output_fd,
            stderr=output_fd,
            pass_fds=(status_fd,),
            env={},
            cwd=spec["cwd"],
            close_fds=True,
        )
        assert process.stdin is not None
        try:  # the spec goes on stdin (an argv string is capped at 128 KiB); the job's stdin is /dev/null
            process.stdin.write(json.dumps({**spec, "status_fd": status_fd}).encode())
            process.stdin.close()
        except OSError:
            process.kill()
            process.wait()
            raise
        return _PopenHandle(process)


class _Output:
    """Keeps the first and the last ``limit / 2`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.size = 0

    def add(self, data: bytes) -> None:
        self.size += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit + 65536:
                del self.tail[: len(self.tail) - self.tail_limit]

    def value(self) -> bytes:
        tail = bytes(self.tail[-self.tail_limit :]) if self.tail_limit else b""
        if self.size <= self.limit:
            return bytes(self.head) + tail
        omitted = self.size - len(self.head) - len(tail)
        return bytes(self.head) + f"\n[... trellis: {omitted} bytes of output omitted ...]\n".encode() + tail


def default_path() -> str:
    return os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))


def _python_dirs() -> list[str]:
    # Site directories a .pth file adds (a virtual environment layered on a shared one) are part
    # of the installation too; other sys.path entries (an editable install's source) are not.
    sites = {p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)}
    return sorted(
        {
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            sys.base_exec_prefix,
            os.path.dirname(os.path.realpath(sys.executable)),
            *sites,
        }
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _mib(n: int) -> str:
    return f"{n / _MIB:g} MiB"


def _run_as(workspace: Path, without: Collection[str]) -> tuple[int, int] | None:
    """The job runs as its workspace's owner when that is not root (and we are)."""
    st = workspace.stat()
    if "unprivileged-uid" in without or os.geteuid() != 0 or st.st_uid == 0:
        return None
    return st.st_uid, st.st_gid


def make_tmpdir(path: Path, owner: tuple[int, int] | None = None) -> None:
    """The job's TMPDIR: a real directory (a tree may well contain a symlink by that name)."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            path.unlink()
    except FileNotFoundError:
        pass
    path.mkdir(mode=0o755, exist_ok=True)
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)


def run_sandboxed(
    command: str | Sequence[str],
    workspace: Path,
    *,
    env: Mapping[str, str],
    limits: JobLimits,
    network: bool = False,
    readable: Sequence[str] = (),
    without: Collection[str] = (),
    launcher: Launcher | None = None,
    stop: threading.Event | None = None,
) -> SandboxResult:
    """Run ``command`` (a shell line, or an argv) in ``workspace`` under ``limits``; kill all of it at the end.

    The job sees only ``env`` plus ``PATH`` (this interpreter's directory first), ``HOME``
    (the workspace), ``LANG`` and ``TMPDIR`` (``<workspace>/.trellis-tmp``); ``env`` wins on
    conflicts. It may write only inside the workspace, read the system directories, the Python
    installation, ``readable`` and its workspace, and reach no network unless ``network``.
    ``without`` names isolation mechanisms not to use (testing, or a machine where one
    misbehaves). Mechanisms the machine lacks are skipped; ``isolation`` in the result says
    what was in force. Setting ``stop`` kills the job (status "killed"), as an executor shutting
    down does. Raises :class:`SandboxError` when the sandbox itself cannot run.
    """
    workspace = Path(workspace).resolve()
    if not workspace.is_dir():
        raise SandboxError(f"workspace {workspace} is not a directory")
    run_as = _run_as(workspace, without)
    tmpdir = workspace / TMPDIR_NAME
    try:
        make_tmpdir(tmpdir, run_as)
    except OSError as e:
        raise SandboxError(f"cannot create {tmpdir}: {e}") from e
    job_env = {
        "PATH": default_path(),
        "HOME": str(workspace),
        "LANG": "C.UTF-8",
        "TMPDIR": str(tmpdir),
        "USER": "trellis",
        "LOGNAME": "trellis",
        **env,
    }
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    if not argv:
        raise SandboxError("empty command")

    cgroup: JobCgroup | None = None
    if "cgroups" not in without:
        wanted = tuple(c for c in ("pids", "memory", "cpu") if f"cgroup-{c}" not in without)
        # +1: the job's init process is in the group too.
        cgroup = create_job_cgroup(processes=limits.processes + 1, memory_bytes=limits.memory_bytes, controllers=wanted)
    rlimits = {"cpu": math.ceil(limits.cpu_s), "core": 0, "fsize": limits.file_bytes}
    if cgroup is None or "memory" not in cgroup.dirs:
        rlimits["as"] = limits.memory_bytes
    if run_as is not None and (cgroup is None or "pids" not in cgroup.dirs):
        rlimits["nproc"] = limits.processes  # per uid: one uid per workspace makes it per job
    namespaces = [n for n in ("pidns", "mntns", "ipcns", "utsns") if n not in without]
    if not network and "netns" not in without:
        namespaces.append("netns")
    spec: dict[str, Any] = {
        "argv": argv,
        "env": job_env,
        "cwd": str(workspace),
        "cgroups": cgroup.join_paths() if cgroup else [],
        "namespaces": namespaces,
        "landlock": "landlock" not in without,
        "readonly_root": "readonly-root" not in without,
        "readable": [*DEFAULT_READABLE, *_python_dirs(), *readable],
        "device_files": list(DEVICE_FILES),
        "network": network,
        "rlimits": rlimits,
        "run_as": list(run_as) if run_as else None,
        "drop_capabilities": "nocaps" not in without,
        "shm_bytes": min(limits.memory_bytes, 256 * _MIB),
    }
    try:
        return _supervise(spec, limits, cgroup, launcher or ProcessLauncher(), stop)
    finally:
        if cgroup is not None:
            cgroup.remove()


def _supervise(
    spec: dict[str, Any],
    limits: JobLimits,
    cgroup: JobCgroup | None,
    launcher: Launcher,
    stop: threading.Event | None = None,
) -> SandboxResult:
    start = time.monotonic()
    out_r, out_w = os.pipe()
    status_r, status_w = os.pipe()
    if spec["run_as"]:
        os.fchown(out_w, *spec["run_as"])  # so that the job may reopen it (echo >/dev/stderr)
    try:
        handle = launcher.start(spec, output_fd=out_w, status_fd=status_w)
    except OSError as e:
        for fd in (out_r, out_w, status_r, status_w):
            os.close(fd)
        raise SandboxError(f"cannot start the sandbox launcher: {e}") from e
    os.close(out_w)
    os.close(status_w)

    output = _Output(limits.output_bytes)
    flood = max(8 * limits.output_bytes, limits.output_bytes + 8 * _MIB)
    status_data = bytearray()
    verdict: tuple[SandboxStatus, str] | None = None
    selector = selectors.DefaultSelector()
    selector.register(out_r, selectors.EVENT_READ)
    selector.register(status_r, selectors.EVENT_READ)
    deadline = start + limits.timeout_s
    drain_until: float | None = None
    next_check = start
    finished = False
    try:
        while selector.get_map():
            now = time.monotonic()
            if drain_until is not None and now > drain_until:
                break  # something outside our reach still holds the output pipe
            for key, _ in selector.select(_POLL_S):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fd)
                    if key.fd == status_r:  # the launcher is gone: so is the job, or it is being killed
                        if cgroup is not None:
                            cgroup.kill_all()
                        drain_until = time.monotonic() + 2.0
                elif key.fd == out_r:
                    output.add(data)
                else:
                    status_data += data
            if verdict is None:
                verdict = _check(limits, output, flood, deadline, cgroup, now >= next_check)
                if verdict is None and stop is not None and stop.is_set():
                    verdict = ("killed", "stopped: the executor is shutting down")
                if now >= next_check:
                    next_check = now + _POLL_S
                if verdict is not None:
                    handle.kill()
                    if cgroup is not None:
                        cgroup.kill_all()
        finished = True
    finally:
        if not finished:  # interrupted: the job must not outlive us
            handle.kill()
        selector.close()
        os.close(out_r)
        os.close(status_r)
        handle.reap()
    duration = time.monotonic() - start
    return _result(spec, limits, cgroup, verdict, status_data, output, duration)


def _check(
    limits: JobLimits, output: _Output, flood: int, deadline: float, cgroup: JobCgroup | None, check_cgroup: bool
) -> tuple[SandboxStatus, str] | None:
    if output.size > flood:
        return "killed", f"output limit exceeded ({output.size} bytes written, {limits.output_bytes} kept)"
    if time.monotonic() > deadline:
        return "timed_out", f"timeout {limits.timeout_s:g}s exceeded"
    if cgroup is not None and check_cgroup:
        if cgroup.process_limit_hits():
            return "killed", f"process limit {limits.processes} reached"
        if cgroup.oom_kills():
            return "killed", f"memory limit {_mib(limits.memory_bytes)} exceeded"
        cpu = cgroup.cpu_s()
        if cpu is not None and cpu > limits.cpu_s:
            return "killed", f"cpu limit {limits.cpu_s:g}s exceeded"
    return None


def _result(
    spec: dict[str, Any],
    limits: JobLimits,
    cgroup: JobCgroup | None,
    verdict: tuple[SandboxStatus, str] | None,
    status_data: bytes | bytearray,
    output: _Output,
    duration: float,
) -> SandboxResult:
    events: dict[str, dict[str, Any]] = {}
    for line in bytes(status_data).splitlines():
        try:
            event = json.loads(line)
            events.setdefault(event["event"], event)
        except (ValueError, KeyError, TypeError):
            continue
    if "error" in events and "confined" not in events:
        raise SandboxError(f"the sandbox could not start the job: {events['error'].get('message')}")
    isolation = [f"cgroup-{c}" for c in cgroup.controllers] if cgroup else []
    isolation += events.get("confined", {}).get("isolation", [])
    done = events.get("done", {})
    exit_event = events.get("exit")
    exit_code: int | None = None
    if exit_event is not None:
        exit_code = -exit_event["signal"] if "signal" in exit_event else exit_event.get("code")
    elif "confined" in events:
        exit_code = -signal.SIGKILL
    cpu = cgroup.cpu_s() if cgroup else None
    cpu_s = cpu if cpu is not None else float(done.get("cpu_s", 0.0))
    if verdict is None and cgroup is not None:
        if cgroup.oom_kills():
            verdict = "killed", f"memory limit {_mib(limits.memory_bytes)} exceeded"
        elif cgroup.process_limit_hits():
            verdict = "killed", f"process limit {limits.processes} reached"
    if verdict is None and exit_code is not None and exit_code < 0:
        sig = -exit_code
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= limits.cpu_s):
            verdict = "killed", f"cpu limit {limits.cpu_s:g}s exceeded"
        elif sig == signal.SIGXFSZ:
            verdict = "killed", f"file size limit {_mib(limits.file_bytes)} exceeded"
    if verdict is not None:
        status, reason = verdict
    elif exit_event is None and "error" in events:  # confined, but the command could not be started
        status, reason, exit_code = "failed", f"could not start: {events['error'].get('message')}", None
    elif exit_code == 0:
        status, reason = "passed", None
    else:
        status = "failed"
        reason = f"terminated by {_signal_name(-exit_code)}" if exit_code is not None and exit_code < 0 else None
    return SandboxResult(
        status=status,
        exit_code=exit_code,
        output=output.value(),
        duration_s=duration,
        cpu_s=cpu_s,
        max_rss=int(done.get("max_rss", 0)) or (cgroup.peak_memory() if cgroup else 0),
        isolation=tuple(isolation),
        reason=reason,
        output_size=output.size,
    )
