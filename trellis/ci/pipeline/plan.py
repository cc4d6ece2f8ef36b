"""Job planning: which jobs a pipeline runs for a change, and which jobs wait for which.

A *chunk* is what one job checks: the whole commit, one changed file, or one
changed entity (``Stage.scope``). :func:`plan` fans every stage out over the
chunks its selectors accept, substituting placeholders into command lines;
:func:`dependencies` says, per job, which earlier jobs it waits for. The
rules are spelled out in ``docs/pipelines.md`` ("Planning"); in short:

- Selectors see the path after the change (before it, for a deletion).
- *Removed* chunks (deleted files, removed entities) reach pytest and external
  stages always, command stages only when ``when.changes`` lists "removed",
  syntax stages never. Syntax stages only see files in a language semantic_diff
  parses.
- A commit-scope stage without selectors always gets exactly one job; with
  selectors, one job when any file matches. ``{paths}`` lists the matching
  files that exist after the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from trellis.semantic_diff.languages.registry import language_for
from trellis.semantic_diff.model import DiffResult, EntityChange

from .globs import matches_any
from .model import Pipeline, Stage
from .placeholders import render_template

__all__ = ["FILE_CHANGES", "CommitChanges", "ChangedFile", "Chunk", "PlannedJob", "dependencies", "plan"]

# A file's status as a change class of semantic_diff.
FILE_CHANGES: Mapping[str, str] = {"added": "added", "deleted": "removed", "modified": "modified", "renamed": "renamed"}


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One changed file: ``path`` after the change (before it, when deleted); ``old_path`` for a rename.

    ``status``: added | deleted | modified | renamed. ``language``: a
    semantic_diff language name, "" when unsupported.
    """

    path: str
    status: str
    old_path: str = ""
    language: str = ""

    def __post_init__(self) -> None:
        if self.status not in FILE_CHANGES:
            raise ValueError(f"unknown file status {self.status!r} (expected one of: {', '.join(FILE_CHANGES)})")

    @property
    def change(self) -> str:
        """The status as a change class: added, removed, modified or renamed."""
        return FILE_CHANGES[self.status]


@dataclass(frozen=True, slots=True)
class CommitChanges:
    """What a commit changed: its files and their entity changes."""

    commit_id: str
    files: tuple[ChangedFile, ...]
    entities: tuple[EntityChange, ...] = ()

    @classmethod
    def from_diff(cls, commit_id: str, diff: DiffResult) -> CommitChanges:
        files = tuple(
            ChangedFile(path=f.path, status=f.status, old_path=f.old_path, language=f.language) for f in diff.files
        )
        return cls(commit_id=commit_id, files=files, entities=diff.changes)


@dataclass(frozen=True, slots=True)
class Chunk:
    """What one job checks. Fields a scope lacks are "" (``kind`` and ``qualname`` outside entity scope)."""

    scope: str
    path: str = ""
    qualname: str = ""
    name: str = ""
    kind: str = ""
    language: str = ""
    change: str = ""
    paths: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """How results name the chunk: "" (commit), the path (file), "path::qualname" (entity)."""
        if self.scope == "commit":
            return ""
        if self.scope == "file":
            return self.path
        return f"{self.path}::{self.qualname}"


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """One job: a stage on a chunk. ``command`` is the rendered ``run`` line ("" for other kinds).

    ``full`` is set when the job belongs to a full run (pytest should then run
    every test, whatever ``select`` says).
    """

    stage: Stage
    chunk: Chunk
    command: str = ""
    full: bool = False

    @property
    def label(self) -> str:
        return self.chunk.label


def plan(
    pipeline: Pipeline,
    changes: CommitChanges,
    *,
    stages: Iterable[str] = (),
    full: bool = False,
    all_files: Sequence[ChangedFile] | None = None,
) -> tuple[PlannedJob, ...]:
    """The jobs to run for ``changes``, stage by stage in pipeline order, chunks in change order.

    ``stages`` restricts the plan to those stages and everything they need
    (unknown names raise :class:`~trellis.ci.pipeline.model.UnknownStage`); empty means all.
    ``full`` verifies everything: the files are ``all_files`` (every file of
    the tree, conventionally with status "added") when given, the change's
    files otherwise. The result is a pure function of the arguments.
    """
    if all_files is not None and not full:
        raise ValueError("all_files is only used with full=True")
    wanted = (stages,) if isinstance(stages, str) else tuple(stages)
    selected = pipeline.closure(wanted) if wanted else pipeline.stages
    files = tuple(all_files) if full and all_files is not None else changes.files
    index = _Index(files, changes.entities)
    jobs: list[PlannedJob] = []
    for stage in selected:
        for chunk in _chunks(stage, index):
            command = _render(stage, chunk, changes.commit_id) if stage.kind == "command" else ""
            jobs.append(PlannedJob(stage=stage, chunk=chunk, command=command, full=full))
    return tuple(jobs)


def dependencies(jobs: Sequence[PlannedJob], pipeline: Pipeline) -> dict[int, tuple[int, ...]]:
    """For every job index, the indexes of the jobs it waits for (always earlier in ``jobs``).

    For each stage a job's stage needs: when both stages fan out over files or
    entities, the job waits for the needed stage's jobs on the same chunk
    (entity <-> file: on the same file); otherwise (either is commit scope) on
    all of its jobs. When that leaves nothing (the needed stage planned no job
    for this chunk), the job waits for what the needed stage itself would
    have waited for, recursively, so dependencies pass through stages that
    did not run. A job whose dependencies did not all pass should be skipped.
    """
    by_stage: dict[str, list[int]] = {}
    for i, job in enumerate(jobs):
        by_stage.setdefault(job.stage.name, []).append(i)
    result: dict[int, tuple[int, ...]] = {}
    for i, job in enumerate(jobs):
        found: set[int] = set()
        seen: set[str] = set()
        pending = list(job.stage.needs)
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            related = [j for j in by_stage.get(name, ()) if _related(job, jobs[j])]
            if related:
                found.update(related)
            else:
                pending.extend(pipeline.stage(name).needs)
        result[i] = tuple(sorted(found))
    return result


def _related(job: PlannedJob, needed: PlannedJob) -> bool:
    a, b = job.chunk, needed.chunk
    if a.scope == "commit" or b.scope == "commit":
        return True
    if a.scope == b.scope:
        return a.label == b.label
    return a.path == b.path


# -- chunks ---------------------------------------------------------------------------------------


class _Index:
    """The files of a change, and its entity changes by the files they touch."""

    def __init__(self, files: Sequence[ChangedFile], entities: Sequence[EntityChange]) -> None:
        seen: set[str] = set()
        self.files: list[ChangedFile] = []
        for f in files:
            if f.path not in seen:
                seen.add(f.path)
                self.files.append(f)
        self.language = {f.path: f.language for f in self.files}
        self.entities = list(entities)
        self.touching: dict[str, list[EntityChange]] = {}
        for change in entities:
            for path in {change.path, change.old_path} - {""}:
                self.touching.setdefault(path, []).append(change)

    def language_of(self, path: str) -> str:
        if path in self.language:
            return self.language[path]
        return language_for(path) or ""


def _takes_removed(stage: Stage) -> bool:
    """Whether removed chunks (deleted files, removed entities) are worth a job of this stage."""
    if stage.kind == "syntax":
        return False
    if stage.kind == "command":
        return "removed" in stage.selectors.changes
    return True


def _path_selected(stage: Stage, path: str) -> bool:
    sel = stage.selectors
    if sel.paths and not matches_any(sel.paths, path):
        return False
    return not (sel.exclude and matches_any(sel.exclude, path))


def _file_selected(stage: Stage, f: ChangedFile, index: _Index) -> bool:
    sel = stage.selectors
    if f.status == "deleted" and not _takes_removed(stage):
        return False
    if stage.kind == "syntax" and not f.language:
        return False
    if not _path_selected(stage, f.path):
        return False
    if sel.languages and f.language not in sel.languages:
        return False
    touching = index.touching.get(f.path, ())
    if sel.entities:
        return any(e.kind in sel.entities and (not sel.changes or e.change in sel.changes) for e in touching)
    if sel.changes:
        return f.change in sel.changes or any(e.change in sel.changes for e in touching)
    return True


def _chunks(stage: Stage, index: _Index) -> list[Chunk]:
    if stage.scope == "entity":
        return _entity_chunks(stage, index)
    matching = [f for f in index.files if _file_selected(stage, f, index)]
    if stage.scope == "file":
        return [
            Chunk(scope="file", path=f.path, language=f.language, change=f.change, paths=(f.path,)) for f in matching
        ]
    if stage.selectors.is_empty and stage.kind != "syntax":
        return [Chunk(scope="commit", paths=tuple(f.path for f in index.files if f.status != "deleted"))]
    if not matching:
        return []
    return [Chunk(scope="commit", paths=tuple(f.path for f in matching if f.status != "deleted"))]


def _entity_chunks(stage: Stage, index: _Index) -> list[Chunk]:
    sel = stage.selectors
    chunks: list[Chunk] = []
    labels: set[str] = set()
    for change in index.entities:
        if change.change == "removed" and not _takes_removed(stage):
            continue
        language = index.language_of(change.path)
        if not _path_selected(stage, change.path):
            continue
        if sel.languages and language not in sel.languages:
            continue
        if sel.entities and change.kind not in sel.entities:
            continue
        if sel.changes and change.change not in sel.changes:
            continue
        chunk = Chunk(
            scope="entity",
            path=change.path,
            qualname=change.qualname,
            name=_entity_name(change),
            kind=change.kind,
            language=language,
            change=change.change,
            paths=(change.path,),
        )
        if chunk.label not in labels:
            labels.add(chunk.label)
            chunks.append(chunk)
    return chunks


def _entity_name(change: EntityChange) -> str:
    """The last segment of the qualified name, ignoring dots inside brackets (``<a.B as C>``)."""
    qualname = change.qualname
    if change.kind in ("module", "document"):
        return qualname
    depth = 0
    for i in range(len(qualname) - 1, -1, -1):
        c = qualname[i]
        if c in ">]":
            depth += 1
        elif c in "<[":
            depth -= 1
        elif c == "." and depth == 0:
            return qualname[i + 1 :]
    return qualname


def _render(stage: Stage, chunk: Chunk, commit_id: str) -> str:
    values: dict[str, str | tuple[str, ...]] = {
        "paths": chunk.paths,
        "commit": commit_id,
        "stage": stage.name,
        "path": chunk.path,
        "qualname": chunk.qualname,
        "name": chunk.name,
        "kind": chunk.kind,
        "language": chunk.language,
        "change": chunk.change,
    }
    return render_template(stage.run, values)
