"""Which schema an index file was written with: this version's number and DDL digest, as constants.

:func:`trellis.query.schema.create_schema` records both in ``index_info``. A
reader that only needs to know whether an index file is of this version
(:mod:`trellis.query.readonly`, in a short-lived ``trellis query`` process)
compares them with these constants instead of importing
:mod:`trellis.query.schema` (its table descriptions and ``dataclasses``:
~8 ms) to compute the digest. ``tests/query/test_schema.py`` checks that
:data:`SCHEMA_DIGEST` is ``schema.schema_digest()``: a change of the DDL
fails that test until the digest here is updated.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SCHEMA_DIGEST", "SCHEMA_VERSION", "STAMP_KEYS", "stamped"]

SCHEMA_VERSION = 5  # 2: test_results.chunk, run_refs; 3: entity_changes.follows; 4: stage_results.fallback;
# 5: stage_results renamed job_results (the proto's JobResult, the domain's JobResult)

SCHEMA_DIGEST = "0af072f9c8c1cc6d3f6df35190cab57d"
"""``schema.schema_digest()`` of this version's DDL (checked by a test)."""

STAMP_KEYS = ("schema_version", "schema_digest")
"""The ``index_info`` keys of the stamp."""


def stamped(info: Mapping[str, str]) -> bool:
    """Whether ``index_info`` rows (key to value) record this version and this DDL."""
    return info.get("schema_version") == str(SCHEMA_VERSION) and info.get("schema_digest") == SCHEMA_DIGEST
