"""Validation of names, paths and revisions at the edge of the core.

Everything a caller names is checked here before anything is written, so a
bad request fails with :class:`InvalidArgument` and leaves no trace.
"""

from __future__ import annotations

import functools
import re

from .errors import InvalidArgument, LimitExceeded
from .model import Limits

__all__ = [
    "check_agent_name",
    "check_branch_name",
    "check_commit_id",
    "check_path",
    "check_request_id",
    "check_repository_name",
    "check_revision",
    "check_session_id",
    "check_text",
]

_REPOSITORY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]{1,200}")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}")
_REVISION = re.compile(r"[A-Za-z0-9._/-]{1,200}(?:[~^][0-9]{0,6})*")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_remembered = functools.lru_cache(maxsize=8192)
"""For the checks of names, which every call repeats (a commit checks its branch three times, at the edge, in the
policy and in the store): a name found valid is not checked again. A refused one raises each time (not kept)."""
MAX_PATH_DEPTH = 256


def _check_surrogates(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{what} is not valid UTF-8", reason="INVALID_ENCODING") from None


@_remembered
def check_repository_name(name: str) -> str:
    _check_surrogates(name, "repository name")
    if not _REPOSITORY_NAME.fullmatch(name) or ".." in name or name.endswith((".git", ".lock", ".")):
        raise InvalidArgument(
            f"invalid repository name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, not ending in '.git', '.lock' or '.'",
            reason="INVALID_REPOSITORY_NAME",
        )
    return name


@_remembered
def check_agent_name(name: str) -> str:
    _check_surrogates(name, "agent name")
    if not _AGENT_NAME.fullmatch(name) or name.endswith((".", ".lock")) or ".." in name:
        raise InvalidArgument(
            f"invalid agent name {name!r}: use 1-64 letters, digits, '.', '_' or '-'",
            reason="INVALID_AGENT_NAME",
        )
    return name


@_remembered
def check_branch_name(name: str) -> str:
    import pygit2  # here: checking a repository name (the query index) loads no pygit2

    _check_surrogates(name, "branch name")
    if (
        not _BRANCH_CHARS.fullmatch(name)
        or name.startswith(("refs/", "-"))
        or name == "HEAD"
        or not pygit2.reference_is_valid_name(f"refs/heads/{name}")
    ):
        raise InvalidArgument(
            f"invalid branch name {name!r}: use up to 200 letters, digits, '.', '_', '-' and "
            "'/' separators; no empty or dot-leading segments, no '..', no trailing '.lock'",
            reason="INVALID_BRANCH_NAME",
        )
    return name


@_remembered
def check_session_id(session_id: str) -> str:
    _check_surrogates(session_id, "session id")
    if not _SESSION_ID.fullmatch(session_id):
        raise InvalidArgument(f"invalid session id {session_id!r}", reason="INVALID_SESSION_ID")
    return session_id


def check_commit_id(commit_id: str, what: str = "commit id") -> str:
    _check_surrogates(commit_id, what)
    if not _COMMIT_ID.fullmatch(commit_id):
        raise InvalidArgument(
            f"invalid {what} {commit_id!r}: expected a full 40-character lowercase hex commit id",
            reason="INVALID_COMMIT_ID",
        )
    return commit_id


def check_revision(revision: str) -> str:
    """A branch name or commit id (full or abbreviated), optionally with ``~N`` / ``^N``."""
    _check_surrogates(revision, "revision")
    if not _REVISION.fullmatch(revision) or ".." in revision or revision.startswith("-"):
        raise InvalidArgument(
            f"invalid revision {revision!r}: use a branch name or commit id, optionally followed by ~N or ^N",
            reason="INVALID_REVISION",
        )
    return revision


def check_path(path: str, limits: Limits) -> str:
    """A repository-relative file path: '/'-separated, no '.', '..', '.git' segments."""
    _check_surrogates(path, "path")
    if not path:
        raise InvalidArgument("file path is empty", reason="INVALID_PATH")
    encoded = path.encode("utf-8")
    if len(encoded) > limits.max_path_bytes:
        raise InvalidArgument(
            f"file path is {len(encoded)} bytes long; the limit is {limits.max_path_bytes}",
            reason="PATH_TOO_LONG",
        )
    problem = None
    if "\x00" in path:
        problem = "contains a NUL byte"
    elif _CONTROL.search(path):
        problem = "contains a control character"
    elif path.startswith("/"):
        problem = "is absolute; paths are relative to the repository root"
    elif "\\" in path:
        problem = "contains a backslash; use '/' as the separator"
    if problem is None and path.count("/") >= MAX_PATH_DEPTH:
        problem = f"is nested deeper than {MAX_PATH_DEPTH} directories"
    if problem is None:
        for segment in path.split("/"):
            if segment == "":
                problem = "has an empty segment ('//' or a leading/trailing '/')"
            elif segment in (".", ".."):
                problem = f"has a {segment!r} segment"
            elif segment.rstrip(". ").lower() == ".git" or segment.lower().startswith(".git "):
                problem = "names a '.git' entry"
            elif len(segment.encode("utf-8")) > limits.max_path_segment_bytes:
                problem = f"has a segment longer than {limits.max_path_segment_bytes} bytes"
            if problem:
                break
    if problem:
        raise InvalidArgument(f"invalid file path {path[:200]!r}: it {problem}", reason="INVALID_PATH")
    return path


def check_text(value: str, what: str, max_bytes: int, *, reason: str, allow_nul: bool = True) -> str:
    """Valid UTF-8, at most ``max_bytes`` (else LimitExceeded with ``reason``); ``allow_nul=False`` for text git
    stores C-style. Each caller names its reason literally, so every reason can be found in the source."""
    _check_surrogates(value, what)
    if not allow_nul and "\x00" in value:
        raise InvalidArgument(f"{what} contains a NUL byte", reason="INVALID_TEXT")
    size = len(value.encode("utf-8"))
    if size > max_bytes:
        raise LimitExceeded(f"{what} is {size} bytes; the limit is {max_bytes}", reason=reason)
    return value


_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_request_id(request_id: str) -> str:
    _check_surrogates(request_id, "request id")
    if not _REQUEST_ID.fullmatch(request_id):
        raise InvalidArgument(
            f"invalid request_id {request_id[:80]!r}: use 1-64 letters, digits, '-' or '_'",
            reason="INVALID_REQUEST_ID",
        )
    return request_id
