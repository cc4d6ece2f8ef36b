"""``trellis serve``: run the server in the foreground."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import add_common, data_dir

if TYPE_CHECKING:
    from ..server import RunningServer


class _ServerDefault:
    """A default of the server's (``Quotas()``, ``config.DEFAULT_ADDRESS``), looked up only when help is printed:
    those modules import pygit2 and protobuf, which parsing ``trellis serve ...`` must not pay for twice."""

    def __init__(self, name: str) -> None:
        self.name = name

    def value(self) -> Any:
        if self.name == "address":
            from ..config import DEFAULT_ADDRESS

            return DEFAULT_ADDRESS
        if self.name == "index_interval":
            from ..config import INDEX_INTERVAL

            return INDEX_INTERVAL
        if self.name == "loose_objects":
            from trellis.vcs import LOOSE_LIMIT

            return LOOSE_LIMIT
        from ..quotas import Quotas

        return getattr(Quotas(), self.name)

    def __str__(self) -> str:
        return format(self.value(), "g") if isinstance(self.value(), float) else str(self.value())


def _given(value: Any) -> Any:
    return value.value() if isinstance(value, _ServerDefault) else value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    # `--tls-cert` / `--tls-key` name this process's own certificate: the client's for other
    # commands, the server's here, so serve takes the common options without the client TLS ones.
    own = argparse.ArgumentParser(add_help=False)
    add_common(own, client_tls=False)
    p = sub.add_parser(
        "serve",
        parents=[own],
        help="run the Trellis server",
        description="Run the Trellis gRPC server until SIGTERM/SIGINT (in-flight requests finish). "
        "Off loopback it needs TLS and tokens (or --insecure-allow-remote).",
    )
    p.add_argument(
        "--listen",
        default=_ServerDefault("address"),
        metavar="HOST:PORT",
        help="address to listen on (default %(default)s; port 0 picks a free port)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="front processes serving the API on the one address (SO_REUSEPORT), beside one index "
        "process (index, Query, verification) and a supervisor that restarts any that dies "
        "(default: the number of cores; 0: everything in this one process). See docs/processes.md",
    )
    p.add_argument(
        "--max-workers", type=int, default=128, help="RPC worker threads; each open stream holds one (default 128)"
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="level of the server's log messages on stderr (default info)",
    )
    p.add_argument(
        "--mcp",
        default=None,
        metavar="HOST:PORT",
        help="also serve the Model Context Protocol over streamable HTTP at http://HOST:PORT/mcp, each "
        "caller acting with its own bearer token (see docs/mcp.md); loopback only unless "
        "--insecure-allow-remote",
    )
    p.add_argument(
        "--http",
        default=None,
        metavar="HOST:PORT",
        help="also serve the web viewer (sessions, commits, verdicts, SQL; read-only) at "
        "http://HOST:PORT/, with the same tokens and grants as gRPC and HTTPS with --tls-cert (see "
        "docs/ui.md); loopback only without TLS and tokens unless --insecure-allow-remote",
    )
    storage = p.add_argument_group("storage")
    storage.add_argument(
        "--durability",
        default=None,
        choices=["durable", "none"],
        help="durable: a write is acknowledged once it is synced to disk, so a power loss loses "
        "nothing acknowledged (commits that arrive together share one sync); none: as soon as the "
        "operating system has it (for tmpfs, throwaway data, benchmarks). Default: "
        "$TRELLIS_DURABILITY, else durable. Embedded commands follow $TRELLIS_DURABILITY",
    )
    storage.add_argument(
        "--loose-objects",
        type=int,
        default=_ServerDefault("loose_objects"),
        metavar="N",
        help="pack a repository's loose objects in the background once it has N of them "
        "(default %(default)s; 0 turns background maintenance off)",
    )
    storage.add_argument(
        "--object-cache-mb",
        type=int,
        default=64,
        metavar="MIB",
        help="MiB of git objects each server process keeps in memory (libgit2's object cache; "
        "default %(default)s, libgit2's own is 256 per process)",
    )
    storage.add_argument(
        "--parse-cache-mb",
        type=int,
        default=256,
        metavar="MIB",
        help="MiB of parsed files each server process keeps for semantic diffs, merges and indexing "
        "(by the cache's own estimate; default %(default)s)",
    )
    storage.add_argument(
        "--diff-cache-mb",
        type=int,
        default=16,
        metavar="MIB",
        help="MiB of finished semantic diffs each server process keeps for repeated Diff calls "
        "(estimated; default %(default)s)",
    )
    storage.add_argument(
        "--front-malloc-arenas",
        type=int,
        default=2,
        metavar="N",
        help="C heap arenas (glibc malloc's) the threads of each front process of --workers share: fewer "
        "arenas keep less free space apart (default %(default)s; 0: glibc's own, eight per core)",
    )
    storage.add_argument(
        "--index-memory-mb",
        type=int,
        default=512,
        metavar="MIB",
        help="MiB of memory the query index (DuckDB) may use: its buffer pool and the working memory of "
        "queries, which spill to disk beyond it (default %(default)s)",
    )
    storage.add_argument(
        "--snapshot-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="publish a read-only copy of the index, <data-dir>/index-snapshot.duckdb, for your "
        "own DuckDB, this many seconds after a change (default %(default)s; spaced out when copying "
        "takes long; 0 publishes none; see docs/schema.md)",
    )
    storage.add_argument(
        "--index-every",
        type=float,
        default=_ServerDefault("index_interval"),
        metavar="SECONDS",
        help="while writes keep coming, bring the query index up to date at most this often, each sync "
        "indexing every commit since the last (default %(default)s; a write after a quiet spell is indexed "
        "at once; 0 syncs after every write, which costs more CPU per commit)",
    )
    tls = p.add_argument_group("TLS")
    tls.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM certificate chain of the server: serve TLS only (needs --tls-key)",
    )
    tls.add_argument("--tls-key", type=Path, default=None, metavar="FILE", help="PEM private key of --tls-cert")
    tls.add_argument(
        "--tls-client-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM of the CA that signs client certificates: mutual TLS, clients without a "
        "certificate it signed are refused during the handshake",
    )
    tls.add_argument(
        "--insecure-allow-remote",
        action="store_true",
        help="listen on a non-loopback address even without TLS or without tokens; everything, "
        "tokens included, then crosses the network in clear, and without tokens every caller is "
        "admin. Only for a trusted network (a TLS-terminating proxy, a container's published port)",
    )
    quotas = p.add_argument_group("per-agent quotas (0 turns one off)")
    quotas.add_argument(
        "--rate",
        type=float,
        default=_ServerDefault("requests_per_second"),
        metavar="N",
        help="requests per second per agent, each CommitStream item counting as one (default %(default)s)",
    )
    quotas.add_argument(
        "--burst",
        type=int,
        default=_ServerDefault("burst"),
        metavar="N",
        help="requests allowed at once above the rate (default %(default)s)",
    )
    quotas.add_argument(
        "--max-streams",
        type=int,
        default=_ServerDefault("max_streams"),
        metavar="N",
        help="streams (CommitStream, Query, WatchRun, ...) open at once per agent (default %(default)s)",
    )
    quotas.add_argument(
        "--max-commit-bytes",
        type=int,
        default=None,
        metavar="N",
        help="bytes of file changes in one commit per agent (default: the server's commit size limit, 128 MiB)",
    )
    quotas.add_argument(
        "--max-repositories",
        type=int,
        default=_ServerDefault("max_repositories"),
        metavar="N",
        help="existing repositories an agent may have created (default %(default)s)",
    )
    ver = p.add_argument_group("verification")
    ver.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="where verification jobs run: a pool of warm sandboxed workers here (local, the "
        "default) or Ray tasks on a Ray cluster (ray; needs trellis-vcs[ray])",
    )
    ver.add_argument(
        "--ci-workers",
        type=int,
        default=0,
        metavar="N",
        help="jobs the local executor runs at once (default: one per CPU)",
    )
    ver.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="the Ray cluster for --executor ray, e.g. ray://head:10001 (default: start a local Ray instance)",
    )
    ver.add_argument(
        "--full-run-every",
        type=int,
        default=0,
        metavar="N",
        help="every N-th push to a branch runs the whole test suite and reports any failure "
        "affected-test selection would have missed (default 0: only on request, verify --full)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # RichHandler imports rich.table and rich.containers on its first record; two server threads
    # logging their first lines at once raced on that import (a partially initialised module).
    import rich.containers  # noqa: F401
    import rich.table  # noqa: F401
    from rich.console import Console
    from rich.logging import RichHandler

    from trellis.vcs import Durability

    from .. import config as cfg
    from ..quotas import Quotas
    from ..server import ConfigError, serve

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)],
    )
    if args.mcp:
        _check_mcp(args)
    quotas = Quotas(
        requests_per_second=_given(args.rate),
        burst=_given(args.burst),
        max_streams=_given(args.max_streams),
        max_commit_bytes=args.max_commit_bytes,
        max_repositories=_given(args.max_repositories),
    )
    config = cfg.ServerConfig(
        data_dir=data_dir(args),
        address=_given(args.listen),
        max_workers=args.max_workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        insecure_allow_remote=args.insecure_allow_remote,
        quotas=quotas,
        executor=args.executor,
        ci_workers=args.ci_workers,
        ray_address=args.ray_address,
        full_run_every=args.full_run_every,
        durability=Durability(args.durability) if args.durability else cfg.env_durability(),
        loose_objects_limit=_given(args.loose_objects),
        snapshot_interval=args.snapshot_every,
        object_cache_mb=args.object_cache_mb,
        parse_cache_mb=args.parse_cache_mb,
        diff_cache_mb=args.diff_cache_mb,
        front_malloc_arenas=args.front_malloc_arenas,
        index_memory_mb=args.index_memory_mb,
        index_interval=_given(args.index_every),
    )
    for flag, size, least in (
        ("--object-cache-mb", args.object_cache_mb, 0),
        ("--parse-cache-mb", args.parse_cache_mb, 0),
        ("--diff-cache-mb", args.diff_cache_mb, 0),
        ("--front-malloc-arenas", args.front_malloc_arenas, 0),
        ("--index-memory-mb", args.index_memory_mb, 1),
    ):
        if size < least:
            raise ConfigError(f"{flag} {size}: give a size in MiB, {least} or more")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    if workers < 0:
        raise ConfigError(f"--workers {workers}: give a number of front processes, or 0 for one process")
    if workers == 0:
        stopped_by = serve(config, on_started=_beside(args))
    else:
        from ..workers import run_workers

        # MCP over HTTP and the web viewer run in the index process (a picklable starter: a restarted
        # supervisor starts that process again from the plan it wrote).
        stopped_by = run_workers(
            config, workers, beside=functools.partial(_beside_in_front, args) if _beside(args) is not None else None
        )
    return 130 if stopped_by == signal.SIGINT else 0  # Ctrl-C: 130 as every command; SIGTERM: a clean stop


def _beside(args: argparse.Namespace) -> Callable[[RunningServer], Callable[[], None]] | None:
    """What runs beside the gRPC server (MCP over HTTP, the web viewer); returns how to stop all of it."""
    starters = []
    if args.mcp:
        starters.append(_mcp_http(args.mcp))
    if args.http:
        starters.append(_web_http(args))
    if not starters:
        return None

    def start(running: RunningServer) -> Callable[[], None]:
        stops: list[Callable[[], None]] = []
        try:
            for starter in starters:
                stops.append(starter(running))
        except BaseException:
            for stop in reversed(stops):
                stop()
            raise

        def stop_all() -> None:
            for stop in reversed(stops):
                stop()

        return stop_all

    return start


def _beside_in_front(args: argparse.Namespace, running: RunningServer) -> Callable[[], None]:
    start = _beside(args)
    return start(running) if start is not None else (lambda: None)


def _web_http(args: argparse.Namespace) -> Callable[[RunningServer], Callable[[], None]]:
    def start(running: RunningServer) -> Callable[[], None]:
        from ..web import start_http

        web = start_http(
            running,
            data_dir(args),
            args.http,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            insecure_allow_remote=args.insecure_allow_remote,
        )
        return web.stop

    return start


def _mcp_http(address: str) -> Callable[[RunningServer], Callable[[], None]]:
    """Start MCP over HTTP next to the gRPC server, calling it; returns how to stop it."""

    def start(running: RunningServer) -> Callable[[], None]:
        from ..mcp_server import start_http

        return start_http(running.address, address).stop

    return start


def _check_mcp(args: argparse.Namespace) -> None:
    from ..config import is_loopback
    from ..server import ConfigError
    from .mcp import require_mcp

    require_mcp()
    if args.tls_cert or args.tls_key:
        raise ConfigError(
            "--mcp does not serve TLS yet: serve MCP on loopback behind a TLS-terminating proxy, "
            "or use `trellis mcp` (stdio) with --server and the TLS options"
        )
    if not is_loopback(args.mcp) and not args.insecure_allow_remote:
        raise ConfigError(
            f"refusing to serve MCP on {args.mcp} in clear (no TLS): bearer tokens would cross "
            "the network readable. Serve it on 127.0.0.1, or pass --insecure-allow-remote if the "
            "network is trusted"
        )
