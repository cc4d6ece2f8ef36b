"""One way to name things: every revision field takes the same forms, through the real server.

A revision field takes a resource name of the request's repository (a branch's or a commit's) or a bare
revision (a branch id, a commit id or a prefix of one, ``HEAD``, each with ``~N`` / ``^N``). Each field
is checked with every form naming the same commit; the fields are collected from the protos, so a new
revision field without a check here fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor as gdesc
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import raw_unary
from tests.test_api_reference import documented_reasons
from trellis import names, vcs
from trellis.client import Client
from trellis.errors import error_from_rpc
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.v1 import changes_pb2, diffs_pb2, pipelines_pb2, queries_pb2, repositories_pb2, sessions_pb2

PIPELINE = '[stages.{name}]\nkind = "external"\nscope = "commit"\n'


@dataclass(frozen=True, slots=True)
class World:
    client: Client
    old: str  # main~1: the commit every form below names
    new: str  # main


@pytest.fixture
def world(client: Client) -> Iterator[World]:
    repo = client.create_repository("demo")
    old = client.commit(
        "demo",
        "main",
        {"a.txt": "old\n", "trellis.toml": PIPELINE.format(name="one")},
        "old",
        expected_head=repo.head_commit_id,
    ).commit.commit_id
    new = client.commit(
        "demo", "main", {"b.txt": "new\n", "trellis.toml": PIPELINE.format(name="two")}, "new"
    ).commit.commit_id
    client.create_branch("demo", "feature", old)
    client.create_repository("other")
    yield World(client, old, new)


def _forms(old: str) -> list[str]:
    return [
        "feature",
        old,
        old[:7],
        "main~1",
        "HEAD~1",
        "main^",
        "repositories/demo/branches/feature",
        f"repositories/demo/commits/{old}",
        "repositories/demo/commits/main~1",
    ]


_fresh = count()


def _resolved(field: str, w: World, revision: str) -> str:
    """The commit the server took ``revision`` in ``field`` for."""
    c = w.client
    if field == "ListCommitsRequest.revision":
        return next(c.log("demo", revision)).commit_id
    if field == "GetFileRequest.revision":
        assert c.read_file("demo", "a.txt", revision).content == b"old\n"
        with pytest.raises(vcs.NotFound):
            c.read_file("demo", "b.txt", revision)
        return w.old
    if field == "ReadFileRequest.revision":
        assert b"".join(m.data for m in c.read_file_chunks("demo", "a.txt", revision)) == b"old\n"
        return w.old
    if field == "ListTreeRequest.revision":
        assert "b.txt" not in {e.path for e in c.list_tree("demo", "", revision)}
        return w.old
    if field == "CreateBranchRequest.revision":
        return c.create_branch("demo", f"made/{next(_fresh)}", revision).head_commit_id
    if field == "CreateSessionRequest.base_revision":
        return c.create_session("demo", base_revision=revision).base_commit_id
    if field == "MergeRequest.source_revision":
        target = f"target/{next(_fresh)}"
        c.create_branch("demo", target, "main~2")
        merged = c.merge("demo", target, revision).commit
        assert merged is not None
        return merged.commit_id
    if field == "DiffRequest.new_revision":
        assert [f.path for f in c.diff("demo", revision).result.files] == ["a.txt", "trellis.toml"]
        return w.old
    if field == "DiffRequest.old_revision":
        assert [f.path for f in c.diff("demo", "main", revision).result.files] == ["b.txt", "trellis.toml"]
        return w.old
    if field == "GetPipelineRequest.revision":
        assert list(c.get_pipeline("demo", revision).stages) == ["one"]
        return w.old
    if field == "VerifyRequest.revision":
        return c.verify("demo", revision).commit_id
    raise AssertionError(f"no check for the revision field {field}: add one")


def _revision_fields() -> list[str]:
    found = []
    for module in (changes_pb2, diffs_pb2, pipelines_pb2, sessions_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            if message.name.endswith("Request"):
                found += [f"{message.name}.{f.name}" for f in message.fields if f.name.endswith("revision")]
    return sorted(found)


@pytest.mark.parametrize("field", _revision_fields())
def test_every_revision_field_takes_every_form(world: World, field: str) -> None:
    for revision in _forms(world.old):
        assert _resolved(field, world, revision) == world.old, (field, revision)


def test_get_commit_takes_any_revision_in_its_name(world: World) -> None:
    for revision in ["main~1", "feature", world.old[:7]]:
        assert world.client.get_commit("demo", revision).commit_id == world.old


def test_a_session_branch_is_a_revision_as_it_is(world: World, channel: grpc.Channel) -> None:
    created = sessions_pb2.CreateSessionResponse.FromString(
        raw_unary(
            channel,
            "/trellis.v1.SessionService/CreateSession",
            sessions_pb2.CreateSessionRequest(
                parent="repositories/demo", base_revision="repositories/demo/branches/main"
            ),
        )
    )
    branch = created.session.branch
    assert branch.startswith("repositories/demo/branches/agents/alice/")
    got = changes_pb2.GetFileResponse.FromString(
        raw_unary(
            channel,
            "/trellis.v1.ChangeService/GetFile",
            changes_pb2.GetFileRequest(parent="repositories/demo", revision=branch, path="b.txt"),
        )
    )
    assert got.content == b"new\n"
    diff = diffs_pb2.DiffResponse.FromString(
        raw_unary(
            channel,
            "/trellis.v1.DiffService/Diff",
            diffs_pb2.DiffRequest(parent="repositories/demo", old_revision="main", new_revision=branch),
        )
    )
    assert list(diff.files) == []


def test_branch_fields_take_a_resource_name_or_an_id(world: World) -> None:
    c = world.client
    run = c.verify("demo", "feature", pipeline_branch="repositories/demo/branches/main")
    assert run.branch == "main"
    by_id = [r.run_id for r in c.list_runs("demo", branch="main")]
    assert run.run_id in by_id
    assert [r.run_id for r in c.list_runs("demo", branch="repositories/demo/branches/main")] == by_id


def _raw_error(call: Callable[[], object]) -> vcs.VcsError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return error_from_rpc(info.value)


@pytest.mark.parametrize(
    ("revision", "reason"),
    [
        ("repositories/other/branches/main", "REPOSITORY_MISMATCH"),
        ("repositories/other/commits/main", "REPOSITORY_MISMATCH"),
        ("repositories/demo", "INVALID_RESOURCE_NAME"),
        ("repositories/demo/runs/0123456789abcdef0123", "INVALID_RESOURCE_NAME"),
        ("repositories/demo/branches/", "INVALID_RESOURCE_NAME"),
        ("repositories/demo/commits/", "INVALID_RESOURCE_NAME"),
        ("repositories/demo/branches/a..b", "INVALID_BRANCH_NAME"),
        ("repositories/../branches/main", "INVALID_REPOSITORY_NAME"),
    ],
)
def test_a_malformed_revision_name_is_invalid_argument(
    world: World, channel: grpc.Channel, revision: str, reason: str
) -> None:
    requests = [
        (
            "/trellis.v1.ChangeService/GetFile",
            changes_pb2.GetFileRequest(parent="repositories/demo", revision=revision, path="a.txt"),
        ),
        ("/trellis.v1.DiffService/Diff", diffs_pb2.DiffRequest(parent="repositories/demo", old_revision=revision)),
        (
            "/trellis.v1.ChangeService/Merge",
            changes_pb2.MergeRequest(name="repositories/demo/branches/feature", source_revision=revision, preview=True),
        ),
        (
            "/trellis.v1.PipelineService/Verify",
            pipelines_pb2.VerifyRequest(parent="repositories/demo", revision=revision),
        ),
    ]
    for method, request in requests:
        error = _raw_error(lambda: raw_unary(channel, method, request))
        assert error.reason == reason, (method, error.message)


def test_a_branch_field_of_another_repository_is_refused(world: World, channel: grpc.Channel) -> None:
    error = _raw_error(
        lambda: raw_unary(
            channel,
            "/trellis.v1.PipelineService/ListRuns",
            pipelines_pb2.ListRunsRequest(parent="repositories/demo", branch="repositories/other/branches/main"),
        )
    )
    assert error.reason == "REPOSITORY_MISMATCH" and error.metadata["field"] == "branch"


_BRANCH = st.from_regex(r"[a-z][a-z0-9_-]{0,8}(/[a-z0-9][a-z0-9_-]{0,8}){0,3}", fullmatch=True)
_BARE = st.from_regex(r"(HEAD|[0-9a-f]{4,40}|[a-z][a-z0-9/_-]{0,12})(~[0-9]|\^[0-9]?)?", fullmatch=True)


@given(_BRANCH, _BARE)
def test_names_parse_revision_round_trips(branch: str, bare: str) -> None:
    assert names.parse_revision("demo", names.branch_name("demo", branch)) == branch
    assert names.parse_revision("demo", names.commit_name("demo", bare)) == bare
    assert names.parse_revision("demo", bare) == bare


def _valid_requests(w: World, tmp: str) -> dict[str, Message]:
    """A request for every RPC that the server accepts (before any of them runs), by method name."""
    s = f"repositories/demo/sessions/{w.client.create_session('demo').session_id}"
    run = f"repositories/demo/runs/{w.client.verify('demo', 'feature').run_id}"
    put = changes_pb2.FileChange(put=changes_pb2.PutFile(path="x.txt", content=b"x"))
    commit = changes_pb2.CommitRequest(name="repositories/demo/branches/feature", changes=[put])
    step = sessions_pb2.StepInput(thought="t")
    return {
        "CreateRepository": repositories_pb2.CreateRepositoryRequest(repository_id="fresh"),
        "GetRepository": repositories_pb2.GetRepositoryRequest(name="repositories/demo"),
        "ListRepositories": repositories_pb2.ListRepositoriesRequest(),
        "DeleteRepository": repositories_pb2.DeleteRepositoryRequest(name="repositories/other"),
        "Commit": commit,
        "CommitStream": changes_pb2.CommitStreamRequest(sequence=1, commit=commit),
        "GetCommit": changes_pb2.GetCommitRequest(name="repositories/demo/commits/main"),
        "ListCommits": changes_pb2.ListCommitsRequest(parent="repositories/demo"),
        "GetFile": changes_pb2.GetFileRequest(parent="repositories/demo", path="a.txt"),
        "ReadFile": changes_pb2.ReadFileRequest(parent="repositories/demo", path="a.txt"),
        "ListTree": changes_pb2.ListTreeRequest(parent="repositories/demo"),
        "CreateBranch": changes_pb2.CreateBranchRequest(parent="repositories/demo", branch_id="fresh"),
        "GetBranch": changes_pb2.GetBranchRequest(name="repositories/demo/branches/main"),
        "ListBranches": changes_pb2.ListBranchesRequest(parent="repositories/demo"),
        "DeleteBranch": changes_pb2.DeleteBranchRequest(name="repositories/demo/branches/feature"),
        "Merge": changes_pb2.MergeRequest(
            name="repositories/demo/branches/feature", source_revision="main", preview=True
        ),
        "CreateSession": sessions_pb2.CreateSessionRequest(parent="repositories/demo"),
        "GetSession": sessions_pb2.GetSessionRequest(name=s),
        "ListSessions": sessions_pb2.ListSessionsRequest(parent="repositories/demo"),
        "EndSession": sessions_pb2.EndSessionRequest(name=s, status=sessions_pb2.SESSION_STATUS_SUCCEEDED),
        "RecordStep": sessions_pb2.RecordStepRequest(parent=s, step=step),
        "RecordSteps": sessions_pb2.RecordStepsRequest(parent=s, steps=[step]),
        "ListSteps": sessions_pb2.ListStepsRequest(parent=s),
        "Diff": diffs_pb2.DiffRequest(parent="repositories/demo"),
        "Query": queries_pb2.QueryRequest(sql="SELECT 1 AS one"),
        "Export": queries_pb2.ExportRequest(destination=tmp),
        # (the conftest's server keeps its data in <tmp_path>/data: import demo's own repository as a source)
        "ImportRepository": queries_pb2.ImportRepositoryRequest(
            repository_id="imported", source_path=str(Path(tmp).parent / "data" / "repos" / "demo.git")
        ),
        "CheckIndex": queries_pb2.CheckIndexRequest(),
        "RebuildIndex": queries_pb2.RebuildIndexRequest(),
        "SetPipeline": pipelines_pb2.SetPipelineRequest(parent="repositories/demo"),
        "GetPipeline": pipelines_pb2.GetPipelineRequest(parent="repositories/demo"),
        "Verify": pipelines_pb2.VerifyRequest(parent="repositories/demo", revision="main"),
        "GetRun": pipelines_pb2.GetRunRequest(name=run),
        "ListRuns": pipelines_pb2.ListRunsRequest(parent="repositories/demo"),
        "WatchRun": pipelines_pb2.WatchRunRequest(name=run),
        "PostVerdict": pipelines_pb2.PostVerdictRequest(name=run, stage="one", verdict=pipelines_pb2.VERDICT_PASSED),
        "WatchReviews": pipelines_pb2.WatchReviewsRequest(parent="repositories/demo", current_only=True),
    }


def _call(channel: grpc.Channel, method: gdesc.MethodDescriptor, request: Message) -> list[Message]:
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = ((LOCAL_AGENT_HEADER, "alice"),)
    data = request.SerializeToString()
    decode = _response_class(method).FromString
    if method.client_streaming:  # CommitStream: the item's error is the unary Commit's
        replies = [decode(r) for r in channel.stream_stream(path)(iter([data]), metadata=metadata, timeout=30)]
        for reply in replies:
            if reply.HasField("error"):
                raise _StreamItemError(reply.error)
        return replies
    if method.server_streaming:
        return [decode(r) for r in channel.unary_stream(path)(data, metadata=metadata, timeout=30)]
    return [decode(channel.unary_unary(path)(data, metadata=metadata, timeout=30))]


class _StreamItemError(Exception):
    def __init__(self, status: Message) -> None:
        super().__init__(status)
        self.status = status


def _response_class(method: gdesc.MethodDescriptor) -> type[Message]:
    return message_factory.GetMessageClass(method.output_type)


def test_a_required_field_left_empty_is_invalid_argument(world: World, channel: grpc.Channel, tmp_path: Path) -> None:
    """(google.api.field_behavior) = REQUIRED means what it says: without it, INVALID_ARGUMENT and a listed reason."""
    valid = _valid_requests(world, str(tmp_path / "export"))
    documented = documented_reasons()
    checked = 0
    problems: list[str] = []
    for module in (repositories_pb2, changes_pb2, sessions_pb2, diffs_pb2, queries_pb2, pipelines_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                request = valid[method.name]
                for f in request.DESCRIPTOR.fields:
                    if field_behavior_pb2.REQUIRED not in f.GetOptions().Extensions[field_behavior_pb2.field_behavior]:
                        continue
                    cleared = type(request)()
                    cleared.CopyFrom(request)
                    cleared.ClearField(f.name)
                    where = f"{method.name} without {f.name}"
                    try:
                        _call(channel, method, cleared)
                    except _StreamItemError as exc:
                        if exc.status.code != grpc.StatusCode.INVALID_ARGUMENT.value[0]:
                            problems.append(f"{where}: {exc.status.message}")
                    except grpc.RpcError as exc:
                        reason = error_from_rpc(exc).reason
                        if exc.code() != grpc.StatusCode.INVALID_ARGUMENT or reason not in documented:
                            problems.append(f"{where}: {exc.code().name} {reason}: {exc.details()}")
                    else:
                        problems.append(f"{where} was accepted")
                    checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 40
