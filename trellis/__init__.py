"""Trellis: version control and CI for AI coding agents.

``trellis`` is the composition root (server, servicers, SDK, CLI); the
domain lives in ``trellis.vcs``, ``trellis.semantic_diff``, ``trellis.query`` and
``trellis.ci`` (plain libraries: no gRPC, no protobuf).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import ChangeSet, Client, CommitReply, CommitStream, RevisionDiff
    from .tls import TLS

__all__ = ["ChangeSet", "Client", "CommitReply", "CommitStream", "RevisionDiff", "TLS"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The SDK loads on first use: commands that need no server (``trellis merge-file``) skip gRPC."""
    if name == "TLS":
        from .tls import TLS

        return TLS
    if name in __all__:
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module 'trellis' has no attribute {name!r}")
