"""The project installed into a job as ``pip install -e .`` installs it, from the job's own workspace.

The project's test environment is shared by every workspace and cached by the
digest of the declared dependencies, so nothing of one tree goes into it.
Instead each job gets, outside its checkout (in the job's own plugin
directory, which is on ``PYTHONPATH``), what an editable install writes:

- ``NAME-VERSION.dist-info`` with ``METADATA`` (name, version and what the
  packaging states: summary, URLs, dependencies, Python versions...; not the
  long description), ``entry_points.txt``, ``top_level.txt`` and PEP 610's ``direct_url.json``
  (``editable``), so ``importlib.metadata`` knows the project;
- the package roots on ``PYTHONPATH`` (``src`` for a src layout), as an editable
  install's ``.pth`` puts them on ``sys.path``;
- a ``bin`` directory, first on ``PATH``, with its console scripts.

What is installed is read from the tree by :func:`trellis.ci.project.read_project`;
a version from git (setuptools_scm, hatch-vcs, pdm's scm) is described from the
job's commit in the server's repository by :func:`scm_version`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

from ..project import FALLBACK_VERSION, Project, read_project

__all__ = ["scm_version", "workspace_project", "write_install"]

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# setuptools_scm's default tag_regex: an optional "name-" prefix, an optional "v", the version.
_TAG = re.compile(r"^(?:[\w-]+-)?[vV]?(?P<version>\d+(?:\.\d+){0,2}[^+]*)(?:\+.*)?$")


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


def _header(value: str) -> str:
    """A header's value on one logical line: its line breaks continue it (indented), as in an email header."""
    return "\n        ".join(line.rstrip() for line in value.strip().splitlines())


def write_install(project: Project, workspace: Path, directory: Path, python: str) -> tuple[list[str], Path]:
    """Write the editable install of ``project`` (checked out at ``workspace``) into ``directory``.

    Returns the ``sys.path`` entries it needs (the package roots, then ``directory``, which holds the
    dist-info) and the ``bin`` directory holding its console scripts (run by ``python``).
    """
    if not _VERSION.fullmatch(project.version):  # the tree's text: it names a directory here
        project = replace(project, version=FALLBACK_VERSION)
    info = directory / f"{project.dist_name}-{project.version}.dist-info"
    info.mkdir(mode=0o755)
    # What the packaging states (selection counts a change to it as one of the configuration); not the long
    # description. A value's line breaks continue the header, as setuptools writes a license's text.
    headers = "".join(f"{key}: {_header(value)}\n" for key, value in project.metadata)
    files = {
        "METADATA": f"Metadata-Version: 2.1\nName: {project.name}\nVersion: {project.version}\n{headers}",
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
        module, _, attribute = (part.strip() for part in value.split("[")[0].partition(":"))
        if not _DOTTED.fullmatch(module) or (attribute and not _DOTTED.fullmatch(attribute)):
            continue
        head = attribute.split(".")[0] if attribute else ""
        call = f"{attribute.strip()}()" if attribute else "None"
        imported = f"from {module.strip()} import {head}" if head else f"import {module.strip()}"
        script = bin_dir / name
        script.write_text(f"#!{python}\nimport sys\n{imported}\n\nif __name__ == '__main__':\n    sys.exit({call})\n")
        os.chmod(script, 0o755)
    if project.scm and project.version_file:
        _write_version_file(workspace, project.version_file, project.version)
    paths = [str(workspace / root) if root else str(workspace) for root in project.roots]
    return [*paths, str(directory)], bin_dir


def _write_version_file(workspace: Path, rel: str, version: str) -> None:
    """Write the job's version into the tree's version file, as setuptools_scm's (and hatch-vcs') install does with
    its default templates: the file is usually git-ignored, so the tree does not hold it, and the package imports
    it (``from ._version import version``). Into the workspace (the next lease removes or restores it); a path
    outside the tree, through a symbolic link or not ending in ``.py``/``.txt`` is left alone."""
    parts = rel.split("/")
    if rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or not rel.endswith((".py", ".txt")):
        return
    parent = _real(workspace, "/".join(parts[:-1])) if len(parts) > 1 else os.lstat(workspace)
    if parent is None or not stat.S_ISDIR(parent.st_mode):
        return
    if rel.endswith(".txt"):
        text = f"{version}\n"
    else:
        numbers = tuple(int(p) if p.isdigit() else p for p in re.split(r"[.+]", version))
        text = (
            "# file generated by setuptools-scm\n# don't change, don't track in version control\n\n"
            '__all__ = ["__version__", "__version_tuple__", "version", "version_tuple"]\n\n'
            f"__version__ = version = {version!r}\n__version_tuple__ = version_tuple = {numbers!r}\n"
        )
    path = workspace / rel
    try:
        if _real(workspace, rel) is not None:
            os.unlink(path)  # replaced, never written through
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(text)


def scm_version(project: Project, repo_path: str, commit: str) -> Project:
    """``project`` with the version setuptools_scm gives a clean checkout of ``commit`` in the repository at
    ``repo_path``, by its default schemes (guess-next-dev, node-and-date): the nearest tag's version at
    distance 0; at distance N its last number bumped, ``.devN``, and ``+g<hash>`` (unless the project's
    ``local_scheme`` is ``no-local-version``); without a tag, ``0.1.devN+g<hash>`` (N: the commits up to
    ``commit``) — but where the repository has no tag and the tree holds its version file (a release's),
    that file's version. Unchanged when the version is not from git or git cannot tell (no repository here)."""
    if not project.scm or not commit:
        return project

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", repo_path, *args],
                capture_output=True,
                timeout=30,
                env={"PATH": os.defpath, "GIT_CONFIG_NOSYSTEM": "1", "HOME": os.devnull, "LANG": "C"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.decode(errors="replace").strip() if done.returncode == 0 else None

    described = git("describe", "--tags", "--long", "--match", "*[0-9]*", commit)
    if described and described.count("-") >= 2:
        tag, distance_text, node = described.rsplit("-", 2)
        match = _TAG.match(tag)
        if match is None or not distance_text.isdigit():
            return project
        version, distance = match.group("version"), int(distance_text)
        if distance:  # guess-next-dev: a dev tag's release, else the last number bumped
            bumped = re.match(r"^(.*?)(\d+)$", version)
            if ".dev" in version:
                version = re.sub(r"\.dev\d*$", "", version)
            elif bumped:
                version = f"{bumped.group(1)}{int(bumped.group(2)) + 1}"
            version += f".dev{distance}" + (f"+{node}" if project.scm_local else "")
        return replace(project, version=version)
    if project.scm == "file":
        return project
    count, short = git("rev-list", "--count", commit), git("rev-parse", "--short", commit)
    if not count or not count.isdigit() or not short:
        return project
    return replace(project, version=f"0.1.dev{count}" + (f"+g{short}" if project.scm_local else ""))
