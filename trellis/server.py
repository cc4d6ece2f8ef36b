"""The composition root: build a server from a config, then serve it.

``build_server`` only assembles (so tests bind port 0 and drive it
in-process); ``serve`` adds the signal handling of a long-running process.
"""

from __future__ import annotations

import errno
import functools
import gc
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any

import duckdb
import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from trellis import ci, semantic_diff
from trellis.ci.execution import ExecutorUnavailable
from trellis.query import DatabaseSettings
from trellis.vcs import (
    Durability,
    Maintainer,
    Redactor,
    Store,
    SyncFunction,
    VcsError,
    limit_object_cache,
    sync_filesystems,
    trust_object_links,
)

from . import servicers, serving
from .admission import Admission, waiting
from .auth import TokenStore
from .authz import Authorizer
from .config import REDACTION_FILE, ServerConfig, git_env, is_loopback, load_redaction
from .datadir import DataDirLock
from .differ import Differ
from .indexing import INDEX_FILE, Index
from .interceptors import FRONT_TRAILER, TrellisInterceptor
from .quotas import QuotaTracker, repository_count, repository_creators
from .reflection import enable_reflection
from .tls import server_credentials
from .verification import EXECUTORS, build_verifier

if TYPE_CHECKING:
    from .workers import FrontLink, FrontVerifier, RemoteIndex
from .v1 import (
    changes_pb2,
    changes_pb2_grpc,
    diffs_pb2,
    diffs_pb2_grpc,
    pipelines_pb2,
    pipelines_pb2_grpc,
    queries_pb2,
    queries_pb2_grpc,
    repositories_pb2,
    repositories_pb2_grpc,
    sessions_pb2,
    sessions_pb2_grpc,
)

__all__ = ["ConfigError", "RunningServer", "build_server", "serve", "settle_heap"]

log = logging.getLogger("trellis.server")

GIL_SWITCH_INTERVAL = 0.0002
"""Seconds a thread may hold the GIL while others wait for it (Python's default is 0.005). A serving process
sets it: the thread that accepts gRPC calls waits for the GIL once per call, and with the default a unary
call waited behind the running calls' 5 ms slices. With the admission queue, 0.2 ms gave unary Commit
p50 196 ms against 231 and p99 505 against 1,400 under bench_load (benchmarks/RESULTS.md)."""

_SERVICES = [
    (repositories_pb2, "RepositoryService"),
    (changes_pb2, "ChangeService"),
    (sessions_pb2, "SessionService"),
    (diffs_pb2, "DiffService"),
    (pipelines_pb2, "PipelineService"),
    (queries_pb2, "QueryService"),
]


class ConfigError(Exception):
    """The server cannot start with this configuration; the message says why."""


class _FrontHealth(health.HealthServicer):  # type: ignore[misc]  # grpc has no type information
    """A front's health checks, which also say which front answered (``FRONT_TRAILER``): a client opens its
    connections until they reach distinct fronts (:class:`trellis.client.Client`), since the kernel hands
    each connection to a front of its choosing."""

    def __init__(self, number: int, fronts: int) -> None:
        super().__init__()
        self._front = ((FRONT_TRAILER, f"{number}/{fronts}"),)

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> Any:  # noqa: N802
        context.set_trailing_metadata(self._front)
        return super().Check(request, context)


@dataclass
class RunningServer:
    """A started server and what it owns; ``stop`` releases everything."""

    server: serving.Server
    port: int
    address: str
    store: Store
    differ: Differ
    index: Index | RemoteIndex
    verifier: ci.Verifier | FrontVerifier
    lock: DataDirLock | None
    health: health.HealthServicer
    maintainer: Maintainer | None = None
    admission: Admission | None = None
    """The queue calls wait in for a turn (trellis/admission.py)."""
    quotas: QuotaTracker | None = None
    """The per-identity quotas its calls spend (the web viewer's pages spend them too)."""
    _stopped: threading.Event = field(default_factory=threading.Event)

    def stop(self, grace: float | None = None) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        if self.maintainer is not None:
            self.maintainer.close()
        self.verifier.close()
        self.index.close()
        if self.lock is not None:
            self.lock.release()

    def wait(self) -> None:
        self.server.wait_for_termination()


def build_server(
    config: ServerConfig, *, sync: SyncFunction = sync_filesystems, front: FrontLink | None = None
) -> RunningServer:
    """Lock the data directory, recover it, and start a gRPC server on ``config.address``.

    Port 0 picks a free port (see ``RunningServer.port``). ``sync`` is how
    writes are made durable when ``config.durability`` is DURABLE (tests pass
    one that records what it synced).

    With ``front`` the server is one front process of ``serve --workers N``
    (:mod:`trellis.workers`): the supervisor holds and recovered the data
    directory, the port is shared (``SO_REUSEPORT``), and the index, Query,
    Export and verification are the index process's, reached through ``front``.
    """
    lock = DataDirLock(config.data_dir).acquire() if front is None else None
    server: serving.Server | None = None
    try:
        tokens = TokenStore(config.data_dir)
        require_tokens = tokens.active()
        credentials = _credentials(config)
        _check_exposure(config, tls=credentials is not None, tokens=require_tokens)
        if front is None:
            _check_address_free(config.address)
        store = open_store(config, sync, recover=front is None)
        admission = Admission(config.admission_slots)
        maintainer = None
        if front is not None:
            front.attach(store)
        elif config.loose_objects_limit > 0:
            maintainer = start_maintainer(config, store, sync)
        options = [
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.so_reuseport", 0 if front is None else 1),
        ]
        quotas = QuotaTracker(
            config.quotas,
            config.limits.max_commit_bytes,
            lambda: repository_creators(store),
            repository_count=lambda: repository_count(store),
            shared=front.quota_table() if front is not None else None,
        )
        server = serving.Server(
            max_workers=config.max_workers,
            interceptors=[
                TrellisInterceptor(
                    tokens,
                    require_tokens=require_tokens,
                    authorizer=Authorizer(
                        lambda repository, session: store.get_session(repository, session).agent,
                        # (`verifier` is built below, before the server starts taking calls)
                        protected=lambda repository, branch: bool(verifier.required_stages(repository, branch)),
                    ),
                    quotas=quotas,
                    admission=admission,
                )
            ],
            options=options,
            maximum_concurrent_rpcs=config.max_workers * 16,
        )

        differ = open_differ(config, store)
        index: Index | RemoteIndex
        verifier: ci.Verifier | FrontVerifier
        if front is None:
            index = open_index(config, differ)
            try:
                verifier = open_verifier(config, store, differ, index)
            except BaseException:
                index.close()
                raise
            queries: queries_pb2_grpc.QueryServiceServicer = servicers.QueryServicer(index)
        else:
            index, verifier, queries = front.index, front.verifier(store), front.queries()
        changes_pb2_grpc.add_ChangeServiceServicer_to_server(
            servicers.ChangeServicer(store, differ, index, verifier), server
        )
        repositories_pb2_grpc.add_RepositoryServiceServicer_to_server(
            servicers.RepositoryServicer(store, index), server
        )
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(servicers.SessionServicer(store, index), server)
        diffs_pb2_grpc.add_DiffServiceServicer_to_server(servicers.DiffServicer(differ), server)
        pipelines_pb2_grpc.add_PipelineServiceServicer_to_server(servicers.PipelineServicer(verifier), server)
        queries_pb2_grpc.add_QueryServiceServicer_to_server(queries, server)

        health_servicer = health.HealthServicer() if front is None else _FrontHealth(front.number, front.fronts)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        names = [module.DESCRIPTOR.services_by_name[svc].full_name for module, svc in _SERVICES]
        enable_reflection([*names, health.SERVICE_NAME], server)

        try:
            if credentials is not None:
                port = server.add_secure_port(config.address, credentials)
            else:
                port = server.add_insecure_port(config.address)
        except RuntimeError as exc:
            detail = str(exc).split("; set GRPC_VERBOSITY")[0]  # gRPC's advice is about its own logs
            raise ConfigError(f"cannot listen on {config.address}: {detail}") from None
        if port == 0:
            raise ConfigError(f"cannot listen on {config.address}: the address is in use or invalid")
        host = config.address.rsplit(":", 1)[0]
        address = f"{host}:{port}"
        server.start()
        if maintainer is not None:
            maintainer.start()
        for name in ["", *names]:
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        if lock is not None:
            lock.publish(address=address, tls=credentials is not None)
            log_serving(config, address, credentials is not None, require_tokens)
        return RunningServer(
            server, port, address, store, differ, index, verifier, lock, health_servicer, maintainer, admission, quotas
        )
    except BaseException:
        if server is not None:
            server.stop(0).wait()  # its event-loop thread and pool
        if lock is not None:
            lock.release()
        raise


def log_serving(config: ServerConfig, address: str, tls: bool, require_tokens: bool) -> None:
    transport = "plaintext" if not tls else "mutual TLS" if config.tls_client_ca else "TLS"
    if require_tokens:
        log.info("serving on %s (%s, bearer tokens required), data in %s", address, transport, config.data_dir)
    else:
        log.warning(
            "serving on %s in LOCAL MODE: no tokens configured, callers name themselves "
            "(x-trellis-agent); loopback only. Data in %s",
            address,
            config.data_dir,
        )


def open_store(config: ServerConfig, sync: SyncFunction, *, recover: bool) -> Store:
    """The data directory's store; ``recover``: clean up after a crash first (only its one owner may)."""
    trust_object_links()  # the core links only objects it has just written or read: the check is pure cost
    limit_object_cache(config.object_cache_mb << 20)
    store = Store(config.data_dir, config.limits, redactor=_redactor(config), durability=config.durability, sync=sync)
    store.waiting = waiting  # a write waiting for its sync gives its admission slot up (trellis/admission.py)
    if recover:
        removed = store.recover()
        if removed:
            log.warning("recovered the data directory after a crash: removed %d stale files", len(removed))
        # What a crashed process left in the page cache is made durable before anything is served.
        store.sync()
        if config.durability is not Durability.DURABLE:
            log.warning(
                "durability none: writes are acknowledged before they are on disk; a power loss "
                "can lose acknowledged commits (a crash of Trellis alone cannot)"
            )
    return store


def start_maintainer(config: ServerConfig, store: Store, sync: SyncFunction) -> Maintainer:
    """Background packing of the store's repositories (started by the caller once it serves); the store's
    writers wait while a repository is far behind."""
    maintainer = Maintainer(
        store,
        sync=sync if config.durability is Durability.DURABLE else None,
        loose_limit=config.loose_objects_limit,
        env=git_env(),
    )
    store.write_listeners.append(maintainer.notice)
    return maintainer


def open_differ(config: ServerConfig, store: Store) -> Differ:
    differ = Differ(store, cache_bytes=config.parse_cache_mb << 20, results_bytes=config.diff_cache_mb << 20)
    # Rebases and merges combine files entity by entity, sharing the diff's parse cache.
    store.merger = functools.partial(semantic_diff.merge_files, cache=differ.cache)
    return differ


def open_index(config: ServerConfig, differ: Differ) -> Index:
    try:
        return Index(
            config.data_dir,
            differ.cache,
            settings=DatabaseSettings(memory_limit=f"{config.index_memory_mb}MiB"),
            snapshot_interval=config.snapshot_interval,
            index_interval=config.index_interval,
        )
    except duckdb.Error as exc:
        raise ConfigError(
            f"cannot open the index {config.data_dir / INDEX_FILE}: {exc}. The index is derived from git: "
            "move it aside and run `trellis reindex` to rebuild it"
        ) from None


def open_verifier(config: ServerConfig, store: Store, differ: Differ, index: Index) -> ci.Verifier:
    if config.executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {config.executor!r}: use one of {', '.join(EXECUTORS)}")
    try:
        return build_verifier(
            store,
            differ,
            index,
            config.data_dir,
            executor=config.executor,
            workers=config.ci_workers,
            ray_address=config.ray_address,
            full_run_every=config.full_run_every,
        )
    except ExecutorUnavailable as exc:
        raise ConfigError(exc.message) from None


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None and config.tls_key is None:
        if config.tls_client_ca is not None:
            raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
        return None
    if config.tls_cert is None or config.tls_key is None:
        raise ConfigError("TLS needs both the certificate (--tls-cert) and its private key (--tls-key)")
    try:
        return server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
    except VcsError as exc:
        raise ConfigError(exc.message) from None


def _redactor(config: ServerConfig) -> Redactor:
    """The built-in credential patterns, plus the data directory's ``redaction.toml`` (see docs/SECURITY.md)."""
    path = config.data_dir / REDACTION_FILE
    try:
        settings = load_redaction(path)
        return Redactor(settings.patterns, enabled=settings.enabled)
    except (ValueError, VcsError) as exc:
        raise ConfigError(f"{path}: {getattr(exc, 'message', exc)}") from None


def _check_exposure(config: ServerConfig, *, tls: bool, tokens: bool) -> None:
    """Off loopback, a server needs TLS and tokens unless the operator says the network is trusted."""
    if is_loopback(config.address):
        return
    missing = [
        what
        for what, present in (
            ("TLS (--tls-cert and --tls-key)", tls),
            (
                "bearer tokens (create one with `trellis token create NAME`; without tokens every caller is admin)",
                tokens,
            ),
        )
        if not present
    ]
    if not missing:
        return
    if not config.insecure_allow_remote:
        raise ConfigError(
            f"refusing to listen on {config.address} without {' and without '.join(missing)}: anyone on the "
            "network could read the traffic or act as any agent. Listen on 127.0.0.1, add what is missing, "
            "or pass --insecure-allow-remote if the network is trusted (a private network, a TLS-terminating "
            "proxy, a container's published port)"
        )
    log.warning("listening on %s without %s (--insecure-allow-remote)", config.address, " and without ".join(missing))


def _check_address_free(address: str) -> None:
    """A clear error for a port already in use, before gRPC tries it (and logs lines of its own)."""
    host, _, port_text = address.rpartition(":")
    try:
        port = int(port_text)
    except ValueError:
        return  # gRPC reports a malformed address
    if port == 0:
        return
    try:
        found = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # an unknown host: gRPC says so
    for family, kind, proto, _, sockaddr in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds: TIME_WAIT is no obstacle
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"cannot listen on {address}: the port is already in use (another Trellis server?); "
                        "pick another with --listen HOST:PORT (port 0 picks a free one)"
                    ) from None


def settle_heap() -> None:
    """Leave what start-up made (modules, gRPC, protobuf, DuckDB, the grammars) out of the collector's full
    passes: collected once, then frozen (``gc.freeze``).

    A full pass walks every tracked object and holds the GIL throughout: 80-130 ms in a started server, run
    every few seconds under load (the heap grows with the caches), and every call waited it out; a unary
    ``Commit``, which gRPC accepts one at a time, waited it out several times over as the calls that came
    meanwhile were accepted. Frozen, the passes took 14-72 ms (benchmarks/RESULTS.md, "Work begun first").
    Frozen objects are still freed when their last reference goes; only a cycle among them that became
    garbage later would stay (what start-up made lives as long as the process)."""
    gc.collect()
    gc.freeze()


def serve(
    config: ServerConfig,
    on_started: Callable[[RunningServer], Callable[[], None]] | None = None,
    *,
    front: FrontLink | None = None,
) -> int:
    """Run until SIGTERM or SIGINT, then finish in-flight requests (up to the grace period); returns the signal.

    ``on_started`` runs once the server serves (e.g. to start MCP over HTTP beside it); what it returns
    runs first when the server stops.
    """
    done = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Nothing that takes a lock or imports: the handler interrupts the main thread anywhere, start-up's
        # own logging and imports included. The stop is logged below, outside the handler.
        received.append(signum)
        done.set()

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    # Handlers first: the server is discoverable (lock file) as soon as it starts.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        running = build_server(config, front=front)
    except BaseException:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        raise
    settle_heap()
    stop_extra: Callable[[], None] | None = None
    try:
        if on_started is not None:
            stop_extra = on_started(running)
        while not done.wait(0.5):
            pass
    finally:
        if received and received[0] == signal.SIGINT:  # a person at the terminal: the CLI ends within a second
            log.info("received SIGINT: stopping (in-flight requests get under a second)")
        elif received:
            name, grace = signal.Signals(received[0]).name, config.grace_seconds
            log.info("received %s: finishing in-flight requests (grace %.0fs)", name, grace)
        if stop_extra is not None:
            stop_extra()
        running.stop(config.grace_seconds)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("stopped")
    return received[0] if received else 0
