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

    def __reduce__(self) -> tuple[object, ...]:
        # Raised in a worker process (``pool.py``), it reaches the caller with its reason and metadata.
        return (_rebuild, (type(self), self.message, self.reason, self.metadata))


def _rebuild(cls: type[SemanticDiffError], message: str, reason: str, metadata: dict[str, str]) -> SemanticDiffError:
    error = cls.__new__(cls)
    SemanticDiffError.__init__(error, message, reason=reason, **metadata)
    return error


class InvalidInput(SemanticDiffError):
    reason = "INVALID_ARGUMENT"
