"""The ``trellis`` command answers at once: parsing and ``--help`` load none of the heavy modules.

Checked by what a fresh interpreter has in ``sys.modules`` afterwards, never by timing
(benchmarks/bench_cli.py measures the time).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trellis
from trellis.cli.main import build_parser
from trellis.config import ServerConfig
from trellis.server import build_server

# Top-level packages that parsing a command line must not import: each costs tens to hundreds of ms.
HEAVY = (
    "grpc",
    "google",
    "pygit2",
    "duckdb",
    "tree_sitter",
    "tree_sitter_language_pack",
    "pyarrow",
    "rich",
    "vcs",
    "semantic_diff",
    "ci",
    "query",
    "mcp",
    "trellis.client",
    "trellis.server",
    "trellis.v1",
)

_PROBE = """
import importlib, json, sys
main = importlib.import_module("trellis.cli.main")
argv = json.loads(sys.argv[1])
status = 0
try:
    if argv and argv[0] == "--parse":
        main.build_parser().parse_args(argv[1:])
    else:
        status = main.main(argv)
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else 1
sys.stdout.flush()
print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(status)
"""


def _modules_after(argv: list[str]) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True, env=env, timeout=120
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        [],
        ["--parse", "query", "SELECT 1", "--format", "json"],
        ["--parse", "log", "demo", "--limit", "3"],
        ["--parse", "diff", "demo", "HEAD~1", "HEAD", "--json"],
        ["--parse", "show", "demo", "main"],
        ["--parse", "runs", "demo"],
        ["--parse", "session", "list", "demo"],
        ["--parse", "serve", "--listen", "127.0.0.1:0", "--rate", "10"],
        ["--parse", "token", "create", "bot"],
        ["--parse", "import", "/tmp/x", "--name", "x"],
        ["--parse", "merge-file", "a", "b", "c"],
    ],
    ids=lambda argv: " ".join(argv) or "trellis",
)
def test_parsing_and_help_import_nothing_heavy(argv: list[str]) -> None:
    modules = _modules_after(argv)
    assert "trellis.cli.main" in modules  # the probe did run
    assert _heavy(modules) == []


def test_version() -> None:
    result = subprocess.run([sys.executable, "-m", "trellis", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout == f"trellis {trellis.__version__}\n"


def _walk(parser: argparse.ArgumentParser, prefix: list[str]) -> Iterator[tuple[list[str], argparse.Action | None]]:
    """Every command (with action None) and every argument of every command, with the command's path."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, command in action.choices.items():
                assert helps.get(name), f"trellis {' '.join([*prefix, name])} has no help"
                yield [*prefix, name], None
                yield from _walk(command, [*prefix, name])
        else:
            yield prefix, action


def test_every_command_and_argument_has_help_text() -> None:
    missing = []
    for path, action in _walk(build_parser(), []):
        if action is None:
            continue
        if not action.help:
            missing.append(f"trellis {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_every_command_has_a_description() -> None:
    parser = build_parser()
    for path, action in _walk(parser, []):
        if action is None:
            command = parser
            for name in path:
                command = next(a for a in command._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
            assert command.description, f"trellis {' '.join(path)}"


def _piped(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with its output to a pipe, as a script reads it: no COLUMNS to lean on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_") and k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "trellis", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_output_to_a_pipe_is_never_wrapped_or_cut(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    description = "a description much longer than eighty columns, " * 3 + "END"
    assert _piped(data_dir, "repo", "create", "demo", "--description", description).returncode == 0
    started = _piped(data_dir, "session", "start", "demo", "--json")
    session_id = json.loads(started.stdout)["session_id"]
    listed = _piped(data_dir, "session", "list", "demo")
    assert listed.returncode == 0 and session_id in listed.stdout  # the whole id, not 01a24756fe8dd…
    repos = _piped(data_dir, "repo", "list")
    assert description in repos.stdout
    long_name = "no-such-repository-" + "x" * 90
    error = _piped(data_dir, "log", long_name)
    assert error.returncode == 1 and "Traceback" not in error.stderr
    assert len(error.stderr.strip().splitlines()) == 1 and long_name in error.stderr


def test_json_numbers_are_numbers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    session_id = json.loads(_piped(data_dir, "session", "start", "demo", "--json").stdout)["session_id"]
    step = _piped(
        data_dir,
        "session",
        "step",
        "demo",
        session_id,
        "--action",
        "edit",
        "--input-tokens",
        "500",
        "--output-tokens",
        "312",
        "--json",
    )
    assert step.returncode == 0, step.stderr
    rows = json.loads(_piped(data_dir, "query", "SELECT * FROM session_summary", "--format", "json").stdout)
    assert rows[0]["total_tokens"] == 812
    assert all(isinstance(rows[0][k], int) for k in ("input_tokens", "output_tokens", "steps", "commits"))


def test_diff_exit_code_as_in_git(tmp_path: Path) -> None:
    old, new = tmp_path / "old.py", tmp_path / "new.py"
    old.write_text("def f():\n    return 1\n")
    new.write_text("def f():\n    return 2\n")
    assert _piped(tmp_path, "diff", str(old), str(new)).returncode == 0  # git diff: 0 unless --exit-code
    assert _piped(tmp_path, "diff", str(old), str(new), "--exit-code").returncode == 1
    assert _piped(tmp_path, "diff", str(old), str(old), "--exit-code").returncode == 0


def _probe(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_") and k not in ("COLUMNS", "LINES")}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)], capture_output=True, text=True, env=env, timeout=120
    )
    line = next(x for x in result.stderr.splitlines() if x.startswith("MODULES "))
    result.stderr = result.stderr[: result.stderr.index("\nMODULES ")]
    return result, set(json.loads(line.removeprefix("MODULES ")))


QUERIES = [
    ["query", "SELECT repository, count(*) AS n FROM commits GROUP BY repository", "--format", "json"],
    ["query", "SELECT repository, agent, total_tokens FROM session_summary"],
    ["query", "SELEC 1"],
    ["query", "SELECT 1", "--max-rows", "-1"],
    ["query", "SELECT * FROM commits", "--max-rows", "1", "--format", "csv"],
    # Read from the index file directly (columns of plain types, an index with nothing to catch up with):
    [
        "query",
        "SELECT commit_id, message, 'a\"b,c' AS q, NULL::VARCHAR AS n, true AS t FROM commits",
        "--format",
        "csv",
    ],
    ["query", "SELECT repository, count(*) AS n, 0.5::DOUBLE AS d FROM commits GROUP BY ALL", "--format", "json"],
    ["query", "SELECT repository, ? AS p FROM commits", "--param", "x", "--max-rows", "1"],
    ["query", "SELECT range AS i FROM range(5)", "--max-rows", "2", "--format", "csv"],
    ["query", "DELETE FROM commits", "--format", "csv"],
    ["query", "SELECT count(*) AS n FROM range(100000000000)", "--timeout", "300", "--format", "csv"],
]
DIRECT = [5, 6, 7, 8]  # read from the file (the first query synced the index): no DuckDB package, no pyarrow
# What a query read from the file loads of the standard library: none of these (each costs ms of a ~50 ms process)
LEAN = {"argparse", "dataclasses", "threading", "hashlib", "inspect"}


def test_query_on_a_local_data_dir_reads_the_library_directly_and_answers_as_the_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    session_id = json.loads(_piped(data_dir, "session", "start", "demo", "--json").stdout)["session_id"]
    assert _piped(data_dir, "session", "step", "demo", session_id, "--input-tokens", "7").returncode == 0
    local = []
    for i, argv in enumerate(QUERIES):
        result, modules = _probe(["--data-dir", str(data_dir), *argv])
        assert not any(m == "grpc" or m.startswith("grpc.") for m in modules), argv  # no embedded server
        if i in DIRECT:
            assert not {"duckdb", "pyarrow"} & modules, argv
            if "--format" in argv:  # (a table is drawn by rich, which loads dataclasses and threading)
                assert not LEAN & modules, (argv, LEAN & modules)
        local.append((result.stdout, result.stderr))
        # A process of its own (the command line parsed without argparse where it can be, a query read from the
        # file ends the process at once) answers alike, with the same status.
        piped = _piped(data_dir, *argv)
        assert (piped.stdout, piped.stderr, piped.returncode) == (result.stdout, result.stderr, result.returncode), argv
    assert '"n": 1' in local[0][0] or '"n": 2' in local[0][0]
    assert "pyarrow" in _probe(["--data-dir", str(data_dir), *QUERIES[4]])[1]  # timestamps: through Arrow
    many = _probe(["--data-dir", str(data_dir), "query", "SELECT 1 AS one", "--format", "csv", "--max-rows", "20000"])
    assert many[0].stdout == '"one"\n1\n' and "pyarrow" in many[1]  # CSV of up to 20,000 rows: pyarrow writes it
    assert local[8][0] == '"i"\n0\n1\n' and "truncated" in local[8][1] and "QUERY_NOT_READ_ONLY" in local[9][1]
    # The index caught up with every repository as it is now: a query opens no repository (no pygit2), and
    # loads no semantic diff engine.
    result, modules = _probe(["--data-dir", str(data_dir), *QUERIES[0]])
    assert result.stdout == local[0][0]
    assert not {"pygit2", "tree_sitter"} & {m.split(".")[0] for m in modules}
    assert "QUERY_SYNTAX" in local[2][1] and "INVALID_QUERY_LIMITS" in local[3][1] and "QUERY_TIMEOUT" in local[10][1]
    # The same commands through a running server print the same, byte for byte.
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        for argv, (stdout, stderr) in zip(QUERIES, local, strict=True):
            result, modules = _probe(["--data-dir", str(data_dir), *argv])
            assert "grpc" in modules  # it did ask the server
            assert (result.stdout, result.stderr) == (stdout, stderr), argv
    finally:
        running.stop(grace=1)


READS = [
    ["log", "demo"],
    ["log", "demo", "--json"],
    ["log", "demo", "main", "--path", "app.py", "-n", "1"],
    ["log", "no-such-repository"],
    ["show", "demo"],
    ["show", "demo", "main~1", "--json"],
    ["show", "demo", "no-such-branch"],
    ["diff", "demo", "main"],
    ["diff", "demo", "main~1", "main", "--lines", "--exit-code"],
    ["diff", "demo", "main", "--json", "--path", "app.py"],
    ["runs", "demo"],
    ["runs", "demo", "--json"],
    ["session", "list", "demo"],
    ["session", "list", "demo", "--json", "--by", "local"],
]


def test_read_commands_on_a_local_data_dir_read_the_library_directly_and_answer_as_the_server(tmp_path: Path) -> None:
    data_dir, work = tmp_path / "data", tmp_path / "work"
    work.mkdir()
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    for body in ("def f(x):\n    return x\n", "def f(x):\n    return x + 1\n\n\nclass C:\n    pass\n"):
        (work / "app.py").write_text(body)
        done = _piped(data_dir, "commit", "demo", "main", "--root", str(work), "app.py", "-m", "change app")
        assert done.returncode == 0, done.stderr
    session_id = json.loads(_piped(data_dir, "session", "start", "demo", "--json").stdout)["session_id"]
    assert _piped(data_dir, "session", "step", "demo", session_id, "--input-tokens", "7").returncode == 0
    local = []
    for argv in READS:
        result, modules = _probe(["--data-dir", str(data_dir), *argv])
        assert not any(m == "grpc" or m.startswith("grpc.") for m in modules), argv  # no embedded server
        local.append((result.returncode, result.stdout, result.stderr))
    assert "change app" in local[0][1] and local[8][0] == 1 and "app.f" in local[9][1]
    assert session_id in local[12][1] and local[3][0] == 1 and local[6][0] == 1
    # The same commands through a running server print the same, byte for byte.
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0", snapshot_interval=0))
    try:
        for argv, expected in zip(READS, local, strict=True):
            result, modules = _probe(["--data-dir", str(data_dir), *argv])
            assert "grpc" in modules  # it did ask the server
            assert (result.returncode, result.stdout, result.stderr) == expected, argv
    finally:
        running.stop(grace=1)


def _interrupted(argv: list[str], ready: str, settle: float = 1.0) -> tuple[int, str]:
    """Start ``trellis ARGV``, wait until the file ``ready`` exists (or a few seconds), ``settle`` seconds more, send
    SIGINT as Ctrl-C does, and return (exit status, stderr). SIGINT is restored to its default in the child: a test
    runner started in the background (a CI script) may have it ignored, which Python would keep."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "trellis", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own group: whatever it leaves behind is killed below
    )
    try:
        deadline = time.monotonic() + (60 if ready else 5)  # without a file to wait for: a few seconds
        while time.monotonic() < deadline and process.poll() is None:
            if ready and Path(ready).exists():
                break
            time.sleep(0.2)
        time.sleep(settle)  # past start-up, into the command's wait
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)  # generous: the goal (one second) is measured, not tested
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        try:  # a serve --workers killed above leaves children, whose index process would start a new supervisor
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.returncode, err


def test_ctrl_c_stops_a_following_command_without_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    # In-process: an embedded server streams to the command until Ctrl-C; following ends there, as tail -f does,
    # with the status of every interrupted command (128 + SIGINT).
    code, err = _interrupted(["--data-dir", str(data_dir), "review", "pending", "demo", "--follow"], ready="")
    assert code == 130 and "Traceback" not in err


def test_a_long_answer_lets_the_directory_go_before_it_waits_for_its_reader(tmp_path: Path) -> None:
    """A query read from the file keeps the directory's lock to the end of its process, unless its answer is longer
    than a pipe takes at once: then the lock goes first, and a reader that stalls (``| less``) holds nobody up."""
    from trellis.datadir import DataDirBusy, DataDirLock

    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    assert _piped(data_dir, "query", "SELECT 1").returncode == 0  # the index caught up: the next reads the file
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    sql = "SELECT repeat('x', 100) AS s FROM range(5000)"  # ~0.5 MB of CSV: more than a pipe holds
    process = subprocess.Popen(
        [sys.executable, "-m", "trellis", "--data-dir", str(data_dir), "query", sql, "--format", "csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = os.read(process.stdout.fileno(), 1)  # it has read its answer and started writing it
        try:
            DataDirLock(data_dir).acquire().release()
        except DataDirBusy:
            pytest.fail("the lock is held while the answer waits for its reader")
        assert process.poll() is None  # it could not have written all of it: it waits for us, without the lock
        out = first + process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and out.count(b"\n") == 5001


def test_ctrl_c_stops_a_query_read_from_the_index_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    assert _piped(data_dir, "query", "SELECT 1").returncode == 0  # the index caught up: the next reads the file
    code, err = _interrupted(
        ["--data-dir", str(data_dir), "query", "SELECT count(*) AS n FROM range(100000000000)", "--format", "csv"],
        ready="",
    )
    assert code == 130 and "Traceback" not in err and "interrupted" in err


def test_ctrl_c_stops_a_query_while_the_index_catches_up(tmp_path: Path) -> None:
    """Ctrl-C while the index catches up with a repository of many commits (Python's KeyboardInterrupt, or DuckDB's
    RuntimeError('Query interrupted') when it lands in a statement): 130, no traceback."""
    data_dir = tmp_path / "data"
    assert _piped(data_dir, "repo", "create", "demo").returncode == 0
    _long_history(data_dir / "repos" / "long.git", 20000)  # a repository the index has not caught up with
    code, err = _interrupted(
        ["--data-dir", str(data_dir), "query", "SELECT count(*) AS n FROM commits", "--format", "csv"],
        ready=str(data_dir / "index.duckdb.wal"),
        settle=0.5,
    )
    assert code == 130 and "Traceback" not in err and "interrupted" in err


def test_ctrl_c_stops_the_server_without_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, err = _interrupted(
        ["--data-dir", str(data_dir), "serve", "--listen", "127.0.0.1:0"], ready=str(data_dir / "server.lock")
    )
    assert code == 130 and "Traceback" not in err  # as every command; SIGTERM is the clean stop (0)


def _long_history(path: Path, commits: int) -> None:
    """A repository of ``commits`` commits that each change a function, made at once with git fast-import."""
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    stream = []
    for i in range(commits):
        body = f"def f():\n    return {i}\n\n\ndef g{i % 7}():\n    return {i}\n".encode()
        stream.append(b"commit refs/heads/main\ncommitter t <t@x> %d +0000\ndata 2\nc\n" % (1_700_000_000 + i))
        stream.append(b"M 644 inline m.py\ndata %d\n%s\n" % (len(body), body))
    subprocess.run(["git", "--git-dir", str(path), "fast-import", "--quiet"], input=b"".join(stream), check=True)


def test_ctrl_c_stops_an_import_without_a_traceback_or_leftover_workers(tmp_path: Path) -> None:
    source, data_dir = tmp_path / "long.git", tmp_path / "data"
    _long_history(source, 8000)
    # The repository is in place once fetched; Ctrl-C comes while its commits are indexed by two workers (soon:
    # on a quiet machine the import indexes a few thousand commits a second).
    code, err = _interrupted(
        ["--data-dir", str(data_dir), "import", str(source), "--name", "long"],
        ready=str(data_dir / "repos" / "long.git"),
        settle=0.2,
    )
    assert code == 130 and "Traceback" not in err and "interrupted" in err
    again = _piped(data_dir, "import", str(source), "--name", "long", "--json")  # and it resumes
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["resumed"] is True


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_the_table_of_command_modules_is_what_the_modules_register() -> None:
    import importlib

    from trellis.cli.main import COMMAND_MODULES

    for module, commands in COMMAND_MODULES.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"trellis.cli.{module}").register(sub, argparse.ArgumentParser(add_help=False))
        assert tuple(sub.choices) == commands, module
    assert list(_commands(build_parser())) == [c for commands in COMMAND_MODULES.values() for c in commands]


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["query", "SELECT 1"], "query"),
        (["--data-dir", "query", "log", "x"], "log"),  # an option's value is not the command
        (["--data-dir=/d", "--json", "--tls", "session", "list", "x"], "session"),
        (["--server", "h:1", "--token", "t", "import-trajectory", "f"], "import-trajectory"),
        (["-h", "query"], None),  # the top level's help lists every command
        (["--help"], None),
        (["--version", "query"], None),
        (["--data", "/d", "query", "x"], None),  # an abbreviation: argparse decides
        (["--json=1", "query", "x"], None),
        (["--", "query"], None),
        (["no-such-command"], None),
        ([], None),
        (["--data-dir"], None),
    ],
)
def test_the_command_is_told_without_parsing_only_when_certain(argv: list[str], command: str | None) -> None:
    from trellis.cli.main import _command_of, _top_parser

    assert _command_of(_top_parser(), argv) == command


def test_a_command_line_parses_and_helps_alike_with_only_its_command_built() -> None:
    from trellis.cli.main import COMMAND_MODULES, MODULE_OF

    full = build_parser()
    for name, whole in _commands(full).items():
        lean = build_parser(["--json", name, "--help"])
        assert tuple(_commands(lean)) == COMMAND_MODULES[MODULE_OF[name]], name
        assert _commands(lean)[name].format_help() == whole.format_help(), name
    argv = ["--data-dir", "/d", "query", "SELECT 1", "--format", "csv", "--param", "3"]
    assert vars(build_parser(argv).parse_args(argv)) == vars(full.parse_args(argv))


_CSV_COLUMNS = st.sampled_from(["string", "int64", "bool"]).flatmap(
    lambda kind: st.tuples(
        st.just(kind),
        st.lists(
            st.none() | {"string": st.text(), "int64": st.integers(-(2**63), 2**63 - 1), "bool": st.booleans()}[kind],
            min_size=3,
            max_size=3,
        ),
    )
)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(st.text(min_size=1), min_size=1, max_size=4), data=st.data())
def test_csv_of_plain_values_is_pyarrows_csv(names: list[str], data: st.DataObject) -> None:
    """The local query path writes strings, integers, booleans and nulls as pyarrow's CSV writer does."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from trellis.cli.query import csv_text

    columns = [data.draw(_CSV_COLUMNS) for _ in names]
    table = pa.Table.from_arrays(
        [
            pa.array(values, type={"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_()}[kind])
            for kind, values in columns
        ],
        names=names,
    )
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    rows = list(zip(*(values for _, values in columns), strict=True))
    assert csv_text(names, rows) == buffer.getvalue().decode()
