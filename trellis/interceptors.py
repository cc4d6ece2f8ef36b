"""The one interceptor every RPC passes through.

It (1) turns undecodable requests into INVALID_ARGUMENT instead of gRPC's
INTERNAL, (2) authenticates the caller and makes the identity available to
servicers, (3) applies the per-identity quotas (:mod:`trellis.quotas`) and
the authorisation policy (:data:`trellis.authz.POLICY`) before the servicer
runs, so a refused request writes nothing, (4) maps domain errors to status
codes with an ``ErrorInfo`` (unknown exceptions become INTERNAL with a
request id, logged with their traceback, never shown to the client) and (5)
logs every call.

Order for one call: authenticate (UNAUTHENTICATED) → find the method's rule
(a method without one is refused) → spend one request of the caller's rate
→ count a stream → wait for a turn in the admission queue (unary calls and
each CommitStream item, cheap calls before heavy ones; :mod:`trellis.admission`) → authorise the request
(PERMISSION_DENIED) → the per-commit bytes and repository-count quotas → the
servicer. The items of a
CommitStream are rated and authorised one by one: a refused item is answered
with its error and the stream goes on, and the servicer sees only the items
that passed (one at a time, so answers stay in order).
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

import grpc
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from grpc_status import rpc_status

from trellis.vcs import Identity, InvalidArgument
from trellis.vcs.validation import check_agent_name

from .admission import STEPPED_STREAMS, Admission, Cost, cost_of
from .auth import TokenStore
from .authz import LOCAL_GRANTS, Authorizer, Principal, Rule, Target
from .errors import DOMAIN_ERRORS, DomainError, Unauthenticated, error_from_unexpected, rich_status, status_for
from .quotas import QuotaExceeded, QuotaTracker

__all__ = [
    "CURRENT_IDENTITY",
    "TrellisInterceptor",
    "current_identity",
    "status_of",
]

log = logging.getLogger("trellis.rpc")

_DONE = object()
CURRENT_IDENTITY: contextvars.ContextVar[Identity] = contextvars.ContextVar("trellis_identity")
LOCAL_AGENT_HEADER = "x-trellis-agent"
FRONT_TRAILER = "x-trellis-front"
"""On a health check answered by a front of ``serve --workers N``: "NUMBER/N" (the client spreads over the fronts)."""
_OPEN_METHODS = ("/grpc.health.v1.", "/grpc.reflection.")


def current_identity() -> Identity:
    return CURRENT_IDENTITY.get()


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


def status_of(exc: DomainError, extra: dict[str, str] | None = None) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a domain error, with quota details (RetryInfo, QuotaFailure)."""
    code, message, reason, metadata = status_for(exc)
    status = rich_status(code, message, reason, {**metadata, **(extra or {})})
    if isinstance(exc, QuotaExceeded):
        status.details.extend(exc.details())
    return status


class TrellisInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]  # grpc has no type information
    def __init__(
        self,
        tokens: TokenStore,
        *,
        require_tokens: bool,
        authorizer: Authorizer,
        quotas: QuotaTracker,
        admission: Admission | None = None,
    ) -> None:
        """``admission``: the queue every unary call and CommitStream item waits in (none: no limit)."""
        self._tokens = tokens
        self._require_tokens = require_tokens
        self.authorizer = authorizer
        self.quotas = quotas
        self.admission = admission if admission is not None else Admission(0)

    # -- identity ------------------------------------------------------------

    def requires_tokens(self) -> bool:
        return self._require_tokens or self._tokens.active()

    def _identify(self, metadata: dict[str, str]) -> Principal:
        header = metadata.get("authorization", "")
        if self.requires_tokens():
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated(
                    "this server requires a bearer token: ask its operator for one (`trellis token create "
                    "NAME --role ROLE --repo REPO`) and pass it with --token or TRELLIS_TOKEN",
                    reason="MISSING_TOKEN",
                )
            principal = self._tokens.authenticate(token.strip())
            if principal is None:
                raise Unauthenticated(
                    "the bearer token is unknown or revoked: ask the operator for a new one "
                    "(`trellis token create NAME`)",
                    reason="INVALID_TOKEN",
                )
            return principal
        if header:
            # A token sent to a server that has none cannot be checked: say so rather than ignore it
            # (the caller would otherwise act with admin rights under a name it never meant to use).
            raise Unauthenticated(
                "this server runs in local mode (no tokens exist in its data directory), so it cannot "
                "check the bearer token you sent: drop --token / TRELLIS_TOKEN (the SDK's token=) and name "
                "yourself with --agent (agent=), or create tokens for this server with `trellis token create`",
                reason="LOCAL_MODE_TOKEN",
            )
        # Local mode (loopback only, no tokens): the caller names itself and may do anything.
        return Principal(check_agent_name(metadata.get(LOCAL_AGENT_HEADER) or "local"), LOCAL_GRANTS, local=True)

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
        streaming = bool(handler.request_streaming or handler.response_streaming)
        cost = cost_of(method)

        def call(context: grpc.ServicerContext) -> _Call:
            return _Call(self, method, metadata, context, streaming)

        if handler.unary_unary is not None:
            inner_uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                with call(context) as c, self.admission.slot(cost):
                    return c.unary(inner_uu, _check_decoded(request))
                raise AssertionError("unreachable")  # pragma: no cover

            return grpc.unary_unary_rpc_method_handler(unary_unary, deserializer, serializer)
        if handler.unary_stream is not None:
            inner_us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                with call(context) as c:
                    request = _check_decoded(request)
                    c.admit(request)
                    responses = inner_us(request, context)
                    yield from self._in_turns(responses, cost) if method in STEPPED_STREAMS else responses

            return grpc.unary_stream_rpc_method_handler(unary_stream, deserializer, serializer)
        if handler.stream_unary is not None:
            inner_su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                with call(context) as c:
                    return inner_su(c.admitted(_checked_stream(requests)), context)
                raise AssertionError("unreachable")  # pragma: no cover

            return grpc.stream_unary_rpc_method_handler(stream_unary, deserializer, serializer)
        inner_ss = handler.stream_stream
        assert inner_ss is not None

        def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
            with call(context) as c:
                items = c.rule.items
                if items is None:
                    yield from inner_ss(c.admitted(_checked_stream(requests)), context)
                    return
                for item in _checked_stream(requests):
                    try:
                        c.admit(items.request(item), rated=True)
                    except DOMAIN_ERRORS as exc:
                        log.info("%s item %s id=%s: %.500s", method, exc.reason, c.request_id, exc.message)
                        yield items.error(item, status_of(exc))
                        continue
                    with self.admission.slot(cost):  # one turn per item, as a unary call; answered outside it
                        answers = list(inner_ss(iter((item,)), context))
                    yield from answers

        return grpc.stream_stream_rpc_method_handler(stream_stream, deserializer, serializer)

    def _in_turns(self, responses: Iterator[Any], cost: Cost) -> Iterator[Any]:
        """A stream's answers, each made in a turn of the admission queue (and handed on outside it)."""
        responses = iter(responses)
        resumed = False  # the first step queues as a new call; the later ones as work begun
        while True:
            with self.admission.slot(cost, resumed=resumed):
                answer = next(responses, _DONE)
            if answer is _DONE:
                return
            resumed = True
            yield answer


class _Call:
    """Context manager around one RPC: identity and quotas in, policy applied, errors out, one log line."""

    def __init__(
        self,
        owner: TrellisInterceptor,
        method: str,
        metadata: dict[str, str],
        context: grpc.ServicerContext,
        streaming: bool,
    ) -> None:
        self.owner = owner
        self.method = method
        self.metadata = metadata
        self.context = context
        self.streaming = streaming
        self._request_id = metadata.get("x-request-id")
        self.token: contextvars.Token[Identity] | None = None
        self.stream_open = False
        self.start = 0.0

    @property
    def request_id(self) -> str:
        """The caller's ``x-request-id``, else one made up when first needed (a log line or an error says it)."""
        if not self._request_id:
            self._request_id = uuid.uuid4().hex[:16]
        return self._request_id

    def __enter__(self) -> _Call:
        self.start = time.perf_counter()
        owner = self.owner
        try:
            principal = owner._identify(self.metadata)
            self.rule: Rule = owner.authorizer.rule(self.method)
            owner.quotas.take(principal.name)
            if self.streaming:
                owner.quotas.open_stream(principal.name)
                self.stream_open = True
        except DOMAIN_ERRORS as exc:
            self._abort(exc)
        self.principal = principal
        self.token = CURRENT_IDENTITY.set(Identity(principal.name))
        return self

    # -- the policy ------------------------------------------------------------

    def admit(self, request: Any, *, rated: bool = False) -> Target:
        """Authorise one request (or stream item) and apply the per-request quotas; raise if refused."""
        name = self.principal.name
        if rated:
            self.owner.quotas.take(name)
        target = self.owner.authorizer.check(self.principal, self.method, self.rule, request)
        sizer = self.rule.change_bytes
        if sizer is not None:
            self.owner.quotas.check_commit_bytes(name, lambda: sizer(request))
        return target

    def admitted(self, requests: Iterator[Any]) -> Iterator[Any]:
        for request in requests:
            self.admit(request, rated=True)
            yield request

    def unary(self, inner: Callable[[Any, grpc.ServicerContext], Any], request: Any) -> Any:
        target = self.admit(request)
        rule, quotas = self.rule, self.owner.quotas
        if rule.creates_repository and target.repository is not None:
            with quotas.creating_repository(self.principal.name):
                quotas.check_repositories(self.principal.name)
                response = inner(request, self.context)
                quotas.created(target.repository, self.principal.name)
            return response
        response = inner(request, self.context)
        if rule.deletes_repository and target.repository is not None:
            quotas.deleted(target.repository)
            self.owner.authorizer.forget_repository(target.repository)
        if rule.filter is not None:
            response = rule.filter(self.principal, response)
        return response

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if self.stream_open:
            self.owner.quotas.close_stream(self.principal.name)
            self.stream_open = False
        if self.token is not None:
            CURRENT_IDENTITY.reset(self.token)
        elapsed_ms = (time.perf_counter() - self.start) * 1000
        if exc is None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s ok %.2fms id=%s", self.method, elapsed_ms, self.request_id)
            return False
        if isinstance(exc, DOMAIN_ERRORS):
            # Clipped: messages quote the input (up to megabytes) and the log handler highlights each line.
            log.info("%s %s %.2fms id=%s: %.500s", self.method, exc.reason, elapsed_ms, self.request_id, exc.message)
            self._abort(exc)
        if isinstance(exc, (GeneratorExit, KeyboardInterrupt, SystemExit)) or _is_abort(exc):
            return False
        if isinstance(exc, grpc.RpcError) and not self.context.is_active():
            # A stream's request iterator raises this when the client cancelled or went away.
            log.info("%s CANCELLED %.2fms id=%s: the client went away", self.method, elapsed_ms, self.request_id)
            return False
        mapped = error_from_unexpected(exc)  # disk full, an RPC without an implementation
        if mapped is not None:
            log.warning("%s %s %.2fms id=%s: %.500r", self.method, mapped.reason, elapsed_ms, self.request_id, exc)
            self._abort(mapped)
        log.error("%s INTERNAL id=%s", self.method, self.request_id, exc_info=(exc_type, exc, tb))  # type: ignore[arg-type]
        self.context.abort_with_status(
            rpc_status.to_status(
                rich_status(
                    grpc.StatusCode.INTERNAL,
                    f"internal error (request id {self.request_id}); the server log has the details",
                    reason="INTERNAL",
                    metadata={"request_id": self.request_id},
                )
            )
        )
        return False  # pragma: no cover - abort raises

    def _abort(self, exc: DomainError) -> None:
        self.context.abort_with_status(rpc_status.to_status(status_of(exc, {"request_id": self.request_id})))


def _is_abort(exc: BaseException) -> bool:
    # grpc's ServicerContext.abort raises a bare Exception after setting the status.
    return type(exc) is Exception and not exc.args
