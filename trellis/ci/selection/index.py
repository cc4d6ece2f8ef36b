"""Affected-test selection for ``kind = "pytest"``, ``select = "affected"``.

Static analysis of a tree answers which pytest items can reach which code;
given what a commit changed, :meth:`TestIndex.select` returns the items that
can observe it — or ``run_all`` when the analysis cannot be sure. The soundness
argument, the rules and the known holes are in ``docs/test-selection.md``.

Usage (the parent's index is needed for what the commit removed)::

    cache = FactCache()                                   # one per process
    old = TestIndex.build(parent_files, cache=cache)      # path -> bytes of the parent commit
    new = TestIndex.build(files, cache=cache)             # re-parses only changed files
    changes = changes_from_diff(diff_files(old_changed, new_changed))
    selection = new.select(changes, old_index=old)
    if selection.run_all: run the whole suite
    else: run pytest with selection.tests (node ids)
    ...later, after a full run: missed_failures(selection, {nodeid: outcome})

Values are frozen dataclasses; the index is immutable once built.
"""

from __future__ import annotations

import doctest
import fnmatch
import hashlib
import posixpath
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from trellis.semantic_diff import DiffResult, EntityChange, module_name

from ..pipeline.globs import matches_any
from ..project import EXTENSION_SOURCES, entry_points_unstated, read_project
from .file_reads import ReadIndex, SiteReads
from .file_rules import (
    VERSION_FILES,
    config_digest,
    is_config,
    is_inert_kind,
    may_name,
    named_by,
    naming_words,
    split_digest,
)
from .fixtures import FixtureModel
from .generated_tests import GENERATED, generated_tests
from .interpreter_branches import MODULE, patched
from .load_tests import find_load_tests
from .observed import SiteCode
from .pytest_collect import TestItem, collect, runner_files, shared_roots
from .pytest_config import (
    PytestConfig,
    doctest_globs,
    doctest_modules,
    in_paths,
    positional_paths,
    read_config,
    unsupported_args,
)
from .python_data import python_data_files
from .python_refs import DOCTESTS, GETTERS, MAIN, Chain, FileFacts, NodeRefs, Scope, TopLevel, file_facts
from .ref_graph import DISPATCH, INSTANCES, Graph
from .source_readers import generic_line_bits, line_source_bits, reader_bits

__all__ = [
    "Change",
    "ChangedEntity",
    "ChangedPath",
    "FactCache",
    "Selection",
    "TestIndex",
    "changes_from_diff",
    "missed_failures",
]

FAILED_OUTCOMES = frozenset({"failed", "failure", "error", "errored"})
_BODY_DETAILS = frozenset({"body", "docstring", "formatting"})
# A change with only these details leaves the code as it was: only what reads the docstring or the source text
# sees it (:mod:`trellis.ci.selection.source_readers`).
_TEXT_DETAILS = frozenset({"docstring", "formatting"})
# The scopes whose first line a frame, a code object or a traceback carries: functions and methods. A class's own
# line is read only by asking for its source's place (``inspect.getsourcelines(cls)``); its methods count for it
# (every subclass and every test constructing it reaches a class: pyparsing's test base moved two lines, 1,667 tests).
_DEFINITIONS = frozenset({"function", "method"})


@dataclass(frozen=True, slots=True)
class ChangedEntity:
    """A changed Python entity, named as :mod:`semantic_diff` names it.

    ``qualname`` is the semantic-diff qualname (``app.models.User.save``; the
    module's own name, or "", for its top-level code). ``change`` is
    ``added`` | ``removed`` | ``modified`` | ``renamed`` | ``moved`` |
    ``moved_renamed``; a rename or move also needs ``old_path`` and
    ``old_qualname`` (it counts as removing the old entity and adding the new
    one). ``details`` are semantic_diff's (used only without an old index, to
    tell a body change from a change to what runs at definition time).
    """

    path: str
    qualname: str
    change: str = "modified"
    details: tuple[str, ...] = ()
    old_path: str = ""
    old_qualname: str = ""
    lines_kept: bool = False  # its first line and its number of lines the same: no line of it or below it moved

    @classmethod
    def from_change(cls, change: EntityChange) -> ChangedEntity:
        return cls(
            path=change.path,
            qualname=change.qualname,
            change=change.change,
            details=change.details,
            old_path=change.old_path,
            old_qualname=change.old_qualname,
            lines_kept=change.old_start_line == change.new_start_line > 0
            and change.old_end_line - change.old_start_line == change.new_end_line - change.new_start_line,
        )


@dataclass(frozen=True, slots=True)
class ChangedPath:
    """A changed file as a whole: ``change`` is ``added`` | ``deleted`` | ``modified``."""

    path: str
    change: str = "modified"


Change = ChangedEntity | ChangedPath


@dataclass(frozen=True, slots=True)
class Selection:
    """The tests to run for a change.

    ``tests``: pytest node ids, sorted (a parametrised test is one id: pytest
    runs all its parameters). ``run_all``: the analysis cannot bound the
    effect — run the whole suite (``tests`` then lists every known test);
    ``reason`` says why, ``path`` names the file that made it and ``rule``
    the rule (one of :data:`FALLBACK_RULES`). ``reasons``: for each selected
    test, the change that selected it (``reaches app.models.User.save
    (modified)``). ``total``: the number of tests the index knows.
    """

    tests: tuple[str, ...]
    run_all: bool = False
    reason: str = ""
    reasons: dict[str, str] = field(default_factory=dict)
    total: int = 0
    path: str = ""
    rule: str = ""

    @property
    def fallback(self) -> str:
        """Why the whole suite (or nearly: rule ``any-code``) runs, for people: ``rule: reason`` ("" when selection
        worked)."""
        return f"{self.rule}: {self.reason}" if self.run_all or self.rule else ""


# Why selection may run the whole suite (Selection.rule).
FALLBACK_RULES = {
    "parse-error": "a Python file does not parse: pytest may fail to collect",
    "pytest-option": "pytest's options run code the analysis does not model (--doctest-modules, …)",
    "always-full": "the file matches the pipeline's always_full globs",
    "configuration": "pytest, project or packaging configuration that can change how tests run",
    "environment": "what the stage's declared environment installs changed",
    "data-file": "a non-Python file a test may read at run time (declare it in the pipeline's inert globs)",
    "root-conftest": "the root conftest.py applies to every test",
    "needs-parent": "a removal is found only in the parent commit's index",
    "unknown-file": "neither tree has the file as a Python file",
    "any-code": "nearly every test is selected because it reaches one node that may run any code",
    "nearly-all": "nearly every test reaches the changed code (the reason names the widest route to it)",
}
# The rules of a selection that runs only the tests selected, nearly every test (not the whole suite).
NEARLY_ALL_RULES = ("any-code", "nearly-all")
# A selection of nearly every test that one node which may run any code made is reported as a fallback (rule
# ``any-code``, the node's file as its path) though it runs only the tests selected: at least this share of the
# tests, more than a handful, at least half of them through that node.
NEARLY_ALL = 0.9
HANDFUL = 10


def _reported(selection: Selection, causes: Mapping[str, str]) -> Selection:
    """``selection`` (nearly every test), reported as the fallback it is when at least half of its tests may run any
    code through one node (or run code not observed for them; ``causes``: test -> that node's reason): whatever the
    change, those tests run."""
    count = len(selection.tests)
    ranked = Counter(causes.values()).most_common(1)
    if not ranked:
        return selection
    cause, through = ranked[0]
    if 2 * through < count:
        return selection
    reason = f"{cause}: {count} of {selection.total} tests selected, {through} through it"
    return replace(selection, reason=reason, path=cause.split("::", 1)[0], rule="any-code")


class FactCache:
    """Per-file facts by (path, content hash), shared between the indexes of successive commits.

    In memory only: the facts leave out branches that cannot run on this process's interpreter, the one jobs
    run on (their environments are venvs of it), so they hold for this process alone. Thread-safe; bounded to ``max_entries`` files (least recently used go first).
    """

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, bytes, bool], FileFacts] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def facts(self, path: str, content: bytes, *, prune: bool = True) -> FileFacts:
        key = (path, hashlib.blake2b(content, digest_size=16).digest(), prune)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
        facts = file_facts(path, content, prune=prune)
        with self._lock:
            self.misses += 1
            self._entries[key] = facts
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return facts

    def __len__(self) -> int:
        return len(self._entries)


class TestIndex:
    """Which pytest items of one tree can reach which code. Build with :meth:`build`."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        graph: Graph,
        config: PytestConfig,
        errors: dict[str, str],
        reach: dict[str, int],
        paths: frozenset[str],
        cache: FactCache,
        config_digests: Mapping[str, str] | None = None,
        doctests: Mapping[str, int] | None = None,
        load_tests: Mapping[str, int] | None = None,
        opaque: Mapping[str, str] | None = None,
        writers: Mapping[str, tuple[str, ...]] | None = None,
        doc_named: bool = True,
        data_files: frozenset[str] = frozenset(),
        doctests_known: bool = False,
    ) -> None:
        self._graph = graph
        # The .py files that neither pytest nor code of the tree imports (:mod:`.python_data`): data to the tests;
        # ``doctests_known``: with pytest collecting every module's doctests (as its stage's arguments say).
        self.data_files = data_files
        self._data_errors = {path: error for path, error in errors.items() if path in data_files}
        self._doctests_known = doctests_known
        errors = {path: error for path, error in errors.items() if path not in data_files}
        # May the tree make the string "__doc__" (source_readers.reader_bits)?
        self._doc_named = doc_named
        # test file -> its items whose function stores into state outliving it (FileFacts.state_writers)
        self._writers = dict(writers or {})
        self.config = config
        self.errors = errors
        self._reach = reach
        self._doctests = dict(doctests or {})
        self.doctests: tuple[str, ...] = tuple(sorted(self._doctests))
        self._load_tests = dict(load_tests or {})
        self._opaque = dict(opaque or {})  # load_tests ids whose reach the analysis cannot bound: why
        self.load_tests: tuple[str, ...] = tuple(sorted(self._load_tests))
        self.paths = paths
        self.cache = cache
        self.config_digests = dict(config_digests or {})
        self.tests: tuple[str, ...] = tuple(sorted(reach))
        self._naming: dict[str, int] = {}  # inert-by-kind path -> the nodes whose strings name it
        # The nodes with string constants: (node, its words, whether one is an extension or a glob), and the
        # directories holding Python files, computed once for every path _mark_naming is asked about.
        self._wording: tuple[list[tuple[int, AbstractSet[str], bool]], set[str]] | None = None
        # The nodes (bits) that may read what a change of text changed: (line numbers only, docstrings, source text).
        self._readers: dict[tuple[bool, bool, bool, bool], int] = {}
        # The nodes reading a ``lineno`` of an object of unknown type, and where a line of the code enters a value.
        self._line_readers: tuple[int, int] | None = None
        self._dirs: frozenset[str] | None = None  # every directory holding a file of the tree (_has_dir)
        self._read_nodes: tuple[ReadIndex, list[tuple[int, SiteReads]]] | None = None  # (read_by)

    @classmethod
    def build(
        cls,
        files: Mapping[str, bytes],
        *,
        cache: FactCache | None = None,
        observed: Mapping[str, SiteCode] | None = None,
        args: Sequence[str] = (),
    ) -> TestIndex:
        """Index a tree: ``files`` maps every repo-relative path of a commit to its content; ``observed``:
        the code ``exec``/``eval`` ran at each site, as tests ran (:mod:`trellis.ci.selection.observed`);
        ``args``: a stage's own pytest arguments, whose ``--doctest-glob`` patterns name text files of doctests
        (their content is needed, to tell which hold examples)."""
        cache = cache if cache is not None else FactCache()
        facts: dict[str, FileFacts] = {}
        errors: dict[str, str] = {}
        for path, content in files.items():
            if not path.endswith(".py"):
                continue
            found = cache.facts(path, content)
            if found.error:
                errors[path] = found.error
            else:
                facts[path] = found
        # Branches left out as unable to run on this interpreter count again in a file whose conditions a
        # file of the tree may set (``monkeypatch.setattr(sys, "platform", "win32")``).
        relied = {name for f in facts.values() for name in f.conditions}
        if relied:
            sources = [content for path, content in files.items() if path.endswith(".py")]
            again = patched(relied, sources)
            for marker in (n for n in relied if n.startswith(MODULE)):  # ``import six`` may be the tree's own
                module = marker[len(MODULE) :]
                if any(posixpath.basename(p) == f"{module}.py" or p.endswith(f"{module}/__init__.py") for p in files):
                    again.add(marker)
            for path, found in list(facts.items()):
                if again.intersection(found.conditions):
                    facts[path] = cache.facts(path, files[path], prune=False)
        config = _installed(read_config(files), files).with_args(args)
        if any(fnmatch.fnmatchcase(posixpath.basename(p), "test*.y*ml") for p in files):
            # pytest-mypy-plugins' cases (attrs' tests/test_mypy.yml): collected without an option, they run mypy
            config = replace(config, linters=config.linters | {"mypy"})
        graph = Graph(facts, config, observed)
        fixtures = FixtureModel(graph)
        reach: dict[str, int] = {}
        writers: dict[str, tuple[str, ...]] = {}
        collected = collect(graph)
        for path, items in collected.items():
            if not items:
                continue
            written = tuple(
                item.nodeid
                for item in items
                if graph.node_scope[item.function].qualname in graph.facts[graph.node_path[item.function]].state_writers
            )
            if written:
                writers[path] = written
            shared = shared_roots(graph, path)
            files_bits = graph.context_files(path, [*shared, *(r for item in items for r in item.roots)])
            # A test defined in another module (a runner module gathering tests: lark's tests/__main__.py) reads
            # names from unknown objects in that module's import closure, as it would were that module collected
            # itself (pytest imports every test module either way), not in every module the runner imports.
            groups: dict[str, list[TestItem]] = {}
            for item in items:
                groups.setdefault(graph.node_path[item.function], []).append(item)
            for home, group in groups.items():
                if home == path:
                    bits = files_bits
                else:
                    own = [r for item in group for r in item.roots]
                    bits = runner_files(graph, path, shared, own, groups.keys() - {home})
                reach.update(fixtures.reach(group, shared, bits))
        # Test modules whose import may make tests under computed names: one more id each, ``path::*``, every
        # item pytest collects from the file (:mod:`.generated_tests`).
        reach.update(generated_tests(graph, files, collected))
        # The doctest items of each module with examples (``--doctest-modules``): one id per module, its path.
        doctests: dict[str, int] = {}
        for path in graph.paths:
            node = graph.node_of.get((path, DOCTESTS))
            if node is None:
                continue
            shared = shared_roots(graph, path, every_fixture=True)
            files_bits = graph.context_files(path, [*shared, node]) | graph.import_closure(
                path, graph.node_scope[node].refs.imports
            )
            doctests.update(graph.reach({path: (node,)}, shared, files_bits))
        # What each test module's load_tests adds (a stage's ``load_tests = true``): one id per module,
        # reaching the function and the doctests of the modules its DocTestSuite calls name.
        load_tests: dict[str, int] = {}
        opaque: dict[str, str] = {}
        for path in graph.paths:
            if not config.is_test_file(path) or graph.facts[path].not_a_test:
                continue
            spec = find_load_tests(graph, path, files[path])
            if spec is None:
                continue
            shared = shared_roots(graph, path, every_fixture=True)
            roots = (*((spec.function,) if spec.function is not None else ()), *spec.roots)
            files_bits = graph.context_files(path, [*shared, *roots])
            bits = graph.reach({spec.nodeid: roots}, shared, files_bits)[spec.nodeid]
            for module in spec.modules:
                bits |= doctests.get(module, 0)
            load_tests[spec.nodeid] = bits
            if spec.opaque:
                opaque[spec.nodeid] = spec.opaque
        # Text files of doctests (``--doctest-glob``, pytest's default ``test*.txt``): an item per file with
        # examples, whose code is not analysed: it runs whenever code changes, and when its file changes.
        for path, content in files.items():
            if config.is_doctest_file(path) and _has_examples(content):
                nodeid = _text_doctest(path)
                reach[nodeid] = 0
                opaque[nodeid] = f"{path} holds doctests pytest collects (--doctest-glob)"
        digests = {path: config_digest(path, content) for path, content in files.items() if is_config(path)}
        # Python files no one imports are data (parso's normalizer cases): one that does not parse breaks nothing.
        reached = 0
        for bits in (*reach.values(), *doctests.values(), *load_tests.values()):
            reached |= bits
        data_files = python_data_files(graph, errors, args, reached)
        return cls(
            graph=graph,
            config=config,
            errors=errors,
            reach=reach,
            paths=frozenset(files),
            data_files=data_files,
            doctests_known=config.doctest_modules or doctest_modules(args),
            cache=cache,
            config_digests=digests,
            doctests=doctests,
            load_tests=load_tests,
            opaque=opaque,
            writers=writers,
            doc_named=any(f.names_doc for f in facts.values())
            or any(b"__doc__" in content for path, content in files.items() if not path.endswith(".py")),
        )

    @classmethod
    def update(cls, old: TestIndex, files: Mapping[str, bytes]) -> TestIndex:
        """The index of another tree, re-reading only the files whose content changed."""
        return cls.build(files, cache=old.cache)

    # -- introspection ------------------------------------------------------------------------

    def reaches(self, nodeid: str) -> tuple[str, ...]:
        """The entities (semantic-diff qualnames) a test may run, for explanations and debugging."""
        reach = self._known()[nodeid]
        graph = self._graph
        return tuple(sorted(self._display(n) for n in range(graph.size) if reach >> n & 1))

    def reached_files(self, nodeid: str, *, observed: bool = False) -> frozenset[str] | None:
        """The Python files whose code a test may run (its own among them); None when the analysis
        cannot bound it (a dynamic reach), or the test is unknown. For per-test result reuse.

        A test that reaches code ``exec``/``eval`` ran is bounded only by what was observed: None
        for it, unless ``observed`` (the key under which such a test's observation counts). One that
        reaches only ``getattr`` calls bounded by what they fetched reaches, unobserved, any entity of
        its import closure (:meth:`Graph.unbounded_files`)."""
        reach = self._known().get(nodeid)
        graph = self._graph
        if reach is None or reach & graph.dyn_bit or nodeid in self._opaque:
            return None
        fetching = False
        if reach & graph.observed_bits and not observed:
            if reach & graph.observed_bits & ~graph.fetched_bits:
                return None
            fetching = True
        paths = graph.node_path
        files = {nodeid.split("::", 1)[0]}
        while reach:
            low = reach & -reach
            files.add(paths[low.bit_length() - 1])
            reach ^= low
        return graph.unbounded_files(files) if fetching else frozenset(files)

    def observable(self, nodeid: str) -> bool:
        """Does the test reach a site bounded by what was observed (its closure known under that bound)? Its key
        counts once it ran observed (:mod:`.observed`)."""
        reach = self._known().get(nodeid)
        if reach is None or not reach & self._graph.observed_bits:
            return False
        return self.reached_files(nodeid, observed=True) is not None

    def observed_alike(self, observed: Mapping[str, SiteCode]) -> bool:
        """Is this index also the index of its tree with ``observed`` (:meth:`Graph.observed_alike`)?"""
        return self._graph.observed_alike(observed)

    def named_files(self, nodeid: str, paths: Iterable[str]) -> list[str]:
        """The files of ``paths`` (inert by kind: docs, stubs) that code the test may run names."""
        reach = self._known().get(nodeid, 0)
        out: list[str] = []
        for path in paths:
            bits = self._naming.get(path)
            if bits is None:
                nodes: dict[int, str] = {}
                self._mark_naming(path, nodes)
                bits = self._naming[path] = _bits(nodes)
            if reach & bits:
                out.append(path)
        return out

    def _known(self, doctests: bool = True, load_tests: bool = True) -> dict[str, int]:
        """Every test id's reach: pytest's items, and the doctest modules and load_tests when asked."""
        return {
            **self._reach,
            **(self._doctests if doctests else {}),
            **(self._load_tests if load_tests else {}),
        }

    def _display(self, node: int) -> str:
        path = self._graph.node_path[node]
        qualname = self._graph.node_scope[node].qualname
        module = module_name(path)
        return f"{module}.{qualname}" if qualname else module

    # -- selection ----------------------------------------------------------------------------

    def select(
        self,
        changed: Iterable[Change],
        *,
        old_index: TestIndex | None = None,
        inert: Sequence[str] = (),
        always_full: Sequence[str] = (),
        args: Sequence[str] = (),
        environment_changed: str = "",
        load_tests: bool = False,
        observed: Callable[[Iterable[str]], set[str]] | None = None,
        file_reads: ReadIndex | None = None,
    ) -> Selection:
        """The tests that may observe ``changed`` (this index is the tree *after* the change).

        ``old_index`` is the index of the tree before it: without it a removed
        entity or deleted file selects everything. ``inert`` lists globs of
        files no test reads (``data/fixtures/**``): changing one selects no
        test; ``always_full`` globs of files whose change runs the whole suite;
        ``args`` the stage's own pytest arguments (``--doctest-modules`` there runs everything);
        ``environment_changed``: the file whose change changed what the stage's environment installs;
        ``load_tests``: the stage honours unittest's ``load_tests`` (its ``<module>::load_tests`` ids count).
        ``observed``: which of the given tests ran, observed, under their closure key in the tree before
        the change; a test reaching code ``exec``/``eval`` ran that is not among them is selected, as a
        test that may run any code (see :mod:`trellis.ci.selection.observed`).
        Files :mod:`trellis.ci.selection.file_rules` knows to be inert by kind (stubs, docs,
        manifests) select only the tests reaching code that names them; any
        other non-Python change runs everything (rule ``data-file``).
        ``file_reads``: the files and directories functions of the tree were observed to read and list as tests ran
        (:mod:`trellis.ci.selection.file_reads`): a change to one selects, beyond all of the above, every test
        reaching such a function.
        """
        changes = list(changed)
        with_doctests = self.config.doctest_modules or doctest_modules(args)
        extra = (with_doctests, load_tests)
        # Paths named in the stage's args: pytest collects only those (and not testpaths).
        scope = positional_paths(args, self.paths)
        if scope and self.config.testpaths and not all(self.config.in_testpaths(p.split("::")[0]) for p in scope):
            return self._all(
                f"the stage's args name {', '.join(scope)}, outside testpaths, which the index collects from",
                "trellis.toml",
                "pytest-option",
                extra,
            )
        errors = self.errors
        if with_doctests and not self._doctests_known:  # arguments the index was not built with: pytest imports more
            found = self._data_errors.items()
            errors = {**errors, **{p: e for p, e in found if self.config.imports_at_collection(p, True)}}
        if errors:
            path = sorted(errors)[0]
            return self._all(
                f"{path} does not parse ({errors[path]}); pytest may fail to collect",
                path,
                "parse-error",
                extra,
                scope,
            )
        if self.config.unsupported:
            return self._all(self.config.unsupported, self.config.source, "pytest-option")
        if environment_changed:
            return self._all(
                f"{environment_changed} changed what the stage's environment installs",
                environment_changed,
                "environment",
                extra,
                scope,
            )
        if unsupported_args(args):
            return self._all(unsupported_args(args), "trellis.toml", "pytest-option")
        if not set(doctest_globs(args)) <= set(self.config.doctest_globs):
            return self._all(
                "the stage's args have --doctest-glob, and the index was built without them",
                "trellis.toml",
                "pytest-option",
            )
        new_nodes: dict[int, str] = {}
        old_nodes: dict[int, str] = {}
        forced: dict[str, str] = {}
        imported: dict[int, str] = {}  # module node -> why one test importing it must run
        # Entities whose docstring or formatting alone changed: they count for the tests that reach a reader.
        text_new: dict[int, str] = {}
        text_old: dict[int, str] = {}
        # Of those, the ones whose docstring alone changed (semantic-diff details `docstring`): fewer readers see it.
        doc_new: dict[int, str] = {}
        doc_old: dict[int, str] = {}
        # And of those, the ones whose lines all stayed where they were: fewer still (no line number changed).
        kept_new: dict[int, str] = {}
        kept_old: dict[int, str] = {}
        # And the ones whose comments or formatting alone changed (their docstring the same).
        source_new: dict[int, str] = {}
        source_old: dict[int, str] = {}
        # Definitions a change above them moved: for the tests that reach a reader of line numbers.
        moved_new: dict[int, str] = {}
        moved_old: dict[int, str] = {}
        for change in changes:
            for item in _expand(change):
                fallback = self._affected(
                    item,
                    old_index,
                    new_nodes,
                    old_nodes,
                    forced,
                    imported,
                    inert,
                    always_full,
                    (text_new, text_old, source_new, source_old, doc_new, doc_old, kept_new, kept_old),
                    with_doctests,
                )
                if fallback is not None:
                    return self._all(fallback[0], item.path, fallback[1], extra, scope)
        for path in sorted({item.path for change in changes for item in _expand(change)}):
            self._mark_moved(path, old_index, (moved_new, moved_old))
        if file_reads:
            self._mark_readers(changes, file_reads, old_index, new_nodes, old_nodes)
        candidates = self._known(*extra)
        if scope:
            candidates = {n: r for n, r in candidates.items() if in_paths(n, scope)}
        if not any(
            (new_nodes, old_nodes, forced, imported, text_new, text_old, source_new, source_old, moved_new, moved_old)
            + (doc_new, doc_old, kept_new, kept_old)
        ):
            # No code changed (inert files, configuration parts no test run depends on): even a test that
            # may run any code of the tree runs the same code.
            return Selection(tests=(), total=len(candidates))
        # A test that may run any code counts whatever code changed; definitions that only moved changed no code,
        # only the line numbers of what it reaches (through the readers below).
        code_changed = any(
            (new_nodes, old_nodes, forced, imported, text_new, text_old, source_new, source_old, doc_new, doc_old)
            + (kept_new, kept_old)
        )
        new_bits = _bits(new_nodes)
        old_bits = _bits(old_nodes)
        # What only a reader sees: (the new tree's nodes, the old tree's, their bits, what a reader reads, why).
        seen_by_readers = [
            (new, old, _bits(new), _bits(old), read._asdict(), reads)
            for new, old, read, reads in (
                (text_new, text_old, _Read(), _READS_TEXT),
                (doc_new, doc_old, _Read(text=False), _READS_DOCS),
                (kept_new, kept_old, _Read(text=False, lines=False), _READS_DOCS),
                (source_new, source_old, _Read(docs=False), _READS_SOURCE),
                (moved_new, moved_old, _Read(lines_only=True, docs=False), _READS_LINES),
            )
        ]
        old_candidates = {} if old_index is None else old_index._known(*extra)
        reasons: dict[str, str] = {}
        unbounded: set[str] = set()  # selected because they may run any code, whatever changed
        sites = self._graph.observed_bits
        old_sites = old_index._graph.observed_bits if old_index is not None else 0
        for nodeid, reach in candidates.items():
            why = forced.get(nodeid, "")
            if not why and nodeid in self._opaque:
                why = f"{self._opaque[nodeid]}: its tests may run any code"
            if not why and reach & new_bits:
                why = _first(new_nodes, reach, self, nodeid)
            if not why and old_index is not None and nodeid in old_candidates:
                old_reach = old_candidates[nodeid]
                if old_reach & old_bits:
                    why = _first(old_nodes, old_reach, old_index, nodeid)
                elif code_changed and old_reach & old_index._graph.dyn_bit:
                    why = old_index._graph.dynamic_reason(old_reach)
                    unbounded.add(nodeid)
            if not why and code_changed and reach & self._graph.dyn_bit:
                why = self._graph.dynamic_reason(reach)
                unbounded.add(nodeid)
            for read_new, read_old, bits_new, bits_old, read, reads in seen_by_readers:
                if not why and reach & bits_new and self.reads_text(reach, **read):
                    why = _first(read_new, reach, self, nodeid) + reads
                if not why and old_index is not None and old_candidates.get(nodeid, 0) & bits_old:
                    old_reach = old_candidates[nodeid]
                    if old_index.reads_text(old_reach, **read):
                        why = _first(read_old, old_reach, old_index, nodeid) + reads
            if why:
                reasons[nodeid] = why
        # Tests through code exec/eval ran: bounded by what was observed only for the tests observed.
        through = {
            n
            for n, reach in candidates.items()
            if code_changed
            and n not in reasons
            and (reach & sites or (old_index is not None and old_candidates.get(n, 0) & old_sites))
        }
        if through:
            seen = observed(through) if observed is not None and old_index is not None else set()
            for nodeid in through - seen:
                reach = candidates[nodeid]
                if reach & sites:
                    graph, bits = self._graph, reach & sites
                else:
                    assert old_index is not None
                    graph, bits = old_index._graph, old_candidates[nodeid] & old_sites
                node = (bits & -bits).bit_length() - 1
                reasons[nodeid] = (
                    f"{graph.describe(node)} {graph.observed_reason(node)}, not observed for this test in this tree"
                )
                unbounded.add(nodeid)
        for node, why in imported.items():
            self._one_importer(node, why, candidates, reasons)
        self._add_writers(reasons, candidates)
        selection = Selection(tests=tuple(sorted(reasons)), reasons=reasons, total=len(candidates))
        if len(reasons) <= HANDFUL or len(reasons) < NEARLY_ALL * len(candidates):
            return selection
        # Nearly every test: those that may run any code would have been selected whatever changed.
        causes: dict[str, str] = {}
        for nodeid in reasons:
            if nodeid in unbounded:
                causes[nodeid] = reasons[nodeid]
            elif candidates[nodeid] & self._graph.dyn_bit:
                causes[nodeid] = self._graph.dynamic_reason(candidates[nodeid])
            elif old_index is not None and old_candidates.get(nodeid, 0) & old_index._graph.dyn_bit:
                causes[nodeid] = old_index._graph.dynamic_reason(old_candidates[nodeid])
        reported = _reported(selection, causes)
        if reported.rule:
            return reported
        # Nearly every test reaches the changed code: say through what, so that a user can see it.
        return self._nearly_all(
            selection,
            {**moved_new, **source_new, **kept_new, **doc_new, **text_new, **new_nodes},
            {**moved_old, **source_old, **kept_old, **doc_old, **text_old, **old_nodes},
            candidates,
            old_index,
            old_candidates,
        )

    def reads_text(
        self, reach: int, *, lines_only: bool = False, docs: bool = True, text: bool = True, lines: bool = True
    ) -> bool:
        """Does a test reaching the nodes ``reach`` (bits) reach code that may read a docstring, the source text or a
        line number (``lines_only``: a line number; not ``text``: a docstring only; not ``lines``: a docstring whose
        lines stayed where they were, no line number changed)? A ``lineno`` read from an object of unknown type
        counts only with a node where a line of the tree's code enters a value
        (:mod:`trellis.ci.selection.source_readers`)."""
        key = (lines_only, docs, text, lines)
        if key not in self._readers:
            self._readers[key] = reader_bits(
                self._graph, lines_only=lines_only, docs=docs, text=text, lines=lines, doc_named=self._doc_named
            )
        if reach & self._readers[key]:
            return True
        if not lines:
            return False
        if self._line_readers is None:
            self._line_readers = (generic_line_bits(self._graph), line_source_bits(self._graph))
        generic, sources = self._line_readers
        return bool(reach & generic and reach & sources)

    def _add_writers(self, reasons: dict[str, str], candidates: Mapping[str, int]) -> None:
        """Select, beside the tests of ``reasons``, every test of their files that stores into state outliving it
        (a global, a class attribute: :attr:`FileFacts.state_writers`): one collected before a selected test may
        set what that test reads (pyparsing's ``Test03_EnablePackratParsing`` enables packrat parsing for the
        tests of ``Test04_WithPackrat`` after it: without it they run without packrat, and a fault in its cache
        passes). Writers collected after every selected test of their file change nothing those see."""
        files: dict[str, str] = {}
        for nodeid in sorted(reasons):
            files.setdefault(nodeid.split("::", 1)[0], nodeid)
        for path, first in files.items():
            for writer in self._writers.get(path, ()):
                if writer in candidates and writer not in reasons:
                    reasons[writer] = f"stores into state that {first} may read when run after it"

    def writers(self, tests: Iterable[str]) -> frozenset[str]:
        """The tests of the files of ``tests`` that store into state outliving them (see :meth:`_add_writers`)."""
        files = {t.split("::", 1)[0] for t in tests}
        return frozenset(w for path in files for w in self._writers.get(path, ()))

    def order_coupled(self, tests: Iterable[str]) -> bool:
        """Do ``tests`` hold a test storing into state outliving it and another test of its file? Then they must
        run in one process, in collection order: split across shards, a test may run without the writer before
        it (pyparsing's ``Test04_WithPackrat`` tests in the shard without ``Test03_EnablePackratParsing``)."""
        per_file: dict[str, list[str]] = {}
        for test in tests:
            per_file.setdefault(test.split("::", 1)[0], []).append(test)
        return any(
            len(ids) > 1 and not set(ids).isdisjoint(self._writers.get(path, ())) for path, ids in per_file.items()
        )

    def _nearly_all(
        self,
        selection: Selection,
        new_nodes: Mapping[int, str],
        old_nodes: Mapping[int, str],
        candidates: Mapping[str, int],
        old_index: TestIndex | None,
        old_candidates: Mapping[str, int],
    ) -> Selection:
        """``selection`` (nearly every test, not through one node that may run any code), reported as the fallback
        it is (rule ``nearly-all``): the changed node most selected tests reach, and the route by which the one of
        them that reaches the least gets there (:meth:`Graph.route`: the widest, as the others likely share it),
        with how many of the selected tests reach every node of it; ``path``: the file of the node where the
        route first reads a name from an object of unknown type (where the analysis was coarse), else of the
        node before the change."""
        best: tuple[int, TestIndex, int, str, Mapping[str, int]] | None = None
        sides: list[tuple[TestIndex, Mapping[int, str], Mapping[str, int]]] = [(self, new_nodes, candidates)]
        if old_index is not None:
            sides.append((old_index, old_nodes, old_candidates))
        for index, nodes, reaches in sides:
            for node, label in nodes.items():
                count = sum(1 for t in selection.tests if reaches.get(t, 0) >> node & 1)
                if best is None or count > best[0]:
                    best = (count, index, node, label, reaches)
        count, total = len(selection.tests), selection.total
        changed = len({*new_nodes.values(), *old_nodes.values()})
        others = f" (and {changed - 1} other changed nodes)" if changed > 1 else ""
        if best is None or not best[0]:
            return replace(
                selection, reason=f"{count} of {total} tests selected, {changed} changed nodes", rule="nearly-all"
            )
        reached, index, node, label, reaches = best
        graph = index._graph
        hit = [t for t in selection.tests if reaches.get(t, 0) >> node & 1]
        sample = min(hit, key=lambda t: (reaches[t].bit_count(), t))
        route = graph.route(node, reaches[sample], index._roots(sample))
        reason = f"{count} of {total} tests selected; {reached} reach {label}{others}"
        path = graph.node_path[node]
        if len(route) > 1:
            mask = sum(1 << n for n, _ in route[1:])
            along = sum(1 for t in hit if reaches[t] & mask == mask)
            reason += f", {along} by the route of {sample}: {_route_text(graph, route)}"
            coarse = [before for (before, _), (_, name) in zip(route, route[1:], strict=False) if name]
            path = graph.node_path[coarse[0] if coarse else route[-2][0]]
        return replace(selection, reason=reason, path=path, rule="nearly-all")

    def _roots(self, nodeid: str) -> list[int]:
        """The nodes a test starts from, near enough to explain a route: its file's shared roots (module code,
        conftests, plugins), its function, and the fixtures pytest resolves by name."""
        graph = self._graph
        path, _, rest = nodeid.partition("::")
        if path not in graph.facts:
            return []
        roots = shared_roots(graph, path)
        function = graph.node_of.get((path, rest.split("[", 1)[0].replace("::", ".")))
        if function is not None:
            roots.append(function)
        roots.extend(sorted(graph.named_fixtures))
        return roots

    def _all(
        self, reason: str, path: str, rule: str, extra: tuple[bool, bool] = (False, False), scope: Sequence[str] = ()
    ) -> Selection:
        tests = tuple(sorted(self._known(*extra)))
        if scope:
            tests = tuple(t for t in tests if in_paths(t, scope))
        return Selection(
            tests=tests,
            run_all=True,
            reason=reason,
            reasons=dict.fromkeys(tests, reason),
            total=len(tests),
            path=path,
            rule=rule,
        )

    def _affected(
        self,
        change: Change,
        old_index: TestIndex | None,
        new_nodes: dict[int, str],
        old_nodes: dict[int, str],
        forced: dict[str, str],
        imported: dict[int, str],
        inert: Sequence[str],
        always_full: Sequence[str],
        text: tuple[dict[int, str], ...] = ({}, {}, {}, {}, {}, {}, {}, {}),
        with_doctests: bool = False,
    ) -> tuple[str, str] | None:
        """Record what a change affects; return (reason, rule) to run everything, or None.

        A change to code that runs when its module is imported (module-level statements, what runs when a
        definition runs: a class body, defaults, decorators) may make the import raise, and then every test
        importing the module fails, not only those reaching the names it binds: ``imported`` gets the module's
        node, and one test importing the module runs (:meth:`_one_importer`). A function's, method's or class's
        change whose details are only ``docstring``/``formatting`` (its code the same) goes to ``text`` (new
        tree, old tree): it counts only for the tests that also reach a reader of docstrings or source text."""
        path = change.path
        name = posixpath.basename(path)
        if always_full and matches_any(always_full, path):
            return f"{path} changed, and the pipeline lists it in always_full", "always-full"
        if inert and matches_any(inert, path):
            return None
        if is_config(path):
            old_digest = old_index.config_digests.get(path) if old_index is not None else None
            new_digest = self.config_digests.get(path)
            if old_digest is None or new_digest is None or split_digest(old_digest)[0] != split_digest(new_digest)[0]:
                return f"{path} changed: pytest, project or packaging configuration", "configuration"
            if split_digest(old_digest)[1] != split_digest(new_digest)[1]:
                # Descriptive metadata (URLs, classifiers, summary...): what reads the installed metadata sees it.
                self._metadata_changed(path, old_index, new_nodes, old_nodes)
            if not path.endswith(".py"):
                return None  # only parts no test run depends on (metadata, other tools' sections)
        if not path.endswith(".py") and self.config.is_doctest_file(path):
            if _text_doctest(path) in self._opaque:
                forced[_text_doctest(path)] = f"{path} changed (its doctests)"
            return None
        if not path.endswith(".py"):
            if is_inert_kind(path, self.config.linters):
                self._mark_naming(path, new_nodes)
                if old_index is not None:
                    old_index._mark_naming(path, old_nodes)
                if name in VERSION_FILES:  # an install writes it into the metadata
                    self._metadata_changed(path, old_index, new_nodes, old_nodes)
                return None
            if posixpath.splitext(path)[1] in _EXTENSION_SOURCES and self.config.extensions:
                # Every job builds the extensions: the changed C code runs only through the code importing one
                # of them (a header or a source may belong to any, and one's C code may import another's).
                found = self._extension_importers()
                old_found = old_index._extension_importers() if old_index is not None else set()
                if found is not None and old_found is not None:
                    built = ", ".join(self.config.extensions)
                    marks = [(self, new_nodes, found)]
                    if old_index is not None:
                        marks.append((old_index, old_nodes, old_found))
                    for index, nodes, importers in marks:
                        for importer in importers:
                            label = f"{index._display(importer)} (imports {built}, rebuilt from {path})"
                            nodes.setdefault(importer, label)
                    return None
                built = ", ".join(n for n in self.config.extensions if n != "*") or "the project's"
                return (
                    f"{path} changed: a source of a compiled extension, which every job builds ({built}): every "
                    "test runs with the rebuilt extension (an extension of no literal name, or no code importing "
                    "one by a constant name)"
                ), "data-file"
            if posixpath.splitext(path)[1] in _EXTENSION_SOURCES and not self.config.extensions_known:
                return (
                    f"{path} changed: a source of a compiled extension, which the stage does not build: its tests "
                    "run without it (code that runs only with the extension is not verified)"
                ), "data-file"
            if self._data_readers(path, old_index, new_nodes, old_nodes):
                return None
            return (
                f"{path} changed: a non-Python file a test may read at run time, which no code a test reaches "
                "names (declare files no test reads in the stage's inert globs)"
            ), "data-file"
        if self._is_data(path, with_doctests) or (old_index is not None and old_index._is_data(path, with_doctests)):
            # Read as data only (no one imports it): the tests reaching the code that names it, in either tree.
            named = self._data_readers(path, old_index, new_nodes, old_nodes)
            parses = path in self._graph.facts or (old_index is not None and path in old_index._graph.facts)
            if not parses:
                if named:
                    return None
                return (
                    f"{path} changed: a Python file no code imports, which does not parse (a data file), and which no "
                    "code a test reaches names"
                ), "data-file"
        if name == "conftest.py" and not (
            self._fixture_change(change, old_index) or self._helper_change(change, old_index)
        ):
            # (A change confined to fixtures pytest resolves by name, or to a helper function only code calls,
            # selects the tests running them, below.)
            directory = posixpath.dirname(path)
            if not directory:
                return f"{path} changed: the root conftest.py applies to every test", "root-conftest"
            for nodeid in self._known():
                if nodeid.startswith(directory + "/"):
                    forced.setdefault(nodeid, f"{path} changed (conftest.py of its directory)")
        known = path in self._graph.facts or (old_index is not None and path in old_index._graph.facts)
        if not known and not (isinstance(change, ChangedPath) and change.change == "deleted" and old_index is None):
            return f"{path} changed, but neither tree has it as a Python file", "unknown-file"
        if isinstance(change, ChangedPath):
            what = {"added": "added", "deleted": "deleted"}.get(change.change, "modified")
            if change.change != "added":
                if old_index is None and change.change == "deleted":
                    return f"{path} deleted: selection needs the parent commit's index (old_index)", "needs-parent"
                if old_index is not None:
                    old_index._mark(path, "", "module", old_nodes, f"{what} file")
            if change.change != "deleted":
                self._mark(path, "", "module", new_nodes, f"{what} file")
            return None
        local = _local_qualname(path, change.qualname)
        if not local and change.change == "modified" and old_index is not None:
            names = self._changed_names(path, old_index)
            if names is not None:  # only statements that bind names: the tests reaching those names
                if self._statements_changed(path, old_index):  # (not a comment or a blank line)
                    self._imported(path, imported, "a module-level statement changed")
                for index, nodes in ((self, new_nodes), (old_index, old_nodes)):
                    for file, name in names:
                        node = index._graph.node_of.get((file, name))
                        if node is not None:
                            nodes.setdefault(node, f"{index._display(node)} (modified at module level)")
                return None
        if change.change == "added":
            how = "def" if self._def_effects(path, local) else "body"
            self._mark(path, local, how, new_nodes, "added")
            if how == "body" and (self._scope(path, local) or _NO_SCOPE).def_raises:
                self._imported(path, imported, f"{change.qualname} added")
        elif change.change == "removed":
            if old_index is None:
                return (
                    f"{change.qualname} removed: selection needs the parent commit's index (old_index)",
                    "needs-parent",
                )
            how = "def" if old_index._def_effects(path, local) else "body"
            old_index._mark(path, local, how, old_nodes, "removed")
            if how == "body":  # module-level code reading the name raises now
                self._imported(path, imported, f"{change.qualname} removed")
            if local and "." not in local:
                self._name_importers(path, local, imported, change.qualname)
        else:  # modified
            how = "body"
            if old_index is not None:
                before, after = old_index._scope(path, local), self._scope(path, local)
                if (
                    before is None
                    or after is None
                    or before.def_hash != after.def_hash
                    and (old_index._def_effects(path, local) or self._def_effects(path, local))
                    and not self._signature_under_kept_decorators(path, local, before, after, old_index)
                ):
                    how = "def"
                elif before.def_hash != after.def_hash and after.def_raises:
                    self._imported(path, imported, f"what defining {change.qualname} runs changed")
            elif (
                not change.details
                or not set(change.details) <= _BODY_DETAILS
                or (self._scope(path, local) or _NO_SCOPE).kind == "class"
            ):
                how = "def"  # without the parent's facts a class's "body" may be its attributes
            if (
                how == "body"
                and change.details
                and set(change.details) <= _TEXT_DETAILS
                # (a comment or the formatting alone leaves every value of the namespace as it was)
                and not ("docstring" in change.details and self._sees_namespace(path, local, old_index))
            ):
                what = "modified: " + ", ".join(change.details)
                # The docstring and the text; the comments or the formatting alone; the docstring alone.
                at = 4 if set(change.details) == {"docstring"} else 0 if "docstring" in change.details else 2
                if at == 4 and isinstance(change, ChangedEntity) and change.lines_kept:
                    at = 6
                self._mark(path, local, how, text[at], what)
                if old_index is not None:
                    old_index._mark(path, local, how, text[at + 1], what)
                return None
            self._mark(path, local, how, new_nodes, "modified")
            if old_index is not None:
                old_index._mark(path, local, how, old_nodes, "modified")
        return None

    def _mark_readers(
        self,
        changes: Iterable[Change],
        reads: ReadIndex,
        old_index: TestIndex | None,
        new_nodes: dict[int, str],
        old_nodes: dict[int, str],
    ) -> None:
        """Mark, in both trees, the functions observed to read a changed file, to list a directory whose entries
        changed, or to read everything under a directory with a change (:mod:`.file_reads`): additive."""
        changed: dict[str, str] = {}
        for change in changes:
            for item in _expand(change):
                kind = item.change if isinstance(item, ChangedPath) else "modified"
                changed[item.path] = kind if changed.get(item.path, kind) == kind else "modified"
        listings: dict[str, set[str]] = {}  # directory -> its entries that appeared or went
        for path, kind in changed.items():
            if kind not in ("added", "deleted"):
                continue
            without = old_index if kind == "added" else self  # the tree without the file
            folder, _, entry = path.rpartition("/")
            while True:
                listings.setdefault(folder, set()).add(entry)
                if not folder or (without is not None and without._has_dir(folder)):
                    break  # it existed without the file: the directory above keeps its entries
                folder, _, entry = folder.rpartition("/")
        for site, why in reads.readers(changed, listings).items():
            for index, nodes in ((self, new_nodes), (old_index, old_nodes)):
                node = index._graph.site_node(site) if index is not None else None
                if index is not None and node is not None:
                    nodes.setdefault(node, f"{index._display(node)} ({why})")

    def _has_dir(self, folder: str) -> bool:
        """Does the tree hold a file under ``folder``?"""
        if self._dirs is None:
            dirs: set[str] = set()
            for path in self.paths:
                above = posixpath.dirname(path)
                while above and above not in dirs:
                    dirs.add(above)
                    above = posixpath.dirname(above)
            self._dirs = frozenset(dirs)
        return folder in self._dirs

    def read_by(self, nodeid: str, reads: ReadIndex) -> SiteReads:
        """What the functions the test may run were observed to read and list (:mod:`.file_reads`)."""
        if self._read_nodes is None or self._read_nodes[0] is not reads:
            nodes = [(self._graph.site_node(site), read) for site, read in reads.sites.items()]
            self._read_nodes = (reads, [(1 << n, read) for n, read in nodes if n is not None])
        reach = self._reach.get(nodeid)
        if reach is None:  # a doctest module's, a load_tests id's
            reach = self._known().get(nodeid, 0)
        found = SiteReads()
        for bit, read in self._read_nodes[1]:
            if reach & bit:
                found = found | read
        return found

    def _mark_moved(self, path: str, old_index: TestIndex | None, moved: tuple[dict[int, str], dict[int, str]]) -> None:
        """The functions and methods of ``path`` that a change above them moved to other lines, their code the
        same, go to ``moved`` (new tree, old tree): the line numbers their frames, warnings, log records and
        tracebacks carry changed, which only a reader of line numbers sees. (Module-level statements that moved
        are not counted: every test importing the module reaches them.)"""
        before = old_index._graph.facts.get(path) if old_index is not None else None
        after = self._graph.facts.get(path)
        if before is None or after is None or old_index is None:
            return
        lines = {scope.qualname: scope.line for scope in before.scopes if scope.kind in _DEFINITIONS}
        for scope in after.scopes:
            line = lines.get(scope.qualname)
            if line is not None and line != scope.line and scope.kind in _DEFINITIONS:
                what = f"moved from line {line} to {scope.line}"
                self._mark(path, scope.qualname, "body", moved[0], what)
                old_index._mark(path, scope.qualname, "body", moved[1], what)

    def _changed_names(self, path: str, old_index: TestIndex) -> set[tuple[str, str]] | None:
        """The names (file, name) a module-level change rebinds, when all it changed are statements that only
        bind names (constants, imports, ``__all__``, the docstring) and the module runs the same imports in the
        same order; None when the module's import-time behaviour may have changed (then its importers count).

        Definitions added or removed beside them are their own entity changes. A literal ``__all__`` that
        changed counts for its readers and for the names that came or went (see :meth:`_export_changes`)."""
        before, after = old_index._graph.facts.get(path), self._graph.facts.get(path)
        if before is None or after is None:
            return None
        old_keys = Counter(t.key for t in before.toplevel)
        new_keys = Counter(t.key for t in after.toplevel)
        removed, added = old_keys - new_keys, new_keys - old_keys
        sides = [
            (index, t)
            for index, statements, keys in ((old_index, before.toplevel, removed), (self, after.toplevel, added))
            for t in statements
            if t.key in keys and not t.key.startswith("def:")
        ]
        mains = {(path, MAIN) for _, t in sides if t.main}  # run as a script only: what runs the module
        sides = [(index, t) for index, t in sides if not t.main]
        if any(not t.pure and not (t.calls and index._inert_calls(path, t.calls)) for index, t in sides):
            return None
        changed = [t for _, t in sides]
        if [t.key for t in before.toplevel if t.key not in removed] != [
            t.key for t in after.toplevel if t.key not in added
        ]:
            return None  # reordered
        old_modules = {(r.level, r.module) for t in before.toplevel for r in t.imports}
        new_modules = {(r.level, r.module) for t in after.toplevel for r in t.imports}
        old_files = {f for t in before.toplevel for r in t.imports for f in old_index._graph.import_files(path, r)}
        new_files = {f for t in after.toplevel for r in t.imports for f in self._graph.import_files(path, r)}
        if old_files != new_files:
            return None  # another module of the tree runs at import time
        for level, module in old_modules ^ new_modules:
            if level or not _inert_import(module):
                return None  # another module runs at import time, which may change what the tests see
        names = {name for t in changed for name in t.names} - _rebound_alike(before.toplevel, after.toplevel, changed)
        for index in (self, old_index):
            for name in names:
                node = index._graph.node_of.get((path, name))
                if node is None and name in index._graph.facts[path].defs:
                    return None  # rebinds a function or class: whatever reaches it (and its definer) counts
        out = {(path, name) for name in names} | mains
        if "__all__" in names:
            exported = self._export_changes(path, old_index)
            if exported is None:
                return None
            out |= exported
        return out

    def _statements_changed(self, path: str, old_index: TestIndex) -> bool:
        before, after = old_index._graph.facts.get(path), self._graph.facts.get(path)
        if before is None or after is None:
            return True
        return [t.key for t in before.toplevel] != [t.key for t in after.toplevel]

    def _inert_calls(self, path: str, calls: Iterable[Chain]) -> bool:
        """Is every function these references name a function of the tree that only computes a value?"""
        graph = self._graph

        def inert(node: int) -> bool:
            scope = graph.node_scope[node]
            if scope.kind != "name":
                return scope.inert_call
            facts = graph.facts[graph.node_path[node]]  # a name only imports bind: what it imports counts
            return scope.name in facts.bindings and scope.name not in facts.values and scope.name not in facts.defs

        for chain in calls:
            nodes, names = graph.resolve(path, chain)
            if names or not any(graph.node_scope[n].inert_call for n in nodes) or not all(map(inert, nodes)):
                return False
        return True

    def _export_changes(self, path: str, old_index: TestIndex) -> set[tuple[str, str]] | None:
        """What a change of ``path``'s literal ``__all__`` rebinds in the modules that star-import it: the
        names that came or went, in ``path`` and in each star importer (at any depth) that binds the name
        itself. None when either ``__all__`` is not a literal, or names something the module does not bind
        (``from m import *`` then raises, or imports a submodule: import-time behaviour). An ``__all__`` added
        to (or removed from) a module that had none stands against its public names (:attr:`FileFacts.exports`),
        which a star import binds without one. Without a star importer in either tree, none: only the readers
        of ``__all__`` count."""
        before, after = old_index._graph.facts[path].exports, self._graph.facts[path].exports
        if before is None or after is None:
            return None
        came, went = set(after) - set(before), set(before) - set(after)
        for index, names in ((self, came), (old_index, went)):
            facts = index._graph.facts[path]
            if any(n not in facts.defs and n not in facts.bindings and n not in facts.values for n in names):
                return None
        importers = [(index, index._graph.star_importers(path)) for index in (self, old_index)]
        if not any(files for _, files in importers):
            return set()  # no star import of the module: only what reads its __all__ (the name itself) counts
        out = {(path, name) for name in came | went}
        for _, files in importers:
            out |= {(importer, name) for importer in files for name in came | went}
        return out

    def _imported(self, path: str, imported: dict[int, str], what: str) -> None:
        node = self._graph.node_of.get((path, ""))
        if node is not None:
            imported.setdefault(node, f"imports {path}: {what} there and runs at import, where it may raise")

    def _name_importers(self, path: str, name: str, imported: dict[int, str], qualname: str) -> None:
        """``name`` is no longer defined in ``path``: the modules whose top-level code imports it from there
        (``from app.core import helper``, in this tree) raise at import now, for every importer alike — their
        tests need not reach the removed entity (an import binds a name, it runs none of its code). One importer
        of each runs (:meth:`_one_importer`), as for the module that defined it."""
        graph = self._graph
        for file, facts in graph.facts.items():
            if file == path or (file, "") not in graph.node_of:
                continue
            if any(
                ref.name == name and path in graph.import_files(file, ref)
                for refs in facts.bindings.values()
                for ref in refs
            ):
                imported.setdefault(
                    graph.module_node(file),
                    f"imports {file}, whose import of {qualname} raises at import now ({qualname} removed)",
                )

    def _one_importer(self, node: int, why: str, candidates: Mapping[str, int], reasons: dict[str, str]) -> None:
        """Make sure a test importing the module of ``node`` runs: its import raises for every importer alike, so
        one is enough (the one reaching the least code, a cheap one)."""
        bit = 1 << node
        if any(candidates[nodeid] & bit for nodeid in reasons if nodeid in candidates):
            return
        importers = [(reach.bit_count(), nodeid) for nodeid, reach in candidates.items() if reach & bit]
        if importers:
            reasons[min(importers)[1]] = why

    def _metadata_changed(
        self, path: str, old_index: TestIndex | None, new_nodes: dict[int, str], old_nodes: dict[int, str]
    ) -> None:
        """Mark the code reading the project's installed metadata, which ``path``'s change changes."""
        for index, nodes in ((self, new_nodes), (old_index, old_nodes)):
            if index is None:
                continue
            for reader in index._graph.metadata_readers:
                what = index._display(reader)
                nodes.setdefault(reader, f"{path} changed the project's installed metadata, which {what} reads")

    def _data_readers(
        self, path: str, old_index: TestIndex | None, new_nodes: dict[int, str], old_nodes: dict[int, str]
    ) -> bool:
        """Mark the code that names the data file ``path`` in either tree and say whether a test reaches any.

        Tests made from data files read them through a path the code spells: the file's name, a directory of it
        that holds no Python files, a glob or an extension (tomli's ``(DATA_DIR / "valid").glob("**/*.toml")``,
        mistune's ``"commonmark.json"``): a change to one, an added one, a removed one counts for the tests
        reaching that code (in the tree after the change, and in the tree before it), as for an inert kind. So
        does the directory named after a test module that plugins read by that name (pytest-datadir's
        ``tests/test_x/``, pytest-regressions' files there, syrupy's ``__snapshots__/test_x.ambr``). A file no
        code that a test reaches names in either tree is still read by no one we can tell: the caller runs
        everything."""
        found = False
        for index, nodes in ((self, new_nodes), (old_index, old_nodes)):
            if index is None:
                continue
            named: dict[int, str] = {}
            index._mark_naming(path, named)
            for module in index._named_after(path):
                node = index._graph.node_of.get((module, ""))
                if node is not None:
                    named.setdefault(node, f"{index._display(node)} (its data directory: {path} changed)")
            bits = _bits(named)
            if bits and any(reach & bits for reach in index._known().values()):
                found = True
            for node, why in named.items():
                nodes.setdefault(node, why)
        return found

    def _is_data(self, path: str, with_doctests: bool) -> bool:
        """Is ``path`` a Python file read as data (:attr:`data_files`) when pytest collects doctests as asked?"""
        if path not in self.data_files:
            return False
        return not with_doctests or self._doctests_known or not self.config.imports_at_collection(path, True)

    def _named_after(self, path: str) -> list[str]:
        """The test modules ``path`` lies under by name: a directory or the file's stem named like a module of a
        directory above it (``tests/test_x/case.yml`` and ``tests/__snapshots__/test_x.ambr``: ``tests/test_x.py``)."""
        parts = path.split("/")
        parts[-1] = posixpath.splitext(parts[-1])[0]
        if parts[-1] == "__init__":  # a package's own file (read as data) is named after no module
            parts.pop()
        out = []
        for depth, part in enumerate(parts):
            for above in range(depth + 1):
                module = "/".join([*parts[:above], f"{part}.py"])
                if module in self._graph.facts:
                    out.append(module)
        return out

    def _mark_naming(self, path: str, nodes: dict[int, str]) -> None:
        """Mark the nodes whose string constants name ``path`` (an inert-by-kind file: docs, stubs, manifests)."""
        if self._wording is None:
            graph = self._graph
            wording: list[tuple[int, AbstractSet[str], bool]] = []
            for node, scope in enumerate(graph.node_scope):
                words = scope.refs.words | graph.observed[node].words if node in graph.observed else scope.refs.words
                if words:
                    wording.append((node, words, may_name(words)))
            # (A directory holding only Python files read as data, no package, is a data directory: its name names
            # them.)
            self._wording = (
                wording,
                {
                    posixpath.dirname(p)
                    for p in graph.paths
                    if p not in self.data_files or posixpath.basename(p) == "__init__.py"
                },
            )
        wordings, python_dirs = self._wording
        plain = naming_words(path, python_dirs)
        for node, held, patterned in wordings:
            if not patterned and plain.isdisjoint(held):
                continue  # no word of it can name the path: named_by would say ""
            word = named_by(path, held, python_dirs)
            if word:
                nodes.setdefault(node, f"{self._display(node)} (names {word!r}; {path} changed)")

    def _sees_namespace(self, path: str, local: str, old_index: TestIndex | None) -> bool:
        """Does defining the class ``local`` hand its namespace, docstring included, to code (a metaclass, an
        ``__init_subclass__``, a decorator: what :meth:`_def_effects` finds), in either tree? A metaclass's
        ``__new__`` reads it as a plain dict (``attrs.items()``), which no reader of docstrings names."""
        scope = self._scope(path, local)
        if scope is None or scope.kind != "class":
            return False
        return self._def_effects(path, local) or (old_index is not None and old_index._def_effects(path, local))

    def _signature_under_kept_decorators(
        self, path: str, local: str, before: Scope, after: Scope, old_index: TestIndex
    ) -> bool:
        """Did only the signature of a function change (its annotations, parameters, ``async``), under the same
        decorators, which keep it in both trees (:meth:`Graph.kept_decorated`: ``@retry(stop=...)`` returns a
        wrapper and hands the function to nothing else)? Then what defining it runs differently shows only through
        the value bound to its name — its users — and through the import, which may raise (``def_raises``: one
        importer runs): tenacity's release annotating every ``@retry`` helper of its tests."""
        if not before.decorators_hash or before.decorators_hash != after.decorators_hash:
            return False
        for index in (old_index, self):
            node = index._graph.node_of.get((path, local))
            if node is None or not index._graph.kept_decorated(node):
                return False
        return True

    def _def_effects(self, path: str, local: str) -> bool:
        """Does running the definition of ``local`` in ``path`` do more than bind its name? A fixture pytest
        resolves by name only registers itself: what its decorator says (name, autouse, params) decides which
        tests run it, and those are the tests reaching it in the old or the new tree."""
        node = self._graph.node_of.get((path, local))
        return node is not None and node not in self._graph.named_fixtures and self._graph.def_effects(node)

    def _fixture_change(self, change: Change, old_index: TestIndex | None) -> bool:
        """Is ``change`` confined to a fixture pytest resolves by name (or code inside one), in each tree that
        has the entity? Then it affects the tests running that fixture, not every test below its conftest."""
        if not isinstance(change, ChangedEntity):
            return False
        local = _local_qualname(change.path, change.qualname)
        if not local or (old_index is None and change.change != "added"):
            return False
        found = False
        for index in (self, old_index):
            assert index is not None
            if index._scope(change.path, local) is None:
                continue
            if not index._graph.fixture_scope(change.path, local):
                return False
            found = True
        return found

    def _helper_change(self, change: Change, old_index: TestIndex | None) -> bool:
        """Is ``change`` confined to a top-level function of a conftest that pytest never calls itself (not a
        ``pytest_*`` hook, no decorator that may register it: natsort's ``load_locale``, which its locale
        fixtures call), in both trees? What pytest runs of a conftest for every test below it — module code,
        hooks, fixtures — are those tests' roots (:func:`shared_roots`); such a function runs only when one of
        them, a test or other code calls it, and the graph's edges say which tests do."""
        if not isinstance(change, ChangedEntity) or change.change != "modified" or old_index is None:
            return False
        local = _local_qualname(change.path, change.qualname)
        if not local or "." in local or local.startswith("pytest_"):
            return False
        for index in (self, old_index):
            scope = index._scope(change.path, local)
            if scope is None or scope.kind != "function" or scope.def_effects or not index._graph.fixtures_resolved:
                return False
        return True

    def _scope(self, path: str, local: str) -> Scope | None:
        facts = self._graph.facts.get(path)
        return facts.scope(local) if facts is not None else None

    def _extension_importers(self) -> set[int] | None:
        """The nodes whose imports may load one of the project's compiled extensions (``from . import _speedups``,
        ``import simplejson._speedups``, ``from ._speedups import make_encoder``; a computed import of the
        package's modules too), or None when that cannot be told: an extension of no literal name, or none
        imported by a constant name (imported some other way, all would be missed)."""
        graph = self._graph
        if not self.config.extensions or "*" in self.config.extensions:
            return None
        keys = {
            "/".join(p for p in (root, name.replace(".", "/")) if p)
            for root in graph.roots
            for name in self.config.extensions
        }
        found: set[int] = set()
        constant = False
        for path, facts in graph.facts.items():
            for scope in facts.scopes:
                for ref in scope.refs.imports:
                    rel = ref.module.replace(".", "/")
                    if ref.module == "*":
                        hit = True  # a computed name: any module (of the package), an extension too
                    elif ref.level == 0:
                        named = {f"{root}/{rel}".strip("/") for root in graph.roots}
                        hit = bool(keys & {*named, *(f"{k}/{ref.name}" for k in named if ref.name)})
                        constant = constant or hit
                    else:
                        base = posixpath.dirname(path)
                        for _ in range(ref.level - 1):
                            base = posixpath.dirname(base)
                        key = "/".join(p for p in (base, rel) if p)
                        hit = key in keys or (bool(ref.name) and f"{key}/{ref.name}".strip("/") in keys)
                        constant = constant or hit
                    if hit:
                        found.add(graph.node_of[(path, scope.qualname)])
        return found if constant else None

    def _mark(self, path: str, local: str, how: str, nodes: dict[int, str], what: str) -> None:
        """Add the nodes a change to ``local`` in ``path`` affects to ``nodes`` (node -> description).

        ``how``: ``module`` (the file's top-level code), ``body`` (what runs when
        the entity is used), ``def`` (also what runs when it is defined: the
        enclosing node).
        """
        graph = self._graph
        facts = graph.facts.get(path)
        if facts is None:
            return
        scope = facts.scope(local)
        while scope is None and local:  # not an entity of ours (a lambda, say): its nearest one
            local = local.rpartition(".")[0]
            scope = facts.scope(local)
            how = "body" if how != "module" else how
        if scope is None:
            return
        node = graph.node_of[(path, scope.qualname)]
        label = f"{self._display(node)} ({what})"
        if node in graph.named_fixtures:
            label = f"fixture {scope.fixture!r}, {self._display(node)} ({what})"
        nodes.setdefault(node, label)
        if how == "def":
            nodes.setdefault(graph.node_of[(path, scope.container)], label)


def _rebound_alike(before: Sequence[TopLevel], after: Sequence[TopLevel], changed: Sequence[TopLevel]) -> set[str]:
    """Names that an edited import statement binds to the same thing as before (``a`` when ``from m import a``
    became ``from m import a, b``), and that no other statement of either version binds."""

    def bindings(statements: Sequence[TopLevel]) -> tuple[Counter[str], dict[str, set[str]]]:
        counts: Counter[str] = Counter(name for t in statements for name in t.names)
        sources: dict[str, set[str]] = {}
        for t in statements:
            for name, source in t.sources:
                sources.setdefault(name, set()).add(source)
        return counts, sources

    (old_counts, old_sources), (new_counts, new_sources) = bindings(before), bindings(after)
    candidates = {name for t in changed for name, _ in t.sources}
    return {
        name
        for name in candidates
        if old_counts[name] == new_counts[name] == 1 and old_sources.get(name) == new_sources.get(name) is not None
    }


# Standard-library modules whose import changes what other code sees (a prompt, a browser, a printed page).
_IMPORT_EFFECTS = frozenset(
    {"antigravity", "this", "__hello__", "__phello__", "idlelib", "turtledemo", "site", "readline", "rlcompleter"}
)


def _inert_import(module: str) -> bool:
    """Importing ``module`` runs no code of the tree and changes nothing other code sees: a standard-library
    module (not one of ``_IMPORT_EFFECTS``, no ``__main__``). Installed packages may run anything at import."""
    parts = module.split(".")
    return parts[0] in sys.stdlib_module_names and parts[0] not in _IMPORT_EFFECTS and "__main__" not in parts


_NO_SCOPE = Scope(qualname="", kind="", name="", parent="", container="", line=0, refs=NodeRefs())


def changes_from_diff(result: DiffResult) -> tuple[Change, ...]:
    """The changes of a semantic diff, for :meth:`TestIndex.select`.

    Python files diffed entity by entity give their entity changes; whole
    files added, deleted or renamed, files that fell back to a line diff
    (a parse error, say) and every other file give a :class:`ChangedPath`.
    """
    out: list[Change] = []
    entity_files: set[str] = set()
    for file in result.files:
        if file.path.endswith(".py") and file.entity_level and file.status == "modified":
            entity_files.add(file.path)
        elif file.status == "renamed":
            out.append(ChangedPath(file.old_path, "deleted"))
            out.append(ChangedPath(file.path, "added"))
        else:
            out.append(ChangedPath(file.path, {"added": "added", "deleted": "deleted"}.get(file.status, "modified")))
    for path in entity_files.difference(change.path for change in result.changes):
        # Only blank lines changed (no entity did): the definitions below them moved (``TestIndex._mark_moved``).
        out.append(ChangedEntity(path=path, qualname=module_name(path), details=("formatting",)))
    for change in result.changes:
        if change.path in entity_files and (not change.old_path or change.old_path in entity_files):
            out.append(ChangedEntity.from_change(change))
        elif change.path in entity_files:
            out.append(ChangedEntity(path=change.path, qualname=change.qualname, change="added"))
    return tuple(out)


def missed_failures(selected: Selection, full_results: Mapping[str, str]) -> tuple[str, ...]:
    """Tests that failed in a full run but were not selected (``full_results``: node id -> outcome).

    Outcomes ``failed``/``error`` count as failures (pytest's and JUnit's
    spelling); a parametrised id ``t[1]`` is covered by the selected ``t``.
    """
    if selected.run_all:
        return ()
    chosen = set(selected.tests)
    missed = []
    for nodeid, outcome in full_results.items():
        if outcome.lower() not in FAILED_OUTCOMES:
            continue
        if not _covered(nodeid, chosen):
            missed.append(nodeid)
    return tuple(sorted(missed))


# ---------------------------------------------------------------------------------------------


def _covered(nodeid: str, chosen: set[str]) -> bool:
    if nodeid in chosen:
        return True
    base = nodeid.split("[", 1)[0]
    if base in chosen:
        return True
    parts = base.split("::")
    if f"{parts[0]}::{GENERATED}" in chosen:  # every item of a module making tests under computed names
        return True
    for i in range(len(parts) - 1, 0, -1):  # a selected class or file covers its items
        if "::".join(parts[:i]) in chosen:
            return True
    return False


class _Read(NamedTuple):
    """What a reader of a change reads (:meth:`TestIndex.reads_text`)."""

    lines_only: bool = False
    docs: bool = True
    text: bool = True
    lines: bool = True


def _expand(change: Change) -> list[Change]:
    """A rename or move is the removal of the old entity and the addition of the new one."""
    if isinstance(change, ChangedEntity) and change.change in ("renamed", "moved", "moved_renamed"):
        return [
            ChangedEntity(
                path=change.old_path or change.path, qualname=change.old_qualname or change.qualname, change="removed"
            ),
            ChangedEntity(path=change.path, qualname=change.qualname, change="added"),
        ]
    if isinstance(change, ChangedEntity) and not change.path.endswith(".py"):
        return [ChangedPath(change.path)]
    return [change]


_READS_TEXT = ", and reads docstrings or source text"
_READS_DOCS = ", and reads docstrings"
_READS_LINES = ", and reads line numbers"
_READS_SOURCE = ", and reads source text or line numbers"


# Sources of compiled extension modules: a job builds them only where the project declares them to setuptools
# (``PytestConfig.extensions``); otherwise (no declaration a job reads, another build backend) its tests run without them.
_EXTENSION_SOURCES = frozenset(EXTENSION_SOURCES)


def _text_doctest(path: str) -> str:
    """pytest's id of the doctests of a text file."""
    return f"{path}::{posixpath.basename(path)}"


def _has_examples(content: bytes) -> bool:
    """Does pytest make an item of this text file: has it doctest examples (or does it fail to decode, an
    error pytest reports)?"""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return bool(doctest.DocTestParser().get_examples(text))


def _local_qualname(path: str, qualname: str) -> str:
    module = module_name(path)
    if qualname in ("", module):
        return ""
    if qualname.startswith(module + "."):
        return qualname[len(module) + 1 :]
    return qualname


def _bits(nodes: Mapping[int, str]) -> int:
    out = 0
    for node in nodes:
        out |= 1 << node
    return out


def _route_text(graph: Graph, route: Sequence[tuple[int, str]]) -> str:
    """``a -> b -[any attribute]-> c -[.name]-> d``: a route of :meth:`Graph.route`, its middle left out when long."""
    hops = {"*": "any attribute", INSTANCES: "a class handed out", GETTERS: "a value read under a computed name"}
    parts = [graph.describe(route[0][0])]
    for node, name in route[1:]:
        hop = "an override in a subclass in use" if name.startswith(DISPATCH) else hops.get(name, "." + name)
        parts.append(f" -[{hop}]-> " if name else " -> ")
        parts.append(graph.describe(node))
    if len(route) > 8:  # the first three nodes and the last four
        parts = [*parts[:5], " -> … -> ", *parts[-7:]]
    return "".join(parts)


def _first(nodes: Mapping[int, str], reach: int, index: TestIndex, nodeid: str) -> str:
    graph = index._graph
    for node, label in nodes.items():
        if reach >> node & 1:
            scope = graph.node_scope[node]
            if scope.kind in ("function", "method") and nodeid.endswith("::" + scope.qualname.replace(".", "::")):
                return f"the test itself changed: {label}"
            return f"reaches {label}"
    return ""


def _installed(config: PytestConfig, files: Mapping[str, bytes]) -> PytestConfig:
    """The project installed as its own command installs it (``pip install -e .``; every pytest job does, see
    :mod:`trellis.ci.project`): its package roots are import roots, its own ``pytest11`` plugins load in every
    test. A stage whose own env sets ``PYTHONPATH`` gets no root added: the extra roots only select more."""
    project = read_project(files.get, lambda d: any(p.startswith(d + "/") for p in files))
    if entry_points_unstated(files.get, files):
        config = replace(config, entry_points=None)
    elif project is not None:
        # "module:attr [extra]" -> "module:attr": EntryPoint.load() imports the module and returns the attribute.
        named = ((group, value.split("[")[0].replace(" ", "")) for group, _, value in project.entry_points)
        config = replace(config, entry_points=tuple(dict.fromkeys((g, n) for g, n in named if n)))
    if project is None:
        return config
    if project.extensions or project.extensions_known:
        config = replace(config, extensions=project.extensions, extensions_known=project.extensions_known)
    roots = tuple(r for r in project.roots if r and r not in config.pythonpath)
    plugins = tuple(value.split("[")[0].partition(":")[0].strip() for _, value in project.pytest_plugins())
    if not roots and not plugins:
        return config
    return replace(config, pythonpath=(*config.pythonpath, *roots), plugins=(*config.plugins, *plugins))
