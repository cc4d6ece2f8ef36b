from __future__ import annotations

import grpc

from trellis.vcs import Store

from .. import convert, names
from ..indexing import IndexEvents
from ..interceptors import current_identity
from ..v1 import repositories_pb2 as pb
from ..v1 import repositories_pb2_grpc

__all__ = ["RepositoryServicer"]


class RepositoryServicer(repositories_pb2_grpc.RepositoryServiceServicer):
    def __init__(self, store: Store, index: IndexEvents) -> None:
        self.store = store
        self.index = index

    def CreateRepository(
        self, request: pb.CreateRepositoryRequest, context: grpc.ServicerContext
    ) -> pb.CreateRepositoryResponse:
        repo = self.store.create_repository(
            request.repository_id,
            current_identity(),
            default_branch=request.default_branch or "main",
            description=request.description,
        )
        self.index.changed(repo.repository_id)
        return pb.CreateRepositoryResponse(repository=convert.repository_pb(repo))

    def GetRepository(
        self, request: pb.GetRepositoryRequest, context: grpc.ServicerContext
    ) -> pb.GetRepositoryResponse:
        repo = self.store.get_repository(names.parse_repository(request.name))
        return pb.GetRepositoryResponse(repository=convert.repository_pb(repo))

    def ListRepositories(
        self, request: pb.ListRepositoriesRequest, context: grpc.ServicerContext
    ) -> pb.ListRepositoriesResponse:
        page = self.store.list_repositories(requested_page_size=request.page_size, page_token=request.page_token)
        return pb.ListRepositoriesResponse(
            repositories=[convert.repository_pb(r) for r in page.items], next_page_token=page.next_page_token
        )

    def DeleteRepository(
        self, request: pb.DeleteRepositoryRequest, context: grpc.ServicerContext
    ) -> pb.DeleteRepositoryResponse:
        repository = names.parse_repository(request.name)
        self.store.delete_repository(repository)
        self.index.deleted(repository)
        return pb.DeleteRepositoryResponse()
