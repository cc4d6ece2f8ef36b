"""The project's own test environment: a virtual environment built from its declared test dependencies.

A pytest stage's ``environment`` names requirements files of the tree,
extras of its ``pyproject.toml`` (with ``project.dependencies``), PEP 735
dependency groups and plain requirement strings. :func:`environment_spec`
reads them from a commit's files into an :class:`EnvironmentSpec`, whose
``digest`` (of those inputs, the interpreter and the platform) names the
environment: :func:`ensure_environment` builds it once per digest under a
root directory (``python -m venv``, then the server's pip with
``--python``), and every job with the same inputs reuses it. A change to a
requirements file or to the relevant tables of ``pyproject.toml`` gives a
new digest, hence a new environment; anything else in the tree changes
nothing.

The environment layers on the server's interpreter: a ``.pth`` file puts the
server's site directories *after* its own, so pytest (and what the job plugin
needs) comes from the server unless the requirements install another version.
Nothing of one tree goes into it: the project itself is installed per job,
outside the environment (``project_install.py``: a generated ``dist-info`` and the
package root on the job's ``sys.path``, as ``pip install -e .`` would). The
pytest plugins the environment installs (``pytest11`` entry points of its own
distributions, not the server's: :func:`pytest_plugins`) and the project's own
load in its jobs where ``pytest`` would autoload them in the project's own
environment (``pytest_entry_points.py``).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import CiError

__all__ = [
    "EnvironmentBuildError",
    "EnvironmentSpec",
    "ensure_environment",
    "environment_files",
    "environment_spec",
    "pytest_plugins",
    "pytest_version",
    "python_of",
    "unmet",
]

READY = ".trellis-ready"
SERVER_SITE_PTH = "_trellis_server_site.pth"  # the server's site directories, after the environment's own
BUILD_TIMEOUT_S = 900.0
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?")


class EnvironmentBuildError(CiError):
    """The stage's environment cannot be built (a missing file, pip failed)."""

    reason = "ENVIRONMENT_FAILED"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    """What to install: requirements files (path, content) and requirement strings, in order; ``included``: the
    files those name with ``-r``/``-c`` (and so on), which pip reads from beside them."""

    requirements: tuple[tuple[str, bytes], ...] = ()
    packages: tuple[str, ...] = ()
    included: tuple[tuple[str, bytes], ...] = ()

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for part in (sys.version, platform.platform(), sys.executable):
            h.update(part.encode() + b"\0")
        for path, content in self.requirements:
            h.update(path.encode() + b"\0" + hashlib.sha256(content).digest())
        for package in self.packages:
            h.update(package.encode() + b"\0")
        for path, content in self.included:
            h.update(b"-r\0" + path.encode() + b"\0" + hashlib.sha256(content).digest())
        return h.hexdigest()[:24]


# A requirements file's lines naming another file pip reads: -r/--requirement (its requirements too) and
# -c/--constraint (versions only), the path relative to the including file's directory, as pip resolves it.
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=-r)|(?<=-c))(\S+)")


def _includes(path: str, content: bytes) -> list[tuple[str, bool]]:
    """The files a requirements file at ``path`` includes: (tree path, whether its requirements are
    installed: ``-r``, not ``-c``); a URL is pip's to fetch, not a file of the tree (left out)."""
    found: list[tuple[str, bool]] = []
    for line in content.decode(errors="replace").splitlines():
        match = _INCLUDE.match(line.split(" #", 1)[0].strip())
        if match is None or "://" in match.group(2):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), match.group(2)))
        found.append((target, match.group(1) in ("-r", "--requirement")))
    return found


def environment_files(
    read: Callable[[Iterable[str]], Mapping[str, bytes]], requirements: Sequence[str]
) -> dict[str, bytes]:
    """The files of a tree that :func:`environment_spec` reads for ``requirements``: those, the files they
    include (``-r``, ``-c``, followed), and ``pyproject.toml``; ``read`` gives the content of the paths of the
    tree it is asked for (the others are left out)."""
    files = dict(read([*requirements, "pyproject.toml"]))
    pending = [p for p in requirements if p in files]
    while pending:
        wanted = {t for p in pending for t, _ in _includes(p, files[p]) if t not in files and not t.startswith("../")}
        files.update(read(sorted(wanted)) if wanted else {})
        pending = [t for t in wanted if t in files]
    return files


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_spec(
    files: Mapping[str, bytes],
    *,
    requirements: Sequence[str] = (),
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    packages: Sequence[str] = (),
) -> EnvironmentSpec:
    """The environment a stage declares, read from the tree's ``files`` (path -> content).

    Raises :class:`EnvironmentBuildError` naming what is missing.
    """
    found_files: list[tuple[str, bytes]] = []
    for path in requirements:
        if path not in files:
            raise EnvironmentBuildError(f"environment.requirements: {path} is not in the tree")
        found_files.append((path, files[path]))
    included: dict[str, bytes] = {}
    pending = list(found_files)
    while pending:
        path, content = pending.pop(0)
        for target, _ in _includes(path, content):
            if target in included or target in requirements:
                continue
            if target.startswith("../") or target not in files:
                raise EnvironmentBuildError(
                    f"environment.requirements: {path} includes {target}, which is not in the tree"
                )
            included[target] = files[target]
            pending.append((target, files[target]))
    wanted: list[str] = []
    if extras or groups:
        if "pyproject.toml" not in files:
            raise EnvironmentBuildError("environment: extras and groups come from pyproject.toml, which the tree lacks")
        try:
            data = tomllib.loads(files["pyproject.toml"].decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise EnvironmentBuildError(f"environment: cannot read pyproject.toml: {exc}") from None
        project = data.get("project", {}) if isinstance(data.get("project"), dict) else {}
        own = _normal(str(project.get("name", "")))
        optional = project.get("optional-dependencies", {}) or {}
        if extras:
            wanted.extend(str(d) for d in project.get("dependencies", []) or [])
        seen_extras: set[str] = set()

        def add_extra(extra: str) -> None:
            if extra in seen_extras:
                return
            seen_extras.add(extra)
            if extra not in optional:
                raise EnvironmentBuildError(
                    f"environment.extras: pyproject.toml has no extra {extra!r} "
                    f"(it has: {', '.join(sorted(optional)) or 'none'})"
                )
            for requirement in optional[extra]:
                match = _NAME.match(str(requirement))
                if own and match and _normal(match.group(1)) == own:  # attrs[tests] inside attrs: its extras
                    for inner in (match.group(3) or "").split(","):
                        if inner.strip():
                            add_extra(inner.strip())
                else:
                    wanted.append(str(requirement))

        for extra in extras:
            add_extra(extra)
        declared = data.get("dependency-groups", {}) or {}
        seen_groups: set[str] = set()

        def add_group(group: str) -> None:
            if group in seen_groups:
                return
            seen_groups.add(group)
            if group not in declared:
                raise EnvironmentBuildError(
                    f"environment.groups: pyproject.toml has no dependency group {group!r} "
                    f"(it has: {', '.join(sorted(declared)) or 'none'})"
                )
            for item in declared[group]:
                if isinstance(item, dict) and "include-group" in item:
                    add_group(str(item["include-group"]))
                elif isinstance(item, str):
                    wanted.append(item)

        for group in groups:
            add_group(group)
    wanted.extend(packages)
    return EnvironmentSpec(
        requirements=tuple(found_files), packages=tuple(dict.fromkeys(wanted)), included=tuple(included.items())
    )


def _server_sites() -> list[str]:
    return [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]


def ensure_environment(spec: EnvironmentSpec, root: Path, *, timeout_s: float = BUILD_TIMEOUT_S) -> Path:
    """The environment's directory under ``root``, built if no job built it before (one builder at a time).

    Raises :class:`EnvironmentBuildError` with pip's output when the build fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec.digest
    if (target / READY).exists():
        return target
    with open(root / f"{spec.digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / READY).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        _build(spec, target, timeout_s)
        (target / READY).write_text(
            json.dumps({"packages": list(spec.packages), "requirements": [p for p, _ in spec.requirements]})
        )
    return target


def python_of(environment: Path) -> Path:
    return environment / "bin" / "python"


@functools.lru_cache(maxsize=64)
def pytest_plugins(environment: Path, spec: EnvironmentSpec | None = None) -> tuple[tuple[str, str], ...]:
    """The pytest plugins a built environment installs: (entry point name, value: ``module`` or
    ``module:object``) of each ``pytest11`` entry point of a distribution in its own site directory, then of
    each distribution of the server's site directories that ``spec``'s requirements need (read from their
    metadata; nothing is imported).

    pip leaves out of the environment what the server's site directories, layered under it, already
    satisfy (the server's hypothesis for a project asking for ``hypothesis``): the project's own
    environment would hold it, and pytest would autoload its plugin there. So the distributions the
    declared requirements reach (``Requires-Dist`` followed, extras and markers as pip evaluates them, the
    environment's own distributions first) count wherever pip found them; the server's others stay out.
    """
    sites = [str(site) for site in (environment / "lib").glob("python*/site-packages")]
    own = list(importlib.metadata.distributions(path=sites))
    chosen = list(own)
    if spec is not None:
        server = list(importlib.metadata.distributions(path=_layered_sites(environment)))
        reached = _reached(_declared(spec), own, server)
        chosen += [dist for dist in server if id(dist) in reached]
    found: dict[str, str] = {}
    for dist in chosen:
        for entry in dist.entry_points:
            if entry.group == "pytest11" and entry.value.strip():
                found.setdefault(entry.name, entry.value.strip())
    return tuple(found.items())


def unmet(requirements: Sequence[str], python: str) -> tuple[str, ...]:
    """The ``requirements`` (PEP 508 strings) that the distributions ``python`` imports from do not satisfy:
    the server's interpreter's, or an environment's own and the server's under them. A requirement whose
    marker is false here is met; one that does not parse, or is a direct reference, is not."""
    if python == sys.executable:
        sites = _server_sites()
    else:
        environment = Path(python).parent.parent
        sites = [str(s) for s in (environment / "lib").glob("python*/site-packages")] + _layered_sites(environment)
    versions: dict[str, str] = {}
    for dist in importlib.metadata.distributions(path=sites):
        versions.setdefault(_normal(dist.metadata["Name"] or ""), dist.version)
    missing: list[str] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            missing.append(text)
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = versions.get(_normal(requirement.name))
        try:
            met = version is not None and not requirement.url and requirement.specifier.contains(version, True)
        except ValueError:  # a version packaging cannot read
            met = False
        if not met:
            missing.append(text)
    return tuple(missing)


def _layered_sites(environment: Path) -> list[str]:
    """The server's site directories the environment's ``.pth`` layers under its own."""
    sites: list[str] = []
    for pth in (environment / "lib").glob(f"python*/site-packages/{SERVER_SITE_PTH}"):
        sites += [line.strip() for line in pth.read_text().splitlines() if line.strip()]
    return sites


def _declared(spec: EnvironmentSpec) -> list[Requirement]:
    """The requirements ``spec`` names (its packages and its requirements files' requirement lines)."""
    texts = list(spec.packages)
    contents = {**dict(spec.included), **dict(spec.requirements)}
    installed: dict[str, bytes] = {}  # the files whose requirements pip installs: the declared, what they -r
    pending = list(spec.requirements)
    while pending:
        path, content = pending.pop(0)
        if path in installed:
            continue
        installed[path] = content
        pending += [(t, contents[t]) for t, requires in _includes(path, content) if requires and t in contents]
    for content in installed.values():
        for line in content.decode(errors="replace").splitlines():
            text = line.split(" #", 1)[0].strip()
            if text and not text.startswith(("-", "#")):  # options (-r, --find-links ...) name no requirement
                texts.append(text)
    found: list[Requirement] = []
    for text in texts:
        try:
            found.append(Requirement(text))
        except InvalidRequirement:
            continue
    return found


def _reached(
    declared: list[Requirement],
    own: list[importlib.metadata.Distribution],
    server: list[importlib.metadata.Distribution],
) -> set[int]:
    """The ids of the distributions the declared requirements and the environment's own distributions
    need, following ``Requires-Dist`` (a name resolves to the environment's own distribution first)."""
    by_name: dict[str, importlib.metadata.Distribution] = {}
    for dist in (*own, *server):
        by_name.setdefault(_normal(dist.metadata["Name"] or ""), dist)
    done: dict[str, set[str]] = {}
    todo: list[tuple[Requirement, set[str]]] = [(r, {""}) for r in declared]
    for dist in own:
        todo += [(r, {""}) for r in _requires(dist)]
    reached: set[int] = set()
    while todo:
        requirement, context = todo.pop()
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": e}) for e in context):
            continue
        name = _normal(requirement.name)
        found = by_name.get(name)
        if found is None:
            continue
        extras = {_normal(e) for e in requirement.extras} | {""}
        seen = done.setdefault(name, set())
        if extras <= seen:
            continue
        seen |= extras
        reached.add(id(found))
        todo += [(r, extras) for r in _requires(found)]
    return reached


def _requires(dist: importlib.metadata.Distribution) -> list[Requirement]:
    found: list[Requirement] = []
    for text in dist.requires or ():
        try:
            found.append(Requirement(text))
        except InvalidRequirement:
            continue
    return found


@functools.lru_cache(maxsize=64)
def pytest_version(environment: Path) -> str | None:
    """The version of the pytest a built environment installs in its own site directory (read from its
    metadata; nothing is imported), or None: its jobs import the server's pytest."""
    sites = [str(site) for site in (environment / "lib").glob("python*/site-packages")]
    for dist in importlib.metadata.distributions(path=sites):
        if _normal(dist.metadata["Name"] or "") == "pytest":
            return dist.version
    return None


def _build(spec: EnvironmentSpec, target: Path, timeout_s: float) -> None:
    def run(argv: list[str], cwd: Path) -> None:
        try:
            done = subprocess.run(
                argv,
                cwd=cwd,
                capture_output=True,
                timeout=timeout_s,
                env={"PATH": os.defpath, "LANG": "C.UTF-8", "HOME": str(cwd), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentBuildError(f"building the environment took longer than {timeout_s:.0f} s") from None
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-4000:]
            raise EnvironmentBuildError(f"building the environment failed ({' '.join(argv[2:5])}…): {output}")

    base = getattr(sys, "_base_executable", sys.executable)
    run([base, "-m", "venv", "--without-pip", str(target)], target.parent)
    site = next((target / "lib").glob("python*/site-packages"))
    (site / SERVER_SITE_PTH).write_text("".join(f"{p}\n" for p in _server_sites()))
    if not spec.requirements and not spec.packages:
        return
    for path, content in (*spec.requirements, *spec.included):
        _refuse_source_builds(path, content)
    for package in spec.packages:
        if _source_reference(package):
            raise EnvironmentBuildError(f"requirement {package!r}: {WHEELS_ONLY}")
    inputs = target / ".trellis-inputs"
    inputs.mkdir()
    # Wheels only: pip runs outside the sandbox, with the network, on requirements the change under test
    # may have written; building a source distribution would run its code here (setup.py, a build backend).
    argv = [sys.executable, "-m", "pip", "--python", str(python_of(target)), "install", "--quiet"]
    argv += ["--only-binary", ":all:"]
    for path, content in spec.requirements:
        written = inputs / path
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_bytes(content)
        argv += ["-r", path]
    for path, content in spec.included:  # read by pip from beside the files including them
        written = inputs / path
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_bytes(content)
    argv += list(spec.packages)
    try:
        run(argv, inputs)
    except EnvironmentBuildError as error:
        if (
            "from versions: none" in str(error)
            or "only-binary" in str(error)
            or "No matching distribution" in str(error)
        ):
            raise EnvironmentBuildError(f"{error.message} {WHEELS_ONLY}") from None
        raise


WHEELS_ONLY = (
    "Test environments install wheels only: no source distribution is built, since building one runs its code "
    "outside the sandbox. Depend on a version published as a wheel, or install the package into the server's "
    "environment."
)
# Requirements-file options that would build from source (or re-allow it).
_SOURCE_OPTIONS = re.compile(r"^(-e\b|--editable\b|--no-binary\b)")


def _source_reference(requirement: str) -> bool:
    """Whether a requirement names an archive, a directory or a repository instead of a wheel:
    ``--only-binary`` does not apply to a direct reference (``pkg @ URL``, a path, a VCS URL)."""
    target = requirement.split(" @ ", 1)[1] if " @ " in requirement else requirement
    target = target.split(";", 1)[0].split("#", 1)[0].strip()
    direct = " @ " in requirement or "://" in target or target.startswith((".", "/", "~"))
    return direct and not target.endswith(".whl")


def _refuse_source_builds(path: str, content: bytes) -> None:
    for number, line in enumerate(content.decode(errors="replace").splitlines(), 1):
        text = line.split(" #", 1)[0].strip()
        if _SOURCE_OPTIONS.match(text) or (text and not text.startswith("-") and _source_reference(text)):
            raise EnvironmentBuildError(f"{path} line {number}: {text!r}: {WHEELS_ONLY}")
