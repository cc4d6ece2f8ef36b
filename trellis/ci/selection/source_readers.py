"""The nodes that may observe a docstring, a comment or a line number: what a docstring-only or formatting-only
change can change for a test.

A change whose semantic-diff details are only ``docstring`` and/or ``formatting`` leaves the code as it was:
what a test sees changes only through the docstring's value or through the source text and its line numbers.
Those are read by

* the docstring's value: ``x.__doc__``, an attribute under a computed name (``getattr(x, name)``, a namespace:
  ``vars(x)``, ``x.__dict__``), ``inspect``, ``pydoc``, ``doctest``, ``help`` (the doctest examples of the
  docstring are the ``<doctests>`` node's, which counts too);
* the source text and line numbers: ``inspect.getsource*``, ``linecache``, ``traceback`` and ``sys.exc_info``,
  ``warnings`` and ``logging`` (their records' ``lineno``), frames (``sys._getframe``, ``f_lineno``), code objects
  (``co_firstlineno``, ``co_lines``, ``co_positions``), a module's ``__file__`` (the text itself);
* a package installed beside the tree (not the standard library, not pytest): it may read any of these (``click``
  builds a command's help from its function's ``__doc__``).

:func:`reader_bits` gives the nodes whose code references one of them; a test reaching none of those reads
nothing such a change changes (:meth:`trellis.ci.selection.index.TestIndex.select`).

A ``lineno`` (``end_lineno``) read from an object of unknown type is apart: values that hold no line of the tree's
code carry it too — an ``ast`` node of a parsed text, a token, a ``SyntaxError`` of a compiled string, a parser's
position in its document (pyflakes reads ``node.lineno`` of the source it checks on every path, so every moved
definition selected every test). Such a read sees a line of the tree's code only in a test that also reaches where
one enters a value (:func:`line_source_bits`): a frame, a traceback or a code object got, a warning or a log record
captured, ``inspect``'s and ``traceback``'s functions, a module's file or source text, a fixture that records them
(``recwarn``, ``caplog``), a package installed beside the tree. :func:`generic_line_bits` gives the nodes reading it.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from .observed import SiteCode
from .python_calls import NAMESPACE_ATTRS
from .python_refs import GETTERS, Chain, FileFacts, ImportRef, NodeRefs
from .ref_graph import Graph, fetching

__all__ = ["reader_bits"]

# Standard-library modules that read docstrings, source text or line numbers, of the objects handed to them too
# (``cmd.Cmd`` answers ``help x`` with ``do_x.__doc__``; ``xmlrpc.server``'s ``system.methodHelp`` gives a
# function's docstring; ``asyncio``'s reprs and debug messages carry a coroutine's file and line): from a grep of
# the standard library for ``__doc__``, ``getdoc``, ``co_firstlineno``, ``f_lineno``, ``getsource`` and
# ``linecache``, less the modules that only copy a docstring (``functools.wraps``) or set their own.
READER_MODULES = frozenset(
    {"inspect", "pydoc", "doctest", "linecache", "traceback", "warnings", "logging", "tokenize", "dis"}
    | {"pdb", "bdb", "trace", "cProfile", "profile", "faulthandler", "code", "codeop", "tracemalloc"}
    | {"cmd", "xmlrpc", "asyncio", "cgitb", "ast"}
)
# Names (an attribute read, a name imported from a module, a builtin) that read them.
READER_NAMES = frozenset(
    {"__doc__", "__file__", "__code__", "__traceback__", "help", "vars", "dir", "__dir__", "shortDescription"}
    | {"_getframe", "exc_info", "settrace", "setprofile", "monitoring", "currentframe"}
    | {"f_lineno", "f_code", "f_back", "tb_lineno", "tb_frame", "tb_next", "traceback", "getrepr", "lineno"}
    | {"co_firstlineno", "co_lines", "co_positions", "co_lnotab", "co_linetable", "end_lineno"}
    | {"getsource", "getsourcelines", "getdoc", "getcomments", "getsourcefile", "getfile", "format_exc"}
    | {"print_exc", "extract_stack", "extract_tb", "format_exception", "print_exception"}
)
# Reader names a module has without binding them: builtins and the module's own attributes.
_IMPLICIT = frozenset({"help", "vars", "dir", "__doc__", "__file__"})
# Packages outside the standard library that read none of them for a test's outcome (typing_extensions: the
# backports of ``typing``).
QUIET_PACKAGES = frozenset({"pytest", "_pytest", "pluggy", "typing_extensions"})
# What of ``inspect`` reads neither a docstring nor the source text nor a frame: it looks at an object's type,
# its signature or its bases (``inspect.getmro``, ``inspect.isgenerator``, ``inspect.signature``).
QUIET_INSPECT = frozenset(
    {"getmro", "signature", "Signature", "Parameter", "unwrap", "getfullargspec", "getcallargs", "get_annotations"}
    | {"isclass", "isfunction", "ismethod", "isgenerator", "isgeneratorfunction", "iscoroutine", "iscoroutinefunction"}
    | {"isasyncgen", "isasyncgenfunction", "isawaitable", "isabstract", "isbuiltin", "isroutine", "ismodule"}
    | {"isdatadescriptor", "ismethoddescriptor", "ismethodwrapper", "iscode", "isframe", "istraceback"}
)


# Attribute names that values holding no line of the tree's code carry as well (an ``ast`` node, a token, a
# ``SyntaxError`` of a compiled string): read from an object of unknown type, they count in a test reaching a line
# source only.
GENERIC_LINE_NAMES = frozenset({"lineno", "end_lineno"})
# Where a line of the tree's code enters a value: frames, tracebacks and code objects got, warnings and log records
# captured (not emitted: ``warnings.warn``, ``logger.info`` hand their line to a handler, which these name),
# pytest's and unittest's recorders and runners, a child process (its output may hold a traceback), a thread. Not a module's file or source text: a test parsing it sees every change alike.
LINE_SOURCE_NAMES = (
    frozenset({"_getframe", "currentframe", "exc_info", "exception", "last_traceback", "last_exc", "_current_frames"})
    | {"settrace", "setprofile", "monitoring", "excepthook", "unraisablehook", "call_tracing", "_current_exceptions"}
    | {"__traceback__", "tb_frame", "tb_next", "tb_lineno", "f_back", "f_code", "f_lineno", "f_trace", "gi_frame"}
    | {"cr_frame", "ag_frame", "gi_code", "cr_code", "ag_code", "cr_origin", "__code__", "co_firstlineno"}
    | {"co_lines", "co_positions", "co_lnotab", "co_linetable", "traceback", "tb", "getrepr", "_excinfo"}
    | {"catch_warnings", "showwarning", "formatwarning", "_showwarnmsg", "WarningMessage", "warns", "deprecated_call"}
    | {"recwarn", "WarningsRecorder", "assertWarns", "assertWarnsRegex", "assertLogs", "assertNoLogs", "caplog"}
    | {"LogRecord", "makeLogRecord", "setLogRecordFactory", "getLogRecordFactory", "Handler", "addHandler"}
    | {"Filter", "addFilter", "Formatter", "basicConfig", "dictConfig", "fileConfig", "records", "record_tuples"}
    | {"getsourcelines", "findsource", "getframeinfo", "getouterframes", "getinnerframes", "stack", "trace"}
    | {"DocTestFinder", "DocTestSuite", "testmod", "run_docstring_examples", "DocFileSuite", "testfile"}
    | {"DocTestRunner", "DebugRunner", "DocTestCase", "testsource", "raises", "ExceptionInfo", "excinfo"}
    | {"TestResult", "TextTestResult", "TextTestRunner", "TestProgram", "format_exc", "print_exc", "extract_stack"}
    | {"extract_tb", "format_exception", "print_exception", "TracebackException", "StackSummary", "FrameSummary"}
)
# Standard-library modules that own reader or line-source names (``sys._getframe``, ``logging.Formatter``): the
# first attribute read from any other (``string.Formatter``, ``os.stat``) is that module's own, none of those.
_OWNERS = frozenset({"sys", "logging", "warnings", "inspect", "doctest", "unittest", "types", "builtins"})
# Modules any use of which may put such a line into a value (``traceback.extract_stack()``, ``linecache``).
LINE_SOURCE_MODULES = frozenset(
    {"traceback", "linecache", "dis", "tracemalloc", "faulthandler", "pdb", "bdb", "trace", "cProfile", "profile"}
    | {"pstats", "cgitb", "code", "asyncio", "tokenize", "subprocess", "multiprocessing", "concurrent", "threading"}
)


@dataclass(frozen=True)
class _Readers:
    """What counts as reading: the names and modules; the names of ``inspect`` that read (None: all but
    :data:`QUIET_INSPECT`); whether docstrings are read too (then ``__doc__`` under any name: a namespace, a
    ``"{0.__doc__}"``, a doctest, and an attribute under a computed name when ``computed``); whether a package
    installed beside the tree counts."""

    names: frozenset[str]
    modules: frozenset[str]
    inspect: frozenset[str] | None
    docstrings: bool
    installed: bool
    computed: bool = True  # with ``docstrings``: an attribute read under a computed name may be ``__doc__``
    # Do ``exec``/``eval`` and ``getattr`` with a computed name at a site that was observed read only what the code
    # they ran names and the names they fetched? For a change of code (a docstring, comments, formatting): a test
    # not observed at the site is selected through it anyway (the ``through`` rule of
    # :meth:`~trellis.ci.selection.index.TestIndex.select`). Not for a definition that only moved, which changes no
    # code: such a test is not selected through the site, which may read any line.
    observed_evals: bool = True


# What captures, formats or reads back a warning or a log record (``LINE_SOURCE_NAMES``' of them).
_CAPTURES = frozenset(
    {"catch_warnings", "showwarning", "formatwarning", "_showwarnmsg", "WarningMessage", "warns", "deprecated_call"}
    | {"recwarn", "WarningsRecorder", "assertWarns", "assertWarnsRegex", "assertLogs", "assertNoLogs", "caplog"}
    | {"LogRecord", "makeLogRecord", "setLogRecordFactory", "getLogRecordFactory", "Handler", "addHandler"}
    | {"Filter", "addFilter", "Formatter", "basicConfig", "dictConfig", "fileConfig", "records", "record_tuples"}
)
_DOCS_AND_TEXT = _Readers(READER_NAMES, READER_MODULES, None, docstrings=True, installed=True)
# A change of a docstring alone (semantic-diff details ``docstring``; a comment on its lines folds in): what reads
# docstrings, and what may read the source text of a definition or its line numbers — the text around the docstring
# may have moved — but not a module merely
# *emitting* warnings or log records (``warnings.warn``, ``logging.getLogger(__name__)`` at module level: nearly
# every module of many projects): an emitted record carries the line of the statement emitting it, which no
# docstring is, and formatting it or reading its line is a capture (``catch_warnings``, a ``Formatter``,
# ``caplog``...), which these names keep, as for lines (:data:`_LINES`).
_DOCSTRING = _Readers(
    READER_NAMES | _CAPTURES,
    READER_MODULES - {"warnings", "logging"},
    None,
    docstrings=True,
    installed=True,
)
# What reads a line number of the tree's code, or a frame or a traceback, and no text but the lines of statements a
# frame stands at (a traceback's lines, a log record's or a warning's): what a docstring changed in place cannot
# change for a test — its lines and every line below it stayed where they were, and no statement's text changed.
_LINE_NAMES = frozenset(
    {"_getframe", "exc_info", "settrace", "setprofile", "monitoring", "currentframe", "f_lineno", "f_back"}
    | {"tb_lineno", "tb_frame", "tb_next", "traceback", "lineno", "end_lineno", "__traceback__"}
    | {"co_firstlineno", "co_lines", "co_positions", "co_lnotab", "co_linetable"}
    | {"format_exc", "print_exc", "extract_stack", "extract_tb", "format_exception", "print_exception"}
)
# A change of a docstring alone whose lines all stayed where they were (ChangedEntity.lines_kept): what reads
# docstrings or the whole text — not a frame's line, its code's position, a traceback's lines of statements, a
# warning's or a log record's line (``f_code`` and ``__code__`` stay: a code object's constants hold its docstring;
# so do ``inspect``, ``pdb``, ``cgitb`` and ``trace``, which may show lines around a statement).
_DOCSTRING_IN_PLACE = _Readers(
    READER_NAMES - _LINE_NAMES,
    READER_MODULES
    - {"warnings", "logging", "traceback", "faulthandler", "tracemalloc", "cProfile", "profile"}
    - {"asyncio"},
    None,
    docstrings=True,
    installed=True,
)
# A change of comments or formatting alone (no docstring): the source text and its line numbers changed, the
# docstring's value did not — what reads a docstring by a computed name, a namespace or ``__doc__`` sees nothing,
# nor do the modules that read only docstrings or parse text handed to them (``ast``: the text's reader counts).
_SOURCE_TEXT = _Readers(
    READER_NAMES - {"__doc__", "help", "vars", "dir", "__dir__", "shortDescription", "getdoc"},
    READER_MODULES - {"ast", "pydoc", "doctest", "cmd", "xmlrpc"},
    frozenset({"getsource", "getsourcelines", "findsource", "getcomments", "getfile", "getsourcefile", "getabsfile"})
    | {"getframeinfo", "getouterframes", "getinnerframes", "stack", "trace", "getlineno", "getblock", "FrameInfo"}
    | {"Traceback", "currentframe"},
    docstrings=False,
    installed=True,
)
# A definition that only moved (a change above it added or removed lines) has the same code and text: only the
# line numbers its frames, code objects and tracebacks carry changed, which only what reads a line number sees:
# ``inspect``'s frame and source-line functions, the modules that format tracebacks and frames, a warning's or a
# log record's line as it is formatted or read (``formatwarning``, a logging ``Formatter``, a record's
# ``lineno``, pytest's ``caplog``, a format string naming ``lineno``) — not emitting a warning or a log record,
# not a docstring, not ``__file__`` (a file's text sees any change to it: selection counts the tests reaching what
# changed, for every kind of change). Not counted: a package installed beside the tree that reads its caller's
# line (a logger's ``{line}``): its calls are mostly not that (``six.moves.range``), and which are is the package's.
_LINES = _Readers(
    READER_NAMES.difference({"__doc__", "help", "vars", "dir", "__dir__", "shortDescription", "getdoc", "getcomments"})
    - {"__file__"}
    # (a frame or a traceback got is not its line read: ``f_lineno``, ``tb_lineno`` or a formatter reads it)
    - {"_getframe", "exc_info", "currentframe", "f_back", "f_code", "tb_frame", "tb_next", "__traceback__"}
    - {"__code__", "traceback", "settrace", "setprofile", "monitoring"}
    | {"formatwarning", "showwarning", "Formatter", "basicConfig", "dictConfig", "fileConfig", "LogRecord"}
    | {"makeLogRecord", "caplog"},
    READER_MODULES.difference({"inspect", "pydoc", "doctest", "cmd", "xmlrpc", "warnings", "logging", "asyncio"})
    - {"tokenize", "ast", "codeop"},
    frozenset({"getsourcelines", "findsource", "getframeinfo", "getouterframes", "getinnerframes", "stack"})
    | {"trace", "getlineno", "getblock", "FrameInfo", "Traceback"},
    docstrings=False,
    installed=False,
    observed_evals=False,
)


def reader_bits(
    graph: Graph,
    *,
    lines_only: bool = False,
    docs: bool = True,
    text: bool = True,
    lines: bool = True,
    doc_named: bool = True,
) -> int:
    """The nodes of ``graph`` (as bits) whose code may read a docstring, the source text or a line number;
    ``lines_only``: a line number (what sees a definition that only moved); not ``docs``: the source text or a line
    number (what sees a change of comments or formatting alone); not ``text``: what sees a docstring's change alone
    (and not ``lines`` either: one that moved no line).

    ``doc_named``: may the tree make the string ``__doc__`` as a value (:func:`~trellis.ci.selection.python_refs.
    names_doc`, a data file holding it)? If not, ``getattr(x, name)`` with a computed name reads no docstring:
    its names come from the tree's strings and data (marshmallow's field names, a registry's keys) or from
    listing a namespace (``dir()``, ``vars()``, ``__dict__``, ``inspect.getmembers``), which counts as reading
    by itself."""
    readers = (
        _LINES
        if lines_only
        else (_DOCS_AND_TEXT if text else _DOCSTRING if lines else _DOCSTRING_IN_PLACE)
        if docs
        else _SOURCE_TEXT
    )
    if readers.docstrings and not doc_named:
        readers = dataclasses.replace(readers, computed=False)
    out = 0
    for node, scope in enumerate(graph.node_scope):
        facts = graph.facts[graph.node_path[node]]
        site = graph.observed.get(node)
        refs = scope.refs
        # exec/eval ran the code observed (a node that may run any code is selected by any change of code anyway)
        bounded = readers.observed_evals and graph.observed_bits >> node & 1 and not graph.dynamic[node]
        if bounded and refs.fetches and node in graph.fetched:  # getattr(x, computed): the names it fetched
            refs = fetching(refs, graph.fetched[node])
        if (
            (scope.kind == "doctest" and readers.docstrings)
            or _reads(
                graph,
                facts,
                refs,
                readers,
                bounded_evals=bool(bounded),
                export_list=scope.kind == "name" and scope.name == "__all__",
            )
            or (lines_only and not readers.names.isdisjoint(scope.args))  # a fixture: ``caplog``
            or (site is not None and _site_reads(site, readers))
        ):
            out |= 1 << node
    return out


def generic_line_bits(graph: Graph) -> int:
    """The nodes (bits) reading a ``lineno`` or ``end_lineno`` from an object of unknown type (not only storing
    it): a line of the tree's code only in a test that also reaches a :func:`line_source_bits` node."""
    out = 0
    for node, scope in enumerate(graph.node_scope):
        refs = scope.refs
        if (
            not GENERIC_LINE_NAMES.isdisjoint(refs.attrs - refs.stored)
            or not GENERIC_LINE_NAMES.isdisjoint(refs.words)  # getattr(node, "lineno", None)
            or any(
                not refs.stored.issuperset(GENERIC_LINE_NAMES.intersection(chain.attrs))
                for chain in refs.chains
                if not GENERIC_LINE_NAMES.isdisjoint(chain.attrs)
            )
        ):
            out |= 1 << node
    return out


def line_source_bits(graph: Graph) -> int:
    """The nodes (bits) where a line of the tree's code may enter a value (:data:`LINE_SOURCE_NAMES`,
    :data:`LINE_SOURCE_MODULES`, ``inspect`` but its type tests, a package installed beside the tree), or that run
    any code. (Not a module's file or text: a test parsing it sees every change to the file alike.)"""
    out = 0
    for node, scope in enumerate(graph.node_scope):
        facts = graph.facts[graph.node_path[node]]
        refs = scope.refs
        site = graph.observed.get(node)
        if (
            refs.dynamic
            or refs.evals
            or refs.runs  # a child process's output may hold a traceback
            or refs.processes
            or not LINE_SOURCE_NAMES.isdisjoint(scope.args)
            or not LINE_SOURCE_NAMES.isdisjoint(refs.attrs)
            or any(_line_source_chain(graph, facts, chain) for chain in refs.chains)
            # (importing a standard-library module makes no such value, its uses do — chains, above; a package
            # installed beside the tree runs its own code when imported: it may install a hook)
            or any(_installed(graph, facts.path, ref) for ref in refs.imports)
            or (site is not None and (site.any_attr or bool(site.dynamic) or bool(site.runs or site.spawns)))
        ):
            out |= 1 << node
    return out


def _line_source_chain(graph: Graph, facts: FileFacts, chain: Chain) -> bool:
    if not LINE_SOURCE_NAMES.isdisjoint(_read_attrs(facts, chain)):
        return True
    if chain.kind == "import":
        return chain.spec is not None and _line_source_import(graph, facts.path, chain.spec, chain.attrs)
    if chain.kind != "global":
        return False
    if chain.root in LINE_SOURCE_NAMES and facts.star_imports and chain.root not in facts.bindings:
        return True
    return any(_line_source_import(graph, facts.path, ref, chain.attrs) for ref in facts.bindings.get(chain.root, ()))


def _line_source_import(graph: Graph, path: str, ref: ImportRef, attrs: tuple[str, ...] = ()) -> bool:
    """Does the import ``ref`` (of which ``attrs`` are read) name a line source: a source module or name, a
    function of ``inspect`` that is no type test, a package installed beside the tree?"""
    if ref.level:
        return False
    top = ref.module.partition(".")[0]
    if top in LINE_SOURCE_MODULES or ref.name in LINE_SOURCE_NAMES and not _foreign_name(ref):
        return True
    if ref.module == "inspect":
        name = ref.name or (attrs[0] if attrs else "")
        return name not in QUIET_INSPECT
    return _installed(graph, path, ref)


def _installed(graph: Graph, path: str, ref: ImportRef) -> bool:
    """Does ``ref`` import a package installed beside the tree (not the standard library's, not pytest's)?"""
    top = ref.module.partition(".")[0]
    if ref.level or top in sys.stdlib_module_names or top in QUIET_PACKAGES:
        return False
    return not graph.import_files(path, ref)


def _site_reads(site: SiteCode, readers: _Readers) -> bool:
    """Does the code observed at a site (``exec``/``eval``'s, the names ``getattr`` fetched) read what ``readers``
    count?"""
    return (
        site.any_attr
        or bool(site.dynamic)
        or not readers.names.isdisjoint(site.names | site.attrs)
        or any(_word_reads(word, readers) for word in site.words)
    )


def _word_reads(word: str, readers: _Readers) -> bool:
    """Does a string ``word`` of the code name what ``readers`` count: ``"{0.__doc__}".format(f)``, ``"%(lineno)d"``
    (not ``getattr(node, "lineno")``: :func:`generic_line_bits`)?"""
    return ("__doc__" in word and readers.docstrings) or (
        "lineno" in word and word not in GENERIC_LINE_NAMES and "lineno" in readers.names
    )


def _reads(
    graph: Graph,
    facts: FileFacts,
    refs: NodeRefs,
    readers: _Readers,
    *,
    bounded_evals: bool = False,
    export_list: bool = False,
) -> bool:
    """Does code of ``refs`` read what ``readers`` count? ``bounded_evals``: its ``exec``/``eval`` ran code observed
    (:func:`_site_reads` reads it); ``export_list``: the node is a module's ``__all__``, whose strings are the names
    a star import binds (``"__doc__"`` among them names no format string nor attribute read)."""
    if refs.dynamic or (refs.evals and not bounded_evals):
        return True
    if readers.docstrings and (
        refs.namespace
        or (readers.computed and (refs.any_attr or "*" in refs.attrs or GETTERS in refs.attrs))
        or (refs.doc_copies and graph.doc_setters)  # a copy into a __doc__ whose store runs code of the tree
        or refs.namespace_looked  # a class's namespace holds its docstring: compared, tested, measured
    ):
        return True
    if not (readers.names - GENERIC_LINE_NAMES).isdisjoint(refs.attrs - refs.stored):
        return True
    if any(_word_reads(word, readers) for word in refs.words) and not export_list:
        return True
    return any(_chain_reads(graph, facts, chain, readers, refs.stored) for chain in refs.chains)


def _read_attrs(facts: FileFacts, chain: Chain) -> tuple[str, ...]:
    """The attributes of ``chain`` that may be a reader's or a line source's: not the first of a chain rooted at a
    standard-library module that owns none of those names (``string.Formatter`` is no logging ``Formatter``)."""
    if chain.kind != "global" or not chain.attrs:
        return chain.attrs
    refs = facts.bindings.get(chain.root, ())
    if refs and all(
        not r.level
        and not r.name
        and r.module.partition(".")[0] in sys.stdlib_module_names
        and r.module.partition(".")[0] not in _OWNERS | READER_MODULES | LINE_SOURCE_MODULES
        for r in refs
    ):
        return chain.attrs[1:]
    return chain.attrs


def _foreign_name(ref: ImportRef) -> bool:
    """Is ``ref`` a name imported from a standard-library module that owns no reader's or line source's name
    (``from string import Formatter``: string's, no logging ``Formatter``), as :func:`_read_attrs` reads
    ``string.Formatter``?"""
    top = ref.module.partition(".")[0]
    return (
        not ref.level
        and bool(ref.name)
        and top in sys.stdlib_module_names
        and top not in _OWNERS | READER_MODULES | LINE_SOURCE_MODULES
    )


def _chain_reads(graph: Graph, facts: FileFacts, chain: Chain, readers: _Readers, stored: frozenset[str]) -> bool:
    # (An attribute the code only stores into is no read: simplejson's ``self.lineno = ...`` of a JSON document.)
    read = readers.names.intersection(_read_attrs(facts, chain)) - GENERIC_LINE_NAMES
    if read and not stored.issuperset(read):
        return True
    if readers.docstrings and (
        (readers.computed and "*" in chain.attrs) or not NAMESPACE_ATTRS.isdisjoint(chain.attrs)
    ):
        return True
    if chain.kind == "import":  # (``import inspect`` in the function: its type tests and signatures read nothing)
        if chain.spec == ImportRef(0, "inspect") and chain.attrs:
            return _inspect_reads(chain.attrs[0], readers)
        return chain.spec is not None and _outside(graph, facts.path, chain.spec, readers)
    if chain.kind != "global":
        return False
    foreign = chain.root in facts.bindings and all(map(_foreign_name, facts.bindings[chain.root]))
    if (
        chain.root in readers.names
        and not foreign
        and (
            chain.root in _IMPLICIT
            or chain.root in facts.values
            or chain.root in facts.defs
            or chain.root in facts.bindings
            or facts.star_imports
        )
    ):
        # (A name the module does not bind is the code's own variable — simplejson's ``lineno`` local to
        # ``linecol``, the line of a JSON document — whose value some other read got, counted there.)
        return True
    refs = facts.bindings.get(chain.root, ())
    if chain.attrs and refs and all(r == ImportRef(0, "inspect") for r in refs):
        return _inspect_reads(chain.attrs[0], readers)
    if chain.attrs and chain.attrs[0] in QUIET_INSPECT and not refs:
        return False  # (a builtin: no reader but by its name)
    return any(_outside(graph, facts.path, ref, readers) for ref in refs)


def _inspect_reads(name: str, readers: _Readers) -> bool:
    return name not in QUIET_INSPECT if readers.inspect is None else name in readers.inspect


def _outside(graph: Graph, path: str, ref: ImportRef, readers: _Readers) -> bool:
    """Does the import ``ref`` name a reader: a reader module, a reader name, or a package installed beside the
    tree (not the standard library's, not pytest's)?"""
    if ref.level:
        return False
    top = ref.module.partition(".")[0]
    if top in readers.modules or ref.name in readers.names and not _foreign_name(ref):
        return True
    if ref.module == "inspect" and ref.name:  # from inspect import getsourcelines
        return _inspect_reads(ref.name, readers)
    if top in sys.stdlib_module_names or top in QUIET_PACKAGES or not readers.installed:
        return False
    return not graph.import_files(path, ref)
