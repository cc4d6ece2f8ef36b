"""Cold extraction in several processes: :class:`ExtractionPool`, :func:`extract_many`, and the cold files of
:func:`~trellis.semantic_diff.diff_files`.

Parsing and walking a file cold costs about 6 us per line on one core, and a walk written in Python over
py-tree-sitter cannot go much faster (``benchmarks/RESULTS.md``, issue 13). Many files at once (a tree's first
diff, a diff of two releases, a batch of modules) are spread over worker processes instead. Each task is a run of
consecutive files of a few hundred KiB; a worker sends back plain tuples (the fields of each entity, or of each
record and its core) and the caller rebuilds the values in the input order, so the output is the in-process
output: the same values, in the same order, with the same fallbacks.

- Small inputs stay in-process: below ``min_bytes`` of files to parse, no process is started (a micro-commit's
  diff never pays for a pool).
- Workers start on first use and stay up until :meth:`ExtractionPool.close` (one pool serves a whole import).
  They are forked when the calling process has a single thread (nothing to import again; copy-on-write), else
  started by a fork server (spawned where there is none): forking a process whose other threads may hold locks
  is not safe.
- A worker ignores SIGINT (Ctrl-C reaches the whole process group; the caller decides what stops) and exits
  once its parent is gone, so a killed caller leaves no process behind. An exception in a worker is raised in
  the caller as the same exception (``SemanticDiffError`` keeps its ``reason`` and metadata). A worker that dies
  (killed, out of memory) breaks the pool: it is closed, and the tasks it lost run in-process.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import fields
from operator import attrgetter
from typing import Any, TypeVar

from .diff import extract_entities
from .errors import InvalidInput
from .extract import Core, Rec
from .languages.registry import spec_for
from .model import Entity, ParsedFile
from .parse import DEFAULT_MAX_FILE_BYTES, Parsed, TextDelta, _estimate, analyze, analyze_pair

__all__ = [
    "MIN_PARALLEL_BYTES",
    "ExtractionPool",
    "PairResult",
    "decode_parsed",
    "extract_many",
    "usable_cores",
]

# Cold work (bytes of files with a grammar) below which a batch stays in-process: ~60 ms of extraction on one
# core, against ~10-20 ms to fork two workers and ship the files and results both ways.
MIN_PARALLEL_BYTES = 256 * 1024
# A fork server (or spawned workers) must import the extraction first: ~0.3-0.5 s of CPU and ~0.5 s of wall before
# the first task starts, worth it only for work that takes a core about twice as long.
SERVER_START_BYTES = 4 * 1024 * 1024
# A task is a run of consecutive files of about this many bytes (at least one file); more tasks than workers, so
# that a worker that drew large files does not hold the others up.
TASK_BYTES = 256 * 1024
TASKS_PER_WORKER = 4

T = TypeVar("T")
R = TypeVar("R")

PairResult = tuple[Parsed, "TextDelta | None", Parsed]


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def _single_threaded() -> bool:
    """Whether this process has one thread, native threads included (only Linux's /proc says so)."""
    for _ in range(5):
        try:
            threads = len(os.listdir("/proc/self/task"))
        except OSError:
            return False
        if threads == 1:
            return True
        if threading.active_count() > 1:
            return False
        time.sleep(0.001)  # a thread Python has just joined leaves the kernel's list a moment later
    return False


def _exit_with(caller: int) -> None:
    """End this process once ``caller`` has ended. Not by watching the parent: a fork server's children keep it
    alive (they hold its lifeline), so with it the parent never goes."""
    try:
        handle = os.pidfd_open(caller)
    except ProcessLookupError:
        os._exit(0)
    except (AttributeError, OSError):  # no pidfd here: look now and then
        handle = -1
    if handle >= 0:
        select.select([handle], [], [])
    else:
        while True:
            try:
                os.kill(caller, 0)
            except ProcessLookupError:
                break
            time.sleep(0.25)
    os._exit(0)


def _worker_start(caller: int) -> None:
    """Set a worker up: SIGINT ignored (Ctrl-C reaches the whole process group: the caller decides), and an end
    as soon as the caller is gone (killed, it cannot stop its workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(caller,), name="trellis-orphan-check", daemon=True).start()


class ExtractionPool:
    """Worker processes for cold extraction, started on first use and kept until :meth:`close`.

    ``workers``: processes (None: :func:`usable_cores`); 1 runs everything in-process. ``min_bytes``: the least
    cold work, in bytes of files to parse, that goes to the workers. ``start_method``: a multiprocessing start
    method (None: fork when this process has one thread, else forkserver). Use it as a context manager, or call
    :meth:`close`. Not for sharing between threads.
    """

    def __init__(
        self, workers: int | None = None, *, min_bytes: int = MIN_PARALLEL_BYTES, start_method: str | None = None
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers if workers is not None else usable_cores()
        self.min_bytes = min_bytes
        self._method = start_method
        self.start_method = ""  # how the workers were started: fork | forkserver | spawn ("" before)
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._broken = False

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def started(self) -> bool:
        """Whether worker processes are up."""
        return self._executor is not None

    def wants(self, work_bytes: int) -> bool:
        """Whether ``work_bytes`` of cold work go to the workers: ``min_bytes`` or more once they are up, or when they
        can be forked; more (``SERVER_START_BYTES``) when a fork server must start first."""
        if self.workers <= 1 or self._broken or work_bytes < self.min_bytes:
            return False
        if self._executor is not None or self.min_bytes == 0:
            return True
        return self._method_now() == "fork" or work_bytes >= max(self.min_bytes, SERVER_START_BYTES)

    def processes(self) -> list[int]:
        """The worker processes' ids (empty before the first use and after :meth:`close`)."""
        executor = self._executor
        procs = getattr(executor, "_processes", None) or {}
        return sorted(p.pid for p in procs.values() if p.pid is not None)

    def run(self, fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
        """``[fn(task) for task in tasks]``, the tasks spread over the workers (``fn`` must be importable by name).

        An exception raised by ``fn`` is raised here (the first in task order); on Ctrl-C the workers are stopped.
        If a worker dies, the pool closes and the tasks not done yet run in-process.
        """
        if not tasks:
            return []
        if self.workers <= 1 or self._broken:
            return [fn(t) for t in tasks]
        executor = self._start()
        try:
            futures = [executor.submit(fn, t) for t in tasks]
        except BrokenProcessPool:
            self._lost()
            return [fn(t) for t in tasks]
        results: list[R] = []
        try:
            for i, future in enumerate(futures):
                try:
                    results.append(future.result())
                except BrokenProcessPool:
                    self._lost()
                    results.extend(fn(t) for t in tasks[i:])
                    break
        except BaseException as exc:  # an error in a task, or Ctrl-C: run nothing more
            for future in futures:
                future.cancel()
            if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: the running tasks are stopped too
                self.close()
            raise
        return results

    def close(self) -> None:
        """Stop the workers (at once: queued tasks are dropped). The pool can be used again: it starts anew."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        procs = list((getattr(executor, "_processes", None) or {}).values())
        for process in procs:  # first: a task still running (Ctrl-C) is not waited for
            if process.is_alive():
                process.terminate()
        # Waits for the executor's own thread too: a thread left running would keep the next pool from forking.
        executor.shutdown(wait=True, cancel_futures=True)
        for process in procs:
            process.join(5)

    def _method_now(self) -> str:
        """How workers would start now."""
        methods = multiprocessing.get_all_start_methods()
        if self._method is not None:
            return self._method
        if "fork" in methods and _single_threaded():
            return "fork"
        return "forkserver" if "forkserver" in methods else "spawn"

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            method = self._method_now()
            context = multiprocessing.get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload([__name__])
            self.start_method = method
            self._executor = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
            )
        return self._executor

    def _lost(self) -> None:
        self._broken = True
        self.close()


def chunks(sizes: Sequence[int], workers: int) -> list[range]:
    """Consecutive index ranges of about ``TASK_BYTES`` each (fewer bytes when there is little work, so every
    worker gets several tasks); each holds at least one item."""
    total = sum(sizes)
    target = max(16 * 1024, min(TASK_BYTES, total // max(1, workers * TASKS_PER_WORKER)))
    out: list[range] = []
    start = acc = 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= target:
            out.append(range(start, i + 1))
            start, acc = i + 1, 0
    if start < len(sizes):
        out.append(range(start, len(sizes)))
    return out


# -- extract_many ------------------------------------------------------------------------------------------------

_ENTITY_FIELDS = tuple(f.name for f in fields(Entity))
_entity_tuple = attrgetter(*_ENTITY_FIELDS)


def _check(path: object, content: object) -> None:
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"file path must be a non-empty string, got {path!r}")
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise InvalidInput(f"content of {path} must be bytes, got {type(content).__name__}")


def _extract_task(task: tuple[list[tuple[str, bytes]], int]) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    files, max_file_bytes = task
    out = []
    for path, content in files:
        pf = extract_entities(path, content, max_file_bytes=max_file_bytes)
        out.append((pf.language, pf.fallback_reason, [_entity_tuple(e) for e in pf.entities]))
    return out


def extract_many(
    files: Iterable[tuple[str, bytes]],
    *,
    pool: ExtractionPool | None = None,
    workers: int | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> list[ParsedFile]:
    """``[extract_entities(path, content) for path, content in files]``, cold, in several processes.

    ``pool``: the workers to use (kept up by the caller). Without one, ``workers`` processes are started for the
    call when it has enough work (None: :func:`usable_cores`; 1: in-process). Raises ``InvalidInput`` for the
    first bad path or content, as the loop would, before any work.
    """
    items = [(p, c) for p, c in files]
    for path, content in items:
        _check(path, content)
    own = pool is None
    pool = pool if pool is not None else ExtractionPool(workers)
    try:
        sizes = [len(c) if spec_for(p) is not None else 0 for p, c in items]
        if not pool.wants(sum(sizes)):
            return [extract_entities(p, c, max_file_bytes=max_file_bytes) for p, c in items]
        ranges = chunks(sizes, pool.workers)
        tasks = [([(p, bytes(c)) for p, c in items[r.start : r.stop]], max_file_bytes) for r in ranges]
        encoded = [row for part in pool.run(_extract_task, tasks) for row in part]
        return _decode_files(items, encoded)
    finally:
        if own:
            pool.close()


def _decode_files(
    items: list[tuple[str, bytes]], encoded: list[tuple[str, str, list[tuple[Any, ...]]]]
) -> list[ParsedFile]:
    return [
        ParsedFile(path=path, language=language, fallback_reason=reason, entities=tuple([Entity(*e) for e in rows]))
        for (path, _), (language, reason, rows) in zip(items, encoded, strict=True)
    ]


# -- diff_files' cold files ----------------------------------------------------------------------------------------

_CORE_FIELDS = Core.__slots__
_core_tuple = attrgetter(*_CORE_FIELDS)
_REC_FIELDS = tuple(s for s in Rec.__slots__ if s != "core")
_rec_tuple = attrgetter(*_REC_FIELDS)

# One side: (language, fallback_reason, how, origin, records as (core index, *record fields)); cores apart, shared
# by both sides of a pair (an entity the new side copied from the old one is the same Core object, as in-process).
EncodedSide = tuple[str, str, str, dict[int, int], list[tuple[Any, ...]]]


def _encode(parsed: Parsed, cores: list[tuple[Any, ...]], seen: dict[int, int]) -> EncodedSide:
    recs = []
    for r in parsed.records:
        core = r.core
        k = seen.get(id(core))
        if k is None:
            k = seen[id(core)] = len(cores)
            cores.append(_core_tuple(core))
        recs.append((k, *_rec_tuple(r)))
    return (parsed.language, parsed.fallback_reason, parsed.how, parsed.origin, recs)


def decode_parsed(side: EncodedSide, content: bytes, cores: list[Core]) -> Parsed:
    """A :class:`Parsed` from a worker's tuples (no tree: one is parsed again if this version becomes the base of
    an incremental parse)."""
    language, reason, how, origin, recs = side
    records = [Rec(cores[r[0]], *r[1:]) for r in recs]
    parsed = Parsed(language, content, None, records, reason, how=how)
    parsed.origin = origin
    parsed.cost = _estimate(content, records, tree=how != "region")
    return parsed


# A task: files to analyze alone (path, content) or changed pairs (old path, old, new path, new).
Job = tuple[str, bytes] | tuple[str, bytes, str, bytes]


def _analyze_task(
    task: tuple[list[Job], int],
) -> list[tuple[list[tuple[Any, ...]], list[EncodedSide], TextDelta | None]]:
    jobs, max_file_bytes = task
    out: list[tuple[list[tuple[Any, ...]], list[EncodedSide], TextDelta | None]] = []
    for job in jobs:
        cores: list[tuple[Any, ...]] = []
        seen: dict[int, int] = {}
        if len(job) == 2:
            parsed = analyze(job[0], job[1], max_file_bytes=max_file_bytes)
            out.append((cores, [_encode(parsed, cores, seen)], None))
        else:
            po, delta, pn = analyze_pair(job[0], job[1], job[2], job[3], max_file_bytes=max_file_bytes)
            out.append((cores, [_encode(po, cores, seen), _encode(pn, cores, seen)], delta))
    return out


def job_bytes(job: Job) -> int:
    """The bytes a job parses."""
    return len(job[1]) + (len(job[3]) if len(job) == 4 else 0)


def analyze_many(pool: ExtractionPool, jobs: list[Job], max_file_bytes: int) -> list[PairResult]:
    """Each job's analysis in the workers, exactly as ``analyze_pair`` gives it with no cache (save the trees):
    ``(old, delta, new)`` for a pair; ``(parsed, None, parsed)`` for a file alone (``analyze``)."""
    ranges = chunks([job_bytes(j) for j in jobs], pool.workers)
    parts = pool.run(_analyze_task, [(jobs[r.start : r.stop], max_file_bytes) for r in ranges])
    out: list[PairResult] = []
    for job, (core_rows, sides, delta) in zip(jobs, (row for part in parts for row in part), strict=True):
        cores = [Core(*c) for c in core_rows]
        first = decode_parsed(sides[0], job[1], cores)
        if len(job) == 2:
            out.append((first, None, first))
            continue
        new = decode_parsed(sides[1], job[3], cores)
        if new.how == "region" and delta is not None:  # as analyze links a region re-parse to its base
            new.tree_source, new.chain = (first, delta), 1
        out.append((first, delta, new))
    return out
