"""A selection of nearly every test is reported as a fallback that names the change and the widest route to it."""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

from trellis.ci.runs import NEARLY_ALL_PREFIXES, JobResult
from trellis.ci.selection.index import FALLBACK_RULES, NEARLY_ALL_RULES, ChangedEntity, TestIndex

TESTS = 12


def build(files: Mapping[str, str]) -> TestIndex:
    return TestIndex.build({path: dedent(text).encode() for path, text in files.items()})


def body(path: str, qualname: str) -> ChangedEntity:
    return ChangedEntity(path, qualname, "modified", ("body",))


def tree(app_init: str, tests: int = TESTS) -> dict[str, str]:
    files = {
        "app/__init__.py": app_init,
        "app/models.py": """
            class User:
                def save(self):
                    return 1

                def load(self):
                    return 2
        """,
        "app/core.py": """
            def step():
                return 1
        """,
        "app/api.py": """
            from app import core

            def run():
                return core.step()
        """,
    }
    for k in range(tests):
        files[f"tests/test_{k}.py"] = f"""
            import app
            from app import api

            def test_{k}():
                assert api.run() == 1
        """
    return files


COMPUTED = """
    import os
    from app.models import User

    def hook(obj):
        return getattr(obj, os.environ.get("HOOK", "load"))()

    hook(User())
"""


def test_nearly_every_test_through_an_attribute_read_under_a_computed_name_is_a_fallback_naming_it() -> None:
    index = build(tree(COMPUTED))
    selection = index.select([body("app/models.py", "app.models.User.save")], old_index=index)
    assert not selection.run_all and len(selection.tests) == selection.total == TESTS  # what it selects still runs
    assert selection.rule == "nearly-all" and selection.path == "app/__init__.py"
    assert selection.fallback == (
        f"nearly-all: {TESTS} of {TESTS} tests selected; {TESTS} reach app.models.User.save (modified), {TESTS} by "
        "the route of tests/test_0.py::test_0: tests/test_0.py::<module> -> app/__init__.py::<module> -> "
        "app/__init__.py::hook -[any attribute]-> app/models.py::User.save"
    )


def test_nearly_every_test_through_calls_is_a_fallback_naming_the_calls() -> None:
    index = build(tree(""))
    selection = index.select([body("app/core.py", "app.core.step")], old_index=index)
    assert len(selection.tests) == TESTS and selection.rule == "nearly-all" and selection.path == "app/api.py"
    assert selection.reason.endswith(
        f"{TESTS} by the route of tests/test_0.py::test_0: "
        "tests/test_0.py::test_0 -> app/api.py::run -> app/core.py::step"
    )
    # A method no test reaches selects nothing: not a fallback.
    quiet = index.select([body("app/models.py", "app.models.User.save")], old_index=index)
    assert quiet.tests == () and quiet.fallback == ""


def test_a_handful_of_tests_or_fewer_than_nine_in_ten_is_a_selection() -> None:
    few = build(tree("", tests=10))
    assert few.select([body("app/core.py", "app.core.step")], old_index=few).fallback == ""
    files = tree("")
    for k in range(2):  # 12 of 14 tests: 86%
        files[f"tests/test_other_{k}.py"] = "def test_other():\n    pass\n"
    index = build(files)
    selection = index.select([body("app/core.py", "app.core.step")], old_index=index)
    assert len(selection.tests) == TESTS and selection.total == TESTS + 2 and selection.fallback == ""


def test_runs_and_the_cli_know_every_rule_of_a_selection_of_nearly_every_test() -> None:
    assert NEARLY_ALL_PREFIXES == tuple(f"{rule}:" for rule in NEARLY_ALL_RULES)
    assert set(NEARLY_ALL_RULES) <= FALLBACK_RULES.keys()
    job = JobResult(stage="tests", scope="commit", chunk="", fallback="nearly-all: 12 of 12 tests selected")
    assert job.nearly_all and not JobResult(stage="t", scope="commit", chunk="", fallback="configuration: x").nearly_all
