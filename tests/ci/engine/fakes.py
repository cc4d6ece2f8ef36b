"""A test double of the :class:`trellis.ci.execution.Executor` interface, and a small repository to verify.

The executor double answers each job from a script (``outcome(request)``) or,
with ``hold=True``, keeps its futures pending until the test releases them.
Everything else is real: a ``vcs.Store`` on a temp directory, the semantic
diff, the result cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path

import pygit2

from trellis import semantic_diff, vcs
from trellis.ci.engine import ResultCache, Verifier
from trellis.ci.execution.jobs import JobOutcome, JobRequest
from trellis.ci.runs import Run

ALICE = vcs.Identity("alice")


def outcome(request: JobRequest, status: str = "passed", exit_code: int = 0, output: bytes = b"ok\n") -> JobOutcome:
    return JobOutcome(
        job_id=request.job_id,
        status=status,
        exit_code=exit_code,  # type: ignore[arg-type]
        output=output,
        duration_s=0.01,
        cpu_s=0.0,
        max_rss=0,
        isolation=(),
    )


class FakeExecutor:
    """Runs nothing: each job's outcome comes from ``script`` (default: passed), at once or when released."""

    name = "fake"
    slots = 2

    def __init__(self, script: Callable[[JobRequest], JobOutcome] = outcome, *, hold: bool = False) -> None:
        self.script = script
        self.hold = hold
        self.requests: list[JobRequest] = []
        self.held: dict[str, tuple[JobRequest, Future[JobOutcome]]] = {}
        self.closed = False
        self._lock = threading.Lock()
        self.submitted = threading.Condition(self._lock)

    def submit(self, request: JobRequest) -> Future[JobOutcome]:
        future: Future[JobOutcome] = Future()
        with self._lock:
            self.requests.append(request)
            if self.hold:  # a job that runs (its future can no longer be cancelled) until released
                future.set_running_or_notify_cancel()
                self.held[request.job_id] = (request, future)
            self.submitted.notify_all()
        if not self.hold:
            future.set_running_or_notify_cancel()
            future.set_result(self.script(request))
        return future

    def wait_for(self, count: int, timeout: float = 30) -> None:
        with self._lock:
            assert self.submitted.wait_for(lambda: len(self.requests) >= count, timeout), self.requests

    def release(self, job_id: str | None = None) -> None:
        """Let held jobs (one, or all) finish with the script's outcome."""
        with self._lock:
            ids = [job_id] if job_id is not None else list(self.held)
            items = [self.held.pop(i) for i in ids]
        for request, future in items:
            future.set_result(self.script(request))

    def cancel(self, job_id: str) -> None:
        pass

    def close(self) -> None:
        self.closed = True


class Repo:
    """A repository in a real store, committed to file by file."""

    def __init__(self, store: vcs.Store, name: str = "demo") -> None:
        self.store = store
        self.name = name
        store.create_repository(name, ALICE)

    def commit(self, files: Mapping[str, str | None], branch: str = "main", message: str = "change") -> str:
        changes: list[vcs.PutFile | vcs.DeleteFile] = [
            vcs.DeleteFile(path) if text is None else vcs.PutFile(path, text.encode()) for path, text in files.items()
        ]
        return self.store.commit(self.name, branch, changes, message, ALICE).commit.commit_id

    def diff(self, repository: str, old: str, new: str) -> semantic_diff.DiffResult:
        """The semantic diff of two commits ("" old: the parent), as the server's differ gives it."""
        repo = self.store.open(repository)
        new_commit = repo[new]
        assert isinstance(new_commit, pygit2.Commit)
        if not old and new_commit.parents:
            old = str(new_commit.parents[0].id)
        return semantic_diff.diff_files(
            dict(_files(repo, repo[old].tree)) if old else {},  # type: ignore[attr-defined]
            dict(_files(repo, new_commit.tree)),
        )


def _files(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    for entry in tree:
        obj = repo[entry.id]
        if isinstance(obj, pygit2.Tree):
            yield from _files(repo, obj, f"{prefix}{entry.name}/")
        elif isinstance(obj, pygit2.Blob):
            yield f"{prefix}{entry.name}", obj.data


class Finished(list[Run]):
    """The runs an engine reported finished (``on_finished`` runs just after ``wait`` returns: ``wait_for``)."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition()

    def add(self, repository: str, run: Run) -> None:
        with self._cond:
            self.append(run)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> list[Run]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self) >= count, timeout), list(self)
        return list(self)


def make_verifier(
    store: vcs.Store, repo: Repo, executor: FakeExecutor, root: Path, finished: Finished | None = None, **kwargs: object
) -> Verifier:
    done = finished if finished is not None else Finished()
    return Verifier(
        store, executor, ResultCache(root / "cache" / "results"), diff=repo.diff, on_finished=done.add, **kwargs
    )  # type: ignore[arg-type]


PIPELINE = """\
[stages.syntax]
kind = "syntax"
scope = "file"

[stages.lint]
run = "lint {paths}"
needs = ["syntax"]

[stages.review]
kind = "external"
scope = "file"
when.paths = ["**/*.py"]
needs = ["lint"]
"""
