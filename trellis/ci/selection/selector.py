"""Affected-test selection for ``pytest`` stages, over the trees of a repository.

Wraps :mod:`trellis.ci.selection.index` for the engine: the test index of a tree is built
from its Python files and pytest configuration (read from git, per-file facts
cached by content so a micro-commit re-reads one file), kept per tree id, and
asked which tests can reach a commit's semantic changes, with the parent's
index for what was removed. The code ``exec``/``eval`` ran while tests ran
(:mod:`trellis.ci.selection.observed`) is part of the index: a tree's index is
rebuilt when what was observed in its repository changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from trellis import semantic_diff, vcs

from .file_rules import is_config
from .index import FactCache, Selection, TestIndex, changes_from_diff, missed_failures
from .observed import Observations
from .pytest_config import doctest_globs, read_config
from .reuse import closure_keys

__all__ = ["TestSelector"]

log = logging.getLogger("trellis.ci")
_OBSERVE_WAIT_S = 30.0


def _tree_entries(store: vcs.Store, repository: str, tree_id: str, args: Sequence[str]) -> dict[str, str | None]:
    """Every file of a tree: the blob id of Python files, pytest configuration and the text files of doctests
    pytest collects under the stage's ``args`` (whether one holds examples decides whether it is an item), None
    for the others (only their names count)."""
    blobs = store.tree_blobs(repository, tree_id)
    entries = {path: blob if path.endswith(".py") or is_config(path) else None for path, blob in blobs.items()}
    config = read_config(
        {path: store.read_blob(repository, blob) or b"" for path, blob in entries.items() if blob and is_config(path)}
    ).with_args(args)
    for path, blob in blobs.items():
        if entries[path] is None and config.is_doctest_file(path):
            entries[path] = blob
    return entries


def _index_key(entries: Mapping[str, str | None]) -> bytes:
    """What a tree's index depends on: the paths, and the content of its Python and configuration files."""
    digest = hashlib.blake2b(digest_size=20)
    for path in sorted(entries):
        oid = entries[path]
        digest.update(f"{path}\0{oid if oid is not None else ''}\n".encode())
    return digest.digest()


def _read(store: vcs.Store, repository: str, entries: Mapping[str, str | None]) -> dict[str, bytes]:
    return {
        path: (store.read_blob(repository, oid) or b"") if oid is not None else b"" for path, oid in entries.items()
    }


class TestSelector:
    __test__ = False  # not a pytest test class

    def __init__(self, *, trees: int = 32, observations: Observations | None = None) -> None:
        self.observations = observations if observations is not None else Observations()
        # Observations are kept off the verdict's path, one at a time; a selection in the repository waits.
        self._observer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trellis-observe")
        self._observing: dict[str, Future[None]] = {}
        self._facts = FactCache()
        self._indexes: OrderedDict[str, TestIndex] = OrderedDict()
        self._by_content: OrderedDict[bytes, TestIndex] = OrderedDict()
        self._max = trees
        self._guard = threading.Lock()

    def index(self, store: vcs.Store, repository: str, tree_id: str, *, args: Sequence[str] = ()) -> TestIndex:
        """The test index of a tree; a tree whose paths, Python files and configuration equal another's
        (a commit that edited only docs or data) shares that tree's index instead of building its own.
        ``args``: the stage's pytest arguments (their ``--doctest-glob`` patterns name items)."""
        version, sites = self.observations.sites(repository)
        globs = doctest_globs(args)
        args = tuple(f"--doctest-glob={glob}" for glob in globs)
        tree_key = f"{tree_id}:{version}" + "".join(f"\0{glob}" for glob in globs)
        with self._guard:
            found = self._indexes.get(tree_key)
            if found is not None:
                self._indexes.move_to_end(tree_key)
                return found
        entries = _tree_entries(store, repository, tree_id, args)
        key = _index_key(entries) + version.encode() + "".join(f"\0{glob}" for glob in globs).encode()
        with self._guard:
            built = self._by_content.get(key)
        if built is None:
            built = TestIndex.build(_read(store, repository, entries), cache=self._facts, observed=sites, args=args)
        with self._guard:
            self._indexes[tree_key] = built
            self._by_content[key] = built
            self._by_content.move_to_end(key)
            while len(self._indexes) > self._max:
                self._indexes.popitem(last=False)
            while len(self._by_content) > self._max:
                self._by_content.popitem(last=False)
        return built

    def select(
        self,
        store: vcs.Store,
        repository: str,
        tree_id: str,
        old_tree_id: str,
        diff: semantic_diff.DiffResult,
        *,
        inert: Sequence[str] = (),
        always_full: Sequence[str] = (),
        args: Sequence[str] = (),
        environment_changed: str = "",
        load_tests: bool = False,
        salt: str | None = None,
    ) -> Selection:
        """The tests of ``tree_id`` that can observe ``diff`` (from ``old_tree_id``; "" for none).

        ``inert`` / ``always_full``: the stage's globs, ``args`` its pytest arguments,
        ``environment_changed`` a file that changed what its environment installs, ``load_tests``
        whether it honours unittest's ``load_tests`` (see :meth:`TestIndex.select`). ``salt``: what
        the tests' closure keys hash beside files (:func:`closure_keys`); None: no test counts as
        observed, every test through code exec/eval ran may run any code.
        """
        self._settled(repository)
        index = self.index(store, repository, tree_id, args=args)
        old = self.index(store, repository, old_tree_id, args=args) if old_tree_id else None
        seen: set[str] = set()  # tests the selection counted as observed in the tree before
        asked = False
        reads = self.observations.reads(repository)

        def observed(tests: Iterable[str]) -> set[str]:
            nonlocal asked
            asked = True
            if old is None or salt is None:
                return set()
            blobs = store.tree_blobs(repository, old_tree_id)
            keys = closure_keys(old, blobs, tests, salt=salt, inert=inert, observed=True, reads=reads)
            found = self.observations.observed(repository, keys)
            seen.update(found)
            return found

        selection = index.select(
            changes_from_diff(diff),
            old_index=old,
            inert=inert,
            always_full=always_full,
            args=args,
            environment_changed=environment_changed,
            load_tests=load_tests,
            observed=observed,
            file_reads=reads,
        )
        if old is not None and salt is not None and not selection.run_all:
            if not asked and not selection.tests:  # no code changed: every test observed before is unaffected
                observed(t for t in old.tests if old.observable(t))
            carried = seen.difference(selection.tests)
            if carried:
                self._carry(store, repository, tree_id, sorted(carried), salt=salt, inert=inert)
        return selection

    def _carry(
        self, store: vcs.Store, repository: str, tree_id: str, tests: Sequence[str], *, salt: str, inert: Sequence[str]
    ) -> None:
        """Remember ``tests`` (observed in the tree the selection compared against, and not selected) as observed
        in ``tree_id`` too, under their closure key there (see "Carried over" in :mod:`.observed`). In the
        background, as an observation; the next :meth:`select` in the repository waits for it."""

        def work() -> None:
            try:
                reads = self.observations.reads(repository)
                index = self.index(store, repository, tree_id)
                keys = closure_keys(
                    index,
                    store.tree_blobs(repository, tree_id),
                    tests,
                    salt=salt,
                    inert=inert,
                    observed=True,
                    reads=reads,
                )
                self.observations.add_keys(repository, keys)
            except Exception:  # noqa: BLE001 - losing an observation costs runs, never a verdict
                log.exception("could not carry observations over to %s in %s", tree_id, repository)

        with self._guard:
            self._observing[repository] = self._observer.submit(work)

    def observe(
        self,
        store: vcs.Store,
        repository: str,
        tree_id: str,
        evals: Sequence[str],
        ran: Iterable[str],
        *,
        salt: str,
        inert: Sequence[str] = (),
    ) -> None:
        """After a job that ran ``ran`` (test ids) to the end in ``tree_id``: merge the code exec/eval ran
        (``evals``, the plugin's records), then remember each of those tests as observed under its closure
        key — computed with what is now known, which holds everything this run evaluated. Done in the
        background; the next :meth:`select` in the repository waits for it."""
        ran = list(ran)

        def work() -> None:
            try:
                self._observe(store, repository, tree_id, evals, ran, salt=salt, inert=inert)
            except Exception:  # noqa: BLE001 - losing an observation costs runs, never a verdict
                log.exception("could not keep what exec/eval ran in %s", repository)

        with self._guard:
            self._observing[repository] = self._observer.submit(work)

    def _settled(self, repository: str) -> None:
        """Wait for the repository's observation in progress, if any (bounded: a slow one costs runs)."""
        with self._guard:
            pending = self._observing.get(repository)
        if pending is not None:
            try:
                pending.result(timeout=_OBSERVE_WAIT_S)
            except Exception:  # noqa: BLE001, S110 - a timeout or a failure: selection goes on without it
                pass

    def _observe(
        self,
        store: vcs.Store,
        repository: str,
        tree_id: str,
        evals: Sequence[str],
        ran: Sequence[str],
        *,
        salt: str,
        inert: Sequence[str],
    ) -> None:
        before, _ = self.observations.sites(repository)
        if not self.observations.add_code(repository, evals):
            return
        version, sites = self.observations.sites(repository)
        if version != before:  # the tree's index stands for the new version too if nothing it counts changed
            with self._guard:
                found = self._indexes.get(f"{tree_id}:{before}")
            if found is not None and found.observed_alike(sites):
                with self._guard:
                    self._indexes[f"{tree_id}:{version}"] = found
        index = self.index(store, repository, tree_id)
        reads = self.observations.reads(repository)
        through = [t for t in ran if index.observable(t)]
        if through:
            blobs = store.tree_blobs(repository, tree_id)
            keys = closure_keys(index, blobs, through, salt=salt, inert=inert, observed=True, reads=reads)
            self.observations.add_keys(repository, keys)

    @staticmethod
    def missed(selection: Selection, full_results: Mapping[str, str]) -> tuple[str, ...]:
        return missed_failures(selection, full_results)
