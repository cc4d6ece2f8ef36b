"""``bench_ci.py --repo PATH``: replay a real repository's history through Trellis, and inject faults.

The last ``--commits N`` first-parent commits of the repository (a path or a
git bundle) are replayed as micro-commits, each a ``Commit(wait_for_verdict)``
against a server in this process whose pipeline checks syntax and runs the
tests that reach the change (``select = "affected"``). Per commit it records
the verdict and the time to it, the tests selected of the suite, the fallback
(file and rule) when every test ran, and the verdict of the whole suite run
with ``pytest -n 2`` in a warm checkout of the same commit (agreement, and the
warm baseline); every ``--fresh-every``-th commit also times a fresh clone
plus ``pytest -n 2``.

``--mutants M`` then injects faults into functions that some test reaches
(a return value, a comparison, an off-by-one), each committed on top of the
replayed head, and compares Trellis's verdict with the full suite's; a share
of them are two-step: a refactor that moves the function's body into a new
helper (committed and verified first), then a fault in the moved code.
A fault the full suite catches and Trellis does not is a **miss**.

A project whose code lives under ``src/`` runs with ``PYTHONPATH=src``, in
Trellis and in the baselines alike, unless ``--install``: then the baselines'
checkout is installed as the project's own command installs it (``pip install
--no-deps -e`` into an environment layered on the baselines' interpreter, see
``editable.py``; again after a commit that changes ``pyproject.toml``,
``setup.cfg`` or ``setup.py``) and the stage, given an ``--environment``,
installs the project into its jobs itself. With ``--baseline-python`` (an environment
holding the project's test dependencies) the baselines autoload that
environment's pytest plugins, as the project's own ``pytest`` does (Trellis
loads the plugins of the stage's environment likewise); without it they run
with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``.

``--load-tests``: the stage sets ``load_tests = true`` (a project whose own
command is ``python -m unittest`` and whose test modules add doctests through
``load_tests``), and the full-suite reference also runs ``python -m unittest``
in the checkout: when it fails, the reference fails (untimed; the baselines
stay ``pytest -n 2``).

A replay of a large suite takes long (attrs: ~1 minute of full-suite reference
per commit, and as long again in Trellis for a commit that reaches every test),
so ``--out FILE`` rewrites FILE with the summary so far after every commit and
fault, and an interrupted replay (Ctrl-C, SIGTERM) still prints the summary of
what finished. ``--reference-every N`` runs the full-suite reference on every
N-th commit only, and always where Trellis ran fewer than all tests (there the
reference is what finds a selection miss; where Trellis ran every test, its
own run already is a whole-suite run and the reference only checks the runner);
``--reference-every 0`` never runs it (a timing run: nothing is compared).
"""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from editable import installed_python
from measure import pct

from trellis.ci.project import EXTENSION_SOURCES
from trellis.ci.selection.index import TestIndex
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.semantic_diff import module_name
from trellis.server import build_server

PIPELINE = """\
[stages.syntax]
kind = "syntax"
when.languages = ["python"]

[stages.tests]
kind = "pytest"
select = "affected"
needs = ["syntax"]
timeout = "10m"
"""


@dataclass
class Step:
    label: str
    verdict: str = ""
    seconds: float = 0.0
    cpu_s: float = 0.0
    selected: int = 0
    total: int = 0
    fallback: str = ""
    full_passed: bool | None = None
    full_failing: frozenset[str] = frozenset()
    failing: frozenset[str] = frozenset()
    missed: frozenset[str] = frozenset()
    ran: frozenset[str] = frozenset()
    flaky: frozenset[str] = frozenset()
    warm_s: float = 0.0
    fresh_s: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    known: frozenset[str] = frozenset()

    @property
    def trellis_passed(self) -> bool:
        """Passed, or failed (or errored: a module that does not collect) only tests that already failed at the
        parent commit, as the full suite's count."""
        return self.verdict == "passed" or (
            self.verdict in ("failed", "error")
            and bool(self.failing)
            and all(
                any(t == k or t.startswith(k + "[") or k.startswith(t + "[") for k in self.known) for t in self.failing
            )
        )

    @property
    def agrees(self) -> bool | None:
        """Trellis's verdict is the full suite's: it failed (or errored) exactly when the full suite newly failed."""
        if self.full_passed is None:
            return None
        return self.trellis_passed == self.full_passed

    def compare(
        self, full_failing: frozenset[str], known: frozenset[str], seconds: float, flaky: frozenset[str] = frozenset()
    ) -> None:
        """Record the full suite's outcome; failures it had at the start of the replay do not count, nor
        ``flaky`` ones (failed in the full suite, passed when run again there: a hypothesis deadline under load)."""
        self.known = known
        self.flaky = flaky - known
        self.full_failing = full_failing - known - flaky
        self.full_passed = not self.full_failing
        self.warm_s = seconds
        if self.trellis_passed:  # a failure of the full suite that Trellis did not run: a selection miss
            self.missed = frozenset(
                t
                for t in self.full_failing
                if not any(t == f or t.startswith(f + "[") for f in self.failing)
                and not any(t == r or t.startswith(r + "[") for r in self.ran)
            )


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, input=data).stdout


def tree_files(repo: Path, commit: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    listing = git(repo, "ls-tree", "-r", "-z", commit).split(b"\0")
    for entry in listing:
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind != b"blob" or mode == b"160000":
            continue
        out[path.decode()] = git(repo, "cat-file", "blob", sha.decode())
    return out


PYTHON = [sys.executable]  # the baselines' interpreter (--baseline-python: one with the project's test deps)
ARGS: list[str] = []  # the project's own pytest arguments (--pytest-args), in the stage and the baselines alike
UNITTEST = [False]  # --load-tests: the reference also runs ``python -m unittest`` (what load_tests adds)
SERIAL = [False]  # --serial-reference: the reference in one process, in collection order (the project's own)


SUITE_SECONDS: list[float] = []  # how long the full suites that finished took


def suite_limit() -> float:
    """How long a full-suite reference may run: 10x the longest that finished, at least 2 minutes (30 before any
    finished). The reference has no per-test timeout: a fault's infinite loop would stall the replay."""
    return max(120.0, 10 * max(SUITE_SECONDS)) if SUITE_SECONDS else 1800.0


def run_suite(checkout: Path, env: dict[str, str]) -> tuple[frozenset[str], float]:
    """The whole suite with ``pytest -n 2``: the failing node ids, and the seconds it took. A suite that xdist
    refuses (its workers collected different tests: parameter ids holding a time, say) runs in one process, as
    the project's own ``pytest`` runs it; so does every suite with ``--serial-reference``: tests whose outcome
    depends on the tests of other files run before them in the same process (glom's tutorial doctest prints ids
    that ``test_tutorial``'s calls advanced) pass or fail at random under ``-n 2``, which hands out tests to its
    workers as they free up, and a failure at the parent's reference that happened not to show counts as new."""
    t0 = time.perf_counter()
    limit = suite_limit()
    xdist = ["-p", "no:xdist"] if SERIAL[0] else ["-n", "2", "-p", "xdist"]
    while True:
        try:
            done = subprocess.run(
                [PYTHON[0], "-m", "pytest", "-q", *xdist, "-p", "no:cacheprovider", "--color=no", "-rfE", *ARGS],
                cwd=checkout,
                env=env,
                capture_output=True,
                timeout=limit,
            )
        except subprocess.TimeoutExpired:
            return frozenset({f"<pytest timed out after {limit:.0f} s>"}), time.perf_counter() - t0
        if SERIAL[0] or b"Different tests were collected between" not in done.stdout + done.stderr:
            break
        xdist = ["-p", "no:xdist"]
    seconds = time.perf_counter() - t0
    SUITE_SECONDS.append(seconds)
    failing = _failed(done.stdout)
    if done.returncode != 0 and not failing:  # a failure the summary did not name: still a failed suite
        failing.add(f"<pytest exit {done.returncode}>")
    if UNITTEST[0]:  # the project's own command: what its load_tests add (doctests) counts too; untimed
        for command in unittest_commands(checkout):
            try:  # unittest has no per-test timeout: a hanging test (a fault's infinite loop) would stall the replay
                own = subprocess.run(
                    [PYTHON[0], "-c", _UNITTEST_IDS, *command[2:]],
                    cwd=checkout,
                    env=env,
                    capture_output=True,
                    timeout=max(120.0, 10 * seconds),
                )
                named = {
                    line.split(" ", 1)[1]
                    for line in own.stdout.decode(errors="replace").splitlines()
                    if line.startswith("UNITTEST-FAILED ")
                }
                failing |= named
                if own.returncode != 0 and not named:
                    failing.add(f"<python {' '.join(command)} failed>")
            except subprocess.TimeoutExpired:
                failing.add(f"<python {' '.join(command)} timed out>")
    return frozenset(failing), seconds


# ``python -m unittest ARGS`` that prints each failing test as the stage names a test a module's ``load_tests`` made
# (``FILE::load_tests::TEST.id()``; the stage adds ``[n]`` to ids made twice, which the comparison allows), so a
# failure at the parent commit is known by its name at the next one, as pytest's are.
_UNITTEST_IDS = """
import os, sys, unittest
program = unittest.main(module=None, argv=["python -m unittest", *sys.argv[1:]], exit=False, verbosity=0)
result = program.result
for test, _ in [*result.failures, *result.errors, *((t, "") for t in result.unexpectedSuccesses)]:
    test = getattr(test, "test_case", test)  # a subTest's failure: its test
    module = sys.modules.get(type(test).__module__)
    where = getattr(module, "__file__", None)
    if where is None or type(test).__module__.startswith("unittest"):  # a module that did not import: unnamed
        print("UNITTEST-FAILED <python -m unittest:", test.id() + ">")
        continue
    print("UNITTEST-FAILED", os.path.relpath(where).replace(os.sep, "/") + "::load_tests::" + test.id())
sys.exit(0 if result.wasSuccessful() else 1)
"""


def unittest_commands(checkout: Path) -> list[list[str]]:
    """How unittest finds the checkout's tests: ``python -m unittest`` discovers from the checkout, and into
    packages only, so a ``src`` layout's tests (isodate 0.6's ``src/isodate/tests``, run by ``setup.py test``)
    are found by discovering from ``src`` too (its top-level directory, as an install puts it on the path)."""
    commands = [["-m", "unittest"]]
    src = checkout / "src"
    if src.is_dir() and not (src / "__init__.py").exists() and any(src.glob("*/__init__.py")):
        commands.append(["-m", "unittest", "discover", "-s", "src", "-t", "src"])
    return commands


def _failed(stdout: bytes) -> set[str]:
    """The node ids of pytest's ``-rfE`` summary (``--color=no``: a plugin or the environment may turn colour on,
    and a coloured ``FAILED`` line would read as no failure): ``FAILED id``, ``ERROR id``, and ``SUBFAILED(n=3) id`` (pytest 9
    reports a failing ``unittest`` ``subTest`` so: counting only ``FAILED`` lines took such a suite for a pass)."""
    out = set()
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            out.add(line.split(" ", 1)[1].split(" - ", 1)[0].strip())
        elif line.startswith("SUBFAILED"):  # SUBFAILED(slice_args='(5, -4, -1)') tests/x.py::T::test - message
            words = line.split(" - ", 1)[0].split()
            out.update(w for w in words[-1:] if "::" in w)
    return out


def fresh_suite(repo: Path, commit: str, work: Path, env: dict[str, str]) -> float:
    target = work / f"fresh-{commit[:12]}"
    t0 = time.perf_counter()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", commit], check=True)
    run_suite(target, env)
    seconds = time.perf_counter() - t0
    shutil.rmtree(target, ignore_errors=True)
    return seconds


# -- faults -------------------------------------------------------------------------------------------


def _mutations(source: str, func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str]]:
    """(kind, mutated source) for one-line faults inside ``func``'s body."""
    lines = source.splitlines(keepends=True)
    out: list[tuple[str, str]] = []

    def replace(node: ast.AST, text: str, kind: str) -> None:
        if node.lineno != node.end_lineno:  # type: ignore[attr-defined]
            return
        i = node.lineno - 1  # type: ignore[attr-defined]
        line = lines[i].encode()
        start, end = node.col_offset, node.end_col_offset  # type: ignore[attr-defined]
        new = (line[:start] + text.encode() + line[end:]).decode()
        out.append((kind, "".join([*lines[:i], new, *lines[i + 1 :]])))

    swaps = {
        ast.Lt: "<=",
        ast.LtE: "<",
        ast.Gt: ">=",
        ast.GtE: ">",
        ast.Eq: "!=",
        ast.NotEq: "==",
        ast.Is: "is not",
        ast.IsNot: "is",
        ast.In: "not in",
        ast.NotIn: "in",
    }
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and node.value is not None:
            segment = ast.get_source_segment(source, node.value)
            if segment and "\n" not in segment:
                replace(node.value, f"_trellis_fault({segment})", "return value")
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in swaps:
            left = ast.get_source_segment(source, node.left)
            right = ast.get_source_segment(source, node.comparators[0])
            if left and right and "\n" not in left + right:
                replace(node, f"{left} {swaps[type(node.ops[0])]} {right}", "comparison")
        elif isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value < 1000:
            replace(node, str(node.value + 1), "off-by-one")
    return out


FAULT_HELPER = (
    "\n\ndef _trellis_fault(value):\n"
    "    if isinstance(value, bool):\n        return not value\n"
    "    if isinstance(value, (int, float)):\n        return value + 1\n"
    "    if value is None:\n        return 0\n"
    "    return None\n"
)


def _extract(source: str, func: ast.FunctionDef) -> tuple[str, str] | None:
    """Step one of a two-step change: move a top-level function's body into a new helper; (source, helper)."""
    args = func.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or func.decorator_list:
        return None
    names = [a.arg for a in args.args]
    helper = f"_moved_{func.name}"
    lines = source.splitlines(keepends=True)
    start = func.body[0].lineno - 1
    if isinstance(func.body[0], ast.Expr) and isinstance(getattr(func.body[0], "value", None), ast.Constant):
        if len(func.body) == 1:
            return None
        start = func.body[1].lineno - 1
    end = func.end_lineno or func.lineno
    body = lines[start:end]
    indent = " " * func.body[-1].col_offset
    call = f"{indent}return {helper}({', '.join(names)})\n"
    moved = f"\n\ndef {helper}({', '.join(names)}):\n" + "".join(body)
    return "".join([*lines[:start], call, *lines[end:]]) + moved, helper


# -- the replay ---------------------------------------------------------------------------------------


def replay(args: object) -> dict[str, object]:
    repo_arg = Path(args.repo)
    commits = int(args.commits or 20)
    mutants = int(args.mutants or 0)
    fresh_every = int(args.fresh_every or 5)
    seed = int(args.seed or 0)
    work = Path(tempfile.mkdtemp(prefix="bench-replay-", dir=getattr(args, "tmpdir", None)))
    source = work / "source"
    subprocess.run(["git", "clone", "-q", str(repo_arg), str(source)], check=True, capture_output=True)
    try:
        head = git(source, "rev-parse", "HEAD").decode().strip()
    except subprocess.CalledProcessError:  # a bundle without HEAD: its main branch
        refs = git(source, "for-each-ref", "--format=%(refname)", "refs/remotes/origin").decode().split()
        ref = next((r for r in refs if r.rsplit("/", 1)[-1] in ("main", "master")), refs[0])
        head = git(source, "rev-parse", ref).decode().strip()
        subprocess.run(["git", "-C", str(source), "checkout", "-q", head], check=True)
    first_parent = git(source, "rev-list", "--first-parent", f"-n{commits + 1}", head).decode().split()
    first_parent.reverse()
    base, replayed = first_parent[0], first_parent[1:]
    checkout = work / "warm"
    subprocess.run(["git", "clone", "-q", str(source), str(checkout)], check=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if not getattr(args, "baseline_python", ""):  # the project's own environment loads its plugins, as pytest does
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    pipeline = PIPELINE
    extra_env = dict(item.split("=", 1) for item in getattr(args, "env", None) or [])
    if getattr(args, "baseline_python", ""):
        PYTHON[0] = args.baseline_python
    install_on = PYTHON[0]
    if getattr(args, "install", False):  # the project's own command: pip install -e (at the base, below), pytest
        PYTHON[0] = str(work / "own-venv" / "bin" / "python")
    elif (checkout / "src").is_dir():
        extra_env.setdefault("PYTHONPATH", "src")
    if getattr(args, "baseline_python", "") or getattr(args, "install", False):
        # The environment's scripts first on PATH, as an activated one (tox, nox, CI) has them: glom's test_main
        # runs the ``glom`` console script its install writes, and failed in every reference ("No such file").
        env["PATH"] = os.pathsep.join([str(Path(PYTHON[0]).parent), env.get("PATH", "")])
    env.update(extra_env)
    stage_lines = []
    if extra_env:
        stage_lines.append("env = { " + ", ".join(f'{k} = "{v}"' for k, v in extra_env.items()) + " }")
    if getattr(args, "environment", ""):
        stage_lines.append(f"environment = {args.environment}")
    UNITTEST[0] = bool(getattr(args, "load_tests", False))
    SERIAL[0] = bool(getattr(args, "serial_reference", False))
    if UNITTEST[0]:
        stage_lines.append("load_tests = true")
    ARGS[:] = (getattr(args, "pytest_args", "") or "").split()
    if ARGS:
        stage_lines.append(f"args = {json.dumps(ARGS)}")
    if stage_lines:
        pipeline = pipeline.replace('timeout = "10m"', "\n".join(['timeout = "10m"', *stage_lines]))
    name = repo_arg.name.removesuffix(".bundle").removesuffix(".git")
    steps: list[Step] = []
    faults: list[Step] = []
    reference_every = max(0, int(getattr(args, "reference_every", 1)))  # 0: no reference (timing only)
    out = getattr(args, "out", "") or ""
    load_before = os.getloadavg()

    def save() -> None:
        if out:
            summary = _summary(name, steps, faults)
            summary["load_average"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
            Path(out).write_text(json.dumps(summary, indent=2))

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    data_dir = work / "data"
    data_dir.mkdir()
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="bench", timeout=3600) as client:
            client.create_repository(name)
            files = tree_files(source, base)
            files["trellis.toml"] = pipeline.encode()
            seeded = client.commit(name, "main", files, f"seed {base[:12]}", wait_for_verdict=True)
            tip = seeded.commit.commit_id
            assert seeded.run is not None
            print(f"seeded {name} at {base[:12]}: {seeded.run.verdict.value}", file=sys.stderr)
            current = files
            subprocess.run(["git", "-C", str(checkout), "checkout", "-q", base], check=True)
            if getattr(args, "install", False):  # as of the base: its metadata, version and entry points
                installed_python(checkout, install_on, work / "own-venv")
            known, _ = run_suite(checkout, env)
            if known and all(k.startswith("<") for k in known):
                # The reference names no failing test: pytest could not run (an option, a plugin missing from
                # --baseline-python). Every comparison would read "agrees".
                raise SystemExit(
                    f"the full-suite reference cannot run at {base[:12]}: {sorted(known)}; check "
                    "--baseline-python (it needs pytest-xdist and the project's test dependencies)"
                )
            if known:
                print(f"  failing before the replay (not counted): {sorted(known)}", file=sys.stderr)
            # A failure counts at the commit that introduced it: ``known`` is what failed at the parent.
            for commit in replayed:
                new = tree_files(source, commit)
                new["trellis.toml"] = pipeline.encode()
                changes: dict[str, bytes | None] = {p: c for p, c in new.items() if current.get(p) != c}
                changes.update({p: None for p in current if p not in new})
                subject = git(source, "log", "-1", "--format=%s", commit).decode().strip()
                step = Step(f"{commit[:12]} {subject[:60]}")
                if not changes:  # only a symlink, a submodule or a file mode changed: nothing to push
                    print(f"  {step.label}: no change to the tracked files' content; skipped", file=sys.stderr)
                    current = new
                    continue
                tip = _push(client, name, tip, changes, subject, step)
                current = new
                # -f: an editable install may have rewritten a tracked file (setuptools_scm's version_file); the
                # project's command, installing at every commit, would rewrite it again: so does the reference.
                rewritten = subprocess.run(["git", "-C", str(checkout), "diff", "--quiet"]).returncode != 0
                subprocess.run(["git", "-C", str(checkout), "checkout", "-q", "-f", commit], check=True)
                rebuild = any(p.endswith(EXTENSION_SOURCES) for p in changes)  # a compiled extension's source
                if getattr(args, "install", False) and (rewritten or rebuild or changes.keys() & _PACKAGING):
                    installed_python(
                        checkout, getattr(args, "baseline_python", "") or sys.executable, work / "own-venv"
                    )
                if reference_every and (
                    len(steps) % reference_every == 0 or step.selected < step.total or not step.total
                ):
                    reference = _full(checkout, env, known)
                    step.compare(*reference)
                    # What fails at this commit is the next one's parent's: a test that failed before and passes
                    # now is known no more (a fault later failing it counts, and a selection missing it too).
                    known = reference[0] - step.flaky
                else:  # no reference here: Trellis ran every test, so its failures are this commit's
                    step.known = known
                    known = known | step.failing
                if len(steps) % fresh_every == 0:
                    step.fresh_s = fresh_suite(source, commit, work, env)
                steps.append(step)
                _report(step)
                save()
            if mutants:
                _inject(client, name, tip, current, checkout, env, mutants, seed, known, faults, save)
    except KeyboardInterrupt:
        print(
            f"  interrupted after {len(steps)} commits and {len(faults)} faults: the summary of those", file=sys.stderr
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        running.stop(grace=5)
        saved = getattr(args, "save_observed", None)
        observed = sorted(data_dir.rglob("observed/*.json"))
        if saved is not None and observed:
            shutil.copyfile(observed[0], saved)
        shutil.rmtree(work, ignore_errors=True)
    save()
    summary = _summary(name, steps, faults)
    summary["load_average"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    return summary


# The files an editable install is made from: a change to one installs the checkout again (--install).
_PACKAGING = frozenset({"pyproject.toml", "setup.cfg", "setup.py"})


def _full(
    checkout: Path, env: dict[str, str], known: frozenset[str]
) -> tuple[frozenset[str], frozenset[str], float, frozenset[str]]:
    """The full suite's failures, its known ones, its time, and the failures that passed when run again.

    A new failure is run again, alone, in the same checkout, up to three times: one that passes in any of those
    runs is flaky (on this loaded machine, hypothesis deadlines; a test asserting that a call took less than a
    millisecond, tenacity's ``test_sleeps``, fails twice in a row at load 19), not a verdict to compare with.
    """
    failing, seconds = run_suite(checkout, env)
    new = sorted(t for t in failing - known if not t.startswith("<") and "::load_tests::" not in t)
    flaky: frozenset[str] = frozenset()
    still = set(new)
    for _ in range(3 if new else 0):
        try:
            again = subprocess.run(
                [
                    PYTHON[0],
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "--color=no",
                    "-rfE",
                    *ARGS,
                    *sorted(still),
                ],
                cwd=checkout,
                env=env,
                capture_output=True,
                timeout=suite_limit(),
            )
        except subprocess.TimeoutExpired:  # still failing (hanging): not flaky
            break
        if again.returncode not in (0, 1):
            break
        still &= _failed(again.stdout)
        flaky = frozenset(t for t in new if t not in still)
        if not still:
            break
    if flaky:
        print(f"  flaky in the full suite (passed when run again): {sorted(flaky)}", file=sys.stderr)
    return failing, known, seconds, flaky


def _push(client: Client, name: str, tip: str, changes: dict[str, bytes | None], message: str, step: Step) -> str:
    cpu0 = tree_cpu()
    t0 = time.perf_counter()
    reply = client.commit(name, "main", changes, message, expected_head=tip, wait_for_verdict=True)
    step.seconds = time.perf_counter() - t0
    step.cpu_s = tree_cpu() - cpu0
    run = reply.run
    if run is not None:
        step.verdict = run.verdict.value
        job = next((j for j in run.jobs if j.stage == "tests"), None)
        if job is not None:
            step.total = job.total_tests
            step.selected = job.selected_tests
            step.fallback = job.fallback
            step.failing = frozenset(t.test_id for t in job.tests if t.verdict.value in ("failed", "error"))
            step.ran = frozenset(t.test_id for t in job.tests)
    else:
        step.verdict = "no run"
    return reply.commit.commit_id


def processes(cmdlines: bool = False) -> list[tuple[int, int, float, bytes]]:
    """Every process of the machine as (pid, parent pid, CPU seconds of its own and its reaped children's,
    command line if ``cmdlines``), read from ``/proc``; a process gone while it is read is left out."""
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cmdline = b""
            if cmdlines:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmdline = f.read()
        except OSError:
            continue
        # state, ppid, ..., utime stime cutime cstime (fields 14-17 of stat)
        found.append((int(entry.name), int(fields[1]), sum(int(x) for x in fields[11:15]) / tick, cmdline))
    return found


def tree_cpu() -> float:
    """CPU seconds of this process (the server runs in it) and of every process below it: the warm pytest
    runners and the jobs they forked. A process counts in its own times while it exists (a zombie too),
    then in its parent's ``cutime`` once reaped, so each counts once whenever this is read. Unlike the wall
    clock, it does not grow with the load other sessions put on the machine."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    children: dict[int, list[tuple[int, float]]] = {}
    for pid, parent, seconds, _ in processes():
        children.setdefault(parent, []).append((pid, seconds))
    queue = [os.getpid()]
    while queue:
        for pid, seconds in children.get(queue.pop(), ()):
            total += seconds
            queue.append(pid)
    return total


def _report(step: Step) -> None:
    agree = {True: "agrees", False: "DISAGREES", None: "?"}[step.agrees]
    print(
        f"  {step.label}: {step.verdict} in {step.seconds:.2f} s ({step.cpu_s:.2f} s CPU), {step.selected}/{step.total} tests"
        f"{' [' + step.fallback + ']' if step.fallback else ''}; full suite "
        f"{_full_label(step.full_passed)} ({step.warm_s:.1f} s) {agree}",
        file=sys.stderr,
    )
    if step.agrees is False:
        print(
            f"    Trellis failing {sorted(step.failing)[:8]}; full suite newly failing {sorted(step.full_failing)[:8]};"
            f" failing at the parent {sorted(step.known)[:8]}",
            file=sys.stderr,
        )


def _inject(
    client: Client,
    name: str,
    tip: str,
    files: dict[str, bytes],
    checkout: Path,
    env: dict[str, str],
    count: int,
    seed: int,
    known: frozenset[str],
    out: list[Step],
    save: Callable[[], None],
) -> None:
    """Faults in functions tests reach, each committed on top of ``tip`` and reverted after (into ``out``)."""
    index = TestIndex.build({p: c for p, c in files.items()})
    reached: set[str] = set()
    for test in index.tests:
        reached.update(index.reaches(test))
    rng = random.Random(seed)
    candidates: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]] = []
    for path, content in sorted(files.items()):
        if not path.endswith(".py") or "test" in path.rsplit("/", 1)[-1] or "/tests/" in f"/{path}":
            continue
        module = module_name(path)
        try:
            tree = ast.parse(content)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and f"{module}.{node.name}" in reached:
                candidates.append((path, node, True))
            elif isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        f"{module}.{node.name}.{member.name}" in reached
                    ):
                        candidates.append((path, member, False))
    rng.shuffle(candidates)
    while candidates and len(out) < count:
        # Every third fault is two-step: it needs a top-level function whose body can move.
        wanted = len(out) % 3 == 2
        pick = next((i for i, c in enumerate(candidates) if c[2] or not wanted), 0)
        path, func, top_level = candidates.pop(pick)
        original = files[path].decode()
        two_step = top_level and wanted
        base_source = original
        label_prefix = ""
        if two_step:
            moved = _extract(original, func)  # type: ignore[arg-type]
            if moved is None:
                continue
            base_source, helper = moved
            try:
                helper_node = next(
                    n for n in ast.parse(base_source).body if isinstance(n, ast.FunctionDef) and n.name == helper
                )
            except (SyntaxError, StopIteration):
                continue
            refactor = Step(f"refactor {path}::{func.name}")
            tip = _push(client, name, tip, {path: base_source.encode()}, f"move {func.name}'s body", refactor)
            (checkout / path).write_text(base_source)
            refactor.compare(*_full(checkout, env, known))
            if not refactor.full_passed:  # the refactor itself broke something: not a fair base
                tip = _push(client, name, tip, {path: original.encode()}, "revert", Step("revert"))
                (checkout / path).write_text(original)
                continue
            func = helper_node
            label_prefix = "two-step "
        options = _mutations(base_source, func)
        if not options:
            if two_step:
                tip = _push(client, name, tip, {path: original.encode()}, "revert", Step("revert"))
                (checkout / path).write_text(original)
            continue
        kind, mutated = rng.choice(options)
        if "_trellis_fault(" in mutated:
            mutated += FAULT_HELPER
        step = Step(f"{label_prefix}{kind} in {path}::{func.name}")
        tip = _push(client, name, tip, {path: mutated.encode()}, f"fault: {step.label}", step)
        (checkout / path).write_text(mutated)
        step.compare(*_full(checkout, env, known))
        step.extra["two_step"] = two_step
        out.append(step)
        _report(step)
        save()
        tip = _push(client, name, tip, {path: original.encode()}, "revert the fault", Step("revert"))
        (checkout / path).write_text(original)


def _summary(name: str, steps: list[Step], faults: list[Step]) -> dict[str, object]:
    times = [s.seconds for s in steps]
    cpu = [s.cpu_s for s in steps]
    fallbacks = [s for s in steps if s.fallback]
    warm = [s.warm_s for s in steps if s.full_passed is not None]
    fresh = [s.fresh_s for s in steps if s.fresh_s is not None]
    caught_full = [f for f in faults if f.full_passed is False]
    missed = [f for f in caught_full if f.missed or f.trellis_passed]
    return {
        "repository": name,
        "commits": len(steps),
        "push_to_verdict_p50_s": pct(times, 0.5) if times else None,
        "push_to_verdict_p95_s": pct(times, 0.95) if times else None,
        "push_cpu_p50_s": pct(cpu, 0.5) if cpu else None,
        "push_cpu_p95_s": pct(cpu, 0.95) if cpu else None,
        "fallbacks": len(fallbacks),
        "fallback_reasons": [f"{s.label}: {s.fallback}" for s in fallbacks],
        "whole_suite_selected": sum(1 for s in steps if s.total and s.selected >= s.total),
        "selected": [f"{s.selected}/{s.total}" for s in steps],
        "compared": sum(1 for s in steps if s.full_passed is not None),
        "flaky_in_full_suite": [f"{s.label}: {sorted(s.flaky)}" for s in [*steps, *faults] if s.flaky],
        "disagreements": [
            f"{s.label}: missed {sorted(s.missed)}" if s.missed else s.label for s in steps if s.agrees is False
        ],
        "warm_pytest_n2_p50_s": pct(warm, 0.5) if warm else None,
        "fresh_clone_pytest_n2_p50_s": pct(fresh, 0.5) if fresh else None,
        "steps": [
            {
                "label": s.label,
                "verdict": s.verdict,
                "seconds": round(s.seconds, 3),
                "cpu_s": round(s.cpu_s, 3),
                "selected": s.selected,
                "total": s.total,
                "fallback": s.fallback,
                "full_passed": s.full_passed,
                "warm_s": round(s.warm_s, 2),
                "fresh_s": s.fresh_s,
                **(
                    {"failing": sorted(s.failing), "full_failing": sorted(s.full_failing), "known": sorted(s.known)}
                    if s.agrees is False
                    else {}
                ),
            }
            for s in steps
        ],
        "mutants": len(faults),
        "mutants_two_step": sum(1 for f in faults if f.extra.get("two_step")),
        "mutants_caught_by_full_suite": len(caught_full),
        "mutants_caught_by_trellis": sum(1 for f in faults if f.verdict and not f.trellis_passed),
        "mutants_missed": [f.label for f in missed],
        "mutant_steps": [
            {
                "label": f.label,
                "verdict": f.verdict,
                "seconds": round(f.seconds, 3),
                "selected": f.selected,
                "total": f.total,
                "full_passed": f.full_passed,
            }
            for f in faults
        ],
    }


def markdown(result: dict[str, object], machine: str, command: str) -> str:
    load = result.get("load_average") or []
    if load:
        machine += (
            f"; load average (1/5/15 min) {load[0]}/{load[1]}/{load[2]} at the start, "
            f"{load[3]}/{load[4]}/{load[5]} at the end"
        )
    lines = [
        f"### Real history: {result['repository']} (`{command}`)\n",
        f"{machine}.\n",
        "| measure | value |",
        "|---|---|",
        f"| commits replayed | {result['commits']} |",
        f"| push-to-verdict p50 / p95 | {_s(result['push_to_verdict_p50_s'])} / "
        f"{_s(result['push_to_verdict_p95_s'])} |",
        f"| CPU per push (server, warm runners, jobs) p50 / p95 | {_s(result.get('push_cpu_p50_s'))} / "
        f"{_s(result.get('push_cpu_p95_s'))} |",
        f"| whole-suite fallbacks | {result['fallbacks']} of {result['commits']} |",
        f"| commits whose selection was every test anyway | {result['whole_suite_selected']} |",
        f"| verdicts disagreeing with the full suite | {len(result['disagreements'])} "  # type: ignore[arg-type]
        f"(of {result['compared']} compared) |",
        f"| baseline: `pytest -n 2` in a warm checkout, p50 | {_s(result['warm_pytest_n2_p50_s'])} |",
        f"| baseline: fresh clone + `pytest -n 2`, p50 | {_s(result['fresh_clone_pytest_n2_p50_s'])} |",
    ]
    if result["mutants"]:
        lines += [
            f"| faults injected (two-step) | {result['mutants']} ({result['mutants_two_step']}) |",
            f"| caught by the full suite / by Trellis | {result['mutants_caught_by_full_suite']} / "
            f"{result['mutants_caught_by_trellis']} |",
            f"| missed by selection | {len(result['mutants_missed'])} |",
        ]  # type: ignore[arg-type]
    lines.append("")
    for flaky in result.get("flaky_in_full_suite") or []:  # type: ignore[attr-defined]
        lines.append(f"- flaky in the full suite (failed, then passed when run again; not compared): {flaky}")
    for reason in result["fallback_reasons"]:  # type: ignore[attr-defined]
        lines.append(f"- fallback: {reason}")
    lines.append("")
    lines.append("| commit | verdict | s | tests | fallback | full suite |")
    lines.append("|---|---|---|---|---|---|")
    for s in result["steps"]:  # type: ignore[attr-defined]
        lines.append(
            f"| {s['label']} | {s['verdict']} | {s['seconds']:.2f} | {s['selected']}/{s['total']} | "
            f"{s['fallback'] or '-'} | {_full_label(s['full_passed'])} |"
        )
    return "\n".join(lines) + "\n"


def _full_label(passed: object) -> str:
    return {True: "passed", False: "failed"}.get(passed, "not run")  # type: ignore[call-overload]


def _s(value: object) -> str:
    return f"{value:.2f} s" if isinstance(value, float) else "-"
