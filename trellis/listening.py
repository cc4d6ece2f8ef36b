"""A listening TCP socket for the HTTP servers (the web viewer, MCP over HTTP) that run beside gRPC."""

from __future__ import annotations

import socket
from dataclasses import dataclass

__all__ = ["Listening", "listen"]


@dataclass(frozen=True, slots=True)
class Listening:
    """A bound socket that already listens; ``origin`` is ``host:port`` as a URL writes it."""

    socket: socket.socket
    host: str
    port: int
    origin: str


def listen(address: str, what: str) -> Listening:
    """Bind ``HOST:PORT`` (``[v6]:PORT``; port 0 picks a free one) and listen at once.

    Listening before the server's thread runs means a client sent to the printed address the moment it
    appears waits in the backlog instead of being refused. Raises :class:`~trellis.server.ConfigError`
    naming ``what`` when the address cannot be bound.
    """
    from .server import ConfigError

    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
        sock.listen(2048)
    except (OSError, ValueError, OverflowError) as exc:  # OverflowError: a port above 65535
        sock.close()
        raise ConfigError(f"cannot serve {what} on {address}: {exc}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return Listening(sock, host, bound, f"{shown}:{bound}")
