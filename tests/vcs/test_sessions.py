"""Sessions and steps: branches per session, steps with and without code, totals, ownership, listing."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from tests.conftest import BOB, assert_fsck_clean, flatten_session_steps, git, object_count, repo_path
from trellis import vcs
from trellis.vcs.sessions import new_session_id


@pytest.fixture
def demo(store: vcs.Store, alice: vcs.Identity) -> vcs.Repository:
    store.create_repository("demo", alice)
    store.commit("demo", "main", [vcs.PutFile("app.py", b"print('hi')\n")], "seed", alice)
    return store.get_repository("demo")


def test_create_session_makes_its_branch_at_the_base(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    session = store.create_session("demo", alice, model="gpt-x", task="fix it", metadata={"k": "v"})
    assert session.agent == "alice"
    assert session.branch_id == f"agents/alice/{session.session_id}"
    assert session.base_commit_id == demo.head_commit_id
    assert session.status is vcs.SessionStatus.ACTIVE
    assert session.end_time is None
    assert (session.step_count, session.commit_count, session.input_tokens, session.output_tokens) == (0, 0, 0, 0)
    assert session.model == "gpt-x" and session.task == "fix it" and session.metadata == {"k": "v"}
    assert store.get_branch("demo", session.branch_id).head_commit_id == demo.head_commit_id
    assert store.get_session("demo", session.session_id) == session


def test_create_session_from_another_base_and_with_a_named_branch(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    root = store.get_commit("demo", "main~1").commit_id
    session = store.create_session("demo", alice, base_revision="main~1", branch="work/alice-1")
    assert session.base_commit_id == root
    assert session.branch_id == "work/alice-1"
    assert store.get_branch("demo", "work/alice-1").head_commit_id == root
    with pytest.raises(vcs.AlreadyExists):
        store.create_session("demo", alice, branch="work/alice-1")


def test_create_session_with_a_clashing_branch_writes_nothing(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    with pytest.raises(vcs.VcsError):
        store.create_session("demo", alice, branch="main/x")
    assert store.list_sessions("demo").items == []


def test_steps_with_and_without_code_and_totals(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    session = store.create_session("demo", alice)
    sid = session.session_id
    thinking = store.record_step(
        "demo",
        sid,
        vcs.StepInput(
            thought="read the code",
            action="read_file",
            arguments_json='{"path": "app.py"}',
            observation="print('hi')",
            input_tokens=100,
            output_tokens=10,
            cost_usd=0.25,
            latency_ms=30,
            metadata={"tool": "cat"},
        ),
        alice,
    )
    assert thinking.index == 1 and thinking.commit_id == ""
    result = store.commit(
        "demo",
        session.branch_id,
        [vcs.PutFile("app.py", b"print('hello')\n")],
        "Greet properly",
        alice,
        expected_head=session.base_commit_id,
        session_id=sid,
        step=vcs.StepInput(thought="edit", action="edit_file", input_tokens=200, output_tokens=20, cost_usd=0.5),
    )
    assert result.step is not None
    assert result.step.index == 2 and result.step.commit_id == result.commit.commit_id
    assert result.commit.trailers == {"Trellis-Agent": "alice", "Trellis-Session": sid, "Trellis-Step": "2"}
    # Without an explicit step a commit still records one (its message as the thought).
    plain = store.commit("demo", session.branch_id, [vcs.PutFile("b.txt", b"b")], "Add b", alice, session_id=sid)
    assert plain.step is not None and plain.step.index == 3 and plain.step.input.thought == "Add b"
    assert plain.commit.trailers["Trellis-Step"] == "3"

    got = store.get_session("demo", sid)
    assert got.step_count == 3 and got.commit_count == 2
    assert got.input_tokens == 300 and got.output_tokens == 30
    assert math.isclose(got.cost_usd, 0.75)

    steps = store.list_steps("demo", sid).items
    assert [s.index for s in steps] == [1, 2, 3]
    assert steps[0].input.metadata == {"tool": "cat"} and steps[0].input.arguments_json == '{"path": "app.py"}'
    assert [s.commit_id for s in steps] == ["", result.commit.commit_id, plain.commit.commit_id]
    page = store.list_steps("demo", sid, page_size=2)
    assert [s.index for s in page.items] == [1, 2] and page.next_page_token
    rest = store.list_steps("demo", sid, page_size=2, page_token=page.next_page_token)
    assert [s.index for s in rest.items] == [3] and rest.next_page_token == ""


def test_end_session_then_no_more_steps(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    session = store.create_session("demo", alice)
    ended = store.end_session("demo", session.session_id, vcs.SessionStatus.SUCCEEDED, alice, "all green")
    assert ended.status is vcs.SessionStatus.SUCCEEDED and ended.outcome == "all green"
    assert ended.end_time is not None and ended.end_time >= ended.create_time
    assert store.get_session("demo", session.session_id) == ended
    path = repo_path(data_dir, "demo")
    objects = object_count(path)
    for attempt in (
        lambda: store.record_step("demo", session.session_id, vcs.StepInput(thought="more"), alice),
        lambda: store.commit(
            "demo", session.branch_id, [vcs.PutFile("x", b"x")], "m", alice, session_id=session.session_id
        ),
        lambda: store.end_session("demo", session.session_id, vcs.SessionStatus.FAILED, alice),
    ):
        with pytest.raises(vcs.FailedPrecondition) as info:
            attempt()
        assert info.value.reason == "SESSION_ENDED"
    assert store.get_branch("demo", session.branch_id).head_commit_id == session.base_commit_id
    assert object_count(path) == objects


def test_end_session_needs_a_final_status(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    session = store.create_session("demo", alice)
    with pytest.raises(vcs.InvalidArgument):
        store.end_session("demo", session.session_id, vcs.SessionStatus.ACTIVE, alice)


def test_another_agent_may_not_write_to_a_session(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    session = store.create_session("demo", alice)
    objects = object_count(repo_path(data_dir, "demo"))
    for attempt in (
        lambda: store.record_step("demo", session.session_id, vcs.StepInput(thought="mine now"), BOB),
        lambda: store.commit(
            "demo", session.branch_id, [vcs.PutFile("x", b"x")], "m", BOB, session_id=session.session_id
        ),
        lambda: store.end_session("demo", session.session_id, vcs.SessionStatus.ABANDONED, BOB),
    ):
        with pytest.raises(vcs.PermissionDenied) as info:
            attempt()
        assert info.value.reason == "NOT_SESSION_OWNER"
        assert "alice" in info.value.message
    assert store.get_session("demo", session.session_id) == session
    assert object_count(repo_path(data_dir, "demo")) == objects


def test_unknown_session_and_step_without_session(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    with pytest.raises(vcs.NotFound) as info:
        store.get_session("demo", "0123456789abcdef")
    assert info.value.reason == "SESSION_NOT_FOUND"
    with pytest.raises(vcs.NotFound):
        store.record_step("demo", "0123456789abcdef", vcs.StepInput(), alice)
    with pytest.raises(vcs.NotFound):
        store.commit("demo", "main", [vcs.PutFile("x", b"x")], "m", alice, session_id="0123456789abcdef")
    with pytest.raises(vcs.InvalidArgument) as info:
        store.commit("demo", "main", [vcs.PutFile("x", b"x")], "m", alice, step=vcs.StepInput(thought="t"))
    assert info.value.reason == "STEP_WITHOUT_SESSION"
    with pytest.raises(vcs.InvalidArgument):
        store.get_session("demo", "../../heads/main")


def test_negative_step_numbers_are_invalid(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    session = store.create_session("demo", alice)
    for bad in (
        vcs.StepInput(input_tokens=-1),
        vcs.StepInput(latency_ms=-5),
        vcs.StepInput(cost_usd=-0.1),
        vcs.StepInput(cost_usd=float("nan")),
    ):
        with pytest.raises(vcs.InvalidArgument) as info:
            store.record_step("demo", session.session_id, bad, alice)
        assert info.value.reason == "INVALID_STEP"
    assert store.get_session("demo", session.session_id).step_count == 0


def test_infinite_cost_is_invalid(store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository) -> None:
    session = store.create_session("demo", alice)
    with pytest.raises(vcs.InvalidArgument):
        store.record_step("demo", session.session_id, vcs.StepInput(cost_usd=float("inf")), alice)


def test_list_sessions_newest_first_with_paging_and_agent_filter(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    created = []
    for i in range(7):
        who = alice if i % 2 == 0 else BOB
        created.append(store.create_session("demo", who, task=f"task {i}"))
        _wait_for_next_millisecond(created[-1].session_id)
    newest_first = [s.session_id for s in reversed(created)]
    assert [s.session_id for s in store.list_sessions("demo").items] == newest_first
    seen: list[str] = []
    token = ""
    while True:
        page = store.list_sessions("demo", page_size=3, page_token=token)
        seen += [s.session_id for s in page.items]
        token = page.next_page_token
        if not token:
            break
    assert seen == newest_first
    bobs = [s.session_id for s in store.list_sessions("demo", "bob", page_size=2).items]
    assert bobs == [s.session_id for s in reversed(created) if s.agent == "bob"][:2]


def _wait_for_next_millisecond(session_id: str) -> None:
    """Session ids are time-ordered at millisecond resolution: step past the id's tick."""
    while int(time.time() * 1000) <= int(session_id[:12], 16):
        time.sleep(0.0005)


def test_session_ids_are_strictly_time_ordered() -> None:
    ids = [new_session_id() for _ in range(2000)]  # microseconds apart: many share a millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)


def test_session_is_readable_with_plain_git(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    session = store.create_session("demo", alice, model="m1", task="t1")
    store.record_step("demo", session.session_id, vcs.StepInput(thought="think", action="plan"), alice)
    code = store.commit(
        "demo",
        session.branch_id,
        [vcs.PutFile("new.py", b"x = 1\n")],
        "Add new.py",
        alice,
        session_id=session.session_id,
    ).commit
    path = repo_path(data_dir, "demo")
    ref = f"refs/trellis/sessions/{session.session_id}"
    record = json.loads(git(path, "show", f"{ref}:session.json"))
    assert record["session_id"] == session.session_id
    assert record["agent"] == "alice" and record["model"] == "m1" and record["task"] == "t1"
    assert record["status"] == "active" and record["step_count"] == 2 and record["commit_count"] == 1
    assert git(path, "ls-tree", "-r", "--name-only", f"{ref}:steps").split() == [
        "000000/00000001.json",
        "000000/00000002.json",
    ]
    step2 = json.loads(git(path, "show", f"{ref}:steps/000000/00000002.json"))
    assert step2["commit_id"] == code.commit_id and step2["index"] == 2
    # The code commit is reachable from the session even after its branch is gone.
    store.delete_branch("demo", session.branch_id)
    assert code.commit_id in git(path, "rev-list", ref).split()
    events = git(path, "log", "--first-parent", "--format=%s", ref).splitlines()
    assert events == ["Step 2: commit", "Step 1: plan", f"Start session {session.session_id}"]
    assert_fsck_clean(path)


def test_retry_with_request_id_records_a_step_a_crash_lost(
    store: vcs.Store, alice: vcs.Identity, data_dir: Path
) -> None:
    """A crash after the branch moved but before the step was recorded is repaired by the retry."""
    store.create_repository("crash", alice)
    session = store.create_session("crash", alice)
    ref = f"refs/trellis/sessions/{session.session_id}"
    before = git(repo_path(data_dir, "crash"), "rev-parse", ref).strip()
    step = vcs.StepInput(action="edit", input_tokens=3)
    first = store.commit(
        "crash",
        session.branch_id,
        [vcs.PutFile("a.py", b"1")],
        "m",
        alice,
        session_id=session.session_id,
        step=step,
        request_id="req-1",
    )
    # Simulate the crash: the session ref goes back to where it was before the step.
    git(repo_path(data_dir, "crash"), "update-ref", ref, before)
    assert store.get_session("crash", session.session_id).step_count == 0
    retry = store.commit(
        "crash",
        session.branch_id,
        [vcs.PutFile("a.py", b"1")],
        "m",
        alice,
        session_id=session.session_id,
        step=step,
        request_id="req-1",
    )
    assert retry.commit.commit_id == first.commit.commit_id
    assert retry.step is not None and retry.step.commit_id == first.commit.commit_id
    repaired = store.get_session("crash", session.session_id)
    assert (repaired.step_count, repaired.commit_count, repaired.input_tokens) == (1, 1, 3)
    # A further retry finds the recorded step and records nothing new.
    again = store.commit(
        "crash",
        session.branch_id,
        [vcs.PutFile("a.py", b"1")],
        "m",
        alice,
        session_id=session.session_id,
        step=step,
        request_id="req-1",
    )
    assert again.step == retry.step
    assert store.get_session("crash", session.session_id).step_count == 1
    assert_fsck_clean(repo_path(data_dir, "crash"))


def test_record_steps_writes_several_steps_as_one_event(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    one = store.create_session("demo", alice)
    many = store.create_session("demo", alice)
    inputs = [
        vcs.StepInput(
            action=f"a{i}", thought="t", input_tokens=i, output_tokens=2 * i, cost_usd=0.25, metadata={"k": str(i)}
        )
        for i in range(1, 6)
    ]
    for step in inputs:
        store.record_step("demo", one.session_id, step, alice)
    before = git(repo_path(data_dir, "demo"), "rev-list", "--count", f"refs/trellis/sessions/{many.session_id}")
    recorded = store.record_steps("demo", many.session_id, inputs, alice)
    assert [s.index for s in recorded] == [1, 2, 3, 4, 5] and [s.input for s in recorded] == inputs
    after = git(repo_path(data_dir, "demo"), "rev-list", "--count", f"refs/trellis/sessions/{many.session_id}")
    assert int(after) == int(before) + 1  # one commit for the five
    alone, batched = store.get_session("demo", one.session_id), store.get_session("demo", many.session_id)
    assert (
        (batched.step_count, batched.input_tokens, batched.output_tokens, batched.cost_usd)
        == (alone.step_count, alone.input_tokens, alone.output_tokens, alone.cost_usd)
        == (5, 15, 30, 1.25)
    )
    assert [s.input for s in store.list_steps("demo", many.session_id).items] == inputs
    more = store.record_steps("demo", many.session_id, [vcs.StepInput(action="later")], alice)
    assert more[0].index == 6 and store.record_steps("demo", many.session_id, [], alice) == []
    assert_fsck_clean(repo_path(data_dir, "demo"))


def test_record_steps_is_all_or_nothing_and_bounded(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository
) -> None:
    session = store.create_session("demo", alice)
    with pytest.raises(vcs.InvalidArgument) as caught:
        store.record_steps(
            "demo", session.session_id, [vcs.StepInput(action="ok"), vcs.StepInput(input_tokens=-1)], alice
        )
    assert caught.value.reason == "INVALID_STEP"
    with pytest.raises(vcs.LimitExceeded) as too_many:
        store.record_steps("demo", session.session_id, [vcs.StepInput()] * (store.limits.max_batch_steps + 1), alice)
    assert too_many.value.reason == "TOO_MANY_STEPS"
    with pytest.raises(vcs.PermissionDenied):
        store.record_steps("demo", session.session_id, [vcs.StepInput()], BOB)
    assert store.get_session("demo", session.session_id).step_count == 0


def _steps_listing(path: Path, session_id: str) -> dict[str, list[str]]:
    """``steps/`` of the session's tip as plain git lists it: subtree -> its files (a file: [])."""
    ref = f"refs/trellis/sessions/{session_id}"
    listing: dict[str, list[str]] = {}
    for line in git(path, "ls-tree", "-r", "-t", "--name-only", f"{ref}:steps").split():
        head, _, rest = line.partition("/")
        listing.setdefault(head, [])
        if rest:
            listing[head].append(rest)
    return listing


def _all_steps(store: vcs.Store, repository: str, session_id: str, page_size: int) -> list[vcs.Step]:
    steps: list[vcs.Step] = []
    token = ""
    while True:
        page = store.list_steps(repository, session_id, page_size=page_size, page_token=token)
        steps.extend(page.items)
        token = page.next_page_token
        if not token:
            return steps


def test_a_long_session_keeps_its_steps_in_subtrees_of_100(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    """A step rewrites one subtree of at most 100 entries, however long the session (not one growing tree)."""
    session = store.create_session("demo", alice)
    sid = session.session_id
    store.record_steps("demo", sid, [vcs.StepInput(action=f"a{i}") for i in range(1, 99)], alice)
    code = store.commit(
        "demo", session.branch_id, [vcs.PutFile("app.py", b"x = 99\n")], "step 99", alice, session_id=sid
    )
    store.record_step("demo", sid, vcs.StepInput(action="a100"), alice)
    store.record_steps("demo", sid, [vcs.StepInput(action=f"a{i}") for i in range(101, 251)], alice)
    path = repo_path(data_dir, "demo")
    listing = _steps_listing(path, sid)
    assert sorted(listing) == ["000000", "000001", "000002"]
    assert listing["000000"] == [f"{i:08d}.json" for i in range(1, 100)]
    assert listing["000001"] == [f"{i:08d}.json" for i in range(100, 200)]
    assert listing["000002"] == [f"{i:08d}.json" for i in range(200, 251)]
    steps = _all_steps(store, "demo", sid, page_size=40)
    assert [s.index for s in steps] == list(range(1, 251))
    assert steps[98].commit_id == code.commit.commit_id and steps[99].input.action == "a100"
    assert store.get_session("demo", sid).step_count == 250
    assert_fsck_clean(path)


def test_sessions_written_in_the_flat_layout_stay_readable_and_move_to_subtrees(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    session = store.create_session("demo", alice)
    sid = session.session_id
    store.record_steps("demo", sid, [vcs.StepInput(action=f"a{i}") for i in range(1, 104)], alice)
    path = repo_path(data_dir, "demo")
    flatten_session_steps(path, sid)
    assert sorted(_steps_listing(path, sid)) == [f"{i:08d}.json" for i in range(1, 104)]
    reader = vcs.Store(data_dir, durability=vcs.Durability.NONE)  # a fresh process: nothing cached
    assert [s.input.action for s in _all_steps(reader, "demo", sid, page_size=30)] == [f"a{i}" for i in range(1, 104)]
    # The next step moves the old steps into subtrees (their blobs unchanged) and adds itself.
    store.record_step("demo", sid, vcs.StepInput(action="a104"), alice)
    listing = _steps_listing(path, sid)
    assert sorted(listing) == ["000000", "000001"]
    assert len(listing["000000"]) == 99 and listing["000001"] == [f"{i:08d}.json" for i in range(100, 105)]
    assert [s.input.action for s in _all_steps(store, "demo", sid, page_size=1000)] == [f"a{i}" for i in range(1, 105)]
    assert_fsck_clean(path)


def test_a_request_replayed_after_a_crash_finds_its_step_in_the_flat_layout(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    session = store.create_session("demo", alice)
    first = store.commit(
        "demo",
        session.branch_id,
        [vcs.PutFile("app.py", b"x = 1\n")],
        "m",
        alice,
        session_id=session.session_id,
        request_id="req-old",
    )
    flatten_session_steps(repo_path(data_dir, "demo"), session.session_id)
    again = store.commit(
        "demo",
        session.branch_id,
        [vcs.PutFile("app.py", b"x = 1\n")],
        "m",
        alice,
        session_id=session.session_id,
        request_id="req-old",
    )
    assert again.commit == first.commit and again.step == first.step
    assert store.get_session("demo", session.session_id).step_count == 1


def test_steps_written_by_two_stores_at_once_keep_the_count(
    store: vcs.Store, alice: vcs.Identity, demo: vcs.Repository, data_dir: Path
) -> None:
    """Each store caches the session by the commit its ref points at: a write by another process is
    seen, never overwritten with a stale record (serve --workers N has one store per front)."""
    other = vcs.Store(data_dir, durability=vcs.Durability.NONE)
    session = store.create_session("demo", alice)
    sid = session.session_id
    for i in range(1, 7):
        writer = store if i % 3 else other
        step = writer.record_step("demo", sid, vcs.StepInput(action=f"a{i}", input_tokens=i), alice)
        assert step.index == i
    for reader in (store, other):
        got = reader.get_session("demo", sid)
        assert (got.step_count, got.input_tokens) == (6, 21)
    other.end_session("demo", sid, vcs.SessionStatus.SUCCEEDED, alice)
    with pytest.raises(vcs.FailedPrecondition):
        store.record_step("demo", sid, vcs.StepInput(action="late"), alice)
    assert [s.input.action for s in _all_steps(store, "demo", sid, page_size=4)] == [f"a{i}" for i in range(1, 7)]
