"""The selector over a repository's trees: one index per tree, shared by trees that differ only where
an index does not look (the content of files other than Python and configuration)."""

from __future__ import annotations

from pathlib import Path

from trellis import vcs
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
