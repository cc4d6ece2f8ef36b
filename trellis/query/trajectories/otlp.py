"""A session as OpenTelemetry GenAI spans, in the OTLP JSON encoding (``ExportTraceServiceRequest``).

Following the GenAI semantic conventions
(https://opentelemetry.io/docs/specs/semconv/gen-ai/): one trace per session
(its id derived from the session id, so exporting twice gives the same
trace), a root span ``invoke_agent <agent>`` (``gen_ai.operation.name`` =
``invoke_agent``, ``gen_ai.agent.name``, ``gen_ai.conversation.id``, the
session's token totals), and per step a ``chat <model>`` span (the model call:
``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` /
``output_tokens``) with, when the step acted, an ``execute_tool <action>``
child (``gen_ai.tool.name``, ``gen_ai.tool.call.id``,
``gen_ai.tool.call.arguments``). Trellis' own facts are ``trellis.*``
attributes (step index, commit, cost). A step's span ends at its recorded
time and lasts its ``latency_ms``.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterable
from typing import Any

from trellis import vcs

__all__ = ["to_otlp"]

_INTERNAL, _CLIENT = 1, 3
_OK, _ERROR = 1, 2


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 is a string in protobuf's JSON mapping
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attributes(pairs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in pairs.items() if v not in (None, "")]


def _id(*parts: object, size: int) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[: size * 2]


def _nanos(seconds: float) -> str:
    return str(int(seconds * 1_000_000_000))


def _step_time(step: vcs.Step) -> float:
    stamp = step.input.metadata.get("timestamp", "")
    if stamp:
        try:
            return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return step.create_time


def to_otlp(repository: str, session: vcs.Session, steps: Iterable[vcs.Step]) -> dict[str, Any]:
    """The OTLP/JSON document of ``session``'s spans (write it with ``json.dumps``)."""
    trace_id = _id(repository, session.session_id, size=16)
    root_id = _id(trace_id, "root", size=8)
    spans: list[dict[str, Any]] = []
    step_list = list(steps)
    model = session.model
    times = [_step_time(s) for s in step_list]
    if any("timestamp" in s.input.metadata for s in step_list):  # imported: the run's own times, not the import's
        start_of_session, end_of_session = min(times), max(times)
    else:
        start_of_session = min([session.create_time, *times])
        end_of_session = max([session.end_time or session.create_time, *times])
    for step in step_list:
        end = _step_time(step)
        start = end - step.input.latency_ms / 1000 if step.input.latency_ms else end
        chat_id = _id(trace_id, "chat", step.index, size=8)
        step_model = step.input.metadata.get("model") or model
        spans.append(
            {
                "traceId": trace_id,
                "spanId": chat_id,
                "parentSpanId": root_id,
                "name": f"chat {step_model}".strip(),
                "kind": _CLIENT,
                "startTimeUnixNano": _nanos(start),
                "endTimeUnixNano": _nanos(end),
                "attributes": _attributes(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": step_model,
                        "gen_ai.conversation.id": session.session_id,
                        "gen_ai.usage.input_tokens": step.input.input_tokens,
                        "gen_ai.usage.output_tokens": step.input.output_tokens,
                        "trellis.step.index": step.index,
                        "trellis.step.cost_usd": step.input.cost_usd,
                        "trellis.step.thought": step.input.thought[:4096],
                        "trellis.step.redactions": int(step.input.metadata.get("redactions", "0") or 0) or None,
                    }
                ),
                "status": {"code": _OK},
            }
        )
        if step.input.action and step.input.action != "message":
            spans.append(
                {
                    "traceId": trace_id,
                    "spanId": _id(trace_id, "tool", step.index, size=8),
                    "parentSpanId": chat_id,
                    "name": f"execute_tool {step.input.action.splitlines()[0][:80]}",
                    "kind": _INTERNAL,
                    "startTimeUnixNano": _nanos(start),
                    "endTimeUnixNano": _nanos(end),
                    "attributes": _attributes(
                        {
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": step.input.action[:1024],
                            "gen_ai.tool.call.id": step.input.metadata.get("tool_call_id")
                            or step.input.metadata.get("tool_use_id")
                            or step.input.metadata.get("call_id"),
                            "gen_ai.tool.call.arguments": step.input.arguments_json[:16384],
                            "gen_ai.tool.call.result": step.input.observation[:16384],
                            "trellis.commit_id": step.commit_id,
                        }
                    ),
                    "status": {"code": _ERROR if step.input.metadata.get("is_error") == "true" else _OK},
                }
            )
    root = {
        "traceId": trace_id,
        "spanId": root_id,
        "name": f"invoke_agent {session.agent}",
        "kind": _INTERNAL,
        "startTimeUnixNano": _nanos(start_of_session),
        "endTimeUnixNano": _nanos(end_of_session),
        "attributes": _attributes(
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": session.agent,
                "gen_ai.agent.id": session.session_id,
                "gen_ai.conversation.id": session.session_id,
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": session.input_tokens,
                "gen_ai.usage.output_tokens": session.output_tokens,
                "trellis.repository": repository,
                "trellis.session.status": session.status.value,
                "trellis.session.cost_usd": session.cost_usd,
                "trellis.session.task": session.task[:4096],
                "trellis.session.outcome": session.outcome,
                "trellis.session.format": session.metadata.get("format"),
            }
        ),
        "status": {"code": _ERROR if session.status is vcs.SessionStatus.FAILED else _OK},
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes({"service.name": "trellis"})},
                "scopeSpans": [{"scope": {"name": "trellis.sessions"}, "spans": [root, *spans]}],
            }
        ]
    }
