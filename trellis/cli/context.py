"""How a CLI command reaches Trellis, and how it prints.

The rule, for every command: ``--server`` / ``TRELLIS_SERVER`` if given;
otherwise the server that owns the data directory (found through its lock
file); otherwise the data directory is opened in-process (an embedded
server on a loopback port for the duration of the command). TLS options
(``--tls-ca`` ... or ``TRELLIS_TLS_*``) make the connection TLS, and so does
a data directory's server that serves TLS.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .. import config as cfg
if TYPE_CHECKING:  # the SDK (grpc, protobuf) loads when a command connects, not for every command
    from ..client import Client
    from ..tls import TLS
from ..datadir import DataDirMissing, running_server

__all__ = ["Output", "add_common", "client_tls", "connect", "data_dir", "to_jsonable"]


def add_common(parser: argparse.ArgumentParser, *, top: bool = False, client_tls: bool = True) -> None:
    """Options every command takes (before or after the command name); ``trellis serve`` has its own TLS ones."""
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection and output")
    group.add_argument("--server", default=default, metavar="HOST:PORT",
                       help="talk to this server (default: $TRELLIS_SERVER, else the data directory's server)")
    group.add_argument("--data-dir", default=default, type=Path, metavar="DIR",
                       help="data directory (default: $TRELLIS_DATA, else ~/.local/share/trellis)")
    group.add_argument("--token", default=default, help="bearer token (default: $TRELLIS_TOKEN)")
    group.add_argument("--agent", default=default,
                       help="agent name to act as on a local-mode server (default: 'local')")
    group.add_argument("--json", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="print machine-readable JSON")
    if not client_tls:
        return
    tls = parser.add_argument_group("TLS (for a server started with --tls-cert)")
    tls.add_argument("--tls", action="store_true", default=False if top else argparse.SUPPRESS,
                     help="connect over TLS trusting the system's CAs (default: $TRELLIS_TLS; implied by the "
                     "options below and by a TLS server found through the data directory)")
    tls.add_argument("--tls-ca", default=default, metavar="FILE",
                     help="PEM of the CA that signed the server's certificate (default: $TRELLIS_TLS_CA)")
    tls.add_argument("--tls-cert", default=default, metavar="FILE",
                     help="PEM client certificate, for mutual TLS (default: $TRELLIS_TLS_CERT)")
    tls.add_argument("--tls-key", default=default, metavar="FILE",
                     help="PEM key of the client certificate (default: $TRELLIS_TLS_KEY)")
    tls.add_argument("--tls-server-name", default=default, metavar="NAME",
                     help="name to check the server's certificate against, when it differs from the host "
                     "(default: $TRELLIS_TLS_SERVER_NAME)")


def data_dir(args: argparse.Namespace, *, existing: bool = False) -> Path:
    """The data directory; with ``existing``, refuse one that does not exist (a mistyped --data-dir)."""
    root = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else cfg.default_data_dir()
    if existing and not root.is_dir():
        raise DataDirMissing(root)
    return root


def client_tls(args: argparse.Namespace, *, server_tls: bool = False) -> TLS | None:
    """TLS options from the command line, else the environment; None for plaintext."""
    from ..tls import TLS

    env = cfg.env_tls()
    options = {key: getattr(args, f"tls_{key}", None) or env.get(key)
               for key in ("ca", "cert", "key", "server_name")}
    if not (server_tls or getattr(args, "tls", False) or env.get("tls") or any(options.values())):
        return None
    return TLS.from_files(**options)


@contextmanager
def connect(args: argparse.Namespace, *, creates: bool = False) -> Iterator[Client]:
    """A client for the command; in-process, the data directory must exist unless the command ``creates`` data."""
    from ..client import Client

    token = getattr(args, "token", None) or cfg.env_token()
    agent = getattr(args, "agent", None)
    server = getattr(args, "server", None) or cfg.env_server()
    server_tls = False
    if server is None:
        owner = running_server(data_dir(args))
        if owner and owner.get("address"):
            server = str(owner["address"])
            server_tls = bool(owner.get("tls"))
    if server is not None:
        with Client(server, token=token, agent=agent, tls=client_tls(args, server_tls=server_tls)) as client:
            yield client
        return
    from ..server import build_server  # in-process: only now pay for the server imports

    logging.getLogger("trellis").setLevel(logging.ERROR)
    running = build_server(cfg.ServerConfig(data_dir=data_dir(args, existing=not creates), address="127.0.0.1:0"))
    try:
        with Client(running.address, token=token, agent=agent) as client:
            yield client
    finally:
        running.stop(grace=5)


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Path):
        return str(value)
    return value


class Output:
    """Human output through rich, or JSON with ``--json``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = bool(getattr(args, "json", False))
        self.console = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)

    def data(self, value: Any) -> None:
        print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, default=str))

    def print(self, *objects: Any, **kwargs: Any) -> None:
        self.console.print(*objects, **kwargs)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {message}")

    def note(self, message: str) -> None:
        if not self.json:
            self.err.print(f"[dim]{message}[/]")


def stdout_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
