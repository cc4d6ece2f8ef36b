"""Code that ``exec``/``eval`` ran, observed while tests ran: what bounds a node that evaluates generated code.

A node that calls ``exec`` or ``eval`` may run any code of the tree as far as
the source shows: the code it evaluates is a string built at run time
(``attrs`` writes every class's ``__init__``, ``__eq__`` and ``__repr__``
this way, from the field names). The pytest job records every piece of code
that a function of the tree hands to ``exec``/``eval`` (an audit hook:
:mod:`trellis.ci.execution.pytest_plugin`): the source given to ``compile``,
or, when there was none, the names its bytecode uses. This module reads them
with the same analysis as the tree's files and keeps, per *site* (the
function of the tree that called ``exec``/``eval``), the union over every
observed piece of code: the names it reads (as attribute names of objects of
unknown type, resolved like ``obj.save()``), whether it reads a computed
attribute, the dotted strings and words it holds. Code that imports, calls
``exec`` again or starts a process stays unbounded.

Why it is sound. Generated code reaches the tree only through the values its
namespace holds (references of the code that built it: reached already), the
names it reads, and imports (which keep the site unbounded). So a test whose
run was observed reaches nothing through the site beyond the union. Its
next run generates the same code as long as nothing it runs changed — and a
change to anything it runs, through the site's names included, selects it.
That holds along one line of history, but a record made on one branch says
nothing about another branch's code: a test's observation counts only when
its *closure key* (:func:`trellis.ci.selection.reuse.closure_keys`: the content of every file
its reach covers, with the site's union, and the toolchain and environment)
equals the key recorded when it ran. A test whose key was not recorded treats
the site as "may run any code", as before.

The same holds for two other sites whose effect the source cannot bound: a
computed import (``import_module(name)``, ``importlib.resources.files(package)``,
``pkgutil.get_data(package, ...)``: any module) and unpickling
(``pickle.load``/``loads``: any code). The job records every name such a call
was given (wrappers bound before the tree's first import: a module imported
already is recorded too) and every global unpickling looked up
(``pickle.find_class``); a site keeps their union (``SiteCode.kinds``,
``modules``, ``globals``), and the graph bounds it by them
(:class:`trellis.ci.selection.ref_graph.Graph`) under the same closure keys.

And for a third: starting a process whose command the source does not show
(``subprocess.run(cmd)``, ``Popen([pager, *params])``). The job hears every
process a function of the tree starts (the audit events ``subprocess.Popen``,
``os.system``, ``os.exec``, ``os.posix_spawn``, ``os.spawn``, ``os.startfile``: each fires per call) and
writes, per site, what the program was: one that runs no Python code of the
tree (a compiled program that is neither a Python interpreter nor a program
that runs commands it is given — a shell, ``env``, ``xargs``, ``make``…), a
Python interpreter with its arguments (read as the source's constant commands
are: ``python -m pkg.cli`` runs that module of the tree, ``python -c`` code that
uses only the standard library runs none; anything else may run any code),
or one that may run any code (a script — a venv's console script —, a program
of the tree, a shell command it cannot split into such programs). A site
keeps the union (``SiteCode.runs``, ``spawns``), and one with no record
started no process in any observed run: the job hears every start, so a test
observed under its closure key started nothing there (keys recorded before
the job heard processes are dropped: :data:`FORMAT`).

And for a fourth: the builtin ``getattr`` called with a computed name (``getattr(transformer, rule_name)``, lark's
rule callbacks; ``getattr(target, name)``, a dispatcher's): any attribute of anything, as far as the source shows.
The job wraps the builtin before any of the tree's code runs and writes, per site (the function of the tree that
called it), every name its calls were given (``SiteCode.attrs``); the graph reads such a call as a read of each
of those names (``x.name``: resolved as the source's own would be), and a function or method without a record
made no such call in any observed run. The builtin ``vars`` with an argument is heard the same way (voluptuous's
``vars(obj)`` of whatever object it validates: a module's or a class's namespace, maybe, whose values are any
attribute): the job wraps it too and writes, per site, every name of the namespace it handed out (its values are
those attributes: reading them whole runs less than ``getattr`` would, no descriptor); a namespace that is not a
plain dict or mappingproxy is not iterated, the site reads any name. Not heard, so left unbounded: a tree that binds the name ``getattr`` to
something else, module and class bodies without a record (they may run before the wrapper), and every site of a
tree that runs its own modules in Python processes (no job hears a child interpreter).

Carried over. A closure key hashes whole files, so a commit changing a file in
a test's closure moves its key even when the change is in a part the test
does not reach (a helper beside the ones it calls, another test of its test
file): at the next commit it would count as not observed, and every test
through a site would run again. So when a selection leaves out a test that
was observed under its key in the tree it compared against, the test counts
as observed in the new tree too, under its key there
(:meth:`trellis.ci.selection.selector.TestSelector.select`). Why it is sound:
"not selected" says no change reaches what the test may run, its reach
through each site bounded by the union observed there, which holds what this
test did there (it counted as observed); so it runs the same code in the new
tree, and generates, imports, unpickles and starts the same things at each
site — its observation holds there as it held before. By induction over
commits, as long as each step's "not selected" was sound: a carried
observation stands only for a test that the selection, itself relying on
observations made or carried before, left out. What is not carried: a test
selected (it counts as observed in the new tree only once a job runs it to
its end — a job stopped by ``fail_fast``, a cancellation or the test's
timeout observes nothing for it, as before); every test of a selection that
runs everything (configuration pytest or packaging reads, the root
``conftest.py``, the environment, a file that does not parse: those change
what every test may do) or without a tree to compare against; a test observed
under another salt (another stage definition, toolchain or environment: its
key in the parent does not match, so it is not "observed" there). Only the
tree the selection compared against counts (on a merge, the parent diffed):
a test observed on another branch says nothing about this diff. The union of
a site may grow afterwards (other tests observed there), which may change the
carried key's files; that costs runs, never soundness (a larger union bounds
a test's reach less tightly, never more).

Passing results (:mod:`trellis.ci.selection.reuse`) are the same question —
"not selected" says the result would not change — but carrying them is not
done: a test selected again later reaches a changed file, so its key is new
whatever was carried, and a stage asking for every test (``select = "all"``)
has its passes reused by key only, not by what selection says.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .file_reads import ReadIndex, SiteReads
from .python_calls import IMPORT_CALLS, PROCESS_CALLS, ROUND_TRIP_LOADS, python_target
from .python_refs import file_facts

__all__ = ["FORMAT", "KEYS_KEPT", "Observations", "SiteCode", "from_bytecode", "from_source", "from_started"]

# The observations' format: keys recorded under another were recorded by jobs that did not hear what processes were
# started, what getattr fetched or what vars handed out (a site without a record would wrongly say none was), so
# they do not count.
FORMAT = 4
_FETCHED = frozenset({"getattr"})
KEYS_KEPT = 8  # closure keys remembered per test (a few branches' worth)
_SOURCES_KEPT = 50_000  # digests of sources read, per repository
_DATA_MIN = 200  # characters: a container literal this long, assigned at the top level, is data (a serialized table)
_DATA_NAME = "__trellis_data__"  # what stands for such a literal in the code read apart from it
_LITERAL_NODES = (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Load, ast.UnaryOp, ast.USub, ast.UAdd)
# Names whose use in code known only by its bytecode may run anything or read a computed attribute.
_UNBOUNDED_NAMES = frozenset(
    {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint", "__builtins__"}
    | {name.rpartition(".")[2] for name in (*PROCESS_CALLS, *IMPORT_CALLS, *ROUND_TRIP_LOADS)}
    | {"load", "loads", "reload", "entry_points", "iter_entry_points", "load_entry_point", "resolve_name"}
    | {"iter_modules", "walk_packages", "exec_module", "load_module"}
)
_COMPUTED_ATTR_NAMES = frozenset({"getattr", "setattr", "delattr", "hasattr", "__getattribute__", "__getattr__"})


@dataclass(frozen=True, slots=True)
class SiteCode:
    """What was observed at one site (a union over every piece observed there).

    ``kinds``: what was observed there: ``eval`` (code exec/eval ran: the fields below ``modules``),
    ``import`` (``modules``), ``unpickle`` (``globals``), ``process`` (``runs``, ``spawns``). Of the code evaluated: ``names``: names it
    reads (globals and attributes alike); ``any_attr``: it reads an attribute under a computed name;
    ``strings``: dotted names in its strings; ``words``: the words of its short strings (the files it
    may name); ``imports``: the modules it imports by constant absolute names
    (``__import__('attr._make')``); ``dynamic``: why it may run anything ("" if it cannot).
    ``modules``: the absolute names the site's computed imports were given (``import_module(name)``,
    ``files(package)``); ``globals``: what unpickling there looked up (``pickle.find_class``:
    ``"module qualname"``). ``runs``: the modules of the tree Python processes started there ran
    (``python -m pkg.cli``); ``spawns``: why a process started there may run any code ("" if none may).
    ``attrs`` (kind ``getattr``): the names the site's calls of the builtin ``getattr`` fetched.
    """

    names: frozenset[str] = frozenset()
    any_attr: bool = False
    strings: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    imports: frozenset[str] = frozenset()
    dynamic: str = ""
    kinds: frozenset[str] = frozenset({"eval"})
    modules: frozenset[str] = frozenset()
    globals: frozenset[str] = frozenset()
    runs: frozenset[str] = frozenset()
    spawns: str = ""
    attrs: frozenset[str] = frozenset()

    def __or__(self, other: SiteCode) -> SiteCode:
        return SiteCode(
            names=self.names | other.names,
            any_attr=self.any_attr or other.any_attr,
            strings=self.strings | other.strings,
            words=self.words | other.words,
            imports=self.imports | other.imports,
            dynamic=self.dynamic or other.dynamic,
            kinds=self.kinds | other.kinds,
            modules=self.modules | other.modules,
            globals=self.globals | other.globals,
            runs=self.runs | other.runs,
            spawns=self.spawns or other.spawns,
            attrs=self.attrs | other.attrs,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "names": sorted(self.names),
            "any_attr": self.any_attr,
            "strings": sorted(self.strings),
            "words": sorted(self.words),
            "imports": sorted(self.imports),
            "dynamic": self.dynamic,
            "kinds": sorted(self.kinds),
            "modules": sorted(self.modules),
            "globals": sorted(self.globals),
            "runs": sorted(self.runs),
            "spawns": self.spawns,
            "attrs": sorted(self.attrs),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> SiteCode:
        def strs(key: str) -> frozenset[str]:
            value = raw.get(key, ())
            return frozenset(str(x) for x in value) if isinstance(value, list) else frozenset()

        return cls(
            names=strs("names"),
            any_attr=bool(raw.get("any_attr", False)),
            strings=strs("strings"),
            words=strs("words"),
            imports=strs("imports"),
            dynamic=str(raw.get("dynamic", "")),
            kinds=strs("kinds") if "kinds" in raw else frozenset({"eval"}),
            modules=strs("modules"),
            globals=strs("globals"),
            runs=strs("runs"),
            spawns=str(raw.get("spawns", "")),
            attrs=strs("attrs"),
        )


def from_source(source: str) -> SiteCode:
    """Read a piece of generated code as the tree's files are read (:func:`file_facts`)."""
    facts = file_facts("<generated>.py", source.encode("utf-8", "surrogatepass"), prune=False)
    if facts.error:
        return SiteCode(dynamic=f"evaluated code the analysis cannot read ({facts.error})")
    names: set[str] = set()
    strings: set[str] = set()
    words: set[str] = set()
    any_attr = False
    dynamic = ""
    for scope in facts.scopes:
        refs = scope.refs
        chains = [*refs.chains, *(c for base in scope.bases for c in base), *(c for v in scope.bound_values for c in v)]
        for chain in chains:
            names.add(chain.root)
            names.update(chain.attrs)
        names |= refs.attrs
        if scope.qualname:
            names.add(scope.name)  # a method it defines is called by its name (or as a dunder)
        strings.update(refs.strings)
        words |= refs.words
        any_attr = any_attr or refs.any_attr or refs.namespace
        if refs.evals:
            dynamic = dynamic or "evaluated code that calls exec/eval itself"
        if refs.unpickles or refs.processes:
            dynamic = dynamic or f"evaluated code that calls {(*refs.unpickles, *refs.processes)[0]}"
        dynamic = dynamic or refs.dynamic
        if refs.runs:
            dynamic = dynamic or "evaluated code that runs a module"
        if refs.unpickled:
            dynamic = dynamic or "evaluated code that unpickles a constant pickle"
    if "*" in names:  # getattr(x, computed): x's attribute, which the site's own names cannot resolve
        names.discard("*")
        any_attr = True
    imports: set[str] = set()
    for ref in (*facts.file_imports, *facts.star_imports):
        if ref.level or ref.module == "*" or ref in facts.star_imports:
            dynamic = dynamic or "evaluated code that imports a computed, relative or star name"
        imports.add(ref.module)
    return SiteCode(
        names=frozenset(names),
        any_attr=any_attr,
        strings=frozenset(strings),
        words=frozenset(words),
        imports=frozenset(imports),
        dynamic=dynamic,
    )


def split_data(source: str) -> tuple[str, list[str]]:
    """The code of ``source`` apart from its data: each container literal (a dict, list, tuple or set display)
    of at least :data:`_DATA_MIN` characters made of constants only (``DATA = {...}``, ``MEMO = (...)``) that a
    top-level statement assigns is replaced by a name, and given back as text.

    Code generated at run time often differs from one run to the next only there: lark's standalone parser is
    the same 3,500 lines of code each time, with the grammar's tables serialized in an order that varies with
    the interpreter's hash seed, so every job handed ``exec`` a source never read before, and reading it as a
    whole took seconds each time. Read apart (:meth:`Observations.read_source`), the code is read once and
    each literal on its own; the union is a bound of what the whole reads: a literal of constants holds no
    reference, only strings (the files and dotted names it may name, read as they are read in place), and
    the code around it, seeing a name of unknown value where the constants were, resolves less of what it
    computes from them (a ``getattr`` or an import through them is computed, not constant), never more.
    """
    if _DATA_NAME in source or len(source) < _DATA_MIN:
        return source, []
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source, []
    raw = source.encode("utf-8", "surrogatepass")
    starts = [0]
    for line in raw.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans: list[tuple[int, int]] = []
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
        if value is None or value.end_lineno is None or value.end_col_offset is None:
            continue
        start = starts[value.lineno - 1] + value.col_offset  # offsets are UTF-8 bytes
        end = starts[value.end_lineno - 1] + value.end_col_offset
        if (
            isinstance(value, (ast.Dict, ast.List, ast.Tuple, ast.Set))
            and end - start >= _DATA_MIN
            and all(isinstance(n, _LITERAL_NODES) for n in ast.walk(value))
        ):
            spans.append((start, end))
    if not spans:
        return source, []
    data: list[str] = []
    parts: list[bytes] = []
    at = 0
    for start, end in spans:
        parts += [raw[at:start], f"({_DATA_NAME})".encode()]
        data.append(raw[start:end].decode("utf-8", "surrogatepass"))
        at = end
    parts.append(raw[at:])
    return b"".join(parts).decode("utf-8", "surrogatepass"), data


def from_bytecode(names: Iterable[str], imports: bool) -> SiteCode:
    """Code the job saw without its source: the names its bytecode uses (and its identifier constants)."""
    found = frozenset(str(n) for n in names)
    dynamic = ""
    if imports:
        dynamic = "evaluated code that imports"
    elif found & _UNBOUNDED_NAMES:
        dynamic = f"evaluated code (without source) that uses {sorted(found & _UNBOUNDED_NAMES)[0]}"
    return SiteCode(names=found, any_attr=bool(found & _COMPUTED_ATTR_NAMES), dynamic=dynamic)


def from_started(record: Mapping[str, object]) -> SiteCode:
    """What the job wrote of a process a site started (:mod:`trellis.ci.execution.pytest_plugin`):
    ``{"started": program}`` runs no Python code of the tree, ``{"python": argv}`` a Python interpreter
    (its arguments, paths under the tree relative to it), ``{"any": why}`` may run any code."""
    python = record.get("python")
    if isinstance(python, list):
        words = ["python", *(str(w) for w in python[1:])]
        module = python_target(list(words))
        if module is None:
            shown = " ".join(words)
            return SiteCode(kinds=frozenset({"process"}), spawns=f"{shown[:200]} (a Python interpreter)")
        return SiteCode(kinds=frozenset({"process"}), runs=frozenset({module} if module else ()))
    if "any" in record:
        return SiteCode(kinds=frozenset({"process"}), spawns=str(record.get("any"))[:300] or "a program")
    return SiteCode(kinds=frozenset({"process"}))


@dataclass(slots=True)
class _Repo:
    sites: dict[str, SiteCode] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)  # digests of the sources already read
    keys: dict[str, list[str]] = field(default_factory=dict)  # test id -> closure keys of observed runs
    version: str = ""
    reads: dict[str, SiteReads] = field(default_factory=dict)  # site -> files it read, directories it listed
    read_index: ReadIndex | None = None  # of ``reads``, built when asked


class Observations:
    """Per repository: each site's observed code, and the closure keys under which tests were observed.

    Kept in memory and in one JSON file per repository under ``root`` (written atomically), so a
    restarted server keeps them; ``root`` None keeps them in memory only. A lost file costs runs,
    never soundness: an unknown site or test is "may run any code" again.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else None
        self._repos: dict[str, _Repo] = {}
        self._read: dict[str, SiteCode] = {}  # source digest -> its reading (shared by repositories)
        self._code: dict[str, SiteCode] = {}  # digest of a source's code apart from its data -> that code's reading
        self._guard = threading.Lock()

    def _path(self, repository: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / f"{hashlib.sha256(repository.encode()).hexdigest()[:24]}.json"

    def _load(self, repository: str) -> _Repo:
        found = self._repos.get(repository)
        if found is not None:
            return found
        repo = _Repo()
        path = self._path(repository)
        if path is not None:
            try:
                raw = json.loads(path.read_bytes())
                repo.sites = {str(k): SiteCode.from_json(v) for k, v in raw.get("sites", {}).items()}
                repo.sources = {str(s) for s in raw.get("sources", ())}
                repo.reads = {str(k): SiteReads.from_json(v) for k, v in raw.get("reads", {}).items()}
                if raw.get("format") == FORMAT:
                    repo.keys = {str(k): [str(x) for x in v][-KEYS_KEPT:] for k, v in raw.get("keys", {}).items()}
            except (OSError, ValueError, TypeError, AttributeError):
                repo = _Repo()
        repo.version = _version(repo.sites)
        self._repos[repository] = repo
        return repo

    def sites(self, repository: str) -> tuple[str, Mapping[str, SiteCode]]:
        """The version (a digest, "" when nothing was observed) and the observed code of each site."""
        with self._guard:
            repo = self._load(repository)
            return repo.version, dict(repo.sites)

    def reads(self, repository: str) -> ReadIndex:
        """The files each site was observed to read and the directories it listed (:mod:`.file_reads`)."""
        with self._guard:
            repo = self._load(repository)
            if repo.read_index is None:
                repo.read_index = ReadIndex(repo.reads)
            return repo.read_index

    def known_sources(self, repository: str) -> frozenset[str]:
        """Digests of the sources already read, and ``digest/fingerprint`` pairs of a source and a code object it
        was checked to compile to: a job need not send the one again, nor compile the other again."""
        with self._guard:
            return frozenset(self._load(repository).sources)

    def add_code(self, repository: str, lines: Iterable[str]) -> bool:
        """Merge a job's ``eval``, ``import``, ``unpickle``, ``process`` and ``getattr`` records (JSON lines of
        :mod:`trellis.ci.execution.pytest_plugin`'s stream); False if the job says it could not record
        everything, or does not say that it recorded (no test of it counts as observed)."""
        readings: list[tuple[str, tuple[str, ...], SiteCode | None]] = []
        reads: dict[str, SiteReads] = {}  # kept whether or not the job recorded everything: they only add
        complete = True
        recording = False
        with self._guard:
            unbounded = {site for site, code in self._load(repository).sites.items() if _runs_anything(code)}
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if "lost" in record:
                complete = False
            if record.get("recording") == FORMAT:  # the job's recorder ran, hearing processes too
                recording = True
            if "reads" in record:  # a file the site read, a directory it listed (file_reads)
                site = str(record.get("reads", ""))
                found = SiteReads.from_record(record) if "::" in site else None
                if found is not None:
                    reads[site] = reads[site] | found if site in reads else found
                continue
            if "process" in record:
                site = str(record.get("process", ""))
                if "::" in site:
                    readings.append((site, (), from_started(record)))
                continue
            if "getattr" in record:  # a name the builtin getattr fetched, called there with a computed one
                site = str(record.get("getattr", ""))
                if "::" in site:
                    if record.get("any"):  # too many names to keep: any
                        readings.append((site, (), SiteCode(kinds=_FETCHED, any_attr=True)))
                    else:
                        readings.append(
                            (site, (), SiteCode(kinds=_FETCHED, attrs=frozenset({str(record.get("name"))})))
                        )
                continue
            if "import" in record or "unpickle" in record:  # what a computed import was given, what unpickling found
                site = str(record.get("import", record.get("unpickle", "")))
                if "::" in site:
                    if "import" in record:
                        seen = SiteCode(kinds=frozenset({"import"}), modules=frozenset({str(record.get("module"))}))
                    else:
                        seen = SiteCode(kinds=frozenset({"unpickle"}), globals=frozenset({str(record.get("global"))}))
                    readings.append((site, (), seen))
                continue
            site = str(record.get("eval", ""))
            if "::" not in site:
                continue
            digest = str(record.get("sha", ""))
            pair = str(record.get("pair", ""))
            source = record.get("source")
            code: SiteCode | None
            if isinstance(source, str):  # read once per digest (the plugin's: the site and the source)
                code = self._read.get(digest) if digest else None
                if code is None and site in unbounded:
                    pass  # the site may run any code already: nothing this code reads can widen it
                elif code is None:
                    if len(self._read) > _SOURCES_KEPT:
                        self._read.clear()
                    code = self.read_source(source)
                    if digest:
                        self._read[digest] = code
            elif digest and pair:  # a source read before, now also checked to compile to another code object
                code = None
            else:
                names = record.get("names", ())
                code = from_bytecode(names if isinstance(names, list) else (), bool(record.get("imports", True)))
            readings.append((site, tuple(k for k in (digest, pair) if k), code))
            if code is not None and _runs_anything(code):
                unbounded.add(site)
        complete = complete and recording
        if reads:
            self._add_reads(repository, reads, save=not readings)
        if not readings:
            return complete
        with self._guard:
            repo = self._load(repository)
            changed = False
            for site, keys, code in readings:
                repo.sources.update(keys)
                if code is None:
                    continue
                before = repo.sites.get(site)
                after = code if before is None else before | code
                if after != before:
                    repo.sites[site] = after
                    changed = True
            if changed:
                repo.version = _version(repo.sites)
                self._save(repository, repo)
            elif len(repo.sources) > _SOURCES_KEPT:
                repo.sources.clear()  # only costs sending sources again
            else:
                self._save(repository, repo)
            return complete

    def read_source(self, source: str) -> SiteCode:
        """:func:`from_source` of ``source``, its code read once for every source that differs from it only in
        its data (:func:`split_data`)."""
        code, data = split_data(source)
        if not data:
            return from_source(source)
        digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
        read = self._code.get(digest)
        if read is None:
            if len(self._code) > _SOURCES_KEPT:
                self._code.clear()
            read = self._code[digest] = from_source(code)
        for literal in data:
            read = read | from_source(f"_ = (\n{literal}\n)\n")
        return dataclasses.replace(read, names=read.names - {_DATA_NAME})

    def _add_reads(self, repository: str, reads: Mapping[str, SiteReads], *, save: bool) -> None:
        """Merge a job's reads into the union per site (a union over branches and runs: more selection, never
        less)."""
        with self._guard:
            repo = self._load(repository)
            merged = dict(repo.reads)
            for site, found in reads.items():
                merged[site] = merged[site] | found if site in merged else found
            if merged != repo.reads:
                repo.reads = merged
                repo.read_index = None
                if save:
                    self._save(repository, repo)

    def add_keys(self, repository: str, keys: Mapping[str, str]) -> None:
        """Remember that each test ran, observed, under its closure key."""
        if not keys:
            return
        with self._guard:
            repo = self._load(repository)
            for test, key in keys.items():
                kept = repo.keys.setdefault(test, [])
                if key in kept:
                    kept.remove(key)
                kept.append(key)
                del kept[:-KEYS_KEPT]
            self._save(repository, repo)

    def observed(self, repository: str, keys: Mapping[str, str]) -> set[str]:
        """The tests of ``keys`` (test id -> closure key) that ran, observed, under that key."""
        with self._guard:
            recorded = self._load(repository).keys
            return {test for test, key in keys.items() if key in recorded.get(test, ())}

    def _save(self, repository: str, repo: _Repo) -> None:
        path = self._path(repository)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "repository": repository,
                    "format": FORMAT,
                    "sites": {k: v.to_json() for k, v in sorted(repo.sites.items())},
                    "sources": sorted(repo.sources),
                    "keys": repo.keys,
                    "reads": {k: v.to_json() for k, v in sorted(repo.reads.items())},
                }
            )
        )
        os.replace(tmp, path)


def _runs_anything(code: SiteCode) -> bool:
    """Whether code exec/eval ran at a site may run any code (the graph reads nothing else of it then)."""
    return "eval" in code.kinds and bool(code.dynamic)


def _version(sites: Mapping[str, SiteCode]) -> str:
    if not sites:
        return ""
    raw = json.dumps({k: v.to_json() for k, v in sorted(sites.items())}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
