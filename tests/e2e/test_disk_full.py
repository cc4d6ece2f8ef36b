"""A full disk (ENOSPC) through the real server: clear errors, nothing corrupted, recovery.

The data directory lives on a small tmpfs that the test fills with a filler file, so every
write the server tries fails the way it does on a full disk (``No space left on device``).
That needs ``mount`` (root in a container that allows it); without it the test is skipped.

Asserted: every write fails with RESOURCE_EXHAUSTED and reason ``DISK_FULL`` (a message about
disk space, never INTERNAL, never a misleading reason such as a branch-name conflict); reads
and the health check keep working; refs are untouched and ``git fsck --strict`` stays clean,
also when the disk fills in the middle of a commit (the filler is shrunk step by step so that
commits fail at different points); and once the filler is deleted, retrying each failed request
with its ``request_id`` completes it exactly once (a session commit gets its step even if the
disk filled between the commit and the step), new commits land, and the index catches up with
git (``Indexer.check`` reports no difference).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import grpc
import pygit2
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import assert_fsck_clean, git, repo_path
from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import RunningServer, build_server

DISK_BYTES = 16 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a small tmpfs to fill (needs root and a container that allows mount): "
            f"{result.stderr.strip()}"
        )
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


class Filler:
    """A file that takes all the free space of a filesystem, shrunk to hand back some."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == 28, exc  # ENOSPC
        finally:
            os.close(fd)

    def free(self, nbytes: int) -> None:
        """Fill up, then give back ``nbytes``."""
        self.fill()
        os.truncate(self.path, max(0, self.path.stat().st_size - nbytes))

    def remove(self) -> None:
        self.path.unlink()


def _disk_full(call: Callable[[], object]) -> vcs.VcsError:
    with pytest.raises(vcs.VcsError) as info:
        call()
    error = info.value
    assert getattr(error, "code", None) == grpc.StatusCode.RESOURCE_EXHAUSTED, (type(error), error.message)
    assert error.reason == "DISK_FULL", error.message
    assert "disk space" in error.message
    return error


def _refs(path: Path) -> str:
    return git(path, "for-each-ref", "--format=%(refname) %(objectname)")


def _serving(address: str) -> bool:
    with grpc.insecure_channel(address) as ch:
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status
    return bool(status == health_pb2.HealthCheckResponse.SERVING)


@pytest.fixture
def full_disk_server(small_disk: Path) -> Iterator[RunningServer]:
    running = build_server(ServerConfig(data_dir=small_disk / "data", address="127.0.0.1:0"))
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_a_full_disk_gives_clear_errors_corrupts_nothing_and_recovers(
    full_disk_server: RunningServer, small_disk: Path
) -> None:
    server = full_disk_server
    data_dir = small_disk / "data"
    path = repo_path(data_dir, "demo")
    filler = Filler(small_disk / "filler")
    with Client(server.address, agent="alice", timeout=30) as c:
        c.create_repository("demo")
        c.commit("demo", "main", {"src/app.py": "def f():\n    return 1\n"}, "seed")
        session = c.create_session("demo", model="m", task="t")
        c.create_branch("demo", "side")
        assert server.index.wait_idle(30)
        before = _refs(path)

        # 1. Completely full: every kind of write fails cleanly, reads still work.
        filler.fill()
        failed: list[tuple[str, str, dict[str, str | bytes | None], bool]] = []  # (request_id, branch, files, session)
        _disk_full(lambda: c.commit("demo", "main", {"new.txt": "new\n"}, "x", request_id="full-1"))
        failed.append(("full-1", "main", {"new.txt": "new\n"}, False))
        _disk_full(
            lambda: c.commit(
                "demo",
                session.branch_id,
                {"s.txt": "s\n"},
                "x",
                session=session.session_id,
                step=vcs.StepInput(thought="full"),
                request_id="full-2",
            )
        )
        failed.append(("full-2", session.branch_id, {"s.txt": "s\n"}, True))
        with c.commit_stream() as stream:
            _disk_full(lambda: stream.commit("demo", "side", {"st.txt": "st\n"}, "x", request_id="full-3"))
            failed.append(("full-3", "side", {"st.txt": "st\n"}, False))
            # The stream goes on after a rejected item (the next one fails the same way).
            _disk_full(lambda: stream.commit("demo", "side", {"st2.txt": "st\n"}, "x"))
        _disk_full(lambda: c.create_branch("demo", "newbranch"))
        _disk_full(lambda: c.create_session("demo"))
        _disk_full(lambda: c.record_step("demo", session.session_id, vcs.StepInput(thought="t")))
        _disk_full(lambda: c.create_repository("other"))
        assert c.get_branch("demo", "main").branch_id == "main"
        assert c.read_file("demo", "src/app.py").content.startswith(b"def f")
        assert c.query_rows("SELECT count(*) AS n FROM commits")[0]["n"] >= 2
        assert _serving(server.address)
        assert _refs(path) == before
        assert sorted(p.name for p in (data_dir / "repos").iterdir()) == ["demo.git"]  # no half-made repository
        assert_fsck_clean(path)

        # 2. Nearly full: commits land until the disk fills in the middle of one (blob, tree, commit
        # object, ref or session step), at a different point for each amount of free space.
        n = 0
        for free in (4 << 10, 12 << 10, 24 << 10, 48 << 10, 96 << 10):
            filler.free(free)
            for _ in range(40):
                n += 1
                rid, with_session = f"near-{n}", n % 2 == 0
                branch = session.branch_id if with_session else "main"
                files: dict[str, str | bytes | None] = {f"near/{n}.txt": f"{n}\n" * 50}
                try:
                    if with_session:
                        c.commit(
                            "demo",
                            branch,
                            files,
                            f"near {n}",
                            session=session.session_id,
                            step=vcs.StepInput(thought=f"near {n}"),
                            request_id=rid,
                        )
                    else:
                        c.commit("demo", branch, files, f"near {n}", request_id=rid)
                except vcs.VcsError as exc:
                    assert getattr(exc, "code", None) == grpc.StatusCode.RESOURCE_EXHAUSTED, exc.message
                    assert exc.reason == "DISK_FULL", exc.message
                    failed.append((rid, branch, files, with_session))
                    break
            assert_fsck_clean(path)
            assert _serving(server.address)
        assert len(failed) > 3

        # 3. Space comes back: every failed request, retried with its request_id, lands exactly once.
        filler.remove()
        for rid, branch, files, with_session in failed:
            if with_session:
                result = c.commit(
                    "demo",
                    branch,
                    files,
                    rid,
                    session=session.session_id,
                    step=vcs.StepInput(thought=rid),
                    request_id=rid,
                )
                assert result.step is not None and result.step.commit_id == result.commit.commit_id
            else:
                c.commit("demo", branch, files, rid, request_id=rid)
        repo = pygit2.Repository(str(path))
        for rid, branch, _, _with_session in failed:
            tip = repo.references[f"refs/heads/{branch}"].target
            landed = [x for x in repo.walk(tip) if f"Trellis-Request: {rid}\n" in x.message]
            assert len(landed) == 1, (rid, len(landed))
        steps = list(c.list_steps("demo", session.session_id))
        session_commits = [
            str(x.id)
            for x in repo.walk(repo.references[f"refs/heads/{session.branch_id}"].target)
            if "Trellis-Session: " in x.message
        ]
        assert {s.commit_id for s in steps if s.commit_id} == set(session_commits)
        assert len([s for s in steps if s.commit_id]) == len(session_commits)  # one step per commit
        c.create_branch("demo", "after")
        c.commit("demo", "after", {"after.txt": "ok\n"}, "after the disk was full")
        assert server.index.wait_idle(60)
        assert server.index.indexer.check() == []
    assert_fsck_clean(path)


def test_an_index_a_full_disk_invalidated_is_opened_again_and_caught_up(
    full_disk_server: RunningServer, small_disk: Path
) -> None:
    # DuckDB invalidates a database whose checkpoint the full disk refused ("The database must be restarted"):
    # every later statement fails. The index snapshot's publisher checkpoints between writes, so a full disk at
    # that moment left the index dead until a restart. Now the background indexer opens it again (retrying while
    # the disk is full) and catches up with git.
    server = full_disk_server
    filler = Filler(small_disk / "filler")
    indexer = server.index.indexer
    with Client(server.address, agent="alice", timeout=30) as c:
        c.create_repository("demo")
        c.commit("demo", "main", {"src/app.py": "def f():\n    return 1\n"}, "seed")
        assert server.index.wait_idle(30)
        with indexer.writes_held():
            indexer.connection.execute("CREATE TEMP TABLE t AS SELECT 1")  # (a connection that works)
        filler.fill()
        with pytest.raises(duckdb.Error):
            with indexer.writes_held():
                for n in range(200):  # write-ahead log entries, then a checkpoint the full disk refuses
                    indexer.connection.execute(f"INSERT INTO t VALUES ({n})")
                indexer.connection.execute("CHECKPOINT")
        with pytest.raises(duckdb.Error, match="invalidated|restarted"):
            indexer.connection.execute("SELECT 1").fetchall()
        filler.remove()
        c.commit("demo", "main", {"src/app.py": "def f():\n    return 2\n"}, "after the disk was full")
        assert server.index.wait_idle(60)
        assert indexer.check() == []  # every commit of git in the index, the one after the disk was full too
        assert c.query_rows("SELECT count(*) AS n FROM commits")[0]["n"] >= 2  # Query answers again
