"""The data directory: its layout and the lock that gives it one owner.

``<data>/server.lock`` is held with ``flock`` by the process that owns the
directory (a server, or a CLI command working in-process). While a server
holds it, the file names the address it listens on, so the CLI can find it.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

__all__ = ["DataDirLock", "DataDirBusy", "DataDirMissing", "running_server"]

LOCK_NAME = "server.lock"
INDEX_FILE = "index.duckdb"
"""The index (``trellis.indexing.INDEX_FILE``), named here for the CLI without importing the index."""


class DataDirBusy(Exception):
    """Another process owns the data directory."""


class DataDirMissing(Exception):
    """A command that only works on existing data was pointed at a directory that does not exist."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            f"data directory {root} does not exist (check --data-dir or $TRELLIS_DATA); only commands that "
            "create data create it: trellis repo create, serve, import, import-trajectory, token create"
        )
        self.root = root


class DataDirLock:
    """The data directory's lock, held from ``acquire`` (or ``with``) to ``release``; ``_fd``: a descriptor that
    already holds it (a worker process inherits its supervisor's). A plain class, not a dataclass: ``trellis query``
    takes this lock, and ``dataclasses`` would cost its process ~6 ms of imports."""

    __slots__ = ("_fd", "root")

    def __init__(self, root: Path, _fd: int = -1) -> None:
        self.root = root
        self._fd = _fd

    def __repr__(self) -> str:
        return f"DataDirLock(root={self.root!r}, _fd={self._fd!r})"

    def acquire(self) -> DataDirLock:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = running_server(self.root)
            where = f" (a server at {owner['address']}, pid {owner.get('pid')})" if owner else ""
            raise DataDirBusy(
                f"data directory {self.root} is in use by another process{where}; "
                "talk to it with --server, or pick another --data-dir"
            ) from None
        self._fd = fd
        self.publish(address="")
        return self

    def publish(self, *, address: str, tls: bool = False) -> None:
        """Record who owns the directory (and where its server listens, and whether it speaks TLS)."""
        record = json.dumps({"pid": os.getpid(), "address": address, **({"tls": True} if tls else {})}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, record, 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def running_server(root: Path) -> dict[str, object] | None:
    """The owner record of ``root`` if a live process holds its lock, else None."""
    path = Path(root) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            data = os.pread(fd, 4096, 0)
            try:
                record = json.loads(data) if data else {}
            except ValueError:
                record = {}
            return record if isinstance(record, dict) else {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
