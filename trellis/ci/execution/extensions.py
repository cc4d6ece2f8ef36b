"""A project's compiled extensions, built into each pytest job's workspace as ``pip install -e .`` builds them.

A project's own command installs it before its tests run, and for a setuptools
project that declares ``ext_modules`` the editable install *builds* them
(``simplejson._speedups``): its tests then run the code that imports the
extension (``c_make_encoder``), not only the pure-Python fallback. So a pytest
job whose project declares extensions (:attr:`trellis.ci.project.Project.extensions`)
first runs ``python setup.py build_ext --inplace`` (``setup()`` reading
pyproject's ``ext-modules`` where there is no setup.py) with the job's
interpreter, **inside the job's sandbox** (it runs the tree's ``setup.py``), in
the job's workspace, under the stage's limits, without the network.

**Cached by the digest of its inputs** (:func:`inputs_digest`): every C/C++/Cython
source and header of the tree, ``setup.py``, ``setup.cfg``, ``pyproject.toml``,
``MANIFEST.in`` and the other top-level ``.py`` files (a setup.py's helpers),
the interpreter and the stage's ``env`` (``CFLAGS``...). The extension modules
a build wrote into the workspace (files ending in an extension suffix,
``.cpython-311-x86_64-linux-gnu.so``) are kept under ``<pool root>/extensions/<digest>``
and copied into the workspace of every later job with the same inputs (the
next lease removes them, as any file the tree does not hold); a change to a
``.c``/``.h`` builds once. A build that exited 0 and made none is kept too
(PyYAML's optional ``_yaml`` without libyaml would be tried again by every job). One build per digest at a time (a file lock): the
shards of one job wait for the first one's build.

**A build that fails is the project's own install failing**: the build's exit
status is the project's (simplejson's setup.py catches a failed compilation,
retries without the extension and exits 0, as under ``pip install -e .``; a
plain ``setup(ext_modules=...)`` exits 1, and so does its ``pip install``). A
non-zero exit makes the job fail as an error with the build's output and runs
no test; an exit 0 that built no module of those declared runs the tests
without them and says so in the job's summary. Either way the job's output
starts with what the build did (``trellis: compiled extensions ...``).

What the server reads back from the workspace is the job's: only regular files
with one link, owned by the job's user, below real directories of the
workspace, at most :data:`MAX_BYTES` in all, are kept.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.machinery
import json
import os
import shutil
import stat
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..project import EXTENSION_SOURCES, Project
from ..sandbox import TMPDIR_NAME, default_path, run_sandboxed
from ..sandbox.model import JobLimits

__all__ = ["MAX_BYTES", "ExtensionBuild", "build_extensions", "inputs_digest"]

MAX_BYTES = 256 << 20  # the extension modules one build may leave to be kept
_BUILD_FILES = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in")
_SKIPPED_TOP = frozenset({".git", TMPDIR_NAME, "build"})  # git's, ours, setuptools' build directory
_OUTPUT_TAIL = 16 << 10


@dataclass(frozen=True, slots=True)
class ExtensionBuild:
    """What the job's extension step did. ``how``: "cached" (copied from an earlier build of the same inputs),
    "built", "none" (the build exited 0 but made no module: the tests run without them) or "failed" (a
    non-zero exit, a timeout or a kill: the job runs no test). ``modules``: the files put into the workspace."""

    how: str
    digest: str
    modules: tuple[str, ...] = ()
    exit_code: int | None = 0
    seconds: float = 0.0
    output: bytes = b""
    command: str = ""
    declared: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return self.how == "failed"

    def log(self) -> bytes:
        """The job output's first lines: what the build did (its output too when it built nothing)."""
        short = self.digest[:12]
        files = ", ".join(self.modules)
        if self.how == "cached":
            line = f"trellis: compiled extensions from the cache (inputs {short}): {files}\n"
        elif self.how == "built":
            line = f"trellis: compiled extensions built in {self.seconds:.1f} s ({self.command}, inputs {short}): {files}\n"
        else:
            line = (
                f"trellis: compiled extensions {self.note()} ({self.command}, {self.seconds:.1f} s, inputs {short})\n"
            )
        if self.how in ("built", "cached"):
            return line.encode()
        tail = self.output[-_OUTPUT_TAIL:]
        return line.encode() + tail + (b"" if tail.endswith(b"\n") or not tail else b"\n") + b"trellis: end of build\n"

    def note(self) -> str:
        """The job summary's note, or "" when the extensions are there."""
        declared = ", ".join(self.declared) or "declared"
        if self.how == "none":
            return f"not built ({declared}: the build exited 0 and made none): the tests ran without them"
        if self.how == "failed":
            if self.exit_code is None:  # the stage's limits ended it (the output says which)
                return f"did not build ({declared}; stopped by the stage's limits): no test ran"
            return f"did not build ({declared}; exit {self.exit_code}, as the project's own install fails): no test ran"
        return ""


def _walk(workspace: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Every entry below ``workspace`` (not following links; not git's, our tmp dir, the build's, pycs)."""
    found: list[tuple[str, os.DirEntry[str]]] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(workspace / rel if rel else workspace))
        except OSError:
            continue
        for entry in entries:
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name != "__pycache__" and (rel or entry.name not in _SKIPPED_TOP):
                    stack.append(child)
            else:
                found.append((child, entry))
    return found


def _read(path: str) -> bytes:
    """A file of the workspace, never through a link (a link's own text is what it is)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        try:
            return b"link:" + os.readlink(path).encode("utf-8", "surrogateescape")
        except OSError:
            return b""
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return f.read()


def inputs_digest(workspace: Path, python: str, env: Mapping[str, str]) -> str:
    """The digest of what a build of the workspace's extensions reads: its sources and headers, the build's
    configuration and top-level Python files, the interpreter (its path, version and extension suffix) and the
    stage's environment variables."""
    h = hashlib.sha256()
    h.update(f"{python}\0{sys.version}\0{importlib.machinery.EXTENSION_SUFFIXES[0]}\0".encode())
    h.update(json.dumps(sorted(env.items())).encode())
    for rel, entry in sorted(_walk(workspace), key=lambda p: p[0]):
        top_level_py = "/" not in rel and rel.endswith(".py")
        if rel.endswith(EXTENSION_SOURCES) or rel in _BUILD_FILES or top_level_py:
            data = _read(entry.path)
            h.update(f"\0{rel}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


def _modules(workspace: Path) -> dict[str, os.DirEntry[str]]:
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return {rel: entry for rel, entry in _walk(workspace) if rel.endswith(suffixes)}


def _real_parent(workspace: Path, rel: str) -> bool:
    """Is every directory on ``rel``'s way a real directory of the workspace (no link)?"""
    path = workspace
    for part in rel.split("/")[:-1]:
        if part in ("", ".", ".."):
            return False
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return True


class _Store:
    """Built modules under ``root/<digest>/``: ``files/<rel>`` and ``manifest.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, digest: str) -> dict[str, object] | None:
        try:
            manifest = json.loads((self.root / digest / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) else None

    def restore(self, digest: str, workspace: Path, manifest: dict[str, object]) -> tuple[str, ...] | None:
        """Copy the kept modules into ``workspace`` (owned by its owner); None when one cannot be put there."""
        files = manifest.get("modules")
        if not isinstance(files, list):
            return None
        st = os.lstat(workspace)
        for rel in files:
            if not isinstance(rel, str) or not _real_parent(workspace, rel):
                return None
            data = (self.root / digest / "files" / rel).read_bytes()
            target = workspace / rel
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            except OSError:
                return None  # the tree holds something there
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(fd, 0o755)
                os.fchown(fd, st.st_uid, st.st_gid)
        return tuple(str(rel) for rel in files)

    def save(self, digest: str, workspace: Path, modules: list[str], output: bytes) -> list[str] | None:
        """Keep the job's built ``modules``; the ones kept, or None when they cannot be (not the job's own
        regular files, or too large)."""
        owner = os.lstat(workspace)
        fresh = self.root / f"new-{uuid.uuid4().hex}"
        total = 0
        try:
            fresh.mkdir()
            for rel in modules:
                if not _real_parent(workspace, rel):
                    return None
                fd = os.open(workspace / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
                with os.fdopen(fd, "rb") as f:
                    st = os.fstat(fd)
                    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != owner.st_uid:
                        return None
                    total += st.st_size
                    if total > MAX_BYTES:
                        return None
                    data = f.read(MAX_BYTES + 1)
                out = fresh / "files" / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(data)
            manifest = {"modules": modules, "output": output[-_OUTPUT_TAIL:].decode("utf-8", "replace")}
            (fresh / "manifest.json").write_text(json.dumps(manifest))
            try:
                os.rename(fresh, self.root / digest)
            except OSError:
                pass  # kept by another job meanwhile: the same inputs
            return modules
        except OSError:
            return None
        finally:
            shutil.rmtree(fresh, ignore_errors=True)


def build_command(workspace: Path, python: str) -> list[str]:
    """setup.py's ``build_ext --inplace`` (or ``setup()``'s, reading pyproject's ``ext-modules``), its
    objects in the job's tmp dir."""
    temp = f"{TMPDIR_NAME}/extension-build"
    setup = ["setup.py"] if os.path.lexists(workspace / "setup.py") else ["-c", "from setuptools import setup; setup()"]
    return [python, *setup, "build_ext", "--inplace", "--build-temp", temp]


def build_extensions(
    project: Project,
    workspace: Path,
    root: Path,
    *,
    python: str,
    env: Mapping[str, str],
    limits: JobLimits,
    readable: tuple[str, ...] = (),
) -> ExtensionBuild:
    """Put ``project``'s compiled extensions into ``workspace``: from the store under ``root`` when a build of
    the same inputs made them, else built in the sandbox (and kept when it made some)."""
    start = time.monotonic()
    digest = inputs_digest(workspace, python, env)
    store = _Store(root)
    root.mkdir(parents=True, exist_ok=True)
    command = build_command(workspace, python)
    shown = " ".join(["python", *command[1:4]])
    declared = tuple(n for n in project.extensions if n != "*")
    with open(root / f"{digest}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the shards of one job: one builds, the others copy
        manifest = store.load(digest)
        if manifest is not None:
            restored = store.restore(digest, workspace, manifest)
            if restored == ():  # the same inputs built none (PyYAML without libyaml): not tried again every job
                output = str(manifest.get("output", "")).encode()
                seconds = time.monotonic() - start
                return ExtensionBuild("none", digest, (), 0, seconds, output, f"{shown}, from the cache", declared)
            if restored is not None:
                return ExtensionBuild("cached", digest, restored, 0, time.monotonic() - start, command=shown)
        before = set(_modules(workspace))
        path = os.pathsep.join(dict.fromkeys([os.path.dirname(python), *default_path().split(os.pathsep)]))
        build_env = {"PATH": path, **env, "PYTHONDONTWRITEBYTECODE": "1"}
        result = run_sandboxed(command, workspace, env=build_env, limits=limits, readable=readable)
        seconds = time.monotonic() - start
        if result.status != "passed":
            code = result.exit_code if result.status == "failed" else None
            output = result.output + (f"\n{result.reason}\n".encode() if result.reason else b"")
            return ExtensionBuild("failed", digest, (), code, seconds, output, shown, declared)
        made = sorted(set(_modules(workspace)) - before)
        store.save(digest, workspace, made, result.output)
        if not made:
            return ExtensionBuild("none", digest, (), 0, seconds, result.output, shown, declared)
        return ExtensionBuild("built", digest, tuple(made), 0, seconds, result.output, shown, declared)
