"""Importing agent trajectories written by SWE-agent (``.traj`` files) as Trellis sessions.

A ``.traj`` file is one JSON object: ``trajectory`` (the steps: ``thought``,
``action``, ``observation``, ``response``, ``state``, and in newer versions
``execution_time``), ``history`` (the chat messages), ``info``
(``exit_status``, ``submission`` — the final patch as a unified diff —,
``model_stats`` with cost and token totals) and, in newer versions,
``replay_config`` (the run's configuration: model name, problem statement).
Older and newer files differ in details; everything but ``trajectory`` is
optional here.

Token counts and cost are per run in SWE-agent's files, not per step: when
no step carries its own usage, the run's totals are attributed to the last
step (``metadata["usage_scope"] = "trajectory"``) so that the session's
totals — the sums over its steps — equal the run's.

:func:`parse_trajectory` returns plain values; :func:`land_trajectory`
records them through :class:`vcs.Store` as a session (and the submitted patch
as a commit of that session).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vcs

from .errors import TrajectoryFormatError
from .patches import patch_changes

__all__ = [
    "LandedTrajectory",
    "Trajectory",
    "TrajectorySession",
    "land_trajectory",
    "load_trajectory",
    "parse_trajectory",
]

MAX_FIELD_CHARS = 256 * 1024
_TRUNCATED = "\n[… truncated by trellis import-trajectory …]"


@dataclass(frozen=True, slots=True)
class TrajectorySession:
    """Session-level facts of a trajectory."""

    agent: str
    model: str
    task: str
    instance_id: str
    exit_status: str
    status: vcs.SessionStatus
    input_tokens: int
    output_tokens: int
    cost_usd: float
    api_calls: int
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Trajectory:
    session: TrajectorySession
    steps: tuple[vcs.StepInput, ...]
    patch: str | None  # the submitted unified diff, if any


@dataclass(frozen=True, slots=True)
class LandedTrajectory:
    session: vcs.Session
    steps: tuple[vcs.Step, ...]
    commit: vcs.Commit | None


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + _TRUNCATED


def _text(value: Any) -> str:
    """Message content as text (plain strings, or lists of ``{"type": "text", "text": …}`` parts)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(part.get("text") if isinstance(part, dict) else part) for part in value)
    if isinstance(value, dict) and "text" in value:
        return _text(value["text"])
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number >= 0 and number == number else 0.0


def _mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _problem_statement(data: Mapping[str, Any], config: Mapping[str, Any]) -> tuple[str, str]:
    """(task text, instance id) from the replay config or, failing that, the first non-demo user message."""
    problem = _mapping(config.get("problem_statement"))
    instance_id = str(problem.get("id") or "")
    text = _text(problem.get("text") or problem.get("problem_statement"))
    if text:
        return text, instance_id
    for message in data.get("history") or []:
        if not isinstance(message, dict) or message.get("role") != "user" or message.get("is_demo"):
            continue
        content = _text(message.get("content"))
        if "ISSUE:\n" in content:
            content = content.split("ISSUE:\n", 1)[1]
            content = content.split("\n\nINSTRUCTIONS:", 1)[0]
        elif "<pr_description>" in content:
            content = content.split("<pr_description>", 1)[1].split("</pr_description>", 1)[0]
        return content.strip(), instance_id
    return "", instance_id


def _model_name(config: Mapping[str, Any]) -> str:
    agent = _mapping(config.get("agent"))
    model = _mapping(agent.get("model"))
    return str(model.get("name") or model.get("model_name") or "")


def _step(raw: Mapping[str, Any], usage: tuple[int, int, float] | None, scope: str) -> vcs.StepInput:
    metadata: dict[str, str] = {"usage_scope": scope}
    state = raw.get("state")
    for key, value in _mapping(state).items():
        if isinstance(value, (str, int, float, bool)):
            metadata[f"state.{key}"] = _clip(str(value), 4096)
    response = _text(raw.get("response"))
    if response:
        metadata["response"] = _clip(response)
    input_tokens, output_tokens, cost = usage or (0, 0, 0.0)
    execution_time = raw.get("execution_time")
    return vcs.StepInput(
        thought=_clip(_text(raw.get("thought"))),
        action=_clip(_text(raw.get("action")).strip()),
        arguments_json="",
        observation=_clip(_text(raw.get("observation"))),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        latency_ms=round(_float(execution_time) * 1000) if execution_time is not None else 0,
        metadata=metadata,
    )


def _step_usage(raw: Mapping[str, Any]) -> tuple[int, int, float] | None:
    """Per-step usage when the file has it (some SWE-agent forks record it per step)."""
    stats = _mapping(raw.get("model_stats") or raw.get("usage") or _mapping(raw.get("extra_info")).get("usage"))
    if not stats:
        return None
    return (
        _int(stats.get("tokens_sent", stats.get("input_tokens", stats.get("prompt_tokens")))),
        _int(stats.get("tokens_received", stats.get("output_tokens", stats.get("completion_tokens")))),
        _float(stats.get("instance_cost", stats.get("cost", 0.0))),
    )


def parse_trajectory(data: bytes | str | Mapping[str, Any], *, name: str = "") -> Trajectory:
    """A SWE-agent trajectory (the parsed JSON, or its text) as session facts, steps and patch."""
    if isinstance(data, (bytes, str)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise TrajectoryFormatError(f"{name or 'trajectory'} is not JSON: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("trajectory"), list):
        raise TrajectoryFormatError(
            f"{name or 'trajectory'} is not a SWE-agent trajectory: expected a JSON object with a "
            "'trajectory' list of steps"
        )
    info = _mapping(data.get("info"))
    config = _mapping(data.get("replay_config"))
    stats = _mapping(info.get("model_stats"))
    raw_steps = [s for s in data["trajectory"] if isinstance(s, dict)]
    per_step = [_step_usage(s) for s in raw_steps]
    input_tokens = _int(stats.get("tokens_sent"))
    output_tokens = _int(stats.get("tokens_received"))
    cost = _float(stats.get("instance_cost", stats.get("total_cost")))
    steps: list[vcs.StepInput] = []
    if any(u is not None for u in per_step):
        steps = [_step(s, u, "step") for s, u in zip(raw_steps, per_step)]
        input_tokens = sum(s.input_tokens for s in steps)
        output_tokens = sum(s.output_tokens for s in steps)
        cost = sum(s.cost_usd for s in steps)
    else:
        last = len(raw_steps) - 1
        steps = [
            _step(s, (input_tokens, output_tokens, cost) if i == last else None,
                  "trajectory" if i == last else "none")
            for i, s in enumerate(raw_steps)
        ]
    exit_status = str(info.get("exit_status") or "")
    submission = info.get("submission")
    patch = submission if isinstance(submission, str) and submission.strip() else None
    task, instance_id = _problem_statement(data, config)
    succeeded = exit_status.startswith("submitted") and patch is not None
    metadata = {
        "format": "swe-agent",
        "source_agent": "swe-agent",
        "exit_status": exit_status,
        "api_calls": str(_int(stats.get("api_calls"))),
    }
    for key in ("environment",):
        if isinstance(data.get(key), str):
            metadata[key] = data[key]
    for key in ("swe_agent_version", "swe_agent_hash", "swe_rex_version"):
        if isinstance(info.get(key), str):
            metadata[key] = info[key]
    if instance_id:
        metadata["instance_id"] = instance_id
    if name:
        metadata["source"] = name
    agent_name = str(_mapping(config.get("agent")).get("name") or "")
    if agent_name:
        metadata["agent_config"] = agent_name
    session = TrajectorySession(
        agent="swe-agent",
        model=_model_name(config),
        task=_clip(task, 1024 * 1024),
        instance_id=instance_id,
        exit_status=exit_status,
        status=vcs.SessionStatus.SUCCEEDED if succeeded else vcs.SessionStatus.FAILED,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        api_calls=_int(stats.get("api_calls")),
        metadata=metadata,
    )
    return Trajectory(session, tuple(steps), patch)


def load_trajectory(path: Path) -> Trajectory:
    """Read and parse a ``.traj`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrajectoryFormatError(f"cannot read {path}: {exc.strerror}", reason="TRAJECTORY_UNREADABLE") from None
    return parse_trajectory(data, name=path.name)


def land_trajectory(
    store: vcs.Store,
    repository: str,
    trajectory: Trajectory,
    actor: vcs.Identity,
    *,
    base_revision: str = "",
    branch: str = "",
    land_patch: bool = True,
) -> LandedTrajectory:
    """Record ``trajectory`` as a session of ``repository`` (owned by ``actor``), and end it.

    The session starts at ``base_revision`` (default: the default branch's
    head). Every step is recorded; with ``land_patch`` and a submitted patch,
    the patch is applied to the base revision and lands as the commit of the
    last step (a patch that does not apply raises
    :class:`~query.errors.PatchDoesNotApply` before anything is written).
    """
    session_facts = trajectory.session
    changes: list[vcs.Change] | None = None
    if land_patch and trajectory.patch is not None:
        base = store.get_commit(repository, base_revision or "")
        base_revision = base.commit_id

        def read(path: str) -> vcs.FileContent | None:
            try:
                return store.read_file(repository, base.commit_id, path)
            except vcs.NotFound:
                return None

        changes = patch_changes(trajectory.patch, read)
    session = store.create_session(
        repository,
        actor,
        model=session_facts.model,
        task=session_facts.task,
        base_revision=base_revision,
        branch=branch,
        metadata=dict(session_facts.metadata),
    )
    steps: list[vcs.Step] = []
    commit: vcs.Commit | None = None
    inputs = list(trajectory.steps)
    last = inputs.pop() if changes else None
    for step_input in inputs:
        steps.append(store.record_step(repository, session.session_id, step_input, actor))
    if changes:
        title = f"Apply the patch submitted by {session_facts.agent}"
        if session_facts.instance_id:
            title += f" for {session_facts.instance_id}"
        result = store.commit(
            repository, session.branch_id, changes, title, actor,
            session_id=session.session_id,
            step=last or vcs.StepInput(action="submit", metadata={"usage_scope": "none"}),
        )
        commit = result.commit
        if result.step is not None:
            steps.append(result.step)
    ended = store.end_session(repository, session.session_id, session_facts.status, actor,
                              outcome=session_facts.exit_status)
    return LandedTrajectory(ended, tuple(steps), commit)
