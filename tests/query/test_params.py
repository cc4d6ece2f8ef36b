"""Bind parameters of a query: values are bound by DuckDB, never spliced; mismatches are refused by reason."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trellis import vcs
from trellis.errors import status_code
from trellis.query import Indexer, QueryError, QueryParamError, run_query

ALICE = vcs.Identity("alice")


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (a INTEGER, s VARCHAR, ts TIMESTAMPTZ)")
    connection.execute("INSERT INTO t VALUES (1, 'x', '2024-01-01 00:00:00+00'), (2, 'y', '2025-01-01 00:00:00+00')")
    yield connection
    connection.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any) -> list[dict[str, Any]]:
    return run_query(con, sql, params=params).table.to_pylist()


def test_positional_and_named_values_are_bound(con: duckdb.DuckDBPyConnection) -> None:
    assert _rows(con, "SELECT a FROM t WHERE s = ?", ["y"]) == [{"a": 2}]
    assert _rows(con, "SELECT a FROM t WHERE a = $1 OR a = $2 ORDER BY a", [1, 2]) == [{"a": 1}, {"a": 2}]
    since = datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)
    assert _rows(con, "SELECT a FROM t WHERE ts > $since AND s <> $not", {"since": since, "not": "z"}) == [{"a": 2}]
    assert _rows(con, "SELECT ? IS NULL AS n, ? AS b, ? AS f", [None, b"\x00\xff", 2.5]) == [
        {"n": True, "b": b"\x00\xff", "f": 2.5}
    ]
    # What would break out of a quoted literal, were it spliced, is only a value.
    assert _rows(con, "SELECT count(*) AS n FROM t WHERE s = ?", ["x' OR '1'='1"]) == [{"n": 0}]
    assert _rows(con, "SELECT '?' AS q", None) == [{"q": "?"}]  # a ? inside a literal is not a placeholder


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none()))
def test_any_value_comes_back_exactly_as_bound(value: object) -> None:
    with duckdb.connect() as con:
        assert _rows(con, "SELECT ? AS v", [value]) == [{"v": value}]


@pytest.mark.parametrize(
    ("sql", "params", "reason", "parameter"),
    [
        ("SELECT * FROM t WHERE a = ?", [], "QUERY_PARAM_COUNT", None),
        ("SELECT * FROM t WHERE a = ?", None, "QUERY_PARAM_COUNT", None),
        ("SELECT * FROM t WHERE a = ?", [1, 2], "QUERY_PARAM_COUNT", None),
        ("SELECT * FROM t", [1], "QUERY_PARAM_COUNT", None),
        ("SELECT * FROM t", {"a": 1}, "QUERY_PARAM_COUNT", None),
        ("SELECT $2 AS v", [1, 2], "QUERY_PARAM_COUNT", "1"),
        ("SELECT * FROM t WHERE a = $x", [1], "QUERY_PARAM_COUNT", None),
        ("SELECT * FROM t WHERE a = $x", {"y": 1}, "QUERY_PARAM_NAME", "x"),
        ("SELECT * FROM t WHERE a = $x", {"x": 1, "y": 2}, "QUERY_PARAM_NAME", "y"),
        ("SELECT * FROM t WHERE a = ?", {"x": 1}, "QUERY_PARAM_NAME", "x"),
        ("SELECT * FROM t WHERE a = ?", ["abc"], "QUERY_PARAM_TYPE", "1"),
        ("SELECT * FROM t WHERE a = $n", {"n": "many"}, "QUERY_PARAM_TYPE", "$n"),
        ("SELECT ? + 1", ["x"], "QUERY_PARAM_TYPE", None),
        ("SELECT * FROM t WHERE a > ?", [datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)], "QUERY_PARAM_TYPE", None),
    ],
)
def test_parameters_that_do_not_fit_are_refused_by_reason(
    con: duckdb.DuckDBPyConnection, sql: str, params: Any, reason: str, parameter: str | None
) -> None:
    with pytest.raises(QueryParamError) as info:
        run_query(con, sql, params=params)
    assert info.value.reason == reason, info.value
    assert status_code(type(info.value)) is grpc.StatusCode.INVALID_ARGUMENT
    if parameter is not None:
        assert info.value.metadata.get("parameter") == parameter


def test_a_failure_not_due_to_a_parameter_keeps_its_own_reason(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(QueryError) as info:
        run_query(con, "SELECT 'abc'::INTEGER + ? AS v", params=[1])
    assert info.value.reason == "QUERY_FAILED"
    with pytest.raises(QueryError) as mixed:
        run_query(con, "SELECT ?, $x", params=[1])
    assert mixed.value.reason == "QUERY_SYNTAX"


def test_parameters_bind_against_the_index(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("demo", ALICE)
    store.commit("demo", "main", [vcs.PutFile("a.py", b"x = 1\n")], "it's one", ALICE)
    with Indexer(data_dir, entity_differ=None) as ix:
        ix.sync()
        rows = run_query(
            ix,
            "SELECT title FROM commits WHERE repository = $repo AND title = $title",
            params={"repo": "demo", "title": "it's one"},
        ).table.to_pylist()
    assert rows == [{"title": "it's one"}]
