"""One job, start to end, wherever it runs: lease a workspace, run the sandbox, read the report."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..sandbox import TMPDIR_NAME, Launcher, SandboxResult, default_path, make_tmpdir, run_sandboxed
from .bytecode import PASS_HOOK_OPTION, pytest_reads
from .environments import ensure_environment, pytest_plugins, pytest_version, python_of
from .extensions import ExtensionBuild, build_extensions
from .jobs import JobOutcome, JobRequest, TestOutcome, TestPlan, TestResult, summarize
from .project_install import scm_version, workspace_project, write_install
from .pytest_job import PYTEST_ENV, parse_junit, pytest_argv, read_report
from .shards import HARD_EXIT
from .tool_caches import CacheStore
from .workspace import TreeSource, WorkspacePool

__all__ = ["PLUGIN_MODULE", "job_plugin", "read_stream", "run_job"]

PLUGIN_MODULE = "_trellis_pytest"
ENTRY_POINTS_MODULE = "_trellis_entry_points"
_PLUGIN_SOURCE = Path(__file__).with_name("pytest_plugin.py")
_ENTRY_POINTS_SOURCE = Path(__file__).with_name("pytest_entry_points.py")
# The plugin's records of what ran, and of the files of the tree read (trellis.ci.selection.observed, file_reads).
_OBSERVED_KINDS = frozenset({"eval", "import", "unpickle", "process", "getattr", "reads"})
_OUTCOMES: frozenset[str] = frozenset({"passed", "failed", "error", "skipped"})


def job_plugin() -> tuple[str, Path]:
    """The job plugin every pytest job loads (``-p NAME``): its module name and source file."""
    return PLUGIN_MODULE, _PLUGIN_SOURCE


def run_job(
    request: JobRequest,
    pool: WorkspacePool,
    *,
    source: TreeSource | None = None,
    launcher: Launcher | None = None,
    executor: str = "local",
    stop: threading.Event | None = None,
    launcher_for: Callable[[str], Launcher | None] | None = None,
    streaming: Callable[[Path | None], None] | None = None,
) -> JobOutcome:
    """Run ``request`` in a workspace of ``pool`` (its tree from ``source``, else from the repository).

    ``launcher`` starts pytest jobs (the warm runner); command jobs always use the plain one.
    A pytest job with an ``environment`` runs that environment's Python (built once per digest
    under ``<pool root>/environments``), started by ``launcher_for(python)`` when given.
    ``streaming(path)`` is told where a pytest job's results stream while it runs (None once done).
    Raises :class:`trellis.ci.execution.workspace.WorkspaceError` or :class:`trellis.ci.sandbox.SandboxError` when the
    job could not be run at all; anything the job itself does ends in the outcome.
    """
    start = time.monotonic()
    python = sys.executable
    readable: tuple[str, ...] = ()
    plugins: tuple[tuple[str, str], ...] = ()
    own_pytest: str | None = None  # the environment's own pytest, if it installs one
    if request.kind == "pytest" and request.environment is not None:
        environment = ensure_environment(request.environment, pool.root / "environments")
        python, readable = str(python_of(environment)), (str(environment),)
        plugins = pytest_plugins(environment, request.environment)
        own_pytest = pytest_version(environment)
        launcher = launcher_for(python) if launcher_for is not None else None
    # Our pycs for a pytest job (a command job sees the tree alone), an environment's too: its Python is a
    # venv of the server's, and a pyc of another interpreter or pytest version has another name or magic
    # number, which the job's importer skips. None of pytest's rewritten ones when the job turns on its
    # assertion pass hook (the rewritten code differs then), nor when the environment installs another
    # pytest than the server's (its jobs look for their own version's file names: nobody would read them).
    compiled = request.kind == "pytest"
    texts = (*request.pytest_args, *(value for _, value in request.env))
    rewrite = not any(PASS_HOOK_OPTION.decode() in text for text in texts) and pytest_reads(own_pytest)
    lease = (
        pool.lease(request.repo_path, request.tree_id, bytecode=compiled, rewrite_asserts=rewrite)
        if source is None
        else pool.lease_tree(source, request.tree_id, bytecode=compiled, rewrite_asserts=rewrite)
    )
    caches = CacheStore(pool.root / "tool-caches") if request.tool_caches and request.cache_scope else None
    with lease as workspace:
        if caches is not None:
            caches.restore(request.cache_scope, request.tool_caches, workspace)
        setup_s = time.monotonic() - start
        env = dict(request.env)
        if request.kind == "pytest":
            outcome = _run_pytest(
                request,
                workspace,
                env,
                launcher,
                executor,
                stop,
                setup_s,
                pool.root,
                python,
                readable,
                plugins,
                streaming,
            )
        else:
            result = run_sandboxed(
                request.command, workspace, env=env, limits=request.limits, network=request.network, stop=stop
            )
            outcome = JobOutcome.from_sandbox(request.job_id, result, setup_s=setup_s, executor=executor)
        if caches is not None and outcome.status in ("passed", "failed"):  # not cut short mid-write
            caches.save(request.cache_scope, request.tool_caches, workspace)
        return outcome


def _run_pytest(
    request: JobRequest,
    workspace: Path,
    env: dict[str, str],
    launcher: Launcher | None,
    executor: str,
    stop: threading.Event | None,
    setup_s: float,
    pool_root: Path,
    python: str,
    readable: tuple[str, ...],
    plugins: tuple[tuple[str, str], ...],
    streaming: Callable[[Path | None], None] | None,
) -> JobOutcome:
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", request.job_id)
    tmpdir = workspace / TMPDIR_NAME
    make_tmpdir(tmpdir)
    report = tmpdir / f"junit-{safe_id}.xml"
    stream = tmpdir / f"results-{safe_id}-{uuid.uuid4().hex}.jsonl"  # unguessable: nothing planted there
    plugin_dir = Path(tempfile.mkdtemp(prefix="trellis-plugin-", dir=tmpdir))  # fresh, ours
    os.chmod(plugin_dir, 0o755)
    (plugin_dir / f"{PLUGIN_MODULE}.py").write_bytes(_PLUGIN_SOURCE.read_bytes())
    config = plugin_dir / "config.json"
    config.write_text(json.dumps({**(request.tests or TestPlan()).to_json(str(stream)), "junit": str(report)}))
    path_entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    # The project installed as its own command installs it (pip install -e .), from this workspace: its
    # package root and metadata on sys.path ahead of the interpreter's site directories (the tree's package
    # and version win over an installed release of it, the server's own too), its console scripts on PATH,
    # its pytest11 plugin loaded. A PYTHONPATH of the stage's own env comes first (the user's choice of roots),
    # with or without an environment.
    project = workspace_project(workspace)
    if project is not None and project.scm and request.repo_path:
        project = scm_version(project, request.repo_path, request.commit_id)
    bin_dirs: list[str] = []
    entries = [(name, value, True) for name, value in plugins]
    built: ExtensionBuild | None = None
    if project is not None:
        paths, bin_dir = write_install(project, workspace, plugin_dir, python)
        path_entries += paths
        bin_dirs.append(str(bin_dir))
        entries = [(name, value, False) for name, value in project.pytest_plugins()] + entries
        if project.extensions:
            # Built as pip install -e . builds them, in the sandbox (it runs the tree's setup.py), or copied from
            # an earlier build of the same inputs; a failed build is the project's install failing.
            built = build_extensions(
                project,
                workspace,
                pool_root / "extensions",
                python=python,
                env=env,
                limits=request.limits,
                readable=readable,
            )
            setup_s += built.seconds
            if built.failed:
                return JobOutcome(
                    job_id=request.job_id,
                    status="failed",
                    exit_code=3,
                    output=built.log(),
                    duration_s=0.0,
                    cpu_s=0.0,
                    max_rss=0,
                    isolation=(),
                    reason=f"compiled extensions {built.note()}",
                    summary=summarize(()),
                    setup_s=setup_s,
                    executor=executor,
                    notes=(f"compiled extensions {built.note()}",),
                )
    if entries:
        # The environment's plugins and the project's load where pytest would autoload them, so the
        # project's own addopts and the stage's args keep one out with -p no:NAME (the server's stay out).
        (plugin_dir / f"{ENTRY_POINTS_MODULE}.py").write_bytes(_ENTRY_POINTS_SOURCE.read_bytes())
        (plugin_dir / "entry_points.json").write_text(json.dumps(entries))
        env["PYTEST_PLUGINS"] = ",".join(p for p in (ENTRY_POINTS_MODULE, env.get("PYTEST_PLUGINS", "")) if p)
    for path in plugin_dir.iterdir():
        if path.is_file():
            os.chmod(path, 0o644)
    path_entries.append(str(plugin_dir))
    env = {
        **PYTEST_ENV,
        **env,
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(path_entries)),
        "TRELLIS_PYTEST_CONFIG": str(config),
    }
    if python != sys.executable:  # the project's environment: its scripts first on PATH
        env["PATH"] = os.pathsep.join([*bin_dirs, os.path.dirname(python), *os.defpath.split(os.pathsep)])
    elif bin_dirs:  # the server's interpreter: the project's scripts before the PATH the job has
        env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH") or default_path()])
    args = ("-p", PLUGIN_MODULE, *request.pytest_args)
    if streaming is not None:
        streaming(stream)
    try:
        result = run_sandboxed(
            pytest_argv(args, report, python=python),
            workspace,
            env=env,
            limits=request.limits,
            network=request.network,
            launcher=launcher,
            stop=stop,
            readable=readable,
        )
    finally:
        if streaming is not None:
            streaming(None)
    data = read_report(stream) or b""
    collected, digest, tests, evals = read_stream(data)
    if collected < 0:  # the plugin never ran, or collection never ended: what junit says, if it was written
        junit = read_report(report)
        tests = parse_junit(junit) if junit else tests
    crashed = _crashed(result, data, tests)
    if crashed is not None:
        # A test killed the interpreter (a compiled extension's segfault, an abort): it fails, by name, as under
        # pytest-xdist, and the rest of the shard runs again without the tests done (as after the watchdog).
        tests = (*tests, crashed)
        result = replace(result, exit_code=HARD_EXIT)
    outcome = JobOutcome.from_sandbox(
        request.job_id,
        result,
        tests=tests,
        summary=summarize(tests),
        setup_s=setup_s,
        executor=executor,
        collected=collected,
        collection=digest,
        evals=evals,
    )
    if built is None:
        return outcome
    note = built.note()
    return replace(outcome, output=built.log() + outcome.output, notes=(f"compiled extensions {note}",) if note else ())


def _crashed(result: SandboxResult, data: bytes, tests: tuple[TestOutcome, ...]) -> TestOutcome | None:
    """The test that was running when a signal ended the job's process (not one of our limits: those kill the
    job), as a failed test; None when the process was not ended so or no test had started without ending."""
    code = result.exit_code
    if result.status != "failed" or code is None or code >= 0:
        return None
    running: tuple[str, int] | None = None
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("running"), str):
            running = (record["running"], int(record.get("index", -1)))
    if running is None or any(t.nodeid == running[0] for t in tests):
        return None
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    message = f"crashed the interpreter ({name}); the rest of its shard ran again without it"
    return TestOutcome(running[0], "failed", 0.0, message, running[1])


def read_stream(data: bytes) -> tuple[int, str, tuple[TestOutcome, ...], tuple[str, ...]]:
    """The plugin's stream: (items collected or -1, their digest, each test's outcome in stream order,
    the code exec/eval ran as the stream's JSON lines)."""
    collected, digest = -1, ""
    tests: list[TestOutcome] = []
    evals: list[str] = []
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if not isinstance(record, dict):
            continue
        if not _OBSERVED_KINDS.isdisjoint(record):  # what the job observed (trellis.ci.selection.observed)
            evals.append(line.decode("utf-8", "surrogatepass"))
            continue
        if "collected" in record:
            collected, digest = int(record.get("collected", -1)), str(record.get("digest", ""))
            continue
        outcome = record.get("outcome")
        if outcome not in _OUTCOMES or not isinstance(record.get("nodeid"), str):
            continue
        result: TestResult = outcome
        tests.append(
            TestOutcome(
                record["nodeid"],
                result,
                float(record.get("duration_s", 0.0)),
                str(record.get("message", ""))[:4000],
                int(record.get("index", -1)),
            )
        )
    return collected, digest, tuple(tests), tuple(evals)
