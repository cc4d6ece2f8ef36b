"""The Ray executor: the same jobs as Ray tasks, each in the same sandbox on whichever node runs it.

Each node keeps its own :class:`~trellis.ci.execution.workspace.WorkspacePool` (one per worker
process, coordinated across processes by the pool's file locks). A node that
has the repository at ``repo_path`` reads the tree from it; one that has not
materialises the tree from a :class:`~trellis.ci.execution.workspace.PackedTree` the executor
built once per tree and put in Ray's object store. Ray is imported lazily:
without it, constructing a :class:`RayExecutor` raises
:class:`ExecutorUnavailable`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ..errors import CiError
from .jobs import JobOutcome, JobRequest
from .running import run_job
from .workspace import PackedTree, RepositoryTrees, TreeSource, WorkspaceError, WorkspacePool, pack_tree

__all__ = ["ExecutorUnavailable", "RayExecutor", "run_on_node"]

_SHIPPED_TREES_KEPT = 64


class ExecutorUnavailable(CiError):
    """The executor cannot run on this installation (Ray missing, cluster unreachable)."""

    reason = "EXECUTOR_UNAVAILABLE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as e:
        raise ExecutorUnavailable("the Ray executor needs Ray: pip install 'trellis-vcs[ray]'") from e
    return ray


# --- on the node --------------------------------------------------------------------------------

_pools: dict[str, WorkspacePool] = {}
_pools_lock = threading.Lock()


def _node_pool(root: str | None, size: int | None) -> WorkspacePool:
    path = root or os.path.join(tempfile.gettempdir(), "trellis-ray-workspaces")
    with _pools_lock:
        pool = _pools.get(path)
        if pool is None:
            pool = _pools[path] = WorkspacePool(Path(path), size=size or os.cpu_count() or 1)
        return pool


def _source(request: JobRequest, shipped: PackedTree | None) -> TreeSource:
    """The repository when this node has it (holding the tree), else the shipped tree."""
    if os.path.isdir(request.repo_path):
        try:
            trees = RepositoryTrees(request.repo_path)
            if trees.has_tree(request.tree_id):
                return trees
        except WorkspaceError:
            pass
    if shipped is not None:
        return shipped
    raise WorkspaceError(
        f"tree {request.tree_id} is neither in {request.repo_path} on this node nor shipped", reason="TREE_NOT_FOUND"
    )


def run_on_node(
    request: JobRequest, shipped: PackedTree | None, workspace_root: str | None, workspaces: int | None
) -> JobOutcome:
    """The Ray task: one job on this node (module-level, so workers import it by name)."""
    ray = _import_ray()
    node = ray.get_runtime_context().get_node_id()
    pool = _node_pool(workspace_root, workspaces)
    return run_job(request, pool, source=_source(request, shipped), executor=f"ray:{node[:12]}")


# --- on the driver ------------------------------------------------------------------------------


class RayExecutor:
    """Runs jobs as Ray tasks (``cpus_per_job`` CPUs each) on the cluster at ``address``.

    Connects with ``ray.init(address, **init_options)`` unless Ray is already initialised in
    this process (then it uses that, and leaves it running on :meth:`close`).
    ``ship_trees``: True ships every tree through the object store, False never does, None
    (default) ships when the cluster has a node other than this one. ``workspace_root`` and
    ``workspaces_per_node`` configure each node's pool (default: a directory in the node's
    temp dir, one workspace per CPU).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        workspace_root: str | None = None,
        workspaces_per_node: int | None = None,
        ship_trees: bool | None = None,
        cpus_per_job: float = 1.0,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        ray = _import_ray()
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            try:
                ray.init(address=address, **dict(init_options or {}))
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ExecutorUnavailable(
                    f"cannot reach the Ray cluster at {address or 'a new local instance'}: {e}"
                ) from e
        self.workspace_root = workspace_root
        self.workspaces_per_node = workspaces_per_node
        self._task = ray.remote(run_on_node).options(num_cpus=cpus_per_job, max_retries=0)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_job))
        if ship_trees is None:
            here = ray.get_runtime_context().get_node_id()
            ship_trees = any(n.get("Alive") and n.get("NodeID") != here for n in ray.nodes())
        self.ship_trees = ship_trees
        self._shipped: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._refs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _ship(self, request: JobRequest) -> Any:
        key = (request.repo_path, request.tree_id)
        with self._lock:
            ref = self._shipped.get(key)
            if ref is not None:
                self._shipped.move_to_end(key)
                return ref
        ref = self._ray.put(pack_tree(request.repo_path, request.tree_id))  # once per tree
        with self._lock:
            self._shipped[key] = ref
            while len(self._shipped) > _SHIPPED_TREES_KEPT:
                self._shipped.popitem(last=False)
        return ref

    def submit(self, request: JobRequest) -> Future[JobOutcome]:
        shipped = self._ship(request) if self.ship_trees else None
        ref = self._task.remote(request, shipped, self.workspace_root, self.workspaces_per_node)
        future: Future[JobOutcome] = ref.future()
        with self._lock:
            self._refs[request.job_id] = ref
        future.add_done_callback(lambda _: self._forget(request.job_id, ref))
        return future

    def _forget(self, job_id: str, ref: Any) -> None:
        with self._lock:
            if self._refs.get(job_id) is ref:
                del self._refs[job_id]

    def cancel(self, job_id: str) -> None:
        """Kill the task of ``job_id`` (its worker process, and with it the job's sandbox)."""
        with self._lock:
            ref = self._refs.get(job_id)
        if ref is not None:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - finished meanwhile
                pass

    def close(self) -> None:
        with self._lock:
            self._shipped.clear()
        if self._owns_ray:
            self._ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
