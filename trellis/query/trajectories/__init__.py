"""Agent trajectories, the logs agents write, as Trellis sessions (and sessions back as ATIF or OTLP).

:func:`parse_trajectory` detects the format from the content — not the file
name — and reads it into a :class:`Trajectory` (session facts, steps, patch):

==================  ==========================================================
``swe-agent``       SWE-agent ``.traj`` (0.x and 1.x; history-only demonstrations)
``mini-swe-agent``  mini-swe-agent ``.traj.json``
``openhands``       OpenHands event streams (JSON array, JSON lines, eval records)
``claude-code``     Claude Code session JSONL (message tree, sidechains)
``codex``           Codex CLI rollout JSONL
``atif``            the Agent Trajectory Interchange Format, v1.x
==================  ==========================================================

:func:`load_trajectory` reads a file and records where it came from in the
session's metadata: ``source`` (the full path), ``source_sha256`` (the
content's hash: the key that makes importing the same content twice a no-op)
and ``format``, next to the format's own ids. :func:`land_trajectory` records a
trajectory through :class:`trellis.vcs.Store`. :func:`to_atif` and :func:`to_otlp`
write a session the other way. ``docs/trajectories.md`` maps each format onto
sessions and steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import TrajectoryFormatError
from .atif import ATIF_VERSION, looks_like_atif, parse_atif, to_atif
from .claude_code import looks_like_claude_code, parse_claude_code
from .codex import looks_like_codex, parse_codex
from .landing import LandedTrajectory, land_trajectory
from .mini_swe_agent import looks_like_mini_swe_agent, parse_mini_swe_agent
from .model import Trajectory, TrajectorySession
from .openhands import looks_like_openhands, parse_openhands
from .otlp import to_otlp
from .swe_agent import looks_like_swe_agent, parse_swe_agent

__all__ = [
    "ATIF_VERSION",
    "FORMATS",
    "LandedTrajectory",
    "Trajectory",
    "TrajectorySession",
    "content_key",
    "detect_format",
    "land_trajectory",
    "load_trajectory",
    "parse_trajectory",
    "to_atif",
    "to_otlp",
    "with_source",
]

# (format, recognises the parsed content, reads it); documents are JSON values, logs lists of JSON lines.
_DOCUMENT_READERS: list[tuple[str, Callable[[Any], bool], Callable[..., Trajectory]]] = [
    ("atif", looks_like_atif, parse_atif),
    ("mini-swe-agent", looks_like_mini_swe_agent, parse_mini_swe_agent),
    ("swe-agent", looks_like_swe_agent, parse_swe_agent),
    ("openhands", looks_like_openhands, parse_openhands),
]
_LOG_READERS: list[tuple[str, Callable[[Any], bool], Callable[..., Trajectory]]] = [
    ("claude-code", looks_like_claude_code, parse_claude_code),
    ("codex", looks_like_codex, parse_codex),
    ("openhands", looks_like_openhands, parse_openhands),
]
FORMATS = ("swe-agent", "mini-swe-agent", "openhands", "claude-code", "codex", "atif")


def content_key(data: bytes) -> str:
    """The import key of a file's content (SHA-256, hex)."""
    return hashlib.sha256(data).hexdigest()


def _decode(data: bytes | str, name: str) -> tuple[Any, list[Any] | None]:
    """(the JSON document, or None; the JSON lines, or None)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        return json.loads(text), None
    except ValueError as exc:
        error = exc
    lines: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            if lines:  # a log cut short while being written: keep what was complete
                continue
            raise TrajectoryFormatError(f"{name or 'trajectory'} is not JSON or JSON lines: {error}") from None
    if not lines:
        raise TrajectoryFormatError(f"{name or 'trajectory'} is not JSON: {error}")
    return None, lines


def _reader(document: Any, lines: list[Any] | None) -> tuple[str, Callable[..., Trajectory], Any] | None:
    if lines is None:
        for fmt, looks, read in _DOCUMENT_READERS:
            if looks(document):
                return fmt, read, document
        return None
    for fmt, looks, read in _LOG_READERS:
        if looks(lines):
            return fmt, read, lines
    return None


def detect_format(data: bytes | str) -> str:
    """The format of a trajectory's content ("" when it is none Trellis reads)."""
    try:
        found = _reader(*_decode(data, ""))
    except TrajectoryFormatError:
        return ""
    return found[0] if found else ""


def parse_trajectory(data: bytes | str | Mapping[str, Any] | list[Any], *, name: str = "") -> Trajectory:
    """A trajectory in any format Trellis reads (its text, or its parsed JSON), format detected from content."""
    if isinstance(data, (bytes, str)):
        document, lines = _decode(data, name)
    else:
        document, lines = data, None
    found = _reader(document, lines)
    if found is None:
        raise TrajectoryFormatError(
            f"{name or 'trajectory'} is not a trajectory Trellis reads: expected SWE-agent (.traj), "
            "mini-swe-agent, OpenHands events, Claude Code or Codex session JSONL, or ATIF v1"
        )
    _, read, content = found
    return read(content, name=name)


def with_source(trajectory: Trajectory, path: Path, key: str) -> Trajectory:
    """``trajectory`` with where it came from in its session's metadata (full path, content hash)."""
    metadata = {**trajectory.session.metadata, "source": str(path), "source_sha256": key}
    return dataclasses.replace(trajectory, session=dataclasses.replace(trajectory.session, metadata=metadata))


def load_trajectory(path: Path) -> Trajectory:
    """Read and parse a trajectory file; its session's metadata names the file (full path) and its content hash."""
    path = Path(path).absolute()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrajectoryFormatError(f"cannot read {path}: {exc.strerror}", reason="TRAJECTORY_UNREADABLE") from None
    return with_source(parse_trajectory(data, name=path.name), path, content_key(data))
