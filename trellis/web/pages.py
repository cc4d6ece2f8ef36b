"""What each page shows: read from the DuckDB index and from git, through the same library calls as the API.

Every function here takes the :class:`Services` and plain arguments and
returns plain values for a template; none knows HTTP. Access control is the
caller's (``app.py``): a function here trusts that the repository it is
given may be read. Lists are paged with keyset tokens, so a page costs the
same on the last page as on the first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trellis import ci
from trellis.vcs import Identity, InvalidArgument, NotFound, Store, unified_diff
from trellis.vcs.validation import check_branch_name, check_session_id

from ..differ import Differ
from ..indexing import Index
from .diffview import FileView, Highlighter, side_by_side

__all__ = [
    "Services",
    "branches_page",
    "commit_page",
    "entity_page",
    "file_diff",
    "merge_page",
    "run_page",
    "session_page",
    "sessions_page",
    "steps_after",
]

SESSIONS_PER_PAGE = 50
STEPS_FIRST = 100
"""Steps rendered with a session's page; the rest arrive in batches of STEPS_BATCH as the reader scrolls."""
STEPS_BATCH = 200
OBSERVATION_CLIP = 4_000
"""Characters of a thought, action or observation shown in the timeline (the step's own page shows all)."""
FIRST_SCREEN_LINES = 200
"""Changed lines whose diffs a commit page renders at once; the files after them load as the reader scrolls."""
FIRST_SCREEN_FILES = 3
CHANGES_FIRST = 150
"""Entity changes a commit page lists before a link to all of them."""


@dataclass(frozen=True, slots=True)
class Services:
    """What the pages read: the server's own store, differ, index and verifier (and the diffs' colours)."""

    store: Store
    differ: Differ
    index: Index
    verifier: ci.Verifier
    highlighter: Highlighter = field(default_factory=Highlighter)


def _rows(services: Services, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = services.index.indexer.cursor()
    try:
        result = cursor.execute(sql, list(params))
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]
    finally:
        cursor.close()


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


# -- repositories and branches -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BranchRow:
    name: str
    head: str
    protected: tuple[str, ...]
    run_id: str
    verdict: str
    verdict_is_head: bool


def branches_page(services: Services, repository: str, page_token: str = "") -> tuple[list[BranchRow], str]:
    page = services.store.list_branches(repository, page_size=100, page_token=page_token)
    names = [b.branch_id for b in page.items]
    latest = {
        row["branch"]: row
        for row in _rows(
            services,
            f"""
            SELECT branch, arg_max(run_id, create_time) AS run_id, arg_max(status, create_time) AS status,
                   arg_max(commit_id, create_time) AS commit_id
            FROM verification_runs WHERE repository = ? AND branch IN ({_placeholders(names)}) GROUP BY branch""",
            [repository, *names],
        )
    }
    rows = []
    for branch in page.items:
        run = latest.get(branch.branch_id, {})
        rows.append(
            BranchRow(
                branch.branch_id,
                branch.head_commit_id,
                services.verifier.required_stages(repository, branch.branch_id),
                run.get("run_id") or "",
                run.get("status") or "",
                run.get("commit_id") == branch.head_commit_id,
            )
        )
    return rows, page.next_page_token


# -- sessions ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionFilters:
    repository: str = ""
    agent: str = ""
    model: str = ""
    status: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive
    until: str = ""  # YYYY-MM-DD, inclusive
    text: str = ""  # in the task

    def query(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("repository", self.repository),
                ("agent", self.agent),
                ("model", self.model),
                ("status", self.status),
                ("since", self.since),
                ("until", self.until),
                ("q", self.text),
            )
            if v
        }


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (its own ``%``, ``_`` and ``\\`` taken literally)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _date(text: str, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(
            f"{what} must be a date such as 2025-01-31, not {text[:40]!r}", reason="INVALID_DATE"
        ) from None


@dataclass(frozen=True, slots=True)
class SessionsPage:
    sessions: list[dict[str, Any]]
    total: int
    next_token: str
    agents: list[str]
    models: list[str]


def sessions_page(
    services: Services, repositories: Sequence[str] | None, filters: SessionFilters, page_token: str = ""
) -> SessionsPage:
    """Sessions newest first; ``repositories``: those the caller may read (None: all)."""
    where = ["TRUE"]
    params: list[Any] = []
    if repositories is not None:
        where.append(f"repository IN ({_placeholders(repositories)})")
        params.extend(repositories)
    for column, value in (
        ("repository", filters.repository),
        ("agent", filters.agent),
        ("model", filters.model),
        ("status", filters.status),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.since:
        where.append("create_time >= ?")
        params.append(_date(filters.since, "since"))
    if filters.until:
        where.append("create_time < ?")
        params.append(_date(filters.until, "until") + dt.timedelta(days=1))
    if filters.text:
        where.append("task ILIKE ? ESCAPE '\\'")
        params.append(_like(filters.text))
    condition = " AND ".join(where)
    keyset, keyset_params = "", []
    if page_token:
        time_text, _, after = page_token.partition("~")
        try:
            when = dt.datetime.fromisoformat(time_text)
            check_session_id(after)
        except (ValueError, InvalidArgument):
            raise InvalidArgument("page is not a token this server issued", reason="INVALID_PAGE_TOKEN") from None
        keyset = " AND (create_time < ? OR (create_time = ? AND session_id < ?))"
        keyset_params = [when, when, after]
    sessions = _rows(
        services,
        f"""
        SELECT repository, session_id, agent, model, status, outcome, task, create_time, end_time,
               step_count, commit_count, input_tokens + output_tokens AS tokens, cost_usd,
               date_diff('millisecond', create_time, end_time) AS duration_ms
        FROM sessions WHERE {condition}{keyset}
        ORDER BY create_time DESC, session_id DESC LIMIT {SESSIONS_PER_PAGE + 1}""",
        [*params, *keyset_params],
    )
    more = len(sessions) > SESSIONS_PER_PAGE
    sessions = sessions[:SESSIONS_PER_PAGE]
    if sessions:
        verdicts = {
            (row["repository"], row["session_id"]): row
            for row in _rows(
                services,
                f"""
                SELECT repository, session_id, arg_max(status, create_time) AS verdict,
                       arg_max(run_id, create_time) AS run_id
                FROM verification_runs WHERE session_id IN ({_placeholders(sessions)})
                GROUP BY repository, session_id""",
                [s["session_id"] for s in sessions],
            )
        }
        for s in sessions:
            found = verdicts.get((s["repository"], s["session_id"]), {})
            s["verdict"], s["run_id"] = found.get("verdict") or "", found.get("run_id") or ""
    total = _rows(services, f"SELECT count(*) AS n FROM sessions WHERE {condition}", params)[0]["n"]
    scope = f"repository IN ({_placeholders(repositories)})" if repositories is not None else "TRUE"
    scope_params = list(repositories or ())
    agents = [
        r["agent"]
        for r in _rows(
            services, f"SELECT DISTINCT agent FROM sessions WHERE {scope} ORDER BY agent LIMIT 500", scope_params
        )
    ]
    models = [
        r["model"]
        for r in _rows(
            services,
            f"SELECT DISTINCT model FROM sessions WHERE {scope} AND model <> '' ORDER BY model LIMIT 500",
            scope_params,
        )
    ]
    last = sessions[-1] if sessions else None
    token = f"{last['create_time'].isoformat()}~{last['session_id']}" if more and last else ""
    return SessionsPage(sessions, total, token, agents, models)


# -- a session's timeline ------------------------------------------------------------------------------

STEP_KINDS = ("code", "tool", "message", "subagent")
_TOOL = "coalesce(nullif(metadata['tool'], ''), nullif(regexp_extract(action, '^[A-Za-z0-9_.:-]+'), ''), '')"


@dataclass(frozen=True, slots=True)
class StepView:
    index: int
    commit_id: str
    thought: str
    action: str
    arguments: str
    observation: str
    clipped: bool
    observation_chars: int
    observation_lines: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: int
    create_time: dt.datetime | None
    tool: str
    subagent: str  # "" for the main agent, else the subagent's id (or "subagent")
    metadata: dict[str, str] = field(default_factory=dict)


def _clip(text: str | None) -> tuple[str, bool]:
    text = text or ""
    return (text[:OBSERVATION_CLIP], True) if len(text) > OBSERVATION_CLIP else (text, False)


def _step_view(row: dict[str, Any]) -> StepView:
    metadata = dict(row["metadata"] or {})
    thought, c1 = _clip(row["thought"])
    action, c2 = _clip(row["action"])
    arguments, c3 = _clip(row["arguments_json"])
    observation, c4 = _clip(row["observation"])
    subagent = (metadata.get("agent_id") or "subagent") if metadata.get("sidechain") == "true" else ""
    return StepView(
        row["step_index"],
        row["commit_id"] or "",
        thought,
        action,
        arguments,
        observation,
        c1 or c2 or c3 or c4,
        row["observation_chars"] or 0,
        observation.count("\n") + 1 if observation else 0,
        row["input_tokens"] or 0,
        row["output_tokens"] or 0,
        row["cost_usd"] or 0.0,
        row["latency_ms"] or 0,
        row["create_time"],
        row["tool"],
        subagent,
        metadata,
    )


@dataclass(frozen=True, slots=True)
class StepFilters:
    kind: str = ""
    tool: str = ""
    text: str = ""  # in the thought, action or observation (case-insensitive)

    def sql(self) -> tuple[str, list[Any]]:
        parts, params = [], []
        if self.kind == "code":
            parts.append("commit_id IS NOT NULL")
        elif self.kind == "tool":
            parts.append("coalesce(action, '') <> ''")
        elif self.kind == "message":
            parts.append("coalesce(action, '') = ''")
        elif self.kind == "subagent":
            parts.append("metadata['sidechain'] = 'true'")
        elif self.kind:
            raise InvalidArgument(
                f"unknown step kind {self.kind[:40]!r}: use one of {', '.join(STEP_KINDS)}", reason="INVALID_STEP_KIND"
            )
        if self.tool:
            parts.append(f"{_TOOL} = ?")
            params.append(self.tool)
        if self.text:
            parts.append(
                "(thought ILIKE ? ESCAPE '\\' OR action ILIKE ? ESCAPE '\\' OR observation ILIKE ? ESCAPE '\\')"
            )
            params.extend([_like(self.text)] * 3)
        return "".join(f" AND {p}" for p in parts), params

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("kind", self.kind), ("tool", self.tool), ("q", self.text)) if v}


def steps_after(
    services: Services, repository: str, session_id: str, after: int, filters: StepFilters, limit: int
) -> tuple[list[StepView], bool]:
    """Steps with an index above ``after`` (at most ``limit``) and whether more follow."""
    condition, params = filters.sql()
    rows = _rows(
        services,
        f"""
        SELECT step_index, commit_id, thought, action, arguments_json::VARCHAR AS arguments_json,
               CASE WHEN length(observation) > {OBSERVATION_CLIP}
                    THEN substr(observation, 1, {OBSERVATION_CLIP + 1}) ELSE observation END AS observation,
               length(observation) AS observation_chars,
               input_tokens, output_tokens, cost_usd, latency_ms, create_time, metadata, {_TOOL} AS tool
        FROM steps WHERE repository = ? AND session_id = ? AND step_index > ?{condition}
        ORDER BY step_index LIMIT {limit + 1}""",
        [repository, session_id, after, *params],
    )
    return [_step_view(r) for r in rows[:limit]], len(rows) > limit


@dataclass(frozen=True, slots=True)
class SessionPage:
    session: Any  # vcs.Session
    steps: list[StepView]
    more: bool
    start: int
    tools: list[tuple[str, int]]
    kinds: list[tuple[str, int]]
    verdict: dict[str, Any]


def session_page(
    services: Services, repository: str, session_id: str, filters: StepFilters, start: int = 0
) -> SessionPage:
    check_session_id(session_id)
    session = services.store.get_session(repository, session_id)
    steps, more = steps_after(services, repository, session_id, max(0, start - 1), filters, STEPS_FIRST)
    tools = [
        (r["tool"], r["n"])
        for r in _rows(
            services,
            f"""
        SELECT {_TOOL} AS tool, count(*) AS n FROM steps WHERE repository = ? AND session_id = ?
        GROUP BY ALL HAVING tool <> '' ORDER BY n DESC, tool LIMIT 100""",
            [repository, session_id],
        )
    ]
    counts = _rows(
        services,
        """
        SELECT count(commit_id) AS code, count(*) FILTER (WHERE coalesce(action, '') <> '') AS tool,
               count(*) FILTER (WHERE coalesce(action, '') = '') AS message,
               count(*) FILTER (WHERE metadata['sidechain'] = 'true') AS subagent
        FROM steps WHERE repository = ? AND session_id = ?""",
        [repository, session_id],
    )[0]
    verdict = next(
        iter(
            _rows(
                services,
                """
        SELECT run_id, status, commit_id FROM verification_runs WHERE repository = ? AND session_id = ?
        ORDER BY create_time DESC LIMIT 1""",
                [repository, session_id],
            )
        ),
        {},
    )
    return SessionPage(session, steps, more, max(0, start - 1), tools, [(k, counts[k]) for k in STEP_KINDS], verdict)


def full_step(services: Services, repository: str, session_id: str, index: int) -> StepView:
    """One step, nothing clipped (the step's own page)."""
    check_session_id(session_id)
    rows = _rows(
        services,
        f"""
        SELECT step_index, commit_id, thought, action, arguments_json::VARCHAR AS arguments_json, observation,
               length(observation) AS observation_chars, input_tokens, output_tokens, cost_usd, latency_ms,
               create_time, metadata, {_TOOL} AS tool
        FROM steps WHERE repository = ? AND session_id = ? AND step_index = ?""",
        [repository, session_id, index],
    )
    if not rows:
        raise NotFound(f"step {index} of session {session_id!r} is not in the index", reason="STEP_NOT_FOUND")
    row = rows[0]
    metadata = dict(row["metadata"] or {})
    return StepView(
        index,
        row["commit_id"] or "",
        row["thought"] or "",
        row["action"] or "",
        row["arguments_json"] or "",
        row["observation"] or "",
        False,
        row["observation_chars"] or 0,
        (row["observation"] or "").count("\n") + 1,
        row["input_tokens"] or 0,
        row["output_tokens"] or 0,
        row["cost_usd"] or 0.0,
        row["latency_ms"] or 0,
        row["create_time"],
        row["tool"],
        metadata.get("agent_id", "") if metadata.get("sidechain") == "true" else "",
        metadata,
    )


# -- a commit ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """A file a commit changed, as the commit page lists it (from the index, else the semantic diff)."""

    path: str
    old_path: str
    status: str
    additions: int
    deletions: int


@dataclass(frozen=True, slots=True)
class CommitPage:
    commit: Any  # vcs.Commit
    parent_id: str
    changes: list[Any]  # entity changes: index rows, or semantic_diff.EntityChange before the commit is indexed
    change_count: int  # all of them (``changes`` holds the first CHANGES_FIRST unless all were asked for)
    files: list[FileView]  # the diffs of the first screen
    later: list[ChangedFile]  # files whose diffs load as the reader scrolls to them
    session_id: str
    step_index: int
    run: ci.Run | None
    runs: list[dict[str, Any]]


def _changes(services: Services, repository: str, commit_id: str) -> tuple[list[ChangedFile], list[Any]]:
    """A commit's files and entity changes: what the indexer computed, or (not indexed yet) the semantic diff."""
    indexed = _rows(
        services, "SELECT entity_changes FROM commits WHERE repository = ? AND commit_id = ?", [repository, commit_id]
    )
    if indexed and indexed[0]["entity_changes"] is not None:
        files = [
            ChangedFile(r["path"], r["old_path"] or "", r["status"], r["additions"] or 0, r["deletions"] or 0)
            for r in _rows(
                services,
                """
                    SELECT path, old_path, status, additions, deletions FROM file_changes
                    WHERE repository = ? AND commit_id = ? ORDER BY path""",
                [repository, commit_id],
            )
        ]
        changes = _rows(
            services,
            """
            SELECT change, kind, qualname, old_qualname, path, old_path, details FROM entity_changes
            WHERE repository = ? AND commit_id = ? AND follows IS NULL ORDER BY ordinal""",
            [repository, commit_id],
        )
        return files, changes
    done = services.differ.diff(repository, "", commit_id)
    return (
        [ChangedFile(f.path, f.old_path or "", f.status, f.additions, f.deletions) for f in done.result.files],
        list(done.result.changes),
    )


def _file_views(
    services: Services, repository: str, parent_id: str, commit_id: str, files: Sequence[ChangedFile]
) -> list[FileView]:
    """Side-by-side diffs of some of a commit's files: both sides and git's line diff of those files only."""
    if not files:
        return []
    paths = sorted({p for f in files for p in (f.path, f.old_path or f.path)})
    contents = services.store.changed_files(repository, parent_id, commit_id, paths)
    views = []
    for f in files:
        before = f.old_path or f.path
        old = contents.old.get(before) if f.status != "added" else None
        new = contents.new.get(f.path) if f.status != "deleted" else None
        patch = unified_diff(old or b"", new or b"", before, f.path).decode("utf-8", "replace")
        views.append(
            side_by_side(
                f.path,
                f.old_path if f.old_path != f.path else "",
                f.status,
                patch,
                old,
                new,
                old_id=contents.old_ids.get(before, ""),
                new_id=contents.new_ids.get(f.path, ""),
                highlighter=services.highlighter,
            )
        )
    return views


def commit_page(services: Services, repository: str, revision: str, *, all_changes: bool = False) -> CommitPage:
    """A commit with its entity changes, run and the diffs of its first files (FIRST_SCREEN_LINES at most)."""
    commit = services.store.get_commit(repository, revision)
    files, changes = _changes(services, repository, commit.commit_id)
    now, budget = 0, FIRST_SCREEN_LINES
    while now < len(files) and now < FIRST_SCREEN_FILES and (now == 0 or budget > 0):
        budget -= files[now].additions + files[now].deletions
        now += 1
    runs = _rows(
        services,
        """
        SELECT run_id, status, trigger, branch, create_time, duration_ms FROM verification_runs
        WHERE repository = ? AND commit_id = ? ORDER BY create_time DESC LIMIT 20""",
        [repository, commit.commit_id],
    )
    run = services.verifier.get(repository, runs[0]["run_id"]) if runs else None
    step_text = commit.trailers.get("Trellis-Step", "")
    parent = commit.parent_ids[0] if commit.parent_ids else ""
    return CommitPage(
        commit,
        parent,
        changes if all_changes else changes[:CHANGES_FIRST],
        len(changes),
        _file_views(services, repository, parent, commit.commit_id, files[:now]),
        files[now:],
        commit.trailers.get("Trellis-Session", ""),
        int(step_text) if step_text.isdigit() else 0,
        run,
        runs,
    )


def file_diff(services: Services, repository: str, revision: str, path: str) -> FileView:
    """One file's side-by-side diff in a commit (what the commit page fetches for the files below its first screen)."""
    commit = services.store.get_commit(repository, revision)
    files, _ = _changes(services, repository, commit.commit_id)
    found = [f for f in files if f.path == path]
    if not found:
        raise NotFound(f"commit {commit.commit_id[:12]} does not change {path[:200]!r}", reason="FILE_NOT_CHANGED")
    parent = commit.parent_ids[0] if commit.parent_ids else ""
    return _file_views(services, repository, parent, commit.commit_id, found)[0]


def run_page(services: Services, repository: str, run_id: str) -> ci.Run:
    return services.verifier.get(repository, run_id)


# -- an entity's history ---------------------------------------------------------------------------------


def entity_page(services: Services, repository: str, qualname: str) -> list[dict[str, Any]]:
    """Every change of the entity named ``qualname`` (now or in the past), across renames and moves."""
    return _rows(
        services,
        """
        SELECT h.commit_time, h.commit_id, h.change, h.kind, h.path, h.old_path, h.qualname, h.old_qualname,
               h.details, h.follows, c.title, c.agent, c.session_id, c.step_index
        FROM entity_history h JOIN commits c USING (repository, commit_id)
        WHERE h.repository = ? AND h.lineage_id IN (
            SELECT lineage_id FROM entity_history WHERE repository = ? AND (qualname = ? OR old_qualname = ?))
        ORDER BY h.commit_time DESC, h.ordinal LIMIT 1000""",
        [repository, repository, qualname, qualname],
    )


# -- merge preview ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MergeView:
    target: str
    source: str
    strategy: str
    up_to_date: bool
    conflicts: list[dict[str, str]]


def merge_page(services: Services, repository: str, target: str, source: str, reader: str) -> MergeView:
    """What merging ``source`` into ``target`` would do; a preview writes nothing."""
    check_branch_name(target)
    result = services.store.merge(repository, target, source, Identity(reader), preview=True)
    conflicts = [
        {
            "path": c.path,
            "qualname": c.qualname,
            "kind": c.entity_kind,
            "base": c.base.decode("utf-8", "replace"),
            "left": c.left.decode("utf-8", "replace"),
            "right": c.right.decode("utf-8", "replace"),
            "markers": c.markers.decode("utf-8", "replace"),
        }
        for c in result.conflicts
    ]
    return MergeView(target, source, result.strategy, result.up_to_date, conflicts)


def chart_spec(table: Any) -> dict[str, Any] | None:
    """How the SQL console charts a result: the first time or text column along x, numeric columns up.

    None when the result has no such pair. Values go to the page as JSON (``tojson`` escapes them).
    """
    import pyarrow as pa

    x_index = next(
        (i for i, f in enumerate(table.schema) if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)), None
    )
    kind = "time"
    if x_index is None:
        x_index = next(
            (i for i, f in enumerate(table.schema) if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)),
            None,
        )
        kind = "category"
    ys = [
        i
        for i, f in enumerate(table.schema)
        if i != x_index and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_decimal(f.type))
    ]
    if x_index is None or not ys or table.num_rows == 0:
        return None
    rows = min(table.num_rows, 1000)
    x_values = table.column(x_index).to_pylist()[:rows]
    if kind == "time":  # epoch milliseconds, UTC (the index's times are naive UTC)
        x_out: list[Any] = [
            None
            if v is None
            else (v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time()))
            .replace(tzinfo=dt.UTC)
            .timestamp()
            * 1000
            for v in x_values
        ]
    else:
        x_out = [str(v) if v is not None else "" for v in x_values]
    series = [
        {
            "name": table.schema[i].name,
            "values": [float(v) if v is not None else None for v in table.column(i).to_pylist()[:rows]],
        }
        for i in ys[:6]
    ]
    return {"kind": kind, "x": table.schema[x_index].name, "labels": x_out, "series": series}


def json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
