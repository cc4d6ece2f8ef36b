"""The project a tree declares, as its build backend would install it: read from its files, never run.

A project's own command installs the project before its tests run (``pip
install -e '.[tests]'``, then ``pytest``): its package imports from the
checkout, and ``importlib.metadata`` knows it — its version, its metadata,
its entry points (console scripts, the ``pytest11`` plugin pytest autoloads).
:func:`read_project` reads what that install makes known from the tree's
``pyproject.toml`` (PEP 621 ``[project]``, setuptools, hatch, flit, poetry,
pdm), ``setup.cfg`` and a ``setup.py``'s literal ``setup(...)`` arguments
*without running any of the project's code*: running its build backend would
run the change's code outside the sandbox, as a source distribution's build
would (see the environments' "wheels only").

**Where it imports from** (:attr:`Project.roots`): the backend's package
directory (setuptools ``package-dir``/``packages.find.where``, hatch's wheel
``packages``/``sources``, poetry's ``packages.from``, pdm's ``package-dir``),
else every backend's default discovery: ``src`` when the tree has it (and no
package of the project's name at the top), else the checkout itself.

**The version**, as a backend reads it statically: a literal
``project.version`` (or poetry's, setup.cfg's, a literal
``setup(version=…)``), setuptools' ``attr:``/``file:`` (the attribute's literal
assignment, which setuptools reads before it would import anything), hatch's
and pdm's version ``path``, flit's module ``__version__``. A version taken from
git (setuptools_scm, hatch-vcs, pdm's scm source) is described from the job's
commit where the job has one (:func:`trellis.ci.execution.project_install.scm_version`);
here it is the version file the tree holds (``version_file``/``write_to``/hatch's
vcs hook ``version-file``: a release's, or one the project commits), else the
configured fallback version, else :data:`FALLBACK_VERSION`, setuptools' own
default.

Execution installs it into each job (:mod:`trellis.ci.execution.project_install`);
selection counts its package roots as import roots and its ``pytest11``
modules as plugins every test loads.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXTENSION_SOURCES",
    "FALLBACK_VERSION",
    "METADATA_KEYS",
    "Project",
    "entry_points_unstated",
    "install_parts",
    "read_project",
]

FALLBACK_VERSION = "0.0.0"
# What compiled extension modules are built from (C, C++, Cython): their change is no Python.
EXTENSION_SOURCES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".pyx", ".pxd", ".pxi")
_VERSION_ASSIGNMENT = re.compile(
    r"""^\s*(?:(?:__version__|version|VERSION)\s*(?::\s*str\s*)?=\s*)+['"]([^'"]+)['"]""", re.M
)
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ENTRY = re.compile(r"^\s*([^=\s][^=]*?)\s*=\s*(\S[^\[]*?)\s*(\[.*\])?\s*$")

Reader = Callable[[str], bytes | None]


@dataclass(frozen=True, slots=True)
class Project:
    """What an editable install of the tree's project makes known: its metadata and where it imports from."""

    name: str
    version: str
    roots: tuple[str, ...] = ()  # directories of the tree put on sys.path ("" is the checkout itself)
    entry_points: tuple[tuple[str, str, str], ...] = ()  # (group, name, value)
    # A version from git (setuptools_scm, hatch-vcs, pdm's scm): "file" when ``version`` is the tree's version
    # file, "fallback" when no file gave one; "" for a version the tree states. ``scm_local``: keep "+g<hash>".
    scm: str = ""
    scm_local: bool = True
    # The file a version from git is written into at install (setuptools_scm's ``version_file``/``write_to``,
    # hatch-vcs' ``version-file``, pdm's ``write_to``), relative to the tree; "" for none.
    version_file: str = ""
    # Core metadata headers (``Summary``, ``Project-URL``, ``Requires-Dist``...) the packaging states, in order: what
    # the install's ``METADATA`` holds besides the name and version (see :data:`METADATA_KEYS`).
    metadata: tuple[tuple[str, str], ...] = ()
    # The compiled extension modules setuptools builds (``ext_modules``: ``Extension("pkg._speedups", ...)`` anywhere
    # in setup.py, pyproject's ``[tool.setuptools] ext-modules``), by module name ("*" where the name is no literal:
    # ``cythonize(...)``, a computed name); () for none, or a backend whose build is not run (meson, scikit-build...).
    extensions: tuple[str, ...] = ()
    # The packaging says which extensions it builds, and to setuptools, which a job runs: () above is none (a
    # setup.py read whole, with no ``setup(**options)``, or none at all). False: another backend, a setup.py that
    # does not parse or passes its options as ``**``: what it compiles is not known.
    extensions_known: bool = False
    # pyproject's ``[build-system] requires``: what pip's isolated build installs before it runs the backend (the
    # extensions' build needs them: setuptools of a version, Cython); () when the tree declares none.
    build_requires: tuple[str, ...] = ()

    @property
    def dist_name(self) -> str:
        return re.sub(r"[-_.]+", "_", self.name)

    def pytest_plugins(self) -> tuple[tuple[str, str], ...]:
        """The project's own ``pytest11`` entry points (name, value): pytest autoloads them once it is installed."""
        return tuple((name, value) for group, name, value in self.entry_points if group == "pytest11")


def _toml(data: bytes | None) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        loaded = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    return loaded


def _cfg(data: bytes | None) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if data is not None:
        try:
            parser.read_string(data.decode("utf-8", "replace"))
        except configparser.Error:
            return configparser.ConfigParser(interpolation=None)
    return parser


def _table(data: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _setup_call(data: bytes | None) -> dict[str, Any]:
    """The literal keyword arguments of ``setup(...)`` in a setup.py (read, not run)."""
    if data is None:
        return {}
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup":
            found: dict[str, Any] = {}
            for keyword in node.keywords:
                if keyword.arg is None:
                    continue
                try:
                    found[keyword.arg] = ast.literal_eval(keyword.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    continue
            return found
    return {}


def _list(value: Any) -> list[str]:
    """The strings of a TOML array (nothing for anything else)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[\n,]", value) if v.strip()]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str)]
    return []


def read_project(read: Reader, is_dir: Callable[[str], bool]) -> Project | None:
    """The project the tree declares (``read(path)``: a file's bytes or None; ``is_dir(path)``), or None."""
    pyproject = _toml(read("pyproject.toml"))
    cfg = _cfg(read("setup.cfg"))
    setup_py = _setup_call(read("setup.py"))
    project = _table(pyproject, "project")
    poetry = _table(pyproject, "tool", "poetry")
    meta = cfg["metadata"] if cfg.has_section("metadata") else {}
    name = str(project.get("name") or poetry.get("name") or meta.get("name", "") or setup_py.get("name") or "")
    if not name.strip() or not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", name.strip()):
        return None
    name = name.strip()
    roots = _roots(pyproject, cfg, setup_py, name, is_dir)
    found = _version(read, pyproject, cfg, setup_py, roots, name)
    scm = found if isinstance(found, _Scm) else None
    return Project(
        name=name,
        version=scm.version if scm is not None else str(found or FALLBACK_VERSION),
        roots=tuple(roots),
        entry_points=tuple(_entry_points(pyproject, cfg, setup_py)),
        scm="" if scm is None else "file" if scm.from_file else "fallback",
        scm_local=scm is not None and scm.local,
        version_file=scm.file if scm is not None else "",
        metadata=tuple(_metadata(project, meta, cfg, setup_py)),
        extensions=_extensions(read("setup.py"), pyproject),
        extensions_known=_extensions_known(read("setup.py"), pyproject),
        build_requires=tuple(r.strip() for r in _list(_table(pyproject, "build-system").get("requires")) if r.strip()),
    )


# setuptools' (and its helpers') extension classes, and Cython's way of making them.
_EXTENSION_CLASSES = frozenset({"Extension", "Pybind11Extension", "CythonExtension"})
_SETUPTOOLS_BACKENDS = frozenset({"", "setuptools.build_meta", "setuptools.build_meta:__legacy__"})


def _extensions(setup_source: bytes | None, pyproject: dict[str, Any]) -> tuple[str, ...]:
    """The compiled extension modules setuptools would build for the tree, read without running anything:
    each ``Extension(name, ...)`` call anywhere in setup.py (simplejson builds them in a function it retries
    without them), a ``cythonize(...)`` call or a non-empty ``ext_modules=`` that names none ("*"), and
    pyproject's ``[tool.setuptools] ext-modules``. () when the build backend is not setuptools: meson-python,
    scikit-build-core, maturin... build through their own tools, which a job does not run."""
    backend = _table(pyproject, "build-system").get("build-backend", "")
    if not isinstance(backend, str) or backend.strip() not in _SETUPTOOLS_BACKENDS:
        return ()
    names: list[str] = []
    for module in _table(pyproject, "tool", "setuptools").get("ext-modules") or ():
        if isinstance(module, dict):
            name = module.get("name")
            names.append(name if isinstance(name, str) and _DOTTED_NAME.fullmatch(name) else "*")
    try:
        tree = ast.parse(setup_source) if setup_source is not None else None
    except (SyntaxError, ValueError):
        tree = None
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if called in _EXTENSION_CLASSES:
            first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
            name = first.value if isinstance(first, ast.Constant) else None
            names.append(name if isinstance(name, str) and _DOTTED_NAME.fullmatch(name) else "*")
        elif called == "cythonize":
            names.append("*")
        elif called == "setup":
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg == "ext_modules" and not (isinstance(value, ast.List | ast.Tuple) and not value.elts):
                    names.append("*")  # named by the Extension calls above, if any (dropped below then)
    named = [n for n in names if n != "*"]
    return tuple(dict.fromkeys(named or names))


def _extensions_known(setup_source: bytes | None, pyproject: dict[str, Any]) -> bool:
    """Does :func:`_extensions` read every extension the packaging declares: the backend is setuptools and the
    setup.py, if any, parses and calls ``setup(...)`` with no ``**options`` (which may hold ``ext_modules``)?"""
    backend = _table(pyproject, "build-system").get("build-backend", "")
    if not isinstance(backend, str) or backend.strip() not in _SETUPTOOLS_BACKENDS:
        return False
    if setup_source is None:
        return True
    try:
        tree = ast.parse(setup_source)
    except (SyntaxError, ValueError):
        return False
    return not any(isinstance(node, ast.Call) and any(k.arg is None for k in node.keywords) for node in ast.walk(tree))


# The packaging keys (PEP 621, setup.cfg, setup()) an install writes into the distribution's METADATA, which a test
# may read (``importlib.metadata.metadata(name)["Project-URL"]``): selection counts a change to the dependencies as a
# change of the configuration, one to the others for the tests reaching a reader of installed metadata
# (``selection.file_rules``). The long description (``readme``) is not written: every README edit would be one.
METADATA_KEYS = frozenset(
    {
        "description",
        "requires-python",
        "python_requires",
        "license",
        "authors",
        "maintainers",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "keywords",
        "classifiers",
        "urls",
        "url",
        "home_page",
        "home-page",
        "download_url",
        "project_urls",
        "project-urls",
        "dependencies",
        "optional-dependencies",
        "install_requires",
        "extras_require",
    }
)


def _people(value: Any) -> tuple[str, str]:
    """PEP 621 ``authors``/``maintainers`` as core metadata's (names, emails) headers, as setuptools writes them."""
    names: list[str] = []
    emails: list[str] = []
    for person in value if isinstance(value, list) else []:
        if not isinstance(person, dict):
            continue
        name, email = person.get("name"), person.get("email")
        if isinstance(email, str):
            emails.append(f"{name} <{email}>" if isinstance(name, str) else email)
        elif isinstance(name, str):
            names.append(name)
    return ", ".join(names), ", ".join(emails)


def _requirements(value: Any) -> list[str]:
    """Requirement lines: a list's strings, or a text's lines (a specifier's commas stay)."""
    lines = value.splitlines() if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(r).strip() for r in lines if isinstance(r, str) and r.strip() and not r.strip().startswith("#")]


def _metadata(
    project: dict[str, Any], meta: Any, cfg: configparser.ConfigParser, setup_py: dict[str, Any]
) -> list[tuple[str, str]]:
    """The core metadata headers the packaging states (statically; a ``dynamic`` field is left out)."""
    out: list[tuple[str, str]] = []
    if project:
        dynamic = {str(d) for d in project.get("dynamic", ()) if isinstance(d, str)}

        def get(key: str) -> Any:
            return None if key in dynamic else project.get(key)

        if isinstance(get("description"), str):
            out.append(("Summary", get("description")))
        license_ = get("license")
        if isinstance(license_, str):
            out.append(("License-Expression", license_))
        elif isinstance(license_, dict) and isinstance(license_.get("text"), str):
            out.append(("License", license_["text"]))
        for key, header in (("authors", "Author"), ("maintainers", "Maintainer")):
            names, emails = _people(get(key))
            out.extend((h, v) for h, v in ((header, names), (f"{header}-email", emails)) if v)
        keywords = get("keywords")
        if isinstance(keywords, list) and keywords:
            out.append(("Keywords", ",".join(str(k) for k in keywords)))
        out.extend(("Classifier", str(c)) for c in get("classifiers") or () if isinstance(c, str))
        urls = get("urls")
        out.extend(("Project-URL", f"{k}, {v}") for k, v in (urls.items() if isinstance(urls, dict) else ()))
        if isinstance(get("requires-python"), str):
            out.append(("Requires-Python", get("requires-python")))
        out.extend(("Requires-Dist", r) for r in _requirements(get("dependencies")))
        extras = get("optional-dependencies")
        for extra, requirements in extras.items() if isinstance(extras, dict) else ():
            out.append(("Provides-Extra", str(extra)))
            out.extend(("Requires-Dist", f"{r}; extra == {str(extra)!r}") for r in _requirements(requirements))
        return out
    options = cfg["options"] if cfg.has_section("options") else {}
    extras_cfg = dict(cfg.items("options.extras_require")) if cfg.has_section("options.extras_require") else {}

    def stated(*keys: str) -> Any:
        for key in keys:
            for table in (meta, options, setup_py):
                if key in table:
                    return table[key]
        return None

    for header, keys in (
        ("Summary", ("description",)),
        ("Home-page", ("url", "home_page")),
        ("Download-URL", ("download_url",)),
        ("Author", ("author",)),
        ("Author-email", ("author_email",)),
        ("Maintainer", ("maintainer",)),
        ("Maintainer-email", ("maintainer_email",)),
        ("License", ("license",)),
    ):
        value = stated(*keys)
        if isinstance(value, str) and value.strip():
            out.append((header, value.strip()))
    keywords = stated("keywords")
    if keywords:
        out.append(("Keywords", ",".join(_strings(keywords))))
    out.extend(("Classifier", c) for c in _strings(stated("classifiers")) if not c.startswith("#"))
    urls = stated("project_urls")
    if isinstance(urls, str):
        urls = dict(line.split("=", 1) for line in urls.splitlines() if "=" in line)
    out.extend(("Project-URL", f"{str(k).strip()}, {str(v).strip()}") for k, v in (urls or {}).items())
    if isinstance(stated("python_requires"), str):
        out.append(("Requires-Python", stated("python_requires").strip()))
    out.extend(("Requires-Dist", r) for r in _requirements(stated("install_requires")))
    extras = extras_cfg or stated("extras_require")
    for extra, requirements in extras.items() if isinstance(extras, dict) else ():
        out.append(("Provides-Extra", str(extra)))
        out.extend(("Requires-Dist", f"{r}; extra == {str(extra)!r}") for r in _requirements(requirements))
    return out


def install_parts(pyproject: dict[str, Any]) -> dict[str, Any]:
    """What :func:`read_project` reads of a ``pyproject.toml`` outside ``[project]`` (for selection's digest of
    the parts of a configuration file that reach the tests)."""
    tool = _table(pyproject, "tool")
    setuptools = _table(tool, "setuptools")
    wheel = _table(tool, "hatch", "build", "targets", "wheel")
    return {
        "setuptools": [
            setuptools.get("package-dir"),
            _table(setuptools, "packages", "find").get("where"),
            _table(setuptools, "dynamic").get("version"),
        ],
        "setuptools_scm": _table(tool, "setuptools_scm"),
        "hatch": [_table(tool, "hatch", "version"), _table(tool, "hatch", "build", "hooks", "vcs")],
        "hatch-wheel": {k: wheel[k] for k in ("packages", "sources") if k in wheel},
        "flit": _table(tool, "flit", "module"),
        "poetry": _table(tool, "poetry").get("packages"),
        "backend": _table(pyproject, "build-system").get("build-backend"),
    }


def _roots(
    pyproject: dict[str, Any],
    cfg: configparser.ConfigParser,
    setup_py: dict[str, Any],
    name: str,
    is_dir: Callable[[str], bool],
) -> list[str]:
    """The directories the build backend's configuration puts the packages in (an editable install's paths)."""
    tool = _table(pyproject, "tool")
    found: list[str] = []
    setuptools = _table(tool, "setuptools")
    package_dir = setuptools.get("package-dir")
    if isinstance(package_dir, dict) and isinstance(package_dir.get(""), str):
        found.append(package_dir[""])
    find = _table(setuptools, "packages", "find")
    found.extend(_strings(find.get("where")))
    if cfg.has_option("options", "package_dir"):
        for line in _strings(cfg.get("options", "package_dir")):
            key, _, value = line.partition("=")
            if not key.strip() and value.strip():
                found.append(value.strip())
    if cfg.has_option("options.packages.find", "where"):
        found.extend(_strings(cfg.get("options.packages.find", "where")))
    if isinstance(setup_py.get("package_dir"), dict) and isinstance(setup_py["package_dir"].get(""), str):
        found.append(setup_py["package_dir"][""])
    wheel = _table(tool, "hatch", "build", "targets", "wheel")
    for package in _strings(wheel.get("packages")):
        found.append(os.path.dirname(package.strip("/")))
    sources = wheel.get("sources")
    if isinstance(sources, list):
        found.extend(str(s) for s in sources if isinstance(s, str))
    elif isinstance(sources, dict):
        found.extend(str(k) for k, v in sources.items() if v in ("", "/"))
    for package in _table(tool, "poetry").get("packages", []) or []:
        if isinstance(package, dict) and isinstance(package.get("from"), str):
            found.append(package["from"])
    pdm_dir = _table(tool, "pdm", "build").get("package-dir")
    if isinstance(pdm_dir, str):
        found.append(pdm_dir)
    roots = [r.strip().strip("/").removeprefix("./") for r in found]
    roots = [r if r != "." else "" for r in roots]
    if not found:
        # Every backend's default discovery: a src layout when the tree has src/, else the checkout itself.
        module = re.sub(r"[-.]+", "_", name).lower()
        flit = _table(tool, "flit", "module").get("name")
        module = str(flit) if isinstance(flit, str) else module
        roots = ["src"] if is_dir("src") and not is_dir(module) else [""]
    return list(dict.fromkeys(r for r in roots if ".." not in r.split("/")))


def _literal(read: Reader, roots: list[str], dotted: str) -> str | None:
    """The literal string a module assigns to an attribute (``pkg.mod.__version__``), read as setuptools does."""
    module, _, attribute = dotted.strip().rpartition(".")
    if not module:
        return None
    relative = module.replace(".", "/")
    for root in roots or [""]:
        base = f"{root}/{relative}" if root else relative
        for path in (f"{base}.py", f"{base}/__init__.py"):
            data = read(path)
            if data is None:
                continue
            try:
                tree = ast.parse(data)
            except (SyntaxError, ValueError):
                return None
            for node in tree.body:
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    targets = [node.target]
                else:
                    continue
                assert node.value is not None
                if any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
                    try:
                        value = ast.literal_eval(node.value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        return None
                    if isinstance(value, str):
                        return value
                    if isinstance(value, tuple) and all(isinstance(v, int | str) for v in value):
                        return ".".join(str(v) for v in value)
                    return None
            return None
    return None


def _from_file(read: Reader, path: str) -> str | None:
    data = read(path.strip().removeprefix("./"))
    if data is None:
        return None
    text = data.decode("utf-8", "replace")
    match = _VERSION_ASSIGNMENT.search(text)
    if match:
        return match.group(1)
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return first if re.fullmatch(r"[0-9][0-9A-Za-z.+!_-]*", first) else None


def _version(
    read: Reader,
    pyproject: dict[str, Any],
    cfg: configparser.ConfigParser,
    setup_py: dict[str, Any],
    roots: list[str],
    name: str,
) -> str | _Scm | None:
    project = _table(pyproject, "project")
    tool = _table(pyproject, "tool")
    if isinstance(project.get("version"), str):
        return str(project["version"])
    poetry_version = _table(tool, "poetry").get("version")
    if isinstance(poetry_version, str) and poetry_version not in ("0.0.0", "0"):
        return poetry_version
    dynamic = _table(tool, "setuptools", "dynamic").get("version")
    declared = cfg.get("metadata", "version", fallback="").strip()
    if isinstance(dynamic, dict) and isinstance(dynamic.get("attr"), str):
        declared = f"attr: {dynamic['attr']}"
    elif isinstance(dynamic, dict) and dynamic.get("file"):
        declared = f"file: {_strings(dynamic['file'])[0] if _strings(dynamic['file']) else ''}"
    if declared.startswith("attr:"):
        found = _literal(read, roots, declared.removeprefix("attr:"))
        if found:
            return found
    elif declared.startswith("file:"):
        found = _from_file(read, declared.removeprefix("file:").split(",")[0])
        if found:
            return found
    elif declared:
        return declared
    if isinstance(setup_py.get("version"), str):
        return str(setup_py["version"])
    hatch = _table(tool, "hatch", "version")
    pdm = _table(tool, "pdm", "version")
    for path in (hatch.get("path"), pdm.get("path") if pdm.get("source") == "file" else None):
        if isinstance(path, str) and (found := _from_file(read, path)):
            return found
    flit = _table(tool, "flit", "module").get("name")
    if "version" in (project.get("dynamic") or []) and _table(pyproject, "build-system").get(
        "build-backend", ""
    ).startswith("flit"):
        module = str(flit) if isinstance(flit, str) else re.sub(r"[-.]+", "_", name)
        found = _literal(read, [*roots, "src"], f"{module}.__version__")
        if found:
            return found
    # A version from git: what the repository's tags say, when the job is told (see project_install.py),
    # else the version file the tree holds (a release's, or one the project commits), else the fallback.
    scm = _table(tool, "setuptools_scm") or _table(setup_py, "use_scm_version")  # setup(use_scm_version={...})
    vcs_hook = _table(tool, "hatch", "build", "hooks", "vcs")
    raw = _table(hatch, "raw-options")
    uses_scm = bool(scm) or hatch.get("source") == "vcs" or pdm.get("source") == "scm" or "use_scm_version" in setup_py
    if not uses_scm:
        return None
    files = [
        p.partition(":")[0]
        for p in (scm.get("version_file"), scm.get("write_to"), vcs_hook.get("version-file"), pdm.get("write_to"))
        if isinstance(p, str) and p.strip()
    ]
    written = files[0] if files else ""  # what the install writes the version into
    for path in files:
        if found := _from_file(read, path):
            return _Scm(found, from_file=True, local=_local(scm, raw), file=written)
    for fallback in (scm.get("fallback_version"), hatch.get("fallback-version"), raw.get("fallback_version")):
        if isinstance(fallback, str):
            return _Scm(fallback, from_file=False, local=_local(scm, raw), file=written)
    return _Scm(FALLBACK_VERSION, from_file=False, local=_local(scm, raw), file=written)


def _local(*tables: dict[str, Any]) -> bool:
    """Whether setuptools_scm's local version label (``+g<hash>``) is kept (``local_scheme``)."""
    return not any(t.get("local_scheme", t.get("local-scheme")) == "no-local-version" for t in tables)


@dataclass(frozen=True, slots=True)
class _Scm:
    version: str
    from_file: bool
    local: bool
    file: str = ""


def _entry_points(
    pyproject: dict[str, Any], cfg: configparser.ConfigParser, setup_py: dict[str, Any]
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    project = _table(pyproject, "project")
    groups: dict[str, Any] = {
        "console_scripts": project.get("scripts"),
        "gui_scripts": project.get("gui-scripts"),
        **_table(project, "entry-points"),
    }
    poetry = _table(pyproject, "tool", "poetry")
    if not project:
        groups.update({"console_scripts": poetry.get("scripts"), **_table(poetry, "plugins")})
    for group, entries in groups.items():
        if isinstance(entries, dict):
            found.extend((group, str(k), v.strip()) for k, v in entries.items() if isinstance(v, str) and v.strip())
    if cfg.has_section("options.entry_points"):
        for group, text in cfg.items("options.entry_points"):
            found.extend(_entry_lines(group, text.splitlines()))
    declared = setup_py.get("entry_points")
    if isinstance(declared, dict):
        for group, lines in declared.items():
            found.extend(_entry_lines(str(group), lines if isinstance(lines, list) else str(lines).splitlines()))
    return list(dict.fromkeys(found))


def entry_points_unstated(read: Reader, paths: Iterable[str]) -> str:
    """Why the tree's installed project may have entry points that :func:`read_project` does not read: a
    ``setup.py`` computing them (or passing ``**`` keywords), a pyproject naming them ``dynamic`` or declaring them
    for flit, metadata committed in the tree (``*.egg-info``); "" when its packaging states them all."""
    for path in paths:
        if path.endswith((".egg-info/entry_points.txt", ".dist-info/entry_points.txt")):
            return f"{path} declares entry points"
    pyproject = _toml(read("pyproject.toml"))
    dynamic = _table(pyproject, "project").get("dynamic")
    if isinstance(dynamic, list) and {"entry-points", "scripts", "gui-scripts"} & {str(d) for d in dynamic}:
        return "pyproject.toml computes its entry points (dynamic)"
    flit = _table(pyproject, "tool", "flit")
    if "entrypoints" in flit or "scripts" in flit:
        return "pyproject.toml declares entry points for flit"
    setup_py = read("setup.py")
    if setup_py is not None and (b"entry_points" in setup_py or b"**" in setup_py):
        if not isinstance(_setup_call(setup_py).get("entry_points"), dict):
            return "setup.py computes its entry points or keywords"
    return ""


def _entry_lines(group: str, lines: list[Any]) -> list[tuple[str, str, str]]:
    found = []
    for line in lines:
        match = _ENTRY.match(str(line))
        if match:
            found.append((group, match.group(1), match.group(2)))
    return found
