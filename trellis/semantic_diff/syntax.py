"""Syntax errors: where tree-sitter could not parse a file (for the built-in ``syntax`` check)."""

from __future__ import annotations

from dataclasses import dataclass

from .languages.registry import GrammarUnavailable, parser_for, spec_for
from .parse import DEFAULT_MAX_FILE_BYTES, precheck

__all__ = ["SyntaxCheck", "SyntaxProblem", "check_syntax"]


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    line: int  # 1-based
    column: int  # 1-based, in bytes
    message: str


@dataclass(frozen=True, slots=True)
class SyntaxCheck:
    """``checked`` is False (with ``reason``) for files no grammar covers: binary, unsupported, too large."""

    path: str
    language: str
    checked: bool
    reason: str
    problems: tuple[SyntaxProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_syntax(
    path: str, content: bytes, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, max_problems: int = 20
) -> SyntaxCheck:
    spec = spec_for(path)
    reason = precheck(spec, content, max_file_bytes)
    if reason == "invalid_utf8" and spec is not None:
        return SyntaxCheck(path, spec.name, True, "", (SyntaxProblem(1, 1, "the file is not valid UTF-8"),))
    if reason or spec is None:
        return SyntaxCheck(path, spec.name if spec else "", False, reason or "unsupported_language", ())
    try:
        tree = parser_for(spec).parse(content)
    except GrammarUnavailable:
        return SyntaxCheck(path, spec.name, False, "grammar_unavailable", ())
    problems: list[SyntaxProblem] = []
    if tree.root_node.has_error:
        stack = [tree.root_node]
        while stack and len(problems) < max_problems:
            node = stack.pop()
            if not node.has_error:
                continue
            if node.is_error or node.is_missing:
                row, col = node.start_point
                what = f"missing {node.type}" if node.is_missing else "unexpected " + _snippet(node.text or b"")
                problems.append(SyntaxProblem(row + 1, col + 1, what))
                continue
            stack.extend(reversed(node.children))
    return SyntaxCheck(path, spec.name, True, "", tuple(problems))


def _snippet(text: bytes) -> str:
    first = text.decode("utf-8", "replace").strip().splitlines()
    shown = first[0] if first else ""
    return repr(shown[:40] + ("…" if len(shown) > 40 else ""))
