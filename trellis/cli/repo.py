"""``trellis repo``: create, list, show and delete repositories."""

from __future__ import annotations

import argparse
import datetime
from typing import TYPE_CHECKING

from .context import Output, connect, data_dir, lazy, new_table

if TYPE_CHECKING:
    from trellis import vcs
else:
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("repo", parents=[common], help="manage repositories")
    rsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = rsub.add_parser("create", parents=[common], help="create a repository (with an empty first commit)")
    c.add_argument("name", help="name of the new repository (letters, digits, '.', '_', '-')")
    c.add_argument("--description", default="", help="one line describing the repository")
    c.add_argument("--default-branch", default="main", help="name of the default branch (default main)")
    c.set_defaults(run=create)
    ls = rsub.add_parser("list", parents=[common], help="list repositories")
    ls.set_defaults(run=list_)
    s = rsub.add_parser("show", parents=[common], help="show one repository")
    s.add_argument("name", help="repository name")
    s.set_defaults(run=show)
    d = rsub.add_parser("delete", parents=[common], help="delete a repository and all its history")
    d.add_argument("name", help="repository name")
    d.add_argument("--yes", action="store_true", help="confirm: the history is gone for good")
    d.set_defaults(run=delete)


def _show(out: Output, repo: vcs.Repository) -> None:
    if out.json:
        out.data(repo)
        return
    created = datetime.datetime.fromtimestamp(repo.create_time).isoformat(timespec="seconds")
    out.print(
        f"[bold]{repo.repository_id}[/]  default branch {repo.default_branch}  "
        f"head {repo.head_commit_id[:12]}  created {created}"
    )


def create(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args, creates=True, repository=args.name) as client:
        repo = client.create_repository(args.name, default_branch=args.default_branch, description=args.description)
    _show(out, repo)
    if not out.json:
        out.note(f"bare git repository: {data_dir(args) / 'repos' / (args.name + '.git')}")
    return 0


def list_(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        repos = list(client.list_repositories())
    if out.json:
        out.data(repos)
        return 0
    table = new_table("repository", "default branch", "head", "description")
    for r in repos:
        table.add_row(r.repository_id, r.default_branch, r.head_commit_id[:12], r.description)
    out.print(table)
    return 0


def show(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args, repository=args.name) as client:
        _show(out, client.get_repository(args.name))
    return 0


def delete(args: argparse.Namespace) -> int:
    out = Output(args)
    if not args.yes:
        out.error(f"deleting {args.name!r} removes its whole history: add --yes to confirm")
        return 2
    with connect(args, repository=args.name) as client:
        client.delete_repository(args.name)
    if out.json:
        out.data({"deleted": args.name})
    else:
        out.print(f"deleted repository {args.name}")
    return 0
