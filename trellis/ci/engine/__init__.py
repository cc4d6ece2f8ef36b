"""The verification engine: runs of a pipeline over a commit's changed chunks.

:class:`Verifier` (``verifier``) is what the server holds, a facade over:

- ``source``: the pipeline that applies to a commit, parsed once per content;
- ``store``: runs in git (``refs/trellis/runs/<id>``): save, get, list, recover;
- ``scheduler``: the job graph of the runs in progress, their state changes and events;
- ``stages``: how one job of each kind runs (syntax here; commands and tests on the executor,
  with test selection, reuse and sharding); ``cache``: the result cache; ``builtin``: the syntax check;
- ``reviews``: external stages waiting for verdicts;
- ``gating``: protected branches, gated on runs;
- ``trees``: what the engine reads from git.

Every state change is an event for ``watch``; a run is written to git when it
starts, when it finishes and when a verdict is posted, so it survives a
restart and the index can rebuild it.
"""

from __future__ import annotations

from .cache import ResultCache
from .reviews import Review
from .scheduler import JobEvent
from .verifier import Verifier

__all__ = ["JobEvent", "ResultCache", "Review", "Verifier"]
