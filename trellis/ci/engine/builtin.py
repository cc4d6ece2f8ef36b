"""The built-in ``syntax`` stage: a tree-sitter parse of one file, in-process (no sandbox needed)."""

from __future__ import annotations

from trellis import semantic_diff

from ..runs import Verdict

__all__ = ["syntax_check"]


def syntax_check(path: str, content: bytes | None) -> tuple[Verdict, str]:
    """The verdict and a one-line summary for ``path`` (``None``: the file is not in the commit)."""
    if content is None:
        return Verdict.SKIPPED, "the file is not in the commit"
    result = semantic_diff.check_syntax(path, content)
    if not result.checked:
        return Verdict.SKIPPED, f"not checked ({result.reason.replace('_', ' ')})"
    if result.ok:
        return Verdict.PASSED, f"parses as {result.language}"
    first = result.problems[0]
    more = f" (+{len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
    return Verdict.FAILED, f"{path}:{first.line}:{first.column}: syntax error: {first.message}{more}"
