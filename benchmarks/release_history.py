"""Build a git repository that approximates a project's history from its releases' source distributions.

When a project's own git history is not at hand but its releases are on PyPI, this builds a stand-in that
``bench_ci.py --repo`` and ``selection_static.py`` can replay::

    python benchmarks/release_history.py more-itertools --last 8 --out /tmp/mi-history
    python benchmarks/release_history.py more-itertools --versions 10.6.0 10.7.0 10.8.0 --out DIR

How it is built:

1. **Download.** Each version's sdist with ``pip download NAME==V --no-binary :all: --no-deps`` into
   ``--cache`` (``--last N``: the newest N final releases that ``pip index versions`` lists). An sdist is
   read as ``{path: bytes}`` without its top directory; ``PKG-INFO``, ``*.egg-info/``, tools' caches
   (``__pycache__/``, ``.pytest_cache/``) and a ``setup.py``
   that says it was generated (flit and poetry write one into the sdist), written by the build and not by
   the authors, are dropped.
2. **Layout.** Sdists differ in what they include: a release may ship without its tests or docs (a broken
   ``MANIFEST``, a build backend's defaults), and a naive diff would delete and re-add whole directories.
   A release whose sdist lacks Python files that the releases before and after it both have is skipped
   (more-itertools 11.2.0 ships no tests: its changes arrive with 11.2.1, tests and code together). Any
   other path missing from one release but present both in an earlier and in a later one is carried
   forward from the previous release (it was not packaged, not deleted); a path missing from every later
   release was deleted; a new path was added.
   Files the project's ``.gitignore`` names but its sdist ships (a generated ``_version.py``, compiled
   translations) are committed too: the tests need them, as they do in the release.
3. **Micro-commits.** The first release is one commit. Between consecutive releases the change is split
   the way a project's commits usually split it:

   - Python files (package, tests, stubs; not ``docs/`` or ``setup.py``) are cut into their top-level
     statements, each with the comments and blank lines before it. A statement is keyed by what it binds
     (``def``/``class`` name, assigned names, a block's bound names; an import by its source module,
     other statements by their text). Statements of the same name in the package's modules and stubs (``more.py``'s
     ``def foo``, ``more.pyi``'s ``@overload``s of ``foo``), the ``__all__`` entries naming it and the
     test classes and functions named after it (``FooTests``, ``TestFoo``, ``test_foo_empty``) form one
     **entity group**: one commit each, in the order the new release defines them. ``__all__`` is rewritten per commit (one name per line), so
     a star import never names a function that does not exist yet.
   - Other top-level changes of a module (imports, module code) are one commit per file before the
     entity groups (removed statements: one commit after them, so code that still uses an import keeps
     it); test classes matching no entity, one commit each. An import line edited in place
     is edited in place, as its authors would: in the first commit if it gains names (``from math import
     comb, e`` gaining ``exp``), in the cleanup commit if it drops some (code that still uses them keeps
     them in between); one that does both arrives as a new statement in the first commit, and its old
     form leaves in the cleanup commit.
   - A Python module the package gains, or a tests' helper (not a ``test_*`` module), arrives with the first
     commit: the code that imports it may change before the release's last commit (mistune 3.4.0's
     ``tests/perf_utils.py``, which the test modules' imports name).
   - Everything else — docs, packaging, CI files, files added or deleted, the version bump
     (``__version__``), any Python file that cannot be split cleanly (it does not parse, an intermediate
     would not parse, or the pieces do not reassemble into the release) — is the release's last commit.

   The tree after a release's last commit equals the release (checked). Each release is tagged ``vV``.
4. **Importable** (``--importable PYTHON``). Between two releases of a package of several modules, a name
   one module imports may arrive with the commit defining it in another, later (packaging's
   ``from .version import _TrimmedRelease``, still imported after the class went): every test of such a
   tree errors. With ``--importable``, a micro-commit whose packages and their modules do not all import
   with ``PYTHON`` is merged into the next one (a release whose first tree does not import is left as is).

It is an **approximation**: the real commits between two releases interleave differently, fix and undo
things, and touch several entities at once; intermediate trees here may fail tests that no real commit
failed (a function changed before the test that follows it, in another group), which a replay's
full-suite reference sees as well, so verdicts stay comparable. Commit dates are synthetic (one minute
apart), so the same inputs give the same commit ids.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

MODULE_LEVEL = "<module>"
CLEANUP = "<cleanup>"
RELEASE = "<release>"
ALL = "__all__"


# -- sdists -------------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def final_versions(package: str) -> list[str]:
    """Final releases (no pre/dev/post suffix) that pip lists for ``package``, oldest first."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", package], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Available versions:\s*(.*)", out)
    if not match:
        raise SystemExit(f"pip lists no versions of {package}")
    versions = [v.strip() for v in match.group(1).split(",") if re.fullmatch(r"\d+(\.\d+)*", v.strip())]
    return sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")))


def sdist(package: str, version: str, cache: Path) -> Path:
    """The sdist file of ``package==version`` in ``cache``, downloaded with pip if it is not there."""

    def find() -> Path | None:
        for path in sorted(cache.iterdir()):
            stem = path.name.removesuffix(".tar.gz").removesuffix(".zip").removesuffix(".tar.bz2")
            if stem != path.name and _norm(stem) == _norm(f"{package}-{version}"):
                return path
        return None

    cache.mkdir(parents=True, exist_ok=True)
    found = find()
    if found is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", f"{package}=={version}", "--no-binary", package, "--no-deps"]
            + ["-q", "-d", str(cache)],
            check=True,
        )
        found = find()
    if found is None:
        raise SystemExit(f"no sdist of {package} {version} in {cache}")
    return found


_CACHE_DIRECTORIES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"})


def read_sdist(path: Path) -> dict[str, bytes]:
    """The sdist's files without its top directory, less what the build wrote (``PKG-INFO``, ``*.egg-info``)
    and tools' caches packed by mistake (packaging 25.0 ships ``tests/.pytest_cache/``, whose own
    ``.gitignore`` keeps it out of git), and a submodule's ``.git`` file."""
    files: dict[str, bytes] = {}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    files[info.filename] = archive.read(info)
    else:
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    handle = archive.extractfile(member)
                    assert handle is not None
                    files[member.name] = handle.read()
    out: dict[str, bytes] = {}
    for name, content in files.items():
        parts = name.split("/", 1)
        if len(parts) < 2 or not parts[1]:
            continue
        rel = parts[1]
        directories = rel.split("/")[:-1]
        if rel == "PKG-INFO" or any(p.endswith(".egg-info") or p in _CACHE_DIRECTORIES for p in directories):
            continue
        if ".git" in rel.split("/"):
            continue  # a submodule's gitlink file (tomlkit ships tests/toml-test/.git): git would not take it
        if rel == "setup.py" and re.search(rb"^# setup\.py generated by ", content[:200], re.M):
            continue  # flit and poetry write one into the sdist: not the authors' file
        out[rel] = content
    return out


def incomplete(releases: list[dict[str, bytes]]) -> dict[int, list[str]]:
    """Releases (by index) whose sdist lacks Python files that the releases before and after it both have:
    a broken sdist (11.2.0 of more-itertools ships no tests). Their code changes go with the next release."""
    out: dict[int, list[str]] = {}
    for i in range(1, len(releases) - 1):
        missing = sorted(
            p
            for p in releases[i - 1].keys() & releases[i + 1].keys()
            if p.endswith((".py", ".pyi")) and p not in releases[i]
        )
        if missing:
            out[i] = missing
    return out


def consistent_layouts(releases: list[dict[str, bytes]]) -> list[dict[str, bytes]]:
    """Carry forward each path missing from a release that an earlier and a later release both have."""
    out: list[dict[str, bytes]] = []
    for i, files in enumerate(releases):
        tree = dict(files)
        if out:
            later = set().union(*(r.keys() for r in releases[i + 1 :]))
            for path, content in out[-1].items():
                if path not in tree and path in later:
                    tree[path] = content
        out.append(tree)
    return out


# -- splitting a module into top-level chunks ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chunk:
    key: tuple[str, ...]
    text: str
    group: str  # the entity group (a name), MODULE_LEVEL, RELEASE or ALL


def _bound_names(node: ast.stmt) -> list[str]:
    names: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.append(sub.id)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.extend((a.asname or a.name).split(".")[0] for a in sub.names)
    return names


def _key_and_group(node: ast.stmt, index: int) -> tuple[tuple[str, ...], str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return ("def", node.name), node.name
    if isinstance(node, ast.ImportFrom):  # keyed by its source: an edited import line is edited in place
        return ("from", "." * node.level + (node.module or "")), MODULE_LEVEL
    if isinstance(node, ast.Import):
        return ("import", *sorted(alias.name for alias in node.names)), MODULE_LEVEL
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = tuple(t.id for t in targets if isinstance(t, ast.Name))
        if len(names) == 1 and len(targets) == 1:
            name = names[0]
            if name == "__all__":
                return ("assign", name), ALL
            if name == "__version__":
                return ("assign", name), RELEASE
            return ("assign", name), name
        return ("assign", *names), MODULE_LEVEL
    if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return ("docstring",), MODULE_LEVEL
    if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
        names = sorted(set(_bound_names(node)))
        if len(names) == 1:
            return ("block", names[0]), names[0]
        if names:
            return ("block", *names), MODULE_LEVEL
    return ("stmt", ast.dump(node)), MODULE_LEVEL


def chunks(source: str) -> list[Chunk] | None:
    """Top-level statements with the text before each (comments, blank lines, decorators); None if the
    source does not parse. Consecutive statements with one key (a stub's ``@overload``s) are one chunk;
    a key seen again later gets a counter, so keys are unique."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    lines = source.splitlines(keepends=True)
    out: list[Chunk] = []
    seen: dict[tuple[str, ...], int] = {}
    last: tuple[str, ...] = ()
    start = 0
    for index, node in enumerate(tree.body):
        end = node.end_lineno or node.lineno
        text = "".join(lines[start:end])
        start = end
        key, group = _key_and_group(node, index)
        if out and key == last:
            previous = out.pop()
            out.append(Chunk(previous.key, previous.text + text, previous.group))
            continue
        last = key
        if key in seen:
            seen[key] += 1
            key = (*key, f"#{seen[key]}")
        else:
            seen[key] = 0
        out.append(Chunk(key, text, group))
    tail = "".join(lines[start:])
    if tail:
        out.append(Chunk(("tail",), tail, MODULE_LEVEL))
    return out


_ALL_LINE = re.compile(r"""^\s*(['"])(\w+)\1,?\s*$""")


def _all_names(text: str) -> dict[str, int] | None:
    """Line index of each name of a one-name-per-line ``__all__`` chunk; None for another layout."""
    lines = text.splitlines(keepends=True)
    out: dict[str, int] = {}
    for i, line in enumerate(lines):
        match = _ALL_LINE.match(line)
        if match:
            out[match.group(2)] = i
    try:
        value = ast.literal_eval(text.split("=", 1)[1].strip())
    except (ValueError, SyntaxError, IndexError):
        return None
    if not isinstance(value, (list, tuple)) or sorted(value) != sorted(out) or len(set(value)) != len(value):
        return None
    return out


def _render_all(old: str, new: str, applied: Callable[[str], bool]) -> str | None:
    """``__all__`` between ``old`` and ``new``: the new entries of applied groups, the removed entries of
    groups not applied yet; None when a layout is not one name per line."""
    old_names, new_names = _all_names(old), _all_names(new)
    if old_names is None or new_names is None:
        return None
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    by_line = {i: name for name, i in new_names.items()}
    out: list[str] = []
    for i, line in enumerate(new_lines):
        name = by_line.get(i)
        if name is None or name in old_names or applied(name):
            out.append(line)
    # removed names whose group is not applied yet: after the entry before them in the old list
    ordered_old = sorted(old_names, key=old_names.get)  # type: ignore[arg-type]
    for position, name in enumerate(ordered_old):
        if name in new_names or applied(name):
            continue
        anchor = next((ordered_old[j] for j in range(position - 1, -1, -1) if ordered_old[j] in _present(out)), None)
        at = _index_of(out, anchor) + 1 if anchor else _first_entry(out)
        out.insert(at, old_lines[old_names[name]])
    return "".join(out)


def _present(lines: list[str]) -> set[str]:
    return {m.group(2) for line in lines if (m := _ALL_LINE.match(line))}


def _index_of(lines: list[str], name: str) -> int:
    return next(i for i, line in enumerate(lines) if (m := _ALL_LINE.match(line)) and m.group(2) == name)


def _first_entry(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if _ALL_LINE.match(line)), 1)


def render(old: list[Chunk], new: list[Chunk], applied: Callable[[str], bool]) -> str | None:
    """The module with the changes of the applied groups: the new release's order, a changed statement's
    new text if its group is applied (else its old text; an added one left out), a removed statement kept
    after the statement before it until its group is applied. None if ``__all__`` cannot be rewritten."""
    old_by_key = {c.key: c for c in old}
    new_keys = {c.key for c in new}
    out: list[Chunk] = []
    for chunk in new:
        before = old_by_key.get(chunk.key)
        if chunk.group == ALL and before is not None and before.text != chunk.text:
            if applied(ALL):
                out.append(chunk)
                continue
            text = _render_all(before.text, chunk.text, applied)
            if text is None:
                return None
            out.append(Chunk(chunk.key, text, ALL))
        elif before is not None and before.text == chunk.text:
            out.append(chunk)
        elif applied(chunk.group):
            out.append(chunk)
        elif before is not None:
            out.append(before)
    order = [c.key for c in old]
    for position, chunk in enumerate(old):
        if chunk.key in new_keys or applied(chunk.group):
            continue
        keys = [c.key for c in out]
        anchor = next((order[j] for j in range(position - 1, -1, -1) if order[j] in keys), None)
        at = keys.index(anchor) + 1 if anchor is not None else 0
        # A ``from __future__`` import the new release adds must stay first (after the docstring): a removed
        # ``import typing as _t`` that opened the old module goes after it, not before (a SyntaxError).
        while at < len(keys) and keys[at][:2] in (("docstring",), ("from", "__future__")):
            at += 1
        out.insert(at, chunk)
    return "".join(c.text for c in out)


# -- the commits between two releases -----------------------------------------------------------------


@dataclass
class Step:
    message: str
    groups: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)  # whole files (added, deleted, not split)


def _splittable(path: str) -> bool:
    top = path.split("/", 1)[0]
    return path.endswith((".py", ".pyi")) and top not in ("docs", "doc") and path != "setup.py"


def _is_test(path: str) -> bool:
    parts = path.split("/")
    return any(p in ("test", "tests", "testing") for p in parts[:-1]) or parts[-1].startswith("test_")


def _test_module(path: str) -> bool:
    """A module of tests (``test_*.py``), not a helper the tests import."""
    return path.rsplit("/", 1)[-1].startswith("test_")


def _test_subject(name: str) -> str:
    return re.sub(r"^Tests?(?=[A-Z_])|_?Tests?$", "", name).lower().replace("_", "")


def _function_subject(name: str, by_subject: dict[str, str]) -> str | None:
    """The entity group a test function is named after: the longest run of its words after ``test_``
    that names one (``test_barrel_list_insert_at_end`` goes with ``BarrelList``, ``test_isoparse_basic``
    with ``isoparse``)."""
    if not name.startswith("test_"):
        return None
    words = name[len("test_") :].split("_")
    for n in range(len(words), 0, -1):
        group = by_subject.get("".join(words[:n]).lower())
        if group is not None:
            return group
    return None


def _separate_narrowed_imports(before: list[Chunk], after: list[Chunk]) -> list[Chunk]:
    """An import edited in place that drops names is edited in the cleanup commit (code that still uses a
    dropped name keeps it until then); one that also gains names becomes a new statement (its old form
    leaves in the cleanup commit), since no single step could both add and drop them."""
    old = {c.key: c for c in before}
    out: list[Chunk] = []
    for chunk in after:
        previous = old.get(chunk.key)
        if chunk.key[0] in ("from", "import") and previous is not None and previous.text != chunk.text:
            dropped, gained = _names(previous.text) - _names(chunk.text), _names(chunk.text) - _names(previous.text)
            if dropped and gained:
                chunk = Chunk((*chunk.key, chunk.text), chunk.text, chunk.group)
            elif dropped:
                chunk = Chunk(chunk.key, chunk.text, CLEANUP)
        out.append(chunk)
    return out


def _names(text: str) -> set[str]:
    return {name for node in ast.parse(textwrap.dedent(text)).body for name in _bound_names(node)}


def micro_commits(
    old: dict[str, bytes], new: dict[str, bytes], version: str, package: str
) -> list[tuple[str, dict[str, bytes | None]]]:
    """The commits that take ``old`` to ``new``: (message, {path: content, or None to delete})."""
    changed = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    split: dict[str, tuple[list[Chunk], list[Chunk]]] = {}
    whole: list[str] = []
    for path in changed:
        pair = None
        if _splittable(path) and path in old and path in new:
            try:
                before, after = chunks(old[path].decode()), chunks(new[path].decode())
            except UnicodeDecodeError:
                before = after = None
            if before is not None and after is not None:
                pair = (before, _separate_narrowed_imports(before, after))
        if pair is None:
            whole.append(path)
        else:
            split[path] = pair

    # entity groups in the package's modules (the order the new release defines them), then test classes
    package_groups: list[str] = []
    for path, (before, after) in split.items():
        if _is_test(path):
            continue
        old_text = {c.key: c.text for c in before}
        new_keys = {c.key for c in after}
        removed = [c for c in before if c.key not in new_keys]
        for chunk in [*(c for c in after if old_text.get(c.key) != c.text), *removed]:
            if chunk.group in (MODULE_LEVEL, RELEASE, ALL, CLEANUP):
                continue
            if chunk.group not in package_groups:
                package_groups.append(chunk.group)
    by_subject = {_test_subject(g): g for g in package_groups}
    test_groups: list[str] = []

    def regroup(path: str, chunk: Chunk) -> Chunk:
        """A test module's chunk: in the entity group its class is named after, or a group of its own."""
        if chunk.group in (MODULE_LEVEL, RELEASE, ALL, CLEANUP):
            return chunk
        group = by_subject.get(_test_subject(chunk.group)) or _function_subject(chunk.group, by_subject)
        group = group or f"{path}::{chunk.group}"
        return Chunk(chunk.key, chunk.text, group)

    for path in list(split):
        if _is_test(path):
            before, after = split[path]
            split[path] = ([regroup(path, c) for c in before], [regroup(path, c) for c in after])
            old_text = {c.key: c.text for c in split[path][0]}
            new_keys = {c.key for c in split[path][1]}
            for chunk in split[path][1] + split[path][0]:
                changed_chunk = old_text.get(chunk.key) != chunk.text or chunk.key not in new_keys
                if chunk.group.startswith(f"{path}::") and changed_chunk:
                    if chunk.group not in test_groups:
                        test_groups.append(chunk.group)

    order = [MODULE_LEVEL, *package_groups, *test_groups, ALL, CLEANUP, RELEASE]

    def applied_upto(n: int) -> Callable[[str], bool]:
        done = set(order[:n])

        def applied(group: str) -> bool:
            return group in done

        return applied

    # Check each split file: every intermediate parses, and all groups applied give the new release.
    states: dict[str, list[str]] = {}
    for path, (before, after) in list(split.items()):
        texts: list[str] = []
        ok = True
        for n in range(len(order) + 1):
            applied = applied_upto(n)
            # removed module-level statements wait for CLEANUP; added/modified ones go with MODULE_LEVEL
            removed_module_level = {c.key for c in before if c.group == MODULE_LEVEL} - {c.key for c in after}

            def applied_for(group: str, applied: Callable[[str], bool] = applied) -> bool:
                return applied(group)

            text = _render_cleanup(before, after, applied_for, removed_module_level, applied(CLEANUP))
            if text is None:
                ok = False
                break
            try:
                ast.parse(text)
            except SyntaxError:
                ok = False
                break
            texts.append(text)
        if not ok or texts[-1] != new[path].decode():
            del split[path]
            whole.append(path)
        else:
            states[path] = texts

    steps: list[tuple[str, dict[str, bytes | None]]] = []
    current = {p: old[p].decode() for p in split}
    for n, group in enumerate(order, start=1):
        delta: dict[str, bytes | None] = {}
        for path, texts in states.items():
            if texts[n] != current[path]:
                delta[path] = texts[n].encode()
                current[path] = texts[n]
        # A module the package gains arrives with the first step: nothing imports it yet, and the code that will
        # import it (changed in the steps before the release's) finds it (pluggy 1.7.0's _caller.py, imported by
        # _hooks.py's first step: every tree up to the release failed to import, and pytest, which runs on
        # pluggy, with it).
        for path in whole if group in (MODULE_LEVEL, RELEASE) else ():
            if (group == MODULE_LEVEL) == (_splittable(path) and not _test_module(path) and path not in old):
                delta[path] = new.get(path)
        if not delta:
            continue
        touched = ", ".join(sorted({p.rsplit("/", 1)[-1] for p in delta}))
        if group == MODULE_LEVEL:
            message = f"imports and module code ({touched})"
        elif group == ALL:
            message = f"__all__ ({touched})"
        elif group == CLEANUP:
            message = f"remove unused module code ({touched})"
        elif group == RELEASE:
            message = f"release {package} {version}: docs, packaging, version ({len(delta)} files)"
        elif "::" in group:
            message = f"tests: {group.split('::', 1)[1]} ({touched})"
        else:
            message = f"{group} ({touched})"
        steps.append((message, delta))
    return steps


def _render_cleanup(
    before: list[Chunk],
    after: list[Chunk],
    applied: Callable[[str], bool],
    removed_module_level: set[tuple[str, ...]],
    cleanup: bool,
) -> str | None:
    """``render``, with removed module-level statements kept until the cleanup step."""
    kept = [c if c.key not in removed_module_level else Chunk(c.key, c.text, CLEANUP) for c in before]

    def applied_or_cleanup(group: str) -> bool:
        return cleanup if group == CLEANUP else applied(group)

    return render(kept, after, applied_or_cleanup)


# -- the repository -----------------------------------------------------------------------------------


# A module needing a module outside the tree that is not installed (lark's __pyinstaller hook imports PyInstaller,
# an optional dependency) imports as it does in the release: not this micro-commit's doing.
_IMPORTS = """
import importlib, pkgutil, sys
roots = set(sys.argv[1:])
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        try:
            importlib.import_module(info.name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in roots:
                raise
"""


_NOT_IMPORTED = frozenset({"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "scripts"})


def importable(tree: Path, python: str) -> bool:
    """Do the tree's packages (under ``src/`` when it has one, else its top directories with an
    ``__init__.py`` but tests, docs and examples) and every module in them import with ``python`` (a module
    needing an uninstalled module outside the tree counts as importing)?"""
    base = tree / "src" if (tree / "src").is_dir() else tree
    packages = [p.name for p in sorted(base.iterdir()) if (p / "__init__.py").is_file() and p.name not in _NOT_IMPORTED]
    if not packages:
        return True
    done = subprocess.run(
        [python, "-c", _IMPORTS, *packages],
        cwd=base,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(base), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return done.returncode == 0


def build(package: str, versions: list[str], cache: Path, out: Path, python: str = "") -> int:
    """Write the history into a new git repository at ``out``; the number of commits. With ``python``,
    a micro-commit whose tree does not import (see :func:`importable`) is merged into the next one."""
    read = [read_sdist(sdist(package, v, cache)) for v in versions]
    skipped = incomplete(read)
    for i, missing in skipped.items():
        print(
            f"skipping {versions[i]}: its sdist lacks {len(missing)} Python files ({', '.join(missing[:3])}...)",
            file=sys.stderr,
        )
    versions = [v for i, v in enumerate(versions) if i not in skipped]
    releases = consistent_layouts([r for i, r in enumerate(read) if i not in skipped])
    out.mkdir(parents=True, exist_ok=False)
    subprocess.run(["git", "init", "-q", "-b", "main", str(out)], check=True)
    clock = [1_700_000_000]

    def write(delta: dict[str, bytes | None]) -> None:
        for path, content in delta.items():
            target = out / path
            if content is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)

    def commit(message: str, delta: dict[str, bytes | None]) -> None:
        write(delta)
        clock[0] += 60
        stamp = f"{clock[0]} +0000"
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "release-history",
            "GIT_AUTHOR_EMAIL": "release-history@localhost",
            "GIT_COMMITTER_NAME": "release-history",
            "GIT_COMMITTER_EMAIL": "release-history@localhost",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
        subprocess.run(["git", "-C", str(out), "add", "-A", "-f", "."], check=True, env=env)
        subprocess.run(["git", "-C", str(out), "commit", "-q", "--allow-empty", "-m", message], check=True, env=env)

    count = 0
    previous: dict[str, bytes] = {}
    for version, files in zip(versions, releases, strict=True):
        if not previous:
            commit(f"{package} {version}", dict(files.items()))
            count += 1
        else:
            steps = micro_commits(previous, files, version, package)
            check = bool(python) and importable(out, python)  # a release that does not import: nothing to keep
            pending: list[str] = []
            merged: dict[str, bytes | None] = {}
            for n, (message, delta) in enumerate(steps):
                pending.append(message)
                merged.update(delta)
                if check and n < len(steps) - 1:
                    write(delta)
                    if not importable(out, python):
                        continue  # a name imported before the commit defining it, say: goes with the next
                commit("; ".join(pending) if len(pending) < 4 else f"{pending[0]} (+{len(pending) - 1} more)", merged)
                count += 1
                pending, merged = [], {}
        _check(out, files)
        subprocess.run(["git", "-C", str(out), "tag", f"v{version}"], check=True)
        previous = files
    return count


def _check(out: Path, files: dict[str, bytes]) -> None:
    listed = subprocess.run(["git", "-C", str(out), "ls-files", "-z"], capture_output=True, check=True).stdout.split(
        b"\0"
    )
    tracked = {p.decode() for p in listed if p}
    differing = sorted(tracked ^ set(files)) or [p for p, c in files.items() if (out / p).read_bytes() != c]
    if differing:
        raise SystemExit(
            f"the built tree differs from the release ({', '.join(differing[:5])}): a bug in the splitting"
        )


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("package", help="the PyPI name")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--versions", nargs="+", help="the releases, oldest first")
    which.add_argument("--last", type=int, help="the newest N final releases")
    parser.add_argument("--out", required=True, help="the new repository's directory (must not exist)")
    parser.add_argument("--cache", default=str(Path.home() / ".cache" / "release-history"), help="sdist cache")
    parser.add_argument(
        "--importable",
        default="",
        metavar="PYTHON",
        help="merge a micro-commit whose packages do not import with PYTHON into the next one",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    versions = args.versions or final_versions(args.package)[-args.last :]
    count = build(args.package, versions, Path(args.cache), Path(args.out), args.importable)
    print(f"{args.out}: {count} commits, releases {versions[0]} .. {versions[-1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
