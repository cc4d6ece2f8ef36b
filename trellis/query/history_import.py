"""Importing an existing git repository, with its whole history, into a data directory.

:func:`import_history` copies every branch and tag of ``source``, and its
remote-tracking branches as branches named ``<remote>/<branch>`` (what a
fresh clone knows of the project's branches), into a new bare repository ``<data>/repos/<name>.git`` (fetched into a staging
directory, then renamed into place, so a half-made import is never seen),
then indexes every commit with its file and entity changes. The semantic
diffs run in ``workers`` processes; the rows are written in batches by the
caller's process. It is resumable: run it again after an interruption and it
fetches what is new and indexes only the commits the index lacks (the
indexer's ``commits`` table is the watermark).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pygit2

from trellis.vcs import AlreadyExists
from trellis.vcs.validation import check_repository_name

from .errors import HistoryImportError
from .indexer import Indexer, ProgressCallback, SyncStats

__all__ = ["ImportResult", "import_history"]

_SOURCE_KEY = "trellis.importSource"
_REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    repository: str
    path: Path
    branches: int
    tags: int
    resumed: bool
    stats: SyncStats


def _open_source(source: Path) -> pygit2.Repository:
    found = pygit2.discover_repository(str(source))
    if found is None:
        raise HistoryImportError(
            f"{source} is not a git repository", reason="IMPORT_SOURCE_NOT_FOUND", source=str(source)
        )
    return pygit2.Repository(found)


def _refspecs(source: pygit2.Repository) -> list[str]:
    """Branches and tags as they are; each remote-tracking branch ``refs/remotes/R/B`` as branch ``R/B``
    (a remote's symbolic ``HEAD`` is no branch)."""
    remote_branches = []
    for name in source.references:
        if name.startswith("refs/remotes/") and not name.endswith("/HEAD"):
            if isinstance(source.references[name].target, str):  # symbolic: names another branch
                continue
            remote_branches.append(f"+{name}:refs/heads/{name.removeprefix('refs/remotes/')}")
    return [*_REFSPECS, *sorted(remote_branches)]


def _fetch(repo: pygit2.Repository, url: str, source: pygit2.Repository) -> None:
    remote = repo.remotes.create_anonymous(url)
    try:
        remote.fetch(refspecs=_refspecs(source))
    except pygit2.GitError as exc:
        raise HistoryImportError(f"cannot fetch from {url}: {exc}", reason="IMPORT_FAILED") from None


def _set_head(repo: pygit2.Repository, source: pygit2.Repository) -> None:
    branches = sorted(r.removeprefix("refs/heads/") for r in repo.references if r.startswith("refs/heads/"))
    wanted = ""
    head = source.references.get("HEAD")
    if head is not None and isinstance(head.target, str) and head.target.startswith("refs/heads/"):
        wanted = head.target.removeprefix("refs/heads/")
    for choice in (wanted, "main", "master", *branches):
        if choice and choice in branches:
            repo.references.create("HEAD", f"refs/heads/{choice}", force=True)
            return


def import_history(
    data_dir: Path,
    source: Path,
    name: str,
    *,
    indexer: Indexer | None = None,
    workers: int = 2,
    on_progress: ProgressCallback | None = None,
    description: str = "",
) -> ImportResult:
    """Import ``source`` (a git repository path, bare or not) as repository ``name`` and index it.

    ``on_progress(done, total)`` reports indexed commits. Without an
    ``indexer`` one is opened on ``data_dir`` for the call (only when no
    server owns the data directory). Raises ``vcs.AlreadyExists`` if ``name``
    exists and was not imported from ``source``.
    """
    check_repository_name(name)
    source = Path(source).resolve()
    origin = _open_source(source)
    # The work tree itself, not the parent of its git directory: a linked
    # worktree keeps that under the main repository's .git/worktrees/.
    url = origin.path if origin.is_bare else origin.workdir
    repos = Path(data_dir) / "repos"
    repos.mkdir(parents=True, exist_ok=True)
    dest = repos / f"{name}.git"
    resumed = dest.exists()
    if resumed:
        repo = pygit2.Repository(str(dest))
        if _SOURCE_KEY not in repo.config or repo.config[_SOURCE_KEY] != url:
            raise AlreadyExists(
                f"repository {name!r} already exists (and was not imported from {source})",
                reason="REPOSITORY_EXISTS",
            )
        _fetch(repo, url, origin)
    else:
        staging = repos / f".tmp-{name}-{secrets.token_hex(4)}"
        try:
            repo = pygit2.init_repository(str(staging), bare=True)
            config = repo.config
            config["core.logAllRefUpdates"] = "false"
            config["gc.auto"] = "0"
            config["trellis.description"] = description or f"imported from {source}"
            config["trellis.createTime"] = str(int(time.time()))
            config[_SOURCE_KEY] = url
            _fetch(repo, url, origin)
            _set_head(repo, origin)
            del repo
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if dest.exists() and not resumed:
                raise AlreadyExists(f"repository {name!r} already exists", reason="REPOSITORY_EXISTS") from None
            raise
        repo = pygit2.Repository(str(dest))
    branches = sum(1 for r in repo.references if r.startswith("refs/heads/"))
    tags = sum(1 for r in repo.references if r.startswith("refs/tags/"))
    own = indexer is None
    ix = indexer or Indexer(Path(data_dir))
    try:
        stats = ix.sync_repository(name, workers=workers, on_progress=on_progress)
    finally:
        if own:
            ix.close()
    return ImportResult(name, dest, branches, tags, resumed, stats)
