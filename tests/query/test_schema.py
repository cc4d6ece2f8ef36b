"""The schema: every table and view exists, names its repository, and docs/schema.md describes it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from trellis.query import TABLES, VIEWS, Indexer, open_database, schema_markdown
from trellis.query.schema import SCHEMA_VERSION, arrow_schema, create_schema, schema_digest

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- BEGIN GENERATED: query.schema_markdown() -->\n"
END = "<!-- END GENERATED -->"


def test_every_table_and_view_exists_and_names_its_repository() -> None:
    con = open_database(None)
    try:
        for t in TABLES:
            columns = [r[0] for r in con.execute(f"DESCRIBE {t.name}").fetchall()]
            assert columns == t.column_names
            assert columns[0] == "repository"
            assert set(t.key) <= set(columns)
        for v in VIEWS:
            columns = [r[0] for r in con.execute(f"DESCRIBE {v.name}").fetchall()]
            assert "repository" in columns
    finally:
        con.close()


def test_arrow_schemas_match_the_sql_types() -> None:
    con = open_database(None)
    try:
        for t in TABLES:
            empty = pa.Table.from_pylist([], schema=arrow_schema(t.name))
            con.register("empty", empty)
            con.execute(f"INSERT INTO {t.name} SELECT * FROM empty")
            con.unregister("empty")
    finally:
        con.close()


def test_commit_rows_name_their_commit() -> None:
    for t in TABLES:
        if t.name in (
            "commits",
            "commit_parents",
            "file_changes",
            "entity_changes",
            "refs",
            "steps",
            "verification_runs",
            "job_results",
            "test_results",
            "index_state",
        ):
            assert "commit_id" in t.column_names, t.name


def test_docs_hold_the_generated_reference() -> None:
    text = (ROOT / "docs" / "schema.md").read_text()
    assert BEGIN in text and END in text
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0]
    assert generated == schema_markdown(), "docs/schema.md is stale: paste query.schema_markdown() in"


def test_docs_have_an_example_query_per_table_and_view_that_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "schema.md").read_text()
    examples = [block.split("```", 1)[0] for block in text.split("```sql\n")[1:]]
    with Indexer(tmp_path, entity_differ=None) as ix:
        for example in examples:
            ix.cursor().execute(example).fetchall()
    for name in [t.name for t in TABLES if not t.internal] + [v.name for v in VIEWS]:
        assert any(f" {name}" in e or f"\n{name}" in e for e in examples), f"no example query for {name}"


def test_a_different_schema_version_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE index_info (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO index_info VALUES ('schema_version', '0')")
    con.execute("CREATE TABLE commits (junk INTEGER)")
    con.close()
    con = duckdb.connect(str(path))
    assert create_schema(con) is True
    assert [r[0] for r in con.execute("DESCRIBE commits").fetchall()][:2] == ["repository", "commit_id"]
    assert con.execute("SELECT value FROM index_info WHERE key = 'schema_version'").fetchall() == [
        (str(SCHEMA_VERSION),)
    ]
    assert create_schema(con) is False
    con.close()


def test_opening_a_current_index_writes_nothing(tmp_path: Path) -> None:
    """An index that records this version's DDL is opened without running it: a read-only command leaves the
    file as it was (no views replaced, no checkpoint on close)."""
    path = tmp_path / "index.duckdb"
    open_database(path).close()
    before = path.read_bytes()
    con = open_database(path)
    assert con.execute("SELECT count(*) FROM commits").fetchone() == (0,)
    con.close()
    assert path.read_bytes() == before
    assert not path.with_name(path.name + ".wal").exists()


def test_a_changed_ddl_runs_again(tmp_path: Path) -> None:
    """The digest covers every statement: an index recording another digest (a view changed within one schema
    version) gets the DDL again, and records the new digest."""
    path = tmp_path / "index.duckdb"
    con = duckdb.connect(str(path))
    assert create_schema(con) is True
    view = VIEWS[0].name
    con.execute(f"DROP VIEW {view}")
    con.execute("UPDATE index_info SET value = 'other' WHERE key = 'schema_digest'")
    assert create_schema(con) is False
    assert con.execute(f"SELECT count(*) FROM {view}").fetchone() is not None
    assert con.execute("SELECT value FROM index_info WHERE key = 'schema_digest'").fetchall() == [(schema_digest(),)]
    con.close()


def test_an_upgraded_index_keeps_no_retired_table(tmp_path: Path) -> None:
    """stage_results became job_results (schema 5): an index of schema 4 loses the old table, not just gains the new."""
    path = tmp_path / "index.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE index_info (key VARCHAR, value VARCHAR)")
    con.execute("INSERT INTO index_info VALUES ('schema_version', '4')")
    con.execute("CREATE TABLE stage_results (stage VARCHAR)")
    con.close()
    con = duckdb.connect(str(path))
    assert create_schema(con) is True
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "job_results" in tables and "stage_results" not in tables
    con.close()


def test_every_column_type_has_its_arrow_type() -> None:
    from trellis.query.schema import _SQL_TYPES, TABLES, _arrow_types

    assert set(_SQL_TYPES) == set(_arrow_types())
    assert {c.sql_type for t in TABLES for c in t.columns} <= set(_SQL_TYPES)


def test_the_stamp_constant_is_this_versions_ddl_digest() -> None:
    """A short-lived reader compares an index's stamp with ``stamp.SCHEMA_DIGEST`` instead of computing the digest:
    after a change of the DDL, set SCHEMA_DIGEST in trellis/query/stamp.py to the value below."""
    from trellis.query.stamp import SCHEMA_DIGEST

    assert SCHEMA_DIGEST == schema_digest()


def test_a_written_index_is_stamped_as_the_constants_say(tmp_path: Path) -> None:
    from trellis.query.stamp import STAMP_KEYS, stamped

    con = open_database(tmp_path / "index.duckdb")
    info = dict(con.execute("SELECT key, value FROM index_info").fetchall())
    assert set(STAMP_KEYS) <= set(info) and stamped(info)
    assert not stamped({**info, "schema_digest": "other"}) and not stamped({**info, "schema_version": "4"})
    con.close()
