"""The quota table the fronts of ``serve --workers`` share: one token bucket and one stream count per agent,
whichever front the calls reach; a front that starts again does not inherit its dead predecessor's streams."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.quotas import QuotaExceeded, Quotas, QuotaTracker
from trellis.shared_quotas import SharedQuotaTable


def _tracker(path: Path, front: int, quotas: Quotas, clock: list[float]) -> QuotaTracker:
    return QuotaTracker(quotas, 1 << 20, lambda: [], clock=lambda: clock[0], shared=SharedQuotaTable(path, front))


def test_one_bucket_per_agent_across_fronts(tmp_path: Path) -> None:
    clock = [100.0]
    quotas = Quotas(requests_per_second=2.0, burst=4)
    a, b = (_tracker(tmp_path / "quotas", front, quotas, clock) for front in (0, 1))
    for tracker in (a, b, a, b):
        tracker.take("alice")
    try:
        b.take("alice")
        raise AssertionError("a fifth request passed a burst of 4")
    except QuotaExceeded as exc:
        assert exc.reason == "RATE_LIMITED" and exc.retry_after is not None and 0 < exc.retry_after <= 0.5
    a.take("bob")  # another agent: its own bucket
    clock[0] += 0.5  # one token back, at 2 per second, for whichever front asks
    a.take("alice")


def test_streams_count_across_fronts_and_a_restarted_front_starts_at_zero(tmp_path: Path) -> None:
    clock = [0.0]
    quotas = Quotas(max_streams=3)
    a, b = (_tracker(tmp_path / "quotas", front, quotas, clock) for front in (0, 1))
    a.open_stream("alice")
    b.open_stream("alice")
    b.open_stream("alice")
    try:
        a.open_stream("alice")
        raise AssertionError("a fourth stream opened with a limit of 3")
    except QuotaExceeded as exc:
        assert exc.reason == "TOO_MANY_STREAMS"
    b.close_stream("alice")
    a.open_stream("alice")
    _tracker(tmp_path / "quotas", 1, quotas, clock)  # front 1 was killed and started again: its stream is gone
    a.open_stream("alice")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 2)), max_size=60))
def test_shared_buckets_allow_what_one_bucket_allows(tmp_path_factory, calls: list[tuple[str, int]]) -> None:  # type: ignore[no-untyped-def]
    """Whatever the fronts the calls reach, the shared table lets through exactly what one in-process
    tracker would (the time standing still: every agent gets its burst, no more)."""
    path = tmp_path_factory.mktemp("q") / "quotas"
    clock = [5.0]
    quotas = Quotas(requests_per_second=1.0, burst=3)
    fronts = [_tracker(path, front, quotas, clock) for front in range(3)]
    alone = QuotaTracker(quotas, 1 << 20, lambda: [], clock=lambda: clock[0])

    def passes(tracker: QuotaTracker, agent: str) -> bool:
        try:
            tracker.take(agent)
            return True
        except QuotaExceeded:
            return False

    for agent, front in calls:
        assert passes(fronts[front], agent) == passes(alone, agent)
