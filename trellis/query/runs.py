"""Verification runs as the index sees them: a run record's ``run.json`` → rows.

The verification engine keeps each run as the record
``refs/trellis/runs/<run_id>`` (see :mod:`trellis.vcs.records`): a commit whose tree
holds ``run.json``, rewritten (a new commit on top) when the run starts, when
it finishes and when an external verdict is posted. The index keeps the rows
of the latest ``run.json`` only. It is read here as plain JSON — the query
layer does not import the engine — and tolerantly: optional keys may be
missing. A record that cannot be read (not JSON, an unknown ``version``, a
required field missing or of the wrong type) raises :class:`InvalidRunRecord`;
the indexer skips it and counts it.

Mapping (version 1): the run's ``verdict`` is ``verification_runs.status``,
each job's ``verdict`` its ``job_results.status``, each test's its
``test_results.status`` — the engine's own words, unchanged (``pending``,
``timed_out``…). Empty strings become NULL; ``duration_ms`` of a run is
``end_time - start_time``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from trellis.vcs import RepositoryReader, VcsError

from .gitsource import to_micros

__all__ = ["RUN_FILE", "InvalidRunRecord", "RunRows", "read_run", "run_rows"]

RUN_FILE = "run.json"
_VERSION = 1

# Numbers beyond what the columns hold make the record invalid (rather than the write fail).
_INT_LIMIT = 2**31
_BIGINT_LIMIT = 2**62
_TIME_LIMIT_S = 253_402_300_800  # 10000-01-01 (TIMESTAMP goes further; a Python datetime does not)

# When a test is listed twice in one job (a failing teardown after a passing
# call, say), the row keeps the worse verdict.
_SEVERITY = {"failed": 4, "timed_out": 3, "error": 2, "cancelled": 1}

# Why a record's run.json cannot be read, by the reason the version-control core gives.
_UNREADABLE = {
    "REVISION_NOT_FOUND": "record commit {record_id} is missing",
    "NOT_A_COMMIT": "{record_id} is not a commit",
    "PATH_NOT_FOUND": f"the record has no {RUN_FILE}",
    "NOT_A_FILE": f"{RUN_FILE} is not a file",
}


class InvalidRunRecord(ValueError):
    """A run record the index cannot read; the message says why."""


@dataclass(frozen=True, slots=True)
class RunRows:
    """One run's rows: its ``verification_runs`` row, its ``job_results`` and ``test_results``."""

    run: tuple[Any, ...]
    jobs: list[tuple[Any, ...]]
    tests: list[tuple[Any, ...]]


def read_run(repo: RepositoryReader, repository: str, run_id: str, record_id: str) -> RunRows:
    """The rows of the run whose record is at commit ``record_id``."""
    try:
        data = repo.read_file(record_id, RUN_FILE)
    except VcsError as exc:
        why = _UNREADABLE.get(exc.reason)
        raise InvalidRunRecord(why.format(record_id=record_id) if why else exc.message) from None
    return run_rows(repository, run_id, data)


def run_rows(repository: str, run_id: str, data: bytes) -> RunRows:
    """The rows ``run.json`` (``data``) gives; ``run_id`` is the record's key (the ref names the run)."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRunRecord(f"{RUN_FILE} is not JSON: {exc}") from None
    run = _object(record, RUN_FILE)
    version = run.get("version", _VERSION)
    if version != _VERSION:
        raise InvalidRunRecord(f"{RUN_FILE} version {version!r} is not supported (expected {_VERSION})")
    commit_id = _text(run, "commit_id", required=True)
    start, end = _time(run, "start_time"), _time(run, "end_time")
    run_row = (
        repository,
        run_id,
        commit_id,
        _text(run, "branch"),
        _text(run, "pipeline_source"),
        _text(run, "trigger"),
        _text(run, "verdict", required=True),
        _time(run, "create_time"),
        start,
        end,
        _elapsed_ms(start, end),
        _text(run, "session_id"),
    )
    jobs = run.get("jobs")
    if jobs is None:
        jobs = []
    if not isinstance(jobs, list):
        raise InvalidRunRecord("jobs is not a list")
    rows: dict[tuple[str, str], tuple[Any, ...]] = {}
    tests: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for i, item in enumerate(jobs):
        job = _object(item, f"jobs[{i}]")
        row = _job_row(repository, run_id, commit_id, job, f"jobs[{i}]")
        key = (row[3], row[5])
        if key in rows:
            continue  # one job per stage and chunk; a repeated one is ignored
        rows[key] = row
        for test in _test_rows(repository, run_id, commit_id, row[3], row[5], job.get("tests"), i):
            test_key = (test[3], test[4], test[5])
            kept = tests.get(test_key)
            if kept is None or _SEVERITY.get(test[7], 0) > _SEVERITY.get(kept[7], 0):
                tests[test_key] = test
    return RunRows(run_row, list(rows.values()), list(tests.values()))


def _job_row(repository: str, run_id: str, commit_id: str | None, job: dict[str, Any], where: str) -> tuple[Any, ...]:
    start, end = _time(job, "start_time", where), _time(job, "end_time", where)
    duration = _int(job, "duration_ms", where=where)
    cached = job.get("cached") or False
    if not isinstance(cached, bool):
        raise InvalidRunRecord(f"{where}.cached is not true or false")
    return (
        repository,
        run_id,
        commit_id,
        _text(job, "stage", required=True, where=where),
        _text(job, "scope", where=where),
        _text(job, "chunk", where=where) or "",
        _text(job, "path", where=where),
        _text(job, "qualname", where=where),
        _text(job, "verdict", required=True, where=where),
        cached,
        _int(job, "exit_code", where=where),
        _text(job, "summary", where=where),
        start,
        end,
        duration if duration is not None else _elapsed_ms(start, end),
        _text(job, "fallback", where=where) or None,
    )


def _test_rows(
    repository: str, run_id: str, commit_id: str | None, stage: str, chunk: str, tests: object, job_index: int
) -> list[tuple[Any, ...]]:
    if tests is None:
        return []
    if not isinstance(tests, list):
        raise InvalidRunRecord(f"jobs[{job_index}].tests is not a list")
    rows = []
    for i, test in enumerate(tests):
        # The common shape, checked inline: a run holds thousands of tests.
        if type(test) is list and len(test) == 4:
            test_id, verdict, duration, message = test
            if (
                type(test_id) is str
                and test_id.isascii()
                and test_id
                and type(verdict) is str
                and verdict.isascii()
                and verdict
                and type(duration) is int
                and -_BIGINT_LIMIT < duration < _BIGINT_LIMIT
                and type(message) is str
                and message.isascii()
            ):
                rows.append(
                    (
                        repository,
                        run_id,
                        commit_id,
                        stage,
                        chunk,
                        test_id,
                        test_id.split("::", 1)[0],
                        verdict,
                        duration,
                        message or None,
                    )
                )
                continue
        rows.append(_test_row(repository, run_id, commit_id, stage, chunk, test, f"jobs[{job_index}].tests[{i}]"))
    return rows


def _test_row(
    repository: str, run_id: str, commit_id: str | None, stage: str, chunk: str, test: object, where: str
) -> tuple[Any, ...]:
    if not isinstance(test, list) or len(test) < 2:
        raise InvalidRunRecord(f"{where} is not [test_id, verdict, duration_ms, message]")
    fields = dict(zip(("test_id", "verdict", "duration_ms", "message"), test))
    test_id = _text(fields, "test_id", required=True, where=where)
    assert test_id is not None
    return (
        repository,
        run_id,
        commit_id,
        stage,
        chunk,
        test_id,
        test_id.split("::", 1)[0],
        _text(fields, "verdict", required=True, where=where),
        _int(fields, "duration_ms", where=where),
        _text(fields, "message", where=where),
    )


def _field(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRunRecord(f"{where} is not a JSON object")
    return value


def _text(d: dict[str, Any], key: str, *, required: bool = False, where: str = "") -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise InvalidRunRecord(f"{_field(where, key)} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidRunRecord(f"{_field(where, key)} is not a string")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate (a JSON "\ud800" escape) cannot be stored
        value = value.encode(errors="replace").decode()
    return value


def _number(d: dict[str, Any], key: str, where: str, limit: float) -> float | int | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRunRecord(f"{_field(where, key)} is not a number")
    if abs(value) >= limit:
        raise InvalidRunRecord(f"{_field(where, key)} is out of range")
    return value


def _int(d: dict[str, Any], key: str, *, where: str = "") -> int | None:
    """An integer column (``exit_code`` is the narrowest: INTEGER)."""
    value = _number(d, key, where, _INT_LIMIT if key == "exit_code" else _BIGINT_LIMIT)
    return None if value is None else int(value)


def _time(d: dict[str, Any], key: str, where: str = "") -> int | None:
    """Unix seconds → integer microseconds (the Arrow ``timestamp('us')`` the indexer writes)."""
    value = _number(d, key, where, _TIME_LIMIT_S)
    if value is not None and value < 0:
        raise InvalidRunRecord(f"{_field(where, key)} is out of range")
    return to_micros(value)


def _elapsed_ms(start_us: int | None, end_us: int | None) -> int | None:
    if start_us is None or end_us is None:
        return None
    return (end_us - start_us) // 1000
