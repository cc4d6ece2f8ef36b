"""ATIF, the Agent Trajectory Interchange Format (v1.x): https://harborframework.com/docs/trajectory-format

One JSON object: ``schema_version`` (``ATIF-v1.0`` … ``ATIF-v1.5``),
``session_id``, ``agent`` (``name``, ``version``, ``model_name``), ``steps``
and optional ``final_metrics``, ``notes``, ``extra``. A step has
``step_id``, ``timestamp``, ``source`` (``system``, ``user``, ``agent``),
``message``, and for agent steps ``model_name``, ``reasoning_content``,
``tool_calls`` (``tool_call_id``, ``function_name``, ``arguments``),
``observation.results`` (``source_call_id``, ``content``) and ``metrics``
(``prompt_tokens`` — cached included —, ``completion_tokens``,
``cached_tokens``, ``cost_usd``).

Reading: each agent step is one Trellis step — ``reasoning_content`` (else
the message) the thought, the message in ``metadata["message"]`` when both
are there, the function name(s) the action, the arguments (a list of
``{tool_call_id, function_name, arguments}`` for several calls) the
arguments, the results' content the observation. The first user step is the
task, later user steps are steps with ``source`` ``user`` (their message the
observation); system steps are counted in ``metadata["system_steps"]``.

Writing (:func:`to_atif`): the session's task as step 1 (``user``), then one
agent step per Trellis step, the inverse of the above, with the step's
commit, index and metadata under ``extra.trellis``.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from typing import Any

from trellis import vcs

from .model import (
    Trajectory,
    Usage,
    as_float,
    as_int,
    as_mapping,
    attribute_run_totals,
    iso_time,
    session,
    step_input,
    text_of,
)

__all__ = ["ATIF_VERSION", "looks_like_atif", "parse_atif", "to_atif"]

ATIF_VERSION = "ATIF-v1.4"


def looks_like_atif(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and str(data.get("schema_version", "")).startswith("ATIF-v1")
        and isinstance(data.get("steps"), list)
    )


def _arguments(calls: list[dict[str, Any]]) -> Any:
    if len(calls) == 1:
        return calls[0].get("arguments") if calls[0].get("arguments") not in (None, {}) else None
    return [
        {
            "tool_call_id": c.get("tool_call_id"),
            "function_name": c.get("function_name"),
            "arguments": c.get("arguments"),
        }
        for c in calls
    ] or None


def parse_atif(data: Mapping[str, Any], *, name: str = "") -> Trajectory:
    agent = as_mapping(data.get("agent"))
    task = ""
    system_steps = 0
    steps: list[vcs.StepInput] = []
    for raw in data.get("steps") or []:
        if not isinstance(raw, dict):
            continue
        source = raw.get("source")
        message = text_of(raw.get("message"))
        when = iso_time(raw.get("timestamp"))
        if source == "system":
            system_steps += 1
            continue
        if source == "user":
            if not task and not steps:
                task = message
            else:
                steps.append(
                    step_input(
                        observation=message,
                        timestamp=when,
                        metadata={"source": "user", "step_id": str(raw.get("step_id", ""))},
                    )
                )
            continue
        calls = [c for c in raw.get("tool_calls") or [] if isinstance(c, dict)]
        results = [r for r in as_mapping(raw.get("observation")).get("results") or [] if isinstance(r, dict)]
        metrics = as_mapping(raw.get("metrics"))
        reasoning = text_of(raw.get("reasoning_content"))
        subagents = [
            str(ref.get("session_id"))
            for r in results
            for ref in r.get("subagent_trajectory_ref") or []
            if isinstance(ref, dict)
        ]
        steps.append(
            step_input(
                thought=reasoning or message,
                action=", ".join(str(c.get("function_name") or "") for c in calls) if calls else "message",
                arguments=_arguments(calls),
                observation="\n".join(text_of(r.get("content")) for r in results if r.get("content") is not None),
                usage=Usage(
                    as_int(metrics.get("prompt_tokens")),
                    as_int(metrics.get("completion_tokens")),
                    as_float(metrics.get("cost_usd")),
                    as_int(metrics.get("cached_tokens")),
                ),
                timestamp=when,
                metadata={
                    "message": message if reasoning else "",
                    "step_id": str(raw.get("step_id", "")),
                    "model": str(raw.get("model_name") or ""),
                    "tool_call_id": ",".join(str(c.get("tool_call_id") or "") for c in calls),
                    "subagent_sessions": ",".join(subagents),
                },
            )
        )
    final = as_mapping(data.get("final_metrics"))
    if not any(s.input_tokens or s.output_tokens or s.cost_usd for s in steps):
        steps = attribute_run_totals(
            steps,
            Usage(
                as_int(final.get("total_prompt_tokens")),
                as_int(final.get("total_completion_tokens")),
                as_float(final.get("total_cost_usd")),
                as_int(final.get("total_cached_tokens")),
            ),
        )
    extra = as_mapping(data.get("extra"))
    return Trajectory(
        session(
            fmt="atif",
            agent=str(agent.get("name") or "atif"),
            steps=steps,
            model=str(agent.get("model_name") or ""),
            task=task,
            instance_id=str(extra.get("instance_id") or ""),
            succeeded=bool(steps),
            metadata={
                "session_id": data.get("session_id", ""),
                "schema_version": data.get("schema_version", ""),
                "agent_version": agent.get("version", ""),
                "notes": data.get("notes", ""),
                "system_steps": system_steps or "",
            },
        ),
        tuple(steps),
        None,
    )


def _timestamp(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")


def _tool_calls(step: vcs.Step) -> list[dict[str, Any]]:
    if not step.input.action or step.input.action == "message":
        return []
    try:
        arguments: Any = json.loads(step.input.arguments_json) if step.input.arguments_json else {}
    except ValueError:
        arguments = {"input": step.input.arguments_json}
    if isinstance(arguments, list) and all(isinstance(a, dict) and "function_name" in a for a in arguments):
        return [
            {
                "tool_call_id": str(a.get("tool_call_id") or f"call_{step.index}_{i}"),
                "function_name": str(a["function_name"]),
                "arguments": as_mapping(a.get("arguments")),
            }
            for i, a in enumerate(arguments)
        ]
    if not isinstance(arguments, dict):
        arguments = {"input": arguments}
    call_id = step.input.metadata.get("tool_call_id") or step.input.metadata.get("tool_use_id") or f"call_{step.index}"
    return [{"tool_call_id": call_id, "function_name": step.input.action, "arguments": arguments}]


def to_atif(session_value: vcs.Session, steps: Iterable[vcs.Step]) -> dict[str, Any]:
    """A session and its steps as an ATIF document (a dict ready for ``json.dumps``)."""
    out_steps: list[dict[str, Any]] = []
    if session_value.task:
        out_steps.append(
            {
                "step_id": 1,
                "timestamp": _timestamp(session_value.create_time),
                "source": "user",
                "message": session_value.task,
            }
        )
    totals = Usage()
    cached = 0
    for step in steps:
        source = step.input.metadata.get("source")
        entry: dict[str, Any] = {
            "step_id": len(out_steps) + 1,
            "timestamp": step.input.metadata.get("timestamp") or _timestamp(step.create_time),
        }
        if source == "user":
            entry.update(source="user", message=step.input.observation)
        else:
            message = step.input.metadata.get("message", "")
            # Read back, an agent step's thought is its reasoning, else its message: keep that a round trip.
            entry.update(source="agent", message=message if message and step.input.thought else "")
            model = step.input.metadata.get("model") or session_value.model
            if model:
                entry["model_name"] = model
            if step.input.thought:
                entry["reasoning_content"] = step.input.thought
            calls = _tool_calls(step)
            if calls:
                entry["tool_calls"] = calls
            if step.input.observation:
                entry["observation"] = {
                    "results": [
                        {
                            "source_call_id": calls[0]["tool_call_id"] if len(calls) == 1 else None,
                            "content": step.input.observation,
                        }
                    ]
                }
            step_cached = as_int(step.input.metadata.get("cached_tokens"))
            cached += step_cached
            metrics = {
                k: v
                for k, v in (
                    ("prompt_tokens", step.input.input_tokens),
                    ("completion_tokens", step.input.output_tokens),
                    ("cached_tokens", step_cached),
                    ("cost_usd", step.input.cost_usd),
                )
                if v
            }
            if metrics:
                entry["metrics"] = metrics
        totals = totals + Usage(step.input.input_tokens, step.input.output_tokens, step.input.cost_usd)
        entry["extra"] = {
            "trellis": {
                "index": step.index,
                "commit_id": step.commit_id or None,
                "latency_ms": step.input.latency_ms or None,
                "metadata": dict(step.input.metadata),
            }
        }
        out_steps.append({k: v for k, v in entry.items() if v is not None})
    metadata = session_value.metadata
    return {
        "schema_version": ATIF_VERSION,
        "session_id": session_value.session_id,
        "agent": {
            "name": metadata.get("source_agent") or session_value.agent,
            "version": metadata.get("agent_version")
            or metadata.get("claude_code_version")
            or metadata.get("codex_version")
            or metadata.get("swe_agent_version")
            or metadata.get("mini_version")
            or "unknown",
            **({"model_name": session_value.model} if session_value.model else {}),
        },
        "steps": out_steps,
        "final_metrics": {
            "total_prompt_tokens": totals.input_tokens,
            "total_completion_tokens": totals.output_tokens,
            "total_cached_tokens": cached,
            "total_cost_usd": totals.cost_usd,
            "total_steps": len(out_steps),
        },
        "extra": {
            "trellis": {
                "agent": session_value.agent,
                "status": session_value.status.value,
                "outcome": session_value.outcome,
                "branch": session_value.branch_id,
                "base_commit_id": session_value.base_commit_id,
                "metadata": dict(metadata),
            }
        },
    }
