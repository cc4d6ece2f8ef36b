"""Which files, classes and functions pytest collects, as its default rules and the project's ini say.

Reads the root's pytest configuration the way pytest picks it (``pytest.ini``,
then ``pyproject.toml``'s ``[tool.pytest.ini_options]`` / ``[tool.pytest]``,
then ``tox.ini``'s ``[pytest]``, then ``setup.cfg``'s ``[tool:pytest]``) and
answers the naming questions of collection. Options that change what runs in
a way the static analysis does not model (``--rootdir``, say) set
``unsupported``: selection then runs everything. ``--doctest-modules`` is
modelled (``doctest_modules``), and so is ``--doctest-glob`` in the ini's
``addopts`` and in a stage's own args (``doctest_globs``: text files of doctests, items whose examples
are not analysed; :meth:`PytestConfig.with_args` adds a stage's).
"""

from __future__ import annotations

import configparser
import fnmatch
import posixpath
import shlex
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "CONFIG_FILES",
    "PytestConfig",
    "doctest_globs",
    "doctest_modules",
    "in_paths",
    "positional_paths",
    "read_config",
    "unsupported_args",
]

# Files whose change may change how pytest collects or runs anything (the environment too).
CONFIG_FILES = frozenset(
    {
        "pytest.ini",
        ".pytest.ini",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "setup.py",
        "requirements.txt",
        ".python-version",
        "pytest.toml",
        ".pytest.toml",
    }
)

DEFAULT_FILES = ("test_*.py", "*_test.py")
DEFAULT_CLASSES = ("Test",)
DEFAULT_FUNCTIONS = ("test",)
DEFAULT_NORECURSE = ("*.egg", ".*", "_darcs", "build", "CVS", "dist", "node_modules", "venv", "{arch}")
_GLOB_CHARS = frozenset("*?[")
# addopts that make pytest run code this analysis does not model.
# (-k, -m, --deselect filter the full run and a selected run alike, so they need nothing.)
# (--doctest-modules is modelled: each module's examples are one more test, see TestIndex.doctests.)
_UNSUPPORTED_OPTS = ("--rootdir", "-c", "--config-file")
# What pytest collects as text files of doctests without ``--doctest-glob``.
DEFAULT_DOCTEST_GLOBS = ("test*.txt",)
DOCTEST_MODULES = "--doctest-modules"
# Options of pytest plugins that run a linter or a type checker on the tree inside the test run (pytest-flake8's
# ``--flake8``, pytest-mypy's ``--mypy``...): the tool's own settings files then count for selection
# (:data:`trellis.ci.selection.file_rules.LINTER_SETTINGS`).
LINTER_OPTIONS = {
    "--flake8": "flake8",
    "--mypy": "mypy",
    "--ruff": "ruff",
    "--ruff-format": "ruff",
    "--isort": "isort",
    "--pylint": "pylint",
    "--pydocstyle": "pydocstyle",
    "--yamllint": "yamllint",
}


@dataclass(frozen=True, slots=True)
class PytestConfig:
    """The collection settings that matter for selection (pytest's defaults when no config file)."""

    source: str = ""
    testpaths: tuple[str, ...] = ()
    python_files: tuple[str, ...] = DEFAULT_FILES
    python_classes: tuple[str, ...] = DEFAULT_CLASSES
    python_functions: tuple[str, ...] = DEFAULT_FUNCTIONS
    norecursedirs: tuple[str, ...] = DEFAULT_NORECURSE
    pythonpath: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    doctest_modules: bool = False
    doctest_globs: tuple[str, ...] = DEFAULT_DOCTEST_GLOBS
    linters: frozenset[str] = frozenset()  # the linters pytest plugins run in the test run (LINTER_OPTIONS)
    unsupported: str = ""
    usefixtures: tuple[str, ...] = ()
    # The installed project's own entry points: (group, what it names: ``app.plugins.toc:TocPlugin``, a module
    # alone for a module); None: the tree declares entry points the analysis cannot read.
    entry_points: tuple[tuple[str, str], ...] | None = ()
    # The compiled extension modules the installed project declares, which every pytest job builds (see
    # ``trellis.ci.execution.extensions``): a change to their sources runs with the rebuilt extension.
    extensions: tuple[str, ...] = ()
    # The packaging says which extensions it builds (``Project.extensions_known``): a C source no declared extension
    # compiles is then a file like any other, not one of an extension the stage does not build.
    extensions_known: bool = False

    def is_test_file(self, path: str) -> bool:
        """Would a plain ``pytest`` run (from the root) collect this file as a test module?"""
        name = posixpath.basename(path)
        if not path.endswith(".py") or name in ("conftest.py", "__init__.py"):
            return False
        if not any(_match_path(pattern, path) for pattern in self.python_files):
            return False
        return self._collected(path)

    def with_args(self, args: Sequence[str]) -> PytestConfig:
        """This configuration under a stage's own pytest arguments: their ``--doctest-glob`` patterns add to
        the ini's (pytest appends the command line's to ``addopts``', and uses ``test*.txt`` only when neither
        gives one), and so do the linters their options run."""
        extra = doctest_globs(args)
        config = replace(self, linters=self.linters | linters(args)) if linters(args) else self
        if not extra:
            return config
        own = () if self.doctest_globs == DEFAULT_DOCTEST_GLOBS else self.doctest_globs
        return replace(config, doctest_globs=tuple(dict.fromkeys((*own, *extra))))

    def is_doctest_file(self, path: str) -> bool:
        """Would a plain ``pytest`` run collect this file as a text file of doctests (``--doctest-glob``, by
        default ``test*.txt``; never a ``.py`` file)?"""
        if path.endswith(".py") or not any(_match_path(pattern, path) for pattern in self.doctest_globs):
            return False
        return self._collected(path)

    def imports_at_collection(self, path: str, doctest_modules: bool) -> bool:
        """Does a plain ``pytest`` run (from the root) import this ``.py`` file as it collects: a conftest, a test
        module, or (``doctest_modules``) any module in a directory it collects from?"""
        if posixpath.basename(path) == "conftest.py" or self.is_test_file(path):
            return True
        return doctest_modules and path.endswith(".py") and self._collected(path)

    def _collected(self, path: str) -> bool:
        """Is ``path`` in a directory pytest collects from: within ``testpaths``, not ignored, no directory
        matching ``norecursedirs`` on the way?"""
        if any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.ignore):
            return False
        parts = path.split("/")[:-1]
        if self.testpaths:
            base = self._testpath_of(path)
            if base is None:
                return False
            parts = parts[len([p for p in base.split("/") if p]) :]
        return not any(fnmatch.fnmatchcase(part, pattern) for part in parts for pattern in self.norecursedirs)

    def in_testpaths(self, path: str) -> bool:
        """Is ``path`` (a file or directory) within ``testpaths`` (everything is, without them)?"""
        if not self.testpaths:
            return True
        return self._testpath_of(path) is not None

    def _testpath_of(self, path: str) -> str | None:
        for testpath in self.testpaths:
            clean = testpath.strip("/").removeprefix("./")
            if clean in ("", "."):
                return ""
            if path == clean or path.startswith(clean + "/"):
                return clean
            if _GLOB_CHARS & set(clean):
                parts = path.split("/")
                for i in range(1, len(parts) + 1):
                    if fnmatch.fnmatchcase("/".join(parts[:i]), clean):
                        return "/".join(parts[:i])
        return None

    def is_test_class(self, name: str) -> bool:
        return _matches(name, self.python_classes)

    def is_test_function(self, name: str) -> bool:
        return _matches(name, self.python_functions)


def read_config(files: Mapping[str, bytes]) -> PytestConfig:
    """The root pytest configuration of a tree (``files``: repo-relative path -> content)."""
    for name in ("pytest.ini", ".pytest.ini"):
        if name in files:
            return _from_ini(files[name], name, "pytest", required=False)
    for name in ("pytest.toml", ".pytest.toml"):
        if name in files:
            return _from_toml(files[name], name, native_only=True)
    if "pyproject.toml" in files:
        config = _from_toml(files["pyproject.toml"], "pyproject.toml", native_only=False)
        if config.source or config.unsupported:
            return config
    if "tox.ini" in files:
        config = _from_ini(files["tox.ini"], "tox.ini", "pytest", required=True)
        if config.source or config.unsupported:
            return config
    if "setup.cfg" in files:
        config = _from_ini(files["setup.cfg"], "setup.cfg", "tool:pytest", required=True)
        if config.source or config.unsupported:
            return config
    return PytestConfig()


def _from_ini(content: bytes, source: str, section: str, *, required: bool) -> PytestConfig:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(content.decode("utf-8"), source=source)
    except (configparser.Error, UnicodeDecodeError) as exc:
        return PytestConfig(unsupported=f"cannot read {source}: {type(exc).__name__}")
    if not parser.has_section(section):
        return PytestConfig() if required else PytestConfig(source=source)
    values: dict[str, Any] = dict(parser.items(section))
    return _build(source, {k: v.split() if k != "addopts" else v for k, v in values.items()})


def _from_toml(content: bytes, source: str, *, native_only: bool) -> PytestConfig:
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return PytestConfig(unsupported=f"cannot read {source}: {type(exc).__name__}")
    if native_only:
        section = data.get("pytest", data)
    else:
        tool = data.get("tool", {})
        pytest_table = tool.get("pytest", {}) if isinstance(tool, dict) else {}
        if not isinstance(pytest_table, dict):
            return PytestConfig()
        section = pytest_table.get("ini_options", pytest_table) if pytest_table else None
        if section is None:
            return PytestConfig()
    if not isinstance(section, dict):
        return PytestConfig(unsupported=f"cannot read {source}: the pytest table is not a table")
    values = {
        k: (v.split() if isinstance(v, str) and k != "addopts" else v) for k, v in section.items() if k != "ini_options"
    }
    return _build(source, values)


def _build(source: str, values: Mapping[str, Any]) -> PytestConfig:
    def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = values.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return default

    addopts = values.get("addopts", "")
    if isinstance(addopts, list):
        args = [str(a) for a in addopts]
    else:
        try:
            args = shlex.split(str(addopts))
        except ValueError:
            return PytestConfig(source=source, unsupported=f"cannot read addopts in {source}")
    plugins: list[str] = []
    ignore: list[str] = []
    unsupported = ""
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "-p" and following and not following.startswith("no:"):
            plugins.append(following)
        elif arg.startswith("-p") and len(arg) > 2 and not arg[2:].startswith("no:"):
            plugins.append(arg[2:])
        elif arg == "--ignore" and following:
            ignore.append(following.strip("/"))
        elif arg.startswith("--ignore="):
            ignore.append(arg.split("=", 1)[1].strip("/"))
        elif any(arg == opt or arg.startswith(opt + "=") for opt in _UNSUPPORTED_OPTS):
            unsupported = unsupported or f"{source} sets {arg!r} in addopts, which selection does not model"
    return PytestConfig(
        source=source,
        testpaths=strings("testpaths", ()),
        python_files=strings("python_files", DEFAULT_FILES),
        python_classes=strings("python_classes", DEFAULT_CLASSES),
        python_functions=strings("python_functions", DEFAULT_FUNCTIONS),
        norecursedirs=strings("norecursedirs", DEFAULT_NORECURSE),
        pythonpath=tuple(p.strip("/").removeprefix("./") for p in strings("pythonpath", ()) if p not in (".", "./")),
        plugins=tuple(plugins),
        ignore=tuple(ignore),
        doctest_modules=doctest_modules(args),
        doctest_globs=doctest_globs(args) or DEFAULT_DOCTEST_GLOBS,
        linters=linters(args),
        unsupported=unsupported,
        usefixtures=strings("usefixtures", ()),
    )


def _matches(name: str, options: tuple[str, ...]) -> bool:
    for option in options:
        if name.startswith(option):
            return True
        if _GLOB_CHARS & set(option) and fnmatch.fnmatchcase(name, option):
            return True
    return False


def _match_path(pattern: str, path: str) -> bool:
    if "/" not in pattern:
        return fnmatch.fnmatchcase(posixpath.basename(path), pattern)
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern.lstrip("/"))


def linters(args: Sequence[str]) -> frozenset[str]:
    """The linters and type checkers that pytest arguments have plugins run (:data:`LINTER_OPTIONS`)."""
    return frozenset(LINTER_OPTIONS[a.split("=", 1)[0]] for a in args if a.split("=", 1)[0] in LINTER_OPTIONS)


def doctest_globs(args: Sequence[str]) -> tuple[str, ...]:
    """The ``--doctest-glob`` patterns of pytest arguments, in order."""
    globs: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--doctest-glob" and i + 1 < len(args):
            globs.append(args[i + 1])
        elif arg.startswith("--doctest-glob="):
            globs.append(arg.split("=", 1)[1])
    return tuple(globs)


def doctest_modules(args: Sequence[str]) -> bool:
    """Do these pytest arguments collect the doctests of Python modules?"""
    return DOCTEST_MODULES in args


# pytest options (core, xdist, cov, timeout) whose value may be the next argument: what follows them is no path.
_VALUE_OPTIONS = frozenset(
    {
        "-k",
        "-m",
        "-p",
        "-c",
        "-o",
        "-W",
        "-n",
        "-r",
        "--ignore",
        "--ignore-glob",
        "--deselect",
        "--rootdir",
        "--confcutdir",
        "--basetemp",
        "--config-file",
        "--override-ini",
        "--junitxml",
        "--junit-xml",
        "--junit-prefix",
        "--maxfail",
        "--tb",
        "--durations",
        "--durations-min",
        "--log-level",
        "--log-file",
        "--log-file-level",
        "--log-format",
        "--log-date-format",
        "--log-cli-level",
        "--log-cli-format",
        "--log-cli-date-format",
        "--import-mode",
        "--capture",
        "--color",
        "--code-highlight",
        "--show-capture",
        "--doctest-report",
        "--doctest-glob",
        "--cov",
        "--cov-report",
        "--cov-config",
        "--cov-fail-under",
        "--dist",
        "--maxprocesses",
        "--numprocesses",
        "--max-worker-restart",
        "--tx",
        "--rsyncdir",
        "--timeout",
        "--timeout-method",
        "--pastebin",
        "--debug",
    }
)
# Options known to take no value: a path may follow them.
_FLAG_OPTIONS = frozenset(
    {
        "-q",
        "-v",
        "-vv",
        "-vvv",
        "-x",
        "-s",
        "-l",
        "--doctest-modules",
        "--doctest-continue-on-failure",
        "--exitfirst",
        "--quiet",
        "--verbose",
        "--strict-markers",
        "--strict-config",
        "--showlocals",
        "--runxfail",
        "--lf",
        "--last-failed",
        "--ff",
        "--failed-first",
        "--nf",
        "--new-first",
        "--sw",
        "--stepwise",
        "--no-header",
        "--no-summary",
        "--disable-warnings",
        "--disable-pytest-warnings",
        "--trace-config",
        "--collect-only",
        "--co",
        "--setup-show",
        "--cache-clear",
        "--full-trace",
        "--continue-on-collection-errors",
        "--doctest-ignore-import-errors",
        "--no-cov",
        "--cov-append",
        "--looponfail",
        "-f",
    }
)


def positional_paths(args: Sequence[str], paths: Iterable[str]) -> tuple[str, ...]:
    """The files, directories and node ids of the tree that ``args`` name as pytest's positional arguments
    (pytest then collects only those, and ignores ``testpaths``); () when there are none, or when an argument
    cannot be told apart from an option's value (an unknown option before it, a word naming nothing in the
    tree, ``--pyargs``): the caller then assumes the whole collection, which holds the part."""
    tree = set(paths)
    dirs = {posixpath.dirname(p) for p in tree}
    for d in list(dirs):
        while d:
            d = posixpath.dirname(d)
            dirs.add(d)
    out: list[str] = []
    previous = ""
    for arg in args:
        if arg == "--pyargs":
            return ()
        if arg.startswith("-") and arg != "-":
            previous = arg
            continue
        if previous in _VALUE_OPTIONS:
            previous = ""
            continue
        if previous and "=" not in previous and previous not in _FLAG_OPTIONS and not _bundled_flags(previous):
            return ()  # an option we do not know: this may be its value
        previous = ""
        clean = arg.split("::", 1)[0].rstrip("/").removeprefix("./")
        if clean in ("", "."):
            return ()  # the whole tree
        if clean not in tree and clean not in dirs:
            return ()
        rest = arg.split("::", 1)[1] if "::" in arg else ""
        out.append(f"{clean}::{rest}" if rest else clean)
    return tuple(out)


def _bundled_flags(arg: str) -> bool:
    """``-xq``: short flags run together, none of which takes a value."""
    return len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and all(f"-{c}" in _FLAG_OPTIONS for c in arg[1:])


def in_paths(nodeid: str, scope: Sequence[str]) -> bool:
    """Is this test id (or a doctest module's path) under one of ``positional_paths``' answers?"""
    for path in scope:
        if "::" in path:
            if nodeid == path or nodeid.startswith((path + "::", path + "[")):
                return True
        elif nodeid == path or nodeid.startswith((path + "/", path + "::")):
            return True
    return False


def unsupported_args(args: Sequence[str]) -> str:
    """Why a stage's own pytest arguments defeat selection ("" if they do not): ``--doctest-modules`` & co."""
    for arg in args:
        if any(arg == opt or arg.startswith(opt + "=") for opt in _UNSUPPORTED_OPTS):
            return f"the stage's args have {arg!r}, which selection does not model"
    return ""
