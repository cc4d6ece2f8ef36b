"""A sandbox launcher that forks a pre-started, pytest-importing interpreter (see warm_server.py).

Importing pytest and its plugins costs ~0.2-0.3 s per job on a cold
interpreter; forking a warm one costs a few milliseconds. Everything else —
namespaces, cgroups, Landlock, limits, the kill — is the same sandbox as the
cold path, because the forked child runs the same :func:`confine.launch`.
If the helper cannot be started or dies, jobs fall back to the cold launcher.
"""

from __future__ import annotations

import array
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ..sandbox.runner import CONFINE_SCRIPT, LaunchHandle, ProcessLauncher
from .pytest_job import HASH_SEED

__all__ = ["WarmPytestLauncher"]

WARM_SERVER = Path(__file__).with_name("warm_server.py")
_STARTUP_TIMEOUT_S = 60.0


class _WarmHandle:
    def __init__(self, launcher: WarmPytestLauncher, pid: int) -> None:
        self._launcher = launcher
        self.pid = pid

    def kill(self) -> None:
        self._launcher._send({"kill": self.pid})

    def reap(self) -> None:
        pass  # the helper reaps its children


class WarmPytestLauncher:
    """Starts ``python -m pytest`` jobs by forking a warm helper; anything else is exec'd by it."""

    def __init__(self, python: str = sys.executable, *, plugin: tuple[str, Path] | None = None) -> None:
        """``plugin``: (module name, path) of the job plugin the helper imports before any job (see
        warm_server.py)."""
        self.python = python
        self.plugin = plugin
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready = False
        self._closed = False
        self.unavailable = False  # the helper could not even start (pytest missing?): stop trying
        self.fallback = ProcessLauncher(python)
        self.fallbacks = 0  # jobs that had to take the cold path
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                # -I but for -E: the environment is ours, and gives the jobs' hash seed (fixed at start-up).
                [
                    self.python,
                    "-s",
                    "-P",
                    str(WARM_SERVER),
                    str(CONFINE_SCRIPT),
                    str(theirs.fileno()),
                    *((self.plugin[0], str(self.plugin[1])) if self.plugin is not None else ()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                env={"LANG": "C.UTF-8", "PYTHONHASHSEED": HASH_SEED},
                close_fds=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        self._ready = False

    def _ensure(self) -> socket.socket:
        if self._closed or self.unavailable:
            raise OSError("the warm pytest runner is closed or unavailable")
        if self._process is None or self._process.poll() is not None:
            self._stop()
            self._spawn()
        assert self._sock is not None
        if not self._ready:
            self._sock.settimeout(_STARTUP_TIMEOUT_S)
            try:
                if not self._sock.recv(4096):
                    raise OSError("the warm pytest runner exited during start-up")
            except OSError:
                self.unavailable = True
                raise
            self._sock.settimeout(10.0)
            self._ready = True
        return self._sock

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def wait_ready(self) -> bool:
        """Block until the helper has imported pytest; False if it could not start."""
        with self._lock:
            try:
                self._ensure()
                return True
            except OSError:
                return False

    def start(self, spec: dict[str, Any], *, output_fd: int, status_fd: int) -> LaunchHandle:
        with self._lock:
            try:
                sock = self._ensure()
                fds = array.array("i", [output_fd, status_fd])
                sock.sendmsg(
                    [json.dumps({"spec": spec}).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())]
                )
            except OSError:
                self._stop()  # nothing was started: the cold path is safe
                self.fallbacks += 1
                return self.fallback.start(spec, output_fd=output_fd, status_fd=status_fd)
            try:
                reply = sock.recv(4096)
                if not reply:
                    raise OSError("the warm pytest runner closed the connection")
                return _WarmHandle(self, int(json.loads(reply)["pid"]))
            except (OSError, ValueError, KeyError) as e:
                self._stop()  # it may have started the job: do not start it twice
                raise OSError(f"the warm pytest runner failed: {e}") from e

    def _send(self, message: dict[str, Any]) -> None:
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.send(json.dumps(message).encode())
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop()
