"""A module-level table of lambdas (isodate's ``STRF_DT_MAP = {"%Z": lambda tdt, yds: tz_isoformat(tdt, "%Z"),
...}``): making a lambda runs nothing, so its body counts for the readers of the name the table is bound to, not
for every test importing the module (every isodate test reached ``tz_isoformat`` through ``import isodate``).
A lambda that may run at import (an argument of a call, called in place, a table the module's code calls) still
counts for every importer."""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

TABLE = dedent(
    """
    from app.tz import tz_isoformat

    STRF_MAP = {
        "%Z": lambda t, y: tz_isoformat(t, "%Z"),
        "%Y": lambda t, y, width=4: "%0*d" % (width, t),
    }
    SHAPES = [lambda t: tz_isoformat(t, "%h")]


    def strftime(t, fmt):
        return STRF_MAP[fmt](t, 4)


    def plain():
        return 1
"""
)

FILES = {
    "app/__init__.py": "",
    "app/tz.py": "def tz_isoformat(t, fmt):\n    return 'Z'\n",
    "app/strf.py": TABLE,
    "tests/test_strf.py": "from app.strf import strftime\n\n\ndef test_strftime():\n    assert strftime(1, '%Z')\n",
    "tests/test_plain.py": "from app.strf import plain\n\n\ndef test_plain():\n    assert plain() == 1\n",
}


def test_a_lambda_in_a_module_level_table_counts_for_the_readers_of_the_table() -> None:
    # Before: test_plain reached tz_isoformat too (the module's code "ran" the lambdas' bodies).
    assert selected(FILES, body("app/tz.py", "app.tz.tz_isoformat")) == {"tests/test_strf.py::test_strftime"}
    direct = {
        **FILES,
        "app/strf.py": TABLE.replace("STRF_MAP = {", "ONE = lambda t: tz_isoformat(t, 'x')\nSTRF_MAP = {"),
    }
    assert selected(direct, body("app/tz.py", "app.tz.tz_isoformat")) == {"tests/test_strf.py::test_strftime"}


@pytest.mark.parametrize(
    "extra",
    [
        "ORDER = sorted([3, 1], key=lambda x: tz_isoformat(x, 'k'))",  # an argument: sorted calls it now
        "NOW = (lambda: tz_isoformat(0, 'n'))()",  # called in place
        "FIRST = STRF_MAP['%Z'](0, 4)",  # the module's code calls the table's lambda
        "LATER = {'a': lambda t, d=tz_isoformat(0, 'd'): t}",  # a default runs when the lambda is made
    ],
    ids=["argument", "called-in-place", "table-called-at-import", "default"],
)
def test_a_lambda_that_may_run_at_import_counts_for_every_importer(extra: str) -> None:
    files = {**FILES, "app/strf.py": TABLE + "\n\n" + extra + "\n"}
    assert "tests/test_plain.py::test_plain" in selected(files, body("app/tz.py", "app.tz.tz_isoformat"))
