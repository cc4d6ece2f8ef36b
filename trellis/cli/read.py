"""``trellis log``, ``trellis show`` and ``trellis cat``: read history and files."""

from __future__ import annotations

import argparse
import datetime
from typing import TYPE_CHECKING

from .context import Output, connect, lazy, new_table, stdout_bytes
from .local import reader

if TYPE_CHECKING:
    from trellis import vcs
else:
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    log = sub.add_parser("log", parents=[common], help="list commits, newest first")
    log.add_argument("repository", help="repository name")
    log.add_argument("revision", nargs="?", default="", help="branch or commit (default: the default branch)")
    log.add_argument("--path", default="", help="only commits that touch this path")
    log.add_argument("-n", "--limit", type=int, default=20, help="at most this many commits (0: all)")
    log.set_defaults(run=run_log)
    show = sub.add_parser("show", parents=[common], help="show one commit with its trailers")
    show.add_argument("repository", help="repository name")
    show.add_argument(
        "revision", nargs="?", default="", help="branch, tag or commit (default: the default branch's head)"
    )
    show.set_defaults(run=run_show)
    cat = sub.add_parser("cat", parents=[common], help="print a file at a revision")
    cat.add_argument("repository", help="repository name")
    cat.add_argument("path", help="file path in the repository")
    cat.add_argument("--rev", default="", help="branch or commit (default: the default branch)")
    cat.set_defaults(run=run_cat)
    ls = sub.add_parser("ls", parents=[common], help="list a directory at a revision")
    ls.add_argument("repository", help="repository name")
    ls.add_argument("path", nargs="?", default="", help="directory to list (default: the root)")
    ls.add_argument("--rev", default="", help="branch, tag or commit (default: the default branch's head)")
    ls.add_argument("-r", "--recursive", action="store_true", help="list the contents of subdirectories too")
    ls.set_defaults(run=run_ls)


def _when(sig: vcs.Signature) -> str:
    return datetime.datetime.fromtimestamp(sig.time).isoformat(sep=" ", timespec="seconds")


def run_log(args: argparse.Namespace) -> int:
    out = Output(args)
    with reader(args) as client:
        commits = list(client.log(args.repository, args.revision, path=args.path, limit=args.limit or None))
    if out.json:
        out.data(commits)
        return 0
    for c in commits:
        title = c.message.splitlines()[0] if c.message else ""
        session = c.trailers.get("Trellis-Session")
        tail = f" [dim](session {session} step {c.trailers.get('Trellis-Step')})[/]" if session else ""
        out.print(f"[yellow]{c.commit_id[:12]}[/] {_when(c.author)} [cyan]{c.author.name}[/] {title}{tail}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    out = Output(args)
    with reader(args) as client:
        c = client.get_commit(args.repository, args.revision or client.get_repository(args.repository).default_branch)
    if out.json:
        out.data(c)
        return 0
    out.print(f"[yellow]commit {c.commit_id}[/]")
    for parent in c.parent_ids:
        out.print(f"parent {parent}")
    out.print(f"tree   {c.tree_id}")
    out.print(f"author {c.author.name} <{c.author.email}> {_when(c.author)}")
    out.print("")
    out.print(c.message.rstrip(), markup=False)
    return 0


def run_cat(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        if out.json:
            out.data(client.read_file(args.repository, args.path, args.rev))
            return 0
        # Chunk by chunk (ReadFile): any size the server holds, written as it arrives.
        for chunk in client.read_file_chunks(args.repository, args.path, args.rev):
            stdout_bytes(chunk.data)
    return 0


def run_ls(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        entries = list(client.list_tree(args.repository, args.path, args.rev, recursive=args.recursive))
    if out.json:
        out.data(entries)
        return 0
    table = new_table("kind", "size", "path", box=None)
    for e in entries:
        table.add_row(e.kind + ("*" if e.executable else ""), str(e.size) if e.kind == "file" else "", e.path)
    out.print(table)
    return 0
