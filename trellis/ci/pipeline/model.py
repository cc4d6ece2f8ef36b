"""The pipeline model: stages, their limits and selectors, branch protections, and its errors.

Plain frozen values; :func:`trellis.ci.pipeline.toml.parse_pipeline` builds them from
``trellis.toml`` and is the only place that validates them. Errors::

    PipelineError (ValueError)       reason INVALID_PIPELINE
    ├── PipelineConfigError          a trellis.toml that is not a valid pipeline: source, field, detail
    └── UnknownStage                 a stage name the pipeline does not have   reason UNKNOWN_STAGE
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trellis.semantic_diff.model import CHANGE_KINDS

from ..errors import CiError
from .globs import branch_matches

__all__ = [
    "CHANGE_CLASSES",
    "DEFAULT_LIMITS",
    "ENTITY_KINDS",
    "KINDS",
    "SCOPES",
    "SELECTS",
    "StageLimits",
    "Pipeline",
    "PipelineConfigError",
    "PipelineError",
    "Protection",
    "PytestOptions",
    "Selectors",
    "Stage",
    "UnknownStage",
    "closest",
]

KINDS = ("command", "syntax", "pytest", "external")
SCOPES = ("commit", "file", "entity")
SELECTS = ("affected", "all")
# The change classes of semantic_diff (EntityChange.change).
CHANGE_CLASSES: tuple[str, ...] = CHANGE_KINDS
# Every entity kind semantic_diff reports (docs/semantic-diff.md, "Languages and entity kinds");
# tests/ci/pipeline/test_toml.py checks the list against the language rules.
ENTITY_KINDS = (
    "module",
    "document",
    "class",
    "function",
    "method",
    "constructor",
    "interface",
    "type",
    "enum",
    "namespace",
    "struct",
    "union",
    "trait",
    "impl",
    "mod",
    "macro",
    "record",
    "annotation",
    "key",
    "item",
    "table",
)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``word`` (for "did you mean"), or None."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


class PipelineError(CiError, ValueError):
    """Base class of the errors of the pipeline model; ``reason`` is stable and machine-readable."""

    reason: str = "INVALID_PIPELINE"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata: dict[str, str] = {}

    def __str__(self) -> str:
        return self.message


class PipelineConfigError(PipelineError):
    """A pipeline definition that cannot be accepted.

    The message reads ``{source}: {field}: {detail}``, e.g.
    ``trellis.toml: stages.unit.timeout: expected a duration such as "30s" or
    "500ms", got "soon"``. ``field`` is the dotted path of the offending key
    ("" for a problem with the whole file); ``line`` / ``column`` are set (1-based)
    when the position is known (TOML syntax errors, invalid UTF-8) and then
    stand in for an empty field.
    """

    def __init__(self, source: str, field: str, detail: str, *, line: int = 0, column: int = 0) -> None:
        locator = field
        if not locator and line:
            locator = f"line {line}, column {column}" if column else f"line {line}"
        super().__init__(": ".join(p for p in (source, locator, detail) if p))
        self.args = (source, field, detail)
        self.source = source
        self.field = field
        self.detail = detail
        self.line = line
        self.column = column
        self.metadata = {"source": source, "field": field}


class UnknownStage(PipelineError):
    """A stage name (in a run request, say) that the pipeline does not define."""

    reason = "UNKNOWN_STAGE"

    def __init__(self, name: str, known: Sequence[str]) -> None:
        if not known:
            message = f'unknown stage "{name}": the pipeline has no stages'
        else:
            near = closest(name, known)
            hint = f', did you mean "{near}"?' if near else ""
            message = f'unknown stage "{name}"{hint} (stages: {", ".join(known)})'
        super().__init__(message)
        self.args = (name, tuple(known))
        self.name = name
        self.metadata = {"stage": name}


@dataclass(frozen=True, slots=True)
class StageLimits:
    """What one job may use: wall-clock and CPU seconds, memory, processes, captured output."""

    timeout_s: float = 60.0
    cpu_s: float = 60.0
    memory_bytes: int = 2 * 1024**3
    processes: int = 128
    output_bytes: int = 4 * 1024**2


DEFAULT_LIMITS = StageLimits()


@dataclass(frozen=True, slots=True)
class Selectors:
    """The ``when`` table: which chunks a stage runs on. An empty tuple selects everything."""

    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """No selector at all: the stage runs on every chunk (``exclude`` counts as a selector)."""
        return not (self.paths or self.exclude or self.languages or self.entities or self.changes)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "paths": list(self.paths),
            "exclude": list(self.exclude),
            "languages": list(self.languages),
            "entities": list(self.entities),
            "changes": list(self.changes),
        }


# Caches that a warm checkout keeps and that cannot change a test's outcome: hypothesis's tables of
# which characters each Unicode category and codec holds (~1 s of CPU per process to rebuild), and the
# constants it reads from each module's source, filed by the source's digest.
DEFAULT_TOOL_CACHES = (".hypothesis/unicode_data", ".hypothesis/constants")


@dataclass(frozen=True, slots=True)
class PytestOptions:
    """How a pytest stage runs its tests, beyond which tests (``select``) and pytest's ``args``.

    ``fail_fast``: stop every shard at the first failing test. ``shards``: how many processes
    share the tests (0: one per executor slot when enough tests run). Per-test timeouts:
    ``test_timeout_factor`` x a test's recorded p95 duration, at least ``test_timeout_floor_s``;
    ``test_timeout_s`` for a test with no recorded duration (0 turns per-test timeouts off).
    The environment the tests run in: ``requirements`` files of the tree, ``extras`` of the
    project's pyproject (its ``project.dependencies`` come with them), PEP 735 dependency
    ``groups`` and plain requirement strings in ``packages``; none of them: the server's Python.
    ``load_tests``: honour unittest's ``load_tests`` protocol, so the stage collects what
    ``python -m unittest`` collects (a module's ``DocTestSuite`` doctests, say).
    ``tool_caches``: directories of the tree where the tests' tools keep caches, kept from one
    job of the stage to the next (:data:`DEFAULT_TOOL_CACHES`: hypothesis's Unicode tables and
    its cache of each module's constants, both derived from their inputs alone).
    """

    fail_fast: bool = False
    shards: int = 0
    test_timeout_s: float = 30.0
    test_timeout_factor: float = 10.0
    test_timeout_floor_s: float = 15.0
    requirements: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    load_tests: bool = False
    tool_caches: tuple[str, ...] = DEFAULT_TOOL_CACHES

    @property
    def has_environment(self) -> bool:
        return bool(self.requirements or self.extras or self.groups or self.packages)

    def to_json(self) -> dict[str, Any]:
        return {
            "fail_fast": self.fail_fast,
            "shards": self.shards,
            "test_timeout_s": self.test_timeout_s,
            "test_timeout_factor": self.test_timeout_factor,
            "test_timeout_floor_s": self.test_timeout_floor_s,
            "environment": {
                "requirements": list(self.requirements),
                "extras": list(self.extras),
                "groups": list(self.groups),
                "packages": list(self.packages),
            },
            # Only when set: stages without it keep their definition hash (and their cached results).
            **({"load_tests": True} if self.load_tests else {}),
            **({"tool_caches": list(self.tool_caches)} if self.tool_caches != DEFAULT_TOOL_CACHES else {}),
        }


DEFAULT_PYTEST = PytestOptions()


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a pipeline.

    ``kind``: command | syntax | pytest | external. ``scope``: commit | file |
    entity. ``run``: the command line of a command stage ("" otherwise).
    ``select``: affected | all for pytest ("" otherwise). ``args``: extra pytest
    arguments. ``inert`` / ``always_full``: globs of files whose change selects
    no test / runs the whole suite (pytest with ``select = "affected"``).
    ``needs``: names of the stages this one waits for. ``env``:
    (name, value) pairs sorted by name. ``cache``: whether results may be
    reused (always False for external stages). ``pytest``: the options of a pytest stage.
    """

    name: str
    kind: str
    scope: str
    run: str = ""
    select: str = ""
    args: tuple[str, ...] = ()
    inert: tuple[str, ...] = ()
    always_full: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cache: bool = True
    limits: StageLimits = DEFAULT_LIMITS
    selectors: Selectors = field(default_factory=Selectors)
    pytest: PytestOptions = DEFAULT_PYTEST

    @property
    def timeout_s(self) -> float:
        return self.limits.timeout_s

    def to_json(self) -> dict[str, Any]:
        """The normalised definition (every default explicit), for APIs and hashing."""
        limits = self.limits
        return {
            "name": self.name,
            "kind": self.kind,
            "scope": self.scope,
            "run": self.run,
            "select": self.select,
            "args": list(self.args),
            "needs": list(self.needs),
            "env": dict(self.env),
            "cache": self.cache,
            "limits": {
                "timeout_s": limits.timeout_s,
                "cpu_s": limits.cpu_s,
                "memory_bytes": limits.memory_bytes,
                "processes": limits.processes,
                "output_bytes": limits.output_bytes,
            },
            "when": self.selectors.to_json(),
            # Only when set: stages without them keep the definition hash (and their cached results).
            **({"inert": list(self.inert)} if self.inert else {}),
            **({"always_full": list(self.always_full)} if self.always_full else {}),
            # Only where it can matter, so the hashes of other stages (their cache keys) stay as they were.
            **({"pytest": self.pytest.to_json()} if self.kind == "pytest" or self.pytest != DEFAULT_PYTEST else {}),
        }

    def definition_hash(self) -> str:
        """A stable sha256 (hex) of the normalised definition: part of a job's cache key."""
        canonical = json.dumps(
            {"format": "trellis.stage/1", **self.to_json()}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Protection:
    """A protected-branch rule: branches matching ``branch`` (a glob) need ``required`` to pass."""

    branch: str
    required: tuple[str, ...]

    def matches(self, branch: str) -> bool:
        return branch_matches(self.branch, branch)


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A parsed pipeline. ``stages`` are in dependency order (ties by declaration order).

    ``source`` names where the definition came from (for messages) and
    ``text`` is the definition as written.
    """

    stages: tuple[Stage, ...] = ()
    protections: tuple[Protection, ...] = ()
    source: str = "trellis.toml"
    text: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (raises :class:`UnknownStage`)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise UnknownStage(name, self.names)

    def closure(self, names: Iterable[str]) -> tuple[Stage, ...]:
        """The named stages and every stage they need, transitively, in pipeline order."""
        wanted: set[str] = set()
        pending = list(names) if not isinstance(names, str) else [names]
        while pending:
            name = pending.pop()
            if name not in wanted:
                wanted.add(name)
                pending.extend(self.stage(name).needs)
        return tuple(s for s in self.stages if s.name in wanted)

    def required_for(self, branch: str) -> tuple[str, ...]:
        """The stages that must pass before ``branch`` may move, in pipeline order."""
        required = {name for p in self.protections if p.matches(branch) for name in p.required}
        return tuple(s.name for s in self.stages if s.name in required)
