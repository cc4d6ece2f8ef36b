"""Every trajectory format Trellis reads, detected from content; secrets planted in each never stored; export.

The samples are the project's own (tests/fixtures/trajectories/README.md):
the same made-up bug-fix run written in each format's published schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trellis import vcs
from trellis.query.trajectories import (
    detect_format,
    land_trajectory,
    load_trajectory,
    parse_trajectory,
    to_atif,
    to_otlp,
)

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "trajectories"
ALICE = vcs.Identity("alice")

# file -> (format, steps, model, input tokens, output tokens, cost)
EXPECTED = {
    "swe-agent-0.x__wordcount.traj": ("swe-agent", 5, "", 24310, 611, 0.08213),
    "swe-agent-1.x__wordcount.traj": ("swe-agent", 5, "claude-sonnet-4-20250514", 9876, 402, 0.0417),
    "swe-agent-demo__wordcount.traj": ("swe-agent", 4, "", 0, 0, 0.0),
    "mini-swe-agent__wordcount.traj.json": ("mini-swe-agent", 4, "gpt-5-mini", 5400, 140, 0.0123),
    "openhands__wordcount.json": ("openhands", 3, "claude-sonnet-4-5", 15600, 170, 0.061),
    "claude-code__wordcount.jsonl": ("claude-code", 6, "claude-sonnet-4-5-20250929", 10322, 257, 0.0),
    "codex__wordcount.jsonl": ("codex", 3, "gpt-5-codex", 9600, 225, 0.0),
    "atif-v1.4__wordcount.json": ("atif", 3, "gemini-2.5-pro", 2650, 117, 0.0051),
}
FILES = sorted(EXPECTED)


def test_every_sample_is_covered() -> None:
    assert sorted(p.name for p in SAMPLES.iterdir() if p.name != "README.md") == FILES


@pytest.mark.parametrize("name", FILES)
def test_each_format_is_detected_from_content_and_read(name: str, tmp_path: Path) -> None:
    fmt, count, model, input_tokens, output_tokens, cost = EXPECTED[name]
    renamed = tmp_path / "no-hint.txt"  # the name says nothing: the content decides
    renamed.write_bytes((SAMPLES / name).read_bytes())
    assert detect_format(renamed.read_bytes()) == fmt
    trajectory = load_trajectory(renamed)
    session = trajectory.session
    assert trajectory.format == fmt == session.metadata["format"]
    assert len(trajectory.steps) == count
    assert session.model == model
    assert (session.input_tokens, session.output_tokens) == (input_tokens, output_tokens)
    assert session.cost_usd == pytest.approx(cost)
    assert session.task.startswith("wordcount counts empty words")
    assert session.metadata["source"] == str(renamed) and len(session.metadata["source_sha256"]) == 64
    assert all(s.action for s in trajectory.steps)
    assert any("split()" in (s.action + s.arguments_json + s.thought) for s in trajectory.steps)
    for step in trajectory.steps:
        if step.arguments_json:
            json.loads(step.arguments_json)


def test_history_only_swe_agent_demonstration() -> None:
    trajectory = load_trajectory(SAMPLES / "swe-agent-demo__wordcount.traj")
    assert trajectory.session.metadata["history_only"] == "true"
    assert [s.action for s in trajectory.steps][:2] == ["env", "open scripts/wordcount.py"]
    # A message without thought/action fields: the text before its code block, and the block.
    assert trajectory.steps[2].thought == "Use split() without an argument."
    assert trajectory.steps[2].action.startswith("edit 8:8")
    assert trajectory.steps[1].observation.startswith("[File:")


def test_claude_code_reads_the_active_branch_sidechains_and_usage_once_per_response() -> None:
    trajectory = load_trajectory(SAMPLES / "claude-code__wordcount.jsonl")
    steps = trajectory.steps
    assert [s.action for s in steps] == ["Bash", "Task", "Read", "message", "Edit", "message"]
    assert all("Abandoned" not in s.thought for s in steps)  # the rewound branch is left out
    assert [s.metadata.get("sidechain") for s in steps] == [None, None, "true", "true", None, None]
    assert steps[2].metadata["agent_id"] == "agent-7f3e"
    # msg_01 was written as two lines (thinking, then the tool use): its usage counts once, the fuller one.
    assert (steps[0].input_tokens, steps[0].output_tokens) == (2010, 80)
    assert steps[0].thought == "Look at the environment and script."
    assert json.loads(steps[0].arguments_json)["command"].startswith("env")
    assert steps[1].observation.startswith('split(" ")') and steps[1].metadata["tool_use_id"] == "toolu_02"
    assert trajectory.session.metadata["session_id"] == "4f6b2a9e-1c3d-4e5f-8a7b-9c0d1e2f3a4b"
    assert trajectory.session.metadata["cwd"] == "/home/dev/wordcount"
    assert steps[0].metadata["timestamp"] == "2025-12-05T17:00:02Z"


def test_codex_pairs_calls_with_outputs_and_bills_token_counts_to_their_call() -> None:
    trajectory = load_trajectory(SAMPLES / "codex__wordcount.jsonl")
    first, patch, answer = trajectory.steps
    assert first.action == "bash -lc env && cat scripts/wordcount.py" and first.observation.startswith("HOME=/root")
    assert first.thought == "**Inspecting the environment and script**" and first.metadata["call_id"] == "call_A1"
    assert (first.input_tokens, first.metadata["cached_tokens"]) == (3000, "2048")
    assert patch.action == "apply_patch" and "Success." in patch.observation
    assert answer.action == "message" and answer.input_tokens == 3400
    assert trajectory.session.metadata["session_id"] == "0199f1c2-7a3b-7c4d-9e5f-60718293a4b5"
    assert trajectory.session.metadata["codex_version"] == "0.63.0"
    assert "environment_context" not in trajectory.session.task


def test_openhands_pairs_observations_by_cause_and_costs_by_growth() -> None:
    trajectory = load_trajectory(SAMPLES / "openhands__wordcount.json")
    run, edit, finish = trajectory.steps
    assert run.action == "env" and run.observation.startswith("HOME=/root") and run.thought.startswith("Check")
    assert edit.action == "edit /workspace/scripts/wordcount.py" and "edited" in edit.observation
    assert [s.cost_usd for s in trajectory.steps] == pytest.approx([0.02, 0.025, 0.016])
    assert finish.action == "finish" and trajectory.session.status is vcs.SessionStatus.SUCCEEDED
    # The same events as JSON lines and inside an evaluation record read the same.
    events = json.loads((SAMPLES / "openhands__wordcount.json").read_text())
    as_lines = parse_trajectory("\n".join(json.dumps(e) for e in events))
    record = parse_trajectory(
        json.dumps({"instance_id": "i7", "history": events, "test_result": {"git_patch": "diff --git a/x b/x\n"}})
    )
    assert as_lines.steps == trajectory.steps[:] and record.steps == trajectory.steps
    assert record.session.instance_id == "i7" and record.patch == "diff --git a/x b/x\n"


def test_atif_with_several_tool_calls_in_one_step() -> None:
    trajectory = load_trajectory(SAMPLES / "atif-v1.4__wordcount.json")
    first = trajectory.steps[0]
    assert first.action == "bash, read_file"
    assert [c["function_name"] for c in json.loads(first.arguments_json)] == ["bash", "read_file"]
    assert first.metadata["message"] == "Let me look at the script and the environment."
    assert first.metadata["cached_tokens"] == "200"
    assert trajectory.session.metadata["system_steps"] == "1"
    assert trajectory.session.metadata["session_id"] == "9b2d7c1e-wordcount"


# -- secrets planted in every format ----------------------------------------------------

PLANTED = {
    "openai_key": "sk-proj-" + "Jq4Rz8Tn2Wv6Yx0Ab3Cd7Ef1Gh5Ik9Lm",
    "github_token": "ghp_" + "R2d2C3p0Bb8Yoda4Luke5Leia6Han7Solo8Chew",
    "aws_access_key": "AKIA" + "J5K7L9M2N4P6Q8R3",
}
PLANTED_ENV = "HOME=/root OPENAI_API_KEY={openai_key} GITHUB_TOKEN={github_token} AWS_ACCESS_KEY_ID={aws_access_key}"


@pytest.mark.parametrize("name", FILES)
def test_secrets_planted_in_every_format_are_never_stored(name: str, store: vcs.Store, tmp_path: Path) -> None:
    text = (SAMPLES / name).read_text()
    planted_text = text.replace("HOME=/root", PLANTED_ENV.format(**PLANTED))
    if planted_text == text:  # the SWE-agent runs print no environment: plant in the first observation instead
        data = json.loads(text)
        data["trajectory"][0]["observation"] += "\n" + PLANTED_ENV.format(**PLANTED)
        planted_text = json.dumps(data)
    path = tmp_path / name
    path.write_text(planted_text)
    store.create_repository("r", ALICE)
    landed = land_trajectory(store, "r", load_trajectory(path), ALICE, land_patch=False)
    stored = store.list_steps("r", landed.session.session_id).items
    dump = json.dumps([vars(s.input) if hasattr(s.input, "__dict__") else repr(s.input) for s in stored])
    for kind, secret in PLANTED.items():
        assert secret not in dump
        assert f"[REDACTED:{kind}]" in dump
    counted = sum(int(s.input.metadata.get("redactions", "0")) for s in stored)
    assert counted >= 3


# -- export ----------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_a_session_exported_as_atif_reads_back_the_same(name: str, store: vcs.Store) -> None:
    store.create_repository("r", ALICE)
    landed = land_trajectory(store, "r", load_trajectory(SAMPLES / name), ALICE, land_patch=False)
    steps = store.list_steps("r", landed.session.session_id).items
    document = to_atif(landed.session, steps)
    assert document["schema_version"].startswith("ATIF-v1.") and document["session_id"] == landed.session.session_id
    assert [s["step_id"] for s in document["steps"]] == list(range(1, len(document["steps"]) + 1))
    again = parse_trajectory(json.dumps(document))
    assert again.format == "atif"
    assert again.session.task == landed.session.task
    assert [(s.action, s.thought, s.observation, s.input_tokens, s.output_tokens) for s in again.steps] == [
        (s.input.action, s.input.thought, s.input.observation, s.input.input_tokens, s.input.output_tokens)
        for s in steps
    ]
    assert again.session.cost_usd == pytest.approx(landed.session.cost_usd)


def test_a_session_exported_as_otlp_genai_spans(store: vcs.Store) -> None:
    store.create_repository("r", ALICE)
    landed = land_trajectory(store, "r", load_trajectory(SAMPLES / "codex__wordcount.jsonl"), ALICE)
    steps = store.list_steps("r", landed.session.session_id).items
    document = to_otlp("r", landed.session, steps)
    assert to_otlp("r", landed.session, steps) == document  # stable ids: the same trace each time
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    attrs = [{a["key"]: next(iter(a["value"].values())) for a in span["attributes"]} for span in spans]
    root, *children = spans
    assert root["name"] == "invoke_agent alice" and "parentSpanId" not in root
    assert attrs[0]["gen_ai.operation.name"] == "invoke_agent" and attrs[0]["gen_ai.usage.input_tokens"] == "9600"
    chats = [s for s in children if s["name"].startswith("chat ")]
    tools = [s for s in children if s["name"].startswith("execute_tool ")]
    assert len(chats) == 3 and len(tools) == 2
    assert {s["parentSpanId"] for s in chats} == {root["spanId"]}
    assert {s["parentSpanId"] for s in tools} <= {s["spanId"] for s in chats}
    assert len({s["spanId"] for s in spans}) == len(spans) and {len(s["traceId"]) for s in spans} == {32}
    tool_attrs = [a for a in attrs if a.get("gen_ai.operation.name") == "execute_tool"]
    assert tool_attrs[1]["gen_ai.tool.name"] == "apply_patch" and tool_attrs[0]["gen_ai.tool.call.id"] == "call_A1"
    assert all(int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) for s in spans)


def test_a_claude_code_subagent_log_reads_on_its_own() -> None:
    """Newer versions write a subagent's conversation to subagents/agent-*.jsonl, every line a sidechain."""
    lines = [json.loads(line) for line in (SAMPLES / "claude-code__wordcount.jsonl").read_text().splitlines()]
    subagent = "".join(json.dumps(line) + "\n" for line in lines if line.get("isSidechain"))
    trajectory = parse_trajectory(subagent)
    assert trajectory.format == "claude-code" and trajectory.session.task == "Review scripts/wordcount.py"
    assert [s.action for s in trajectory.steps] == ["Read", "message"]
    assert all(s.metadata["sidechain"] == "true" for s in trajectory.steps)
