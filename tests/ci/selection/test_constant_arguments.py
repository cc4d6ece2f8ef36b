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
