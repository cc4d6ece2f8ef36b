"""SQL over the index through the server and the CLI: Query (Arrow and JSON), sandbox, export, import."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pyarrow as pa
import pytest

from tests.conftest import snapshot
from trellis import Client, vcs
from trellis.errors import DeadlineExceeded, error_from_rpc
from trellis.interceptors import LOCAL_AGENT_HEADER
from trellis.server import RunningServer
from trellis.servicers.queries import MESSAGE_BYTES
from trellis.v1 import queries_pb2, queries_pb2_grpc

TRAJECTORY = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories" / "swe-agent-1.x__wordcount.traj"


def _work(client: Client) -> str:
    client.create_repository("q")
    session = client.create_session("q", model="m1", task="t")
    client.commit(
        "q",
        session.branch_id,
        {"app.py": b"def f(x):\n    return x\n"},
        "add f",
        session=session.session_id,
        step=vcs.StepInput(action="edit", input_tokens=100, cost_usd=0.5),
    )
    client.record_step("q", session.session_id, vcs.StepInput(action="run_tests", output_tokens=7))
    return session.session_id


def test_index_follows_pushes_and_answers_sql(server: RunningServer, client: Client) -> None:
    session_id = _work(client)
    assert server.index.wait_idle(60)
    result = client.query("SELECT qualname, change FROM entity_changes WHERE repository = 'q' ORDER BY qualname")
    assert isinstance(result.table, pa.Table) and not result.truncated
    assert result.table.to_pylist() == [
        {"qualname": "app", "change": "added"},
        {"qualname": "app.f", "change": "added"},
    ]
    rows = client.query_rows(
        f"SELECT steps, commits, input_tokens, output_tokens FROM session_summary WHERE session_id = '{session_id}'"
    )
    assert len(rows) == 1 and rows[0]["steps"] == 2 and rows[0]["commits"] == 1
    assert int(rows[0]["input_tokens"]) == 100 and int(rows[0]["output_tokens"]) == 7


def test_query_limits_truncate(server: RunningServer, client: Client) -> None:
    result = client.query("SELECT * FROM range(100)", max_rows=10)
    assert result.table.num_rows == 10 and result.truncated


def test_a_small_result_is_one_answer_and_a_large_one_answers_of_bounded_size(channel: grpc.Channel) -> None:
    """Each answer is a step of the stream (a turn of the admission queue, a hop to the event loop): a few rows
    come in one (schema, rows and end together), many rows in answers of about MESSAGE_BYTES."""
    stub = queries_pb2_grpc.QueryServiceStub(channel)
    arrow, json_format = queries_pb2.QUERY_FORMAT_ARROW, queries_pb2.QUERY_FORMAT_JSON
    small = list(stub.Query(queries_pb2.QueryRequest(sql="SELECT * FROM range(10) t(n)", format=arrow)))
    assert [m.row_count for m in small] == [10]
    assert pa.ipc.open_stream(small[0].arrow_ipc).read_all().column("n").to_pylist() == list(range(10))
    rows = list(stub.Query(queries_pb2.QueryRequest(sql="SELECT * FROM range(10) t(n)", format=json_format)))
    assert [len(m.json_rows) for m in rows] == [10] and not rows[0].truncated

    sql = "SELECT range AS n, repeat('x', 200) AS s FROM range(50000)"
    for fmt in (arrow, json_format):
        answers = list(stub.Query(queries_pb2.QueryRequest(sql=sql, format=fmt, max_rows=50000)))
        assert len(answers) > 4 and sum(m.row_count for m in answers) == 50000
        assert all(m.ByteSize() < 2 * MESSAGE_BYTES for m in answers)
        if fmt == arrow:
            table = pa.ipc.open_stream(b"".join(m.arrow_ipc for m in answers)).read_all()
            assert table.column("n").to_pylist() == list(range(50000))
        else:
            assert [json.loads(r)["n"] for m in answers for r in m.json_rows] == list(range(50000))


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "QUERY_FORBIDDEN_FUNCTION"),
        ("COPY commits TO '/tmp/trellis-x.csv'", "QUERY_NOT_READ_ONLY"),
        ("ATTACH '/tmp/x.db'", "QUERY_NOT_READ_ONLY"),
        ("SET threads = 1", "QUERY_NOT_READ_ONLY"),
        ("SELECT 1; DROP TABLE commits", "QUERY_MULTIPLE_STATEMENTS"),
        ("DELETE FROM commits", "QUERY_NOT_READ_ONLY"),
        ("SELECT * FROM '/etc/passwd'", "QUERY_FORBIDDEN_TABLE"),
        ("SELEC 1", "QUERY_SYNTAX"),
    ],
)
def test_sandbox_refusals_are_invalid_argument(client: Client, channel: grpc.Channel, sql: str, reason: str) -> None:
    with pytest.raises(vcs.InvalidArgument) as info:
        client.query(sql)
    assert info.value.reason == reason
    stub = queries_pb2_grpc.QueryServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raw:
        list(stub.Query(queries_pb2.QueryRequest(sql=sql)))
    assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.query("SELECT count(*) AS n FROM commits").table.num_rows == 1  # server unharmed


def test_runaway_query_is_interrupted(client: Client) -> None:
    with pytest.raises(DeadlineExceeded) as info:
        client.query("SELECT count(*) FROM range(100000000000) a, range(1000000) b", timeout_ms=300)
    assert info.value.reason == "QUERY_TIMEOUT"


def test_export_writes_partitioned_parquet(server: RunningServer, client: Client, tmp_path: Path) -> None:
    _work(client)
    assert server.index.wait_idle(60)
    files = client.export(str(tmp_path / "out"))
    assert any(f.startswith("commits/repository=q/") for f in files)
    with pytest.raises(vcs.InvalidArgument):
        client.export("relative/dir")
    with pytest.raises(vcs.InvalidArgument):
        client.export(str(tmp_path / "out"), ["no_such_table"])


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRELLIS_DATA": str(data)}
    env.pop("TRELLIS_SERVER", None)
    return subprocess.run(
        [sys.executable, "-m", "trellis", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_cli_query_formats_reindex_check_and_trajectory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    landed = _cli("import-trajectory", str(TRAJECTORY), "--json", data=data)
    assert landed.returncode == 0, landed.stderr
    imported = json.loads(landed.stdout)
    assert imported["imported"] == 1 and imported["files"][0]["steps"] >= 1
    as_json = _cli("query", "SELECT agent, steps FROM session_summary", "--format", "json", data=data)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)[0]["agent"] == "swe-agent"
    as_csv = _cli("query", "SELECT 1 AS one", "--format", "csv", data=data)
    assert as_csv.stdout.splitlines() == ['"one"', "1"]
    refused = _cli("query", "SELECT * FROM read_text('/etc/passwd')", data=data)
    assert refused.returncode == 1 and "error:" in refused.stderr and "Traceback" not in refused.stderr
    assert _cli("check", data=data).returncode == 0
    (data / "index.duckdb").unlink()  # a deleted index is rebuilt from git alone
    (data / "index.duckdb.wal").unlink(missing_ok=True)
    assert _cli("reindex", data=data).returncode == 0
    again = _cli("query", "SELECT count(*) AS n FROM steps", "--json", data=data)
    assert json.loads(again.stdout) == [{"n": imported["files"][0]["steps"]}]


def test_cli_import_history(tmp_path: Path) -> None:
    source = tmp_path / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(source)], check=True)
    for i in range(3):
        (source / "m.py").write_text(f"def f{i}():\n    return {i}\n")
        subprocess.run(["git", "-C", str(source), "add", "."], check=True)
        subprocess.run(
            ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", f"c{i}"],
            check=True,
        )
    data = tmp_path / "data"
    imported = _cli("import", str(source), "--name", "imported", data=data)
    assert imported.returncode == 0, imported.stderr
    rows = json.loads(
        _cli("query", "SELECT count(*) AS n FROM commits WHERE repository = 'imported'", "--json", data=data).stdout
    )
    assert rows == [{"n": 3}]


def test_import_check_reindex_and_import_trajectory_go_through_the_running_server(tmp_path: Path) -> None:
    """The index belongs to the server while it runs: these commands ask it instead of refusing."""
    from trellis.config import ServerConfig
    from trellis.server import build_server

    source = tmp_path / "src"
    subprocess.run(["git", "init", "-q", "-b", "main", str(source)], check=True)
    for i in range(3):
        (source / "m.py").write_text(f"def f{i}():\n    return {i}\n")
        subprocess.run(["git", "-C", str(source), "add", "."], check=True)
        subprocess.run(
            ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", f"c{i}"],
            check=True,
        )
    data = tmp_path / "data"
    running = build_server(ServerConfig(data_dir=data, address="127.0.0.1:0", snapshot_interval=0))
    try:
        imported = _cli("import", str(source), "--name", "imported", "--json", data=data)
        assert imported.returncode == 0, imported.stderr
        result = json.loads(imported.stdout)
        assert result["repository"] == "imported" and result["branches"] == 1
        assert result["stats"]["commits_added"] == 3 and result["resumed"] is False
        again = _cli("import", str(source), "--name", "imported", data=data)
        assert again.returncode == 0 and "(resumed)" in again.stdout, again.stderr
        with Client(running.address) as client:
            assert client.query_rows("SELECT count(*) AS n FROM commits WHERE repository = 'imported'") == [{"n": 3}]
        checked = _cli("check", data=data)
        assert checked.returncode == 0 and "the index matches git" in checked.stdout, checked.stderr
        rebuilt = _cli("reindex", "--json", data=data)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert json.loads(rebuilt.stdout)["commits_added"] == 3
        landed = _cli("import-trajectory", str(TRAJECTORY), "--json", data=data)
        assert landed.returncode == 0, landed.stderr
        assert json.loads(landed.stdout)["imported"] == 1
        missing = _cli("import", str(tmp_path / "nowhere"), "--name", "x", data=data)
        assert missing.returncode == 1 and "IMPORT_SOURCE_NOT_FOUND" in missing.stderr
    finally:
        running.stop(grace=1)


def test_a_damaged_index_is_reported_and_rebuilt_from_git(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _cli("repo", "create", "keep", data=data).returncode == 0
    (data / "index.duckdb").write_bytes(b"not a database")
    broken = _cli("repo", "list", data=data)
    assert broken.returncode == 1 and "trellis reindex" in broken.stderr and "Traceback" not in broken.stderr
    assert _cli("reindex", data=data).returncode == 0
    rows = json.loads(_cli("query", "SELECT repository FROM repositories", "--json", data=data).stdout)
    assert rows == [{"repository": "keep"}]


def test_export_needs_an_admin_of_every_repository(data_dir: Path, tmp_path: Path) -> None:
    from trellis.auth import TokenStore
    from trellis.config import ServerConfig
    from trellis.server import build_server

    _, token = TokenStore(data_dir).create("bob")
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, token=token) as bob:
            with pytest.raises(vcs.PermissionDenied) as info:
                bob.export(str(tmp_path / "out"))
            assert info.value.reason == "INSUFFICIENT_ROLE"
            assert info.value.metadata["required_role"] == "admin" and info.value.metadata["repository"] == "*"
            assert bob.query("SELECT 1 AS one").table.num_rows == 1  # his grant on `*` lets him query
    finally:
        running.stop(grace=1)
    assert not (tmp_path / "out").exists()


def test_cli_commit_refuses_symlinks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    work = tmp_path / "work"
    work.mkdir()
    (work / "real.py").write_text("x = 1\n")
    (tmp_path / "secret.txt").write_text("outside the root\n")
    (work / "link.py").symlink_to(tmp_path / "secret.txt")
    (work / "dangling.py").symlink_to(tmp_path / "missing.txt")
    assert _cli("repo", "create", "s", data=data).returncode == 0
    refused = _cli("commit", "s", "main", "link.py", "--root", str(work), data=data)
    assert refused.returncode == 1 and "symbolic link" in refused.stderr and "Traceback" not in refused.stderr
    dangling = _cli("commit", "s", "main", "dangling.py", "--root", str(work), data=data)
    assert dangling.returncode == 1 and "symbolic link" in dangling.stderr
    log = json.loads(_cli("log", "s", "--json", data=data).stdout)
    assert len(log) == 1  # nothing committed
    assert _cli("commit", "s", "main", "real.py", "--root", str(work), data=data).returncode == 0


# -- bind parameters ---------------------------------------------------------------------


def test_query_binds_typed_parameters_through_the_server(server: RunningServer, client: Client) -> None:
    _work(client)
    assert server.index.wait_idle(60)
    rows = client.query_rows(
        "SELECT title FROM commits WHERE repository = ? AND title LIKE ? ORDER BY title", ["q", "add%"]
    )
    assert rows == [{"title": "add f"}]
    since = datetime.datetime(2000, 1, 1)  # naive: UTC
    table = client.query(
        "SELECT count(*) AS n FROM commits WHERE repository = $repo AND commit_time > $since",
        {"repo": "q", "since": since},
    ).table
    assert table.column("n").to_pylist()[0] >= 2
    typed = client.query_rows(
        "SELECT ? IS NULL AS n, ? AS b, ? AS i, ? AS f, octet_length(?) AS bytes", [None, True, 2**40, 0.5, b"\x00\xff"]
    )
    assert typed == [{"n": True, "b": True, "i": 2**40, "f": 0.5, "bytes": 2}]
    assert client.query_rows("SELECT count(*) AS n FROM commits WHERE repository = ?", ["q' OR '1'='1"]) == [{"n": 0}]


def test_query_parameters_that_do_not_fit_are_invalid_argument_and_write_nothing(
    server: RunningServer, client: Client, channel: grpc.Channel, data_dir: Path
) -> None:
    _work(client)
    assert server.index.wait_idle(60)
    before = snapshot(data_dir, "q")
    for sql, params, reason in [
        ("SELECT * FROM commits WHERE repository = ?", [], "QUERY_PARAM_COUNT"),
        ("SELECT * FROM commits WHERE repository = ?", ["q", "r"], "QUERY_PARAM_COUNT"),
        ("SELECT * FROM commits WHERE repository = $repo", {"repository": "q"}, "QUERY_PARAM_NAME"),
        ("SELECT * FROM commits WHERE parent_count = ?", ["two"], "QUERY_PARAM_TYPE"),
    ]:
        with pytest.raises(vcs.InvalidArgument) as info:
            client.query(sql, params)
        assert info.value.reason == reason, (sql, info.value)
    with pytest.raises(vcs.InvalidArgument) as local:  # a value the API cannot carry: refused before sending
        client.query("SELECT ?", [object()])
    assert local.value.reason == "QUERY_PARAM_TYPE"
    stub = queries_pb2_grpc.QueryServiceStub(channel)
    for request, reason in [
        (queries_pb2.QueryRequest(sql="SELECT ?", params=[queries_pb2.QueryValue()]), "QUERY_PARAM_TYPE"),
        (
            queries_pb2.QueryRequest(
                sql="SELECT ?",
                params=[queries_pb2.QueryValue(int_value=1)],
                named_params={"x": queries_pb2.QueryValue(int_value=1)},
            ),
            "QUERY_PARAM_COUNT",
        ),
    ]:
        with pytest.raises(grpc.RpcError) as raw:
            list(stub.Query(request, metadata=((LOCAL_AGENT_HEADER, "alice"),), timeout=30))
        assert raw.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_from_rpc(raw.value).reason == reason
    assert snapshot(data_dir, "q") == before


def test_cli_and_mcp_pass_parameters(server: RunningServer, client: Client, tmp_path: Path) -> None:
    _work(client)
    assert server.index.wait_idle(60)
    sql = "SELECT title, ? AS n, $2 AS flag FROM commits WHERE repository = $3 AND title = 'add f'"
    shown = _cli(
        "query",
        sql,
        "--param",
        "7",
        "--param",
        "true",
        "--param",
        "q",
        "--json",
        "--server",
        server.address,
        data=tmp_path / "none",
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == [{"title": "add f", "n": 7, "flag": True}]
    named = _cli(
        "query",
        "SELECT $who AS who, $n AS n",
        "--param",
        "who=x' OR 1=1 --",
        "--param",
        'n="5"',
        "--json",
        "--server",
        server.address,
        data=tmp_path / "none",
    )
    assert named.returncode == 0, named.stderr
    assert json.loads(named.stdout) == [{"who": "x' OR 1=1 --", "n": "5"}]
    bad = _cli("query", "SELECT ?", "--param", "1", "--param", "2", "--server", server.address, data=tmp_path / "none")
    assert bad.returncode != 0 and "QUERY_PARAM_COUNT" in bad.stderr + bad.stdout, bad.stderr
