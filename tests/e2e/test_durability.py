"""Durable acknowledgements, crash safety and graceful shutdown of the server.

No reply to a write leaves before a sync covered it (a recording sync
function in the real server). SIGKILL in the middle of a push storm of
``trellis serve`` run as a real process loses no acknowledged commit, leaves
fsck-clean repositories, and does not stop a restart on the same data
directory (the kernel drops the flock). SIGTERM lets in-flight work finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import assert_fsck_clean, git, repo_path
from tests.sync_recorder import SyncRecorder
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.datadir import running_server
from trellis.errors import DOMAIN_ERRORS
from trellis.server import build_server

# Real server processes killed and restarted: minutes, not seconds.
pytestmark = pytest.mark.slow

BRANCH_THREADS = 8
ACKS_BEFORE_KILL = 150


class ServerProcess:
    def __init__(self, data_dir: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
        env["COLUMNS"] = "200"  # keep log lines unwrapped
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "trellis",
                    "serve",
                    "--data-dir",
                    str(data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--workers",
                    "0",
                ],
                stdout=out,
                stderr=out,
                env=env,
            )
        self.address = self._wait_for_address(data_dir)

    def _wait_for_address(self, data_dir: Path) -> str:
        for _ in range(600):  # up to a minute on a slow machine; usually well under a second
            record = running_server(data_dir)
            if record and record.get("address") and record.get("pid") == self.proc.pid:
                return str(record["address"])
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def wait_until_logged(self, text: str) -> None:
        for _ in range(600):
            if text in self.log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in the server log:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@contextmanager
def server_process(data_dir: Path, log: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir, log)
    try:
        yield server
    finally:
        server.stop()


def test_no_reply_to_a_write_leaves_before_a_sync_covered_it(tmp_path: Path) -> None:
    """Unary commits, CommitStream commits and session commits from concurrent agents, through gRPC."""
    recorder = SyncRecorder()
    running = build_server(ServerConfig(data_dir=tmp_path / "data", address="127.0.0.1:0"), sync=recorder)
    try:
        path = repo_path(tmp_path / "data", "demo")
        with Client(running.address, agent="setup") as setup:
            head = setup.create_repository("demo").head_commit_id
            recorder.acknowledged(path, "refs/heads/main", head)
            for i in range(4):
                recorder.acknowledged(path, f"refs/heads/u{i}", setup.create_branch("demo", f"u{i}").head_commit_id)
            recorder.acknowledged(path, "refs/heads/st", setup.create_branch("demo", "st").head_commit_id)

        def unary(i: int) -> None:
            with Client(running.address, agent=f"u{i}") as client:
                for n in range(10):
                    reply = client.commit("demo", f"u{i}", {f"u{i}/{n % 3}.txt": f"{n}\n"}, f"unary {n}")
                    recorder.acknowledged(path, f"refs/heads/u{i}", reply.commit.commit_id)

        def streamed() -> None:
            with Client(running.address, agent="st") as client, client.commit_stream() as stream:
                for n in range(15):
                    reply = stream.commit("demo", "st", {"st.txt": f"{n}\n"}, f"stream {n}")
                    recorder.acknowledged(path, "refs/heads/st", reply.commit.commit_id)

        def in_session(i: int) -> None:
            with Client(running.address, agent=f"agent{i}") as client:
                session = client.create_session("demo", task="durability")
                repo = running.store.open("demo")
                for n in range(6):
                    reply = client.commit(
                        "demo", session.branch_id, {"s.txt": f"{i} {n}\n"}, f"step {n}", session=session.session_id
                    )
                    recorder.acknowledged(path, f"refs/heads/{session.branch_id}", reply.commit.commit_id)
                    ref = f"refs/trellis/sessions/{session.session_id}"  # this agent is its only writer
                    recorder.acknowledged(path, ref, str(repo.references[ref].target))

        threads = [threading.Thread(target=unary, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=streamed)]
        threads += [threading.Thread(target=in_session, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            assert not t.is_alive()
    finally:
        running.stop(grace=1)
    assert recorder.check() == 1 + 4 + 1 + 4 * 10 + 15 + 2 * 6 * 2
    assert_fsck_clean(path)


def test_sigkill_in_a_push_storm_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "server.log"
    acknowledged: dict[str, list[str]] = {}
    guard = threading.Lock()
    killed = threading.Event()
    enough = threading.Event()
    failures: list[BaseException] = []

    def acked(branch: str, commit_id: str) -> None:
        with guard:
            acknowledged.setdefault(branch, []).append(commit_id)
            if sum(len(v) for v in acknowledged.values()) >= ACKS_BEFORE_KILL:
                enough.set()

    def pusher(address: str, branch: str) -> None:
        with Client(address, agent="pusher", timeout=30) as client:
            head = client.get_branch("storm", branch).head_commit_id
            n = 0
            while not killed.is_set():
                try:
                    result = client.commit(
                        "storm",
                        branch,
                        {f"{branch}/{n % 7}.txt": f"{n}\n"},
                        f"push {n}",
                        expected_head=head,
                        request_id=f"{branch}-{n}",
                    )
                except (*DOMAIN_ERRORS, grpc.RpcError) as exc:
                    if not killed.is_set():
                        failures.append(exc)
                    return
                head = result.commit.commit_id
                acked(branch, head)
                n += 1

    def streamer(address: str) -> None:
        with Client(address, agent="streamer", timeout=30) as client:
            stream = client.commit_stream()
            n = 0
            try:
                while not killed.is_set():
                    stream.send("storm", "stream", {"stream.txt": f"{n}\n", f"s/{n}": "x"}, f"stream {n}")
                    acked("stream", stream.receive().commit.commit_id)
                    n += 1
            except (*DOMAIN_ERRORS, grpc.RpcError) as exc:
                if not killed.is_set():
                    failures.append(exc)
            finally:
                try:
                    stream.close()
                except grpc.RpcError:  # the server is gone; nothing to drain
                    pass

    with server_process(data_dir, log) as first:
        with Client(first.address, agent="setup") as setup:
            setup.create_repository("storm")
            for i in range(BRANCH_THREADS):
                setup.create_branch("storm", f"b{i}")
            setup.create_branch("storm", "stream")
            before_crash = setup.commit("storm", "main", {"idem.txt": "once"}, request_id="before-crash").commit
        threads = [threading.Thread(target=pusher, args=(first.address, f"b{i}")) for i in range(BRANCH_THREADS)]
        threads.append(threading.Thread(target=streamer, args=(first.address,)))
        for t in threads:
            t.start()
        assert enough.wait(timeout=120), f"the storm stalled:\n{log.read_text()}"
        first.proc.send_signal(signal.SIGKILL)
        killed.set()
        first.proc.wait()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
    assert not failures, failures[0]
    assert first.proc.returncode == -signal.SIGKILL
    # The kernel released the lock with the process.
    assert running_server(data_dir) is None

    with server_process(data_dir, log) as second:
        path = repo_path(data_dir, "storm")
        total = 0
        for branch, commits in acknowledged.items():
            reachable = set(git(path, "rev-list", branch).split())
            missing = [c for c in commits if c not in reachable]
            assert not missing, f"{len(missing)} acknowledged commits lost from {branch}"
            total += len(commits)
        assert total >= ACKS_BEFORE_KILL
        assert len(acknowledged) == BRANCH_THREADS + 1
        assert_fsck_clean(path)
        with Client(second.address, agent="after") as client:
            # New commits work on every branch.
            for branch in [*acknowledged, "main"]:
                head = client.get_branch("storm", branch).head_commit_id
                result = client.commit("storm", branch, {"after-restart.txt": branch}, expected_head=head)
                assert result.commit.parent_ids == (head,)
            # A retry after the crash is recognised as the original request.
            retry = client.commit("storm", "main", {"idem.txt": "once"}, request_id="before-crash")
            assert retry.commit.commit_id == before_crash.commit_id
        assert_fsck_clean(path)


def _wait_not_serving(address: str) -> None:
    """Until a fresh health check no longer answers SERVING: the server has begun to shut down."""
    for _ in range(300):
        with grpc.insecure_channel(address) as channel:
            try:
                status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2).status
            except grpc.RpcError:
                return
        if status != health_pb2.HealthCheckResponse.SERVING:
            return
        time.sleep(0.05)
    raise AssertionError("the server kept serving after SIGTERM")


def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with server_process(data_dir, tmp_path / "server.log") as server:
        with Client(server.address, agent="alice") as client:
            client.create_repository("demo")
            stream = client.commit_stream()
            first = stream.commit("demo", "main", {"a.txt": "0"})
            server.proc.send_signal(signal.SIGTERM)
            _wait_not_serving(server.address)
            # The stream that was in flight when the signal came still gets its work done.
            later = [stream.commit("demo", "main", {"a.txt": str(i)}) for i in range(1, 4)]
            stream.close()
            assert later[0].commit.parent_ids == (first.commit.commit_id,)
        assert server.proc.wait(timeout=60) == 0
    assert running_server(data_dir) is None
    path = repo_path(data_dir, "demo")
    assert git(path, "rev-parse", "main").strip() == later[-1].commit.commit_id
    assert git(path, "show", "main:a.txt") == "3"
    assert_fsck_clean(path)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_idle_server_exits_cleanly_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    data_dir = tmp_path / "data"
    with server_process(data_dir, tmp_path / "server.log") as server:
        # The address is published before `serve` installs its signal handlers (a signal in that window
        # kills the process: test_sigterm_right_after_the_address_is_published_is_graceful); wait for the
        # last log line of start-up first.
        server.wait_until_logged("LOCAL MODE")
        with grpc.insecure_channel(server.address) as channel:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        server.proc.send_signal(sig)
        # SIGTERM is a clean stop; Ctrl-C ends every command with 130 (docs/cli.md, exit status).
        assert server.proc.wait(timeout=60) == (0 if sig == signal.SIGTERM else 130)
    assert running_server(data_dir) is None


def test_sigterm_right_after_the_address_is_published_is_graceful(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    codes = []
    for attempt in range(3):
        data_dir = tmp_path / f"data{attempt}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trellis",
                "serve",
                "--data-dir",
                str(data_dir),
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            for _ in range(60_000):
                record = running_server(data_dir)
                if record and record.get("address") and record.get("pid") == proc.pid:
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.001)
            proc.send_signal(signal.SIGTERM)
            codes.append(proc.wait(timeout=60))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert codes == [0, 0, 0]
