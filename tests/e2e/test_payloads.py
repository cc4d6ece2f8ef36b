"""Large and binary-safe payloads through a real server: ReadFile streams files past a client's message limit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.server import RunningServer, build_server
from trellis.servicers.changes import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES
from trellis.v1 import changes_pb2, changes_pb2_grpc

MiB = 1 << 20
METADATA = ((LOCAL_AGENT_HEADER, "alice"),)


def _read(channel: grpc.Channel, path: str, chunk_size: int = 0) -> list[changes_pb2.ReadFileResponse]:
    request = changes_pb2.ReadFileRequest(parent="repositories/big", revision="main", path=path, chunk_size=chunk_size)
    return list(changes_pb2_grpc.ChangeServiceStub(channel).ReadFile(request, metadata=METADATA, timeout=60))


def test_a_default_4_mib_grpc_client_reads_a_file_at_the_16_mib_limit(server: RunningServer, client: Client) -> None:
    limit = vcs.Limits().max_file_bytes
    big = os.urandom(limit)
    client.create_repository("big")
    client.commit("big", "main", {"big.bin": big, "empty": b""}, "the largest file a commit takes")
    with grpc.insecure_channel(server.address) as plain:  # gRPC's defaults: 4 MiB per received message
        messages = _read(plain, "big.bin")
        assert b"".join(m.data for m in messages) == big
        assert [m.offset for m in messages] == list(range(0, limit, DEFAULT_CHUNK_BYTES))
        first = messages[0]
        assert (first.path, first.size, first.executable) == ("big.bin", limit, False)
        assert first.blob_id == client.read_file("big", "big.bin").blob_id
        assert all(not m.path and not m.blob_id for m in messages[1:])  # metadata once
        # Asked-for chunk sizes are capped so that each message still fits the default limit.
        capped = _read(plain, "big.bin", chunk_size=64 * MiB)
        assert max(len(m.data) for m in capped) == MAX_CHUNK_BYTES and b"".join(m.data for m in capped) == big
        empty = _read(plain, "empty")
        assert [(m.size, m.data) for m in empty] == [(0, b"")]


def test_read_file_errors_are_the_get_file_ones(server: RunningServer, client: Client) -> None:
    client.create_repository("big")
    client.commit("big", "main", {"dir/a.txt": b"a"}, "one")
    with grpc.insecure_channel(server.address) as plain:
        for path, chunk, code, reason in [
            ("dir", 0, grpc.StatusCode.NOT_FOUND, "NOT_A_FILE"),
            ("nope", 0, grpc.StatusCode.NOT_FOUND, "PATH_NOT_FOUND"),
            ("dir/a.txt", -1, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHUNK_SIZE"),
        ]:
            with pytest.raises(grpc.RpcError) as info:
                _read(plain, path, chunk)
            assert info.value.code() == code, info.value.details()
            with pytest.raises(vcs.VcsError) as sdk:
                list(client.read_file_chunks("big", path, chunk_size=chunk))
            assert sdk.value.reason == reason


@pytest.fixture
def small_message_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server whose messages are capped at gRPC's default 4 MiB (as a proxy in front of it may be)."""
    running = build_server(
        ServerConfig(
            data_dir=tmp_path / "data", address="127.0.0.1:0", durability=vcs.Durability.NONE, max_message_bytes=4 * MiB
        )
    )
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_the_sdk_and_cli_read_a_file_larger_than_a_message_transparently(
    small_message_server: RunningServer, tmp_path: Path
) -> None:
    big = os.urandom(10 * MiB)
    # A 10 MiB commit is over this server's message limit: write it below the server, read it through it.
    with Client(small_message_server.address, agent="alice") as client:
        client.create_repository("big")
        small_message_server.store.commit("big", "main", [vcs.PutFile("c.bin", big)], "c", vcs.Identity("alice"))
        with grpc.insecure_channel(small_message_server.address) as plain:
            with pytest.raises(grpc.RpcError) as refused:  # the unary GetFile cannot carry it
                changes_pb2_grpc.ChangeServiceStub(plain).GetFile(
                    changes_pb2.GetFileRequest(parent="repositories/big", path="c.bin"), metadata=METADATA, timeout=60
                )
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        read = client.read_file("big", "c.bin")  # the SDK falls back to ReadFile
        assert (read.content, read.path, read.blob_id) == (
            big,
            "c.bin",
            next(client.read_file_chunks("big", "c.bin")).blob_id,
        )
    shown = subprocess.run(
        [sys.executable, "-m", "trellis", "cat", "big", "c.bin", "--server", small_message_server.address],
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == big
