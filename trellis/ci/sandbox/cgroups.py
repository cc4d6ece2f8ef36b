"""One control group per job: a process limit, a memory limit, CPU accounting, a reliable kill.

Job groups are created *below the server's own* group (``<own>/trellis/job-…``),
so whatever limits the machine puts on the server still bound every job. cgroup
v1 (one hierarchy per controller, as on this project's machines) and v2 (one
hierarchy; needs the controllers delegated to the server's group) are both
handled; where neither is writable, :func:`create_job_cgroup` returns ``None``
and the sandbox falls back to rlimits (see docs/ci-runtime.md).
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTROLLERS", "JobCgroup", "create_job_cgroup"]

# Our names for what we need; v1 calls the CPU accounting controller "cpuacct".
CONTROLLERS = ("pids", "memory", "cpu")
_V1_NAMES = {"pids": "pids", "memory": "memory", "cpu": "cpuacct"}
_counter = itertools.count()


@dataclass(frozen=True, slots=True)
class _Hierarchy:
    version: int
    parent: Path  # <mount>/<own group>/trellis


@dataclass(frozen=True, slots=True)
class JobCgroup:
    """The job's groups, one directory per controller (v1) or one for all (v2).

    Which version a directory belongs to shows in its files (``memory.oom_control`` and
    ``cpuacct.usage`` are v1's), so a hybrid machine may mix them.
    """

    dirs: dict[str, Path]  # controller -> directory

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(c for c in CONTROLLERS if c in self.dirs)

    def join_paths(self) -> list[str]:
        """Directories whose ``cgroup.procs`` the job's first process writes itself into."""
        return sorted({str(d) for d in self.dirs.values()})

    def _read(self, controller: str, name: str) -> str:
        try:
            return (self.dirs[controller] / name).read_text()
        except (KeyError, OSError):
            return ""

    def _field(self, controller: str, name: str, key: str) -> int:
        for line in self._read(controller, name).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == key:
                return int(parts[1])
        return 0

    def process_limit_hits(self) -> int:
        """How many forks failed because the process limit was reached."""
        return self._field("pids", "pids.events", "max")

    def oom_kills(self) -> int:
        """How many processes the kernel killed because the memory limit was exceeded."""
        if "memory" in self.dirs and (self.dirs["memory"] / "memory.oom_control").exists():
            return self._field("memory", "memory.oom_control", "oom_kill")
        return self._field("memory", "memory.events", "oom_kill")

    def peak_memory(self) -> int:
        """Most memory the job's processes used at once (0 without a memory group)."""
        for name in ("memory.max_usage_in_bytes", "memory.peak"):
            text = self._read("memory", name).strip()
            if text.isdigit():
                return int(text)
        return 0

    def cpu_s(self) -> float | None:
        """CPU time used by every process of the job so far (None without CPU accounting)."""
        if "cpu" not in self.dirs:
            return None
        text = self._read("cpu", "cpuacct.usage").strip()
        if text:
            return int(text) / 1e9
        return self._field("cpu", "cpu.stat", "usage_usec") / 1e6

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in set(self.dirs.values()):
            try:
                found.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(found)

    def kill_all(self, *, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process in the job's groups until none is left; False if some survived."""
        for d in set(self.dirs.values()):
            try:  # v2 (Linux 5.14+): the kernel kills the whole group at once
                (d / "cgroup.kill").write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout_s
        while pids := self.pids():
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)
        return True

    def remove(self, *, timeout_s: float = 5.0) -> None:
        """Kill what is left and remove the groups (a zombie not yet reaped keeps one busy briefly)."""
        self.kill_all(timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        for d in sorted(set(self.dirs.values())):
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root, fstype, v1 controllers) of every cgroup file system."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                found.append((fields[4], fields[3], rfields[0], set(rfields[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """The server's group per v1 controller name, and under "" its v2 group."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _group_dir(mount: str, root: str, path: str) -> Path:
    if root != "/" and path.startswith(root):
        path = path[len(root) :]
    return Path(mount) / path.lstrip("/")


def _writable_parent(own_dir: Path) -> Path | None:
    parent = own_dir / "trellis"
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent if os.access(parent, os.W_OK) else None


@functools.cache
def _hierarchies() -> dict[str, _Hierarchy]:
    """Where each controller's job groups go on this machine (looked up once per process)."""
    try:
        mounts, own = _mounts(), _own_groups()
    except OSError:
        return {}
    found: dict[str, _Hierarchy] = {}
    for mount, root, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        for ours, v1 in _V1_NAMES.items():
            if v1 in options and ours not in found and v1 in own:
                parent = _writable_parent(_group_dir(mount, root, own[v1]))
                if parent is not None:
                    found[ours] = _Hierarchy(1, parent)
    for mount, root, fstype, _ in mounts:
        if fstype != "cgroup2" or "" not in own:
            continue
        own_dir = _group_dir(mount, root, own[""])
        try:
            available = set((own_dir / "cgroup.controllers").read_text().split())
        except OSError:
            continue
        wanted = [c for c in CONTROLLERS if c not in found and c in available]
        if not wanted:
            continue
        parent = _writable_parent(own_dir)
        if parent is None:
            continue
        try:  # fails (EBUSY) when the server's group has processes and is not the root: not delegated
            (own_dir / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
        except OSError:
            continue
        for c in wanted:
            found[c] = _Hierarchy(2, parent)
    for hierarchy in {h.parent for h in found.values()}:
        _remove_stale(hierarchy)
    return found


def _remove_stale(parent: Path) -> None:
    """Groups left by a server that died: kill what runs there and remove them."""
    for d in parent.glob("job-*"):
        try:
            owner = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if owner == os.getpid() or Path(f"/proc/{owner}").exists():
            continue
        JobCgroup({"stale": d}).remove(timeout_s=1.0)


def create_job_cgroup(
    *, processes: int, memory_bytes: int, controllers: tuple[str, ...] = CONTROLLERS
) -> JobCgroup | None:
    """A fresh group per available controller with the limits set; None when none is available.

    ``processes`` is the limit on tasks (processes and threads) in the group.
    """
    hierarchies = {c: h for c, h in _hierarchies().items() if c in controllers}
    if not hierarchies:
        return None
    name = f"job-{os.getpid()}-{next(_counter)}-{secrets.token_hex(3)}"
    dirs: dict[str, Path] = {}
    try:
        for controller, hierarchy in hierarchies.items():
            d = hierarchy.parent / name
            d.mkdir(exist_ok=True)
            dirs[controller] = d
        if "pids" in dirs:
            (dirs["pids"] / "pids.max").write_text(str(processes))
        if "memory" in dirs:
            if hierarchies["memory"].version == 1:
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    memsw.write_text(str(memory_bytes))
            else:
                (dirs["memory"] / "memory.max").write_text(str(memory_bytes))
                swap = dirs["memory"] / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
    except OSError:
        JobCgroup(dirs).remove(timeout_s=1.0)
        return None
    return JobCgroup(dirs)
