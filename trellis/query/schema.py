"""The SQL schema of the index: tables, views and their Arrow twins.

One description (:data:`TABLES`, :data:`VIEWS`) drives the DDL, the Arrow
schemas the indexer writes with, and the column reference in
``docs/schema.md`` (:func:`schema_markdown`, checked by a test).

Every row names its ``repository`` and, where it has one, its ``commit_id``.
Times are ``TIMESTAMP`` in UTC (git's own offset is kept in ``*_tz_offset``
minutes). The logical key of each table is documented; DuckDB does not
enforce it (keys slow bulk loads down), the indexer and ``check()`` do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .engine import duckdb
from .stamp import SCHEMA_VERSION

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "VIEWS",
    "Column",
    "Table",
    "View",
    "arrow_schema",
    "create_schema",
    "drop_schema",
    "schema_current",
    "schema_markdown",
    "table",
]


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str
    doc: str

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type the indexer writes the column with (pyarrow loads on first use: reading needs none)."""
        return _arrow_types()[self.sql_type]

    def with_doc(self, doc: str) -> Column:
        return Column(self.name, self.sql_type, doc)


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    doc: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    internal: bool = False  # bookkeeping of the indexer, not part of the documented model

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True, slots=True)
class View:
    name: str
    doc: str
    sql: str


_SQL_TYPES = (
    "VARCHAR",
    "JSON",
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "BOOLEAN",
    "TIMESTAMP",
    "VARCHAR[]",
    "MAP(VARCHAR, VARCHAR)",
)


@functools.cache
def _arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "VARCHAR": pa.string(),
        "JSON": pa.string(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMP": pa.timestamp("us"),
        "VARCHAR[]": pa.list_(pa.string()),
        "MAP(VARCHAR, VARCHAR)": pa.map_(pa.string(), pa.string()),
    }


def _c(name: str, sql_type: str, doc: str) -> Column:
    if sql_type not in _SQL_TYPES:
        raise KeyError(sql_type)
    return Column(name, sql_type, doc)


_REPO = _c("repository", "VARCHAR", "Repository name (`<data>/repos/<repository>.git`).")
_COMMIT = _c("commit_id", "VARCHAR", "Commit id (40 hex digits).")


TABLES: tuple[Table, ...] = (
    Table(
        "repositories",
        "One row per repository of the data directory.",
        ("repository",),
        (
            _REPO,
            _c("default_branch", "VARCHAR", "Branch `HEAD` points at."),
            _c("description", "VARCHAR", "Description given at creation (empty if none)."),
            _c("create_time", "TIMESTAMP", "Creation time (NULL for imported repositories without one)."),
            _c("head_commit_id", "VARCHAR", "Head of the default branch (NULL if it has no commit)."),
        ),
    ),
    Table(
        "commits",
        "One row per code commit reachable from a branch, a tag or a session "
        "(the session event commits under `refs/trellis/sessions/*` are not code commits: "
        "they are the `sessions` and `steps` tables).",
        ("repository", "commit_id"),
        (
            _REPO,
            _COMMIT,
            _c("tree_id", "VARCHAR", "Root tree id."),
            _c("author", "VARCHAR", "Author name (for agents' commits: the authenticated agent)."),
            _c("author_email", "VARCHAR", "Author e-mail."),
            _c("author_time", "TIMESTAMP", "Author time, UTC."),
            _c("author_tz_offset", "INTEGER", "Author's UTC offset in minutes."),
            _c("committer", "VARCHAR", "Committer name."),
            _c("committer_email", "VARCHAR", "Committer e-mail."),
            _c("commit_time", "TIMESTAMP", "Commit time, UTC."),
            _c("commit_tz_offset", "INTEGER", "Committer's UTC offset in minutes."),
            _c("message", "VARCHAR", "Full commit message, trailers included."),
            _c("title", "VARCHAR", "First line of the message."),
            _c("agent", "VARCHAR", "`Trellis-Agent` trailer (NULL if absent)."),
            _c("session_id", "VARCHAR", "`Trellis-Session` trailer (NULL if absent)."),
            _c("step_index", "INTEGER", "`Trellis-Step` trailer: the session step that made it (NULL if absent)."),
            _c("request_id", "VARCHAR", "`Trellis-Request` trailer (NULL if absent)."),
            _c("parent_count", "INTEGER", "Number of parents (0 for a root commit, 2+ for a merge)."),
            _c("first_parent_id", "VARCHAR", "First parent (NULL for a root commit); diffs are against it."),
            _c("files_changed", "INTEGER", "Number of `file_changes` rows."),
            _c("additions", "INTEGER", "Lines added, over all text files."),
            _c("deletions", "INTEGER", "Lines deleted, over all text files."),
            _c("entity_changes", "INTEGER", "Number of `entity_changes` rows (NULL if not computed)."),
        ),
    ),
    Table(
        "commit_parents",
        "One row per (commit, parent) edge of the commit graph.",
        ("repository", "commit_id", "parent_index"),
        (
            _REPO,
            _COMMIT,
            _c("parent_id", "VARCHAR", "Parent commit id."),
            _c("parent_index", "INTEGER", "0 for the first parent, 1 for the second…"),
        ),
    ),
    Table(
        "refs",
        "Branches, tags and session refs, at the tip the index has caught up with.",
        ("repository", "ref_name"),
        (
            _REPO,
            _c("ref_name", "VARCHAR", "Full ref name, e.g. `refs/heads/main`, `refs/trellis/sessions/<id>`."),
            _c("kind", "VARCHAR", "`branch`, `tag` or `session`."),
            _c("name", "VARCHAR", "Short name: branch name, tag name or session id."),
            _COMMIT.with_doc("Commit the ref points at (for tags: the tagged commit)."),
        ),
    ),
    Table(
        "file_changes",
        "One row per file a commit changed, against its first parent (rename detection on).",
        ("repository", "commit_id", "path", "old_path"),
        (
            _REPO,
            _COMMIT,
            _c("parent_id", "VARCHAR", "The parent diffed against (NULL for a root commit)."),
            _c("status", "VARCHAR", "`added`, `deleted`, `modified`, `renamed`, `copied` or `type_changed`."),
            _c("old_path", "VARCHAR", "Path in the parent (NULL when added)."),
            _c("path", "VARCHAR", "Path in the commit (for a deletion: the deleted path)."),
            _c("old_blob_id", "VARCHAR", "Blob id in the parent (NULL when added)."),
            _c("blob_id", "VARCHAR", "Blob id in the commit (NULL when deleted)."),
            _c("old_mode", "INTEGER", "Git file mode in the parent (NULL when added)."),
            _c("mode", "INTEGER", "Git file mode in the commit (NULL when deleted)."),
            _c("additions", "INTEGER", "Lines added (0 for binary files)."),
            _c("deletions", "INTEGER", "Lines deleted (0 for binary files)."),
            _c("similarity", "INTEGER", "Rename/copy similarity in percent (NULL otherwise)."),
            _c("language", "VARCHAR", "Language from the file extension (NULL if unknown)."),
            _c("is_binary", "BOOLEAN", "Whether git treats the file as binary."),
        ),
    ),
    Table(
        "entity_changes",
        "One row per changed entity (function, class, method, key…) from the semantic diff, "
        "with the field names of `trellis diff --json`.",
        ("repository", "commit_id", "ordinal"),
        (
            _REPO,
            _COMMIT,
            _c("parent_id", "VARCHAR", "The parent diffed against (NULL for a root commit)."),
            _c("ordinal", "INTEGER", "Position in the semantic diff's output (0, 1, 2…)."),
            _c("path", "VARCHAR", "File of the entity after the change (before it, for a removal)."),
            _c(
                "old_path",
                "VARCHAR",
                "File of the entity before the change (NULL when added; for a removal, as the engine reports it).",
            ),
            _c("kind", "VARCHAR", "Entity kind: `module`, `class`, `function`, `method`, `key`…"),
            _c("qualname", "VARCHAR", "Qualified name after the change, e.g. `module.Class.method`."),
            _c("old_qualname", "VARCHAR", "Qualified name before the change (NULL when added)."),
            _c("change", "VARCHAR", "`added`, `removed`, `modified`, `renamed`, `moved` or `moved_renamed`."),
            _c(
                "details",
                "VARCHAR[]",
                "What changed, in the semantic diff's vocabulary: `signature`, `body`, "
                "`docstring`, `decorators`, `return_type`, `formatting`, `parameters_added:x`…",
            ),
            _c("old_start_line", "INTEGER", "First line before the change (1-based, NULL when added)."),
            _c("old_end_line", "INTEGER", "Last line before the change."),
            _c("new_start_line", "INTEGER", "First line after the change (NULL when removed)."),
            _c("new_end_line", "INTEGER", "Last line after the change."),
            _c(
                "similarity",
                "DOUBLE",
                "Normalised-token similarity that paired the entity "
                "(1.0 when paired by name, 0 for added and removed).",
            ),
            _c("language", "VARCHAR", "Language of `path` from its extension."),
            _c(
                "follows",
                "VARCHAR",
                "For a member that went along with a renamed or moved class without "
                "moving by itself: the class's qualified name after the change (NULL otherwise). Such a "
                "row is `moved` when the member is otherwise unchanged (the semantic diff does not report "
                "it as a change of its own) and `modified` when it changed too. Count refactorings with "
                "`follows IS NULL`.",
            ),
        ),
    ),
    Table(
        "sessions",
        "One row per agent session (`refs/trellis/sessions/<id>`), as its latest `session.json` says.",
        ("repository", "session_id"),
        (
            _REPO,
            _c("session_id", "VARCHAR", "Session id (time-ordered)."),
            _c("agent", "VARCHAR", "Agent that owns the session."),
            _c("model", "VARCHAR", "Model the agent reported."),
            _c("task", "VARCHAR", "Task / problem statement."),
            _c("base_commit_id", "VARCHAR", "Commit the session started from."),
            _c("branch", "VARCHAR", "Branch the session commits to."),
            _c("status", "VARCHAR", "`active`, `succeeded`, `failed` or `abandoned`."),
            _c("outcome", "VARCHAR", "Free-text outcome given when the session ended."),
            _c("create_time", "TIMESTAMP", "When the session started."),
            _c("end_time", "TIMESTAMP", "When it ended (NULL while active)."),
            _c("step_count", "INTEGER", "Steps recorded."),
            _c("commit_count", "INTEGER", "Steps that produced a commit."),
            _c("input_tokens", "BIGINT", "Total input tokens over all steps."),
            _c("output_tokens", "BIGINT", "Total output tokens over all steps."),
            _c("cost_usd", "DOUBLE", "Total cost in US dollars."),
            _c("metadata", "MAP(VARCHAR, VARCHAR)", "Free-form metadata given at creation."),
            _c("tip_commit_id", "VARCHAR", "Tip of the session ref (a session event commit)."),
        ),
    ),
    Table(
        "steps",
        "One row per trajectory step of a session (`steps/NNNNNN/NNNNNNNN.json` in the session ref).",
        ("repository", "session_id", "step_index"),
        (
            _REPO,
            _c("session_id", "VARCHAR", "Session the step belongs to."),
            _c("step_index", "INTEGER", "1, 2, 3… within the session."),
            _COMMIT.with_doc("Code commit the step produced (NULL for a step that changed no code)."),
            _c("thought", "VARCHAR", "The agent's reasoning."),
            _c("action", "VARCHAR", "Tool call / command."),
            _c("arguments_json", "JSON", "Tool call arguments as JSON (NULL if none)."),
            _c("observation", "VARCHAR", "What the tool returned."),
            _c("input_tokens", "BIGINT", "Input tokens of the step."),
            _c("output_tokens", "BIGINT", "Output tokens of the step."),
            _c("cost_usd", "DOUBLE", "Cost of the step in US dollars."),
            _c("latency_ms", "BIGINT", "Latency of the step in milliseconds."),
            _c("create_time", "TIMESTAMP", "When the step was recorded."),
            _c("metadata", "MAP(VARCHAR, VARCHAR)", "Free-form metadata of the step."),
        ),
    ),
    Table(
        "verification_runs",
        "One row per verification run (`refs/trellis/runs/<run_id>`), as its latest `run.json` says.",
        ("repository", "run_id"),
        (
            _REPO,
            _c("run_id", "VARCHAR", "Run id (time-ordered): the key of its record `refs/trellis/runs/<run_id>`."),
            _COMMIT.with_doc("Commit verified."),
            _c("branch", "VARCHAR", "Branch the run was for (NULL if none)."),
            _c(
                "pipeline",
                "VARCHAR",
                "Where the pipeline came from: `repository` (set with SetPipeline) or "
                "`<commit>:trellis.toml` (NULL if not recorded).",
            ),
            _c(
                "trigger",
                "VARCHAR",
                "`push`, `verify`, `full` (every test, to check test selection) or `gate` "
                "(a protected branch's merge gate).",
            ),
            _c(
                "status",
                "VARCHAR",
                "The run's verdict: `pending`, `running`, `passed`, `failed`, `error`, "
                "`skipped`, `cancelled` or `timed_out`.",
            ),
            _c("create_time", "TIMESTAMP", "When the run was requested."),
            _c("start_time", "TIMESTAMP", "When its first job started (NULL before)."),
            _c("end_time", "TIMESTAMP", "When it finished (NULL until then)."),
            _c("duration_ms", "BIGINT", "`end_time - start_time` in milliseconds (NULL until both are known)."),
            _c("session_id", "VARCHAR", "Session of the verified commit (NULL if none)."),
        ),
    ),
    Table(
        "job_results",
        "One row per job of a run: one stage over one chunk (the commit, a file or an entity).",
        ("repository", "run_id", "stage", "chunk"),
        (
            _REPO,
            _c("run_id", "VARCHAR", "Run the job belongs to."),
            _COMMIT.with_doc("Commit verified."),
            _c("stage", "VARCHAR", "Stage name from the pipeline."),
            _c("scope", "VARCHAR", "`commit`, `file` or `entity`."),
            _c("chunk", "VARCHAR", "Chunk key: empty for a commit-scope job, else the path or `path::qualname`."),
            _c("path", "VARCHAR", "File of the chunk (NULL for commit scope)."),
            _c("qualname", "VARCHAR", "Entity of the chunk (NULL unless entity scope)."),
            _c(
                "status",
                "VARCHAR",
                "The job's verdict: `pending`, `running`, `passed`, `failed`, `error`, "
                "`skipped`, `cancelled` or `timed_out`.",
            ),
            _c("cached", "BOOLEAN", "Whether the result came from the cache."),
            _c(
                "exit_code",
                "INTEGER",
                "Exit code of the job's process (0 when none ran: built-in and external "
                "stages, jobs that did not start).",
            ),
            _c("message", "VARCHAR", "Summary (NULL if none)."),
            _c("start_time", "TIMESTAMP", "Job start (NULL if it did not start)."),
            _c("end_time", "TIMESTAMP", "Job end (NULL until it finished)."),
            _c(
                "duration_ms",
                "BIGINT",
                "Run time of the job in milliseconds, as the engine measured it "
                "(`end_time - start_time` when the run does not say).",
            ),
            _c(
                "fallback",
                "VARCHAR",
                'For a pytest stage with `select = "affected"` that ran every test: '
                "`rule: why`, naming the file and the rule (NULL when selection worked or did not apply).",
            ),
        ),
    ),
    Table(
        "test_results",
        "One row per test case a job of a test stage ran.",
        ("repository", "run_id", "stage", "chunk", "test_id"),
        (
            _REPO,
            _c("run_id", "VARCHAR", "Run the test belongs to."),
            _COMMIT.with_doc("Commit verified."),
            _c("stage", "VARCHAR", "Stage that ran it."),
            _c(
                "chunk",
                "VARCHAR",
                "Chunk of the job that ran it (joins `job_results` on `repository, run_id, stage, chunk`).",
            ),
            _c("test_id", "VARCHAR", "Test id, e.g. `tests/test_x.py::test_y`."),
            _c("path", "VARCHAR", "Test file: the part of `test_id` before `::`."),
            _c(
                "status",
                "VARCHAR",
                "`passed`, `failed`, `error` or `skipped` (a test listed twice in one job keeps the worse verdict).",
            ),
            _c("duration_ms", "BIGINT", "Test duration in milliseconds."),
            _c("message", "VARCHAR", "Failure message (NULL if none)."),
        ),
    ),
    Table(
        "run_refs",
        "Indexer bookkeeping: one row per run ref `refs/trellis/runs/<run_id>` with the record commit the "
        "run's rows were read from (`indexed`), or whose `run.json` could not be read and was skipped "
        "(`invalid`). A sync re-reads a run only when its ref moved.",
        ("repository", "run_id"),
        (
            _REPO,
            _c("run_id", "VARCHAR", "Run id."),
            _c("record_id", "VARCHAR", "Commit the run ref pointed at (a record commit, not a code commit)."),
            _c("state", "VARCHAR", "`indexed` or `invalid`."),
        ),
        internal=True,
    ),
    Table(
        "index_state",
        "Indexer bookkeeping: one row per indexed commit with the state of its semantic diff "
        "(`indexed`, `unavailable` when no semantic diff engine was installed — "
        "filled in later —, `failed`).",
        ("repository", "commit_id"),
        (
            _REPO,
            _COMMIT,
            _c("entities", "VARCHAR", "`indexed`, `unavailable` or `failed`."),
        ),
        internal=True,
    ),
)


VIEWS: tuple[View, ...] = (
    View(
        "entity_history",
        "Every change of an entity across renames and moves. Renames and moves "
        "(`old_path`/`old_qualname` → `path`/`qualname`) link names into a lineage; "
        "`lineage_path` / `lineage_qualname` name its first known name, and "
        "`lineage_id` is `lineage_path || '::' || lineage_qualname`. Renaming or moving a container "
        "(a module whose file moves, a class) carries the names it contains along; the members of a "
        "renamed or moved class also have rows of their own at that commit, marked with `follows`. "
        "A method pulled up from several classes into one has one `moved` row per source: the target "
        "continues the lineage of the first source (by name) and every move row is in the target's "
        "lineage, while each other source's lineage holds its own past; select the lineages with "
        "`qualname = … OR old_qualname = …` to get both. A method pushed down into several classes continues "
        "its lineage in each of them. Query one entity "
        "by any of its names with `WHERE lineage_id IN (SELECT lineage_id FROM entity_history "
        "WHERE qualname = …)`. Names are matched per repository, not per time: a new entity that "
        "reuses a name an older one had joins that older one's lineage.",
        """
WITH RECURSIVE
edges AS (
    SELECT DISTINCT repository,
           coalesce(old_path, path) AS from_path, old_qualname AS from_qualname,
           path AS to_path, qualname AS to_qualname
    FROM entity_changes
    WHERE old_qualname IS NOT NULL AND qualname IS NOT NULL
      AND (old_qualname <> qualname OR coalesce(old_path, path) <> path)
),
nodes AS (
    SELECT DISTINCT repository, path, qualname FROM entity_changes WHERE qualname IS NOT NULL
    UNION
    SELECT DISTINCT repository, coalesce(old_path, path), old_qualname
    FROM entity_changes WHERE old_qualname IS NOT NULL
),
-- Renaming or moving a container (a module when its file moves, a class) renames
-- what it contains: link every known name under the old prefix to the new prefix.
derived AS (
    SELECT e.repository, n.path AS from_path, n.qualname AS from_qualname,
           e.to_path, e.to_qualname || substr(n.qualname, length(e.from_qualname) + 1) AS to_qualname
    FROM edges e JOIN nodes n
      ON n.repository = e.repository AND n.path = e.from_path
     AND starts_with(n.qualname, e.from_qualname || '.')
),
all_edges AS (
    SELECT * FROM edges UNION SELECT * FROM derived
),
roots AS (
    SELECT n.repository, n.path, n.qualname FROM nodes n
    WHERE NOT EXISTS (
        SELECT 1 FROM all_edges e
        WHERE e.repository = n.repository AND e.to_path = n.path AND e.to_qualname = n.qualname
    )
),
lineage(repository, root_path, root_qualname, path, qualname) AS (
    SELECT repository, path, qualname, path, qualname FROM roots
    UNION
    SELECT l.repository, l.root_path, l.root_qualname, e.to_path, e.to_qualname
    FROM lineage l JOIN all_edges e
      ON e.repository = l.repository AND e.from_path = l.path AND e.from_qualname = l.qualname
),
-- Names only reachable through a cycle (renamed back and forth) have no root:
-- each such name starts a walk, and the smallest name that reaches it wins.
orphans AS (
    SELECT n.repository, n.path, n.qualname FROM nodes n
    WHERE NOT EXISTS (
        SELECT 1 FROM lineage l
        WHERE l.repository = n.repository AND l.path = n.path AND l.qualname = n.qualname
    )
),
cycles(repository, root_path, root_qualname, path, qualname) AS (
    SELECT repository, path, qualname, path, qualname FROM orphans
    UNION
    SELECT c.repository, c.root_path, c.root_qualname, e.to_path, e.to_qualname
    FROM cycles c JOIN all_edges e
      ON e.repository = c.repository AND e.from_path = c.path AND e.from_qualname = c.qualname
),
named AS (
    SELECT repository, path, qualname,
           arg_min(root_path, root_path || '::' || root_qualname) AS root_path,
           arg_min(root_qualname, root_path || '::' || root_qualname) AS root_qualname
    FROM (SELECT * FROM lineage UNION ALL SELECT * FROM cycles)
    GROUP BY repository, path, qualname
)
SELECT n.root_path || '::' || n.root_qualname AS lineage_id,
       n.root_path AS lineage_path,
       n.root_qualname AS lineage_qualname,
       ec.repository, ec.commit_id, ec.parent_id, ec.ordinal,
       ec.path, ec.old_path, ec.kind, ec.qualname, ec.old_qualname, ec.change, ec.details,
       ec.old_start_line, ec.old_end_line, ec.new_start_line, ec.new_end_line, ec.similarity,
       ec.language, ec.follows,
       c.author, c.author_time, c.commit_time, c.title, c.agent, c.session_id, c.step_index
FROM entity_changes ec
JOIN named n
  ON n.repository = ec.repository
 AND n.path = CASE WHEN ec.qualname IS NULL THEN coalesce(ec.old_path, ec.path) ELSE ec.path END
 AND n.qualname = coalesce(ec.qualname, ec.old_qualname)
LEFT JOIN commits c ON c.repository = ec.repository AND c.commit_id = ec.commit_id
""",
    ),
    View(
        "session_summary",
        "One row per session: steps, commits, tokens, cost, outcome, and what its commits changed.",
        """
WITH st AS (
    SELECT repository, session_id,
           count(*) AS steps,
           count(commit_id) AS commits,
           sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd,
           sum(latency_ms) AS latency_ms,
           min(create_time) AS first_step_time,
           max(create_time) AS last_step_time
    FROM steps GROUP BY repository, session_id
),
ch AS (
    SELECT s.repository, s.session_id,
           sum(c.files_changed) AS files_changed,
           sum(c.additions) AS additions,
           sum(c.deletions) AS deletions,
           sum(c.entity_changes) AS entity_changes
    FROM steps s JOIN commits c ON c.repository = s.repository AND c.commit_id = s.commit_id
    GROUP BY s.repository, s.session_id
)
SELECT se.repository, se.session_id, se.agent, se.model, se.task, se.branch, se.status, se.outcome,
       se.create_time, se.end_time,
       date_diff('millisecond', se.create_time, coalesce(se.end_time, st.last_step_time, se.create_time))
           AS duration_ms,
       coalesce(st.steps, 0) AS steps,
       coalesce(st.commits, 0) AS commits,
       coalesce(st.input_tokens, 0) AS input_tokens,
       coalesce(st.output_tokens, 0) AS output_tokens,
       coalesce(st.input_tokens, 0) + coalesce(st.output_tokens, 0) AS total_tokens,
       coalesce(st.cost_usd, 0) AS cost_usd,
       coalesce(st.latency_ms, 0) AS latency_ms,
       coalesce(ch.files_changed, 0) AS files_changed,
       coalesce(ch.additions, 0) AS additions,
       coalesce(ch.deletions, 0) AS deletions,
       coalesce(ch.entity_changes, 0) AS entity_changes,
       st.first_step_time, st.last_step_time
FROM sessions se
LEFT JOIN st ON st.repository = se.repository AND st.session_id = se.session_id
LEFT JOIN ch ON ch.repository = se.repository AND ch.session_id = se.session_id
""",
    ),
)


# Point lookups by name ("every commit that changed F") use an ART index instead of a scan.
INDEXES: tuple[tuple[str, str, str], ...] = (("entity_changes_qualname", "entity_changes", "qualname"),)


def table(name: str) -> Table:
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(name)


def arrow_schema(name: str) -> pa.Schema:
    """The Arrow schema the indexer writes ``name`` with (same columns, same order)."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, c.arrow_type) for c in table(name).columns])


def _ddl(t: Table) -> str:
    columns = ",\n    ".join(f"{c.name} {c.sql_type}" for c in t.columns)
    return f"CREATE TABLE IF NOT EXISTS {t.name} (\n    {columns}\n)"


def _schema_statements() -> list[str]:
    """The DDL that makes the tables, indexes and views of this version (idempotent statements)."""
    return [
        *(_ddl(t) for t in TABLES),
        *(f"CREATE INDEX IF NOT EXISTS {name} ON {table_name} ({column})" for name, table_name, column in INDEXES),
        *(f"CREATE OR REPLACE VIEW {v.name} AS {v.sql}" for v in VIEWS),
    ]


def schema_digest() -> str:
    """A digest of the whole DDL of this version: an index that records it needs none of it run again."""
    import hashlib

    return hashlib.blake2b("\n;\n".join(_schema_statements()).encode(), digest_size=16).hexdigest()


def _recorded(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    try:
        rows = con.execute(
            "SELECT key, value FROM index_info WHERE key IN ('schema_version', 'schema_digest')"
        ).fetchall()
    except duckdb.CatalogException:  # a new file
        return {}
    return dict(rows)


def schema_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the index records this version's DDL digest: it holds these tables and views, and opening it
    needs no DDL (a read-only connection can read it as it is)."""
    return _current(_recorded(con))


def _current(info: dict[str, str]) -> bool:
    return info.get("schema_version") == str(SCHEMA_VERSION) and info.get("schema_digest") == schema_digest()


def create_schema(con: duckdb.DuckDBPyConnection) -> bool:
    """Create every table and view; return True when the index was (re)created empty.

    An index written by another schema version is dropped first: it is derived
    data, and the indexer rebuilds it from git. An index whose ``index_info``
    records this version's DDL digest is left as it is: opening it writes
    nothing, so a read-only command (``trellis query``) neither replaces views
    nor checkpoints and syncs the file on close.
    """
    info = _recorded(con)
    if _current(info):
        return False
    con.execute("CREATE TABLE IF NOT EXISTS index_info (key VARCHAR, value VARCHAR)")
    fresh = info.get("schema_version") != str(SCHEMA_VERSION)
    if fresh:
        drop_schema(con)
        con.execute("CREATE TABLE index_info (key VARCHAR, value VARCHAR)")
        con.execute("INSERT INTO index_info VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    for statement in _schema_statements():
        con.execute(statement)
    con.execute("DELETE FROM index_info WHERE key = 'schema_digest'")
    con.execute("INSERT INTO index_info VALUES ('schema_digest', ?)", [schema_digest()])
    return fresh


RETIRED_TABLES = ("stage_results",)
"""Tables of earlier schema versions, dropped with the rest so an upgraded index holds no stale copy."""


def drop_schema(con: duckdb.DuckDBPyConnection) -> None:
    for v in VIEWS:
        con.execute(f"DROP VIEW IF EXISTS {v.name}")
    for name in [*(t.name for t in TABLES), *RETIRED_TABLES]:
        con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute("DROP TABLE IF EXISTS index_info")


def schema_markdown() -> str:
    """The column reference of ``docs/schema.md`` (between its generated-section markers)."""
    out: list[str] = []
    for t in TABLES:
        out.append(f"### `{t.name}`\n")
        out.append(t.doc + (" *(Indexer bookkeeping.)*" if t.internal else "") + "\n")
        out.append(f"Key: `{', '.join(t.key)}`.\n")
        out.append("| column | type | meaning |")
        out.append("|---|---|---|")
        for c in t.columns:
            out.append(f"| `{c.name}` | `{c.sql_type}` | {c.doc} |")
        out.append("")
    for v in VIEWS:
        out.append(f"### `{v.name}` (view)\n")
        out.append(v.doc + "\n")
    return "\n".join(out).rstrip() + "\n"
