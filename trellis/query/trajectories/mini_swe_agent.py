"""mini-swe-agent trajectories (``.traj.json``): https://mini-swe-agent.com/latest/usage/output_files/

One JSON object: ``trajectory_format`` (``mini-swe-agent-1``, ``-1.1``...),
``info`` (``exit_status``, ``submission`` — the patch —, ``model_stats`` with
``instance_cost`` and ``api_calls``, ``config`` with the model's name,
``mini_version``) and ``messages``, the whole chat in OpenAI's format, each
message with an optional ``extra`` (the model's ``response`` with its
``usage``, the call's ``cost``, a ``timestamp``).

A step is an assistant message: the text before its bash code block is the
thought, the block the action (with tool-calling models, each of its
``tool_calls``), and the next ``user`` or ``tool`` message the observation.
The first user message is the task.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from trellis import vcs

from .model import (
    Trajectory,
    Usage,
    as_float,
    as_int,
    as_mapping,
    attribute_run_totals,
    clip,
    iso_time,
    session,
    step_input,
    text_of,
)

__all__ = ["looks_like_mini_swe_agent", "parse_mini_swe_agent"]

_BLOCK = re.compile(r"```(?:bash|sh|shell)?\s*\n(.*?)\n?```", re.DOTALL)


def looks_like_mini_swe_agent(data: Any) -> bool:
    return isinstance(data, dict) and (
        str(data.get("trajectory_format", "")).startswith("mini-swe-agent")
        or (isinstance(data.get("messages"), list) and "mini_version" in as_mapping(data.get("info")))
    )


def _usage(extra: Mapping[str, Any]) -> Usage:
    usage = as_mapping(as_mapping(extra.get("response")).get("usage"))
    details = as_mapping(usage.get("prompt_tokens_details"))
    return Usage(
        as_int(usage.get("prompt_tokens")),
        as_int(usage.get("completion_tokens")),
        as_float(extra.get("cost")),
        as_int(details.get("cached_tokens") or usage.get("cache_read_input_tokens")),
    )


def _task(text: str) -> str:
    for open_tag, close_tag in (("<pr_description>", "</pr_description>"), ("<task>", "</task>")):
        if open_tag in text:
            return text.split(open_tag, 1)[1].split(close_tag, 1)[0].strip()
    return text.strip()


def parse_mini_swe_agent(data: Mapping[str, Any], *, name: str = "") -> Trajectory:
    info = as_mapping(data.get("info"))
    config = as_mapping(info.get("config"))
    stats = as_mapping(info.get("model_stats"))
    messages = [m for m in data.get("messages") or [] if isinstance(m, dict)]
    task = ""
    steps: list[vcs.StepInput] = []
    pending: list[int] = []  # steps waiting for their observation (tool calls answer one each)
    for message in messages:
        role = message.get("role")
        content = text_of(message.get("content"))
        extra = as_mapping(message.get("extra"))
        when = iso_time(extra.get("timestamp") or message.get("timestamp"))
        if role == "user" and not task and not steps:
            task = _task(content)
            continue
        if role == "assistant":
            usage = _usage(extra)
            calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
            thought = text_of(message.get("reasoning_content")) or ""
            if calls:
                pending = []
                for i, call in enumerate(calls):
                    function = as_mapping(call.get("function"))
                    arguments = as_mapping(function.get("arguments"))
                    command = str(arguments.get("command", "")) if arguments else ""
                    steps.append(
                        step_input(
                            thought="\n".join(t for t in (thought, content) if t),
                            action=command or str(function.get("name", "")),
                            arguments=function.get("arguments"),
                            usage=usage if i == 0 else None,
                            timestamp=when,
                            metadata={"tool_call_id": str(call.get("id", "")), "tool": str(function.get("name", ""))},
                        )
                    )
                    pending.append(len(steps) - 1)
            else:
                blocks = list(_BLOCK.finditer(content))
                action = blocks[-1].group(1) if blocks else ""
                before = content[: blocks[-1].start()] if blocks else content
                thought = "\n".join(t for t in (thought, before.strip()) if t)
                steps.append(
                    step_input(
                        thought=thought,
                        action=action,
                        usage=usage,
                        timestamp=when,
                        metadata={"response": content} if not blocks else None,
                    )
                )
                pending = [len(steps) - 1]
        elif role in ("user", "tool") and pending:
            index = pending.pop(0)
            if role == "tool":
                call_id = str(message.get("tool_call_id", ""))
                matching = [i for i in [index, *pending] if steps[i].metadata.get("tool_call_id") == call_id]
                if matching and matching[0] != index:
                    pending.insert(0, index)
                    pending.remove(matching[0])
                    index = matching[0]
            steps[index] = dataclasses.replace(steps[index], observation=clip(content))
    steps = attribute_run_totals(steps, Usage(cost_usd=as_float(stats.get("instance_cost"))))
    exit_status = str(info.get("exit_status") or "")
    submission = info.get("submission")
    patch = submission if isinstance(submission, str) and submission.strip() else None
    model = as_mapping(config.get("model"))
    return Trajectory(
        session(
            fmt="mini-swe-agent",
            agent="mini-swe-agent",
            steps=steps,
            model=str(model.get("model_name") or model.get("name") or ""),
            task=task,
            instance_id=str(data.get("instance_id") or ""),
            exit_status=exit_status,
            succeeded=exit_status.lower() == "submitted" and patch is not None,
            api_calls=as_int(stats.get("api_calls")),
            metadata={
                "trajectory_format": data.get("trajectory_format", ""),
                "mini_version": info.get("mini_version", ""),
                "api_calls": as_int(stats.get("api_calls")),
            },
        ),
        tuple(steps),
        patch,
    )
