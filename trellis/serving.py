"""The gRPC server the public API runs on: ``grpc.aio``'s event loop in front of the synchronous servicers.

gRPC's synchronous server handles every event of every call (a call
accepted, a message received, a reply sent) on one thread, one event per
turn of the GIL, and it keeps one accept outstanding per method: a method
with many callers (unary ``Commit`` under load) has them accepted one per
round of that thread. Under ``bench_load.py`` a unary ``Commit`` spent 7 ms
in its handler and 300-500 ms waiting to be accepted, while a ``CommitStream``
commit, whose stream was accepted long before, waited 12-40 ms
(benchmarks/RESULTS.md, "Load").

Here ``grpc.aio`` owns the transport: its event loop, on a thread of its own,
accepts calls and moves messages, many events per turn of the GIL. The
servicers, the interceptor and the admission queue stay synchronous and run
on a thread pool, as before; :class:`Server` offers what they used of
``grpc.Server`` and :class:`_Context` what they use of ``grpc.ServicerContext``.
A stream's handler runs as a generator, one step at a time on the pool, in a
``contextvars.Context`` of its own (so the caller's identity follows it from
thread to thread); its requests are read on the loop as the handler asks for
them.

The loop, too, accepts a method's calls one at a time: one call request is
outstanding per registered method, and one for all the others. The services'
methods are therefore registered with gRPC (:meth:`Server.add_registered_method_handlers`),
not served through a generic handler: a ``GetBranch`` is not accepted behind
the ``Commit`` calls of 48 agents. Under ``bench_load.py`` a unary call waited
p50 228 ms to be accepted when all shared one request (2026-12-06), and 7-9 ms
registered, with three admission slots (benchmarks/RESULTS.md, "Cheap calls first").
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent import futures
from typing import Any, TypeVar

import grpc

__all__ = ["Server"]

log = logging.getLogger("trellis.serving")

T = TypeVar("T")
_END = object()
_READ_CHECK_S = 1.0  # how often a handler waiting for a stream's next request checks that the server still runs


class _Cancelled(grpc.RpcError):  # type: ignore[misc]  # grpc has no type information
    """A stream's next request cannot come: the call ended (the client cancelled or went away)."""


class _Context:
    """What the synchronous servicers use of ``grpc.ServicerContext``, over an aio call's context."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._context = context
        self.aborted: grpc.Status | None = None
        self.ended = False
        self._callbacks: list[Callable[[], None]] = []
        context.add_done_callback(self._end)

    def _end(self, _context: object = None) -> None:
        self.ended = True
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - as gRPC's synchronous server: logged, the others still run
                log.exception("a call's callback failed")

    def abort_with_status(self, status: grpc.Status) -> None:
        """Record the status and leave the handler (as ``grpc.ServicerContext`` does, with a bare exception)."""
        self.aborted = status
        raise Exception()

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.abort_with_status(_Status(code, details, ()))

    def is_active(self) -> bool:
        return not self.ended

    def add_callback(self, callback: Callable[[], None]) -> bool:
        if self.ended:
            return False
        self._callbacks.append(callback)
        return True

    def time_remaining(self) -> float | None:
        return self._context.time_remaining()  # type: ignore[no-any-return]

    def invocation_metadata(self) -> Any:
        return self._context.invocation_metadata()

    def peer(self) -> str:
        return self._context.peer()  # type: ignore[no-any-return]

    def set_code(self, code: grpc.StatusCode) -> None:
        self._context.set_code(code)

    def set_details(self, details: str) -> None:
        self._context.set_details(details)

    def set_trailing_metadata(self, metadata: Any) -> None:
        self._context.set_trailing_metadata(metadata)


class _Status(grpc.Status):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: Any) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


class _Requests:
    """A stream's requests as the synchronous handler iterates them: each read on the loop when asked for."""

    def __init__(self, context: grpc.aio.ServicerContext, ctx: _Context, loop: asyncio.AbstractEventLoop) -> None:
        self._context, self._ctx, self._loop = context, ctx, loop

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._ctx.ended:
            raise _Cancelled()
        read = asyncio.run_coroutine_threadsafe(self._context.read(), self._loop)
        while True:
            try:
                message = read.result(timeout=_READ_CHECK_S)
                break
            except futures.TimeoutError:
                if self._loop.is_running():
                    continue  # the client is thinking
                self._ctx._end()  # the server stopped: the read will never end
                raise _Cancelled() from None
            except (Exception, asyncio.CancelledError, futures.CancelledError):
                self._ctx._end()
                raise _Cancelled() from None
        if message is grpc.aio.EOF:
            raise StopIteration
        return message


async def _aborting(ctx: _Context, context: grpc.aio.ServicerContext, step: asyncio.Future[T]) -> T:
    """Await one step of a handler; a step that aborted ends the call with its status."""
    try:
        return await step
    except Exception:
        if ctx.aborted is None:
            raise
    status = ctx.aborted
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable")  # pragma: no cover - abort raises


def _bridge(handler: grpc.RpcMethodHandler, pool: futures.ThreadPoolExecutor) -> grpc.RpcMethodHandler:
    """``handler`` (synchronous) as an aio handler whose work runs on ``pool``."""
    deserializer, serializer = handler.request_deserializer, handler.response_serializer

    def run(variables: contextvars.Context, fn: Callable[..., T], *args: Any) -> futures.Future[T]:
        return pool.submit(variables.run, fn, *args)

    if handler.unary_unary is not None or handler.stream_unary is not None:
        unary = handler.unary_unary or handler.stream_unary
        streaming_in = handler.unary_unary is None

        async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
            ctx = _Context(context)
            if streaming_in:
                request = _Requests(context, ctx, asyncio.get_running_loop())
            return await _aborting(ctx, context, asyncio.wrap_future(run(contextvars.Context(), unary, request, ctx)))

        if streaming_in:
            return grpc.stream_unary_rpc_method_handler(unary_response, deserializer, serializer)
        return grpc.unary_unary_rpc_method_handler(unary_response, deserializer, serializer)

    stream = handler.unary_stream or handler.stream_stream
    assert stream is not None
    streaming_in = handler.unary_stream is None

    async def stream_response(request: Any, context: grpc.aio.ServicerContext) -> None:
        # A coroutine that writes (not an async generator, which gRPC may drop without closing): its
        # ``finally`` runs however the call ends, so the handler's generator is closed in its own context.
        ctx = _Context(context)
        if streaming_in:
            request = _Requests(context, ctx, asyncio.get_running_loop())
        variables = contextvars.Context()
        responses = iter(variables.run(stream, request, ctx))
        step: futures.Future[Any] | None = None
        try:
            while True:
                step = run(variables, next, responses, _END)
                item = await _aborting(ctx, context, asyncio.wrap_future(step))
                if item is _END:
                    return
                await context.write(item)
        finally:
            close = getattr(responses, "close", None)
            if close is not None:
                # Closing runs the handler's own clean-up (the interceptor's log line, quotas), which is short.
                # A generator still mid-step on the pool (the call was cancelled) is closed by that thread once
                # the step ends (not by the loop, which may be stopping).
                if step is not None:
                    step.add_done_callback(lambda _: variables.run(close))
                else:
                    variables.run(close)

    if streaming_in:
        return grpc.stream_stream_rpc_method_handler(stream_response, deserializer, serializer)
    return grpc.unary_stream_rpc_method_handler(stream_response, deserializer, serializer)


class _Dispatch(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Finds a call's synchronous handler, passes it through the interceptor, and bridges it.

    It is the aio server's interceptor rather than its generic handler so that the methods can be
    registered with the aio server (:meth:`Server.add_registered_method_handlers`): gRPC then keeps one
    call request outstanding per method, not one for all, and a call is accepted without waiting behind
    the calls to every other method (the handler it finds for a registered method is not used: this
    one answers every call).
    """

    def __init__(self, server: Server) -> None:
        self.server = server

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        return self.service(details)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        server = self.server
        handler = server._methods.get(details.method)
        if handler is None:
            for generic in server._generic:
                handler = generic.service(details)
                if handler is not None:
                    break
            else:
                return None
        found = handler
        for interceptor in reversed(server._interceptors):
            found = interceptor.intercept_service(lambda _details, h=found: h, details)
            if found is None:
                return None
        return _bridge(found, server._pool)


_SETTLE_S = 1.0  # after the server stops, how long the loop's last tasks get to end before they are cancelled


async def _settle(timeout: float) -> None:
    """Let the loop's other tasks end, then cancel those that have not: a loop stopped with a task pending
    prints "Task was destroyed but it is pending!" to stderr when the task is collected. gRPC's stop returns
    while a call the client cancelled mid-reply still has a task to wake (a CLI command's embedded server
    printed it, with grpc's traceback, as it exited)."""
    current = asyncio.current_task()
    tasks = {task for task in asyncio.all_tasks() if task is not current}
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=timeout)


class Server:
    """A ``grpc.aio`` server on its own event-loop thread, serving synchronous handlers on a thread pool.

    Offers what :func:`trellis.server.build_server` uses of ``grpc.Server``: the generated
    ``add_*Servicer_to_server`` functions, ports, ``start``, ``stop`` and ``wait_for_termination``.
    Interceptors are synchronous ``grpc.ServerInterceptor``s, applied to each call in the loop.
    """

    def __init__(
        self,
        *,
        max_workers: int,
        interceptors: Sequence[grpc.ServerInterceptor] = (),
        options: Sequence[tuple[str, Any]] = (),
        maximum_concurrent_rpcs: int | None = None,
    ) -> None:
        # grpc.aio logs a debug line ("Loaded running loop") from inside gRPC on every call; under load with
        # `serve --log-level debug` the server stopped answering. Trellis's own debug lines stay.
        grpc_log = logging.getLogger("grpc._cython.cygrpc")
        if grpc_log.getEffectiveLevel() < logging.INFO:
            grpc_log.setLevel(logging.INFO)
        self._pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="trellis-rpc")
        self._interceptors = list(interceptors)
        self._methods: dict[str, grpc.RpcMethodHandler] = {}
        self._generic: list[grpc.GenericRpcHandler] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="trellis-grpc-loop", daemon=True)
        self._thread.start()
        self._stopped = threading.Event()

        async def create() -> grpc.aio.Server:
            server = grpc.aio.server(
                migration_thread_pool=self._pool,
                options=list(options),
                maximum_concurrent_rpcs=maximum_concurrent_rpcs,
                interceptors=[_Dispatch(self)],
            )
            return server

        self._server = self._run(create())

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        """Serve ``handlers`` (by method name) as ``service``'s; each method is registered with gRPC, which
        then accepts its calls on their own (see :class:`_Dispatch`)."""
        for name, handler in handlers.items():
            self._methods[f"/{service}/{name}"] = handler

        async def register() -> None:
            self._server.add_registered_method_handlers(service, handlers)

        self._run(register())

    def add_insecure_port(self, address: str) -> int:
        async def add() -> int:
            return int(self._server.add_insecure_port(address))

        return self._run(add())

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        async def add() -> int:
            return int(self._server.add_secure_port(address, credentials))

        return self._run(add())

    def start(self) -> None:
        self._run(self._server.start())

    def stop(self, grace: float | None) -> threading.Event:
        """Stop taking calls; those running get ``grace`` seconds. The event is set once all is closed."""
        done = threading.Event()
        if self._stopped.is_set():
            done.set()
            return done
        self._stopped.set()

        def finish() -> None:
            try:
                self._run(self._server.stop(grace))
                self._run(_settle(_SETTLE_S))
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
                self._loop.close()  # its self-pipe, or a ResourceWarning when it is collected
                self._pool.shutdown(wait=False, cancel_futures=True)
                done.set()

        threading.Thread(target=finish, name="trellis-grpc-stop", daemon=True).start()
        return done

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()
