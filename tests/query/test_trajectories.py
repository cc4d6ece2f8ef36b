"""SWE-agent trajectories: parsed into a session, steps and a patch, and landed through the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vcs
from query import Indexer, TrajectoryFormatError, land_trajectory, load_trajectory, parse_trajectory

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "trajectories"
FILES = sorted(SAMPLES.glob("*.traj")) if SAMPLES.is_dir() else []
BASE_FILE = (
    b"#!/usr/bin/env python3\n\n\ndef division(a: float, b: float) -> float\n    return a/b\n\n\n"
    b'if __name__ == "__main__":\n    print(division(123, 15))\n'
)
ALICE = vcs.Identity("alice")

pytestmark = pytest.mark.skipif(not FILES, reason=f"no sample trajectories in {SAMPLES}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_samples_parse(path: Path) -> None:
    trajectory = load_trajectory(path)
    raw = json.loads(path.read_text())
    session = trajectory.session
    assert len(trajectory.steps) == len(raw["trajectory"]) == 5
    assert session.agent == "swe-agent"
    assert session.exit_status == "submitted"
    assert session.status is vcs.SessionStatus.SUCCEEDED
    assert "def division" in session.task or "missing_colon" in session.task
    assert "INSTRUCTIONS" not in session.task and "DEMONSTRATION" not in session.task
    stats = raw["info"]["model_stats"]
    assert session.input_tokens == stats["tokens_sent"] and session.output_tokens == stats["tokens_received"]
    assert sum(s.cost_usd for s in trajectory.steps) == pytest.approx(stats["instance_cost"])
    assert sum(s.input_tokens for s in trajectory.steps) == stats["tokens_sent"]
    assert trajectory.steps[0].action.startswith("find_file")
    assert "missing_colon.py" in trajectory.steps[0].observation
    assert all(s.thought for s in trajectory.steps)
    assert trajectory.patch is not None and "tests/missing_colon.py" in trajectory.patch


def test_newer_format_has_model_and_latency() -> None:
    trajectory = load_trajectory(SAMPLES / "sweagenttestrepo-1c2844.traj")
    assert trajectory.session.model == "gpt-4o"
    assert trajectory.session.instance_id == "SWE-agent__test-repo-i1"
    assert all(s.latency_ms > 0 for s in trajectory.steps)
    assert trajectory.steps[1].metadata["state.working_dir"] == "/SWE-agent__test-repo"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_landing_a_trajectory_records_the_session_and_commits_the_patch(
    path: Path, store: vcs.Store, data_dir: Path
) -> None:
    store.create_repository("repo", ALICE)
    base = store.commit("repo", "main", [vcs.PutFile("tests/missing_colon.py", BASE_FILE, executable=True)],
                        "base", ALICE).commit
    trajectory = load_trajectory(path)
    landed = land_trajectory(store, "repo", trajectory, ALICE, base_revision=base.commit_id)
    assert landed.commit is not None
    fixed = store.read_file("repo", landed.commit.commit_id, "tests/missing_colon.py")
    assert b"-> float:\n" in fixed.content and fixed.executable
    assert landed.session.status is vcs.SessionStatus.SUCCEEDED
    assert landed.session.step_count == 5 and landed.session.commit_count == 1
    assert landed.session.input_tokens == trajectory.session.input_tokens
    assert landed.commit.trailers["Trellis-Step"] == "5"
    with Indexer(data_dir, entity_differ=None) as ix:
        ix.sync()
        rows = ix.connection.execute(
            "SELECT steps, commits, total_tokens, round(cost_usd, 6), status, outcome FROM session_summary"
        ).fetchall()
        total = trajectory.session.input_tokens + trajectory.session.output_tokens
        assert rows == [(5, 1, total, round(trajectory.session.cost_usd, 6), "succeeded", "submitted")]


def test_a_patch_that_does_not_apply_writes_nothing(store: vcs.Store) -> None:
    store.create_repository("repo", ALICE)
    store.commit("repo", "main", [vcs.PutFile("tests/missing_colon.py", b"other\n")], "base", ALICE)
    with pytest.raises(vcs.InvalidArgument) as caught:
        land_trajectory(store, "repo", load_trajectory(FILES[0]), ALICE)
    assert caught.value.reason == "PATCH_DOES_NOT_APPLY"
    assert store.list_sessions("repo").items == []


def test_without_a_patch_only_steps_are_recorded(store: vcs.Store) -> None:
    store.create_repository("repo", ALICE)
    landed = land_trajectory(store, "repo", load_trajectory(FILES[0]), ALICE, land_patch=False)
    assert landed.commit is None and landed.session.step_count == 5 and landed.session.commit_count == 0


@pytest.mark.parametrize("data", ["not json", "[]", '{"info": {}}', '{"trajectory": 3}'])
def test_other_files_are_refused(data: str) -> None:
    with pytest.raises(TrajectoryFormatError) as caught:
        parse_trajectory(data, name="x.traj")
    assert caught.value.reason == "TRAJECTORY_INVALID" and "x.traj" in caught.value.message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryFormatError) as caught:
        load_trajectory(tmp_path / "nope.traj")
    assert caught.value.reason == "TRAJECTORY_UNREADABLE"


def test_minimal_and_unusual_trajectories() -> None:
    minimal = parse_trajectory({"trajectory": [{"action": "ls"}]})
    assert minimal.session.status is vcs.SessionStatus.FAILED and minimal.patch is None
    assert minimal.steps[0].action == "ls"
    per_step = parse_trajectory({
        "trajectory": [
            {"action": "a", "thought": [{"type": "text", "text": "t1"}], "model_stats": {"tokens_sent": 5}},
            {"action": "b", "observation": "x" * 300_000, "model_stats": {"tokens_sent": 7, "instance_cost": 0.5}},
        ],
        "info": {"exit_status": "exit_cost", "model_stats": {"tokens_sent": 999}},
        "history": [{"role": "user", "content": [{"type": "text", "text": "<pr_description>Fix it</pr_description>"}]}],
    })
    assert [s.input_tokens for s in per_step.steps] == [5, 7]
    assert per_step.session.input_tokens == 12 and per_step.session.cost_usd == 0.5
    assert per_step.steps[0].thought == "t1"
    assert per_step.session.task == "Fix it"
    assert len(per_step.steps[1].observation) < 300_000
