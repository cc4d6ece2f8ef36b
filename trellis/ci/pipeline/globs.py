"""Path and branch globs, with gitignore-like ``*``, ``?``, ``[...]`` and ``**``.

Python 3.11 has no ``PurePath.full_match`` and ``fnmatch`` lets ``*`` cross
``/``, so the pipeline selectors use this small matcher. A pattern is split
into ``/``-separated segments:

- ``*`` matches any run of characters except ``/``; ``?`` one character except
  ``/``; ``[abc]``, ``[a-z]``, ``[!abc]`` (or ``[^abc]``) a character class that
  never matches ``/``; a backslash makes the next character literal.
- ``**`` as a whole segment matches zero or more segments: ``**/test_*.py``
  (any depth), ``src/**/api.py`` (``src/api.py``, ``src/a/b/api.py``),
  ``docs/**`` (everything under ``docs``). Inside a segment (``a**b``) it is a
  plain ``*``.

Path patterns (:func:`path_matches`) follow gitignore's anchoring:

- a pattern without a ``/`` (``*.py``, ``Makefile``) matches at any depth;
- a pattern with a ``/`` (``src/*.py``) is anchored at the root; a leading
  ``/`` (``/setup.py``) anchors a pattern that has no other ``/``;
- a pattern matches a file *or any directory above it*: ``src/payments``
  matches ``src/payments/api.py``; a trailing ``/`` (``build/``) matches only
  as a directory.

Branch patterns (:func:`branch_matches`) are matched against the whole branch
name, without anchoring rules or directory matching: ``release/*`` matches
``release/1.0`` but not ``release`` nor ``release/1.0/hotfix``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from ..errors import CiError

__all__ = ["GlobError", "branch_matches", "check_branch_glob", "check_glob", "matches_any", "path_matches"]


class GlobError(CiError, ValueError):
    """A malformed pattern; the message says what is wrong with it."""


def check_glob(pattern: str) -> None:
    """Raise :class:`GlobError` unless ``pattern`` is a well-formed glob."""
    _compile(pattern, "path")


def check_branch_glob(pattern: str) -> None:
    """Raise :class:`GlobError` unless ``pattern`` is a well-formed branch glob."""
    _compile(pattern, "branch")


def path_matches(pattern: str, path: str) -> bool:
    """Whether the repository path ``path`` (``a/b.py``, no leading ``/``) matches ``pattern``."""
    return _compile(pattern, "path").fullmatch(path) is not None


def branch_matches(pattern: str, branch: str) -> bool:
    """Whether the branch name ``branch`` matches ``pattern`` as a whole."""
    return _compile(pattern, "branch").fullmatch(branch) is not None


def matches_any(patterns: Iterable[str], path: str) -> bool:
    return any(path_matches(p, path) for p in patterns)


@functools.lru_cache(maxsize=2048)
def _compile(pattern: str, mode: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise GlobError("the pattern is empty")
    if "\0" in pattern:
        raise GlobError("the pattern contains a NUL character")
    if pattern.startswith("!"):
        raise GlobError('negation (a leading "!") is not supported')
    body = pattern
    prefix = ""
    suffix = ""
    if mode == "path":
        anchored = body.startswith("/")
        body = body.removeprefix("/")
        dir_only = body.endswith("/")
        body = body.removesuffix("/")
        if not body:
            raise GlobError("the pattern names no path")
        if not anchored and "/" not in body:
            prefix = "(?:.*/)?"
        # gitignore: a pattern that matches a directory matches everything in it.
        suffix = "/.+" if dir_only else "(?:/.+)?"
    segments = body.split("/")
    parts: list[str] = [prefix]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "":
            raise GlobError('the pattern has an empty path segment ("//")')
        if mode == "path" and segment in (".", ".."):
            raise GlobError(f'a "{segment}" segment never matches a normalised repository path')
        if segment == "**":
            parts.append(".+" if last else "(?:.*/)?")
            continue
        parts.append(_segment(segment))
        if not last:
            parts.append("/")
    parts.append(suffix)
    return re.compile("".join(parts), re.DOTALL)


def _segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    n = len(segment)
    while i < n:
        c = segment[i]
        if c == "\\":
            if i + 1 >= n:
                raise GlobError("the pattern ends with an unfinished escape (\\)")
            out.append(re.escape(segment[i + 1]))
            i += 2
        elif c == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end, cls = _char_class(segment, i)
            out.append(cls)
            i = end
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _char_class(segment: str, start: int) -> tuple[int, str]:
    """Translate the class opening at ``segment[start]``; return (index after it, regex)."""
    i = start + 1
    negate = i < len(segment) and segment[i] in "!^"
    if negate:
        i += 1
    members: list[str] = []
    first = True
    while i < len(segment):
        c = segment[i]
        if c == "]" and not first:
            break
        if c == "\\" and i + 1 < len(segment):
            members.append(re.escape(segment[i + 1]))
            i += 2
        else:
            members.append("-" if c == "-" else re.escape(c))
            i += 1
        first = False
    else:
        raise GlobError('the pattern has an unclosed "["')
    body = "".join(members)
    # A class never matches "/" (not even through a range such as "+-0").
    return i + 1, f"(?!/)[{'^' if negate else ''}{body}]"
