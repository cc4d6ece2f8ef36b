"""OpenHands event streams: https://docs.all-hands.dev/ (events as ``openhands.events.serialization`` writes them)

A list of events — a JSON array (``--save-trajectory-path``), JSON lines, or
an evaluation record (``{"instance_id", "history": [events], "test_result":
{"git_patch"}, "metrics"}``). An event has ``id``, ``timestamp``, ``source``
(``user``, ``agent``, ``environment``), ``message`` and either ``action``
with ``args`` or ``observation`` with ``content``, ``extras`` and ``cause``
(the id of the action it answers). Agent actions carry
``tool_call_metadata`` (the model's ``model_response`` with its ``usage``)
and ``llm_metrics`` (running totals: ``accumulated_cost``).

A step is an agent action other than ``system``: ``args.thought`` (or the
message text) is the thought, the command / path / tool name the action,
``args`` the arguments, and the observation whose ``cause`` is the action's
id the observation. Usage comes from the model response (once per response,
however many actions it made), cost from the growth of ``accumulated_cost``.
The first user message is the task.
"""

from __future__ import annotations

import dataclasses
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

__all__ = ["looks_like_openhands", "parse_openhands"]

_SKIPPED_ACTIONS = {"system", "change_agent_state", "recall", "null"}


def _is_event(value: Any) -> bool:
    return isinstance(value, dict) and ("action" in value or "observation" in value) and "source" in value


def events_of(data: Any) -> list[dict[str, Any]] | None:
    """The events of ``data`` if it is an OpenHands event stream, else None."""
    if isinstance(data, list) and data and any(_is_event(e) for e in data[:5]):
        return [e for e in data if isinstance(e, dict)]
    if (
        isinstance(data, dict)
        and isinstance(data.get("history"), list)
        and any(_is_event(e) for e in data["history"][:5])
    ):
        return [e for e in data["history"] if isinstance(e, dict)]
    return None


def looks_like_openhands(data: Any) -> bool:
    return events_of(data) is not None


def _action_text(action: str, args: Mapping[str, Any]) -> str:
    for key in ("command", "code"):
        if args.get(key):
            return str(args[key])
    if args.get("path"):
        return f"{action} {args['path']}"
    if action == "call_tool_mcp" and args.get("name"):
        return str(args["name"])
    return action


def parse_openhands(data: Any, *, name: str = "") -> Trajectory:
    events = events_of(data) or []
    record = data if isinstance(data, dict) else {}
    task = ""
    steps: list[vcs.StepInput] = []
    by_action: dict[Any, int] = {}
    seen_responses: set[str] = set()
    cost_so_far = 0.0
    model = ""
    finished = ""
    for event in events:
        when = iso_time(event.get("timestamp"))
        if "action" in event:
            action = str(event.get("action") or "")
            args = as_mapping(event.get("args"))
            source = event.get("source")
            if source == "user":
                if action == "message" and not task:
                    task = text_of(args.get("content")) or text_of(event.get("message"))
                continue
            if source != "agent" or action in _SKIPPED_ACTIONS:
                continue
            metadata = as_mapping(event.get("tool_call_metadata"))
            response = as_mapping(metadata.get("model_response"))
            usage = Usage()
            response_id = str(response.get("id", ""))
            if response and response_id not in seen_responses:
                seen_responses.add(response_id)
                raw = as_mapping(response.get("usage"))
                details = as_mapping(raw.get("prompt_tokens_details"))
                usage = Usage(
                    as_int(raw.get("prompt_tokens")),
                    as_int(raw.get("completion_tokens")),
                    cached_tokens=as_int(details.get("cached_tokens")),
                )
            model = model or str(response.get("model") or "")
            metrics = as_mapping(event.get("llm_metrics"))
            if "accumulated_cost" in metrics:
                total = as_float(metrics.get("accumulated_cost"))
                usage = dataclasses.replace(usage, cost_usd=max(0.0, total - cost_so_far))
                cost_so_far = max(cost_so_far, total)
                model = model or str(as_mapping(metrics.get("accumulated_token_usage")).get("model") or "")
            if action == "finish":
                finished = text_of(args.get("final_thought") or args.get("outputs") or event.get("message")) or "finish"
            thought = text_of(args.get("thought")) or (text_of(args.get("content")) if action == "message" else "")
            steps.append(
                step_input(
                    thought=thought,
                    action=_action_text(action, args),
                    arguments={k: v for k, v in args.items() if k not in ("thought", "content")} or None,
                    usage=usage,
                    timestamp=when,
                    metadata={
                        "event_id": str(event.get("id", "")),
                        "openhands_action": action,
                        "tool_call_id": str(metadata.get("tool_call_id", "")),
                        "message": text_of(event.get("message")),
                    },
                )
            )
            by_action[event.get("id")] = len(steps) - 1
        elif "observation" in event and event.get("cause") in by_action:
            index = by_action[event["cause"]]
            content = text_of(event.get("content"))
            prior = steps[index].observation
            steps[index] = dataclasses.replace(
                steps[index], observation=clip(f"{prior}\n{content}" if prior else content)
            )
    patch = as_mapping(record.get("test_result")).get("git_patch")
    patch = patch if isinstance(patch, str) and patch.strip() else None
    metrics = as_mapping(record.get("metrics"))
    if not cost_so_far and as_float(metrics.get("accumulated_cost")) and steps:
        steps = attribute_run_totals(steps, Usage(cost_usd=as_float(metrics.get("accumulated_cost"))))
    metadata_record = as_mapping(record.get("metadata"))
    return Trajectory(
        session(
            fmt="openhands",
            agent="openhands",
            steps=steps,
            model=model or str(as_mapping(metadata_record.get("llm_config")).get("model") or ""),
            task=task or text_of(record.get("instruction")),
            instance_id=str(record.get("instance_id") or ""),
            exit_status="finished" if finished else "",
            succeeded=bool(finished),
            api_calls=len(seen_responses),
            metadata={
                "agent_class": metadata_record.get("agent_class", ""),
                "outcome": clip(finished, 4096),
                "started_at": iso_time(events[0].get("timestamp")) if events else "",
                "ended_at": iso_time(events[-1].get("timestamp")) if events else "",
            },
        ),
        tuple(steps),
        patch,
    )
