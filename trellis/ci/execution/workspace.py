"""Workspaces: directories that hold exactly one commit's tree, reused from job to job.

A :class:`WorkspacePool` owns ``size`` directories under ``root``::

    root/ws-0/         the tree, as git would check it out (exec bits, symlinks as symlinks)
    root/ws-0.lock     flock: held by whoever leases ws-0 (threads and processes alike)
    root/ws-0.state    JSON: the tree id and, per tracked path, git mode, blob id and a stat snapshot

:meth:`WorkspacePool.lease` picks a free workspace — one already holding the tree,
else the one whose tree is closest (fewest entries in git's tree-to-tree
diff), else any — and *reconciles* it: every path on disk is compared with the
expected entry and the snapshot taken when it was last written (inode, size,
mtime, ctime, mode: a job cannot forge ctime), unchanged files are kept, anything
changed, unknown or misplaced is removed and the expected entry written afresh.
So what a job left behind is undone on the next lease, an update between close
trees writes only the files that differ, and a workspace whose state file is
missing or corrupt is rebuilt from nothing. Writing never follows a symlink:
files are replaced (unlink + ``O_CREAT|O_EXCL|O_NOFOLLOW``), never written
through, and every directory on a written path was checked to be a real one.

Run as root, the pool gives each workspace its own owner (``uid_base + i``) and
the sandbox runs the job as that owner, so jobs are not root and do not share a
uid (see docs/ci-runtime.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from trellis import vcs

from ..errors import CiError
from . import bytecode

__all__ = [
    "DEFAULT_UID_BASE",
    "PackedTree",
    "RepositoryTrees",
    "TreeSource",
    "WorkspaceError",
    "WorkspacePool",
    "pack_tree",
]

DEFAULT_UID_BASE = 1_900_000_000  # far above login users and the usual subuid ranges
MODE_BLOB, MODE_EXECUTABLE, MODE_LINK, MODE_GITLINK = 0o100644, 0o100755, 0o120000, 0o160000
MODE_PYC = 1  # not a git mode: a pyc we compiled from the blob "<kind>:<blob id>" (see bytecode.py)
_STATE_VERSION = 1
_CONFIG_NAMES = frozenset({"pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", "conftest.py"})

Entry = tuple[int, str]  # (git file mode, blob id hex)
_Snapshot = tuple[int, int, int, int, int]  # (inode, size, mtime_ns, ctime_ns, st_mode)


class WorkspaceError(CiError):
    """A workspace could not be prepared: unknown repository or tree, unusable pool directory."""

    reason: str = "WORKSPACE_ERROR"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class TreeSource(Protocol):
    """Where a tree's entries and blobs come from: a repository, or a tree shipped as bytes."""

    def entries(self, tree_id: str) -> dict[str, Entry]:
        """Every non-tree entry of the tree, by slash-separated path."""

    def changes(self, old_tree_id: str, tree_id: str) -> dict[str, Entry | None] | None:
        """Entries that differ between two trees (None = removed); None if ``old_tree_id`` is unknown."""

    def blob(self, blob_id: str) -> bytes: ...


class RepositoryTrees:
    """Trees of a git repository on this machine (read through ``vcs.TreeReader``)."""

    def __init__(self, repo_path: str) -> None:
        try:
            self.reader = vcs.TreeReader(repo_path)
        except vcs.NotFound as e:
            raise WorkspaceError(f"cannot open repository {repo_path}: {e}", reason="REPOSITORY_NOT_FOUND") from e

    def has_tree(self, tree_id: str) -> bool:
        return self.reader.has_tree(tree_id)

    def _missing(self, tree_id: str) -> WorkspaceError:
        return WorkspaceError(f"tree {tree_id} is not in {self.reader.path}", reason="TREE_NOT_FOUND")

    def entries(self, tree_id: str) -> dict[str, Entry]:
        found = self.reader.tree_entries(tree_id)
        if found is None:
            raise self._missing(tree_id)
        return found

    def changes(self, old_tree_id: str, tree_id: str) -> dict[str, Entry | None] | None:
        found = self.reader.tree_changes(old_tree_id, tree_id)
        if found is None and not self.reader.has_tree(tree_id):
            raise self._missing(tree_id)
        return found

    def blob(self, blob_id: str) -> bytes:
        data = self.reader.read_blob(blob_id)
        if data is None:
            raise WorkspaceError(f"{blob_id} is not a blob in {self.reader.path}", reason="TREE_NOT_FOUND")
        return data


@dataclass(frozen=True, slots=True)
class PackedTree:
    """One tree with its blobs, picklable: how a tree travels to a machine without the repository."""

    tree_id: str
    files: tuple[tuple[str, int, str], ...]  # (path, git mode, blob id)
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.blobs.values())

    def entries(self, tree_id: str) -> dict[str, Entry]:
        if tree_id != self.tree_id:
            raise WorkspaceError(f"shipped tree is {self.tree_id}, not {tree_id}", reason="TREE_NOT_FOUND")
        return {path: (mode, blob_id) for path, mode, blob_id in self.files}

    def changes(self, old_tree_id: str, tree_id: str) -> dict[str, Entry | None] | None:
        return None  # reconciling against the full listing costs the same here

    def blob(self, blob_id: str) -> bytes:
        return self.blobs[blob_id]


def pack_tree(repo_path: str, tree_id: str) -> PackedTree:
    """Everything needed to materialise ``tree_id`` without the repository."""
    trees = RepositoryTrees(repo_path)
    entries = trees.entries(tree_id)
    blobs = {blob_id: trees.blob(blob_id) for mode, blob_id in entries.values() if mode != MODE_GITLINK}
    files = tuple(sorted((path, mode, blob_id) for path, (mode, blob_id) in entries.items()))
    return PackedTree(tree_id, files, blobs)


@dataclass(slots=True)
class _State:
    tree_id: str
    entries: dict[str, Entry]
    snapshots: dict[str, _Snapshot]
    used: float


def _snapshot(st: os.stat_result) -> _Snapshot:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)


def _remove(path: str) -> None:
    """Remove a file, symlink or whole directory, never following a symlink."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return

    def unlock(func: object, failed: str, exc: object) -> None:
        # A job may leave directories without write or search permission (harmless for root).
        parent = os.path.dirname(failed)
        os.chmod(parent, 0o700)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, 0o700)
            shutil.rmtree(failed)
        else:
            os.unlink(failed)

    shutil.rmtree(path, onerror=unlock)


class _Reconciler:
    """Makes one directory hold exactly ``expected``, keeping what the snapshot proves unchanged."""

    def __init__(self, top: Path, source: TreeSource, owner: tuple[int, int] | None) -> None:
        self.top = str(top)
        self.source = source
        self.owner = owner
        self.written = 0
        self.written_paths: list[str] = []

    def run(self, expected: dict[str, Entry], old: _State | None) -> dict[str, _Snapshot]:
        dirs = {""}
        for path, (mode, _) in expected.items():
            parts = path.split("/")
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if mode == MODE_GITLINK:
                dirs.add(path)
        snapshots: dict[str, _Snapshot] = {}
        self._ensure_dir("")
        self._walk("", expected, dirs, old, snapshots)
        for path in sorted(dirs):
            self._ensure_dir(path)
        for path, entry in expected.items():
            if path not in snapshots and entry[0] not in (MODE_GITLINK, MODE_PYC):
                snapshots[path] = self._write(path, entry)
                self.written += 1
                self.written_paths.append(path)
        return snapshots

    def compile(
        self,
        pycs: dict[str, Entry],
        snapshots: dict[str, _Snapshot],
        failed: set[str],
        budget_s: float,
        compiled: _CompiledPycs,
        start: float = 0.0,
    ) -> list[str]:
        """Write the missing ``pycs`` (those of files written just now first) until ``budget_s`` is spent; the
        keys of those left out.

        A pyc another workspace of the pool compiled (``compiled``) is relocated, not compiled again. The others
        are taken from ``start`` (a fraction of them) on: two workspaces leased at once (a job's two shards)
        compile different files, and each relocates the other's on its next lease."""
        fresh = {p for p in self.written_paths if p.endswith(".py")}
        missing = [p for p, (_, key) in pycs.items() if p not in snapshots and key not in failed]
        missing.sort(key=lambda p: (pycs[p][1].partition("#")[2] not in fresh, p))
        first = sum(1 for p in missing if pycs[p][1].partition("#")[2] in fresh)
        rest = missing[first:]
        cut = int(len(rest) * start)
        missing[first:] = [p for p in rest if compiled.has(pycs[p][1])] + [
            p for p in rest[cut:] + rest[:cut] if not compiled.has(pycs[p][1])
        ]
        deadline = time.monotonic() + budget_s
        left: list[str] = []
        for path in missing:
            key = pycs[path][1]
            kind, _, rest_of_key = key.partition(":")
            blob_id, _, source_path = rest_of_key.partition("#")
            where = self._abs(source_path)
            data = compiled.get(key, where)  # relocated: not counted in the budget
            if data is None:
                if time.monotonic() > deadline:
                    left.append(key)
                    continue
                data = bytecode.compile_pyc(where, self.source.blob(blob_id), kind)
                if data is None:
                    failed.add(key)
                    continue
                compiled.put(key, where, data)
            snapshots[path] = self._write(path, (MODE_BLOB, ""), data)
        return left

    def _abs(self, rel: str) -> str:
        return os.path.join(self.top, rel) if rel else self.top

    def _ensure_dir(self, rel: str) -> None:
        path = self._abs(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            _remove(path)
            os.mkdir(path, 0o755)
            st = os.lstat(path)
        if stat.S_IMODE(st.st_mode) != 0o755:
            os.chmod(path, 0o755)
        if self.owner is not None and (st.st_uid, st.st_gid) != self.owner:
            os.chown(path, *self.owner, follow_symlinks=False)

    def _walk(
        self, rel: str, expected: dict[str, Entry], dirs: set[str], old: _State | None, snapshots: dict[str, _Snapshot]
    ) -> None:
        path = self._abs(rel)
        try:
            st = os.lstat(path)
            if stat.S_IMODE(st.st_mode) != 0o755:
                os.chmod(path, 0o755)  # so that we can list it
            listing = list(os.scandir(path))
        except OSError:
            _remove(path)
            return
        for entry in listing:
            child = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and child in dirs:
                self._walk(child, expected, dirs, old, snapshots)
                continue
            want = expected.get(child)
            if (
                want is not None
                and old is not None
                and old.entries.get(child) == want
                and old.snapshots.get(child) == _snapshot(st)
            ):
                snapshots[child] = old.snapshots[child]  # unchanged since we wrote it
            else:
                _remove(entry.path)

    def _write(self, rel: str, entry: Entry, data: bytes | None = None) -> _Snapshot:
        mode, blob_id = entry
        path = self._abs(rel)
        if data is None:
            data = self.source.blob(blob_id)
        if mode == MODE_LINK:
            os.symlink(data, path)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                with os.fdopen(fd, "wb", closefd=False) as f:
                    f.write(data)
                os.fchmod(fd, 0o755 if mode == MODE_EXECUTABLE else 0o644)
                if self.owner is not None:
                    os.fchown(fd, *self.owner)
            finally:
                os.close(fd)
        if mode == MODE_LINK and self.owner is not None:
            os.chown(path, *self.owner, follow_symlinks=False)
        return _snapshot(os.lstat(path))


class _CompiledPycs:
    """The pycs a pool compiled lately, by key (``<kind>:<blob id>#<source path>``): (where, pyc), up to
    ``limit`` bytes; one compiled for another workspace is relocated (:func:`bytecode.relocate_pyc`)."""

    def __init__(self, limit: int = 64 << 20) -> None:
        self._items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._limit = limit
        self._guard = threading.Lock()

    def has(self, key: str) -> bool:
        with self._guard:
            return key in self._items

    def get(self, key: str, where: str) -> bytes | None:
        """The pyc of ``key`` for the source file at ``where``, or None when it was not compiled lately."""
        with self._guard:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
        if found[0] == where:
            return found[1]
        try:
            return bytecode.relocate_pyc(found[1], where)
        except (ValueError, EOFError, TypeError):  # not ours after all: compile it
            return None

    def put(self, key: str, where: str, data: bytes) -> None:
        with self._guard:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old[1])
            self._items[key] = (where, data)
            self._size += len(data)
            while self._size > self._limit and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= len(dropped)


@dataclass(frozen=True, slots=True)
class LeaseStats:
    """What the last lease of a workspace did (for benchmarks and logs)."""

    workspace: str
    how: str  # "same-tree" | "diff" | "full"
    written: int
    seconds: float


class WorkspacePool:
    """``size`` reusable workspaces under ``root``; safe across threads and processes.

    ``uid_base``: when running as root, workspace ``i`` is owned by uid/gid ``uid_base + i``
    and the sandbox runs its jobs as that uid. ``None`` keeps everything owned by the
    current user.
    """

    def __init__(
        self, root: Path, *, size: int, uid_base: int | None = DEFAULT_UID_BASE, bytecode_budget_s: float = 0.0
    ) -> None:
        if size < 1:
            raise ValueError("a workspace pool needs at least one workspace")
        self.root = Path(root).resolve()
        self.size = size
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o755)
        except OSError as e:
            raise WorkspaceError(f"cannot use {self.root} for workspaces: {e}") from e
        self.uid_base = uid_base if os.geteuid() == 0 else None
        self._released = threading.Condition()
        self._cache: dict[int, tuple[tuple[int, int], _State]] = {}  # slot -> (state file stat, state)
        self._local = threading.local()
        self.bytecode_budget_s = bytecode_budget_s  # compiling pycs per lease (0: none; see bytecode.py)
        self._uncompilable: set[str] = set()  # pyc keys whose compilation warned or failed
        self._compiled = _CompiledPycs()  # pycs compiled for one workspace, relocated for the others
        self._later: tuple[TreeSource, str, list[str]] | None = None  # what a lease left to compile (see below)
        self._later_thread: threading.Thread | None = None
        self._later_guard = threading.Lock()
        self._pass_hook: dict[str, bool] = {}  # config blob id -> it names enable_assertion_pass_hook

    @property
    def last_lease(self) -> LeaseStats | None:
        """What this thread's last lease did."""
        return getattr(self._local, "last_lease", None)

    def owner(self, slot: int) -> tuple[int, int] | None:
        return None if self.uid_base is None else (self.uid_base + slot, self.uid_base + slot)

    def lease(
        self, repo_path: str, tree_id: str, *, bytecode: bool = False, rewrite_asserts: bool = True
    ) -> contextlib.AbstractContextManager[Path]:
        """Exclusive use of a workspace holding exactly ``tree_id`` of the repository at ``repo_path``.

        With ``bytecode`` (and a ``bytecode_budget_s``), the workspace also holds the pycs we
        compiled for its Python files (see :mod:`trellis.ci.execution.bytecode`);
        ``rewrite_asserts=False`` leaves out pytest's (the job turns on ``enable_assertion_pass_hook``).
        """
        return self.lease_tree(RepositoryTrees(repo_path), tree_id, bytecode=bytecode, rewrite_asserts=rewrite_asserts)

    @contextlib.contextmanager
    def lease_tree(
        self, source: TreeSource, tree_id: str, *, bytecode: bool = False, rewrite_asserts: bool = True
    ) -> Iterator[Path]:
        """Like :meth:`lease`, from any tree source (a shipped :class:`PackedTree`, say)."""
        slot, lock_fd = self._acquire(source, tree_id)
        try:
            path = self._prepare(slot, source, tree_id, bytecode and self.bytecode_budget_s > 0, rewrite_asserts)
            yield path
        finally:
            os.close(lock_fd)  # releases the flock
            with self._released:
                self._released.notify_all()

    # --- choosing ----------------------------------------------------------------------------------

    def _acquire(self, source: TreeSource, tree_id: str) -> tuple[int, int]:
        while True:
            free: dict[int, int] = {}
            best: int | None = None
            for slot in range(self.size):
                fd = os.open(self.root / f"ws-{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                free[slot] = fd
                state = self._state(slot)
                if state is not None and state.tree_id == tree_id:
                    best = slot  # cannot do better
                    break
            if free:
                if best is None:
                    best = min(free, key=lambda s: self._cost(s, source, tree_id))
                for slot, fd in free.items():
                    if slot != best:
                        os.close(fd)
                if len(free) > 1:
                    with self._released:
                        self._released.notify_all()
                return best, free[best]
            with self._released:
                self._released.wait(0.05)  # other processes release without notifying us

    def _cost(self, slot: int, source: TreeSource, tree_id: str) -> tuple[int, float]:
        state = self._state(slot)
        if state is None:
            return (1 << 62, 0.0)
        changes = source.changes(state.tree_id, tree_id)
        return (len(changes) if changes is not None else 1 << 61, state.used)  # then least recently used

    # --- state ------------------------------------------------------------------------------------

    def _state_path(self, slot: int) -> Path:
        return self.root / f"ws-{slot}.state"

    def _state(self, slot: int) -> _State | None:
        path = self._state_path(slot)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns)
        cached = self._cache.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            raw = json.loads(path.read_bytes())
            if raw["version"] != _STATE_VERSION:
                return None
            state = _State(
                tree_id=str(raw["tree"]),
                entries={p: (int(v[0]), str(v[1])) for p, v in raw["entries"].items()},
                snapshots={
                    p: (int(v[2]), int(v[3]), int(v[4]), int(v[5]), int(v[6]))
                    for p, v in raw["entries"].items()
                    if len(v) == 7
                },
                used=float(raw["used"]),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None  # unknown or corrupt: the workspace will be rebuilt
        self._cache[slot] = (key, state)
        return state

    def _save(self, slot: int, state: _State) -> None:
        entries = {p: [mode, blob_id, *state.snapshots.get(p, ())] for p, (mode, blob_id) in state.entries.items()}
        data = json.dumps(
            {"version": _STATE_VERSION, "tree": state.tree_id, "used": state.used, "entries": entries},
            separators=(",", ":"),
        ).encode()
        tmp = self.root / f"ws-{slot}.state.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self._state_path(slot))

    # --- preparing --------------------------------------------------------------------------------

    def _prepare(self, slot: int, source: TreeSource, tree_id: str, compiled: bool, rewrite_asserts: bool) -> Path:
        start = time.monotonic()
        top = self.root / f"ws-{slot}"
        old = self._state(slot)
        if old is not None and old.tree_id == tree_id:
            expected, how = _tree_part(old.entries), "same-tree"
        else:
            changes = source.changes(old.tree_id, tree_id) if old is not None else None
            if old is not None and changes is not None:
                expected = _tree_part(old.entries)
                for path, entry in changes.items():
                    if entry is None:
                        expected.pop(path, None)
                    else:
                        expected[path] = entry
                how = "diff"
            else:
                expected, how = source.entries(tree_id), "full"
        # Until the new state is saved, a crash must not leave a state that vouches for the files.
        self._state_path(slot).unlink(missing_ok=True)
        self._cache.pop(slot, None)
        pycs = self._pycs(expected, source, rewrite_asserts) if compiled else {}
        expected = {**expected, **pycs}
        reconciler = _Reconciler(top, source, self.owner(slot))
        snapshots = reconciler.run(expected, old)
        if pycs:
            left = reconciler.compile(
                pycs, snapshots, self._uncompilable, self.bytecode_budget_s, self._compiled, slot / self.size
            )
            if left:
                self._compile_later(source, str(top), left)
        self._save(slot, _State(tree_id, expected, snapshots, time.time()))
        self._local.last_lease = LeaseStats(str(top), how, reconciler.written, time.monotonic() - start)
        return top

    def _compile_later(self, source: TreeSource, top: str, keys: list[str]) -> None:
        """Compile ``keys`` (pycs a lease left out, its budget spent) in the background, into the pool's compiled
        pycs and not into any workspace: the next lease of any workspace relocates them (~0.1 ms each) instead
        of compiling them on a job's path. One thread at the lowest priority; a newer lease's keys replace what
        it has not started."""
        with self._later_guard:
            self._later = (source, top, keys)
            if self._later_thread is not None:
                return  # it takes the new keys when done with the one it compiles
            thread = self._later_thread = threading.Thread(
                target=self._compile_pending, name="trellis-pyc", daemon=True
            )
        thread.start()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the background compilation (:meth:`_compile_later`) is done; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._later_guard:
                if self._later_thread is None:
                    return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def _compile_pending(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # behind the jobs and the server's own threads
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while True:
            with self._later_guard:
                work, self._later = self._later, None
                if work is None:
                    self._later_thread = None
                    return
            source, top, keys = work
            for key in keys:
                if self._later is not None:
                    break  # a newer lease's: those first
                if key in self._uncompilable or self._compiled.has(key):
                    continue
                kind, _, rest = key.partition(":")
                blob_id, _, path = rest.partition("#")
                where = os.path.join(top, path)
                try:
                    data = bytecode.compile_pyc(where, source.blob(blob_id), kind)
                except Exception:  # noqa: BLE001 - the repository went away: the lease compiles it, or fails
                    break
                if data is None:
                    self._uncompilable.add(key)
                else:
                    self._compiled.put(key, where, data)

    def _pycs(self, tree: dict[str, Entry], source: TreeSource, rewrite_asserts: bool) -> dict[str, Entry]:
        """The pyc of each Python file of ``tree``: path -> (MODE_PYC, "<kind>:<blob id>#<source path>")."""
        if rewrite_asserts:
            for path, (mode, blob_id) in tree.items():
                if mode in (MODE_BLOB, MODE_EXECUTABLE) and path.rpartition("/")[2] in _CONFIG_NAMES:
                    named = self._pass_hook.get(blob_id)
                    if named is None:
                        named = self._pass_hook[blob_id] = bytecode.PASS_HOOK_OPTION in source.blob(blob_id)
                    if named:
                        rewrite_asserts = False  # pytest rewrites asserts differently here: none of its pycs
                        break
        out: dict[str, Entry] = {}
        for path, (mode, blob_id) in tree.items():
            if mode not in (MODE_BLOB, MODE_EXECUTABLE):
                continue
            target = bytecode.pyc_path(path, rewrite=rewrite_asserts)
            if target is None:
                continue
            pyc, kind = target
            if pyc in tree or pyc.rpartition("/")[0] in tree:  # the tree has a file there
                continue
            out[pyc] = (MODE_PYC, f"{kind}:{blob_id}#{path}")
        return out


def _tree_part(entries: dict[str, Entry]) -> dict[str, Entry]:
    return {path: entry for path, entry in entries.items() if entry[0] != MODE_PYC}
