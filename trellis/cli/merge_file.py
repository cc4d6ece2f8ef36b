"""``trellis merge-file``: a three-way merge of one file, entity by entity, like ``git merge-file``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .context import Output, lazy, stdout_bytes

if TYPE_CHECKING:
    from trellis import semantic_diff
else:
    semantic_diff = lazy("trellis.semantic_diff")

EXIT_ERROR = 255
MAX_EXIT_CONFLICTS = 127
DEFAULT_LABELS = ("ours", "base", "theirs")
GIT_TEMP_PREFIX = ".merge_file_"  # the temporary files git hands a merge driver


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    # No server is involved: of the common options only --json applies (SUPPRESS: a `trellis --json
    # merge-file …` given before the command is not reset by this parser's default).
    p = sub.add_parser(
        "merge-file",
        help="three-way merge of one file, entity by entity (like git merge-file)",
        description="Merge the changes from BASE to OTHER into CURRENT, function by function and key by key\n"
        "(a line merge for unsupported languages). Like `git merge-file`: the result goes to CURRENT\n"
        "(or stdout with -p) with diff3-style conflict markers; the exit status is 0 when clean, the\n"
        "number of conflicts (at most 127) when not, 255 on error (nothing is written then).\n\n"
        "As a git merge driver (see docs/merge.md):\n"
        '  git config merge.trellis.driver "trellis merge-file --path %P %A %O %B"\n'
        "  echo '*.py merge=trellis' >> .gitattributes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("current", metavar="CURRENT", help="our version; receives the result")
    p.add_argument("base", metavar="BASE", help="the common ancestor")
    p.add_argument("other", metavar="OTHER", help="their version")
    p.add_argument("-p", "--stdout", action="store_true", help="print the result instead of writing CURRENT")
    p.add_argument(
        "-L",
        dest="labels",
        action="append",
        default=[],
        metavar="LABEL",
        help="conflict marker label for CURRENT, then BASE, then OTHER (repeat up to three times; "
        "default: the file names, as git does)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not report conflicts on stderr")
    p.add_argument("--diff3", action="store_true", help="accepted for git compatibility (markers always show the base)")
    p.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the merge (and its conflicts) as JSON; with -p, the merged text too",
    )
    p.add_argument(
        "--path",
        metavar="PATH",
        help="the file's path in the repository, for its language and names (default: CURRENT; "
        "in a git merge driver pass %%P)",
    )
    p.set_defaults(run=run)


def _labels(args: argparse.Namespace) -> tuple[str, str, str]:
    names = [args.current, args.base, args.other]
    labels = []
    for k in range(3):
        if k < len(args.labels):
            labels.append(args.labels[k])
        elif Path(names[k]).name.startswith(GIT_TEMP_PREFIX):
            labels.append(DEFAULT_LABELS[k])  # git's temporary names say nothing: ours/base/theirs
        else:
            labels.append(names[k])
    return labels[0], labels[1], labels[2]


def run(args: argparse.Namespace) -> int:
    out = Output(args)
    if len(args.labels) > 3:
        out.error("at most three -L labels (CURRENT, BASE, OTHER)")
        return EXIT_ERROR
    if any("\n" in label for label in args.labels):
        out.error("a label cannot contain a line break")
        return EXIT_ERROR
    contents: list[bytes] = []
    for name in (args.current, args.base, args.other):
        try:
            contents.append(Path(name).read_bytes())
        except OSError as exc:
            out.error(f"cannot read {name}: {exc.strerror or exc}")
            return EXIT_ERROR
    current, base, other = contents
    path = args.path or args.current
    language = None
    if semantic_diff.language_for(path) is None:
        language = semantic_diff.guess_language(current, base, other)
    result = semantic_diff.merge_files(path, base, current, other, labels=_labels(args), language=language)
    merged = result.content if result.content is not None else b""
    if args.stdout:
        if not out.json:
            stdout_bytes(merged)
    else:
        try:
            Path(args.current).write_bytes(merged)
        except OSError as exc:
            out.error(f"cannot write {args.current}: {exc.strerror or exc}")
            return EXIT_ERROR
    if out.json:
        out.data(semantic_diff.merge_to_json(result, content=args.stdout))
    elif result.conflicts and not args.quiet:
        what = ", ".join(f"{c.entity_kind} {c.qualname}" if c.qualname else "lines" for c in result.conflicts[:5])
        more = f" and {len(result.conflicts) - 5} more" if len(result.conflicts) > 5 else ""
        how = f" (line merge: {result.fallback_reason})" if result.fallback_reason else ""
        print(f"trellis merge-file: {len(result.conflicts)} conflict(s) in {path}: {what}{more}{how}", file=sys.stderr)
    return 0 if result.clean else min(len(result.conflicts), MAX_EXIT_CONFLICTS)
