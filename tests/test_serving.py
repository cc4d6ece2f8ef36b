"""trellis.serving: synchronous handlers behind grpc.aio, on a real server on loopback."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import grpc
import pytest

from trellis.serving import Server

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_serving_var")


def _identity(b: bytes) -> bytes:
    return b


class _Handlers:
    def __init__(self) -> None:
        self.closed = threading.Event()
        self.errors: list[BaseException] = []

    def echo(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        token = VAR.set("caller")  # as the interceptor sets the caller's identity, reset when the call ends
        try:
            for request in requests:
                yield VAR.get().encode() + b":" + request
        finally:
            try:
                VAR.reset(token)  # raises if the generator is closed outside the call's own context
            except BaseException as exc:
                self.errors.append(exc)
            self.closed.set()

    def refuse(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        context.abort_with_status(_Status(grpc.StatusCode.PERMISSION_DENIED, "no", ()))
        raise AssertionError("unreachable")

    def remaining(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        left = context.time_remaining()
        return b"active" if context.is_active() and left is not None and left > 0 else b"?"


class _Status(grpc.Status):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata: object) -> None:
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


@pytest.fixture
def served() -> Iterator[tuple[_Handlers, grpc.Channel]]:
    handlers = _Handlers()
    server = Server(max_workers=8)
    server.add_registered_method_handlers(
        "test.Echo",
        {
            "Echo": grpc.stream_stream_rpc_method_handler(handlers.echo, _identity, _identity),
            "Refuse": grpc.unary_unary_rpc_method_handler(handlers.refuse, _identity, _identity),
            "Remaining": grpc.unary_unary_rpc_method_handler(handlers.remaining, _identity, _identity),
        },
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield handlers, channel
    finally:
        channel.close()
        assert server.stop(1).wait(10)


def test_a_stream_keeps_its_context_across_pool_threads(served: tuple[_Handlers, grpc.Channel]) -> None:
    handlers, channel = served
    echo = channel.stream_stream("/test.Echo/Echo")
    replies = list(echo(iter([b"%d" % i for i in range(50)])))
    assert replies == [b"caller:%d" % i for i in range(50)]
    assert handlers.closed.wait(5)
    assert handlers.errors == []


def test_a_cancelled_stream_is_closed_in_its_own_context(served: tuple[_Handlers, grpc.Channel]) -> None:
    handlers, channel = served
    echo = channel.stream_stream("/test.Echo/Echo")
    more = threading.Event()

    def requests() -> Iterator[bytes]:
        yield b"first"
        more.wait(10)  # the client holds the stream open, then cancels it

    call = echo(requests())
    assert next(call) == b"caller:first"
    call.cancel()
    more.set()
    assert handlers.closed.wait(5)
    assert handlers.errors == []


def test_abort_with_status_ends_the_call_with_that_status(served: tuple[_Handlers, grpc.Channel]) -> None:
    _, channel = served
    with pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary("/test.Echo/Refuse")(b"x", timeout=10)
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert raised.value.details() == "no"


def test_a_handler_sees_the_deadline_and_that_the_call_is_active(served: tuple[_Handlers, grpc.Channel]) -> None:
    _, channel = served
    assert channel.unary_unary("/test.Echo/Remaining")(b"x", timeout=30) == b"active"


def test_stop_leaves_no_task_of_its_loop_pending(caplog: pytest.LogCaptureFixture) -> None:
    """A task still pending when the loop closed printed "Task was destroyed but it is pending!" (a CLI
    command's embedded server did, when the client cancelled a call as the server replied)."""
    import asyncio
    import gc

    server = Server(max_workers=2)
    server.add_insecure_port("127.0.0.1:0")
    server.start()
    started = threading.Event()

    async def late() -> None:  # a task the server's stop does not wait for
        started.set()
        await asyncio.sleep(3600)

    loop = server._loop
    loop.call_soon_threadsafe(lambda: loop.create_task(late()))
    assert started.wait(10)
    assert server.stop(grace=0).wait(30)
    del server
    gc.collect()
    assert not [r for r in caplog.records if "Task was destroyed" in r.getMessage()]
