"""Per-identity quotas over a real server: each one runs out for one agent while another keeps working."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import raw_unary, snapshot
from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.quotas import Quotas
from trellis.server import RunningServer, build_server
from trellis.v1 import repositories_pb2


def _server(data_dir: Path, **quotas: object) -> RunningServer:
    return build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", quotas=Quotas(**quotas)))  # type: ignore[arg-type]


@pytest.fixture
def limited(data_dir: Path) -> Iterator[RunningServer]:
    # A slow rate with a small burst: the burst is spent by a handful of calls, refilled in ~0.2 s.
    running = _server(
        data_dir, requests_per_second=5, burst=4, max_streams=2, max_commit_bytes=1000, max_repositories=2
    )
    try:
        yield running
    finally:
        running.stop(grace=1)


def _retry_delay(error: grpc.RpcError) -> float:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    raise AssertionError("no RetryInfo in the status")


def _quota_failure(error: grpc.RpcError) -> error_details_pb2.QuotaFailure:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            return failure
    raise AssertionError("no QuotaFailure in the status")


def _list(channel: grpc.Channel, agent: str) -> bytes:
    return raw_unary(
        channel,
        "/trellis.v1.RepositoryService/ListRepositories",
        repositories_pb2.ListRepositoriesRequest(),
        agent=agent,
    )


def test_the_request_rate_limits_one_agent_not_the_others(limited: RunningServer) -> None:
    with grpc.insecure_channel(limited.address) as channel:
        with pytest.raises(grpc.RpcError) as info:
            for _ in range(50):
                _list(channel, "alice")
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry in" in (info.value.details() or "")
        delay = _retry_delay(info.value)
        assert 0 < delay <= 0.2 + 1e-6
        assert _quota_failure(info.value).violations[0].subject == "agent:alice"
        _list(channel, "bob")  # bob has his own allowance
        time.sleep(delay + 0.05)
        _list(channel, "alice")  # and alice gets hers back after the hinted delay
    with Client(limited.address, agent="carol") as carol:
        with pytest.raises(vcs.LimitExceeded) as sdk:
            for _ in range(50):
                list(carol.list_repositories())
        assert sdk.value.reason == "RATE_LIMITED" and int(sdk.value.metadata["retry_after_ms"]) > 0


def test_commit_stream_items_are_rated_one_by_one(limited: RunningServer) -> None:
    with Client(limited.address, agent="alice") as alice:
        alice.create_repository("demo")
        time.sleep(1)  # a full bucket
        with alice.commit_stream() as stream:
            results: list[str] = []
            for i in range(8):
                try:
                    stream.commit("demo", "main", {"f": str(i)})
                    results.append("ok")
                except vcs.LimitExceeded as exc:
                    assert exc.reason == "RATE_LIMITED" and exc.metadata["retry_after_ms"]
                    results.append("limited")
            assert "ok" in results and "limited" in results
            time.sleep(0.5)
            stream.commit("demo", "main", {"f": "after"})  # the stream went on


@pytest.fixture
def few_streams(data_dir: Path) -> Iterator[RunningServer]:
    running = _server(data_dir, max_streams=2)
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_streams_are_limited_per_agent(few_streams: RunningServer) -> None:
    limited = few_streams
    with Client(limited.address, agent="alice") as alice, Client(limited.address, agent="bob") as bob:
        alice.create_repository("demo")
        open_streams = [alice.commit_stream() for _ in range(2)]
        for i, stream in enumerate(open_streams):
            stream.commit("demo", "main", {"f": f"x{i}"})  # the server holds both streams now
        third = alice.commit_stream()
        with pytest.raises(vcs.LimitExceeded) as info:
            third.commit("demo", "main", {"f": "y"})
        assert info.value.reason == "TOO_MANY_STREAMS" and info.value.metadata["retry_after_ms"] == "1000"
        with bob.commit_stream() as other:
            other.commit("demo", "main", {"g": "bob"})
        open_streams[0].close()
        deadline = time.monotonic() + 5
        attempt = 0
        while True:  # the slot is free once the server has seen the stream end
            time.sleep(0.3)
            attempt += 1
            try:
                with alice.commit_stream() as again:
                    again.commit("demo", "main", {"f": f"z{attempt}"})
                break
            except vcs.LimitExceeded as exc:
                assert exc.reason == "TOO_MANY_STREAMS"
                assert time.monotonic() < deadline
        open_streams[1].close()
        with contextlib.suppress(grpc.RpcError):  # the refused stream ended with its error
            third.close()


def test_bytes_per_commit(limited: RunningServer, data_dir: Path) -> None:
    with Client(limited.address, agent="alice") as alice:
        alice.create_repository("demo")
        before = snapshot(data_dir, "demo")
        with pytest.raises(vcs.LimitExceeded) as info:
            alice.commit("demo", "main", {"big": b"x" * 2000})
        assert info.value.reason == "COMMIT_BYTES_QUOTA" and "split" in info.value.message
        assert info.value.metadata["limit"] == "1000"
        assert snapshot(data_dir, "demo") == before
        alice.commit("demo", "main", {"small": b"x" * 500})


def test_repositories_per_agent_survive_a_restart(data_dir: Path) -> None:
    running = _server(data_dir, max_repositories=2)
    try:
        with Client(running.address, agent="alice") as alice, Client(running.address, agent="bob") as bob:
            alice.create_repository("a1")
            alice.create_repository("a2")
            with pytest.raises(vcs.LimitExceeded) as info:
                alice.create_repository("a3")
            assert info.value.reason == "REPOSITORY_QUOTA" and "delete one" in info.value.message
            bob.create_repository("b1")
            alice.delete_repository("a1")
            alice.create_repository("a3")
    finally:
        running.stop(grace=1)
    assert not (data_dir / "repos" / "a1.git").exists()
    running = _server(data_dir, max_repositories=2)
    try:
        with Client(running.address, agent="alice") as alice:
            with pytest.raises(vcs.LimitExceeded):  # counted from the repositories' first commits
                alice.create_repository("a4")
        with Client(running.address, agent="bob") as bob:
            bob.create_repository("b2")
    finally:
        running.stop(grace=1)


def test_default_quotas_stay_out_of_the_way(client: Client) -> None:
    client.create_repository("demo")
    with client.commit_stream() as stream:
        for i in range(300):
            stream.send("demo", "main", {"f": str(i)})
        for _ in range(300):
            stream.receive()
    streams = [client.commit_stream() for _ in range(10)]
    for i, s in enumerate(streams):
        s.commit("demo", "main", {"g": str(i)})
    for s in streams:
        s.close()
