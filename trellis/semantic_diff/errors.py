"""Errors of the semantic-diff library.

File *content* never causes an error (it falls back to a line-level summary
with a ``fallback_reason``); only misuse of the API does::

    SemanticDiffError
    └── InvalidInput      a path that is not a non-empty string, content that is not bytes
"""

from __future__ import annotations

__all__ = ["InvalidInput", "SemanticDiffError"]


class SemanticDiffError(Exception):
    """Base class of every error the semantic-diff library raises on purpose."""

    reason: str = "SEMANTIC_DIFF_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata


class InvalidInput(SemanticDiffError):
    reason = "INVALID_ARGUMENT"
