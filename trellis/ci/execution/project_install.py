"""The project installed into a job as ``pip install -e .`` installs it, from the job's own workspace.

The project's test environment is shared by every workspace and cached by the
digest of the declared dependencies, so nothing of one tree goes into it.
Instead each job gets, outside its checkout (in the job's own plugin
directory, which is on ``PYTHONPATH``), what an editable install writes:

- ``NAME-VERSION.dist-info`` with ``METADATA`` (name and version: not the
  description, dependencies or Python versions, which selection counts as
  packaging metadata that changes no test), ``entry_points.txt``, ``top_level.txt`` and PEP 610's ``direct_url.json``
  (``editable``), so ``importlib.metadata`` knows the project;
- the package roots on ``PYTHONPATH`` (``src`` for a src layout), as an editable
  install's ``.pth`` puts them on ``sys.path``;
- a ``bin`` directory, first on ``PATH``, with its console scripts.

What is installed is read from the tree by :func:`trellis.ci.project.read_project`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..project import Project, read_project

__all__ = ["workspace_project", "write_install"]


def _real(workspace: Path, rel: str) -> os.stat_result | None:
    """``rel``'s stat when neither it nor a directory on its way is a symbolic link (the tree's own file)."""
    path = workspace
    st: os.stat_result | None = None
    for part in [p for p in rel.split("/") if p]:
        if part in (".", ".."):
            return None
        path = path / part
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return None
    return st if st is not None else os.lstat(workspace)


def workspace_project(workspace: Path) -> Project | None:
    """The project of the tree checked out at ``workspace`` (symbolic links are not followed: not the tree's)."""

    def read(rel: str) -> bytes | None:
        st = _real(workspace, rel)
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size > 4 << 20:
            return None
        try:
            fd = os.open(workspace / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read(4 << 20)

    def is_dir(rel: str) -> bool:
        st = _real(workspace, rel)
        return st is not None and stat.S_ISDIR(st.st_mode)

    return read_project(read, is_dir)


def _top_level(workspace: Path, roots: tuple[str, ...]) -> list[str]:
    """The top-level packages and modules of a src-like root (the checkout itself holds too much else)."""
    names: list[str] = []
    for root in roots:
        st = _real(workspace, root) if root else None
        if st is None or not stat.S_ISDIR(st.st_mode):
            continue
        try:
            entries = sorted(os.scandir(workspace / root), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py") and entry.is_file(follow_symlinks=False):
                names.append(entry.name[:-3])
            elif entry.is_dir(follow_symlinks=False) and entry.name.isidentifier():
                names.append(entry.name)
    return names


def write_install(project: Project, workspace: Path, directory: Path, python: str) -> tuple[list[str], Path]:
    """Write the editable install of ``project`` (checked out at ``workspace``) into ``directory``.

    Returns the ``sys.path`` entries it needs (the package roots, then ``directory``, which holds the
    dist-info) and the ``bin`` directory holding its console scripts (run by ``python``).
    """
    info = directory / f"{project.dist_name}-{project.version}.dist-info"
    info.mkdir(mode=0o755)
    # Name and version only: selection counts the declared description, dependencies and Python versions
    # as packaging metadata that changes no test, so no test may read them here.
    files = {
        "METADATA": f"Metadata-Version: 2.1\nName: {project.name}\nVersion: {project.version}\n",
        "INSTALLER": "trellis\n",
        "direct_url.json": json.dumps({"url": workspace.as_uri(), "dir_info": {"editable": True}}),
        "top_level.txt": "".join(f"{n}\n" for n in _top_level(workspace, project.roots)),
    }
    if project.entry_points:
        by_group: dict[str, list[str]] = {}
        for group, name, value in project.entry_points:
            by_group.setdefault(group, []).append(f"{name} = {value}")
        files["entry_points.txt"] = "".join(
            f"[{g}]\n" + "".join(f"{e}\n" for e in es) + "\n" for g, es in by_group.items()
        )
    for file_name, text in files.items():
        (info / file_name).write_text(text)
        os.chmod(info / file_name, 0o644)
    bin_dir = directory / "bin"
    bin_dir.mkdir(mode=0o755)
    for group, name, value in project.entry_points:
        if group not in ("console_scripts", "gui_scripts") or "/" in name or name.startswith("."):
            continue
        module, _, attribute = value.partition(":")
        head = attribute.split(".")[0].strip() if attribute else ""
        call = f"{attribute.strip()}()" if attribute else "None"
        imported = f"from {module.strip()} import {head}" if head else f"import {module.strip()}"
        script = bin_dir / name
        script.write_text(f"#!{python}\nimport sys\n{imported}\n\nif __name__ == '__main__':\n    sys.exit({call})\n")
        os.chmod(script, 0o755)
    paths = [str(workspace / root) if root else str(workspace) for root in project.roots]
    return [*paths, str(directory)], bin_dir
