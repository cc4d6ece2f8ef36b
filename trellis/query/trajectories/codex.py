"""Codex CLI rollouts: ``~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl``

One JSON object per line, ``{"timestamp", "type", "payload"}``:
``session_meta`` (``id``, ``cwd``, ``cli_version``, ``originator``, ``git``),
``turn_context`` (``model``, ``cwd``, ``approval_policy``...),
``response_item`` (the OpenAI Responses API items: ``message`` with
``role`` and ``input_text`` / ``output_text`` parts, ``reasoning`` with its
``summary``, ``function_call`` with ``name``, ``arguments`` (JSON text) and
``call_id``, ``function_call_output`` with ``call_id`` and ``output``,
``custom_tool_call`` / ``custom_tool_call_output``, ``local_shell_call``)
and ``event_msg`` (``token_count`` with ``info.last_token_usage`` —
``input_tokens`` including ``cached_input_tokens``, ``output_tokens`` —,
``user_message``, ``agent_message``...). Older rollouts start with a bare
``{"id", "timestamp", "instructions"}`` line followed by bare response items;
both are read.

A step is a tool call: the reasoning summary and assistant text before it are
its thought, the tool's name (or a shell command line) the action, its
arguments the arguments, and the output with the same ``call_id`` the
observation. Assistant text with no call after it is a ``message`` step.
Each ``token_count``'s last usage goes to the steps of the model call it
follows (on the first of them). The first user message that is not
environment context or instructions is the task.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trellis import vcs

from .model import Trajectory, Usage, as_int, as_mapping, clip, iso_time, session, step_input, text_of

__all__ = ["looks_like_codex", "parse_codex"]

_CALLS = {"function_call", "custom_tool_call", "local_shell_call"}
_OUTPUTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}
_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md", "<INSTRUCTIONS>")


def looks_like_codex(lines: list[Any]) -> bool:
    head = [line for line in lines[:5] if isinstance(line, dict)]
    return any(line.get("type") == "session_meta" and isinstance(line.get("payload"), dict) for line in head) or (
        bool(head)
        and "instructions" in head[0]
        and "id" in head[0]
        and "timestamp" in head[0]
        and any(
            isinstance(line, dict) and line.get("type") in ("message", "reasoning", *_CALLS) for line in lines[1:10]
        )
    )


def _records(lines: list[Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(timestamp, type, payload) of each line, bare old-style items as ``response_item``."""
    records: list[tuple[str, str, dict[str, Any]]] = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            continue
        if isinstance(line.get("payload"), dict) and isinstance(line.get("type"), str):
            records.append((iso_time(line.get("timestamp")), line["type"], line["payload"]))
        elif index == 0 and "instructions" in line:
            records.append((iso_time(line.get("timestamp")), "session_meta", line))
        elif line.get("record_type") != "state" and "type" in line:
            records.append(("", "response_item", line))
    return records


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        parsed = as_mapping(output)
        if "output" in parsed:
            return text_of(parsed["output"])
        return output
    return text_of(output)


def parse_codex(lines: list[Any], *, name: str = "") -> Trajectory:
    task = ""
    model = ""
    meta: dict[str, Any] = {}
    steps: list[vcs.StepInput] = []
    by_call: dict[str, int] = {}
    thoughts: list[str] = []
    unbilled = 0  # index of the first step not yet given a token_count
    api_calls = 0
    started = ended = ""
    for when, kind, payload in _records(lines):
        started = started or when
        ended = when or ended
        if kind == "session_meta":
            meta.update(
                {
                    "session_id": payload.get("id", ""),
                    "cwd": payload.get("cwd", ""),
                    "codex_version": payload.get("cli_version", ""),
                    "originator": payload.get("originator", ""),
                    "git_branch": as_mapping(payload.get("git")).get("branch", ""),
                    "git_commit": as_mapping(payload.get("git")).get("commit_hash", ""),
                }
            )
            continue
        if kind == "turn_context":
            model = model or str(payload.get("model") or "")
            continue
        if kind == "event_msg":
            if payload.get("type") == "token_count":
                last = as_mapping(as_mapping(payload.get("info")).get("last_token_usage"))
                usage = Usage(
                    as_int(last.get("input_tokens")),
                    as_int(last.get("output_tokens")),
                    cached_tokens=as_int(last.get("cached_input_tokens")),
                )
                if usage and unbilled < len(steps):
                    step = steps[unbilled]
                    steps[unbilled] = dataclasses.replace(
                        step,
                        input_tokens=step.input_tokens + usage.input_tokens,
                        output_tokens=step.output_tokens + usage.output_tokens,
                        metadata={
                            **step.metadata,
                            "cached_tokens": str(as_int(step.metadata.get("cached_tokens")) + usage.cached_tokens),
                        },
                    )
                    unbilled = len(steps)
                    api_calls += 1
            continue
        if kind != "response_item":
            continue
        item_type = payload.get("type")
        if item_type == "message":
            text = text_of(payload.get("content"))
            if payload.get("role") == "user":
                if not task and not text.lstrip().startswith(_CONTEXT_PREFIXES):
                    task = text
            elif payload.get("role") == "assistant" and text.strip():
                thoughts.append(text)
                steps.append(step_input(thought="\n".join(thoughts), action="message", timestamp=when))
                thoughts = []
        elif item_type == "reasoning":
            summary = text_of([p for p in payload.get("summary") or [] if isinstance(p, dict)])
            if summary.strip():
                thoughts.append(summary)
        elif item_type in _CALLS:
            call_id = str(payload.get("call_id") or payload.get("id") or "")
            if item_type == "local_shell_call":
                command = as_mapping(payload.get("action")).get("command")
                action = " ".join(command) if isinstance(command, list) else str(command or "shell")
                arguments: Any = payload.get("action")
            else:
                arguments = payload.get("arguments") if item_type == "function_call" else payload.get("input")
                parsed = as_mapping(arguments)
                command = parsed.get("command")
                if payload.get("name") in ("shell", "container.exec", "local_shell") and isinstance(command, list):
                    action = " ".join(str(c) for c in command)
                else:
                    action = str(payload.get("name") or "tool")
            steps.append(
                step_input(
                    thought="\n".join(thoughts),
                    action=action,
                    arguments=arguments,
                    timestamp=when,
                    metadata={"call_id": call_id, "tool": str(payload.get("name") or item_type)},
                )
            )
            by_call[call_id] = len(steps) - 1
            thoughts = []
        elif item_type in _OUTPUTS and str(payload.get("call_id")) in by_call:
            index = by_call[str(payload["call_id"])]
            steps[index] = dataclasses.replace(steps[index], observation=clip(_output_text(payload.get("output"))))
    return Trajectory(
        session(
            fmt="codex",
            agent="codex",
            steps=steps,
            model=model,
            task=task,
            succeeded=bool(steps),
            api_calls=api_calls,
            metadata={**meta, "started_at": started, "ended_at": ended},
        ),
        tuple(steps),
        None,
    )
