"""``getattr(node, attr)`` where ``attr`` is one of a few string constants (``attr = 'prv' if reverse else 'nxt'``)
reads those attributes, not any attribute of anything.

bidict 0.21's ordered bidicts walk their linked list with ``attr = 'prv' if reverse else 'nxt'`` and
``node = getattr(node, attr)`` (``_SentinelNode._iter``). The name was "computed", so the call read every method,
class and top-level function of the test file's import closure — the test modules' own test functions among them:
every property test reached every other, and adding or editing one test selected the 34-40 tests of its module. A
local bound only to string constants and conditional expressions choosing between them (anywhere in the
function, and in no other way: no parameter, ``global``, loop, ``with``, augmented assignment) holds one of those
strings, as a ``for`` loop's variable over literal strings already did; a conditional expression of constants
given to ``getattr`` directly is the same.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from tests.ci.selection.test_selection import body, selected

WALK = dedent(
    """
    def walk(node, reverse=False):
        attr = "prv" if reverse else "nxt"
        found = []
        node = getattr(node, attr)
        while node is not None:
            found.append(node)
            node = getattr(node, attr)
        return found
    """
)


def tree(walk: str = WALK) -> dict[str, str]:
    return {
        "app/__init__.py": "",
        "app/links.py": walk,
        "app/other.py": "def launch():\n    return 2\n",
        "tests/test_walk.py": """
            from types import SimpleNamespace

            from app import other
            from app.links import walk


            def test_walk():
                last = SimpleNamespace(nxt=None, prv=None)
                assert walk(SimpleNamespace(nxt=last, prv=None)) == [last]
        """,
        "tests/test_launch.py": """
            from app.other import launch


            def test_launch():
                assert launch() == 2
        """,
    }


LAUNCH = body("app/other.py", "app.other.launch")


def test_a_name_chosen_between_string_constants_reads_only_those_attributes() -> None:
    # Before: test_walk reached launch through getattr(node, attr) (any top-level function of its closure).
    assert selected(tree(), LAUNCH) == {"tests/test_launch.py::test_launch"}


def test_a_conditional_expression_of_constants_given_to_getattr_directly_is_those_names() -> None:
    walk = WALK.replace("getattr(node, attr)", 'getattr(node, "prv" if reverse else "nxt")')
    assert selected(tree(walk), LAUNCH) == {"tests/test_launch.py::test_launch"}
    walk = WALK.replace('attr = "prv" if reverse else "nxt"', 'attr = "prv" if reverse else "launch"')
    assert selected(tree(walk), LAUNCH) == {"tests/test_launch.py::test_launch", "tests/test_walk.py::test_walk"}


@pytest.mark.parametrize(
    "edit",
    [
        ('attr = "prv" if reverse else "nxt"', 'attr = "prv" if reverse else name()'),  # a call: any string
        ('attr = "prv" if reverse else "nxt"', 'attr = "prv" if reverse else "nxt"\n    attr += "x"'),
        ("def walk(node, reverse=False):", "def walk(node, reverse=False, attr=None):"),  # a parameter too
        ('attr = "prv" if reverse else "nxt"', 'attr = "prv" if reverse else "nxt"\n    for attr in names(): pass'),
        ('attr = "prv" if reverse else "nxt"', 'global attr\n    attr = "prv" if reverse else "nxt"'),
    ],
)
def test_a_name_bound_any_other_way_is_still_any_attribute(edit: tuple[str, str]) -> None:
    walk = WALK.replace(*edit) + "\n\ndef name():\n    return 'launch'\n\n\ndef names():\n    return ['launch']\n"
    assert selected(tree(walk), LAUNCH) == {"tests/test_launch.py::test_launch", "tests/test_walk.py::test_walk"}
