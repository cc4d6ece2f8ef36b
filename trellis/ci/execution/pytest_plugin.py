"""The pytest plugin of a Trellis pytest job: shards, per-test timeouts, results streamed as they come.

Loaded *inside the job* (``-p _trellis_pytest``, copied into the job's
TMPDIR), so it uses the standard library and pytest only: no Trellis module
enters the job's interpreter. It reads its settings from the JSON file named
by ``TRELLIS_PYTEST_CONFIG``::

    {"shard": [k, n],              this job runs shard k of n
     "expected": {nodeid: s},      recorded durations, to balance the shards
     "timeouts": {nodeid: s},      per-test timeouts; "default_timeout" for the others (0: none)
     "default_timeout": s,
     "exclude": [nodeid, ...],     already done (a re-run after a test had to be killed)
     "reused": [nodeid, ...],      not to run: results reused (a parametrised test's id: all its items)
     "only": [nodeid, ...] | null, the selected tests (null: everything collected); a module's
                                   path alone: every doctest of that module; ``path::*``: every
                                   item of that file (tests made under computed names)
     "fail_fast": bool,            stop at the first failing test
     "until": [nodeid, ...] | null, run what is collected up to the last of these, no further
                                   (a failure's collection prefix: see confirm.py)
     "load_tests": bool,           honour the unittest ``load_tests`` protocol (below)
     "evals": [digest, ...] | null, record the code exec/eval run for the tree (below); the
                                   digests of the sources the engine has read already, and
                                   "digest/fingerprint" of a source and a code object checked
                                   to be what it compiles to
     "stream": path,               where each test's result is appended, one JSON line each
     "junit": path}                the junit report the job's command line names: read only when this
                                   plugin never ran, so not written when it runs

**Selected tests** are kept from what the job's own command line collects
(the project's arguments, never the tests' names: pytest collects a path
named on the command line even when the project's ``collect_ignore``,
``--ignore`` or ``pytest_ignore_collect`` hook would skip it, and runs named
tests in the order named). Files and directories holding no selected test
are skipped before they are imported (``pytest_ignore_collect``, asked
first); the project's own ignores still apply to the rest, and the items are
kept in collection order. Node ids in ``only`` are relative to the working
directory (the workspace), whatever pytest's rootdir; an id keeps the items
under it (``t.py::load_tests`` keeps ``t.py::load_tests::…``), and so does an
id in ``reused``.

**load_tests.** With ``load_tests``, a collected test module that defines
``load_tests`` gets what ``python -m unittest`` gets from it: unittest's own
``TestLoader().loadTestsFromModule(module, pattern="test*.py")`` builds the
module's standard tests and calls ``load_tests(loader, standard_tests,
pattern)`` (discovery's default pattern; a ``load_tests`` that raises gives
unittest's failing ``_FailedTest``). Every test of the returned suite that
pytest did not collect itself (a ``DocTestSuite``'s doctests, a test case of
another module) becomes one item under the module's ``load_tests`` node,
named by its unittest id (``tests/test_more.py::load_tests::pkg.mod.func``),
run in a one-test ``unittest.TestSuite`` (its class and module fixtures run
around it) and reported as unittest reports it: failures and errors fail,
skips skip, an expected failure is pytest's xfail, an unexpected success fails.
The module's own items stay pytest's.

**Shards.** Before collection, every shard computes the same plan from the
recorded durations of the tests that will run (:func:`plan_files`): a file
whose tests take at most half a fair share belongs to one shard, longest
first onto the least loaded; the others (large files, files with no recorded
test, ``conftest.py`` and ``__init__.py``) are shared. A shard does not
collect (or import) another shard's files, so the work of collecting is split
too. Every shard collects the shared files (the same tree, the same arguments:
the same items in the same order) and keeps its part of their items, computed
identically in every shard: items grouped by module (module-scoped fixtures
run once per shard that needs them), a group larger than a fair share split
into single items, then longest-expected-first onto the least loaded shard,
counting what its own files already give it — like pytest-xdist's
``loadscope`` with nextest's use of past durations. Items are split by keys
that leave parameter ids out (the k-th parametrisation of a test: an id may hold a
time or a pid, which differ between the shards' processes; a set's order is the
same in every shard, which share one hash seed; a plugin that orders the items by a seed it draws per
process, pytest-randomly, is given one seed, ``SEED``, unless the command names one). So the union of the
shards is exactly what one unsharded run collects. The first stream line
records how many items the shard collected and the digest of what it split alike
with the others (the shared items' keys and expected durations), so the engine
can check that every shard split the same collection; each
test's ``index`` is its position within its file.

**Code exec/eval run.** With ``evals``, an audit hook (installed when this
module is imported, before any conftest) records every code object that a
function of the working directory hands to ``exec``/``eval`` — the source
given to ``compile`` for it when there was one (a source counts only if it
compiles to that very code object — one file name may be compiled several
times, and a code object run again — or an earlier job checked that it compiles
to code with the same fingerprint), else the names its bytecode uses — as a
stream line ``{"eval": "path::qualname", ...}`` written at once,
so it precedes the result of the test that ran it. The engine bounds the
site's reach with it (:mod:`trellis.ci.selection.observed`). The same hook
writes what unpickling called by such a function looks up (``pickle.find_class``:
``{"unpickle": site, "global": "module name"}``), and wrappers of the import
functions of ``_IMPORTERS`` (installed first, under the import system's own file
name so that what walks the stack passes over them) the absolute name each of
their calls from such a function imports (``{"import": site, "module": name}``),
once per site and value; a module of the tree imported before the wrappers makes
the record incomplete. And every process such a function starts (the audit events
``subprocess.Popen``, ``os.system``, ``os.exec``, ``os.posix_spawn``, ``os.spawn``, ``os.startfile``; the site is the
innermost function of the working directory on the stack), once per site and
value: ``{"process": site, "started": name}`` for a compiled program that runs no
Python code (not a Python interpreter, not a program that runs commands it is given:
``_RUNNERS``), ``{"process": site, "python": argv}`` for a Python interpreter or a
``.py`` file of the tree (the arguments as given, paths under the working directory
relative to it), ``{"process": site, "any": why}`` for anything else (a script other
than a shell script of simple commands, a program of the tree, a shell command other
than simple commands of such programs).
The recorder's first line, ``{"eval": "", "recording": 4}``, says it ran.

**Files of the tree read.** The same hook hears every file under the working directory opened to read (the audit
event ``open``: the builtin's, ``io``'s, ``os.open``'s) and every directory under it listed (``os.listdir``,
``os.scandir``: what ``os.walk``, ``glob`` and ``pathlib`` list through), and writes them at the innermost function
of the working directory on the stack, once per site and path, relative to the working directory ("" for it):
``{"reads": site, "file": path}``, ``{"reads": site, "dir": path}`` (``"dists"``: listed by a finder of installed
distributions, ``importlib.metadata``'s or ``pkg_resources``', which looks only for ``*.dist-info`` and ``*.egg-info``
entries); past ``_READS_KEPT`` paths of one site,
``{"reads": site, "under": directory}`` (everything under the directory holding them). Not the import system's own
reads (a frame of ``importlib``'s bootstrap finding or loading a module on the stack, pytest's assertion rewriting
under it), the job's own files under ``.trellis-tmp``, bytecode caches, or a read with no function of the working
directory on the stack. The engine selects the tests reaching a site for a change to what it read
(:mod:`trellis.ci.selection.file_reads`).

**Timeouts.** Each test (setup, call and teardown) runs under ``SIGALRM``:
when its time is up, the test fails with "timed out after N s" and the shard
goes on with the next test. A test that does not give the interpreter back
(a C call that ignores signals, a handler that swallows the failure) is
caught by a watchdog thread a little later: it writes the timeout to the
stream and ends the process, and the engine runs the rest of the shard again
without the tests already done.

**Imported before the job.** PYTEST_DONT_REWRITE: pytest leaves this module's
own asserts as they are (they check the plugin, not a test), so a warm runner
(``warm_server.py``) imports it once, before it forks any job, and no job
compiles and runs it again (~25 ms of every job). What its import does for a
job (:func:`job_started`: the eval recorder) the warm runner then calls in the
job, once the job's environment and working directory are in place.
"""

from __future__ import annotations
import __future__

import builtins
import dis
import functools
import hashlib
import json
import math
import operator
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
import types
import unittest
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

_CONFIG_ENV = "TRELLIS_PYTEST_CONFIG"
HARD_EXIT = 86  # the exit status of a shard whose watchdog had to end it
GENERATED = "*"  # ``path::*`` in ``only``: every item of the file (trellis.ci.selection.generated_tests)
_DEFAULT_EXPECTED_S = 0.05
# pytest's own work per item besides its recorded duration (hooks, reports, progress): counted in each item's cost
# when shards are balanced, so that a shard of many quick items is not given as much again as one of a few slow
# ones (= shards.ITEM_OVERHEAD_S).
ITEM_OVERHEAD_S = 0.0005
# Options of plugins that draw a seed per process by default: (the option's dest, the default that means "draw one").
# pytest-randomly (``--randomly-seed``, "default") shuffles modules, classes and items by crc32 of seed and name.
SEEDED_OPTIONS = (("randomly_seed", "default"),)
SEED = 2026  # the seed every job gives them (pytest_job.HASH_SEED's value: one draw for every job, wherever it runs)


def _load() -> dict[str, Any] | None:
    path = os.environ.get(_CONFIG_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        loaded: dict[str, Any] = json.load(f)
    return loaded


_FETCHES_KEPT = 1000  # names written per site of getattr calls; past them, any name
_RECORDING = 4  # the observations' format (trellis.ci.selection.observed.FORMAT): processes, getattr and vars heard
_PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile"})
_PYTHON = re.compile(r"(python|pypy)[0-9.]*[a-z]?(-dbg)?(\.exe)?", re.IGNORECASE)
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "busybox"})
# Compiled programs that run commands, scripts or code they are given (arguments, files, the environment): what they
# start is not heard. A shell's simple commands and ``env``'s command are read; the others may run any code.
_RUNNERS = _SHELLS | frozenset(
    {
        "env", "xargs", "nice", "nohup", "timeout", "stdbuf", "time", "sudo", "su", "doas", "chroot", "setsid",
        "flock", "watch", "parallel", "script", "unbuffer", "expect", "strace", "ltrace", "gdb", "lldb", "valgrind",
        "perf", "make", "gmake", "ninja", "cmake", "meson", "scons", "perl", "ruby", "node", "nodejs", "deno", "bun",
        "php", "lua", "luajit", "tclsh", "wish", "R", "Rscript", "julia", "java", "docker", "podman", "uv", "uvx",
        "pipx", "conda", "mamba", "micromamba", "pixi", "tox", "nox", "hatch", "pdm", "poetry", "rye", "cargo", "go",
        "npm", "npx", "yarn", "pnpm", "systemd-run", "run-parts", "start-stop-daemon", "runuser", "xdg-open",
        "gio", "wslview",
    }
)  # fmt: skip
# Shell words that run nothing: builtins (a shell runs them itself) whose arguments are not commands.
_INERT_BUILTINS = frozenset(
    {":", "true", "false", "cd", "echo", "printf", "test", "[", "exit", "export", "unset", "set", "umask", "wait",
     "read", "shift", "pwd"}
)  # fmt: skip
_SHELL_SPECIAL = frozenset("$`\\(){}*?[]~!#\n")
_SHELL_SEPARATORS = frozenset({";", "&", "&&", "|", "||", "|&", ";;"})
_PROCESS_DEPTH = 4
_SCRIPT_LIMIT = 8192  # a longer shell script may run any code  # a shell's or env's command, read at most this deep

_SOURCE_LIMIT = 1 << 20  # larger generated sources are described by their bytecode's names
_READS_KEPT = 1000  # files and directories written per site of reads; past them, everything under their directory
_READ_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
_HEARD = frozenset({"exec", "compile", "pickle.find_class"}) | _PROCESS_EVENTS | _READ_EVENTS
# Finders of installed distributions (``importlib.metadata.version``, ``pkg_resources``): they list every entry of
# ``sys.path`` (the checkout's root, a test directory pytest put there) and look only at what names a distribution's
# metadata (``*.dist-info``, ``*.egg-info``). Their listings are written as ``dists``: only such an entry counts.
_FINDERS = (
    f"{os.sep}importlib{os.sep}metadata{os.sep}",
    f"{os.sep}importlib_metadata{os.sep}",
    f"{os.sep}pkg_resources{os.sep}",
)
# Frames of the import system finding and loading modules: a read or a listing under them is the import system's
# own (a module's source or bytecode, a package directory's cache), which the static rules cover as imports. A
# loader's ``get_data`` called by ``pkgutil.get_data`` or ``importlib.resources`` is no import: a data file's read.
_LOADING = frozenset(
    {"get_code", "source_to_code", "_fill_cache", "find_spec", "_find_spec", "_get_spec", "_find_and_load",
     "_find_and_load_unlocked", "_load_unlocked", "_load", "exec_module", "load_module", "_path_importer_cache",
     "path_stats", "_gcd_import", "_handle_fromlist", "_call_with_frames_removed"}
)  # fmt: skip
_PENDING = 16  # sources compiled under one file name and not yet run, kept


def _new_lock(recorder: weakref.ref[EvalRecorder]) -> None:
    live = recorder()
    if live is not None:
        live.lock = threading.Lock()


class EvalRecorder:
    """The audit hook that writes each piece of code a function under ``root`` runs with exec/eval."""

    def __init__(self, root: str, stream: str, known: list[str]) -> None:
        self.roots = tuple(dict.fromkeys(os.path.join(r, "") for r in (root, os.path.realpath(root))))
        self.fd = os.open(stream, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.known = set(known)
        self.compiled: dict[str, list[str]] = {}  # file name given to compile -> sources not yet matched
        self.described: set[tuple[str, tuple[str, ...], bool]] = set()  # code without source, written
        self.lock = threading.Lock()
        # A child forked from Python (os.spawn* on POSIX forks, then execs: the exec is heard in the child) gets
        # a lock of its own: another thread may have held this one at the fork, and would never release it there.
        os.register_at_fork(after_in_child=functools.partial(_new_lock, weakref.ref(self)))
        self.getframe = sys._getframe  # tests may delete or patch sys._getframe
        self.busy = threading.local()  # set while this hook compiles (its own events are not the tree's)
        self.lost = False
        self.seen: set[tuple[str, str, str]] = set()  # (kind, site, value) of imports and unpickling, written
        # id() of a code object calling getattr -> its site: by identity, since code objects of equal source compare
        # and hash equal whatever their file (a vendored copy and the installed one); ``codes`` keeps the ids live.
        self.code_sites: dict[int, str | None] = {}
        self.codes: list[types.CodeType] = []
        self.fetch_counts: dict[str, int] = {}  # site -> names its getattr calls fetched
        self.read_counts: dict[str, int] = {}  # site -> files and directories of the root it was heard reading
        self.read_common: dict[str, str] = {}  # site -> the directory holding everything it read (relative)
        self.read_all: set[str] = set()  # sites past _READS_KEPT: they read everything under read_common

    def under(self, filename: str) -> bool:
        return os.path.isabs(filename) and filename.startswith(self.roots)

    def site(self, frame: Any) -> str | None:
        """``path::qualname`` of the frame's code if it is under the root (None otherwise): not the job's own files
        under ``.trellis-tmp`` (this plugin, the entry points' shim, the tests' ``tmp_path``), no file of the tree."""
        return self.site_of(frame.f_code)

    def site_of(self, code: types.CodeType) -> str | None:
        filename = code.co_filename
        if filename.startswith("<"):  # the interpreter's own (<frozen importlib._bootstrap>) or generated
            return None
        if os.sep + TMPDIR_NAME + os.sep in filename:
            return None
        if not os.path.isabs(filename):
            filename = os.path.join(os.getcwd(), filename)
        for root in self.roots:
            if filename.startswith(root):
                parts = [p for p in code.co_qualname.split(".") if p != "<locals>"]
                keep = next((i for i, p in enumerate(parts) if p.startswith("<")), len(parts))
                return f"{filename[len(root) :]}::{'.'.join(parts[:keep])}"
        return None

    def calling_site(self, code: types.CodeType) -> str | None:
        """:meth:`site_of` ``code``, remembered by the code object's identity (``code_sites``)."""
        site = self.code_sites.get(id(code), "")
        if site == "":
            self.codes.append(code)
            site = self.code_sites[id(code)] = self.site_of(code)
        return site

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in _HEARD or getattr(self.busy, "on", False):  # (one lookup: every audited call comes here)
            return
        try:
            self.busy.on = True
            if event in _READ_EVENTS:
                self.read(event, args, self.getframe(1))
            elif event == "pickle.find_class":
                self.found_class(args, self.getframe(1))
            elif event in _PROCESS_EVENTS:
                self.started(event, args, self.getframe(1))
            else:
                self.record(event, args, self.getframe(1))
        except Exception as exc:  # noqa: BLE001 - never fail the audited call; say the record is incomplete
            self.lose(f"{type(exc).__name__}: {exc}")
        finally:
            self.busy.on = False

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record) + "\n").encode("utf-8", "surrogatepass")
        with self.lock:
            os.write(self.fd, line)

    def lose(self, why: str) -> None:
        """Say the record is incomplete: no test of the job counts as observed."""
        if not self.lost:
            self.lost = True
            self.write({"eval": "", "lost": why[:500]})

    def once(self, kind: str, site: str, key: str, value: str) -> None:
        """Write ``{kind: site, key: value}`` the first time the job sees it."""
        if (kind, site, value) in self.seen:
            return
        with self.lock:
            self.seen.add((kind, site, value))
        self.write({kind: site, key: value})

    def fetched(self, code: types.CodeType, name: str) -> None:
        """The builtin ``getattr`` was called from ``code`` with ``name``: written once per site and name (a name
        that is no identifier names no code of the tree); past ``_FETCHES_KEPT`` names, the site fetches any."""
        site = self.calling_site(code)
        if site is None or not name.isidentifier() or ("getattr", site, name) in self.seen:
            return
        count = self.fetch_counts[site] = self.fetch_counts.get(site, 0) + 1
        if count < _FETCHES_KEPT:
            self.once("getattr", site, "name", name)
        elif count == _FETCHES_KEPT:
            self.write({"getattr": site, "any": True})

    def read(self, event: str, args: tuple[Any, ...], frame: Any) -> None:
        """A file under the root opened to read (``open``: the builtin's, ``io``'s and ``os.open``'s), a directory
        under it listed (``os.listdir``, ``os.scandir``: what ``os.walk``, ``glob`` and ``pathlib`` list through),
        by the innermost function under the root on the stack: written once per site and path, as
        ``{"reads": site, "file": path}`` or ``{"reads": site, "dir": path}`` (relative to the root, "" for it;
        ``"dists"`` for a listing by a finder of installed distributions, :data:`_FINDERS`).
        Not the import system's own reads (:data:`_LOADING`), nor the job's files, nor bytecode caches. Past
        :data:`_READS_KEPT` paths a site reads everything under the directory holding them:
        ``{"reads": site, "under": directory}`` (written again whenever that directory widens)."""
        target = args[0] if args[0] is not None else "."  # os.listdir(): the working directory
        if isinstance(target, int):  # a file descriptor (os.scandir(fd), os.fwalk): not heard
            return
        if event == "open":
            mode, flags = args[1], args[2]
            if isinstance(mode, str):
                if "r" not in mode and "+" not in mode:
                    return
            elif isinstance(flags, int) and flags & os.O_ACCMODE == os.O_WRONLY:
                return
        path = target if isinstance(target, str) else os.fsdecode(target)
        if not path.startswith(os.sep):
            path = os.path.join(os.getcwd(), path)
        if os.sep + "." in path or os.sep + os.sep in path:  # (most paths are plain: normalising costs)
            path = os.path.normpath(path)
        relative = None
        for root in self.roots:
            if path.startswith(root):
                relative = path[len(root) :].rstrip(os.sep)
                break
            if path + os.sep == root:
                relative = ""
                break
        if relative is None or relative.startswith(TMPDIR_NAME) or "__pycache__" in relative:
            return
        site = None
        finding = False  # a finder of installed distributions listing a path entry
        while frame is not None:
            code = frame.f_code
            if code.co_name in _LOADING and code.co_filename.startswith("<frozen importlib"):
                return  # the import system's own
            site = self.site_of(code)
            if site is not None:
                break
            finding = finding or any(marker in code.co_filename for marker in _FINDERS)
            frame = frame.f_back
        if site is None:  # no function of the root on the stack: pytest's own (its configuration, collection)
            return
        kind = "file" if event == "open" else "dists" if finding else "dir"
        if ("reads", site, kind + relative) in self.seen:
            return
        with self.lock:
            self.seen.add(("reads", site, kind + relative))
            folder = relative if kind != "file" else relative.rpartition(os.sep)[0]
            before = self.read_common.get(site)
            common = self.read_common[site] = folder if before is None else _common_dir(before, folder)
            count = self.read_counts[site] = self.read_counts.get(site, 0) + 1
            whole = site in self.read_all
            if not whole and count >= _READS_KEPT:
                self.read_all.add(site)
        if whole:
            if common != before:
                self.write({"reads": site, "under": common})
        elif count < _READS_KEPT:
            self.write({"reads": site, kind: relative})
        else:
            self.write({"reads": site, "under": common})

    def listed(self, code: types.CodeType, namespace: object) -> None:
        """The builtin ``vars`` handed ``namespace`` to ``code``: each of its names is fetched there, as by ``getattr``
        (:meth:`fetched`). A namespace that is not a plain dict or mappingproxy (an object whose ``__dict__`` is a
        property) is not iterated (that could run its code): the site fetches any name."""
        site = self.calling_site(code)
        if site is None:
            return
        if type(namespace) is not dict and type(namespace) is not types.MappingProxyType:
            if ("getattr", site, "*") not in self.seen:
                with self.lock:
                    self.seen.add(("getattr", site, "*"))
                self.write({"getattr": site, "any": True})
            return
        for name in list(namespace):
            if isinstance(name, str):
                self.fetched(code, name)

    def found_class(self, args: tuple[Any, ...], frame: Any) -> None:
        """``pickle.find_class(module, name)``: what unpickling called by a function under the root looks up."""
        site = self.site(frame)
        if site is not None:
            self.once("unpickle", site, "global", f"{args[0]} {args[1]}")

    def started(self, event: str, args: tuple[Any, ...], frame: Any) -> None:
        """A process started under a function under the root (the innermost one on the stack): what it runs."""
        site = None
        while frame is not None and site is None:
            filename = frame.f_code.co_filename
            if os.sep + TMPDIR_NAME + os.sep not in filename:
                site = self.site(frame)
            frame = frame.f_back
        if site is None:
            return
        cwd: Any = None
        env: Any = None
        if event == "subprocess.Popen":  # (executable, args, cwd, env): args[0] is the name it was given
            executable, argv, cwd, env = args
            if isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple)):
                argv = [argv]
        elif event == "os.system":  # (command,): run by the shell
            executable, argv = "/bin/sh", ["/bin/sh", "-c", args[0]]
        elif event == "os.startfile":  # (path, operation, ...): the application the file's kind names
            self.once("process", site, "any", f"{os.fsdecode(args[0])[:100]} (a file opened with its application)")
            return
        elif event == "os.spawn":  # (mode, path, argv, env)
            executable, argv, env = args[1], list(args[2]), args[3]
        else:  # os.exec / os.posix_spawn: (path, argv, env)
            executable, argv, env = args[0], list(args[1]), args[2]
        words = [os.fsdecode(w) for w in argv] or [os.fsdecode(executable)]
        cwd = os.fsdecode(cwd) if cwd is not None else os.getcwd()
        for record in self.program(os.fsdecode(executable), words, cwd, env, _PROCESS_DEPTH):
            value = json.dumps(record, sort_keys=True)
            if ("process", site, value) not in self.seen:
                with self.lock:
                    self.seen.add(("process", site, value))
                self.write({"process": site, **record})

    def program(
        self, executable: str, words: list[str], cwd: str, env: Any, depth: int, shell: bool = False
    ) -> list[dict[str, Any]]:
        """What running ``executable`` with ``words`` (its argv) may run: records of ``started``/``python``/``any``
        (``shell``: a shell's command word, which a builtin the shell runs itself may be)."""
        name = os.path.basename(words[0]) or os.path.basename(executable)
        if os.sep in executable:
            path: str | None = os.path.join(cwd, executable)
        else:
            path = shutil.which(executable, path=os.pathsep.join(os.get_exec_path(env)))
            path = os.path.join(cwd, path) if path else None
        if path is None or not os.path.isfile(path):
            if shell:
                return [{"any": f"{name} (a shell builtin, or a program the job does not find)"}]
            return [{"started": ""}]  # not started: FileNotFoundError
        real = os.path.realpath(path)
        names = {os.path.basename(path), os.path.basename(real)}
        if real == os.path.realpath(sys.executable) or any(_PYTHON.fullmatch(n) for n in names):
            return [{"python": ["python", *(self.relative(w, cwd) for w in words[1:])]}]
        if (self.under(path) or self.under(real)) and os.sep + TMPDIR_NAME + os.sep not in path:
            relative = self.relative(path, cwd)
            if relative.endswith(".py") and not os.path.isabs(relative):
                return [{"python": ["python", relative, *(self.relative(w, cwd) for w in words[1:])]}]
            return [{"any": f"{relative} (a program of the tree)"}]
        try:
            with open(real, "rb") as f:
                head = f.read(256)
        except OSError:
            return [{"any": f"{name} (a program the job cannot read)"}]
        if head.startswith(b"#!"):
            line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
            shebang = [os.path.basename(w) for w in line.split()]
            if shebang[:1] == ["env"]:
                shebang = shebang[1:]
            if depth and shebang and shebang[0] in ("sh", "bash", "dash") and len(shebang) == 1:
                return self.script(name, real, cwd, env, depth - 1) or [{"any": f"{name} (a script: #!{line[:80]})"}]
            return [{"any": f"{name} (a script: #!{line[:80]})"}]
        if not head.startswith((b"\x7fELF", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"MZ")):
            return [{"any": f"{name} (a file the job does not know to be a compiled program)"}]
        runner = next((n for n in (os.path.basename(path), os.path.basename(real)) if n in _RUNNERS), "")
        if not runner:
            return [{"started": os.path.basename(path)}]
        if depth and runner in _SHELLS and os.path.basename(path) in _SHELLS:
            return self.shell(name, words, cwd, env, depth - 1)
        if depth and runner == "env" and os.path.basename(path) == "env":
            rest = words[1:]
            while rest and "=" in rest[0] and not rest[0].startswith(("-", "=", "PATH=")):
                rest = rest[1:]
            if rest and not rest[0].startswith("-") and "=" not in rest[0]:
                return self.program(rest[0], rest, cwd, env, depth - 1)
        return [{"any": f"{name} (a program that runs commands it is given)"}]

    def script(self, name: str, path: str, cwd: str, env: Any, depth: int) -> list[dict[str, Any]] | None:
        """A shell script (``#!/bin/sh``, a test's fake pager): its lines as simple commands (None: unread)."""
        try:
            with open(path, "rb") as f:
                text = f.read(_SCRIPT_LIMIT + 1).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        if len(text) > _SCRIPT_LIMIT:
            return None
        lines = [line.strip() for line in text.splitlines()[1:]]
        return self.commands(
            name, " ; ".join(line for line in lines if line and not line.startswith("#")), cwd, env, depth
        )

    def shell(self, name: str, words: list[str], cwd: str, env: Any, depth: int) -> list[dict[str, Any]]:
        """``sh -c command``: the programs of its simple commands."""
        options = words[1:]
        while options and options[0].startswith("-") and "c" not in options[0]:
            options = options[1:]
        if len(options) < 2 or not re.fullmatch(r"-[a-z]*c[a-z]*", options[0]):
            return [{"any": f"{name} (a shell running what the job cannot read)"}]
        return self.commands(name, options[1], cwd, env, depth) or [
            {"any": f"{name} (a shell running what the job cannot read)"}
        ]

    def commands(self, name: str, text: str, cwd: str, env: Any, depth: int) -> list[dict[str, Any]] | None:
        """The programs of simple commands (words, ``;``, ``&&``, ``|``, redirections; None: anything else)."""
        if set(text) & _SHELL_SPECIAL or "<<" in text:
            return None
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            return None
        out: list[dict[str, Any]] = []
        command: list[str] = []
        redirect = False
        for token in [*tokens, ";"]:
            if token in _SHELL_SEPARATORS:
                while command and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", command[0]):
                    if command[0].startswith("PATH="):
                        return [{"any": f"{name} (a shell command that sets PATH)"}]
                    command = command[1:]
                if command and command[0] not in _INERT_BUILTINS:
                    out.extend(self.program(command[0], command, cwd, env, depth, shell=True))
                command, redirect = [], False
            elif set(token) <= set("<>&|"):
                redirect = True  # the next word is a file
            elif redirect:
                redirect = False
            else:
                command.append(token)
        return out or [{"started": name}]  # builtins only

    def relative(self, word: str, cwd: str) -> str:
        """A path under the root, relative to it (``scripts/x.py``); any other word as it is."""
        path = os.path.join(cwd, word)
        if (os.path.isabs(word) or word.endswith(".py")) and self.under(os.path.normpath(path)):
            for root in self.roots:
                if os.path.normpath(path).startswith(root):
                    return os.path.normpath(path)[len(root) :]
        return word

    def imported(self, module: str, frame: Any) -> None:
        """A computed import (or a resource's package) a function under the root asked for, by absolute name."""
        if getattr(self.busy, "on", False):
            return
        try:
            self.busy.on = True
            site = self.site(frame)
            if site is not None:
                self.once("import", site, "module", module)
        except Exception as exc:  # noqa: BLE001 - never fail the import; say the record is incomplete
            self.lose(f"{type(exc).__name__}: {exc}")
        finally:
            self.busy.on = False

    def record(self, event: str, args: tuple[Any, ...], frame: Any) -> None:
        site = self.site(frame)
        if site is None:
            return
        if event == "compile":
            source, filename = args[0], args[1]
            if isinstance(source, bytes):
                source = source.decode("utf-8", "surrogateescape")
            if isinstance(source, str) and len(source) <= _SOURCE_LIMIT:
                with self.lock:
                    pending = self.compiled.setdefault(str(filename), [])
                    pending.append(source)
                    del pending[:-_PENDING]
            return
        code = args[0]
        if not isinstance(code, types.CodeType):
            return
        with self.lock:
            pending = list(self.compiled.get(code.co_filename, ()))
        fingerprint = _fingerprint(code) if pending else ""
        source = digest = ""
        for candidate in reversed(pending):  # a pair an earlier job checked by compiling, else compile now
            digest = hashlib.sha256(f"{site}\0{candidate}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
            if f"{digest}/{fingerprint}" in self.known or _compiles_to(candidate, code):
                source = candidate
                break
        if source:
            with self.lock:
                if source in self.compiled.get(code.co_filename, ()):
                    self.compiled[code.co_filename].remove(source)
            pair = f"{digest}/{fingerprint}"
            if pair in self.known:
                return
            self.known.add(pair)
            record: dict[str, Any] = {"eval": site, "sha": digest, "pair": pair}
            if digest not in self.known:
                self.known.add(digest)
                record["source"] = source
        else:  # compiled elsewhere, or run again: what its bytecode names
            names, imports = _code_names(code)
            described = (site, tuple(sorted(names)), imports)
            if described in self.described:
                return
            self.described.add(described)
            record = {"eval": site, "names": list(described[1]), "imports": imports}
        self.write(record)


_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, f).compiler_flag for f in __future__.all_feature_names)
)


def _common_dir(a: str, b: str) -> str:
    """The deepest directory holding both relative directories ("" for the root)."""
    if a == b or a.startswith(b + os.sep):
        return b
    if b.startswith(a + os.sep):
        return a
    parts = []
    for x, y in zip(a.split(os.sep), b.split(os.sep)):
        if x != y:
            break
        parts.append(x)
    return os.sep.join(parts)


def _compiles_to(source: str, code: types.CodeType) -> bool:
    """Is ``code`` what ``source`` compiles to (with the code's file name and future flags)? Only then does the
    source describe it: the same file name may be compiled several times, and a code object run again."""
    for mode in ("exec", "eval", "single"):
        try:
            if compile(source, code.co_filename, mode, code.co_flags & _FUTURE_FLAGS, dont_inherit=True) == code:
                return True
        except SyntaxError:
            continue
    return False


def _fingerprint(code: types.CodeType) -> str:
    """A digest of everything code objects compare by (equal code, equal digest, in any process): an earlier
    job's check that a source compiles to code with this digest holds for this code too."""
    h = hashlib.sha256()
    stack = [code]
    while stack:
        c = stack.pop()
        h.update(c.co_code + c.co_linetable + c.co_exceptiontable)
        h.update(repr((c.co_name, c.co_qualname, c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars)).encode())
        h.update(repr((c.co_flags, c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount)).encode())
        h.update(repr((c.co_firstlineno, c.co_stacksize, c.co_filename)).encode())
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                h.update(b"<code>")
                stack.append(const)
            else:
                h.update(_const_repr(const).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:32]


def _const_repr(value: object) -> str:
    """A constant's repr, with a frozenset's items sorted (its order follows the process's hash seed)."""
    if isinstance(value, frozenset):
        return f"frozenset({sorted(_const_repr(v) for v in value)})"
    if isinstance(value, tuple):
        return f"({', '.join(_const_repr(v) for v in value)},)"
    return f"{type(value).__name__}:{value!r}"


def _code_names(code: types.CodeType) -> tuple[set[str], bool]:
    """The names a code object (and the code it holds) uses, its identifier constants, and whether it imports."""
    names: set[str] = set()
    imports = False
    stack = [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            elif isinstance(const, str) and const.isidentifier():
                names.add(const)
        imports = imports or any(i.opname.startswith("IMPORT_") for i in dis.get_instructions(current))
    return names, imports


# The computed imports a job records: the functions that import a module by a name given at run time, and where
# their call takes the name (its position, its keywords). ``__import__`` is left out: replacing it would put a
# Python call in front of every import statement. (trellis.ci.selection.python_calls.OBSERVED_IMPORT_CALLS)
_IMPORTERS: dict[str, tuple[str, ...]] = {
    "importlib.import_module": ("name",),
    "pkgutil.get_data": ("package",),
    **{
        f"importlib.resources.{name}": ("package", "anchor")
        for name in ("files", "open_binary", "open_text", "read_binary", "read_text", "path", "contents", "is_resource")
    },
}


def _observe_imports(recorder: EvalRecorder) -> None:
    """Wrap each function of ``_IMPORTERS`` so that a call from a function under the root writes the absolute
    name it imports. Installed before any conftest: the tree binds the wrappers (``from importlib import
    import_module`` included). A module of the tree imported before would hold the originals: the record then
    says it is incomplete."""
    import importlib.resources
    import importlib.util
    import pkgutil  # noqa: F401 - wrapped below

    resolve = importlib.util.resolve_name
    for dotted, keywords in _IMPORTERS.items():
        owner_name, _, name = dotted.rpartition(".")
        owner = sys.modules[owner_name]
        original = getattr(owner, name, None)
        if original is not None:
            relative = resolve if name == "import_module" else None
            setattr(owner, name, _importer(recorder, original, keywords, relative))
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and recorder.under(filename) and os.sep + TMPDIR_NAME + os.sep not in filename:
            recorder.lose(f"{module.__name__} was imported before the job could observe its imports")
            return


TMPDIR_NAME = ".trellis-tmp"  # the job's own files (this plugin among them) under the working directory


# The wrapper's code, compiled under the import system's own file name: what walks the stack past the import system
# (warnings' ``stacklevel``, a module attributing its deprecation warning to its importer, pytest's tracebacks, a
# resource call inferring its caller) passes over it as over importlib's own frames, so the job runs the tree as a
# plain interpreter does.
_WRAPPER = """
def make(recorder, original, keywords, resolve):
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        name = args[0] if args else next((kwargs[k] for k in keywords if k in kwargs), None)
        if isinstance(name, str):
            if resolve is not None and name.startswith("."):
                try:
                    name = resolve(name, args[1] if len(args) > 1 else kwargs.get("package"))
                except Exception:
                    result = original(*args, **kwargs)
                    recorder.lose("an import of %r the job could not resolve" % (name,))
                    return result
            recorder.imported(name, recorder.getframe(1))
        return original(*args, **kwargs)

    return wrapper
"""


# The builtin getattr's stand-in, compiled under the import system's file name as the import wrappers are: it writes
# the name each call with a string name fetches (the site: the calling function's) and returns what getattr returns.
_FETCH_WRAPPER = """
def make(recorder, original, getframe, sites, ident):
    def getattr(*args, **kwargs):
        __tracebackhide__ = True
        if len(args) > 1 and isinstance(args[1], str):
            code = getframe(1).f_code
            if sites.get(ident(code), "") is not None:  # (None: code known to be no function of the tree, pytest's)
                try:
                    recorder.fetched(code, str.join("", (args[1],)))
                except Exception as exc:
                    recorder.lose("getattr: %s" % (exc,))
        return original(*args, **kwargs)

    return getattr
"""
_GETATTR = builtins.getattr  # the builtin, kept before any job wraps it


# The builtin vars's stand-in, compiled likewise: it writes the names of the namespace each call with an argument
# hands out (``vars(obj)``: what its values may be, as getattr's). ``vars()`` is the caller's ``f_locals``, which is
# what the builtin gives before Python 3.13 (trellis.ci.selection.python_refs._HEARS_VARS; from 3.13 on, not wrapped).
_VARS_WRAPPER = """
def make(recorder, original, getframe):
    def vars(*args):
        __tracebackhide__ = True
        if not args:
            return getframe(1).f_locals
        found = original(*args)
        try:
            recorder.listed(getframe(1).f_code, found)
        except Exception as exc:
            recorder.lose("vars: %s" % (exc,))
        return found

    return vars
"""
_VARS = builtins.vars  # the builtin, kept before any job wraps it
_HEARS_VARS = sys.version_info < (3, 13)


def _observe_getattr(recorder: EvalRecorder) -> None:
    """Replace the builtin ``getattr`` (and ``vars``) with a stand-in that writes what each call from a function
    under the root fetches (:meth:`EvalRecorder.fetched`, :meth:`EvalRecorder.listed`). Installed before any
    conftest: every call the tree's code makes by the name ``getattr`` (``vars``) goes through it."""
    make = _as_import_system(_FETCH_WRAPPER)
    builtins.getattr = functools.wraps(_GETATTR)(make(recorder, _GETATTR, recorder.getframe, recorder.code_sites, id))
    if _HEARS_VARS:
        make = _as_import_system(_VARS_WRAPPER)
        builtins.vars = functools.wraps(_VARS)(make(recorder, _VARS, recorder.getframe))


def _as_import_system(source: str) -> Any:
    """The ``make`` function of a wrapper's source, compiled under the import system's own file name."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<frozen importlib._bootstrap>", "exec"), namespace)  # noqa: S102 - our own source
    return namespace["make"]


def _importer(recorder: EvalRecorder, original: Any, keywords: tuple[str, ...], resolve: Any) -> Any:
    """``original``, writing the name each call from under the root imports (``resolve``: a relative one's)."""
    make = _as_import_system(_WRAPPER)
    return functools.wraps(original)(make(recorder, original, keywords, resolve))


def job_started() -> None:
    """Install the eval recorder now (at import, before conftests run) if this job asks for it.

    A warm runner that imported this module before the job calls it in the job instead."""
    try:
        settings = _load()
    except (OSError, ValueError):
        return
    if settings is None or settings.get("evals") is None:
        return
    recorder = EvalRecorder(os.getcwd(), settings["stream"], list(settings["evals"]))
    recorder.write({"eval": "", "recording": _RECORDING})
    _observe_imports(recorder)  # first: its own exec is not the tree's
    _observe_getattr(recorder)
    sys.addaudithook(recorder)


job_started()


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def split_keys(nodeids: list[str]) -> list[str]:
    """Each node id with its parameter id replaced by its position among the same test's parametrisations
    (``t.py::test_at[16:08:35]`` -> ``t.py::test_at[#0]``), in collection order; other ids as they are."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for nodeid in nodeids:
        head, sep, last = nodeid.rpartition("::")
        name, bracket, _ = last.partition("[")
        if not bracket:
            out.append(nodeid)
            continue
        base = f"{head}{sep}{name}"
        seen[base] = seen.get(base, -1) + 1
        out.append(f"{base}[#{seen[base]}]")
    return out


def _under(rest: str, ids: set[str]) -> bool:
    """Is the node id part ``rest`` (after the file) one of ``ids``, a parametrisation of one, or under one?"""
    if rest in ids or _base(rest) in ids:
        return True
    parts = rest.split("::")
    return any("::".join(parts[:i]) in ids for i in range(1, len(parts)))


def assign(nodeids: list[str], shards: int, expected: dict[str, float], load: list[float] | None = None) -> list[int]:
    """The shard of each item: module groups, large ones split, longest first onto the least loaded.

    ``load``: what each shard already runs (its own files, see :func:`plan_files`)."""
    known = [expected[n] if n in expected else expected.get(_base(n), -1.0) for n in nodeids]
    measured = sorted(v for v in known if v >= 0)
    fallback = measured[len(measured) // 2] if measured else _DEFAULT_EXPECTED_S
    cost = [(v if v >= 0 else fallback) + ITEM_OVERHEAD_S for v in known]
    groups: dict[str, list[int]] = {}
    for i, nodeid in enumerate(nodeids):
        groups.setdefault(nodeid.split("::", 1)[0], []).append(i)
    share = sum(cost) / max(1, shards)
    units: list[tuple[float, int, list[int]]] = []  # (cost, first index, members)
    for members in groups.values():
        total = sum(cost[i] for i in members)
        if total > share / 2 and len(members) > 1:
            units.extend((cost[i], i, [i]) for i in members)
        else:
            units.append((total, members[0], members))
    units.sort(key=lambda u: (-u[0], u[1]))
    load = list(load) if load is not None else [0.0] * shards
    out = [0] * len(nodeids)
    for unit_cost, _, members in units:
        target = min(range(shards), key=lambda s: (load[s], s))
        load[target] += unit_cost
        for i in members:
            out[i] = target
    return out


# Collected by every shard whatever their tests: pytest builds packages and fixtures from them.
_ALWAYS_SHARED = frozenset({"__init__.py", "conftest.py"})


def plan_files(expected: dict[str, float], shards: int) -> tuple[dict[str, int], list[float]]:
    """Before collection, from recorded durations: the shard that alone collects each file, and their loads.

    A file whose recorded tests take more than half a fair share stays shared (every shard
    collects it and takes some of its items); so does a file with no recorded test (new, or a
    first run). The others go whole, longest first, to the least loaded shard.
    """
    durations: dict[str, list[float]] = {}
    for nodeid, seconds in expected.items():
        file = nodeid.split("::", 1)[0]
        if file.rpartition("/")[2] not in _ALWAYS_SHARED:
            durations.setdefault(file, []).append(max(0.0, seconds))
    # fsum: the same cost whatever the order the durations come in (every shard computes the same plan)
    costs = {file: math.fsum(found) + len(found) * ITEM_OVERHEAD_S for file, found in durations.items()}
    share = sum(costs.values()) / max(1, shards)
    owner: dict[str, int] = {}
    load = [0.0] * shards
    for file, cost in sorted(costs.items(), key=lambda fc: (-fc[1], fc[0])):
        if cost > share / 2:
            continue
        target = min(range(shards), key=lambda s: (load[s], s))
        load[target] += cost
        owner[file] = target
    return owner, load


def _collected_from(item: pytest.Item) -> str:
    """The file whose collection made ``item`` (its shard is the file's: the file was collected there alone
    or everywhere), or the item's own path when no file node is above it."""
    node = item.parent
    while node is not None and not isinstance(node, pytest.File):
        node = node.parent
    return str(node.path if node is not None else item.path)


def shard_part(
    items: list[tuple[str, int | None]], shards: int, shard: int, expected: dict[str, float], load: list[float]
) -> set[str]:
    """The node ids shard ``shard`` runs of the ``(node id, owner)`` items it collected: its own files' items,
    and its part of the shared ones (owner None), split the same way in every shard."""
    shared = [nodeid for nodeid, owner in items if owner is None]
    split = assign(shared, shards, expected, load) if shards > 1 else [0] * len(shared)
    mine = {nodeid for nodeid, s in zip(shared, split) if s == shard}
    mine.update(nodeid for nodeid, owner in items if owner == shard)
    return mine


class TrellisJob:
    def __init__(self, config: dict[str, Any]) -> None:
        self.shard, self.shards = (int(x) for x in config.get("shard", (0, 1)))
        self.expected: dict[str, float] = dict(config.get("expected", {}))
        self.timeouts: dict[str, float] = dict(config.get("timeouts", {}))
        self.default_timeout = float(config.get("default_timeout", 0) or 0)
        self.exclude = set(config.get("exclude", ()))
        self.reused = set(config.get("reused", ()))
        self.reused_in: dict[str, set[str]] = {}  # file -> the rest of the reused ids in it
        for nodeid in self.reused:
            file, _, rest = str(nodeid).partition("::")
            if rest:
                self.reused_in.setdefault(file, set()).add(rest)
        only = config.get("only")
        self.only: set[tuple[str, str]] | None = None  # (absolute file, rest of the node id)
        self.only_files: set[str] = set()
        self.only_dirs: set[str] = set()
        self.only_doctests: set[str] = set()
        self.only_in: dict[str, set[str]] = {}  # absolute file -> the rest of the selected ids in it
        self.doctest_files: set[str] = set()  # files with a selected doctest
        if only is not None:
            here = os.getcwd()
            self.only = set()
            for nodeid in only:
                file, _, rest = str(nodeid).partition("::")
                path = os.path.normpath(os.path.join(here, file))
                self.only.add((path, rest))
                if not rest:  # a module's path: its doctests (--doctest-modules)
                    self.only_doctests.add(path)
                else:
                    self.only_in.setdefault(path, set()).add(rest)
                if not rest or "." in rest.split("::", 1)[0].split("[", 1)[0]:  # or one doctest, named
                    self.doctest_files.add(path)
                self.only_files.add(path)
                parent = os.path.dirname(path)
                while parent not in self.only_dirs:
                    self.only_dirs.add(parent)
                    parent, above = os.path.dirname(parent), parent
                    if parent == above:
                        break
        # Each shard collects only its own files and the shared ones (see plan_files); file paths are
        # relative to pytest's rootdir, as node ids are.
        self.owner_of: dict[str, int] = {}
        self.base_load = [0.0] * self.shards
        if self.shards > 1:
            running = {n: s for n, s in self.expected.items() if self._runs(n)}
            self.owner_of, self.base_load = plan_files(running, self.shards)
        self.fail_fast = bool(config.get("fail_fast", False))
        until = config.get("until")
        self.until: dict[str, set[str]] | None = None  # file (as in node ids) -> the rest of the ids in it
        if until is not None:
            self.until = {}
            for nodeid in until:
                file, _, rest = str(nodeid).partition("::")
                self.until.setdefault(file, set()).add(rest)
        self.load_tests = bool(config.get("load_tests", False))
        self.stream = open(config["stream"], "a", encoding="utf-8")  # noqa: SIM115 - open for the session
        self.lock = threading.Lock()
        self.index: dict[str, int] = {}
        self.heads: dict[str, set[str] | None] = {}  # collector node id -> the names to collect under it
        self.phases: dict[str, list[Any]] = {}
        self.current: tuple[str, float, float] | None = None  # nodeid, deadline (monotonic), timeout
        self.timed_out: set[str] = set()
        self.session: pytest.Session | None = None
        self.watchdog = threading.Thread(target=self._watch, name="trellis-timeout-watchdog", daemon=True)

    def write(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.stream.write(json.dumps(record) + "\n")
            self.stream.flush()

    def _runs(self, nodeid: str) -> bool:
        """Will the recorded test ``nodeid`` run in this job (selected, not reused)?"""
        if self._reused(nodeid):
            return False
        if self.only is None:
            return True
        file, _, rest = nodeid.partition("::")
        path = os.path.normpath(os.path.join(os.getcwd(), file))
        selected = self.only_in.get(path, set())
        return path in self.only_doctests or GENERATED in selected or _under(rest, selected)

    def _owner(self, path: str, rootdir: str) -> int | None:
        """The shard that alone collects the file at ``path`` (None: every shard collects it)."""
        if not self.owner_of:
            return None
        return self.owner_of.get(os.path.relpath(path, rootdir).replace(os.sep, "/"))

    # -- collection ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Any, config: pytest.Config) -> bool | None:
        """Skip what holds no selected test, or another shard's file, before it is imported; None lets the
        project's rules decide."""
        path = os.path.normpath(str(collection_path))
        if self.only is not None and path not in self.only_files and path not in self.only_dirs:
            return True
        owner = self._owner(path, str(config.rootpath))
        if owner is not None and owner != self.shard:
            return True
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collect_file(self, file_path: Any, parent: pytest.Collector) -> Any:
        """A selected file's doctests (``--doctest-modules``) are collected only when they are selected."""
        outcome = yield
        if self.only is None or os.path.normpath(str(file_path)) in self.doctest_files:
            return
        found = outcome.get_result()
        kept = [c for c in found if type(c).__name__ != "DoctestModule"]
        if len(kept) < len(found):
            outcome.force_result(kept)

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makeitem(self, collector: pytest.Collector, name: str, obj: object) -> list[Any] | None:
        """Skip a class or function of a selected file that holds no selected test, before pytest builds it.

        With ``load_tests`` (the project runs its tests as ``python -m unittest`` does), a class that is no
        ``TestCase`` and has its own ``__init__`` or ``__new__`` is left out at once: pytest would decline it
        too, with a ``PytestCollectionWarning`` that the project's warning filters may turn into a collection
        error (``from unittest import TestSuite`` in a test module after another's
        ``warnings.simplefilter('error')``), where unittest never looks at it.
        """
        if self.load_tests and _declined_class(collector, name, obj):
            return []
        heads = self._heads(collector) if self.only is not None else None
        if heads is None or "[" in name or ":" in name:
            return None
        return None if name in heads else []

    def _heads(self, collector: pytest.Collector) -> set[str] | None:
        """The names under ``collector`` that hold a selected test; None: keep everything under it.

        Only when pytest's own hooks make the items (whose ids are then ``<collector>::<name>`` and
        below); a module whose ``load_tests`` node is selected keeps everything.
        """
        key = collector.nodeid
        if key in self.heads:
            return self.heads[key]
        path = os.path.normpath(str(collector.path))
        own = collector.nodeid.partition("::")[2]
        heads: set[str] | None = set()
        makers = collector.ihook.pytest_pycollect_makeitem.get_hookimpls()
        if any(m.plugin is not self and not getattr(m.plugin, "__name__", "").startswith("_pytest.") for m in makers):
            heads = None
        for file, rest in self.only or ():
            if heads is None:
                break
            if file != path or not rest:
                continue
            if rest.split("::", 1)[0] in ("load_tests", GENERATED):
                heads = None  # what its load_tests adds is told from everything the module holds; ``*``: all
            elif not own:
                heads.add(rest.split("::", 1)[0].split("[", 1)[0])
            elif rest.startswith(own + "::"):
                heads.add(rest[len(own) + 2 :].split("::", 1)[0].split("[", 1)[0])
            elif rest == own or own.startswith(rest + "::"):
                heads = None  # this collector (or one above it) is selected whole
        self.heads[key] = heads
        return heads

    def _selected(self, item: pytest.Item) -> bool:
        assert self.only is not None
        path = os.path.normpath(str(item.path))
        if path in self.only_doctests and type(item).__name__ == "DoctestItem":
            return True
        rest = item.nodeid.partition("::")[2]
        selected = self.only_in.get(path, set())
        return GENERATED in selected or _under(rest, selected)

    def _until(self, nodeid: str) -> bool:
        assert self.until is not None
        file, _, rest = nodeid.partition("::")
        return bool(rest) and _under(rest, self.until.get(file, set()))

    def _reused(self, nodeid: str) -> bool:
        file, _, rest = nodeid.partition("::")
        return nodeid in self.reused or _base(nodeid) in self.reused or _under(rest, self.reused_in.get(file, set()))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        """A test module's ``load_tests`` node after pytest's own items, when it has one (``load_tests``)."""
        outcome = yield
        if not self.load_tests or not isinstance(collector, pytest.Module):
            return
        report = outcome.get_result()
        if report.outcome != "passed":  # it did not import: pytest reports that
            return
        module = collector.obj
        if getattr(module, "load_tests", None) is None or not getattr(module, "__test__", True):
            return  # no load_tests, or pytest leaves the module out (so does its load_tests)
        path = os.path.normpath(str(collector.path))
        if self.only is not None and (path, "load_tests") not in self.only and (path, GENERATED) not in self.only:
            return  # none of its tests is selected: load_tests is not even called
        known = {
            node.obj
            for node in report.result
            if isinstance(node, pytest.Class) and isinstance(node.obj, type) and issubclass(node.obj, unittest.TestCase)
        }
        report.result.append(LoadTests.from_parent(collector, name="load_tests", known=known))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        self.session = session
        if self.only is not None:
            chosen = [item for item in items if self._selected(item)]
            if len(chosen) < len(items):
                config.hook.pytest_deselected(items=[item for item in items if not self._selected(item)])
                items[:] = chosen
        if self.until is not None:
            # A failure's collection prefix: everything collected before the last named test, and it.
            last = max((i for i, item in enumerate(items) if self._until(item.nodeid)), default=-1)
            if last + 1 < len(items):
                config.hook.pytest_deselected(items=items[last + 1 :])
                del items[last + 1 :]
        rootdir = str(config.rootpath)
        owners = [self._owner(_collected_from(item), rootdir) for item in items]
        self.index = {}  # position within the item's file: the same in every shard that collects the file
        per_file: dict[str, int] = {}
        for item in items:
            file = item.nodeid.split("::", 1)[0]
            self.index[item.nodeid] = per_file[file] = per_file.get(file, -1) + 1
        # Shards split by keys that do not depend on parameter ids, which may differ from one process to the
        # next (a time, a pid, an object's address in an id): the k-th parametrisation of a test is the same
        # item in every shard. Reused tests are left out before the split (the balance is of what runs); a
        # re-run's done tests after it (they keep the shard they had).
        keys = split_keys([item.nodeid for item in items])
        expected: dict[str, float] = {}
        candidates: list[tuple[str, int | None]] = []
        for item, key, owner in zip(items, keys, owners, strict=True):
            if self._reused(item.nodeid):
                continue
            candidates.append((key, owner))
            cost = self.expected.get(item.nodeid, self.expected.get(_base(item.nodeid)))
            if cost is not None:
                expected[key] = cost
        # What every shard splits alike, and how: its digest must be the same in every shard.
        shared = [f"{key}\t{expected.get(key, '')}" for key, owner in candidates if owner is None]
        digest = hashlib.sha256("\n".join(shared).encode()).hexdigest()
        mine = shard_part(candidates, self.shards, self.shard, expected, self.base_load)
        kept = {item.nodeid for item, key in zip(items, keys, strict=True) if key in mine} - self.exclude
        keep = [item for item in items if item.nodeid in kept]
        dropped = [item for item in items if item.nodeid not in kept]
        self.write({"collected": len(items), "digest": digest, "mine": len(keep)})
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    # -- running ------------------------------------------------------------------------------

    def timeout_of(self, nodeid: str) -> float:
        found = self.timeouts.get(nodeid, self.timeouts.get(_base(nodeid)))
        return float(found) if found is not None else self.default_timeout

    def _alarm(self, signum: int, frame: Any) -> None:
        current = self.current
        if current is None:
            return
        nodeid, _, timeout = current
        self.timed_out.add(nodeid)
        pytest.fail(f"timed out after {timeout:g} s", pytrace=False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        # Which test was running when the process died (a compiled extension's segfault): the engine fails it
        # and runs the rest of the shard again, as for a test the watchdog had to kill.
        self.write({"running": item.nodeid, "index": self.index.get(item.nodeid, -1)})
        timeout = self.timeout_of(item.nodeid)
        armed = timeout > 0 and threading.current_thread() is threading.main_thread()
        if armed:
            self.current = (item.nodeid, time.monotonic() + timeout, timeout)
            previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, timeout)
            if not self.watchdog.is_alive():
                self.watchdog.start()
        try:
            yield
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                self.current = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.2)
            current = self.current
            if current is None:
                continue
            nodeid, deadline, timeout = current
            if time.monotonic() < deadline + max(2.0, timeout / 2):
                continue
            if self.current is not current:
                continue
            self.write(
                {
                    "nodeid": nodeid,
                    "index": self.index.get(nodeid, -1),
                    "outcome": "failed",
                    "duration_s": round(time.monotonic() - deadline + timeout, 3),
                    "message": f"timed out after {timeout:g} s (the test did not stop; it was killed)",
                    "hard": True,
                }
            )
            os._exit(HARD_EXIT)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A module (or class) that does not collect — an import error — is an error of its node id, with the
        traceback: pytest then runs no test at all, and the job's only result would be its exit status. Every
        shard that collects a shared file sees the error; the first writes it."""
        if not report.failed:
            return
        owner = self.owner_of.get(report.nodeid.split("::", 1)[0])
        if owner is None and self.shard != 0:
            return
        self.write(
            {
                "nodeid": report.nodeid,
                "index": -1,
                "outcome": "error",
                "duration_s": 0.0,
                "message": str(report.longrepr)[:4000],
            }
        )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases.setdefault(report.nodeid, []).append(report)

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        reports = self.phases.pop(nodeid, [])
        outcome, message = _outcome(reports)
        if nodeid in self.timed_out:  # whichever phase it hung in, it is the test that failed
            outcome, message = "failed", f"timed out after {self.timeout_of(nodeid):g} s"
        duration = sum(getattr(r, "duration", 0.0) for r in reports)
        self.write(
            {
                "nodeid": nodeid,
                "index": self.index.get(nodeid, -1),
                "outcome": outcome,
                "duration_s": round(duration, 6),
                "message": message[:4000],
            }
        )
        if self.fail_fast and outcome in ("failed", "error") and self.session is not None:
            self.session.shouldfail = f"fail_fast: {nodeid} {outcome}"


def _declined_class(collector: pytest.Collector, name: str, obj: object) -> bool:
    """A class pytest declines to collect with a warning: named as a test class, no ``TestCase``, with its own
    ``__init__`` or ``__new__``."""
    if not isinstance(obj, type) or issubclass(obj, unittest.TestCase):
        return False
    istestclass = getattr(collector, "istestclass", None)
    if istestclass is None or not istestclass(obj, name):
        return False
    return obj.__init__ != object.__init__ or obj.__new__ != object.__new__


class LoadTests(pytest.Collector):
    """What a test module's ``load_tests`` adds to pytest's items, as ``python -m unittest`` loads it."""

    def __init__(self, *, known: set[type], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known = known  # the TestCase classes pytest collected from the module

    def _collected(self, test: unittest.TestCase) -> bool:
        cls = type(test)
        if cls not in self.known:
            return False
        names = unittest.TestLoader().getTestCaseNames(cls) or ["runTest"]
        return test._testMethodName in names

    def collect(self) -> list[pytest.Item]:
        assert self.parent is not None
        loader = unittest.TestLoader()
        try:
            suite = loader.loadTestsFromModule(self.parent.obj, pattern="test*.py")  # type: ignore[attr-defined]
            tests = [t for t in _flatten(suite) if not self._collected(t)]
            errors = [str(e) for e in loader.errors]  # load_tests raised: its traceback, for the _FailedTest
        except Exception as exc:  # noqa: BLE001 - what unittest would fail on: a failing item, never a lost one
            failed = unittest.loader._FailedTest(self.parent.name, exc)  # type: ignore[attr-defined]
            tests, errors = [failed], [f"load_tests did not give a test suite: {type(exc).__name__}: {exc}"]
        detail = "\n".join(errors)
        seen: dict[str, int] = {}
        items: list[pytest.Item] = []
        for test in tests:
            name = test.id()
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:  # the suite holds it twice: unittest runs it twice
                name = f"{name}[{seen[name]}]"
            failed_load = isinstance(test, unittest.loader._FailedTest)  # type: ignore[attr-defined]
            items.append(UnittestItem.from_parent(self, name=name, test=test, detail=detail if failed_load else ""))
        return items


def _flatten(suite: Any) -> Iterator[unittest.TestCase]:
    if isinstance(suite, unittest.TestCase):
        yield suite
        return
    for test in suite:  # a TestSuite, or any iterable of tests, as unittest's runner iterates it
        yield from _flatten(test)


class _Result(unittest.TestResult):
    """One test's unittest outcome, with each failure's exception kept."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def _keep(self, err: Any, formatted: str, where: str = "") -> None:
        exc = err[1]
        text = str(exc) if isinstance(exc, AssertionError) and str(exc) else formatted  # a doctest's report, say
        self.problems.append(f"{where}: {text}" if where else text)

    def addError(self, test: Any, err: Any) -> None:
        super().addError(test, err)
        self._keep(err, self.errors[-1][1])

    def addFailure(self, test: Any, err: Any) -> None:
        super().addFailure(test, err)
        self._keep(err, self.failures[-1][1])

    def addSubTest(self, test: Any, subtest: Any, err: Any) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            found = self.failures if issubclass(err[0], test.failureException) else self.errors
            self._keep(err, found[-1][1], subtest._subDescription())  # "(i=2)", as unittest names it


class UnittestFailure(Exception):
    """A unittest test case failed or errored: the message is unittest's report."""


class UnittestItem(pytest.Item):
    """One unittest test case a module's ``load_tests`` returned, run and reported as unittest would."""

    def __init__(self, *, test: unittest.TestCase, detail: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test
        self.detail = detail

    def runtest(self) -> None:
        result = _Result()
        unittest.TestSuite([self.test]).run(result)  # its class and module fixtures around it, as in a suite
        if result.problems:
            report = "\n\n".join([*result.problems, self.detail])
            raise UnittestFailure(report.rstrip())
        if result.unexpectedSuccesses:
            raise UnittestFailure("unexpected success (the test is marked expectedFailure)")
        if result.expectedFailures:  # the reason: the failure's last line (AssertionError: 1 != 2)
            pytest.xfail(result.expectedFailures[0][1].rstrip().rpartition("\n")[2])
        if result.skipped:
            pytest.skip(result.skipped[0][1])

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """unittest's report of the failure (a doctest's "Failed example…", a traceback), as it prints it."""
        if isinstance(excinfo.value, UnittestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


def _message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return str(report.longrepr[2])
    return str(report.longrepr or "")


def _outcome(reports: list[pytest.TestReport]) -> tuple[str, str]:
    """One test's outcome from its phases, as junit reports it (setup/teardown failures are errors)."""
    for report in reports:
        if report.when == "call" and report.failed:
            return "failed", _message(report)
    for report in reports:
        if report.failed:
            return "error", f'failed on {report.when} with "{_message(report)}"'
    for report in reports:
        if report.skipped:
            if hasattr(report, "wasxfail"):
                return "skipped", f"expected failure: {report.wasxfail}".rstrip(": ")
            text = _message(report)
            return "skipped", text.removeprefix("Skipped: ")
    return "passed", ""


def runs_part(settings: dict[str, Any]) -> bool:
    """Does a job with these settings run part of what its command collects (selected tests, a shard, tests
    reused or done, a failure's collection prefix)?"""
    return (
        settings.get("only") is not None
        or int(settings.get("shard", (0, 1))[1]) > 1
        or bool(settings.get("reused"))
        or bool(settings.get("exclude"))
        or settings.get("until") is not None
    )


@pytest.hookimpl(tryfirst=True)  # before a seeded plugin's own pytest_configure draws its seed
def pytest_configure(config: pytest.Config) -> None:
    settings = _load()
    if settings is not None and not config.pluginmanager.has_plugin("trellis-job"):
        config.pluginmanager.register(TrellisJob(settings), "trellis-job")
        _one_seed(config)
        _no_fallback_report(config, settings)
        if runs_part(settings):
            _no_coverage(config)


def _no_fallback_report(config: pytest.Config, settings: dict[str, Any]) -> None:
    """The job's junit report (``"junit"``: its path, on the job's command line) is read only when this plugin never
    ran: with the plugin registered, the stream holds every result, and the report is not written (pytest's
    ``junitxml`` plugin, configured after this hook, keeps every report of every test until the session's end: a
    tenth of a run of many quick tests). A report the stage's own arguments ask for (another path) is written."""
    ours = settings.get("junit")
    theirs = getattr(config.option, "xmlpath", None)
    if isinstance(ours, str) and isinstance(theirs, str) and os.path.abspath(theirs) == os.path.abspath(ours):
        config.option.xmlpath = None


def _one_seed(config: pytest.Config) -> None:
    """Plugins that order the tests (and seed ``random`` before each) by a seed they draw in every process unless
    told one (:data:`SEEDED_OPTIONS`) get :data:`SEED` when the project's command left it to them: the shards of a
    job then order and split its items alike, a failure's confirmation runs the order the job ran, and a verdict
    does not depend on the process's draw (as ``PYTHONHASHSEED`` for a set's order). A seed the stage's arguments
    or the project's ``addopts`` give stays theirs."""
    for dest, drawn in SEEDED_OPTIONS:
        if getattr(config.option, dest, None) == drawn:
            setattr(config.option, dest, SEED)


def _no_coverage(config: pytest.Config) -> None:
    """A part of the suite covers part of the code: pytest-cov's threshold (``--cov-fail-under``, coverage's
    ``fail_under``) would fail a job whose tests all passed. Its ``--no-cov``, as if given last: nothing measured,
    reported or judged (pytest-cov reads its options from the namespace of the early arguments, where it
    registered its plugin; it starts measuring at session start)."""
    for namespace in (config.known_args_namespace, config.option):
        if hasattr(namespace, "no_cov"):
            namespace.no_cov = True
