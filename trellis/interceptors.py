"""The one interceptor every RPC passes through.

It (1) turns undecodable requests into INVALID_ARGUMENT instead of gRPC's
INTERNAL, (2) authenticates the caller and makes the identity available to
servicers, (3) maps domain errors to status codes with an ``ErrorInfo``
(unknown exceptions become INTERNAL with a request id, logged with their
traceback, never shown to the client) and (4) logs every call.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from grpc_status import rpc_status

from vcs import Identity, InvalidArgument, VcsError
from vcs.validation import check_agent_name

from .auth import TokenStore
from .errors import Unauthenticated, rich_status, status_for

__all__ = ["CURRENT_IDENTITY", "TrellisInterceptor", "current_identity", "local_mode"]

log = logging.getLogger("trellis.rpc")

CURRENT_IDENTITY: contextvars.ContextVar[Identity] = contextvars.ContextVar("trellis_identity")
LOCAL_AGENT_HEADER = "x-trellis-agent"
_OPEN_METHODS = ("/grpc.health.v1.", "/grpc.reflection.")


LOCAL_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("trellis_local_mode", default=False)


def current_identity() -> Identity:
    return CURRENT_IDENTITY.get()


def local_mode() -> bool:
    """True when the current call came in on a local-mode server (no tokens, loopback only)."""
    return LOCAL_MODE.get()


class _Malformed:
    """Stands in for a request that could not be decoded."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, UnicodeDecodeError, ValueError, RuntimeError) as exc:
            return _Malformed(exc)

    return decode


def _check_decoded(request: Any) -> Any:
    if isinstance(request, _Malformed):
        raise InvalidArgument(
            "the request could not be decoded (is every string field valid UTF-8 and the "
            f"message well formed?): {request.error}",
            reason="MALFORMED_REQUEST",
        )
    return request


def _checked_stream(requests: Iterator[Any]) -> Iterator[Any]:
    for request in requests:
        yield _check_decoded(request)


class TrellisInterceptor(grpc.ServerInterceptor):
    def __init__(self, tokens: TokenStore, *, require_tokens: bool) -> None:
        self._tokens = tokens
        self._require_tokens = require_tokens

    # -- identity ------------------------------------------------------------

    def requires_tokens(self) -> bool:
        return self._require_tokens or self._tokens.active()

    def _identify(self, metadata: dict[str, str]) -> Identity:
        header = metadata.get("authorization", "")
        if self.requires_tokens():
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated(
                    "this server requires a bearer token: create one with `trellis token create NAME` "
                    "and pass it with --token or TRELLIS_TOKEN",
                    reason="MISSING_TOKEN",
                )
            identity = self._tokens.identify(token.strip())
            if identity is None:
                raise Unauthenticated(
                    "the bearer token is unknown or revoked: ask the operator for a new one "
                    "(`trellis token create NAME`)",
                    reason="INVALID_TOKEN",
                )
            return identity
        # Local mode (loopback only, no tokens): the caller names itself.
        return Identity(check_agent_name(metadata.get(LOCAL_AGENT_HEADER) or "local"))

    # -- wrapping ------------------------------------------------------------

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_OPEN_METHODS):
            return handler
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        deserializer = _safe(handler.request_deserializer)
        serializer = handler.response_serializer

        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                with self._call(method, metadata, context):
                    return inner_uu(_check_decoded(request), context)
                raise AssertionError("unreachable")  # pragma: no cover

            return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, serializer)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with self._call(method, metadata, context):
                    yield from inner_us(_check_decoded(request), context)

            return grpc.unary_stream_rpc_method_handler(unary_stream, deserializer, serializer)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                with self._call(method, metadata, context):
                    return inner_su(_checked_stream(requests), context)
                raise AssertionError("unreachable")  # pragma: no cover

            return grpc.stream_unary_rpc_method_handler(stream_unary, deserializer, serializer)
        inner_ss = handler.stream_stream
        assert inner_ss is not None

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            with self._call(method, metadata, context):
                yield from inner_ss(_checked_stream(requests), context)

        return grpc.stream_stream_rpc_method_handler(stream_stream, deserializer, serializer)

    def _call(self, method: str, metadata: dict[str, str], context: grpc.ServicerContext) -> "_Call":
        return _Call(self, method, metadata, context)


class _Call:
    """Context manager around one RPC: identity in, errors out, one log line."""

    def __init__(
        self, owner: TrellisInterceptor, method: str, metadata: dict[str, str], context: grpc.ServicerContext
    ) -> None:
        self.owner = owner
        self.method = method
        self.metadata = metadata
        self.context = context
        self.request_id = metadata.get("x-request-id") or uuid.uuid4().hex[:16]
        self.token: contextvars.Token[Identity] | None = None
        self.local_token: contextvars.Token[bool] | None = None
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        try:
            identity = self.owner._identify(self.metadata)
        except VcsError as exc:
            self._abort(exc)
        self.token = CURRENT_IDENTITY.set(identity)
        self.local_token = LOCAL_MODE.set(not self.owner.requires_tokens())

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if self.token is not None:
            CURRENT_IDENTITY.reset(self.token)
        if self.local_token is not None:
            LOCAL_MODE.reset(self.local_token)
        elapsed_ms = (time.perf_counter() - self.start) * 1000
        if exc is None:
            log.debug("%s ok %.2fms id=%s", self.method, elapsed_ms, self.request_id)
            return False
        if isinstance(exc, VcsError):
            log.info("%s %s %.2fms id=%s: %s", self.method, exc.reason, elapsed_ms, self.request_id, exc.message)
            self._abort(exc)
        if isinstance(exc, (GeneratorExit, KeyboardInterrupt, SystemExit)) or _is_abort(exc):
            return False
        log.error("%s INTERNAL id=%s", self.method, self.request_id, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
        self.context.abort_with_status(
            rpc_status.to_status(
                rich_status(
                    grpc.StatusCode.INTERNAL,
                    f"internal error (request id {self.request_id}); the server log has the details",
                    "INTERNAL",
                    {"request_id": self.request_id},
                )
            )
        )
        return False  # pragma: no cover - abort raises

    def _abort(self, exc: VcsError) -> None:
        code, message, reason, metadata = status_for(exc)
        metadata = {**metadata, "request_id": self.request_id}
        self.context.abort_with_status(rpc_status.to_status(rich_status(code, message, reason, metadata)))


def _is_abort(exc: BaseException) -> bool:
    # grpc's ServicerContext.abort raises a bare Exception after setting the status.
    return type(exc) is Exception and not exc.args
