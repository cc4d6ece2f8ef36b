"""Per-test result reuse: a test whose whole dependency closure is unchanged since it passed is not run again.

A test's key hashes its *closure*: the content (git blob id) of every Python
file whose code the test may run, as test selection's reach analysis bounds it
(:meth:`trellis.ci.selection.index.TestIndex.reached_files`, the test's own file among
them); every ``conftest.py``, every pytest and packaging configuration file
and every non-Python file that is not inert (only the stage's ``inert`` globs
leave a non-Python file out: docs count, since a test may read one), and every Python file read as data (one no
one imports: :mod:`trellis.ci.selection.python_data`); the stage's definition, its environment's
digest, and the toolchain. A test that passed under a key passes again under
it, on any branch of the repository: Bazel-style caching at test granularity.

Precision first: no key — hence a run — when the analysis cannot bound the
test (a dynamic reach, a file of code that does not parse, a test it does not know,
such as a doctest) or when a full run was asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.globs import matches_any
from .file_reads import DIST_SUFFIXES, ReadIndex, under
from .file_rules import is_inert_kind
from .generated_tests import GENERATED
from .index import TestIndex
from .pytest_config import CONFIG_FILES

__all__ = ["Reused", "TestResults", "closure_keys", "owners", "passed_tests"]


@dataclass(frozen=True, slots=True)
class Reused:
    """Where a reused result comes from: the run and commit in which the test passed."""

    run_id: str
    commit_id: str
    duration_ms: int


def closure_keys(
    index: TestIndex,
    blobs: Mapping[str, str],
    tests: Iterable[str],
    *,
    salt: str,
    inert: Sequence[str],
    observed: bool = False,
    reads: ReadIndex | None = None,
) -> dict[str, str]:
    """The reuse key of each test whose closure is known (``blobs``: path -> blob id of the tree).

    ``salt`` stands for what every test depends on beyond files: the stage definition, the
    environment, the toolchain and the repository. ``observed``: also for the tests reaching code
    exec/eval ran, bounded by what was observed (the key of their observation, not of a result); a
    file inert by kind (docs, stubs) then counts only for the tests whose code names it, and a
    configuration file by the parts test runs depend on, as test selection counts them.
    ``reads``: what functions of the tree were observed to read and list (:mod:`.file_reads`): the files the
    functions a test reaches read (their content, or their absence) and the entries of the directories they list.
    """
    if index.errors or index.config.unsupported:
        return {}
    shared = hashlib.sha256(salt.encode())
    for path in sorted(blobs):
        name = posixpath.basename(path)
        if (
            name == "conftest.py"
            or name in CONFIG_FILES
            or name.endswith(".pth")
            or name.startswith("requirements")
            or (
                not path.endswith(".py")
                and not matches_any(inert, path)
                and not (observed and is_inert_kind(path, index.config.linters))
            )
        ):
            # Observed: of configuration, what selection reads of it (other tools' sections do not count).
            content = index.config_digests.get(path, blobs[path]) if observed else blobs[path]
            shared.update(f"{path}\0{content}\n".encode())
    base = shared.hexdigest()
    kinds = (
        [
            p
            for p in sorted(blobs)
            if not p.endswith(".py") and is_inert_kind(p, index.config.linters) and not matches_any(inert, p)
        ]
        if observed
        else []
    )
    # A Python file read as data (no one imports it): for the tests whose code names it, as selection counts it.
    kinds += [p for p in sorted(index.data_files) if p in blobs and not matches_any(inert, p)]
    keys: dict[str, str] = {}
    entries: dict[str, set[str]] | None = None  # directory -> its entries (what listing it gives)
    for nodeid in tests:
        files = index.reached_files(nodeid, observed=observed)
        if files is None or any(f not in blobs for f in files):
            continue
        h = hashlib.sha256(f"{base}\0{nodeid}\n".encode())
        for path in sorted(files):
            h.update(f"{path}\0{blobs[path]}\n".encode())
        for path in sorted(index.named_files(nodeid, kinds)) if kinds else ():
            h.update(f"{path}\0{blobs[path]}\n".encode())
        read = index.read_by(nodeid, reads) if reads else None
        if read is not None and (read.files or read.dirs or read.whole or read.dists):
            for path in sorted(read.files):
                h.update(f"read {path}\0{blobs.get(path, '')}\n".encode())
            if read.dirs and entries is None:
                entries = _entries(blobs)
            for folder in sorted(read.dirs):
                listed = sorted(entries.get(folder, ())) if entries is not None else []
                h.update(f"listed {folder}\0{'/'.join(listed)}\n".encode())
            if read.dists and entries is None:
                entries = _entries(blobs)
            for folder in sorted(read.dists):  # what a finder of distributions looks at
                found = entries.get(folder, ()) if entries is not None else ()
                listed = sorted(e for e in found if e.lower().endswith(DIST_SUFFIXES))
                h.update(f"dists {folder}\0{'/'.join(listed)}\n".encode())
            for folder in sorted(read.whole):
                for path in sorted(p for p in blobs if under(p, folder)):
                    h.update(f"under {path}\0{blobs[path]}\n".encode())
        keys[nodeid] = h.hexdigest()
    return keys


def _entries(blobs: Mapping[str, str]) -> dict[str, set[str]]:
    """Each directory of the tree and its entries (files and directories), as listing it gives them."""
    out: dict[str, set[str]] = {}
    for path in blobs:
        folder, _, name = path.rpartition("/")
        while True:
            names = out.setdefault(folder, set())
            if name in names:
                break
            names.add(name)
            if not folder:
                break
            folder, _, name = folder.rpartition("/")
    return out


def owners(nodeid: str) -> tuple[str, ...]:
    """The static test ids a reported item may belong to: its id without parameters, every id above it
    in the same file (``t.py::load_tests`` owns ``t.py::load_tests::pkg.mod.f``), and its file's ``t.py::*``
    (every item of a module making tests under computed names, :mod:`.generated_tests`)."""
    parts = nodeid.split("[", 1)[0].split("::")
    above = tuple("::".join(parts[:i]) for i in range(len(parts), 1, -1))
    return (*above, f"{parts[0]}::{GENERATED}") if len(parts) > 1 and parts[1] != GENERATED else above


def passed_tests(static_ids: Iterable[str], results: Mapping[str, str]) -> set[str]:
    """The static test ids all of whose reported items passed (a parametrised ``t`` is ``t[1]``, ``t[2]``…;
    a module's ``load_tests`` id, the items under it)."""
    by_owner: dict[str, list[str]] = {}
    for nodeid, outcome in results.items():
        for owner in owners(nodeid):
            by_owner.setdefault(owner, []).append(outcome)
    return {t for t in static_ids if by_owner.get(t) and all(o == "passed" for o in by_owner[t])}


class TestResults:
    """Passing results by closure key: JSON files under ``root`` with an in-memory LRU in front."""

    __test__ = False

    def __init__(self, root: Path, *, memory_entries: int = 100_000) -> None:
        self.root = Path(root)
        self._memory: OrderedDict[str, Reused] = OrderedDict()
        self._limit = memory_entries
        self._guard = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Reused | None:
        with self._guard:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        try:
            data = json.loads(self._path(key).read_bytes())
            found = Reused(str(data["run_id"]), str(data["commit_id"]), int(data["duration_ms"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self._remember(key, found)
        return found

    def put(self, key: str, reused: Reused) -> None:
        self.save([(key, reused)])
        self._remember(key, reused)

    def remember(self, entries: Iterable[tuple[str, Reused]]) -> None:
        """Keep ``entries`` (closure key, result) in memory: :meth:`get` in this process finds them at once.
        :meth:`save` makes them last (a job's results are saved after its verdict: a lookup that misses one
        meanwhile, in another process, runs the test)."""
        for key, reused in entries:
            self._remember(key, reused)

    def save(self, entries: Iterable[tuple[str, Reused]]) -> None:
        """Write ``entries`` to their files (what a restarted server, or another process of it, finds)."""
        made: set[Path] = set()
        suffix = f".{os.getpid()}.{threading.get_ident()}.tmp"
        for key, reused in entries:
            path = self._path(key)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            tmp = path.with_suffix(suffix)
            tmp.write_text(
                json.dumps({"run_id": reused.run_id, "commit_id": reused.commit_id, "duration_ms": reused.duration_ms})
            )
            os.replace(tmp, path)

    def _remember(self, key: str, reused: Reused) -> None:
        with self._guard:
            self._memory[key] = reused
            self._memory.move_to_end(key)
            while len(self._memory) > self._limit:
                self._memory.popitem(last=False)
