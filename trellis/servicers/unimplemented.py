"""Services whose contract is fixed but whose implementation arrives with later issues.

The generated base servicers already answer UNIMPLEMENTED; these subclasses
only say which issue brings each one, so a client learns what to expect.
"""

from __future__ import annotations

from typing import Any

import grpc

from ..v1 import pipelines_pb2_grpc

__all__ = ["PipelineServicer"]


def _unimplemented(what: str, issue: str) -> Any:
    def method(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{what} is not implemented yet; it arrives with the {issue} issue")

    return method


class PipelineServicer(pipelines_pb2_grpc.PipelineServiceServicer):
    SetPipeline = _unimplemented("SetPipeline", "verification")
    GetPipeline = _unimplemented("GetPipeline", "verification")
    Verify = _unimplemented("Verify", "verification")
    GetRun = _unimplemented("GetRun", "verification")
    ListRuns = _unimplemented("ListRuns", "verification")
    WatchRun = _unimplemented("WatchRun", "verification")
    PostVerdict = _unimplemented("PostVerdict", "verification")
