"""Comparing the index with git (``trellis check``): what git holds that the index does not, and back.

Runs are compared row by row: every run.json in git is read again and each run's rows are
matched (count and a sum of row hashes, per run) with the index's.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from trellis.vcs import NotFound, RepositoryReader

from .gitsource import RefTip, list_tips, read_session, session_chain
from .runs import InvalidRunRecord, read_run
from .schema import table

if TYPE_CHECKING:
    from .indexer import Indexer

__all__ = ["check_index", "git_code_commits"]

_SHOW = 3
_RUN_TABLES = ("verification_runs", "job_results", "test_results", "run_refs")


def git_code_commits(repo: RepositoryReader, tips: list[RefTip] | None = None) -> set[str]:
    """Every code commit reachable from a branch, tag or session (session event commits excluded)."""
    if tips is None:
        tips = list_tips(repo).refs
    events: set[str] = set()
    for tip in tips:
        if tip.kind == "session":
            events.update(session_chain(repo, tip.commit_id, None))
    if not tips:
        return set()
    return set(repo.walk(tip.commit_id for tip in tips)) - events


def _sample(ids: set[str]) -> str:
    return ", ".join(sorted(ids)[:_SHOW]) + (", …" if len(ids) > _SHOW else "")


def check_index(indexer: Indexer) -> list[str]:
    con = indexer.connection
    problems: list[str] = []
    on_disk = set(indexer.repository_names())
    in_index = set(indexer._indexed_repositories())
    for name in sorted(on_disk - in_index):
        problems.append(f"repository {name!r} is in git but not in the index")
    for name in sorted(in_index - on_disk):
        problems.append(f"repository {name!r} is in the index but not in git")
    for name in sorted(on_disk & in_index):
        problems.extend(_check_repository(indexer, name))
    for t, key in [
        ("commits", "repository, commit_id"),
        ("refs", "repository, ref_name"),
        ("sessions", "repository, session_id"),
        ("steps", "repository, session_id, step_index"),
        ("index_state", "repository, commit_id"),
        *((t, ", ".join(table(t).key)) for t in _RUN_TABLES),
    ]:
        ((duplicates,),) = con.execute(f"SELECT count(*) - count(DISTINCT ({key})) FROM {t}").fetchall()
        if duplicates:
            problems.append(f"table {t} has {duplicates} duplicate rows")
    return problems


def _check_repository(indexer: Indexer, name: str) -> list[str]:
    con = indexer.connection
    problems: list[str] = []
    try:
        repo = RepositoryReader(indexer.repos_dir / f"{name}.git")
    except NotFound as exc:
        return [f"repository {name!r} cannot be opened: {exc}"]
    listing = list_tips(repo)
    git_refs = {t.ref_name: t.commit_id for t in listing.refs}
    index_refs = dict(con.execute("SELECT ref_name, commit_id FROM refs WHERE repository = ?", [name]).fetchall())
    for ref in sorted(set(git_refs) - set(index_refs)):
        problems.append(f"{name}: ref {ref} is missing from the index")
    for ref in sorted(set(index_refs) - set(git_refs)):
        problems.append(f"{name}: ref {ref} is in the index but no longer in git")
    for ref in sorted(set(git_refs) & set(index_refs)):
        if git_refs[ref] != index_refs[ref]:
            problems.append(f"{name}: ref {ref} is at {git_refs[ref]} in git but at {index_refs[ref]} in the index")

    git_commits = git_code_commits(repo, listing.refs)
    index_commits = {r[0] for r in con.execute("SELECT commit_id FROM commits WHERE repository = ?", [name]).fetchall()}
    missing, extra = git_commits - index_commits, index_commits - git_commits
    if missing:
        problems.append(f"{name}: {len(missing)} commits are missing from the index ({_sample(missing)})")
    if extra:
        problems.append(f"{name}: {len(extra)} indexed commits are not reachable in git ({_sample(extra)})")
    state = {r[0] for r in con.execute("SELECT commit_id FROM index_state WHERE repository = ?", [name]).fetchall()}
    if state != index_commits:
        problems.append(f"{name}: index_state and commits disagree on {len(state ^ index_commits)} commits")

    git_sessions: dict[str, int] = {}
    for ref, tip in git_refs.items():
        if ref.startswith("refs/trellis/sessions/"):
            snapshot = read_session(repo, name, tip)
            if snapshot is not None:
                git_sessions[snapshot.row[1]] = snapshot.step_count(repo)
    index_sessions = dict(
        con.execute(
            "SELECT s.session_id, (SELECT count(*) FROM steps t WHERE t.repository = s.repository "
            "AND t.session_id = s.session_id) FROM sessions s WHERE s.repository = ?",
            [name],
        ).fetchall()
    )
    for sid in sorted(set(git_sessions) - set(index_sessions)):
        problems.append(f"{name}: session {sid} is missing from the index")
    for sid in sorted(set(index_sessions) - set(git_sessions)):
        problems.append(f"{name}: session {sid} is in the index but not in git")
    for sid in sorted(set(git_sessions) & set(index_sessions)):
        if git_sessions[sid] != index_sessions[sid]:
            problems.append(
                f"{name}: session {sid} has {git_sessions[sid]} steps in git but {index_sessions[sid]} in the index"
            )
    problems.extend(_check_runs(indexer, repo, name, listing.runs))
    if indexer.differ is not None:
        ((lagging,),) = con.execute(
            "SELECT count(*) FROM index_state WHERE repository = ? AND entities = 'unavailable'", [name]
        ).fetchall()
        if lagging:
            problems.append(f"{name}: {lagging} commits still lack their entity changes")
    return problems


def _check_runs(indexer: Indexer, repo: RepositoryReader, name: str, git_runs: dict[str, str]) -> list[str]:
    """Run refs against ``run_refs``, then every run's rows against what its ``run.json`` gives."""
    from .indexer import _arrow_table

    con = indexer.connection
    problems: list[str] = []
    index_runs = dict(con.execute("SELECT run_id, record_id FROM run_refs WHERE repository = ?", [name]).fetchall())
    missing = set(git_runs) - set(index_runs)
    extra = set(index_runs) - set(git_runs)
    moved = {r for r in set(git_runs) & set(index_runs) if git_runs[r] != index_runs[r]}
    if missing:
        problems.append(f"{name}: {len(missing)} runs are missing from the index ({_sample(missing)})")
    if extra:
        problems.append(f"{name}: {len(extra)} indexed runs are no longer in git ({_sample(extra)})")
    if moved:
        problems.append(
            f"{name}: {len(moved)} runs point at another record in git than in the index ({_sample(moved)})"
        )

    expected: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _RUN_TABLES}
    for run_id, record_id in git_runs.items():
        try:
            rows = read_run(repo, name, run_id, record_id)
        except InvalidRunRecord:
            expected["run_refs"].append((name, run_id, record_id, "invalid"))
            continue
        expected["verification_runs"].append(rows.run)
        expected["job_results"].extend(rows.jobs)
        expected["test_results"].extend(rows.tests)
        expected["run_refs"].append((name, run_id, record_id, "indexed"))
    reported = missing | extra | moved
    for t, table_rows in expected.items():
        view = f"_expected_{uuid.uuid4().hex[:8]}"
        con.register(view, _arrow_table(t, table_rows))
        try:
            # Per run: row count and the sum of row hashes on both sides (EXCEPT ALL is ~30x slower).
            digest = f"count(*) AS n, sum(hash({', '.join(table(t).column_names)})::HUGEINT) AS h"
            differing = {
                r[0]
                for r in con.execute(
                    f"WITH g AS (SELECT run_id, {digest} FROM {view} GROUP BY run_id), "
                    f"i AS (SELECT run_id, {digest} FROM {t} WHERE repository = ? GROUP BY run_id) "
                    "SELECT coalesce(g.run_id, i.run_id) FROM g FULL OUTER JOIN i ON g.run_id = i.run_id "
                    "WHERE g.n IS DISTINCT FROM i.n OR g.h IS DISTINCT FROM i.h",
                    [name],
                ).fetchall()
            } - reported
        finally:
            con.unregister(view)
        if differing:
            problems.append(f"{name}: {t} differs from git for {len(differing)} runs ({_sample(differing)})")
    return problems
