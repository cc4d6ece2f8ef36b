"""Confine one job: the child side of the sandbox.

Standard library only, so that it runs as a tiny program (``python -I -S
confine.py`` with the JSON spec on stdin, ~30 ms) and can be loaded by path by the warm pytest runner
without importing the ``ci`` package into the job's interpreter. The parent
side (cgroups, timeouts, output) lives in :mod:`trellis.ci.sandbox.runner`.

Process tree::

    server
     └─ launcher      this program (or a fork of the warm runner); outside every
        │             namespace, keeps its privileges, only waits
        └─ init       pid 1 of a new pid namespace: joins the job's cgroups, mounts
           │          a private /proc and /dev/shm, sets rlimits, applies Landlock,
           │          drops every capability, then reaps until the command ends
           └─ command new session; execve(argv), or in-process for the warm runner

When init exits the kernel kills everything left in its pid namespace, so
daemons never outlive the job. Init dies with the launcher (PDEATHSIG), so
killing the launcher kills the whole job.

Status lines (JSON, one per line) go to the status pipe::

    {"event": "confined", "isolation": [...]}           init, before the command starts
    {"event": "exit", "code": N} or {"signal": N}         init, when the command ended
    {"event": "done", "cpu_s": x, "max_rss": n}           launcher, when init ended
    {"event": "error", "message": "..."}                  setup failed, nothing ran
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import stat
import struct
import sys
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, NoReturn

__all__ = ["NAMESPACES", "launch", "landlock_abi"]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# <sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACES = {
    "mntns": CLONE_NEWNS,
    "utsns": CLONE_NEWUTS,
    "ipcns": CLONE_NEWIPC,
    "pidns": CLONE_NEWPID,
    "netns": CLONE_NEWNET,
}

# <sys/mount.h>
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_RDONLY = 0x1
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (>= 424 are unified)

# <linux/prctl.h>, <linux/securebits.h>
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECUREBITS = 1, 4, 24, 28
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECURE_ALL_LOCKED = 0b101111  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED and their locks
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# <linux/landlock.h>
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REFER, FS_TRUNCATE = 1 << 13, 1 << 14
FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FS_FILE = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE  # rights that apply to a non-directory
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

# <linux/sockios.h>, <net/if.h>
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    try:
        return max(
            0,
            int(
                _libc.syscall(
                    SYS_LANDLOCK_CREATE_RULESET,
                    None,
                    ctypes.c_size_t(0),
                    ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
                )
            ),
        )
    except (AttributeError, OSError):  # pragma: no cover - no syscall() in this libc
        return 0


# --- the pieces ---------------------------------------------------------------------------------


def _unshare(names: Sequence[str]) -> list[str]:
    """Enter new namespaces, each one that the machine allows; return those entered."""
    flags = 0
    for name in names:
        flags |= NAMESPACES[name]
    if flags and _libc.unshare(flags) == 0:
        return list(names)
    entered = []
    for name in names:  # one by one: a container may refuse some and allow others
        if _libc.unshare(NAMESPACES[name]) == 0:
            entered.append(name)
    return entered


def _loopback_up() -> None:
    """A new network namespace has only ``lo``, and it is down: bring it up (jobs may use localhost)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _private_mounts(
    workspace: str, *, readonly_root: bool, shm_bytes: int, reachable: Sequence[str], run_as: Sequence[int] | None
) -> list[str]:
    """In the new mount namespace: a /proc of the job's pid namespace, a private /dev/shm, the
    paths the job needs made reachable for its uid, and (when Landlock is unavailable) the whole
    file system read-only except the workspace."""
    applied: list[str] = []
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    except OSError:
        return applied
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        pass
    if run_as:
        _make_reachable([workspace, *reachable], *run_as)
    if readonly_root:
        attr = _MountAttr(attr_set=MOUNT_ATTR_RDONLY)
        _check(
            _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)),
            "mount_setattr /",
        )
        _mount(workspace, workspace, None, MS_BIND | MS_REC)
        _mount(None, workspace, None, MS_REMOUNT | MS_BIND)  # the workspace alone read-write
        applied.append("readonly-root")
    # A private /dev/shm (POSIX semaphores and shared memory: multiprocessing's locks and pools). When the workspace
    # or what the job reads lives there (a data directory on tmpfs), those are bind-mounted back into it, read-only
    # but the workspace: the rest of the server's data there stays out of sight.
    if os.path.isdir("/dev/shm"):
        home = os.path.realpath(workspace)
        below = {os.path.realpath(p) for p in [workspace, *reachable] if os.path.exists(p)}
        try:
            shared = sorted((p for p in below if p.startswith("/dev/shm/")), key=len)
            _cover("/dev/shm", shared, f"size={shm_bytes},mode=1777", read_only=set(shared) - {home})
            applied.append("private-shm")
        except OSError:
            pass
    return applied


def _cover(directory: str, needed: Sequence[str], options: str, *, read_only: AbstractSet[str] = frozenset()) -> None:
    """Cover ``directory`` with an empty tmpfs (``options``) in this mount namespace, hiding what it held, and
    bind-mount the ``needed`` paths below it (outer ones first) back at the same places (``read_only`` ones so).
    When a path cannot be bound back, the tmpfs goes again (OSError): nothing the job needs stays hidden."""
    fds = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in needed}
    try:
        _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, options)
        try:
            for path, fd in fds.items():
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.makedirs(path, 0o755, exist_ok=True)
                elif not os.path.exists(path):
                    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                if path in read_only:
                    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError:
            _libc.umount2(directory.encode(), MNT_DETACH)
            raise
    finally:
        for fd in fds.values():
            os.close(fd)


def _can_search(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
    return bool(st.st_mode & bit)


def _make_reachable(paths: Sequence[str], uid: int, gid: int) -> None:
    """Let the job's uid reach ``paths`` (its workspace, the Python installation) when an
    ancestor is closed to it (``/root`` is 0700, say): in this mount namespace only, an empty
    tmpfs covers the closed ancestor — hiding the rest of it — and the needed paths are
    bind-mounted back into it at the same place."""
    groups: dict[str, list[str]] = {}  # closed ancestor -> paths needed below it
    for path in sorted({os.path.realpath(p) for p in paths if os.path.exists(p)}):
        parts = path.split("/")[1:-1]
        for i in range(1, len(parts) + 1):
            ancestor = "/" + "/".join(parts[:i])
            if not _can_search(ancestor, uid, gid):
                groups.setdefault(ancestor, []).append(path)
                break
    for inner in sorted(groups, key=len, reverse=True):  # /a/b closed under closed /a: one tmpfs on /a
        outer = next((a for a in groups if inner.startswith(a + "/")), None)
        if outer is not None:
            groups[outer] += groups.pop(inner)
    for closed, needed in groups.items():
        outermost = [p for p in needed if not any(p != q and p.startswith(q + "/") for q in needed)]
        _cover(closed, outermost, "size=64k,mode=0755")


def _set_rlimits(limits: dict[str, int]) -> None:
    names = {
        "cpu": resource.RLIMIT_CPU,
        "as": resource.RLIMIT_AS,
        "fsize": resource.RLIMIT_FSIZE,
        "core": resource.RLIMIT_CORE,
        "nproc": resource.RLIMIT_NPROC,
        "nofile": resource.RLIMIT_NOFILE,
    }
    for name, value in limits.items():
        # CPU: SIGXCPU at the soft limit, SIGKILL one second later.
        hard = value + 1 if name == "cpu" else value
        resource.setrlimit(names[name], (value, hard))


def _landlock(
    abi: int, *, read: Sequence[str], write: Sequence[str], write_files: Sequence[str], block_tcp: bool
) -> list[str]:
    """Restrict this process and its descendants: read and execute below ``read``, everything
    below ``write``, read/write the device files ``write_files``; nothing else. Optionally no TCP."""
    handled_fs = FS_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if block_tcp and abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(handled_access_fs=handled_fs, handled_access_net=handled_net, scoped=scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _check(
        _libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    try:
        rules = (
            [(p, FS_READ) for p in read]
            + [(p, handled_fs) for p in write]
            + [(p, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE) for p in write_files]
        )
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path this machine does not have
            try:
                if not os.path.isdir(path):
                    access &= FS_FILE
                rule = _PathBeneathAttr(allowed_access=access & handled_fs, parent_fd=fd)
                _check(
                    _libc.syscall(
                        SYS_LANDLOCK_ADD_RULE,
                        ruleset,
                        LANDLOCK_RULE_PATH_BENEATH,
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    ),
                    f"landlock_add_rule {path}",
                )
            finally:
                os.close(fd)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return ["landlock"] + (["landlock-net"] if handled_net else []) + (["landlock-scope"] if scoped else [])


def _drop_privileges(*, run_as: Sequence[int] | None, drop_capabilities: bool) -> list[str]:
    """Give up root's power for good: every capability (none regained by execve) and, with
    ``run_as`` = (uid, gid), root's identity too. Returns what was applied."""
    applied = []
    if os.geteuid() == 0:
        if drop_capabilities:
            _check(_libc.prctl(PR_SET_SECUREBITS, SECURE_ALL_LOCKED, 0, 0, 0), "prctl(SET_SECUREBITS)")
            try:
                with open("/proc/sys/kernel/cap_last_cap") as f:
                    last = int(f.read())
            except OSError:
                last = 40
            for cap in range(last + 1):
                _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
            _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        if run_as:
            uid, gid = run_as
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            applied.append("unprivileged-uid")
        if drop_capabilities:
            header = _CapHeader(version=_LINUX_CAPABILITY_VERSION_3, pid=0)
            data = (_CapData * 2)()
            _check(_libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
            applied.append("nocaps")
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    return applied


def _report(fd: int, **event: Any) -> None:
    os.write(fd, json.dumps(event).encode() + b"\n")


# --- the three processes ------------------------------------------------------------------------


def _run_command(spec: dict[str, Any], run: Callable[[], None] | None) -> NoReturn:
    try:
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # init is not; the job may use its own /proc/self
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        if run is not None:
            run()
        argv = spec["argv"]
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as e:
        os.write(2, f"trellis sandbox: cannot run {spec['argv'][0]!r}: {e.strerror}\n".encode())
    os._exit(127)


def _init(
    spec: dict[str, Any], status_fd: int, life_fd: int, namespaces: list[str], run: Callable[[], None] | None
) -> NoReturn:
    """Pid 1 of the job: confine, start the command, reap until it ends, report its status."""
    isolation = list(namespaces)
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        os.set_blocking(life_fd, False)
        try:
            if os.read(life_fd, 1) == b"":  # the launcher died before PDEATHSIG was armed
                os._exit(1)
        except BlockingIOError:
            pass
        os.close(life_fd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for cgroup in spec["cgroups"]:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")
        workspace = spec["cwd"]
        abi = landlock_abi() if spec["landlock"] else 0
        if "netns" in namespaces:
            try:
                _loopback_up()
            except OSError:
                pass
        if "mntns" in namespaces:
            isolation += _private_mounts(
                workspace,
                readonly_root=abi == 0 and spec["readonly_root"],
                shm_bytes=spec["shm_bytes"],
                reachable=spec["readable"],
                run_as=spec["run_as"],
            )
        os.chdir(workspace)
        _set_rlimits(spec["rlimits"])
        isolation.append("rlimits")
        if abi:
            write_paths = [workspace] + (["/dev/shm"] if "private-shm" in isolation else [])
            isolation += _landlock(
                abi,
                read=spec["readable"],
                write=write_paths,
                write_files=spec["device_files"],
                block_tcp=not spec["network"] and "netns" not in namespaces,
            )
        isolation += _drop_privileges(run_as=spec["run_as"], drop_capabilities=spec["drop_capabilities"])
        # The job runs with init's uid: keep it out of init's /proc entries (its status pipe fd).
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _report(status_fd, event="confined", isolation=isolation)
        command = os.fork()
        if command == 0:
            os.close(status_fd)
            _run_command(spec, run)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == command:
                break
        if os.WIFSIGNALED(status):
            _report(status_fd, event="exit", signal=os.WTERMSIG(status))
        else:
            _report(status_fd, event="exit", code=os.WEXITSTATUS(status))
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - report anything, never run unconfined
        try:
            _report(status_fd, event="error", message=f"{type(e).__name__}: {e}")
        finally:
            os._exit(125)


def launch(
    spec: dict[str, Any], *, status_fd: int, output_fd: int | None = None, run: Callable[[], None] | None = None
) -> NoReturn:
    """The launcher: enter namespaces, fork init, wait for it, report, exit.

    ``output_fd`` (when given) becomes stdout and stderr; ``run`` replaces ``execve`` in the
    command process (the warm pytest runner), which execs the command after all when ``run``
    returns. Never returns.
    """
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        if output_fd is not None:
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
        namespaces = _unshare(spec["namespaces"])
        life_r, life_w = os.pipe()
        init = os.fork()
        if init == 0:
            os.close(life_w)
            _init(spec, status_fd, life_r, namespaces, run)
        os.close(life_r)
        _, status, usage = os.wait4(init, 0)
        _report(
            status_fd,
            event="done",
            init_status=status,
            cpu_s=usage.ru_utime + usage.ru_stime,
            max_rss=usage.ru_maxrss * 1024,
        )
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        try:
            _report(status_fd, event="error", message=f"{type(e).__name__}: {e}")
        finally:
            os._exit(125)


def main() -> NoReturn:
    spec = json.loads(sys.stdin.buffer.read())
    launch(spec, status_fd=spec["status_fd"])


if __name__ == "__main__":
    main()
