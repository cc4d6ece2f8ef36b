"""The SQL sandbox: read statements run; every escape attempt is refused or interrupted, harmlessly.

Each attempt must fail with a ``QueryError`` naming a stable reason, and
leave the index exactly as it was (same rows, same settings, no file written).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis import vcs
from trellis.errors import status_code
from trellis.query import (
    Indexer,
    InvalidQuery,
    QueryError,
    QueryLimits,
    QueryTimeout,
    json_rows,
    run_query,
    stream_query,
)

ALICE = vcs.Identity("alice")


@pytest.fixture
def ix(store: vcs.Store, data_dir: Path) -> Iterator[Indexer]:
    store.create_repository("demo", ALICE)
    for i in range(3):
        store.commit("demo", "main", [vcs.PutFile(f"f{i}.py", f"x = {i}\n".encode())], f"commit {i}", ALICE)
    with Indexer(data_dir, entity_differ=None) as indexer:
        indexer.sync()
        yield indexer


def _state(ix: Indexer) -> tuple[object, ...]:
    con = ix.connection
    return (
        con.execute("SELECT count(*), min(title), max(title) FROM commits").fetchall(),
        con.execute("SELECT table_name, column_count FROM duckdb_tables() ORDER BY ALL").fetchall(),
        con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL").fetchall(),
        con.execute("SELECT database_name FROM duckdb_databases() ORDER BY ALL").fetchall(),
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'lock_configuration', 'memory_limit', 'threads', 'autoload_known_extensions', "
            "'autoinstall_known_extensions', 'python_enable_replacements') ORDER BY name"
        ).fetchall(),
    )


R_FUNC = "QUERY_FORBIDDEN_FUNCTION"
R_TABLE = "QUERY_FORBIDDEN_TABLE"
R_RO = "QUERY_NOT_READ_ONLY"
R_MULTI = "QUERY_MULTIPLE_STATEMENTS"

ESCAPES: list[tuple[str, str]] = [
    # reading files through every table function
    ("SELECT * FROM read_csv('/etc/passwd')", R_FUNC),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", R_FUNC),
    ("SELECT * FROM READ_CSV(['/etc/passwd', '/etc/group'])", R_FUNC),
    ("SELECT * FROM \"read_csv\"('/etc/passwd')", R_FUNC),
    ("SELECT * FROM main.read_csv('/etc/passwd')", R_FUNC),
    ("SELECT * FROM read_parquet('{tmp}/x.parquet')", R_FUNC),
    ("SELECT * FROM parquet_scan('{tmp}/x.parquet')", R_FUNC),
    ("SELECT * FROM parquet_metadata('{tmp}/x.parquet')", R_FUNC),
    ("SELECT * FROM read_json('/etc/os-release')", R_FUNC),
    ("SELECT * FROM read_json_auto('/etc/os-release')", R_FUNC),
    ("SELECT * FROM read_ndjson_objects('/etc/os-release')", R_FUNC),
    ("SELECT * FROM read_text('/etc/hostname')", R_FUNC),
    ("SELECT * FROM read_blob('/etc/hostname')", R_FUNC),
    ("SELECT * FROM glob('/etc/*')", R_FUNC),
    ("SELECT * FROM sniff_csv('/etc/passwd')", R_FUNC),
    ("SELECT * FROM read_duckdb('{tmp}/other.duckdb')", R_FUNC),
    ("FROM read_text('/etc/hostname') SELECT content", R_FUNC),
    ("SELECT (SELECT content FROM read_text('/etc/hostname'))", R_FUNC),
    ("WITH x AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM x", R_FUNC),
    ("SELECT * FROM commits c, LATERAL (SELECT * FROM read_text(c.title))", R_FUNC),
    ("SELECT 1 WHERE EXISTS (SELECT * FROM glob('/root/*'))", R_FUNC),
    ("SUMMARIZE SELECT * FROM read_csv('/etc/passwd')", R_FUNC),
    # replacement scans of string literals
    ("SELECT * FROM '/etc/passwd'", R_TABLE),
    ("FROM '/etc/passwd'", R_TABLE),
    ("SELECT * FROM 'https://example.com/data.parquet'", R_TABLE),
    ("DESCRIBE '/etc/passwd'", R_TABLE),
    ("SHOW '/etc/passwd'", R_TABLE),
    ("SELECT * FROM commits JOIN '/etc/passwd' ON true", R_TABLE),
    # SQL run from strings, settings, sleeping, sequences
    ("SELECT * FROM query('SELECT * FROM read_text(''/etc/hostname'')')", R_FUNC),
    ("SELECT * FROM query_table('commits')", R_FUNC),
    ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", R_FUNC),
    ("SELECT current_setting('temp_directory')", R_FUNC),
    ("SELECT * FROM duckdb_settings()", R_FUNC),
    ("SELECT * FROM duckdb_databases()", R_FUNC),
    ("SELECT * FROM duckdb_extensions()", R_FUNC),
    ("SELECT * FROM duckdb_secrets()", R_FUNC),
    ("SELECT * FROM pragma_database_list()", R_FUNC),
    ("SELECT sleep_ms(100000)", R_FUNC),
    ("SELECT nextval('s')", R_FUNC),
    # writing and other statements
    ("COPY commits TO '{tmp}/out.csv'", R_RO),
    ("COPY (SELECT 1) TO '{tmp}/out.parquet' (FORMAT parquet)", R_RO),
    ("COPY commits FROM '/etc/passwd'", R_RO),
    ("EXPORT DATABASE '{tmp}/export'", R_RO),
    ("IMPORT DATABASE '{tmp}/export'", R_RO),
    ("ATTACH '{tmp}/other.duckdb' AS other", R_RO),
    ("ATTACH ':memory:' AS scratch", R_RO),
    ("DETACH index", R_RO),
    ("INSTALL httpfs", R_RO),
    ("LOAD httpfs", R_RO),
    ("FORCE INSTALL httpfs FROM 'http://example.com'", R_RO),
    ("UPDATE EXTENSIONS", R_RO),
    ("SET enable_external_access = true", R_RO),
    ("SET GLOBAL lock_configuration = false", R_RO),
    ("RESET memory_limit", R_RO),
    ("SET VARIABLE x = 1", R_RO),
    ("USE system", R_RO),
    ("PRAGMA enable_profiling", R_RO),
    ("PRAGMA database_list", R_RO),
    ("CALL pragma_version()", R_RO),
    ("CHECKPOINT", R_RO),
    ("VACUUM", R_RO),
    ("BEGIN TRANSACTION", R_RO),
    ("PREPARE p AS SELECT 1", R_RO),
    ("CREATE TABLE x AS SELECT 1", R_RO),
    ("CREATE TEMP TABLE x (a INTEGER)", R_RO),
    ("CREATE MACRO evil(x) AS x", R_RO),
    ("CREATE VIEW v AS SELECT * FROM read_text('/etc/hostname')", R_RO),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", R_RO),
    ("DROP TABLE commits", R_RO),
    ("DELETE FROM commits", R_RO),
    ("UPDATE commits SET title = 'pwned'", R_RO),
    ("INSERT INTO commits SELECT * FROM commits", R_RO),
    ("TRUNCATE commits", R_RO),
    ("ALTER TABLE commits ADD COLUMN pwned INTEGER", R_RO),
    ("EXPLAIN DROP TABLE commits", R_RO),
    ("EXPLAIN ANALYZE COPY commits TO '{tmp}/out.csv'", R_RO),
    ("EXPLAIN ANALYZE SELECT * FROM read_text('/etc/hostname')", R_FUNC),
    # several statements, and comments hiding them
    ("SELECT 1; DROP TABLE commits", R_MULTI),
    ("SELECT 1; SELECT 2", R_MULTI),
    ("SELECT 1 --\n; DROP TABLE commits", R_MULTI),
    ("SELECT 1 /* */; /* */ DELETE FROM commits", R_MULTI),
    ("/* SELECT */ DROP TABLE commits -- SELECT", R_RO),
    ("-- SELECT 1\nDROP TABLE commits", R_RO),
    ("BEGIN; DROP TABLE commits; COMMIT", R_MULTI),
    ("", "QUERY_EMPTY"),
    ("-- only a comment", "QUERY_EMPTY"),
    ("SELECT 1\x00; DROP TABLE commits", "QUERY_SYNTAX"),
    ("SELECT 1；DROP TABLE commits", "QUERY_SYNTAX"),
]


@pytest.mark.parametrize(("sql", "reason"), ESCAPES, ids=[f"{i:02d}" for i in range(len(ESCAPES))])
def test_escape_attempt_is_refused_and_harmless(ix: Indexer, tmp_path: Path, sql: str, reason: str) -> None:
    before = _state(ix)
    sql = sql.replace("{tmp}", str(tmp_path))
    with pytest.raises(QueryError) as caught:
        run_query(ix, sql, max_rows=100, timeout_s=5)
    assert caught.value.reason == reason, caught.value.message
    assert isinstance(caught.value, InvalidQuery)
    assert status_code(type(caught.value)) is grpc.StatusCode.INVALID_ARGUMENT  # for the server
    assert caught.value.message
    assert _state(ix) == before
    assert list(tmp_path.iterdir()) == [] or all(p.name == "data" for p in tmp_path.iterdir())


def test_python_variables_are_not_tables(ix: Indexer) -> None:
    leak = pa.table({"secret": ["hunter2"]})
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT * FROM leak", max_rows=10, timeout_s=5)
    assert caught.value.reason == "QUERY_SYNTAX"
    assert "hunter2" not in caught.value.message
    assert leak.num_rows == 1


def test_very_deeply_nested_sql_is_refused_without_crashing(ix: Indexer) -> None:
    before = _state(ix)
    for sql in [
        "SELECT " + "(" * 100_000 + "1" + ")" * 100_000,
        "SELECT * FROM " + "(SELECT * FROM " * 20_000 + "commits" + ")" * 20_000,
        "SELECT " + "[" * 5_000 + "1" + "]" * 5_000,
    ]:
        with pytest.raises(QueryError) as caught:
            run_query(ix, sql, max_rows=10, timeout_s=5)
        assert caught.value.reason in ("QUERY_TOO_DEEP", "QUERY_TOO_LONG")
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT " + "(" * 200 + "1" + ")" * 200, max_rows=10, timeout_s=5)
    assert caught.value.reason == "QUERY_TOO_DEEP"
    assert _state(ix) == before


def test_very_long_sql_is_refused(ix: Indexer) -> None:
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT 1" + " + 1" * 100_000, max_rows=10, timeout_s=5)
    assert caught.value.reason == "QUERY_TOO_LONG"
    # Long but legal is fine: comments and strings do not count as nesting.
    sql = "SELECT '" + "(" * 500 + "' AS s -- " + "(" * 500
    assert run_query(ix, sql, max_rows=1, timeout_s=5).table.num_rows == 1


def test_a_runaway_query_is_interrupted(ix: Indexer) -> None:
    before = _state(ix)
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        run_query(ix, "SELECT count(*) FROM range(1000000000000) a WHERE a.range % 7 = 3", max_rows=10, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert caught.value.reason == "QUERY_TIMEOUT"
    assert status_code(type(caught.value)) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert _state(ix) == before
    assert run_query(ix, "SELECT count(*) FROM commits", max_rows=1, timeout_s=5).table.num_rows == 1


def test_a_runaway_cross_join_is_interrupted_while_streaming(ix: Indexer) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        with stream_query(
            ix,
            "SELECT a.range * b.range FROM range(100000000) a, range(100000000) b",
            max_rows=10**12,
            max_bytes=10**15,
            timeout_s=0.5,
        ) as stream:
            for _ in stream:
                pass
    assert time.monotonic() - started < 5


def test_a_memory_hog_is_stopped(ix: Indexer) -> None:
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT list(range) FROM range(5000000000)", max_rows=1, timeout_s=2)
    assert caught.value.reason in ("QUERY_TIMEOUT", "QUERY_OUT_OF_MEMORY")


def test_the_database_itself_refuses_what_the_checks_would_miss(ix: Indexer, tmp_path: Path) -> None:
    cur = ix.cursor()
    try:
        for sql in [
            "SELECT * FROM read_text('/etc/hostname')",
            f"COPY (SELECT 1) TO '{tmp_path}/x.csv'",
            f"ATTACH '{tmp_path}/x.duckdb'",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "SET memory_limit = '100GB'",
        ]:
            with pytest.raises(Exception):  # noqa: B017 - whichever error DuckDB raises, the setting stays
                cur.execute(sql)
    finally:
        cur.close()
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


ALLOWED = [
    "SELECT count(*) FROM commits",
    "select title from commits order by title",
    "WITH t AS (SELECT title FROM commits) SELECT * FROM t",
    "FROM commits SELECT commit_id LIMIT 1",
    "TABLE repositories",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM range(5)",
    "SELECT unnest([1, 2, 3])",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT 1 UNION ALL SELECT 2",
    "SELECT * FROM (SELECT * FROM commits) c JOIN file_changes f USING (repository, commit_id)",
    "DESCRIBE commits",
    "SHOW TABLES",
    "SUMMARIZE commits",
    "EXPLAIN SELECT * FROM commits",
    "EXPLAIN ANALYZE SELECT count(*) FROM commits",
    "SELECT table_name FROM information_schema.tables",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_columns() WHERE table_name = 'commits'",
    "SELECT * FROM json_each('{\"a\": 1}')",
    "SELECT * FROM entity_history",
    "SELECT * FROM session_summary",
    "SELECT title, row_number() OVER (ORDER BY commit_time) FROM commits",
    "SELECT 1 -- ; DROP TABLE commits",
    "SELECT 1 /* ; DROP TABLE commits */",
    "SELECT 'DROP TABLE commits; COPY x TO y'",
    "SELECT 1;",
    "SELECT * FROM (PIVOT commits ON agent IN ('alice') USING count(*))",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_read_statements_run(ix: Indexer, sql: str) -> None:
    result = run_query(ix, sql, max_rows=1000, timeout_s=10)
    assert isinstance(result.table, pa.Table)
    assert not result.truncated


def test_results_are_truncated_at_the_row_limit(ix: Indexer) -> None:
    result = run_query(ix, "SELECT * FROM range(100000)", max_rows=10, timeout_s=10)
    assert result.table.num_rows == 10 and result.truncated
    exact = run_query(ix, "SELECT * FROM range(10)", max_rows=10, timeout_s=10)
    assert exact.table.num_rows == 10 and not exact.truncated


def test_results_are_truncated_at_the_byte_limit(ix: Indexer) -> None:
    result = run_query(
        ix, "SELECT repeat('x', 1000) AS s FROM range(100000)", max_rows=10**9, max_bytes=100_000, timeout_s=10
    )
    assert result.truncated
    assert 0 < result.table.nbytes <= 100_000


def test_stream_yields_batches_with_a_schema(ix: Indexer) -> None:
    with stream_query(
        ix, "SELECT range AS n FROM range(10000)", limits=QueryLimits(max_rows=5000, batch_rows=1000)
    ) as stream:
        assert stream.schema.names == ["n"]
        batches = list(stream)
    assert sum(b.num_rows for b in batches) == 5000
    assert stream.truncated
    assert len(batches) >= 5


def test_an_abandoned_stream_releases_its_cursor(ix: Indexer) -> None:
    stream = stream_query(ix, "SELECT * FROM range(1000000)", max_rows=10**9, timeout_s=10)
    next(iter(stream))
    stream.close()
    assert run_query(ix, "SELECT count(*) FROM commits", max_rows=1, timeout_s=5).table.num_rows == 1


def test_errors_say_what_is_wrong(ix: Indexer) -> None:
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT * FROM no_such_table", max_rows=1, timeout_s=5)
    assert caught.value.reason == "QUERY_SYNTAX" and "no_such_table" in caught.value.message
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELEC 1", max_rows=1, timeout_s=5)
    assert caught.value.reason == "QUERY_SYNTAX"
    with pytest.raises(QueryError) as caught:
        run_query(ix, "SELECT 1 / 0::INTEGER, 'x'::INTEGER", max_rows=1, timeout_s=5)
    assert caught.value.reason == "QUERY_FAILED"
    with pytest.raises(QueryError) as caught:
        run_query(ix, "COPY commits TO 'x'", max_rows=1, timeout_s=5)
    assert "COPY" in caught.value.message


def test_json_rows_are_plain_values(ix: Indexer) -> None:
    result = run_query(
        ix,
        "SELECT commit_id, commit_time, parent_count, map(['k'], ['v']) AS m, "
        "[1, 2] AS l, 1.5::DECIMAL(4, 2) AS d, '\\x00'::BLOB AS b FROM commits LIMIT 1",
        max_rows=10,
        timeout_s=5,
    )
    row = next(json_rows(result.table))
    assert isinstance(row["commit_time"], str) and row["m"] == {"k": "v"} and row["l"] == [1, 2]
    assert row["d"] == "1.50"


def test_json_rows_give_sums_of_integers_as_numbers(ix: Indexer) -> None:
    # DuckDB sums BIGINTs as HUGEINT, which Arrow carries as DECIMAL(38, 0): JSON numbers, not strings.
    result = run_query(
        ix,
        "SELECT sum(parent_count) AS total, 12345678901234567890::HUGEINT AS big, count(*) AS n FROM commits",
        max_rows=10,
        timeout_s=5,
    )
    row = next(json_rows(result.table))
    assert isinstance(row["total"], int) and isinstance(row["n"], int)
    assert row["big"] == 12345678901234567890


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("([{}])'\"x -\n/*")), max_size=40),
    max_nesting=st.integers(0, 12),
)
def test_the_nesting_check_skips_the_tokenizer_only_where_it_could_not_refuse(text: str, max_nesting: int) -> None:
    """Text with no more opening brackets than the limit cannot nest deeper than it: the check passes without
    tokenizing, exactly when the tokenizer's count (brackets of operators only) passes."""
    from trellis.query.checks import _check_size, _deepest

    sql = "SELECT " + text
    try:
        _check_size(sql, 100_000, max_nesting)
        refused = False
    except QueryError as exc:
        assert exc.reason == "QUERY_TOO_DEEP"
        refused = True
    assert refused is (_deepest(sql) > max_nesting)
