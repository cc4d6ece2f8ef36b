"""The domain packages stay plain libraries: no gRPC, protobuf, CLI libraries or environment.

Only ``trellis/`` (the composition root) may import transport and CLI code or
read ``os.environ``; see STYLE.md, "Layers". The check reads the source with
``ast``, so it also covers modules no test imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_PACKAGES = ["vcs", "semantic_diff", "query", "ci"]
FORBIDDEN_MODULES = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "google.protobuf",
    "google.rpc",
    "argparse",
    "click",
    "typer",
    "rich",
    "trellis",
)
FORBIDDEN_OS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _forbidden_module(name: str) -> bool:
    if name.startswith("trellis.") and name.split(".")[1] in DOMAIN_PACKAGES:
        return False  # trellis.vcs & co: the domain packages themselves
    return any(name == m or name.startswith(m + ".") for m in FORBIDDEN_MODULES)


def violations(source: str, filename: str) -> Iterator[str]:
    tree = ast.parse(source, filename)
    os_aliases = {"os"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _forbidden_module(alias.name):
                    yield f"{filename}:{node.lineno}: import {alias.name}"
                if alias.name == "os" and alias.asname:
                    os_aliases.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "trellis" and all(a.name in DOMAIN_PACKAGES for a in node.names):
                pass  # from trellis import vcs: a domain package
            elif _forbidden_module(node.module):
                yield f"{filename}:{node.lineno}: from {node.module} import ..."
            if node.module == "google" and any(_forbidden_module(f"google.{a.name}") for a in node.names):
                yield f"{filename}:{node.lineno}: from google import ..."
            if node.module == "os" and any(a.name in FORBIDDEN_OS for a in node.names):
                yield f"{filename}:{node.lineno}: from os import environment access"
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_OS:
            if isinstance(node.value, ast.Name) and node.value.id in os_aliases:
                yield f"{filename}:{node.lineno}: os.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                if _forbidden_module(node.args[0].value) or node.args[0].value == "os":
                    yield f"{filename}:{node.lineno}: __import__({node.args[0].value!r})"


# Code that runs inside a verification job's own process (it becomes the job, as execve would),
# never in the server: it takes the job's environment.
JOB_SIDE = {
    ROOT / "trellis" / "ci" / "execution" / "warm_server.py",
    ROOT / "trellis" / "ci" / "execution" / "pytest_plugin.py",
}


def _sources() -> list[Path]:
    return sorted(
        p for package in DOMAIN_PACKAGES for p in (ROOT / "trellis" / package).rglob("*.py") if p not in JOB_SIDE
    )


def test_the_domain_packages_exist() -> None:
    for package in DOMAIN_PACKAGES:
        assert (ROOT / "trellis" / package).is_dir(), package
    assert any(p.parts[-2] == "vcs" for p in _sources())


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_module_has_no_transport_cli_or_environment(path: Path) -> None:
    found = list(violations(path.read_text(), str(path.relative_to(ROOT))))
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "import grpc",
        "import grpc.aio as aio",
        "from google.protobuf import message",
        "from google import protobuf",
        "import argparse",
        "from rich.console import Console",
        "import os\nx = os.environ['HOME']",
        "import os as o\nx = o.getenv('HOME')",
        "from os import environ",
        "from trellis.client import Client",
        "m = __import__('grpc')",
    ],
)
def test_the_checker_catches_violations(source: str) -> None:
    assert list(violations(source, "example.py"))


@pytest.mark.parametrize(
    "source", ["import os\nos.path.join('a')", "import pygit2", "from .errors import X", "import json, re, threading"]
)
def test_the_checker_allows_plain_code(source: str) -> None:
    assert list(violations(source, "example.py")) == []


# -- which of our packages may import which -------------------------------------------------------

# Dependency direction (docs/architecture.md): trellis -> (ci, query) -> semantic_diff -> vcs.
ALLOWED_IMPORTS = {
    "vcs": set(),
    "semantic_diff": {"vcs"},
    "query": {"vcs", "semantic_diff"},
    "ci": {"vcs", "semantic_diff"},
    "trellis": {"vcs", "semantic_diff", "query", "ci"},
}
# pygit2 objects stay inside vcs: the others read git through vcs's plain values. These modules still use
# pygit2 themselves, each for its own reason; the list may shrink, never grow.
PYGIT2_USERS = {
    "vcs",  # the version-control core
}


def imported_packages(source: str, filename: str) -> Iterator[tuple[int, str]]:
    """``(line, package)`` of every absolute import of a module (``trellis.vcs`` counts as ``vcs``)."""

    def package(name: str) -> str:
        parts = name.split(".")
        return parts[1] if parts[0] == "trellis" and len(parts) > 1 and parts[1] in DOMAIN_PACKAGES else parts[0]

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, package(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "trellis" and all(a.name in DOMAIN_PACKAGES for a in node.names):
                for alias in node.names:
                    yield node.lineno, alias.name
            else:
                yield node.lineno, package(node.module)


def _all_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "trellis").rglob("*.py") if p not in JOB_SIDE and GENERATED not in p.parents)


GENERATED = ROOT / "trellis" / "v1"


@pytest.mark.parametrize("path", _all_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_packages_import_only_the_layers_below(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    parts = relative.split("/")
    package = parts[1] if parts[1] in DOMAIN_PACKAGES else "trellis"
    found = []
    for line, name in imported_packages(path.read_text(), relative):
        if name in ALLOWED_IMPORTS and name != package and name not in ALLOWED_IMPORTS[package]:
            found.append(f"{relative}:{line}: {package} imports {name}")
        if name == "pygit2" and package not in PYGIT2_USERS and relative not in PYGIT2_USERS:
            found.append(
                f"{relative}:{line}: pygit2 above vcs (use vcs's plain reads: Store.get_commit, "
                "tree_blobs, tree_files, read_blob, history, TreeReader)"
            )
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("source", "package"),
    [
        ("import ci", "query"),
        ("from query.errors import X", "ci"),
        ("import trellis.client", "vcs"),
        ("from ci import Run", "vcs"),
    ],
)
def test_the_import_checker_finds_upward_imports(source: str, package: str) -> None:
    assert any(
        name not in ALLOWED_IMPORTS[package] and name in ALLOWED_IMPORTS
        for _, name in imported_packages(source, "example.py")
    )
