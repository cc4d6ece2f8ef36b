"""The API over a real server: SDK round trips, health, reflection, streams, every RPC implemented, auth."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import grpc
import psutil
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, symbol_database
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status
from grpc_tools import protoc

from tests.conftest import assert_fsck_clean, first_parent_history, git, raw_unary, repo_path
from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import Grant, Role
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.datadir import DataDirBusy, running_server
from trellis.errors import Unauthenticated, error_from_status
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.server import ConfigError, RunningServer, build_server
from trellis.v1 import changes_pb2, changes_pb2_grpc, pipelines_pb2

# -- SDK round trips -------------------------------------------------------------------


def test_sdk_shorthand_keeps_a_files_mode(client: Client, data_dir: Path) -> None:
    client.create_repository("demo")
    client.commit("demo", "main", [vcs.PutFile("bin/run", b"#!/bin/sh\n", True)], "Add a script")
    # The {path: bytes} shorthand edits a file without touching its mode: a script stays 100755.
    client.commit("demo", "main", {"bin/run": b"#!/bin/sh\necho edited\n", "notes.txt": "new"}, "Edit")
    with client.commit_stream() as stream:
        stream.commit("demo", "main", {"bin/run": b"#!/bin/sh\necho again\n"}, "Again")
    assert client.read_file("demo", "bin/run").executable
    assert not client.read_file("demo", "notes.txt").executable
    modes = git(repo_path(data_dir, "demo"), "ls-tree", "-r", "main")
    assert "100755 blob" in modes.splitlines()[0] and modes.splitlines()[0].endswith("bin/run")
    # Setting the mode explicitly still changes it.
    client.commit("demo", "main", [vcs.PutFile("bin/run", b"#!/bin/sh\n", False)], "chmod -x")
    assert not client.read_file("demo", "bin/run").executable


def test_sdk_round_trip(client: Client, data_dir: Path) -> None:
    repo = client.create_repository("demo", description="round trip")
    assert repo == client.get_repository("demo")
    assert [r.repository_id for r in client.list_repositories()] == ["demo"]
    first = client.commit(
        "demo",
        "main",
        {"src/app.py": "print(1)\n", "README.md": b"# demo\n"},
        "Add app",
        expected_head=repo.head_commit_id,
    )
    assert first.commit.parent_ids == (repo.head_commit_id,)
    assert first.commit.author.name == "alice"
    assert first.commit.trailers == {"Trellis-Agent": "alice"}
    second = client.commit(
        "demo",
        "main",
        [vcs.PutFile("bin/run", b"#!/bin/sh\n", True), vcs.RenameFile("README.md", "docs/README.md")],
        "More",
        expected_head=first.commit.commit_id,
    )
    assert client.read_file("demo", "bin/run").executable
    assert client.read_file("demo", "docs/README.md", second.commit.commit_id).content == b"# demo\n"
    assert client.read_file("demo", "README.md", "main~1").content == b"# demo\n"
    assert [e.path for e in client.list_tree("demo", recursive=True)] == [
        "bin",
        "bin/run",
        "docs",
        "docs/README.md",
        "src",
        "src/app.py",
    ]
    assert [e.path for e in client.list_tree("demo", "src")] == ["src/app.py"]
    assert client.get_commit("demo", "main~1") == first.commit
    assert [c.commit_id for c in client.log("demo")] == [
        second.commit.commit_id,
        first.commit.commit_id,
        repo.head_commit_id,
    ]
    assert [c.commit_id for c in client.log("demo", path="src/app.py")] == [first.commit.commit_id]
    assert [c.commit_id for c in client.log("demo", limit=1)] == [second.commit.commit_id]
    # Branches
    client.create_branch("demo", "feature", "main~1")
    assert client.get_branch("demo", "feature") == vcs.Branch("feature", first.commit.commit_id)
    assert [b.branch_id for b in client.list_branches("demo")] == ["feature", "main"]
    assert [b.branch_id for b in client.list_branches("demo", "feat")] == ["feature"]
    client.delete_branch("demo", "feature", expected_head=first.commit.commit_id)
    assert [b.branch_id for b in client.list_branches("demo")] == ["main"]
    # Agreement with git itself
    path = repo_path(data_dir, "demo")
    assert git(path, "rev-parse", "main").strip() == second.commit.commit_id
    assert git(path, "show", "main:src/app.py") == "print(1)\n"
    client.delete_repository("demo")
    assert list(client.list_repositories()) == []


def test_sdk_paging_walks_every_page(client: Client) -> None:
    for i in range(3):
        client.create_repository(f"r{i}")
    client.commit("r0", "main", {f"f{i:04d}": "x" for i in range(1200)})
    assert len(list(client.list_tree("r0"))) == 1200  # more than the server's default page
    for i in range(60):
        client.create_branch("r0", f"b{i:02d}")
    assert len(list(client.list_branches("r0"))) == 61
    for i in range(55):
        client.commit("r1", "main", {"f": str(i)})
    assert len(list(client.log("r1"))) == 56
    assert len(list(client.log("r1", page_size=7))) == 56


def test_sessions_over_the_api(server: RunningServer, client: Client, data_dir: Path) -> None:
    client.create_repository("demo")
    session = client.create_session("demo", model="gpt-x", task="t", metadata={"run": "1"})
    assert session.branch_id == f"agents/alice/{session.session_id}"
    step = client.record_step(
        "demo",
        session.session_id,
        vcs.StepInput(thought="look", action="ls", input_tokens=10, output_tokens=2, cost_usd=0.5, metadata={"a": "b"}),
    )
    assert step.index == 1 and step.commit_id == "" and step.input.metadata == {"a": "b"}
    result = client.commit(
        "demo",
        session.branch_id,
        {"x.py": "x = 1\n"},
        "Add x",
        expected_head=session.base_commit_id,
        session=session.session_id,
        step=vcs.StepInput(thought="write", action="edit", input_tokens=5),
    )
    assert result.step is not None and result.step.index == 2 and result.step.session_id == session.session_id
    assert result.commit.trailers == {
        "Trellis-Agent": "alice",
        "Trellis-Session": session.session_id,
        "Trellis-Step": "2",
    }
    got = client.get_session("demo", session.session_id)
    assert (got.step_count, got.commit_count, got.input_tokens, got.output_tokens) == (2, 1, 15, 2)
    assert [s.index for s in client.list_steps("demo", session.session_id)] == [1, 2]
    ended = client.end_session("demo", session.session_id, "succeeded", "done")
    assert ended.status is vcs.SessionStatus.SUCCEEDED and ended.end_time is not None
    with Client(server.address, agent="bob") as bob:
        bobs = bob.create_session("demo")
        assert bobs.branch_id.startswith("agents/bob/")
        with pytest.raises(vcs.PermissionDenied):
            bob.end_session("demo", session.session_id)
        # Reading another agent's session is allowed.
        assert bob.get_session("demo", session.session_id) == ended
    listed = [s.session_id for s in client.list_sessions("demo")]
    assert set(listed) == {session.session_id, bobs.session_id}
    assert [s.session_id for s in client.list_sessions("demo", agent="bob")] == [bobs.session_id]
    assert_fsck_clean(repo_path(data_dir, "demo"))


# -- health and reflection -------------------------------------------------------------


def test_health_check_is_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    assert stub.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING
    response = stub.Check(health_pb2.HealthCheckRequest(service="trellis.v1.ChangeService"), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_client_of_a_one_process_server_keeps_one_connection(server: RunningServer, client: Client) -> None:
    # (A client of `serve --workers N` opens one to each front: tests/e2e/test_workers.py.)
    client.wait_ready()
    client.create_repository("one")
    for _ in range(4):
        client.get_repository("one")
    connections = [
        c
        for c in psutil.Process().net_connections("tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == server.port
    ]
    assert len(connections) == 1


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {
        "trellis.v1.RepositoryService",
        "trellis.v1.ChangeService",
        "trellis.v1.SessionService",
        "trellis.v1.DiffService",
        "trellis.v1.PipelineService",
        "trellis.v1.QueryService",
        "grpc.health.v1.Health",
    } <= services
    # A client can learn the whole contract from reflection alone.
    file = database.FindFileContainingSymbol("trellis.v1.ChangeService")
    assert file.package == "trellis.v1"
    assert "Commit" in [m.name for s in file.service for m in s.method]


# What a client of grpc.reflection.v1 declares (the upstream proto's messages, trimmed to what it asks),
# compiled on its own: the test does not lean on the server's descriptor of the v1 service.
_REFLECTION_V1_CLIENT = """
syntax = "proto3";
package grpc.reflection.v1;
message ServerReflectionRequest {
  string host = 1;
  oneof message_request {
    string file_by_filename = 3;
    string file_containing_symbol = 4;
    string list_services = 7;
  }
}
message ServerReflectionResponse {
  string valid_host = 1;
  ServerReflectionRequest original_request = 2;
  oneof message_response {
    FileDescriptorResponse file_descriptor_response = 4;
    ListServiceResponse list_services_response = 6;
    ErrorResponse error_response = 7;
  }
}
message FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
message ListServiceResponse { repeated ServiceResponse service = 1; }
message ServiceResponse { string name = 1; }
message ErrorResponse { int32 error_code = 1; string error_message = 2; }
"""


def _reflection_v1_client(tmp_path: Path) -> tuple[type[Message], type[Message]]:
    (tmp_path / "client.proto").write_text(_REFLECTION_V1_CLIENT)
    out = tmp_path / "client.pb"
    assert protoc.main(["protoc", f"--proto_path={tmp_path}", f"--descriptor_set_out={out}", "client.proto"]) == 0
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(file)
    request, response = (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.reflection.v1.{name}"))
        for name in ("ServerReflectionRequest", "ServerReflectionResponse")
    )
    return request, response


def test_reflection_v1_serves_the_same_contract(channel: grpc.Channel, tmp_path: Path) -> None:
    request, response = _reflection_v1_client(tmp_path)
    info = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )
    asked = [
        request(list_services=""),
        request(file_containing_symbol="trellis.v1.ChangeService"),
        request(file_containing_symbol="grpc.reflection.v1.ServerReflection"),
        request(file_containing_symbol="no.such.Symbol"),
    ]
    services, change, itself, missing = list(info(iter(asked), timeout=10))
    names = {s.name for s in services.list_services_response.service}
    assert {
        "trellis.v1.ChangeService",
        "trellis.v1.PipelineService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    files = {
        f.name: f
        for f in map(
            descriptor_pb2.FileDescriptorProto.FromString, change.file_descriptor_response.file_descriptor_proto
        )
    }
    assert "Commit" in [m.name for s in files["trellis/v1/changes.proto"].service for m in s.method]
    assert {"trellis/v1/common.proto", "google/rpc/status.proto"} <= files.keys()  # with its imports
    (v1,) = map(descriptor_pb2.FileDescriptorProto.FromString, itself.file_descriptor_response.file_descriptor_proto)
    assert (v1.name, v1.package, [s.name for s in v1.service]) == (
        "grpc/reflection/v1/reflection.proto",
        "grpc.reflection.v1",
        ["ServerReflection"],
    )
    method = v1.service[0].method[0]
    assert (method.input_type, method.output_type) == (
        ".grpc.reflection.v1.ServerReflectionRequest",
        ".grpc.reflection.v1.ServerReflectionResponse",
    )
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_reflection_v1alpha_describes_the_v1_service_too(channel: grpc.Channel) -> None:
    database = ProtoReflectionDescriptorDatabase(channel)
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= set(
        database.get_services()
    )
    file = database.FindFileContainingSymbol("grpc.reflection.v1.ServerReflection")
    assert file.name == "grpc/reflection/v1/reflection.proto"


# -- message size (docs/api.md, "Size limits") -------------------------------------------


def test_a_file_over_4_mib_needs_a_client_with_a_larger_receive_limit(server: RunningServer, client: Client) -> None:
    big = os.urandom(5 * 1024 * 1024)  # under the 16 MiB file limit, over gRPC's default 4 MiB
    client.create_repository("big")
    client.commit("big", "main", {"blob.bin": big}, "a 5 MiB file")
    assert client.read_file("big", "blob.bin", "main").content == big  # the SDK raises its limit itself
    request = changes_pb2.GetFileRequest(parent="repositories/big", revision="main", path="blob.bin")
    metadata = ((LOCAL_AGENT_HEADER, "alice"),)
    with grpc.insecure_channel(server.address) as plain:  # gRPC's defaults
        with pytest.raises(grpc.RpcError) as refused:
            changes_pb2_grpc.ChangeServiceStub(plain).GetFile(request, metadata=metadata, timeout=30)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # from gRPC itself, no ErrorInfo
    assert rpc_status.from_call(refused.value) is None
    raised = [("grpc.max_receive_message_length", 256 << 20)]
    with grpc.insecure_channel(server.address, options=raised) as channel:
        reply = changes_pb2_grpc.ChangeServiceStub(channel).GetFile(request, metadata=metadata, timeout=30)
    assert reply.content == big


# -- not yet implemented ----------------------------------------------------------------


def _every_method() -> list[tuple[str, str, bool]]:
    methods = []
    for module in (changes_pb2, pipelines_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            methods += [
                (service.full_name, m.name, m.server_streaming) for m in service.methods if not m.client_streaming
            ]
    return methods


@pytest.mark.parametrize(("service", "method", "streaming"), _every_method())
def test_every_rpc_is_implemented_and_refuses_an_empty_request_clearly(
    channel: grpc.Channel, service: str, method: str, streaming: bool
) -> None:
    request_type = symbol_database.Default().pool.FindServiceByName(service).methods_by_name[method].input_type
    request = symbol_database.Default().GetSymbol(request_type.full_name)().SerializeToString()
    metadata = ((LOCAL_AGENT_HEADER, "alice"),)
    with pytest.raises(grpc.RpcError) as info:
        if streaming:
            list(channel.unary_stream(f"/{service}/{method}")(request, timeout=10, metadata=metadata))
        else:
            channel.unary_unary(f"/{service}/{method}")(request, timeout=10, metadata=metadata)
    assert info.value.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND), info.value.details()


# -- CommitStream --------------------------------------------------------------------------


def test_commit_stream_acknowledges_many_commits_in_order(client: Client, data_dir: Path) -> None:
    repo = client.create_repository("demo")
    with client.commit_stream() as stream:
        sequences = [stream.send("demo", "main", {f"f{i:03d}.txt": f"{i}\n"}, f"commit {i}") for i in range(60)]
        assert sequences == list(range(1, 61))
        results = [stream.receive() for _ in sequences]
    ids = [r.commit.commit_id for r in results]
    assert len(set(ids)) == 60
    # In order: each acknowledged commit is the parent of the next.
    assert results[0].commit.parent_ids == (repo.head_commit_id,)
    for previous, current in zip(results, results[1:]):
        assert current.commit.parent_ids == (previous.commit.commit_id,)
    assert [r.commit.message.splitlines()[0] for r in results] == [f"commit {i}" for i in range(60)]
    assert first_parent_history(repo_path(data_dir, "demo"), "main") == [*reversed(ids), repo.head_commit_id]


def _raw_stream(
    channel: grpc.Channel, requests: list[changes_pb2.CommitStreamRequest]
) -> list[changes_pb2.CommitStreamResponse]:
    stub = changes_pb2_grpc.ChangeServiceStub(channel)
    return list(stub.CommitStream(iter(requests), metadata=((LOCAL_AGENT_HEADER, "alice"),), timeout=60))


def test_commit_stream_reports_a_failing_item_and_continues(channel: grpc.Channel, client: Client) -> None:
    repo = client.create_repository("demo")
    items = [
        (10, Client.commit_request("demo", "main", {"a.txt": "a"}, expected_head=repo.head_commit_id)),
        (20, Client.commit_request("demo", "main", {"../escape": "x"})),
        (30, Client.commit_request("demo", "main", {"b.txt": "b"})),
        (40, Client.commit_request("demo", "main", {"b.txt": "b"})),  # changes nothing any more
        (50, Client.commit_request("demo", "main", {"c.txt": "c"}, expected_head=repo.head_commit_id)),  # stale
        (60, Client.commit_request("demo", "main", {"d.txt": "d"})),
    ]
    responses = _raw_stream(channel, [changes_pb2.CommitStreamRequest(sequence=s, commit=r) for s, r in items])
    assert [r.sequence for r in responses] == [10, 20, 30, 40, 50, 60]
    assert [r.WhichOneof("result") for r in responses] == [
        "response",
        "error",
        "response",
        "error",
        "error",
        "response",
    ]
    bad = error_from_status(responses[1].error)
    assert isinstance(bad, vcs.InvalidArgument) and bad.reason == "INVALID_PATH"
    assert responses[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert error_from_status(responses[3].error).reason == "EMPTY_CHANGE"
    stale = error_from_status(responses[4].error)
    assert isinstance(stale, vcs.StaleHead)
    assert stale.actual_head == responses[2].response.commit.commit_id
    assert client.get_branch("demo", "main").head_commit_id == responses[5].response.commit.commit_id
    assert [e.path for e in client.list_tree("demo")] == ["a.txt", "b.txt", "d.txt"]


def test_commit_stream_through_the_sdk_raises_per_item(client: Client) -> None:
    client.create_repository("demo")
    session = client.create_session("demo")
    with client.commit_stream() as stream:
        ok = stream.commit("demo", session.branch_id, {"a": "1"}, session=session.session_id)
        assert ok.step is not None and ok.step.index == 1
        with pytest.raises(vcs.NotFound):
            stream.commit("demo", session.branch_id, [vcs.DeleteFile("ghost")])
        again = stream.commit(
            "demo", session.branch_id, {"b": "2"}, session=session.session_id, expected_head=ok.commit.commit_id
        )
        assert again.commit.parent_ids == (ok.commit.commit_id,)
        assert again.step is not None and again.step.index == 2


def test_commit_stream_is_independent_per_caller(server: RunningServer) -> None:
    """Two streams at once, each on its own branch, interleaved: acknowledgements never cross."""
    with Client(server.address, agent="alice") as alice, Client(server.address, agent="bob") as bob:
        alice.create_repository("demo")
        alice.create_branch("demo", "a")
        alice.create_branch("demo", "b")
        with alice.commit_stream() as sa, bob.commit_stream() as sb:
            for i in range(10):
                sa.send("demo", "a", {"f": f"a{i}"})
                sb.send("demo", "b", {"f": f"b{i}"})
            ra = [sa.receive() for _ in range(10)]
            rb = [sb.receive() for _ in range(10)]
        assert {r.commit.author.name for r in ra} == {"alice"}
        assert {r.commit.author.name for r in rb} == {"bob"}
        assert alice.read_file("demo", "f", "a").content == b"a9"
        assert alice.read_file("demo", "f", "b").content == b"b9"


# -- the data directory has one owner ------------------------------------------------------


def test_second_server_on_the_same_data_dir_fails(server: RunningServer, data_dir: Path) -> None:
    with pytest.raises(DataDirBusy) as info:
        build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    assert server.address in str(info.value)
    owner = running_server(data_dir)
    assert owner is not None and owner["address"] == server.address
    # The first server is unaffected.
    with Client(server.address, agent="alice") as c:
        c.create_repository("still-fine")


def test_data_dir_is_free_again_after_stop(data_dir: Path) -> None:
    first = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    first.stop(grace=1)
    assert running_server(data_dir) is None
    second = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        assert running_server(data_dir) == {"pid": os.getpid(), "address": second.address}
    finally:
        second.stop(grace=1)


def test_non_loopback_address_without_tokens_is_refused(data_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build_server(ServerConfig(data_dir=data_dir, address="0.0.0.0:0"))
    assert "token" in str(info.value)
    # The refusal released the data directory.
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    running.stop(grace=1)


# -- tokens ----------------------------------------------------------------------------------


def test_tokens_authenticate_and_name_the_author(server: RunningServer, data_dir: Path, channel: grpc.Channel) -> None:
    with Client(server.address, agent="alice") as local:
        local.create_repository("demo")
    tokens = TokenStore(data_dir)
    record, token = tokens.create("bob", grants=(Grant("*", Role.MAINTAINER),))  # commits to main
    # Once a token exists, every request needs one (the server rereads the token file).
    with Client(server.address, agent="alice") as anonymous:
        with pytest.raises(Unauthenticated) as info:
            anonymous.get_repository("demo")
        assert info.value.reason == "MISSING_TOKEN"
        assert "token" in info.value.message
    with pytest.raises(grpc.RpcError) as raw:
        raw_unary(channel, "/trellis.v1.RepositoryService/ListRepositories", b"")
    assert raw.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Health stays open for load balancers.
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # With the token the author is bob, whatever the agent header says.
    with Client(server.address, token=token, agent="mallory") as bob:
        result = bob.commit("demo", "main", {"f": "by bob"})
        assert result.commit.author.name == "bob"
        assert result.commit.trailers["Trellis-Agent"] == "bob"
        assert bob.create_session("demo").agent == "bob"
    with Client(server.address, token=token[:-2] + "xx") as forged:
        with pytest.raises(Unauthenticated) as info:
            forged.get_repository("demo")
        assert info.value.reason == "INVALID_TOKEN"
    tokens.revoke(record.token_id)
    _, other = tokens.create("carol")  # tokens are still required
    with Client(server.address, token=token) as revoked:
        with pytest.raises(Unauthenticated) as info:
            revoked.get_repository("demo")
        assert info.value.reason == "INVALID_TOKEN"
    with Client(server.address, token=other) as carol:
        assert carol.get_repository("demo").repository_id == "demo"


def test_token_store_keeps_only_hashes(data_dir: Path) -> None:
    tokens = TokenStore(data_dir)
    record, token = tokens.create("bob", "ci bot")
    text = (data_dir / "tokens.json").read_text()
    secret = token.split("_", 2)[2]  # trellis_<id>_<secret>; the url-safe secret may hold "_" itself
    assert token not in text and secret not in text
    assert record.token_id in text
    assert (data_dir / "tokens.json").stat().st_mode & 0o077 == 0
    assert [(r.agent, r.description, r.revoked) for r in tokens.list()] == [("bob", "ci bot", False)]
    assert tokens.identify(token) == vcs.Identity("bob")
    assert tokens.identify("trellis_nope_nope") is None
    with pytest.raises(vcs.NotFound):
        tokens.revoke("nope")
    with pytest.raises(vcs.InvalidArgument):
        tokens.create("bad name")


def test_server_built_with_tokens_requires_them(data_dir: Path) -> None:
    _, token = TokenStore(data_dir).create("bob", grants=(Grant("*", Role.ADMIN),))  # creates repositories
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address) as anonymous:
            with pytest.raises(Unauthenticated):
                anonymous.create_repository("x")
        with Client(running.address, token=token) as bob:
            assert bob.create_repository("x").repository_id == "x"
    finally:
        running.stop(grace=1)


def test_errors_carry_a_request_id(client: Client) -> None:
    with pytest.raises(vcs.NotFound) as info:
        client.get_repository("nope")
    assert len(info.value.metadata["request_id"]) >= 8


def test_concurrent_streams_and_unary_calls_do_not_exhaust_workers(server: RunningServer) -> None:
    """Many open streams at once still leave room for unary calls."""
    with Client(server.address, agent="alice") as c:
        c.create_repository("demo")
        streams = [c.commit_stream() for _ in range(20)]
        try:
            for i, stream in enumerate(streams):
                c.create_branch("demo", f"s{i}")
                stream.send("demo", f"s{i}", {"f": str(i)})
            results: queue.Queue[vcs.CommitResult] = queue.Queue()
            for stream in streams:
                results.put(stream.receive())
            assert results.qsize() == 20
            assert c.get_repository("demo").repository_id == "demo"
        finally:
            for stream in streams:
                stream.close()
