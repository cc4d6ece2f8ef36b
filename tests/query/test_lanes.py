"""Lanes of a history import: every commit once, each lane contiguous, idle workers take the later half."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trellis.query.lanes import LanePlan


def test_lanes_are_contiguous_runs_in_order() -> None:
    plan = LanePlan(list(range(10)), lanes=2, job_size=2)
    assert plan.lanes == 2
    assert [plan.next_job(0), plan.next_job(0), plan.next_job(1)] == [[0, 1], [2, 3], [6, 7]]


def test_an_empty_lane_takes_the_later_half_of_the_longest() -> None:
    plan = LanePlan(list(range(16)), lanes=2, job_size=1)
    first = [plan.next_job(1) for _ in range(8)]
    assert first == [[i] for i in range(8, 16)]
    # lane 1 is empty: it takes jobs 4..7 of lane 0, in order; lane 0 keeps 0..3
    assert plan.next_job(1) == [4]
    assert plan.remaining(0) == 4 and plan.remaining(1) == 3
    assert plan.next_job(0) == [0]


def test_one_lane_is_the_whole_history_in_order() -> None:
    plan = LanePlan(list(range(5)), lanes=1, job_size=2)
    assert [plan.next_job(0) for _ in range(4)] == [[0, 1], [2, 3], [4], None]


def test_more_lanes_than_jobs() -> None:
    plan = LanePlan(["a", "b"], lanes=4, job_size=16)
    assert plan.lanes == 1
    assert plan.next_job(0) == ["a", "b"]
    assert plan.next_job(0) is None


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        LanePlan([1], lanes=0, job_size=1)
    with pytest.raises(ValueError):
        LanePlan([1], lanes=1, job_size=0)


@given(
    n=st.integers(0, 200),
    lanes=st.integers(1, 5),
    job_size=st.integers(1, 20),
    turns=st.lists(st.integers(0, 4), max_size=400),
)
def test_every_item_is_handed_out_exactly_once(n: int, lanes: int, job_size: int, turns: list[int]) -> None:
    """Whatever order the workers ask in, every item comes out once, and each job is a contiguous run."""
    plan = LanePlan(list(range(n)), lanes, job_size)
    seen: list[int] = []
    order = [t % plan.lanes for t in turns] + [lane for lane in range(plan.lanes) for _ in range(n + 1)]
    for lane in order:
        job = plan.next_job(lane)
        if job is None:
            continue
        assert 1 <= len(job) <= job_size
        assert job == list(range(job[0], job[0] + len(job)))
        seen.extend(job)
    assert sorted(seen) == list(range(n))
    assert all(plan.next_job(lane) is None for lane in range(plan.lanes))
