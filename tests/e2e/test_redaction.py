"""Secrets never stored, over the API: RecordStep, Commit's step and CreateSession go through the redactor.

A real server on loopback with the data directory's ``redaction.toml``; the
secrets are made up for the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis import vcs
from trellis.client import Client
from trellis.config import ServerConfig
from trellis.server import ConfigError, RunningServer, build_server

OPENAI = "sk-proj-" + "Q2w3E4r5T6y7U8i9O0p1A2s3D4f5G6h7"
GITHUB = "ghp_" + "Zx8Cv7Bn6Mm5Ll4Kk3Jj2Hh1Gg0Ff9Dd8Ss"
INTERNAL = "itk_0123456789abcdef0123456789abcdef"


@pytest.fixture
def configured(data_dir: Path) -> Iterator[RunningServer]:
    (data_dir / "redaction.toml").write_text('[[pattern]]\nkind = "internal_token"\nregex = "itk_[0-9a-f]{32}"\n')
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        yield running
    finally:
        running.stop(grace=1)


def test_record_step_commit_and_session_are_redacted_with_a_visible_count(configured: RunningServer) -> None:
    with Client(configured.address, agent="alice") as client:
        client.create_repository("r")
        session = client.create_session("r", task=f"use {GITHUB}", metadata={"token": INTERNAL})
        assert session.task == "use [REDACTED:github_token]"
        assert session.metadata["token"] == "[REDACTED:internal_token]" and session.metadata["redactions"] == "2"
        step = client.record_step(
            "r",
            session.session_id,
            vcs.StepInput(
                action="bash",
                arguments_json=json.dumps({"cmd": f"OPENAI_API_KEY={OPENAI} python run.py"}),
                observation=f"Authorization: Bearer {INTERNAL}x",
                thought="password: hunter22!",
            ),
        )
        assert json.loads(step.input.arguments_json) == {"cmd": "OPENAI_API_KEY=[REDACTED:openai_key] python run.py"}
        assert step.input.observation == "Authorization: Bearer [REDACTED:bearer_token]"
        assert step.input.thought == "password: [REDACTED:password]"
        assert step.input.metadata["redactions"] == "3"
        assert step.input.metadata["redaction_kinds"] == "bearer_token,openai_key,password"
        committed = client.commit(
            "r",
            session.branch_id,
            {"a.py": b"x = 1\n"},
            "add a",
            session=session.session_id,
            step=vcs.StepInput(action="edit", observation=f"pushed with {GITHUB}"),
        )
        assert committed.step is not None
        assert committed.step.input.observation == "pushed with [REDACTED:github_token]"
        stored = list(client.list_steps("r", session.session_id))
        assert [s.input.metadata["redactions"] for s in stored] == ["3", "1"]
        assert all(secret not in repr(stored) for secret in (OPENAI, GITHUB, INTERNAL))


@pytest.mark.parametrize("content", ["enabled = 3\n", '[[pattern]]\nkind = "x"\nregex = "("\n', "not toml ["])
def test_a_malformed_redaction_file_stops_the_server_with_its_reason(data_dir: Path, content: str) -> None:
    (data_dir / "redaction.toml").write_text(content)
    with pytest.raises(ConfigError) as caught:
        build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    assert "redaction.toml" in str(caught.value)


def test_redaction_can_be_turned_off_in_the_data_directory(data_dir: Path) -> None:
    (data_dir / "redaction.toml").write_text("enabled = false\n")
    running = build_server(ServerConfig(data_dir=data_dir, address="127.0.0.1:0"))
    try:
        with Client(running.address, agent="alice") as client:
            client.create_repository("r")
            session = client.create_session("r", task=OPENAI)
            assert session.task == OPENAI
    finally:
        running.stop(grace=1)
