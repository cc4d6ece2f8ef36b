"""Verification from the command line, as real subprocesses against a real server: what a user reads."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_cli import cli, failed, ok
from trellis.client import Client
from trellis.server import RunningServer

INVALID = '[stages.unit]\nrun = "true"\ntimeout = "soon"\n'


def test_a_push_with_an_invalid_pipeline_shows_its_failed_run_in_runs_and_watch(
    server: RunningServer, tmp_path: Path
) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.commit("demo", "main", {"trellis.toml": INVALID, "a.py": "a = 1\n"}, "broken pipeline")
        run = next(client.list_runs("demo"))
    listed = ok(cli(tmp_path, *at, "runs", "demo"))
    assert run.run_id in listed and "failed" in listed
    shown = cli(tmp_path, *at, "watch", "demo", run.run_id)
    failed(shown)
    assert "stages.unit.timeout" in shown.stdout and "trellis.toml" in shown.stdout, shown.stdout


CALC_TESTS = """
def test_adds():
    assert 1 + 1 == 2


def test_fails():
    total = 1 + 1
    print("computing the total for the record")
    assert total == 3, "one and one make two"
"""


def test_watch_and_verify_show_why_a_job_failed_and_find_runs_by_branch_and_short_commit(
    server: RunningServer, tmp_path: Path
) -> None:
    at = ("--server", server.address)
    with Client(server.address, agent="alice") as client:
        client.create_repository("demo")
        client.create_branch("demo", "topic", "main")
        first = client.commit(
            "demo",
            "main",
            {"trellis.toml": '[stages.unit]\nkind = "pytest"\nselect = "all"\n', "tests/test_calc.py": CALC_TESTS},
            "tests",
            wait_for_verdict=True,
        )
        topic = client.commit("demo", "topic", {"notes.txt": "n\n"}, "topic", wait_for_verdict=True)
    assert first.run is not None and first.run.verdict.value == "failed"
    assert topic.run is None  # no pipeline on topic: no run
    # verify (by a short commit id) shows the failing test, its assertion message, and the end of its log.
    short = first.commit.commit_id[:8]
    shown = cli(tmp_path, *at, "verify", "demo", short)
    failed(shown)
    text = shown.stdout
    assert "FAILED tests/test_calc.py::test_fails" in text, text
    assert "one and one make two" in text
    assert "computing the total for the record" in text  # pytest's captured output, from the log
    assert "test_adds" not in text.split("FAILED", 1)[1]  # only failing tests are detailed
    # watch --latest follows the newest run (the verify above), and --branch the newest of a branch.
    latest = cli(tmp_path, *at, "watch", "demo", "--latest")
    failed(latest)
    assert "FAILED tests/test_calc.py::test_fails" in latest.stdout and "(verify" in latest.stdout
    on_main = cli(tmp_path, *at, "watch", "demo", "--branch", "main")
    failed(on_main)
    assert f"run {first.run.run_id}" in on_main.stdout
    assert "no run in demo for branch topic" in failed(cli(tmp_path, *at, "watch", "demo", "--branch", "topic"))
    assert "--latest" in failed(cli(tmp_path, *at, "watch", "demo"), code=2)
    # runs --branch lists only that branch's runs; --commit takes a short id.
    assert ok(cli(tmp_path, *at, "runs", "demo", "--branch", "main")).count(first.commit.commit_id[:12]) == 1
    assert first.run.run_id not in ok(cli(tmp_path, *at, "runs", "demo", "--branch", "topic"))
    assert ok(cli(tmp_path, *at, "runs", "demo", "--commit", short)).count(first.commit.commit_id[:12]) == 2
