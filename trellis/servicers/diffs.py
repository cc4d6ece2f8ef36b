from __future__ import annotations

import grpc

from .. import convert, names
from ..differ import Differ
from ..v1 import diffs_pb2 as pb
from ..v1 import diffs_pb2_grpc

__all__ = ["DiffServicer"]


class DiffServicer(diffs_pb2_grpc.DiffServiceServicer):
    def __init__(self, differ: Differ) -> None:
        self.differ = differ

    def Diff(self, request: pb.DiffRequest, context: grpc.ServicerContext) -> pb.DiffResponse:
        repository = names.parse_repository(request.parent, "parent")
        done = self.differ.diff(
            repository,
            names.parse_revision(repository, request.old_revision, "old_revision"),
            names.parse_revision(repository, request.new_revision, "new_revision"),
            list(request.paths),
            line_diff=request.include_line_diff,
        )
        return pb.DiffResponse(
            files=[convert.file_diff_pb(f, done.line_diffs.get(f.path, b"")) for f in done.result.files],
            entity_changes=[convert.entity_change_pb(c) for c in done.result.changes],
        )
