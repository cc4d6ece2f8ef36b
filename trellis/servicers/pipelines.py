from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import grpc

from trellis import ci
from trellis.vcs import InvalidArgument, LimitExceeded

from .. import convert, names
from ..interceptors import current_identity
from ..v1 import pipelines_pb2 as pb
from ..v1 import pipelines_pb2_grpc

if TYPE_CHECKING:
    from ..workers import FrontVerifier

__all__ = ["PipelineServicer"]

MAX_CONFIG_BYTES = 64 * 1024
MAX_STAGE_FILTERS = 64


def _check_stage_names(stages: list[str]) -> list[str]:
    if len(stages) > MAX_STAGE_FILTERS:
        raise LimitExceeded(f"at most {MAX_STAGE_FILTERS} stages may be named", reason="TOO_MANY_STAGES")
    return stages


class PipelineServicer(pipelines_pb2_grpc.PipelineServiceServicer):
    def __init__(self, verifier: ci.Verifier | FrontVerifier) -> None:
        self.verifier = verifier

    def SetPipeline(self, request: pb.SetPipelineRequest, context: grpc.ServicerContext) -> pb.SetPipelineResponse:
        repository = names.parse_repository(request.parent, "parent")
        if len(request.config_toml.encode()) > MAX_CONFIG_BYTES:
            raise LimitExceeded(f"config_toml is over {MAX_CONFIG_BYTES} bytes", reason="PIPELINE_TOO_LARGE")
        pipeline = self.verifier.set_pipeline(repository, request.config_toml, current_identity())
        if pipeline is None:
            return pb.SetPipelineResponse(pipeline=pb.Pipeline(repository=names.repository_name(repository), source=""))
        return pb.SetPipelineResponse(pipeline=convert.pipeline_pb(repository, pipeline))

    def GetPipeline(self, request: pb.GetPipelineRequest, context: grpc.ServicerContext) -> pb.GetPipelineResponse:
        repository = names.parse_repository(request.parent, "parent")
        pipeline = self.verifier.get_pipeline(repository, names.parse_revision(repository, request.revision))
        return pb.GetPipelineResponse(pipeline=convert.pipeline_pb(repository, pipeline))

    def Verify(self, request: pb.VerifyRequest, context: grpc.ServicerContext) -> pb.VerifyResponse:
        repository = names.parse_repository(request.parent, "parent")
        if not request.revision:
            raise InvalidArgument(
                "revision is required: a branch or a commit id", reason="MISSING_FIELD", field="revision"
            )
        run = self.verifier.start(
            repository,
            names.parse_revision(repository, request.revision),
            trigger="full" if request.full else "verify",
            stages=_check_stage_names(list(request.stages)),
            full=request.full,
            pipeline_branch=names.parse_branch_ref(repository, request.pipeline_branch, "pipeline_branch"),
        )
        return pb.VerifyResponse(run=convert.run_pb(run))

    def GetRun(self, request: pb.GetRunRequest, context: grpc.ServicerContext) -> pb.GetRunResponse:
        repository, run_id = names.parse_run(request.name)
        return pb.GetRunResponse(run=convert.run_pb(self.verifier.get(repository, run_id)))

    def ListRuns(self, request: pb.ListRunsRequest, context: grpc.ServicerContext) -> pb.ListRunsResponse:
        repository = names.parse_repository(request.parent, "parent")
        size = min(request.page_size or 50, 1000)
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative", reason="INVALID_PAGE_SIZE")
        after = request.page_token
        if after and not (len(after) == 20 and all(c in "0123456789abcdef" for c in after)):
            raise InvalidArgument("page_token is not a token this server issued", reason="INVALID_PAGE_TOKEN")
        ids = self.verifier.list_runs(
            repository, request.commit_id, names.parse_branch_ref(repository, request.branch, "branch")
        )
        if after:
            ids = [i for i in ids if i < after]
        page = ids[:size]
        return pb.ListRunsResponse(
            runs=[convert.run_pb(self.verifier.get(repository, i), with_tests=False) for i in page],
            next_page_token=page[-1] if len(ids) > size else "",
        )

    def WatchRun(self, request: pb.WatchRunRequest, context: grpc.ServicerContext) -> Iterator[pb.WatchRunResponse]:
        repository, run_id = names.parse_run(request.name)
        for event, run in self.verifier.watch(repository, run_id, alive=context.is_active):
            if run is not None:
                yield pb.WatchRunResponse(run=convert.run_pb(run))
            elif event is not None:
                yield pb.WatchRunResponse(
                    event=pb.JobEvent(
                        stage=event.stage,
                        chunk=event.chunk,
                        verdict=convert.verdict_pb(event.verdict),
                        time=convert.timestamp(event.time),
                        message=event.message,
                    )
                )

    def PostVerdict(self, request: pb.PostVerdictRequest, context: grpc.ServicerContext) -> pb.PostVerdictResponse:
        repository, run_id = names.parse_run(request.name)
        if not request.stage:
            raise InvalidArgument(
                "stage is required: the external stage the verdict is for", reason="MISSING_FIELD", field="stage"
            )
        if len(request.summary) > 4096 or len(request.details_url) > 2048:
            raise InvalidArgument("summary (4096) or details_url (2048) is too long", reason="FIELD_TOO_LONG")
        result = self.verifier.post_verdict(
            repository,
            run_id,
            request.stage,
            request.chunk,
            convert.verdict_from_pb(request.verdict),
            request.summary,
            request.details_url,
            current_identity(),
        )
        return pb.PostVerdictResponse(result=convert.job_result_pb(result))

    def WatchReviews(
        self, request: pb.WatchReviewsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchReviewsResponse]:
        repository = names.parse_repository(request.parent, "parent")
        self.verifier.store.open(repository)  # NOT_FOUND before the stream starts
        reviews = (
            self.verifier.pending_reviews(repository, request.stage)
            if request.current_only
            else self.verifier.watch_reviews(repository, request.stage, alive=context.is_active)
        )
        for review in reviews:
            yield pb.WatchReviewsResponse(
                run=names.run_name(repository, review.run_id),
                commit_id=review.commit_id,
                stage=review.stage,
                chunk=review.chunk,
                path=review.path,
                qualname=review.qualname,
                content=review.content,
            )
