"""SWE-agent trajectories: parsed into a session, steps and a patch, and landed through the store.

The samples are the project's own (tests/fixtures/trajectories/README.md): one
run per SWE-agent format generation, in its published ``.traj`` schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trellis import vcs
from trellis.query import Indexer, TrajectoryFormatError, land_trajectory, load_trajectory, parse_trajectory
from trellis.query.errors import PatchDoesNotApply

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories"
OLD_FORMAT = SAMPLES / "swe-agent-0.x__wordcount.traj"
NEW_FORMAT = SAMPLES / "swe-agent-1.x__wordcount.traj"
FILES = [OLD_FORMAT, NEW_FORMAT]
# The file the sample runs fix (their submitted patch changes line 8).
BASE_FILE = (
    b'#!/usr/bin/env python3\n"""Count the words of each line read from standard input."""\n\nimport sys\n\n\n'
    b'def count(line: str) -> int:\n    return len(line.split(" "))\n\n\n'
    b'if __name__ == "__main__":\n    for line in sys.stdin:\n        print(count(line))\n'
)
ALICE = vcs.Identity("alice")


def test_the_samples_are_the_projects_own() -> None:
    assert sorted(SAMPLES.glob("swe-agent-?.x__*.traj")) == FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_samples_parse(path: Path) -> None:
    trajectory = load_trajectory(path)
    raw = json.loads(path.read_text())
    session = trajectory.session
    assert len(trajectory.steps) == len(raw["trajectory"]) == 5
    assert session.agent == "swe-agent"
    assert session.exit_status == "submitted"
    assert session.status is vcs.SessionStatus.SUCCEEDED
    assert session.task.startswith("wordcount counts empty words\n") and "two words" in session.task
    assert "INSTRUCTIONS" not in session.task and "DEMONSTRATION" not in session.task
    stats = raw["info"]["model_stats"]
    assert session.input_tokens == stats["tokens_sent"] and session.output_tokens == stats["tokens_received"]
    assert session.api_calls == stats["api_calls"] == 5
    assert sum(s.cost_usd for s in trajectory.steps) == pytest.approx(stats["instance_cost"])
    assert sum(s.input_tokens for s in trajectory.steps) == stats["tokens_sent"]
    assert trajectory.steps[-1].metadata["usage_scope"] == "trajectory"  # per-run totals, on the last step
    assert trajectory.steps[0].action.startswith("find_file")
    assert "scripts/wordcount.py" in trajectory.steps[0].observation
    assert all(s.thought for s in trajectory.steps)
    assert all(s.metadata["state.working_dir"] == "/trellis__wordcount" for s in trajectory.steps)
    assert trajectory.steps[1].metadata["state.open_file"].endswith("scripts/wordcount.py")
    assert trajectory.patch is not None and "scripts/wordcount.py" in trajectory.patch


def test_older_format_takes_the_task_from_history() -> None:
    trajectory = load_trajectory(OLD_FORMAT)
    assert trajectory.session.model == "" and trajectory.session.instance_id == ""
    assert trajectory.session.metadata["environment"] == "swe_main"
    assert all(s.latency_ms == 0 for s in trajectory.steps)


def test_newer_format_has_model_instance_versions_and_latency() -> None:
    trajectory = load_trajectory(NEW_FORMAT)
    assert trajectory.session.model == "claude-sonnet-4-20250514"
    assert trajectory.session.instance_id == "trellis__wordcount-i7"
    assert trajectory.session.metadata["swe_agent_version"] == "1.1.0"
    assert trajectory.session.metadata["agent_config"] == "main"
    assert all(s.latency_ms > 0 for s in trajectory.steps)
    assert trajectory.patch is not None and "\r\n" in trajectory.patch


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_landing_a_trajectory_records_the_session_and_commits_the_patch(
    path: Path, store: vcs.Store, data_dir: Path
) -> None:
    store.create_repository("repo", ALICE)
    base = store.commit(
        "repo", "main", [vcs.PutFile("scripts/wordcount.py", BASE_FILE, executable=True)], "base", ALICE
    ).commit
    trajectory = load_trajectory(path)
    landed = land_trajectory(store, "repo", trajectory, ALICE, base_revision=base.commit_id)
    assert landed.commit is not None
    fixed = store.read_file("repo", landed.commit.commit_id, "scripts/wordcount.py")
    assert fixed.content == BASE_FILE.replace(b'line.split(" ")', b"line.split()") and fixed.executable
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


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_a_patch_that_does_not_apply_writes_nothing(path: Path, store: vcs.Store) -> None:
    store.create_repository("repo", ALICE)
    store.commit("repo", "main", [vcs.PutFile("scripts/wordcount.py", b"other\n")], "base", ALICE)
    with pytest.raises(PatchDoesNotApply) as caught:
        land_trajectory(store, "repo", load_trajectory(path), ALICE)
    assert caught.value.reason == "PATCH_DOES_NOT_APPLY"
    assert store.list_sessions("repo").items == []


def test_without_a_patch_only_steps_are_recorded(store: vcs.Store) -> None:
    store.create_repository("repo", ALICE)
    landed = land_trajectory(store, "repo", load_trajectory(OLD_FORMAT), ALICE, land_patch=False)
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
    per_step = parse_trajectory(
        {
            "trajectory": [
                {"action": "a", "thought": [{"type": "text", "text": "t1"}], "model_stats": {"tokens_sent": 5}},
                {"action": "b", "observation": "x" * 300_000, "model_stats": {"tokens_sent": 7, "instance_cost": 0.5}},
            ],
            "info": {"exit_status": "exit_cost", "model_stats": {"tokens_sent": 999}},
            "history": [
                {"role": "user", "content": [{"type": "text", "text": "<pr_description>Fix it</pr_description>"}]}
            ],
        }
    )
    assert [s.input_tokens for s in per_step.steps] == [5, 7]
    assert per_step.session.input_tokens == 12 and per_step.session.cost_usd == 0.5
    assert per_step.steps[0].thought == "t1"
    assert per_step.session.task == "Fix it"
    assert len(per_step.steps[1].observation) < 300_000
