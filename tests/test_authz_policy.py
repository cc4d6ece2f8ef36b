"""The authorisation policy and the quota bookkeeping, without a server.

The end-to-end matrix (every RPC x every role over a real server) is
tests/e2e/test_authz.py; this file checks the table's completeness and the
rules' edge cases quickly.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import trellis.v1
from trellis import vcs
from trellis.auth import TokenStore
from trellis.authz import LOCAL_GRANTS, POLICY, Authorizer, Grant, Principal, Role
from trellis.quotas import QuotaExceeded, Quotas, QuotaTracker
from trellis.v1 import changes_pb2, queries_pb2, repositories_pb2, sessions_pb2


def all_methods() -> list[str]:
    """Every RPC of every service in the generated descriptors, as gRPC names it."""
    found = []
    for info in pkgutil.iter_modules(trellis.v1.__path__):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"trellis.v1.{info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            found.extend(f"/{service.full_name}/{method.name}" for method in service.methods)
    return sorted(found)


def test_every_rpc_has_exactly_one_policy_entry() -> None:
    methods = all_methods()
    assert len(methods) > 30
    missing = [m for m in methods if m not in POLICY]
    assert not missing, f"RPCs without an authorisation rule in trellis/authz.py POLICY: {missing}"
    stale = [m for m in POLICY if m not in methods]
    assert not stale, f"POLICY entries for RPCs that do not exist: {stale}"


def test_a_method_without_a_rule_is_refused() -> None:
    authorizer = Authorizer(lambda r, s: "x", policy={})
    with pytest.raises(vcs.PermissionDenied) as info:
        authorizer.rule("/trellis.v1.ChangeService/Commit")
    assert info.value.reason == "NO_POLICY"


def test_roles_are_ordered_and_parsed() -> None:
    assert Role.READER < Role.AGENT < Role.MAINTAINER < Role.ADMIN
    assert Role.parse(" Maintainer ") is Role.MAINTAINER
    with pytest.raises(vcs.InvalidArgument):
        Role.parse("root")


@pytest.mark.parametrize("text", ["demo", "*", "team-*", "lib-?", "[ab]*"])
def test_grant_patterns(text: str) -> None:
    assert Grant.parse(f"{text}:reader") == Grant(text, Role.READER)


@pytest.mark.parametrize("text", ["demo", ":reader", "a/b:reader", "demo:boss", "x y:agent", ""])
def test_bad_grants_are_refused(text: str) -> None:
    with pytest.raises(vcs.InvalidArgument):
        Grant.parse(text)


def test_the_highest_matching_grant_wins() -> None:
    p = Principal("alice", (Grant("*", Role.READER), Grant("team-*", Role.AGENT), Grant("team-core", Role.ADMIN)))
    assert p.role_in("other") is Role.READER
    assert p.role_in("team-x") is Role.AGENT
    assert p.role_in("team-core") is Role.ADMIN
    assert p.global_role() is Role.READER
    scoped = Principal("bob", (Grant("team-*", Role.ADMIN),))
    assert scoped.role_in("other") is None and scoped.global_role() is None


def _check(principal: Principal, method: str, request: object, owner: str = "alice") -> None:
    Authorizer(lambda repository, session: owner).check(principal, method, POLICY[method], request)


COMMIT = "/trellis.v1.ChangeService/Commit"


def test_agents_write_only_their_namespace() -> None:
    alice = Principal("alice", (Grant("demo", Role.AGENT),))
    _check(alice, COMMIT, changes_pb2.CommitRequest(name="repositories/demo/branches/agents/alice/x"))
    for branch in ["main", "agents/bob/x", "agents/alice", "agents/alicex/y", "agents"]:
        with pytest.raises(vcs.PermissionDenied) as info:
            _check(alice, COMMIT, changes_pb2.CommitRequest(name=f"repositories/demo/branches/{branch}"))
        assert info.value.reason == "BRANCH_OUTSIDE_NAMESPACE"
        assert info.value.metadata["required_role"] == "maintainer"
        assert "agents/alice/" in info.value.message and branch in info.value.message
    maintainer = Principal("mia", (Grant("demo", Role.MAINTAINER),))
    _check(maintainer, COMMIT, changes_pb2.CommitRequest(name="repositories/demo/branches/main"))


def test_sessions_are_written_only_by_their_creator_whatever_the_role() -> None:
    admin = Principal("root", LOCAL_GRANTS)
    request = sessions_pb2.RecordStepRequest(parent="repositories/demo/sessions/s-1")
    with pytest.raises(vcs.PermissionDenied) as info:
        _check(admin, "/trellis.v1.SessionService/RecordStep", request, owner="alice")
    assert info.value.reason == "NOT_SESSION_OWNER" and "'alice'" in info.value.message
    _check(admin, "/trellis.v1.SessionService/RecordStep", request, owner="root")
    commit = changes_pb2.CommitRequest(name="repositories/demo/branches/main", session="repositories/demo/sessions/s-1")
    with pytest.raises(vcs.PermissionDenied):
        _check(admin, COMMIT, commit, owner="alice")


def test_a_missing_session_is_left_to_the_servicer() -> None:
    def missing(repository: str, session: str) -> str:
        raise vcs.NotFound("no such session")

    alice = Principal("alice", (Grant("demo", Role.AGENT),))
    Authorizer(missing).check(
        alice,
        "/trellis.v1.SessionService/RecordStep",
        POLICY["/trellis.v1.SessionService/RecordStep"],
        sessions_pb2.RecordStepRequest(parent="repositories/demo/sessions/s-1"),
    )


def test_session_owners_are_looked_up_once() -> None:
    calls = []

    def owner(repository: str, session: str) -> str:
        calls.append(session)
        return "alice"

    authorizer = Authorizer(owner)
    alice = Principal("alice", (Grant("*", Role.AGENT),))
    rule = POLICY["/trellis.v1.SessionService/RecordStep"]
    for _ in range(3):
        authorizer.check(alice, "m", rule, sessions_pb2.RecordStepRequest(parent="repositories/demo/sessions/s-1"))
    assert calls == ["s-1"]
    authorizer.forget_repository("demo")
    authorizer.check(alice, "m", rule, sessions_pb2.RecordStepRequest(parent="repositories/demo/sessions/s-1"))
    assert calls == ["s-1", "s-1"]


def test_creating_a_repository_needs_admin_on_its_name() -> None:
    method = "/trellis.v1.RepositoryService/CreateRepository"
    team_admin = Principal("t", (Grant("team-*", Role.ADMIN), Grant("*", Role.MAINTAINER)))
    _check(team_admin, method, repositories_pb2.CreateRepositoryRequest(repository_id="team-a"))
    with pytest.raises(vcs.PermissionDenied) as info:
        _check(team_admin, method, repositories_pb2.CreateRepositoryRequest(repository_id="other"))
    assert info.value.reason == "INSUFFICIENT_ROLE"
    assert info.value.metadata == {"repository": "other", "required_role": "admin", "role": "maintainer"}
    assert "--role admin" in info.value.message


def test_query_needs_a_grant_on_every_repository() -> None:
    method = "/trellis.v1.QueryService/Query"
    _check(Principal("r", (Grant("*", Role.READER),)), method, queries_pb2.QueryRequest(sql="SELECT 1"))
    with pytest.raises(vcs.PermissionDenied) as info:
        _check(Principal("r", (Grant("demo", Role.ADMIN),)), method, queries_pb2.QueryRequest(sql="SELECT 1"))
    assert info.value.metadata["repository"] == "*"


def test_malformed_names_are_invalid_not_denied() -> None:
    alice = Principal("alice", (Grant("*", Role.AGENT),))
    with pytest.raises(vcs.InvalidArgument):
        _check(alice, COMMIT, changes_pb2.CommitRequest(name="repositories/demo/branches/../x"))
    with pytest.raises(vcs.InvalidArgument):
        _check(alice, "/trellis.v1.PipelineService/GetRun", type("R", (), {"name": "runs/x"})())


def test_list_repositories_is_trimmed_to_what_the_caller_reads() -> None:
    rule = POLICY["/trellis.v1.RepositoryService/ListRepositories"]
    assert rule.filter is not None
    response = repositories_pb2.ListRepositoriesResponse(
        next_page_token="t",
        repositories=[repositories_pb2.Repository(repository_id=n) for n in ["demo", "other", "team-a"]],
    )
    scoped = Principal("a", (Grant("team-*", Role.READER), Grant("demo", Role.AGENT)))
    trimmed = rule.filter(scoped, response)
    assert [r.repository_id for r in trimmed.repositories] == ["demo", "team-a"]
    assert trimmed.next_page_token == "t"
    assert rule.filter(Principal("g", (Grant("*", Role.READER),)), response) is response


# -- tokens ---------------------------------------------------------------------------------------


def test_tokens_keep_their_grants(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    record, token = tokens.create("alice", grants=(Grant("demo", Role.MAINTAINER), Grant("*", Role.READER)))
    principal = tokens.authenticate(token)
    assert principal is not None and principal.name == "alice" and principal.token_id == record.token_id
    assert principal.role_in("demo") is Role.MAINTAINER and principal.role_in("x") is Role.READER
    stored = json.loads((tmp_path / "tokens.json").read_text())["tokens"][0]
    assert stored["grants"] == [["demo", "maintainer"], ["*", "reader"]]
    assert token not in (tmp_path / "tokens.json").read_text()
    _, default = tokens.create("bob")
    assert tokens.authenticate(default) == Principal("bob", (Grant("*", Role.AGENT),), token_id=_id(default))
    tokens.revoke(record.token_id)
    assert tokens.authenticate(token) is None


def _id(token: str) -> str:
    return token.split("_")[1]


def test_tokens_made_before_roles_are_agents_everywhere(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path)
    _, token = tokens.create("old")
    data = json.loads((tmp_path / "tokens.json").read_text())
    del data["tokens"][0]["grants"]
    (tmp_path / "tokens.json").write_text(json.dumps(data))
    principal = TokenStore(tmp_path).authenticate(token)
    assert principal is not None and principal.grants == (Grant("*", Role.AGENT),)


# -- quotas ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _tracker(quotas: Quotas, clock: Clock | None = None, creators: dict[str, str] | None = None) -> QuotaTracker:
    return QuotaTracker(quotas, 1000, lambda: dict(creators or {}).items(), clock=clock or Clock())


def test_the_rate_is_a_token_bucket_per_identity() -> None:
    clock = Clock()
    tracker = _tracker(Quotas(requests_per_second=10, burst=3), clock)
    for _ in range(3):
        tracker.take("alice")
    with pytest.raises(QuotaExceeded) as info:
        tracker.take("alice")
    assert info.value.reason == "RATE_LIMITED"
    assert info.value.retry_after == pytest.approx(0.1)
    assert info.value.metadata["retry_after_ms"] == "100"
    tracker.take("bob")  # another identity is unaffected
    clock.now += 0.1
    tracker.take("alice")
    with pytest.raises(QuotaExceeded):
        tracker.take("alice")
    clock.now += 10
    for _ in range(3):  # refilled to the burst, not beyond
        tracker.take("alice")
    with pytest.raises(QuotaExceeded):
        tracker.take("alice")


def test_a_zero_rate_is_no_limit() -> None:
    tracker = _tracker(Quotas(requests_per_second=0))
    for _ in range(10_000):
        tracker.take("alice")


def test_streams_are_counted_per_identity() -> None:
    tracker = _tracker(Quotas(max_streams=2))
    tracker.open_stream("alice")
    tracker.open_stream("alice")
    with pytest.raises(QuotaExceeded) as info:
        tracker.open_stream("alice")
    assert info.value.reason == "TOO_MANY_STREAMS" and info.value.retry_after == 1.0
    tracker.open_stream("bob")
    tracker.close_stream("alice")
    tracker.open_stream("alice")


def test_commit_bytes_are_checked_only_below_the_core_limit() -> None:
    strict = _tracker(Quotas(max_commit_bytes=10))
    strict.check_commit_bytes("alice", lambda: 10)
    with pytest.raises(QuotaExceeded) as info:
        strict.check_commit_bytes("alice", lambda: 11)
    assert info.value.reason == "COMMIT_BYTES_QUOTA" and info.value.retry_after is None

    def never() -> int:
        raise AssertionError("the core checks this size itself")

    _tracker(Quotas()).check_commit_bytes("alice", never)


def test_repository_creators_are_read_only_when_the_limit_is_within_reach() -> None:
    def creators() -> list[tuple[str, str]]:
        raise AssertionError("read the creators only when someone could have created the limit")

    total = [1]
    tracker = QuotaTracker(Quotas(max_repositories=3), 1000, creators, repository_count=lambda: total[0])
    tracker.check_repositories("alice")
    total[0] = 3
    with pytest.raises(AssertionError):
        tracker.check_repositories("alice")


def test_repositories_are_counted_by_creator() -> None:
    tracker = _tracker(Quotas(max_repositories=2), creators={"a": "alice", "b": "bob"})
    tracker.check_repositories("alice")
    tracker.created("c", "alice")
    with pytest.raises(QuotaExceeded) as info:
        tracker.check_repositories("alice")
    assert info.value.reason == "REPOSITORY_QUOTA"
    tracker.check_repositories("bob")
    tracker.deleted("a")
    tracker.check_repositories("alice")


def test_quota_details_carry_retry_info() -> None:
    from google.rpc import error_details_pb2

    exc = QuotaExceeded("slow down", reason="RATE_LIMITED", identity="alice", limit="1/s", retry_after=0.25)
    details = exc.details()
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR))
    assert retry.retry_delay.ToMilliseconds() == 250
    failure = error_details_pb2.QuotaFailure()
    assert details[0].Unpack(failure) and failure.violations[0].subject == "agent:alice"


@pytest.mark.parametrize("field", ["requests_per_second", "burst", "max_streams", "max_repositories"])
def test_negative_quotas_are_refused(field: str) -> None:
    with pytest.raises(vcs.InvalidArgument):
        Quotas(**{field: -1})


def test_merging_into_a_protected_branch_needs_a_maintainer() -> None:
    method = "/trellis.v1.ChangeService/Merge"
    protected = Authorizer(lambda r, s: "alice", protected=lambda repository, branch: branch.endswith("/gated"))
    alice = Principal("alice", (Grant("demo", Role.AGENT),))
    request = changes_pb2.MergeRequest(name="repositories/demo/branches/agents/alice/gated")
    with pytest.raises(vcs.PermissionDenied) as info:
        protected.check(alice, method, POLICY[method], request)
    assert info.value.reason == "PROTECTED_BRANCH_ROLE" and info.value.metadata["required_role"] == "maintainer"
    protected.check(
        alice, method, POLICY[method], changes_pb2.MergeRequest(name="repositories/demo/branches/agents/alice/free")
    )
    protected.check(Principal("mia", (Grant("demo", Role.MAINTAINER),)), method, POLICY[method], request)


@pytest.mark.parametrize("target", ["main", "agents/bob/x", "agents/alice/gated"])
def test_a_merge_preview_needs_only_reading_the_repository(target: str) -> None:
    method = "/trellis.v1.ChangeService/Merge"
    authorizer = Authorizer(lambda r, s: "bob", protected=lambda repository, branch: True)
    reader = Principal("rita", (Grant("demo", Role.READER),))
    preview = changes_pb2.MergeRequest(
        name=f"repositories/demo/branches/{target}",
        source_revision="x",
        preview=True,
        session="repositories/demo/sessions/s-1",
    )
    target_found = authorizer.check(reader, method, POLICY[method], preview)
    assert (target_found.branch, target_found.session) == (None, None)  # it writes neither
    with pytest.raises(vcs.PermissionDenied) as info:  # the real merge still needs its roles
        preview.preview = False
        authorizer.check(reader, method, POLICY[method], preview)
    assert info.value.reason == "INSUFFICIENT_ROLE"
    with pytest.raises(vcs.PermissionDenied):  # and a preview still needs a role in the repository
        authorizer.check(
            Principal("eve", (Grant("other", Role.ADMIN),)),
            method,
            POLICY[method],
            changes_pb2.MergeRequest(name="repositories/demo/branches/main", preview=True),
        )
