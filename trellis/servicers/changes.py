from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc

from trellis import ci
from trellis.vcs import CommitResult, InvalidArgument, Store

from .. import convert, names
from ..admission import waiting
from ..differ import Differ
from ..errors import DOMAIN_ERRORS, error_from_unexpected, rich_status, status_for
from ..indexing import IndexEvents
from ..interceptors import current_identity
from ..v1 import changes_pb2 as pb
from ..v1 import changes_pb2_grpc

if TYPE_CHECKING:
    from ..workers import FrontVerifier

__all__ = ["DEFAULT_CHUNK_BYTES", "MAX_CHUNK_BYTES", "ChangeServicer", "read_chunk_size"]

DEFAULT_CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 3 << 20  # with the message's other fields, under gRPC's default 4 MiB receive limit


def read_chunk_size(requested: int) -> int:
    """ReadFile's chunk size: 0 is the default, larger than the maximum is capped, negative is refused."""
    if requested < 0:
        raise InvalidArgument(
            "chunk_size must not be negative (0 means the server default)",
            reason="INVALID_CHUNK_SIZE",
            field="chunk_size",
        )
    return min(requested, MAX_CHUNK_BYTES) if requested else DEFAULT_CHUNK_BYTES


def _remaining(context: grpc.ServicerContext | None) -> float | None:
    """Seconds left before the client's deadline (None: no deadline)."""
    left = context.time_remaining() if context is not None else None
    # Answer well before the deadline (with the run as it is then), or the client sees DEADLINE_EXCEEDED.
    return max(0.0, left - max(0.25, left * 0.05)) if left is not None else None


class ChangeServicer(changes_pb2_grpc.ChangeServiceServicer):
    def __init__(self, store: Store, differ: Differ, index: IndexEvents, verifier: ci.Verifier | FrontVerifier) -> None:
        self.store = store
        self.differ = differ
        self.index = index
        self.verifier = verifier

    @staticmethod
    def _session_id(session: str, repository: str) -> str | None:
        return names.parse_session_ref(repository, session, "session") if session else None

    def _commit(self, request: pb.CommitRequest, context: grpc.ServicerContext | None = None) -> pb.CommitResponse:
        repository, branch = names.parse_branch(request.name)
        session_id = self._session_id(request.session, repository)
        self.verifier.check_direct_write(repository, branch)
        result: CommitResult = self.store.commit(
            repository,
            branch,
            convert.changes_from_pb(list(request.changes)),
            request.message,
            current_identity(),
            expected_head=request.expected_head if request.HasField("expected_head") else None,
            on_stale=convert.on_stale_from_pb(request.on_stale),
            session_id=session_id,
            step=convert.step_input_from_pb(request.step) if request.HasField("step") else None,
            request_id=request.request_id or None,
        )
        response = pb.CommitResponse(
            commit=convert.commit_pb(repository, result.commit),
            rebased=result.rebased,
            step=convert.step_pb(repository, result.step) if result.step is not None else None,
        )
        if request.wait_for_diff:
            with waiting():  # the diff is the differ's work: let other calls run meanwhile
                done = self.differ.diff(repository, "", result.commit.commit_id)
            response.files.extend(convert.file_diff_pb(f) for f in done.result.files)
            response.entity_changes.extend(convert.entity_change_pb(c) for c in done.result.changes)
        # indexes the commit with its semantic diff, in the background, from what the write changed
        self.index.changed(repository, result.delta)
        run = self.verifier.on_push(repository, branch, result.commit.commit_id, session_id or "", commit=result.commit)
        if run is not None and request.wait_for_verdict:
            with waiting():
                verdict = self.verifier.wait(repository, run.run_id, _remaining(context))
            response.run.CopyFrom(convert.run_pb(verdict))
        return response

    def Commit(self, request: pb.CommitRequest, context: grpc.ServicerContext) -> pb.CommitResponse:
        return self._commit(request, context)

    def CommitStream(
        self, request_iterator: Iterator[pb.CommitStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.CommitStreamResponse]:
        for item in request_iterator:
            try:
                response = self._commit(item.commit, context)
            except Exception as exc:
                error = exc if isinstance(exc, DOMAIN_ERRORS) else error_from_unexpected(exc)  # e.g. disk full
                if error is None:
                    raise
                code, message, reason, metadata = status_for(error)
                yield pb.CommitStreamResponse(
                    sequence=item.sequence, error=rich_status(code, message, reason, metadata)
                )
            else:
                yield pb.CommitStreamResponse(sequence=item.sequence, response=response)

    def GetCommit(self, request: pb.GetCommitRequest, context: grpc.ServicerContext) -> pb.GetCommitResponse:
        repository, revision = names.parse_commit(request.name)
        return pb.GetCommitResponse(commit=convert.commit_pb(repository, self.store.get_commit(repository, revision)))

    def ListCommits(self, request: pb.ListCommitsRequest, context: grpc.ServicerContext) -> pb.ListCommitsResponse:
        repository = names.parse_repository(request.parent, "parent")
        page = self.store.list_commits(
            repository,
            names.parse_revision(repository, request.revision),
            request.path,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListCommitsResponse(
            commits=[convert.commit_pb(repository, c) for c in page.items], next_page_token=page.next_page_token
        )

    def GetFile(self, request: pb.GetFileRequest, context: grpc.ServicerContext) -> pb.GetFileResponse:
        repository = names.parse_repository(request.parent, "parent")
        f = self.store.read_file(repository, names.parse_revision(repository, request.revision), request.path)
        return pb.GetFileResponse(
            path=f.path, content=f.content, executable=f.executable, blob_id=f.blob_id, size=len(f.content)
        )

    def ReadFile(self, request: pb.ReadFileRequest, context: grpc.ServicerContext) -> Iterator[pb.ReadFileResponse]:
        repository = names.parse_repository(request.parent, "parent")
        chunk = read_chunk_size(request.chunk_size)
        revision = names.parse_revision(repository, request.revision)
        f = self.store.read_file(repository, revision, request.path)  # one blob: consistent throughout
        content = memoryview(f.content)
        yield pb.ReadFileResponse(
            path=f.path,
            executable=f.executable,
            blob_id=f.blob_id,
            size=len(content),
            offset=0,
            data=bytes(content[:chunk]),
        )
        for offset in range(chunk, len(content), chunk):
            yield pb.ReadFileResponse(offset=offset, data=bytes(content[offset : offset + chunk]))

    def ListTree(self, request: pb.ListTreeRequest, context: grpc.ServicerContext) -> pb.ListTreeResponse:
        repository = names.parse_repository(request.parent, "parent")
        page = self.store.list_tree(
            repository,
            names.parse_revision(repository, request.revision),
            request.path,
            recursive=request.recursive,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListTreeResponse(
            entries=[convert.tree_entry_pb(e) for e in page.items], next_page_token=page.next_page_token
        )

    def CreateBranch(self, request: pb.CreateBranchRequest, context: grpc.ServicerContext) -> pb.CreateBranchResponse:
        repository = names.parse_repository(request.parent, "parent")
        branch = self.store.create_branch(
            repository, request.branch_id, names.parse_revision(repository, request.revision)
        )
        self.index.changed(repository)
        return pb.CreateBranchResponse(branch=convert.branch_pb(repository, branch))

    def GetBranch(self, request: pb.GetBranchRequest, context: grpc.ServicerContext) -> pb.GetBranchResponse:
        repository, branch = names.parse_branch(request.name)
        return pb.GetBranchResponse(branch=convert.branch_pb(repository, self.store.get_branch(repository, branch)))

    def ListBranches(self, request: pb.ListBranchesRequest, context: grpc.ServicerContext) -> pb.ListBranchesResponse:
        repository = names.parse_repository(request.parent, "parent")
        page = self.store.list_branches(
            repository, request.prefix, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListBranchesResponse(
            branches=[convert.branch_pb(repository, b) for b in page.items], next_page_token=page.next_page_token
        )

    def DeleteBranch(self, request: pb.DeleteBranchRequest, context: grpc.ServicerContext) -> pb.DeleteBranchResponse:
        repository, branch = names.parse_branch(request.name)
        self.store.delete_branch(
            repository,
            branch,
            expected_head=request.expected_head if request.HasField("expected_head") else None,
        )
        self.index.changed(repository)
        return pb.DeleteBranchResponse()

    def Merge(self, request: pb.MergeRequest, context: grpc.ServicerContext) -> pb.MergeResponse:
        repository, branch = names.parse_branch(request.name)
        session_id = self._session_id(request.session, repository)
        if not request.source_revision:
            raise InvalidArgument(
                "source_revision is required: name a branch or a commit id",
                reason="MISSING_FIELD",
                field="source_revision",
            )
        source = names.parse_revision(repository, request.source_revision, "source_revision")
        if not request.preview:
            self.verifier.check_gate(repository, branch, source)
        result = self.store.merge(
            repository,
            branch,
            source,
            current_identity(),
            expected_head=request.expected_head if request.HasField("expected_head") else None,
            message=request.message,
            preview=request.preview,
            session_id=session_id,
            step=convert.step_input_from_pb(request.step) if request.HasField("step") else None,
        )
        if result.commit is not None and not result.up_to_date and not request.preview:
            self.index.changed(repository)
            self.verifier.on_push(repository, branch, result.commit.commit_id, session_id or "", commit=result.commit)
        return convert.merge_pb(repository, result)
