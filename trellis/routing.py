"""Repositories sharded across servers: a routing table that the SDK and the CLI follow.

Each server owns a disjoint set of repositories (its own data directory, index
and CI); nothing is shared between them. A client finds a repository's server
in a small TOML file, the first route that matches winning::

    # routes.toml
    [[routes]]
    repositories = ["payments", "payments-*"]   # names or shell-style patterns
    server = "shard-a.internal:7433"

    [[routes]]
    repositories = ["*"]                        # everything else
    server = "shard-b.internal:7433"

In Python::

    with RoutedClient(RoutingTable.load("routes.toml"), token=...) as trellis:
        trellis.commit("payments", "main", {...}, "msg")      # goes to shard-a

and the CLI follows ``$TRELLIS_ROUTES``. A repository that no route matches
raises :class:`~trellis.errors.NotRouted` (REPOSITORY_NOT_ROUTED) before any
call. See docs/scaling.md.
"""

from __future__ import annotations

import fnmatch
import inspect
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from trellis import vcs

from .client import Client
from .errors import InvalidRoutes, NotRouted

__all__ = ["Route", "RoutedClient", "RoutingTable"]

_REMEMBERED = 65_536  # names whose route a table remembers


@dataclass(frozen=True, slots=True)
class Route:
    """Repositories whose name matches one of ``patterns`` (``fnmatch``, case-sensitive) live on ``server``."""

    patterns: tuple[str, ...]
    server: str

    def matches(self, repository: str) -> bool:
        return any(fnmatch.fnmatchcase(repository, pattern) for pattern in self.patterns)


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Routes in order; the first that matches a repository names its server."""

    routes: tuple[Route, ...]
    # name -> index of its route: a name is matched once however often it is looked up (scanning 1,000 pattern
    # routes took 3.8 ms here, a remembered name 0.1 µs: benchmarks/bench_shards.py)
    _found: dict[str, int | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, source: str = "the routing table") -> RoutingTable:
        """A table from TOML: ``[[routes]]`` with ``repositories`` (a list of patterns) and ``server``."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidRoutes(f"{source} is not valid TOML: {exc}", reason="INVALID_ROUTES") from None
        routes = []
        items = data.get("routes", [])
        for i, item in enumerate(items if isinstance(items, list) else [None]):
            patterns, server = (
                (item.get("repositories"), item.get("server")) if isinstance(item, dict) else (None, None)
            )
            if (
                not isinstance(patterns, list)
                or not patterns
                or not all(isinstance(p, str) and p for p in patterns)
                or not isinstance(server, str)
                or not server
            ):
                raise InvalidRoutes(
                    f'{source}: route {i + 1} needs repositories = ["name or pattern", ...] and server = "host:port"',
                    reason="INVALID_ROUTES",
                )
            routes.append(Route(tuple(patterns), server))
        if not routes or set(data) - {"routes"}:
            raise InvalidRoutes(
                f"{source}: expected one or more [[routes]] tables and nothing else", reason="INVALID_ROUTES"
            )
        return cls(tuple(routes))

    @classmethod
    def load(cls, path: str | Path) -> RoutingTable:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            raise InvalidRoutes(f"cannot read the routing table {path}: {exc}", reason="INVALID_ROUTES") from None
        return cls.parse(text, str(path))

    @property
    def servers(self) -> tuple[str, ...]:
        """Every server the table names, in order of first appearance."""
        return tuple(dict.fromkeys(route.server for route in self.routes))

    def server_for(self, repository: str) -> str:
        """The server that owns ``repository``; NotRouted if no route matches it."""
        try:
            index = self._found[repository]
        except KeyError:
            if len(self._found) >= _REMEMBERED:
                self._found.clear()
            index = self._found[repository] = next(
                (i for i, route in enumerate(self.routes) if route.matches(repository)), None
            )
        if index is not None:
            return self.routes[index].server
        shown = "; ".join(f"{', '.join(r.patterns)} -> {r.server}" for r in self.routes[:5])
        more = f"; and {len(self.routes) - 5} more" if len(self.routes) > 5 else ""
        raise NotRouted(
            f"no server owns repository {repository!r}: no route of the routing table matches it "
            f"(routes: {shown}{more})",
            reason="REPOSITORY_NOT_ROUTED",
            repository=repository,
        )


def _per_repository(method: Callable[..., Any]) -> bool:
    parameters = [p for p in inspect.signature(method).parameters if p != "self"]
    return bool(parameters) and parameters[0] in ("repository", "name")


# Client methods whose first argument names a repository: the router sends them to its server.
_ROUTED = frozenset(
    name
    for name in dir(Client)
    if not name.startswith("_") and callable(getattr(Client, name)) and _per_repository(getattr(Client, name))
)


class RoutedClient:
    """The SDK over sharded servers: every per-repository method of :class:`Client`, sent to the server that the
    routing table names for that repository (one connection per server, opened on first use).

    ``list_repositories`` lists every server's repositories that the table routes to it. Calls that span
    repositories (``query``, ``export``, ``commit_stream``) go to one server: ``client_for_server(address)``
    or ``client_for(repository)``; across shards, query the Parquet export (docs/scaling.md).
    """

    def __init__(self, table: RoutingTable, **options: Any) -> None:
        self.table = table
        self.target = " ".join(table.servers)  # what it talks to, as Client.target (shown, never dialled)
        self._options = options
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def client_for_server(self, server: str) -> Client:
        with self._lock:
            client = self._clients.get(server)
            if client is None:
                client = self._clients[server] = Client(server, **self._options)
            return client

    def client_for(self, repository: str) -> Client:
        return self.client_for_server(self.table.server_for(repository))

    def list_repositories(self, *, limit: int | None = None) -> Iterator[vcs.Repository]:
        count = 0
        for server in self.table.servers:
            for repository in self.client_for_server(server).list_repositories():
                if limit is not None and count >= limit:
                    return
                if self._owns(server, repository.repository_id):
                    yield repository
                    count += 1

    def _owns(self, server: str, repository: str) -> bool:
        try:
            return self.table.server_for(repository) == server
        except NotRouted:  # on a server, but no route leads to it
            return False

    def __getattr__(self, attribute: str) -> Any:
        if attribute in _ROUTED:

            def routed(repository: str, *args: Any, **kwargs: Any) -> Any:
                return getattr(self.client_for(repository), attribute)(repository, *args, **kwargs)

            routed.__name__ = attribute
            routed.__doc__ = getattr(Client, attribute).__doc__
            return routed
        if not attribute.startswith("_") and hasattr(Client, attribute):

            def spans(*args: Any, **kwargs: Any) -> Any:
                raise NotRouted(
                    f"{attribute} spans repositories and a routing table shards them across servers: call it on "
                    "one server (--server HOST:PORT, or RoutedClient.client_for_server); to query every shard "
                    "at once, query their Parquet exports (docs/scaling.md)",
                    reason="REPOSITORY_NOT_ROUTED",
                )

            return spans
        raise AttributeError(attribute)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
