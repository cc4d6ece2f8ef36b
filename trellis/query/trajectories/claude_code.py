"""Claude Code session logs: ``~/.claude/projects/<project>/<session id>.jsonl``

One JSON object per line. ``user`` and ``assistant`` lines carry ``uuid``,
``parentUuid`` (the message tree: editing a prompt or rewinding starts a new
branch from an older message), ``sessionId``, ``timestamp``, ``isSidechain``
(a subagent's conversation, run by the ``Task`` tool; newer versions write
those to ``<session id>/subagents/agent-*.jsonl``, all lines sidechain),
``cwd``, ``gitBranch``, ``version`` and ``message``: the Anthropic Messages
API message, whose ``content`` holds ``thinking``, ``text``, ``tool_use``
(``id``, ``name``, ``input``) and, in user lines, ``tool_result``
(``tool_use_id``, ``content``, ``is_error``) blocks. Assistant messages carry
``model`` and ``usage`` (``input_tokens``, ``cache_creation_input_tokens``,
``cache_read_input_tokens``, ``output_tokens``); one API response may be
written as several lines sharing ``message.id``. Other line types
(``summary``, ``system``, ``file-history-snapshot``, ``progress``...) are
bookkeeping.

Only the branch that ends at the last message is read (abandoned branches
are left out). A step is a ``tool_use``: the thinking and text before it in
the same response are its thought, the tool's name the action, ``input`` the
arguments, and the matching ``tool_result`` the observation. A response with
text and no tool use is a ``message`` step. A response's usage counts once,
on its first step (input = uncached + cache writes + cache reads). Sidechain
steps are marked ``sidechain`` with their ``agent_id``. The first user
prompt is the task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from trellis import vcs

from .model import Trajectory, Usage, as_float, as_int, as_mapping, clip, iso_time, session, step_input, text_of

__all__ = ["looks_like_claude_code", "parse_claude_code"]

_MESSAGE_TYPES = {"user", "assistant"}


def looks_like_claude_code(lines: list[Any]) -> bool:
    return any(
        isinstance(line, dict)
        and line.get("type") in _MESSAGE_TYPES
        and "uuid" in line
        and "sessionId" in line
        and isinstance(line.get("message"), dict)
        for line in lines[:20]
    )


def _active_branch(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries on the path from the root to the last main-chain message, sidechains kept in file order."""
    by_uuid = {e["uuid"]: e for e in entries if e.get("uuid")}
    main = [e for e in entries if not e.get("isSidechain")]
    if not main:
        return entries
    keep: set[str] = set()
    node: dict[str, Any] | None = main[-1]
    while node is not None and node.get("uuid") not in keep:
        keep.add(node["uuid"])
        node = by_uuid.get(node.get("parentUuid") or "")
    return [e for e in entries if e.get("isSidechain") or e.get("uuid") in keep]


def _merge_responses(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per API response: lines sharing ``message.id`` joined (content in order, the fullest usage)."""
    merged: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for entry in entries:
        message_id = entry["message"].get("id") if entry["type"] == "assistant" else None
        if not message_id or message_id not in by_id:
            copy = {**entry, "message": {**entry["message"], "content": _blocks(entry["message"].get("content"))}}
            merged.append(copy)
            if message_id:
                by_id[message_id] = copy
            continue
        target = by_id[message_id]["message"]
        target["content"] = [*target["content"], *_blocks(entry["message"].get("content"))]
        usage, seen = as_mapping(entry["message"].get("usage")), as_mapping(target.get("usage"))
        if as_int(usage.get("output_tokens")) >= as_int(seen.get("output_tokens")):
            target["usage"] = usage
        target["stop_reason"] = entry["message"].get("stop_reason") or target.get("stop_reason")
    return merged


def _blocks(content: Any) -> list[Any]:
    return list(content) if isinstance(content, list) else [{"type": "text", "text": text_of(content)}]


def _usage(raw: Mapping[str, Any], entry: Mapping[str, Any]) -> Usage:
    cache_write = as_int(raw.get("cache_creation_input_tokens"))
    cache_read = as_int(raw.get("cache_read_input_tokens"))
    return Usage(
        as_int(raw.get("input_tokens")) + cache_write + cache_read,
        as_int(raw.get("output_tokens")),
        as_float(entry.get("costUSD")),
        cache_read,
    )


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(
            text_of(part.get("text"))
            if isinstance(part, dict) and part.get("type") == "text"
            else f"[{part.get('type')}]"
            if isinstance(part, dict)
            else str(part)
            for part in content
        )
    return text_of(content)


def parse_claude_code(lines: list[Any], *, name: str = "") -> Trajectory:
    entries = [
        e
        for e in lines
        if isinstance(e, dict) and e.get("type") in _MESSAGE_TYPES and isinstance(e.get("message"), dict)
    ]
    entries = _active_branch(entries)
    task = ""
    steps: list[vcs.StepInput] = []
    by_tool_use: dict[str, int] = {}
    api_calls = 0
    subagent_task = ""
    model = ""
    session_id = ""
    meta: dict[str, Any] = {}
    for entry in _merge_responses(entries):
        message = entry["message"]
        blocks = message["content"]
        when = iso_time(entry.get("timestamp"))
        session_id = session_id or str(entry.get("sessionId") or "")
        for key in ("cwd", "gitBranch", "version"):
            meta.setdefault(key, entry.get(key) or "")
        sidechain = (
            {"sidechain": "true", "agent_id": str(entry.get("agentId") or "")} if entry.get("isSidechain") else {}
        )
        if entry["type"] == "user":
            for block in blocks:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "tool_result" and block.get("tool_use_id") in by_tool_use:
                    index = by_tool_use[block["tool_use_id"]]
                    text = _result_text(block.get("content"))
                    meta_update = {**steps[index].metadata, **({"is_error": "true"} if block.get("is_error") else {})}
                    steps[index] = dataclasses.replace(steps[index], observation=clip(text), metadata=meta_update)
                elif block.get("type") == "text" and not entry.get("isMeta"):
                    if sidechain:  # a subagent's own log (every line a sidechain): its prompt, unless the main one
                        subagent_task = subagent_task or text_of(block.get("text"))
                    elif not task:
                        task = text_of(block.get("text"))
            continue
        model = model or str(message.get("model") or "")
        message_id = str(message.get("id") or entry.get("requestId") or entry.get("uuid"))
        usage = _usage(as_mapping(message.get("usage")), entry)
        thoughts: list[str] = []
        first = len(steps)
        common = {"uuid": str(entry.get("uuid") or ""), "message_id": message_id, **sidechain}
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "thinking":
                thoughts.append(text_of(block.get("thinking")))
            elif kind == "text" and text_of(block.get("text")).strip():
                thoughts.append(text_of(block.get("text")))
            elif kind == "tool_use":
                steps.append(
                    step_input(
                        thought="\n".join(thoughts),
                        action=str(block.get("name") or "tool"),
                        arguments=block.get("input"),
                        timestamp=when,
                        metadata={"tool_use_id": str(block.get("id") or ""), **common},
                    )
                )
                by_tool_use[str(block.get("id"))] = len(steps) - 1
                thoughts = []
        if thoughts:
            steps.append(step_input(thought="\n".join(thoughts), action="message", timestamp=when, metadata=common))
        if len(steps) > first:
            api_calls += 1
            if usage:  # a response's usage counts once, on its first step
                steps[first] = dataclasses.replace(
                    steps[first],
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cost_usd=usage.cost_usd,
                    metadata={
                        **steps[first].metadata,
                        **({"cached_tokens": str(usage.cached_tokens)} if usage.cached_tokens else {}),
                    },
                )
    return Trajectory(
        session(
            fmt="claude-code",
            agent="claude-code",
            steps=steps,
            model=model,
            task=task or subagent_task,
            exit_status="",
            succeeded=bool(steps),
            api_calls=api_calls,
            metadata={
                "session_id": session_id,
                "cwd": meta.get("cwd", ""),
                "git_branch": meta.get("gitBranch", ""),
                "claude_code_version": meta.get("version", ""),
                "started_at": iso_time(entries[0].get("timestamp")) if entries else "",
                "ended_at": iso_time(entries[-1].get("timestamp")) if entries else "",
            },
        ),
        tuple(steps),
        None,
    )
