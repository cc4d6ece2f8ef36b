"""An annotated class attribute bound to a named value (``default_signer: type[Signer] = Signer``, ``default_serializer:
t.Any = json``) is a binding like ``default_signer = Signer``: creating the class calls ``__set_name__`` only if the
value's type has one (the graph decides from what the name resolves to), and the annotation runs no code when it is
not evaluated (``from __future__ import annotations``) or only reads a name. An annotated value made by a call
that only wraps its argument (``default_digest_method: t.Any = staticmethod(_lazy_sha1)``) is plain as its
unannotated form is. And an annotation not evaluated (``fallbacks: list[type[Signer]] = []`` under the
``__future__`` import) is no code of the class statement: what reads it (``typing.get_type_hints``) uses the class.
itsdangerous's ``Serializer`` and ``Signer`` have all three:
every test importing ``itsdangerous`` (whose ``__init__`` imports ``serializer``) reached ``Serializer.__init__`` and
all the signing code under it — 12 of 17 commits of the 2.1.2 -> 2.2.0 history selected every test.
"""

from __future__ import annotations

import pytest

from tests.ci.selection.test_selection import body, selected

SERIALIZER = """
    from __future__ import annotations

    import json
    import typing as t

    from app.signer import Signer


    class Serializer:
        default_serializer: t.Any = json
        default_signer: type[Signer] = Signer
        fallback_signers: list[type[Signer] | tuple[type[Signer], dict[str, t.Any]]] = []

        def __init__(self, key):
            self.signer = self.default_signer(key)

        def dumps(self, obj):
            return self.signer.sign(self.default_serializer.dumps(obj))


    def helper():
        return 1
"""

SIGNER = """
    from __future__ import annotations

    import typing as t


    def _concat(value, key):
        return value + key


    class Signer:
        join: t.Any = staticmethod(_concat)

        def __init__(self, key):
            self.key = key

        def sign(self, value):
            return self.join(value, self.key)
"""


def files(serializer: str = SERIALIZER) -> dict[str, str]:
    return {
        "app/__init__.py": "",
        "app/signer.py": SIGNER,
        "app/serializer.py": serializer,
        "tests/test_dumps.py": """
            from app.serializer import Serializer


            def test_dumps():
                assert Serializer("k").dumps(1) == "1k"
        """,
        "tests/test_helper.py": """
            from app.serializer import helper


            def test_helper():
                assert helper() == 1
        """,
    }


def test_an_annotated_class_attribute_naming_a_class_or_module_is_reached_by_the_class_users_only() -> None:
    # Before: test_helper, which only imports the module, reached Serializer.__init__ and Signer.sign.
    assert selected(files(), body("app/serializer.py", "app.serializer.Serializer.__init__")) == {
        "tests/test_dumps.py::test_dumps"
    }
    assert selected(files(), body("app/signer.py", "app.signer.Signer.sign")) == {"tests/test_dumps.py::test_dumps"}
    assert selected(files(), body("app/signer.py", "app.signer.Signer.__init__")) == {"tests/test_dumps.py::test_dumps"}


@pytest.mark.parametrize("annotation", ["t.Any", "t.Type[Signer]", "type[Signer]", "t.Optional[t.Tuple[Signer, ...]]"])
def test_an_evaluated_annotation_that_only_reads_names_runs_no_code_either(annotation: str) -> None:
    # itsdangerous 2.0's ``TimedSerializer.default_signer: _t.Type[TimestampSigner] = TimestampSigner``, evaluated.
    source = SERIALIZER.replace("from __future__ import annotations\n", "").replace("type[Signer]", annotation, 1)
    source = source.replace("list[type[Signer] | tuple[type[Signer], dict[str, t.Any]]]", "t.List[t.Any]")
    change = body("app/serializer.py", "app.serializer.Serializer.__init__")
    assert selected(files(source), change) == {"tests/test_dumps.py::test_dumps"}


def test_an_evaluated_annotation_subscripting_a_class_of_the_tree_still_runs_with_the_class_statement() -> None:
    # ``Box[Signer]`` runs ``Box.__class_getitem__`` when the class is defined.
    source = (
        SERIALIZER.replace("from __future__ import annotations\n", "")
        .replace("type[Signer] = Signer", "Box[Signer] = Signer")
        .replace(
            "    class Serializer:",
            "    class Box:\n        def __class_getitem__(cls, item):\n            return item('x').sign('')\n\n\n"
            "    class Serializer:",
        )
    )
    assert "tests/test_helper.py::test_helper" in selected(
        files(source), body("app/signer.py", "app.signer.Signer.sign")
    )


def test_an_evaluated_annotation_that_calls_code_still_runs_with_the_class_statement() -> None:
    # ``default_signer: pick() = Signer`` without the __future__ import: ``pick()`` runs when the class is defined.
    source = (
        SERIALIZER.replace("from __future__ import annotations\n", "")
        .replace("type[Signer]", "pick()")
        .replace(
            "    class Serializer:", "    def pick():\n        return Signer('x').sign('')\n\n\n    class Serializer:"
        )
    )
    assert "tests/test_helper.py::test_helper" in selected(
        files(source), body("app/signer.py", "app.signer.Signer.sign")
    )


def test_a_display_of_made_values_in_a_class_body_runs_their_code_but_hands_the_class_to_none() -> None:
    # itsdangerous 2.0's ``JSONWebSignatureSerializer.jws_algorithms = {"HS256": HMACAlgorithm(hashlib.sha256), ...}``:
    # the calls run when the class is defined (the module's importers reach ``Signer.__init__``), but the value bound
    # is a dict, whose type has no ``__set_name__``: the class's own methods are its users'.
    source = SERIALIZER.replace(
        "        default_signer: type[Signer] = Signer\n",
        "        default_signer: type[Signer] = Signer\n        signers = {'a': Signer('a'), 'b': [Signer('b')]}\n",
    )
    change = body("app/serializer.py", "app.serializer.Serializer.__init__")
    assert selected(files(source), change) == {"tests/test_dumps.py::test_dumps"}
    assert "tests/test_helper.py::test_helper" in selected(
        files(source), body("app/signer.py", "app.signer.Signer.__init__")
    )
