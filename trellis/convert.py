"""Protobuf messages to domain values and back. No logic beyond translation."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from trellis import ci, semantic_diff, vcs
from trellis.vcs import InvalidArgument

from . import names
from .v1 import (
    changes_pb2,
    common_pb2,
    diffs_pb2,
    pipelines_pb2,
    queries_pb2,
    repositories_pb2,
    sessions_pb2,
)

__all__ = [
    "branch_pb",
    "changes_from_pb",
    "commit_pb",
    "on_stale_from_pb",
    "repository_pb",
    "session_pb",
    "session_status_from_pb",
    "step_input_from_pb",
    "step_input_pb",
    "step_pb",
    "timestamp",
    "tree_entry_pb",
]

_TREE_KINDS = {
    "file": changes_pb2.TREE_ENTRY_KIND_FILE,
    "directory": changes_pb2.TREE_ENTRY_KIND_DIRECTORY,
    "symlink": changes_pb2.TREE_ENTRY_KIND_SYMLINK,
    "submodule": changes_pb2.TREE_ENTRY_KIND_SUBMODULE,
}
_STATUSES = {
    vcs.SessionStatus.ACTIVE: sessions_pb2.SESSION_STATUS_ACTIVE,
    vcs.SessionStatus.SUCCEEDED: sessions_pb2.SESSION_STATUS_SUCCEEDED,
    vcs.SessionStatus.FAILED: sessions_pb2.SESSION_STATUS_FAILED,
    vcs.SessionStatus.ABANDONED: sessions_pb2.SESSION_STATUS_ABANDONED,
}
_STATUSES_BACK: dict[int, vcs.SessionStatus] = {v: k for k, v in _STATUSES.items()}


def timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1_000_000_000))
    return ts


def _signature_pb(sig: vcs.Signature) -> common_pb2.Signature:
    return common_pb2.Signature(name=sig.name, email=sig.email, time=timestamp(sig.time))


def commit_pb(repository: str, commit: vcs.Commit) -> changes_pb2.Commit:
    return changes_pb2.Commit(
        name=names.commit_name(repository, commit.commit_id),
        commit_id=commit.commit_id,
        tree_id=commit.tree_id,
        parent_ids=commit.parent_ids,
        author=_signature_pb(commit.author),
        committer=_signature_pb(commit.committer),
        message=commit.message,
        trailers=commit.trailers,
    )


_STRATEGIES = {
    "structured": changes_pb2.MERGE_STRATEGY_STRUCTURED,
    "line": changes_pb2.MERGE_STRATEGY_LINE,
    "fast_forward": changes_pb2.MERGE_STRATEGY_FAST_FORWARD,
}


def merge_pb(repository: str, result: vcs.MergeResult) -> changes_pb2.MergeResponse:
    return changes_pb2.MergeResponse(
        commit=commit_pb(repository, result.commit) if result.commit is not None else None,
        clean=result.clean,
        conflicts=[
            changes_pb2.MergeConflict(
                path=c.path,
                qualname=c.qualname,
                entity_kind=c.entity_kind,
                base=c.base,
                left=c.left,
                right=c.right,
                markers=c.markers,
            )
            for c in result.conflicts
        ],
        strategy=_STRATEGIES[result.strategy],
        up_to_date=result.up_to_date,
    )


def merge_from_pb(response: changes_pb2.MergeResponse) -> vcs.MergeResult:
    strategy = {v: k for k, v in _STRATEGIES.items()}.get(response.strategy, "line")
    return vcs.MergeResult(
        commit=commit_from_pb(response.commit) if response.HasField("commit") else None,
        strategy=strategy,
        conflicts=tuple(
            vcs.MergeConflictInfo(c.path, c.qualname, c.entity_kind, c.base, c.left, c.right, c.markers)
            for c in response.conflicts
        ),
        up_to_date=response.up_to_date,
        step=None,
    )


def repository_pb(repo: vcs.Repository) -> repositories_pb2.Repository:
    return repositories_pb2.Repository(
        name=names.repository_name(repo.repository_id),
        repository_id=repo.repository_id,
        default_branch=repo.default_branch,
        description=repo.description,
        create_time=timestamp(repo.create_time),
        head_commit_id=repo.head_commit_id,
    )


def branch_pb(repository: str, branch: vcs.Branch) -> changes_pb2.Branch:
    return changes_pb2.Branch(
        name=names.branch_name(repository, branch.branch_id),
        branch_id=branch.branch_id,
        head_commit_id=branch.head_commit_id,
    )


def tree_entry_pb(entry: vcs.TreeEntry) -> changes_pb2.TreeEntry:
    return changes_pb2.TreeEntry(
        path=entry.path,
        object_id=entry.object_id,
        kind=_TREE_KINDS[entry.kind],
        executable=entry.executable,
        size=entry.size,
    )


def changes_from_pb(changes: list[changes_pb2.FileChange]) -> list[vcs.Change]:
    result: list[vcs.Change] = []
    for i, change in enumerate(changes):
        which = change.WhichOneof("change")
        if which == "put":
            executable = change.put.executable if change.put.HasField("executable") else None
            result.append(vcs.PutFile(change.put.path, change.put.content, executable))
        elif which == "delete":
            result.append(vcs.DeleteFile(change.delete.path))
        elif which == "rename":
            result.append(vcs.RenameFile(change.rename.old_path, change.rename.new_path))
        else:
            raise InvalidArgument(f"changes[{i}] is empty: set one of put, delete or rename", reason="INVALID_CHANGE")
    return result


def on_stale_from_pb(value: int) -> vcs.OnStale:
    if value == changes_pb2.ON_STALE_REBASE:
        return vcs.OnStale.REBASE
    if value in (changes_pb2.ON_STALE_UNSPECIFIED, changes_pb2.ON_STALE_FAIL):
        return vcs.OnStale.FAIL
    raise InvalidArgument(f"unknown on_stale value {value}", reason="INVALID_ON_STALE")


def session_status_from_pb(value: int) -> vcs.SessionStatus:
    try:
        return _STATUSES_BACK[value]
    except KeyError:
        raise InvalidArgument("status must be SUCCEEDED, FAILED or ABANDONED", reason="INVALID_STATUS") from None


def step_input_from_pb(step: sessions_pb2.StepInput | sessions_pb2.Step) -> vcs.StepInput:
    """The agent-reported fields (``Step`` carries the same ones as ``StepInput``)."""
    return vcs.StepInput(
        thought=step.thought,
        action=step.action,
        arguments_json=step.arguments_json,
        observation=step.observation,
        input_tokens=step.input_tokens,
        output_tokens=step.output_tokens,
        cost_usd=step.cost_usd,
        latency_ms=step.latency_ms,
        metadata=dict(step.metadata),
    )


def step_input_pb(step: vcs.StepInput) -> sessions_pb2.StepInput:
    return sessions_pb2.StepInput(
        thought=step.thought,
        action=step.action,
        arguments_json=step.arguments_json,
        observation=step.observation,
        input_tokens=step.input_tokens,
        output_tokens=step.output_tokens,
        cost_usd=step.cost_usd,
        latency_ms=step.latency_ms,
        metadata=step.metadata,
    )


def step_pb(repository: str, step: vcs.Step) -> sessions_pb2.Step:
    s = step.input
    return sessions_pb2.Step(
        name=names.step_name(repository, step.session_id, step.index),
        index=step.index,
        thought=s.thought,
        action=s.action,
        arguments_json=s.arguments_json,
        observation=s.observation,
        input_tokens=s.input_tokens,
        output_tokens=s.output_tokens,
        cost_usd=s.cost_usd,
        latency_ms=s.latency_ms,
        metadata=s.metadata,
        commit_id=step.commit_id,
        create_time=timestamp(step.create_time),
    )


def session_pb(repository: str, session: vcs.Session) -> sessions_pb2.Session:
    return sessions_pb2.Session(
        name=names.session_name(repository, session.session_id),
        session_id=session.session_id,
        agent=session.agent,
        model=session.model,
        task=session.task,
        base_commit_id=session.base_commit_id,
        branch=names.branch_name(repository, session.branch_id),
        status=_STATUSES[session.status],
        create_time=timestamp(session.create_time),
        end_time=timestamp(session.end_time),
        step_count=session.step_count,
        commit_count=session.commit_count,
        input_tokens=session.input_tokens,
        output_tokens=session.output_tokens,
        cost_usd=session.cost_usd,
        outcome=session.outcome,
        metadata=session.metadata,
    )


# -- responses back to domain values (used by the SDK) ----------------------

_TREE_KINDS_BACK = {v: k for k, v in _TREE_KINDS.items()}


def _seconds(ts: Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def _signature_from(sig: common_pb2.Signature) -> vcs.Signature:
    return vcs.Signature(name=sig.name, email=sig.email, time=sig.time.seconds)


def commit_from_pb(commit: changes_pb2.Commit) -> vcs.Commit:
    return vcs.Commit(
        commit_id=commit.commit_id,
        tree_id=commit.tree_id,
        parent_ids=tuple(commit.parent_ids),
        author=_signature_from(commit.author),
        committer=_signature_from(commit.committer),
        message=commit.message,
        trailers=dict(commit.trailers),
    )


def repository_from_pb(repo: repositories_pb2.Repository) -> vcs.Repository:
    return vcs.Repository(
        repository_id=repo.repository_id,
        default_branch=repo.default_branch,
        description=repo.description,
        create_time=repo.create_time.seconds,
        head_commit_id=repo.head_commit_id,
    )


def branch_from_pb(branch: changes_pb2.Branch) -> vcs.Branch:
    return vcs.Branch(branch.branch_id, branch.head_commit_id)


def tree_entry_from_pb(entry: changes_pb2.TreeEntry) -> vcs.TreeEntry:
    return vcs.TreeEntry(
        path=entry.path,
        object_id=entry.object_id,
        kind=_TREE_KINDS_BACK.get(entry.kind, "file"),
        executable=entry.executable,
        size=entry.size,
    )


def changes_pb(changes: list[vcs.Change]) -> list[changes_pb2.FileChange]:
    result = []
    for change in changes:
        if isinstance(change, vcs.PutFile):
            put = changes_pb2.PutFile(path=change.path, content=change.content)
            if change.executable is not None:  # unset keeps the existing mode
                put.executable = change.executable
            result.append(changes_pb2.FileChange(put=put))
        elif isinstance(change, vcs.DeleteFile):
            result.append(changes_pb2.FileChange(delete=changes_pb2.DeleteFile(path=change.path)))
        else:
            result.append(
                changes_pb2.FileChange(
                    rename=changes_pb2.RenameFile(old_path=change.old_path, new_path=change.new_path)
                )
            )
    return result


def step_from_pb(session_id: str, step: sessions_pb2.Step) -> vcs.Step:
    return vcs.Step(
        session_id=session_id,
        index=step.index,
        input=step_input_from_pb(step),
        commit_id=step.commit_id,
        create_time=_seconds(step.create_time),
    )


def session_from_pb(session: sessions_pb2.Session) -> vcs.Session:
    return vcs.Session(
        session_id=session.session_id,
        agent=session.agent,
        model=session.model,
        task=session.task,
        base_commit_id=session.base_commit_id,
        branch_id=names.parse_branch(session.branch, "branch")[1],
        status=_STATUSES_BACK.get(session.status, vcs.SessionStatus.ACTIVE),
        create_time=_seconds(session.create_time),
        end_time=_seconds(session.end_time) if session.HasField("end_time") else None,
        step_count=session.step_count,
        commit_count=session.commit_count,
        input_tokens=session.input_tokens,
        output_tokens=session.output_tokens,
        cost_usd=session.cost_usd,
        outcome=session.outcome,
        metadata=dict(session.metadata),
    )


def session_status_pb(status: vcs.SessionStatus) -> sessions_pb2.SessionStatus.ValueType:
    return _STATUSES[status]


# -- semantic diffs ----------------------------------------------------------

_FILE_STATUS = {
    "added": diffs_pb2.FILE_STATUS_ADDED,
    "deleted": diffs_pb2.FILE_STATUS_DELETED,
    "modified": diffs_pb2.FILE_STATUS_MODIFIED,
    "renamed": diffs_pb2.FILE_STATUS_RENAMED,
}
_CHANGE_KIND = {
    "added": diffs_pb2.CHANGE_KIND_ADDED,
    "removed": diffs_pb2.CHANGE_KIND_REMOVED,
    "modified": diffs_pb2.CHANGE_KIND_MODIFIED,
    "renamed": diffs_pb2.CHANGE_KIND_RENAMED,
    "moved": diffs_pb2.CHANGE_KIND_MOVED,
    "moved_renamed": diffs_pb2.CHANGE_KIND_MOVED_AND_RENAMED,
}
_CHANGE_KIND_BACK = {v: k for k, v in _CHANGE_KIND.items()}
_FILE_STATUS_BACK = {v: k for k, v in _FILE_STATUS.items()}


def file_diff_pb(file: semantic_diff.FileDiff, line_diff: bytes = b"") -> diffs_pb2.FileDiff:
    return diffs_pb2.FileDiff(
        path=file.path,
        old_path=file.old_path,
        status=_FILE_STATUS.get(file.status, diffs_pb2.FILE_STATUS_UNSPECIFIED),
        additions=file.additions,
        deletions=file.deletions,
        language=file.language,
        binary=file.binary,
        fallback_reason=file.fallback_reason,
        line_diff=line_diff,
    )


def entity_change_pb(change: semantic_diff.EntityChange) -> diffs_pb2.EntityChange:
    return diffs_pb2.EntityChange(
        path=change.path,
        old_path=change.old_path,
        kind=change.kind,
        qualname=change.qualname,
        old_qualname=change.old_qualname,
        change=_CHANGE_KIND[change.change],
        details=change.details,
        old_start_line=change.old_start_line,
        old_end_line=change.old_end_line,
        new_start_line=change.new_start_line,
        new_end_line=change.new_end_line,
        similarity=change.similarity,
        follows=change.follows,
    )


def entity_change_from_pb(change: diffs_pb2.EntityChange) -> semantic_diff.EntityChange:
    return semantic_diff.EntityChange(
        path=change.path,
        old_path=change.old_path,
        kind=change.kind,
        qualname=change.qualname,
        old_qualname=change.old_qualname,
        change=_CHANGE_KIND_BACK.get(change.change, "modified"),
        details=tuple(change.details),
        old_start_line=change.old_start_line,
        old_end_line=change.old_end_line,
        new_start_line=change.new_start_line,
        new_end_line=change.new_end_line,
        similarity=change.similarity,
        follows=change.follows,
    )


def file_diff_from_pb(file: diffs_pb2.FileDiff) -> semantic_diff.FileDiff:
    return semantic_diff.FileDiff(
        path=file.path,
        old_path=file.old_path,
        status=_FILE_STATUS_BACK.get(file.status, "modified"),
        language=file.language,
        additions=file.additions,
        deletions=file.deletions,
        binary=file.binary,
        fallback_reason=file.fallback_reason,
    )


# -- verification -----------------------------------------------------------------

_VERDICTS = {
    ci.Verdict.PENDING: pipelines_pb2.VERDICT_PENDING,
    ci.Verdict.RUNNING: pipelines_pb2.VERDICT_RUNNING,
    ci.Verdict.PASSED: pipelines_pb2.VERDICT_PASSED,
    ci.Verdict.FAILED: pipelines_pb2.VERDICT_FAILED,
    ci.Verdict.ERROR: pipelines_pb2.VERDICT_ERROR,
    ci.Verdict.SKIPPED: pipelines_pb2.VERDICT_SKIPPED,
    ci.Verdict.CANCELLED: pipelines_pb2.VERDICT_CANCELLED,
    ci.Verdict.TIMED_OUT: pipelines_pb2.VERDICT_TIMED_OUT,
}
_VERDICTS_FROM: dict[int, ci.Verdict] = {v: k for k, v in _VERDICTS.items()}


def verdict_pb(verdict: ci.Verdict) -> pipelines_pb2.Verdict.ValueType:
    return _VERDICTS[verdict]


def verdict_from_pb(value: int) -> ci.Verdict:
    if value not in _VERDICTS_FROM:
        raise vcs.InvalidArgument(f"verdict {value} is not a verdict", reason="INVALID_VERDICT")
    return _VERDICTS_FROM[value]


_TRIGGERS = {
    "push": pipelines_pb2.RUN_TRIGGER_PUSH,
    "verify": pipelines_pb2.RUN_TRIGGER_VERIFY,
    "full": pipelines_pb2.RUN_TRIGGER_FULL,
    "gate": pipelines_pb2.RUN_TRIGGER_GATE,
}
_TRIGGERS_FROM = {v: k for k, v in _TRIGGERS.items()}
_SCOPES = {
    "commit": pipelines_pb2.STAGE_SCOPE_COMMIT,
    "file": pipelines_pb2.STAGE_SCOPE_FILE,
    "entity": pipelines_pb2.STAGE_SCOPE_ENTITY,
}
_SCOPES_FROM = {v: k for k, v in _SCOPES.items()}


def job_result_pb(job: ci.JobResult, *, with_tests: bool = True) -> pipelines_pb2.JobResult:
    return pipelines_pb2.JobResult(
        stage=job.stage,
        chunk=job.chunk,
        verdict=_VERDICTS[job.verdict],
        cached=job.cached,
        duration_ms=job.duration_ms,
        summary=job.summary,
        output=job.output,
        exit_code=job.exit_code,
        scope=_SCOPES[job.scope],
        tests=[
            pipelines_pb2.TestCase(
                test_id=t.test_id, verdict=_VERDICTS[t.verdict], duration_ms=t.duration_ms, message=t.message
            )
            for t in job.tests
        ]
        if with_tests
        else [],
        selected_tests=job.selected_tests,
        total_tests=job.total_tests,
        start_time=timestamp(job.start_time),
        end_time=timestamp(job.end_time),
        reviewer=job.reviewer,
        details_url=job.details_url,
        blocked_by=job.blocked_by,
        fallback=job.fallback,
    )


def run_pb(run: ci.Run, *, with_tests: bool = True) -> pipelines_pb2.Run:
    return pipelines_pb2.Run(
        name=names.run_name(run.repository, run.run_id),
        run_id=run.run_id,
        commit_id=run.commit_id,
        verdict=_VERDICTS[run.verdict],
        jobs=[job_result_pb(j, with_tests=with_tests) for j in run.jobs],
        create_time=timestamp(run.create_time),
        end_time=timestamp(run.end_time),
        branch=names.branch_name(run.repository, run.branch) if run.branch else "",
        trigger=_TRIGGERS[run.trigger],
        pipeline_source=run.pipeline_source,
        missed_tests=list(run.missed_tests),
    )


def job_from_pb(s: pipelines_pb2.JobResult) -> ci.JobResult:
    scope = _SCOPES_FROM.get(s.scope, "commit")
    path, _, qualname = s.chunk.partition("::") if scope != "commit" else ("", "", "")
    return ci.JobResult(
        stage=s.stage,
        scope=scope,
        chunk=s.chunk,
        path=path,
        qualname=qualname,
        verdict=_VERDICTS_FROM[s.verdict],
        cached=s.cached,
        duration_ms=s.duration_ms,
        summary=s.summary,
        output=s.output,
        exit_code=s.exit_code,
        tests=tuple(ci.TestCase(t.test_id, _VERDICTS_FROM[t.verdict], t.duration_ms, t.message) for t in s.tests),
        selected_tests=s.selected_tests,
        total_tests=s.total_tests,
        start_time=_seconds(s.start_time) if s.HasField("start_time") else None,
        end_time=_seconds(s.end_time) if s.HasField("end_time") else None,
        reviewer=s.reviewer,
        details_url=s.details_url,
        blocked_by=s.blocked_by,
        fallback=s.fallback,
    )


def run_from_pb(run: pipelines_pb2.Run) -> ci.Run:
    repository, _ = names.parse_run(run.name)
    jobs = tuple(job_from_pb(s) for s in run.jobs)
    return ci.Run(
        repository=repository,
        run_id=run.run_id,
        commit_id=run.commit_id,
        verdict=_VERDICTS_FROM[run.verdict],
        jobs=jobs,
        create_time=_seconds(run.create_time),
        end_time=_seconds(run.end_time) if run.HasField("end_time") else None,
        branch=names.parse_branch(run.branch, "branch")[1] if run.branch else "",
        trigger=_TRIGGERS_FROM.get(run.trigger, "verify"),
        pipeline_source=run.pipeline_source,
        missed_tests=tuple(run.missed_tests),
    )


def pipeline_pb(repository: str, pipeline: ci.Pipeline) -> pipelines_pb2.Pipeline:
    return pipelines_pb2.Pipeline(
        repository=names.repository_name(repository),
        config_toml=pipeline.text,
        source=pipeline.source,
        stages=list(pipeline.names),
    )


# -- query parameters -------------------------------------------------------------


def query_value_pb(value: object) -> queries_pb2.QueryValue:
    """A Python value as a typed query parameter (None, bool, int, float, str, bytes, datetime)."""
    if value is None:
        return queries_pb2.QueryValue(null_value=True)
    if isinstance(value, bool):
        return queries_pb2.QueryValue(bool_value=value)
    if isinstance(value, int):
        return queries_pb2.QueryValue(int_value=value)
    if isinstance(value, float):
        return queries_pb2.QueryValue(double_value=value)
    if isinstance(value, str):
        return queries_pb2.QueryValue(string_value=value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return queries_pb2.QueryValue(bytes_value=bytes(value))
    if isinstance(value, datetime.datetime):
        when = value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
        ts = Timestamp()
        ts.FromDatetime(when.astimezone(datetime.UTC))
        return queries_pb2.QueryValue(timestamp_value=ts)
    raise InvalidArgument(
        f"a query parameter cannot be a {type(value).__name__}: use None, bool, int, float, str, bytes or datetime",
        reason="QUERY_PARAM_TYPE",
    )


def query_value_from_pb(value: queries_pb2.QueryValue, name: str) -> object:
    kind = value.WhichOneof("value")
    if kind is None:
        raise InvalidArgument(
            f"query parameter {name} has no value set (use null_value for NULL)",
            reason="QUERY_PARAM_TYPE",
            parameter=name,
        )
    if kind == "null_value":
        return None
    if kind == "timestamp_value":
        return value.timestamp_value.ToDatetime(tzinfo=datetime.UTC)
    return getattr(value, kind)


def query_params_pb(
    params: Sequence[object] | Mapping[str, object] | None,
) -> tuple[list[queries_pb2.QueryValue], dict[str, queries_pb2.QueryValue]]:
    """``params`` as QueryRequest's ``params`` (a sequence) or ``named_params`` (a mapping)."""
    if params is None:
        return [], {}
    if isinstance(params, Mapping):
        return [], {str(k): query_value_pb(v) for k, v in params.items()}
    if isinstance(params, (str, bytes)):
        raise InvalidArgument("query parameters are a list or a mapping, not one value", reason="QUERY_PARAM_TYPE")
    return [query_value_pb(v) for v in params], {}


def query_params_from_pb(request: queries_pb2.QueryRequest) -> list[object] | dict[str, object] | None:
    """The request's bind parameters: positional, named, or None; both at once is refused."""
    if request.params and request.named_params:
        raise InvalidArgument(
            "send params (positional) or named_params, not both: a statement uses one kind of placeholder",
            reason="QUERY_PARAM_COUNT",
        )
    if request.named_params:
        return {name: query_value_from_pb(v, f"${name}") for name, v in request.named_params.items()}
    if request.params:
        return [query_value_from_pb(v, str(i)) for i, v in enumerate(request.params, 1)]
    return None
