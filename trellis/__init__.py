"""Trellis: version control and CI for AI coding agents.

``trellis`` is the composition root (server, servicers, SDK, CLI); the
domain lives in ``vcs``, ``semantic_diff``, ``query`` and ``ci``.
"""

from .client import ChangeSet, Client, CommitReply, CommitStream, RevisionDiff
from .tls import TLS

__all__ = ["ChangeSet", "Client", "CommitReply", "CommitStream", "RevisionDiff", "TLS"]
__version__ = "0.1.0"
