"""``trellis diff``: entity-level diffs of files, directories or repository revisions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, lazy, stdout_bytes
from .local import reader

if TYPE_CHECKING:
    from trellis import semantic_diff, vcs
else:
    semantic_diff = lazy("trellis.semantic_diff")
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "diff",
        parents=[common],
        help="semantic diff of two files, two directories or two revisions",
        description="Describe a change as changes to functions, classes, methods and keys.\n\n"
        "  trellis diff OLD NEW            two files or two directories on disk (no server needed)\n"
        "  trellis diff REPO REV           a commit of a repository against its parent\n"
        "  trellis diff REPO OLD NEW       two revisions of a repository\n\n"
        "Exit status, as git diff: 0 (with --exit-code: 0 when there are no differences, 1 when there are), "
        "2 for wrong arguments.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="+", metavar="ARG", help="OLD NEW, or REPO [OLD] NEW")
    p.add_argument("--path", action="append", default=[], help="only this path (repeatable; revisions only)")
    p.add_argument("--lines", action="store_true", help="also print unified line diffs")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes parsing files from scratch when two directories are compared and the files are many "
        "(default: the usable cores; 1: in this process)",
    )
    p.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when there are differences and 0 when there are none (as git diff --exit-code)",
    )
    p.set_defaults(run=run)


def _could_be_repository(name: str) -> bool:
    """Whether ``name`` can name a repository; a path such as ``/tmp/x`` or ``./old`` cannot."""
    from trellis.vcs import InvalidArgument
    from trellis.vcs.validation import check_repository_name

    try:
        check_repository_name(name)
    except InvalidArgument:
        return False
    return True


def _read_side(root: Path) -> dict[str, bytes]:
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and ".git" not in p.relative_to(root).parts
    }


def _local(
    old_path: Path, new_path: Path, workers: int | None = None
) -> tuple[semantic_diff.DiffResult, dict[str, bytes], dict[str, bytes]]:
    old, new = _read_side(old_path), _read_side(new_path)
    if old_path.is_file() and new_path.is_file():
        # Two files are one file before and after: diff them under the new name.
        old = {new_path.name: old[old_path.name]}
    changed_old = {p: c for p, c in old.items() if new.get(p) != c}
    changed_new = {p: c for p, c in new.items() if old.get(p) != c}
    # A pool starts no process unless the files to parse from scratch are many (semantic_diff.pool).
    with semantic_diff.ExtractionPool(workers) as pool:
        return semantic_diff.diff_files(changed_old, changed_new, pool=pool), changed_old, changed_new


def _print(out: Output, result: semantic_diff.DiffResult, line_diffs: dict[str, bytes]) -> None:
    by_path: dict[str, list[semantic_diff.EntityChange]] = {}
    for change in result.changes:
        by_path.setdefault(change.path, []).append(change)
    for file in result.files:
        head = f"[bold]{file.path}[/]"
        if file.old_path and file.old_path != file.path:
            head = f"[bold]{file.old_path} → {file.path}[/]"
        stats = f"[green]+{file.additions}[/] [red]-{file.deletions}[/]"
        note = f" [yellow]line-level: {file.fallback_reason}[/]" if file.fallback_reason else ""
        out.print(f"{head} ({file.status}, {file.language or 'unknown'}) {stats}{note}")
        for change in by_path.pop(file.path, []):
            out.print(f"  {semantic_diff.describe(change)}", markup=False)
        if file.path in line_diffs:  # the files' own bytes, not re-encoded (as git diff prints them)
            out.console.file.flush()
            stdout_bytes(line_diffs[file.path].rstrip() + b"\n")
    for changes in by_path.values():  # changes attributed to a path with no file entry
        for change in changes:
            out.print(f"  {semantic_diff.describe(change)}", markup=False)
    if not result.files:
        out.print("no changes")


def run(args: argparse.Namespace) -> int:
    out = Output(args)
    items = list(args.args)
    line_diffs: dict[str, bytes] = {}
    if len(items) == 2 and all(Path(a).exists() for a in items):
        old_path, new_path = Path(items[0]), Path(items[1])
        if old_path.is_file() != new_path.is_file():
            out.error("compare a file with a file, or a directory with a directory")
            return 2
        if args.workers is not None and args.workers < 1:
            out.error(f"--workers {args.workers}: give a number of processes, 1 or more")
            return 2
        result, old, new = _local(old_path, new_path, args.workers)
        if args.lines:
            for f in result.files:
                o, n = old.get(f.old_path or f.path, b""), new.get(f.path, b"")
                line_diffs[f.path] = vcs.unified_diff(o, n, f.old_path or f.path, f.path)
    elif len(items) == 2 and not _could_be_repository(items[0]):
        missing = [a for a in items if not Path(a).exists()]
        out.error(
            f"{' and '.join(missing)}: no such file or directory "
            "(trellis diff OLD NEW compares paths on disk; REPO REV compares revisions)"
        )
        return 2
    elif len(items) in (2, 3):
        repository, *revisions = items
        new_rev = revisions[-1]
        old_rev = revisions[0] if len(revisions) == 2 else ""
        with reader(args) as client:
            diff = client.diff(repository, new_rev, old_rev, paths=args.path, line_diff=args.lines)
        result, line_diffs = diff.result, diff.line_diffs
    else:
        out.error("expected OLD NEW (paths on disk), or REPO REV, or REPO OLD NEW; see trellis diff --help")
        return 2
    if out.json:
        out.data([semantic_diff.change_to_json(c) for c in result.changes])
    else:
        _print(out, result, line_diffs)
    return 1 if args.exit_code and (result.files or result.changes) else 0
