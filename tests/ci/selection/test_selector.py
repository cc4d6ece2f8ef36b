"""The selector over a repository's trees: one index per tree, shared by trees that differ only where
an index does not look (the content of files other than Python and configuration)."""

from __future__ import annotations

import json
from pathlib import Path

from trellis import semantic_diff, vcs
from trellis.ci.selection.observed import FORMAT, Observations
from trellis.ci.selection.selector import TestSelector

from ..execution.test_workspace import GitRepo

FILES: dict[str, bytes | tuple[str, bytes] | None] = {
    "app/__init__.py": b"",
    "app/core.py": b"def f():\n    return 1\n",
    "tests/test_core.py": b"from app.core import f\n\n\ndef test_f():\n    assert f() == 1\n",
    "README.md": b"hello\n",
}


def test_trees_differing_only_in_other_files_content_share_one_index(tmp_path: Path) -> None:
    store = vcs.Store(tmp_path / "data", durability=vcs.Durability.NONE)
    repo = GitRepo(store.repository_path("demo"))  # a repository of the store, written with git itself
    first = repo.commit(FILES)
    docs = repo.commit({"README.md": b"hello again\n"})
    config = repo.commit({"pyproject.toml": b"[tool.pytest.ini_options]\ntestpaths = ['tests']\n"})
    code = repo.commit({"app/core.py": b"def f():\n    return 2\n"})
    renamed = repo.commit({"README.md": None, "README.rst": b"hello again\n"})
    selector = TestSelector()
    base = selector.index(store, "demo", first)
    assert selector.index(store, "demo", docs) is base  # only a docs file's content changed
    assert selector.index(store, "demo", config) is not base  # configuration is read
    assert selector.index(store, "demo", code) is not selector.index(store, "demo", config)  # Python is read
    assert selector.index(store, "demo", renamed) is not selector.index(store, "demo", code)  # the paths count
    assert selector.index(store, "demo", renamed).tests == base.tests == ("tests/test_core.py::test_f",)


GEN = {
    "lib/__init__.py": b"",
    "lib/gen.py": b"""\
def make(fields):
    source = "def __init__(self):\\n" + "".join(f"    self.{f} = 1\\n" for f in fields)
    namespace = {}
    exec(source, {}, namespace)
    return type("Made", (), namespace)
""",
    "lib/shared.py": b"def used():\n    return True\n\n\ndef unused():\n    return 1\n",
    "lib/other.py": b"def helper():\n    return 2\n",
    "tests/test_gen.py": b"from lib.gen import make\nfrom lib.shared import used\n\n\n"
    b"def test_make():\n    assert make(['x'])().x == 1 and used()\n",
    "tests/test_other.py": b"from lib.other import helper\n\n\ndef test_helper():\n    assert helper() == 2\n",
}
MAKE, HELPER = "tests/test_gen.py::test_make", "tests/test_other.py::test_helper"
EVALS = [
    json.dumps({"eval": "", "recording": FORMAT}),
    json.dumps({"eval": "lib/gen.py::make", "sha": "s1", "source": "def __init__(self):\n    self.x = 1\n"}),
]


class History:
    """A repository's commits with the selector a pipeline asks: ``push`` selects against the commit before."""

    def __init__(self, tmp_path: Path) -> None:
        self.store = vcs.Store(tmp_path / "data", durability=vcs.Durability.NONE)
        self.repo = GitRepo(self.store.repository_path("demo"))
        self.selector = TestSelector(observations=Observations())
        self.files = dict(GEN)
        self.tree = self.repo.commit(dict(self.files))

    def ran(self, tests: list[str]) -> None:
        """A job that ran ``tests`` to their end in the current tree, observed."""
        self.selector.observe(self.store, "demo", self.tree, EVALS, tests, salt="stage")

    def push(self, files: dict[str, bytes]) -> tuple[str, ...]:
        new = {**self.files, **files}
        tree = self.repo.commit(files)  # type: ignore[arg-type]
        diff = semantic_diff.diff_files(self.files, new)
        selection = self.selector.select(self.store, "demo", tree, self.tree, diff, salt="stage")
        self.files, self.tree = new, tree
        return selection.tests


def test_an_observation_carries_over_to_a_tree_whose_change_did_not_select_the_test(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.ran([MAKE, HELPER])
    # A file of test_make's closure changes (its key moves), in a part it does not reach: not selected...
    assert history.push({"lib/shared.py": GEN["lib/shared.py"].replace(b"return 1", b"return 2")}) == ()
    # ...so it is as observed in the new tree as in the one before: the next change elsewhere leaves it out.
    assert history.push({"lib/other.py": b"def helper():\n    return 1 + 1\n"}) == (HELPER,)
    history.ran([HELPER])
    # A change the semantic diff does not see (a blank line) moves the key too: every test observed is carried.
    assert history.push({"lib/shared.py": history.files["lib/shared.py"] + b"\n"}) == ()
    assert history.push({"lib/other.py": b"def helper():\n    return 2\n"}) == (HELPER,)


def test_a_test_selected_but_not_run_and_a_configuration_change_carry_nothing(tmp_path: Path) -> None:
    history = History(tmp_path)
    history.ran([MAKE, HELPER])
    # test_make reaches the change: selected, and its job stopped before it ran (fail_fast, a timeout)...
    assert history.push({"lib/shared.py": GEN["lib/shared.py"].replace(b"True", b"1 == 1")}) == (MAKE,)
    history.ran([])
    # ...so in this tree nothing says what it does at the site: any change selects it.
    assert history.push({"lib/other.py": b"def helper():\n    return 1 + 1\n"}) == (MAKE, HELPER)
    history.ran([MAKE, HELPER])
    assert history.push({"lib/other.py": b"def helper():\n    return 2\n"}) == (HELPER,)
    # Configuration every test depends on: all selected, none carried (the job ran none of them).
    config = b"[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n"
    assert history.push({"pyproject.toml": config}) == (MAKE, HELPER)
    history.ran([])
    assert history.push({"lib/other.py": b"def helper():\n    return 1 + 1\n"}) == (MAKE, HELPER)


TEXT_DOCTESTS: dict[str, bytes] = {
    "app/__init__.py": b"",
    "app/core.py": b"def add(a, b):\n    return a + b\n",
    "app/other.py": b"def sub(a, b):\n    return a - b\n",
    "tests/test_other.py": b"from app.other import sub\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n",
    "docs/guide.rst": b"Guide\n=====\n\n>>> from app.core import add\n>>> add(1, 2)\n3\n",
    "README.rst": b"Nothing to run here.\n",
    "tests/test_notes.txt": b">>> 1 + 1\n2\n",
}
GUIDE, NOTES, SUB = "docs/guide.rst::guide.rst", "tests/test_notes.txt::test_notes.txt", "tests/test_other.py::test_sub"


def _push(
    store: vcs.Store, repo: GitRepo, before: dict[str, bytes], files: dict[str, bytes], args: tuple[str, ...] = ()
) -> tuple[str, ...]:
    old = repo.commit({**before})
    new = repo.commit({**files})
    diff = semantic_diff.diff_files({p: before[p] for p in files if p in before}, files)
    selection = TestSelector().select(store, "demo", new, old, diff, args=args)
    assert not selection.run_all, selection.reason
    return selection.tests


def test_text_files_of_doctests_are_known_through_the_selector_from_the_ini_or_the_stages_args(tmp_path: Path) -> None:
    """The selector reads a tree's non-Python files by name only, so a text file of doctests (pytest's default
    ``test*.txt``, ``--doctest-glob`` in ``addopts``) had no examples for it: its item was unknown, never run on a
    code change nor on its own change. And ``--doctest-glob`` in a stage's own ``args`` (simplejson's command runs
    ``index.rst``) made every commit run the whole suite."""
    store = vcs.Store(tmp_path / "data", durability=vcs.Durability.NONE)
    repo = GitRepo(store.repository_path("demo"))
    code = {"app/core.py": b"def add(a, b):\n    return b + a\n"}
    # pytest's default glob: test*.txt runs with every code change, and with its own.
    assert _push(store, repo, TEXT_DOCTESTS, code) == (NOTES,)
    assert _push(store, repo, {**TEXT_DOCTESTS, **code}, {"tests/test_notes.txt": b">>> 2 + 2\n4\n"}) == (NOTES,)
    # The ini's glob.
    ini = {**TEXT_DOCTESTS, "pytest.ini": b"[pytest]\naddopts = --doctest-glob=*.rst\n"}
    assert set(_push(store, repo, ini, {"app/core.py": b"def add(a, b):\n    return a + b + 0\n"})) == {GUIDE}
    # The stage's own args (and the file they name): the same items, selected the same way.
    args = ("--doctest-glob=*.rst", "docs/guide.rst", "tests")
    plain = {**ini, "pytest.ini": b"[pytest]\n"}
    assert set(_push(store, repo, plain, {"app/core.py": b"def add(a, b):\n    return a + b + 1\n"}, args)) == {GUIDE}
    guide = {"docs/guide.rst": TEXT_DOCTESTS["docs/guide.rst"] + b"\n"}
    assert _push(store, repo, {**plain, "app/core.py": b"def add(a, b):\n    return a + b + 1\n"}, guide, args) == (
        GUIDE,
    )
    assert _push(store, repo, {**plain, **guide}, {"README.rst": b"Still nothing.\n"}, args) == ()
    assert SUB in TestSelector().index(store, "demo", repo.commit({**plain}), args=args).tests
