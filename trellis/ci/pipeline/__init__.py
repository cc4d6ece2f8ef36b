"""Pipeline definition: the model of stages and protections, ``trellis.toml``, and job planning.

``model`` holds the frozen values (:class:`Pipeline`, :class:`Stage`, …) and
their errors; ``toml`` parses ``trellis.toml`` into them (the only place that
validates user text) and writes it back; ``plan`` fans stages out over a
change's chunks; ``globs``, ``placeholders`` and ``units`` are the small
languages the file uses.
"""

from __future__ import annotations

from .model import (
    Pipeline,
    PipelineConfigError,
    PipelineError,
    Protection,
    PytestOptions,
    Selectors,
    Stage,
    StageLimits,
    UnknownStage,
)
from .plan import ChangedFile, Chunk, CommitChanges, PlannedJob, dependencies, plan
from .toml import format_pipeline, parse_pipeline

__all__ = [
    "CommitChanges",
    "ChangedFile",
    "Chunk",
    "StageLimits",
    "Pipeline",
    "PipelineConfigError",
    "PipelineError",
    "PlannedJob",
    "Protection",
    "PytestOptions",
    "Selectors",
    "Stage",
    "UnknownStage",
    "dependencies",
    "format_pipeline",
    "parse_pipeline",
    "plan",
]
