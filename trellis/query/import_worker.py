"""The worker process of a history import: computes the rows of the commits it is given.

:class:`~trellis.query.catchup.RepositorySync` starts one per lane (see
:mod:`trellis.query.lanes`) with :func:`start` as the pool's initializer and
hands it jobs for :func:`rows`. A module of its own, so that a worker imports
only what computing rows needs (git, the semantic diff): not DuckDB, Arrow
or the rest of the indexer.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from trellis.vcs import RepositoryReader, cache_blobs

from .changes import MAX_ENTITY_DIFF_BYTES, CommitRows, EntityDiffer, commit_rows

__all__ = ["rows", "start"]

_state: dict[str, Any] = {}


def _exit_with_parent(parent: int) -> None:
    """End this worker once its parent is gone (a parent that exits at once, on Ctrl-C, cannot shut its pool
    down; the siblings keep the job queue open, so a worker would wait for jobs forever)."""
    while os.getppid() == parent:
        time.sleep(0.25)
    os._exit(0)


def start(repo_path: str, repository: str, differ: EntityDiffer | None, parent: int) -> None:
    """Set this process up as a worker for ``repository`` at ``repo_path``, of the process ``parent``."""
    # Ctrl-C at a terminal reaches the whole process group: the parent decides what stops (and when it
    # goes, the workers find their queue closed and end), so a worker has no traceback to print.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), name="trellis-orphan-check", daemon=True).start()
    # A worker reads each blob of its lane two or three times (the tree diff, the semantic diff, the next commit's
    # old side): kept in memory once read, they are inflated once.
    cache_blobs(MAX_ENTITY_DIFF_BYTES)
    _state["repo"] = RepositoryReader(repo_path)
    _state["repository"] = repository
    _state["differ"] = differ


def rows(commit_ids: list[str]) -> list[CommitRows]:
    """The rows of each of ``commit_ids``, in order."""
    repo = _state["repo"]
    return [commit_rows(repo, _state["repository"], c, _state["differ"]) for c in commit_ids]
