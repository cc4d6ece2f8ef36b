"""Per-identity quotas: request rate, open streams, bytes per commit, repositories.

Every identity (agent name) has its own allowance, so one agent that floods
the server is slowed down while the others carry on. Exceeding a quota is
RESOURCE_EXHAUSTED with a stable reason, a ``google.rpc.QuotaFailure`` naming
the identity and the limit, and, when waiting helps (rate and streams), a
``google.rpc.RetryInfo`` with the delay (also in the message and in the
``ErrorInfo`` metadata as ``retry_after_ms``).

The defaults are far above what an honest agent does (the server saturates
long before 2,000 commits per second), so they cost the benchmarks nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from trellis.vcs import InvalidArgument, LimitExceeded, NotFound

if TYPE_CHECKING:  # protobuf loads when an error is sent, the store never here: trellis.config (the CLI) imports Quotas
    from google.protobuf import any_pb2

    from trellis.vcs import Store

    from .shared_quotas import SharedQuotaTable

__all__ = ["QuotaExceeded", "QuotaTracker", "Quotas", "repository_count", "repository_creators"]


@dataclass(frozen=True, slots=True)
class Quotas:
    """The per-identity limits; 0 turns a limit off."""

    requests_per_second: float = 2000.0
    """Sustained request rate (each item of a CommitStream counts as one request)."""

    burst: int = 4000
    """Requests allowed at once above the rate (the token bucket's size)."""

    max_streams: int = 64
    """Streaming calls (CommitStream, Query, WatchRun) open at the same time."""

    max_commit_bytes: int | None = None
    """Bytes of file changes in one commit; None means the server's commit size limit (``Limits``)."""

    max_repositories: int = 1000
    """Existing repositories created by the identity."""

    def __post_init__(self) -> None:
        values = (
            self.requests_per_second,
            self.burst,
            self.max_streams,
            self.max_commit_bytes or 0,
            self.max_repositories,
        )
        if any(v < 0 for v in values):
            raise InvalidArgument("quotas cannot be negative (0 turns one off)", reason="INVALID_QUOTA")
        if self.requests_per_second > 0 and self.burst < 1:
            raise InvalidArgument("a request rate needs a burst of at least 1", reason="INVALID_QUOTA")


class QuotaExceeded(LimitExceeded):
    """A per-identity quota was exceeded; ``retry_after`` (seconds) when waiting helps."""

    def __init__(
        self, message: str, *, reason: str, identity: str, limit: str, retry_after: float | None = None
    ) -> None:
        metadata = {"identity": identity, "limit": limit}
        if retry_after is not None:
            metadata["retry_after_ms"] = str(max(1, math.ceil(retry_after * 1000)))
        super().__init__(message, reason=reason, **metadata)
        self.identity = identity
        self.retry_after = retry_after

    def details(self) -> list[any_pb2.Any]:
        """The ``google.rpc`` details that go next to the ``ErrorInfo``."""
        from google.protobuf import duration_pb2
        from google.rpc import error_details_pb2

        failure = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(subject=f"agent:{self.identity}", description=self.message)
            ]
        )
        packed = [_pack(failure)]
        if self.retry_after is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(max(1_000_000, math.ceil(self.retry_after * 1e9)))
            packed.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        return packed


def _pack(message: object) -> any_pb2.Any:
    from google.protobuf import any_pb2

    detail = any_pb2.Any()
    detail.Pack(message)  # type: ignore[arg-type]
    return detail


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class QuotaTracker:
    """The live state of the quotas: one token bucket and one stream count per identity.

    ``repository_creators()`` lists ``(repository, creator)`` for the existing
    repositories; it is read once, on the first CreateRepository that could
    reach the limit (while ``repository_count()`` says there are fewer
    repositories than the limit, nobody can have created that many), and kept
    up to date by :meth:`created` and :meth:`deleted` afterwards.
    """

    _IDLE_BUCKETS = 10_000  # forget full (idle) buckets beyond this many identities

    def __init__(
        self,
        quotas: Quotas,
        commit_bytes_limit: int,
        repository_creators: Callable[[], Iterable[tuple[str, str]]],
        *,
        repository_count: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedQuotaTable | None = None,
    ) -> None:
        """``shared``: the buckets and stream counts of the server's other processes too (``serve --workers``)."""
        self._shared = shared
        self._repository_count = repository_count
        self.quotas = quotas
        self._commit_bytes = quotas.max_commit_bytes if quotas.max_commit_bytes is not None else commit_bytes_limit
        # The core refuses bigger commits anyway (COMMIT_TOO_LARGE); check only a stricter quota.
        self._check_commit_bytes = 0 < self._commit_bytes < commit_bytes_limit
        self._creators_source = repository_creators
        self._creators: dict[str, str] | None = None
        self._clock = clock
        self._guard = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._streams: dict[str, int] = {}
        self._creating: dict[str, threading.Lock] = {}

    # -- request rate ----------------------------------------------------------

    def take(self, identity: str) -> None:
        """Spend one request of ``identity``'s allowance, or raise RATE_LIMITED."""
        rate, burst = self.quotas.requests_per_second, self.quotas.burst
        if rate <= 0:
            return
        now = self._clock()
        if self._shared is not None:
            shared_wait = self._shared.take(identity, now, rate, burst)
            if shared_wait is None:
                return
            self._rate_limited(identity, shared_wait)
        with self._guard:
            bucket = self._buckets.get(identity)
            if bucket is None:
                if len(self._buckets) >= self._IDLE_BUCKETS:
                    self._forget_idle(now)
                bucket = self._buckets[identity] = _Bucket(float(burst), now)
            else:
                bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.stamp) * rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0 - 1e-9:  # (float rounding of the refill)
                bucket.tokens = max(0.0, bucket.tokens - 1.0)
                return
            wait = (1.0 - bucket.tokens) / rate
        self._rate_limited(identity, wait)

    def _rate_limited(self, identity: str, wait: float) -> NoReturn:
        rate, burst = self.quotas.requests_per_second, self.quotas.burst
        raise QuotaExceeded(
            f"agent {identity!r} sends more than {rate:g} requests per second (burst {burst}); retry in {wait:.3f}s",
            reason="RATE_LIMITED",
            identity=identity,
            limit=f"{rate:g}/s",
            retry_after=wait,
        )

    def _forget_idle(self, now: float) -> None:
        rate, burst = self.quotas.requests_per_second, self.quotas.burst
        for name in [n for n, b in self._buckets.items() if b.tokens + (now - b.stamp) * rate >= burst]:
            del self._buckets[name]

    # -- streams ---------------------------------------------------------------

    def open_stream(self, identity: str) -> None:
        """Count one more open stream of ``identity``, or raise TOO_MANY_STREAMS."""
        limit = self.quotas.max_streams
        if self._shared is not None:
            if limit <= 0 or self._shared.open_stream(
                identity, limit, self._clock(), self.quotas.requests_per_second, self.quotas.burst
            ):
                return
        else:
            with self._guard:
                count = self._streams.get(identity, 0)
                if limit <= 0 or count < limit:
                    self._streams[identity] = count + 1
                    return
        raise QuotaExceeded(
            f"agent {identity!r} already has {limit} streams open (the limit); close one or retry in 1s",
            reason="TOO_MANY_STREAMS",
            identity=identity,
            limit=str(limit),
            retry_after=1.0,
        )

    def close_stream(self, identity: str) -> None:
        if self._shared is not None:
            if self.quotas.max_streams > 0:
                self._shared.close_stream(identity)
            return
        with self._guard:
            count = self._streams.get(identity, 0) - 1
            if count > 0:
                self._streams[identity] = count
            else:
                self._streams.pop(identity, None)

    # -- sizes and counts -----------------------------------------------------

    def check_commit_bytes(self, identity: str, size: Callable[[], int]) -> None:
        if not self._check_commit_bytes:
            return
        written = size()
        if written > self._commit_bytes:
            raise QuotaExceeded(
                f"a commit by agent {identity!r} may change at most {self._commit_bytes} bytes; this one "
                f"changes {written}: split it into smaller commits",
                reason="COMMIT_BYTES_QUOTA",
                identity=identity,
                limit=str(self._commit_bytes),
            )

    def creating_repository(self, identity: str) -> threading.Lock:
        """Hold this lock around a CreateRepository so two concurrent ones cannot both pass the count."""
        with self._guard:
            return self._creating.setdefault(identity, threading.Lock())

    def check_repositories(self, identity: str) -> None:
        limit = self.quotas.max_repositories
        if limit <= 0:
            return
        if self._creators is None and self._repository_count is not None and self._repository_count() < limit:
            return
        creators = self._repository_creators()
        with self._guard:
            count = sum(1 for creator in creators.values() if creator == identity)
        if count >= limit:
            raise QuotaExceeded(
                f"agent {identity!r} has created {count} repositories, the limit: delete one first",
                reason="REPOSITORY_QUOTA",
                identity=identity,
                limit=str(limit),
            )

    def created(self, repository: str, identity: str) -> None:
        if self._creators is not None:
            with self._guard:
                self._creators[repository] = identity

    def deleted(self, repository: str) -> None:
        if self._creators is not None:
            with self._guard:
                self._creators.pop(repository, None)

    def _repository_creators(self) -> dict[str, str]:
        if self._shared is not None:  # other fronts create and delete too: read git each time
            return dict(self._creators_source())
        if self._creators is None:
            creators = dict(self._creators_source())
            with self._guard:
                if self._creators is None:
                    self._creators = creators
        return self._creators


def repository_count(store: Store) -> int:
    """How many repositories exist (a directory listing; nothing is opened)."""
    return sum(1 for e in store.repos_dir.iterdir() if e.name.endswith(".git") and not e.name.startswith("."))


def repository_creators(store: Store) -> Iterator[tuple[str, str]]:
    """``(repository, creator)`` for every repository: the author of its first commit.

    The first commit ("Create repository ...") is authored by the identity that
    created the repository; it is found by following first parents from the
    default branch, once per server process.
    """
    token = ""
    while True:
        page = store.list_repositories(requested_page_size=1000, page_token=token)
        for repository in page.items:
            try:
                creator = _first_author(store, repository.repository_id, repository.default_branch)
            except Exception:  # noqa: BLE001 - deleted meanwhile, or damaged (git's own errors): it counts for nobody
                continue
            if creator is not None:
                yield repository.repository_id, creator
        token = page.next_page_token
        if not token:
            return


def _first_author(store: Store, repository: str, default_branch: str) -> str | None:
    try:
        store.get_branch(repository, default_branch)
    except NotFound:
        return None
    root = deque(store.history(repository, default_branch, first_parent=True), maxlen=1)  # the last one
    return root[0].author.name if root else None
