"""``trellis commit``: commit files from disk as one atomic change."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, connect, lazy

if TYPE_CHECKING:
    from trellis import vcs
else:
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "commit",
        parents=[common],
        help="commit files from disk to a branch",
        description="Commit files from disk as one atomic change. Paths are taken relative to --root "
        "(default: the current directory); directories are added recursively.",
    )
    p.add_argument("repository", help="repository name")
    p.add_argument("branch", help="the branch to commit to")
    p.add_argument("paths", nargs="*", type=Path, help="files or directories to put")
    p.add_argument("-m", "--message", default="", help="commit message")
    p.add_argument("--root", type=Path, default=Path("."), help="directory the repository paths are relative to")
    p.add_argument("--delete", action="append", default=[], metavar="PATH", help="delete PATH (repeatable)")
    p.add_argument(
        "--rename", nargs=2, action="append", default=[], metavar=("OLD", "NEW"), help="rename OLD to NEW (repeatable)"
    )
    p.add_argument("--expected-head", help="compare-and-swap: fail unless the branch is at this commit")
    p.add_argument("--rebase", action="store_true", help="if the head moved, rebase onto it when clean")
    p.add_argument("--session", help="session id this commit belongs to (records a step)")
    p.add_argument("--request-id", help="idempotency key: a retry returns the original commit")
    p.set_defaults(run=run)


def _collect(paths: list[Path], root: Path) -> list[vcs.Change]:
    changes: list[vcs.Change] = []
    root = root.resolve()
    for path in paths:
        full = (root / path if not path.is_absolute() else path).absolute()
        if not full.exists() and not full.is_symlink():
            raise vcs.InvalidArgument(f"{path} does not exist on disk", reason="LOCAL_PATH_NOT_FOUND")
        files = (
            [full]
            if full.is_file() or full.is_symlink()
            else sorted(p for p in full.rglob("*") if (p.is_file() or p.is_symlink()) and ".git" not in p.parts)
        )
        for file in files:
            if file.is_symlink():
                raise vcs.InvalidArgument(
                    f"{file} is a symbolic link: Trellis commits regular files only", reason="LOCAL_SYMLINK"
                )
            try:
                rel = file.relative_to(root).as_posix()
            except ValueError:
                raise vcs.InvalidArgument(
                    f"{file} is outside --root {root}", reason="LOCAL_PATH_OUTSIDE_ROOT"
                ) from None
            changes.append(vcs.PutFile(rel, file.read_bytes(), os.access(file, os.X_OK)))
    return changes


def run(args: argparse.Namespace) -> int:
    out = Output(args)
    changes = _collect(args.paths, args.root)
    changes += [vcs.DeleteFile(p) for p in args.delete]
    changes += [vcs.RenameFile(old, new) for old, new in args.rename]
    with connect(args) as client:
        result = client.commit(
            args.repository,
            args.branch,
            changes,
            args.message,
            expected_head=args.expected_head,
            on_stale="rebase" if args.rebase else "fail",
            session=args.session,
            request_id=args.request_id,
        )
    if out.json:
        out.data(result)
    else:
        extra = " (rebased)" if result.rebased else ""
        out.print(f"[bold]{result.commit.commit_id}[/] on {args.branch}{extra}: {len(changes)} change(s)")
    return 0
