"""How a CLI command reaches Trellis, and how it prints.

The rule, for every command: ``--server`` / ``TRELLIS_SERVER`` if given;
otherwise the server that owns the data directory (found through its lock
file); otherwise the data directory is opened in-process (an embedded
server on a loopback port for the duration of the command).
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
from typing import Any

from rich.console import Console

from .. import config as cfg
from ..client import Client
from ..datadir import running_server

__all__ = ["Output", "add_common", "connect", "data_dir", "to_jsonable"]


def add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Options every command takes (before or after the command name)."""
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


def data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else cfg.default_data_dir()


@contextmanager
def connect(args: argparse.Namespace) -> Iterator[Client]:
    token = getattr(args, "token", None) or cfg.env_token()
    agent = getattr(args, "agent", None)
    server = getattr(args, "server", None) or cfg.env_server()
    if server is None:
        owner = running_server(data_dir(args))
        if owner and owner.get("address"):
            server = str(owner["address"])
    if server is not None:
        with Client(server, token=token, agent=agent) as client:
            yield client
        return
    from ..server import build_server  # in-process: only now pay for the server imports

    logging.getLogger("trellis").setLevel(logging.ERROR)
    running = build_server(cfg.ServerConfig(data_dir=data_dir(args), address="127.0.0.1:0"))
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
