from __future__ import annotations

import grpc

from trellis.vcs import InvalidArgument, Store

from .. import convert, names
from ..indexing import IndexEvents
from ..interceptors import current_identity
from ..v1 import sessions_pb2 as pb
from ..v1 import sessions_pb2_grpc

__all__ = ["SessionServicer"]


class SessionServicer(sessions_pb2_grpc.SessionServiceServicer):
    def __init__(self, store: Store, index: IndexEvents) -> None:
        self.store = store
        self.index = index

    def CreateSession(
        self, request: pb.CreateSessionRequest, context: grpc.ServicerContext
    ) -> pb.CreateSessionResponse:
        repository = names.parse_repository(request.parent, "parent")
        session = self.store.create_session(
            repository,
            current_identity(),
            model=request.model,
            task=request.task,
            base_revision=names.parse_revision(repository, request.base_revision, "base_revision"),
            branch=request.branch_id,
            metadata=dict(request.metadata),
        )
        self.index.changed(repository)
        return pb.CreateSessionResponse(session=convert.session_pb(repository, session))

    def GetSession(self, request: pb.GetSessionRequest, context: grpc.ServicerContext) -> pb.GetSessionResponse:
        repository, session_id = names.parse_session(request.name)
        return pb.GetSessionResponse(
            session=convert.session_pb(repository, self.store.get_session(repository, session_id))
        )

    def ListSessions(self, request: pb.ListSessionsRequest, context: grpc.ServicerContext) -> pb.ListSessionsResponse:
        repository = names.parse_repository(request.parent, "parent")
        page = self.store.list_sessions(
            repository, request.agent, page_size=request.page_size, page_token=request.page_token
        )
        return pb.ListSessionsResponse(
            sessions=[convert.session_pb(repository, s) for s in page.items], next_page_token=page.next_page_token
        )

    def EndSession(self, request: pb.EndSessionRequest, context: grpc.ServicerContext) -> pb.EndSessionResponse:
        repository, session_id = names.parse_session(request.name)
        session = self.store.end_session(
            repository,
            session_id,
            convert.session_status_from_pb(request.status),
            current_identity(),
            request.outcome,
        )
        self.index.changed(repository)
        return pb.EndSessionResponse(session=convert.session_pb(repository, session))

    def RecordStep(self, request: pb.RecordStepRequest, context: grpc.ServicerContext) -> pb.RecordStepResponse:
        repository, session_id = names.parse_session(request.parent, "parent")
        if not request.HasField("step"):
            raise InvalidArgument("step is required: the step to record", reason="MISSING_FIELD", field="step")
        step = self.store.record_step(
            repository, session_id, convert.step_input_from_pb(request.step), current_identity()
        )
        self.index.changed(repository)
        return pb.RecordStepResponse(step=convert.step_pb(repository, step))

    def RecordSteps(self, request: pb.RecordStepsRequest, context: grpc.ServicerContext) -> pb.RecordStepsResponse:
        repository, session_id = names.parse_session(request.parent, "parent")
        if not request.steps:
            raise InvalidArgument(
                "steps is required: at least one step to record", reason="MISSING_FIELD", field="steps"
            )
        steps = self.store.record_steps(
            repository, session_id, [convert.step_input_from_pb(s) for s in request.steps], current_identity()
        )
        self.index.changed(repository)
        return pb.RecordStepsResponse(steps=[convert.step_pb(repository, s) for s in steps])

    def ListSteps(self, request: pb.ListStepsRequest, context: grpc.ServicerContext) -> pb.ListStepsResponse:
        repository, session_id = names.parse_session(request.parent, "parent")
        page = self.store.list_steps(repository, session_id, page_size=request.page_size, page_token=request.page_token)
        return pb.ListStepsResponse(
            steps=[convert.step_pb(repository, s) for s in page.items], next_page_token=page.next_page_token
        )
