"""Decorators of the tree that keep the function they decorate, and what keeps them from it.

:mod:`trellis.ci.selection.param_flow` reads whether a decorator of the tree keeps its argument (never calls it,
hands it to nothing but its result); then only the tests naming the decorated function reach it. These cases
guard what must still count as handing it out — a registry, a call at definition, a global, a helper storing it
on a global it is given, a local it is stored on that is handed out (``functools.update_wrapper(holder, f)``), a
decorated decorator (its name binds what its own decorator returned), a name an outside decorator may rebind —
and two narrowings: a function marked (its ``__code__`` kept in a set, Jinja2's ``@internalcode``), and an
attribute stored on a function at module level (funcy's ``memoize.skip = SkipMemory``), which runs nothing of it.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

CORE = dedent(
    """
    from app.deco import NAME


    @DECORATE
    def one():
        return 1


    @DECORATE
    def two():
        return 2
    """
)
TESTS = {
    "app/__init__.py": "",
    "tests/test_one.py": "from app.core import one\n\n\ndef test_one():\n    assert one() == 1\n",
    "tests/test_two.py": "from app.core import two\n\n\ndef test_two():\n    assert two() == 2\n",
}
ONE = {"tests/test_one.py::test_one"}
BOTH = ONE | {"tests/test_two.py::test_two"}


def _files(deco: str, decorate: str = "logged") -> dict[str, str]:
    return {
        **TESTS,
        "app/deco.py": dedent(deco),
        "app/core.py": CORE.replace("NAME", decorate.partition("(")[0]).replace("DECORATE", decorate),
    }


KEEPING = {
    "a wrapper made with functools.wraps": """
        import functools

        def logged(f):
            @functools.wraps(f)
            def wrapper(*args, **kwargs):
                return f(*args, **kwargs)
            return wrapper
        """,
    "functools.update_wrapper": """
        from functools import update_wrapper

        def logged(f):
            def wrapper(*args):
                return f(*args)
            return update_wrapper(wrapper, f)
        """,
    "the function marked and returned": """
        SEEN = set()

        def logged(f):
            f.marked = True
            SEEN.add(f.__code__)
            return f
        """,
    "a helper of the tree that keeps it": """
        import inspect

        def _wrap(label, g):
            if inspect.signature(g).parameters:
                label = label + "!"
            wrapper = lambda *a: g(*a)
            wrapper.__wrapped__ = g
            return wrapper

        def logged(f):
            return _wrap("x", f)
        """,
    "a helper under a decorator giving it back": """
        def override(method):
            method.__override__ = True
            return method

        @override
        def _wrap(g):
            return lambda *a: g(*a)

        def logged(f):
            return _wrap(f)
        """,
    "helpers calling each other": """
        def _a(g, n):
            return _b(g, n - 1) if n else (lambda: g())

        def _b(g, n):
            return _a(g, n)

        def logged(f):
            return _a(f, 2)
        """,
}


@pytest.mark.parametrize("deco", KEEPING.values(), ids=list(KEEPING))
def test_a_decorator_keeping_the_function_leaves_it_to_the_tests_naming_it(deco: str) -> None:
    assert selected(_files(deco), body("app/core.py", "app.core.one")) == ONE


def test_a_decorator_factory_returning_a_keeping_decorator() -> None:
    deco = """
        import functools
        import warnings

        def deprecated(message):
            def decorate(f):
                @functools.wraps(f)
                def wrapper(*args):
                    warnings.warn(message)
                    return f(*args)
                return wrapper
            return decorate
        """
    assert selected(_files(deco, 'deprecated("old")'), body("app/core.py", "app.core.one")) == ONE
    other = deco.replace("            return decorate", "            return decorate if message else REGISTRY.add")
    assert selected(_files(other, 'deprecated("old")'), body("app/core.py", "app.core.one")) == BOTH


HANDING_OUT = {
    "a registry list": """
        REGISTRY = []

        def logged(f):
            REGISTRY.append(f)
            return f
        """,
    "a registry dict": """
        REGISTRY = {}

        def logged(f):
            REGISTRY[f.__name__] = f
            return f
        """,
    "a call at definition": """
        def logged(f):
            f()
            return f
        """,
    "a call through getattr": """
        def logged(f):
            getattr(f, "__call__")()
            return f
        """,
    "the wrapper registered": """
        import functools
        HANDLERS = []

        def logged(f):
            @functools.wraps(f)
            def wrapper():
                return f()
            HANDLERS.append(wrapper)
            return wrapper
        """,
    "a global": """
        LAST = None

        def logged(f):
            global LAST
            LAST = f
            return f
        """,
    "setattr on a module": """
        import sys

        def logged(f):
            setattr(sys.modules[__name__], "last", f)
            return f
        """,
    "stored on another object": """
        class Store:
            pass

        STORE = Store()

        def _keep(g):
            STORE.g = g

        def logged(f):
            _keep(f)
            return f
        """,
    "a helper that calls it": """
        def _wrap(g):
            g()
            return g

        def logged(f):
            return _wrap(f)
        """,
    "an outside function given it": """
        import atexit

        def logged(f):
            atexit.register(f)
            return f
        """,
    "a comprehension over it": """
        def logged(f):
            [g() for g in (f,)]
            return f
        """,
    "a name that may be an outside decorator": """
        import lib

        def _logged(f):
            return f

        logged = _logged if lib.flag else lib.register
        """,
    "stored by a helper on a global it is given": """
        class Registry:
            pass

        REGISTRY = Registry()

        def _attach(registry, g):
            registry.last = g
            return g

        def logged(f):
            return _attach(REGISTRY, f)
        """,
    "stored on a default of its own": """
        class Registry:
            pass

        def logged(f, registry=Registry()):
            registry.last = f
            return f
        """,
    "stored on a local handed out": """
        import functools

        class Holder:
            pass

        HELD = []

        def logged(f):
            holder = Holder()
            functools.update_wrapper(holder, f)
            HELD.append(holder)
            return f
        """,
    "a name bound to an outside decorator under a condition": """
        import lib

        def logged(f):
            return f

        if lib.flag:
            logged = lib.register
        """,
    "a name a function rebinds through global": """
        import lib

        def logged(f):
            return f

        def install():
            global logged
            logged = lib.register
        """,
    "a class made with it": """
        class Wrapped:
            def __init__(self, f):
                self.f = f

        def logged(f):
            return Wrapped(f)
        """,
}


@pytest.mark.parametrize("deco", HANDING_OUT.values(), ids=list(HANDING_OUT))
def test_a_decorator_that_may_hand_the_function_out_stays_with_the_module(deco: str) -> None:
    assert selected(_files(deco), body("app/core.py", "app.core.one")) == BOTH


def test_the_decorator_and_its_wrapper_still_count_for_every_function_it_decorates() -> None:
    files = _files(KEEPING["a wrapper made with functools.wraps"])
    assert selected(files, body("app/deco.py", "app.deco.logged")) == BOTH
    assert selected(files, body("app/deco.py", "app.deco.logged.wrapper")) == BOTH


def test_a_decorated_decorator_is_what_its_own_decorator_returned() -> None:
    # ``logged`` keeps its argument, but its name binds what ``register`` returned: anything.
    deco = """
        REGISTRY = []

        def register(f):
            REGISTRY.append(f)
            return REGISTRY.pop

        @register
        def logged(f):
            return f
        """
    assert selected(_files(deco), body("app/core.py", "app.core.one")) == BOTH


ATTRIBUTES = {
    **TESTS,
    "app/deco.py": "",
    "app/core.py": "class Skip(Exception):\n    pass\n\n\ndef one():\n    return 1\n\n\none.skip = Skip\n\n\ndef two():\n    return 2\n",
}


def test_an_attribute_stored_on_a_function_at_module_level_runs_nothing_of_it() -> None:
    # funcy's ``memoize.skip = SkipMemory``: every test importing funcy reached memoize's body.
    assert selected(ATTRIBUTES, body("app/core.py", "app.core.one")) == ONE


@pytest.mark.parametrize(
    "edit",
    [
        # A class: storing on it may run its metaclass's __setattr__ (a name other than a function's, as before).
        lambda t: t.replace("def one():\n    return 1\n", "class one:\n    x = 1\n"),
        # The name may be something else too.
        lambda t: t.replace("one.skip = Skip\n", "import lib\n\nif lib.flag:\n    one = lib.thing\none.skip = Skip\n"),
    ],
)
def test_what_else_the_module_does_with_the_name_still_counts(edit: object) -> None:
    assert callable(edit)
    files = {**ATTRIBUTES, "app/core.py": edit(ATTRIBUTES["app/core.py"])}
    # (a class's change: its construction or body; the name read at module level: as before, every importer)
    qualname = "app.core.one"
    assert selected(files, body("app/core.py", qualname)) == BOTH
