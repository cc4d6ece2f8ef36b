"""``trellis serve --workers 2``: real processes on loopback.

Two fronts share one address; compare-and-swap and ``request_id`` retries hold across them; ``kill -9``
of a front, of the index process or of the supervisor loses no acknowledged commit, the others go on
serving and the dead one is started again; Query is answered through a front.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest

from tests.conftest import assert_fsck_clean, first_parent_history, git_wrapper, most_loose_objects, repo_path
from trellis import vcs
from trellis.client import Client
from trellis.errors import Unavailable
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.v1 import queries_pb2, queries_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
# A channel of its own per client (not gRPC's process-wide subchannel pool): its own connection, which
# the kernel hands to one of the fronts.
OWN_CONNECTION = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class Workers:
    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        self.log = data_dir.parent / "serve.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
        with self.log.open("wb") as log:
            self.proc = self._start(env, log)
        deadline = time.monotonic() + 180
        while True:
            record = self.owner()
            if record.get("address"):
                self.address = str(record["address"])
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"trellis serve --workers 2 did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def _start(self, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trellis",
                "--data-dir",
                str(self.data_dir),
                "serve",
                "--workers",
                "2",
                "--listen",
                "127.0.0.1:0",
                "--durability",
                "none",
                "--loose-objects",
                "0",
                *self.extra,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def owner(self) -> dict[str, Any]:
        try:
            text = (self.data_dir / "server.lock").read_text()
            return json.loads(text) if text else {}
        except (OSError, ValueError):
            return {}

    def pid(self, name: str) -> int:
        return int((self.data_dir / "run" / f"{name}.ready").read_text())

    def client(self, agent: str = "alice") -> Client:
        return Client(self.address, agent=agent, channel=grpc.insecure_channel(self.address, options=OWN_CONNECTION))

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 180) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid = self.pid(name)
            except (OSError, ValueError):
                pid = old_pid
            if pid != old_pid:
                return pid
            time.sleep(0.1)
        raise AssertionError(f"{name} was not started again:\n{self.log.read_text()}")

    def stop(self) -> None:
        pid = int(self.owner().get("pid") or self.proc.pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path / "data")
    try:
        with running.client() as client:
            client.create_repository("demo")
        yield running
    finally:
        running.stop()


def _retrying(what: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return what()
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _race(address: str, worker: int, rounds: int, go: Any, out: Any) -> None:
    channels = [grpc.insecure_channel(address, options=OWN_CONNECTION) for _ in range(4)]
    clients = [Client(address, agent="alice", channel=c) for c in channels]
    go.wait(120)
    landed, stale = [], 0
    for i in range(rounds):
        client = clients[i % len(clients)]
        head = client.get_branch("demo", "main").head_commit_id
        try:
            reply = client.commit(
                "demo", "main", {"counter.txt": f"{worker}-{i}\n"}, f"{worker}/{i}", expected_head=head
            )
        except vcs.StaleHead:
            stale += 1
        else:
            landed.append(reply.commit.commit_id)
    out.put((landed, stale))


def test_compare_and_swap_holds_across_fronts(workers: Workers) -> None:
    ctx = mp.get_context("spawn")
    go, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(workers.address, w, 60, go, out)) for w in range(3)]
    for p in procs:
        p.start()
    outcomes = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    landed = [c for ids, _ in outcomes for c in ids]
    assert sum(stale for _, stale in outcomes) > 0  # they did race
    assert sum(stale for _, stale in outcomes) + len(landed) == 180
    history = first_parent_history(repo_path(workers.data_dir, "demo"), "main")
    assert sorted(history[:-1]) == sorted(landed)  # every acknowledged commit landed once; nothing else did
    log = workers.log.read_text()
    assert "[front-0]" in log and "[front-1]" in log  # both fronts answered (STALE_HEAD lines)
    assert_fsck_clean(repo_path(workers.data_dir, "demo"))


def test_a_retry_through_another_front_returns_the_same_commit(workers: Workers) -> None:
    clients = [workers.client() for _ in range(12)]
    ids = {c.commit("demo", "main", {"a.txt": "once\n"}, "once", request_id="req-1").commit.commit_id for c in clients}
    assert len(ids) == 1
    assert len(first_parent_history(repo_path(workers.data_dir, "demo"), "main")) == 2
    for c in clients:
        c.close()


def _established(pid: int, port: int, *, local: bool) -> set[int]:
    """The ports at the other end of ``pid``'s established TCP connections whose local (or remote) port is ``port``."""
    ports = set()
    for c in psutil.Process(pid).net_connections("tcp"):
        if c.status == psutil.CONN_ESTABLISHED and c.raddr:
            ours, theirs = (c.laddr.port, c.raddr.port) if local else (c.raddr.port, c.laddr.port)
            if ours == port:
                ports.add(theirs)
    return ports


def test_a_client_reaches_every_front_and_spreads_its_calls_and_streams(tmp_path: Path) -> None:
    # The kernel hands each connection to a front by a hash of its addresses, and the clients of a process share
    # a connection: one client process reached one front, two processes one front of two half the time.
    workers = Workers(tmp_path / "data", "--log-level", "debug")  # a line per call, with the front's name
    try:
        port = int(workers.address.rsplit(":", 1)[1])
        with Client(workers.address, agent="alice") as client:
            client.wait_ready()
            mine = _established(os.getpid(), port, local=False)  # this process's ports connected to the fronts
            for name in ("front-0", "front-1"):
                theirs = _established(workers.pid(name), port, local=True)
                assert mine & theirs, f"no connection of this client on {name}"
            client.create_repository("demo")
            for _ in range(4):
                client.get_branch("demo", "main")
            # Two agents of the process that make the same calls open their streams on distinct fronts.
            with Client(workers.address, agent="bob") as other:
                streams = []
                for agent in (client, other):
                    agent.get_repository("demo")
                    streams.append(agent.commit_stream())
                for i, stream in enumerate(streams):
                    stream.commit("demo", "main", {"a.txt": f"{i}\n"}, "through a stream")
                    stream.close()
        lines = workers.log.read_text().splitlines()
        for name in ("front-0", "front-1"):  # each front answered two of the four calls, and one of the streams
            for method in ("GetBranch ok", "CommitStream ok"):
                assert any(f"[{name}]" in line and method in line for line in lines), (name, method, lines)
    finally:
        workers.stop()


def test_query_is_answered_through_a_front(workers: Workers) -> None:
    with workers.client() as client:
        client.commit("demo", "main", {"a.py": "def f():\n    return 1\n"}, "add f")
        client.commit("demo", "main", {"a.py": "def f():\n    return 2\n"}, "change f")

        def counted() -> int:
            rows = client.query_rows("SELECT count(*) AS n FROM commits WHERE repository = 'demo'")
            return int(rows[0]["n"])

        deadline = time.monotonic() + 60
        while counted() < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert counted() == 3
        with pytest.raises(vcs.InvalidArgument):  # the index process's errors reach the caller as they are
            client.query_rows("DELETE FROM commits")
    # Every QueryService method goes through: the index matches git.
    with grpc.insecure_channel(workers.address) as channel:
        check = queries_pb2_grpc.QueryServiceStub(channel).CheckIndex(
            queries_pb2.CheckIndexRequest(), metadata=[(LOCAL_AGENT_HEADER, "alice")], timeout=120
        )
    assert list(check.differences) == []


@pytest.mark.parametrize("victim", ["front-0", "index", "supervisor"])
def test_kill_9_of_one_process_loses_nothing_and_the_others_serve(workers: Workers, victim: str) -> None:
    acknowledged: list[str] = []
    with workers.client() as client:
        for i in range(5):
            acknowledged.append(client.commit("demo", "main", {"n.txt": f"{i}\n"}, f"before {i}").commit.commit_id)
        pid = workers.owner()["pid"] if victim == "supervisor" else workers.pid(victim)
        os.kill(int(pid), signal.SIGKILL)
        for i in range(10):  # the others go on serving (a call that met the dying front is retried)
            reply = _retrying(
                lambda i=i: client.commit(
                    "demo", "main", {"n.txt": f"after {i}\n"}, f"after {i}", request_id=f"after-{i}"
                )
            )
            acknowledged.append(reply.commit.commit_id)
        if victim == "supervisor":
            deadline = time.monotonic() + 180
            while workers.owner().get("pid") in (None, pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert workers.owner().get("pid") not in (None, pid), workers.log.read_text()
            # The new supervisor restarts what dies, as the first one did.
            front = workers.pid("front-1")
            os.kill(front, signal.SIGKILL)
            workers.wait_restarted("front-1", front)
        else:
            workers.wait_restarted(victim, int(pid))

        def indexed() -> int:
            rows = client.query_rows("SELECT count(*) AS n FROM commits WHERE repository = 'demo'")
            return int(rows[0]["n"])

        deadline = time.monotonic() + 120
        while _retrying(indexed) < len(acknowledged) + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _retrying(indexed) == len(acknowledged) + 1  # the index caught up with every commit
    history = first_parent_history(repo_path(workers.data_dir, "demo"), "main")
    assert set(acknowledged) <= set(history)
    assert_fsck_clean(repo_path(workers.data_dir, "demo"))


def test_the_fronts_writers_wait_while_the_loose_objects_are_far_above_the_limit(tmp_path: Path) -> None:
    """The index process packs what the fronts write. A git that takes 1.5 s per ``pack-objects`` stands for
    one starved of CPU: at three times the limit (60 loose objects of 20) the fronts' writers wait for a pass, as
    one process's do, so the loose objects stay bounded by that plus what the writes in flight add (without the
    hold, the writes outran the passes: 200-300); every acknowledged commit is kept, fsck clean."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_wrapper(bin_dir, "sleep 1.5")
    running = Workers(tmp_path / "data", "--loose-objects", "20", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    try:
        with running.client() as client:
            client.create_repository("demo")
        path = repo_path(running.data_dir, "demo")

        def push(agent: int) -> list[str]:
            with running.client() as client:  # a connection of its own: the kernel picks its front
                return [
                    client.commit("demo", "main", {f"a{agent}/f{i}.txt": f"{i}\n"}, f"{agent}/{i}").commit.commit_id
                    for i in range(20)
                ]

        with most_loose_objects(path) as most, concurrent.futures.ThreadPoolExecutor(4) as pool:
            acknowledged = [c for ids in pool.map(push, range(4)) for c in ids]
        assert most[0] <= 60 + 40, most[0]
        assert set(acknowledged) <= set(first_parent_history(path, "main"))
        assert_fsck_clean(path)
    finally:
        running.stop()


def test_an_agent_has_one_rate_quota_across_the_fronts(tmp_path: Path) -> None:
    """Each front is a process of its own; an agent's token bucket is shared by all of them (run/quotas), so
    spreading the calls over connections to both fronts gets no more than the burst, not twice it."""
    running = Workers(tmp_path / "data", "--rate", "0.001", "--burst", "8")
    try:
        clients = [running.client("bursty") for _ in range(16)]
        accepted, limited = 0, []
        for _ in range(2):
            for client in clients:
                try:
                    list(client.list_repositories())
                    accepted += 1
                except vcs.LimitExceeded as exc:
                    limited.append(exc)
        assert accepted == 8, f"{accepted} calls passed a burst of 8 (one bucket per front?)"
        assert {exc.reason for exc in limited} == {"RATE_LIMITED"}
        with running.client("another") as other:  # another agent has its own bucket
            list(other.list_repositories())
        for client in clients:
            client.close()
    finally:
        running.stop()


def test_a_push_to_a_repository_with_a_trellis_toml_starts_a_run_through_a_front(workers: Workers) -> None:
    # The front reads the pipeline from git itself before it asks the index process to start the run.
    with workers.client() as client:
        pipeline = '[stages.check]\nrun = "true"\n'
        reply = client.commit("demo", "main", {"trellis.toml": pipeline, "a.txt": "one\n"}, "a pipeline")
        runs = list(client.list_runs("demo"))
    assert [r.commit_id for r in runs] == [reply.commit.commit_id]


def test_the_web_viewer_beside_the_fronts_spends_their_shared_quota(tmp_path: Path) -> None:
    """Under --workers the viewer runs in the index process; its pages spend the buckets the fronts share."""
    import re
    import urllib.error
    import urllib.request

    running = Workers(tmp_path / "data", "--http", "127.0.0.1:0", "--rate", "0.001", "--burst", "3")
    try:
        deadline = time.monotonic() + 120
        while not (found := re.search(r"web viewer on (\S+)", running.log.read_text())):
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.1)
        url = found.group(1)
        with running.client("local") as client:
            client.create_repository("demo")  # one request of the identity "local"
        for _ in range(2):
            with urllib.request.urlopen(url + "/repositories", timeout=30) as response:
                assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + "/repositories", timeout=30)
        assert refused.value.code == 429 and "RATE_LIMITED" in refused.value.read().decode()
    finally:
        running.stop()


def _malloc_heaps(pid: int) -> int:
    """The glibc malloc arenas a process has made besides its main one, from its memory map: each is a heap of
    64 MiB of address space at a 64 MiB boundary (its used part read-write, the rest reserved)."""
    regions = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        regions.append((start, end, fields[1], len(fields) > 5))
    heaps = 0
    for i, (start, end, perms, named) in enumerate(regions):
        if named or start % (64 << 20) or not perms.startswith("rw"):
            continue
        reserved = regions[i + 1] if i + 1 < len(regions) else None
        if end - start == 64 << 20 or (
            reserved is not None
            and reserved[0] == end
            and reserved[2].startswith("---")
            and reserved[1] - start == 64 << 20
        ):
            heaps += 1
    return heaps


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas, read from /proc")
def test_a_fronts_call_threads_share_a_bounded_number_of_malloc_arenas(workers: Workers) -> None:
    """glibc gives each new thread an arena of its own, up to eight per core, and each arena keeps its own free
    space: a front's ~50 pool threads made its C heap grow without end under load (issue 12). Its threads share
    ``--front-malloc-arenas`` (2: the main one and one more), however many calls run at once."""
    clients = [workers.client(f"agent{i}") for i in range(24)]
    go = threading.Barrier(len(clients))

    def calls(client: Client) -> None:
        go.wait(60)
        for _ in range(10):
            list(client.list_repositories())
            client.get_branch("demo", "main")

    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(calls, clients))
    for client in clients:
        client.close()
    for front in ("front-0", "front-1"):
        assert _malloc_heaps(workers.pid(front)) <= 2
