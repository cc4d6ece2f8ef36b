"""Authorisation over a real server: every RPC x every role x own / foreign namespace.

The list of RPCs comes from the generated service descriptors, so an RPC
added to the contract without a request here (and an expectation) fails the
matrix. "Allowed" means the status is anything but PERMISSION_DENIED or
UNAUTHENTICATED: the requests are built so that an allowed one fails cheaply
after the policy (NOT_FOUND, a stale head, an invalid field) or does
something harmless, and RPCs not implemented yet may answer UNIMPLEMENTED.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor
from google.protobuf.message import Message
from grpc_status import rpc_status

import trellis.v1
from tests.conftest import snapshot
from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import Grant, Role
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.errors import Unauthenticated, error_from_rpc
from trellis.server import RunningServer, build_server
from trellis.v1 import (
    changes_pb2,
    diffs_pb2,
    pipelines_pb2,
    queries_pb2,
    repositories_pb2,
    sessions_pb2,
)

REPO = "demo"
ZEROS = "0" * 40
RUN = f"repositories/{REPO}/runs/{'0' * 20}"
# Callers of the matrix: the role tokens hold their role on `demo*` only; the admin on `*`.
ROLES = {"reader": Role.READER, "agent": Role.AGENT, "maintainer": Role.MAINTAINER, "admin": Role.ADMIN}
CALLERS = ["anonymous", "forged", *ROLES]
STRANGER = "stranger"  # owns the foreign session and namespace


class World:
    """One server with tokens, a repository with history and one session per writer."""

    def __init__(self, running: RunningServer, tokens: dict[str, str], sessions: dict[str, str]) -> None:
        self.running = running
        self.tokens = tokens
        self.sessions = sessions
        self.channel = grpc.insecure_channel(running.address)

    def metadata(self, caller: str) -> tuple[tuple[str, str], ...]:
        if caller == "anonymous":
            return ()
        if caller == "forged":
            return (("authorization", f"Bearer {self.tokens['admin'][:-3]}abc"),)
        return (("authorization", f"Bearer {self.tokens[caller]}"),)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("authz") / "data"
    data_dir.mkdir()
    store = TokenStore(data_dir)
    tokens = {"admin": store.create("admin", grants=(Grant("*", Role.ADMIN),))[1]}
    for name, role in ROLES.items():
        if name != "admin":
            tokens[name] = store.create(name, grants=(Grant("demo*", role),))[1]
    tokens[STRANGER] = store.create(STRANGER, grants=(Grant("demo*", Role.AGENT),))[1]
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    sessions = {}
    try:
        with Client(running.address, token=tokens["admin"]) as admin:
            admin.create_repository(REPO)
            admin.commit(REPO, "main", {"src/app.py": "def f():\n    return 1\n"}, "Start")
        for name in ["agent", "maintainer", "admin", STRANGER]:
            with Client(running.address, token=tokens[name]) as client:
                sessions[name] = client.create_session(REPO, task="matrix").session_id
        w = World(running, tokens, sessions)
        yield w
        w.channel.close()
    finally:
        running.stop(grace=1)


# -- what each RPC needs (the documented policy, written out independently of trellis/authz.py) --

# method -> (minimum role or None for any authenticated caller, what decides own / foreign)
#   "branch": writes a branch: outside agents/<caller>/ needs maintainer
#   "session": writes a session: only its creator, whatever the role
#   "global": spans every repository: needs the role on `*` (only the admin token has a `*` grant)
EXPECTED: dict[str, tuple[Role | None, str]] = {
    "RepositoryService/CreateRepository": (Role.ADMIN, ""),
    "RepositoryService/GetRepository": (Role.READER, ""),
    "RepositoryService/ListRepositories": (None, ""),
    "RepositoryService/DeleteRepository": (Role.ADMIN, ""),
    "ChangeService/Commit": (Role.AGENT, "branch"),
    "ChangeService/CommitStream": (Role.AGENT, "branch"),
    "ChangeService/GetCommit": (Role.READER, ""),
    "ChangeService/ListCommits": (Role.READER, ""),
    "ChangeService/GetFile": (Role.READER, ""),
    "ChangeService/ReadFile": (Role.READER, ""),
    "ChangeService/ListTree": (Role.READER, ""),
    "ChangeService/CreateBranch": (Role.AGENT, "branch"),
    "ChangeService/GetBranch": (Role.READER, ""),
    "ChangeService/ListBranches": (Role.READER, ""),
    "ChangeService/DeleteBranch": (Role.AGENT, "branch"),
    "ChangeService/Merge": (Role.AGENT, "branch"),
    "SessionService/CreateSession": (Role.AGENT, "branch"),
    "SessionService/GetSession": (Role.READER, ""),
    "SessionService/ListSessions": (Role.READER, ""),
    "SessionService/EndSession": (Role.AGENT, "session"),
    "SessionService/RecordStep": (Role.AGENT, "session"),
    "SessionService/RecordSteps": (Role.AGENT, "session"),
    "SessionService/ListSteps": (Role.READER, ""),
    "DiffService/Diff": (Role.READER, ""),
    "PipelineService/SetPipeline": (Role.MAINTAINER, ""),
    "PipelineService/GetPipeline": (Role.READER, ""),
    "PipelineService/Verify": (Role.AGENT, ""),
    "PipelineService/GetRun": (Role.READER, ""),
    "PipelineService/ListRuns": (Role.READER, ""),
    "PipelineService/WatchRun": (Role.READER, ""),
    "PipelineService/PostVerdict": (Role.MAINTAINER, ""),
    "PipelineService/WatchReviews": (Role.MAINTAINER, ""),
    "QueryService/Query": (Role.READER, "global"),
    "QueryService/Export": (Role.ADMIN, "global"),
    "QueryService/ImportRepository": (Role.ADMIN, "global"),
    "QueryService/CheckIndex": (Role.READER, "global"),
    "QueryService/RebuildIndex": (Role.ADMIN, "global"),
}


def allowed(method: str, caller: str, variant: str) -> bool:
    if caller not in ROLES:
        return False
    role = ROLES[caller]
    needed, kind = EXPECTED[method]
    if needed is not None and role < needed:
        return False
    if kind == "global":
        return caller == "admin"
    if kind == "branch" and variant == "foreign":
        return role >= Role.MAINTAINER
    if kind == "session" and variant == "foreign":
        return False
    return True


# -- cheap requests: allowed ones fail after the policy or do something harmless -------------------


def _branch(name: str) -> str:
    return f"repositories/{REPO}/branches/{name}"


def _commit(caller: str, variant: str) -> changes_pb2.CommitRequest:
    branch = f"agents/{caller}/matrix" if variant == "own" else "main"
    return changes_pb2.CommitRequest(
        name=_branch(branch),
        expected_head=ZEROS,
        message="m",
        changes=[changes_pb2.FileChange(put=changes_pb2.PutFile(path="x.txt", content=b"x"))],
    )


def _session(w: World, caller: str, variant: str) -> str:
    owner = caller if variant == "own" and caller in w.sessions else STRANGER
    if variant == "own" and caller not in w.sessions:
        owner = "agent"  # a reader has no session of its own; it is refused by role anyway
    return f"repositories/{REPO}/sessions/{w.sessions[owner]}"


def _ns(caller: str, variant: str, leaf: str) -> str:
    return f"agents/{caller}/{leaf}" if variant == "own" else f"agents/{STRANGER}/{leaf}"


Builder = Callable[[World, str, str], Message]
REQUESTS: dict[str, Builder] = {
    "RepositoryService/CreateRepository": lambda w, c, v: repositories_pb2.CreateRepositoryRequest(
        repository_id=f"demo-new-{c}", default_branch="bad..branch"
    ),
    "RepositoryService/GetRepository": lambda w, c, v: repositories_pb2.GetRepositoryRequest(
        name=f"repositories/{REPO}"
    ),
    "RepositoryService/ListRepositories": lambda w, c, v: repositories_pb2.ListRepositoriesRequest(),
    "RepositoryService/DeleteRepository": lambda w, c, v: repositories_pb2.DeleteRepositoryRequest(
        name="repositories/demo-ghost"
    ),
    "ChangeService/Commit": lambda w, c, v: _commit(c, v),
    "ChangeService/CommitStream": lambda w, c, v: changes_pb2.CommitStreamRequest(sequence=7, commit=_commit(c, v)),
    "ChangeService/GetCommit": lambda w, c, v: changes_pb2.GetCommitRequest(name=f"repositories/{REPO}/commits/main"),
    "ChangeService/ListCommits": lambda w, c, v: changes_pb2.ListCommitsRequest(
        parent=f"repositories/{REPO}", page_size=1
    ),
    "ChangeService/ReadFile": lambda w, c, v: changes_pb2.ReadFileRequest(
        parent=f"repositories/{REPO}", path="src/app.py"
    ),
    "ChangeService/GetFile": lambda w, c, v: changes_pb2.GetFileRequest(
        parent=f"repositories/{REPO}", path="src/app.py"
    ),
    "ChangeService/ListTree": lambda w, c, v: changes_pb2.ListTreeRequest(parent=f"repositories/{REPO}"),
    "ChangeService/CreateBranch": lambda w, c, v: changes_pb2.CreateBranchRequest(
        parent=f"repositories/{REPO}", branch_id=_ns(c, v, "new") if v == "own" else "feature", revision="nope"
    ),
    "ChangeService/GetBranch": lambda w, c, v: changes_pb2.GetBranchRequest(name=_branch("main")),
    "ChangeService/ListBranches": lambda w, c, v: changes_pb2.ListBranchesRequest(parent=f"repositories/{REPO}"),
    "ChangeService/DeleteBranch": lambda w, c, v: changes_pb2.DeleteBranchRequest(
        name=_branch(_ns(c, v, "ghost") if v == "own" else "main"), expected_head=ZEROS
    ),
    "ChangeService/Merge": lambda w, c, v: changes_pb2.MergeRequest(
        name=_branch(_ns(c, v, "ghost") if v == "own" else "main"), source_revision="nope", expected_head=ZEROS
    ),  # a real merge; a preview is test_a_merge_preview_needs_only_the_reader_role
    "SessionService/CreateSession": lambda w, c, v: sessions_pb2.CreateSessionRequest(
        parent=f"repositories/{REPO}", base_revision="nope", branch_id="" if v == "own" else "feature"
    ),
    "SessionService/GetSession": lambda w, c, v: sessions_pb2.GetSessionRequest(name=_session(w, c, "foreign")),
    "SessionService/ListSessions": lambda w, c, v: sessions_pb2.ListSessionsRequest(parent=f"repositories/{REPO}"),
    "SessionService/EndSession": lambda w, c, v: sessions_pb2.EndSessionRequest(
        name=_session(w, c, v), status=sessions_pb2.SESSION_STATUS_ACTIVE
    ),  # invalid: nothing ends
    "SessionService/RecordStep": lambda w, c, v: sessions_pb2.RecordStepRequest(
        parent=_session(w, c, v), step=sessions_pb2.StepInput(thought="matrix")
    ),
    "SessionService/RecordSteps": lambda w, c, v: sessions_pb2.RecordStepsRequest(
        parent=_session(w, c, v), steps=[sessions_pb2.StepInput(thought="matrix")]
    ),
    "SessionService/ListSteps": lambda w, c, v: sessions_pb2.ListStepsRequest(parent=_session(w, c, "foreign")),
    "DiffService/Diff": lambda w, c, v: diffs_pb2.DiffRequest(parent=f"repositories/{REPO}", new_revision="main"),
    "PipelineService/SetPipeline": lambda w, c, v: pipelines_pb2.SetPipelineRequest(
        parent="repositories/demo-ghost", config_toml="[[[ not toml"
    ),
    "PipelineService/GetPipeline": lambda w, c, v: pipelines_pb2.GetPipelineRequest(parent=f"repositories/{REPO}"),
    "PipelineService/Verify": lambda w, c, v: pipelines_pb2.VerifyRequest(
        parent=f"repositories/{REPO}", revision="nope"
    ),
    "PipelineService/GetRun": lambda w, c, v: pipelines_pb2.GetRunRequest(name=RUN),
    "PipelineService/ListRuns": lambda w, c, v: pipelines_pb2.ListRunsRequest(parent=f"repositories/{REPO}"),
    "PipelineService/WatchRun": lambda w, c, v: pipelines_pb2.WatchRunRequest(name=RUN),
    "PipelineService/PostVerdict": lambda w, c, v: pipelines_pb2.PostVerdictRequest(
        name=RUN, stage="review", chunk="x", verdict=pipelines_pb2.VERDICT_PASSED
    ),
    "PipelineService/WatchReviews": lambda w, c, v: pipelines_pb2.WatchReviewsRequest(parent="repositories/demo-ghost"),
    "QueryService/Query": lambda w, c, v: queries_pb2.QueryRequest(sql="SELECT 1 AS one"),
    "QueryService/Export": lambda w, c, v: queries_pb2.ExportRequest(destination="relative/dir"),
    "QueryService/ImportRepository": lambda w, c, v: queries_pb2.ImportRepositoryRequest(
        repository_id="demo-imported", source_path="relative/dir"
    ),
    "QueryService/CheckIndex": lambda w, c, v: queries_pb2.CheckIndexRequest(),
    "QueryService/RebuildIndex": lambda w, c, v: queries_pb2.RebuildIndexRequest(worker_count=1),
}


def all_methods() -> list[descriptor.MethodDescriptor]:
    found = []
    for info in pkgutil.iter_modules(trellis.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"trellis.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                found.extend(service.methods)
    return sorted(found, key=lambda m: m.full_name)


def short(method: descriptor.MethodDescriptor) -> str:
    return f"{method.containing_service.name}/{method.name}"


METHODS = all_methods()


def test_every_rpc_is_in_the_matrix() -> None:
    names = {short(m) for m in METHODS}
    assert names - set(REQUESTS) == set(), "add a request (and an expectation) for every new RPC"
    assert names - set(EXPECTED) == set()
    assert set(REQUESTS) - names == set() and set(EXPECTED) - names == set()


def call(w: World, method: descriptor.MethodDescriptor, request: Message, caller: str) -> grpc.StatusCode:
    """The status of one call (OK when it succeeded); a CommitStream item's own status counts."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    data = request.SerializeToString()
    metadata = w.metadata(caller)
    try:
        if method.client_streaming:
            responses = w.channel.stream_stream(path)(iter([data]), metadata=metadata, timeout=10)
            item = changes_pb2.CommitStreamResponse.FromString(next(responses))
            if item.HasField("error"):
                return next(c for c in grpc.StatusCode if c.value[0] == item.error.code)
            return grpc.StatusCode.OK
        if method.server_streaming:
            for _ in w.channel.unary_stream(path)(data, metadata=metadata, timeout=3):
                break
            return grpc.StatusCode.OK
        w.channel.unary_unary(path)(data, metadata=metadata, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        return exc.code()


REFUSED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("method", METHODS, ids=short)
def test_matrix(world: World, method: descriptor.MethodDescriptor, caller: str) -> None:
    for variant in ("own", "foreign"):
        request = REQUESTS[short(method)](world, caller, variant)
        code = call(world, method, request, caller)
        if caller in ("anonymous", "forged"):
            assert code == grpc.StatusCode.UNAUTHENTICATED, (variant, code)
        elif allowed(short(method), caller, variant):
            assert code not in REFUSED, (variant, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (variant, code)


def test_refused_writes_write_nothing(world: World) -> None:
    before = snapshot(world.running.store.root, REPO)
    for method in METHODS:
        for caller in ["reader", "agent"]:
            for variant in ("own", "foreign"):
                if not allowed(short(method), caller, variant):
                    request = REQUESTS[short(method)](world, caller, variant)
                    assert call(world, method, request, caller) in REFUSED
    assert snapshot(world.running.store.root, REPO) == before


@pytest.mark.parametrize("caller", ["reader", "agent", "maintainer", "admin"])
def test_a_merge_preview_needs_only_the_reader_role(world: World, caller: str) -> None:
    # A preview writes nothing, so anyone who can read both branches may ask how a merge would go,
    # into any branch (main included) and from any branch; a real merge into main stays refused.
    stranger_branch = f"agents/{STRANGER}/{world.sessions[STRANGER]}"
    with Client(world.running.address, token=world.tokens[caller]) as client:
        before = snapshot(world.running.store.root, REPO)
        for target, source in [("main", stranger_branch), (stranger_branch, "main")]:
            result = client.merge(REPO, target, source, preview=True)
            assert result.clean and result.commit is None
        assert snapshot(world.running.store.root, REPO) == before
        if caller in ("reader", "agent"):
            with pytest.raises(vcs.PermissionDenied):
                client.merge(REPO, "main", stranger_branch)
    with Client(world.running.address) as anonymous, pytest.raises(Unauthenticated):
        anonymous.merge(REPO, "main", "main", preview=True)


# -- the messages and the ErrorInfo ----------------------------------------------------------------


def test_unauthenticated_says_how_to_get_a_token(world: World) -> None:
    with Client(world.running.address) as anonymous:
        with pytest.raises(Unauthenticated) as info:
            anonymous.get_repository(REPO)
    assert info.value.reason == "MISSING_TOKEN" and "trellis token create" in info.value.message
    with Client(world.running.address, token="trellis_nope_nope") as forged:
        with pytest.raises(Unauthenticated) as info:
            forged.get_repository(REPO)
    assert info.value.reason == "INVALID_TOKEN"


@pytest.mark.parametrize("token", ["trellis_…", "trellis_a_b c", "tøken"])
def test_a_token_no_server_could_issue_is_a_clear_error_before_any_call(token: str) -> None:
    # gRPC itself would only say "Invalid metadata" (header values are printable ASCII).
    with pytest.raises(Unauthenticated) as info:
        Client("127.0.0.1:1", token=token)
    assert info.value.reason == "INVALID_TOKEN"
    assert "not a Trellis token" in info.value.message and "trellis token create" in info.value.message
    with pytest.raises(vcs.InvalidArgument) as bad_agent:
        Client("127.0.0.1:1", agent="ålice")
    assert bad_agent.value.reason == "INVALID_AGENT_NAME"


def test_a_token_read_with_its_newline_still_works(world: World) -> None:
    with Client(world.running.address, token=world.tokens["reader"] + "\n") as reader:
        assert reader.get_repository(REPO).repository_id == REPO


def test_permission_denied_names_the_role_and_the_repository(world: World) -> None:
    with Client(world.running.address, token=world.tokens["reader"]) as reader:
        with pytest.raises(vcs.PermissionDenied) as info:
            reader.commit(REPO, "agents/reader/x", {"f": "x"})
    error = info.value
    assert error.reason == "INSUFFICIENT_ROLE"
    assert error.metadata["required_role"] == "agent" and error.metadata["repository"] == REPO
    assert error.metadata["role"] == "reader" and error.metadata["request_id"]
    assert "agent role" in error.message and "'demo'" in error.message
    with Client(world.running.address, token=world.tokens["agent"]) as agent:
        with pytest.raises(vcs.PermissionDenied) as info:
            agent.commit(REPO, "main", {"f": "x"})
    assert info.value.reason == "BRANCH_OUTSIDE_NAMESPACE"
    assert info.value.metadata["namespace"] == "agents/agent/" and info.value.metadata["branch"] == "main"
    assert "maintainer" in info.value.message
    with Client(world.running.address, token=world.tokens["admin"]) as admin:
        with pytest.raises(vcs.PermissionDenied) as info:
            admin.record_step(REPO, world.sessions["agent"], vcs.StepInput(thought="hijack"))
    assert info.value.reason == "NOT_SESSION_OWNER" and "'agent'" in info.value.message


def test_the_raw_status_carries_error_info(world: World) -> None:
    request = repositories_pb2.DeleteRepositoryRequest(name=f"repositories/{REPO}")
    with pytest.raises(grpc.RpcError) as info:
        world.channel.unary_unary("/trellis.v1.RepositoryService/DeleteRepository")(
            request.SerializeToString(), metadata=world.metadata("maintainer"), timeout=10
        )
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(info.value)
    assert status is not None and status.details
    assert error_from_rpc(info.value).reason == "INSUFFICIENT_ROLE"


# -- what the roles can do, end to end ---------------------------------------------------------------


def test_an_agent_works_in_its_namespace_and_sessions(world: World) -> None:
    with Client(world.running.address, token=world.tokens["agent"]) as agent:
        session = agent.create_session(REPO, task="fix")
        assert session.branch_id.startswith("agents/agent/")
        result = agent.commit(
            REPO,
            session.branch_id,
            {"src/app.py": "def f():\n    return 2\n"},
            "Fix",
            session=session.session_id,
            step=vcs.StepInput(thought="fix it"),
        )
        assert result.commit.author.name == "agent" and result.step is not None
        agent.create_branch(REPO, "agents/agent/try", session.branch_id)
        agent.delete_branch(REPO, "agents/agent/try")
        agent.end_session(REPO, session.session_id, "succeeded")
        assert agent.read_file(REPO, "src/app.py", session.branch_id).content.endswith(b"2\n")
        # Streams: a refused item is answered and the stream goes on.
        with agent.commit_stream() as stream:
            stream.send(REPO, "main", {"f": "no"})
            stream.send(REPO, session.branch_id, {"f": "yes"})
            with pytest.raises(vcs.PermissionDenied) as info:
                stream.receive()
            assert info.value.reason == "BRANCH_OUTSIDE_NAMESPACE"
            assert stream.receive().commit.author.name == "agent"


def test_a_maintainer_writes_any_branch_but_manages_no_repository(world: World) -> None:
    with Client(world.running.address, token=world.tokens["maintainer"]) as maintainer:
        maintainer.create_branch(REPO, "release", "main")
        maintainer.commit(REPO, "release", {"CHANGELOG": "1.0\n"}, "Release")
        maintainer.delete_branch(REPO, "release")
        with pytest.raises(vcs.PermissionDenied):
            maintainer.create_repository("demo-mine")


def test_lists_show_only_readable_repositories(world: World, tmp_path: Path) -> None:
    with Client(world.running.address, token=world.tokens["admin"]) as admin:
        admin.create_repository("elsewhere")
        assert {r.repository_id for r in admin.list_repositories()} >= {REPO, "elsewhere"}
    try:
        with Client(world.running.address, token=world.tokens["reader"]) as reader:
            assert [r.repository_id for r in reader.list_repositories()] == [REPO]
            with pytest.raises(vcs.PermissionDenied):
                reader.get_repository("elsewhere")
    finally:
        with Client(world.running.address, token=world.tokens["admin"]) as admin:
            admin.delete_repository("elsewhere")


def test_grants_by_pattern_and_global_readers(world: World, tmp_path: Path) -> None:
    store = TokenStore(world.running.store.root)
    record, team = store.create("team", grants=(Grant("team-*", Role.ADMIN),))
    _, auditor = store.create("auditor", grants=(Grant("*", Role.READER),))
    try:
        with Client(world.running.address, token=team) as client:
            client.create_repository("team-a")
            with pytest.raises(vcs.PermissionDenied):
                client.create_repository("other-a")
            with pytest.raises(vcs.PermissionDenied):
                client.query("SELECT 1 AS one")
            client.delete_repository("team-a")
        with Client(world.running.address, token=auditor) as client:
            assert client.query("SELECT 1 AS one").table.num_rows == 1
            assert REPO in {r.repository_id for r in client.list_repositories()}
            with pytest.raises(vcs.PermissionDenied):
                client.export(str(tmp_path / "out"))
        with Client(world.running.address, token=world.tokens["admin"]) as admin:
            assert admin.export(str(tmp_path / "out"))
    finally:
        store.revoke(record.token_id)


def test_a_revoked_token_is_refused_at_once(world: World) -> None:
    store = TokenStore(world.running.store.root)
    record, token = store.create("shortlived", grants=(Grant("*", Role.READER),))
    with Client(world.running.address, token=token) as client:
        client.get_repository(REPO)
        store.revoke(record.token_id)
        with pytest.raises(Unauthenticated) as info:
            client.get_repository(REPO)
    assert info.value.reason == "INVALID_TOKEN"


def test_local_mode_callers_are_admins(client: Client) -> None:
    client.create_repository("mine")
    client.commit("mine", "main", {"f": "x"})
    client.create_branch("mine", "feature")
    assert client.query("SELECT 1 AS one").table.num_rows == 1
    client.delete_repository("mine")


def test_local_mode_refuses_a_bearer_token_it_cannot_check(server: RunningServer, data_dir: Path) -> None:
    with Client(server.address, token="trellis_0123456789ab_secret", agent="alice") as client:
        with pytest.raises(Unauthenticated) as info:
            client.create_repository("mine")
    assert info.value.reason == "LOCAL_MODE_TOKEN" and "local mode" in info.value.message
    assert "trellis token create" in info.value.message
    assert not (data_dir / "repos" / "mine.git").exists()
    # The CLI says the same, once, without a traceback.
    result = _cli(data_dir, "--server", server.address, "repo", "list", "--token", "trellis_x_y")
    assert result.returncode == 1 and "LOCAL_MODE_TOKEN" in result.stderr and "Traceback" not in result.stderr


# -- token management from the CLI -------------------------------------------------------------------


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env.update({"TRELLIS_DATA": str(data_dir), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_tokens_with_roles_from_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = _cli(
        data,
        "token",
        "create",
        "lead",
        "--role",
        "maintainer",
        "--repo",
        "demo",
        "--repo",
        "lib-*",
        "--grant",
        "*:reader",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    record = json.loads(made.stdout)
    assert record["grants"] == [
        {"repositories": "demo", "role": "maintainer"},
        {"repositories": "lib-*", "role": "maintainer"},
        {"repositories": "*", "role": "reader"},
    ]
    principal = TokenStore(data).authenticate(record["token"])
    assert principal is not None and principal.role_in("lib-x") is Role.MAINTAINER
    assert principal.role_in("zzz") is Role.READER
    default = json.loads(_cli(data, "token", "create", "bot", "--json").stdout)
    assert default["grants"] == [{"repositories": "*", "role": "agent"}]
    only_grant = json.loads(_cli(data, "token", "create", "ops", "--grant", "*:admin", "--json").stdout)
    assert only_grant["grants"] == [{"repositories": "*", "role": "admin"}]
    listed = json.loads(_cli(data, "token", "list", "--json").stdout)
    assert [(t["agent"], len(t["grants"])) for t in listed] == [("lead", 3), ("bot", 1), ("ops", 1)]
    assert record["token"] not in (data / "tokens.json").read_text()
    table = _cli(data, "token", "list").stdout
    assert "lib-*:maintainer" in table and "*:reader" in table
    bad = _cli(data, "token", "create", "x", "--repo", "a/b")
    assert bad.returncode == 1 and "INVALID_GRANT" in bad.stderr and "Traceback" not in bad.stderr
    assert _cli(data, "token", "create", "x", "--role", "root").returncode == 2
    revoked = _cli(data, "token", "revoke", record["token_id"], "--json")
    assert json.loads(revoked.stdout) == {"token_id": record["token_id"], "revoked": True}
    assert TokenStore(data).authenticate(record["token"]) is None
