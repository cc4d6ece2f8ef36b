"""The Python SDK: how an agent uses Trellis.

    from trellis import Client

    with Client("127.0.0.1:7433", agent="alice") as trellis:
        repo = trellis.create_repository("demo")
        session = trellis.create_session("demo", model="gpt-5", task="fix the parser")
        result = trellis.commit(
            "demo", session.branch_id, {"src/parser.py": b"..."}, "Fix off-by-one",
            expected_head=repo.head_commit_id, session=session.session_id,
        )

Every method returns plain values from :mod:`vcs` and raises the same
exception classes the domain packages raise (``vcs.StaleHead``, ``ci.errors.GateClosed``,
``query.errors.QuerySyntaxError``, ...), found from the reason (``trellis.errors.REASONS``) and
restored from the gRPC status and its ``ErrorInfo``.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from trellis import ci, semantic_diff, vcs
from trellis.vcs.validation import check_agent_name

from . import convert, names
from .errors import error_from_rpc, error_from_status
from .interceptors import FRONT_TRAILER, LOCAL_AGENT_HEADER
from .tls import TLS
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

__all__ = ["ChangeSet", "Client", "CommitReply", "CommitStream", "QueryResult", "RevisionDiff"]


@dataclass(frozen=True, slots=True)
class CommitReply(vcs.CommitResult):
    """A landed commit; ``diff`` is its semantic diff when the commit asked to wait for it."""

    diff: semantic_diff.DiffResult | None = None
    run: ci.Run | None = None  # the finished verification run, when the commit asked to wait for it


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A query's rows as an Arrow table; ``truncated`` when a row or byte limit cut it short."""

    table: Any  # pyarrow.Table (imported lazily)
    truncated: bool


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """The semantic diff between two revisions; ``line_diffs`` maps path -> unified diff when asked.

    A line diff is bytes: its lines are the files' own bytes, whatever their encoding (decode with
    ``errors="replace"`` to show one)."""

    result: semantic_diff.DiffResult
    line_diffs: dict[str, bytes]


T = TypeVar("T")
QueryParams = Sequence[Any] | Mapping[str, Any]
"""Bind parameters of a query: values of ``?`` / ``$1``... in order, or of ``$name`` by name."""
ChangeSet = Sequence[vcs.Change] | Mapping[str, "bytes | str | None"]
"""Changes as a list of PutFile/DeleteFile/RenameFile, or {path: content} (None deletes; a put keeps the
file's mode, so an edited script stays executable: pass ``vcs.PutFile(path, data, executable=...)`` to set it)."""

# The reason of a RESOURCE_EXHAUSTED that gRPC itself raised (a message over a limit): it has no ErrorInfo.
_MESSAGE_TOO_LARGE = "RESOURCE_EXHAUSTED"

_OPTIONS = [
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
]


def _changes(changes: ChangeSet) -> list[vcs.Change]:
    if isinstance(changes, Mapping):
        result: list[vcs.Change] = []
        for path, content in changes.items():
            if content is None:
                result.append(vcs.DeleteFile(path))
            else:
                data = content.encode() if isinstance(content, str) else bytes(content)
                result.append(vcs.PutFile(path, data))
        return result
    return list(changes)


_TOKEN = re.compile(r"[!-~]+")  # what an HTTP/2 header value can carry: printable ASCII, no spaces


def _checked_token(token: str) -> str:
    """The token as sent; a clear error, before any call, for one no server could have issued."""
    token = token.strip()
    if not _TOKEN.fullmatch(token):
        from .errors import Unauthenticated

        odd = next((c for c in token if not ("!" <= c <= "~")), " ")
        raise Unauthenticated(
            f"{token[:40]!r} is not a Trellis token (it contains {odd!r}): tokens look like "
            "trellis_<id>_<secret>, as `trellis token create NAME` prints them once",
            reason="INVALID_TOKEN",
        )
    return token


def _on_stale(value: str | vcs.OnStale) -> changes_pb2.OnStale.ValueType:
    stale = vcs.OnStale(value) if isinstance(value, str) else value
    return changes_pb2.ON_STALE_REBASE if stale is vcs.OnStale.REBASE else changes_pb2.ON_STALE_FAIL


_FRONT_CONNECTIONS = 8  # a client's connections to distinct fronts of `serve --workers N`, at most
_TRIES_PER_FRONT = 16  # new connections tried per front wanted (each reaches a front at random: 2**-32 to miss 1 of 2)
_RETRY_SPREAD_S = 5.0  # after a failed attempt to spread (the server did not answer), the next no sooner
_CONNECTION_ARG = "trellis.connection"  # a channel argument: gRPC shares a connection only between equal arguments
_STREAM_SPREAD_S = 10.0  # how long a new CommitStream may wait for the client to reach the fronts
_TURN = itertools.count()  # the calls of every client of the process take the connections in turn
_STREAMS: Counter[tuple[str, int]] = Counter()  # the process's open CommitStreams per (target, front)
_STREAMS_LOCK = threading.Lock()


class _Stubs:
    """The services' stubs on one channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.repos = repositories_pb2_grpc.RepositoryServiceStub(channel)
        self.changes = changes_pb2_grpc.ChangeServiceStub(channel)
        self.sessions = sessions_pb2_grpc.SessionServiceStub(channel)
        self.diffs = diffs_pb2_grpc.DiffServiceStub(channel)
        self.queries = queries_pb2_grpc.QueryServiceStub(channel)
        self.pipelines = pipelines_pb2_grpc.PipelineServiceStub(channel)


def _front_of(channel: grpc.Channel, timeout: float) -> tuple[int, int]:
    """(which front answered, how many there are) on ``channel``'s connection: (0, 1) from one process."""
    try:
        _, call = health_pb2_grpc.HealthStub(channel).Check.with_call(health_pb2.HealthCheckRequest(), timeout=timeout)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # no health service (a proxy?): one front as far as we know
            return 0, 1
        raise
    number, _, fronts = dict(call.trailing_metadata() or ()).get(FRONT_TRAILER, "0/1").partition("/")
    return (int(number), int(fronts)) if number.isdigit() and fronts.isdigit() else (0, 1)


class _Connections:
    """A client's channels: one, or against ``trellis serve --workers N`` one to each of up to
    ``_FRONT_CONNECTIONS`` distinct fronts, the calls taking them in turn.

    The fronts share the port (``SO_REUSEPORT``) and the kernel hands each new connection to one of them by a
    hash of its addresses, and gRPC gives the channels of a process with equal arguments one connection: every
    call of a process used to reach one front, and two client processes used one front of two half the time
    (benchmarks/RESULTS.md, "Connections over the fronts"). A front's health check says which front it is
    (``FRONT_TRAILER``); a channel that reached a front already reached is closed and another opened with a new
    ``_CONNECTION_ARG`` (a new connection, hashed anew). The clients of a process open the same arguments in
    the same order, so they mostly share these connections as they share the first.
    """

    def __init__(
        self,
        target: str,
        first: grpc.Channel,
        open_channel: Callable[[Sequence[tuple[str, Any]]], grpc.Channel] | None,
    ) -> None:
        self.first = first
        self._open = open_channel  # None: a channel the caller gave, used as given
        self._target = target  # (the process's open streams are counted per target and front)
        self._stubs = [_Stubs(first)]
        self._lock = threading.Lock()  # the fields below
        self._spreading = threading.Lock()  # one spread at a time
        self._pending = open_channel is not None
        self._running = False
        self._next_try = 0.0
        self._closed = False
        self.fronts: list[int] = []  # the fronts reached, once spread (one process: [0])

    def next(self) -> _Stubs:
        if self._pending and not self._running and time.monotonic() >= self._next_try:
            self._start()
        stubs = self._stubs
        return stubs[next(_TURN) % len(stubs)] if len(stubs) > 1 else stubs[0]

    def for_stream(self) -> tuple[_Stubs, Callable[[], None]]:
        """The connection for a CommitStream, and what to call when it closes: the one to the front with the
        fewest of the process's open streams (in turn, the agents that each make the same calls before their
        stream would all open it on one front)."""
        self.spread(_STREAM_SPREAD_S)  # (a stream stays where it opens: the connections first)
        stubs = self.next()
        with self._lock:
            fronts, every = self.fronts, self._stubs
        if len(fronts) != len(every) or len(fronts) < 2:
            return stubs, lambda: None
        with _STREAMS_LOCK:
            chosen = min(range(len(fronts)), key=lambda i: (_STREAMS[self._target, fronts[i]], every[i] is not stubs))
            key = (self._target, fronts[chosen])
            _STREAMS[key] += 1

        def release() -> None:
            with _STREAMS_LOCK:
                _STREAMS[key] -= 1
                if _STREAMS[key] <= 0:
                    del _STREAMS[key]

        return every[chosen], release

    def _start(self) -> None:
        with self._lock:
            if self._running or not self._pending:
                return
            self._running = True
        threading.Thread(target=self._spread_quietly, name="trellis-client-spread", daemon=True).start()

    def _spread_quietly(self) -> None:
        try:
            self.spread(60.0)
        finally:
            with self._lock:
                self._running = False

    def spread(self, timeout: float) -> None:
        """Reach distinct fronts (once: the number of fronts stays while the server runs). It gives up quietly
        when the server does not answer (the calls say so), and is tried again later."""
        if self._open is None:
            return
        with self._spreading:
            if not self._pending or self._closed:
                return
            deadline = time.monotonic() + timeout
            channels: dict[int, grpc.Channel] = {}
            try:
                number, fronts = _front_of(self.first, timeout)
                channels[number] = self.first
                wanted = min(fronts, _FRONT_CONNECTIONS)
                for attempt in range(1, wanted * _TRIES_PER_FRONT + 1):
                    if len(channels) >= wanted or self._closed:
                        break
                    channel = self._open([(_CONNECTION_ARG, attempt)])
                    try:
                        number, _ = _front_of(channel, max(0.1, deadline - time.monotonic()))
                    except BaseException:
                        channel.close()
                        raise
                    if number in channels:
                        channel.close()
                    else:
                        channels[number] = channel
            except (grpc.RpcError, ValueError):
                for channel in channels.values():
                    if channel is not self.first:
                        channel.close()
                self._next_try = time.monotonic() + _RETRY_SPREAD_S
                return
            with self._lock:
                if self._closed:
                    for channel in channels.values():
                        if channel is not self.first:
                            channel.close()
                    return
                first = self._stubs[0]
                self.fronts = sorted(channels)
                self._stubs = [first if c is self.first else _Stubs(c) for _, c in sorted(channels.items())]
                self._pending = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stubs, self._stubs = self._stubs, [self._stubs[0]]
        for each in stubs:
            each.channel.close()
        self.first.close()


class Client:
    """A connection to a Trellis server. Thread-safe; share one per process.

    Against ``trellis serve --workers N`` it holds a connection to each front process (up to 8) and its calls
    take them in turn (:class:`_Connections`, docs/processes.md "One address").

    ``tls=True`` connects over TLS trusting the system's certificate
    authorities; ``tls=TLS.from_files(ca=..., cert=..., key=...)`` names the
    CA and, for mutual TLS, the client certificate (see :class:`trellis.TLS`).
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        agent: str | None = None,
        timeout: float | None = 60.0,
        channel: grpc.Channel | None = None,
        tls: TLS | bool | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        if channel is None:
            if tls:
                secure = tls if isinstance(tls, TLS) else TLS()

                def open_channel(extra: Sequence[tuple[str, Any]]) -> grpc.Channel:
                    return grpc.secure_channel(
                        target,
                        secure.channel_credentials(),
                        options=[*_OPTIONS, *secure.channel_options(), *extra],
                    )

            else:

                def open_channel(extra: Sequence[tuple[str, Any]]) -> grpc.Channel:
                    return grpc.insecure_channel(target, options=[*_OPTIONS, *extra])

            self._connections = _Connections(target, open_channel([]), open_channel)
        else:
            self._connections = _Connections(target, channel, None)  # the caller's channel, as given
        self._channel = self._connections.first
        metadata: list[tuple[str, str]] = []
        if token:
            metadata.append(("authorization", f"Bearer {_checked_token(token)}"))
        if agent:
            # The server validates the name; one gRPC cannot even send (not ASCII) is refused here, clearly.
            metadata.append(
                (LOCAL_AGENT_HEADER, agent if agent.isascii() and agent.isprintable() else check_agent_name(agent))
            )
        self._metadata = tuple(metadata)

    # -- plumbing ------------------------------------------------------------

    # Each call takes the next connection's stub (one connection, or one to each of several fronts).
    @property
    def _repos(self) -> repositories_pb2_grpc.RepositoryServiceStub:
        return self._connections.next().repos

    @property
    def _changes(self) -> changes_pb2_grpc.ChangeServiceStub:
        return self._connections.next().changes

    @property
    def _sessions(self) -> sessions_pb2_grpc.SessionServiceStub:
        return self._connections.next().sessions

    @property
    def _diffs(self) -> diffs_pb2_grpc.DiffServiceStub:
        return self._connections.next().diffs

    @property
    def _queries(self) -> queries_pb2_grpc.QueryServiceStub:
        return self._connections.next().queries

    @property
    def _pipelines(self) -> pipelines_pb2_grpc.PipelineServiceStub:
        return self._connections.next().pipelines

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def with_agent(self, agent: str) -> Client:
        """A client on the same connections acting as ``agent`` on a local-mode server (tokens decide otherwise).

        Closing it closes the shared connections: close the original instead.
        """
        token = next((v.removeprefix("Bearer ") for k, v in self._metadata if k == "authorization"), None)
        client = Client(self.target, token=token, agent=agent, timeout=self.timeout, channel=self._channel)
        client._connections = self._connections
        return client

    def _call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return method(request, metadata=self._metadata, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        except UnicodeError as exc:  # a str field that is not valid UTF-8 (lone surrogates)
            raise vcs.InvalidArgument(
                f"cannot encode the request: {exc} (strings must be valid UTF-8)", reason="INVALID_ENCODING"
            ) from None

    def _stream(
        self,
        method: Callable[..., Iterator[T]],
        request: Any,
        *,
        timeout: float | None | Literal["default"] = "default",
    ) -> Iterator[T]:
        """The messages of a server-streaming call; a failure raises the domain error it stands for."""
        try:
            yield from method(
                request, metadata=self._metadata, timeout=self.timeout if timeout == "default" else timeout
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server accepts connections (raises ``Unavailable`` after ``timeout``).

        It returns as soon as the server answers; the default allows for a ``trellis serve --workers N`` starting
        its processes on a busy machine (10 s was too short at a load average of 20). Against a server of several
        front processes it also opens the client's connections to distinct fronts (:class:`_Connections`), which
        the first call does otherwise, in the background."""
        start = time.monotonic()
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            from .errors import Unavailable

            raise Unavailable(
                f"no Trellis server answered at {self.target} within {timeout:.0f}s: is `trellis serve` running "
                "there? (its log says the address it serves)"
            ) from None
        self._connections.spread(max(1.0, timeout - (time.monotonic() - start)))

    def _pages(self, fetch: Callable[[str], tuple[list[T], str]], limit: int | None) -> Iterator[T]:
        token = ""
        count = 0
        while True:
            items, token = fetch(token)
            for item in items:
                if limit is not None and count >= limit:
                    return
                yield item
                count += 1
            if not token:
                return

    # -- repositories --------------------------------------------------------

    def create_repository(self, name: str, *, default_branch: str = "main", description: str = "") -> vcs.Repository:
        response = self._call(
            self._repos.CreateRepository,
            repositories_pb2.CreateRepositoryRequest(
                repository_id=name, default_branch=default_branch, description=description
            ),
        )
        return convert.repository_from_pb(response.repository)

    def get_repository(self, name: str) -> vcs.Repository:
        response = self._call(
            self._repos.GetRepository, repositories_pb2.GetRepositoryRequest(name=names.repository_name(name))
        )
        return convert.repository_from_pb(response.repository)

    def list_repositories(self, *, limit: int | None = None) -> Iterator[vcs.Repository]:
        def fetch(token: str) -> tuple[list[vcs.Repository], str]:
            r = self._call(self._repos.ListRepositories, repositories_pb2.ListRepositoriesRequest(page_token=token))
            return [convert.repository_from_pb(x) for x in r.repositories], r.next_page_token

        return self._pages(fetch, limit)

    def delete_repository(self, name: str) -> None:
        self._call(
            self._repos.DeleteRepository, repositories_pb2.DeleteRepositoryRequest(name=names.repository_name(name))
        )

    # -- commits -------------------------------------------------------------

    @staticmethod
    def commit_request(
        repository: str,
        branch: str,
        changes: ChangeSet,
        message: str = "",
        *,
        expected_head: str | None = None,
        on_stale: str | vcs.OnStale = vcs.OnStale.FAIL,
        session: str | None = None,
        step: vcs.StepInput | None = None,
        request_id: str | None = None,
        wait_for_diff: bool = False,
        wait_for_verdict: bool = False,
    ) -> changes_pb2.CommitRequest:
        try:
            request = changes_pb2.CommitRequest(
                name=names.branch_name(repository, branch),
                changes=convert.changes_pb(_changes(changes)),
                message=message,
                on_stale=_on_stale(on_stale),
                session=names.session_name(repository, session) if session else "",
                request_id=request_id or "",
                wait_for_diff=wait_for_diff,
                wait_for_verdict=wait_for_verdict,
            )
            if expected_head is not None:
                request.expected_head = expected_head
            if step is not None:
                request.step.CopyFrom(convert.step_input_pb(step))
        except (UnicodeError, ValueError, TypeError) as exc:
            raise vcs.InvalidArgument(
                f"cannot encode the commit request: {exc} (strings must be valid UTF-8)",
                reason="INVALID_ENCODING",
            ) from None
        return request

    @staticmethod
    def _commit_result(session: str | None, response: changes_pb2.CommitResponse) -> CommitReply:
        step = convert.step_from_pb(session or "", response.step) if response.HasField("step") else None
        diff = None
        if response.files or response.entity_changes:
            diff = semantic_diff.DiffResult(
                tuple(convert.file_diff_from_pb(f) for f in response.files),
                tuple(convert.entity_change_from_pb(c) for c in response.entity_changes),
            )
        run = convert.run_from_pb(response.run) if response.HasField("run") else None
        return CommitReply(convert.commit_from_pb(response.commit), response.rebased, step, diff=diff, run=run)

    def commit(
        self,
        repository: str,
        branch: str,
        changes: ChangeSet,
        message: str = "",
        *,
        expected_head: str | None = None,
        on_stale: str | vcs.OnStale = vcs.OnStale.FAIL,
        session: str | None = None,
        step: vcs.StepInput | None = None,
        request_id: str | None = None,
        wait_for_diff: bool = False,
        wait_for_verdict: bool = False,
    ) -> CommitReply:
        """Land ``changes`` on ``branch`` as one commit (compare-and-swap on ``expected_head``).

        With ``wait_for_diff`` the reply carries the commit's semantic diff; with
        ``wait_for_verdict`` the finished verification run the push started (if a
        pipeline applies). Waiting is bounded by the client's ``timeout``.
        """
        request = self.commit_request(
            repository,
            branch,
            changes,
            message,
            expected_head=expected_head,
            on_stale=on_stale,
            session=session,
            step=step,
            request_id=request_id,
            wait_for_diff=wait_for_diff,
            wait_for_verdict=wait_for_verdict,
        )
        return self._commit_result(session, self._call(self._changes.Commit, request))

    def merge(
        self,
        repository: str,
        target_branch: str,
        source_revision: str,
        *,
        expected_head: str | None = None,
        message: str = "",
        preview: bool = False,
        session: str | None = None,
        step: vcs.StepInput | None = None,
    ) -> vcs.MergeResult:
        """Merge ``source_revision`` into ``target_branch``; conflicts come back as data, not errors."""
        request = changes_pb2.MergeRequest(
            name=names.branch_name(repository, target_branch),
            source_revision=source_revision,
            message=message,
            preview=preview,
            session=names.session_name(repository, session) if session else "",
        )
        if expected_head is not None:
            request.expected_head = expected_head
        if step is not None:
            request.step.CopyFrom(convert.step_input_pb(step))
        return convert.merge_from_pb(self._call(self._changes.Merge, request))

    def commit_stream(self) -> CommitStream:
        """A bidirectional stream for many micro-commits: each is acknowledged in order."""
        stubs, release = self._connections.for_stream()
        return CommitStream(stubs.changes, self._metadata, on_close=release)

    def diff(
        self,
        repository: str,
        new_revision: str,
        old_revision: str = "",
        *,
        paths: Sequence[str] = (),
        line_diff: bool = False,
    ) -> RevisionDiff:
        """The semantic diff from ``old_revision`` (default: the parent) to ``new_revision``."""
        r = self._call(
            self._diffs.Diff,
            diffs_pb2.DiffRequest(
                parent=names.repository_name(repository),
                old_revision=old_revision,
                new_revision=new_revision,
                paths=list(paths),
                include_line_diff=line_diff,
            ),
        )
        result = semantic_diff.DiffResult(
            tuple(convert.file_diff_from_pb(f) for f in r.files),
            tuple(convert.entity_change_from_pb(c) for c in r.entity_changes),
        )
        return RevisionDiff(result, {f.path: f.line_diff for f in r.files if f.line_diff})

    def get_commit(self, repository: str, revision: str) -> vcs.Commit:
        response = self._call(
            self._changes.GetCommit, changes_pb2.GetCommitRequest(name=names.commit_name(repository, revision))
        )
        return convert.commit_from_pb(response.commit)

    def log(
        self, repository: str, revision: str = "", *, path: str = "", limit: int | None = None, page_size: int = 0
    ) -> Iterator[vcs.Commit]:
        def fetch(token: str) -> tuple[list[vcs.Commit], str]:
            r = self._call(
                self._changes.ListCommits,
                changes_pb2.ListCommitsRequest(
                    parent=names.repository_name(repository),
                    revision=revision,
                    path=path,
                    page_size=page_size or (min(limit, 1000) if limit else 0),
                    page_token=token,
                ),
            )
            return [convert.commit_from_pb(c) for c in r.commits], r.next_page_token

        return self._pages(fetch, limit)

    def read_file(self, repository: str, path: str, revision: str = "") -> vcs.FileContent:
        """One file at a revision. A file too large for one message (a server or proxy with a lower message
        limit than this client's) is read again in chunks through the ReadFile stream, transparently."""
        try:
            r = self._call(
                self._changes.GetFile,
                changes_pb2.GetFileRequest(parent=names.repository_name(repository), revision=revision, path=path),
            )
        except vcs.LimitExceeded as exc:
            if exc.reason != _MESSAGE_TOO_LARGE:  # gRPC's own limit (no ErrorInfo), not a Trellis one
                raise
            chunks = self.read_file_chunks(repository, path, revision)
            head = next(chunks)
            return vcs.FileContent(
                head.path, b"".join([head.data, *(c.data for c in chunks)]), head.executable, head.blob_id
            )
        return vcs.FileContent(r.path, r.content, r.executable, r.blob_id)

    def read_file_chunks(
        self, repository: str, path: str, revision: str = "", *, chunk_size: int = 0
    ) -> Iterator[changes_pb2.ReadFileResponse]:
        """A file as a stream of chunks (ReadFile), each small enough for any gRPC client: the first carries
        ``path``, ``executable``, ``blob_id`` and ``size``; every one ``offset`` and ``data``."""
        request = changes_pb2.ReadFileRequest(
            parent=names.repository_name(repository), revision=revision, path=path, chunk_size=chunk_size
        )
        yield from self._stream(self._changes.ReadFile, request)

    def list_tree(
        self, repository: str, path: str = "", revision: str = "", *, recursive: bool = False
    ) -> Iterator[vcs.TreeEntry]:
        def fetch(token: str) -> tuple[list[vcs.TreeEntry], str]:
            r = self._call(
                self._changes.ListTree,
                changes_pb2.ListTreeRequest(
                    parent=names.repository_name(repository),
                    revision=revision,
                    path=path,
                    recursive=recursive,
                    page_token=token,
                ),
            )
            return [convert.tree_entry_from_pb(e) for e in r.entries], r.next_page_token

        return self._pages(fetch, None)

    # -- branches ------------------------------------------------------------

    def create_branch(self, repository: str, branch: str, revision: str = "") -> vcs.Branch:
        r = self._call(
            self._changes.CreateBranch,
            changes_pb2.CreateBranchRequest(
                parent=names.repository_name(repository), branch_id=branch, revision=revision
            ),
        )
        return convert.branch_from_pb(r.branch)

    def get_branch(self, repository: str, branch: str) -> vcs.Branch:
        r = self._call(
            self._changes.GetBranch, changes_pb2.GetBranchRequest(name=names.branch_name(repository, branch))
        )
        return convert.branch_from_pb(r.branch)

    def list_branches(self, repository: str, prefix: str = "", *, limit: int | None = None) -> Iterator[vcs.Branch]:
        def fetch(token: str) -> tuple[list[vcs.Branch], str]:
            r = self._call(
                self._changes.ListBranches,
                changes_pb2.ListBranchesRequest(
                    parent=names.repository_name(repository), prefix=prefix, page_token=token
                ),
            )
            return [convert.branch_from_pb(b) for b in r.branches], r.next_page_token

        return self._pages(fetch, limit)

    def delete_branch(self, repository: str, branch: str, *, expected_head: str | None = None) -> None:
        request = changes_pb2.DeleteBranchRequest(name=names.branch_name(repository, branch))
        if expected_head is not None:
            request.expected_head = expected_head
        self._call(self._changes.DeleteBranch, request)

    # -- queries -------------------------------------------------------------

    @staticmethod
    def _query_request(
        sql: str,
        params: QueryParams | None,
        query_format: queries_pb2.QueryFormat.ValueType,
        max_rows: int,
        timeout_ms: int,
    ) -> queries_pb2.QueryRequest:
        positional, named = convert.query_params_pb(params)
        return queries_pb2.QueryRequest(
            sql=sql,
            format=query_format,
            max_rows=max_rows,
            timeout_ms=timeout_ms,
            params=positional,
            named_params=named,
        )

    def query(
        self, sql: str, params: QueryParams | None = None, *, max_rows: int = 0, timeout_ms: int = 0
    ) -> QueryResult:
        """Run read-only SQL over the index; the result arrives as Arrow IPC.

        Values go in ``params``, never into the SQL text: a list for ``?`` (or ``$1``, ``$2``...), a mapping
        for ``$name`` placeholders; each None, bool, int, float, str, bytes or datetime (naive means UTC)::

            client.query("SELECT * FROM commits WHERE repository = ? AND author_time > ?", ["demo", since])
        """
        import pyarrow as pa

        request = self._query_request(sql, params, queries_pb2.QUERY_FORMAT_ARROW, max_rows, timeout_ms)
        chunks: list[bytes] = []
        truncated = False
        for message in self._stream(self._queries.Query, request):
            chunks.append(message.arrow_ipc)
            truncated = truncated or message.truncated
        table = pa.ipc.open_stream(pa.py_buffer(b"".join(chunks))).read_all()
        return QueryResult(table, truncated)

    def query_rows(
        self, sql: str, params: QueryParams | None = None, *, max_rows: int = 0, timeout_ms: int = 0
    ) -> list[dict[str, Any]]:
        """Run read-only SQL (``params`` as :meth:`query`); rows as JSON-safe dicts (the JSON format of the API)."""
        import json

        request = self._query_request(sql, params, queries_pb2.QUERY_FORMAT_JSON, max_rows, timeout_ms)
        return [json.loads(row) for message in self._stream(self._queries.Query, request) for row in message.json_rows]

    def export(self, destination: str, tables: Sequence[str] = ()) -> list[str]:
        """Write the index as Parquet into ``destination`` on the server; returns the files written."""
        r = self._call(self._queries.Export, queries_pb2.ExportRequest(destination=destination, tables=list(tables)))
        return list(r.files)

    def import_repository(
        self,
        repository: str,
        source_path: str,
        *,
        description: str = "",
        workers: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Import the git repository at ``source_path`` on the server's machine, with its whole history, and
        index it (resumes an earlier import of the same source); ``on_progress(done, total)`` follows the
        indexing. Returns a :class:`trellis.query.ImportResult`. No time limit: a large history takes minutes."""
        from trellis.query import ImportResult, SyncStats

        request = queries_pb2.ImportRepositoryRequest(
            repository_id=repository, source_path=source_path, description=description, worker_count=workers
        )
        try:
            for message in self._queries.ImportRepository(request, metadata=self._metadata):
                if message.HasField("result"):
                    r = message.result
                    return ImportResult(
                        r.repository_id,
                        Path(r.path),
                        r.branch_count,
                        r.tag_count,
                        r.resumed,
                        SyncStats(**dict(r.index_counts)),
                    )
                if on_progress is not None:
                    on_progress(message.progress.done, message.progress.total)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        raise vcs.FailedPrecondition(
            "the server ended the import without its result (did it stop?): run it again, it resumes",
            reason="STREAM_ENDED_EARLY",
        )

    def check_index(self) -> list[str]:
        """Differences between the server's index and git, one line each (empty: they agree)."""
        return list(self._call(self._queries.CheckIndex, queries_pb2.CheckIndexRequest()).differences)

    def rebuild_index(self, *, workers: int = 0, on_progress: Callable[[int, int], None] | None = None) -> Any:
        """Rebuild the server's index from git; returns the :class:`trellis.query.SyncStats` of what it indexed."""
        from trellis.query import SyncStats

        request = queries_pb2.RebuildIndexRequest(worker_count=workers)
        try:
            for message in self._queries.RebuildIndex(request, metadata=self._metadata):
                if message.index_counts:
                    return SyncStats(**dict(message.index_counts))
                if on_progress is not None:
                    on_progress(message.progress.done, message.progress.total)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        raise vcs.FailedPrecondition(
            "the server ended the rebuild without its result (did it stop?): run it again", reason="STREAM_ENDED_EARLY"
        )

    # -- verification ----------------------------------------------------------

    def set_pipeline(self, repository: str, config_toml: str) -> pipelines_pb2.Pipeline:
        """Set the repository-level pipeline (empty text removes it)."""
        r: pipelines_pb2.SetPipelineResponse = self._call(
            self._pipelines.SetPipeline,
            pipelines_pb2.SetPipelineRequest(parent=names.repository_name(repository), config_toml=config_toml),
        )
        return r.pipeline

    def get_pipeline(self, repository: str, revision: str = "") -> pipelines_pb2.Pipeline:
        """The pipeline that applies to ``revision`` (default: the default branch)."""
        r: pipelines_pb2.GetPipelineResponse = self._call(
            self._pipelines.GetPipeline,
            pipelines_pb2.GetPipelineRequest(parent=names.repository_name(repository), revision=revision),
        )
        return r.pipeline

    def verify(
        self,
        repository: str,
        revision: str,
        *,
        stages: Sequence[str] = (),
        full: bool = False,
        pipeline_branch: str = "",
    ) -> ci.Run:
        """Start a run of ``revision``; follow it with :meth:`watch_run` or :meth:`wait_run`."""
        r = self._call(
            self._pipelines.Verify,
            pipelines_pb2.VerifyRequest(
                parent=names.repository_name(repository),
                revision=revision,
                stages=list(stages),
                full=full,
                pipeline_branch=pipeline_branch,
            ),
        )
        return convert.run_from_pb(r.run)

    def get_run(self, repository: str, run_id: str) -> ci.Run:
        return convert.run_from_pb(
            self._call(self._pipelines.GetRun, pipelines_pb2.GetRunRequest(name=names.run_name(repository, run_id))).run
        )

    def list_runs(
        self, repository: str, commit_id: str = "", *, branch: str = "", page_size: int = 0
    ) -> Iterator[ci.Run]:
        """Runs of a repository, newest first (without their test cases; get_run has them).

        ``commit_id`` (a full id or a prefix of at least 4 hex digits) and ``branch`` filter them.
        """
        token = ""
        while True:
            r = self._call(
                self._pipelines.ListRuns,
                pipelines_pb2.ListRunsRequest(
                    parent=names.repository_name(repository),
                    commit_id=commit_id,
                    branch=branch,
                    page_size=page_size,
                    page_token=token,
                ),
            )
            yield from (convert.run_from_pb(run) for run in r.runs)
            token = r.next_page_token
            if not token:
                return

    def watch_run(
        self, repository: str, run_id: str, *, timeout: float | None = None
    ) -> Iterator[tuple[pipelines_pb2.JobEvent | None, ci.Run | None]]:
        """(None, run) first, then (event, None) per job event, then (None, finished run)."""
        request = pipelines_pb2.WatchRunRequest(name=names.run_name(repository, run_id))
        for message in self._stream(self._pipelines.WatchRun, request, timeout=timeout):
            if message.HasField("run"):
                yield None, convert.run_from_pb(message.run)
            else:
                yield message.event, None

    def wait_run(self, repository: str, run_id: str, *, timeout: float | None = None) -> ci.Run:
        """Block until the run finishes; returns it."""
        last: ci.Run | None = None
        for _, run in self.watch_run(repository, run_id, timeout=timeout):
            if run is not None:
                last = run
        assert last is not None
        return last

    def post_verdict(
        self,
        repository: str,
        run_id: str,
        stage: str,
        chunk: str,
        verdict: str | ci.Verdict,
        summary: str = "",
        details_url: str = "",
    ) -> ci.JobResult:
        """Post the verdict of an external stage for one chunk (``passed``, ``failed``, ``error``, ``skipped``)."""
        r = self._call(
            self._pipelines.PostVerdict,
            pipelines_pb2.PostVerdictRequest(
                name=names.run_name(repository, run_id),
                stage=stage,
                chunk=chunk,
                verdict=convert.verdict_pb(ci.Verdict(verdict)),
                summary=summary,
                details_url=details_url,
            ),
        )
        return convert.job_from_pb(r.result)

    def pending_reviews(self, repository: str, stage: str = "") -> list[pipelines_pb2.WatchReviewsResponse]:
        """The external-stage chunks waiting for a verdict now (:meth:`watch_reviews` also follows new ones)."""
        request = pipelines_pb2.WatchReviewsRequest(
            parent=names.repository_name(repository), stage=stage, current_only=True
        )
        return list(self._stream(self._pipelines.WatchReviews, request))

    def watch_reviews(
        self, repository: str, stage: str = "", *, timeout: float | None = None
    ) -> Iterator[pipelines_pb2.WatchReviewsResponse]:
        """The external-stage chunks waiting for a verdict: those pending now, then new ones as they come.

        With ``timeout`` the stream simply ends after that many seconds.
        """
        request = pipelines_pb2.WatchReviewsRequest(parent=names.repository_name(repository), stage=stage)
        try:
            yield from self._pipelines.WatchReviews(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            ended = exc.code() == grpc.StatusCode.CANCELLED or (
                timeout is not None and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            )
            if ended:
                return
            raise error_from_rpc(exc) from None

    # -- sessions ------------------------------------------------------------

    def create_session(
        self,
        repository: str,
        *,
        model: str = "",
        task: str = "",
        base_revision: str = "",
        branch: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> vcs.Session:
        """Start a session for this agent; its branch (``agents/<agent>/<id>``) is created at the base."""
        r = self._call(
            self._sessions.CreateSession,
            sessions_pb2.CreateSessionRequest(
                parent=names.repository_name(repository),
                model=model,
                task=task,
                base_revision=base_revision,
                branch_id=branch,
                metadata=dict(metadata or {}),
            ),
        )
        return convert.session_from_pb(r.session)

    def get_session(self, repository: str, session_id: str) -> vcs.Session:
        r = self._call(
            self._sessions.GetSession, sessions_pb2.GetSessionRequest(name=names.session_name(repository, session_id))
        )
        return convert.session_from_pb(r.session)

    def list_sessions(self, repository: str, *, agent: str = "", limit: int | None = None) -> Iterator[vcs.Session]:
        def fetch(token: str) -> tuple[list[vcs.Session], str]:
            r = self._call(
                self._sessions.ListSessions,
                sessions_pb2.ListSessionsRequest(
                    parent=names.repository_name(repository), agent=agent, page_token=token
                ),
            )
            return [convert.session_from_pb(s) for s in r.sessions], r.next_page_token

        return self._pages(fetch, limit)

    def end_session(
        self, repository: str, session_id: str, status: str | vcs.SessionStatus = "succeeded", outcome: str = ""
    ) -> vcs.Session:
        value = vcs.SessionStatus(status) if isinstance(status, str) else status
        r = self._call(
            self._sessions.EndSession,
            sessions_pb2.EndSessionRequest(
                name=names.session_name(repository, session_id),
                status=convert.session_status_pb(value),
                outcome=outcome,
            ),
        )
        return convert.session_from_pb(r.session)

    def record_step(self, repository: str, session_id: str, step: vcs.StepInput) -> vcs.Step:
        """Record a step that changed no code (steps with code come with :meth:`commit`)."""
        r = self._call(
            self._sessions.RecordStep,
            sessions_pb2.RecordStepRequest(
                parent=names.session_name(repository, session_id), step=convert.step_input_pb(step)
            ),
        )
        return convert.step_from_pb(session_id, r.step)

    def record_steps(
        self,
        repository: str,
        session_id: str,
        steps: Sequence[vcs.StepInput],
        *,
        max_batch_bytes: int = 8 * 1024 * 1024,
        max_batch_steps: int = 1000,
    ) -> list[vcs.Step]:
        """Record several steps that changed no code, in order, in as few calls as the size limits allow
        (each call is one write, all or nothing)."""
        recorded: list[vcs.Step] = []
        batch: list[sessions_pb2.StepInput] = []
        size = 0

        def flush() -> None:
            nonlocal size
            if batch:
                r = self._call(
                    self._sessions.RecordSteps,
                    sessions_pb2.RecordStepsRequest(parent=names.session_name(repository, session_id), steps=batch),
                )
                recorded.extend(convert.step_from_pb(session_id, s) for s in r.steps)
                batch.clear()
                size = 0

        for step in steps:
            message = convert.step_input_pb(step)
            if batch and (size + message.ByteSize() > max_batch_bytes or len(batch) >= max_batch_steps):
                flush()
            batch.append(message)
            size += message.ByteSize()
        flush()
        return recorded

    def list_steps(self, repository: str, session_id: str) -> Iterator[vcs.Step]:
        def fetch(token: str) -> tuple[list[vcs.Step], str]:
            r = self._call(
                self._sessions.ListSteps,
                sessions_pb2.ListStepsRequest(parent=names.session_name(repository, session_id), page_token=token),
            )
            return [convert.step_from_pb(session_id, s) for s in r.steps], r.next_page_token

        return self._pages(fetch, None)


_END = object()


class CommitStream:
    """Many commits over one stream. ``send`` pipelines; ``receive`` returns acknowledgements in order.

    with client.commit_stream() as stream:
        for change in changes:
            result = stream.commit("demo", "main", change, "msg")   # send + receive
    """

    def __init__(
        self,
        stub: changes_pb2_grpc.ChangeServiceStub,
        metadata: tuple[tuple[str, str], ...],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._closed = weakref.finalize(self, on_close or (lambda: None))  # once: at close, or when collected
        self._queue: queue.Queue[Any] = queue.Queue()
        self._sequence = 0
        self._sessions: dict[int, str | None] = {}
        self._lock = threading.Lock()
        self._responses = stub.CommitStream(self._requests(), metadata=metadata)

    def _requests(self) -> Iterator[changes_pb2.CommitStreamRequest]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            yield item

    def send(self, repository: str, branch: str, changes: ChangeSet, message: str = "", **options: Any) -> int:
        """Queue a commit; returns its sequence number (acknowledgements come back in this order)."""
        request = Client.commit_request(repository, branch, changes, message, **options)
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            self._sessions[sequence] = options.get("session")
        self._queue.put(changes_pb2.CommitStreamRequest(sequence=sequence, commit=request))
        return sequence

    def receive(self) -> CommitReply:
        """The next acknowledgement; raises the domain error if that commit was rejected."""
        try:
            response = next(self._responses)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        session = self._sessions.pop(response.sequence, None)
        if response.HasField("error"):
            raise error_from_status(response.error)
        return Client._commit_result(session, response.response)

    def commit(
        self, repository: str, branch: str, changes: ChangeSet, message: str = "", **options: Any
    ) -> CommitReply:
        self.send(repository, branch, changes, message, **options)
        return self.receive()

    def close(self) -> None:
        self._closed()
        self._queue.put(_END)
        for _ in self._responses:  # drain so the server sees a clean half-close
            pass

    def __enter__(self) -> CommitStream:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except grpc.RpcError:
            pass
