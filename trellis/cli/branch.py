"""``trellis branch``: list, create, show and delete branches."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .context import Output, connect, lazy, new_table

if TYPE_CHECKING:
    from trellis import vcs
else:
    vcs = lazy("trellis.vcs")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("branch", parents=[common], help="manage branches")
    bsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = bsub.add_parser("list", parents=[common], help="list branches")
    ls.add_argument("repository", help="repository name")
    ls.add_argument("--prefix", default="", help="only branches starting with this (e.g. agents/alice/)")
    ls.set_defaults(run=list_)
    c = bsub.add_parser("create", parents=[common], help="create a branch at a revision")
    c.add_argument("repository", help="repository name")
    c.add_argument("branch", help="branch name")
    c.add_argument("--from", dest="revision", default="", help="revision to start from (default: default branch)")
    c.set_defaults(run=create)
    s = bsub.add_parser("show", parents=[common], help="show a branch head")
    s.add_argument("repository", help="repository name")
    s.add_argument("branch", help="branch name")
    s.set_defaults(run=show)
    d = bsub.add_parser("delete", parents=[common], help="delete a branch")
    d.add_argument("repository", help="repository name")
    d.add_argument("branch", help="branch name")
    d.add_argument("--expected-head", help="only if the branch is still at this commit")
    d.set_defaults(run=delete)


def list_(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        branches = list(client.list_branches(args.repository, args.prefix))
    if out.json:
        out.data(branches)
        return 0
    table = new_table("branch", "head", box=None)
    for b in branches:
        table.add_row(b.branch_id, b.head_commit_id)
    out.print(table)
    return 0


def _one(out: Output, branch: vcs.Branch) -> None:
    if out.json:
        out.data(branch)
    else:
        out.print(f"{branch.branch_id} {branch.head_commit_id}")


def create(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        _one(out, client.create_branch(args.repository, args.branch, args.revision))
    return 0


def show(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        _one(out, client.get_branch(args.repository, args.branch))
    return 0


def delete(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        client.delete_branch(args.repository, args.branch, expected_head=args.expected_head)
    if out.json:
        out.data({"deleted": args.branch})
    else:
        out.print(f"deleted branch {args.branch}")
    return 0
