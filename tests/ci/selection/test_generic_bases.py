"""A base subscripted with names (``class M(Serializer[str])``) is a base, not a use of it by the module.

itsdangerous 2.2: ``class URLSafeSerializerMixin(Serializer[str])`` read as module code that uses ``Serializer``
(constructs it): every test importing the module reached ``Serializer.__init__`` and what it calls, and faults in
``want_bytes``, ``dumps`` or ``make_signer`` selected 133 of 133 tests (9-123 of 132 at 2.1, with a plain base).
Subscribing a class whose ancestors are the tree's, ``object`` or typing's ``Generic``/``Protocol`` runs typing's
``__class_getitem__``, which keeps the names: only a ``__class_getitem__`` of the tree runs code there, and a base
that may be anything else (a metaclass, an outside class) stays used by the module.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

SERIALIZER = dedent(
    """
    import typing

    T = typing.TypeVar("T")


    class Serializer(typing.Generic[T]):
        def __init__(self):
            self.x = helper()

        def dumps(self):
            return 1


    def helper():
        return 2


    class Mixin(Serializer[str]):
        pass
    """
)
FILES = {
    "app/__init__.py": "",
    "app/ser.py": SERIALIZER,
    "app/other.py": "import app.ser\n\n\ndef other():\n    return 1\n",
    "tests/test_ser.py": "from app.ser import Serializer\n\n\ndef test_ser():\n    assert Serializer().dumps() == 1\n",
    "tests/test_mixin.py": "from app.ser import Mixin\n\n\ndef test_mixin():\n    assert Mixin().dumps() == 1\n",
    "tests/test_other.py": "from app.other import other\n\n\ndef test_other():\n    assert other() == 1\n",
}
USERS = {"tests/test_ser.py::test_ser", "tests/test_mixin.py::test_mixin"}


def test_a_subscripted_base_is_used_by_the_subclass_users_not_by_the_module() -> None:
    # Before: app.ser's code used Serializer, and test_other (importing it only) reached helper().
    assert selected(FILES, body("app/ser.py", "app.ser.helper")) == USERS


@pytest.mark.parametrize(
    "edit",
    [
        # Its own __class_getitem__ runs when the module defines Mixin.
        lambda text: text.replace(
            "    def dumps(self):",
            "    def __class_getitem__(cls, item):\n        helper()\n        return cls\n\n    def dumps(self):",
        ),
        # ... or one bound to a function of the tree.
        lambda text: text.replace(
            "    def dumps(self):",
            "    __class_getitem__ = classmethod(lambda cls, item: helper())\n\n    def dumps(self):",
        ),
        # A metaclass of the tree may give the class a __getitem__.
        lambda text: text.replace(
            "class Serializer(typing.Generic[T]):",
            "class Meta(type):\n    pass\n\n\nclass Serializer(typing.Generic[T], metaclass=Meta):",
        ),
        # An outside base's subscription may run anything of what it is given.
        lambda text: text.replace("import typing\n", "import typing\nimport somelib\n").replace(
            "class Serializer(typing.Generic[T]):", "class Serializer(somelib.Model[T]):"
        ),
        # A call in the subscript runs at definition.
        lambda text: text.replace("Serializer[str]", "Serializer[helper()]"),
    ],
)
def test_what_a_subscription_may_run_stays_with_the_module(edit) -> None:  # type: ignore[no-untyped-def]
    files = {**FILES, "app/ser.py": edit(SERIALIZER)}
    assert files["app/ser.py"] != SERIALIZER
    assert "tests/test_other.py::test_other" in selected(files, body("app/ser.py", "app.ser.helper"))


def test_a_generic_base_imported_from_another_module_through_two_levels() -> None:
    """itsdangerous' ``URLSafeTimedSerializer(URLSafeSerializerMixin, TimedSerializer[str])`` in ``url_safe.py``,
    ``TimedSerializer(Serializer[_TSerialized])`` in ``timed.py``: names an import binds."""
    files = {
        **FILES,
        "app/ser.py": SERIALIZER.replace("class Mixin(Serializer[str]):\n    pass\n", ""),
        "app/timed.py": "import typing\n\nfrom app.ser import Serializer\n\nT = typing.TypeVar('T')\n\n\n"
        "class Timed(Serializer[T]):\n    pass\n",
        "app/url_safe.py": "from app.timed import Timed\n\n\nclass Mixin(Timed[str]):\n    pass\n",
        "app/other.py": "import app.url_safe\n\n\ndef other():\n    return 1\n",
        "tests/test_mixin.py": "from app.url_safe import Mixin\n\n\ndef test_mixin():\n    assert Mixin().dumps() == 1\n",
    }
    assert selected(files, body("app/ser.py", "app.ser.helper")) == USERS
