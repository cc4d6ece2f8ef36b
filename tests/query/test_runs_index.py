"""The index follows verification runs (records ``refs/trellis/runs/<id>``): rows, replacement, check, rebuild."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pygit2
import pytest

import trellis.query.catchup
import trellis.query.runs
from trellis import vcs
from trellis.query import Indexer

from .conftest import dump

ALICE = vcs.Identity("alice")
ENGINE = vcs.Identity("trellis-ci")
T0 = 1_700_000_000.0


def _count(ix: Indexer, sql: str) -> int:
    return int(ix.connection.execute(sql).fetchall()[0][0])


def _repository(store: vcs.Store, name: str = "demo") -> str:
    store.create_repository(name, ALICE)
    return store.commit(name, "main", [vcs.PutFile("a.py", b"x = 1\n")], "add a", ALICE).commit.commit_id


def _job(stage: str, verdict: str, *, scope: str = "commit", chunk: str = "", **fields: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "stage": stage,
        "scope": scope,
        "chunk": chunk,
        "path": fields.pop("path", ""),
        "qualname": "",
        "verdict": verdict,
        "cached": False,
        "duration_ms": 0,
        "summary": "",
        "output": "",
        "exit_code": 0,
        "tests": [],
        "selected_tests": 0,
        "total_tests": 0,
        "start_time": None,
        "end_time": None,
        "details_url": "",
        "reviewer": "",
    }
    job.update(fields)
    return job


def _run(commit_id: str, run_id: str, verdict: str, jobs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A ``run.json`` as the verification engine writes it (version 1)."""
    run: dict[str, Any] = {
        "version": 1,
        "repository": "demo",
        "run_id": run_id,
        "commit_id": commit_id,
        "verdict": verdict,
        "create_time": T0,
        "start_time": None,
        "end_time": None,
        "branch": "main",
        "trigger": "push",
        "pipeline_source": "repository",
        "missed_tests": [],
        "session_id": "",
        "stages": sorted({j["stage"] for j in jobs}),
        "jobs": jobs,
    }
    run.update(fields)
    return run


def _write(store: vcs.Store, run_id: str, run: dict[str, Any] | bytes, name: str = "demo") -> str:
    data = run if isinstance(run, bytes) else json.dumps(run, indent=1, sort_keys=True).encode()
    return store.write_record(name, "runs", run_id, {"run.json": data}, f"Run {run_id}", ENGINE)


def _pending(commit_id: str, run_id: str = "0000000000a1run1") -> dict[str, Any]:
    return _run(
        commit_id,
        run_id,
        "pending",
        [
            _job("syntax", "pending", scope="file", chunk="a.py", path="a.py"),
            _job("tests", "pending"),
        ],
    )


def _finished(commit_id: str, run_id: str = "0000000000a1run1") -> dict[str, Any]:
    return _run(
        commit_id,
        run_id,
        "failed",
        [
            _job(
                "syntax",
                "passed",
                scope="file",
                chunk="a.py",
                path="a.py",
                cached=True,
                start_time=T0 + 1,
                end_time=T0 + 1.25,
                duration_ms=250,
                summary="ok",
            ),
            _job(
                "tests",
                "failed",
                exit_code=1,
                start_time=T0 + 1,
                end_time=T0 + 4,
                duration_ms=2900,
                summary="1 failed, 1 passed",
                fallback="configuration: setup.cfg changed: pytest configuration",
                tests=[
                    ["tests/test_a.py::test_ok", "passed", 12, ""],
                    ["tests/test_a.py::test_bad[1]", "failed", 30, "assert 1 == 2"],
                ],
            ),
        ],
        start_time=T0 + 1,
        end_time=T0 + 4.5,
    )


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def test_a_run_fills_all_three_tables(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    indexer.sync()
    commits = dump(indexer)["commits"]
    _write(store, "0000000000a1run1", _finished(commit_id))
    stats = indexer.sync()
    assert (stats.runs_changed, stats.runs_invalid, stats.commits_added) == (1, 0, 0)
    con = indexer.connection
    assert con.execute("SELECT * FROM verification_runs").fetchall() == [
        (
            "demo",
            "0000000000a1run1",
            commit_id,
            "main",
            "repository",
            "push",
            "failed",
            _utc(T0),
            _utc(T0 + 1),
            _utc(T0 + 4.5),
            3500,
            None,
        )
    ]
    assert con.execute("SELECT * FROM job_results ORDER BY stage").fetchall() == [
        (
            "demo",
            "0000000000a1run1",
            commit_id,
            "syntax",
            "file",
            "a.py",
            "a.py",
            None,
            "passed",
            True,
            0,
            "ok",
            _utc(T0 + 1),
            _utc(T0 + 1.25),
            250,
            None,
        ),
        (
            "demo",
            "0000000000a1run1",
            commit_id,
            "tests",
            "commit",
            "",
            None,
            None,
            "failed",
            False,
            1,
            "1 failed, 1 passed",
            _utc(T0 + 1),
            _utc(T0 + 4),
            2900,
            "configuration: setup.cfg changed: pytest configuration",
        ),
    ]
    assert con.execute("SELECT * FROM test_results ORDER BY test_id").fetchall() == [
        (
            "demo",
            "0000000000a1run1",
            commit_id,
            "tests",
            "",
            "tests/test_a.py::test_bad[1]",
            "tests/test_a.py",
            "failed",
            30,
            "assert 1 == 2",
        ),
        (
            "demo",
            "0000000000a1run1",
            commit_id,
            "tests",
            "",
            "tests/test_a.py::test_ok",
            "tests/test_a.py",
            "passed",
            12,
            None,
        ),
    ]
    assert dump(indexer)["commits"] == commits  # a record commit is no code commit
    assert con.execute("SELECT kind, count(*) FROM refs GROUP BY kind").fetchall() == [("branch", 1)]
    assert indexer.check() == []


def test_a_posted_verdict_replaces_the_run_rows(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    first = _write(store, "0000000000a1run1", _pending(commit_id))
    indexer.sync()
    con = indexer.connection
    assert con.execute("SELECT status, start_time, end_time, duration_ms FROM verification_runs").fetchall() == [
        ("pending", None, None, None)
    ]
    assert _count(indexer, "SELECT count(*) FROM job_results WHERE status = 'pending'") == 2
    assert not indexer.sync().changed

    second = _write(store, "0000000000a1run1", _finished(commit_id))
    assert second != first
    stats = indexer.sync_repository("demo")
    assert (stats.runs_changed, stats.runs_removed, stats.commits_added) == (1, 0, 0)
    assert con.execute("SELECT status, duration_ms FROM verification_runs").fetchall() == [("failed", 3500)]
    assert _count(indexer, "SELECT count(*) FROM job_results") == 2
    assert _count(indexer, "SELECT count(*) FROM test_results") == 2
    assert con.execute("SELECT record_id, state FROM run_refs").fetchall() == [(second, "indexed")]

    # An external verdict posted on a job: the ref moves again, the rows follow.
    posted = _finished(commit_id)
    posted["jobs"].append(_job("review", "timed_out", summary="no verdict in time", reviewer="bob"))
    posted["verdict"] = "timed_out"
    _write(store, "0000000000a1run1", posted)
    indexer.sync_repository("demo")
    assert con.execute("SELECT status FROM verification_runs").fetchall() == [("timed_out",)]
    assert con.execute("SELECT stage, status, message FROM job_results ORDER BY stage").fetchall() == [
        ("review", "timed_out", "no verdict in time"),
        ("syntax", "passed", "ok"),
        ("tests", "failed", "1 failed, 1 passed"),
    ]
    assert _count(indexer, "SELECT count(*) FROM test_results") == 2
    assert indexer.check() == []


def test_only_runs_whose_ref_moved_are_read(
    store: vcs.Store, indexer: Indexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit_id = _repository(store)
    for i in range(40):
        _write(store, f"00000000{i:04x}run", _pending(commit_id, f"00000000{i:04x}run"))
    reads: list[str] = []
    real = trellis.query.runs.read_run

    def counting(repo: vcs.RepositoryReader, repository: str, run_id: str, record_id: str) -> Any:
        reads.append(run_id)
        return real(repo, repository, run_id, record_id)

    monkeypatch.setattr(trellis.query.catchup, "read_run", counting)
    assert indexer.sync().runs_changed == 40
    assert len(reads) == 40
    reads.clear()
    store.commit("demo", "main", [vcs.PutFile("b.py", b"y = 2\n")], "push", ALICE)
    stats = indexer.sync_repository("demo")
    assert (stats.commits_added, stats.runs_changed, reads) == (1, 0, [])
    _write(store, "000000000007run", _finished(commit_id, "000000000007run"))
    stats = indexer.sync_repository("demo")
    assert (stats.runs_changed, reads) == (1, ["000000000007run"])
    assert _count(indexer, "SELECT count(*) FROM verification_runs") == 40
    assert _count(indexer, "SELECT count(*) FROM job_results") == 80
    assert indexer.check() == []


def test_a_run_json_that_does_not_parse_is_skipped_and_reported(
    store: vcs.Store, indexer: Indexer, caplog: pytest.LogCaptureFixture
) -> None:
    commit_id = _repository(store)
    _write(store, "0000000000a1good", _finished(commit_id, "0000000000a1good"))
    bad = _write(store, "0000000000a2bad", b'{"commit_id": "abc", "verdict": ')
    _write(store, "0000000000a3nocommit", _run("", "0000000000a3nocommit", "passed", []))
    _write(
        store,
        "0000000000a4badtests",
        _run(commit_id, "0000000000a4badtests", "failed", [_job("tests", "failed", tests="boom")]),
    )
    _write(store, "0000000000a5future", _run(commit_id, "0000000000a5future", "passed", [], version=2))
    with caplog.at_level(logging.WARNING, logger="trellis.query.catchup"):
        stats = indexer.sync()
    assert (stats.runs_changed, stats.runs_invalid) == (1, 4)
    warned = " ".join(r.getMessage() for r in caplog.records)
    for run_id in ("0000000000a2bad", "0000000000a3nocommit", "0000000000a4badtests", "0000000000a5future"):
        assert run_id in warned
    assert "not JSON" in warned and "commit_id is missing" in warned and "version 2" in warned
    con = indexer.connection
    assert con.execute("SELECT run_id FROM verification_runs").fetchall() == [("0000000000a1good",)]
    assert ("0000000000a2bad", bad, "invalid") in con.execute(
        "SELECT run_id, record_id, state FROM run_refs"
    ).fetchall()
    assert indexer.check() == []

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trellis.query.catchup"):
        assert not indexer.sync().changed  # skipped once, not re-read until the ref moves
    assert not caplog.records

    _write(store, "0000000000a2bad", _finished(commit_id, "0000000000a2bad"))  # the engine wrote it again
    _write(store, "0000000000a1good", b"\xff\xfe not utf-8")  # and a good one went bad
    stats = indexer.sync()
    assert (stats.runs_changed, stats.runs_invalid) == (1, 1)
    assert con.execute("SELECT run_id FROM verification_runs").fetchall() == [("0000000000a2bad",)]
    assert _count(indexer, "SELECT count(*) FROM job_results WHERE run_id = '0000000000a1good'") == 0
    assert indexer.check() == []


def test_missing_optional_keys_become_null(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    _write(
        store,
        "0000000000b1",
        {
            "commit_id": commit_id,
            "verdict": "running",
            "jobs": [
                {"stage": "lint", "verdict": "running"},
                {"stage": "t", "verdict": "passed", "tests": [["x_test.py", "passed"]]},
            ],
        },
    )
    assert indexer.sync().runs_changed == 1
    con = indexer.connection
    assert con.execute("SELECT * FROM verification_runs").fetchall() == [
        ("demo", "0000000000b1", commit_id, None, None, None, "running", None, None, None, None, None)
    ]
    assert con.execute(
        "SELECT stage, scope, chunk, path, cached, exit_code, message, duration_ms FROM job_results ORDER BY stage"
    ).fetchall() == [("lint", None, "", None, False, None, None, None), ("t", None, "", None, False, None, None, None)]
    assert con.execute("SELECT test_id, path, status, duration_ms, message FROM test_results").fetchall() == [
        ("x_test.py", "x_test.py", "passed", None, None)
    ]
    assert indexer.check() == []


def test_tests_are_keyed_by_job_and_a_repeated_test_keeps_the_worse_verdict(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    _write(
        store,
        "0000000000c1",
        _run(
            commit_id,
            "0000000000c1",
            "failed",
            [
                _job(
                    "tests",
                    "passed",
                    scope="file",
                    chunk="a.py",
                    path="a.py",
                    tests=[["t.py::test_x", "passed", 5, ""]],
                ),
                _job(
                    "tests",
                    "failed",
                    scope="file",
                    chunk="b.py",
                    path="b.py",
                    tests=[["t.py::test_x", "passed", 5, ""], ["t.py::test_x", "error", 1, "teardown failed"]],
                ),
                _job(
                    "tests", "passed", scope="file", chunk="a.py", path="a.py"
                ),  # a repeated job: the first one counts
            ],
        ),
    )
    indexer.sync()
    assert indexer.connection.execute(
        "SELECT chunk, test_id, status, message FROM test_results ORDER BY chunk"
    ).fetchall() == [
        ("a.py", "t.py::test_x", "passed", None),
        ("b.py", "t.py::test_x", "error", "teardown failed"),
    ]
    assert _count(indexer, "SELECT count(*) FROM job_results") == 2
    assert indexer.check() == []


def test_deleted_run_refs_and_repositories_leave_the_index(store: vcs.Store, indexer: Indexer, data_dir: Path) -> None:
    commit_id = _repository(store)
    _write(store, "0000000000d1", _finished(commit_id, "0000000000d1"))
    _write(store, "0000000000d2", _finished(commit_id, "0000000000d2"))
    indexer.sync()
    repo = pygit2.Repository(str(data_dir / "repos" / "demo.git"))
    repo.references.delete("refs/trellis/runs/0000000000d1")
    stats = indexer.sync()
    assert (stats.runs_removed, stats.runs_changed) == (1, 0)
    for table in ("verification_runs", "job_results", "test_results", "run_refs"):
        assert indexer.connection.execute(f"SELECT DISTINCT run_id FROM {table}").fetchall() == [("0000000000d2",)]
    assert indexer.check() == []
    store.delete_repository("demo")
    indexer.sync()
    for table in ("verification_runs", "job_results", "test_results", "run_refs"):
        assert _count(indexer, f"SELECT count(*) FROM {table}") == 0


def test_rebuild_gives_identical_run_rows(store: vcs.Store, data_dir: Path) -> None:
    commit_id = _repository(store)
    _repository(store, "other")
    with Indexer(data_dir, entity_differ=None) as ix:
        _write(store, "0000000000e1", _pending(commit_id, "0000000000e1"))
        _write(store, "0000000000e2", b"not json")
        ix.sync()
        _write(store, "0000000000e1", _finished(commit_id, "0000000000e1"))  # replaced incrementally
        _write(store, "0000000000e3", _finished(commit_id, "0000000000e3"), name="other")
        ix.sync()
        before = dump(ix)
        assert len(before["test_results"]) == 4 and len(before["run_refs"]) == 3
        ix.rebuild()
        assert dump(ix) == before
    (data_dir / "index.duckdb").unlink()
    with Indexer(data_dir, entity_differ=None) as ix:  # a fresh file, from git alone
        ix.sync()
        assert dump(ix) == before


def test_check_detects_runs_that_diverge_from_git(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    for run_id in ("0000000000f1", "0000000000f2", "0000000000f3"):
        _write(store, run_id, _finished(commit_id, run_id))
    indexer.sync()
    assert indexer.check() == []
    con = indexer.connection
    con.execute("UPDATE verification_runs SET status = 'passed' WHERE run_id = '0000000000f1'")
    con.execute("DELETE FROM test_results WHERE run_id = '0000000000f2' AND status = 'passed'")
    con.execute("INSERT INTO job_results SELECT * FROM job_results WHERE run_id = '0000000000f3'")
    _write(store, "0000000000f4", _pending(commit_id, "0000000000f4"))  # not indexed yet
    _write(store, "0000000000f1", _pending(commit_id, "0000000000f1"))  # moved since
    problems = indexer.check()
    assert "demo: 1 runs are missing from the index (0000000000f4)" in problems
    assert "demo: 1 runs point at another record in git than in the index (0000000000f1)" in problems
    assert "demo: test_results differs from git for 1 runs (0000000000f2)" in problems
    assert "demo: job_results differs from git for 1 runs (0000000000f3)" in problems
    assert "table job_results has 2 duplicate rows" in problems
    assert not any("verification_runs differs" in p for p in problems)  # f1 is reported as moved
    indexer.rebuild()
    assert indexer.check() == []
    con.execute("DELETE FROM run_refs WHERE run_id = '0000000000f2'")
    con.execute("UPDATE verification_runs SET status = 'passed' WHERE run_id = '0000000000f3'")
    problems = indexer.check()
    assert "demo: 1 runs are missing from the index (0000000000f2)" in problems
    assert "demo: verification_runs differs from git for 1 runs (0000000000f3)" in problems
    assert indexer.sync().runs_changed == 1  # f2 is read again; f3's damage needs a rebuild
    indexer.rebuild()
    assert indexer.check() == []


def test_a_run_written_by_the_verification_engine_is_indexed(store: vcs.Store, indexer: Indexer) -> None:
    """The contract with ``ci.runs.run_to_json`` (the query layer itself does not import ci)."""
    from trellis.ci.runs import JobResult, Run, TestCase, Verdict, run_to_json

    commit_id = _repository(store)
    run = Run(
        repository="demo",
        run_id="0000000000g1",
        commit_id=commit_id,
        verdict=Verdict.TIMED_OUT,
        jobs=(
            JobResult(
                "tests",
                "entity",
                "a.py::f",
                path="a.py",
                qualname="f",
                verdict=Verdict.TIMED_OUT,
                duration_ms=60_000,
                summary="timed out",
                exit_code=-9,
                start_time=T0,
                end_time=T0 + 60,
                tests=(TestCase("tests/test_a.py::test_f", Verdict.PASSED, 3, ""),),
            ),
        ),
        create_time=T0,
        start_time=T0,
        end_time=T0 + 61,
        branch="agents/x",
        trigger="gate",
        pipeline_source="0123456789ab:trellis.toml",
        session_id="s1",
        stages=("tests",),
    )
    _write(store, "0000000000g1", run_to_json(run))
    assert indexer.sync().runs_changed == 1
    con = indexer.connection
    assert con.execute(
        "SELECT branch, pipeline, trigger, status, duration_ms, session_id FROM verification_runs"
    ).fetchall() == [("agents/x", "0123456789ab:trellis.toml", "gate", "timed_out", 61_000, "s1")]
    assert con.execute(
        "SELECT scope, chunk, path, qualname, status, exit_code, duration_ms FROM job_results"
    ).fetchall() == [("entity", "a.py::f", "a.py", "f", "timed_out", -9, 60_000)]
    assert con.execute("SELECT chunk, test_id, path, status FROM test_results").fetchall() == [
        ("a.py::f", "tests/test_a.py::test_f", "tests/test_a.py", "passed")
    ]
    assert indexer.check() == []


@pytest.mark.parametrize(
    ("run", "why"),
    [
        ({"verdict": "passed"}, "commit_id is missing"),
        ({"commit_id": "c", "verdict": 3}, "verdict is not a string"),
        ({"commit_id": "c", "verdict": "passed", "create_time": "yesterday"}, "create_time is not a number"),
        ({"commit_id": "c", "verdict": "passed", "end_time": 1e300}, "end_time is out of range"),
        ({"commit_id": "c", "verdict": "passed", "jobs": {}}, "jobs is not a list"),
        ({"commit_id": "c", "verdict": "passed", "jobs": [{"verdict": "passed"}]}, "jobs[0].stage is missing"),
        (
            {"commit_id": "c", "verdict": "passed", "jobs": [{"stage": "s", "verdict": "failed", "exit_code": 2**40}]},
            "jobs[0].exit_code is out of range",
        ),
        (
            {"commit_id": "c", "verdict": "passed", "jobs": [{"stage": "s", "verdict": "passed", "cached": "yes"}]},
            "jobs[0].cached is not true or false",
        ),
        (
            {"commit_id": "c", "verdict": "passed", "jobs": [{"stage": "s", "verdict": "passed", "tests": [["t"]]}]},
            "jobs[0].tests[0] is not [test_id",
        ),
        (
            {
                "commit_id": "c",
                "verdict": "passed",
                "jobs": [{"stage": "s", "verdict": "passed", "tests": [["t", "passed", True, ""]]}],
            },
            "jobs[0].tests[0].duration_ms is not a number",
        ),
        ([1, 2], "run.json is not a JSON object"),
    ],
)
def test_run_json_that_cannot_be_stored_says_why(run: Any, why: str) -> None:
    from trellis.query.runs import InvalidRunRecord, run_rows

    with pytest.raises(InvalidRunRecord) as caught:
        run_rows("demo", "r1", json.dumps(run).encode())
    assert why in str(caught.value)
    with pytest.raises(InvalidRunRecord, match="not JSON"):
        run_rows("demo", "r1", b'{"commit_id": "c", "verdict": "passed", "end_time": NaN')


def test_strings_that_are_not_valid_unicode_are_stored_replaced(store: vcs.Store, indexer: Indexer) -> None:
    commit_id = _repository(store)
    _write(
        store,
        "0000000000h1",
        b'{"commit_id": "%s", "verdict": "failed", "jobs": [{"stage": "t", '
        b'"verdict": "failed", "tests": [["t.py::test_\\ud800", "failed", 1, "bad \\udfff byte"]]}]}'
        % commit_id.encode(),
    )
    assert indexer.sync().runs_changed == 1
    assert indexer.connection.execute("SELECT test_id, path, message FROM test_results").fetchall() == [
        ("t.py::test_?", "t.py", "bad ? byte")
    ]
    assert indexer.check() == []
