"""``trellis reindex``, ``trellis check`` and ``trellis import``: work on the index and the repositories.

The index file belongs to one process at a time. While a server owns the data
directory (or one is named with ``--server`` / ``$TRELLIS_SERVER``), these
ask it (the ImportRepository, CheckIndex and RebuildIndex calls); otherwise
they open the data directory in-process, holding its lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..datadir import INDEX_FILE, DataDirLock, running_server
from .context import Output, connect, data_dir

if TYPE_CHECKING:
    import argparse


_WORKERS_HELP = (
    "processes computing semantic diffs: lanes of commits, or the files of a commit parsed from scratch "
    "(default: the usable cores; 1: all in this process; through a server: the server's default)"
)


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        import argparse  # here: ``trellis query`` imports this module (INDEX_FILE) and parses without argparse

        raise argparse.ArgumentTypeError(f"{value}: give a number of processes, 1 or more")
    return value


def _local_workers(args: argparse.Namespace) -> int:
    """``--workers``, or the cores this process may use."""
    if args.workers is not None:
        return int(args.workers)
    from trellis.semantic_diff.pool import usable_cores

    return usable_cores()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    r = sub.add_parser(
        "reindex",
        parents=[common],
        help="rebuild the index from the repositories alone",
        description="Delete the DuckDB index and rebuild it from git (through the data directory's "
        "server while one runs).",
    )
    r.add_argument("--workers", type=_workers, default=None, help=_WORKERS_HELP)
    r.set_defaults(run=run_reindex)
    c = sub.add_parser(
        "check",
        parents=[common],
        help="compare the index with git and report differences",
        description="Compare the index with the repositories; exit 1 if they differ "
        "(fix with `trellis reindex`); through the data directory's server while one runs.",
    )
    c.set_defaults(run=run_check)
    i = sub.add_parser(
        "import",
        parents=[common],
        help="import a git repository with its whole history",
        description="Import an existing git repository (all branches and tags) and index every "
        "commit with its semantic diff, using every core. Re-running resumes. While a server runs, it "
        "imports (the path must be one the server's machine can read).",
    )
    i.add_argument("path", type=Path, help="a git repository (work tree or bare)")
    i.add_argument("--name", required=True, help="repository name in Trellis")
    i.add_argument("--workers", type=_workers, default=None, help=_WORKERS_HELP)
    i.add_argument("--description", default="", help="description of the new repository")
    i.set_defaults(run=run_import)


# What each field of query.SyncStats counts, in words (a field missing here is shown by its name).
_STAT_WORDS = {
    "commits_added": ("commit", "commits"),
    "file_changes_added": ("file change", "file changes"),
    "entity_changes_added": ("entity change", "entity changes"),
    "entity_backfilled_commits": ("commit given its entity changes", "commits given their entity changes"),
    "refs_changed": ("ref", "refs"),
    "sessions_changed": ("session", "sessions"),
    "steps_added": ("step", "steps"),
    "runs_changed": ("verification run", "verification runs"),
    "commits_removed": ("commit removed", "commits removed"),
    "runs_removed": ("run removed", "runs removed"),
    "repositories_removed": ("repository removed", "repositories removed"),
    "runs_invalid": ("unreadable run skipped", "unreadable runs skipped"),
}


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else plural or word + ('es' if word.endswith('ch') else 's')}"


def describe_stats(stats: object) -> str:
    """A sync's counts in words, those that are not zero: ``1,204 commits, 3,876 file changes, ...``."""
    import dataclasses

    parts = []
    for field in dataclasses.fields(stats):  # type: ignore[arg-type]
        value = getattr(stats, field.name)
        if field.name == "repositories" or not value:
            continue
        one, many = _STAT_WORDS.get(field.name, (field.name.replace("_", " "), field.name.replace("_", " ")))
        parts.append(_count(value, one, many))
    return ", ".join(parts) or "nothing new"


def _through_server(args: argparse.Namespace) -> bool:
    """Whether a server is to do the work: one named, or one owning the data directory."""
    from .. import config as cfg

    return bool(getattr(args, "server", None) or cfg.env_server() or running_server(data_dir(args)))


@contextmanager
def _indexer(args: argparse.Namespace, *, fresh: bool = False, creates: bool = False) -> Iterator[object]:
    """The data directory's indexer, under its lock; ``fresh`` deletes the index file first.

    Only a command that ``creates`` data (import) may start a new data directory.
    """
    from trellis.query import Indexer

    root = data_dir(args, existing=not creates)
    with DataDirLock(root):
        if fresh:  # the index is derived: a damaged or outdated file is simply rebuilt
            for leftover in (root / INDEX_FILE, root / f"{INDEX_FILE}.wal"):
                leftover.unlink(missing_ok=True)
        with Indexer(root, root / INDEX_FILE) as indexer:
            yield indexer
            if indexer.generation:  # changed: the read-only copy for other programs follows (docs/schema.md)
                from trellis.query.snapshot import SNAPSHOT_FILE, publish_snapshot

                publish_snapshot(indexer, root / SNAPSHOT_FILE)


@contextmanager
def _progress(out: Output, label: str) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out.err,
        disable=out.json,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def run_reindex(args: argparse.Namespace) -> int:
    out = Output(args)
    if _through_server(args):
        with connect(args) as client, _progress(out, "indexing commits") as progress:
            stats = client.rebuild_index(workers=args.workers or 0, on_progress=progress)
    else:
        with _indexer(args, fresh=True) as indexer, _progress(out, "indexing commits") as progress:
            stats = indexer.rebuild(workers=_local_workers(args), on_progress=progress)  # type: ignore[attr-defined]
    out.data(stats) if out.json else out.print(f"rebuilt the index: {describe_stats(stats)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    out = Output(args)
    if _through_server(args):
        with connect(args) as client:
            problems = client.check_index()
    else:
        with _indexer(args) as indexer:
            problems = indexer.check()  # type: ignore[attr-defined]
    if out.json:
        out.data({"consistent": not problems, "differences": problems})
    elif problems:
        for line in problems:
            out.print(line, markup=False)
        out.error(f"{len(problems)} difference(s) between the index and git: run `trellis reindex`")
    else:
        out.print("the index matches git")
    return 1 if problems else 0


def run_import(args: argparse.Namespace) -> int:
    from trellis.query import import_history

    from .. import config as cfg

    out = Output(args)
    if _through_server(args):
        source = str(args.path.expanduser().absolute())
        with connect(args) as client, _progress(out, f"importing {args.path}") as progress:
            result = client.import_repository(
                args.name, source, description=args.description, workers=args.workers or 0, on_progress=progress
            )
    else:
        with _indexer(args, creates=True) as indexer, _progress(out, f"importing {args.path}") as progress:
            result = import_history(
                data_dir(args),
                args.path,
                args.name,
                indexer=indexer,  # type: ignore[arg-type]
                workers=_local_workers(args),
                on_progress=progress,
                description=args.description,
                git_env=cfg.git_env(),
            )
    if out.json:
        out.data(result)
    else:
        again = " (resumed)" if result.resumed else ""
        out.print(
            f"imported {args.path} as {result.repository}{again}: {_count(result.branches, 'branch')}, "
            f"{_count(result.tags, 'tag')}; indexed {describe_stats(result.stats)}"
        )
    return 0
