"""The server's verification engine: a ``ci.Verifier`` wired to the store, the differ and an executor."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from trellis import ci, semantic_diff
from trellis.vcs import Store

from .differ import Differ
from .indexing import Index

__all__ = ["EXECUTORS", "build_verifier"]

log = logging.getLogger("trellis.ci")

EXECUTORS = ("local", "ray")


def _executor(kind: str, data_dir: Path, workers: int, ray_address: str | None) -> ci.Executor:
    if kind == "ray":
        return ci.RayExecutor(address=ray_address, workspace_root=str(data_dir / "workspaces" / "ray"))
    return ci.LocalExecutor(data_dir / "workspaces", workers=workers)


def build_verifier(
    store: Store,
    differ: Differ,
    index: Index,
    data_dir: Path,
    *,
    executor: str = "local",
    workers: int = 0,
    ray_address: str | None = None,
    full_run_every: int = 0,
) -> ci.Verifier:
    """A verifier for the data directory; runs a crash interrupted are closed first."""

    def diff(repository: str, old: str, new: str) -> semantic_diff.DiffResult:
        return differ.diff(repository, old, new).result

    def finished(repository: str, run: ci.Run) -> None:
        index.changed(repository)

    verifier = ci.Verifier(
        store,
        _executor(executor, data_dir, workers or os.cpu_count() or 2, ray_address),
        ci.ResultCache(data_dir / "cache" / "results"),
        diff=diff,
        on_finished=finished,
        full_run_every=full_run_every,
    )
    closed = verifier.recover()
    if closed:
        log.warning("closed %d verification runs a restart interrupted", closed)
    return verifier
