"""``trellis merge``: merge a branch or revision of a server repository into a branch."""

from __future__ import annotations

import argparse

from .context import Output, connect, new_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "merge",
        parents=[common],
        help="merge a revision into a branch (structured, entity by entity)",
        description="Merge SOURCE into TARGET on the server: a fast-forward when possible, otherwise a "
        "structured three-way merge. Conflicts are listed and nothing is written; resolve them "
        "with a commit and merge again. Exit status: 0 merged (or previewed) cleanly, 1 conflicts.",
    )
    p.add_argument("repository", help="repository name")
    p.add_argument("target", help="the branch to merge into")
    p.add_argument("source", help="the branch or commit to merge")
    p.add_argument("-m", "--message", default="", help="message of the merge commit")
    p.add_argument("--expected-head", help="merge only if TARGET is still at this commit")
    p.add_argument("--preview", action="store_true", help="compute and report the merge, write nothing")
    p.add_argument("--markers", action="store_true", help="print each conflict with diff3-style markers")
    p.set_defaults(run=merge)


def merge(args: argparse.Namespace) -> int:
    out = Output(args)
    with connect(args) as client:
        result = client.merge(
            args.repository,
            args.target,
            args.source,
            expected_head=args.expected_head,
            message=args.message,
            preview=args.preview,
        )
    if out.json:
        out.data(
            {
                "clean": result.clean,
                "strategy": result.strategy,
                "up_to_date": result.up_to_date,
                "commit": result.commit,
                "conflicts": result.conflicts,
            }
        )
        return 0 if result.clean else 1
    if result.clean:
        if result.up_to_date:
            out.print(f"{args.target} already contains {args.source}")
        elif result.commit is None:
            out.print(f"{args.source} would merge cleanly into {args.target} ({result.strategy}); nothing written")
        else:
            out.print(
                f"merged {args.source} into {args.target} ({result.strategy.replace('_', '-')}): "
                f"{result.commit.commit_id}"
            )
        return 0
    table = new_table("file", "entity", "kind", box=None)
    for c in result.conflicts:
        table.add_row(c.path, c.qualname or "(lines)", c.entity_kind)
    out.print(
        f"[bold red]{len(result.conflicts)} conflict(s)[/]; nothing was written. Resolve them with a commit "
        f"on {args.target} or {args.source} and merge again:"
    )
    out.print(table)
    if args.markers:
        for c in result.conflicts:
            out.print(c.markers.decode("utf-8", "replace"), markup=False)
    return 1
