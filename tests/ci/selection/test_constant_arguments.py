"""A helper defined in a function and called only with string literals for a parameter: a ``getattr`` by that
parameter reads those names (simplejson's ``_make_iterencode.call_method(obj, 'for_json')``, whose ``getattr(obj,
method_name, None)`` read any attribute of anything: every test of the encoder reached every method of the tree).
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, selected

ENCODE = """
    def encode(obj, hook="_asdict"):
        def call_method(o, method_name, default=None):
            method = getattr(o, method_name, default)
            return method() if callable(method) else None

        def inner(o):
            return call_method(o, "for_json") or call_method(o, method_name=hook)

        return inner(obj)
"""

FILES = {
    "app/__init__.py": "",
    "app/encode.py": ENCODE,
    "app/models.py": """
        class Point:
            def for_json(self):
                return [1, 2]

            def unrelated(self):
                return 3
    """,
    "tests/test_encode.py": """
        from app.encode import encode
        from app.models import Point


        def test_encode():
            assert encode(Point()) == [1, 2]
    """,
    "tests/test_unrelated.py": """
        from app.models import Point


        def test_unrelated():
            assert Point().unrelated() == 3
    """,
}


def test_a_getattr_by_a_parameter_every_call_gives_a_literal_reads_those_names() -> None:
    # Before: call_method read any attribute: test_encode reached Point.unrelated.
    files = {**FILES, "app/encode.py": ENCODE.replace("method_name=hook", 'method_name="_asdict"')}
    assert selected(files, body("app/models.py", "app.models.Point.unrelated")) == {
        "tests/test_unrelated.py::test_unrelated"
    }
    assert "tests/test_encode.py::test_encode" in selected(files, body("app/models.py", "app.models.Point.for_json"))


@pytest.mark.parametrize(
    "encode",
    [
        ENCODE,  # a call passes a variable
        ENCODE.replace("method_name=hook", '"_asdict"').replace("return inner(obj)", "return inner, call_method"),
        ENCODE.replace("method_name=hook", '"_asdict"').replace('"for_json")', '*("for_json",))'),
        ENCODE.replace("method_name=hook", '"_asdict"').replace(
            "method = getattr", "method_name += ''\n            method = getattr"
        ),
        ENCODE.replace("method_name=hook", '"_asdict"').replace(
            "return inner(obj)", "call_method = getattr\n        return inner(obj)"
        ),
    ],
)
def test_a_parameter_that_may_hold_any_name_reads_any_attribute(encode: str) -> None:
    files = {**FILES, "app/encode.py": encode}
    assert "tests/test_encode.py::test_encode" in selected(files, body("app/models.py", "app.models.Point.unrelated"))


LOOP = """
    from app.models import Point


    def test_loop():
        point = Point()
        for label, attr in (("one", "for_json"), ("two", "for_json")):
            assert getattr(point, attr)() == [1, 2], label
"""


def test_a_loop_over_literal_tuples_binds_each_name_to_the_strings_at_its_place() -> None:
    """pycparser's ``for suffix, klass, attr in (("(x)", FuncCall, "name"), ...)``: ``getattr(expr, attr)`` reads
    the names at ``attr``'s place; it read any attribute, so a test class added anywhere selected the test."""
    literal = ENCODE.replace("method_name=hook", 'method_name="_asdict"')
    files = {**FILES, "app/encode.py": literal, "tests/test_loop.py": LOOP}
    assert selected(files, body("app/models.py", "app.models.Point.unrelated")) == {
        "tests/test_unrelated.py::test_unrelated"
    }
    assert "tests/test_loop.py::test_loop" in selected(files, body("app/models.py", "app.models.Point.for_json"))


@pytest.mark.parametrize(
    "loop",
    [
        LOOP.replace('("two", "for_json")', '("two", Point.__name__)'),  # a place that holds no string
        LOOP.replace('("two", "for_json")', '("two", "for_json", "x")'),  # tuples of other lengths
        LOOP.replace('("two", "for_json")', "PAIR"),  # an item that is no literal tuple
        LOOP.replace("for label, attr in", "for label, *attr in"),  # a starred place: a list
        LOOP.replace("        assert getattr", "        attr = attr.upper()\n        assert getattr"),  # rebound
        LOOP.replace('(("one", "for_json"), ("two", "for_json"))', "PAIRS"),  # not a literal
    ],
)
def test_a_loop_name_that_may_hold_any_name_reads_any_attribute(loop: str) -> None:
    literal = ENCODE.replace("method_name=hook", 'method_name="_asdict"')
    files = {**FILES, "app/encode.py": literal, "tests/test_loop.py": loop}
    assert "tests/test_loop.py::test_loop" in selected(files, body("app/models.py", "app.models.Point.unrelated"))
