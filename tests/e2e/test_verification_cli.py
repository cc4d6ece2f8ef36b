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
