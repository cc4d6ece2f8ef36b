"""The HTTP servers beside gRPC listen before their thread runs, so a client sent to the printed address at
once is queued, not refused (MCP over HTTP was refused in that window)."""

from __future__ import annotations

import socket

import pytest

from trellis.listening import listen
from trellis.mcp_server import ClientPool, HttpMcp
from trellis.server import ConfigError


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def test_a_client_is_queued_before_the_server_thread_runs() -> None:
    listening = listen("127.0.0.1:0", "the test")
    try:
        assert listening.port > 0 and listening.origin == f"127.0.0.1:{listening.port}"
        assert _connects(listening.port)
    finally:
        listening.socket.close()


def test_mcp_over_http_accepts_connections_from_the_moment_its_url_exists() -> None:
    mcp = HttpMcp(ClientPool("127.0.0.1:1"), "127.0.0.1:0")  # not started
    try:
        port = int(mcp.url.removesuffix("/mcp").rpartition(":")[2])
        assert _connects(port)
    finally:
        mcp.stop()


@pytest.mark.parametrize("address", ["127.0.0.1:notaport", "256.1.1.1:80", "127.0.0.1:70000"])
def test_an_address_that_cannot_be_bound_is_a_config_error_naming_the_service(address: str) -> None:
    with pytest.raises(ConfigError, match=rf"cannot serve the test on {address}"):
        listen(address, "the test")


def test_waiting_for_a_server_that_never_answers_says_what_to_check() -> None:
    from trellis.client import Client
    from trellis.errors import Unavailable

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client(f"127.0.0.1:{port}")
    try:
        with pytest.raises(Unavailable, match=rf"127\.0\.0\.1:{port} within 1s: is `trellis serve` running there"):
            client.wait_ready(timeout=1)
    finally:
        client.close()
