"""How a CLI command reaches Trellis, and how it prints.

The rule, for every command: ``--server`` / ``TRELLIS_SERVER`` if given;
otherwise the server that owns the data directory (found through its lock
file); otherwise the data directory is opened in-process (an embedded
server on a loopback port for the duration of the command; read-only
commands that can, ``query`` so far, read through the library instead:
``local_data_dir``). TLS options
(``--tls-ca`` ... or ``TRELLIS_TLS_*``) make the connection TLS, and so does
a data directory's server that serves TLS.
"""

from __future__ import annotations

import enum
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..datadir import DataDirMissing, running_server

if TYPE_CHECKING:  # nothing heavy loads to parse arguments: the SDK (grpc, protobuf), rich, vcs load on use
    import argparse

    from rich.console import Console
    from rich.table import Table

    from ..client import Client
    from ..tls import TLS

TOKENS_FILE = "tokens.json"  # trellis.auth.FILE_NAME, without importing auth (protobuf) to find it

__all__ = [
    "Output",
    "add_common",
    "client_tls",
    "connect",
    "data_dir",
    "lazy",
    "local_data_dir",
    "new_table",
    "to_jsonable",
]


class _LazyModule:
    """A module imported on first attribute access: ``vcs = lazy("trellis.vcs")`` at the top of a command module
    keeps ``trellis --help`` and argument parsing free of pygit2, tree-sitter, DuckDB and gRPC."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


def lazy(name: str) -> Any:
    return _LazyModule(name)


def new_table(*columns: str, **options: Any) -> Table:
    """A rich table (rich loads when a command prints one)."""
    from rich.table import Table

    return Table(*columns, **options)


def add_common(parser: argparse.ArgumentParser, *, top: bool = False, client_tls: bool = True) -> None:
    """Options every command takes (before or after the command name); ``trellis serve`` has its own TLS ones."""
    import argparse  # here: ``trellis query`` on a local data directory parses its command line without argparse

    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--server",
        default=default,
        metavar="HOST:PORT",
        help="talk to this server (default: $TRELLIS_SERVER, else the data directory's server)",
    )
    group.add_argument(
        "--data-dir",
        default=default,
        type=Path,
        metavar="DIR",
        help="data directory (default: $TRELLIS_DATA, else ~/.local/share/trellis)",
    )
    group.add_argument("--token", default=default, help="bearer token (default: $TRELLIS_TOKEN)")
    group.add_argument(
        "--agent", default=default, help="agent name to act as on a local-mode server (default: 'local')"
    )
    group.add_argument(
        "--json", action="store_true", default=False if top else argparse.SUPPRESS, help="print machine-readable JSON"
    )
    if not client_tls:
        return
    tls = parser.add_argument_group("TLS (for a server started with --tls-cert)")
    tls.add_argument(
        "--tls",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="connect over TLS trusting the system's CAs (default: $TRELLIS_TLS; implied by the "
        "options below and by a TLS server found through the data directory)",
    )
    tls.add_argument(
        "--tls-ca",
        default=default,
        metavar="FILE",
        help="PEM of the CA that signed the server's certificate (default: $TRELLIS_TLS_CA)",
    )
    tls.add_argument(
        "--tls-cert",
        default=default,
        metavar="FILE",
        help="PEM client certificate, for mutual TLS (default: $TRELLIS_TLS_CERT)",
    )
    tls.add_argument(
        "--tls-key",
        default=default,
        metavar="FILE",
        help="PEM key of the client certificate (default: $TRELLIS_TLS_KEY)",
    )
    tls.add_argument(
        "--tls-server-name",
        default=default,
        metavar="NAME",
        help="name to check the server's certificate against, when it differs from the host "
        "(default: $TRELLIS_TLS_SERVER_NAME)",
    )


def data_dir(args: argparse.Namespace, *, existing: bool = False) -> Path:
    """The data directory; with ``existing``, refuse one that does not exist (a mistyped --data-dir)."""
    from .. import config as cfg

    root = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else cfg.default_data_dir()
    if existing and not root.is_dir():
        raise DataDirMissing(root)
    return root


def client_tls(args: argparse.Namespace, *, server_tls: bool = False) -> TLS | None:
    """TLS options from the command line, else the environment; None for plaintext."""
    from .. import config as cfg
    from ..tls import TLS

    env = cfg.env_tls()
    options = {key: getattr(args, f"tls_{key}", None) or env.get(key) for key in ("ca", "cert", "key", "server_name")}
    if not (server_tls or getattr(args, "tls", False) or env.get("tls") or any(options.values())):
        return None
    return TLS.from_files(**options)


def local_data_dir(args: argparse.Namespace) -> Path | None:
    """The data directory, for a read-only command to read through the library itself (no embedded gRPC server):
    only when no server is to be asked (none given, none owning the directory) and the directory has no tokens
    (then the server's authentication decides, as ever). None: go through ``connect``."""
    from .. import config as cfg

    if (
        getattr(args, "server", None)
        or cfg.env_server()
        or getattr(args, "token", None)
        or cfg.env_token()
        or cfg.env_routes()
    ):
        return None
    root = data_dir(args, existing=True)
    if running_server(root) or (root / TOKENS_FILE).exists():
        return None
    return root


BULK_INDEX_INTERVAL = 2.0


@contextmanager
def connect(args: argparse.Namespace, *, creates: bool = False, repository: str | None = None) -> Iterator[Client]:
    """A client for the command; in-process, the data directory must exist unless the command ``creates`` data.

    With a routing table ($TRELLIS_ROUTES) and no server given, the server is the one the table names for the
    command's ``repository`` (default: ``args.repository``); a command without one gets a ``RoutedClient``.
    """
    with _connected(args, creates=creates, repository=repository, bulk=False) as (client, _):
        yield client


@contextmanager
def connect_bulk(args: argparse.Namespace, *, creates: bool = False) -> Iterator[tuple[Client, Callable[[], None]]]:
    """A client for many writes in a row (an import), and ``sync``: makes every write acknowledged so far durable.

    In-process, with durable writes asked for, the embedded server acknowledges each write without syncing;
    ``sync`` syncs the data directory once for all of them (one sync instead of one per write, which costs more
    than the write itself on a busy disk), and so does the end of the command, however it ends. A command tells
    the user a write is done only after a ``sync`` that followed it. With a server, or durability off, ``sync``
    has nothing to do (a server syncs before it replies). The embedded index follows every
    ``BULK_INDEX_INTERVAL`` seconds instead of after each write (no other process can read it meanwhile), and
    catches up before this returns.
    """
    with _connected(args, creates=creates, repository=None, bulk=True) as pair:
        yield pair


@contextmanager
def _connected(
    args: argparse.Namespace, *, creates: bool, repository: str | None, bulk: bool
) -> Iterator[tuple[Client, Callable[[], None]]]:
    def nothing() -> None:
        return None

    from .. import config as cfg
    from ..client import Client

    token = getattr(args, "token", None) or cfg.env_token()
    agent = getattr(args, "agent", None)
    server = getattr(args, "server", None) or cfg.env_server()
    routes = cfg.env_routes() if server is None else None
    if routes is not None:
        from ..routing import RoutedClient, RoutingTable

        table = RoutingTable.load(routes)
        repository = repository or getattr(args, "repository", None)
        if repository is None:
            with RoutedClient(table, token=token, agent=agent, tls=client_tls(args)) as routed:
                yield routed, nothing  # type: ignore[misc]  # a Client for every per-repository method
            return
        server = table.server_for(repository)
    server_tls = False
    if server is None:
        owner = running_server(data_dir(args))
        if owner and owner.get("address"):
            server = str(owner["address"])
            server_tls = bool(owner.get("tls"))
    if server is not None:
        with Client(server, token=token, agent=agent, tls=client_tls(args, server_tls=server_tls)) as client:
            yield client, nothing
        return
    import logging

    from trellis.vcs import Durability, sync_filesystems

    from ..server import build_server  # in-process: only now pay for the server imports

    logging.getLogger("trellis").setLevel(logging.ERROR)
    root = data_dir(args, existing=not creates)
    durability = cfg.env_durability()
    sync_at_end = bulk and durability is Durability.DURABLE
    # (An embedded server publishes no read-only index copy: with no server running, the index itself opens.)
    running = build_server(
        cfg.ServerConfig(
            data_dir=root,
            address="127.0.0.1:0",
            durability=Durability.NONE if sync_at_end else durability,
            snapshot_interval=0,
            index_interval=BULK_INDEX_INTERVAL if bulk else 0.0,
        )
    )

    def sync() -> None:
        if sync_at_end:
            sync_filesystems([root])

    try:
        with Client(running.address, token=token, agent=agent) as client:
            yield client, sync
    finally:
        running.stop(grace=5)
        sync()


def to_jsonable(value: Any) -> Any:
    # ``dataclasses.is_dataclass`` of an instance, without importing dataclasses (~6 ms) for values that are none
    if hasattr(type(value), "__dataclass_fields__"):
        import dataclasses

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


# Output that is not a terminal (a pipe, a file) is never wrapped or cut: as wide as its longest line.
UNBOUNDED_WIDTH = 1 << 20


def _console(*, stderr: bool) -> Console:
    """A rich console; on a terminal it wraps to the terminal's width, elsewhere lines and tables stay whole."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        terminal = False
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if terminal else UNBOUNDED_WIDTH)


class Output:
    """Human output through rich, or JSON with ``--json``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.json = bool(getattr(args, "json", False))

    @cached_property
    def console(self) -> Console:
        return _console(stderr=False)

    @cached_property
    def err(self) -> Console:
        return _console(stderr=True)

    def data(self, value: Any) -> None:
        print(self.data_text(value))

    @staticmethod
    def data_text(value: Any) -> str:
        """What ``data`` prints (without its newline)."""
        import json

        return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False, default=str)

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
