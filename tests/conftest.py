"""Shared fixtures: a real store on a temp directory, a real server on loopback, real git.

Every test gets its own ``tmp_path`` and the server binds port 0, so tests
run in parallel (pytest-xdist) without sharing anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pygit2
import pytest
from google.protobuf.message import Message

from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.server import RunningServer, build_server

ALICE = vcs.Identity("alice")
BOB = vcs.Identity("bob")

# git must not pick up the user's configuration or a surrounding repository.
GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "LC_ALL": "C",
}


def git_wrapper(directory: Path, on_pack_objects: str) -> Path:
    """An executable ``git`` in ``directory`` that runs the shell command ``on_pack_objects`` before each
    ``pack-objects`` (``sleep 1.5``: a git starved of CPU; ``exit 1``: one that fails), then the real git."""
    wrapper = directory / "git"
    wrapper.write_text(
        f'#!/bin/sh\ncase "$*" in *pack-objects*) {on_pack_objects};; esac\nexec {shutil.which("git")} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper


@contextmanager
def most_loose_objects(repo_path: Path) -> Iterator[list[int]]:
    """``[n]``: the most loose objects the repository held while the block ran, counted every 5 ms."""
    from trellis.vcs.maintenance import loose_objects

    most = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            most[0] = max(most[0], len(loose_objects(repo_path)))
            stop.wait(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield most
    finally:
        stop.set()
        sampler.join()


def git(repo_path: Path, *args: str, check: bool = True) -> str:
    """Run real git against a bare repository; return stdout (raise with stderr on failure)."""
    result = subprocess.run(
        ["git", "--git-dir", str(repo_path), *args],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}")
    return result.stdout


def repo_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / "repos" / f"{name}.git"


def assert_fsck_clean(path: Path) -> None:
    """``git fsck --strict`` passes and reports no error, warning, missing or broken object."""
    result = subprocess.run(
        ["git", "--git-dir", str(path), "fsck", "--strict", "--no-dangling", "--no-progress"],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for word in ("error", "warning", "missing", "broken", "bad", "invalid"):
        assert word not in output.lower(), output


def flatten_session_steps(path: Path, session_id: str) -> None:
    """Rewrite the session's tip as versions before step subtrees wrote it: every step in ``steps/`` itself
    (``steps/00000001.json``; see trellis/vcs/sessions.py)."""
    repo = pygit2.Repository(str(path))
    ref = repo.references[f"refs/trellis/sessions/{session_id}"]
    tip = repo[ref.target]
    assert isinstance(tip, pygit2.Commit)
    flat = repo.TreeBuilder()
    for subtree in tip.tree["steps"]:
        assert isinstance(subtree, pygit2.Tree)
        for step in subtree:
            flat.insert(step.name, step.id, pygit2.enums.FileMode.BLOB)
    root = repo.TreeBuilder(tip.tree)
    root.insert("steps", flat.write(), pygit2.enums.FileMode.TREE)
    signature = pygit2.Signature("alice", "alice@example.com")
    commit = repo.create_commit(None, signature, signature, "Old layout\n", root.write(), [tip.id])
    ref.set_target(commit)


def object_count(path: Path) -> int:
    """Loose plus packed objects of a repository, as ``git count-objects -v`` counts them."""
    fields = dict(line.split(": ", 1) for line in git(path, "count-objects", "-v").splitlines() if ": " in line)
    return int(fields["count"]) + int(fields["in-pack"])


def first_parent_history(path: Path, revision: str) -> list[str]:
    """Commit ids from ``revision`` back to the root along first parents, newest first."""
    return git(path, "rev-list", "--first-parent", revision).split()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


# The shared fixtures do not sync to disk (a sync costs milliseconds of wall time on a shared disk, per write):
# tests/vcs/test_durability.py and tests/e2e/test_durability.py cover the durable default, and every
# `trellis serve` a test starts runs with it.
@pytest.fixture
def store(data_dir: Path) -> vcs.Store:
    return vcs.Store(data_dir, durability=vcs.Durability.NONE)


@pytest.fixture
def alice() -> vcs.Identity:
    return ALICE


@pytest.fixture
def server(data_dir: Path) -> Iterator[RunningServer]:
    # No read-only index copy (each costs ~0.1 s of CPU): tests/e2e/test_index_snapshot.py covers it.
    running = build_server(
        ServerConfig(data_dir=data_dir, address="127.0.0.1:0", durability=vcs.Durability.NONE, snapshot_interval=0)
    )
    try:
        yield running
    finally:
        running.stop(grace=1)


@pytest.fixture
def client(server: RunningServer) -> Iterator[Client]:
    with Client(server.address, agent="alice") as c:
        yield c


def snapshot(data_dir: Path, name: str) -> tuple[str, int]:
    """Every ref of a repository with its target, and its object count: equal before and after = nothing written."""
    path = repo_path(data_dir, name)
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)"), object_count(path)


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    """A raw channel to the server, for requests the SDK would not send."""
    with grpc.insecure_channel(server.address) as ch:
        yield ch


def raw_unary(channel: grpc.Channel, method: str, request: bytes | Message, agent: str = "alice") -> bytes:
    """Call ``/package.Service/Method`` with raw bytes (or a message); return the raw response bytes."""
    call = channel.unary_unary(method)
    data = request if isinstance(request, bytes) else request.SerializeToString()
    return call(data, metadata=((LOCAL_AGENT_HEADER, agent),), timeout=30)


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[object]:
    """A local Ray instance for one test module (2 CPUs, no dashboard), shut down after it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray's import-time warnings
        ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
