"""Read-only commands on a local data directory with no server: the library answers, no gRPC server is built.

:func:`reader` gives what a read-only command talks to: a :class:`LocalReader`
when no server is to be asked (see ``context.local_data_dir``), else the
SDK client of ``context.connect``. ``LocalReader`` has the read calls of
:class:`trellis.client.Client` that those commands use, with the same
signatures and the same values (the library's own dataclasses), so a command
is written once for both.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .context import connect, local_data_dir

if TYPE_CHECKING:
    from trellis import ci, vcs

    from ..differ import CommitDiff

__all__ = ["LocalReader", "reader"]

T = TypeVar("T")


class LocalReader:
    """The data directory read through ``vcs``, ``ci`` and the semantic diff, as the servicers read it."""

    def __init__(self, root: Path) -> None:
        from trellis import vcs

        self.store = vcs.Store(root, durability=vcs.Durability.NONE)  # reads only: nothing to sync

    @staticmethod
    def _pages(fetch: Any, limit: int | None) -> Iterator[Any]:
        token, count = "", 0
        while True:
            page = fetch(token)
            for item in page.items:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            token = page.next_page_token
            if not token:
                return

    def get_repository(self, name: str) -> vcs.Repository:
        return self.store.get_repository(name)

    def get_commit(self, repository: str, revision: str) -> vcs.Commit:
        return self.store.get_commit(repository, revision)

    def log(
        self, repository: str, revision: str = "", *, path: str = "", limit: int | None = None
    ) -> Iterator[vcs.Commit]:
        size = min(limit, 1000) if limit else 0
        return self._pages(
            lambda token: self.store.list_commits(repository, revision, path, page_size=size, page_token=token), limit
        )

    def list_sessions(self, repository: str, *, agent: str = "", limit: int | None = None) -> Iterator[vcs.Session]:
        return self._pages(lambda token: self.store.list_sessions(repository, agent, page_token=token), limit)

    def diff(
        self,
        repository: str,
        new_revision: str,
        old_revision: str = "",
        *,
        paths: Sequence[str] = (),
        line_diff: bool = False,
    ) -> CommitDiff:
        from ..differ import CommitDiff, Differ

        done = Differ(self.store).diff(repository, old_revision, new_revision, list(paths), line_diff=line_diff)
        line_diffs = {f.path: done.line_diffs[f.path] for f in done.result.files if done.line_diffs.get(f.path)}
        return CommitDiff(done.old_commit_id, done.new_commit_id, done.result, line_diffs)

    def list_runs(self, repository: str, commit_id: str = "", *, branch: str = "") -> Iterator[ci.Run]:
        """Runs as their records say, newest first, without their test cases (as the ListRuns RPC gives them)."""
        from trellis.ci.engine.store import RunStore

        runs = RunStore(self.store)
        for run_id in runs.find(repository, commit_id, branch):
            run = runs.get(repository, run_id)
            yield dataclasses.replace(run, jobs=tuple(dataclasses.replace(j, tests=()) for j in run.jobs))


@contextmanager
def reader(args: argparse.Namespace) -> Iterator[Any]:
    """A :class:`LocalReader` under the data directory's lock when no server is to be asked, else a client."""
    root = local_data_dir(args)
    if root is None:
        with connect(args) as client:
            yield client
        return
    from ..datadir import DataDirLock

    with DataDirLock(root):
        yield LocalReader(root)
