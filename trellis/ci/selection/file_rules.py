"""What a change to a file that is not ordinary Python code means for test selection.

Three classes of files, each with its rule (the rule's name is recorded when a
run falls back to the whole suite, so a user can see it and teach selection
with configuration):

* **configuration** (``pytest.ini``, ``pyproject.toml``, ``setup.cfg``,
  ``tox.ini``, ``setup.py``, ``requirements*.txt``, …): conservative, but
  only for the parts that can change how tests run. :func:`config_digest`
  hashes those parts; a change that keeps the digest (a ``[flake8]`` section,
  project URLs, classifiers) changes nothing for the tests.
* **inert by kind** (:data:`INERT_KINDS`: type stubs, docs and text, packaging
  manifests, CI configuration of other systems, licences): they cannot change
  what tests import. Such a file still counts when code *names* it — a string
  constant naming the file or a directory of non-Python files above it, or a
  glob matching it (``"README.rst"``, ``"docs"``, ``"*.md"``): the tests
  reaching that code are selected (:func:`named_by`).
* **anything else** (data files, templates, binaries): a test may read it at
  run time through a computed path, so the whole suite runs — unless the
  pipeline declares it ``inert``.
"""

from __future__ import annotations

import ast
import configparser
import functools
import hashlib
import posixpath
import tomllib
from collections.abc import Iterable
from collections.abc import Set as AbstractSet

from ..pipeline.globs import path_matches
from ..project import METADATA_KEYS, install_parts
from .pytest_config import CONFIG_FILES

__all__ = [
    "INERT_KINDS",
    "LINTER_SETTINGS",
    "config_digest",
    "is_config",
    "is_inert_kind",
    "VERSION_FILES",
    "may_name",
    "named_by",
    "naming_words",
    "split_digest",
]

# Files that cannot change what a test imports or runs, unless code names them (see named_by).
VERSION_FILES = ("VERSION", "version")
INERT_KINDS = (
    "*.pyi",
    "*.md",
    "*.rst",
    "*.txt",
    "*.in",
    "*.adoc",
    "*.tex",
    "LICENSE*",
    "LICENCE*",
    "COPYING*",
    "AUTHORS*",
    "CONTRIBUTORS*",
    "CHANGELOG*",
    "CHANGES*",
    "HISTORY*",
    "NEWS*",
    "README*",
    "release-notes*",
    "CODE_OF_CONDUCT*",
    "SECURITY*",
    "CITATION*",
    "docs/**",
    "doc/**",
    ".github/**",
    ".gitlab-ci.yml",
    ".circleci/**",
    ".travis.yml",
    "appveyor.yml",
    ".appveyor.yml",  # (AppVeyor reads either name: bidict ships the dotted one)
    "azure-pipelines.yml",
    ".cirrus.yml",
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    ".readthedocs.yml",
    ".readthedocs.yaml",
    "codecov.yml",
    ".codecov.yml",
    "codspeed.yml",
    "conda.recipe/**",
    ".gitignore",
    ".gitattributes",
    ".mailmap",
    ".editorconfig",
    ".coveragerc",
    # Settings of linters no pytest plugin runs (see LINTER_SETTINGS for those some plugin may).
    ".markdownlint*",
    ".prettierrc*",
    # Services of the repository and release tools: read by them, never by the project's code.
    ".bumpversion.cfg",
    "renovate.json",
    ".renovaterc*",
    ".zenodo.json",
    ".all-contributorsrc",
    ".deepsource.toml",
    "CODEOWNERS",
    ".python-version",
    ".tool-versions",
    ".git-blame-ignore-revs",
    # Editors' and coding agents' own settings: read by the IDE or the agent, never by the project's code.
    ".idea/**",
    "*.iml",
    ".vscode/**",
    ".claude/**",
    # Build and container recipes: read by their tools, which a test names to run them (see _TOOL_FILES).
    "Makefile",
    "makefile",
    "GNUmakefile",
    "*.mk",
    "justfile",
    "Justfile",
    "Dockerfile",
    "Dockerfile.*",
    "*.dockerfile",
    ".dockerignore",
    "trellis.toml",
    "typos.toml",
    # Shell scripts (a release's publish.sh): run by a command that names them, or by make's recipes.
    "*.sh",
    "*.bash",
    "*.bat",
    "*.cmd",
    "*.ps1",
    # What a merge or an editor leaves beside a file (funcy 2.0 shipped tests/test_decorators.py.orig).
    "*.orig",
    "*.rej",
    "*.bak",
    # A release's version alone: read by packaging (``version = file: VERSION``, setup.py's ``open``), by code
    # that names it, and through the installed metadata (its readers count: TestIndex.select).
    *VERSION_FILES,
    # PEP 561's marker of a typed package: read by type checkers (and packaging, which ships it), by no import.
    "py.typed",
    # Lock files: the stage's environment is built from requirements, extras and groups, not from these.
    "uv.lock",
    "poetry.lock",
    "pdm.lock",
    "Pipfile.lock",
    "pixi.lock",
)

# Parts of packaging metadata that no test run depends on. What an install writes into the distribution's
# METADATA (``project.METADATA_KEYS``: summary, URLs, classifiers, dependencies...) is not among them: a test
# may read it through ``importlib.metadata`` (pluggy's ``distribution("pluggy").metadata["Project-URL"]``).
_METADATA_KEYS = frozenset(
    {
        "long_description",
        "long_description_content_type",
        "readme",
        "license_file",
        "license_files",
        "license-files",
        "platforms",
        "zip_safe",
        "requires_python",  # (no backend reads this spelling)
        # Which files an installer takes: the project runs from its checkout, not installed.
        "packages",
        "package_data",
        "include_package_data",
        "exclude_package_data",
        "py_modules",
        "data_files",
        # Build-time requirements: the tests run from the checkout, not from a build.
        "setup_requires",
        "tests_require",
    }
)


# Packaging keys that only describe the project: an install writes them into the distribution's METADATA
# (``project.METADATA_KEYS``), where only a reader of installed metadata sees them (pluggy's
# ``distribution("pluggy").metadata["Project-URL"]``). A change to them alone selects the tests reaching such a
# reader (``python_calls.METADATA_READERS``), not every test. The name, the version (a library may read it for its
# ``--version``: click's ``version_option()``), dependencies and entry points stay configuration.
_DESCRIPTIVE_KEYS = METADATA_KEYS - {"dependencies", "optional-dependencies", "install_requires", "extras_require"}


def is_config(path: str) -> bool:
    """Configuration of test runs: pytest's and the project's (not a docs build's ``docs/requirements.txt``)."""
    name = posixpath.basename(path)
    if name.startswith("requirements") and any(path_matches(p, path) for p in ("docs/**", "doc/**")):
        return False
    return (
        name in CONFIG_FILES
        or (name.startswith("requirements") and name.endswith((".txt", ".in")))
        or (name.endswith(".pth"))
    )


# Settings files of linters and type checkers that pytest plugins may run inside the test run (pytest-flake8,
# pytest-mypy, pytest-ruff...; options: trellis.ci.selection.pytest_config.LINTER_OPTIONS): inert by kind unless the
# stage's pytest configuration or arguments turn that plugin on, as a test reading them would.
LINTER_SETTINGS = {
    "flake8": (".flake8",),
    "mypy": ("mypy.ini", ".mypy.ini"),
    "ruff": ("ruff.toml", ".ruff.toml"),
    "pylint": (".pylintrc", "pylintrc"),
    "isort": (".isort.cfg",),
    "pydocstyle": (".pydocstyle", ".pydocstyle.ini"),
    "yamllint": (".yamllint", ".yamllint.yml", ".yamllint.yaml"),
}


@functools.lru_cache(maxsize=1 << 16)
def is_inert_kind(path: str, linters: frozenset[str] = frozenset()) -> str:
    """The :data:`INERT_KINDS` pattern ``path`` matches (or the :data:`LINTER_SETTINGS` one, of a linter not among
    ``linters``, those the test run runs), or "" (remembered: every closure key asks it of every file of the
    tree)."""
    for pattern in INERT_KINDS:
        if path_matches(pattern, path):
            return pattern
    for linter, patterns in LINTER_SETTINGS.items():
        if linter not in linters:
            for pattern in patterns:
                if path_matches(pattern, path):
                    return pattern
    return ""


def config_digest(path: str, content: bytes) -> str:
    """A hash of what in a configuration file can change how tests run (all of it when unsure), then ``:`` and a
    hash of the descriptive metadata it states (:func:`split_digest`), which only readers of installed metadata see."""
    described: list[object] = []
    return f"{_config_digest(path, content, described)}:{_hash(repr(_sorted(described)))}"


def split_digest(digest: str) -> tuple[str, str]:
    """(what test runs depend on, the descriptive metadata) of a :func:`config_digest`."""
    config, _, described = digest.partition(":")
    return config, described


def _config_digest(path: str, content: bytes, described: list[object]) -> str:
    name = posixpath.basename(path)
    try:
        text = content.decode("utf-8")
        if name == "pyproject.toml":
            data = tomllib.loads(text)
            project = {k: v for k, v in data.get("project", {}).items() if k not in _METADATA_KEYS}
            described.append({k: project.pop(k) for k in sorted(project.keys() & _DESCRIPTIVE_KEYS)})
            tools = data.get("tool", {})
            kept = {
                # [build-system] says how to build the package: the tests run from the checkout, not from a build
                # (an environment installs dependencies only), so the backend and its version change no test.
                **{k: v for k, v in data.items() if k not in ("project", "tool", "dependency-groups", "build-system")},
                "project": project,
                "tool": {k: v for k, v in tools.items() if k in ("pytest", "pdm", "poetry", "uv")},
            }
            kept["installed"] = install_parts(data)  # what a stage's environment installs the project from
            poetry = kept["tool"].get("poetry")
            if isinstance(poetry, dict):
                kept["tool"]["poetry"] = {
                    k: v for k, v in poetry.items() if k not in _METADATA_KEYS and k not in _DESCRIPTIVE_KEYS
                }
                described.append({k: poetry[k] for k in sorted(poetry.keys() & _DESCRIPTIVE_KEYS)})
            return _hash(repr(_sorted(kept)))
        if name in ("setup.cfg", "tox.ini"):
            parser = configparser.RawConfigParser(interpolation=None, strict=False)
            parser.read_string(text)
            wanted = ("tool:pytest", "pytest") if name == "setup.cfg" else ("pytest",)
            kept_sections = []
            for section in parser.sections():
                if section in wanted or (
                    name == "setup.cfg"
                    and (section == "metadata" or section == "options" or section.startswith("options."))
                ):
                    items = sorted((k, v) for k, v in parser.items(section) if k not in _METADATA_KEYS)
                    if section in ("metadata", "options"):
                        described.append((section, [(k, v) for k, v in items if k in _DESCRIPTIVE_KEYS]))
                        items = [(k, v) for k, v in items if k not in _DESCRIPTIVE_KEYS]
                    kept_sections.append((section, items))
            return _hash(repr(sorted(kept_sections)))
        if name == "setup.py":
            tree = ast.parse(text)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    described.extend(ast.dump(k) for k in node.keywords if k.arg in _DESCRIPTIVE_KEYS)
                    node.keywords = [
                        k for k in node.keywords if k.arg not in _METADATA_KEYS and k.arg not in _DESCRIPTIVE_KEYS
                    ]
            return _hash(ast.dump(tree))
    except (UnicodeDecodeError, ValueError, SyntaxError, configparser.Error, RecursionError):
        pass
    return _hash(content.decode("latin-1"))


# Programs that read a file without being given its name: a test that runs ``make`` reads the Makefile.
_TOOL_FILES = {
    "make": ("Makefile", "makefile", "GNUmakefile", "*.mk", "*.sh", "*.bash"),
    "gmake": ("Makefile", "makefile", "GNUmakefile", "*.mk", "*.sh", "*.bash"),
    "just": ("justfile", "Justfile"),
    "docker": ("Dockerfile", "Dockerfile.*", "*.dockerfile", ".dockerignore"),
    "podman": ("Dockerfile", "Dockerfile.*", "*.dockerfile", ".dockerignore"),
    "bumpversion": (".bumpversion.cfg",),
    "bump2version": (".bumpversion.cfg",),
    **LINTER_SETTINGS,  # a test running ``mypy`` reads mypy.ini
    "dmypy": LINTER_SETTINGS["mypy"],
}


def naming_words(path: str, python_dirs: Iterable[str]) -> frozenset[str]:
    """The plain words (no extension, no glob) that :func:`named_by` would take as naming ``path``: a set of
    words that shares none of them and holds no extension or glob (:func:`may_name`) names it not."""
    name = posixpath.basename(path)
    packages = python_dirs if isinstance(python_dirs, (set, frozenset)) else set(python_dirs)
    found = {name, *(tool for tool, patterns in _TOOL_FILES.items() if any(path_matches(p, name) for p in patterns))}
    directory = posixpath.dirname(path)
    while directory:
        if directory not in packages:
            found.add(posixpath.basename(directory))
        directory = posixpath.dirname(directory)
    return frozenset(found)


def may_name(words: Iterable[str]) -> bool:
    """Does ``words`` hold an extension or a glob (a word :func:`named_by` matches against a file's name)?"""
    return any((w.startswith(".") and len(w) > 1) or _glob(w) for w in words)


def _glob(word: str) -> bool:
    """A glob that names some files and not others: ``"*.md"``, ``"README*"``. A bare wildcard (``"*"``, ``"**"``,
    ``"?"``: SQL's ``*``, an operator table's) names no file; code that lists every file of a directory finds them
    as ``os.walk`` does, and reads the ones a directory, extension or name it spells selects."""
    return ("*" in word or "?" in word) and not set(word) <= {"*", "?"}


def named_by(path: str, words: AbstractSet[str], python_dirs: Iterable[str]) -> str:
    """The word of ``words`` that names ``path`` ("" if none): its file name, a directory of it that holds no
    Python files, a glob matching its file name, its extension (``f"{case}.txt"``), or a program that reads
    it by default (``make`` its Makefile)."""
    name = posixpath.basename(path)
    if name in words:
        return name
    for tool, patterns in _TOOL_FILES.items():
        if tool in words and any(path_matches(p, name) for p in patterns):
            return tool
    packages = python_dirs if isinstance(python_dirs, (set, frozenset)) else set(python_dirs)
    directory = posixpath.dirname(path)
    while directory:
        if directory not in packages and posixpath.basename(directory) in words:
            return posixpath.basename(directory)
        directory = posixpath.dirname(directory)
    for word in words:
        if word.startswith(".") and len(word) > 1 and name.endswith(word):
            return word  # an extension the code joins to a computed name: f"{case}.txt"
        if _glob(word):
            try:
                if path_matches(word, name):
                    return word
            except ValueError:  # not a glob after all
                continue
    return ""


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return sorted((str(k), _sorted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
