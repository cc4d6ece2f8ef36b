"""Bad requests through the real server: the right status code, a clear message, and nothing written.

One test per rejection class. Each asserts the gRPC status code (through the
SDK's exception class and, where useful, a raw stub), the stable reason, a
key word of the message, and that the repository is byte-for-byte untouched:
same refs, same object count.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor, symbol_database
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.conftest import assert_fsck_clean, raw_unary, snapshot
from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.errors import error_from_rpc, status_for
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.server import RunningServer, build_server
from trellis.v1 import changes_pb2, changes_pb2_grpc, repositories_pb2, sessions_pb2

METADATA = ((LOCAL_AGENT_HEADER, "alice"),)


class Demo:
    """Repository 'demo' and its state: the test's teardown checks that nothing was written since ``mark``."""

    def __init__(self, data_dir: Path, head: str) -> None:
        self.data_dir = data_dir
        self.head = head
        self.mark()

    def mark(self) -> None:
        """Take the baseline now (after a test's own setup writes)."""
        self.before = snapshot(self.data_dir, "demo")

    def assert_untouched(self) -> None:
        assert snapshot(self.data_dir, "demo") == self.before, "a rejected request wrote to the repository"


@pytest.fixture
def demo(client: Client, data_dir: Path) -> Iterator[Demo]:
    repo = client.create_repository("demo")
    head = client.commit(
        "demo", "main", {"keep.txt": "same", "dir/f.txt": "f"}, "seed", expected_head=repo.head_commit_id
    ).commit.commit_id
    state = Demo(data_dir, head)
    yield state
    state.assert_untouched()


def rejected(
    call: Callable[[], object], code: grpc.StatusCode, reasons: str | tuple[str, ...], word: str
) -> vcs.VcsError:
    """``call`` raises the SDK exception for ``code`` with one of ``reasons`` and ``word`` in its message."""
    with pytest.raises(vcs.VcsError) as info:
        call()
    error = info.value
    assert status_for(error)[0] == code, (type(error), error.message)
    if hasattr(error, "code"):
        assert error.code == code
    assert error.reason in ((reasons,) if isinstance(reasons, str) else reasons), error.message
    assert word.lower() in error.message.lower(), error.message
    return error


def raw_rejected(call: Callable[[], object], code: grpc.StatusCode, reason: str) -> vcs.VcsError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == code, info.value.details()
    error = error_from_rpc(info.value)
    assert error.reason == reason
    assert error.metadata.get("request_id")
    return error


def _token(state: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


# -- names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad name", "..", "a..b", "x.git", "x.lock", "a" * 101, "-x", "", "ü"])
def test_bad_repository_names(client: Client, data_dir: Path, name: str) -> None:
    rejected(
        lambda: client.create_repository(name),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_REPOSITORY_NAME",
        "repository name",
    )
    assert list((data_dir / "repos").iterdir()) == []


@pytest.mark.parametrize("name", ["a..b", "x.lock", "-x", "a//b", "a/", "/a", "HEAD", "a b", "a~1"])
def test_bad_branch_names(client: Client, demo: Demo, name: str) -> None:
    rejected(
        lambda: client.create_branch("demo", name),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_BRANCH_NAME",
        "branch name",
    )
    rejected(
        lambda: client.commit("demo", name, {"x": "1"}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_BRANCH_NAME",
        "branch name",
    )
    rejected(
        lambda: client.create_session("demo", branch=name),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_BRANCH_NAME",
        "branch name",
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("repos/demo", "INVALID_RESOURCE_NAME"),
        ("demo", "INVALID_RESOURCE_NAME"),
        ("repositories/demo/extra", "INVALID_RESOURCE_NAME"),
        ("repositories/a/b", "INVALID_RESOURCE_NAME"),
        ("repositories/../x", "INVALID_RESOURCE_NAME"),
        ("repositories/", "INVALID_REPOSITORY_NAME"),
        ("repositories/x.git", "INVALID_REPOSITORY_NAME"),
    ],
)
def test_bad_repository_resource_names(channel: grpc.Channel, demo: Demo, name: str, reason: str) -> None:
    for method, request in [
        ("/trellis.v1.RepositoryService/GetRepository", repositories_pb2.GetRepositoryRequest(name=name)),
        ("/trellis.v1.RepositoryService/DeleteRepository", repositories_pb2.DeleteRepositoryRequest(name=name)),
    ]:
        error = raw_rejected(lambda: raw_unary(channel, method, request), grpc.StatusCode.INVALID_ARGUMENT, reason)
        assert "repositories/{repository}" in error.message or "repository name" in error.message


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("/trellis.v1.ChangeService/GetBranch", changes_pb2.GetBranchRequest(name="repositories/demo/branch/main")),
        ("/trellis.v1.ChangeService/GetBranch", changes_pb2.GetBranchRequest(name="repos/demo/branches/main")),
        ("/trellis.v1.ChangeService/GetCommit", changes_pb2.GetCommitRequest(name="repositories/demo/commits/")),
        ("/trellis.v1.ChangeService/ListCommits", changes_pb2.ListCommitsRequest(parent="repositories/a/b")),
        ("/trellis.v1.SessionService/GetSession", sessions_pb2.GetSessionRequest(name="repositories/demo/sessions/")),
        ("/trellis.v1.SessionService/ListSessions", sessions_pb2.ListSessionsRequest(parent="repos/x")),
        ("/trellis.v1.ChangeService/Commit", changes_pb2.CommitRequest(name="main")),
    ],
)
def test_bad_resource_names(channel: grpc.Channel, demo: Demo, method: str, request_: object) -> None:
    error = raw_rejected(
        lambda: raw_unary(channel, method, request_), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_RESOURCE_NAME"
    )
    assert "expected" in error.message and "repositories/" in error.message


# -- file paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason", "word"),
    [
        ("..", "INVALID_PATH", ".."),
        ("../x", "INVALID_PATH", ".."),
        ("a/../../x", "INVALID_PATH", ".."),
        ("./x", "INVALID_PATH", "'.'"),
        ("/etc/passwd", "INVALID_PATH", "absolute"),
        (".git/config", "INVALID_PATH", ".git"),
        ("a/.GIT/x", "INVALID_PATH", ".git"),
        (".git./hooks/x", "INVALID_PATH", ".git"),
        ("a\x00b", "INVALID_PATH", "NUL"),
        ("a\x01b", "INVALID_PATH", "control"),
        ("a\nb", "INVALID_PATH", "control"),
        ("a//b", "INVALID_PATH", "empty segment"),
        ("a/", "INVALID_PATH", "empty segment"),
        ("", "INVALID_PATH", "empty"),
        ("/".join(["s" * 255] * 17), "PATH_TOO_LONG", "limit"),
        ("d/" + "s" * 256, "INVALID_PATH", "255"),
        ("a\\b", "INVALID_PATH", "backslash"),
    ],
)
def test_bad_file_paths(client: Client, demo: Demo, path: str, reason: str, word: str) -> None:
    for changes in ([vcs.PutFile(path, b"x")], [vcs.DeleteFile(path)], [vcs.RenameFile("keep.txt", path)]):
        rejected(
            lambda: client.commit("demo", "main", changes, expected_head=demo.head),
            grpc.StatusCode.INVALID_ARGUMENT,
            reason,
            word,
        )
    rejected(lambda: client.read_file("demo", path), grpc.StatusCode.INVALID_ARGUMENT, reason, word)


def test_paths_up_to_4096_bytes_are_fine(client: Client) -> None:
    client.create_repository("long")
    ok = "/".join(["s" * 255] * 15 + ["t" * 254, "u"])
    assert len(ok.encode()) == 4096
    client.commit("long", "main", {ok: "fine"})
    assert client.read_file("long", ok).content == b"fine"
    rejected(
        lambda: client.commit("long", "main", {ok + "g": "too long"}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PATH_TOO_LONG",
        "4096",
    )


def test_deeply_nested_path_is_not_internal(client: Client) -> None:
    client.create_repository("deep")
    deep = "d/" * 1500 + "f"
    try:
        client.commit("deep", "main", {deep: "x"})
    except vcs.InvalidArgument:
        return  # a documented depth limit is fine
    assert client.read_file("deep", deep).content == b"x"


# -- encodings -------------------------------------------------------------------


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_invalid_utf8_in_a_string_field_is_malformed_request(channel: grpc.Channel, demo: Demo) -> None:
    bad_branch = _field(1, b"\xff\xfe")
    error = raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.ChangeService/Commit", bad_branch),
        grpc.StatusCode.INVALID_ARGUMENT,
        "MALFORMED_REQUEST",
    )
    assert "UTF-8" in error.message
    # The same deep inside a nested message: changes[0].put.path.
    put = _field(1, _field(1, b"src/\xc3\x28.py") + _field(2, b"x"))
    request = _field(1, b"repositories/demo/branches/main") + _field(2, put)
    raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.ChangeService/Commit", request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "MALFORMED_REQUEST",
    )


def test_garbage_bytes_are_malformed_request(channel: grpc.Channel, demo: Demo) -> None:
    for method in (
        "/trellis.v1.ChangeService/Commit",
        "/trellis.v1.RepositoryService/CreateRepository",
        "/trellis.v1.SessionService/RecordStep",
    ):
        raw_rejected(
            lambda: raw_unary(channel, method, b"\xff\xff\xff\xff\x0f"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
        )


def test_sdk_reports_unencodable_strings_as_invalid_argument(client: Client, demo: Demo) -> None:
    with pytest.raises(vcs.InvalidArgument):
        client.commit("demo", "main", {"\udcff": b"x"})


# -- change sets -------------------------------------------------------------------


def test_empty_change_set(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", {}, expected_head=demo.head),
        grpc.StatusCode.INVALID_ARGUMENT,
        "EMPTY_CHANGE",
        "empty",
    )


def test_change_set_that_changes_nothing(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", {"keep.txt": "same"}, expected_head=demo.head),
        grpc.StatusCode.INVALID_ARGUMENT,
        "EMPTY_CHANGE",
        "unchanged",
    )


def test_empty_change_entry(channel: grpc.Channel, demo: Demo) -> None:
    request = changes_pb2.CommitRequest(name="repositories/demo/branches/main", changes=[changes_pb2.FileChange()])
    error = raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.ChangeService/Commit", request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CHANGE",
    )
    assert "changes[0]" in error.message


def test_duplicate_path_in_one_change_set(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", [vcs.PutFile("a", b"1"), vcs.DeleteFile("a")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_PATH",
        "more than once",
    )
    rejected(
        lambda: client.commit("demo", "main", [vcs.PutFile("n", b"1"), vcs.PutFile("n", b"2")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_PATH",
        "more than once",
    )


def test_delete_or_rename_of_a_missing_path(client: Client, demo: Demo) -> None:
    error = rejected(
        lambda: client.commit("demo", "main", [vcs.DeleteFile("ghost.txt")]),
        grpc.StatusCode.NOT_FOUND,
        "PATH_NOT_FOUND",
        "ghost.txt",
    )
    assert error.metadata["path"] == "ghost.txt"
    rejected(
        lambda: client.commit("demo", "main", [vcs.RenameFile("ghost.txt", "b")]),
        grpc.StatusCode.NOT_FOUND,
        "PATH_NOT_FOUND",
        "ghost.txt",
    )
    rejected(
        lambda: client.commit("demo", "main", [vcs.DeleteFile("dir")]),
        grpc.StatusCode.NOT_FOUND,
        "PATH_NOT_FOUND",
        "directory",
    )


def test_file_directory_clash(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", {"dir": "file where a directory is"}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PATH_CONFLICT",
        "directory",
    )
    rejected(
        lambda: client.commit("demo", "main", {"keep.txt/under": "x"}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PATH_CONFLICT",
        "is a file",
    )
    rejected(
        lambda: client.commit("demo", "main", {"n": "x", "n/m": "y"}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PATH_CONFLICT",
        "'n'",
    )


@pytest.mark.parametrize("expected_head", ["main", "abc", "G" * 40, "A" * 40, "0" * 41, " " * 40])
def test_malformed_expected_head(client: Client, demo: Demo, expected_head: str) -> None:
    rejected(
        lambda: client.commit("demo", "main", {"x": "1"}, expected_head=expected_head),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_COMMIT_ID",
        "40 lowercase hex digits",
    )
    rejected(
        lambda: client.delete_branch("demo", "main", expected_head=expected_head),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_COMMIT_ID",
        "40 lowercase hex digits",
    )


def test_stale_expected_head(client: Client, demo: Demo) -> None:
    stale = client.get_commit("demo", "main~1").commit_id
    error = rejected(
        lambda: client.commit("demo", "main", {"x": "1"}, expected_head=stale),
        grpc.StatusCode.FAILED_PRECONDITION,
        "STALE_HEAD",
        "expected head",
    )
    assert isinstance(error, vcs.StaleHead)
    assert error.actual_head == demo.head


def test_rejections_carry_error_info_on_the_wire(channel: grpc.Channel, demo: Demo) -> None:
    """Any gRPC client (not only the SDK) gets the code, the message and a google.rpc.ErrorInfo."""
    stub = changes_pb2_grpc.ChangeServiceStub(channel)
    stale = Client.commit_request("demo", "main", {"x": "1"}, expected_head="0" * 40)
    with pytest.raises(grpc.RpcError) as info:
        stub.Commit(stale, metadata=METADATA, timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = rpc_status.from_call(info.value)
    assert status is not None and status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    details = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    assert len(details) == 1
    error_info = error_details_pb2.ErrorInfo()
    details[0].Unpack(error_info)
    assert error_info.reason == "STALE_HEAD" and error_info.domain == "trellis.dev"
    assert error_info.metadata["actual_head"] == demo.head
    assert error_info.metadata["expected_head"] == "0" * 40
    assert error_info.metadata["branch"] == "main"
    # The SDK restores the same exception class from it.
    restored = error_from_rpc(info.value)
    assert isinstance(restored, vcs.StaleHead) and restored.actual_head == demo.head


def test_commit_to_missing_branch_or_repository(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "nope", {"x": "1"}), grpc.StatusCode.NOT_FOUND, "BRANCH_NOT_FOUND", "create it"
    )
    rejected(
        lambda: client.commit("nope", "main", {"x": "1"}),
        grpc.StatusCode.NOT_FOUND,
        "REPOSITORY_NOT_FOUND",
        "not found",
    )


def test_unknown_on_stale_value(channel: grpc.Channel, demo: Demo) -> None:
    request = Client.commit_request("demo", "main", {"x": "1"})
    request.on_stale = 99
    raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.ChangeService/Commit", request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ON_STALE",
    )


# -- limits -------------------------------------------------------------------------


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[RunningServer]:
    limits = vcs.Limits(max_file_bytes=1024, max_files_per_commit=10, max_commit_bytes=4096, max_message_bytes=100)
    running = build_server(ServerConfig(data_dir=tmp_path / "small", address="127.0.0.1:0", limits=limits))
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_limits_are_resource_exhausted(small_server: RunningServer, tmp_path: Path) -> None:
    with Client(small_server.address, agent="alice") as c:
        c.create_repository("demo")
        before = snapshot(tmp_path / "small", "demo")
        rejected(
            lambda: c.commit("demo", "main", {"big.bin": b"x" * 1025}),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "FILE_TOO_LARGE",
            "limit",
        )
        rejected(
            lambda: c.commit("demo", "main", {f"f{i}": b"x" for i in range(11)}),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_FILES",
            "limit",
        )
        rejected(
            lambda: c.commit("demo", "main", {f"f{i}": b"x" * 1000 for i in range(5)}),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "COMMIT_TOO_LARGE",
            "limit",
        )
        rejected(
            lambda: c.commit("demo", "main", {"f": b"x"}, "m" * 101),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "MESSAGE_TOO_LARGE",
            "limit",
        )
        assert snapshot(tmp_path / "small", "demo") == before
        # At the limits exactly, the commit lands.
        c.commit("demo", "main", {f"f{i}": b"x" * (1024 if i < 3 else 100) for i in range(10)}, "m" * 100)


# -- paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["garbage", "%%%", "e30", _token({"start": "main"}), "ÿ"])
def test_bad_page_token(channel: grpc.Channel, demo: Demo, token: str) -> None:
    for method, request in [
        (
            "/trellis.v1.ChangeService/ListCommits",
            changes_pb2.ListCommitsRequest(parent="repositories/demo", page_token=token),
        ),
        (
            "/trellis.v1.ChangeService/ListTree",
            changes_pb2.ListTreeRequest(parent="repositories/demo", page_token=token),
        ),
        (
            "/trellis.v1.ChangeService/ListBranches",
            changes_pb2.ListBranchesRequest(parent="repositories/demo", page_token=token),
        ),
        ("/trellis.v1.RepositoryService/ListRepositories", repositories_pb2.ListRepositoriesRequest(page_token=token)),
        (
            "/trellis.v1.SessionService/ListSessions",
            sessions_pb2.ListSessionsRequest(parent="repositories/demo", page_token=token),
        ),
    ]:
        error = raw_rejected(
            lambda: raw_unary(channel, method, request), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"
        )
        assert "next_page_token" in error.message


def test_negative_page_size(channel: grpc.Channel, demo: Demo) -> None:
    request = changes_pb2.ListCommitsRequest(parent="repositories/demo", page_size=-1)
    raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.ChangeService/ListCommits", request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_SIZE",
    )


@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("/trellis.v1.ChangeService/ListTree", {"offset": "x"}),
        ("/trellis.v1.ChangeService/ListTree", {"offset": None}),
        ("/trellis.v1.ChangeService/ListCommits", {"start": "main", "offset": "x"}),
        ("/trellis.v1.SessionService/ListSteps", {"after": "x"}),
    ],
)
def test_forged_page_token_with_wrong_types(
    channel: grpc.Channel, client: Client, demo: Demo, method: str, field: dict[str, object]
) -> None:
    session = client.create_session("demo")
    demo.mark()
    token = _token(field)
    requests = {
        "/trellis.v1.ChangeService/ListTree": changes_pb2.ListTreeRequest(parent="repositories/demo", page_token=token),
        "/trellis.v1.ChangeService/ListCommits": changes_pb2.ListCommitsRequest(
            parent="repositories/demo", page_token=token
        ),
        "/trellis.v1.SessionService/ListSteps": sessions_pb2.ListStepsRequest(
            parent=f"repositories/demo/sessions/{session.session_id}", page_token=token
        ),
    }
    raw_rejected(
        lambda: raw_unary(channel, method, requests[method]), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN"
    )


# -- sessions ------------------------------------------------------------------------


def test_unknown_session(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", {"x": "1"}, session="0123456789abcdef"),
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "session",
    )
    rejected(
        lambda: client.record_step("demo", "0123456789abcdef", vcs.StepInput(thought="t")),
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "session",
    )
    rejected(
        lambda: client.get_session("demo", "0123456789abcdef"),
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "ListSessions",
    )
    rejected(
        lambda: client.end_session("demo", "0123456789abcdef"),
        grpc.StatusCode.NOT_FOUND,
        "SESSION_NOT_FOUND",
        "session",
    )


def test_malformed_session_id(channel: grpc.Channel, demo: Demo) -> None:
    request = sessions_pb2.GetSessionRequest(name="repositories/demo/sessions/../../x")
    raw_rejected(
        lambda: raw_unary(channel, "/trellis.v1.SessionService/GetSession", request),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_SESSION_ID",
    )


def test_step_without_session(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.commit("demo", "main", {"x": "1"}, step=vcs.StepInput(thought="t")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "STEP_WITHOUT_SESSION",
        "session",
    )


def test_session_of_another_repository(client: Client, demo: Demo, data_dir: Path) -> None:
    client.create_repository("other")
    session = client.create_session("other")
    other_before = snapshot(data_dir, "other")
    request = Client.commit_request("demo", "main", {"x": "1"})
    request.session = f"repositories/other/sessions/{session.session_id}"
    with Client(client.target, agent="alice") as c:
        rejected(
            lambda: c._call(c._changes.Commit, request),
            grpc.StatusCode.INVALID_ARGUMENT,
            "REPOSITORY_MISMATCH",
            "names repository 'other'",
        )
    assert snapshot(data_dir, "other") == other_before


def test_bad_step_numbers(client: Client, demo: Demo) -> None:
    session = client.create_session("demo")
    demo.mark()
    rejected(
        lambda: client.record_step("demo", session.session_id, vcs.StepInput(input_tokens=-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_STEP",
        "non-negative",
    )
    rejected(
        lambda: client.end_session("demo", session.session_id, "active"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_STATUS",
        "status",
    )
    assert client.get_session("demo", session.session_id).step_count == 0


def test_token_totals_cannot_overflow(client: Client, demo: Demo) -> None:
    session = client.create_session("demo")
    big = vcs.StepInput(input_tokens=2**63 - 1)
    try:
        for _ in range(2):
            client.record_step("demo", session.session_id, big)
    except (vcs.InvalidArgument, vcs.LimitExceeded):
        pass  # refusing the step that would overflow is fine
    demo.mark()  # the steps were written on purpose
    client.get_session("demo", session.session_id)
    list(client.list_sessions("demo"))


def test_another_agent_may_not_write_to_a_session(server: RunningServer, client: Client, demo: Demo) -> None:
    session = client.create_session("demo")
    demo.mark()
    with Client(server.address, agent="bob") as bob:
        rejected(
            lambda: bob.record_step("demo", session.session_id, vcs.StepInput(thought="hijack")),
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_SESSION_OWNER",
            "alice",
        )
        rejected(
            lambda: bob.commit("demo", session.branch_id, {"x": "1"}, session=session.session_id),
            grpc.StatusCode.PERMISSION_DENIED,
            "NOT_SESSION_OWNER",
            "alice",
        )


def test_ended_session_refuses_steps(client: Client, demo: Demo) -> None:
    session = client.create_session("demo")
    client.end_session("demo", session.session_id, "abandoned")
    demo.mark()
    rejected(
        lambda: client.record_step("demo", session.session_id, vcs.StepInput(thought="late")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SESSION_ENDED",
        "ended",
    )


# -- identity ------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["bad agent", "../x", "a" * 65, "-x"])
def test_bad_local_agent_name(server: RunningServer, demo: Demo, agent: str) -> None:
    with Client(server.address, agent=agent) as c:
        rejected(
            lambda: c.commit("demo", "main", {"x": "1"}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_AGENT_NAME",
            "agent name",
        )


# -- conflicts that must not be INTERNAL ----------------------------------------------------


def test_branch_under_an_existing_branch(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.create_branch("demo", "main/x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BRANCH_NAME_CONFLICT",
        "main/x",
    )


def test_session_branch_under_an_existing_branch(client: Client, demo: Demo) -> None:
    rejected(
        lambda: client.create_session("demo", branch="main/x"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BRANCH_NAME_CONFLICT",
        "main/x",
    )


# -- no request ever yields INTERNAL ---------------------------------------------------------

NASTY = [
    "",
    "x",
    "..",
    "/",
    "a//b",
    "\x00",
    "\x7f",
    "a" * 5000,
    "ü",
    "main",
    "main~1",
    "main^",
    "HEAD",
    "HEAD~99",
    "dir",
    "dir/f.txt",
    "dir/f.txt/x",
    "-1",
    "@",
    "main@{0}",
    "refs/heads/main",
    "e30",
    "garbage token",
    "repositories/demo",
    "repositories/demo/branches/main",
    "repositories/demo/branches/nope",
    "repositories/demo/sessions/zz",
    "repositories/demo/sessions/../x",
    "repositories/demo/commits/main",
    "repositories/nope/branches/main",
    "repositories/demo/commits/0000000000000000000000000000000000000000",
]
# Fields whose nasty values would create branches that clash with each other, which is a known
# bug covered above (test_branch_under_an_existing_branch).
_SKIP: set[tuple[str, str]] = set()


def _unary_methods() -> list[tuple[str, str, descriptor.Descriptor]]:
    result = []
    for module in (changes_pb2, repositories_pb2, sessions_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if not (method.client_streaming or method.server_streaming):
                    result.append((service.full_name, method.name, method.input_type))
    return result


def test_no_request_yields_internal(channel: grpc.Channel, client: Client, data_dir: Path) -> None:
    client.create_repository("demo")
    client.commit("demo", "main", {"keep.txt": "same", "dir/f.txt": "f"}, "seed")
    session = client.create_session("demo")
    defaults = {
        "parent": "repositories/demo",
        "branch": "repositories/demo/branches/main",
        "revision": "main",
        "session": f"repositories/demo/sessions/{session.session_id}",
        "path": "dir/f.txt",
        "repository_id": "fresh",
        "branch_id": "fresh",
    }
    default_names = {
        "GetRepository": "repositories/demo",
        "DeleteRepository": "repositories/nope",
        "GetCommit": "repositories/demo/commits/main",
        "GetBranch": "repositories/demo/branches/main",
        "DeleteBranch": "repositories/demo/branches/nope",
        "EndSession": "repositories/demo/sessions/zz",
        "GetSession": f"repositories/demo/sessions/{session.session_id}",
    }
    pool = symbol_database.Default()
    calls = 0
    # Deletions last, so that the other methods see the repository.
    for service, method, input_type in sorted(_unary_methods(), key=lambda m: m[1].startswith("Delete")):
        cls = pool.GetSymbol(input_type.full_name)
        strings = [
            f for f in input_type.fields if f.type == descriptor.FieldDescriptor.TYPE_STRING and not f.is_repeated
        ]
        ints = [f for f in input_type.fields if f.name == "page_size"]
        variations: list[tuple[str, object]] = [
            (f.name, v) for f in strings for v in NASTY if (method, f.name) not in _SKIP
        ]
        variations += [(f.name, v) for f in ints for v in (-1, 0, 1, 2**31 - 1)]
        for field_name, value in variations:
            request = cls()
            for f in strings:
                default = default_names.get(method) if f.name == "name" else defaults.get(f.name)
                if default is not None:
                    setattr(request, f.name, default)
            setattr(request, field_name, value)
            calls += 1
            try:
                raw_unary(channel, f"/{service}/{method}", request)
            except grpc.RpcError as exc:
                assert exc.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                    method,
                    field_name,
                    value,
                    exc.details(),
                )
                assert exc.details(), (method, field_name, value)
    assert calls > 500
    # Whatever the sweep created or deleted, what is left is valid git.
    for repo in (data_dir / "repos").glob("*.git"):
        assert_fsck_clean(repo)
