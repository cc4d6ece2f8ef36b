"""The admission queue: at most N calls run, cheap ones first, the others in arrival order; a call that waits
gives its turn up; a heavy call is passed over a bounded number of times.

Unit tests drive :class:`Admission` with threads and events (no clocks); the
end-to-end tests run the real server with one slot: a commit waiting for its
sync lets the next commit in, and unary calls and CommitStream items share
the one queue.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trellis import vcs
from trellis.admission import Admission, Cost, cost_of, waiting
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import build_server

PATIENCE = 60.0  # seconds a test waits for a condition before it fails (never reached when it passes)


def _eventually(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(PATIENCE * 100)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError("the condition never held")


@contextlib.contextmanager
def _held(admission: Admission, cost: Cost = Cost.CHEAP) -> Iterator[None]:
    """One slot of ``admission`` held by another thread (a call of ``cost``) until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with admission.slot(cost):
            holding.set()
            release.wait(PATIENCE)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(PATIENCE)
    try:
        yield
    finally:
        release.set()
        thread.join(PATIENCE)


def _enter_in_turn(admission: Admission, costs: list[tuple[str, Cost]]) -> list[str]:
    """Hold the slot, queue callers of ``costs`` one by one (so their arrival order is known), release: the
    order in which they entered."""
    entered: list[str] = []

    def caller(name: str, cost: Cost) -> None:
        with admission.slot(cost):
            entered.append(name)

    callers = []
    with _held(admission):
        for i, (name, cost) in enumerate(costs):
            t = threading.Thread(target=caller, args=(name, cost))
            t.start()
            callers.append(t)
            _eventually(lambda i=i: admission.queued == i + 1)
        assert entered == []
    for t in callers:
        t.join(PATIENCE)
    assert admission.queued == 0
    return entered


def test_callers_beyond_the_slots_wait_and_enter_in_arrival_order() -> None:
    names = [f"call{i}" for i in range(5)]
    assert _enter_in_turn(Admission(1), [(name, Cost.CHEAP) for name in names]) == names


def test_cheap_calls_enter_before_heavy_ones_that_queued_earlier() -> None:
    costs = [("diff", Cost.HEAVY), ("query", Cost.HEAVY), ("commit", Cost.CHEAP), ("get_branch", Cost.CHEAP)]
    assert _enter_in_turn(Admission(1, patience=10), costs) == ["commit", "get_branch", "diff", "query"]


def test_a_heavy_call_is_passed_over_at_most_patience_times() -> None:
    costs = [("heavy", Cost.HEAVY)] + [(f"cheap{i}", Cost.CHEAP) for i in range(5)]
    order = _enter_in_turn(Admission(1, patience=2), costs)
    assert order == ["cheap0", "cheap1", "heavy", "cheap2", "cheap3", "cheap4"]


def test_heavy_calls_take_at_most_their_share_of_the_slots() -> None:
    """With three slots and one for heavy calls, a second heavy call queues while slots are free; a cheap one
    goes straight in."""
    admission = Admission(3, heavy_slots=1)
    entered: list[str] = []

    def caller(name: str, cost: Cost) -> None:
        with admission.slot(cost):
            entered.append(name)

    with _held(admission, Cost.HEAVY):
        second = threading.Thread(target=caller, args=("heavy", Cost.HEAVY))
        second.start()
        _eventually(lambda: admission.queued_by_cost() == {Cost.CHEAP: 0, Cost.HEAVY: 1})
        caller("cheap", Cost.CHEAP)  # in this thread: it must not wait
        assert entered == ["cheap"]
    second.join(PATIENCE)
    assert entered == ["cheap", "heavy"]


def test_a_server_runs_two_calls_at_once_one_of_them_heavy(tmp_path: Path) -> None:
    """Each running call's thread contends for the GIL with the event loop that accepts calls (one at a time per
    method): with three slots a unary Commit waited p90 150-390 ms to be accepted under load, with two 30-40."""
    admission = Admission(ServerConfig(data_dir=tmp_path).admission_slots)
    assert (admission.slots, admission.heavy_slots) == (2, 1)


def test_the_methods_whose_work_grows_with_the_data_are_heavy() -> None:
    assert cost_of("/trellis.v1.DiffService/Diff") is Cost.HEAVY
    assert cost_of("/trellis.v1.ChangeService/ListCommits") is Cost.HEAVY
    assert cost_of("/trellis.v1.ChangeService/Commit") is Cost.CHEAP
    assert cost_of("/trellis.v1.ChangeService/GetBranch") is Cost.CHEAP


def test_a_caller_that_waits_gives_its_slot_up_and_queues_again() -> None:
    admission = Admission(1)
    in_wait = threading.Event()
    finish_wait = threading.Event()
    order: list[str] = []

    def waiter() -> None:
        with admission.slot():
            order.append("waiter works")
            with waiting():
                in_wait.set()
                finish_wait.wait(PATIENCE)
            order.append("waiter works again")

    def other() -> None:
        with admission.slot():
            order.append("other works")

    a = threading.Thread(target=waiter)
    a.start()
    in_wait.wait(PATIENCE)
    b = threading.Thread(target=other)
    b.start()
    b.join(PATIENCE)  # it got the slot while the first waited
    assert order == ["waiter works", "other works"]
    finish_wait.set()
    a.join(PATIENCE)
    assert order[-1] == "waiter works again"


def _enter_in_turn_resumed(admission: Admission, costs: list[tuple[str, Cost, bool]]) -> list[str]:
    """As :func:`_enter_in_turn`, each caller queueing as a new call or as one resumed (``True``)."""
    entered: list[str] = []

    def caller(name: str, cost: Cost, resumed: bool) -> None:
        with admission.slot(cost, resumed=resumed):
            entered.append(name)

    callers = []
    with _held(admission):
        for i, (name, cost, resumed) in enumerate(costs):
            t = threading.Thread(target=caller, args=(name, cost, resumed))
            t.start()
            callers.append(t)
            _eventually(lambda i=i: admission.queued == i + 1)
    for t in callers:
        t.join(PATIENCE)
    return entered


def test_a_caller_back_from_its_wait_enters_before_calls_that_have_not_started() -> None:
    """A commit that waited for its sync (a Query for DuckDB) queues again ahead of the cheap calls that
    arrived meanwhile, not behind them: its latency is one queue wait, not one per turn."""
    admission = Admission(1)
    in_wait, finish_wait = threading.Event(), threading.Event()
    order: list[str] = []

    def waiter() -> None:
        with admission.slot():
            with waiting():
                in_wait.set()
                finish_wait.wait(PATIENCE)
            order.append("waiter")

    def other(name: str) -> None:
        with admission.slot():
            order.append(name)

    a = threading.Thread(target=waiter)
    a.start()
    in_wait.wait(PATIENCE)
    with _held(admission):
        others = [threading.Thread(target=other, args=(name,)) for name in ("new1", "new2")]
        for i, t in enumerate(others):
            t.start()
            _eventually(lambda i=i: admission.queued == i + 1)
        finish_wait.set()
        _eventually(lambda: admission.queued == 3)  # the waiter queues again, last to arrive
    for t in [a, *others]:
        t.join(PATIENCE)
    assert order == ["waiter", "new1", "new2"]


def test_resumed_calls_keep_their_order_ahead_of_new_ones_and_heavy_ones_stay_behind_cheap() -> None:
    costs = [
        ("new", Cost.CHEAP, False),
        ("resumed1", Cost.CHEAP, True),
        ("heavy resumed", Cost.HEAVY, True),
        ("resumed2", Cost.CHEAP, True),
        ("new2", Cost.CHEAP, False),
    ]
    order = _enter_in_turn_resumed(Admission(1, patience=10), costs)
    assert order == ["resumed1", "resumed2", "new", "new2", "heavy resumed"]


def test_a_resumed_heavy_call_keeps_the_patience_owed_to_the_heavy_call_it_goes_before() -> None:
    """The first queued heavy call was passed over once; a resumed heavy call goes before it and is owed the
    same: with patience 2 it enters after one more cheap call (not two), then the other heavy call after two."""
    admission = Admission(1, patience=2)
    entered: list[str] = []
    cheap0_in, cheap0_go = threading.Event(), threading.Event()
    callers: list[threading.Thread] = []

    def caller(name: str, cost: Cost, resumed: bool) -> None:
        with admission.slot(cost, resumed=resumed):
            entered.append(name)
            if name == "cheap0":
                cheap0_in.set()
                cheap0_go.wait(PATIENCE)

    def queue(name: str, cost: Cost, resumed: bool = False) -> None:
        t = threading.Thread(target=caller, args=(name, cost, resumed))
        queued = admission.queued
        t.start()
        callers.append(t)
        _eventually(lambda: admission.queued == queued + 1)

    with _held(admission):
        queue("heavy", Cost.HEAVY)
        queue("cheap0", Cost.CHEAP)
        queue("cheap1", Cost.CHEAP)
    cheap0_in.wait(PATIENCE)  # it went before the heavy call, which was passed over once
    queue("heavy resumed", Cost.HEAVY, True)
    queue("cheap2", Cost.CHEAP)
    cheap0_go.set()
    for t in callers:
        t.join(PATIENCE)
    assert entered == ["cheap0", "cheap1", "heavy resumed", "cheap2", "heavy"]


def test_no_limit_nesting_and_waiting_outside_a_slot() -> None:
    with Admission(0).slot(), Admission(0).slot():
        pass
    one = Admission(1)
    with one.slot(), one.slot():  # nested in one thread: the same slot
        with waiting():
            with one.slot():  # given up while waiting: this thread may take it again
                pass
    with waiting():  # no slot held: nothing to give up
        pass
    assert one.queued == 0


class _BlockingSync:
    """The real sync, held back until ``go`` is set; counts the callers inside the store's group sync."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()

    def __call__(self, paths: object) -> None:
        self.started.set()
        self.go.wait(PATIENCE)
        vcs.sync_filesystems(paths)  # type: ignore[arg-type]


def test_a_commit_waiting_for_its_sync_lets_the_next_commit_in(tmp_path: Path) -> None:
    """With one slot, a commit whose write waits for the disk must not hold the server: the next
    commit is written meanwhile, and both are acknowledged by the syncs that follow (group commit)."""
    sync = _BlockingSync()
    config = ServerConfig(data_dir=tmp_path / "data", address="127.0.0.1:0", admission_slots=1)
    running = build_server(config, sync=sync)
    try:
        sync.go.set()
        with Client(running.address, agent="setup") as setup:
            setup.create_repository("demo")
            setup.create_branch("demo", "a")
            setup.create_branch("demo", "b")
        sync.go.clear()
        sync.started.clear()
        group = running.store._group
        assert group is not None
        replies: dict[str, str] = {}

        def commit(branch: str) -> None:
            with Client(running.address, agent=branch) as client:
                replies[branch] = client.commit("demo", branch, {f"{branch}.txt": "x\n"}, branch).commit.commit_id

        first = threading.Thread(target=commit, args=("a",))
        first.start()
        _eventually(lambda: group.waiting == 1 and sync.started.is_set())
        second = threading.Thread(target=commit, args=("b",))
        second.start()
        # Written while the first still waits for the disk: its branch moved, and it waits for a sync too.
        _eventually(lambda: group.waiting == 2)
        assert (
            running.store.get_branch("demo", "b").head_commit_id
            != running.store.get_branch("demo", "main").head_commit_id
        )
        assert replies == {}
        sync.go.set()
        first.join(PATIENCE)
        second.join(PATIENCE)
        assert set(replies) == {"a", "b"}
    finally:
        sync.go.set()
        running.stop()


@pytest.mark.parametrize("slots", [1, 3])
def test_unary_calls_and_stream_items_share_the_queue(tmp_path: Path, slots: int) -> None:
    """Stream items and unary calls from concurrent agents all land, in order per agent, through few slots."""
    config = ServerConfig(data_dir=tmp_path / "data", address="127.0.0.1:0", admission_slots=slots)
    running = build_server(config)
    try:
        with Client(running.address, agent="setup") as setup:
            setup.create_repository("demo")
            for name in ("u0", "u1", "s0", "s1"):
                setup.create_branch("demo", name)
        heads: dict[str, list[str]] = {}

        def unary(name: str) -> None:
            with Client(running.address, agent=name) as client:
                heads[name] = [
                    client.commit("demo", name, {"f.txt": f"{n}\n"}, f"{n}").commit.commit_id for n in range(8)
                ]

        def streamed(name: str) -> None:
            with Client(running.address, agent=name) as client, client.commit_stream() as stream:
                heads[name] = [
                    stream.commit("demo", name, {"f.txt": f"{n}\n"}, f"{n}").commit.commit_id for n in range(8)
                ]

        threads = [threading.Thread(target=unary, args=(n,)) for n in ("u0", "u1")]
        threads += [threading.Thread(target=streamed, args=(n,)) for n in ("s0", "s1")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(PATIENCE)
        for name, commits in heads.items():
            assert running.store.get_branch("demo", name).head_commit_id == commits[-1]
            history = [c.commit_id for c in running.store.history("demo", name, first_parent=True, limit=8)]
            assert history == commits[::-1]
        assert len(heads) == 4
    finally:
        running.stop()


def test_a_unary_call_and_a_stream_item_wait_in_the_same_queue(tmp_path: Path) -> None:
    """While the one slot is taken, neither a unary Commit nor a CommitStream item runs; released, both do."""
    config = ServerConfig(data_dir=tmp_path / "data", address="127.0.0.1:0", admission_slots=1)
    running = build_server(config)
    admission = running.admission
    assert admission is not None
    hold, holding = threading.Event(), threading.Event()

    def holder() -> None:
        with admission.slot():
            holding.set()
            hold.wait(PATIENCE)

    try:
        with Client(running.address, agent="setup") as setup:
            setup.create_repository("demo")
            setup.create_branch("demo", "u")
            setup.create_branch("demo", "s")
        taker = threading.Thread(target=holder)
        taker.start()
        holding.wait(PATIENCE)
        done: dict[str, str] = {}

        def unary() -> None:
            with Client(running.address, agent="u") as client:
                done["u"] = client.commit("demo", "u", {"u.txt": "u\n"}, "u").commit.commit_id

        def streamed() -> None:
            with Client(running.address, agent="s") as client, client.commit_stream() as stream:
                done["s"] = stream.commit("demo", "s", {"s.txt": "s\n"}, "s").commit.commit_id

        callers = [threading.Thread(target=unary), threading.Thread(target=streamed)]
        for t in callers:
            t.start()
        _eventually(lambda: admission.queued == 2)
        assert done == {}
        hold.set()
        for t in [taker, *callers]:
            t.join(PATIENCE)
        assert set(done) == {"u", "s"}
        assert running.store.get_branch("demo", "u").head_commit_id == done["u"]
    finally:
        hold.set()
        running.stop()


def test_a_commit_is_not_held_behind_queued_diffs(tmp_path: Path) -> None:
    """Two slots, one of them for heavy calls and taken: a Diff queues, a unary Commit runs and is answered
    meanwhile; once the heavy slot is free the Diff is answered too."""
    config = ServerConfig(data_dir=tmp_path / "data", address="127.0.0.1:0", admission_slots=2)
    running = build_server(config)
    admission = running.admission
    assert admission is not None
    hold, holding = threading.Event(), threading.Event()

    def heavy_holder() -> None:
        with admission.slot(Cost.HEAVY):
            holding.set()
            hold.wait(PATIENCE)

    try:
        with Client(running.address, agent="setup") as setup:
            setup.create_repository("demo")
            first = setup.commit("demo", "main", {"a.txt": "a\n"}, "a").commit.commit_id
            setup.create_branch("demo", "c")
        taker = threading.Thread(target=heavy_holder)
        taker.start()
        holding.wait(PATIENCE)
        diffs: list[int] = []

        def diff() -> None:
            with Client(running.address, agent="d") as client:
                diffs.append(len(client.diff("demo", first).result.files))

        differ = threading.Thread(target=diff)
        differ.start()
        _eventually(lambda: admission.queued_by_cost() == {Cost.CHEAP: 0, Cost.HEAVY: 1})
        with Client(running.address, agent="c") as client:
            client.commit("demo", "c", {"c.txt": "c\n"}, "c")
        assert diffs == [] and admission.queued_by_cost()[Cost.HEAVY] == 1
        hold.set()
        differ.join(PATIENCE)
        taker.join(PATIENCE)
        assert diffs == [1]
    finally:
        hold.set()
        running.stop()
