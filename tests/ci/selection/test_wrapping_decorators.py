"""A decorator of the tree that only wraps the function it is given hands it to nothing that calls it.

tenacity's tests decorate module-level helpers with the project's own ``@retry`` / ``@retry(stop=...)`` (and
methods with its ``override`` backport): a decorator not known to be inert "hands the function to other code",
so the module's code — every test importing the module — reached every decorated helper, and a change to any of
them selected 163 of 167 tests (31 of tenacity's last 40 commits fell back to ``nearly-all``). A decorator of the
tree whose parameter stays kept (:mod:`trellis.ci.selection.param_flow`: never called, never stored but in
closures, attributes of what it returns and its return value; handed on only to readers like ``isinstance`` or
to calls of the tree that keep it in turn: ``r.wraps(f)``, ``super().wraps(f)``, ``retry()(f)``) binds the
function's name to a wrapper: only the tests using that name reach the function. A decorator that calls it,
registers it, stores it on an object, hands it to code outside the tree, or may be an outside one stays as before.
"""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, select_change, selected

LIBRARY = dedent(
    """
    import functools
    import inspect


    class Base:
        def wraps(self, f):
            @functools.wraps(f)
            def wrapped(*args, **kw):
                return self(f, *args, **kw)

            def again(*a, **k):
                return Base().wraps(f)

            wrapped.again = again
            wrapped.statistics = {}
            return wrapped

        def __call__(self, fn, *args, **kw):
            return fn(*args, **kw)


    class Retrying(Base):
        def wraps(self, f):
            inner = super().wraps(f)
            return inner


    def is_coroutine(call):
        if inspect.isclass(call):
            return False
        partial = getattr(call, "func", None)
        return inspect.iscoroutinefunction(partial or call)


    def retry(*dargs, **dkw):
        if len(dargs) == 1 and callable(dargs[0]):
            return retry()(dargs[0])

        def wrap(f):
            if isinstance(f, Base):
                print(f"odd: {f.__class__.__name__}")
            r: Base
            if is_coroutine(f):
                r = Retrying()
            else:
                r = Base()
            return r.wraps(f)

        return wrap


    def mark(method):
        method.__marked__ = True
        return method
    """
)
HELPERS = dedent(
    """
    from app.retrying import mark, retry


    @retry
    def flaky():
        return 1


    @retry(stop=3)
    def sturdy():
        return 2


    class Thing:
        @mark
        def value(self):
            return 3
    """
)
FILES = {
    "app/__init__.py": "",
    "app/retrying.py": LIBRARY,
    "tests/__init__.py": "",
    "tests/helpers.py": HELPERS,
    "tests/test_flaky.py": "from tests.helpers import flaky\n\n\ndef test_flaky():\n    assert flaky() == 1\n",
    "tests/test_sturdy.py": "from tests.helpers import sturdy\n\n\ndef test_sturdy():\n    assert sturdy() == 2\n",
    "tests/test_thing.py": "from tests.helpers import Thing\n\n\ndef test_thing():\n    assert Thing().value() == 3\n",
    "tests/test_other.py": "import tests.helpers\n\n\ndef test_other():\n    assert tests.helpers\n",
}
EVERY = {
    "tests/test_flaky.py::test_flaky",
    "tests/test_sturdy.py::test_sturdy",
    "tests/test_thing.py::test_thing",
    "tests/test_other.py::test_other",
}


@pytest.mark.parametrize(
    ("qualname", "users"),
    [
        ("flaky", {"tests/test_flaky.py::test_flaky"}),  # @retry: the function is retry's *args[0]
        ("sturdy", {"tests/test_sturdy.py::test_sturdy"}),  # @retry(stop=3): what retry() returns keeps it
        ("Thing.value", {"tests/test_thing.py::test_thing"}),  # @mark: sets an attribute, returns it
    ],
)
def test_a_function_a_wrapping_decorator_of_the_tree_keeps_is_reached_by_its_users_only(
    qualname: str, users: set[str]
) -> None:
    # Before: tests/helpers.py's code handed each function to the decorator: every importer reached it.
    assert selected(FILES, body("tests/helpers.py", f"tests.helpers.{qualname}")) == users


def _edit(*pairs: str, path: str = "app/retrying.py") -> Callable[[dict[str, str]], dict[str, str]]:
    def apply(files: dict[str, str]) -> dict[str, str]:
        text = files[path]
        for old, new in zip(pairs[::2], pairs[1::2], strict=True):
            assert old in text
            text = text.replace(old, new)
        return {**files, path: text}

    return apply


@pytest.mark.parametrize(
    "edit",
    [
        # It calls the function while decorating.
        _edit("        return r.wraps(f)", "        f()\n        return r.wraps(f)"),
        # It registers it where other code may call it.
        _edit(
            "import inspect\n",
            "import inspect\n\nREGISTRY = []\n",
            "        return r.wraps(f)",
            "        REGISTRY.append(f)\n        return r.wraps(f)",
        ),
        # It stores it on an object it does not return.
        _edit("        wrapped.again = again", "        self.last = f\n        wrapped.again = again"),
        # It runs the wrapper while decorating.
        _edit("        wrapped.statistics = {}", "        wrapped()\n        wrapped.statistics = {}"),
        # It hands it to code outside the tree.
        _edit(
            "        return r.wraps(f)",
            "        import somelib\n        somelib.register(f)\n        return r.wraps(f)",
        ),
        # It keeps it in a global.
        _edit("        return r.wraps(f)", "        global LAST\n        LAST = f\n        return r.wraps(f)"),
        # It hands it to a method of an instance of an unknown class.
        _edit("            r = Base()", "            r = make()"),
        # The decorator may be an outside one as well.
        _edit(
            "from app.retrying import mark, retry",
            "try:\n    from somelib import mark, retry\nexcept ImportError:\n    from app.retrying import mark, retry",
            path="tests/helpers.py",
        ),
    ],
)
@pytest.mark.parametrize("qualname", ["flaky", "sturdy"])
def test_a_decorator_that_may_call_or_keep_the_function_hands_it_to_the_module(
    edit: Callable[[dict[str, str]], dict[str, str]], qualname: str
) -> None:
    assert selected(edit(FILES), body("tests/helpers.py", f"tests.helpers.{qualname}")) == EVERY


def test_a_marking_decorator_that_stores_the_method_elsewhere_hands_it_to_the_module() -> None:
    files = _edit(
        "    method.__marked__ = True",
        "    MARKED.append(method)",
        "import inspect\n",
        "import inspect\n\nMARKED = []\n",
    )(FILES)
    assert selected(files, body("tests/helpers.py", "tests.helpers.Thing.value")) == EVERY


def _tests(files: dict[str, str], new: dict[str, str]) -> set[str]:
    return set(select_change(files, new).tests)


def test_a_signature_change_under_the_same_keeping_decorators_selects_the_users() -> None:
    # tenacity's release annotated its @retry helpers: ``def _retryable_test_with_wait(thing: typing.Any) -> ...``.
    # Before: a header change of a function whose decorators "hand it out" changed the module's code: every importer.
    new = _edit("def sturdy():", "def sturdy(x: int = 1) -> int:", path="tests/helpers.py")(FILES)
    # (and an importer, as the definition runs at import, where it may raise: the user imports the module)
    assert _tests(FILES, new) == {"tests/test_sturdy.py::test_sturdy"}
    method = _edit("    def value(self):", "    def value(self) -> int:", path="tests/helpers.py")(FILES)
    assert _tests(FILES, method) == {"tests/test_thing.py::test_thing"}


@pytest.mark.parametrize(
    "edits",
    [
        # The decorator's arguments changed too: the module's code changed.
        ("@retry(stop=3)\ndef sturdy():", "@retry(stop=4)\ndef sturdy(x: int = 1):"),
        # A decorator that may call it: what defining it runs may differ anywhere.
        (
            "from app.retrying import mark, retry",
            "from somelib import mark, retry",
            "def sturdy():",
            "def sturdy(x=1):",
        ),
    ],
)
def test_a_signature_change_under_other_decorators_changes_the_module(edits: tuple[str, ...]) -> None:
    assert _tests(FILES, _edit(*edits, path="tests/helpers.py")(FILES)) == EVERY
