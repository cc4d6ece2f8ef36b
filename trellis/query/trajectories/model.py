"""What every trajectory format is read into, and the helpers the readers share.

A reader turns one file's content into a :class:`Trajectory`: the session's
facts (agent, model, task, status, totals, and in ``metadata`` the format and
the format's own ids), the steps as :class:`trellis.vcs.StepInput`, and the submitted
patch if the run produced one. Readers never raise on a missing optional
field; they raise :class:`~trellis.query.errors.TrajectoryFormatError` when the
content is not what they read.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trellis import vcs

__all__ = [
    "MAX_FIELD_CHARS",
    "Trajectory",
    "TrajectorySession",
    "Usage",
    "as_float",
    "as_int",
    "as_mapping",
    "clip",
    "iso_time",
    "json_text",
    "text_of",
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

    @property
    def format(self) -> str:
        return self.session.metadata.get("format", "")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and cost of one model call (input tokens include cached ones, as ATIF counts them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
            self.cached_tokens + other.cached_tokens,
        )

    def __bool__(self) -> bool:
        return bool(self.input_tokens or self.output_tokens or self.cost_usd or self.cached_tokens)


def clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + _TRUNCATED


def text_of(value: Any) -> str:
    """Message content as text: strings, or lists of ``{"type": "text", "text": …}`` parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(text_of(part.get("text") if isinstance(part, dict) else part) for part in value)
    if isinstance(value, dict) and "text" in value:
        return text_of(value["text"])
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def json_text(value: Any) -> str:
    """Tool-call arguments as a JSON document ("" for none); a JSON string given as text is kept as is."""
    if value is None or value == {} or value == "":
        return ""
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps({"input": value}, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def as_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if 0 <= number < float("inf") else 0.0


def as_mapping(value: Any) -> dict[str, Any]:
    """A JSON object, or a JSON object serialised as a string; {} otherwise."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def iso_time(value: Any) -> str:
    """A timestamp (ISO 8601 text, or seconds / milliseconds since the epoch) as ISO 8601 UTC; "" if none."""
    if isinstance(value, bool) or value in (None, ""):
        return ""
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        try:
            return datetime.datetime.fromtimestamp(seconds, datetime.UTC).isoformat().replace("+00:00", "Z")
        except (OverflowError, OSError, ValueError):
            return ""
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return ""


def seconds_between(start: str, end: str) -> float | None:
    if not start or not end:
        return None
    delta = (
        datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
        - datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()
    return delta if delta >= 0 else None


def step_input(
    *,
    thought: str = "",
    action: str = "",
    arguments: Any = None,
    observation: str = "",
    usage: Usage | None = None,
    latency_ms: int = 0,
    metadata: Mapping[str, str] | None = None,
    timestamp: str = "",
) -> vcs.StepInput:
    """A step with its text clipped, its usage spread over the fields and its time in ``metadata["timestamp"]``."""
    usage = usage or Usage()
    meta = {k: clip(v, 4096) for k, v in (metadata or {}).items() if v != ""}
    if usage.cached_tokens:
        meta["cached_tokens"] = str(usage.cached_tokens)
    if timestamp:
        meta["timestamp"] = timestamp
    return vcs.StepInput(
        thought=clip(thought),
        action=clip(action.strip(), 64 * 1024),
        arguments_json=clip(json_text(arguments)),
        observation=clip(observation),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        latency_ms=latency_ms,
        metadata=meta,
    )


def totals(steps: tuple[vcs.StepInput, ...] | list[vcs.StepInput]) -> Usage:
    return Usage(
        sum(s.input_tokens for s in steps), sum(s.output_tokens for s in steps), sum(s.cost_usd for s in steps)
    )


def session(
    *,
    fmt: str,
    agent: str,
    steps: list[vcs.StepInput],
    model: str = "",
    task: str = "",
    instance_id: str = "",
    exit_status: str = "",
    succeeded: bool = False,
    api_calls: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> TrajectorySession:
    """The session facts of a run: totals are the sums over ``steps``, ``metadata`` keeps non-empty text values."""
    total = totals(steps)
    meta = {"format": fmt, "source_agent": agent}
    for key, value in (metadata or {}).items():
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value) != "":
            meta[key] = clip(str(value), 4096)
    if instance_id:
        meta["instance_id"] = instance_id
    if exit_status:
        meta["exit_status"] = exit_status
    return TrajectorySession(
        agent=agent,
        model=model,
        task=clip(task.strip(), 1024 * 1024),
        instance_id=instance_id,
        exit_status=exit_status,
        status=vcs.SessionStatus.SUCCEEDED if succeeded else vcs.SessionStatus.FAILED,
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        cost_usd=total.cost_usd,
        api_calls=api_calls,
        metadata=meta,
    )


def attribute_run_totals(steps: list[vcs.StepInput], run: Usage) -> list[vcs.StepInput]:
    """Per-run totals on the last step (``usage_scope`` = ``trajectory``) when no step has its own usage."""
    if not steps or any(s.input_tokens or s.output_tokens or s.cost_usd for s in steps) or not run:
        return steps
    last = steps[-1]
    meta = {**last.metadata, "usage_scope": "trajectory"}
    if run.cached_tokens:
        meta["cached_tokens"] = str(run.cached_tokens)
    return [
        *steps[:-1],
        vcs.StepInput(
            thought=last.thought,
            action=last.action,
            arguments_json=last.arguments_json,
            observation=last.observation,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cost_usd=run.cost_usd,
            latency_ms=last.latency_ms,
            metadata=meta,
        ),
    ]
