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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from trellis.vcs import AlreadyExists, FailedPrecondition, RepositoryReader, imports
from trellis.vcs.validation import check_repository_name

from .errors import HistoryImportError
from .indexer import Indexer, ProgressCallback, SyncStats

__all__ = ["ImportResult", "import_history"]

_SOURCE_KEY = "trellis.importSource"


@dataclass(frozen=True, slots=True)
class ImportResult:
    repository: str
    path: Path
    branches: int
    tags: int
    resumed: bool
    stats: SyncStats


def _fetch(dest: Path, origin: imports.ImportSource, git_env: Mapping[str, str] | None, *, fresh: bool) -> None:
    """Fetch ``origin`` into ``dest``; a ``fresh`` repository is first given the source's object files (see
    ``imports.fetch``: nothing left to transfer), a resumed one fetches only what it lacks."""
    try:
        imports.fetch(
            dest, origin.url, origin.refspecs, env=git_env, objects=(origin.objects or None) if fresh else None
        )
    except FailedPrecondition as exc:
        raise HistoryImportError(exc.message, reason="IMPORT_FAILED") from None


def import_history(
    data_dir: Path,
    source: Path,
    name: str,
    *,
    indexer: Indexer | None = None,
    workers: int = 2,
    on_progress: ProgressCallback | None = None,
    description: str = "",
    git_env: Mapping[str, str] | None = None,
) -> ImportResult:
    """Import ``source`` (a git repository path, bare or not) as repository ``name`` and index it.

    ``on_progress(done, total)`` reports indexed commits. ``git_env`` is the environment of the ``git`` program
    that fetches (see :func:`trellis.vcs.imports.fetch`; None: this process's). Without an
    ``indexer`` one is opened on ``data_dir`` for the call (only when no
    server owns the data directory). Raises ``vcs.AlreadyExists`` if ``name``
    exists and was not imported from ``source``.
    """
    check_repository_name(name)
    source = Path(source).resolve()
    origin = imports.find_source(source)
    if origin is None:
        raise HistoryImportError(
            f"{source} is not a git repository", reason="IMPORT_SOURCE_NOT_FOUND", source=str(source)
        )
    repos = Path(data_dir) / "repos"
    repos.mkdir(parents=True, exist_ok=True)
    dest = repos / f"{name}.git"
    resumed = dest.exists()
    if resumed:
        if RepositoryReader(dest).config_value(_SOURCE_KEY) != origin.url:
            raise AlreadyExists(
                f"repository {name!r} already exists (and was not imported from {source})",
                reason="REPOSITORY_EXISTS",
            )
        _fetch(dest, origin, git_env, fresh=False)
    else:
        staging = repos / f".tmp-{name}-{secrets.token_hex(4)}"
        try:
            imports.init_bare(
                staging,
                {
                    "core.logAllRefUpdates": "false",
                    "gc.auto": "0",
                    "trellis.description": description or f"imported from {source}",
                    "trellis.createTime": str(int(time.time())),
                    _SOURCE_KEY: origin.url,
                },
            )
            _fetch(staging, origin, git_env, fresh=True)
            imports.set_default_branch(staging, [origin.head_branch, "main", "master"])
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if dest.exists() and not resumed:
                raise AlreadyExists(f"repository {name!r} already exists", reason="REPOSITORY_EXISTS") from None
            raise
    refs = RepositoryReader(dest).list_refs(("refs/heads/", "refs/tags/"))
    branches = sum(1 for r in refs if r.name.startswith("refs/heads/"))
    tags = len(refs) - branches
    own = indexer is None
    ix = indexer or Indexer(Path(data_dir))
    try:
        stats = ix.sync_repository(name, workers=workers, on_progress=on_progress)
    finally:
        if own:
            ix.close()
    return ImportResult(name, dest, branches, tags, resumed, stats)
