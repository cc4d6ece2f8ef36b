"""``trellis serve --workers N``: one data directory served by several processes.

- **Fronts** (N of them) serve the public gRPC API on one address, the kernel
  spreading connections over them (``SO_REUSEPORT``). Each runs the commit path
  itself: the store's ref locks hold across processes (:mod:`trellis.vcs.refs`), so
  compare-and-swap and ``request_id`` retries behave as in one process.
- **The index process** owns ``index.duckdb``: it diffs and indexes what the
  fronts wrote (they tell it which repositories changed, batched), answers
  Query and Export for them, orchestrates verification (runs, reviews, gates)
  and packs loose objects. Fronts reach it over a gRPC channel on a unix
  socket in the data directory (``run/index.sock``, owner-only).
- **The supervisor** holds the data directory (``server.lock``, shared with its
  children so that it stays held while any of them lives), recovers it,
  starts the others and starts again any that dies. Each child holds a lock
  on its ``run/NAME.alive`` file, which the kernel drops when it dies; that is
  how the supervisor sees a death, of a child it started or of one it adopted.
  When the supervisor itself dies, the others go on serving and the index
  process starts a new supervisor, which adopts them.

Everything acknowledged is in git before the reply (and synced, with
durability on), so ``kill -9`` of any one process loses nothing acknowledged:
a new index process catches the index up from git when it starts.

Between a front and the index process, calls are Python method calls of the
index process's objects, pickled (both ends are this program, and the socket
is reachable only by the data directory's owner).
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from trellis import ci
from trellis.ci.engine.gating import Gate
from trellis.ci.engine.source import PipelineSource
from trellis.ci.engine.store import RunStore
from trellis.vcs import Commit, CommitDelta, NotFound, Store, WriterHolds, sync_filesystems
from trellis.vcs.maintenance import HOLD_TIMEOUT

from .admission import waiting
from .config import ServerConfig
from .datadir import DataDirLock
from .errors import Unavailable
from .shared_quotas import SharedQuotaTable
from .v1 import queries_pb2 as qpb
from .v1 import queries_pb2_grpc

__all__ = ["FrontLink", "FrontVerifier", "RemoteIndex", "run_workers"]

log = logging.getLogger("trellis.workers")

RUN_DIR = "run"
SOCKET_NAME = "index.sock"
QUOTA_TABLE = "quotas"  # in the run directory: the fronts' shared token buckets and stream counts
_SERVICE = "trellis.internal.IndexProcess"
_CALL = f"/{_SERVICE}/Call"
_STREAM = f"/{_SERVICE}/Stream"
_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 512 * 1024 * 1024),
    ("grpc.max_send_message_length", 512 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
]
_ALIVE_POLL_S = 0.2
_NOTIFY_BATCH_S = 0.005
# What a front's notice may carry of the deltas of the commits it acknowledged (more: the index process reads
# those commits from git, as it reads every commit that came without one).
_NOTICE_DELTAS = 2048
_NOTICE_DELTA_BYTES = 8 << 20
_HOLD_POLL_S = 0.1  # while the front's writers may be held: how often it asks whether they still are
_REOPEN_EVERY_S = 5.0
_RESTART_EVERY_S = 1.0  # at most one start a second per process (one that fails at start-up does not spin)


# -- calls between processes -------------------------------------------------------------------


def _pack_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, (type(exc), exc.args, dict(getattr(exc, "__dict__", {})))))
    except Exception:  # noqa: BLE001 - an error that does not pickle travels as its text
        return pickle.dumps((False, (RuntimeError, (f"{type(exc).__name__}: {exc}",), {})))


def _unpack(data: bytes) -> Any:
    ok, value = pickle.loads(data)
    if ok:
        return value
    cls, args, state = value
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    raise exc


class Host:
    """The index process's side: calls a method of one of ``targets`` for each request."""

    def __init__(self, targets: dict[str, object]) -> None:
        self.targets = targets

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Call": grpc.unary_unary_rpc_method_handler(self._call),
                "Stream": grpc.unary_stream_rpc_method_handler(self._stream),
            },
        )

    def _method(self, request: bytes) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        target, method, args, kwargs = pickle.loads(request)
        return getattr(self.targets[target], method), args, kwargs

    def _call(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            method, args, kwargs = self._method(request)
            return pickle.dumps((True, method(*args, **kwargs)))
        except Exception as exc:  # noqa: BLE001 - raised again in the front
            return _pack_error(exc)

    def _stream(self, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        try:
            method, args, kwargs = self._method(request)
            if kwargs.pop("_alive", False):
                kwargs["alive"] = context.is_active
            for item in method(*args, **kwargs):
                yield pickle.dumps((True, item))
        except Exception as exc:  # noqa: BLE001
            yield _pack_error(exc)


class Link:
    """A front's channel to the index process."""

    def __init__(self, socket_path: str) -> None:
        self.channel = grpc.insecure_channel(f"unix:{socket_path}", options=_CHANNEL_OPTIONS)
        self._call = self.channel.unary_unary(_CALL)
        self._stream = self.channel.unary_stream(_STREAM)

    def call(self, target: str, method: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        try:
            data = self._call(pickle.dumps((target, method, args, kwargs)), wait_for_ready=True, timeout=timeout)
        except grpc.RpcError as exc:
            raise _unavailable(exc) from None
        return _unpack(data)

    def stream(
        self, target: str, method: str, *args: Any, alive: Callable[[], bool] | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        if alive is not None:
            kwargs["_alive"] = True
        call = self._stream(pickle.dumps((target, method, args, kwargs)), wait_for_ready=True)
        try:
            for data in call:
                yield _unpack(data)
                if alive is not None and not alive():
                    return
        except grpc.RpcError as exc:
            raise _unavailable(exc) from None
        finally:
            call.cancel()

    def close(self) -> None:
        self.channel.close()


def _unavailable(exc: grpc.RpcError) -> Unavailable:
    return Unavailable(f"the index process did not answer ({exc.code().name}): retry shortly")


# -- the front's view of the index process ----------------------------------------------------


class RemoteIndex:
    """The front's ``Index``: tells the index process what changed, batched in a background thread, and holds
    the front's writers while the index process's maintenance holds their repository (:attr:`holds`, a copy
    refreshed with each answer to a notice, and every :data:`_HOLD_POLL_S` while any is held)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.holds = WriterHolds(HOLD_TIMEOUT)
        self.waiting: Callable[[], AbstractContextManager[None]] = nullcontext
        """Entered around a held writer's wait (the store's: its admission slot is given up)."""
        self._guard = threading.Condition()
        self._changed: set[str] = set()
        self._writes: dict[str, int] = {}
        self._written: list[tuple[str, CommitDelta]] = []  # (repository, delta) of the commits acknowledged since
        self._written_bytes = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="trellis-index-notify", daemon=True)
        self._thread.start()

    def changed(self, repository: str, written: CommitDelta | None = None) -> None:
        """``written`` goes with the next notice, up to :data:`_NOTICE_DELTAS` deltas holding
        :data:`_NOTICE_DELTA_BYTES` of contents per notice (past that the index process reads git)."""
        with self._guard:
            self._changed.add(repository)
            if written is not None and len(self._written) < _NOTICE_DELTAS:
                size = written.content_bytes
                if self._written_bytes + size <= _NOTICE_DELTA_BYTES:
                    self._written.append((repository, written))
                    self._written_bytes += size
            self._guard.notify()

    def written(self, repository: str) -> None:
        """A store write listener: counts acknowledged writes for the index process's maintenance, then waits
        while their repository is held (as :meth:`trellis.vcs.Maintainer.notice` in one process)."""
        with self._guard:
            self._writes[repository] = self._writes.get(repository, 0) + 1
        self.holds.wait(repository, self.waiting)

    def deleted(self, repository: str) -> None:
        self.link.call("index", "deleted", repository)

    def wait_idle(self, timeout: float | None = None) -> bool:
        self._flush()
        return bool(self.link.call("index", "wait_idle", timeout))

    def _take(self) -> tuple[list[str], dict[str, int], list[tuple[str, CommitDelta]]]:
        changed, writes, written = sorted(self._changed), self._writes, self._written
        self._changed, self._writes, self._written, self._written_bytes = set(), {}, [], 0
        return changed, writes, written

    def _flush(self, poll: bool = False) -> None:
        with self._guard:
            changed, writes, written = self._take()
        if changed or writes or poll:
            self._send(changed, writes, written)

    def _send(self, changed: list[str], writes: dict[str, int], written: list[tuple[str, CommitDelta]]) -> None:
        try:
            held = self.link.call("index", "changes", changed, writes, written, timeout=30)
        except Unavailable:
            # The index process is being restarted: it catches up from git when it starts, and holds the
            # writers again once it has counted their loose objects.
            log.warning("the index process did not take a change notice; it catches up when it starts")
            held = {}
        self.holds.replace(held)

    def _run(self) -> None:
        while True:
            poll = False
            with self._guard:
                while not self._changed and not self._closed:
                    if not self.holds:
                        self._guard.wait()
                    elif not self._guard.wait(_HOLD_POLL_S):
                        poll = True  # writers may be held: ask whether they still are
                        break
                if self._closed and not self._changed:
                    return
            if not poll:
                time.sleep(_NOTIFY_BATCH_S)  # let the commits arriving together share one notice
            self._flush(poll)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            self._guard.notify()
        self._thread.join(timeout=10)
        self._flush()
        self.holds.replace({})


class IndexHost:
    """The index process's side of :class:`RemoteIndex`."""

    def __init__(self, index: Any, maintainer: Any) -> None:
        self.index = index
        self.maintainer = maintainer

    def changes(
        self,
        changed: list[str],
        writes: dict[str, int],
        written: Sequence[tuple[str, CommitDelta]] = (),
    ) -> dict[str, float]:
        """Returns the repositories whose writers are held, with the seconds each hold has left. ``written``:
        what the writes of some of the new commits changed (the index makes their rows from it)."""
        for repository, delta in written:
            self.index.changed(repository, delta)
        for repository in changed:
            self.index.changed(repository)
        if self.maintainer is None:
            return {}
        for repository, count in writes.items():
            self.maintainer.count(repository, count)
        held: dict[str, float] = self.maintainer.holds.held()
        return held

    def deleted(self, repository: str) -> None:
        self.index.deleted(repository)

    def wait_idle(self, timeout: float | None) -> bool:
        return bool(self.index.wait_idle(timeout))


_QUERY_SERVICE = qpb.DESCRIPTOR.services_by_name["QueryService"]


class QueryHost:
    """Every QueryService call (Query, Export, ImportRepository, CheckIndex, RebuildIndex), run by the index
    process's own ``QueryServicer`` on the front's request."""

    def __init__(self, servicer: queries_pb2_grpc.QueryServiceServicer) -> None:
        self.servicer = servicer

    def _run(self, method: str, request: bytes) -> Any:
        request_type = getattr(qpb, _QUERY_SERVICE.methods_by_name[method].input_type.name)
        return getattr(self.servicer, method)(request_type.FromString(request), None)

    def call(self, method: str, request: bytes) -> bytes:
        return bytes(self._run(method, request).SerializeToString())

    def stream(self, method: str, request: bytes, alive: Callable[[], bool] = lambda: True) -> Iterator[bytes]:
        for response in self._run(method, request):
            yield response.SerializeToString()


_END = object()


def _forwarder(link: Link, method: Any) -> Callable[..., Any]:
    response_type = getattr(qpb, method.output_type.name)
    name = method.name
    if method.server_streaming:

        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            answers = link.stream("queries", "stream", name, request.SerializeToString(), alive=context.is_active)
            while True:
                with waiting():  # the index process works: this front's admission slot is given up meanwhile
                    data = next(answers, _END)
                if data is _END:
                    return
                yield response_type.FromString(data)

        return stream

    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        with waiting():
            data = link.call("queries", "call", name, request.SerializeToString())
        return response_type.FromString(data)

    return unary


def remote_query_servicer(link: Link) -> queries_pb2_grpc.QueryServiceServicer:
    """The front's QueryService: each of its methods answered by the index process."""
    methods = {m.name: _forwarder(link, m) for m in _QUERY_SERVICE.methods}
    servicer: queries_pb2_grpc.QueryServiceServicer = type(
        "RemoteQueryServicer", (queries_pb2_grpc.QueryServiceServicer,), methods
    )()
    return servicer


def _no_runs(*args: Any) -> Any:
    raise AssertionError("a front starts no run itself: the index process does")


class FrontVerifier:
    """The front's ``ci.Verifier``: what only reads pipelines from git is answered here (every write asks
    whether its branch is protected); runs, reviews and gates are the index process's."""

    def __init__(self, store: Store, link: Link) -> None:
        self.link = link
        self.source = PipelineSource(store)
        self.store = store
        self.gate = Gate(store, self.source, RunStore(store), get=_no_runs, start=_no_runs, invalid_run=_no_runs)

    def required_stages(self, repository: str, branch: str) -> tuple[str, ...]:
        return self.gate.required_stages(repository, branch)

    def check_direct_write(self, repository: str, branch: str) -> None:
        self.gate.check_direct_write(repository, branch)

    def on_push(
        self, repository: str, branch: str, commit_id: str, session_id: str = "", *, commit: Commit | None = None
    ) -> ci.Run | None:
        try:
            if commit is None or commit.commit_id != commit_id:
                commit = self.store.get_commit(repository, commit_id)
            if self.source.at(repository, commit) is None:
                return None  # no pipeline applies: as the index process would answer, without asking it
        except ci.PipelineError:
            pass  # the index process records the failed run
        except NotFound:
            pass
        run: ci.Run | None = self._call("on_push", repository, branch, commit_id, session_id)
        return run

    def watch(
        self, repository: str, run_id: str, *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[Any]:
        return self.link.stream("verifier", "watch", repository, run_id, poll=poll, alive=alive)

    def watch_reviews(
        self, repository: str, stage: str = "", *, poll: float = 0.5, alive: Callable[[], bool] = lambda: True
    ) -> Iterator[Any]:
        return self.link.stream("verifier", "watch_reviews", repository, stage, poll=poll, alive=alive)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.link.call("verifier", method, *args, **kwargs)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._call(name, *args, **kwargs)

    def close(self) -> None:
        pass


@dataclass
class FrontLink:
    """What a front needs of the index process (passed to :func:`trellis.server.build_server`)."""

    socket_path: str
    quota_path: str = ""  # the quota table shared by the fronts ("": quotas of this process alone)
    number: int = 0  # this front's number (its column of stream counts in that table)
    fronts: int = 1  # how many fronts serve the address (a health check says "number/fronts" to clients)
    link: Link = field(init=False)
    index: RemoteIndex = field(init=False)

    def __post_init__(self) -> None:
        self.link = Link(self.socket_path)
        self.index = RemoteIndex(self.link)

    def attach(self, store: Store) -> None:
        """Report the front's writes to the index process (for maintenance), and reopen the repositories whose
        packs its maintenance changed (so that deleted packs do not stay open here)."""
        store.write_listeners.append(self.index.written)
        self.index.waiting = lambda: store.waiting()

        def reopen() -> None:
            while True:
                time.sleep(_REOPEN_EVERY_S)
                store.reopen_repacked()

        threading.Thread(target=reopen, name="trellis-reopen-repacked", daemon=True).start()

    def quota_table(self) -> SharedQuotaTable | None:
        return SharedQuotaTable(Path(self.quota_path), self.number) if self.quota_path else None

    def verifier(self, store: Store) -> FrontVerifier:
        return FrontVerifier(store, self.link)

    def queries(self) -> queries_pb2_grpc.QueryServiceServicer:
        return remote_query_servicer(self.link)


# -- the processes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What every process of one ``serve --workers N`` knows (``run/plan.pickle``)."""

    config: ServerConfig
    workers: int
    socket_path: str
    address: str  # the fronts' address, its port fixed
    lock_fd: int  # the data directory's lock, inherited by every process
    beside: Callable[[Any], Callable[[], None]] | None = None
    """Run by the index process once it serves, with what the single process's ``RunningServer`` offers (the
    fronts' address, the store, differ, index and verifier): MCP over HTTP, the web viewer. Returns how to stop
    it."""

    @property
    def run_dir(self) -> Path:
        return self.config.data_dir / RUN_DIR

    def names(self) -> list[str]:
        return ["index", *(f"front-{i}" for i in range(self.workers))]


def _alive_path(plan: Plan, name: str) -> Path:
    return plan.run_dir / f"{name}.alive"


def _ready_path(plan: Plan, name: str) -> Path:
    return plan.run_dir / f"{name}.ready"


def is_alive(path: Path) -> bool:
    """Whether a live process holds the lock on ``path`` (the kernel drops it when the process dies)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _locked(path: Path) -> int:
    """A new inheritable descriptor holding the lock on ``path`` (handed to the process it names)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.set_inheritable(fd, True)
    return fd


class _Child:
    """A process forked from the supervisor (``subprocess.Popen``'s ``poll``/``wait`` for a fork)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        while self.poll() is None:
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode


_inherited_by_no_child: list[int] = []  # descriptors a forked child closes first (the supervisor's own lock)


def _spawn(plan_path: Path, plan: Plan, role: str, name: str, alive_fd: int) -> _Child:
    """Fork the process ``name``: it starts at once with every module the supervisor imported (a new
    interpreter would import them all again, seconds of CPU per process). The supervisor has no gRPC
    object and no thread but its watcher when it forks."""
    _ready_path(plan, name).unlink(missing_ok=True)
    pid = os.fork()
    if pid:
        return _Child(pid)
    code = 1
    try:
        for fd in _inherited_by_no_child:
            os.close(fd)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        _name_log(name)
        if role == "index":
            _index(plan, plan_path, name)
        else:
            _front(plan, name)
        code = 0
    except BaseException:  # noqa: BLE001 - said in the log; the supervisor starts it again
        log.exception("the %s process failed", name)
    finally:
        os._exit(code)


def _name_log(name: str) -> None:
    """Prefix this process's log lines with its name."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(f"[{name}] %(message)s"))


def _ready(plan: Plan, name: str) -> None:
    _ready_path(plan, name).write_text(str(os.getpid()))


class Supervisor:
    """Starts the index process and the fronts, starts again any that dies; adopts them after a restart."""

    def __init__(self, plan_path: Path, plan: Plan, *, adopt: bool) -> None:
        self.plan_path = plan_path
        self.plan = plan
        self.children: dict[str, _Child] = {}
        self.restarts = 0
        self._started: dict[str, float] = {}
        self._stop = threading.Event()
        self._adopt = adopt
        # Holds the port for the fronts (bound, never listening: the kernel hands connections only to
        # listening sockets), so that a restarted front gets the same one.
        host, _, port = plan.address.rpartition(":")
        self._port_holder = _reserve(host, int(port))

    def start(self, timeout: float = 300.0) -> None:
        """Start every process at once (an adopting supervisor: only those that died). Returns when the index
        process and one front serve (the others come up meanwhile); ``ChildFailed`` if one exits first."""
        for name in self.plan.names():
            if self._adopt and is_alive(_alive_path(self.plan, name)):
                continue
            self._start(name)
        if self._adopt:
            return
        deadline = time.monotonic() + timeout
        fronts = [n for n in self.plan.names() if n != "index"]
        while not (
            _ready_path(self.plan, "index").exists() and any(_ready_path(self.plan, n).exists() for n in fronts)
        ):
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    raise ChildFailed(f"the {name} process exited ({proc.returncode}) before it served")
            if time.monotonic() > deadline:
                raise ChildFailed(f"the server did not start within {timeout:.0f} s")
            time.sleep(0.02)

    def _start(self, name: str) -> None:
        self._started[name] = time.monotonic()
        fd = _locked(_alive_path(self.plan, name))
        try:
            self.children[name] = _spawn(self.plan_path, self.plan, "index" if name == "index" else "front", name, fd)
        finally:
            os.close(fd)

    def watch(self) -> None:
        """Until :meth:`stop`: start again every process that died."""
        while not self._stop.wait(_ALIVE_POLL_S):
            for name in self.plan.names():
                proc = self.children.get(name)
                if proc is not None and proc.poll() is not None:
                    del self.children[name]
                if (
                    not is_alive(_alive_path(self.plan, name))
                    and not self._stop.is_set()
                    and time.monotonic() - self._started.get(name, 0.0) > _RESTART_EVERY_S
                ):
                    log.warning("the %s process died: starting it again", name)
                    self.restarts += 1
                    self._start(name)

    def stop(self, grace: float) -> None:
        """Fronts first (they finish their calls), then the index process (it drains its queue)."""
        self._stop.set()
        fronts = [n for n in self.plan.names() if n != "index"]
        for group in (fronts, ["index"]):
            pids = [pid for pid in (self._pid(n) for n in group) if pid]
            for pid in pids:
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace + 30
            for name in group:
                while is_alive(_alive_path(self.plan, name)) and time.monotonic() < deadline:
                    proc = self.children.get(name)
                    if proc is not None:
                        proc.poll()
                    time.sleep(0.05)
        for proc in self.children.values():
            proc.wait()
        self._port_holder.close()

    def _pid(self, name: str) -> int | None:
        proc = self.children.get(name)
        if proc is not None:
            return proc.pid
        try:
            return int(_ready_path(self.plan, name).read_text())
        except (OSError, ValueError):
            return None


class ChildFailed(Exception):
    pass


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _reserve(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((host.strip("[]"), port))
    return holder


def _socket_path(run_dir: Path) -> str:
    path = run_dir / SOCKET_NAME
    if len(str(path)) < 100:  # a unix socket's path has room for 107 bytes
        return str(path)
    return str(Path(tempfile.mkdtemp(prefix="trellis-")) / SOCKET_NAME)


def run_workers(
    config: ServerConfig, workers: int, *, beside: Callable[[Any], Callable[[], None]] | None = None
) -> int:
    """``trellis serve --workers N``: run the supervisor in this process until SIGTERM or SIGINT; returns the
    signal."""
    from .auth import TokenStore
    from .server import ConfigError, _check_address_free, _check_exposure, _credentials, log_serving, open_store

    done = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:  # nothing that takes a lock: logged below
        received.append(signum)
        done.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = DataDirLock(config.data_dir).acquire()
    supervisor: Supervisor | None = None
    try:
        tokens = TokenStore(config.data_dir).active()
        credentials = _credentials(config)
        _check_exposure(config, tls=credentials is not None, tokens=tokens)
        _check_address_free(config.address)
        open_store(config, sync_filesystems, recover=True)
        run_dir = config.data_dir / RUN_DIR
        run_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(run_dir, 0o700)
        (run_dir / QUOTA_TABLE).unlink(missing_ok=True)  # the previous server's streams are closed
        host, _, port = config.address.rpartition(":")
        probe = _reserve(host, int(port))  # port 0: the kernel picks one, then every front binds it
        address = f"{host}:{probe.getsockname()[1]}"
        plan = Plan(config, workers, _socket_path(run_dir), address, lock._fd, beside)
        plan_path = run_dir / "plan.pickle"
        plan_path.write_bytes(pickle.dumps(plan))
        supervisor = Supervisor(plan_path, plan, adopt=False)
        probe.close()
        alive = _locked(run_dir / "supervisor.alive")  # (not a child's: the index process watches it)
        os.set_inheritable(alive, False)
        _inherited_by_no_child.append(alive)
        try:
            supervisor.start()
        except ChildFailed as exc:
            raise ConfigError(f"{exc}: see its messages above") from None
        lock.publish(address=address, tls=credentials is not None)
        log_serving(config, address, credentials is not None, tokens)
        log.info("%d front processes and an index process serve %s (pid %d supervises)", workers, address, os.getpid())
        watcher = threading.Thread(target=supervisor.watch, name="trellis-supervise", daemon=True)
        watcher.start()
        while not done.wait(0.5):
            pass
    finally:
        if received:
            log.info("received %s: stopping the fronts, then the index process", signal.Signals(received[0]).name)
        if supervisor is not None:
            supervisor.stop(config.grace_seconds)
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if supervisor is not None:  # (a server that never started says only why, in one line)
            log.info("stopped")
    return received[0] if received else 0


def _adopting_supervisor(plan_path: Path, alive_fd: int) -> None:
    """A supervisor started by the index process after the first one died: adopts the running processes."""
    plan: Plan = pickle.loads(plan_path.read_bytes())
    _inherited_by_no_child.append(alive_fd)
    lock = DataDirLock(plan.config.data_dir, _fd=plan.lock_fd)
    lock.publish(address=plan.address)
    supervisor = Supervisor(plan_path, plan, adopt=True)
    supervisor.start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: done.set())
    log.warning("supervising again (pid %d): the previous supervisor died", os.getpid())
    threading.Thread(target=supervisor.watch, name="trellis-supervise", daemon=True).start()
    while not done.wait(0.5):
        pass
    supervisor.stop(plan.config.grace_seconds)
    os.close(alive_fd)


def _front(plan: Plan, name: str) -> None:
    from dataclasses import replace

    from .native_heap import limit_arenas
    from .server import serve

    limit_arenas(plan.config.front_malloc_arenas)  # first, before any thread of the front allocates
    config = replace(plan.config, address=plan.address)

    def started(running: Any) -> Callable[[], None]:
        _ready(plan, name)
        return lambda: None

    number = int(name.rpartition("-")[2])
    serve(config, started, front=FrontLink(plan.socket_path, str(plan.run_dir / QUOTA_TABLE), number, plan.workers))


def _index(plan: Plan, plan_path: Path, name: str) -> None:
    from concurrent import futures

    from . import servicers
    from .server import open_differ, open_index, open_store, open_verifier, start_maintainer

    config = plan.config
    store = open_store(config, sync_filesystems, recover=False)
    # The fronts' writes come in batched notices (IndexHost.changes); their writers wait in the fronts.
    maintainer = start_maintainer(config, store, sync_filesystems) if config.loose_objects_limit > 0 else None
    differ = open_differ(config, store)
    index = open_index(config, differ)
    verifier = open_verifier(config, store, differ, index)
    host = Host(
        {
            "index": IndexHost(index, maintainer),
            "verifier": verifier,
            "queries": QueryHost(servicers.QueryServicer(index)),
        }
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="trellis-index"),
        options=_CHANNEL_OPTIONS,
    )
    server.add_generic_rpc_handlers((host.handler(),))
    Path(plan.socket_path).unlink(missing_ok=True)
    server.add_insecure_port(f"unix:{plan.socket_path}")
    server.start()
    os.chmod(plan.socket_path, 0o600)
    if maintainer is not None:
        maintainer.start()
    stop_beside: Callable[[], None] = lambda: None
    if plan.beside is not None:
        from types import SimpleNamespace

        from .quotas import QuotaTracker, repository_count, repository_creators

        # The web viewer's pages spend the identities' shared quotas too, in a column past the fronts'.
        quotas = QuotaTracker(
            config.quotas,
            config.limits.max_commit_bytes,
            lambda: repository_creators(store),
            repository_count=lambda: repository_count(store),
            shared=SharedQuotaTable(plan.run_dir / QUOTA_TABLE, plan.workers),
        )
        stop_beside = plan.beside(
            SimpleNamespace(
                address=plan.address, store=store, differ=differ, index=index, verifier=verifier, quotas=quotas
            )
        )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: done.set())
    _ready(plan, name)
    supervisor_alive = plan.run_dir / "supervisor.alive"
    adopter: subprocess.Popen[bytes] | None = None
    while not done.wait(0.5):
        if not is_alive(supervisor_alive) and not done.is_set():
            log.warning("the supervisor died: starting a new one")
            fd = _locked(supervisor_alive)
            try:
                adopter = subprocess.Popen(
                    [sys.executable, "-m", "trellis.workers", "supervise", str(plan_path), "supervisor", str(fd)],
                    pass_fds=(plan.lock_fd, fd),
                )
            finally:
                os.close(fd)
        if adopter is not None:
            adopter.poll()  # reaped once it ends
    stop_beside()
    server.stop(config.grace_seconds).wait()
    if maintainer is not None:
        maintainer.close()
    verifier.close()
    index.close()


def main(argv: list[str]) -> int:
    role, plan_path, name, alive_fd = argv[0], Path(argv[1]), argv[2], int(argv[3])
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)],
    )
    _name_log(name)
    plan: Plan = pickle.loads(plan_path.read_bytes())
    if role == "supervise":
        _adopting_supervisor(plan_path, alive_fd)
    elif role == "index":
        _index(plan, plan_path, name)
    else:
        _front(plan, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
