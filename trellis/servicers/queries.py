from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pyarrow as pa

from query import QueryLimits, export_parquet, json_rows, requested_bounds, stream_query
import pyarrow.parquet  # noqa: F401 - pa.parquet below

from vcs import FailedPrecondition, InvalidArgument

from .. import convert
from ..indexing import Index
from ..v1 import queries_pb2 as pb
from ..v1 import queries_pb2_grpc

__all__ = ["QueryServicer"]

class QueryServicer(queries_pb2_grpc.QueryServiceServicer):
    def __init__(self, index: Index, limits: QueryLimits | None = None) -> None:
        self.index = index
        self.limits = limits or QueryLimits()

    def Query(self, request: pb.QueryRequest, context: grpc.ServicerContext) -> Iterator[pb.QueryResponse]:
        max_rows, timeout_s = requested_bounds(request.max_rows, request.timeout_ms, self.limits)
        stream = stream_query(self.index.indexer, request.sql, max_rows=max_rows, timeout_s=timeout_s,
                              params=convert.query_params_from_pb(request))
        try:
            if request.format == pb.QUERY_FORMAT_JSON:
                for batch in stream:
                    rows = [json.dumps(row, ensure_ascii=False) for row in json_rows(batch)]
                    yield pb.QueryResponse(json_rows=rows, row_count=len(rows))
                yield pb.QueryResponse(truncated=stream.truncated)
                return
            buffer = io.BytesIO()
            writer = pa.ipc.new_stream(buffer, stream.schema)

            def take() -> bytes:
                data = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                return data

            yield pb.QueryResponse(arrow_ipc=take())  # the schema
            for batch in stream:
                writer.write_batch(batch)
                yield pb.QueryResponse(arrow_ipc=take(), row_count=batch.num_rows)
            writer.close()  # the end-of-stream marker
            yield pb.QueryResponse(arrow_ipc=take(), truncated=stream.truncated)
        finally:
            stream.close()

    def Export(self, request: pb.ExportRequest, context: grpc.ServicerContext) -> pb.ExportResponse:
        # Export writes files on the server: trellis/authz.py lets only admins on `*` call it.
        destination = Path(request.destination)
        if not request.destination or not destination.is_absolute():
            raise InvalidArgument("destination must be an absolute directory path on the server",
                                  reason="INVALID_DESTINATION")
        try:
            files = export_parquet(self.index.indexer, destination, list(request.tables) or None)
        except ValueError as exc:  # unknown table names
            raise InvalidArgument(str(exc), reason="UNKNOWN_TABLE") from None
        except OSError as exc:
            raise FailedPrecondition(f"cannot write to {destination}: {exc.strerror}",
                                     reason="DESTINATION_NOT_WRITABLE") from None
        rows = sum(pa.parquet.ParquetFile(f).metadata.num_rows for f in files)
        return pb.ExportResponse(files=[str(f.relative_to(destination)) for f in files], row_count=rows)
