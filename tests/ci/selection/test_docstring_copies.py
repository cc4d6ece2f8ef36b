"""A docstring copied into a function's ``__doc__`` is not read; a module's ``__dir__`` listing its names reads none.

toolz's ``memoize`` ends ``memof.__doc__ = func.__doc__``: every test reaching a memoized function reached a
docstring reader through it. The copy moves the string; what reads the copy reads a ``__doc__`` itself (and
counts). toolz's ``curry`` copies into an instance's (``self.__doc__ = getattr(func, "__doc__", None)``), whose
``__dict__`` then holds it: that stays a read. The ``"__doc__"`` constant handed to the builtin ``getattr`` as the
attribute's name makes no name another ``getattr`` could fetch. attrs' packages list their names in a module
``__dir__`` (``sorted(set(globals()) | set(__all__))``): strings for ``dir()``'s callers, which count by themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from textwrap import dedent

import pytest

from trellis.ci.selection.index import Selection, TestIndex, changes_from_diff
from trellis.semantic_diff import diff_files

TREE = {
    "app/__init__.py": dedent(
        """
        from app.tools import cube, memoize, square


        def __dir__():
            return sorted(set(globals()) | {"extra"})
        """
    ),
    "app/tools.py": dedent(
        '''
        def memoize(func):
            cache = {}

            def memof(x):
                if x not in cache:
                    cache[x] = func(x)
                return cache[x]

            memof.__doc__ = func.__doc__
            memof.__name__ = func.__name__
            return memof


        def logged(func):
            def wrapper(*args):
                return func(*args)

            wrapper.__doc__ = getattr(func, "__doc__", None)
            return wrapper


        @logged
        def cube(x):
            """The cube of x."""
            return x * x * x


        @memoize
        def square(x):
            """The square of x."""
            return x * x


        def pick(obj, name):
            return getattr(obj, name)
        '''
    ),
    "tests/test_tools.py": dedent(
        """
        import app
        from app.tools import cube, pick, square


        def test_square():
            assert square(3) == 9


        def test_cube():
            assert cube(2) == 8


        def test_pick():
            assert pick(app, "square") is square

        """
    ),
}


def push(new: Mapping[str, str], old: Mapping[str, str]) -> Selection:
    changed = {path for path in old.keys() | new.keys() if old.get(path) != new.get(path)}
    diff = diff_files({p: old[p].encode() for p in changed}, {p: new[p].encode() for p in changed})
    build = lambda files: TestIndex.build({p: t.encode() for p, t in files.items()})  # noqa: E731
    selection = build(new).select(changes_from_diff(diff), old_index=build(old))
    assert not selection.run_all, selection.reason
    return selection


def redocumented(tree: Mapping[str, str], function: str = "square") -> set[str]:
    """The tests a push of ``function``'s docstring, edited in place, selects."""
    doc = f"The {function} of x."
    new = {**tree, "app/tools.py": tree["app/tools.py"].replace(doc, doc.replace(".", "!"))}
    return {nodeid.rpartition("::")[2] for nodeid in push(new, tree).tests}


READER = """

def test_copied_doc():
    assert square.__doc__ == cube.__doc__.replace("cube", "square")
"""
CURRY = """

class curry:
    def __init__(self, func):
        self.func = func
        self.__doc__ = getattr(func, "__doc__", None)

    def __eq__(self, other):
        return vars(self) == vars(other)
"""
CURRIED = """

def test_curried():
    from app.tools import curry

    assert curry(square) == curry(square)
"""


def test_a_docstring_copied_into_another_is_read_only_by_what_reads_a_docstring() -> None:
    """Into a function's ``__doc__`` (``memoize``'s ``memof``, ``logged``'s ``wrapper``): no test reads a
    docstring, none is selected. Before, every test reaching ``memoize`` or ``logged`` was, and through
    ``getattr(func, "__doc__")``'s constant every ``getattr`` with a computed name (``pick``) read docstrings too.
    Into an instance's (``curry``'s ``self.__doc__``), the copy lands in its ``__dict__``, which ``__eq__``'s
    ``vars(self) == vars(other)`` compares: a read still. A test reading the copy is selected (``test_pick``,
    whose ``getattr`` may fetch any attribute, reaches that test's function too)."""
    assert redocumented(TREE) == redocumented(TREE, "cube") == set()
    reading = {**TREE, "tests/test_tools.py": TREE["tests/test_tools.py"] + READER}
    assert redocumented(reading) == {"test_copied_doc", "test_pick"}
    curried = {
        "app/tools.py": TREE["app/tools.py"] + CURRY,
        "tests/test_tools.py": TREE["tests/test_tools.py"] + CURRIED,
    }
    assert redocumented({**TREE, **curried}) == {"test_curried", "test_pick"}


def test_a_copy_into_a_doc_whose_store_runs_code_of_the_tree_reads_it() -> None:
    """A ``__doc__`` setter, or a ``__setattr__`` anywhere in the tree, may do anything with the value stored:
    the copy is a read again."""
    setter = dedent(
        """

        class Checked:
            def __setattr__(self, name, value):
                if name == "__doc__" and "!" in value:
                    raise ValueError(value)
                object.__setattr__(self, name, value)
        """
    )
    tree = {**TREE, "app/tools.py": TREE["app/tools.py"] + setter}
    assert redocumented(tree) == {"test_square", "test_pick"}
    assert redocumented(tree, "cube") == {"test_cube", "test_pick"}


def test_a_doc_name_left_as_a_value_still_makes_computed_names_read_docstrings() -> None:
    """``"__doc__"`` anywhere but as the builtin ``getattr``'s attribute name may reach ``getattr(obj, name)``."""
    tree = {**TREE, "app/tools.py": TREE["app/tools.py"] + '\n\nNAMES = ["__doc__"]\n'}
    assert redocumented(tree, "cube") == {"test_pick"}
    # a file binding ``getattr`` itself hands the string to its own function
    shadowed = TREE["app/tools.py"].replace("def pick(", "getattr = lambda o, n, d=None: d\n\n\ndef pick(")
    assert redocumented({**TREE, "app/tools.py": shadowed}, "cube") == {"test_pick"}


def test_a_dir_hook_listing_values_or_outside_dir_reads_them() -> None:
    """Only the names, only in ``__dir__``: values listed, or names listed anywhere else (the module's code, which
    every importer runs), count as before. (``test_pick``'s ``getattr`` may fetch the ``__dir__``.)"""
    values = TREE["app/__init__.py"].replace("set(globals())", "set(globals().values())")
    assert redocumented({**TREE, "app/__init__.py": values}, "cube") == {"test_pick"}
    elsewhere = TREE["app/__init__.py"].replace("def __dir__():", "def names():") + "\n\nNAMES = names()\n"
    assert redocumented({**TREE, "app/__init__.py": elsewhere}, "cube") == {"test_cube", "test_pick"}


EVERY_IMPORTER = {"test_square", "test_cube", "test_pick", "test_shown"}
SHOWN = '''

def helper():
    """The helper of x."""


def shown():
    return 1


shown.__doc__ = helper.__doc__
'''


@pytest.mark.parametrize(
    ("variant", "selected"),
    [
        ("def shown():", set()),
        # a decorator may make the name an instance; so may a function rebinding it (``global shown``)
        ("@memoize\ndef shown():", EVERY_IMPORTER),
        ("def rebind():\n    global shown\n    shown = 2\n\n\ndef shown():", EVERY_IMPORTER),
    ],
)
def test_a_module_level_copy_into_a_function_defined_once_undecorated_is_no_read(
    variant: str, selected: set[str]
) -> None:
    """``shown.__doc__ = helper.__doc__`` at module level, run by every importer: ``shown`` is the function only
    while nothing else binds the name."""
    tree = {
        **TREE,
        "app/tools.py": TREE["app/tools.py"] + SHOWN.replace("def shown():", variant),
        "tests/test_tools.py": TREE["tests/test_tools.py"]
        + "\n\ndef test_shown():\n    from app.tools import shown\n\n    assert shown\n",
    }
    assert redocumented(tree, "helper") == selected
