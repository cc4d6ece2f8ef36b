"""The ``{path}``-style placeholders of a command stage's ``run`` line.

A template is literal text with placeholders in braces; ``{{`` and ``}}``
stand for literal braces (so ``awk '{print $1}'`` is written
``awk '{{print $1}}'``). Each placeholder is available only in the scopes
that have its value (:data:`SCOPE_PLACEHOLDERS`); a stage that uses one its
scope lacks is rejected when the pipeline is parsed. Rendering shell-quotes
every value (:func:`shlex.quote`); ``{paths}`` becomes the quoted paths
separated by spaces (nothing at all when there are none).
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Mapping, Sequence

from ..errors import CiError

__all__ = [
    "PLACEHOLDERS",
    "SCOPE_PLACEHOLDERS",
    "TemplateError",
    "check_template",
    "render_template",
    "template_fields",
]

PLACEHOLDERS = ("path", "paths", "qualname", "name", "kind", "language", "change", "commit", "stage")

# Which placeholders each scope has a value for, in PLACEHOLDERS order.
SCOPE_PLACEHOLDERS: Mapping[str, tuple[str, ...]] = {
    "commit": ("paths", "commit", "stage"),
    "file": ("path", "paths", "language", "change", "commit", "stage"),
    "entity": PLACEHOLDERS,
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(CiError, ValueError):
    """A malformed template, an unknown placeholder, or one its scope does not have."""


def template_fields(template: str) -> tuple[str, ...]:
    """The placeholder names in ``template``, in order of appearance (with repeats)."""
    return tuple(part for is_field, part in _parse(template) if is_field)


def check_template(template: str, scope: str) -> None:
    """Raise :class:`TemplateError` unless every placeholder exists and ``scope`` has it."""
    available = SCOPE_PLACEHOLDERS[scope]
    for name in template_fields(template):
        if name not in available:
            have = ", ".join(f"{{{n}}}" for n in available)
            raise TemplateError(f"{{{name}}} is not available in a {scope}-scope stage (it has {have})")


def render_template(template: str, values: Mapping[str, str | Sequence[str]]) -> str:
    """``template`` with every placeholder replaced by its shell-quoted value.

    A value that is a sequence (``paths``) becomes its quoted items joined by
    spaces; a missing value raises :class:`TemplateError`.
    """
    out: list[str] = []
    for is_field, part in _parse(template):
        if not is_field:
            out.append(part)
            continue
        if part not in values:
            raise TemplateError(f"no value for {{{part}}}")
        value = values[part]
        if isinstance(value, str):
            out.append(shlex.quote(value))
        else:
            out.append(" ".join(shlex.quote(v) for v in value))
    return "".join(out)


def _parse(template: str) -> list[tuple[bool, str]]:
    """(is_placeholder, text) parts; literal braces already unescaped."""
    parts: list[tuple[bool, str]] = []
    literal: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        literal.append(template[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token in ("{", "}"):
            raise TemplateError(
                f'unmatched "{token}" at character {match.start() + 1}; write "{token}{token}" for a literal brace'
            )
        else:
            name = match.group(1)
            if name not in PLACEHOLDERS:
                raise TemplateError(_unknown(name))
            parts.append((False, "".join(literal)))
            literal = []
            parts.append((True, name))
    literal.append(template[pos:])
    parts.append((False, "".join(literal)))
    return [p for p in parts if p[0] or p[1]]


def _unknown(name: str) -> str:
    close = difflib.get_close_matches(name.strip(), PLACEHOLDERS, n=1, cutoff=0.6)
    hint = f", did you mean {{{close[0]}}}?" if close else ""
    known = ", ".join(f"{{{n}}}" for n in PLACEHOLDERS)
    return f'unknown placeholder {{{name}}}{hint} (placeholders: {known}; write "{{{{" and "}}}}" for literal braces)'
