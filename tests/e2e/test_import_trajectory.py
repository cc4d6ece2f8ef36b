"""``trellis import-trajectory`` and ``trellis session export`` against a real server over loopback.

The CLI runs in-process (``trellis.cli.main.main``) with ``--server``, so it
goes through the SDK and gRPC like any client; the samples are the project's
own (tests/fixtures/trajectories).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trellis import vcs
from trellis.cli import trajectory as trajectory_cli
from trellis.cli.main import main
from trellis.client import Client
from trellis.query import content_key, parse_trajectory
from trellis.server import RunningServer
from trellis.vcs import durability

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories"
FORMATS = {"swe-agent", "mini-swe-agent", "openhands", "claude-code", "codex", "atif"}


def _run(capsys: pytest.CaptureFixture[str], server: RunningServer, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main([*args, "--server", server.address, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    (root / "claude" / "project").mkdir(parents=True)
    (root / "runs").mkdir()
    for sample in SAMPLES.iterdir():
        if sample.name.startswith("claude-code"):
            shutil.copy(sample, root / "claude" / "project" / sample.name)
        elif sample.suffix != ".md":
            shutil.copy(sample, root / "runs" / sample.name)
    (root / "runs" / "notes.json").write_text('{"not": "a trajectory"}')
    (root / "runs" / ".hidden").mkdir()
    (root / "runs" / ".hidden" / "x.json").write_text("{}")
    return root


def test_files_directories_and_globs_import_once(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client, logs: Path
) -> None:
    code, first = _run(
        capsys,
        server,
        "import-trajectory",
        str(logs / "claude"),
        str(logs / "runs" / "*.traj"),
        str(logs / "runs" / "codex__wordcount.jsonl"),
    )
    assert code == 0 and first["failed"] == 0
    assert {f["format"] for f in first["files"]} == {"claude-code", "swe-agent", "codex"}
    assert first["imported"] == 5  # one Claude Code session, three .traj, one Codex rollout
    # The whole directory: what was imported is skipped, the rest comes in; notes.json is not a trajectory.
    code, second = _run(capsys, server, "import-trajectory", str(logs))
    assert code == 1 and second["failed"] == 1 and second["duplicate"] == 5 and second["imported"] == 3
    failed = next(f for f in second["files"] if f["status"] == "failed")
    assert failed["path"].endswith("notes.json") and "not a trajectory Trellis reads" in failed["error"]
    assert not any(".hidden" in f["path"] for f in second["files"])
    # Again, and a copy under another name: the content is the key, nothing new.
    shutil.copy(logs / "runs" / "atif-v1.4__wordcount.json", logs / "copy-of-atif.json")
    code, third = _run(capsys, server, "import-trajectory", str(logs))
    assert third["imported"] == 0 and third["duplicate"] == 9
    sessions = list(client.list_sessions("trajectories"))
    assert len(sessions) == 8 and {s.metadata["format"] for s in sessions} == FORMATS
    keys = {s.metadata["source_sha256"] for s in sessions}
    assert len(keys) == 8
    claude = next(s for s in sessions if s.metadata["format"] == "claude-code")
    assert claude.metadata["source"] == str(logs / "claude" / "project" / "claude-code__wordcount.jsonl")
    assert claude.metadata["session_id"] == "4f6b2a9e-1c3d-4e5f-8a7b-9c0d1e2f3a4b"
    assert claude.agent == "claude-code" and claude.status is vcs.SessionStatus.SUCCEEDED
    assert claude.branch_id == "imported/" + claude.metadata["source_sha256"][:32]


def test_an_interrupted_import_is_finished_not_duplicated(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "codex.jsonl"
    shutil.copy(SAMPLES / "codex__wordcount.jsonl", path)
    data = path.read_bytes()
    trajectory = parse_trajectory(data)
    # What a crash after the first step leaves: the session, one step, not ended.
    client.create_repository("trajectories")
    agent = client.with_agent("codex")
    key = content_key(data)
    session = agent.create_session(
        "trajectories",
        model=trajectory.session.model,
        task=trajectory.session.task,
        branch="imported/" + key[:32],
        metadata={**trajectory.session.metadata, "source_sha256": key},
    )
    agent.record_step("trajectories", session.session_id, trajectory.steps[0])
    code, report = _run(capsys, server, "import-trajectory", str(path))
    assert code == 0 and report["resumed"] == 1 and report["files"][0]["session"] == session.session_id
    finished = client.get_session("trajectories", session.session_id)
    assert finished.step_count == len(trajectory.steps) and finished.status is vcs.SessionStatus.SUCCEEDED
    assert [s.input.action for s in client.list_steps("trajectories", session.session_id)] == [
        s.action for s in trajectory.steps
    ]
    assert len(list(client.list_sessions("trajectories"))) == 1


def test_secrets_in_an_imported_log_are_redacted(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client, tmp_path: Path
) -> None:
    key = "sk-ant-api03-" + "Fq7Lm2Nx9Bz4Vc8Kd1Hs6Jt3Pw5Rg0Ye" * 2
    path = tmp_path / "session.jsonl"
    path.write_text(
        (SAMPLES / "claude-code__wordcount.jsonl").read_text().replace("HOME=/root", f"ANTHROPIC_API_KEY={key}")
    )
    code, report = _run(capsys, server, "import-trajectory", str(path))
    assert code == 0
    steps = list(client.list_steps("trajectories", report["files"][0]["session"]))
    assert key not in repr(steps)
    assert steps[0].input.observation.startswith("ANTHROPIC_API_KEY=[REDACTED:anthropic_key]")
    assert steps[0].input.metadata["redactions"] == "1"


@pytest.mark.parametrize("fmt", ["atif", "otlp"])
def test_session_export(
    capsys: pytest.CaptureFixture[str], server: RunningServer, client: Client, tmp_path: Path, fmt: str
) -> None:
    code, report = _run(capsys, server, "import-trajectory", str(SAMPLES / "openhands__wordcount.json"))
    session_id = report["files"][0]["session"]
    out = tmp_path / f"out.{fmt}.json"
    assert (
        main(
            [
                "session",
                "export",
                "trajectories",
                session_id,
                "--format",
                fmt,
                "-o",
                str(out),
                "--server",
                server.address,
            ]
        )
        == 0
    )
    document = json.loads(out.read_text())
    if fmt == "atif":
        again = parse_trajectory(out.read_bytes())
        assert again.format == "atif" and len(again.steps) == 3 and document["session_id"] == session_id
        assert again.session.cost_usd == pytest.approx(0.061)
    else:
        spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert spans[0]["name"] == "invoke_agent openhands"
        assert [s["name"] for s in spans[1:]][:2] == ["chat claude-sonnet-4-5", "execute_tool env"]
        # The run's own times (2025), not the import's.
        assert spans[0]["startTimeUnixNano"].startswith("17649") and int(spans[0]["endTimeUnixNano"]) >= int(
            spans[0]["startTimeUnixNano"]
        )
    assert main(["session", "export", "trajectories", session_id, "--format", fmt, "--server", server.address]) == 0
    assert json.loads(capsys.readouterr().out) == document


def test_record_steps_over_the_api_in_batches_redacted(client: Client) -> None:
    client.create_repository("r")
    session = client.create_session("r")
    steps = [vcs.StepInput(action=f"s{i}", observation=f"token ghp_{'x1Y2' * 9}" if i == 3 else "ok") for i in range(7)]
    recorded = client.record_steps("r", session.session_id, steps, max_batch_steps=3)
    assert [s.index for s in recorded] == list(range(1, 8))
    assert recorded[3].input.observation == "token [REDACTED:github_token]"
    assert recorded[3].input.metadata["redactions"] == "1"
    assert client.get_session("r", session.session_id).step_count == 7


def test_reimport_on_a_data_directory_without_a_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, logs: Path
) -> None:
    """No server owns the data directory: known content is recognised from git alone, new content imported."""
    data = tmp_path / "data"
    assert (
        main(["import-trajectory", str(logs / "runs" / "codex__wordcount.jsonl"), "--data-dir", str(data), "--json"])
        == 0
    )
    first = json.loads(capsys.readouterr().out)
    shutil.copy(logs / "runs" / "codex__wordcount.jsonl", logs / "again.jsonl")
    assert (
        main(
            [
                "import-trajectory",
                str(logs / "again.jsonl"),
                str(logs / "runs" / "codex__wordcount.jsonl"),
                str(logs / "runs" / "atif-v1.4__wordcount.json"),
                "--data-dir",
                str(data),
                "--json",
            ]
        )
        == 0
    )
    second = json.loads(capsys.readouterr().out)
    assert [f["status"] for f in second["files"]] == ["duplicate", "duplicate", "imported"]
    assert second["files"][0]["session"] == first["files"][0]["session"]


def test_an_import_without_a_server_syncs_in_batches_and_tells_only_what_is_synced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, an import is a bulk write: the data directory is synced once a second and at the end, not
    once per write (three per file), and a file is reported imported only after a sync that followed its write;
    with durability off (TRELLIS_DURABILITY=none) never synced."""
    calls: list[int] = []
    real = durability._syncfs
    monkeypatch.setattr(durability, "_syncfs", lambda fd: (calls.append(fd), real(fd))[1])
    monkeypatch.delenv("TRELLIS_DURABILITY", raising=False)
    files = [str(p) for p in sorted((logs / "runs").glob("*.traj"))]
    assert main(["import-trajectory", *files, "--data-dir", str(tmp_path / "data"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == len(files) == 3
    assert 1 <= len(calls) <= len(files)

    # Syncing after every file: what was printed when each sync began is only what earlier syncs covered.
    monkeypatch.setattr(trajectory_cli, "SYNC_EVERY_S", 0.0)
    printed_at_sync: list[str] = []

    def syncfs(fd: int) -> None:
        printed_at_sync.append(capsys.readouterr().out)
        real(fd)

    monkeypatch.setattr(durability, "_syncfs", syncfs)
    more = [str(logs / "runs" / "codex__wordcount.jsonl"), str(logs / "runs" / "openhands__wordcount.json")]
    assert main(["import-trajectory", *more, "--data-dir", str(tmp_path / "data")]) == 0
    printed_at_sync.append(capsys.readouterr().out)
    imported_lines = [text.count("imported ") for text in printed_at_sync]
    # Nothing before the first sync; the file it covered after it, the next one after the next sync (the last,
    # when the import ends), then the summary.
    assert imported_lines == [0, 1, 1, 0], printed_at_sync
    monkeypatch.setattr(durability, "_syncfs", lambda fd: (calls.append(fd), real(fd))[1])
    calls.clear()
    monkeypatch.setenv("TRELLIS_DURABILITY", "none")
    again = [str(logs / "runs" / "atif-v1.4__wordcount.json")]
    assert main(["import-trajectory", *again, "--data-dir", str(tmp_path / "data"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 1
    assert calls == []
