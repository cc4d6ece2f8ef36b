from __future__ import annotations

import dataclasses
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pyarrow as pa
import pyarrow.parquet  # noqa: F401 - pa.parquet below

from trellis.query import (
    ProgressCallback,
    QueryLimits,
    SyncStats,
    export_parquet,
    import_history,
    json_rows,
    requested_bounds,
    stream_query,
)
from trellis.vcs import FailedPrecondition, InvalidArgument

from .. import convert
from ..admission import waiting
from ..config import git_env
from ..indexing import Index
from ..v1 import queries_pb2 as pb
from ..v1 import queries_pb2_grpc

__all__ = ["QueryServicer"]

T = TypeVar("T")

MESSAGE_BYTES = 1 << 20
"""Rows a ``Query`` answer gathers before it is sent (Arrow's size of the batches, about what goes out); a
single batch larger than this goes out alone, as before."""


def _counts(stats: SyncStats) -> dict[str, int]:
    return {f.name: int(getattr(stats, f.name)) for f in dataclasses.fields(stats)}


def _with_progress(work: Callable[[ProgressCallback], T]) -> Iterator[pb.IndexProgress | T]:
    """Run ``work(on_progress)`` on its own thread; yield its progress (the latest when several wait), then its
    result. A client that goes away stops the waiting, not the work: imports and rebuilds resume or redo."""
    events: queue.Queue[tuple[int, int] | BaseException | list[T]] = queue.Queue()  # progress, error, [result]

    def run() -> None:
        try:
            events.put([work(lambda done, total: events.put((done, total)))])
        except BaseException as exc:  # noqa: BLE001 - handed to the RPC's thread, which raises it
            events.put(exc)

    threading.Thread(target=run, name="trellis-index-work", daemon=True).start()
    while True:
        event = events.get()
        while isinstance(event, tuple) and not events.empty():
            event = events.get()  # only the latest progress is worth sending
        if isinstance(event, tuple):
            yield pb.IndexProgress(done=event[0], total=event[1])
        elif isinstance(event, BaseException):
            raise event
        else:
            yield event[0]
            return


_END = object()


def _waited(items: Iterator[T]) -> Iterator[T]:
    """``items``, each made with the call's admission slot given up (:func:`trellis.admission.waiting`)."""
    while True:
        with waiting():
            item = next(items, _END)
        if item is _END:
            return
        yield item  # type: ignore[misc]  # not _END


class QueryServicer(queries_pb2_grpc.QueryServiceServicer):
    def __init__(self, index: Index, limits: QueryLimits | None = None) -> None:
        self.index = index
        self.limits = limits or QueryLimits()

    def Query(self, request: pb.QueryRequest, context: grpc.ServicerContext) -> Iterator[pb.QueryResponse]:
        max_rows, timeout_s = requested_bounds(request.max_rows, request.timeout_ms, self.limits)
        # The SQL runs on DuckDB's threads, off the GIL, for up to its timeout (minutes): the call's admission
        # slot is given up meanwhile, as for any wait, and taken again to turn the rows into answers.
        with waiting():
            stream = stream_query(
                self.index.indexer,
                request.sql,
                max_rows=max_rows,
                timeout_s=timeout_s,
                params=convert.query_params_from_pb(request),
            )
        batches = _waited(iter(stream))
        # Answers carry up to MESSAGE_BYTES of rows each, more batches than one when they are small: each
        # message is a step of the stream (a turn of the admission queue, a hop to the event loop and back),
        # and a typical query's few rows went out in four (schema, rows, end, and the stream's end).
        try:
            if request.format == pb.QUERY_FORMAT_JSON:
                rows: list[str] = []
                size = 0
                for batch in batches:
                    if rows and size + batch.nbytes > MESSAGE_BYTES:
                        yield pb.QueryResponse(json_rows=rows, row_count=len(rows))
                        rows, size = [], 0
                    rows.extend(json.dumps(row, ensure_ascii=False) for row in json_rows(batch))
                    size += batch.nbytes
                yield pb.QueryResponse(json_rows=rows, row_count=len(rows), truncated=stream.truncated)
                return
            buffer = io.BytesIO()
            writer = pa.ipc.new_stream(buffer, stream.schema)  # the schema, at the start of the first answer

            def take() -> bytes:
                data = buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
                return data

            count = 0
            for batch in batches:
                if count and buffer.tell() + batch.nbytes > MESSAGE_BYTES:
                    yield pb.QueryResponse(arrow_ipc=take(), row_count=count)
                    count = 0
                writer.write_batch(batch)
                count += batch.num_rows
            writer.close()  # the end-of-stream marker
            yield pb.QueryResponse(arrow_ipc=take(), row_count=count, truncated=stream.truncated)
        finally:
            stream.close()

    def Export(self, request: pb.ExportRequest, context: grpc.ServicerContext) -> pb.ExportResponse:
        # Export writes files on the server: trellis/authz.py lets only admins on `*` call it.
        destination = Path(request.destination)
        if not request.destination or not destination.is_absolute():
            raise InvalidArgument(
                "destination must be an absolute directory path on the server", reason="INVALID_DESTINATION"
            )
        try:
            files = export_parquet(self.index.indexer, destination, list(request.tables) or None)
        except ValueError as exc:  # unknown table names
            raise InvalidArgument(str(exc), reason="UNKNOWN_TABLE") from None
        except OSError as exc:
            raise FailedPrecondition(
                f"cannot write to {destination}: {exc.strerror}", reason="DESTINATION_NOT_WRITABLE"
            ) from None
        rows = sum(pa.parquet.ParquetFile(f).metadata.num_rows for f in files)
        return pb.ExportResponse(files=[str(f.relative_to(destination)) for f in files], row_count=rows)

    def ImportRepository(
        self, request: pb.ImportRepositoryRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ImportRepositoryResponse]:
        # Import reads a path on the server: trellis/authz.py lets only admins on `*` call it.
        source = Path(request.source_path)
        if not request.source_path or not source.is_absolute():
            raise InvalidArgument(
                "source_path must be the absolute path of a git repository on the server",
                reason="INVALID_SOURCE_PATH",
                field="source_path",
            )
        indexer = self.index.indexer
        for item in _with_progress(
            lambda progress: import_history(
                indexer.data_dir,
                source,
                request.repository_id,
                indexer=indexer,
                workers=request.worker_count or 2,
                on_progress=progress,
                description=request.description,
                git_env=git_env(),
            )
        ):
            if isinstance(item, pb.IndexProgress):
                yield pb.ImportRepositoryResponse(progress=item)
                continue
            yield pb.ImportRepositoryResponse(
                result=pb.ImportRepositoryResult(
                    repository_id=item.repository,
                    path=str(item.path),
                    branch_count=item.branches,
                    tag_count=item.tags,
                    resumed=item.resumed,
                    index_counts=_counts(item.stats),
                )
            )

    def CheckIndex(self, request: pb.CheckIndexRequest, context: grpc.ServicerContext) -> pb.CheckIndexResponse:
        return pb.CheckIndexResponse(differences=self.index.indexer.check())

    def RebuildIndex(
        self, request: pb.RebuildIndexRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.RebuildIndexResponse]:
        indexer = self.index.indexer
        for item in _with_progress(
            lambda progress: indexer.rebuild(workers=request.worker_count or 2, on_progress=progress)
        ):
            if isinstance(item, pb.IndexProgress):
                yield pb.RebuildIndexResponse(progress=item)
            else:
                yield pb.RebuildIndexResponse(index_counts=_counts(item))
