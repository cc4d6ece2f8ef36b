"""What a pytest stage's own arguments say about its runs: a session that stops at a failure runs only some tests,
so none of its tests counts as observed (the code exec/eval ran, :mod:`trellis.ci.selection.observed`)."""

from __future__ import annotations

import pytest

from trellis.ci.engine.stages import _stops_early


@pytest.mark.parametrize(
    ("args", "stops"),
    [
        ((), False),
        (("-q", "--doctest-modules", "tests"), False),
        (("-x",), True),
        (("--exitfirst",), True),
        (("--maxfail=3",), True),
        (("--maxfail", "3"), True),
        (("-qx",), True),
        (("-p", "no:randomly"), False),
    ],
)
def test_arguments_that_stop_the_session_at_a_failure(args: tuple[str, ...], stops: bool) -> None:
    assert _stops_early(args) is stops
