"""Entry point: parse, dispatch, and turn errors into friendly messages (the one place that does)."""

from __future__ import annotations

import argparse
import json
import sys

from vcs import VcsError

from . import (branch, commit, demo, diff, index, merge, merge_file, query, read, repo, serve, session, token,
               trajectory, verify)
from .context import Output, add_common

COMMANDS = [serve, demo, token, repo, commit, read, diff, merge_file, branch, merge, session, verify, query, index,
            trajectory]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trellis",
        description="Trellis: version control and CI for AI coding agents. "
        "Commands talk to --server / $TRELLIS_SERVER, else to the server owning the data directory, "
        "else open the data directory in-process.",
    )
    add_common(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    add_common(common)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    out = Output(args)
    try:
        return int(args.run(args) or 0)
    except VcsError as exc:
        if out.json:
            print(json.dumps({"error": {"reason": exc.reason, "message": exc.message, **exc.metadata}}),
                  file=sys.stderr)
        else:
            out.error(f"{exc.message} [{exc.reason}]")
        return 1
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: no tracebacks for users
        from ..datadir import DataDirBusy
        from ..server import ConfigError

        if isinstance(exc, (DataDirBusy, ConfigError, OSError)):
            out.error(str(exc))
            return 1
        raise
