"""SWE-agent trajectories (``.traj`` files): https://swe-agent.com/latest/usage/trajectories/

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

A history-only file (a demonstration: ``history`` but no ``trajectory``
steps) is read from its messages: each assistant message is a step (its
``thought`` and ``action`` fields, or its text and the command in its last
code block), the tool or user message after it the observation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from trellis import vcs

from ..errors import TrajectoryFormatError
from .model import Trajectory, TrajectorySession
from .model import as_float as _float
from .model import as_int as _int
from .model import as_mapping as _mapping
from .model import clip as _clip
from .model import text_of as _text

__all__ = ["looks_like_swe_agent", "parse_swe_agent"]


def looks_like_swe_agent(data: Any) -> bool:
    return isinstance(data, dict) and (
        isinstance(data.get("trajectory"), list)
        or (isinstance(data.get("history"), list) and any(isinstance(m, dict) and "role" in m for m in data["history"]))
    )


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


_CODE_BLOCK = re.compile(r"```[a-zA-Z0-9_-]*\n(.*?)```", re.DOTALL)


def _steps_from_history(history: list[Any]) -> list[dict[str, Any]]:
    """Trajectory steps rebuilt from chat messages: an assistant message, then the observation that answers it."""
    messages = [m for m in history if isinstance(m, dict)]
    live = [m for m in messages if not m.get("is_demo")]
    messages = live if any(m.get("role") == "assistant" for m in live) else messages
    steps: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role == "assistant":
            content = _text(message.get("content"))
            action = message.get("action")
            thought = message.get("thought")
            if action is None:
                blocks = list(_CODE_BLOCK.finditer(content))
                action = blocks[-1].group(1) if blocks else ""
                thought = content[: blocks[-1].start()].strip() if blocks else content
            steps.append(
                {
                    "thought": thought if thought is not None else content,
                    "action": action,
                    "response": content,
                    "observation": "",
                }
            )
        elif (
            role in ("user", "tool")
            and steps
            and not steps[-1]["observation"]
            and (message.get("message_type") in (None, "observation"))
        ):
            steps[-1]["observation"] = _text(message.get("content"))
    return steps


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


def parse_swe_agent(data: Mapping[str, Any], *, name: str = "") -> Trajectory:
    """A SWE-agent trajectory (the parsed JSON) as session facts, steps and patch."""
    if not looks_like_swe_agent(data):
        raise TrajectoryFormatError(
            f"{name or 'trajectory'} is not a SWE-agent trajectory: expected a JSON object with a "
            "'trajectory' list of steps or a 'history' of messages"
        )
    raw_trajectory = [s for s in data.get("trajectory") or [] if isinstance(s, dict)]
    if not raw_trajectory:
        data = {**data, "trajectory": _steps_from_history(data.get("history") or [])}
    info = _mapping(data.get("info"))
    config = _mapping(data.get("replay_config"))
    stats = _mapping(info.get("model_stats"))
    raw_steps = [s for s in data["trajectory"] if isinstance(s, dict)]
    history_only = not raw_trajectory
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
            _step(s, (input_tokens, output_tokens, cost) if i == last else None, "trajectory" if i == last else "none")
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
    if history_only:
        metadata["history_only"] = "true"
    for key in ("environment",):
        if isinstance(data.get(key), str):
            metadata[key] = data[key]
    for key in ("swe_agent_version", "swe_agent_hash", "swe_rex_version"):
        if isinstance(info.get(key), str):
            metadata[key] = info[key]
    if instance_id:
        metadata["instance_id"] = instance_id
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
