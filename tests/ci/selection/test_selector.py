"""The selector over a repository's trees: one index per tree, shared by trees that differ only where
an index does not look (the content of files other than Python and configuration)."""

from __future__ import annotations

from pathlib import Path

import pygit2

from ci.selection.selector import TestSelector

from ..execution.test_workspace import GitRepo

FILES: dict[str, bytes | tuple[str, bytes] | None] = {
    "app/__init__.py": b"",
    "app/core.py": b"def f():\n    return 1\n",
    "tests/test_core.py": b"from app.core import f\n\n\ndef test_f():\n    assert f() == 1\n",
    "README.md": b"hello\n",
}


def test_trees_differing_only_in_other_files_content_share_one_index(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.commit(FILES)
    docs = repo.commit({"README.md": b"hello again\n"})
    config = repo.commit({"pyproject.toml": b"[tool.pytest.ini_options]\ntestpaths = ['tests']\n"})
    code = repo.commit({"app/core.py": b"def f():\n    return 2\n"})
    renamed = repo.commit({"README.md": None, "README.rst": b"hello again\n"})
    git = pygit2.Repository(str(repo.path))
    selector = TestSelector()
    base = selector.index(git, first)
    assert selector.index(git, docs) is base  # only a docs file's content changed
    assert selector.index(git, config) is not base  # configuration is read
    assert selector.index(git, code) is not selector.index(git, config)  # Python is read
    assert selector.index(git, renamed) is not selector.index(git, code)  # the paths count
    assert selector.index(git, renamed).tests == base.tests == ("tests/test_core.py::test_f",)
